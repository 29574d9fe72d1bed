// SPDX-License-Identifier: GPL-2.0
/*
 * msgslot_membound.c - the bound on kernel memory held by messages.
 *
 * Accounting (README, "Memory bounds"): a message costs its slab object
 * size, header + length rounded up to 16 bytes; a replacement is charged the
 * difference; a new channel is also charged the 576-byte index nodes it
 * makes the channel index allocate; past max_msg_bytes a write fails with
 * ENOMEM and changes nothing.  msg_bytes_used shows the charge.
 *
 *   msgslot_membound probe <outfile> [debug]
 *     module freshly loaded with max_msg_bytes=100000.  Measures what a
 *     1-, 15- and 128-byte message costs (fill until ENOMEM within one
 *     index leaf; costs are multiples of 16, so the count pins each down
 *     exactly) and checks them: 32, 32 and 160, or, with "debug" (lockdep
 *     makes every header bigger), plausible slab sizes; then checks the
 *     index node charges through msg_bytes_used.  Writes "c1 c128 node".
 *   msgslot_membound run <c1> <c128> <node>
 *     module freshly loaded with max_msg_bytes = 63 * c128 + 3 * node.
 *     Channel 1000, then 1..62 cost c1 + 62 * c128 + 3 nodes (a root and
 *     two leaves), so c128 - c1 is left and the steps below land exactly
 *     on the bound (11808 with the production costs 32, 160 and 576).
 * Steps build on each other; each prints its own line.
 */
#define _GNU_SOURCE
#include "tap.h"
#include "msgslot_util.h"

#define PROBE_BOUND 100000ULL
#define PROBE_SLOT 22
#define SLOT 20
#define OTHER_SLOT 21
#define SMALL_CH 1000u   /* holds the 1-byte message */
#define FULL_CHANNELS 62u /* channels 1..62 hold 128-byte messages */
#define SPARE_CH 63u      /* in the same index leaf: costs no node */

static int fd = -1;
static unsigned long long c1 = 32, c128 = 160; /* costs of 1- and 128-byte messages */
static unsigned long long node = 576;           /* cost of an index node */
static unsigned long long bound;                /* 63 * c128 + 3 * node */

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
		EXPECT_RET(ioctl(fd, MSG_SLOT_CHANNEL, (unsigned int)(ch)), 0, "ioctl %u", (unsigned int)(ch)); \
		if (want_errno)                                          \
			EXPECT_ERRNO(write(fd, pb_, 128), (want_errno), __VA_ARGS__); \
		else                                                     \
			EXPECT_RET(write(fd, pb_, 128), 128, __VA_ARGS__); \
	} while (0)

#define PUT_SMALL(ch, byte, want_errno, ...)                             \
	do {                                                             \
		unsigned char ps_ = (byte);                              \
		EXPECT_RET(ioctl(fd, MSG_SLOT_CHANNEL, (unsigned int)(ch)), 0, "ioctl %u", (unsigned int)(ch)); \
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
	unsigned long long value;

	TAP_CHECK(slot_param_read("max_msg_bytes", &value) == 0,
		  "cannot read " SLOT_PARAM_DIR "/max_msg_bytes: %s", tap_errno_name(errno));
	TAP_CHECK(value == bound, "max_msg_bytes is %llu, this test needs the module loaded with max_msg_bytes=%llu (63 * %llu + 3 * %llu)",
		  value, bound, c128, node);
	fd = slot_open(SLOT, O_RDWR);
	TAP_CHECK(fd >= 0, "open slot %d: %s", SLOT, tap_errno_name(errno));
	return true;
}

static bool t_fill_to_bound(char *why)
{
	unsigned int ch;

	PUT_SMALL(SMALL_CH, 's', 0, "1-byte write on channel %u (%llu of %llu used)", SMALL_CH,
		  c1 + 2 * node, bound);
	small_ch_expect.len = 1;
	small_ch_expect.small = 's';
	for (ch = 1; ch <= FULL_CHANNELS; ch++) {
		PUT_BIG(ch, 0, 0, "128-byte write #%u (%llu of %llu bytes would be used)", ch,
			c1 + ch * c128 + 3 * node, bound);
		expect[ch].len = 128;
	}
	return check_all(why);
}

static bool t_enomem_new_channel(char *why)
{
	/* c128 - c1 left (128): a new 128-byte message costs c128 (160). */
	PUT_BIG(SPARE_CH, 0, ENOMEM, "128-byte write (costs %llu) on new channel %u with %llu bytes left",
		c128, SPARE_CH, c128 - c1);
	return check_all(why); /* includes: channel 63 still unwritten */
}

static bool t_replace_charged_difference(char *why)
{
	/* 1 -> 128 bytes costs c128 - c1 (128): exactly what is left. */
	PUT_BIG(SMALL_CH, 1, 0, "growing channel %u from 1 to 128 bytes with %llu bytes left (only the difference may be charged)",
		SMALL_CH, c128 - c1);
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
	/* c128 - c1 left (128): a new 1-byte message leaves c128 - 2 * c1 (96). */
	PUT_SMALL(SPARE_CH, 'z', 0, "1-byte write on channel %u with %llu bytes left", SPARE_CH,
		  c128 - c1);
	expect[SPARE_CH].len = 1;
	expect[SPARE_CH].small = 'z';
	/* growing channel 2 from 1 to 128 bytes needs c128 - c1 > c128 - 2 * c1 */
	PUT_BIG(2, 3, ENOMEM, "growing channel 2 from 1 to 128 bytes with %llu bytes left",
		c128 - 2 * c1);
	PUT_BIG(SPARE_CH, 3, ENOMEM, "growing channel %u from 1 to 128 bytes with %llu bytes left",
		SPARE_CH, c128 - 2 * c1);
	return check_all(why); /* channel 2 still 'y', channel 63 still 'z' */
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

	/* Usage is far above the old bound now: new messages must be refused. */
	TAP_CHECK(slot_param_write("max_msg_bytes", bound) == 0,
		  "writing %llu to " SLOT_PARAM_DIR "/max_msg_bytes: %s", bound,
		  tap_errno_name(errno));
	other = slot_open_channel(OTHER_SLOT, 2);
	TAP_CHECK(other >= 0, "open+ioctl slot %d: %s", OTHER_SLOT, tap_errno_name(errno));
	EXPECT_ERRNO(write(other, "x", 1), ENOMEM,
		     "new 1-byte message while usage is above the lowered bound");
	close(other);
	return check_all(why);
}

#define PROBE_ROOM 1000ULL /* < 64 of the cheapest (16-byte) messages */

static bool used_now(unsigned long long *value, char *why)
{
	TAP_CHECK(slot_param_read("msg_bytes_used", value) == 0,
		  "cannot read " SLOT_PARAM_DIR "/msg_bytes_used: %s", tap_errno_name(errno));
	return true;
}

static bool room_for(unsigned long long room, char *why)
{
	unsigned long long used;

	if (!used_now(&used, why))
		return false;
	TAP_CHECK(slot_param_write("max_msg_bytes", used + room) == 0,
		  "writing max_msg_bytes: %s", tap_errno_name(errno));
	return true;
}

/* What writing a @len-byte message on channel @ch adds to msg_bytes_used. */
static bool write_delta(unsigned int ch, size_t len, unsigned long long *delta, char *why)
{
	unsigned char msg[128];
	unsigned long long before, after;

	memset(msg, 'p', sizeof(msg));
	if (!used_now(&before, why))
		return false;
	EXPECT_RET(ioctl(fd, MSG_SLOT_CHANNEL, ch), 0, "ioctl %u", ch);
	EXPECT_RET(write(fd, msg, len), (long)len, "%zu-byte write on channel %u", len, ch);
	if (!used_now(&after, why))
		return false;
	*delta = after - before;
	return true;
}

/*
 * The cost of a @len-byte message: create index leaf @leaf (channels
 * 64 * leaf ..), then with PROBE_ROOM bytes left fill the leaf's other
 * channels until ENOMEM.  They need no index node, so exactly
 * PROBE_ROOM / cost of them must fit, each charged the same.
 */
static bool probe_cost(size_t len, unsigned int leaf, unsigned long long *cost, char *why)
{
	unsigned char msg[128];
	unsigned long long before, after, count = 0, delta;
	unsigned int ch = 64 * leaf;
	long n;

	memset(msg, 'p', sizeof(msg));
	if (!write_delta(ch, len, &delta, why) || !room_for(PROBE_ROOM, why) ||
	    !used_now(&before, why))
		return false;
	for (;;) {
		TAP_CHECK(++ch < 64 * (leaf + 1), "no ENOMEM after %llu %zu-byte messages in %llu bytes",
			  count, len, PROBE_ROOM);
		EXPECT_RET(ioctl(fd, MSG_SLOT_CHANNEL, ch), 0, "ioctl %u", ch);
		errno = 0;
		n = write(fd, msg, len);
		if (n < 0 && errno == ENOMEM)
			break;
		TAP_CHECK(n == (long)len, "probe: %zu-byte write on channel %u: got %s", len, ch,
			  tap_got(n, errno));
		count++;
	}
	if (!used_now(&after, why))
		return false;
	TAP_CHECK(count > 0, "not one %zu-byte message fits in %llu bytes", len, PROBE_ROOM);
	*cost = (after - before) / count;
	TAP_CHECK(*cost * count == after - before && *cost % 16 == 0 && PROBE_ROOM / *cost == count,
		  "%llu %zu-byte messages were charged %llu bytes and the next one did not fit in %llu: not a cost per message rounded to 16",
		  count, len, after - before, PROBE_ROOM);
	return room_for(100000, why);
}

/*
 * Index nodes: a new channel is charged the nodes the channel index
 * allocates for it (xarray: 64 slots per node), an existing one nothing.
 */
static bool probe_nodes(char *why)
{
	static const struct {
		unsigned int ch;
		unsigned int nodes;
		const char *what;
	} steps[] = {
		{ 1, 1, "a new leaf under the existing root" },
		{ 2, 0, "a channel in an existing leaf" },
		{ 1u << 20, 5, "a sparse id: two new top levels and three nodes below" },
		{ (1u << 20) + (1u << 12), 2, "a path sharing the nodes down to shift 12" },
		{ 1, 0, "an existing channel rewritten" },
	};
	unsigned long long delta;
	size_t i;

	if (!write_delta(steps[0].ch, 1, &delta, why))
		return false;
	node = delta - c1;
	TAP_CHECK(node == 576, "a new index leaf was charged %llu bytes, want 576 (sizeof(struct xa_node))",
		  node);
	for (i = 1; i < sizeof(steps) / sizeof(steps[0]); i++) {
		if (!write_delta(steps[i].ch, 1, &delta, why))
			return false;
		TAP_CHECK(delta == (i == 4 ? 0 : c1) + steps[i].nodes * node,
			  "channel %u (%s) was charged %llu bytes, want %llu + %u nodes of %llu",
			  steps[i].ch, steps[i].what, delta, i == 4 ? 0 : c1, steps[i].nodes, node);
	}
	return true;
}

static bool debug_kernel;
static const char *probe_out;

static bool t_probe(char *why)
{
	unsigned long long value, c15;
	FILE *out;

	TAP_CHECK(slot_param_read("max_msg_bytes", &value) == 0,
		  "cannot read " SLOT_PARAM_DIR "/max_msg_bytes: %s", tap_errno_name(errno));
	TAP_CHECK(value == PROBE_BOUND, "max_msg_bytes is %llu after insmod max_msg_bytes=%llu",
		  value, PROBE_BOUND);
	fd = slot_open(PROBE_SLOT, O_RDWR);
	TAP_CHECK(fd >= 0, "open slot %d: %s", PROBE_SLOT, tap_errno_name(errno));
	if (!probe_cost(1, 1, &c1, why) || !probe_cost(15, 2, &c15, why) ||
	    !probe_cost(128, 3, &c128, why) || !probe_nodes(why))
		return false;
	tap_note("message costs: 1 byte %llu, 15 bytes %llu, 128 bytes %llu; index node %llu",
		 c1, c15, c128, node);
	out = fopen(probe_out, "w");
	TAP_CHECK(out != NULL, "cannot write %s: %s", probe_out, tap_errno_name(errno));
	fprintf(out, "%llu %llu %llu\n", c1, c128, node);
	fclose(out);
	if (debug_kernel) {
		/* header >= 17 bytes (rcu_head + length), costs rounded to 16 */
		TAP_CHECK(c1 >= 32 && c15 >= c1 && c15 - c1 <= 16 && c128 >= 160 &&
			  c128 - c1 >= 112 && c128 - c1 <= 128,
			  "costs 1 byte %llu, 15 bytes %llu, 128 bytes %llu are not header + length rounded up to 16",
			  c1, c15, c128);
	} else {
		TAP_CHECK(c1 == 32 && c15 == 32 && c128 == 160,
			  "costs 1 byte %llu, 15 bytes %llu, 128 bytes %llu; the README says 32, 32, 160",
			  c1, c15, c128);
	}
	return true;
}

int main(int argc, char **argv)
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

	if (argc >= 3 && argc <= 4 && strcmp(argv[1], "probe") == 0) {
		probe_out = argv[2];
		debug_kernel = argc == 4 && strcmp(argv[3], "debug") == 0;
		tap_run(debug_kernel ? "membound_message_costs_debug_kernel" :
				       "membound_message_costs_32_32_160", t_probe);
		if (fd >= 0)
			close(fd);
		return tap_exit_code();
	}
	if (argc != 5 || strcmp(argv[1], "run") != 0) {
		fprintf(stderr, "usage: %s probe <outfile> [debug] | run <c1> <c128> <node>\n",
			argv[0]);
		return 2;
	}
	c1 = strtoull(argv[2], NULL, 10);
	c128 = strtoull(argv[3], NULL, 10);
	node = strtoull(argv[4], NULL, 10);
	if (c1 < 16 || c128 < 2 * c1 || node < 64) {
		fprintf(stderr, "%s: implausible costs %llu %llu %llu\n", argv[0], c1, c128, node);
		return 2;
	}
	bound = 63 * c128 + 3 * node;
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
