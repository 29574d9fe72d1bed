// SPDX-License-Identifier: GPL-2.0
/*
 * grader_header.c - a course tester as found in the wild: it includes only
 * message_slot.h (no <sys/ioctl.h>), uses the names other course headers
 * define, and is built with the graders' -std=c11 -Wall -Werror plus
 * -Werror=implicit-function-declaration, the default of newer GCC.  Its
 * build is the test of the header; running it checks the values.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "message_slot.h"

#ifdef __i386__
#define PREFIX "abi/i386-"
#else
#define PREFIX "abi/"
#endif

static int failed;

static void result(const char *name, int passed, const char *why)
{
	if (passed) {
		printf("ok " PREFIX "%s\n", name);
	} else {
		printf("not ok " PREFIX "%s - %s\n", name, why);
		failed = 1;
	}
}

int main(int argc, char **argv)
{
	char buf[BUF_LEN], msg[MAX_MSG_LEN];
	const char *dev = argc > 1 ? argv[1] : "/dev/slot0";
	int fd, ret;
	ssize_t n;

	setvbuf(stdout, NULL, _IOLBF, 0);
	result("grader-header-names",
	       BUF_LEN == 128 && MAX_MSG_LEN == 128 && MAX_MESSAGE_LENGTH == 128 &&
	       MAX_BUFF_SIZE == 128 && SUCCESS == 0 && MAJOR_NUM == 235 &&
	       !strcmp(DEVICE_RANGE_NAME, "message_slot") &&
	       !strcmp(DEVICE_FILE_NAME, "message_slot"),
	       "a compatibility name has an unexpected value");

	fd = open(dev, O_RDWR);
	if (fd < 0) {
		result("grader-header-roundtrip", 0, strerror(errno));
		return 1;
	}
	ret = ioctl(fd, MSG_SLOT_CHANNEL, 4294967295u);
	if (ret == SUCCESS)
		ret = ioctl(fd, MSG_SLOT_SET_CEN, 0);
	memset(msg, 'm', sizeof(msg));
	n = ret == SUCCESS ? write(fd, msg, MAX_MESSAGE_LENGTH) : -1;
	if (n == MAX_MESSAGE_LENGTH)
		n = read(fd, buf, MAX_BUFF_SIZE);
	result("grader-header-roundtrip",
	       n == MAX_MSG_LEN && !memcmp(buf, msg, sizeof(msg)),
	       n < 0 ? strerror(errno) : "read back something else");
	close(fd);
	return failed;
}
