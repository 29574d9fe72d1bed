// SPDX-License-Identifier: GPL-2.0
/*
 * msgslot_membound.c - the bound on kernel memory held by messages.
 *
 * Run with the module freshly loaded as `insmod message_slot.ko
 * max_msg_bytes=10240` (nothing else written yet).  Accounting per
 * params.md: a message costs its slab object size, 32 bytes for 1..15
 * bytes and 160 for 128 bytes; a replacement is charged the difference.
 * 10240 = 32 + 63 * 160 + 128, so the steps below land exactly on the
 * bound.  Steps build on each other; each prints its own line.
 */
#define _GNU_SOURCE
#include "tap.h"
#include "msgslot_util.h"

#define BOUND 10240ULL
#define SLOT 20
#define OTHER_SLOT 21
#define SMALL_CH 1000u   /* holds the 1-byte message */
#define FULL_CHANNELS 63u /* channels 1..63 hold 128-byte messages */
#define SPARE_CH 64u

static int fd = -1;

/* Distinct 128-byte content per (channel, generation). */
static void big_message(unsigned int ch, unsigned int gen, unsigned char *out)
{
	uint32_t state = ch * 2654435761u + gen * 40503u + 1;
	int i;

	for (i = 0; i < 128; i++)
		out[i] = (unsigned char)xorshift32(&state);
}

/* Expected content of every channel, updated as the steps go. */
static struct {
	unsigned int len; /* 0 = must be unwritten */
	unsigned int gen; /* for 128-byte messages */
	unsigned char small;
} expect[256], small_ch_expect;

#define PUT_BIG(ch, gen, want_errno, ...)                                \
	do {                                                             \
		unsigned char pb_[128];                                  \
		big_message((ch), (gen), pb_);                           \
		EXPECT_RET(ioctl(fd, MSG_SLOT_CHANNEL, (unsigned int)(ch)), 0, "ioctl %u", (ch)); \
		if (want_errno)                                          \
			EXPECT_ERRNO(write(fd, pb_, 128), (want_errno), __VA_ARGS__); \
		else                                                     \
			EXPECT_RET(write(fd, pb_, 128), 128, __VA_ARGS__); \
	} while (0)

#define PUT_SMALL(ch, byte, want_errno, ...)                             \
	do {                                                             \
		unsigned char ps_ = (byte);                              \
		EXPECT_RET(ioctl(fd, MSG_SLOT_CHANNEL, (unsigned int)(ch)), 0, "ioctl %u", (ch)); \
		if (want_errno)                                          \
			EXPECT_ERRNO(write(fd, &ps_, 1), (want_errno), __VA_ARGS__); \
		else                                                     \
			EXPECT_RET(write(fd, &ps_, 1), 1, __VA_ARGS__);  \
	} while (0)

static bool check_channel(unsigned int ch, unsigned int len, unsigned int gen,
			  unsigned char small, char *why)
{
	unsigned char want[128], buf[128];
	char what[64];

	EXPECT_RET(ioctl(fd, MSG_SLOT_CHANNEL, ch), 0, "ioctl %u", ch);
	if (len == 0) {
		EXPECT_ERRNO(read(fd, buf, sizeof(buf)), EWOULDBLOCK,
			     "channel %u must still be unwritten", ch);
		return true;
	}
	if (len == 1)
		want[0] = small;
	else
		big_message(ch, gen, want);
	snprintf(what, sizeof(what), "channel %u", ch);
	return slot_expect_message(fd, want, len, why, what);
}

/* Every channel of the slot holds what `expect` says. */
static bool check_all(char *why)
{
	unsigned int ch;

	for (ch = 1; ch < 256; ch++)
		if (!check_channel(ch, expect[ch].len, expect[ch].gen, expect[ch].small, why))
			return false;
	return check_channel(SMALL_CH, small_ch_expect.len, small_ch_expect.gen,
			     small_ch_expect.small, why);
}

static bool t_param(char *why)
{
	unsigned long long bound;

	TAP_CHECK(slot_param_read("max_msg_bytes", &bound) == 0,
		  "cannot read " SLOT_PARAM_DIR "/max_msg_bytes: %s", tap_errno_name(errno));
	TAP_CHECK(bound == BOUND, "max_msg_bytes is %llu, this test needs the module loaded with max_msg_bytes=%llu",
		  bound, BOUND);
	fd = slot_open(SLOT, O_RDWR);
	TAP_CHECK(fd >= 0, "open slot %d: %s", SLOT, tap_errno_name(errno));
	return true;
}

static bool t_fill_to_bound(char *why)
{
	unsigned int ch;

	PUT_SMALL(SMALL_CH, 's', 0, "1-byte write on channel %u (32 of %llu used)", SMALL_CH, BOUND);
	small_ch_expect.len = 1;
	small_ch_expect.small = 's';
	for (ch = 1; ch <= FULL_CHANNELS; ch++) {
		PUT_BIG(ch, 0, 0, "128-byte write #%u (%llu of %llu bytes would be used)", ch,
			32ULL + ch * 160ULL, BOUND);
		expect[ch].len = 128;
	}
	return check_all(why);
}

static bool t_enomem_new_channel(char *why)
{
	/* 10112 used, 128 left: a new 128-byte message costs 160. */
	PUT_BIG(SPARE_CH, 0, ENOMEM, "128-byte write on new channel %u with 128 bytes left", SPARE_CH);
	return check_all(why); /* includes: channel 64 still unwritten */
}

static bool t_replace_charged_difference(char *why)
{
	/* 1 -> 128 bytes costs 160 - 32 = 128: exactly what is left. */
	PUT_BIG(SMALL_CH, 1, 0, "growing channel %u from 1 to 128 bytes with 128 bytes left (only the difference may be charged)",
		SMALL_CH);
	small_ch_expect.len = 128;
	small_ch_expect.gen = 1;
	return check_all(why);
}

static bool t_full_bound(char *why)
{
	int other;

	/* Exactly at the bound now: nothing new fits, on any slot. */
	PUT_SMALL(SPARE_CH, 'x', ENOMEM, "1-byte write on new channel %u at the bound", SPARE_CH);
	other = slot_open_channel(OTHER_SLOT, 1);
	TAP_CHECK(other >= 0, "open+ioctl slot %d: %s", OTHER_SLOT, tap_errno_name(errno));
	EXPECT_ERRNO(write(other, "x", 1), ENOMEM,
		     "1-byte write on another slot at the bound (the bound is module-wide)");
	EXPECT_ERRNO(read(other, (char[8]){ 0 }, 8), EWOULDBLOCK,
		     "other slot's channel after its failed write");
	close(other);
	return check_all(why);
}

static bool t_equal_size_at_bound(char *why)
{
	PUT_BIG(1, 2, 0, "replacing channel 1's 128-byte message with another 128-byte one at the bound");
	expect[1].gen = 2;
	PUT_SMALL(2, 'y', 0, "shrinking channel 2 from 128 to 1 byte at the bound");
	expect[2].len = 1;
	expect[2].small = 'y';
	return check_all(why);
}

static bool t_grow_fails_keeps_old(char *why)
{
	/* used 10112: +32 for a new 1-byte message leaves 96. */
	PUT_SMALL(SPARE_CH, 'z', 0, "1-byte write on channel %u with 128 bytes left", SPARE_CH);
	expect[SPARE_CH].len = 1;
	expect[SPARE_CH].small = 'z';
	/* growing channel 2 from 1 to 128 bytes needs 128 > 96 */
	PUT_BIG(2, 3, ENOMEM, "growing channel 2 from 1 to 128 bytes with 96 bytes left");
	PUT_BIG(SPARE_CH, 3, ENOMEM, "growing channel %u from 1 to 128 bytes with 96 bytes left",
		SPARE_CH);
	return check_all(why); /* channel 2 still 'y', channel 64 still 'z' */
}

static bool t_raise_param(char *why)
{
	unsigned int ch;

	TAP_CHECK(slot_param_write("max_msg_bytes", 1048576) == 0,
		  "writing 1048576 to " SLOT_PARAM_DIR "/max_msg_bytes: %s", tap_errno_name(errno));
	PUT_BIG(2, 4, 0, "growing channel 2 to 128 bytes after raising max_msg_bytes");
	expect[2].len = 128;
	expect[2].gen = 4;
	for (ch = SPARE_CH; ch < 256; ch++) {
		PUT_BIG(ch, 5, 0, "128-byte write on channel %u after raising max_msg_bytes", ch);
		expect[ch].len = 128;
		expect[ch].gen = 5;
	}
	return check_all(why);
}

static bool t_lower_param(char *why)
{
	int other;

	/* Usage is far above 10240 now: new messages must be refused. */
	TAP_CHECK(slot_param_write("max_msg_bytes", BOUND) == 0,
		  "writing %llu to " SLOT_PARAM_DIR "/max_msg_bytes: %s", BOUND,
		  tap_errno_name(errno));
	other = slot_open_channel(OTHER_SLOT, 2);
	TAP_CHECK(other >= 0, "open+ioctl slot %d: %s", OTHER_SLOT, tap_errno_name(errno));
	EXPECT_ERRNO(write(other, "x", 1), ENOMEM,
		     "new 1-byte message while usage is above the lowered bound");
	close(other);
	return check_all(why);
}

int main(void)
{
	static const struct {
		const char *name;
		tap_test_fn fn;
	} steps[] = {
		{ "membound_param_and_open", t_param },
		{ "membound_fill_exactly_to_bound", t_fill_to_bound },
		{ "membound_enomem_new_channel_nothing_lost", t_enomem_new_channel },
		{ "membound_replace_charged_difference", t_replace_charged_difference },
		{ "membound_enomem_at_bound_any_slot", t_full_bound },
		{ "membound_equal_size_replace_at_bound", t_equal_size_at_bound },
		{ "membound_grow_enomem_keeps_old", t_grow_fails_keeps_old },
		{ "membound_raise_param_recovers", t_raise_param },
		{ "membound_lower_param_refuses_new", t_lower_param },
	};
	size_t i;

	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		if (!tap_run(steps[i].name, steps[i].fn) && i == 0) {
			/* without the right bound the other steps mean nothing */
			for (i = 1; i < sizeof(steps) / sizeof(steps[0]); i++)
				tap_result(steps[i].name, false, "skipped: setup failed");
			break;
		}
	}
	if (fd >= 0)
		close(fd);
	return tap_exit_code();
}
