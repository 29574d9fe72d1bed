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
	fprintf(stderr, "message_reader: %s: %s\n", what, strerror(errno));
	exit(1);
}

int main(int argc, char *argv[])
{
	unsigned long channel;
	char buf[BUF_LEN];
	ssize_t len;
	char *end;
	int fd;

	if (argc != 3) {
		errno = EINVAL;
		fail("usage: message_reader <device> <channel>");
	}
	errno = 0;
	channel = strtoul(argv[2], &end, 10);
	if (errno || *end || end == argv[2]) {
		errno = EINVAL;
		fail("channel");
	}
	fd = open(argv[1], O_RDONLY);
	if (fd < 0)
		fail("open");
	if (ioctl(fd, MSG_SLOT_CHANNEL, channel) < 0)
		fail("ioctl");
	len = read(fd, buf, sizeof(buf));
	if (len < 0)
		fail("read");
	close(fd);
	if (write(STDOUT_FILENO, buf, (size_t)len) != len)
		fail("write to stdout");
	return 0;
}
