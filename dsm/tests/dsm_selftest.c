// SPDX-License-Identifier: GPL-2.0
/* dsm library tests.  Each test forks two processes (FIRST and SECOND host,
 * optionally in two network namespaces) and prints one kselftest-style line:
 *     ok dsm/<prefix><name>      or      not ok dsm/<prefix><name> - <reason>
 * Exit status is non-zero if any test failed.
 *
 *   dsm_selftest [--host H] [--ns NS_FIRST NS_SECOND] [--prefix P] [--seed N]
 *                [--ops N] [--only NAME]... [--list]
 */
#define _GNU_SOURCE
#include "dsm.h"
#include "dsm_wire.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ framework */

static const char *g_host = "127.0.0.1"; /* where SECOND finds FIRST */
static const char *g_ns[2];
static const char *g_prefix = "";
static uint64_t g_seed;
static int g_ops = 5000;
static int g_role; /* 0: FIRST process, 1: SECOND process */

#define PAGE 4096u
#define CO_PAGES 4
#define CO_THREADS 2
#define CO_W (2 * CO_THREADS)
#define CO_SLOTS 4
#define CO_MAXOPS 20000

enum { OP_INC = 1, OP_LOAD, OP_STORE, OP_LOAD_SLOT, OP_FILL };

struct co_rec {
	uint64_t t0, t1, val;
	uint8_t kind, page, target, slot, bus;
};

struct shm {
	atomic_uint port;
	atomic_int phase[2];
	atomic_int kill_req; /* role+1 the parent should SIGKILL */
	atomic_int killed;
	atomic_int go; /* fresh-page-races: start gate for all threads of both hosts */
	char why[2][700];
	char info[2][400];
	char note[600]; /* connections the real first dropped while pairing */
	uint64_t u[2][16];
	int nops[CO_W];
	struct co_rec rec[CO_W][CO_MAXOPS];
	unsigned char final[2][CO_PAGES][PAGE];
};
static struct shm *sh;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

__attribute__((format(printf, 1, 2), noreturn)) static void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(sh->why[g_role], sizeof sh->why[g_role], fmt, ap);
	va_end(ap);
	atomic_store(&sh->phase[g_role], -1000);
	_exit(1);
}

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fail(__VA_ARGS__);                                                         \
	} while (0)

__attribute__((format(printf, 1, 2))) static void info(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(sh->info[g_role], sizeof sh->info[g_role], fmt, ap);
	va_end(ap);
}

static void barrier(int n)
{
	atomic_store(&sh->phase[g_role], n);
	uint64_t dl = now_ns() + 30000000000ull;
	for (;;) {
		int o = atomic_load(&sh->phase[1 - g_role]);
		if (o >= n)
			return;
		if (o < 0)
			fail("the other host's process failed (barrier %d)", n);
		if (now_ns() > dl)
			fail("barrier %d timed out", n);
		usleep(100);
	}
}

static void wait_until(bool (*pred)(void *), void *arg, unsigned ms, const char *what)
{
	uint64_t dl = now_ns() + (uint64_t)ms * 1000000ull;
	while (!pred(arg)) {
		if (now_ns() > dl)
			fail("timed out after %u ms waiting for %s", ms, what);
		usleep(1000);
	}
}

static _Thread_local sigjmp_buf *tl_jmp;

static void on_sigbus(int sig, siginfo_t *si, void *ctx)
{
	(void)si;
	(void)ctx;
	if (tl_jmp)
		siglongjmp(*tl_jmp, 1);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Accessors that turn SIGBUS (page unavailable) into a return value. */
static int try_read(uint64_t *out, const uint64_t *p)
{
	sigjmp_buf jb;
	tl_jmp = &jb;
	if (sigsetjmp(jb, 1)) {
		tl_jmp = NULL;
		return -1;
	}
	*out = __atomic_load_n(p, __ATOMIC_SEQ_CST);
	tl_jmp = NULL;
	return 0;
}

static int try_write(uint64_t *p, uint64_t v)
{
	sigjmp_buf jb;
	tl_jmp = &jb;
	if (sigsetjmp(jb, 1)) {
		tl_jmp = NULL;
		return -1;
	}
	__atomic_store_n(p, v, __ATOMIC_SEQ_CST);
	tl_jmp = NULL;
	return 0;
}

static int try_copy(void *dst, const void *src, size_t n)
{
	sigjmp_buf jb;
	tl_jmp = &jb;
	if (sigsetjmp(jb, 1)) {
		tl_jmp = NULL;
		return -1;
	}
	memcpy(dst, src, n);
	tl_jmp = NULL;
	return 0;
}

static void enter_ns(int idx)
{
	if (!g_ns[idx])
		return;
	char path[300];
	snprintf(path, sizeof path, "/run/netns/%s", g_ns[idx]);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0, "open %s: %s", path, strerror(errno));
	CHECK(setns(fd, CLONE_NEWNET) == 0, "setns %s: %s", path, strerror(errno));
	close(fd);
}

static bool port_published(void *a)
{
	(void)a;
	return atomic_load(&sh->port) != 0;
}

static struct dsm_options test_opts(void)
{
	struct dsm_options o;
	dsm_options_init(&o);
	o.io_timeout_ms = 2000;
	o.request_timeout_ms = 5000;
	o.accept_timeout_ms = 20000;
	return o;
}

/* The second role's dsm_open to the port the other process published. */
static dsm_t *open_second(struct dsm_options *o)
{
	char port[16], err[400];
	dsm_t *d;

	wait_until(port_published, NULL, 20000, "the peer's port");
	snprintf(port, sizeof port, "%u", atomic_load(&sh->port));
	o->role = DSM_ROLE_SECOND;
	d = dsm_open(NULL, g_host, port, o, err, sizeof err);
	CHECK(d, "dsm_open(second -> %s:%s): %s", g_host, port, err);
	return d;
}

static dsm_t *pair_open(struct dsm_options *o, size_t npages, void *addr, char **region)
{
	char err[400];
	dsm_t *d;
	if (g_role == 0) {
		o->role = DSM_ROLE_FIRST;
		d = dsm_open("0", NULL, NULL, o, err, sizeof err);
		CHECK(d, "dsm_open(first): %s", err);
		atomic_store(&sh->port, dsm_listen_port(d));
		*region = dsm_map(d, npages, addr);
		CHECK(*region, "dsm_map(first): %s", dsm_error(d));
	} else {
		d = open_second(o);
		*region = dsm_map(d, 0, NULL);
		CHECK(*region, "dsm_map(second): %s", dsm_error(d));
		CHECK(dsm_npages(d) == npages, "second got %zu pages, expected %zu", dsm_npages(d), npages);
	}
	return d;
}

static void expect_state(dsm_t *d, size_t page, char want, const char *when)
{
	char s = dsm_page_state(d, page);
	CHECK(s == want, "%s host, page %zu %s: state %c, expected %c", g_role ? "second" : "first", page,
	      when, s, want);
}

static bool status_not_connected(void *a)
{
	return dsm_peer_status((dsm_t *)a) != DSM_PEER_CONNECTED;
}

typedef void (*role_fn)(void);

static int g_failed, g_passed;
static const char **g_only;
static int g_nonly;

static bool selected(const char *name)
{
	if (!g_nonly)
		return true;
	for (int i = 0; i < g_nonly; i++)
		if (strcmp(g_only[i], name) == 0)
			return true;
	return false;
}

static void report(const char *name, bool ok, const char *why)
{
	if (ok) {
		printf("ok dsm/%s%s\n", g_prefix, name);
		g_passed++;
	} else {
		printf("not ok dsm/%s%s - %s\n", g_prefix, name, why);
		g_failed++;
	}
	fflush(stdout);
}

typedef bool (*check_fn)(char *why, size_t wl);

/* Runs fn0 as FIRST and fn1 as SECOND; `check` (optional) runs in the parent
 * afterwards on the shared results. */
static void run_test(const char *name, role_fn fn0, role_fn fn1, unsigned timeout_s, check_fn check)
{
	if (!selected(name))
		return;
	memset(sh, 0, offsetof(struct shm, rec));
	memset(sh->final, 0, sizeof sh->final);
	fflush(stdout);
	pid_t pid[2];
	role_fn fns[2] = {fn0, fn1};
	for (int r = 0; r < 2; r++) {
		pid[r] = fork();
		if (pid[r] == 0) {
			g_role = r;
			alarm(timeout_s + 5); /* last resort if the parent dies */
			enter_ns(r);
			/* cppcheck-suppress uninitvar ; fns is initialised above (false positive) */
			fns[r]();
			exit(0);
		}
	}
	int status[2] = {-1, -1};
	bool done[2] = {false, false}, killed_by_us[2] = {false, false}, timed_out = false;
	uint64_t dl = now_ns() + (uint64_t)timeout_s * 1000000000ull;
	while (!done[0] || !done[1]) {
		int kr = atomic_load(&sh->kill_req);
		if (kr && !killed_by_us[kr - 1] && !done[kr - 1]) {
			kill(pid[kr - 1], SIGKILL);
			killed_by_us[kr - 1] = true;
		}
		for (int r = 0; r < 2; r++) {
			if (!done[r] && waitpid(pid[r], &status[r], WNOHANG) == pid[r]) {
				done[r] = true;
				if (killed_by_us[r])
					atomic_store(&sh->killed, r + 1);
			}
		}
		if (now_ns() > dl && !timed_out) {
			timed_out = true;
			for (int r = 0; r < 2; r++)
				if (!done[r])
					kill(pid[r], SIGKILL);
		}
		usleep(2000);
	}
	char why[800] = "";
	/* Report the process that failed first, not the one that saw it fail. */
	int order[2] = {0, 1};
	if (strstr(sh->why[0], "the other host's process failed"))
		order[0] = 1, order[1] = 0;
	for (int oi = 0; oi < 2 && !why[0]; oi++) {
		int r = order[oi];
		const char *who = r ? "second" : "first";
		if (killed_by_us[r] && WIFSIGNALED(status[r]) && WTERMSIG(status[r]) == SIGKILL)
			continue;
		if (timed_out && WIFSIGNALED(status[r]) && WTERMSIG(status[r]) == SIGKILL)
			snprintf(why, sizeof why, "%s host timed out after %u s%s%s", who, timeout_s,
				 sh->why[r][0] ? ": " : "", sh->why[r]);
		else if (WIFSIGNALED(status[r]))
			snprintf(why, sizeof why, "%s host died from signal %d", who, WTERMSIG(status[r]));
		else if (WEXITSTATUS(status[r]) != 0)
			snprintf(why, sizeof why, "%s host: %s", who, sh->why[r][0] ? sh->why[r] : "exit status");
	}
	if (!why[0] && check)
		check(why, sizeof why);
	for (int r = 0; r < 2; r++)
		if (sh->info[r][0])
			printf("# %s: %s\n", name, sh->info[r]);
	report(name, why[0] == '\0', why);
}

/* Busy-waits a little so the two hosts' accesses really interleave. */
static void think(uint64_t max_ns, uint64_t r)
{
	uint64_t until = now_ns() + r % max_ns;
	while (now_ns() < until)
		;
}

/* ----------------------------------------------------- basic transitions */

static atomic_int g_remote_faults;

static void count_remote_fault(void *arg, size_t page, enum dsm_fault_kind kind)
{
	(void)arg;
	(void)page;
	(void)kind;
	atomic_fetch_add(&g_remote_faults, 1);
}

static void msi_first(void)
{
	struct dsm_options o = test_opts();
	o.on_remote_fault = count_remote_fault;
	char *m;
	dsm_t *d = pair_open(&o, 4, NULL, &m);
	for (size_t i = 0; i < 4; i++)
		expect_state(d, i, 'I', "after pairing");
	/* A fresh page: the read asks the peer, which has nothing either (zeros). */
	int asked = atomic_load(&g_remote_faults);
	CHECK(m[3 * PAGE + 7] == 0, "fresh page 3 is not zero");
	CHECK(atomic_load(&g_remote_faults) == asked + 1, "first read of fresh page 3 did not ask the peer");
	expect_state(d, 3, 'S', "after reading it");
	barrier(1);
	strcpy(m, "first wrote page 0"); /* I -> M: the peer has nothing to send */
	expect_state(d, 0, 'M', "after local write");
	barrier(2);
	barrier(3); /* second read page 0 */
	expect_state(d, 0, 'S', "after the peer read it");
	barrier(4);
	barrier(5); /* second wrote page 0 */
	expect_state(d, 0, 'I', "after the peer wrote it");
	CHECK(strcmp(m, "second overwrote page 0") == 0, "first reads '%.40s' from page 0", m);
	expect_state(d, 0, 'S', "after fetching it");
	strcpy(m + PAGE, "page 1 via sync");
	expect_state(d, 1, 'M', "after local write");
	CHECK(dsm_sync(d) == 0, "dsm_sync: %s", dsm_error(d));
	expect_state(d, 1, 'S', "after dsm_sync");
	barrier(6);
	barrier(7);
	/* A write from an Invalid page must fetch the data with exclusivity. */
	expect_state(d, 2, 'I', "after the peer wrote it");
	m[2 * PAGE + 5] = 'X';
	CHECK(memcmp(m + 2 * PAGE, "abcdeXghij", 10) == 0, "page 2 after write from I: '%.10s'", m + 2 * PAGE);
	expect_state(d, 2, 'M', "after write from I");
	barrier(8);
	struct dsm_stats st;
	dsm_get_stats(d, &st);
	info("first: %" PRIu64 " remote faults, %" PRIu64 " served, %" PRIu64 " pushed", st.remote_faults,
	     st.requests_served, st.pushes);
	barrier(9);
	CHECK(dsm_close(d) == 0, "dsm_close failed");
}

static void msi_second(void)
{
	struct dsm_options o = test_opts();
	char *m;
	dsm_t *d = pair_open(&o, 4, NULL, &m);
	barrier(1);
	expect_state(d, 3, 'I', "after the peer read it (fresh)");
	CHECK(m[3 * PAGE + 9] == 0, "fresh page 3 read by the peer is not zero here");
	expect_state(d, 3, 'S', "after reading it");
	barrier(2);
	expect_state(d, 0, 'I', "after the peer wrote it");
	CHECK(strcmp(m, "first wrote page 0") == 0, "second reads '%.40s' from page 0", m);
	expect_state(d, 0, 'S', "after fetching it");
	barrier(3);
	barrier(4);
	strcpy(m, "second overwrote page 0");
	expect_state(d, 0, 'M', "after local write");
	barrier(5);
	barrier(6); /* first pushed page 1 */
	expect_state(d, 1, 'S', "after the peer's dsm_sync");
	struct dsm_stats a, b;
	dsm_get_stats(d, &a);
	CHECK(strcmp(m + PAGE, "page 1 via sync") == 0, "pushed page 1 reads '%.40s'", m + PAGE);
	dsm_get_stats(d, &b);
	CHECK(a.remote_faults == b.remote_faults, "reading a pushed page needed the peer");
	memcpy(m + 2 * PAGE, "abcdefghij", 10);
	barrier(7);
	barrier(8);
	expect_state(d, 2, 'I', "after the peer wrote it");
	CHECK(memcmp(m + 2 * PAGE, "abcdeXghij", 10) == 0, "page 2 reads '%.10s'", m + 2 * PAGE);
	barrier(9);
	CHECK(dsm_close(d) == 0, "dsm_close failed");
}

/* --------------------------------------------------- same-page writers */

#define SP_ITERS 3000

struct sp_arg {
	uint64_t *page;
	int writer;
};

static void *sp_thread(void *a)
{
	struct sp_arg *sa = a;
	volatile uint64_t *words = sa->page;
	uint64_t seen[4] = {0}, last_count = 0;
	for (uint64_t i = 1; i <= SP_ITERS; i++) {
		/* Ordinary store to our own word plus a shared atomic counter:
		 * both hosts write the same page all the time... */
		words[1 + sa->writer] = i;
		uint64_t c = __atomic_fetch_add((uint64_t *)&words[0], 1, __ATOMIC_SEQ_CST);
		/* ...and read the others' words, which may only ever grow. */
		int other = (int)((i + (uint64_t)sa->writer) % 4);
		uint64_t v = words[1 + other];
		if (c < last_count || v < seen[other] || (other == sa->writer && v != i)) {
			snprintf(sh->info[g_role], sizeof sh->info[g_role],
				 "writer %d: went backwards at iteration %" PRIu64 " (counter %" PRIu64 " after %" PRIu64
				 ", word %d %" PRIu64 " after %" PRIu64 ")", sa->writer, i, c, last_count, other, v, seen[other]);
			sa->writer = -1;
			return NULL;
		}
		last_count = c + 1;
		seen[other] = v;
		think(20000, i * 0x9e3779b97f4a7c15ull >> 7);
	}
	return NULL;
}

static void same_page_role(void)
{
	struct dsm_options o = test_opts();
	char *m;
	dsm_t *d = pair_open(&o, 1, NULL, &m);
	barrier(1);
	pthread_t th[2];
	struct sp_arg args[2];
	for (int t = 0; t < 2; t++) {
		args[t] = (struct sp_arg){(uint64_t *)m, g_role * 2 + t};
		pthread_create(&th[t], NULL, sp_thread, &args[t]);
	}
	for (int t = 0; t < 2; t++)
		pthread_join(th[t], NULL);
	for (int t = 0; t < 2; t++)
		CHECK(args[t].writer >= 0, "%s", sh->info[g_role]);
	barrier(2);
	uint64_t *w = (uint64_t *)m;
	CHECK(w[0] == 4 * SP_ITERS, "shared counter is %" PRIu64 ", expected %u (lost increments)", w[0],
	      4 * SP_ITERS);
	for (int k = 0; k < 4; k++)
		CHECK(w[1 + k] == SP_ITERS, "writer %d's word is %" PRIu64 ", expected %u (lost store)", k,
		      w[1 + k], SP_ITERS);
	struct dsm_stats st;
	dsm_get_stats(d, &st);
	info("%s: %u stores + %u increments per host, %" PRIu64 " remote faults, %" PRIu64
	     " requests deferred",
	     g_role ? "second" : "first", 2 * SP_ITERS, 2 * SP_ITERS, st.remote_faults, st.deferred);
	barrier(3);
	CHECK(dsm_close(d) == 0, "dsm_close failed");
}

/* ---------------------------------------------------- random coherence */

struct co_page {
	uint64_t counter;
	uint64_t slot[CO_W][CO_SLOTS];
	unsigned char pad[1024 - 8 - 8 * CO_W * CO_SLOTS];
	unsigned char fill[CO_W][512];
};
_Static_assert(sizeof(struct co_page) <= PAGE, "coherence page layout");

static uint64_t rnd_next(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

struct co_arg {
	char *base;
	dsm_t *d;
	int writer, nops;
	bool stop_after_loss; /* peer-kill test: finish shortly after the loss */
};

/* One recorded operation; SIGBUS (page unavailable) is recorded, not fatal. */
static __attribute__((noinline)) void co_op(struct co_rec *rec, struct co_page *pg, uint64_t r, int writer,
					    uint64_t *seq, uint64_t *fillseq)
{
	int pct = (int)((r >> 8) % 100);
	sigjmp_buf jb;
	tl_jmp = &jb;
	if (sigsetjmp(jb, 1)) {
		rec->bus = 1;
	} else if (pct < 30) {
		rec->kind = OP_INC;
		rec->val = __atomic_fetch_add(&pg->counter, 1, __ATOMIC_SEQ_CST);
	} else if (pct < 55) {
		rec->kind = OP_LOAD;
		rec->val = __atomic_load_n(&pg->counter, __ATOMIC_SEQ_CST);
	} else if (pct < 75) {
		rec->kind = OP_STORE;
		rec->slot = (uint8_t)((r >> 16) % CO_SLOTS);
		rec->target = (uint8_t)writer;
		rec->val = ++*seq;
		__atomic_store_n(&pg->slot[writer][rec->slot], rec->val, __ATOMIC_RELAXED);
	} else if (pct < 95) {
		rec->kind = OP_LOAD_SLOT;
		rec->slot = (uint8_t)((r >> 16) % CO_SLOTS);
		rec->target = (uint8_t)((r >> 24) % CO_W);
		rec->val = __atomic_load_n(&pg->slot[rec->target][rec->slot], __ATOMIC_RELAXED);
	} else {
		rec->kind = OP_FILL;
		rec->val = (++*fillseq % 255) + 1;
		memset(pg->fill[writer], (int)rec->val, sizeof pg->fill[0]);
	}
	tl_jmp = NULL;
}

static void *co_thread(void *a)
{
	struct co_arg *ca = a;
	uint64_t rs = g_seed ^ ((uint64_t)(ca->writer + 1) * 0x9e3779b97f4a7c15ull);
	if (!rs)
		rs = 1;
	uint64_t seq = 0, fillseq = 0;
	int after_loss = 0;
	long n = 0;
	struct co_rec *recs = sh->rec[ca->writer];
	/* nops < 0: run until the peer is lost (history kept as a ring) */
	for (long i = 0; ca->nops < 0 || i < ca->nops; i++) {
		if (dsm_peer_status(ca->d) != DSM_PEER_CONNECTED &&
		    (!ca->stop_after_loss || ++after_loss > 200))
			break;
		uint64_t r = rnd_next(&rs);
		int page = (int)(r % CO_PAGES);
		struct co_rec *rec = &recs[n++ % CO_MAXOPS];
		memset(rec, 0, sizeof *rec);
		rec->page = (uint8_t)page;
		rec->t0 = now_ns();
		co_op(rec, (struct co_page *)(ca->base + (size_t)page * PAGE), r, ca->writer, &seq, &fillseq);
		rec->t1 = now_ns();
		think(40000, r >> 32);
	}
	sh->nops[ca->writer] = n < CO_MAXOPS ? (int)n : CO_MAXOPS;
	return NULL;
}

static void run_workers(char *m, dsm_t *d, bool stop_after_loss)
{
	pthread_t th[CO_THREADS];
	struct co_arg args[CO_THREADS];
	for (int t = 0; t < CO_THREADS; t++) {
		args[t] = (struct co_arg){m, d, g_role * CO_THREADS + t, g_ops, stop_after_loss};
		pthread_create(&th[t], NULL, co_thread, &args[t]);
	}
	for (int t = 0; t < CO_THREADS; t++)
		pthread_join(th[t], NULL);
}

static unsigned g_hold_us = 20; /* short hold: pages change hands as often as possible */

static void coherence_role(void)
{
	struct dsm_options o = test_opts();
	o.hold_us = g_hold_us;
	char *m;
	dsm_t *d = pair_open(&o, CO_PAGES, NULL, &m);
	barrier(1);
	uint64_t t0 = now_ns();
	run_workers(m, d, false);
	uint64_t t1 = now_ns();
	barrier(2);
	/* Final contents as this host sees them (fetched through the protocol). */
	for (int p = 0; p < CO_PAGES; p++)
		CHECK(try_copy(sh->final[g_role][p], m + (size_t)p * PAGE, PAGE) == 0, "final read of page %d: SIGBUS (%s)", p,
		      dsm_error(d));
	CHECK(dsm_peer_status(d) == DSM_PEER_CONNECTED, "session ended during the run: %s", dsm_error(d));
	struct dsm_stats st;
	dsm_get_stats(d, &st);
	sh->u[g_role][0] = st.remote_faults;
	sh->u[g_role][1] = st.deferred;
	sh->u[g_role][2] = t1 - t0;
	sh->u[g_role][3] = st.pages_sent;
	barrier(3);
	CHECK(dsm_close(d) == 0, "dsm_close failed");
}

struct ev {
	uint64_t t0, t1, observed, known; /* value seen, value known to exist at t1 */
	int writer;
	bool is_write;
};

static int cmp_t1(const void *a, const void *b)
{
	const struct ev *x = a, *y = b;
	return x->t1 < y->t1 ? -1 : x->t1 > y->t1;
}

/* Linearizability of one register whose values only grow (a counter, or a
 * slot written by one thread with increasing values): every access observes
 * at least the largest value known to exist when it started, and no more
 * than the largest value some write had started to produce when it ended. */
static bool check_register(struct ev *evs, size_t n, const char *what, char *why, size_t wl)
{
	if (!n)
		return true;
	struct ev *byend = malloc(n * sizeof *byend);
	uint64_t *maxknown = malloc(n * sizeof *maxknown);
	uint64_t *wstart = malloc(n * sizeof *wstart), *wval = malloc(n * sizeof *wval);
	size_t nw = 0;
	memcpy(byend, evs, n * sizeof *byend);
	qsort(byend, n, sizeof *byend, cmp_t1);
	for (size_t i = 0; i < n; i++)
		maxknown[i] = (i ? maxknown[i - 1] : 0) > byend[i].known ? maxknown[i - 1] : byend[i].known;
	/* writes sorted by start time with running max of produced value */
	for (size_t i = 0; i < n; i++)
		if (evs[i].is_write) {
			wstart[nw] = evs[i].t0;
			wval[nw++] = evs[i].known;
		}
	for (size_t i = 1; i < nw; i++) /* insertion sort by start: writes per register are few */
		for (size_t j = i; j > 0 && wstart[j - 1] > wstart[j]; j--) {
			uint64_t t = wstart[j];
			wstart[j] = wstart[j - 1];
			wstart[j - 1] = t;
			t = wval[j];
			wval[j] = wval[j - 1];
			wval[j - 1] = t;
		}
	for (size_t i = 1; i < nw; i++)
		if (wval[i] < wval[i - 1])
			wval[i] = wval[i - 1];
	bool ok = true;
	for (size_t i = 0; i < n && ok; i++) {
		const struct ev *e = &evs[i];
		/* largest value known before e started */
		size_t lo = 0, hi = n;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (byend[mid].t1 < e->t0)
				lo = mid + 1;
			else
				hi = mid;
		}
		uint64_t floor_v = lo ? maxknown[lo - 1] : 0;
		if (e->observed < floor_v) {
			snprintf(why, wl, "%s: writer %d observed %" PRIu64 " but %" PRIu64
				 " was already visible when its access started (stale read / lost write)",
				 what, e->writer, e->observed, floor_v);
			ok = false;
			break;
		}
		if (!e->is_write) {
			lo = 0;
			hi = nw;
			while (lo < hi) {
				size_t mid = (lo + hi) / 2;
				if (wstart[mid] < e->t1)
					lo = mid + 1;
				else
					hi = mid;
			}
			uint64_t ceil_v = lo ? wval[lo - 1] : 0;
			if (e->observed > ceil_v) {
				snprintf(why, wl, "%s: writer %d read %" PRIu64 " before any write of it had started",
					 what, e->writer, e->observed);
				ok = false;
			}
		}
	}
	free(byend);
	free(maxknown);
	free(wstart);
	free(wval);
	return ok;
}

static bool coherence_check(char *why, size_t wl)
{
	size_t cap = (size_t)CO_W * CO_MAXOPS;
	struct ev *evs = malloc(cap * sizeof *evs);
	uint64_t counts[6] = {0}, total = 0;
	bool ok = true;
	for (int w = 0; w < CO_W && ok; w++)
		for (int i = 0; i < sh->nops[w]; i++) {
			if (sh->rec[w][i].bus) {
				snprintf(why, wl, "writer %d op %d got SIGBUS with the peer alive", w, i);
				ok = false;
				break;
			}
			counts[sh->rec[w][i].kind]++;
			total++;
		}
	for (int p = 0; p < CO_PAGES && ok; p++) {
		const struct co_page *f0 = (const void *)sh->final[0][p], *f1 = (const void *)sh->final[1][p];
		if (memcmp(f0, f1, PAGE) != 0) {
			snprintf(why, wl, "page %d: the two hosts end with different contents", p);
			ok = false;
			break;
		}
		/* counter: increments must hand out 0..W-1 exactly once */
		size_t n = 0, nincs = 0;
		for (int w = 0; w < CO_W; w++)
			for (int i = 0; i < sh->nops[w]; i++) {
				const struct co_rec *r = &sh->rec[w][i];
				if (r->page != p || (r->kind != OP_INC && r->kind != OP_LOAD))
					continue;
				bool inc = r->kind == OP_INC;
				evs[n++] = (struct ev){r->t0, r->t1, r->val, inc ? r->val + 1 : r->val, w, inc};
				nincs += inc;
			}
		char *seen = calloc(nincs + 1, 1);
		for (size_t i = 0; i < n && ok; i++) {
			if (!evs[i].is_write)
				continue;
			if (evs[i].observed >= nincs || seen[evs[i].observed]++) {
				snprintf(why, wl, "page %d: increment result %" PRIu64 " duplicated or out of range "
					 "(%zu increments): a write was lost", p, evs[i].observed, nincs);
				ok = false;
			}
		}
		free(seen);
		if (ok && f0->counter != nincs) {
			snprintf(why, wl, "page %d: final counter %" PRIu64 ", expected %zu", p, f0->counter, nincs);
			ok = false;
		}
		char what[64];
		snprintf(what, sizeof what, "page %d counter", p);
		if (ok && !check_register(evs, n, what, why, wl))
			ok = false;
		/* slots: single writer each, increasing values */
		for (int w = 0; w < CO_W && ok; w++)
			for (int k = 0; k < CO_SLOTS && ok; k++) {
				n = 0;
				uint64_t last = 0;
				for (int x = 0; x < CO_W; x++)
					for (int i = 0; i < sh->nops[x]; i++) {
						const struct co_rec *r = &sh->rec[x][i];
						if (r->page != p || r->target != w || r->slot != k ||
						    (r->kind != OP_STORE && r->kind != OP_LOAD_SLOT))
							continue;
						bool st = r->kind == OP_STORE;
						evs[n++] = (struct ev){r->t0, r->t1, r->val, r->val, x, st};
						if (st)
							last = r->val;
					}
				snprintf(what, sizeof what, "page %d slot %d.%d", p, w, k);
				if (!check_register(evs, n, what, why, wl))
					ok = false;
				else if (f0->slot[w][k] != last) {
					snprintf(why, wl, "%s: final value %" PRIu64 ", last store was %" PRIu64
						 " (lost write)", what, f0->slot[w][k], last);
					ok = false;
				}
			}
		/* fills: the region ends uniform with its writer's last pattern */
		for (int w = 0; w < CO_W && ok; w++) {
			uint64_t last = 0;
			for (int i = 0; i < sh->nops[w]; i++)
				if (sh->rec[w][i].page == p && sh->rec[w][i].kind == OP_FILL)
					last = sh->rec[w][i].val;
			for (size_t b = 0; b < sizeof f0->fill[w]; b++)
				if (f0->fill[w][b] != last) {
					snprintf(why, wl, "page %d fill of writer %d: byte %zu is %u, last fill was %"
						 PRIu64 " (lost or torn write)", p, w, b, f0->fill[w][b], last);
					ok = false;
					break;
				}
		}
	}
	free(evs);
	if (ok)
		snprintf(sh->info[0], sizeof sh->info[0],
			 "seed %" PRIu64 ": %" PRIu64 " ops (%" PRIu64 " increments, %" PRIu64 " counter loads, %"
			 PRIu64 " stores, %" PRIu64 " slot loads, %" PRIu64 " fills) on %d pages by %d threads "
			 "on 2 hosts in %.2f s; remote faults %" PRIu64 "+%" PRIu64 ", deferred %" PRIu64 "+%"
			 PRIu64 "; history checked",
			 g_seed, total, counts[OP_INC], counts[OP_LOAD], counts[OP_STORE], counts[OP_LOAD_SLOT],
			 counts[OP_FILL], CO_PAGES, CO_W, (double)(sh->u[0][2] > sh->u[1][2] ? sh->u[0][2] : sh->u[1][2]) / 1e9,
			 sh->u[0][0], sh->u[1][0], sh->u[0][1], sh->u[1][1]);
	sh->info[1][0] = '\0';
	return ok;
}

/* ------------------------------------------------- fresh-page races */

/* Every page starts Invalid on both hosts.  Two threads per host walk the
 * same fresh pages in the same order, each reading or incrementing, so the
 * first requests for a page cross in every combination (read/read,
 * read/write, write/write).  No increment may be lost and the untouched
 * word must read zero everywhere. */
#define FR_PAGES 256
#define FR_THREADS 2

struct fr_arg {
	char *m;
	int t;
	uint64_t count[FR_PAGES];
	int bad_zero;
};

static void *fr_thread(void *a)
{
	struct fr_arg *fa = a;
	uint64_t r = g_seed * 0x9e3779b97f4a7c15ull + (uint64_t)(g_role * FR_THREADS + fa->t) + 1;
	atomic_fetch_add(&sh->go, 1);
	while (atomic_load(&sh->go) < 2 * FR_THREADS)
		; /* spin: start as close together as possible */
	for (int p = 0; p < FR_PAGES; p++) {
		uint64_t *w = (uint64_t *)(fa->m + (size_t)p * PAGE);
		r ^= r << 13;
		r ^= r >> 7;
		r ^= r << 17;
		if (r & 1) {
			atomic_fetch_add((_Atomic uint64_t *)w, 1);
			fa->count[p]++;
		}
		if (((volatile uint64_t *)w)[1] != 0)
			fa->bad_zero++;
	}
	return NULL;
}

static void fresh_race_role(void)
{
	struct dsm_options o = test_opts();
	o.hold_us = 1; /* pages change hands as often as possible */
	char *m;
	dsm_t *d = pair_open(&o, FR_PAGES, NULL, &m);
	for (int p = 0; p < FR_PAGES; p++)
		expect_state(d, (size_t)p, 'I', "after pairing");
	struct fr_arg args[FR_THREADS];
	pthread_t th[FR_THREADS];
	barrier(1);
	for (int t = 0; t < FR_THREADS; t++) {
		memset(&args[t], 0, sizeof args[t]);
		args[t].m = m;
		args[t].t = t;
		pthread_create(&th[t], NULL, fr_thread, &args[t]);
	}
	uint64_t *counts = (uint64_t *)(void *)sh->final[g_role];
	int bad_zero = 0;
	for (int t = 0; t < FR_THREADS; t++) {
		pthread_join(th[t], NULL);
		bad_zero += args[t].bad_zero;
	}
	for (int p = 0; p < FR_PAGES; p++) {
		counts[p] = 0;
		for (int t = 0; t < FR_THREADS; t++)
			counts[p] += args[t].count[p];
	}
	CHECK(bad_zero == 0, "%d reads of a never-written word were not zero", bad_zero);
	CHECK(dsm_peer_status(d) == DSM_PEER_CONNECTED, "session failed: %s", dsm_error(d));
	barrier(2);
	if (g_role == 0) {
		const uint64_t *peer = (const uint64_t *)(const void *)sh->final[1];
		uint64_t total = 0;
		for (int p = 0; p < FR_PAGES; p++) {
			uint64_t v = *(volatile uint64_t *)(m + (size_t)p * PAGE);
			CHECK(v == counts[p] + peer[p], "page %d: counter %" PRIu64 ", increments %" PRIu64, p, v,
			      counts[p] + peer[p]);
			total += v;
		}
		struct dsm_stats st;
		dsm_get_stats(d, &st);
		info("%d fresh pages, %" PRIu64 " increments, %" PRIu64 " remote faults, %" PRIu64
		     " deferred here", FR_PAGES, total, st.remote_faults, st.deferred);
	}
	barrier(3);
	CHECK(dsm_close(d) == 0, "dsm_close failed");
}

/* -------------------------------------------------- MAP_FIXED_NOREPLACE */

#define TAKEN_ADDR ((void *)0x3a0000000000ull)

static void noreplace_first(void)
{
	/* Local case first: the address is taken in this very process. */
	void *own = mmap(TAKEN_ADDR, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	CHECK(own == TAKEN_ADDR, "could not prepare the occupied mapping: %s", strerror(errno));
	struct dsm_options o = test_opts();
	o.role = DSM_ROLE_FIRST;
	char err[400];
	dsm_t *d = dsm_open("0", NULL, NULL, &o, err, sizeof err);
	CHECK(d, "dsm_open: %s", err);
	CHECK(dsm_map(d, 4, TAKEN_ADDR) == NULL, "dsm_map replaced an existing local mapping");
	CHECK(strstr(dsm_error(d), "already in use"), "local error unclear: %s", dsm_error(d));
	dsm_close(d);
	munmap(own, PAGE);
	/* Remote case: the second host has something at the address. */
	d = dsm_open("0", NULL, NULL, &o, err, sizeof err);
	CHECK(d, "dsm_open: %s", err);
	atomic_store(&sh->port, dsm_listen_port(d));
	CHECK(dsm_map(d, 4, TAKEN_ADDR) == NULL, "dsm_map succeeded although the peer's address is taken");
	CHECK(strstr(dsm_error(d), "peer could not join") && strstr(dsm_error(d), "already in use"),
	      "first's error unclear: %s", dsm_error(d));
	info("first: %s", dsm_error(d));
	dsm_close(d);
}

static void noreplace_second(void)
{
	void *own = mmap(TAKEN_ADDR, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	CHECK(own == TAKEN_ADDR, "could not prepare the occupied mapping: %s", strerror(errno));
	struct dsm_options o = test_opts();
	dsm_t *d = open_second(&o);
	CHECK(dsm_map(d, 0, NULL) == NULL, "dsm_map replaced an existing mapping");
	CHECK(strstr(dsm_error(d), "already in use"), "second's error unclear: %s", dsm_error(d));
	info("second: %s", dsm_error(d));
	dsm_close(d);
}

/* ---------------------------------------------------- sync, then kill */

static void sync_kill_first(void)
{
	struct dsm_options o = test_opts();
	char *m;
	dsm_t *d = pair_open(&o, 12, NULL, &m);
	barrier(1); /* second writes 0..7 and syncs, writes 8 without sync */
	barrier(2);
	atomic_store(&sh->kill_req, 2);
	uint64_t t0 = now_ns();
	wait_until(status_not_connected, d, 5000, "the peer's death to be noticed");
	uint64_t t1 = now_ns();
	CHECK(dsm_peer_status(d) == DSM_PEER_LOST, "status %d after the peer was killed", dsm_peer_status(d));
	const char *e = dsm_error(d);
	CHECK(strstr(e, "peer closed the connection") || strstr(e, "reset"), "unclear error: %s", e);
	for (int p = 0; p < 8; p++) {
		char want[32], got[32];
		snprintf(want, sizeof want, "synced page %d", p);
		CHECK(try_copy(got, m + (size_t)p * PAGE, sizeof want) == 0, "synced page %d unreadable after peer death", p);
		CHECK(strcmp(got, want) == 0, "synced page %d reads '%.32s'", p, got);
		expect_state(d, (size_t)p, 'S', "after the peer died");
	}
	uint64_t v;
	CHECK(try_read(&v, (uint64_t *)(m + 8 * PAGE)) == -1, "page 8 (only copy on the dead peer) did not raise SIGBUS");
	CHECK(try_read(&v, (uint64_t *)(m + 8 * PAGE)) == -1, "page 8 did not stay unavailable");
	/* what we hold is now our private copy */
	CHECK(try_write((uint64_t *)(m + 7 * PAGE + 64), 1) == 0, "write to held page 7 after peer death failed");
	expect_state(d, 7, 'M', "after writing it with the peer gone");
	CHECK(strcmp(m + 7 * PAGE, "synced page 7") == 0, "page 7 changed: '%.32s'", m + 7 * PAGE);
	CHECK(try_read(&v, (uint64_t *)(m + 10 * PAGE)) == 0 && v == 0, "never-written page 10 unreadable");
	CHECK(dsm_sync(d) == -1 && errno == ENOTCONN, "dsm_sync after peer death did not fail with ENOTCONN");
	info("peer death noticed after %.1f ms: \"%s\"", (double)(t1 - t0) / 1e6, e);
	CHECK(dsm_close(d) == 0, "dsm_close failed");
}

static void sync_kill_second(void)
{
	struct dsm_options o = test_opts();
	char *m;
	dsm_t *d = pair_open(&o, 12, NULL, &m);
	for (int p = 0; p < 8; p++)
		snprintf(m + (size_t)p * PAGE, 32, "synced page %d", p);
	CHECK(dsm_sync(d) == 0, "dsm_sync: %s", dsm_error(d));
	strcpy(m + 8 * PAGE, "unsynced");
	barrier(1);
	barrier(2);
	for (;;)
		pause(); /* killed by the parent */
}

/* ------------------------------------------------------ peer kill mid-run */

static int g_victim; /* role the parent kills mid-run */

static void midrun_role(void)
{
	struct dsm_options o = test_opts();
	char *m;
	dsm_t *d = pair_open(&o, CO_PAGES, NULL, &m);
	barrier(1);
	if (g_role == g_victim) {
		g_ops = -1; /* run until killed */
		run_workers(m, d, false);
		fail("victim stopped before being killed: %s", dsm_error(d));
	}
	/* Kill the peer 300 ms into the run, while both hosts are busy. */
	struct co_arg args[CO_THREADS];
	pthread_t th[CO_THREADS];
	for (int t = 0; t < CO_THREADS; t++) {
		args[t] = (struct co_arg){m, d, g_role * CO_THREADS + t, -1, true};
		pthread_create(&th[t], NULL, co_thread, &args[t]);
	}
	usleep(300000);
	atomic_store(&sh->kill_req, g_victim + 1);
	uint64_t tk = now_ns();
	for (int t = 0; t < CO_THREADS; t++)
		pthread_join(th[t], NULL);
	uint64_t tj = now_ns();
	CHECK(dsm_peer_status(d) == DSM_PEER_LOST, "workers finished but the peer is not reported lost");
	CHECK(tj - tk < 4000000000ull, "survivor needed %.1f s to stop after the kill", (double)(tj - tk) / 1e9);
	int held = 0, unavailable = 0, bus_ops = 0, total = 0;
	for (int t = 0; t < CO_THREADS; t++)
		for (int i = 0; i < sh->nops[g_role * CO_THREADS + t]; i++) {
			bus_ops += sh->rec[g_role * CO_THREADS + t][i].bus;
			total++;
		}
	for (int p = 0; p < CO_PAGES; p++) {
		char s = dsm_page_state(d, (size_t)p);
		uint64_t v;
		int rc = try_read(&v, (uint64_t *)(m + (size_t)p * PAGE));
		if (s == 'S' || s == 'M') {
			CHECK(rc == 0, "page %d held in state %c is unreadable after the peer died", p, s);
			held++;
		} else {
			CHECK(rc == -1, "page %d in state I did not raise SIGBUS", p);
			unavailable++;
		}
	}
	info("survivor (%s): %d ops, %d hit SIGBUS after the loss, stopped %.0f ms after the kill; "
	     "%d pages held and readable, %d unavailable; error: %s",
	     g_role ? "second" : "first", total, bus_ops, (double)(tj - tk) / 1e6, held, unavailable,
	     dsm_error(d));
	CHECK(dsm_close(d) == 0, "dsm_close failed");
}

/* ------------------------------------------------------- graceful close */

static void close_first(void)
{
	struct dsm_options o = test_opts();
	char *m;
	dsm_t *d = pair_open(&o, 9, NULL, &m);
	for (int p = 0; p < 4; p++)
		snprintf(m + (size_t)p * PAGE, 32, "first %d", p);
	barrier(1);
	barrier(2); /* second wrote 4..7 and closed */
	wait_until(status_not_connected, d, 5000, "the peer's goodbye");
	CHECK(dsm_peer_status(d) == DSM_PEER_LEFT, "status %d after a clean close (error: %s)",
	      dsm_peer_status(d), dsm_error(d));
	for (int p = 0; p < 8; p++) {
		char want[32], got[32];
		snprintf(want, sizeof want, "%s %d", p < 4 ? "first" : "second", p);
		CHECK(try_copy(got, m + (size_t)p * PAGE, sizeof want) == 0, "page %d unreadable after peer left", p);
		CHECK(strcmp(got, want) == 0, "page %d reads '%.32s', expected '%s'", p, got, want);
		CHECK(try_write((uint64_t *)(m + (size_t)p * PAGE + 64), 7) == 0, "page %d not writable after peer left", p);
		expect_state(d, (size_t)p, 'M', "after the peer left");
	}
	/* Page 8 was never touched by anyone: zeros, and ours. */
	expect_state(d, 8, 'M', "(never touched) after the peer left");
	uint64_t v;
	CHECK(try_read(&v, (uint64_t *)(m + 8 * PAGE)) == 0 && v == 0, "never-touched page 8 unreadable");
	expect_state(d, 8, 'M', "(never touched) after reading it");
	CHECK(dsm_close(d) == 0, "dsm_close failed");
}

static void close_second(void)
{
	struct dsm_options o = test_opts();
	char *m;
	dsm_t *d = pair_open(&o, 9, NULL, &m);
	barrier(1);
	for (int p = 4; p < 8; p++)
		snprintf(m + (size_t)p * PAGE, 32, "second %d", p);
	/* reading the first's pages leaves them Shared on both sides */
	CHECK(strcmp(m, "first 0") == 0, "page 0 reads '%.32s'", m);
	CHECK(dsm_close(d) == 0, "dsm_close failed");
	barrier(2);
}

/* ------------------------------------------------------------ fake peers */

static int fake_send(int fd, uint16_t type, uint16_t flags, uint32_t page, uint32_t seq,
		     const void *payload, uint32_t len)
{
	unsigned char buf[DSM_HDR_LEN + 8192];
	struct dsm_hdr h = {len, type, flags, page, seq};
	dsm_hdr_encode(buf, &h);
	if (len)
		memcpy(buf + DSM_HDR_LEN, payload, len);
	return send(fd, buf, DSM_HDR_LEN + len, MSG_NOSIGNAL) == (ssize_t)(DSM_HDR_LEN + len) ? 0 : -1;
}

static int recv_all(int fd, void *buf, size_t len, int timeout_ms)
{
	size_t got = 0;
	while (got < len) {
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, timeout_ms) <= 0)
			return -1;
		ssize_t n = recv(fd, (char *)buf + got, len - got, 0);
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

static int fake_recv(int fd, struct dsm_hdr *h, unsigned char *buf, size_t cap, int timeout_ms)
{
	unsigned char hb[DSM_HDR_LEN];
	if (recv_all(fd, hb, DSM_HDR_LEN, timeout_ms) < 0)
		return -1;
	dsm_hdr_decode(h, hb);
	if (h->payload_len > cap)
		return -1;
	return h->payload_len ? recv_all(fd, buf, h->payload_len, timeout_ms) : 0;
}

static void hello_payload(unsigned char *b, uint32_t magic, uint16_t vmin, uint16_t vmax, uint32_t role)
{
	memset(b, 0, DSM_HELLO_LEN);
	dsm_put32(b, magic);
	dsm_put16(b + 4, vmin);
	dsm_put16(b + 6, vmax);
	dsm_put32(b + 8, role);
	dsm_put64(b + 16, 0x1234);
}

static int fake_connect(void)
{
	wait_until(port_published, NULL, 20000, "the real host's port");
	char port[16];
	snprintf(port, sizeof port, "%u", atomic_load(&sh->port));
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
	CHECK(getaddrinfo(g_host, port, &hints, &res) == 0, "getaddrinfo");
	int fd = socket(res->ai_family, SOCK_STREAM, 0);
	CHECK(fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) == 0, "fake connect: %s", strerror(errno));
	freeaddrinfo(res);
	return fd;
}

/* Completes a correct handshake as SECOND; returns the region size. */
static int fake_second_handshake(void)
{
	int fd = fake_connect();
	unsigned char b[DSM_HELLO_MAX];
	struct dsm_hdr h;
	hello_payload(b, DSM_WIRE_MAGIC, DSM_PROTO_VERSION, DSM_PROTO_VERSION, DSM_ROLE_SECOND);
	CHECK(fake_send(fd, DSM_MSG_HELLO, 0, 0, 0, b, DSM_HELLO_LEN) == 0, "send HELLO");
	CHECK(fake_recv(fd, &h, b, sizeof b, 5000) == 0 && h.type == DSM_MSG_HELLO, "no HELLO from real first");
	CHECK(dsm_get32(b) == DSM_WIRE_MAGIC && dsm_get16(b + 4) == DSM_PROTO_VERSION && dsm_get32(b + 8) == DSM_ROLE_FIRST,
	      "real first's HELLO is malformed");
	CHECK(fake_recv(fd, &h, b, sizeof b, 5000) == 0 && h.type == DSM_MSG_MAP && h.payload_len == DSM_MAP_LEN,
	      "no MAP from real first");
	CHECK(dsm_get32(b) == PAGE && dsm_get64(b + 8) == 4, "MAP says page size %u, %" PRIu64 " pages",
	      dsm_get32(b), dsm_get64(b + 8));
	CHECK(fake_send(fd, DSM_MSG_MAP_OK, 0, 0, 0, NULL, 0) == 0, "send MAP_OK");
	return fd;
}

struct fake_case {
	const char *name;
	bool session;         /* misbehave after a correct handshake */
	void (*act)(int fd);
	const char *expect;   /* substring of the real host's error */
	bool expect_error_msg; /* the real host tells the fake why */
};

static void act_garbage(int fd)
{
	const char *s = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	CHECK(send(fd, s, strlen(s), MSG_NOSIGNAL) > 0, "send");
}
static void act_bad_magic(int fd)
{
	unsigned char b[DSM_HELLO_LEN];
	hello_payload(b, 0xdeadbeef, 1, 1, DSM_ROLE_SECOND);
	fake_send(fd, DSM_MSG_HELLO, 0, 0, 0, b, sizeof b);
}
static void act_version(int fd)
{
	unsigned char b[DSM_HELLO_LEN];
	hello_payload(b, DSM_WIRE_MAGIC, DSM_PROTO_VERSION + 1, DSM_PROTO_VERSION + 2, DSM_ROLE_SECOND);
	fake_send(fd, DSM_MSG_HELLO, 0, 0, 0, b, sizeof b);
}
static void act_role(int fd)
{
	unsigned char b[DSM_HELLO_LEN];
	hello_payload(b, DSM_WIRE_MAGIC, DSM_PROTO_VERSION, DSM_PROTO_VERSION, DSM_ROLE_FIRST);
	fake_send(fd, DSM_MSG_HELLO, 0, 0, 0, b, sizeof b);
}
static void act_truncated_eof(int fd)
{
	unsigned char b[DSM_HDR_LEN + DSM_HELLO_LEN];
	struct dsm_hdr h = {DSM_HELLO_LEN, DSM_MSG_HELLO, 0, 0, 0};
	dsm_hdr_encode(b, &h);
	hello_payload(b + DSM_HDR_LEN, DSM_WIRE_MAGIC, 1, 1, DSM_ROLE_SECOND);
	CHECK(send(fd, b, 20, MSG_NOSIGNAL) == 20, "send");
	shutdown(fd, SHUT_WR);
}
static void act_truncated_stall(int fd)
{
	unsigned char b[10] = {0, 0, 0, DSM_HELLO_LEN, 0, DSM_MSG_HELLO, 0, 0, 0, 0};
	CHECK(send(fd, b, sizeof b, MSG_NOSIGNAL) == (ssize_t)sizeof b, "send");
	usleep(1000000); /* longer than the real host's handshake timeout */
}
static void act_port_scan(int fd)
{
	shutdown(fd, SHUT_RDWR); /* connect, then close without a word */
}
static void act_silent(int fd)
{
	(void)fd; /* connected, says nothing: the handshake timeout drops it */
}
static void act_oversized(int fd)
{
	unsigned char b[DSM_HDR_LEN];
	struct dsm_hdr h = {0xfffffff0u, DSM_MSG_HELLO, 0, 0, 0};
	dsm_hdr_encode(b, &h);
	CHECK(send(fd, b, sizeof b, MSG_NOSIGNAL) == (ssize_t)sizeof b, "send");
}
static void act_bad_page(int fd)
{
	fake_send(fd, DSM_MSG_REQ, DSM_WANT_SHARED, 4 + 5, 1, NULL, 0);
}
static void act_bad_flags(int fd)
{
	fake_send(fd, DSM_MSG_REQ, 3, 0, 1, NULL, 0);
}
static void act_unsolicited_grant(int fd)
{
	fake_send(fd, DSM_MSG_GRANT, 0, 0, 7, NULL, 0);
}
static void act_unknown_type(int fd)
{
	fake_send(fd, 99, 0, 0, 0, NULL, 0);
}
static void act_short_push(int fd)
{
	unsigned char b[100] = {0};
	fake_send(fd, DSM_MSG_PUSH, 0, 0, 0, b, sizeof b);
}
static void act_push_ack_unasked(int fd)
{
	fake_send(fd, DSM_MSG_PUSH_ACK, 0, 1, 0, NULL, 0);
}
static void act_truncated_push(int fd)
{
	unsigned char b[DSM_HDR_LEN + 100] = {0};
	struct dsm_hdr h = {PAGE, DSM_MSG_PUSH, 0, 0, 0};
	dsm_hdr_encode(b, &h);
	CHECK(send(fd, b, sizeof b, MSG_NOSIGNAL) == (ssize_t)sizeof b, "send");
	shutdown(fd, SHUT_WR);
}
static void act_second_request(int fd)
{
	/* Page 3 is held by the real host's hold window (it just fetched it),
	 * so the first REQ is deferred; a second one breaks the one-outstanding
	 * rule. */
	fake_send(fd, DSM_MSG_REQ, DSM_WANT_EXCL, 3, 1, NULL, 0);
	fake_send(fd, DSM_MSG_REQ, DSM_WANT_EXCL, 2, 2, NULL, 0);
}

static const struct fake_case fake_cases[] = {
	{"fake-garbage", false, act_garbage, "announces", true},
	{"fake-bad-magic", false, act_bad_magic, "does not speak the dsm protocol", true},
	{"fake-version-mismatch", false, act_version, "protocol version mismatch: peer speaks versions 3..4", true},
	{"fake-role-conflict", false, act_role, "role", true},
	{"fake-truncated-eof", false, act_truncated_eof, "truncated after", false},
	{"fake-truncated-stall", false, act_truncated_stall, "timed out waiting for the rest", false},
	{"fake-port-scan", false, act_port_scan, "closed without sending a HELLO", false},
	{"fake-silent", false, act_silent, "sent no HELLO within 500 ms", false},
	{"fake-oversized-length", false, act_oversized, "announces 4294967280 payload bytes", true},
	{"fake-page-out-of-range", true, act_bad_page, "malformed message type 16", true},
	{"fake-bad-flags", true, act_bad_flags, "malformed message type 16", true},
	{"fake-unsolicited-grant", true, act_unsolicited_grant, "GRANT for page 0 seq 7 that we did not request", true},
	{"fake-unknown-type", true, act_unknown_type, "unknown message type 99", true},
	{"fake-short-push", true, act_short_push, "malformed message type 18", true},
	{"fake-unasked-push-ack", true, act_push_ack_unasked, "PUSH_ACK for page 1 that we did not push", true},
	{"fake-truncated-push", true, act_truncated_push, "truncated after", false},
	{"fake-second-request", true, act_second_request, "second request (page 2)", true},
};
static const struct fake_case *g_case;

static void note_rejected(void *arg, const char *why)
{
	(void)arg;
	size_t n = strlen(sh->note);
	snprintf(sh->note + n, sizeof sh->note - n, "%s%s", n ? " | " : "", why);
}

/* Real FIRST facing a misbehaving fake SECOND. */
static void fake_real_first(void)
{
	struct dsm_options o = test_opts();
	o.io_timeout_ms = 500;
	o.handshake_timeout_ms = 500;
	o.hold_us = 2000000; /* long hold so act_second_request's first REQ is deferred */
	o.role = DSM_ROLE_FIRST;
	o.on_rejected = note_rejected;
	char err[400];
	dsm_t *d = dsm_open("0", NULL, NULL, &o, err, sizeof err);
	CHECK(d, "dsm_open: %s", err);
	atomic_store(&sh->port, dsm_listen_port(d));
	char *m = dsm_map(d, 4, NULL);
	if (!g_case->session) {
		/* The bad connection is dropped and reported; pairing goes on
		 * and the fake's second, correct connection gets the region. */
		CHECK(m, "a misbehaving connection ended pairing: %s", dsm_error(d));
		CHECK(strstr(sh->note, g_case->expect), "rejection '%s' lacks '%s'", sh->note, g_case->expect);
		info("real host: %s", sh->note);
		wait_until(status_not_connected, d, 5000, "the fake's close");
		dsm_close(d);
		return;
	}
	CHECK(m, "dsm_map: %s", dsm_error(d));
	uint64_t v;
	/* Fresh pages: the fake grants them without data (zeros). */
	CHECK(try_read(&v, (uint64_t *)(m + 2 * PAGE)) == 0 && v == 0, "read of fresh page 2 failed");
	if (g_case->act == act_second_request)
		CHECK(try_write((uint64_t *)(m + 3 * PAGE), 42) == 0, "write to page 3 failed");
	barrier(1);
	wait_until(status_not_connected, d, 5000, "the protocol error to be detected");
	CHECK(dsm_peer_status(d) == DSM_PEER_LOST, "status %d", dsm_peer_status(d));
	CHECK(strstr(dsm_error(d), g_case->expect), "error '%s' lacks '%s'", dsm_error(d), g_case->expect);
	CHECK(try_read(&v, (uint64_t *)(m + 2 * PAGE)) == 0 && v == 0, "held page 2 unreadable after the error");
	CHECK(try_write((uint64_t *)(m + 2 * PAGE), 1) == 0, "held page 2 not writable after the error");
	info("real host: %s", dsm_error(d));
	CHECK(dsm_close(d) == 0, "dsm_close failed");
}

static void fake_second(void)
{
	int fd;
	if (g_case->session) {
		fd = fake_second_handshake();
		struct dsm_hdr h;
		unsigned char b[PAGE];
		/* grant the real host's read of fresh page 2: no data means zeros */
		CHECK(fake_recv(fd, &h, b, sizeof b, 5000) == 0 && h.type == DSM_MSG_REQ && h.page == 2 &&
			      h.flags == DSM_WANT_SHARED, "expected REQ SHARED for page 2");
		fake_send(fd, DSM_MSG_GRANT, 0, 2, h.seq, NULL, 0);
		if (g_case->act == act_second_request) {
			/* grant the real host's write to fresh page 3 */
			CHECK(fake_recv(fd, &h, b, sizeof b, 5000) == 0 && h.type == DSM_MSG_REQ && h.page == 3 &&
				      h.flags == DSM_WANT_EXCL, "expected REQ EXCL for page 3");
			fake_send(fd, DSM_MSG_GRANT, 0, 3, h.seq, NULL, 0);
		}
		barrier(1);
	} else {
		fd = fake_connect();
	}
	g_case->act(fd);
	/* Expect an ERROR message (if the case says so), then EOF. */
	bool got_error = false;
	for (;;) {
		struct dsm_hdr h;
		unsigned char b[PAGE];
		if (fake_recv(fd, &h, b, sizeof b, 4000) < 0)
			break;
		if (h.type == DSM_MSG_ERROR)
			got_error = true;
	}
	CHECK(got_error || !g_case->expect_error_msg, "real host closed without sending an ERROR message");
	close(fd);
	if (!g_case->session) /* the real first must still be waiting for a peer */
		close(fake_second_handshake());
}

/* Fake FIRST vs real SECOND: MAP validation. */
struct map_case {
	const char *name;
	uint32_t page_size;
	uint64_t npages, addr;
	const char *expect;
};
static const struct map_case map_cases[] = {
	{"fake-map-page-size", 8192, 4, 0x300000000000ull, "page size mismatch"},
	{"fake-map-zero-pages", PAGE, 0, 0x300000000000ull, "proposed 0 pages"},
	{"fake-map-huge", PAGE, 1ull << 40, 0x300000000000ull, "proposed 1099511627776 pages"},
	{"fake-map-unaligned", PAGE, 4, 0x300000000123ull, "unusable address"},
	{"fake-map-kernel-address", PAGE, 4, 0xffff800000000000ull, "outside the user address range"},
	{"fake-map-low-address", PAGE, 4, 0x1000, "(vm.mmap_min_addr, at least 64 KiB)"},
	{"fake-map-null", PAGE, 4, 0, "(vm.mmap_min_addr, at least 64 KiB)"},
	{"fake-map-beyond-user-end", PAGE, 4, 0x7ffffffff000ull - PAGE, "outside the user address range"},
};
static const struct map_case *g_map_case;

static int fake_listen(void)
{
	int fd = socket(AF_INET6, SOCK_STREAM, 0), zero = 0, one = 1;
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT};
	CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(fd, 1) == 0, "fake listen: %s",
	      strerror(errno));
	socklen_t sl = sizeof a;
	getsockname(fd, (struct sockaddr *)&a, &sl);
	atomic_store(&sh->port, ntohs(a.sin6_port));
	int c = accept(fd, NULL, NULL);
	CHECK(c >= 0, "accept");
	close(fd);
	return c;
}

static int fake_first_handshake(uint32_t ps, uint64_t np, uint64_t addr)
{
	int fd = fake_listen();
	unsigned char b[DSM_HELLO_MAX];
	struct dsm_hdr h;
	CHECK(fake_recv(fd, &h, b, sizeof b, 5000) == 0 && h.type == DSM_MSG_HELLO && h.payload_len == DSM_HELLO_LEN,
	      "no HELLO from the real second");
	CHECK(dsm_get32(b) == DSM_WIRE_MAGIC && dsm_get16(b + 4) == DSM_PROTO_VERSION && dsm_get16(b + 6) == DSM_PROTO_VERSION &&
		      dsm_get32(b + 8) == DSM_ROLE_SECOND, "real second's HELLO is malformed");
	hello_payload(b, DSM_WIRE_MAGIC, DSM_PROTO_VERSION, DSM_PROTO_VERSION, DSM_ROLE_FIRST);
	fake_send(fd, DSM_MSG_HELLO, 0, 0, 0, b, DSM_HELLO_LEN);
	dsm_put32(b, ps);
	dsm_put32(b + 4, 0);
	dsm_put64(b + 8, np);
	dsm_put64(b + 16, addr);
	fake_send(fd, DSM_MSG_MAP, 0, 0, 0, b, DSM_MAP_LEN);
	return fd;
}

static void map_fake_first(void)
{
	int fd = fake_first_handshake(g_map_case->page_size, g_map_case->npages, g_map_case->addr);
	struct dsm_hdr h;
	unsigned char b[PAGE];
	CHECK(fake_recv(fd, &h, b, sizeof b, 5000) == 0 && h.type == DSM_MSG_ERROR && dsm_get32(b) == DSM_ERR_MAP,
	      "real second did not answer the bad MAP with ERROR(MAP)");
	/* the first side hears the same reason */
	b[h.payload_len < PAGE ? h.payload_len : PAGE - 1] = '\0';
	CHECK(strstr((char *)b + 4, g_map_case->expect), "ERROR text '%s' lacks '%s'", (char *)b + 4,
	      g_map_case->expect);
	close(fd);
}

static void map_real_second(void)
{
	struct dsm_options o = test_opts();
	dsm_t *d = open_second(&o);
	CHECK(dsm_map(d, 0, NULL) == NULL, "dsm_map accepted a bad MAP");
	CHECK(strstr(dsm_error(d), g_map_case->expect), "error '%s' lacks '%s'", dsm_error(d), g_map_case->expect);
	info("real host: %s", dsm_error(d));
	dsm_close(d);
}

/* Wire conformance from the outside, then an unanswered request. */
static void conform_fake_first(void)
{
	int fd = fake_first_handshake(PAGE, 4, 0x310000000000ull);
	struct dsm_hdr h;
	unsigned char b[PAGE];
	CHECK(fake_recv(fd, &h, b, sizeof b, 5000) == 0 && h.type == DSM_MSG_MAP_OK, "no MAP_OK");
	/* 1. take fresh page 0 exclusively: the real host (I, nobody wrote it)
	 *    must answer GRANT without data */
	fake_send(fd, DSM_MSG_REQ, DSM_WANT_EXCL, 0, 77, NULL, 0);
	CHECK(fake_recv(fd, &h, b, sizeof b, 5000) == 0, "no answer to REQ EXCL");
	CHECK(h.type == DSM_MSG_GRANT && h.flags == 0 && h.page == 0 && h.seq == 77 && h.payload_len == 0,
	      "REQ EXCL answered with type %u flags %u page %u seq %u len %u", h.type, h.flags, h.page, h.seq,
	      h.payload_len);
	barrier(1);
	/* 2. the real host reads page 0 (now I): REQ SHARED; we grant data */
	CHECK(fake_recv(fd, &h, b, sizeof b, 5000) == 0 && h.type == DSM_MSG_REQ && h.flags == DSM_WANT_SHARED &&
		      h.page == 0 && h.payload_len == 0, "expected REQ SHARED for page 0");
	memset(b, 0, PAGE);
	strcpy((char *)b, "served by the fake peer");
	fake_send(fd, DSM_MSG_GRANT, DSM_GRANT_DATA, 0, h.seq, b, PAGE);
	barrier(2);
	/* 3. the real host writes page 0 (S): REQ EXCL, which we never answer */
	CHECK(fake_recv(fd, &h, b, sizeof b, 5000) == 0 && h.type == DSM_MSG_REQ && h.flags == DSM_WANT_EXCL &&
		      h.page == 0, "expected REQ EXCL for page 0");
	barrier(3);
	close(fd);
}

static void conform_real_second(void)
{
	struct dsm_options o = test_opts();
	o.request_timeout_ms = 700;
	dsm_t *d = open_second(&o);
	char *m = dsm_map(d, 0, NULL);
	CHECK(m == (char *)0x310000000000ull, "mapped at %p, not at the proposed address", (void *)m);
	barrier(1);
	expect_state(d, 0, 'I', "after the peer's invalidation");
	char got[32];
	CHECK(try_copy(got, m, sizeof got) == 0 && strcmp(got, "served by the fake peer") == 0,
	      "read of page 0 returned '%.32s'", got);
	expect_state(d, 0, 'S', "after the fetch");
	barrier(2);
	uint64_t t0 = now_ns();
	/* The upgrade is never answered: the store waits out the request
	 * timeout, then the session is declared lost and the page is ours. */
	CHECK(try_write((uint64_t *)(m + 64), 5) == 0, "write after an unanswered upgrade failed");
	uint64_t t1 = now_ns();
	CHECK(t1 - t0 >= 600000000ull, "store did not wait for the upgrade (%.0f ms)", (double)(t1 - t0) / 1e6);
	CHECK(strstr(dsm_error(d), "did not answer a request for page 0"), "unclear error: %s", dsm_error(d));
	CHECK(try_copy(got, m, sizeof got) == 0 && strcmp(got, "served by the fake peer") == 0,
	      "held page 0 unreadable after the timeout");
	info("real host: unanswered upgrade -> session lost after %.0f ms: %s", (double)(t1 - t0) / 1e6,
	     dsm_error(d));
	barrier(3);
	CHECK(dsm_close(d) == 0, "dsm_close failed");
}

/* Crossing close: the fake first keeps talking as a peer that was closing at
 * the same moment and had not read the real host's BYE yet.  Its PUSH and
 * REQ sent after that BYE must still be answered before the real host hangs
 * up; an unanswered PUSH would fail such a peer's dsm_sync and so its
 * dsm_close. */
#define CROSS_ADDR 0x320000000000ull

static void cross_fake_first(void)
{
	int fd = fake_first_handshake(PAGE, 4, CROSS_ADDR);
	struct dsm_hdr h;
	unsigned char b[PAGE];
	CHECK(fake_recv(fd, &h, b, sizeof b, 5000) == 0 && h.type == DSM_MSG_MAP_OK, "no MAP_OK");
	/* take fresh page 1 exclusively: later pushed back as if closing */
	fake_send(fd, DSM_MSG_REQ, DSM_WANT_EXCL, 1, 11, NULL, 0);
	CHECK(fake_recv(fd, &h, b, sizeof b, 5000) == 0 && h.type == DSM_MSG_GRANT && h.page == 1 && h.seq == 11,
	      "REQ EXCL for page 1 not granted");
	barrier(1);
	/* the real host writes fresh page 0 */
	CHECK(fake_recv(fd, &h, b, sizeof b, 5000) == 0 && h.type == DSM_MSG_REQ && h.flags == DSM_WANT_EXCL &&
		      h.page == 0, "expected REQ EXCL for page 0");
	fake_send(fd, DSM_MSG_GRANT, 0, 0, h.seq, NULL, 0);
	/* its dsm_close: PUSH of page 0, then BYE */
	uint64_t v = 0;
	CHECK(fake_recv(fd, &h, b, sizeof b, 5000) == 0 && h.type == DSM_MSG_PUSH && h.page == 0 &&
		      (memcpy(&v, b, sizeof v), v == 0x5eed), "expected PUSH of page 0 holding the written value");
	fake_send(fd, DSM_MSG_PUSH_ACK, 0, 0, h.seq, NULL, 0);
	CHECK(fake_recv(fd, &h, b, sizeof b, 5000) == 0 && h.type == DSM_MSG_BYE, "expected BYE after the push");
	/* our own close, crossing the BYE: push page 1, ask for fresh page 2 */
	memset(b, 0xc1, PAGE);
	fake_send(fd, DSM_MSG_PUSH, 0, 1, 0, b, PAGE);
	fake_send(fd, DSM_MSG_REQ, DSM_WANT_SHARED, 2, 12, NULL, 0);
	int rc = fake_recv(fd, &h, b, sizeof b, 5000);
	CHECK(rc == 0 && h.type == DSM_MSG_PUSH_ACK && h.page == 1,
	      "PUSH sent across the BYE: %s", rc ? "connection ended instead of PUSH_ACK" : "no PUSH_ACK");
	rc = fake_recv(fd, &h, b, sizeof b, 5000);
	CHECK(rc == 0 && h.type == DSM_MSG_GRANT && h.page == 2 && h.seq == 12 && h.payload_len == 0,
	      "REQ sent across the BYE: %s", rc ? "connection ended instead of GRANT" : "no GRANT");
	/* now we read the BYE and hang up; the real host must follow */
	shutdown(fd, SHUT_WR);
	uint64_t t0 = now_ns();
	CHECK(fake_recv(fd, &h, b, sizeof b, 5000) < 0, "message type %u after our hang-up", h.type);
	info("fake: PUSH and REQ across the BYE answered; real host hung up %.0f ms after us",
	     (double)(now_ns() - t0) / 1e6);
	close(fd);
}

static void cross_real_second(void)
{
	struct dsm_options o = test_opts();
	dsm_t *d = open_second(&o);
	char *m = dsm_map(d, 0, NULL);
	CHECK(m == (char *)CROSS_ADDR, "mapped at %p, not at the proposed address", (void *)m);
	barrier(1);
	CHECK(try_write((uint64_t *)m, 0x5eed) == 0, "write to page 0 failed");
	CHECK(dsm_close(d) == 0, "dsm_close failed");
}

/* ------------------------------------------------------------------ main */

static void usage(void)
{
	fprintf(stderr, "usage: dsm_selftest [--host H] [--ns NS_FIRST NS_SECOND] [--prefix P] "
			"[--seed N] [--ops N] [--only NAME]... [--list]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	bool list = false;
	g_only = calloc((size_t)argc, sizeof *g_only);
	g_seed = (uint64_t)time(NULL);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--host") && i + 1 < argc)
			g_host = argv[++i];
		else if (!strcmp(argv[i], "--ns") && i + 2 < argc) {
			g_ns[0] = argv[++i];
			g_ns[1] = argv[++i];
		} else if (!strcmp(argv[i], "--prefix") && i + 1 < argc)
			g_prefix = argv[++i];
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			g_seed = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--ops") && i + 1 < argc)
			g_ops = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--only") && i + 1 < argc)
			g_only[g_nonly++] = argv[++i];
		else if (!strcmp(argv[i], "--list"))
			list = true;
		else
			usage();
	}
	if (g_ops < 1 || g_ops > CO_MAXOPS)
		usage();
	if (list) {
		puts("msi-transitions\nsame-page-writers\ncoherence-random\ncoherence-short-hold\nfresh-page-races\n"
		     "map-noreplace\nsync-then-kill\n"
		     "peer-kill-second\npeer-kill-first\ngraceful-close\nfake-conformance-timeout\nfake-close-crossing");
		for (size_t i = 0; i < sizeof fake_cases / sizeof fake_cases[0]; i++)
			puts(fake_cases[i].name);
		for (size_t i = 0; i < sizeof map_cases / sizeof map_cases[0]; i++)
			puts(map_cases[i].name);
		return 0;
	}
	sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	struct sigaction sa = {0};
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	run_test("msi-transitions", msi_first, msi_second, 30, NULL);
	run_test("same-page-writers", same_page_role, same_page_role, 60, NULL);
	run_test("coherence-random", coherence_role, coherence_role, 120, coherence_check);
	/* Almost no hold: pages change hands on nearly every access, and
	 * progress must not depend on the hold window. */
	g_hold_us = 1;
	run_test("coherence-short-hold", coherence_role, coherence_role, 120, coherence_check);
	g_hold_us = 20;
	run_test("fresh-page-races", fresh_race_role, fresh_race_role, 60, NULL);
	run_test("map-noreplace", noreplace_first, noreplace_second, 30, NULL);
	run_test("sync-then-kill", sync_kill_first, sync_kill_second, 30, NULL);
	g_victim = 1;
	run_test("peer-kill-second", midrun_role, midrun_role, 30, NULL);
	g_victim = 0;
	run_test("peer-kill-first", midrun_role, midrun_role, 30, NULL);
	run_test("graceful-close", close_first, close_second, 30, NULL);
	run_test("fake-conformance-timeout", conform_fake_first, conform_real_second, 30, NULL);
	run_test("fake-close-crossing", cross_fake_first, cross_real_second, 30, NULL);
	for (size_t i = 0; i < sizeof fake_cases / sizeof fake_cases[0]; i++) {
		g_case = &fake_cases[i];
		run_test(g_case->name, fake_real_first, fake_second, 20, NULL);
	}
	for (size_t i = 0; i < sizeof map_cases / sizeof map_cases[0]; i++) {
		g_map_case = &map_cases[i];
		run_test(g_map_case->name, map_fake_first, map_real_second, 20, NULL);
	}
	printf("# dsm selftest%s%s: %d ok, %d not ok\n", g_prefix[0] ? " " : "", g_prefix, g_passed, g_failed);
	free(g_only);
	return g_failed ? 1 : 0;
}
