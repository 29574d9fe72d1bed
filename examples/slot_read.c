// SPDX-License-Identifier: GPL-2.0
/*
 * slot_read DEVICE CHANNEL
 *
 * Reads the message on CHANNEL of the message slot DEVICE, unpacks the
 * student_t record that slot_write sent and prints it.  Reading leaves the
 * message in place: any number of processes can read it.
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
	ssize_t len;
	int fd;

	if (argc < 3)
		fail("Device and channel not mentioned", EINVAL);
	if (argc > 3)
		fail("Too many arguments", EINVAL);
	if (msg_slot_parse_uint(argv[2], &channel) < 0)
		fail("Channel is not a number", errno);

	fd = open(argv[1], O_RDONLY);
	if (fd < 0)
		fail("Device could not open", errno);
	if (ioctl(fd, MSG_SLOT_CHANNEL, channel) < 0)
		fail("Channel could not be set", errno);
	len = read(fd, message, sizeof(message));
	if (len < 0)
		fail("Read Failed", errno);
	close(fd);
	if (student_unpack(&student, message, (size_t)len) < 0)
		fail("Not a student record", EBADMSG);
	student_print(&student);
	return 0;
}
