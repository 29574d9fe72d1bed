// SPDX-License-Identifier: GPL-2.0
/*
 * msgslot_many.c - scale: 2^20 distinct channels in one slot, each with
 * its own message, every one read back and verified; and 2^16 channel ids
 * spread over the whole 32-bit range in another slot.
 *
 * Uses fresh slots 77777 and 77778 so no other test's channels count
 * against the 2^20 ids a slot may hold.  Prints timings as '#' lines.
 *
 * Usage: msgslot_many [log2(dense count) [log2(sparse count)]], default
 * 20 and 16.  The suite passes smaller numbers on debug kernels only, where
 * kmemleak/KASAN make a million objects take many minutes to create and,
 * at rmmod, to free.
 */
#define _GNU_SOURCE
#include "tap.h"
#include "msgslot_util.h"

#define DENSE_SLOT 77777
#define SPARSE_SLOT 77778

/* Message for channel id: 4..16 bytes, the id itself then id-derived bytes,
 * so every channel's message is different and its length varies. */
static size_t channel_message(uint32_t id, unsigned char *out)
{
	size_t len = 4 + id % 13, i;

	memcpy(out, &id, 4);
	for (i = 4; i < len; i++)
		out[i] = (unsigned char)(id * 131u + i * 17u);
	return len;
}

static bool fill_and_verify(unsigned int minor, uint32_t count, uint32_t first,
			    uint32_t stride, const char *label, char *why)
{
	unsigned char msg[16], buf[128];
	double t0, t1, t2;
	uint32_t i;
	int fd = slot_open(minor, O_RDWR);

	TAP_CHECK(fd >= 0, "open slot %u: %s", minor, tap_errno_name(errno));
	t0 = now_seconds();
	for (i = 0; i < count; i++) {
		uint32_t id = first + i * stride;
		size_t len = channel_message(id, msg);

		EXPECT_RET(ioctl(fd, MSG_SLOT_CHANNEL, id), 0,
			   "ioctl channel %u (channel #%u)", id, i);
		EXPECT_RET(write(fd, msg, len), (long)len, "write channel %u (channel #%u)", id, i);
	}
	t1 = now_seconds();
	/* Read back from a separate open: nothing may rely on the writer's fd. */
	close(fd);
	fd = slot_open(minor, O_RDONLY);
	TAP_CHECK(fd >= 0, "reopen slot %u: %s", minor, tap_errno_name(errno));
	for (i = 0; i < count; i++) {
		uint32_t id = first + i * stride;
		size_t len = channel_message(id, msg);
		long n;

		EXPECT_RET(ioctl(fd, MSG_SLOT_CHANNEL, id), 0, "ioctl channel %u on re-read", id);
		errno = 0;
		n = read(fd, buf, sizeof(buf));
		if (n != (long)len || memcmp(buf, msg, len) != 0)
			TAP_FAIL("channel %u (#%u of %u): read %s bytes%s, expected its own %zu-byte message",
				 id, i, count, tap_got(n, errno),
				 n == (long)len ? " with wrong content" : "", len);
	}
	t2 = now_seconds();
	close(fd);
	tap_note("%s: %u channels written in %.1f s, read back and verified in %.1f s",
		 label, count, t1 - t0, t2 - t1);
	return true;
}

static unsigned int dense_log2 = 20, sparse_log2 = 16;

static bool t_dense(char *why)
{
	char label[32];

	/* ids 1..2^n */
	snprintf(label, sizeof(label), "2^%u channels", dense_log2);
	return fill_and_verify(DENSE_SLOT, 1u << dense_log2, 1, 1, label, why);
}

static bool t_sparse(char *why)
{
	char label[48];
	/* 2^n ids from 1 in equal steps up to nearly 2^32 */
	uint32_t stride = (uint32_t)((0xFFFFFFFFull - 1) / (1ull << sparse_log2));

	snprintf(label, sizeof(label), "2^%u sparse channel ids", sparse_log2);
	return fill_and_verify(SPARSE_SLOT, 1u << sparse_log2, 1, stride, label, why);
}

int main(int argc, char **argv)
{
	char name[80];

	if (argc > 1)
		dense_log2 = (unsigned int)strtoul(argv[1], NULL, 10);
	if (argc > 2)
		sparse_log2 = (unsigned int)strtoul(argv[2], NULL, 10);
	if (argc > 3 || dense_log2 < 1 || dense_log2 > 20 || sparse_log2 < 1 || sparse_log2 > 20) {
		fprintf(stderr, "usage: %s [log2 dense 1..20 [log2 sparse 1..20]]\n", argv[0]);
		return 2;
	}
	snprintf(name, sizeof(name), "channels_2pow%u_in_one_slot_all_verified", dense_log2);
	tap_run(name, t_dense);
	snprintf(name, sizeof(name), "channels_2pow%u_sparse_ids_all_verified", sparse_log2);
	tap_run(name, t_sparse);
	return tap_exit_code();
}
