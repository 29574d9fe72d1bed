// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz - seeded multi-process fuzzer for the message_slot driver (message
 * slots and, when /dev/npheap exists, NP-Heap).
 *
 *   fuzz [--seed S] [--ops N] [--procs P] [--seconds T] [--min-ops M] [--name L]
 *        [--handover H]
 *
 * P processes each run N/P random operations (or stop at T seconds): open,
 * close, ioctl (valid and invalid commands and ids), read, write (random
 * lengths, good/NULL/unmapped/partly mapped/read-only/kernel pointers),
 * lseek/pread/pwrite, mmap/munmap/touch, NP-Heap lock/unlock/delete/getsize,
 * across several slots and heaps.  Every result, errno included, is checked
 * against the contract and against an in-process model:
 *   - each process owns private channel ids and object ids, so their
 *     contents, sizes and lock states are exactly predictable;
 *   - shared channels only carry self-validating messages, so a read must
 *     return one whole message of that family (never a torn one);
 *   - shared objects are only touched under their NP-Heap lock, and each
 *     holder rewrites the whole object with its own stamp: a reader that sees
 *     mixed stamps proves the lock did not exclude.
 * At the end the parent re-reads every private channel and object from a
 * fresh process (persistence across close and exit).
 *
 * Output: "# ..." diagnostics (seed, op families, op counts, violations)
 * and one result line "ok fuzz/<L>" or "not ok fuzz/<L> - <reason>".
 * Re-running with the same seed, ops and procs replays each process's
 * private sequence exactly (shared interleavings depend on scheduling).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "message_slot.h"
#include "npheap_shim/npheap/npheap.h"

#define MAX_PROCS	32
#define NSLOTS		4
#define NHEAPS		3
#define MAX_FDS		8
#define MAX_MAPS	12
#define NPRIV_CH	10	/* private channel ids per process */
#define NSHARED_CH	4
#define NPRIV_OBJ	6	/* private object ids per process and heap */
#define NSHARED_OBJ	3
#define MAX_OBJ_PAGES	4	/* private objects: 1..4 pages */
#define MAX_SHARED_PAGES 3
#define MAX_VIOLATIONS	10
#define MAX_MSG		MSG_SLOT_MAX_LEN

/* Slot minors: both ends of the slot band and two ordinary ones. */
static const unsigned int slot_minors[NSLOTS] = { 0, 1, 255, MSG_SLOT_MINORS - 1 };
static const uint32_t shared_ids[NSHARED_CH] = { 1, 2, 3, (1U << 20) + 2 };

/* ------------------------------------------------------------------------
 * Configuration and reporting shared by all processes
 */

struct child_report {
	uint64_t ops;		/* random operations done */
	uint64_t calls;		/* driver calls and mapping accesses checked */
	uint64_t violations;
	/* Final private state, verified by the parent after the child exits. */
	uint8_t msg_len[NSLOTS][NPRIV_CH];
	uint8_t msg[NSLOTS][NPRIV_CH][MAX_MSG];
	uint64_t obj_size[NHEAPS][NPRIV_OBJ];
	uint64_t obj_hash[NHEAPS][NPRIV_OBJ];
	bool finished;
	char current[256];	/* the operation in progress, for hang reports */
	/*
	 * Children print nothing themselves: their lines wait here for the
	 * parent, so a child stuck in the kernel holds no pipe to the suite.
	 */
	unsigned int nlines;
	char lines[MAX_VIOLATIONS + 1][700];
};

static struct {
	uint64_t seed;
	uint64_t ops;
	int procs;
	int seconds;
	int handover;	/* seconds a dead holder's lock may take to pass on */
	uint64_t min_ops;
	const char *name;
	char slot_path[NSLOTS][96];
	char heap_path[NHEAPS][96];
	char node_dir[64];
	bool npheap;
	unsigned int censor_period;
	size_t page;
} cfg;

static struct child_report *reports;	/* MAP_SHARED, one per child */

/* Per-process state (each child has its own copy after fork). */
static int me;			/* child index */
static uint64_t child_seed;
static uint64_t op_no;		/* top-level operation number, for replay */
static struct child_report *my_report;
/* What the current operation is doing (shared: the parent names hangs). */
#define opdesc (my_report->current)

static void out_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out_line(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (my_report) {	/* a child */
		if (my_report->nlines < MAX_VIOLATIONS + 1)
			memcpy(my_report->lines[my_report->nlines++], line,
			       (size_t)n < sizeof(my_report->lines[0]) ? (size_t)n :
			       sizeof(my_report->lines[0]));
		return;
	}
	if (write(STDOUT_FILENO, line, n) < 0)
		exit(3);
}

/* A child cannot go on (no memory, no fork): log why and leave unfinished. */
static void child_fatal(const char *what) __attribute__((noreturn));
static void child_fatal(const char *what)
{
	out_line("# fuzz: proc %d: %s: %s", me, what, strerror(errno));
	_exit(2);
}

/* The parent prints what a child logged. */
static void print_child_lines(const struct child_report *r)
{
	unsigned int i;

	for (i = 0; i < r->nlines; i++) {
		const char *line = r->lines[i];
		size_t len = strnlen(line, sizeof(r->lines[0]));

		if (write(STDOUT_FILENO, line, len) < 0)
			exit(3);
	}
}

static void violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void violation(const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	out_line("# fuzz: VIOLATION proc=%d seed=%" PRIu64 " op=%" PRIu64 ": %s: %s",
		 me, child_seed, op_no, opdesc, msg);
	if (++my_report->violations >= MAX_VIOLATIONS) {
		out_line("# fuzz: proc %d: too many violations, stopping", me);
		_exit(1);
	}
}

static const char *errname(int err)
{
	static char buf[32];

	switch (err) {
	case 0: return "0";
	case EPERM: return "EPERM";
	case EINTR: return "EINTR";
	case EBADF: return "EBADF";
	case EAGAIN: return "EAGAIN";
	case ENOMEM: return "ENOMEM";
	case EACCES: return "EACCES";
	case EFAULT: return "EFAULT";
	case ENODEV: return "ENODEV";
	case EINVAL: return "EINVAL";
	case ENOTTY: return "ENOTTY";
	case ENOSPC: return "ENOSPC";
	case ESPIPE: return "ESPIPE";
	case EDEADLK: return "EDEADLK";
	case EMSGSIZE: return "EMSGSIZE";
	default:
		snprintf(buf, sizeof(buf), "errno%d", err);
		return buf;
	}
}

static const char *gotstr(long ret, int err)
{
	static char buf[64];

	if (ret < 0)
		snprintf(buf, sizeof(buf), "-1/%s", errname(err));
	else
		snprintf(buf, sizeof(buf), "%ld", ret);
	return buf;
}

/* Expect exactly @want (>= 0). */
static bool expect_ret(long ret, int err, long want)
{
	if (ret == want)
		return true;
	violation("got %s, want %ld", gotstr(ret, err), want);
	return false;
}

/* Expect -1 with errno @want. */
static bool expect_err(long ret, int err, int want)
{
	if (ret == -1 && err == want)
		return true;
	violation("got %s, want -1/%s", gotstr(ret, err), errname(want));
	return false;
}

/* ------------------------------------------------------------------------
 * Random numbers: splitmix64, one stream per process
 */

static uint64_t rng_state;

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rnd(void)
{
	rng_state += 0x9e3779b97f4a7c15ULL;
	return mix64(rng_state);
}

static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static bool chance(unsigned int percent)
{
	return below(100) < percent;
}

static void fill_random(uint8_t *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (uint8_t)rnd();
}

static uint64_t fnv64(const uint8_t *buf, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ buf[i]) * 0x100000001b3ULL;
	return h;
}

/* ------------------------------------------------------------------------
 * User buffers of every kind the driver must cope with
 *
 * Arena layout (pages): 0-1 read/write, 2 PROT_NONE, 3 read-only, 4 PROT_NONE.
 */

static uint8_t *arena;

enum ptr_kind { P_GOOD, P_NULL, P_UNMAPPED, P_PARTIAL, P_READONLY,
		P_READONLY_PARTIAL, P_KERNEL, P_NONCANON, P_KINDS };
static const char *const ptr_names[P_KINDS] = {
	"good", "NULL", "unmapped", "partly-mapped", "read-only",
	"read-only-partly-mapped", "kernel", "non-canonical",
};

struct ubuf {
	uint8_t *p;
	bool not_user;		/* outside user space: the VFS says EFAULT first */
	size_t readable;	/* bytes from p the kernel can copy from */
	size_t writable;	/* bytes from p the kernel can copy to */
	enum ptr_kind kind;
};

static void arena_init(void)
{
	size_t pg = cfg.page;

	arena = mmap(NULL, 5 * pg, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (arena == MAP_FAILED) {
		child_fatal("mmap arena");
	}
	memset(arena + 3 * pg, 'R', pg);
	if (mprotect(arena + 2 * pg, pg, PROT_NONE) ||
	    mprotect(arena + 3 * pg, pg, PROT_READ) ||
	    mprotect(arena + 4 * pg, pg, PROT_NONE)) {
		child_fatal("mprotect arena");
	}
}

/* A buffer of @len (<= 2 pages) of a random kind, mostly good. */
static struct ubuf pick_ubuf(size_t len)
{
	size_t pg = cfg.page;
	struct ubuf b = { 0 };
	size_t m;

	b.kind = chance(70) ? P_GOOD : (enum ptr_kind)below(P_KINDS);
	switch (b.kind) {
	case P_GOOD:
		b.p = arena + below(2 * pg - len + 1);
		b.readable = b.writable = 2 * pg - (size_t)(b.p - arena);
		break;
	case P_NULL:
		b.p = NULL;
		break;
	case P_UNMAPPED:
		b.p = arena + 2 * pg + below(pg);
		break;
	case P_PARTIAL:
		m = len > 1 ? 1 + below(len - 1) : 0;
		b.p = arena + 2 * pg - m;
		b.readable = b.writable = m;
		break;
	case P_READONLY:
		b.p = arena + 3 * pg + below(pg - (len < pg ? len : pg) + 1);
		b.readable = 4 * pg - (size_t)(b.p - arena);
		break;
	case P_READONLY_PARTIAL:
		m = len > 1 ? 1 + below(len - 1) : 0;
		b.p = arena + 4 * pg - m;
		b.readable = m;
		break;
	case P_KERNEL:
		b.p = (uint8_t *)(uintptr_t)(0xffffffff81000000ULL + below(1 << 20));
		b.not_user = true;
		break;
	default:
		/* Passes access_ok() on these kernels, then faults in the copy. */
		b.p = (uint8_t *)(uintptr_t)(0x0000800000000000ULL + below(1 << 20));
		break;
	}
	return b;
}

/* ------------------------------------------------------------------------
 * Model state of one process
 */

enum fd_kind { FD_SLOT, FD_HEAP };

struct fd_entry {
	bool used;
	int fd;
	enum fd_kind kind;
	int idx;		/* slot or heap index */
	int accmode;		/* O_RDONLY / O_WRONLY / O_RDWR */
	uint32_t channel;	/* 0: none */
	bool censor;
	bool wait;		/* MSG_SLOT_SET_WAIT on */
	bool unseen;		/* private channel: holds a message this fd has not read */
};

struct obj_model {
	size_t size;		/* 0: no object */
	uint8_t *bytes;
	bool locked;		/* held by this process */
	int lock_fd;		/* the descriptor (open file) it was taken through */
};

/*
 * A deleted object still mapped: its pages stay shared by every mapping
 * that had it (a write through one shows in the others).
 */
struct ghost {
	uint8_t *bytes;
	int refs;
};

struct mapping {
	bool used;
	uint8_t *addr;
	size_t len;
	int heap;
	int key;
	struct ghost *detached;	/* the deleted object it still maps */
};

static struct fd_entry fds[MAX_FDS];
static uint8_t msg_len[NSLOTS][NPRIV_CH];
static uint8_t msg[NSLOTS][NPRIV_CH][MAX_MSG];
static bool shared_seen[NSLOTS][NSHARED_CH];	/* known to hold a message */
static struct obj_model objs[NHEAPS][NPRIV_OBJ];
static struct mapping maps[MAX_MAPS];
static uint64_t stamp_counter;

static uint32_t private_id(int child, int k)
{
	if (k == NPRIV_CH - 1)
		return 0xffffffffU - child;	/* the largest ids */
	if (k == NPRIV_CH - 2)
		return 0x7fffffffU - child;
	return ((uint32_t)(child + 1) << 24) + k + 1;
}

/* -1 if @id is not a private id of this process. */
static int private_key(uint32_t id)
{
	int k;

	for (k = 0; k < NPRIV_CH; k++)
		if (private_id(me, k) == id)
			return k;
	return -1;
}

static int shared_key(uint32_t id)
{
	int k;

	for (k = 0; k < NSHARED_CH; k++)
		if (shared_ids[k] == id)
			return k;
	return -1;
}

static unsigned long private_obj_id(int child, int k)
{
	return 16 + (unsigned long)child * NPRIV_OBJ + k;
}

static void ops_inc(void)
{
	my_report->calls++;
}

/* ------------------------------------------------------------------------
 * Shared-channel messages: self-validating, so a torn read is detectable.
 * Byte 0 is a tag (never censored unless the period is 1); byte j is a
 * function of tag, j and the length.  A censored write stores '#' at every
 * censor_period-th byte.
 */

static uint8_t shared_byte(uint8_t tag, size_t j, size_t len)
{
	return (uint8_t)(tag * 31u + j * 7u + len * 13u + (j * j >> 3));
}

static void make_shared_msg(uint8_t *buf, size_t len)
{
	uint8_t tag = (uint8_t)rnd();
	size_t j;

	buf[0] = tag;
	for (j = 1; j < len; j++)
		buf[j] = shared_byte(tag, j, len);
}

static bool censored_pos(size_t j)
{
	return (j + 1) % cfg.censor_period == 0;
}

static bool valid_shared_msg(const uint8_t *buf, size_t len)
{
	bool plain = true, censored = true;
	size_t j;

	if (len == 0 || len > MAX_MSG)
		return false;
	for (j = 0; j < len; j++) {
		uint8_t want = j ? shared_byte(buf[0], j, len) : buf[0];

		if (buf[j] != want)
			plain = false;
		if (censored_pos(j) ? buf[j] != '#' : (j && buf[j] != want))
			censored = false;
	}
	return plain || censored;
}

static void apply_censor(uint8_t *buf, size_t len)
{
	size_t j;

	for (j = 0; j < len; j++)
		if (censored_pos(j))
			buf[j] = '#';
}

/* ------------------------------------------------------------------------
 * fd table
 */

static struct fd_entry *pick_fd(enum fd_kind kind)
{
	int candidates[MAX_FDS] = { 0 }, n = 0, i;

	for (i = 0; i < MAX_FDS; i++)
		if (fds[i].used && fds[i].kind == kind)
			candidates[n++] = i;
	return n ? &fds[candidates[below(n)]] : NULL;
}

static struct fd_entry *free_fd_slot(void)
{
	int i;

	for (i = 0; i < MAX_FDS; i++)
		if (!fds[i].used)
			return &fds[i];
	return NULL;
}

/* A close releases the locks taken through that open file (no fd is dup'ed). */
static void release_heap_locks(int heap, int fd)
{
	int k;

	for (k = 0; k < NPRIV_OBJ; k++)
		if (objs[heap][k].lock_fd == fd)
			objs[heap][k].locked = false;
}

static void do_close(struct fd_entry *e)
{
	int ret, err;

	snprintf(opdesc, sizeof(opdesc), "close(%s fd %d)",
		 e->kind == FD_SLOT ? cfg.slot_path[e->idx] : cfg.heap_path[e->idx], e->fd);
	errno = 0;
	ret = close(e->fd);
	err = errno;
	ops_inc();
	expect_ret(ret, err, 0);
	if (e->kind == FD_HEAP)
		release_heap_locks(e->idx, e->fd);
	e->used = false;
}

static void op_open(enum fd_kind kind)
{
	static const int modes[] = { O_RDWR, O_RDWR, O_RDWR, O_RDONLY, O_WRONLY };
	struct fd_entry *e = free_fd_slot();
	int idx, mode, fd, err;
	const char *path;

	if (!e) {
		do_close(&fds[below(MAX_FDS)]);
		return;
	}
	if (kind == FD_SLOT) {
		idx = below(NSLOTS);
		path = cfg.slot_path[idx];
		mode = modes[below(5)];
	} else {
		idx = below(NHEAPS);
		path = cfg.heap_path[idx];
		mode = chance(85) ? O_RDWR : O_RDONLY;
	}
	snprintf(opdesc, sizeof(opdesc), "open(%s, %s)", path,
		 mode == O_RDWR ? "O_RDWR" : mode == O_RDONLY ? "O_RDONLY" : "O_WRONLY");
	errno = 0;
	fd = open(path, mode | O_CLOEXEC);
	err = errno;
	ops_inc();
	if (fd < 0) {
		violation("got %s, want a file descriptor", gotstr(fd, err));
		return;
	}
	*e = (struct fd_entry){ .used = true, .fd = fd, .kind = kind, .idx = idx,
				.accmode = mode };
}

/* ------------------------------------------------------------------------
 * Message slot operations
 */

static void op_slot_ioctl_channel(struct fd_entry *e)
{
	unsigned long cmd = MSG_SLOT_CHANNEL;
	unsigned long arg;
	bool valid = true;
	uint64_t r = below(100);
	long ret;
	int err;

	if (r < 55) {
		arg = private_id(me, below(NPRIV_CH));
	} else if (r < 85) {
		arg = shared_ids[below(NSHARED_CH)];
	} else if (r < 93) {
		arg = 0;
		valid = false;
	} else {
		/* Above UINT_MAX: only the unsigned long encoding can say it. */
		arg = (1UL << 32) + below(1UL << 32);
		cmd = MSG_SLOT_CHANNEL_UL;
		valid = false;
	}
	if (valid && chance(30))
		cmd = MSG_SLOT_CHANNEL_UL;
	snprintf(opdesc, sizeof(opdesc), "ioctl(%s, %s, %lu)", cfg.slot_path[e->idx],
		 cmd == MSG_SLOT_CHANNEL ? "MSG_SLOT_CHANNEL" : "MSG_SLOT_CHANNEL_UL", arg);
	errno = 0;
	ret = ioctl(e->fd, cmd, arg);
	err = errno;
	ops_inc();
	if (!valid) {
		/* A rejected id leaves the fd's channel as it was. */
		expect_err(ret, err, EINVAL);
		return;
	}
	if (!expect_ret(ret, err, 0)) {
		e->channel = 0;	/* unknown: stop predicting this fd */
		return;
	}
	/* Another channel: the fd forgets what it read. */
	if (e->channel != (uint32_t)arg) {
		int pk = private_key((uint32_t)arg);

		e->unseen = pk >= 0 && msg_len[e->idx][pk];
	}
	e->channel = (uint32_t)arg;
}

static void op_slot_ioctl_censor(struct fd_entry *e)
{
	static const unsigned long bad[] = { 2, 3, 255, 0xffffffffUL, 1UL << 32 };
	unsigned long arg = chance(80) ? below(2) : bad[below(5)];
	long ret;
	int err;

	snprintf(opdesc, sizeof(opdesc), "ioctl(%s, MSG_SLOT_SET_CEN, %lu)",
		 cfg.slot_path[e->idx], arg);
	errno = 0;
	ret = ioctl(e->fd, MSG_SLOT_SET_CEN, arg);
	err = errno;
	ops_inc();
	if (arg <= 1) {
		if (expect_ret(ret, err, 0))
			e->censor = arg;
	} else if (arg <= 0xffffffffUL) {
		expect_err(ret, err, EINVAL);
	} else if (ret == 0) {
		/* _IOW(..., unsigned int): the upper half is not part of the
		 * argument, so 1<<32 may legitimately read as 0. */
		e->censor = false;
	} else {
		expect_err(ret, err, EINVAL);
	}
}

static void op_slot_ioctl_wait(struct fd_entry *e)
{
	static const unsigned long bad[] = { 2, 3, 255, 0xffffffffUL, 1UL << 32 };
	unsigned long arg = chance(85) ? below(2) : bad[below(5)];
	bool ul = chance(30);	/* the unsigned long encoding checks all 64 bits */
	long ret;
	int err;

	snprintf(opdesc, sizeof(opdesc), "ioctl(%s, MSG_SLOT_SET_WAIT%s, %lu)",
		 cfg.slot_path[e->idx], ul ? "_UL" : "", arg);
	errno = 0;
	ret = ioctl(e->fd, ul ? MSG_SLOT_SET_WAIT_UL : MSG_SLOT_SET_WAIT, arg);
	err = errno;
	ops_inc();
	if (arg <= 1) {
		if (expect_ret(ret, err, 0))
			e->wait = arg;
	} else if (arg <= 0xffffffffUL || ul) {
		expect_err(ret, err, EINVAL);
	} else if (ret == 0) {
		e->wait = false;	/* the upper half is not the argument */
	} else {
		expect_err(ret, err, EINVAL);
	}
}

/*
 * poll() readiness: an error without a channel, else always writable, and
 * readable exactly while a private channel holds a message this fd has not
 * read.  Shared channels (other processes write them) sometimes wait a few
 * milliseconds for another process's write.
 */
static void op_slot_poll(struct fd_entry *e)
{
	struct pollfd p = { .fd = e->fd, .events = POLLIN | POLLOUT };
	int pk = private_key(e->channel), sk = shared_key(e->channel);
	short want;
	int ret, err, timeout = 0;

	if (sk >= 0 && chance(20)) {
		p.events = POLLIN;
		timeout = 1 + below(5);
	}
	snprintf(opdesc, sizeof(opdesc), "poll(%s channel %u, %s, %d ms)",
		 cfg.slot_path[e->idx], e->channel,
		 p.events == POLLIN ? "POLLIN" : "POLLIN|POLLOUT", timeout);
	errno = 0;
	ret = poll(&p, 1, timeout);
	err = errno;
	ops_inc();
	if (ret < 0) {
		violation("got %s, want a poll count", gotstr(ret, err));
		return;
	}
	if (!e->channel) {
		if (ret != 1 || p.revents != POLLERR)
			violation("revents %#x without a channel, want POLLERR", p.revents);
		return;
	}
	if (pk >= 0) {
		want = POLLOUT | (e->unseen ? POLLIN : 0);
		if (ret != 1 || p.revents != want)
			violation("revents %#x, want %#x (%s)", p.revents, want,
				  e->unseen ? "a message this fd has not read" :
				  "nothing unread");
		return;
	}
	if (sk >= 0 && (p.revents & ~(POLLIN | POLLOUT) ||
			(p.events & POLLOUT && !(p.revents & POLLOUT))))
		violation("revents %#x on a shared channel", p.revents);
}

/* Commands no driver half knows; none of them is intercepted by the VFS. */
static unsigned long random_unknown_cmd(void)
{
	switch (below(6)) {
	case 0: return _IOW(MAJOR_NUM, 3 + below(253), unsigned int);
	case 1: return _IOR(MAJOR_NUM, 0, unsigned int);	/* wrong direction */
	case 2: return _IO(MAJOR_NUM, 0);
	case 3: return _IOW(MAJOR_NUM, 0, unsigned short);	/* wrong size */
	case 4: return _IOWR('N', below(0x43), struct npheap_cmd);
	default: return _IOC(_IOC_NONE, 0xEC, below(256), 0);
	}
}

static void op_slot_ioctl_bad(struct fd_entry *e)
{
	unsigned long cmd, arg = rnd();
	long ret;
	int err;

	if (chance(30)) {
		/* NP-Heap commands mean nothing to a slot either. */
		static const unsigned long np[] = { NPHEAP_IOCTL_LOCK, NPHEAP_IOCTL_UNLOCK,
						    NPHEAP_IOCTL_DELETE, NPHEAP_IOCTL_GETSIZE };
		cmd = np[below(4)];
		arg = (unsigned long)arena;
	} else {
		cmd = random_unknown_cmd();
	}
	snprintf(opdesc, sizeof(opdesc), "ioctl(%s, unknown cmd %#lx, %#lx)",
		 cfg.slot_path[e->idx], cmd, arg);
	errno = 0;
	ret = ioctl(e->fd, cmd, arg);
	err = errno;
	ops_inc();
	expect_err(ret, err, EINVAL);
}

/* Length for read/write: mostly valid, sometimes 0 or above the maximum. */
static size_t pick_len(bool for_write)
{
	uint64_t r = below(100);

	if (r < 5)
		return 0;
	if (r < 12)
		return MAX_MSG + 1 + below(for_write ? 4000 : 300);
	if (r < 20)
		return MAX_MSG;
	if (r < 30)
		return 1;
	return 1 + below(MAX_MSG);
}

static void op_slot_write(struct fd_entry *e)
{
	size_t len = pick_len(true);
	struct ubuf b = pick_ubuf(len < 2 * cfg.page ? len : 2 * cfg.page);
	int pk = private_key(e->channel), sk = shared_key(e->channel);
	uint8_t expect[MAX_MSG];
	ssize_t ret;
	int err;

	/* Shared channels must only ever hold messages of the checked family. */
	if (sk >= 0 && (b.kind == P_READONLY || b.kind == P_READONLY_PARTIAL))
		b = (struct ubuf){ .p = NULL, .kind = P_NULL };
	if (b.kind == P_GOOD && len && len <= MAX_MSG) {
		if (sk >= 0)
			make_shared_msg(b.p, len);
		else
			fill_random(b.p, len);
	}
	snprintf(opdesc, sizeof(opdesc), "write(%s channel %u%s, %s buffer, %zu)",
		 cfg.slot_path[e->idx], e->channel, e->censor ? " censored" : "",
		 ptr_names[b.kind], len);
	if (b.readable >= len && len && len <= MAX_MSG)
		memcpy(expect, b.p, len);
	errno = 0;
	ret = write(e->fd, b.p, len);
	err = errno;
	ops_inc();

	if (e->accmode == O_RDONLY) {
		expect_err(ret, err, EBADF);
		return;
	}
	/* vfs_write() rejects non-user addresses before the driver sees them. */
	if (b.not_user) {
		expect_err(ret, err, EFAULT);
		return;
	}
	if (!e->channel) {
		expect_err(ret, err, EINVAL);
		return;
	}
	if (!len || len > MAX_MSG) {
		expect_err(ret, err, EMSGSIZE);
		return;
	}
	if (b.readable < len) {
		/* The old message stays: the model does not change. */
		expect_err(ret, err, EINVAL);
		return;
	}
	if (!expect_ret(ret, err, (long)len))
		return;
	if (e->censor)
		apply_censor(expect, len);
	if (pk >= 0) {
		int i;

		msg_len[e->idx][pk] = len;
		memcpy(msg[e->idx][pk], expect, len);
		/* Every fd on the channel has a message it has not read. */
		for (i = 0; i < MAX_FDS; i++)
			if (fds[i].used && fds[i].kind == FD_SLOT &&
			    fds[i].idx == e->idx && fds[i].channel == e->channel)
				fds[i].unseen = true;
	} else if (sk >= 0) {
		shared_seen[e->idx][sk] = true;
	}
}

static void op_slot_read(struct fd_entry *e)
{
	size_t len = pick_len(false);
	struct ubuf b;
	int pk = private_key(e->channel), sk = shared_key(e->channel);
	struct itimerval tick = { { 0, 2000 }, { 0, 2000 } }, off = { { 0, 0 }, { 0, 0 } };
	bool nonblock = false, timer = false;
	size_t have;
	ssize_t ret;
	int err;

	if (chance(10))
		len = cfg.page + below(cfg.page);	/* big buffers are fine */
	b = pick_ubuf(len);
	if (b.kind == P_GOOD)
		memset(b.p, 0xA5, len);
	/*
	 * A waiting read sleeps until another write: make it return with
	 * O_NONBLOCK (EAGAIN) or a repeating SIGALRM (EINTR; a tick before
	 * the read sleeps is harmless).
	 */
	if (e->wait) {
		nonblock = chance(50);
		timer = !nonblock;
	}
	snprintf(opdesc, sizeof(opdesc), "read(%s channel %u, %s buffer, %zu)%s",
		 cfg.slot_path[e->idx], e->channel, ptr_names[b.kind], len,
		 nonblock ? " waiting, O_NONBLOCK" : timer ? " waiting, SIGALRM" : "");
	if (nonblock)
		fcntl(e->fd, F_SETFL, O_NONBLOCK);
	if (timer)
		setitimer(ITIMER_REAL, &tick, NULL);
	errno = 0;
	ret = read(e->fd, b.p, len);
	err = errno;
	if (timer)
		setitimer(ITIMER_REAL, &off, NULL);
	if (nonblock)
		fcntl(e->fd, F_SETFL, 0);
	ops_inc();

	if (e->accmode == O_WRONLY) {
		expect_err(ret, err, EBADF);
		return;
	}
	if (b.not_user) {
		expect_err(ret, err, EFAULT);
		return;
	}
	if (!e->channel) {
		expect_err(ret, err, EINVAL);
		return;
	}
	if (e->wait && sk >= 0 && ret == -1 && err == (nonblock ? EAGAIN : EINTR))
		return;	/* nothing new on the shared channel */
	if (pk >= 0) {
		have = msg_len[e->idx][pk];
		if (e->wait && (!have || !e->unseen)) {
			expect_err(ret, err, nonblock ? EAGAIN : EINTR);
		} else if (!have) {
			expect_err(ret, err, EWOULDBLOCK);
		} else if (len < have) {
			expect_err(ret, err, ENOSPC);
		} else if (b.writable < have) {
			expect_err(ret, err, EINVAL);
		} else if (ret == -1 && err == EINVAL && b.writable < len) {
			/* Tail of the buffer unmapped: rejecting it is allowed. */
		} else if (expect_ret(ret, err, (long)have)) {
			e->unseen = false;
			if (memcmp(b.p, msg[e->idx][pk], have))
				violation("read back different bytes than the model's "
					  "%zu-byte message", have);
		}
		return;
	}
	/* Shared channel: any whole message of the family, or nothing yet. */
	if (ret == -1 && err == EWOULDBLOCK) {
		if (shared_seen[e->idx][sk])
			violation("EWOULDBLOCK on a channel that already held a message");
		return;
	}
	if (ret == -1 && err == ENOSPC) {
		if (len >= MAX_MSG)
			violation("ENOSPC with a %zu-byte buffer", len);
		return;
	}
	if (ret == -1 && err == EINVAL && b.writable < len)
		return;
	if (ret < 0 || (size_t)ret > len || ret > MAX_MSG) {
		violation("got %s, want a message length", gotstr(ret, err));
		return;
	}
	shared_seen[e->idx][sk] = true;
	if (b.writable < (size_t)ret) {
		violation("read of %zd bytes into a buffer with only %zu writable bytes succeeded",
			  ret, b.writable);
		return;
	}
	if (!valid_shared_msg(b.p, ret))
		violation("torn or foreign message of %zd bytes on a shared channel", ret);
}

/*
 * A tight burst on one channel that every process hammers, alternating
 * message sizes of different size classes (a new buffer each time, the
 * old one freed while other processes may be reading it): the race window
 * that RCU/refcount mistakes open, as often as possible.
 */
static void op_slot_hot(void)
{
	static int hot_fd = -1;
	uint8_t buf[MAX_MSG];
	int i;

	snprintf(opdesc, sizeof(opdesc), "hot channel %u on %s", shared_ids[0], cfg.slot_path[0]);
	if (hot_fd < 0) {
		hot_fd = open(cfg.slot_path[0], O_RDWR | O_CLOEXEC);
		if (hot_fd < 0 || ioctl(hot_fd, MSG_SLOT_CHANNEL, shared_ids[0])) {
			violation("cannot open the hot channel: %s", errname(errno));
			hot_fd = -1;
			return;
		}
	}
	for (i = 0; i < 16; i++) {
		ssize_t ret;
		int err;

		if (chance(50)) {
			size_t len = chance(50) ? 1 + below(8) : 100 + below(MAX_MSG - 99);

			make_shared_msg(buf, len);
			errno = 0;
			ret = write(hot_fd, buf, len);
			err = errno;
			ops_inc();
			if (expect_ret(ret, err, (long)len))
				shared_seen[0][0] = true;
			continue;
		}
		errno = 0;
		ret = read(hot_fd, buf, sizeof(buf));
		err = errno;
		ops_inc();
		if (ret == -1 && err == EWOULDBLOCK && !shared_seen[0][0])
			continue;
		if (ret <= 0) {
			violation("hot read got %s, want a message", gotstr(ret, err));
			continue;
		}
		shared_seen[0][0] = true;
		if (!valid_shared_msg(buf, ret))
			violation("torn or foreign %zd-byte message on the hot channel", ret);
	}
}

/* The slot is a stream: no positions. */
static void op_slot_seek(struct fd_entry *e)
{
	uint8_t *buf = arena;
	long ret;
	int err;

	errno = 0;
	switch (below(3)) {
	case 0:
		snprintf(opdesc, sizeof(opdesc), "lseek(%s)", cfg.slot_path[e->idx]);
		ret = lseek(e->fd, below(10), SEEK_SET);
		break;
	case 1:
		snprintf(opdesc, sizeof(opdesc), "pread(%s)", cfg.slot_path[e->idx]);
		ret = pread(e->fd, buf, MAX_MSG, 0);
		break;
	default:
		snprintf(opdesc, sizeof(opdesc), "pwrite(%s)", cfg.slot_path[e->idx]);
		buf[0] = 'x';
		ret = pwrite(e->fd, buf, 1, 0);
		break;
	}
	err = errno;
	ops_inc();
	expect_err(ret, err, ESPIPE);
}

/* mmap of a slot: not part of the contract; it must fail, nothing more. */
static void op_slot_mmap(struct fd_entry *e)
{
	void *p;

	snprintf(opdesc, sizeof(opdesc), "mmap(%s)", cfg.slot_path[e->idx]);
	p = mmap(NULL, cfg.page, PROT_READ, MAP_SHARED, e->fd, 0);
	ops_inc();
	if (p != MAP_FAILED) {
		violation("mmap of a message slot succeeded");
		munmap(p, cfg.page);
	}
}

/* ------------------------------------------------------------------------
 * NP-Heap operations
 */

static long heap_ioctl(int fd, unsigned long cmd, unsigned long id, int *err)
{
	struct npheap_cmd c;
	long ret;

	/* Only offset counts; fill the rest (and the low offset bits) with junk. */
	c.op = rnd();
	c.size = rnd();
	c.data = (void *)(uintptr_t)rnd();
	c.offset = id * cfg.page + below(cfg.page);
	errno = 0;
	ret = ioctl(fd, cmd, &c);
	*err = errno;
	ops_inc();
	return ret;
}

static struct fd_entry *pick_heap_fd(int heap, bool writable)
{
	int candidates[MAX_FDS] = { 0 }, n = 0, i;

	for (i = 0; i < MAX_FDS; i++)
		if (fds[i].used && fds[i].kind == FD_HEAP && fds[i].idx == heap &&
		    (!writable || fds[i].accmode == O_RDWR))
			candidates[n++] = i;
	return n ? &fds[candidates[below(n)]] : NULL;
}

static struct mapping *free_map_slot(void)
{
	int i;

	for (i = 0; i < MAX_MAPS; i++)
		if (!maps[i].used)
			return &maps[i];
	return NULL;
}

static struct mapping *pick_map(void)
{
	int candidates[MAX_MAPS] = { 0 }, n = 0, i;

	for (i = 0; i < MAX_MAPS; i++)
		if (maps[i].used)
			candidates[n++] = i;
	return n ? &maps[candidates[below(n)]] : NULL;
}

static const uint8_t *map_model(const struct mapping *m)
{
	return m->detached ? m->detached->bytes : objs[m->heap][m->key].bytes;
}

static void verify_map(const struct mapping *m)
{
	const uint8_t *want = map_model(m);
	size_t i;

	for (i = 0; i < m->len; i++)
		if (m->addr[i] != want[i]) {
			violation("mapping of heap %d id %lu%s differs from the model at byte %zu "
				  "(0x%02x, want 0x%02x)", m->heap, private_obj_id(me, m->key),
				  m->detached ? " (deleted)" : "", i, m->addr[i], want[i]);
			return;
		}
}

static void do_munmap(struct mapping *m)
{
	snprintf(opdesc, sizeof(opdesc), "munmap(heap %d id %lu, %zu)", m->heap,
		 private_obj_id(me, m->key), m->len);
	ops_inc();
	if (munmap(m->addr, m->len))
		violation("munmap failed: %s", errname(errno));
	if (m->detached && !--m->detached->refs) {
		free(m->detached->bytes);
		free(m->detached);
	}
	*m = (struct mapping){ 0 };
}

static void op_heap_mmap(void)
{
	int heap = below(NHEAPS), key = below(NPRIV_OBJ);
	struct fd_entry *e = pick_heap_fd(heap, false);
	struct obj_model *o = &objs[heap][key];
	size_t len, npages, maplen;
	struct mapping *m;
	int flags = MAP_SHARED, err;
	uint8_t *p;
	bool want_eacces;

	if (!e) {
		op_open(FD_HEAP);
		return;
	}
	m = free_map_slot();
	if (!m) {
		do_munmap(&maps[below(MAX_MAPS)]);
		return;
	}
	len = 1 + below(MAX_OBJ_PAGES * cfg.page);
	if (chance(3))
		len = 0;
	if (chance(8))
		flags = MAP_PRIVATE;
	npages = (len + cfg.page - 1) / cfg.page;
	maplen = npages * cfg.page;
	want_eacces = e->accmode != O_RDWR && flags == MAP_SHARED;
	snprintf(opdesc, sizeof(opdesc), "mmap(%s id %lu, %zu bytes, %s%s)", cfg.heap_path[heap],
		 private_obj_id(me, key), len, flags == MAP_SHARED ? "MAP_SHARED" : "MAP_PRIVATE",
		 e->accmode == O_RDWR ? "" : ", O_RDONLY fd");
	errno = 0;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, e->fd,
		 (off_t)(private_obj_id(me, key) * cfg.page));
	err = errno;
	ops_inc();
	if (!len || flags == MAP_PRIVATE || want_eacces) {
		/* Length 0 and MAP_PRIVATE: EINVAL; shared+writable on O_RDONLY: EACCES. */
		int want = len && want_eacces ? EACCES : EINVAL;

		if (p != MAP_FAILED) {
			violation("mmap succeeded, want -1/%s", errname(want));
			munmap(p, maplen);
		} else if (err != want) {
			violation("got -1/%s, want -1/%s", errname(err), errname(want));
		}
		return;
	}
	if (p == MAP_FAILED) {
		violation("got -1/%s, want a mapping", errname(err));
		return;
	}
	/* Mapping more than the object holds grows it with zero pages. */
	if (o->size < maplen) {
		uint8_t *grown = realloc(o->bytes, maplen);

		if (!grown) {
			child_fatal("realloc");
		}
		memset(grown + o->size, 0, maplen - o->size);
		o->bytes = grown;
		o->size = maplen;
	}
	*m = (struct mapping){ .used = true, .addr = p, .len = maplen, .heap = heap,
			       .key = key };
	verify_map(m);
}

static void op_heap_touch(void)
{
	struct mapping *m = pick_map();
	size_t off, len;
	uint8_t *model;

	if (!m) {
		op_heap_mmap();
		return;
	}
	snprintf(opdesc, sizeof(opdesc), "write to mapping of heap %d id %lu%s",
		 m->heap, private_obj_id(me, m->key), m->detached ? " (deleted)" : "");
	off = below(m->len);
	len = 1 + below(m->len - off < 512 ? m->len - off : 512);
	fill_random(m->addr + off, len);
	model = m->detached ? m->detached->bytes : objs[m->heap][m->key].bytes;
	memcpy(model + off, m->addr + off, len);
	ops_inc();
	if (chance(30))
		verify_map(m);
}

static void op_heap_getsize(void)
{
	int heap = below(NHEAPS), err;
	struct fd_entry *e = pick_heap_fd(heap, false);
	long ret;

	if (!e) {
		op_open(FD_HEAP);
		return;
	}
	if (chance(80)) {
		int key = below(NPRIV_OBJ);

		snprintf(opdesc, sizeof(opdesc), "GETSIZE(%s id %lu)", cfg.heap_path[heap],
			 private_obj_id(me, key));
		ret = heap_ioctl(e->fd, NPHEAP_IOCTL_GETSIZE, private_obj_id(me, key), &err);
		expect_ret(ret, err, (long)objs[heap][key].size);
	} else {
		unsigned long id = below(NSHARED_OBJ);

		snprintf(opdesc, sizeof(opdesc), "GETSIZE(%s shared id %lu)",
			 cfg.heap_path[heap], id);
		ret = heap_ioctl(e->fd, NPHEAP_IOCTL_GETSIZE, id, &err);
		if (ret < 0 || ret % (long)cfg.page ||
		    ret > (long)(MAX_SHARED_PAGES * cfg.page))
			violation("got %s, want a page multiple <= %d pages", gotstr(ret, err),
				  MAX_SHARED_PAGES);
	}
}

static void op_heap_delete(void)
{
	int heap = below(NHEAPS), key = below(NPRIV_OBJ), err, i;
	struct ghost *ghost = NULL;
	struct fd_entry *e = pick_heap_fd(heap, false);
	struct obj_model *o = &objs[heap][key];
	long ret;

	if (!e) {
		op_open(FD_HEAP);
		return;
	}
	snprintf(opdesc, sizeof(opdesc), "DELETE(%s id %lu, size %zu)", cfg.heap_path[heap],
		 private_obj_id(me, key), o->size);
	ret = heap_ioctl(e->fd, NPHEAP_IOCTL_DELETE, private_obj_id(me, key), &err);
	if (!expect_ret(ret, err, 0))
		return;
	/* Current mappings keep their pages, detached from the id. */
	for (i = 0; i < MAX_MAPS; i++) {
		struct mapping *m = &maps[i];

		if (!m->used || m->detached || m->heap != heap || m->key != key)
			continue;
		if (!ghost) {
			ghost = calloc(1, sizeof(*ghost));
			if (!ghost) {
				child_fatal("calloc");
			}
			ghost->bytes = o->bytes;	/* the model bytes move over */
			o->bytes = NULL;
		}
		ghost->refs++;
		m->detached = ghost;
	}
	free(o->bytes);
	o->bytes = NULL;
	o->size = 0;
}

static void op_heap_lock(bool lock)
{
	int heap = below(NHEAPS), err;
	struct fd_entry *e = pick_heap_fd(heap, false);
	long ret;

	if (!e) {
		op_open(FD_HEAP);
		return;
	}
	if (!lock && chance(15)) {
		/* Shared ids are never held outside a transaction: not ours. */
		unsigned long id = below(NSHARED_OBJ);

		snprintf(opdesc, sizeof(opdesc), "UNLOCK(%s shared id %lu, not held)",
			 cfg.heap_path[heap], id);
		ret = heap_ioctl(e->fd, NPHEAP_IOCTL_UNLOCK, id, &err);
		expect_err(ret, err, EPERM);
		return;
	}
	int key = below(NPRIV_OBJ);
	struct obj_model *o = &objs[heap][key];

	snprintf(opdesc, sizeof(opdesc), "%s(%s id %lu, %s)", lock ? "LOCK" : "UNLOCK",
		 cfg.heap_path[heap], private_obj_id(me, key), o->locked ? "held" : "free");
	ret = heap_ioctl(e->fd, lock ? NPHEAP_IOCTL_LOCK : NPHEAP_IOCTL_UNLOCK,
			 private_obj_id(me, key), &err);
	if (lock) {
		if (o->locked) {
			expect_err(ret, err, EDEADLK);
		} else if (expect_ret(ret, err, 0)) {
			o->locked = true;
			o->lock_fd = e->fd;
		}
	} else {
		if (!o->locked)
			expect_err(ret, err, EPERM);
		else if (expect_ret(ret, err, 0))
			o->locked = false;
	}
}

static void op_heap_ioctl_bad(void)
{
	static const unsigned long known[] = { NPHEAP_IOCTL_LOCK, NPHEAP_IOCTL_UNLOCK,
					       NPHEAP_IOCTL_DELETE, NPHEAP_IOCTL_GETSIZE };
	int heap = below(NHEAPS);
	struct fd_entry *e = pick_heap_fd(heap, false);
	unsigned long cmd;
	struct ubuf b;
	long ret;
	int err;

	if (!e) {
		op_open(FD_HEAP);
		return;
	}
	if (chance(50)) {
		cmd = chance(20) ? MSG_SLOT_CHANNEL : random_unknown_cmd();
		if (cmd == _IOWR('N', 0x43, struct npheap_cmd))	/* can't happen, be sure */
			cmd = _IO('N', 0x99);
		snprintf(opdesc, sizeof(opdesc), "ioctl(%s, unknown cmd %#lx)",
			 cfg.heap_path[heap], cmd);
		errno = 0;
		ret = ioctl(e->fd, cmd, arena);
		err = errno;
		ops_inc();
		expect_err(ret, err, ENOTTY);
		return;
	}
	/* A known command whose struct cannot be read. */
	cmd = known[below(4)];
	do {
		b = pick_ubuf(sizeof(struct npheap_cmd));
	} while (b.readable >= sizeof(struct npheap_cmd));
	snprintf(opdesc, sizeof(opdesc), "ioctl(%s, %#lx, %s struct pointer)",
		 cfg.heap_path[heap], cmd, ptr_names[b.kind]);
	errno = 0;
	ret = ioctl(e->fd, cmd, b.p);
	err = errno;
	ops_inc();
	expect_err(ret, err, EFAULT);
}

/* read/write on a heap fd: not part of the contract; must not succeed. */
static void op_heap_rw(void)
{
	struct fd_entry *e = pick_fd(FD_HEAP);
	long ret;

	if (!e)
		return;
	snprintf(opdesc, sizeof(opdesc), "read/write(%s)", cfg.heap_path[e->idx]);
	errno = 0;
	ret = chance(50) ? read(e->fd, arena, 16) : write(e->fd, arena, 16);
	ops_inc();
	if (ret >= 0)
		violation("read/write on an NP-Heap fd returned %ld", ret);
}

/* Shared objects: stamped under the lock, verified by the next holder. */
static void stamp_write(uint8_t *p, size_t len, uint64_t stamp)
{
	size_t words = len / 8, i;
	uint64_t *w = (uint64_t *)p;

	for (i = 0; i < words; i++) {
		w[i] = stamp ^ (i * 0x9e3779b97f4a7c15ULL);
		/* Give other processes a chance to run mid-update. */
		if (i % (cfg.page / 8) == cfg.page / 8 - 1)
			sched_yield();
	}
}

/* 0: all zero, 1: one consistent stamp, -1: mixed/garbage (first bad index). */
static int stamp_check(const uint8_t *p, size_t len, size_t *bad)
{
	const uint64_t *w = (const uint64_t *)p;
	size_t words = len / 8, i;
	bool zero = true;

	for (i = 0; i < words && zero; i++)
		zero = !w[i];
	if (zero)
		return 0;
	for (i = 0; i < words; i++)
		if (w[i] != (w[0] ^ (i * 0x9e3779b97f4a7c15ULL))) {
			*bad = i * 8;
			return -1;
		}
	return 1;
}

static void op_heap_shared(void)
{
	int heap = below(NHEAPS), err;
	struct fd_entry *e = pick_heap_fd(heap, true);
	unsigned long id = below(NSHARED_OBJ);
	size_t size, newlen, bad = 0;
	uint64_t stamp;
	uint8_t *p;
	long ret;
	int state;

	if (!e) {
		op_open(FD_HEAP);
		return;
	}
	snprintf(opdesc, sizeof(opdesc), "LOCK(%s shared id %lu)", cfg.heap_path[heap], id);
	ret = heap_ioctl(e->fd, NPHEAP_IOCTL_LOCK, id, &err);
	if (!expect_ret(ret, err, 0))
		return;

	snprintf(opdesc, sizeof(opdesc), "GETSIZE(%s shared id %lu, locked)",
		 cfg.heap_path[heap], id);
	ret = heap_ioctl(e->fd, NPHEAP_IOCTL_GETSIZE, id, &err);
	if (ret < 0 || ret % (long)cfg.page || ret > (long)(MAX_SHARED_PAGES * cfg.page)) {
		violation("got %s, want a page multiple", gotstr(ret, err));
		goto unlock;
	}
	size = ret;
	newlen = size ? size : (1 + below(2)) * cfg.page;
	if (size && size < MAX_SHARED_PAGES * cfg.page && chance(12))
		newlen = size + cfg.page;	/* grow it */

	snprintf(opdesc, sizeof(opdesc), "mmap(%s shared id %lu, %zu, size %zu, locked)",
		 cfg.heap_path[heap], id, newlen, size);
	errno = 0;
	p = mmap(NULL, newlen, PROT_READ | PROT_WRITE, MAP_SHARED, e->fd,
		 (off_t)(id * cfg.page));
	err = errno;
	ops_inc();
	if (p == MAP_FAILED) {
		violation("got -1/%s, want a mapping", errname(err));
		goto unlock;
	}
	/* Every holder stamps the whole object before unlocking. */
	state = stamp_check(p, size, &bad);
	if (state < 0)
		violation("shared object holds mixed stamps at byte %zu: the lock did not exclude",
			  bad);
	else if (size && state == 0)
		violation("shared object of %zu bytes lost its contents (all zero)", size);
	if (stamp_check(p + size, newlen - size, &bad) != 0)
		violation("bytes %zu..%zu past the old size are not zero", size, newlen);
	snprintf(opdesc, sizeof(opdesc), "GETSIZE(%s shared id %lu after mmap of %zu)",
		 cfg.heap_path[heap], id, newlen);
	ret = heap_ioctl(e->fd, NPHEAP_IOCTL_GETSIZE, id, &err);
	expect_ret(ret, err, (long)newlen);

	stamp = ((uint64_t)(me + 1) << 48) | ++stamp_counter;
	stamp_write(p, newlen, stamp);
	snprintf(opdesc, sizeof(opdesc), "shared id %lu after writing stamp %#" PRIx64, id, stamp);
	if (stamp_check(p, newlen, &bad) != 1 || *(uint64_t *)p != stamp)
		violation("someone else wrote the object while the lock was held");
	if (chance(15)) {
		snprintf(opdesc, sizeof(opdesc), "DELETE(%s shared id %lu, locked)",
			 cfg.heap_path[heap], id);
		ret = heap_ioctl(e->fd, NPHEAP_IOCTL_DELETE, id, &err);
		expect_ret(ret, err, 0);
		ret = heap_ioctl(e->fd, NPHEAP_IOCTL_GETSIZE, id, &err);
		expect_ret(ret, err, 0);
		/* Our mapping stays valid memory with our stamp. */
		if (stamp_check(p, newlen, &bad) != 1 || *(uint64_t *)p != stamp)
			violation("mapping of the deleted object changed");
	}
	ops_inc();
	munmap(p, newlen);
unlock:
	snprintf(opdesc, sizeof(opdesc), "UNLOCK(%s shared id %lu)", cfg.heap_path[heap], id);
	ret = heap_ioctl(e->fd, NPHEAP_IOCTL_UNLOCK, id, &err);
	expect_ret(ret, err, 0);
}

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

/*
 * A helper process takes the lock of one of our free private ids and then
 * either gets killed (the lock must become free: robustness) or holds it
 * while we wait and get a signal (the wait must end with EINTR).
 */
static void op_heap_lock_holder(bool interrupt)
{
	int heap = below(NHEAPS), key = below(NPRIV_OBJ), err, pipefd[2];
	struct fd_entry *e = pick_heap_fd(heap, false);
	unsigned long id = private_obj_id(me, key);
	struct itimerval tv = { { 0, 20000 }, { 0, 20000 } }, off = { { 0, 0 }, { 0, 0 } };
	char status = 0;
	pid_t pid;
	long ret;

	if (!e || objs[heap][key].locked)
		return;
	if (pipe(pipefd)) {
		child_fatal("pipe");
	}
	pid = fork();
	if (pid < 0) {
		child_fatal("fork");
	}
	if (pid == 0) {
		struct npheap_cmd c = { .offset = id * cfg.page };

		status = ioctl(e->fd, NPHEAP_IOCTL_LOCK, &c) ? (char)errno : 0;
		if (write(pipefd[1], &status, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(pipefd[1]);
	snprintf(opdesc, sizeof(opdesc), "LOCK(%s id %lu) in a helper process",
		 cfg.heap_path[heap], id);
	ops_inc();
	if (read(pipefd[0], &status, 1) != 1 || status) {
		violation("helper's lock of a free id failed: %s", errname(status));
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		close(pipefd[0]);
		return;
	}
	close(pipefd[0]);

	if (interrupt) {
		alarms = 0;
		snprintf(opdesc, sizeof(opdesc), "LOCK(%s id %lu) held by another process, "
			 "interrupted by SIGALRM", cfg.heap_path[heap], id);
		/* Repeating timer: a tick that lands before the ioctl sleeps is harmless. */
		setitimer(ITIMER_REAL, &tv, NULL);
		ret = heap_ioctl(e->fd, NPHEAP_IOCTL_LOCK, id, &err);
		setitimer(ITIMER_REAL, &off, NULL);
		expect_err(ret, err, EINTR);
		if (ret == 0) {
			struct npheap_cmd c = { .offset = id * cfg.page };

			ioctl(e->fd, NPHEAP_IOCTL_UNLOCK, &c);
		}
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);

	/* The dead holder's lock is released: we get it at once (watchdog 30 s). */
	snprintf(opdesc, sizeof(opdesc), "LOCK(%s id %lu) after its holder was killed",
		 cfg.heap_path[heap], id);
	alarm(30);
	ret = heap_ioctl(e->fd, NPHEAP_IOCTL_LOCK, id, &err);
	alarm(0);
	if (expect_ret(ret, err, 0)) {
		objs[heap][key].locked = true;
		objs[heap][key].lock_fd = e->fd;
	}
}

static double now_seconds(void);

/*
 * Locks whose holder died without closing anything: lock() of the id by
 * us must get it within a second (the watchdog gives 30 s to report it).
 */
static void take_dead_holders_lock(int heap, int key, struct fd_entry *e, const char *how)
{
	unsigned long id = private_obj_id(me, key);
	double t0 = now_seconds();
	long ret;
	int err;

	snprintf(opdesc, sizeof(opdesc), "LOCK(%s id %lu) after %s", cfg.heap_path[heap], id,
		 how);
	alarm(30);
	ret = heap_ioctl(e->fd, NPHEAP_IOCTL_LOCK, id, &err);
	alarm(0);
	if (!expect_ret(ret, err, 0))
		return;
	objs[heap][key].locked = true;
	objs[heap][key].lock_fd = e->fd;
	if (now_seconds() - t0 > cfg.handover)
		violation("took %.2f s (want <= %d s)", now_seconds() - t0, cfg.handover);
}

/* A free private key of a heap, or -1. */
static int free_priv_key(int heap)
{
	int key = below(NPRIV_OBJ);

	return objs[heap][key].locked ? -1 : key;
}

struct lock_arg {
	int fd;
	unsigned long id;
	long ret;
	int err;
	int report;		/* clone child: pipe to say it holds the lock */
};

static int clone_locker(void *p)
{
	struct lock_arg *a = p;
	struct npheap_cmd c = { .offset = a->id * cfg.page };
	char status = ioctl(a->fd, NPHEAP_IOCTL_LOCK, &c) ? 1 : 0;

	if (write(a->report, &status, 1) != 1)
		_exit(2);
	_exit(status);
}

/* A clone(CLONE_FILES) child (own process, our fd table) locks and exits: no close runs. */
static void op_heap_clone_files_holder(void)
{
	static char stack[64 * 1024] __attribute__((aligned(16)));
	int heap = below(NHEAPS), key = free_priv_key(heap), status, pipefd[2];
	struct fd_entry *e = pick_heap_fd(heap, false);
	struct lock_arg a;
	char locked = 1;
	pid_t pid;

	if (!e || key < 0)
		return;
	if (pipe(pipefd)) {
		child_fatal("pipe");
	}
	a = (struct lock_arg){ .fd = e->fd, .id = private_obj_id(me, key), .report = pipefd[1] };
	snprintf(opdesc, sizeof(opdesc), "LOCK(%s id %lu) in a clone(CLONE_FILES) child",
		 cfg.heap_path[heap], a.id);
	ops_inc();
	pid = clone(clone_locker, stack + sizeof(stack), CLONE_FILES | SIGCHLD, &a);
	if (pid < 0) {
		child_fatal("clone");
	}
	/* The child shares our fd table: our copy of the pipe goes in both. */
	if (read(pipefd[0], &locked, 1) != 1 || locked) {
		violation("the clone child's lock of a free id failed");
		waitpid(pid, NULL, 0);
		goto out;
	}
	/* Reaped first, or still exiting (a zombie soon): a dead holder either way. */
	if (chance(50)) {
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
		    WEXITSTATUS(status))
			violation("the clone child failed after locking");
		take_dead_holders_lock(heap, key, e, "its clone(CLONE_FILES) holder exited");
		goto out;
	}
	take_dead_holders_lock(heap, key, e, "a clone(CLONE_FILES) child locked it and exits");
	waitpid(pid, NULL, 0);
out:
	close(pipefd[0]);
	close(pipefd[1]);
}

static void *thread_locker(void *p)
{
	struct lock_arg *a = p;
	struct npheap_cmd c = { .offset = a->id * cfg.page };

	a->ret = ioctl(a->fd, NPHEAP_IOCTL_LOCK, &c);
	a->err = errno;
	return NULL;
}

/* A thread locks a free id and exits holding it. */
static void op_heap_thread_exit_holder(void)
{
	int heap = below(NHEAPS), key = free_priv_key(heap);
	struct fd_entry *e = pick_heap_fd(heap, false);
	struct lock_arg a;
	pthread_t t;

	if (!e || key < 0)
		return;
	a = (struct lock_arg){ .fd = e->fd, .id = private_obj_id(me, key) };
	snprintf(opdesc, sizeof(opdesc), "LOCK(%s id %lu) in a thread that exits holding it",
		 cfg.heap_path[heap], a.id);
	ops_inc();
	if (pthread_create(&t, NULL, thread_locker, &a)) {
		child_fatal("pthread_create");
	}
	pthread_join(t, NULL);
	if (a.ret) {
		violation("the thread's lock of a free id: %s", gotstr(a.ret, a.err));
		return;
	}
	take_dead_holders_lock(heap, key, e, "its holder thread exited");
}

static double now_seconds(void);

/*
 * We hold an id through a fresh fd and a thread waits for it there; we
 * close that fd after a random pause, so the close races the wait (the
 * thread may take the lock inside its wait, or find the fd gone).  Half
 * the time we then close dups of the fd for up to 300 us: each close
 * releases the lock the thread may have just won, perhaps while it is
 * still on the wait queue (the kernel crash of issue 9, scenario 0).  The
 * thread exits either way; the lock must come back to us.
 */
static void op_heap_close_races_wait(void)
{
	int heap = below(NHEAPS), key = free_priv_key(heap), fd, dup_fd = -1, err;
	struct fd_entry *e = pick_heap_fd(heap, false);
	struct lock_arg a;
	pthread_t t;
	long ret;

	if (!e || key < 0)
		return;
	snprintf(opdesc, sizeof(opdesc), "open(%s) for a close racing a lock wait",
		 cfg.heap_path[heap]);
	fd = open(cfg.heap_path[heap], O_RDWR | O_CLOEXEC);
	ops_inc();
	if (fd < 0) {
		violation("got -1/%s, want a file descriptor", errname(errno));
		return;
	}
	a = (struct lock_arg){ .fd = fd, .id = private_obj_id(me, key) };
	snprintf(opdesc, sizeof(opdesc), "LOCK(%s id %lu) through a fresh fd",
		 cfg.heap_path[heap], a.id);
	ret = heap_ioctl(fd, NPHEAP_IOCTL_LOCK, a.id, &err);
	if (!expect_ret(ret, err, 0)) {
		close(fd);
		return;
	}
	if (pthread_create(&t, NULL, thread_locker, &a)) {
		child_fatal("pthread_create");
	}
	if (chance(70)) {
		struct timespec ts = { 0, (long)below(2000) * 1000 };

		nanosleep(&ts, NULL);
	}
	if (chance(50))
		dup_fd = dup(fd);
	snprintf(opdesc, sizeof(opdesc), "close(fd)%s while a thread waits for id %lu there",
		 dup_fd >= 0 ? " and a dup of it" : "", a.id);
	close(fd);
	if (dup_fd >= 0) {
		double end = now_seconds() + below(300) / 1e6;

		do {
			int again = dup(dup_fd);

			if (again >= 0)
				close(again);
		} while (now_seconds() < end);
		close(dup_fd);
	}
	ops_inc();
	pthread_join(t, NULL);
	if (a.ret && a.err != EBADF)
		violation("the waiting thread: %s, want 0 or EBADF", gotstr(a.ret, a.err));
	take_dead_holders_lock(heap, key, e, "a close raced its wait");
}

/* ------------------------------------------------------------------------
 * The child's main loop
 */

enum op {
	OP_SLOT_OPEN, OP_SLOT_CLOSE, OP_SLOT_CHANNEL, OP_SLOT_CENSOR, OP_SLOT_BADIOCTL,
	OP_SLOT_WRITE, OP_SLOT_READ, OP_SLOT_SEEK, OP_SLOT_MMAP, OP_SLOT_HOT,
	OP_SLOT_WAIT, OP_SLOT_POLL,
	OP_HEAP_OPEN, OP_HEAP_CLOSE, OP_HEAP_MMAP, OP_HEAP_MUNMAP, OP_HEAP_TOUCH,
	OP_HEAP_VERIFY, OP_HEAP_LOCK, OP_HEAP_UNLOCK, OP_HEAP_GETSIZE, OP_HEAP_DELETE,
	OP_HEAP_BADIOCTL, OP_HEAP_RW, OP_HEAP_SHARED, OP_HEAP_KILLED_HOLDER,
	OP_HEAP_EINTR, OP_HEAP_CLONE_FILES, OP_HEAP_THREAD_EXIT, OP_HEAP_CLOSE_RACE,
	OP_COUNT
};

/* Relative weights, per mille-ish; NP-Heap ones are zero without /dev/npheap. */
static const unsigned int op_weight[OP_COUNT] = {
	[OP_SLOT_OPEN] = 40, [OP_SLOT_CLOSE] = 25, [OP_SLOT_CHANNEL] = 90,
	[OP_SLOT_CENSOR] = 25, [OP_SLOT_BADIOCTL] = 25, [OP_SLOT_WRITE] = 200,
	[OP_SLOT_READ] = 200, [OP_SLOT_SEEK] = 10, [OP_SLOT_MMAP] = 5,
	[OP_SLOT_HOT] = 30, [OP_SLOT_WAIT] = 20, [OP_SLOT_POLL] = 60,
	[OP_HEAP_OPEN] = 15, [OP_HEAP_CLOSE] = 10, [OP_HEAP_MMAP] = 40,
	[OP_HEAP_MUNMAP] = 30, [OP_HEAP_TOUCH] = 50, [OP_HEAP_VERIFY] = 20,
	[OP_HEAP_LOCK] = 30, [OP_HEAP_UNLOCK] = 30, [OP_HEAP_GETSIZE] = 30,
	[OP_HEAP_DELETE] = 15, [OP_HEAP_BADIOCTL] = 20, [OP_HEAP_RW] = 5,
	[OP_HEAP_SHARED] = 30, [OP_HEAP_KILLED_HOLDER] = 1, [OP_HEAP_EINTR] = 1,
	[OP_HEAP_CLONE_FILES] = 1, [OP_HEAP_THREAD_EXIT] = 2, [OP_HEAP_CLOSE_RACE] = 2,
};

static enum op pick_op(void)
{
	unsigned int total = 0, i, r;

	for (i = 0; i < OP_COUNT; i++)
		if (cfg.npheap || i < OP_HEAP_OPEN)
			total += op_weight[i];
	r = below(total);
	for (i = 0; i < OP_COUNT; i++) {
		if (!cfg.npheap && i >= OP_HEAP_OPEN)
			break;
		if (r < op_weight[i])
			return i;
		r -= op_weight[i];
	}
	return OP_SLOT_READ;
}

static void run_op(enum op op)
{
	struct fd_entry *e = NULL;
	struct mapping *m;

	switch (op) {
	case OP_SLOT_OPEN: op_open(FD_SLOT); return;
	case OP_SLOT_HOT: op_slot_hot(); return;
	case OP_HEAP_OPEN: op_open(FD_HEAP); return;
	case OP_HEAP_MMAP: op_heap_mmap(); return;
	case OP_HEAP_TOUCH: op_heap_touch(); return;
	case OP_HEAP_LOCK: op_heap_lock(true); return;
	case OP_HEAP_UNLOCK: op_heap_lock(false); return;
	case OP_HEAP_GETSIZE: op_heap_getsize(); return;
	case OP_HEAP_DELETE: op_heap_delete(); return;
	case OP_HEAP_BADIOCTL: op_heap_ioctl_bad(); return;
	case OP_HEAP_RW: op_heap_rw(); return;
	case OP_HEAP_SHARED: op_heap_shared(); return;
	case OP_HEAP_KILLED_HOLDER: op_heap_lock_holder(false); return;
	case OP_HEAP_EINTR: op_heap_lock_holder(true); return;
	case OP_HEAP_CLONE_FILES: op_heap_clone_files_holder(); return;
	case OP_HEAP_THREAD_EXIT: op_heap_thread_exit_holder(); return;
	case OP_HEAP_CLOSE_RACE: op_heap_close_races_wait(); return;
	case OP_HEAP_MUNMAP:
	case OP_HEAP_VERIFY:
		m = pick_map();
		if (!m)
			op_heap_mmap();
		else if (op == OP_HEAP_MUNMAP)
			do_munmap(m);
		else {
			snprintf(opdesc, sizeof(opdesc), "verify mapping");
			verify_map(m);
		}
		return;
	case OP_HEAP_CLOSE:
		e = pick_fd(FD_HEAP);
		if (e)
			do_close(e);
		return;
	default:
		break;
	}

	e = pick_fd(FD_SLOT);
	if (!e) {
		op_open(FD_SLOT);
		return;
	}
	switch (op) {
	case OP_SLOT_CLOSE: do_close(e); break;
	case OP_SLOT_CHANNEL: op_slot_ioctl_channel(e); break;
	case OP_SLOT_CENSOR: op_slot_ioctl_censor(e); break;
	case OP_SLOT_BADIOCTL: op_slot_ioctl_bad(e); break;
	case OP_SLOT_WRITE: op_slot_write(e); break;
	case OP_SLOT_READ: op_slot_read(e); break;
	case OP_SLOT_SEEK: op_slot_seek(e); break;
	case OP_SLOT_WAIT: op_slot_ioctl_wait(e); break;
	case OP_SLOT_POLL: op_slot_poll(e); break;
	default: op_slot_mmap(e); break;
	}
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void export_state(void)
{
	int s, k, h;

	for (s = 0; s < NSLOTS; s++)
		for (k = 0; k < NPRIV_CH; k++) {
			my_report->msg_len[s][k] = msg_len[s][k];
			memcpy(my_report->msg[s][k], msg[s][k], MAX_MSG);
		}
	for (h = 0; h < NHEAPS; h++)
		for (k = 0; k < NPRIV_OBJ; k++) {
			my_report->obj_size[h][k] = objs[h][k].size;
			my_report->obj_hash[h][k] = fnv64(objs[h][k].bytes, objs[h][k].size);
		}
}

static void child_main(int index, uint64_t ops, double deadline)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	int i;

	me = index;
	my_report = &reports[index];
	/* Nothing of the suite's output stays open in a child (see lines[]). */
	i = open("/dev/null", O_RDWR);
	if (i < 0 || dup2(i, STDOUT_FILENO) < 0 || dup2(i, STDERR_FILENO) < 0)
		_exit(2);
	close(i);
	child_seed = mix64(cfg.seed ^ (0x9e3779b97f4a7c15ULL * (index + 1)));
	rng_state = child_seed;
	arena_init();
	/* SIGALRM only interrupts waits (EINTR tests, the lock watchdog). */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	for (op_no = 0; op_no < ops; op_no++) {
		if ((op_no & 63) == 0 && now_seconds() > deadline)
			break;
		run_op(pick_op());
		my_report->ops++;
	}
	/* Before exit: every mapping must still match the model. */
	for (i = 0; i < MAX_MAPS; i++)
		if (maps[i].used) {
			snprintf(opdesc, sizeof(opdesc), "final check of a mapping");
			verify_map(&maps[i]);
		}
	export_state();
	my_report->finished = true;
	_exit(my_report->violations ? 1 : 0);
}

/* ------------------------------------------------------------------------
 * Parent: setup, supervision, final cross-process verification
 */

static uint64_t parent_violations;

static void parent_violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void parent_violation(const char *fmt, ...)
{
	char m[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m, sizeof(m), fmt, ap);
	va_end(ap);
	out_line("# fuzz: VIOLATION (final check, seed=%" PRIu64 "): %s", cfg.seed, m);
	parent_violations++;
}

static void make_node(char *path, size_t size, const char *name, unsigned int minor)
{
	snprintf(path, size, "%s/%s", cfg.node_dir, name);
	unlink(path);
	if (mknod(path, S_IFCHR | 0600, makedev(MAJOR_NUM, minor))) {
		fprintf(stderr, "fuzz: mknod %s: %s\n", path, strerror(errno));
		exit(2);
	}
}

static void setup_nodes(void)
{
	struct stat st;
	char name[32];
	FILE *f;
	int i;

	snprintf(cfg.node_dir, sizeof(cfg.node_dir), "/tmp/fuzz-nodes.%d", (int)getpid());
	if (mkdir(cfg.node_dir, 0700) && errno != EEXIST) {
		fprintf(stderr, "fuzz: mkdir %s: %s\n", cfg.node_dir, strerror(errno));
		exit(2);
	}
	for (i = 0; i < NSLOTS; i++) {
		snprintf(name, sizeof(name), "slot%u", slot_minors[i]);
		make_node(cfg.slot_path[i], sizeof(cfg.slot_path[i]), name, slot_minors[i]);
	}
	/* The NP-Heap half is active only if the driver created /dev/npheap. */
	cfg.npheap = stat("/dev/npheap", &st) == 0 && S_ISCHR(st.st_mode) &&
		     major(st.st_rdev) == MAJOR_NUM && minor(st.st_rdev) == NPHEAP_MINOR_BASE;
	if (cfg.npheap) {
		snprintf(cfg.heap_path[0], sizeof(cfg.heap_path[0]), "/dev/npheap");
		for (i = 1; i < NHEAPS; i++) {
			unsigned int minor = NPHEAP_MINOR_BASE + (i == 1 ? 1 : NPHEAP_MINORS - 1);

			snprintf(name, sizeof(name), "heap%u", minor - NPHEAP_MINOR_BASE);
			make_node(cfg.heap_path[i], sizeof(cfg.heap_path[i]), name, minor);
		}
	}
	cfg.censor_period = 3;
	f = fopen("/sys/module/message_slot/parameters/censor_period", "r");
	if (f) {
		if (fscanf(f, "%u", &cfg.censor_period) != 1 || !cfg.censor_period)
			cfg.censor_period = 3;
		fclose(f);
	}
}

static void cleanup_nodes(void)
{
	int i;

	for (i = 0; i < NSLOTS; i++)
		unlink(cfg.slot_path[i]);
	for (i = 1; cfg.npheap && i < NHEAPS; i++)
		unlink(cfg.heap_path[i]);
	rmdir(cfg.node_dir);
}

/* Every private channel of every child, read by this (fresh) process. */
static void final_check_slots(void)
{
	uint8_t buf[MAX_MSG + 16];
	int c, s, k, fd;

	for (s = 0; s < NSLOTS; s++) {
		fd = open(cfg.slot_path[s], O_RDWR);
		if (fd < 0) {
			parent_violation("open %s: %s", cfg.slot_path[s], strerror(errno));
			continue;
		}
		for (c = 0; c < cfg.procs; c++) {
			if (!reports[c].finished)
				continue;
			for (k = 0; k < NPRIV_CH; k++) {
				uint32_t id = private_id(c, k);
				size_t want = reports[c].msg_len[s][k];
				ssize_t n;

				if (ioctl(fd, MSG_SLOT_CHANNEL, id)) {
					parent_violation("ioctl(%s, %u): %s", cfg.slot_path[s], id,
							 strerror(errno));
					continue;
				}
				errno = 0;
				n = read(fd, buf, sizeof(buf));
				if (!want && !(n == -1 && errno == EWOULDBLOCK))
					parent_violation("%s channel %u of exited proc %d: got %s, "
							 "want EWOULDBLOCK", cfg.slot_path[s], id, c,
							 gotstr(n, errno));
				else if (want && (n != (ssize_t)want ||
						  memcmp(buf, reports[c].msg[s][k], want)))
					parent_violation("%s channel %u of exited proc %d: got %s, "
							 "want its last %zu-byte message",
							 cfg.slot_path[s], id, c, gotstr(n, errno), want);
			}
		}
		for (k = 0; k < NSHARED_CH; k++) {
			ssize_t n;

			if (ioctl(fd, MSG_SLOT_CHANNEL, shared_ids[k]))
				continue;
			n = read(fd, buf, sizeof(buf));
			if (n > 0 && !valid_shared_msg(buf, n))
				parent_violation("%s shared channel %u holds a torn message",
						 cfg.slot_path[s], shared_ids[k]);
		}
		close(fd);
	}
}

/* Every private object of every child, mapped by this (fresh) process. */
static void final_check_heaps(void)
{
	int c, h, k, fd;

	for (h = 0; h < NHEAPS; h++) {
		fd = open(cfg.heap_path[h], O_RDWR);
		if (fd < 0) {
			parent_violation("open %s: %s", cfg.heap_path[h], strerror(errno));
			continue;
		}
		for (c = 0; c < cfg.procs; c++) {
			if (!reports[c].finished)
				continue;
			for (k = 0; k < NPRIV_OBJ; k++) {
				unsigned long id = private_obj_id(c, k);
				struct npheap_cmd cmd = { .offset = id * cfg.page };
				uint64_t want = reports[c].obj_size[h][k];
				long size = ioctl(fd, NPHEAP_IOCTL_GETSIZE, &cmd);
				uint8_t *p;

				if (size != (long)want) {
					parent_violation("%s id %lu of exited proc %d: size %ld, "
							 "want %" PRIu64, cfg.heap_path[h], id, c,
							 size, want);
					continue;
				}
				if (!want)
					continue;
				p = mmap(NULL, want, PROT_READ, MAP_SHARED, fd,
					 (off_t)(id * cfg.page));
				if (p == MAP_FAILED) {
					parent_violation("mmap %s id %lu: %s", cfg.heap_path[h],
							 id, strerror(errno));
					continue;
				}
				if (fnv64(p, want) != reports[c].obj_hash[h][k])
					parent_violation("%s id %lu of exited proc %d: contents "
							 "differ from its last writes",
							 cfg.heap_path[h], id, c);
				munmap(p, want);
			}
		}
		close(fd);
	}
}

#define STALL_SECONDS	60

static pid_t children[MAX_PROCS];
static uint64_t last_calls[MAX_PROCS];
static double last_progress[MAX_PROCS];

static void usage(void)
{
	fprintf(stderr, "usage: fuzz [--seed S] [--ops N] [--procs P] [--seconds T] "
			"[--min-ops M] [--name LABEL] [--handover H]\n");
	exit(2);
}

static uint64_t parse_u64(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || !*s)
		usage();
	return v;
}

int main(int argc, char **argv)
{
	uint64_t total_ops = 0, total_calls = 0, child_violations = 0;
	char label[64], why[300] = "";
	double start, deadline, elapsed;
	int i, status, running;
	bool failed = false, hung = false;

	cfg.seed = 1;
	cfg.ops = 100000;
	cfg.procs = 4;
	cfg.seconds = 120;
	cfg.handover = 1;
	for (i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			usage();
		if (!strcmp(argv[i], "--seed"))
			cfg.seed = parse_u64(argv[++i]);
		else if (!strcmp(argv[i], "--ops"))
			cfg.ops = parse_u64(argv[++i]);
		else if (!strcmp(argv[i], "--procs"))
			cfg.procs = (int)parse_u64(argv[++i]);
		else if (!strcmp(argv[i], "--seconds"))
			cfg.seconds = (int)parse_u64(argv[++i]);
		else if (!strcmp(argv[i], "--min-ops"))
			cfg.min_ops = parse_u64(argv[++i]);
		else if (!strcmp(argv[i], "--name"))
			cfg.name = argv[++i];
		else if (!strcmp(argv[i], "--handover"))
			cfg.handover = (int)parse_u64(argv[++i]);
		else
			usage();
	}
	if (cfg.procs < 1 || cfg.procs > MAX_PROCS || cfg.seconds < 1)
		usage();
	if (cfg.name)
		snprintf(label, sizeof(label), "%s", cfg.name);
	else
		snprintf(label, sizeof(label), "seed-%" PRIu64, cfg.seed);
	cfg.page = (size_t)sysconf(_SC_PAGESIZE);

	reports = mmap(NULL, sizeof(*reports) * cfg.procs, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (reports == MAP_FAILED) {
		perror("fuzz: mmap reports");
		return 2;
	}
	setup_nodes();
	out_line("# fuzz: seed=%" PRIu64 " ops=%" PRIu64 " procs=%d seconds=%d censor_period=%u "
		 "families=message-slot%s", cfg.seed, cfg.ops, cfg.procs, cfg.seconds,
		 cfg.censor_period, cfg.npheap ? ",npheap" : " (no /dev/npheap: npheap ops off)");
	out_line("# fuzz: replay: fuzz --seed %" PRIu64 " --ops %" PRIu64 " --procs %d",
		 cfg.seed, cfg.ops, cfg.procs);

	start = now_seconds();
	deadline = start + cfg.seconds;
	for (i = 0; i < cfg.procs; i++) {
		uint64_t share = cfg.ops / cfg.procs + (i < (int)(cfg.ops % cfg.procs));

		children[i] = fork();
		if (children[i] < 0) {
			perror("fuzz: fork");
			return 2;
		}
		if (children[i] == 0)
			child_main(i, share, deadline);
	}

	/*
	 * Supervise: a process whose calls stop advancing for STALL_SECONDS
	 * is stuck in the driver (a lost wake-up, a lock never released).
	 * Report where, kill everyone and stop waiting: a task stuck in an
	 * uninterruptible wait cannot be reaped.
	 */
	for (i = 0; i < cfg.procs; i++) {
		last_calls[i] = 0;
		last_progress[i] = start;
	}
	for (running = cfg.procs; running > 0;) {
		pid_t pid = waitpid(-1, &status, WNOHANG);
		double now = now_seconds();
		int stuck = -1;

		if (pid < 0)
			break;
		if (pid == 0) {
			for (i = 0; i < cfg.procs; i++) {
				if (!children[i])
					continue;
				if (reports[i].calls != last_calls[i]) {
					last_calls[i] = reports[i].calls;
					last_progress[i] = now;
				} else if (now - last_progress[i] > STALL_SECONDS && stuck < 0) {
					stuck = i;
				}
			}
			if (stuck < 0 && now < deadline + STALL_SECONDS) {
				usleep(200 * 1000);
				continue;
			}
			for (i = 0; stuck < 0 && i < cfg.procs; i++)
				if (children[i])
					stuck = i;
			out_line("# fuzz: proc %d made no progress for %d s (deadline %s); "
				 "it is in: %s", stuck, STALL_SECONDS,
				 now < deadline ? "not reached" : "passed", reports[stuck].current);
			snprintf(why, sizeof(why), "hang: proc %d stuck for %d s in %.150s", stuck,
				 STALL_SECONDS, reports[stuck].current);
			failed = hung = true;
			for (i = 0; i < cfg.procs; i++)
				if (children[i])
					kill(children[i], SIGKILL);
			break;
		}
		for (i = 0; i < cfg.procs; i++)
			if (children[i] == pid) {
				children[i] = 0;
				running--;
				if (WIFSIGNALED(status)) {
					out_line("# fuzz: proc %d killed by signal %d", i,
						 WTERMSIG(status));
					if (!why[0])
						snprintf(why, sizeof(why), "proc %d killed by signal %d",
							 i, WTERMSIG(status));
					failed = true;
				}
			}
	}
	elapsed = now_seconds() - start;

	for (i = 0; i < cfg.procs; i++) {
		print_child_lines(&reports[i]);
		total_ops += reports[i].ops;
		total_calls += reports[i].calls;
		child_violations += reports[i].violations;
	}
	if (!hung) {
		final_check_slots();
		if (cfg.npheap)
			final_check_heaps();
	}
	cleanup_nodes();

	out_line("# fuzz: seed=%" PRIu64 " procs=%d: %" PRIu64 " ops (%" PRIu64 " checked calls) "
		 "in %.1f s (%.0f ops/s), %" PRIu64 " violations", cfg.seed, cfg.procs, total_ops,
		 total_calls, elapsed, total_ops / (elapsed > 0 ? elapsed : 1),
		 child_violations + parent_violations);
	if (child_violations + parent_violations && !why[0])
		snprintf(why, sizeof(why), "%" PRIu64 " contract violations (replay: fuzz --seed %"
			 PRIu64 " --ops %" PRIu64 " --procs %d)",
			 child_violations + parent_violations, cfg.seed, cfg.ops, cfg.procs);
	if (child_violations + parent_violations)
		failed = true;
	if (!failed && total_ops < cfg.min_ops) {
		snprintf(why, sizeof(why), "only %" PRIu64 " ops in %d s, need %" PRIu64,
			 total_ops, cfg.seconds, cfg.min_ops);
		failed = true;
	}
	for (i = 0; i < cfg.procs && !failed; i++)
		if (!reports[i].finished) {
			snprintf(why, sizeof(why), "proc %d did not finish", i);
			failed = true;
		}
	if (failed)
		out_line("not ok fuzz/%s - %s", label, why);
	else
		out_line("ok fuzz/%s", label);
	return failed ? 1 : 0;
}
