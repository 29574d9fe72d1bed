// SPDX-License-Identifier: GPL-2.0
/*
 * abi_msgslot.c - the message slot ABI as programs in the wild use it:
 * both ioctl encodings of every request, writev/readv/pwritev2/preadv2 (one
 * call = one message).  Built twice: as a 64-bit program and with -m32 as
 * abi_msgslot32, whose result names start with "i386-" and which goes
 * through the kernel's compat paths.
 *
 * Runs with the module loaded with default parameters (censor_period=3).
 */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/uio.h>

#include "tap.h"
#include "msgslot_util.h"

/* Each build uses its own slot: both run against one loaded module. */
#ifdef __i386__
#define NAME(n) "i386-" n
#define MINOR	9
#else
#define NAME(n) n
#define MINOR	7
#endif

/* The requests with an 8-byte size field, whatever this program's long is. */
#define CHANNEL_64	_IOC(_IOC_WRITE, MAJOR_NUM, 0, 8)
#define SET_CEN_64	_IOC(_IOC_WRITE, MAJOR_NUM, 1, 8)

/* A page that is not mapped: copies from or to it fail. */
static void *unmapped;

static bool t_encodings(char *why)
{
	/* The numbers other course headers compile to (x86_64 / i386). */
	TAP_CHECK(MSG_SLOT_CHANNEL == 0x4004eb00 && SET_CEN_64 == 0x4008eb01 &&
		  CHANNEL_64 == 0x4008eb00 && MSG_SLOT_SET_CEN == 0x4004eb01,
		  "request numbers: CHANNEL %#x/%#x SET_CEN %#x/%#x",
		  (unsigned int)MSG_SLOT_CHANNEL, (unsigned int)CHANNEL_64,
		  (unsigned int)MSG_SLOT_SET_CEN, (unsigned int)SET_CEN_64);
	TAP_CHECK(MSG_SLOT_SET_CEN_UL == (sizeof(long) == 8 ? SET_CEN_64 : MSG_SLOT_SET_CEN),
		  "MSG_SLOT_SET_CEN_UL is %#x", (unsigned int)MSG_SLOT_SET_CEN_UL);
	return true;
}

/* Channel ids through both encodings, with the same checks. */
static bool t_channel(char *why)
{
	int a = slot_open(MINOR, O_RDWR), b = slot_open(MINOR, O_RDWR);

	TAP_CHECK(a >= 0 && b >= 0, "open: %s", tap_errno_name(errno));
	EXPECT_RET(ioctl(a, MSG_SLOT_CHANNEL, 4294967295U), 0, "CHANNEL(4294967295)");
	EXPECT_RET(write(a, "uint", 4), 4, "write through the uint fd");
	EXPECT_RET(ioctl(b, CHANNEL_64, 4294967295UL), 0, "8-byte CHANNEL(4294967295)");
	EXPECT_MESSAGE(b, "uint", 4, "read through the 8-byte fd");
	EXPECT_RET(ioctl(b, CHANNEL_64, 11UL), 0, "8-byte CHANNEL(11)");
	EXPECT_RET(write(b, "ul", 2), 2, "write to channel 11");
	EXPECT_RET(ioctl(a, MSG_SLOT_CHANNEL, 11U), 0, "CHANNEL(11)");
	EXPECT_MESSAGE(a, "ul", 2, "channel 11 through the uint fd");
	EXPECT_ERRNO(ioctl(a, MSG_SLOT_CHANNEL, 0U), EINVAL, "CHANNEL(0)");
	EXPECT_ERRNO(ioctl(b, CHANNEL_64, 0UL), EINVAL, "8-byte CHANNEL(0)");
#ifdef __x86_64__
	EXPECT_ERRNO(ioctl(b, CHANNEL_64, 1UL << 32), EINVAL, "8-byte CHANNEL(2^32)");
	EXPECT_ERRNO(ioctl(b, CHANNEL_64, (1UL << 32) | 5), EINVAL,
		     "8-byte CHANNEL(2^32+5)");
#endif
	/* A failed ioctl keeps the channel. */
	EXPECT_MESSAGE(b, "ul", 2, "channel 11 after rejected ids");
	close(a);
	close(b);
	return true;
}

/* MSG_SLOT_SET_CEN through both encodings: 0x4008eb01 is a course's own. */
static bool t_set_cen(char *why)
{
	unsigned long cmds[] = { MSG_SLOT_SET_CEN, SET_CEN_64 };
	unsigned int i;

	for (i = 0; i < 2; i++) {
		unsigned long cmd = cmds[i];
		int fd = slot_open_channel(MINOR, 20 + i);

		TAP_CHECK(fd >= 0, "open: %s", tap_errno_name(errno));
		EXPECT_RET(ioctl(fd, cmd, 1UL), 0, "ioctl(%#lx, 1)", cmd);
		EXPECT_RET(write(fd, "abcdef", 6), 6, "censored write");
		EXPECT_MESSAGE(fd, "ab#de#", 6, "message after ioctl(%#lx, 1)", cmd);
		EXPECT_ERRNO(ioctl(fd, cmd, 2UL), EINVAL, "ioctl(%#lx, 2)", cmd);
#ifdef __x86_64__
		if (cmd == SET_CEN_64)
			EXPECT_ERRNO(ioctl(fd, cmd, (1UL << 32) | 0), EINVAL,
				     "ioctl(%#lx, 2^32)", cmd);
#endif
		/* Rejected flags leave censoring on. */
		EXPECT_RET(write(fd, "uvwxyz", 6), 6, "write after bad flags");
		EXPECT_MESSAGE(fd, "uv#xy#", 6, "censoring kept after bad flags");
		EXPECT_RET(ioctl(fd, cmd, 0UL), 0, "ioctl(%#lx, 0)", cmd);
		EXPECT_RET(write(fd, "abcdef", 6), 6, "uncensored write");
		EXPECT_MESSAGE(fd, "abcdef", 6, "message after ioctl(%#lx, 0)", cmd);
		close(fd);
	}
	return true;
}

/* Unknown requests: other numbers, types, directions and sizes. */
static bool t_unknown(char *why)
{
	unsigned long bad[] = {
		_IOW(MAJOR_NUM, 9, unsigned int), _IOW(MAJOR_NUM + 1, 0, unsigned int),
		_IOR(MAJOR_NUM, 0, unsigned int), _IO(MAJOR_NUM, 0),
		_IOC(_IOC_WRITE, MAJOR_NUM, 0, 2), _IOC(_IOC_WRITE, MAJOR_NUM, 1, 16),
	};
	int fd = slot_open_channel(MINOR, 30);
	unsigned int i;

	TAP_CHECK(fd >= 0, "open: %s", tap_errno_name(errno));
	EXPECT_RET(write(fd, "keep", 4), 4, "write");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		EXPECT_ERRNO(ioctl(fd, bad[i], 31UL), EINVAL, "ioctl(%#lx, 31)", bad[i]);
	EXPECT_MESSAGE(fd, "keep", 4, "channel 30 after unknown requests");
	close(fd);
	return true;
}

static bool t_writev(char *why)
{
	char big[129];
	struct iovec two[] = { { "hello", 5 }, { "world!", 6 } };
	struct iovec over[] = { { big, 64 }, { big, 64 }, { big, 1 } };
	struct iovec full[] = { { big, 100 }, { big + 100, 0 }, { big + 100, 28 } };
	struct iovec bad[] = { { "abc", 3 }, { NULL, 3 } };
	int fd = slot_open_channel(MINOR, 40), unset = slot_open(MINOR, O_RDWR);

	TAP_CHECK(fd >= 0 && unset >= 0, "open: %s", tap_errno_name(errno));
	memset(big, 'x', sizeof(big));
	EXPECT_RET(writev(fd, two, 2), 11, "writev(hello, world!)");
	EXPECT_MESSAGE(fd, "helloworld!", 11, "message after writev");
	EXPECT_ERRNO(writev(fd, over, 3), EMSGSIZE, "writev of 129 bytes");
	EXPECT_MESSAGE(fd, "helloworld!", 11, "message after a 129-byte writev");
	bad[1].iov_base = unmapped;
	EXPECT_ERRNO(writev(fd, bad, 2), EINVAL, "writev with an unmapped segment");
	EXPECT_MESSAGE(fd, "helloworld!", 11, "message after a bad segment");
	EXPECT_ERRNO(writev(unset, two, 2), EINVAL, "writev before MSG_SLOT_CHANNEL");
	EXPECT_RET(writev(fd, full, 3), 128, "writev of 100+0+28 bytes");
	EXPECT_MESSAGE(fd, big, 128, "128-byte message from three segments");
	EXPECT_RET(ioctl(fd, MSG_SLOT_SET_CEN, 1U), 0, "SET_CEN(1)");
	two[0] = (struct iovec){ "abcd", 4 };
	two[1] = (struct iovec){ "efgh", 4 };
	EXPECT_RET(writev(fd, two, 2), 8, "censored writev(abcd, efgh)");
	/* The period runs over the whole message, not per segment. */
	EXPECT_MESSAGE(fd, "ab#de#gh", 8, "censored message from two segments");
	close(fd);
	close(unset);
	return true;
}

static bool t_readv(char *why)
{
	char a[4], b[3], c[100];
	struct iovec segs[] = { { a, 4 }, { b, 3 }, { c, 100 } };
	struct iovec small[] = { { a, 4 }, { b, 3 } };
	int fd = slot_open_channel(MINOR, 50), unset = slot_open(MINOR, O_RDWR);

	TAP_CHECK(fd >= 0 && unset >= 0, "open: %s", tap_errno_name(errno));
	EXPECT_ERRNO(readv(unset, segs, 3), EINVAL, "readv before MSG_SLOT_CHANNEL");
	EXPECT_ERRNO(readv(fd, segs, 3), EWOULDBLOCK, "readv of an empty channel");
	EXPECT_RET(write(fd, "0123456789", 10), 10, "write");
	memset(c, '.', sizeof(c));
	EXPECT_RET(readv(fd, segs, 3), 10, "readv into 4+3+100 bytes");
	TAP_CHECK(!memcmp(a, "0123", 4) && !memcmp(b, "456", 3) &&
		  !memcmp(c, "789.", 4),
		  "segments hold '%.4s' '%.3s' '%.4s', expected '0123' '456' '789.'",
		  a, b, c);
	EXPECT_ERRNO(readv(fd, small, 2), ENOSPC, "readv into 7 bytes");
	segs[1].iov_base = unmapped;
	EXPECT_ERRNO(readv(fd, segs, 3), EINVAL, "readv with an unmapped segment");
	EXPECT_MESSAGE(fd, "0123456789", 10, "message after readv");
	close(fd);
	close(unset);
	return true;
}

/* pwritev2/preadv2 at the current position (-1): the same one-call messages. */
static bool t_pv2(char *why)
{
	char a[2], b[20];
	struct iovec out[] = { { "one", 3 }, { "+two", 4 } };
	struct iovec in[] = { { a, 2 }, { b, 20 } };
	int fd = slot_open_channel(MINOR, 60);

	TAP_CHECK(fd >= 0, "open: %s", tap_errno_name(errno));
	EXPECT_RET(pwritev2(fd, out, 2, -1, 0), 7, "pwritev2(one, +two, -1)");
	EXPECT_RET(preadv2(fd, in, 2, -1, 0), 7, "preadv2(2 + 20 bytes, -1)");
	TAP_CHECK(!memcmp(a, "on", 2) && !memcmp(b, "e+two", 5),
		  "preadv2 gave '%.2s' '%.5s'", a, b);
	EXPECT_ERRNO(pwritev2(fd, out, 2, 0, 0), ESPIPE, "pwritev2 at offset 0");
	EXPECT_MESSAGE(fd, "one+two", 7, "message after pwritev2");
	close(fd);
	return true;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	unmapped = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (unmapped == MAP_FAILED || munmap(unmapped, 4096)) {
		perror("mmap");
		return 1;
	}
	tap_run(NAME("ioctl-numbers"), t_encodings);
	tap_run(NAME("ioctl-channel-both-encodings"), t_channel);
	tap_run(NAME("ioctl-set-cen-both-encodings"), t_set_cen);
	tap_run(NAME("ioctl-unknown"), t_unknown);
	tap_run(NAME("writev-one-message"), t_writev);
	tap_run(NAME("readv-in-order"), t_readv);
	tap_run(NAME("pwritev2-preadv2"), t_pv2);
	return tap_exit_code();
}
