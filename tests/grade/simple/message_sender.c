#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "message_slot.h"

static void fail(const char *what)
{
	fprintf(stderr, "message_sender: %s: %s\n", what, strerror(errno));
	exit(1);
}

int main(int argc, char *argv[])
{
	unsigned long channel;
	size_t len;
	char *end;
	int fd;

	if (argc != 4) {
		errno = EINVAL;
		fail("usage: message_sender <device> <channel> <message>");
	}
	errno = 0;
	channel = strtoul(argv[2], &end, 10);
	if (errno || *end || end == argv[2]) {
		errno = EINVAL;
		fail("channel");
	}
	fd = open(argv[1], O_WRONLY);
	if (fd < 0)
		fail("open");
	if (ioctl(fd, MSG_SLOT_CHANNEL, channel) < 0)
		fail("ioctl");
	len = strlen(argv[3]);
	if (write(fd, argv[3], len) != (ssize_t)len)
		fail("write");
	close(fd);
	return 0;
}
