// SPDX-License-Identifier: GPL-2.0
/*
 * msgslot_many.c - scale: 2^20 distinct channels in one slot, each with
 * its own message, every one read back and verified; and 2^16 channel ids
 * spread over the whole 32-bit range in another slot.
 *
 * Uses fresh slots 77777 and 77778 so no other test's channels count
 * against the 2^20 ids a slot may hold.  Prints timings as '#' lines.
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

static bool t_dense(char *why)
{
	/* ids 1..2^20 */
	return fill_and_verify(DENSE_SLOT, 1u << 20, 1, 1, "2^20 channels", why);
}

static bool t_sparse(char *why)
{
	/* ids 1, 65522, ...: 65536 ids stride 65521 up to 4294049281 */
	return fill_and_verify(SPARSE_SLOT, 1u << 16, 1, 65521, "2^16 sparse channel ids", why);
}

int main(void)
{
	tap_run("channels_2pow20_in_one_slot_all_verified", t_dense);
	tap_run("channels_2pow16_sparse_ids_all_verified", t_sparse);
	return tap_exit_code();
}
