// SPDX-License-Identifier: GPL-2.0
/*
 * slot_write DEVICE CHANNEL [ROLL_NO MARKS NAME CITY]
 *
 * Sends one student_t record, packed into at most 128 bytes (a message
 * slot's largest message), on CHANNEL of the message slot DEVICE.  The
 * message replaces the channel's previous one in a single write and stays
 * there after this process exits; slot_read prints it.
 */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "message_slot.h"
#include "student.h"

int main(int argc, char **argv)
{
	unsigned char message[MSG_SLOT_MAX_LEN];
	student_t student;
	unsigned int channel;
	size_t len;
	int fd;

	if (argc < 3)
		fail("Device and channel not mentioned", EINVAL);
	if (msg_slot_parse_uint(argv[2], &channel) < 0)
		fail("Channel is not a number", errno);
	student_from_args(&student, argc, argv, 3);
	/* Packed before the device is opened: a record too long sends nothing. */
	len = student_pack(&student, message, sizeof(message));
	if (!len)
		fail("Record does not fit in a message", EMSGSIZE);

	fd = open(argv[1], O_WRONLY);
	if (fd < 0)
		fail("Device could not open", errno);
	if (ioctl(fd, MSG_SLOT_CHANNEL, channel) < 0)
		fail("Channel could not be set", errno);
	if (write(fd, message, len) != (ssize_t)len)
		fail("Write Failed", errno);
	close(fd);
	return 0;
}
