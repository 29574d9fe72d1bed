/* SPDX-License-Identifier: GPL-2.0 */
/*
 * msgslot_util.h - helpers shared by the msgslot_*.c guest programs:
 * device nodes, channel setup, byte-exact message checks, module params.
 * Include after tap.h.  Needs _GNU_SOURCE (defined by the including file).
 */
#ifndef MSGSLOT_UTIL_H
#define MSGSLOT_UTIL_H

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "message_slot.h"
#include "tap.h"

#define SLOT_PARAM_DIR "/sys/module/message_slot/parameters"

/*
 * read/write through syscall(2) for deliberately invalid buffers (NULL,
 * unmapped): glibc declares read/write with access attributes, so GCC
 * rejects a literal NULL, and the kernel must see the pointer as given.
 */
static inline long raw_read(int fd, void *buf, size_t len)
{
	return syscall(SYS_read, fd, buf, len);
}

static inline long raw_write(int fd, const void *buf, size_t len)
{
	return syscall(SYS_write, fd, buf, len);
}

/* /dev/slot<minor>, created (or fixed up) as char 235:<minor>. */
static inline int slot_path(unsigned int minor, char *path, size_t len)
{
	struct stat st;
	dev_t want = makedev(MAJOR_NUM, minor);

	snprintf(path, len, "/dev/slot%u", minor);
	if (stat(path, &st) == 0) {
		if (S_ISCHR(st.st_mode) && st.st_rdev == want)
			return 0;
		if (unlink(path) != 0)
			return -1;
	}
	if (mknod(path, S_IFCHR | 0666, want) != 0 && errno != EEXIST)
		return -1;
	return 0;
}

static inline int slot_open(unsigned int minor, int flags)
{
	char path[64];

	if (slot_path(minor, path, sizeof(path)) != 0)
		return -1;
	return open(path, flags);
}

/* Open slot `minor` read-write and select `channel` with the uint encoding. */
static inline int slot_open_channel(unsigned int minor, unsigned int channel)
{
	int fd = slot_open(minor, O_RDWR);

	if (fd < 0)
		return -1;
	if (ioctl(fd, MSG_SLOT_CHANNEL, channel) != 0) {
		int err = errno;

		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

/*
 * Read the channel into a 256-byte buffer and compare with want[0..len).
 * On mismatch, describe it in why (prefixed by what) and return false.
 */
static inline bool slot_expect_message(int fd, const void *want, size_t len,
				       char *why, const char *what)
{
	unsigned char buf[256];
	const unsigned char *w = want;
	ssize_t got;
	size_t i;

	memset(buf, 0xA5, sizeof(buf));
	errno = 0;
	got = read(fd, buf, sizeof(buf));
	if (got < 0) {
		tap_why(why, "%s: read expected %zu bytes, got %s", what, len,
			tap_got(-1, errno));
		return false;
	}
	if ((size_t)got != len) {
		tap_why(why, "%s: read returned %zd bytes, expected %zu", what,
			got, len);
		return false;
	}
	for (i = 0; i < len; i++) {
		if (buf[i] != w[i]) {
			tap_why(why, "%s: byte %zu is 0x%02x, expected 0x%02x",
				what, i, buf[i], w[i]);
			return false;
		}
	}
	return true;
}

/* Same, for a test function: return false from it on mismatch. */
#define EXPECT_MESSAGE(fd, want, len, ...)                               \
	do {                                                             \
		char em_what_[300];                                      \
		snprintf(em_what_, sizeof(em_what_), __VA_ARGS__);       \
		if (!slot_expect_message((fd), (want), (len), why, em_what_)) \
			return false;                                    \
	} while (0)

/* Read a small text file (sysfs, /proc) into @buf, NUL-terminated; -1 if empty. */
static inline ssize_t read_text(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return n;
}

static inline int slot_param_read(const char *name, unsigned long long *value)
{
	char path[256], text[64];

	snprintf(path, sizeof(path), SLOT_PARAM_DIR "/%s", name);
	if (read_text(path, text, sizeof(text)) < 0)
		return -1;
	*value = strtoull(text, NULL, 10);
	return 0;
}

static inline int slot_param_write(const char *name, unsigned long long value)
{
	char path[256], text[64];
	int fd, len;
	ssize_t n;

	snprintf(path, sizeof(path), SLOT_PARAM_DIR "/%s", name);
	len = snprintf(text, sizeof(text), "%llu\n", value);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -1;
	n = write(fd, text, (size_t)len);
	close(fd);
	return n == len ? 0 : -1;
}

static inline double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* xorshift32: cheap deterministic bytes for message contents. */
static inline uint32_t xorshift32(uint32_t *state)
{
	uint32_t x = *state ? *state : 0x9E3779B9u;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	return x;
}

#endif /* MSGSLOT_UTIL_H */
