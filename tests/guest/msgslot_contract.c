// SPDX-License-Identifier: GPL-2.0
/*
 * msgslot_contract.c - every single-process line of the message slot
 * contract (shared/spec/message-slot.md) with its exact errno, plus
 * persistence across close, fork and exec of the CLIs.
 *
 * Runs with the module loaded with default parameters.  Each test uses its
 * own channel ids (or slot) so that tests do not see each other's messages.
 * Needs $BIN (message_sender/message_reader) for persist_exec_cli.
 */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/wait.h>
#include <termios.h>

#include "tap.h"
#include "msgslot_util.h"

static long page_size;

static bool t_write_before_ioctl(char *why)
{
	char big[200];
	int fd = slot_open(0, O_RDWR);

	TAP_CHECK(fd >= 0, "open /dev/slot0: %s", tap_errno_name(errno));
	memset(big, 'b', sizeof(big));
	/* NULL proves the channel is checked before the buffer is touched,
	 * length 0 and 129 that it is checked before the length. */
	EXPECT_ERRNO(raw_write(fd, NULL, 5), EINVAL, "write(NULL, 5) before ioctl");
	EXPECT_ERRNO(write(fd, "hello", 5), EINVAL, "write(\"hello\", 5) before ioctl");
	EXPECT_ERRNO(raw_write(fd, NULL, 0), EINVAL, "write(NULL, 0) before ioctl");
	EXPECT_ERRNO(write(fd, big, 129), EINVAL, "write(buf, 129) before ioctl");
	close(fd);
	return true;
}

static bool t_read_before_ioctl(char *why)
{
	char buf[256];
	int fd = slot_open(0, O_RDWR);

	TAP_CHECK(fd >= 0, "open /dev/slot0: %s", tap_errno_name(errno));
	EXPECT_ERRNO(read(fd, buf, 128), EINVAL, "read(buf, 128) before ioctl");
	EXPECT_ERRNO(read(fd, buf, sizeof(buf)), EINVAL, "read(buf, 256) before ioctl");
	EXPECT_ERRNO(read(fd, buf, 1), EINVAL, "read(buf, 1) before ioctl");
	EXPECT_ERRNO(raw_read(fd, NULL, 128), EINVAL, "read(NULL, 128) before ioctl");
	close(fd);
	return true;
}

static bool t_channel_zero(char *why)
{
	int fd = slot_open(0, O_RDWR);

	TAP_CHECK(fd >= 0, "open /dev/slot0: %s", tap_errno_name(errno));
	EXPECT_ERRNO(ioctl(fd, MSG_SLOT_CHANNEL, 0U), EINVAL,
		     "ioctl(MSG_SLOT_CHANNEL, 0)");
	EXPECT_ERRNO(ioctl(fd, MSG_SLOT_CHANNEL_UL, 0UL), EINVAL,
		     "ioctl(MSG_SLOT_CHANNEL_UL, 0)");
	/* The rejected id must not have selected anything. */
	EXPECT_ERRNO(write(fd, "x", 1), EINVAL,
		     "write after a rejected channel-0 ioctl on a fresh fd");
	EXPECT_ERRNO(read(fd, (char[8]){ 0 }, 8), EINVAL,
		     "read after a rejected channel-0 ioctl on a fresh fd");
	close(fd);
	return true;
}

static bool t_unknown_ioctl(char *why)
{
	static const struct {
		unsigned long cmd;
		const char *name;
	} unknown[] = {
		{ _IOW(MAJOR_NUM, 3, unsigned int), "_IOW(235, 3, unsigned int)" },
		{ _IOW(MAJOR_NUM, 0x7f, unsigned int), "_IOW(235, 0x7f, unsigned int)" },
		{ _IOR(MAJOR_NUM, 0, unsigned int), "_IOR(235, 0, unsigned int)" },
		{ _IO(MAJOR_NUM, 0), "_IO(235, 0)" },
		{ _IOW(MAJOR_NUM, 0, unsigned short), "_IOW(235, 0, unsigned short)" },
		{ _IOW('x', 0, unsigned int), "_IOW('x', 0, unsigned int)" },
		{ TCGETS, "TCGETS" },
	};
	int fd = slot_open(0, O_RDWR);
	size_t i;

	TAP_CHECK(fd >= 0, "open /dev/slot0: %s", tap_errno_name(errno));
	for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		EXPECT_ERRNO(ioctl(fd, unknown[i].cmd, 77UL), EINVAL,
			     "ioctl(%s, 77) on a fresh fd", unknown[i].name);
	EXPECT_RET(ioctl(fd, MSG_SLOT_CHANNEL, 101U), 0, "ioctl(MSG_SLOT_CHANNEL, 101)");
	EXPECT_RET(write(fd, "keep", 4), 4, "write(\"keep\") on channel 101");
	for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		EXPECT_ERRNO(ioctl(fd, unknown[i].cmd, 77UL), EINVAL,
			     "ioctl(%s, 77) with channel 101 set", unknown[i].name);
	/* Still channel 101, message untouched. */
	EXPECT_MESSAGE(fd, "keep", 4, "channel 101 after unknown ioctls");
	close(fd);
	return true;
}

static bool t_ioctl_uint_encoding(char *why)
{
	int fd = slot_open(0, O_RDWR);

	TAP_CHECK(fd >= 0, "open /dev/slot0: %s", tap_errno_name(errno));
	EXPECT_RET(ioctl(fd, MSG_SLOT_CHANNEL, 111U), 0, "ioctl(MSG_SLOT_CHANNEL, 111)");
	EXPECT_RET(write(fd, "uint", 4), 4, "write on channel 111");
	EXPECT_MESSAGE(fd, "uint", 4, "read back channel 111");
	close(fd);
	return true;
}

static bool t_ioctl_ulong_encoding(char *why)
{
	int ul = slot_open(0, O_RDWR);
	int ui = slot_open(0, O_RDWR);
	int bad = slot_open(0, O_RDWR);

	TAP_CHECK(ul >= 0 && ui >= 0 && bad >= 0, "open /dev/slot0: %s",
		  tap_errno_name(errno));
	EXPECT_RET(ioctl(ul, MSG_SLOT_CHANNEL_UL, 121UL), 0,
		   "ioctl(MSG_SLOT_CHANNEL_UL, 121)");
	EXPECT_RET(write(ul, "ul-121", 6), 6, "write through the UL-selected channel 121");
	EXPECT_RET(ioctl(ui, MSG_SLOT_CHANNEL, 121U), 0, "ioctl(MSG_SLOT_CHANNEL, 121)");
	EXPECT_MESSAGE(ui, "ul-121", 6, "uint-encoded channel 121 reading the UL write");

	EXPECT_RET(ioctl(ul, MSG_SLOT_CHANNEL_UL, 4294967295UL), 0,
		   "ioctl(MSG_SLOT_CHANNEL_UL, 4294967295)");
	EXPECT_RET(write(ul, "ul-max", 6), 6, "write on UL channel 4294967295");
	EXPECT_RET(ioctl(ui, MSG_SLOT_CHANNEL, 4294967295U), 0,
		   "ioctl(MSG_SLOT_CHANNEL, 4294967295)");
	EXPECT_MESSAGE(ui, "ul-max", 6, "uint channel 4294967295 reading the UL write");

	/* Values above 32 bits must be refused, not truncated (to 0 or 7). */
	EXPECT_ERRNO(ioctl(bad, MSG_SLOT_CHANNEL_UL, 4294967296UL), EINVAL,
		     "ioctl(MSG_SLOT_CHANNEL_UL, 4294967296)");
	EXPECT_ERRNO(ioctl(bad, MSG_SLOT_CHANNEL_UL, (1UL << 32) | 121UL), EINVAL,
		     "ioctl(MSG_SLOT_CHANNEL_UL, 2^32+121)");
	EXPECT_ERRNO(ioctl(bad, MSG_SLOT_CHANNEL_UL, ~0UL), EINVAL,
		     "ioctl(MSG_SLOT_CHANNEL_UL, 2^64-1)");
	EXPECT_ERRNO(read(bad, (char[16]){ 0 }, 16), EINVAL,
		     "read after only rejected UL ioctls (no channel may be set)");
	close(ul);
	close(ui);
	close(bad);
	return true;
}

static bool t_message_sizes(char *why)
{
	unsigned char msg128[128], big[4096];
	int fd = slot_open_channel(0, 131);
	size_t i;

	TAP_CHECK(fd >= 0, "open+ioctl slot0 channel 131: %s", tap_errno_name(errno));
	for (i = 0; i < sizeof(msg128); i++)
		msg128[i] = (unsigned char)(i * 7 + 3);
	memset(big, 'z', sizeof(big));
	EXPECT_RET(write(fd, "1", 1), 1, "1-byte write");
	EXPECT_MESSAGE(fd, "1", 1, "1-byte message");
	EXPECT_ERRNO(write(fd, big, 0), EMSGSIZE, "0-byte write");
	EXPECT_MESSAGE(fd, "1", 1, "message after the 0-byte write");
	EXPECT_ERRNO(write(fd, big, 129), EMSGSIZE, "129-byte write");
	EXPECT_MESSAGE(fd, "1", 1, "message after the 129-byte write");
	EXPECT_ERRNO(write(fd, big, sizeof(big)), EMSGSIZE, "4096-byte write");
	EXPECT_MESSAGE(fd, "1", 1, "message after the 4096-byte write");
	EXPECT_RET(write(fd, msg128, 128), 128, "128-byte write");
	EXPECT_MESSAGE(fd, msg128, 128, "128-byte message");
	EXPECT_ERRNO(write(fd, big, 129), EMSGSIZE, "129-byte write over a 128-byte message");
	EXPECT_MESSAGE(fd, msg128, 128, "128-byte message after the 129-byte write");
	close(fd);
	return true;
}

static bool t_enospc_short_buffer(char *why)
{
	unsigned char buf[200], msg128[128];
	int fd = slot_open_channel(0, 141);
	size_t i;

	TAP_CHECK(fd >= 0, "open+ioctl slot0 channel 141: %s", tap_errno_name(errno));
	EXPECT_RET(write(fd, "0123456789", 10), 10, "10-byte write");
	EXPECT_ERRNO(read(fd, buf, 9), ENOSPC, "read(buf, 9) of a 10-byte message");
	EXPECT_ERRNO(read(fd, buf, 1), ENOSPC, "read(buf, 1) of a 10-byte message");
	EXPECT_ERRNO(read(fd, buf, 0), ENOSPC, "read(buf, 0) of a 10-byte message");
	EXPECT_MESSAGE(fd, "0123456789", 10, "10-byte message after ENOSPC reads");
	memset(buf, 0xA5, sizeof(buf));
	EXPECT_RET(read(fd, buf, 10), 10, "read(buf, 10) of a 10-byte message");
	TAP_CHECK(memcmp(buf, "0123456789", 10) == 0 && buf[10] == 0xA5,
		  "read(buf, 10): wrong bytes or wrote past the message");
	for (i = 0; i < sizeof(msg128); i++)
		msg128[i] = (unsigned char)(255 - i);
	EXPECT_RET(write(fd, msg128, 128), 128, "128-byte write");
	EXPECT_ERRNO(read(fd, buf, 127), ENOSPC, "read(buf, 127) of a 128-byte message");
	EXPECT_MESSAGE(fd, msg128, 128, "128-byte message after ENOSPC");
	close(fd);
	return true;
}

static bool t_ewouldblock_unwritten(char *why)
{
	char buf[256];
	int fd = slot_open_channel(0, 151);
	int nb;

	TAP_CHECK(fd >= 0, "open+ioctl slot0 channel 151: %s", tap_errno_name(errno));
	EXPECT_ERRNO(read(fd, buf, sizeof(buf)), EWOULDBLOCK,
		     "read of never-written channel 151 (blocking fd)");
	EXPECT_ERRNO(read(fd, buf, 1), EWOULDBLOCK,
		     "read(buf, 1) of never-written channel 151");
	nb = slot_open(0, O_RDONLY | O_NONBLOCK);
	TAP_CHECK(nb >= 0, "open /dev/slot0 O_RDONLY|O_NONBLOCK: %s", tap_errno_name(errno));
	EXPECT_RET(ioctl(nb, MSG_SLOT_CHANNEL, 151U), 0, "ioctl on the O_NONBLOCK fd");
	EXPECT_ERRNO(read(nb, buf, sizeof(buf)), EWOULDBLOCK,
		     "read of never-written channel 151 (O_NONBLOCK fd)");
	/* A neighbour channel being written does not make 151 readable. */
	EXPECT_RET(ioctl(fd, MSG_SLOT_CHANNEL, 152U), 0, "ioctl channel 152");
	EXPECT_RET(write(fd, "neighbour", 9), 9, "write on channel 152");
	EXPECT_ERRNO(read(nb, buf, sizeof(buf)), EWOULDBLOCK,
		     "read of channel 151 after channel 152 was written");
	close(nb);
	close(fd);
	return true;
}

static bool t_binary_nul_roundtrip(char *why)
{
	unsigned char all_low[128], all_high[128];
	int fd = slot_open_channel(0, 161);
	size_t i;

	TAP_CHECK(fd >= 0, "open+ioctl slot0 channel 161: %s", tap_errno_name(errno));
	for (i = 0; i < 128; i++) {
		all_low[i] = (unsigned char)i;          /* starts with NUL */
		all_high[i] = (unsigned char)(255 - i); /* ends with 0x80 */
	}
	all_high[64] = 0;
	all_high[127] = 0;                              /* ends with NUL */
	EXPECT_RET(write(fd, "\0", 1), 1, "write of a single NUL byte");
	EXPECT_MESSAGE(fd, "\0", 1, "single NUL byte");
	EXPECT_RET(write(fd, "\0\0\0", 3), 3, "write of three NUL bytes");
	EXPECT_MESSAGE(fd, "\0\0\0", 3, "three NUL bytes");
	EXPECT_RET(write(fd, "a\0b\0", 4), 4, "write of \"a\\0b\\0\"");
	EXPECT_MESSAGE(fd, "a\0b\0", 4, "\"a\\0b\\0\"");
	EXPECT_RET(write(fd, all_low, 128), 128, "write of bytes 0..127");
	EXPECT_MESSAGE(fd, all_low, 128, "bytes 0..127");
	EXPECT_RET(write(fd, all_high, 128), 128, "write of bytes 255..128 with NULs");
	EXPECT_MESSAGE(fd, all_high, 128, "bytes 255..128 with NULs");
	close(fd);
	return true;
}

static bool t_read_exact_length(char *why)
{
	unsigned char small[4096];
	size_t huge_len = 1 << 20, i;
	unsigned char *huge;
	int fd = slot_open_channel(0, 171);

	TAP_CHECK(fd >= 0, "open+ioctl slot0 channel 171: %s", tap_errno_name(errno));
	EXPECT_RET(write(fd, "hello", 5), 5, "5-byte write");
	memset(small, 0xA5, sizeof(small));
	EXPECT_RET(read(fd, small, sizeof(small)), 5, "read(buf, 4096) of a 5-byte message");
	TAP_CHECK(memcmp(small, "hello", 5) == 0, "read(buf, 4096): wrong bytes");
	for (i = 5; i < sizeof(small); i++)
		TAP_CHECK(small[i] == 0xA5,
			  "read(buf, 4096) of 5 bytes modified buf[%zu] (padding?)", i);
	huge = malloc(huge_len);
	TAP_CHECK(huge != NULL, "malloc 1 MiB failed");
	memset(huge, 0x5A, huge_len);
	errno = 0;
	long got = read(fd, huge, huge_len);
	int err = errno;
	bool same = got == 5 && memcmp(huge, "hello", 5) == 0 && huge[5] == 0x5A &&
		    huge[huge_len - 1] == 0x5A;
	free(huge);
	TAP_CHECK(same, "read(buf, 1 MiB) of a 5-byte message: got %s or wrong bytes",
		  tap_got(got, err));
	/* A shorter message replaces a longer one completely. */
	memset(small, 'L', 100);
	EXPECT_RET(write(fd, small, 100), 100, "100-byte write");
	EXPECT_RET(write(fd, "abc", 3), 3, "3-byte write over the 100-byte message");
	EXPECT_MESSAGE(fd, "abc", 3, "3-byte message that replaced a 100-byte one");
	close(fd);
	return true;
}

/*
 * Two pages, the second unmapped again: page_end(m) is the first unmapped
 * byte, so [page_end - k, page_end - k + len) straddles the hole.
 */
struct hole {
	unsigned char *page;  /* mapped, read-write */
	unsigned char *after; /* unmapped */
};

static bool make_hole(struct hole *h)
{
	unsigned char *m = mmap(NULL, (size_t)page_size * 2, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED)
		return false;
	if (munmap(m + page_size, (size_t)page_size) != 0)
		return false;
	h->page = m;
	h->after = m + page_size;
	return true;
}

static bool t_write_bad_buffers(char *why)
{
	static const char old[] = "old message, must survive";
	const size_t old_len = sizeof(old) - 1;
	struct hole h;
	unsigned char *prot_none;
	int fd = slot_open_channel(0, 181);
	int fresh = slot_open_channel(0, 182);

	TAP_CHECK(fd >= 0 && fresh >= 0, "open+ioctl slot0 channels 181/182: %s",
		  tap_errno_name(errno));
	TAP_CHECK(make_hole(&h), "mmap/munmap setup: %s", tap_errno_name(errno));
	prot_none = mmap(NULL, (size_t)page_size, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TAP_CHECK(prot_none != MAP_FAILED, "mmap PROT_NONE: %s", tap_errno_name(errno));
	memset(h.page, 'N', (size_t)page_size);

	EXPECT_RET(write(fd, old, old_len), (long)old_len, "write of the old message");
	EXPECT_ERRNO(raw_write(fd, NULL, 10), EINVAL, "write(NULL, 10)");
	EXPECT_MESSAGE(fd, old, old_len, "old message after write(NULL)");
	EXPECT_ERRNO(raw_write(fd, h.after, 10), EINVAL, "write(unmapped page, 10)");
	EXPECT_MESSAGE(fd, old, old_len, "old message after write(unmapped)");
	EXPECT_ERRNO(raw_write(fd, h.page + page_size - 5, 10), EINVAL,
		     "write of 10 bytes, 5 mapped then unmapped");
	EXPECT_MESSAGE(fd, old, old_len, "old message after a half-mapped write");
	EXPECT_ERRNO(raw_write(fd, h.page + page_size - 127, 128), EINVAL,
		     "write of 128 bytes, 127 mapped then unmapped");
	EXPECT_MESSAGE(fd, old, old_len, "old message after a 127/128-mapped write");
	EXPECT_ERRNO(raw_write(fd, prot_none, 10), EINVAL, "write(PROT_NONE page, 10)");
	EXPECT_MESSAGE(fd, old, old_len, "old message after write(PROT_NONE)");
	/* Same length as the old message: a driver that overwrites same-sized
	 * messages in place must still not touch it on a fault. */
	EXPECT_ERRNO(raw_write(fd, h.page + page_size - old_len / 2, old_len), EINVAL,
		     "write of %zu bytes (the old length), half mapped", old_len);
	EXPECT_MESSAGE(fd, old, old_len, "old message after a same-length half-mapped write");
	EXPECT_ERRNO(raw_write(fd, NULL, old_len), EINVAL, "write(NULL, %zu)", old_len);
	EXPECT_MESSAGE(fd, old, old_len, "old message after a same-length write(NULL)");
	/* The last mapped bytes themselves are a valid buffer. */
	EXPECT_RET(write(fd, h.page + page_size - 10, 10), 10,
		   "write of the last 10 mapped bytes");
	EXPECT_MESSAGE(fd, "NNNNNNNNNN", 10, "message from the last 10 mapped bytes");

	/* A failed write must not create a message on a never-written channel. */
	EXPECT_ERRNO(raw_write(fresh, NULL, 10), EINVAL, "write(NULL, 10) on new channel 182");
	EXPECT_ERRNO(raw_write(fresh, h.page + page_size - 5, 10), EINVAL,
		     "half-mapped write on new channel 182");
	EXPECT_ERRNO(read(fresh, (char[256]){ 0 }, 256), EWOULDBLOCK,
		     "read of channel 182 after only failed writes");
	munmap(h.page, (size_t)page_size);
	munmap(prot_none, (size_t)page_size);
	close(fd);
	close(fresh);
	return true;
}

static bool t_read_bad_buffers(char *why)
{
	static const char msg[] = "0123456789";
	struct hole h;
	unsigned char *read_only;
	int fd = slot_open_channel(0, 191);

	TAP_CHECK(fd >= 0, "open+ioctl slot0 channel 191: %s", tap_errno_name(errno));
	TAP_CHECK(make_hole(&h), "mmap/munmap setup: %s", tap_errno_name(errno));
	read_only = mmap(NULL, (size_t)page_size, PROT_READ,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TAP_CHECK(read_only != MAP_FAILED, "mmap PROT_READ: %s", tap_errno_name(errno));

	EXPECT_RET(write(fd, msg, 10), 10, "write of the 10-byte message");
	EXPECT_ERRNO(raw_read(fd, NULL, 128), EINVAL, "read(NULL, 128)");
	EXPECT_MESSAGE(fd, msg, 10, "message after read(NULL)");
	EXPECT_ERRNO(raw_read(fd, h.after, 128), EINVAL, "read(unmapped page, 128)");
	EXPECT_MESSAGE(fd, msg, 10, "message after read(unmapped)");
	EXPECT_ERRNO(raw_read(fd, h.page + page_size - 5, 128), EINVAL,
		     "read of a 10-byte message into 5 mapped + unmapped bytes");
	EXPECT_MESSAGE(fd, msg, 10, "message after a half-mapped read");
	EXPECT_ERRNO(raw_read(fd, read_only, 128), EINVAL, "read into a PROT_READ page");
	EXPECT_MESSAGE(fd, msg, 10, "message after a read into a PROT_READ page");
	/* Exactly the last 10 mapped bytes hold the message: fine. */
	EXPECT_RET(read(fd, h.page + page_size - 10, 10), 10,
		   "read into the last 10 mapped bytes");
	TAP_CHECK(memcmp(h.page + page_size - 10, msg, 10) == 0,
		  "read into the last 10 mapped bytes: wrong bytes");
	munmap(h.page, (size_t)page_size);
	munmap(read_only, (size_t)page_size);
	close(fd);
	return true;
}

static bool t_per_fd_channels(char *why)
{
	int a = slot_open_channel(0, 201);
	int b = slot_open_channel(0, 202);
	int c;

	TAP_CHECK(a >= 0 && b >= 0, "open+ioctl slot0 channels 201/202: %s",
		  tap_errno_name(errno));
	EXPECT_RET(write(a, "alpha", 5), 5, "write alpha via fd A (channel 201)");
	EXPECT_RET(write(b, "bravo", 5), 5, "write bravo via fd B (channel 202)");
	EXPECT_MESSAGE(a, "alpha", 5, "fd A (channel 201)");
	EXPECT_MESSAGE(b, "bravo", 5, "fd B (channel 202)");
	EXPECT_RET(ioctl(a, MSG_SLOT_CHANNEL, 202U), 0, "switch fd A to channel 202");
	EXPECT_MESSAGE(a, "bravo", 5, "fd A switched to channel 202");
	EXPECT_MESSAGE(b, "bravo", 5, "fd B still on 202");
	EXPECT_RET(ioctl(a, MSG_SLOT_CHANNEL, 201U), 0, "switch fd A back to 201");
	EXPECT_MESSAGE(a, "alpha", 5, "fd A back on channel 201");
	/* A third, read-only open picks its channel independently. */
	c = slot_open(0, O_RDONLY);
	TAP_CHECK(c >= 0, "open slot0 O_RDONLY: %s", tap_errno_name(errno));
	EXPECT_ERRNO(read(c, (char[8]){ 0 }, 8), EINVAL,
		     "read on a new fd while other fds have channels (per-fd, not per-slot)");
	EXPECT_RET(ioctl(c, MSG_SLOT_CHANNEL, 201U), 0, "ioctl fd C channel 201");
	EXPECT_MESSAGE(c, "alpha", 5, "fd C (O_RDONLY) on channel 201");
	close(a);
	close(b);
	close(c);
	return true;
}

static bool t_persist_across_close(char *why)
{
	int fd = slot_open_channel(0, 211);

	TAP_CHECK(fd >= 0, "open+ioctl slot0 channel 211: %s", tap_errno_name(errno));
	EXPECT_RET(write(fd, "persist", 7), 7, "write");
	close(fd);
	fd = slot_open_channel(0, 211);
	TAP_CHECK(fd >= 0, "reopen slot0 channel 211: %s", tap_errno_name(errno));
	EXPECT_MESSAGE(fd, "persist", 7, "after close and reopen");
	EXPECT_MESSAGE(fd, "persist", 7, "second read of the same message");
	close(fd);
	return true;
}

static bool wait_child(pid_t pid, char *why, const char *what)
{
	int status;

	if (waitpid(pid, &status, 0) != pid) {
		tap_why(why, "%s: waitpid: %s", what, tap_errno_name(errno));
		return false;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		tap_why(why, "%s: child %s %d", what,
			WIFEXITED(status) ? "exited with" : "killed by signal",
			WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		return false;
	}
	return true;
}

static bool t_persist_child_exits(char *why)
{
	char msg[64];
	int len, fd;
	pid_t pid;

	fd = slot_open_channel(0, 221);
	TAP_CHECK(fd >= 0, "open+ioctl slot0 channel 221: %s", tap_errno_name(errno));
	EXPECT_RET(write(fd, "from parent", 11), 11, "parent write on channel 221");
	close(fd);

	pid = fork();
	TAP_CHECK(pid >= 0, "fork: %s", tap_errno_name(errno));
	if (pid == 0) {
		/* Child: check the parent's message, leave one of its own, exit. */
		char buf[128], own[64];
		int cfd = slot_open_channel(0, 221);
		int n;

		if (cfd < 0 || read(cfd, buf, sizeof(buf)) != 11 ||
		    memcmp(buf, "from parent", 11) != 0)
			_exit(2);
		n = snprintf(own, sizeof(own), "from child %d", (int)getpid());
		if (ioctl(cfd, MSG_SLOT_CHANNEL, 222U) != 0 ||
		    write(cfd, own, (size_t)n) != n)
			_exit(3);
		_exit(0); /* no close: exit releases the fd */
	}
	if (!wait_child(pid, why, "child (exit 2: could not read the parent's message, 3: write failed)"))
		return false;
	len = snprintf(msg, sizeof(msg), "from child %d", (int)pid);
	fd = slot_open_channel(0, 222);
	TAP_CHECK(fd >= 0, "open+ioctl slot0 channel 222: %s", tap_errno_name(errno));
	EXPECT_MESSAGE(fd, msg, (size_t)len, "message left by the exited child");
	close(fd);
	return true;
}

/* Run argv with stdout into out[]; returns the exit status or -1. */
static int run_capture(char *const argv[], unsigned char *out, size_t cap, size_t *out_len)
{
	int pipefd[2], status;
	pid_t pid;
	ssize_t n;

	*out_len = 0;
	if (pipe(pipefd) != 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(pipefd[1], STDOUT_FILENO);
		close(pipefd[0]);
		close(pipefd[1]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(pipefd[1]);
	while ((n = read(pipefd[0], out + *out_len, cap - *out_len)) > 0)
		*out_len += (size_t)n;
	close(pipefd[0]);
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static bool t_persist_exec_cli(char *why)
{
	const char *bin = getenv("BIN");
	char sender[512], reader[512], dev[64];
	unsigned char out[512];
	size_t out_len;
	int fd, rc;

	TAP_CHECK(bin != NULL, "BIN is not set (directory of message_sender/message_reader)");
	TAP_CHECK(slot_path(0, dev, sizeof(dev)) == 0, "mknod /dev/slot0: %s",
		  tap_errno_name(errno));
	snprintf(sender, sizeof(sender), "%s/message_sender", bin);
	snprintf(reader, sizeof(reader), "%s/message_reader", bin);

	/* exec'd sender writes, this process reads after it has exited. */
	rc = run_capture((char *[]){ sender, dev, "231", "sent by exec", NULL },
			 out, sizeof(out), &out_len);
	TAP_CHECK(rc == 0, "message_sender %s 231 'sent by exec' exited %d", dev, rc);
	fd = slot_open_channel(0, 231);
	TAP_CHECK(fd >= 0, "open+ioctl slot0 channel 231: %s", tap_errno_name(errno));
	EXPECT_MESSAGE(fd, "sent by exec", 12, "message written by the exited message_sender");

	/* this process writes, exec'd reader prints it. */
	EXPECT_RET(ioctl(fd, MSG_SLOT_CHANNEL, 232U), 0, "ioctl channel 232");
	EXPECT_RET(write(fd, "read by exec", 12), 12, "write on channel 232");
	close(fd);
	rc = run_capture((char *[]){ reader, dev, "232", NULL }, out, sizeof(out), &out_len);
	TAP_CHECK(rc == 0, "message_reader %s 232 exited %d", dev, rc);
	TAP_CHECK(out_len == 12 && memcmp(out, "read by exec", 12) == 0,
		  "message_reader printed %zu bytes '%.*s', expected exactly 'read by exec'",
		  out_len, (int)(out_len > 64 ? 64 : out_len), out);
	/* and a second exec'd reader sees the same message again. */
	rc = run_capture((char *[]){ reader, dev, "231", NULL }, out, sizeof(out), &out_len);
	TAP_CHECK(rc == 0 && out_len == 12 && memcmp(out, "sent by exec", 12) == 0,
		  "message_reader %s 231: exit %d, %zu bytes, expected 'sent by exec'",
		  dev, rc, out_len);
	return true;
}

static bool t_minors_isolated(char *why)
{
	static const unsigned int minors[] = { 0, 1, 255, 100000, MSG_SLOT_MINORS - 1 };
	const size_t n = sizeof(minors) / sizeof(minors[0]);
	char msg[32];
	int fds[sizeof(minors) / sizeof(minors[0])];
	int len, other;
	size_t i;

	for (i = 0; i < n; i++) {
		fds[i] = slot_open_channel(minors[i], 241);
		TAP_CHECK(fds[i] >= 0, "open+ioctl slot %u channel 241: %s", minors[i],
			  tap_errno_name(errno));
	}
	for (i = 0; i < n; i++) {
		len = snprintf(msg, sizeof(msg), "minor %u", minors[i]);
		EXPECT_RET(write(fds[i], msg, (size_t)len), len,
			   "write on slot %u channel 241", minors[i]);
	}
	for (i = 0; i < n; i++) {
		len = snprintf(msg, sizeof(msg), "minor %u", minors[i]);
		EXPECT_MESSAGE(fds[i], msg, (size_t)len, "slot %u channel 241", minors[i]);
		close(fds[i]);
	}
	other = slot_open_channel(2, 241);
	TAP_CHECK(other >= 0, "open+ioctl slot 2 channel 241: %s", tap_errno_name(errno));
	EXPECT_ERRNO(read(other, msg, sizeof(msg)), EWOULDBLOCK,
		     "slot 2 channel 241 (only other slots wrote channel 241)");
	close(other);
	return true;
}

static bool t_big_channel_ids(char *why)
{
	static const unsigned int ids[] = {
		1, 1U << 20, (1U << 20) + 1, (1U << 20) + 2, 1U << 31,
		4294967294U, 4294967295U,
	};
	const size_t n = sizeof(ids) / sizeof(ids[0]);
	char msg[32];
	int fd = slot_open(3, O_RDWR), len;
	size_t i;

	TAP_CHECK(fd >= 0, "open /dev/slot3: %s", tap_errno_name(errno));
	for (i = 0; i < n; i++) {
		len = snprintf(msg, sizeof(msg), "id %u", ids[i]);
		EXPECT_RET(ioctl(fd, MSG_SLOT_CHANNEL, ids[i]), 0, "ioctl channel %u", ids[i]);
		EXPECT_RET(write(fd, msg, (size_t)len), len, "write on channel %u", ids[i]);
	}
	for (i = 0; i < n; i++) {
		len = snprintf(msg, sizeof(msg), "id %u", ids[i]);
		EXPECT_RET(ioctl(fd, MSG_SLOT_CHANNEL, ids[i]), 0, "ioctl channel %u", ids[i]);
		EXPECT_MESSAGE(fd, msg, (size_t)len, "slot 3 channel %u", ids[i]);
	}
	EXPECT_RET(ioctl(fd, MSG_SLOT_CHANNEL, (1U << 20) + 3), 0, "ioctl channel 2^20+3");
	EXPECT_ERRNO(read(fd, msg, sizeof(msg)), EWOULDBLOCK, "never-written channel 2^20+3");
	close(fd);
	return true;
}

static bool t_lseek_pread_espipe(char *why)
{
	char buf[64];
	int fd = slot_open_channel(0, 251);

	TAP_CHECK(fd >= 0, "open+ioctl slot0 channel 251: %s", tap_errno_name(errno));
	EXPECT_RET(write(fd, "seek", 4), 4, "write");
	EXPECT_ERRNO(lseek(fd, 0, SEEK_SET), ESPIPE, "lseek(0, SEEK_SET)");
	EXPECT_ERRNO(lseek(fd, 0, SEEK_CUR), ESPIPE, "lseek(0, SEEK_CUR)");
	EXPECT_ERRNO(lseek(fd, 0, SEEK_END), ESPIPE, "lseek(0, SEEK_END)");
	EXPECT_ERRNO(pread(fd, buf, sizeof(buf), 0), ESPIPE, "pread(offset 0)");
	EXPECT_ERRNO(pwrite(fd, "other", 5, 0), ESPIPE, "pwrite(offset 0)");
	EXPECT_MESSAGE(fd, "seek", 4, "message after lseek/pread/pwrite");
	close(fd);
	return true;
}

int main(void)
{
	page_size = sysconf(_SC_PAGESIZE);
	tap_run("write_before_ioctl_einval", t_write_before_ioctl);
	tap_run("read_before_ioctl_einval", t_read_before_ioctl);
	tap_run("channel_zero_einval", t_channel_zero);
	tap_run("unknown_ioctl_einval", t_unknown_ioctl);
	tap_run("ioctl_uint_encoding", t_ioctl_uint_encoding);
	tap_run("ioctl_ulong_encoding", t_ioctl_ulong_encoding);
	tap_run("write_sizes_0_1_128_129", t_message_sizes);
	tap_run("read_short_buffer_enospc", t_enospc_short_buffer);
	tap_run("read_unwritten_ewouldblock", t_ewouldblock_unwritten);
	tap_run("binary_nul_roundtrip", t_binary_nul_roundtrip);
	tap_run("read_returns_exact_length", t_read_exact_length);
	tap_run("write_bad_buffer_einval_old_survives", t_write_bad_buffers);
	tap_run("read_bad_buffer_einval", t_read_bad_buffers);
	tap_run("per_fd_channels", t_per_fd_channels);
	tap_run("persist_across_close", t_persist_across_close);
	tap_run("persist_child_writes_then_exits", t_persist_child_exits);
	tap_run("persist_exec_cli", t_persist_exec_cli);
	tap_run("minors_isolated", t_minors_isolated);
	tap_run("channel_ids_2pow20_and_uint_max", t_big_channel_ids);
	tap_run("lseek_pread_pwrite_espipe", t_lseek_pread_espipe);
	return tap_exit_code();
}
