/*
 * npheap_locks - NP-Heap lock ownership, lifetime, bound and cost tests
 * (issue 9, scenarios 0-2), built like a course program against the shim.
 *
 *   npheap_locks ownership DEV            who owns a lock and what releases it
 *   npheap_locks close-race DEV ROUNDS    contended lock + sibling close + exit
 *   npheap_locks handover DEV SECONDS     a close races a lock won inside a wait
 *   npheap_locks bound DEV MAX            module loaded with npheap_max_locks=MAX
 *   npheap_locks cost DEV COUNT           close/lock cost with COUNT ids locked
 *                                         elsewhere, and slab back to baseline
 *
 * Every mode prints one `ok npheap-locks/<name>` or `not ok ... - why` line
 * per test and exits 1 if any failed.  Every test runs in its own process
 * group with a deadline, so a hung test is reported, not fatal.
 */
#define _GNU_SOURCE
#include <npheap.h>
#include <npheap/npheap.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SUITE "npheap-locks"
#define TEST_DEADLINE_MS 300000
/* A lock() that must not return stays blocked this long before we say so. */
#define BLOCKED_MS 400
/* A dead holder's lock must pass on within this (issue 9: 1 s). */
#define HANDOVER_MS 1000
#define WAIT_MS 60000

#include "npheap_util.h"

static const char *dev_path;
static unsigned long long arg_n;

static int open_heap(void)
{
	return open(dev_path, O_RDWR | O_CLOEXEC);
}

static void on_alarm(int sig)
{
	(void)sig;
}

/*
 * lock(id) in a fresh process through its own open of the heap, giving up
 * after timeout_ms (a timer signal interrupts the wait).  Returns how long
 * the lock took in ms, or -1 if it did not come (or failed).
 */
static long fresh_process_lock_ms(__u64 id, int timeout_ms)
{
	volatile int64_t *took = shared_page();
	pid_t pid = fork();

	if (pid == 0) {
		struct sigaction sa = { .sa_handler = on_alarm };	/* no SA_RESTART */
		struct itimerval it = { .it_value = { .tv_sec = timeout_ms / 1000,
						      .tv_usec = (timeout_ms % 1000) * 1000 } };
		int fd = open_heap();

		*took = -1;
		CHILD_CHECK(fd >= 0, "open: %s", strerror(errno));
		sigemptyset(&sa.sa_mask);
		sigaction(SIGALRM, &sa, NULL);
		setitimer(ITIMER_REAL, &it, NULL);
		uint64_t t0 = now_us();
		if (npheap_lock(fd, id) == 0)
			*took = (int64_t)(now_us() - t0) / 1000;
		_exit(0);
	}
	reap(pid, timeout_ms + WAIT_MS);
	long ms = (long)*took;
	munmap((void *)took, page);
	return ms;
}

/* ============================ ownership ============================ */

static int clone_child_lock7(void *arg)
{
	int fd = *(int *)arg;

	_exit(npheap_lock(fd, id_base + 7) == 0 ? 0 : 1);
}

/*
 * Scenario 1a: a clone(CLONE_FILES) child (own tgid, shared fd table) locks
 * 7 and exits (its exit closes nothing); the parent closes the fd and exits.
 */
static int t_clone_files_child_lock_released(void)
{
	pid_t parent = fork();

	if (parent == 0) {
		int fd = open_heap();
		CHILD_CHECK(fd >= 0, "open: %s", strerror(errno));
		size_t stack_size = 256 * 1024;
		char *stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		CHILD_CHECK(stack != MAP_FAILED, "stack");
		pid_t child = clone(clone_child_lock7, stack + stack_size,
				    CLONE_FILES | SIGCHLD, &fd);
		CHILD_CHECK(child > 0, "clone: %s", strerror(errno));
		CHILD_CHECK(reap(child, WAIT_MS) == 0, "the clone child's lock(7) failed");
		CHILD_CHECK(close(fd) == 0, "close");
		_exit(0);
	}
	CHECK(reap(parent, WAIT_MS) == 0, "parent failed");
	long ms = fresh_process_lock_ms(id_base + 7, 3000);
	CHECK(ms >= 0, "a fresh process still could not lock(7) after 3 s: the exited "
	      "clone(CLONE_FILES) child's lock outlived every process that could release it");
	CHECK(ms <= HANDOVER_MS, "lock(7) took %ld ms", ms);
	note("lock(7) took %ld ms", ms);
	return 0;
}

struct close_arg {
	int fd;
	__u64 id;
	atomic_int step;
	int rc, err;
};

static void *waiter_thread(void *p)
{
	struct close_arg *a = p;

	atomic_store(&a->step, 1);
	a->rc = npheap_lock(a->fd, a->id);
	a->err = errno;
	atomic_store(&a->step, 2);
	return NULL;
}

/*
 * Scenario 1b: thread A blocks in lock(9) while thread B (the holder)
 * closes the only heap fd; A gets the lock; the process exits.
 */
static int t_close_during_wait_then_exit(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open_heap();
		CHILD_CHECK(fd >= 0, "open");
		CHILD_CHECK(npheap_lock(fd, id_base + 9) == 0, "lock: %s", strerror(errno));
		struct close_arg a = { .fd = fd, .id = id_base + 9 };
		pthread_t t;
		CHILD_CHECK(pthread_create(&t, NULL, waiter_thread, &a) == 0, "thread");
		while (atomic_load(&a.step) == 0)
			sched_yield();
		sleep_us(BLOCKED_MS * 1000);
		CHILD_CHECK(atomic_load(&a.step) == 1, "thread A did not block");
		CHILD_CHECK(close(fd) == 0, "close");
		pthread_join(t, NULL);
		CHILD_CHECK(a.rc == 0, "thread A's lock(9) after the close: %s", strerror(a.err));
		_exit(0);
	}
	CHECK(reap(pid, WAIT_MS) == 0, "process failed");
	long ms = fresh_process_lock_ms(id_base + 9, 3000);
	CHECK(ms >= 0, "a fresh process still could not lock(9) after 3 s: the lock thread A "
	      "took after its process closed the heap outlived the process");
	CHECK(ms <= HANDOVER_MS, "lock(9) took %ld ms", ms);
	note("lock(9) took %ld ms", ms);
	return 0;
}

static void *lock_and_exit_thread(void *p)
{
	struct close_arg *a = p;

	a->rc = npheap_lock(a->fd, a->id);
	a->err = errno;
	return NULL;
}

/* A thread locks `id` through fd and exits without unlocking. */
static int thread_locks_and_exits(int fd, __u64 id)
{
	struct close_arg a = { .fd = fd, .id = id };
	pthread_t t;

	CHECK(pthread_create(&t, NULL, lock_and_exit_thread, &a) == 0, "thread");
	pthread_join(t, NULL);
	CHECK(a.rc == 0, "the thread's lock: %s", strerror(a.err));
	return 0;
}

/* Scenario 1c: same process, another thread asks after the holder died. */
static int t_thread_exit_handover_same_process(void)
{
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	if (thread_locks_and_exits(fd, id_base))
		return 1;
	struct sigaction sa = { .sa_handler = on_alarm };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = { .it_value = { .tv_sec = 3 } };
	setitimer(ITIMER_REAL, &it, NULL);
	uint64_t t0 = now_us();
	int rc = npheap_lock(fd, id_base);
	long ms = (long)((now_us() - t0) / 1000);
	CHECK(rc == 0, "lock of an id whose holder thread exited: %s after %ld ms",
	      strerror(errno), ms);
	CHECK(ms <= HANDOVER_MS, "took %ld ms", ms);
	CHECK(npheap_unlock(fd, id_base) == 0, "the new owner cannot unlock: %s", strerror(errno));
	note("handover took %ld ms", ms);
	return 0;
}

/* Scenario 1c: another process asks after the holder thread died. */
static int t_thread_exit_handover_other_process(void)
{
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	if (thread_locks_and_exits(fd, id_base))
		return 1;
	long ms = fresh_process_lock_ms(id_base, 3000);
	CHECK(ms >= 0, "another process could not lock within 3 s an id whose holder "
	      "thread exited");
	CHECK(ms <= HANDOVER_MS, "took %ld ms", ms);
	note("handover took %ld ms", ms);
	return 0;
}

static void *hold_then_exit_thread(void *p)
{
	struct close_arg *a = p;

	a->rc = npheap_lock(a->fd, a->id);
	a->err = errno;
	atomic_store(&a->step, 1);
	while (atomic_load(&a->step) != 2)
		sleep_us(1000);
	return NULL;
}

/* Scenario 1c: a waiter already asleep when the holder thread exits. */
static int t_thread_exit_wakes_sleeping_waiter(void)
{
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	struct close_arg a = { .fd = fd, .id = id_base };
	pthread_t t;
	CHECK(pthread_create(&t, NULL, hold_then_exit_thread, &a) == 0, "thread");
	while (atomic_load(&a.step) == 0)
		sleep_us(1000);
	CHECK(a.rc == 0, "holder lock: %s", strerror(a.err));
	volatile int64_t *took = shared_page();
	pid_t waiter = fork();
	if (waiter == 0) {
		int own = open_heap();
		CHILD_CHECK(own >= 0, "open");
		took[1] = 1;
		CHILD_CHECK(npheap_lock(own, id_base) == 0, "waiter lock: %s", strerror(errno));
		took[0] = (int64_t)now_us();
		_exit(0);
	}
	while (!took[1])
		sleep_us(1000);
	sleep_us(BLOCKED_MS * 1000);
	CHECK(took[0] == 0, "the waiter got the lock while its holder lived");
	uint64_t t_exit = now_us();
	atomic_store(&a.step, 2);
	pthread_join(t, NULL);
	int rc = reap(waiter, 3000);
	CHECK(rc == 0, "the sleeping waiter did not get the lock within 3 s of its holder "
	      "thread's exit (rc %d)", rc);
	long ms = (long)(((uint64_t)took[0] - t_exit) / 1000);
	CHECK(ms <= HANDOVER_MS, "the waiter got it %ld ms after the holder exited", ms);
	note("waiter got it %ld ms after the holder thread exited", ms);
	return 0;
}

/* Scenario 1d: close of another OFD, and of a dup of it, keeps the locks. */
static int t_second_ofd_close_keeps_locks(void)
{
	int a = open_heap();
	CHECK(a >= 0, "open");
	CHECK(npheap_lock(a, id_base) == 0, "lock");
	int b = open_heap();
	CHECK(b >= 0, "open");
	int c = dup(b);
	CHECK(c >= 0, "dup");
	CHECK(close(c) == 0 && close(b) == 0, "close");
	errno = 0;
	int rc = npheap_lock(a, id_base);
	CHECK(rc == -1 && errno == EDEADLK, "closing a second open of the heap (and a dup of "
	      "it) dropped the lock taken through the first: relock gave rc %d %s, want EDEADLK",
	      rc, strerror(errno));
	long ms = fresh_process_lock_ms(id_base, BLOCKED_MS);
	CHECK(ms < 0, "another process got the lock after a second descriptor was closed");
	CHECK(npheap_unlock(a, id_base) == 0, "unlock: %s", strerror(errno));
	return 0;
}

/* The lock is dropped by a close of a dup of the fd it was taken through. */
static int t_dup_close_same_ofd_releases(void)
{
	int a = open_heap();
	CHECK(a >= 0, "open");
	int b = dup(a);
	CHECK(b >= 0, "dup");
	CHECK(npheap_lock(a, id_base) == 0, "lock");
	CHECK(close(b) == 0, "close");
	CHECK(npheap_lock(a, id_base) == 0, "the close of a dup of the lock's descriptor kept "
	      "the lock: relock %s", strerror(errno));
	return 0;
}

/* fork() shares the OFD: the child's locks are its own, closes release only its own. */
static int t_fork_shared_ofd_owns_own_locks(void)
{
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	CHECK(npheap_lock(fd, id_base) == 0, "lock");
	int sync[2];
	CHECK(pipe(sync) == 0, "pipe");
	pid_t pid = fork();
	if (pid == 0) {
		CHILD_CHECK(npheap_lock(fd, id_base + 1) == 0, "child lock");
		CHILD_CHECK(close(fd) == 0, "child close");
		CHILD_CHECK(write(sync[1], "x", 1) == 1, "pipe");
		pause();
		_exit(0);
	}
	char x;
	CHECK(read(sync[0], &x, 1) == 1, "child did not report");
	int rc = npheap_lock(fd, id_base);
	CHECK(rc == -1 && errno == EDEADLK, "the child's close dropped the parent's lock");
	long ms = fresh_process_lock_ms(id_base + 1, 3000);
	CHECK(ms >= 0, "the child's close of the shared descriptor did not drop its lock");
	kill(pid, SIGKILL);
	reap(pid, WAIT_MS);
	return 0;
}

/* ==================== scenario 0: close races a wait ==================== */

struct race {
	int fd;
	__u64 id;
	atomic_int go;
};

static void *race_locker(void *p)
{
	struct race *r = p;

	unsigned int seed = (unsigned int)(uintptr_t)&seed;

	while (!atomic_load(&r->go))
		;
	/*
	 * Until the fd is closed; a close may have released the lock already.
	 * The pause after unlock lets the other thread win the lock inside
	 * its wait (instead of this one taking it back at once).
	 */
	while (npheap_lock(r->fd, r->id) == 0) {
		npheap_unlock(r->fd, r->id);
		sleep_us(20 + rand_r(&seed) % 200);
	}
	return NULL;
}

/*
 * Two threads lock/unlock one id through fd while a third opens and closes
 * the heap again and again, then closes fd at a varying moment; the
 * process exits with the lockers still inside lock().  Before the fix
 * every close() released the process's locks and freed a lock object no
 * one else waited for, under a waiter that had just taken it inside its
 * wait: finish_wait() then wrote into freed (usually already reused)
 * memory.
 */
static void *race_closer(void *p)
{
	uint64_t end = *(uint64_t *)p;

	while (now_us() < end) {
		int fd = open_heap();
		if (fd >= 0)
			close(fd);
	}
	return NULL;
}

static void close_race_round(unsigned int round)
{
	struct race r = { .id = id_base + round };
	pthread_t t[2];

	r.fd = open_heap();
	if (r.fd < 0)
		_exit(1);
	for (int i = 0; i < 2; i++)
		if (pthread_create(&t[i], NULL, race_locker, &r))
			_exit(1);
	atomic_store(&r.go, 1);
	uint64_t end = now_us() + 2000 + (round * 7919u) % 8000;
	race_closer(&end);
	close(r.fd);
	sleep_us((round * 104729u) % 300);
	_exit(0);
}

static int t_close_race_stress(void)
{
	unsigned int rounds = (unsigned int)arg_n, done = 0;
	uint64_t t0 = now_ms();

	for (unsigned int i = 0; i < rounds; i++) {
		pid_t pid = fork();
		if (pid == 0)
			close_race_round(i);
		CHECK(pid > 0, "fork: %s", strerror(errno));
		int rc = reap(pid, WAIT_MS);
		CHECK(rc == 0, "round %u: the process %s", i,
		      rc < 0 ? "hung in exit" : "failed");
		done++;
	}
	/* Every id used is free again. */
	long ms = fresh_process_lock_ms(id_base + rounds - 1, 3000);
	CHECK(ms >= 0, "the last round's id is still locked 3 s after its process exited");
	note("%u rounds in %llu ms", done, (unsigned long long)(now_ms() - t0));
	return 0;
}

/*
 * The old crash, made likely: a holder in another process hands one id
 * over and over to a thread W of this process that waits for it, so W
 * keeps winning the lock inside its wait; a sibling closes dups of W's
 * descriptor without pause, and each close releases W's lock; a
 * real-time thread on W's CPU wakes every few microseconds and (with
 * preemption switched to "full") preempts W wherever it is.  Before the
 * fix, a close that came after W won but before W left the wait queue
 * dropped the last reference to the lock object (nobody else waited),
 * and W's finish_wait() then unlinked itself from freed memory:
 * "list_del corruption" on the stock kernels, a KASAN use-after-free on
 * the debug kernel.  The window is a few instructions (with the first
 * refcounted table, only those in finish_wait() after W marks itself
 * running, as the close's wake-up dequeues W before that), so the test
 * runs for seconds.
 */
struct handover {
	int fd;
	__u64 id;
	atomic_bool stop;
	unsigned long waited, released_by_close;
	int err;
};

struct handover_shared {
	atomic_bool stop;
	atomic_ulong handed;
};

static void pin_to_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);	/* best effort: 1 CPU works too */
}

static void *handover_waiter(void *p)
{
	struct handover *h = p;

	pin_to_cpu(0);
	while (!atomic_load(&h->stop)) {
		uint64_t t0 = now_us();

		if (npheap_lock(h->fd, h->id) != 0) {
			h->err = errno;
			break;
		}
		if (now_us() - t0 > 20)
			h->waited++;
		if (npheap_unlock(h->fd, h->id) == 0)
			continue;
		if (errno != EPERM) {
			h->err = errno;
			break;
		}
		h->released_by_close++;
	}
	atomic_store(&h->stop, true);
	return NULL;
}

static void *handover_closer(void *p)
{
	struct handover *h = p;

	pin_to_cpu(1);
	while (!atomic_load(&h->stop)) {
		int fd = dup(h->fd);

		if (fd >= 0)
			close(fd);
	}
	return NULL;
}

/* Real-time, so that its wake-ups preempt at once (root in the guest). */
static void run_realtime(void)
{
	struct sched_param sp = { .sched_priority = 1 };

	pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
}

/* Timer interrupts on W's CPU as often as it can: each may preempt W. */
static void *handover_interrupter(void *p)
{
	struct handover *h = p;
	struct timespec ts = { 0, 1000 };

	pin_to_cpu(0);
	run_realtime();
	while (!atomic_load(&h->stop))
		nanosleep(&ts, NULL);
	return NULL;
}

/* The other process: hold the id briefly, let go, pause so W wins alone. */
static void handover_holder(struct handover_shared *sh, __u64 id)
{
	int fd = open_heap();

	CHILD_CHECK(fd >= 0, "holder open: %s", strerror(errno));
	pin_to_cpu(1);
	while (!atomic_load(&sh->stop)) {
		CHILD_CHECK(npheap_lock(fd, id) == 0, "holder lock: %s", strerror(errno));
		sleep_us(100);
		CHILD_CHECK(npheap_unlock(fd, id) == 0, "holder unlock: %s", strerror(errno));
		atomic_fetch_add(&sh->handed, 1);
		sleep_us(30);
	}
	_exit(0);
}

/* /sys/kernel/debug/sched/preempt: "none voluntary (full)"; returns the old mode. */
static bool set_preempt_mode(const char *mode, char *old, size_t oldlen)
{
	const char *path = "/sys/kernel/debug/sched/preempt";
	char buf[128] = "";
	FILE *f;

	if (access(path, F_OK))
		mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
	f = fopen(path, "r");
	if (!f)
		return false;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	if (old) {
		char *open_paren = strchr(buf, '('), *close_paren = strchr(buf, ')');

		if (!open_paren || !close_paren || close_paren < open_paren)
			return false;
		snprintf(old, oldlen, "%.*s", (int)(close_paren - open_paren - 1), open_paren + 1);
	}
	f = fopen(path, "w");
	if (!f)
		return false;
	bool ok = fputs(mode, f) >= 0;
	return fclose(f) == 0 && ok;
}

static int t_close_frees_won_lock(void)
{
	struct handover_shared *sh = shared_page();
	struct handover h = { .id = id_base };
	unsigned int seconds = (unsigned int)arg_n;
	char old_mode[32] = "";
	bool full = set_preempt_mode("full", old_mode, sizeof(old_mode));
	pthread_t t[3];

	h.fd = open_heap();
	CHECK(h.fd >= 0, "open: %s", strerror(errno));
	pid_t holder = fork();
	if (holder == 0)
		handover_holder(sh, h.id);
	CHECK(holder > 0, "fork: %s", strerror(errno));
	CHECK(pthread_create(&t[0], NULL, handover_waiter, &h) == 0, "pthread_create");
	CHECK(pthread_create(&t[1], NULL, handover_closer, &h) == 0, "pthread_create");
	CHECK(pthread_create(&t[2], NULL, handover_interrupter, &h) == 0, "pthread_create");
	uint64_t end = now_ms() + seconds * 1000ull;
	while (!atomic_load(&h.stop) && now_ms() < end)
		sleep_ms(50);
	atomic_store(&h.stop, true);
	atomic_store(&sh->stop, true);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	int holder_rc = reap(holder, WAIT_MS);
	if (full)
		set_preempt_mode(old_mode, NULL, 0);
	CHECK(h.err == 0, "the waiting thread's lock/unlock failed: %s", strerror(h.err));
	CHECK(holder_rc == 0, "the holder process %s",
	      holder_rc < 0 ? "hung" : "failed");
	CHECK(close(h.fd) == 0, "close: %s", strerror(errno));
	long ms = fresh_process_lock_ms(h.id, 3000);
	CHECK(ms >= 0, "the id is still locked 3 s after every user closed the heap");
	note("%u s, preemption %s: %lu handovers, %lu locks took over 20 us, %lu released by "
	     "a sibling's close", seconds, full ? "full" : "as booted",
	     (unsigned long)atomic_load(&sh->handed), h.waited, h.released_by_close);
	return 0;
}

/* ============================== bound ============================== */

static int lock_range(int fd, __u64 first, unsigned long long count)
{
	for (unsigned long long i = 0; i < count; i++)
		if (npheap_lock(fd, first + i) != 0)
			return fail("lock %llu of %llu: %s", i + 1, count, strerror(errno));
	return 0;
}

static int t_bound_enolck(void)
{
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	if (lock_range(fd, id_base, arg_n))
		return 1;
	errno = 0;
	int rc = npheap_lock(fd, id_base + arg_n);
	CHECK(rc == -1 && errno == ENOLCK, "lock number %llu past npheap_max_locks=%llu: rc %d "
	      "%s, want ENOLCK", arg_n + 1, arg_n, rc, strerror(errno));
	/* Nothing changed: every lock is still held, the refused id is free. */
	rc = npheap_lock(fd, id_base);
	CHECK(rc == -1 && errno == EDEADLK, "a held lock changed after ENOLCK");
	rc = npheap_unlock(fd, id_base + arg_n);
	CHECK(rc == -1 && errno == EPERM, "the refused lock is held: unlock rc %d", rc);
	/* A waiter on a held id needs no new entry. */
	CHECK(npheap_unlock(fd, id_base) == 0, "unlock");
	CHECK(npheap_lock(fd, id_base + arg_n) == 0, "lock after an unlock freed an entry: %s",
	      strerror(errno));
	return 0;
}

/* The bound is per heap and frees up when the owner exits. */
static int t_bound_freed_on_exit(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open_heap();
		CHILD_CHECK(fd >= 0, "open");
		for (unsigned long long i = 0; i < arg_n; i++)
			CHILD_CHECK(npheap_lock(fd, id_base + i) == 0, "lock %llu: %s", i,
				    strerror(errno));
		_exit(0);
	}
	CHECK(reap(pid, WAIT_MS) == 0, "child failed");
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	if (lock_range(fd, id_base + arg_n, arg_n))
		return 1;
	return 0;
}

/* =============================== cost =============================== */

static long slab_kb(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Slab: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* Ask every slab cache to give its empty slabs back, then read Slab:. */
static long settled_slab_kb(void)
{
	DIR *d = opendir("/sys/kernel/slab");
	struct dirent *e;
	char path[512];

	sleep_us(200000);	/* kfree_rcu and deferred frees */
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/kernel/slab/%s/shrink", e->d_name);
		int fd = open(path, O_WRONLY);
		if (fd >= 0) {
			if (write(fd, "1", 1) != 1) {
				/* best effort */
			}
			close(fd);
		}
	}
	if (d)
		closedir(d);
	return slab_kb();
}

/* Whether the kernel has the memory controller (the debug kernel has not). */
static bool kernel_has_memcg(void)
{
	FILE *f = fopen("/proc/cgroups", "r");
	char line[256];
	bool found = false;

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "memory\t", 7))
			found = true;
	if (f)
		fclose(f);
	return found;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The 90th percentile of n samples (sorted in place): a stall of the VM's
 * host shows in the worst case, a walk of someone's locks in every close.
 */
static uint64_t p90(uint64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	return n ? v[n * 9 / 10] : 0;
}

/* A memory cgroup of its own for the lock holder; "" if cgroup2 is unusable. */
static void make_memcg(char *dir, size_t size)
{
	int fd;

	snprintf(dir, size, "/sys/fs/cgroup/npheap-locks.%d", (int)getpid());
	if (mount("none", "/sys/fs/cgroup", "cgroup2", 0, NULL) != 0 && errno != EBUSY)
		goto fail;
	fd = open("/sys/fs/cgroup/cgroup.subtree_control", O_WRONLY);
	if (fd >= 0) {
		if (write(fd, "+memory", 7) != 7) {
			/* already enabled, or not available: the mkdir below tells */
		}
		close(fd);
	}
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		goto fail;
	char path[160];
	snprintf(path, sizeof(path), "%s/memory.stat", dir);
	if (access(path, R_OK) == 0)
		return;
fail:
	dir[0] = 0;
}

static int join_memcg(const char *dir)
{
	char path[160], pid[32];
	int fd, n, ok;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -1;
	n = snprintf(pid, sizeof(pid), "%d", (int)getpid());
	ok = write(fd, pid, (size_t)n) == n;
	close(fd);
	return ok ? 0 : -1;
}

/* The cgroup's "slab" figure (bytes of slab objects charged to it), in kB. */
static long memcg_slab_kb(const char *dir)
{
	char path[160], line[256];
	long long bytes = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/memory.stat", dir);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "slab %lld", &bytes) == 1)
			break;
	fclose(f);
	return bytes < 0 ? -1 : (long)(bytes / 1024);
}

/*
 * One process holds COUNT locks (sparse ids); an unrelated process's
 * open+close and lock+unlock of another id must stay cheap, and after the
 * holder exits slab memory returns to its baseline.
 */
static int t_cost_with_many_locks_held(void)
{
	enum { SAMPLES = 200 };
	char memcg[96] = "";
	bool has_memcg = kernel_has_memcg();
	if (has_memcg)
		make_memcg(memcg, sizeof(memcg));
	CHECK(!has_memcg || memcg[0], "cannot make a memory cgroup (cgroup2) to check the "
	      "locks' accounting in");
	long before = settled_slab_kb(), memcg_before = has_memcg ? memcg_slab_kb(memcg) : 0;
	int ready[2], go[2];
	CHECK(pipe(ready) == 0 && pipe(go) == 0, "pipe");
	pid_t holder = fork();
	if (holder == 0) {
		CHILD_CHECK(!has_memcg || join_memcg(memcg) == 0, "cannot join %s: %s", memcg,
			    strerror(errno));
		int fd = open_heap();
		CHILD_CHECK(fd >= 0, "open");
		for (unsigned long long i = 0; i < arg_n; i++)
			CHILD_CHECK(npheap_lock(fd, id_base + (i << 17)) == 0, "lock %llu: %s",
				    i, strerror(errno));
		CHILD_CHECK(write(ready[1], "r", 1) == 1, "pipe");
		char x;
		if (read(go[0], &x, 1) != 1) {
			/* parent gone: exit anyway */
		}
		_exit(0);
	}
	char x;
	CHECK(read(ready[0], &x, 1) == 1, "holder did not lock %llu ids", arg_n);
	sleep_us(2500000);	/* memcg statistics are flushed every 2 s */
	long peak = slab_kb();
	long charged = has_memcg ? memcg_slab_kb(memcg) - memcg_before : -1;
	/*
	 * One process opens and closes the heap while this one locks and
	 * unlocks other ids: neither may wait on a walk of the holder's locks.
	 */
	volatile uint64_t *shared = shared_page();
	pid_t churn = fork();
	if (churn == 0) {
		uint64_t worst = 0, end = now_us() + 10000000, v[SAMPLES] = { 0 };
		int n = 0;
		/* Bounded in time too: before the fix each close took up to a second. */
		for (; n < SAMPLES && now_us() < end; n++) {
			uint64_t t0 = now_us();
			int fd = open_heap();
			CHILD_CHECK(fd >= 0, "open");
			CHILD_CHECK(close(fd) == 0, "close");
			v[n] = now_us() - t0;
			if (v[n] > worst)
				worst = v[n];
		}
		shared[0] = worst;
		shared[2] = p90(v, (size_t)n);
		shared[1] = 1;
		_exit(0);
	}
	enum { MAX_LU = 1 << 16 };
	uint64_t worst_lu = 0, *lu = malloc(MAX_LU * sizeof(*lu));
	size_t nlu = 0;
	CHECK(lu, "malloc");
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	for (int i = 0; i < SAMPLES || !shared[1]; i++) {
		uint64_t t0 = now_us();
		__u64 id = id_base + 1 + (__u64)(i % SAMPLES);
		CHECK(npheap_lock(fd, id) == 0, "lock: %s", strerror(errno));
		CHECK(npheap_unlock(fd, id) == 0, "unlock");
		uint64_t d = now_us() - t0;
		if (nlu < MAX_LU)
			lu[nlu++] = d;
		if (d > worst_lu)
			worst_lu = d;
	}
	CHECK(reap(churn, WAIT_MS) == 0, "open/close process failed");
	uint64_t worst_oc = shared[0], p90_oc = shared[2], p90_lu = p90(lu, nlu);
	free(lu);
	close(fd);
	/* The holder's exit releases every lock. */
	uint64_t t0 = now_us();
	CHECK(write(go[1], "g", 1) == 1, "pipe");
	CHECK(reap(holder, WAIT_MS) == 0, "holder failed");
	uint64_t exit_us = now_us() - t0;
	long after = settled_slab_kb();
	if (has_memcg)
		rmdir(memcg);
	note("%llu locks held elsewhere: open+close p90 %llu us worst %llu us, lock+unlock p90 "
	     "%llu us worst %llu us; "
	     "holder exit %llu us; slab before %ld kB, with the locks %ld kB (%ld kB charged "
	     "to the holder's memcg, -1: kernel without memcg), after exit %ld kB",
	     arg_n, (unsigned long long)p90_oc, (unsigned long long)worst_oc,
	     (unsigned long long)p90_lu, (unsigned long long)worst_lu,
	     (unsigned long long)exit_us, before, peak, charged, after);
	/* What the locks made the kernel hold is charged to their owner. */
	CHECK(!has_memcg || charged * 4 >= (peak - before) * 3,
	      "%ld kB of slab growth with %llu locks held, only %ld kB of it charged to the "
	      "holder's memory cgroup", peak - before, arg_n, charged);
	/* NPHEAP_LOCKS_MAX_US: the debug kernel (KASAN, lockdep) needs more. */
	const char *max_env = getenv("NPHEAP_LOCKS_MAX_US");
	uint64_t max_us = max_env ? strtoull(max_env, NULL, 10) : 20000;
	CHECK(p90_oc <= max_us && p90_lu <= max_us,
	      "with %llu ids locked by another process: open+close p90 %llu us, lock+unlock "
	      "p90 %llu us (want <= %llu us)", arg_n, (unsigned long long)p90_oc,
	      (unsigned long long)p90_lu, (unsigned long long)max_us);
	CHECK(after - before <= 2048, "slab grew by %ld kB and stayed after the holder exited",
	      after - before);
	return 0;
}

/* ============================ framework ============================ */

#define RUN(list, base) run_tests(list, sizeof(list) / sizeof(list[0]), base, 100000)

static const struct test ownership_tests[] = {
	T(clone_files_child_lock_released),
	T(close_during_wait_then_exit),
	T(thread_exit_handover_same_process),
	T(thread_exit_handover_other_process),
	T(thread_exit_wakes_sleeping_waiter),
	T(second_ofd_close_keeps_locks),
	T(dup_close_same_ofd_releases),
	T(fork_shared_ofd_owns_own_locks),
};

static const struct test race_tests[] = { T(close_race_stress) };
static const struct test handover_tests[] = { T(close_frees_won_lock) };
static const struct test bound_tests[] = { T(bound_enolck), T(bound_freed_on_exit) };
static const struct test cost_tests[] = { T(cost_with_many_locks_held) };

static int usage(void)
{
	fprintf(stderr, "usage: npheap_locks ownership DEV | close-race DEV ROUNDS |\n"
		"  handover DEV SECONDS | bound DEV MAX | cost DEV COUNT\n");
	return 2;
}

int main(int argc, char **argv)
{
	page = (size_t)sysconf(_SC_PAGESIZE);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 3)
		return usage();
	dev_path = argv[2];
	if (argc == 4) {
		char *end;
		errno = 0;
		arg_n = strtoull(argv[3], &end, 0);
		if (errno || end == argv[3] || *end || arg_n == 0)
			return usage();
	}
	if (!strcmp(argv[1], "ownership") && argc == 3)
		return RUN(ownership_tests, 3000000);
	if (!strcmp(argv[1], "close-race") && argc == 4)
		return RUN(race_tests, 4000000);
	if (!strcmp(argv[1], "handover") && argc == 4)
		return RUN(handover_tests, 7000000);
	if (!strcmp(argv[1], "bound") && argc == 4)
		return RUN(bound_tests, 5000000);
	if (!strcmp(argv[1], "cost") && argc == 4)
		return RUN(cost_tests, 6000000);
	return usage();
}
