// SPDX-License-Identifier: GPL-2.0
/*
 * failinject_alloc - systematic allocation-failure injection into every
 * allocating path of the message_slot driver.
 *
 * For each operation (slot open, write, ioctls, NP-Heap mmap create/grow,
 * lock, ...) and for N = 1, 2, 3, ... it arms /proc/thread-self/fail-nth
 * with N, so that the N-th fault-injection point reached by this task during
 * the call fails, runs the call once and disarms.  It stops at the first N
 * that the call never reaches.  Every outcome must be either
 *   - success with the complete new state, or
 *   - -1/ENOMEM with the previous state intact (old message byte-identical,
 *     object size and contents unchanged, lock not held).
 * Two phases: failslab (slab allocations fail) and fail_page_alloc (page
 * allocations fail).  Afterwards the memory budgets must be exactly what the
 * stored messages/objects account for (no charge leaked by an error path).
 * Leaks are checked by the suite with kmemleak after this program.
 *
 * Needs a debug kernel (CONFIG_FAILSLAB, CONFIG_FAIL_PAGE_ALLOC,
 * CONFIG_FAULT_INJECTION_DEBUG_FS) and a freshly loaded module (budgets
 * start at zero).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "message_slot.h"
#include "npheap_shim/npheap/npheap.h"
#include "tap.h"

#define MAX_NTH		400	/* no path here reaches that many fault points */
#define FAILSLAB	"/sys/kernel/debug/failslab/"
#define FAILPAGE	"/sys/kernel/debug/fail_page_alloc/"
#define PARAMS		"/sys/module/message_slot/parameters/"
#define NODE_DIR	"/tmp/failinject"

static int fail_nth_fd = -1;
static size_t page_size;
static bool have_npheap;
static const char *phase = "slab";
static unsigned long censor_period = 3;

/* Per-test statistics, printed as a note. */
static unsigned int points, injected_errors;
/* mmap failures injected after the driver's ->mmap had already succeeded. */
static unsigned int late_failures;

/* ------------------------------------------------------------------------
 * Knobs
 */

static bool write_file(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return false;
	n = write(fd, value, strlen(value));
	close(fd);
	return n == (ssize_t)strlen(value);
}

static bool read_ulong(const char *path, unsigned long *value)
{
	FILE *f = fopen(path, "r");
	bool ok;

	if (!f)
		return false;
	ok = fscanf(f, "%lu", value) == 1;
	fclose(f);
	return ok;
}

static void set_knob(const char *path, const char *value)
{
	if (!write_file(path, value)) {
		printf("# failinject: cannot write '%s' to %s: %s\n", value, path,
		       strerror(errno));
		exit(2);
	}
}

/*
 * Only fail-nth injects (probability 0), silently (verbose 0: no stack
 * dumps in the kernel log), and only the allocator of the phase counts:
 * the other one is filtered out before it can consume the armed fault.
 */
static void set_phase(const char *which)
{
	bool slab = !strcmp(which, "slab");

	phase = which;
	set_knob(FAILSLAB "probability", "0");
	set_knob(FAILSLAB "verbose", "0");
	set_knob(FAILSLAB "ignore-gfp-wait", slab ? "N" : "Y");
	/* With the filter on and no cache marked, no slab allocation counts. */
	set_knob(FAILSLAB "cache-filter", slab ? "N" : "Y");
	set_knob(FAILPAGE "probability", "0");
	set_knob(FAILPAGE "verbose", "0");
	set_knob(FAILPAGE "ignore-gfp-wait", slab ? "Y" : "N");
	set_knob(FAILPAGE "ignore-gfp-highmem", slab ? "Y" : "N");
	/* No page allocation has an order this high: none counts. */
	set_knob(FAILPAGE "min-order", slab ? "11" : "0");
}

static void restore_defaults(void)
{
	write_file(FAILSLAB "ignore-gfp-wait", "Y");
	write_file(FAILSLAB "cache-filter", "N");
	write_file(FAILPAGE "ignore-gfp-wait", "Y");
	write_file(FAILPAGE "ignore-gfp-highmem", "Y");
	write_file(FAILPAGE "min-order", "1");
	write_file(FAILSLAB "verbose", "2");
	write_file(FAILPAGE "verbose", "2");
}

/* ------------------------------------------------------------------------
 * fail-nth: arm, then after the call learn whether the fault was injected
 */

static void arm(unsigned int n)
{
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%u", n);

	if (pwrite(fail_nth_fd, buf, len, 0) != len) {
		printf("# failinject: arming fail-nth: %s\n", strerror(errno));
		exit(2);
	}
}

/* Disarm; true if the armed fault was injected during the call. */
static bool disarm(void)
{
	char buf[16] = "";
	ssize_t n = pread(fail_nth_fd, buf, sizeof(buf) - 1, 0);
	bool injected = n > 0 && atoi(buf) == 0;

	if (pwrite(fail_nth_fd, "0", 1, 0) != 1) {
		printf("# failinject: disarming fail-nth: %s\n", strerror(errno));
		exit(2);
	}
	return injected;
}

/* ------------------------------------------------------------------------
 * Message slot model: what this program stored (the module starts empty)
 */

#define MAX_STORED 64

static struct stored {
	unsigned int minor;
	uint32_t channel;
	size_t len;
} stored[MAX_STORED];
static size_t nstored;

static void remember(unsigned int minor, uint32_t channel, size_t len)
{
	size_t i;

	for (i = 0; i < nstored; i++)
		if (stored[i].minor == minor && stored[i].channel == channel) {
			stored[i].len = len;
			return;
		}
	if (nstored == MAX_STORED) {
		printf("# failinject: model full\n");
		exit(2);
	}
	stored[nstored++] = (struct stored){ minor, channel, len };
}

/* Budget charge of a message of each length, measured by calibrate(). */
static unsigned long charge_of[MSG_SLOT_MAX_LEN + 1];

static unsigned long stored_bytes(void)
{
	unsigned long used = 0;
	size_t i;

	for (i = 0; i < nstored; i++)
		used += charge_of[stored[i].len];
	return used;
}

static int open_slot(unsigned int minor)
{
	char path[64];

	snprintf(path, sizeof(path), NODE_DIR "/slot%u", minor);
	if (access(path, F_OK) && mknod(path, S_IFCHR | 0600, makedev(MAJOR_NUM, minor))) {
		printf("# failinject: mknod %s: %s\n", path, strerror(errno));
		exit(2);
	}
	return open(path, O_RDWR);
}

static int slot_fd_on(unsigned int minor, uint32_t channel)
{
	int fd = open_slot(minor);

	if (fd < 0 || ioctl(fd, MSG_SLOT_CHANNEL, channel)) {
		printf("# failinject: open/ioctl slot %u channel %u: %s\n", minor, channel,
		       strerror(errno));
		exit(2);
	}
	return fd;
}

/* Read @channel through a fresh fd; returns length or -errno. */
static long read_channel(unsigned int minor, uint32_t channel, uint8_t *buf)
{
	int fd = slot_fd_on(minor, channel);
	long n = read(fd, buf, MSG_SLOT_MAX_LEN);
	long ret = n < 0 ? -errno : n;

	close(fd);
	return ret;
}

static bool set_max_msg_bytes(unsigned long value)
{
	char text[32];

	snprintf(text, sizeof(text), "%lu", value);
	return write_file(PARAMS "max_msg_bytes", text);
}

/* Index nodes are charged 576 bytes each, on top of the messages. */
#define INDEX_NODE 576UL

/*
 * Measure what the driver charges for a @len-byte message (a slab object
 * size: a multiple of 16): with the limit at what is charged + 16k, the first
 * k at which a write to a new channel of an existing index leaf succeeds.
 * Failed writes change nothing, so what is stored stays exactly known.
 */
static bool calibrate(char *why, size_t len)
{
	unsigned long used, saved, k;
	uint8_t msg[MSG_SLOT_MAX_LEN];
	uint32_t channel = 1000 + len;
	int fd = slot_fd_on(12, channel);
	ssize_t ret = -1;

	TAP_CHECK(read_ulong(PARAMS "max_msg_bytes", &saved), "cannot read max_msg_bytes");
	TAP_CHECK(read_ulong(PARAMS "msg_bytes_used", &used), "cannot read msg_bytes_used");
	memset(msg, 'c', len);
	for (k = 1; k <= 64 && ret < 0; k++) {
		TAP_CHECK(set_max_msg_bytes(used + 16 * k), "cannot set max_msg_bytes");
		ret = write(fd, msg, len);
		TAP_CHECK(ret == (ssize_t)len || (ret == -1 && errno == ENOMEM),
			  "calibrating %zu-byte messages: write returned %s", len,
			  tap_got(ret, errno));
	}
	close(fd);
	set_max_msg_bytes(saved);
	TAP_CHECK(ret == (ssize_t)len, "a %zu-byte message does not fit in %lu bytes", len,
		  16 * (k - 1));
	charge_of[len] = 16 * (k - 1);
	remember(12, channel, len);
	return true;
}

/* Charges of every message length used below, on the freshly loaded module. */
static bool test_calibrate(char *why)
{
	static const size_t lengths[] = { 1, 2, 3, 5, 20, 25, 77, 100, 120, 128 };
	char list[256] = "";
	size_t i;

	TAP_CHECK(nstored == 0, "calibration must run first");
	/* Create the index leaves of channels 1001..1128 (1000 / 64 = 15). */
	for (i = 0; i < 3; i++) {
		int fd = slot_fd_on(12, 960 + 64 * i);

		TAP_CHECK(write(fd, "l", 1) == 1, "1-byte write on slot 12: %s",
			  tap_errno_name(errno));
		close(fd);
		remember(12, 960 + 64 * i, 1);
	}
	for (i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
		if (!calibrate(why, lengths[i]))
			return false;
		snprintf(list + strlen(list), sizeof(list) - strlen(list), " %zu:%lu",
			 lengths[i], charge_of[lengths[i]]);
	}
	tap_note("message charges (length:bytes):%s", list);
	return true;
}

static void fill_message(uint8_t *buf, size_t len, unsigned int salt)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (uint8_t)(salt * 131 + i * 7);	/* NUL bytes included */
}

/*
 * Write @new_len bytes under injection, the same call for every N: to a
 * fresh channel (no old message) or over an @old_len-byte old message;
 * optionally through a censoring fd.
 */
static bool run_write(char *why, unsigned int minor, uint32_t first_channel, bool censor,
		      bool fresh_channel, size_t old_len, size_t new_len)
{
	uint8_t old[MSG_SLOT_MAX_LEN], new[MSG_SLOT_MAX_LEN], got[MSG_SLOT_MAX_LEN];
	unsigned int n;

	points = injected_errors = 0;
	for (n = 1; n <= MAX_NTH; n++) {
		uint32_t channel = fresh_channel ? first_channel + n : first_channel;
		int fd = slot_fd_on(minor, channel);
		bool injected;
		ssize_t ret;
		int err;
		long have;

		if (censor && ioctl(fd, MSG_SLOT_SET_CEN, 1))
			TAP_FAIL("ioctl(MSG_SLOT_SET_CEN, 1): %s", strerror(errno));
		if (!fresh_channel) {
			fill_message(old, old_len, n);
			/* The old message goes in through a plain fd. */
			int wfd = slot_fd_on(minor, channel);

			if (write(wfd, old, old_len) != (ssize_t)old_len)
				TAP_FAIL("writing the old message: %s", strerror(errno));
			close(wfd);
			remember(minor, channel, old_len);
		}
		fill_message(new, new_len, n + 1000);

		arm(n);
		ret = write(fd, new, new_len);
		err = errno;
		injected = disarm();
		close(fd);

		if (injected)
			points++;
		have = read_channel(minor, channel, got);
		if (ret == (ssize_t)new_len) {
			size_t i;

			if (censor)
				for (i = 0; i < new_len; i++)
					if ((i + 1) % censor_period == 0)
						new[i] = '#';
			if (have != (long)new_len || memcmp(got, new, new_len))
				TAP_FAIL("[%s, nth=%u] write returned %zd but the channel holds %ld "
					 "bytes, not the new message", phase, n, ret, have);
			remember(minor, channel, new_len);
		} else if (ret == -1 && err == ENOMEM && injected) {
			injected_errors++;
			if (fresh_channel && have != -EWOULDBLOCK)
				TAP_FAIL("[%s, nth=%u] failed write left the fresh channel with %ld "
					 "(want -EWOULDBLOCK)", phase, n, have);
			if (!fresh_channel &&
			    (have != (long)old_len || memcmp(got, old, old_len)))
				TAP_FAIL("[%s, nth=%u] failed write changed the old %zu-byte "
					 "message (now %ld bytes)", phase, n, old_len, have);
		} else {
			TAP_FAIL("[%s, nth=%u, fault %s] write of %zu bytes returned %s, want %zu "
				 "or -1/ENOMEM", phase, n, injected ? "injected" : "not reached",
				 new_len, tap_got(ret, err), new_len);
		}
		if (!injected)
			return true;
	}
	TAP_FAIL("still reaching fault points after %d", MAX_NTH);
}

static bool expect_module_failures(char *why)
{
	/* The path allocates in the module: at least one fault must surface. */
	TAP_CHECK(injected_errors > 0, "[%s] %u fault points, none made the call fail "
		  "with ENOMEM", phase, points);
	tap_note("[%s] %u fault points, %u clean ENOMEM failures%s", phase, points,
		 injected_errors, late_failures ? " (some after the driver's ->mmap: object "
		 "kept its grown size, no byte lost)" : "");
	return true;
}

static bool test_write_fresh(char *why)
{
	return run_write(why, 7, 1000, false, true, 0, 77) && expect_module_failures(why);
}

/* 100 -> 20 bytes: another size class, so a new buffer is allocated. */
static bool test_write_replace(char *why)
{
	return run_write(why, 7, 5, false, false, 100, 20) && expect_module_failures(why);
}

static bool test_write_censored(char *why)
{
	return run_write(why, 8, 77777, true, false, 3, 128) && expect_module_failures(why);
}

/* 1 -> 5 bytes: the same charge (size class); overwritten in place or not. */
static bool test_write_same_class(char *why)
{
	TAP_CHECK(charge_of[1] == charge_of[5], "1- and 5-byte messages differ in charge "
		  "(%lu, %lu): no same-class overwrite to test", charge_of[1], charge_of[5]);
	if (!run_write(why, 7, 6, false, false, 1, 5))
		return false;
	tap_note("[%s] %u fault points, %u clean ENOMEM failures", phase, points,
		 injected_errors);
	return true;
}

/* Page-allocation phase: writes must still succeed or fail cleanly. */
static bool test_write_pages(char *why)
{
	if (!run_write(why, 9, 4242, false, false, 5, 120))
		return false;
	tap_note("[%s] %u fault points, %u clean ENOMEM failures", phase, points,
		 injected_errors);
	return true;
}

/* open() of a slot minor never opened before creates the slot. */
static bool test_open_new_slot(char *why)
{
	unsigned int n;

	points = injected_errors = 0;
	for (n = 1; n <= MAX_NTH; n++) {
		unsigned int minor = 3000 + n;
		char path[64];
		uint8_t buf[8];
		bool injected;
		int fd, err;

		snprintf(path, sizeof(path), NODE_DIR "/slot%u", minor);
		if (mknod(path, S_IFCHR | 0600, makedev(MAJOR_NUM, minor)))
			TAP_FAIL("mknod %s: %s", path, strerror(errno));
		arm(n);
		fd = open(path, O_RDWR);
		err = errno;
		injected = disarm();
		if (injected)
			points++;
		if (fd >= 0) {
			/* A successful open gives a fully working fd. */
			if (ioctl(fd, MSG_SLOT_CHANNEL, 1) || write(fd, "ok", 2) != 2 ||
			    read(fd, buf, sizeof(buf)) != 2 || memcmp(buf, "ok", 2))
				TAP_FAIL("[%s, nth=%u] open succeeded but the fd does not work: %s",
					 phase, n, strerror(errno));
			close(fd);
			remember(minor, 1, 2);
		} else if (err == ENOMEM && injected) {
			injected_errors++;
		} else {
			TAP_FAIL("[%s, nth=%u, fault %s] open returned -1/%s, want an fd or ENOMEM",
				 phase, n, injected ? "injected" : "not reached",
				 tap_errno_name(err));
		}
		if (!injected)
			return expect_module_failures(why);
	}
	TAP_FAIL("still reaching fault points after %d", MAX_NTH);
}

/* Calls that allocate nothing in the driver: they must simply work. */
static bool test_no_alloc_calls(char *why)
{
	uint8_t buf[MSG_SLOT_MAX_LEN];
	int fd = slot_fd_on(7, 5);
	unsigned int n;
	long ret;

	for (n = 1; n <= 3; n++) {
		bool injected;

		arm(n);
		ret = ioctl(fd, MSG_SLOT_CHANNEL, 5);
		injected = disarm();
		TAP_CHECK(ret == 0, "[%s, nth=%u] ioctl(MSG_SLOT_CHANNEL) = %s", phase, n,
			  tap_got(ret, errno));
		arm(n);
		ret = ioctl(fd, MSG_SLOT_SET_CEN, 0);
		injected |= disarm();
		TAP_CHECK(ret == 0, "[%s, nth=%u] ioctl(MSG_SLOT_SET_CEN) = %s", phase, n,
			  tap_got(ret, errno));
		arm(n);
		ret = read(fd, buf, sizeof(buf));
		injected |= disarm();
		TAP_CHECK(ret > 0, "[%s, nth=%u] read = %s", phase, n, tap_got(ret, errno));
		if (!injected)
			break;
	}
	close(fd);
	return true;
}

/*
 * No charge leaked or lost by any error path: beyond the stored messages the
 * driver charges only whole index nodes, and with the limit at what it
 * charges plus growing a 1-byte message to 128 bytes, exactly that fits.
 */
static bool test_msg_budget_exact(char *why)
{
	unsigned long used, saved;
	char value[32];
	uint8_t msg[MSG_SLOT_MAX_LEN];
	int fd;
	ssize_t ret;

	TAP_CHECK(read_ulong(PARAMS "max_msg_bytes", &saved), "cannot read max_msg_bytes");
	TAP_CHECK(read_ulong(PARAMS "msg_bytes_used", &used), "cannot read msg_bytes_used");
	TAP_CHECK(used >= stored_bytes() && (used - stored_bytes()) % INDEX_NODE == 0,
		  "the driver charges %lu bytes, the stored messages cost %lu: the rest is not "
		  "whole index nodes (an error path leaked or lost budget)", used, stored_bytes());
	TAP_CHECK(set_max_msg_bytes(used + charge_of[MSG_SLOT_MAX_LEN] - charge_of[1]),
		  "cannot set max_msg_bytes");

	fill_message(msg, sizeof(msg), 9);
	fd = slot_fd_on(12, 1001);	/* calibrated with a 1-byte message */
	ret = write(fd, msg, sizeof(msg));
	if (ret != (ssize_t)sizeof(msg)) {
		int err = errno;

		close(fd);
		snprintf(value, sizeof(value), "%lu", saved);
		write_file(PARAMS "max_msg_bytes", value);
		TAP_FAIL("with max_msg_bytes = %lu charged + %lu, growing a 1-byte message to 128 "
			 "bytes returned %s", used, charge_of[MSG_SLOT_MAX_LEN] - charge_of[1],
			 tap_got(ret, err));
	}
	close(fd);
	remember(12, 1001, MSG_SLOT_MAX_LEN);
	fd = slot_fd_on(12, 1004);	/* new channel, existing leaf */
	ret = write(fd, "x", 1);
	close(fd);
	snprintf(value, sizeof(value), "%lu", saved);
	write_file(PARAMS "max_msg_bytes", value);
	TAP_CHECK(ret == -1 && errno == ENOMEM,
		  "budget full, yet a 1-byte write on a new channel returned %s: an error path "
		  "released budget it did not hold", tap_got(ret, errno));
	tap_note("%zu stored messages account for %lu bytes, as the driver's budget says",
		 nstored, used);
	return true;
}

/* ------------------------------------------------------------------------
 * NP-Heap
 */

static int heap_fd = -1;
static unsigned long heap_bytes;	/* sum of our objects' sizes */

static long heap_cmd(unsigned long cmd, unsigned long id)
{
	struct npheap_cmd c = { .offset = id * page_size };

	return ioctl(heap_fd, cmd, &c);
}

/* Size of object @id, and whether its first @check bytes all equal @fill. */
static long object_state(unsigned long id, size_t check, uint8_t fill, bool *same)
{
	long size = heap_cmd(NPHEAP_IOCTL_GETSIZE, id);
	uint8_t *p;
	size_t i;

	*same = true;
	if (size <= 0 || !check)
		return size;
	if ((size_t)size < check)
		check = size;
	p = mmap(NULL, check, PROT_READ, MAP_SHARED, heap_fd, (off_t)(id * page_size));
	if (p == MAP_FAILED) {
		*same = false;
		return size;
	}
	for (i = 0; i < check; i++)
		if (p[i] != fill)
			*same = false;
	munmap(p, check);
	return size;
}

/*
 * mmap creating id (fresh each N), or growing an existing object of
 * @start_pages filled with 0x5A by one page.
 */
static bool run_mmap(char *why, unsigned long first_id, size_t start_pages)
{
	unsigned int n;

	points = injected_errors = 0;
	for (n = 1; n <= MAX_NTH; n++) {
		unsigned long id = first_id + n;
		size_t old_size = start_pages * page_size;
		size_t new_size = old_size + page_size * (1 + n % 3);
		bool injected;
		uint8_t *p;
		int err;

		if (start_pages) {
			uint8_t *q = mmap(NULL, old_size, PROT_READ | PROT_WRITE, MAP_SHARED,
					  heap_fd, (off_t)(id * page_size));

			TAP_CHECK(q != MAP_FAILED, "creating id %lu: %s", id, strerror(errno));
			memset(q, 0x5A, old_size);
			munmap(q, old_size);
			heap_bytes += old_size;
		}
		arm(n);
		p = mmap(NULL, new_size, PROT_READ | PROT_WRITE, MAP_SHARED, heap_fd,
			 (off_t)(id * page_size));
		err = errno;
		injected = disarm();
		if (injected)
			points++;
		if (p != MAP_FAILED) {
			size_t i;

			/* Old bytes kept, new pages zero, size updated. */
			for (i = 0; i < new_size; i++)
				if (p[i] != (i < old_size ? 0x5A : 0))
					break;
			munmap(p, new_size);
			TAP_CHECK(i == new_size, "[%s, nth=%u] id %lu mapped but byte %zu is wrong",
				  phase, n, id, i);
			TAP_CHECK(heap_cmd(NPHEAP_IOCTL_GETSIZE, id) == (long)new_size,
				  "[%s, nth=%u] id %lu mapped %zu bytes but getsize says %ld", phase,
				  n, id, new_size, heap_cmd(NPHEAP_IOCTL_GETSIZE, id));
			heap_bytes += new_size - old_size;
		} else if (err == ENOMEM && injected) {
			bool same;
			long size = object_state(id, old_size, 0x5A, &same);

			injected_errors++;
			/*
			 * The object is as before, or, when the fault hit the mm core
			 * after the driver's ->mmap had grown it, grown with zero pages
			 * (the driver cannot see that failure): no byte may be lost.
			 */
			TAP_CHECK(same && (size == (long)old_size || size == (long)new_size),
				  "[%s, nth=%u] failed mmap left id %lu with size %ld (was %zu, "
				  "asked %zu)%s", phase, n, id, size, old_size, new_size,
				  same ? "" : " and changed its bytes");
			if (size == (long)new_size) {
				bool zero;

				object_state(id, new_size, 0, &zero);
				TAP_CHECK(old_size || zero, "[%s, nth=%u] id %lu: new object not zeroed",
					  phase, n, id);
				heap_bytes += new_size - old_size;
				late_failures++;
			}
		} else {
			TAP_FAIL("[%s, nth=%u, fault %s] mmap of %zu bytes (object %zu) returned "
				 "-1/%s, want a mapping or ENOMEM", phase, n,
				 injected ? "injected" : "not reached", new_size, old_size,
				 tap_errno_name(err));
		}
		if (!injected)
			return expect_module_failures(why);
	}
	TAP_FAIL("still reaching fault points after %d", MAX_NTH);
}

static bool test_mmap_create(char *why)
{
	late_failures = 0;
	return run_mmap(why, phase[0] == 's' ? 1000 : 2000, 0);
}

static bool test_mmap_grow(char *why)
{
	late_failures = 0;
	return run_mmap(why, phase[0] == 's' ? 3000 : 4000, 2);
}

/* LOCK of an id nobody locked allocates the lock. */
static bool test_lock(char *why)
{
	unsigned int n;

	points = injected_errors = 0;
	for (n = 1; n <= MAX_NTH; n++) {
		unsigned long id = 5000 + n;
		bool injected;
		long ret;
		int err;

		arm(n);
		ret = heap_cmd(NPHEAP_IOCTL_LOCK, id);
		err = errno;
		injected = disarm();
		if (injected)
			points++;
		if (ret == 0) {
			TAP_CHECK(heap_cmd(NPHEAP_IOCTL_LOCK, id) == -1 && errno == EDEADLK,
				  "[%s, nth=%u] locked id %lu, but locking again is not EDEADLK",
				  phase, n, id);
			TAP_CHECK(heap_cmd(NPHEAP_IOCTL_UNLOCK, id) == 0,
				  "[%s, nth=%u] unlock after a successful lock: %s", phase, n,
				  strerror(errno));
		} else if (ret == -1 && err == ENOMEM && injected) {
			injected_errors++;
			/* Not held after the failure, and the id still locks fine. */
			TAP_CHECK(heap_cmd(NPHEAP_IOCTL_UNLOCK, id) == -1 && errno == EPERM,
				  "[%s, nth=%u] failed lock left id %lu held", phase, n, id);
			TAP_CHECK(heap_cmd(NPHEAP_IOCTL_LOCK, id) == 0 &&
				  heap_cmd(NPHEAP_IOCTL_UNLOCK, id) == 0,
				  "[%s, nth=%u] id %lu cannot be locked after a failed lock: %s",
				  phase, n, id, strerror(errno));
		} else {
			TAP_FAIL("[%s, nth=%u, fault %s] LOCK returned %s, want 0 or -1/ENOMEM",
				 phase, n, injected ? "injected" : "not reached", tap_got(ret, err));
		}
		if (!injected)
			return expect_module_failures(why);
	}
	TAP_FAIL("still reaching fault points after %d", MAX_NTH);
}

/* UNLOCK, GETSIZE, DELETE allocate nothing: they must work at every N. */
static bool test_heap_no_alloc_calls(char *why)
{
	unsigned long id = 6000;
	unsigned int n;
	long ret;

	TAP_CHECK(heap_cmd(NPHEAP_IOCTL_LOCK, id) == 0, "lock: %s", strerror(errno));
	for (n = 1; n <= 3; n++) {
		bool injected;

		arm(n);
		ret = heap_cmd(NPHEAP_IOCTL_GETSIZE, 3001);
		injected = disarm();
		TAP_CHECK(ret >= 0, "[%s, nth=%u] GETSIZE = %s", phase, n, tap_got(ret, errno));
		arm(n);
		ret = heap_cmd(NPHEAP_IOCTL_DELETE, id);
		injected |= disarm();
		TAP_CHECK(ret == 0, "[%s, nth=%u] DELETE = %s", phase, n, tap_got(ret, errno));
		if (!injected)
			break;
	}
	arm(1);
	ret = heap_cmd(NPHEAP_IOCTL_UNLOCK, id);
	disarm();
	TAP_CHECK(ret == 0, "[%s] UNLOCK = %s", phase, tap_got(ret, errno));
	return true;
}

/*
 * Beyond our objects' pages the driver charges only whole index nodes, and
 * exactly one more 1-page object (4096 + 3 index levels for id 90000) fits
 * under npheap_max_bytes = what it charges + that.
 */
static bool test_heap_budget_exact(char *why)
{
	unsigned long saved, used, one = (unsigned long)page_size + 3 * INDEX_NODE;
	char value[32];
	uint8_t *p;
	int err;

	TAP_CHECK(read_ulong(PARAMS "npheap_max_bytes", &saved),
		  "cannot read npheap_max_bytes");
	TAP_CHECK(read_ulong(PARAMS "npheap_bytes_used", &used), "cannot read npheap_bytes_used");
	TAP_CHECK(used >= heap_bytes && (used - heap_bytes) % INDEX_NODE == 0,
		  "the driver charges %lu bytes, our objects hold %lu: the rest is not whole "
		  "index nodes (an error path leaked or lost budget)", used, heap_bytes);
	snprintf(value, sizeof(value), "%lu", used + one);
	TAP_CHECK(write_file(PARAMS "npheap_max_bytes", value), "cannot set npheap_max_bytes");
	p = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_SHARED, heap_fd,
		 (off_t)(90000 * page_size));
	err = errno;
	if (p == MAP_FAILED) {
		snprintf(value, sizeof(value), "%lu", saved);
		write_file(PARAMS "npheap_max_bytes", value);
		TAP_FAIL("with npheap_max_bytes = %lu charged + %lu, mapping one new page failed: "
			 "-1/%s (an error path leaked budget)", used, one, tap_errno_name(err));
	}
	munmap(p, page_size);
	p = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_SHARED, heap_fd,
		 (off_t)(90001 * page_size));
	err = errno;
	snprintf(value, sizeof(value), "%lu", saved);
	write_file(PARAMS "npheap_max_bytes", value);
	if (p != MAP_FAILED)
		munmap(p, page_size);
	TAP_CHECK(p == MAP_FAILED && err == ENOMEM,
		  "budget full, yet mapping another new page gave %s (an error path released "
		  "budget it did not hold)", p == MAP_FAILED ? tap_errno_name(err) : "a mapping");
	tap_note("our objects hold %lu bytes, as the driver's budget says", heap_bytes);
	return true;
}

int main(void)
{
	struct stat st;

	page_size = (size_t)sysconf(_SC_PAGESIZE);
	if (access(FAILSLAB "ignore-gfp-wait", W_OK) || access(FAILPAGE "min-order", W_OK)) {
		printf("# failinject: no failslab/fail_page_alloc debugfs knobs\n");
		return 2;
	}
	fail_nth_fd = open("/proc/thread-self/fail-nth", O_RDWR);
	if (fail_nth_fd < 0) {
		printf("# failinject: /proc/thread-self/fail-nth: %s\n", strerror(errno));
		return 2;
	}
	mkdir(NODE_DIR, 0700);
	if (!read_ulong(PARAMS "censor_period", &censor_period) || !censor_period) {
		printf("# failinject: message_slot is not loaded\n");
		return 2;
	}
	have_npheap = stat("/dev/npheap", &st) == 0 && S_ISCHR(st.st_mode);

	if (!tap_run("calibrate-message-charges", test_calibrate))
		return 1;
	set_phase("slab");
	tap_run("slab-write-new-channel", test_write_fresh);
	tap_run("slab-write-replace", test_write_replace);
	tap_run("slab-write-censored", test_write_censored);
	tap_run("slab-write-same-size-class", test_write_same_class);
	tap_run("slab-open-new-slot", test_open_new_slot);
	tap_run("slab-ioctl-read", test_no_alloc_calls);
	if (have_npheap) {
		heap_fd = open("/dev/npheap", O_RDWR);
		if (heap_fd < 0) {
			printf("# failinject: open /dev/npheap: %s\n", strerror(errno));
			return 2;
		}
		tap_run("slab-npheap-mmap-create", test_mmap_create);
		tap_run("slab-npheap-mmap-grow", test_mmap_grow);
		tap_run("slab-npheap-lock", test_lock);
		tap_run("slab-npheap-unlock-getsize-delete", test_heap_no_alloc_calls);
	}

	set_phase("page");
	tap_run("page-write", test_write_pages);
	if (have_npheap) {
		tap_run("page-npheap-mmap-create", test_mmap_create);
		tap_run("page-npheap-mmap-grow", test_mmap_grow);
	}
	restore_defaults();

	tap_run("budget-messages-exact", test_msg_budget_exact);
	if (have_npheap) {
		tap_run("budget-npheap-exact", test_heap_budget_exact);
		close(heap_fd);
	} else {
		tap_note("no /dev/npheap: NP-Heap paths not tested");
	}
	return tap_exit_code();
}
