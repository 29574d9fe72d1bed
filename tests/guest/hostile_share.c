// SPDX-License-Identifier: GPL-2.0
/*
 * hostile_share.c - one unprivileged user must not exhaust or slow what
 * other users share (issue 19).  Attackers and victims run as different
 * uids (2001, 2002, ...); each test prints the figures it measured.
 *
 *   hostile_share lock-share      a user holding all the locks it can leaves
 *                                 lock() to others (npheap_max_locks_per_user)
 *   hostile_share lock-collide    ids chosen to collide with a victim's id
 *                                 under an unkeyed hash do not slow its lock()
 *   hostile_share create-latency  a 1-page create+delete while another user
 *                                 creates 128 MiB objects, against the same
 *                                 while it fills 128 MiB of anonymous memory
 *   hostile_share msg-share       one user filling its message share leaves
 *                                 new channels to others; who is charged
 *                                 (module: max_msg_bytes=4194304
 *                                 max_msg_bytes_per_user=1048576)
 *   hostile_share gen-wrap        2^31 and 2^32 writes between two reads
 *                                 (module: msg_gen_step=2147483649)
 *   hostile_share nowait-write    RWF_NOWAIT writes never wait for memory
 *                                 (debug kernel: failslab)
 *   hostile_share setwait-wakes   MSG_SLOT_SET_WAIT 0 wakes a sleeping reader
 *   hostile_share fork-close      a forked child's close() does not walk the
 *                                 parent's locks
 */
#define _GNU_SOURCE
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "tap.h"
#include "msgslot_util.h"

#define HEAP "/dev/npheap"
#define ATTACKER_UID 2001
#define VICTIM_UID 2002
#define OTHER_UID 2003
#define USERS_FILE "/sys/kernel/debug/message_slot/users"

static long page_size;

static bool debug_kernel(void)
{
	return access("/sys/kernel/debug/kmemleak", F_OK) == 0 ||
	       access("/sys/kernel/debug/failslab", F_OK) == 0;
}

static double now_us(void)
{
	return now_seconds() * 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return v[n / 2];
}

static void *shared_mem(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* Become @uid for good (no groups, no capabilities); dies with the parent. */
static void become(uid_t uid)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (setgroups(0, NULL) != 0 || setgid(uid) != 0 || setuid(uid) != 0) {
		fprintf(stderr, "setuid %u: %s\n", uid, strerror(errno));
		_exit(126);
	}
}

static int npheap_op(int fd, unsigned long op, unsigned long long id)
{
	struct msg_slot_npheap_cmd cmd = { .offset = id * (unsigned long long)page_size };

	return ioctl(fd, op, &cmd);
}

/* Wait until *flag is non-zero or @ms pass; true if it was set. */
static bool wait_flag(volatile int *flag, int ms)
{
	int i;

	for (i = 0; i < ms && !*flag; i++)
		usleep(1000);
	return *flag != 0;
}

static void stop_child(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* ---- scenario 1: lock table exhaustion ----------------------------------------- */

struct hold_state {
	volatile int ready;
	volatile long held;
	volatile int err;
	volatile int victim_ret, victim_err;
};

/* As @uid: lock @count ids from @first (or until lock fails), then sleep. */
static pid_t hold_locks(uid_t uid, const unsigned long long *ids,
			unsigned long long first, long count,
			struct hold_state *st)
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd;
		long i;

		become(uid);
		fd = open(HEAP, O_RDWR);
		for (i = 0; fd >= 0 && i < count; i++) {
			if (npheap_op(fd, MSG_SLOT_NPHEAP_LOCK, ids ? ids[i] : first + i) != 0) {
				st->err = errno;
				break;
			}
		}
		if (fd < 0)
			st->err = errno;
		st->held = i;
		st->ready = 1;
		for (;;)
			pause();
	}
	return pid;
}

static bool t_lock_share(char *why)
{
	struct hold_state *st = shared_mem(sizeof(*st));
	unsigned long long max_locks = 0, share = 0;
	int fd, ret, err;
	pid_t pid, victim;

	TAP_CHECK(st, "mmap: %s", tap_errno_name(errno));
	TAP_CHECK(slot_param_read("npheap_max_locks", &max_locks) == 0,
		  "no npheap_max_locks parameter");
	slot_param_read("npheap_max_locks_per_user", &share);
	pid = hold_locks(ATTACKER_UID, NULL, 1000000, (long)max_locks, st);
	if (!wait_flag(&st->ready, 600000)) {
		stop_child(pid);
		TAP_FAIL("the attacker did not finish locking in 600 s");
	}
	victim = fork();
	if (victim == 0) {
		become(VICTIM_UID);
		fd = open(HEAP, O_RDWR);
		ret = fd < 0 ? -1 : npheap_op(fd, MSG_SLOT_NPHEAP_LOCK, 42);
		st->victim_ret = ret;
		st->victim_err = errno;
		if (ret == 0)
			npheap_op(fd, MSG_SLOT_NPHEAP_UNLOCK, 42);
		_exit(0);
	}
	waitpid(victim, NULL, 0);
	ret = st->victim_ret;
	err = st->victim_err;
	stop_child(pid);
	tap_note("attacker (uid %d) held %ld lock entries, then %s (npheap_max_locks %llu, npheap_max_locks_per_user %llu); victim (uid %d) lock(42): %s",
		 ATTACKER_UID, st->held, st->err ? tap_errno_name(st->err) : "no error",
		 max_locks, share, VICTIM_UID, ret == 0 ? "ok" : tap_errno_name(err));
	TAP_CHECK(ret == 0, "another user's lock(42) failed with %s while one user held %ld entries",
		  tap_errno_name(err), st->held);
	TAP_CHECK((unsigned long long)st->held < max_locks,
		  "one user held all %ld entries of the heap", st->held);
	return true;
}

/* ---- scenario 2: chosen collisions --------------------------------------------- */

/* The kernel's hash_64() on 64-bit: hash_long(), which the index used. */
static unsigned int hash_64_bits(unsigned long long val, unsigned int bits)
{
	return (unsigned int)((val * 0x61C8864680B583EBull) >> (64 - bits));
}

/* lock+unlock of @id through @fd, in microseconds. */
static double lock_unlock_us(int fd, unsigned long long id)
{
	double t0 = now_us();

	if (npheap_op(fd, MSG_SLOT_NPHEAP_LOCK, id) != 0 ||
	    npheap_op(fd, MSG_SLOT_NPHEAP_UNLOCK, id) != 0)
		return -1;
	return now_us() - t0;
}

#define COLLIDE_ROUNDS 301

struct collide_state {
	struct hold_state hold;
	double victim[COLLIDE_ROUNDS], control[COLLIDE_ROUNDS];
};

static bool t_lock_collide(char *why)
{
	const unsigned long long victim_id = 42;
	unsigned long long max_locks = 131072, share = 0, control = 7, id;
	struct collide_state *cs = shared_mem(sizeof(struct collide_state));
	struct hold_state *st;
	double *vt, *ct, ratio;
	unsigned long long *ids;
	unsigned int bits, want;
	long n, i;
	pid_t pid, victim;

	TAP_CHECK(cs, "mmap: %s", tap_errno_name(errno));
	st = &cs->hold;
	vt = cs->victim;
	ct = cs->control;
	slot_param_read("npheap_max_locks", &max_locks);
	slot_param_read("npheap_max_locks_per_user", &share);
	/* The table size of npheap_locktab_alloc(): about 8 entries per bucket. */
	bits = 0;
	while ((max_locks / 8) >> bits)
		bits++;
	bits = bits < 6 ? 6 : bits > 12 ? 12 : bits;
	n = debug_kernel() ? 4000 : 16000;
	if (share && (unsigned long long)n > share)
		n = (long)share;
	ids = calloc((size_t)n, sizeof(*ids));
	TAP_CHECK(ids, "calloc");
	want = hash_64_bits(victim_id, bits);
	for (i = 0, id = 1000; i < n; id++)
		if (hash_64_bits(id, bits) == want && id != victim_id)
			ids[i++] = id;
	while (hash_64_bits(control, bits) == want)
		control++;

	pid = hold_locks(ATTACKER_UID, ids, 0, n, st);
	if (!wait_flag(&st->ready, 600000)) {
		stop_child(pid);
		TAP_FAIL("the attacker did not finish locking in 600 s");
	}
	victim = fork();
	if (victim == 0) {
		int fd;

		become(VICTIM_UID);
		fd = open(HEAP, O_RDWR);
		for (i = 0; fd >= 0 && i < COLLIDE_ROUNDS; i++) {
			vt[i] = lock_unlock_us(fd, victim_id);
			ct[i] = lock_unlock_us(fd, control);
		}
		_exit(fd < 0);
	}
	waitpid(victim, NULL, 0);
	stop_child(pid);
	for (i = 0; i < COLLIDE_ROUNDS; i++)
		TAP_CHECK(vt[i] >= 0 && ct[i] >= 0, "the victim's lock/unlock failed");
	{
		double vmax = 0;

		for (i = 0; i < COLLIDE_ROUNDS; i++)
			vmax = vt[i] > vmax ? vt[i] : vmax;
		ratio = median(vt, COLLIDE_ROUNDS) / median(ct, COLLIDE_ROUNDS);
		tap_note("%ld ids held by uid %d, all in id %llu's hash_long() bucket (%u bits): its lock+unlock median %.1f us (max %.1f), control id %llu %.1f us: %.2fx",
			 st->held, ATTACKER_UID, victim_id, bits, vt[COLLIDE_ROUNDS / 2],
			 vmax, control, ct[COLLIDE_ROUNDS / 2], ratio);
	}
	free(ids);
	TAP_CHECK(st->held == n, "the attacker could lock only %ld of %ld ids (%s)",
		  st->held, n, tap_errno_name(st->err));
	TAP_CHECK(ratio <= 3.0, "the victim id costs %.1fx a control id with %ld chosen ids held",
		  ratio, n);
	return true;
}

/* ---- scenario 3: creation under the heap-wide mutex ---------------------------- */

#define IDLE_ROUNDS 41
#define BUSY_ROUNDS 15

/* Create object @id of one page by mmap, then delete it; microseconds. */
static double create_delete_us(int fd, unsigned long long id)
{
	double t0 = now_us();
	void *p = mmap(NULL, (size_t)page_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		       fd, (off_t)(id * (unsigned long long)page_size));

	if (p == MAP_FAILED)
		return -1;
	munmap(p, (size_t)page_size);
	if (npheap_op(fd, MSG_SLOT_NPHEAP_DELETE, id) != 0)
		return -1;
	return now_us() - t0;
}

/*
 * The attacker publishes the number of the 128 MiB creation it is in (0:
 * none); the victim times one 1-page create+delete a few milliseconds into
 * each, so every busy sample overlaps a creation.  The control phase has
 * the attacker fill 128 MiB of shared anonymous memory instead: the same
 * page allocation and zeroing outside the driver, so what the VM's host
 * adds to both (other work on its cores, an emulated CPU's IPIs) is not
 * blamed on the driver.
 */
enum { CONTROL, HEAP_OBJECT };

struct create_state {
	volatile long creating;
	volatile long rounds;
	volatile int what;
	volatile int stop;
	double idle[IDLE_ROUNDS];
	double busy[2][BUSY_ROUNDS];
};

/* The attacker's side: 128 MiB creations of st->what until st->stop. */
static void create_big_objects(struct create_state *st)
{
	const size_t big = 128UL << 20;
	int fd;

	become(ATTACKER_UID);
	fd = open(HEAP, O_RDWR);
	while (!st->rounds)
		usleep(1000);
	while (fd >= 0 && !st->stop) {
		bool heap = st->what == HEAP_OBJECT;
		void *p;

		st->creating = st->rounds;
		if (heap)
			p = mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
				 500 * page_size);
		else
			p = mmap(NULL, big, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		st->creating = 0;
		if (p == MAP_FAILED)
			break;
		munmap(p, big);
		if (heap)
			npheap_op(fd, MSG_SLOT_NPHEAP_DELETE, 500);
		st->rounds++;
	}
	_exit(0);
}

/* One round of scenario 3 into @st; false if an operation failed. */
static bool create_latency_round(struct create_state *st, double *ratio, char *why)
{
	double idle, control, busy, bmax = 0;
	pid_t attacker, victim;
	int fd, i, what;

	memset(st, 0, sizeof(*st));
	victim = fork();
	if (victim == 0) {
		long seen = 0;

		become(VICTIM_UID);
		fd = open(HEAP, O_RDWR);
		if (fd < 0)
			_exit(1);
		for (i = 0; i < IDLE_ROUNDS; i++)
			st->idle[i] = create_delete_us(fd, 900 + i);
		st->rounds = 1;		/* the attacker may start */
		for (what = CONTROL; what <= HEAP_OBJECT; what++) {
			st->what = what;
			for (i = 0; i < BUSY_ROUNDS; i++) {
				/* Into a creation begun after the switch. */
				while (st->creating == 0 || st->creating <= seen + (i == 0))
					usleep(200);
				seen = st->creating;
				usleep(5000);
				st->busy[what][i] = create_delete_us(fd, 900 + i);
			}
		}
		_exit(0);
	}
	attacker = fork();
	if (attacker == 0)
		create_big_objects(st);
	waitpid(victim, NULL, 0);
	st->stop = 1;
	waitpid(attacker, NULL, 0);
	for (i = 0; i < IDLE_ROUNDS; i++)
		TAP_CHECK(st->idle[i] >= 0, "the victim's idle 1-page create+delete failed");
	for (i = 0; i < BUSY_ROUNDS; i++) {
		TAP_CHECK(st->busy[CONTROL][i] >= 0 && st->busy[HEAP_OBJECT][i] >= 0,
			  "the victim's 1-page create+delete failed");
		bmax = st->busy[HEAP_OBJECT][i] > bmax ? st->busy[HEAP_OBJECT][i] : bmax;
	}
	idle = median(st->idle, IDLE_ROUNDS);
	control = median(st->busy[CONTROL], BUSY_ROUNDS);
	busy = median(st->busy[HEAP_OBJECT], BUSY_ROUNDS);
	*ratio = busy / (control > idle ? control : idle);
	tap_note("1-page create+delete by uid %d: idle median %.0f us; during uid %d's 128 MiB anonymous fills (control) %.0f us; during its 128 MiB heap objects (%ld creations): median %.0f us, max %.0f us (%.1fx idle, %.1fx control)",
		 VICTIM_UID, idle, ATTACKER_UID, control, st->rounds - 1, busy, bmax,
		 busy / idle, busy / control);
	return true;
}

/*
 * The best of three rounds against the larger of idle and control: a
 * victim that waits for the attacker's creation waits for all of it in
 * every round (hundreds of times its idle latency).
 */
static bool t_create_latency(char *why)
{
	struct create_state *st = shared_mem(sizeof(struct create_state));
	double ratio = 0;
	int round;

	TAP_CHECK(st, "mmap: %s", tap_errno_name(errno));
	for (round = 0; round < 3; round++) {
		if (!create_latency_round(st, &ratio, why))
			return false;
		if (ratio <= 10)
			return true;
	}
	TAP_FAIL("during 128 MiB heap-object creations the median was %.1fx the larger of idle and control in each of 3 rounds (bound 10x)",
		 ratio);
}

/* ---- scenario 4: the message budget -------------------------------------------- */

/* msg_bytes of @uid in the users file, or -1. */
static long user_msg_bytes(uid_t uid)
{
	char text[8192], *line;
	long bytes = -1;

	if (read_text(USERS_FILE, text, sizeof(text)) < 0)
		return -1;
	for (line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		unsigned long u;
		long b;

		if (sscanf(line, "%lu %ld", &u, &b) == 2 && u == uid)
			bytes = b;
	}
	return bytes;
}

/* As @uid: write @text to @channel of slot @minor; 0 or the errno. */
static int write_as(uid_t uid, unsigned int minor, unsigned int channel,
		    const char *text)
{
	volatile int *res = shared_mem(sizeof(int));
	pid_t pid;
	int err;

	if (!res)
		return errno;
	pid = fork();
	if (pid == 0) {
		int fd;

		if (uid)
			become(uid);
		fd = slot_open_channel(minor, channel);
		*res = fd < 0 ? errno :
		       write(fd, text, strlen(text)) == (ssize_t)strlen(text) ? 0 : errno;
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	err = *res;
	munmap((void *)res, sizeof(int));
	return err;
}

static bool t_msg_share(char *why)
{
	unsigned long long share = 0, bound = 0, used = 0;
	volatile long *count = shared_mem(2 * sizeof(long));
	long a0, a1, v0, v1;
	pid_t pid;
	int err, i;
	char path[64];

	TAP_CHECK(count, "mmap: %s", tap_errno_name(errno));
	/* The nodes are made by root, mode 0666, before anyone drops uid. */
	for (i = 60; i <= 63; i++)
		TAP_CHECK(slot_path((unsigned int)i, path, sizeof(path)) == 0 &&
			  chmod(path, 0666) == 0, "mknod %s: %s", path, tap_errno_name(errno));
	slot_param_read("max_msg_bytes", &bound);
	slot_param_read("max_msg_bytes_per_user", &share);
	pid = fork();
	if (pid == 0) {
		int fd;
		unsigned int ch;

		become(ATTACKER_UID);
		fd = slot_open(60, O_RDWR);
		for (ch = 1; fd >= 0; ch += 65537) {
			if (ioctl(fd, MSG_SLOT_CHANNEL, ch) != 0 || write(fd, "x", 1) != 1)
				break;
			count[0]++;
		}
		count[1] = errno;
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	slot_param_read("msg_bytes_used", &used);
	tap_note("uid %d stored %ld 1-byte messages on sparse ids, then %s; msg_bytes_used %llu of max_msg_bytes %llu, max_msg_bytes_per_user %llu",
		 ATTACKER_UID, count[0], tap_errno_name((int)count[1]), used, bound, share);
	err = write_as(VICTIM_UID, 61, 7, "victim");
	TAP_CHECK(err == 0, "after uid %d filled its share and exited, uid %d's write to a new channel failed with %s",
		  ATTACKER_UID, VICTIM_UID, tap_errno_name(err));
	TAP_CHECK(share, "no max_msg_bytes_per_user parameter");
	TAP_CHECK(used <= share, "one user holds %llu bytes, above its share %llu", used, share);

	/* The last writer pays: the victim overwrites one of the attacker's. */
	a0 = user_msg_bytes(ATTACKER_UID);
	v0 = user_msg_bytes(VICTIM_UID);
	TAP_CHECK(a0 > 0 && v0 > 0, "no per-user figures in " USERS_FILE " (uid %d: %ld, uid %d: %ld)",
		  ATTACKER_UID, a0, VICTIM_UID, v0);
	err = write_as(VICTIM_UID, 60, 1, "y");
	TAP_CHECK(err == 0, "uid %d overwriting channel 1: %s", VICTIM_UID, tap_errno_name(err));
	a1 = user_msg_bytes(ATTACKER_UID);
	v1 = user_msg_bytes(VICTIM_UID);
	tap_note("uid %d overwrote uid %d's 1-byte message: uid %d %ld -> %ld bytes, uid %d %ld -> %ld bytes",
		 VICTIM_UID, ATTACKER_UID, ATTACKER_UID, a0, a1, VICTIM_UID, v0, v1);
	TAP_CHECK(a1 == a0 - 32 && v1 == v0 + 32,
		  "the message's 32 bytes did not move from uid %d to uid %d", ATTACKER_UID,
		  VICTIM_UID);

	/* A share of 0: others are refused, CAP_SYS_RESOURCE (root) is not. */
	TAP_CHECK(slot_param_write("max_msg_bytes_per_user", 0) == 0, "set the share to 0");
	err = write_as(OTHER_UID, 62, 1, "other");
	i = write_as(0, 62, 2, "root");
	slot_param_write("max_msg_bytes_per_user", share);
	TAP_CHECK(err == ENOMEM, "with a share of 0, uid %d's new channel: %s (want ENOMEM)",
		  OTHER_UID, tap_errno_name(err));
	TAP_CHECK(i == 0, "with a share of 0, root's new channel: %s (want success)",
		  tap_errno_name(i));
	return true;
}

/* ---- scenario 5: generation wrap ----------------------------------------------- */

static bool readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static bool t_gen_wrap(char *why)
{
	unsigned long long step = 0;
	char buf[16];
	int fd = slot_open_channel(64, 5);

	TAP_CHECK(fd >= 0, "open slot 64: %s", tap_errno_name(errno));
	TAP_CHECK(slot_param_read("msg_gen_step", &step) == 0 && step == 2147483649ULL,
		  "no msg_gen_step test hook set to 2^31 + 1 (read %llu)", step);
	TAP_CHECK(ioctl(fd, MSG_SLOT_SET_WAIT, 1U) == 0, "SET_WAIT 1: %s",
		  tap_errno_name(errno));
	TAP_CHECK(write(fd, "one", 3) == 3, "write one");
	EXPECT_MESSAGE(fd, "one", 3, "first read");
	TAP_CHECK(!readable(fd), "readable after reading the only message");
	TAP_CHECK(write(fd, "two", 3) == 3, "write two");
	TAP_CHECK(readable(fd), "not readable 2^31 + 1 writes later");
	EXPECT_MESSAGE(fd, "two", 3, "read 2^31 + 1 writes later");
	TAP_CHECK(!readable(fd), "still readable after reading the message 2^31 + 1 writes later");
	TAP_CHECK(fcntl(fd, F_SETFL, O_NONBLOCK) == 0, "O_NONBLOCK");
	EXPECT_ERRNO(read(fd, buf, sizeof(buf)), EAGAIN,
		     "waiting read after reading the newest message");

	TAP_CHECK(slot_param_write("msg_gen_step", 4294967296ULL) == 0, "msg_gen_step = 2^32");
	TAP_CHECK(write(fd, "three", 5) == 5, "write three");
	TAP_CHECK(readable(fd), "not readable 2^32 writes later");
	EXPECT_MESSAGE(fd, "three", 5, "read 2^32 writes later");
	TAP_CHECK(!readable(fd), "still readable after reading the message 2^32 writes later");
	slot_param_write("msg_gen_step", 1);
	close(fd);
	return true;
}

/* ---- scenario 6: IOCB_NOWAIT, SET_WAIT 0, fork + close -------------------------- */

static int write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

static bool failslab_setup(bool on)
{
	static const char *const keys[][2] = {
		{ "probability", "100" }, { "interval", "1" }, { "times", "-1" },
		{ "space", "0" }, { "verbose", "0" }, { "ignore-gfp-wait", "Y" },
		{ "task-filter", "Y" },
	};
	char path[128];
	size_t i;

	if (!on) {
		snprintf(path, sizeof(path), "/sys/kernel/debug/failslab/probability");
		return write_text(path, "0") == 0;
	}
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		snprintf(path, sizeof(path), "/sys/kernel/debug/failslab/%s", keys[i][0]);
		if (write_text(path, keys[i][1]) != 0)
			return false;
	}
	return true;
}

static bool t_nowait_write(char *why)
{
	struct iovec iov = { .iov_base = "nowait", .iov_len = 6 };
	int fd = slot_open_channel(65, 9), ret, err;
	char buf[16];

	TAP_CHECK(fd >= 0, "open slot 65: %s", tap_errno_name(errno));
	/* Without injection it is an ordinary write. */
	TAP_CHECK(pwritev2(fd, &iov, 1, -1, RWF_NOWAIT) == 6, "RWF_NOWAIT write: %s",
		  tap_errno_name(errno));
	EXPECT_MESSAGE(fd, "nowait", 6, "after the RWF_NOWAIT write");
	TAP_CHECK(ioctl(fd, MSG_SLOT_CHANNEL, 10U) == 0, "channel 10");
	if (access("/sys/kernel/debug/failslab", F_OK) != 0) {
		tap_note("no failslab here: only the plain RWF_NOWAIT write is checked");
		return true;
	}
	TAP_CHECK(failslab_setup(true), "failslab setup: %s", tap_errno_name(errno));
	/* Only allocations that do not sleep fail, and only this task's. */
	TAP_CHECK(write_text("/proc/thread-self/make-it-fail", "1") == 0, "make-it-fail");
	errno = 0;
	ret = (int)pwritev2(fd, &iov, 1, -1, RWF_NOWAIT);
	err = errno;
	write_text("/proc/thread-self/make-it-fail", "0");
	failslab_setup(false);
	TAP_CHECK(ret == -1 && err == EAGAIN,
		  "RWF_NOWAIT write to a new channel with non-sleeping allocations failing: got %s, want -1/EAGAIN (it allocated memory in a way that may sleep)",
		  tap_got(ret, err));
	EXPECT_ERRNO(read(fd, buf, sizeof(buf)), EWOULDBLOCK,
		     "channel 10 after the refused write");
	TAP_CHECK(write(fd, "later", 5) == 5, "plain write: %s", tap_errno_name(errno));
	close(fd);
	return true;
}

struct sleeper {
	int fd;
	volatile int done;
	long ret;
	int err;
};

static void *sleeping_read(void *p)
{
	struct sleeper *s = p;
	char buf[16];

	s->ret = read(s->fd, buf, sizeof(buf));
	s->err = errno;
	s->done = 1;
	return NULL;
}

static bool t_setwait_wakes(char *why)
{
	struct sleeper s = { .fd = slot_open_channel(66, 3) };
	pthread_t th;
	bool woke;

	TAP_CHECK(s.fd >= 0, "open slot 66: %s", tap_errno_name(errno));
	TAP_CHECK(ioctl(s.fd, MSG_SLOT_SET_WAIT, 1U) == 0, "SET_WAIT 1");
	TAP_CHECK(pthread_create(&th, NULL, sleeping_read, &s) == 0, "pthread_create");
	usleep(300000);
	if (s.done) {
		pthread_join(th, NULL);
		TAP_FAIL("the waiting read on an empty channel returned %s at once",
			 tap_got(s.ret, s.err));
	}
	TAP_CHECK(ioctl(s.fd, MSG_SLOT_SET_WAIT, 0U) == 0, "SET_WAIT 0");
	woke = wait_flag(&s.done, 2000);
	if (!woke) {
		int w = slot_open_channel(66, 3);

		if (w >= 0 && write(w, "release", 7) == 7)
			close(w);
	}
	pthread_join(th, NULL);
	close(s.fd);
	TAP_CHECK(woke, "the reader still slept 2 s after MSG_SLOT_SET_WAIT 0");
	TAP_CHECK(s.ret == -1 && s.err == EWOULDBLOCK,
		  "the woken read returned %s, want -1/EWOULDBLOCK (empty channel)",
		  tap_got(s.ret, s.err));
	return true;
}

#define CLOSE_ROUNDS 21

/* Median time a forked child takes to close(@fd), in microseconds. */
static double child_close_us(int fd, double *t)
{
	int i;

	for (i = 0; i < CLOSE_ROUNDS; i++) {
		pid_t pid = fork();

		if (pid == 0) {
			double t0 = now_us();

			close(fd);
			t[i] = now_us() - t0;
			_exit(0);
		}
		waitpid(pid, NULL, 0);
	}
	return median(t, CLOSE_ROUNDS);
}

static bool t_fork_close(char *why)
{
	long n = debug_kernel() ? 20000 : 100000, i;
	double *t = shared_mem(CLOSE_ROUNDS * sizeof(double)), busy, idle;
	int fd = open(HEAP, O_RDWR), quiet = open(HEAP, O_RDWR);

	TAP_CHECK(t && fd >= 0 && quiet >= 0, "open " HEAP ": %s", tap_errno_name(errno));
	for (i = 0; i < n; i++)
		TAP_CHECK(npheap_op(fd, MSG_SLOT_NPHEAP_LOCK, 2000000 + i) == 0,
			  "lock %ld: %s", i, tap_errno_name(errno));
	idle = child_close_us(quiet, t);
	busy = child_close_us(fd, t);
	tap_note("a forked child's close(): %.1f us with %ld locks held by its parent through the file, %.1f us with none (%.1fx)",
		 busy, n, idle, busy / idle);
	close(fd);
	close(quiet);
	TAP_CHECK(busy <= 5 * idle + 20, "%.1f us with the parent's %ld locks, %.1f us without",
		  busy, n, idle);
	return true;
}

static const struct {
	const char *mode, *name;
	tap_test_fn fn;
} modes[] = {
	{ "lock-share", "lock_share_leaves_locks_to_others", t_lock_share },
	{ "lock-collide", "chosen_ids_do_not_slow_a_victim_id", t_lock_collide },
	{ "create-latency", "big_object_creation_does_not_delay_others", t_create_latency },
	{ "msg-share", "message_share_leaves_channels_to_others", t_msg_share },
	{ "gen-wrap", "generation_survives_2pow31_and_2pow32_writes", t_gen_wrap },
	{ "nowait-write", "nowait_write_does_not_wait_for_memory", t_nowait_write },
	{ "setwait-wakes", "set_wait_0_wakes_a_sleeping_reader", t_setwait_wakes },
	{ "fork-close", "forked_child_close_walks_only_its_locks", t_fork_close },
};

int main(int argc, char **argv)
{
	size_t i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	page_size = sysconf(_SC_PAGESIZE);
	for (i = 0; argc == 2 && i < sizeof(modes) / sizeof(modes[0]); i++)
		if (strcmp(argv[1], modes[i].mode) == 0) {
			tap_run(modes[i].name, modes[i].fn);
			return tap_exit_code();
		}
	fprintf(stderr, "usage: %s <mode>; modes:", argv[0]);
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		fprintf(stderr, " %s", modes[i].mode);
	fputc('\n', stderr);
	return 2;
}
