// SPDX-License-Identifier: GPL-2.0
/*
 * msgslot_stress.c - concurrency: many processes and threads reading and
 * writing message slots at once.  Every message is self-validating (its
 * first byte is its length, then a 32-bit seed, then bytes generated from
 * the seed), so a reader can tell a torn or mixed message from a whole one.
 *
 * Each phase runs for MSGSLOT_STRESS_SECONDS (default 3) seconds.
 * Uses slots 10, 11, 12.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "tap.h"
#include "msgslot_util.h"

#define NPROC 8
#define MAX_MSG 128

static double duration = 3.0;

/* ---- self-validating messages ---------------------------------------- */

static size_t make_message(uint32_t seed, size_t len, unsigned char *out)
{
	uint32_t state = seed ^ ((uint32_t)len * 0x9E3779B1u);
	size_t i;

	out[0] = (unsigned char)len;
	if (len < 6) {
		for (i = 1; i < len; i++)
			out[i] = (unsigned char)(len * 37 + i);
		return len;
	}
	memcpy(out + 1, &seed, 4);
	for (i = 5; i < len; i++)
		out[i] = (unsigned char)xorshift32(&state);
	return len;
}

/* Is buf[0..n) a message make_message() could have produced? */
static bool valid_message(const unsigned char *buf, long n, char *why)
{
	unsigned char want[MAX_MSG];
	uint32_t seed;
	long i;

	if (n < 1 || n > MAX_MSG) {
		tap_why(why, "read returned %ld bytes (must be 1..128)", n);
		return false;
	}
	if (buf[0] != n) {
		tap_why(why, "torn message: read returned %ld bytes but the message says %u",
			n, buf[0]);
		return false;
	}
	seed = 0;
	if (n >= 6)
		memcpy(&seed, buf + 1, 4);
	make_message(seed, (size_t)n, want);
	for (i = 0; i < n; i++) {
		if (buf[i] != want[i]) {
			tap_why(why, "torn message: %ld-byte message with seed 0x%08x differs at byte %ld (0x%02x, expected 0x%02x)",
				n, seed, i, buf[i], want[i]);
			return false;
		}
	}
	return true;
}

/* ---- worker bookkeeping in shared memory ------------------------------ */

struct worker_result {
	int failed;
	unsigned long writes, reads;
	char why[TAP_WHY_LEN];
};

/* Per (worker, slot, channel) record of the last message written. */
#define CH_PER_WORKER 16
#define SLOTS_USED 3
static const unsigned int stress_slots[SLOTS_USED] = { 10, 11, 12 };

struct last_write {
	uint32_t seed; /* 0 = never written */
	uint32_t len;
};

struct shared {
	struct worker_result result[NPROC];
	struct last_write last[NPROC][SLOTS_USED][CH_PER_WORKER];
};

static struct shared *shared;

static unsigned int private_channel(int worker, int k)
{
	return 100u + (unsigned int)worker * CH_PER_WORKER + (unsigned int)k;
}

/* Fork NPROC workers running fn(worker) and wait for all of them. */
static bool run_workers(void (*fn)(int worker), char *why)
{
	pid_t pids[NPROC];
	unsigned long writes = 0, reads = 0;
	int i, status;
	bool ok = true;

	memset(shared->result, 0, sizeof(shared->result));
	fflush(stdout);
	for (i = 0; i < NPROC; i++) {
		pids[i] = fork();
		if (pids[i] < 0) {
			tap_why(why, "fork: %s", tap_errno_name(errno));
			return false;
		}
		if (pids[i] == 0) {
			fn(i);
			_exit(shared->result[i].failed ? 1 : 0);
		}
	}
	for (i = 0; i < NPROC; i++) {
		if (waitpid(pids[i], &status, 0) != pids[i] ||
		    !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
			if (ok && !shared->result[i].failed)
				tap_why(why, "worker %d died (status 0x%x)", i, status);
			ok = false;
		}
		writes += shared->result[i].writes;
		reads += shared->result[i].reads;
	}
	for (i = 0; i < NPROC; i++) {
		if (shared->result[i].failed) {
			tap_why(why, "worker %d: %s", i, shared->result[i].why);
			ok = false;
			break;
		}
	}
	tap_note("%d workers: %lu writes, %lu reads in %.1f s", NPROC, writes, reads, duration);
	if (ok && (writes == 0 || reads == 0)) {
		tap_why(why, "workers made no progress (%lu writes, %lu reads)", writes, reads);
		ok = false;
	}
	return ok;
}

#define WORKER_FAIL(res, ...)                                            \
	do {                                                             \
		tap_why((res)->why, __VA_ARGS__);                        \
		(res)->failed = 1;                                       \
		return;                                                  \
	} while (0)

/* ---- phase 1: eight processes on one channel -------------------------- */

#define SHARED_SLOT 10

/* Phase 1a: random lengths on channel 1; 1b: always 128 bytes on channel 2,
 * so every write after the first replaces a same-sized message (a driver
 * may overwrite it in place, which readers must never see half done). */
static unsigned int shared_channel = 1;
static size_t fixed_len;

static void one_channel_worker(int worker)
{
	struct worker_result *res = &shared->result[worker];
	unsigned char msg[MAX_MSG], buf[256];
	uint32_t rng = 0x1234567u + (uint32_t)worker * 7919u, seq = 0;
	bool writer = worker % 2 == 0; /* half write+read, half only read */
	double deadline = now_seconds() + duration;
	char why[TAP_WHY_LEN];
	int fd = slot_open_channel(SHARED_SLOT, shared_channel);

	if (fd < 0)
		WORKER_FAIL(res, "open+ioctl: %s", tap_errno_name(errno));
	while (now_seconds() < deadline) {
		int round;

		for (round = 0; round < 64; round++) {
			if (writer) {
				size_t len = fixed_len ? fixed_len : 1 + xorshift32(&rng) % MAX_MSG;
				uint32_t seed = ((uint32_t)worker << 24) | (++seq & 0xFFFFFF);
				long n;

				make_message(seed, len, msg);
				n = write(fd, msg, len);
				if (n != (long)len)
					WORKER_FAIL(res, "write of %zu bytes: got %s", len,
						    tap_got(n, errno));
				res->writes++;
			}
			/* 128 is always enough: ENOSPC here would be a bug too. */
			long n = read(fd, buf, (round & 1) ? MAX_MSG : sizeof(buf));
			if (n < 0)
				WORKER_FAIL(res, "read: got %s", tap_got(n, errno));
			if (!valid_message(buf, n, why))
				WORKER_FAIL(res, "%s", why);
			res->reads++;
		}
	}
	close(fd);
}

static bool t_one_channel(char *why)
{
	unsigned char msg[MAX_MSG];
	size_t len = make_message(0xABCDEF01u, fixed_len ? fixed_len : 100, msg);
	int fd = slot_open_channel(SHARED_SLOT, shared_channel);

	TAP_CHECK(fd >= 0, "open+ioctl: %s", tap_errno_name(errno));
	EXPECT_RET(write(fd, msg, len), (long)len, "initial write");
	if (!run_workers(one_channel_worker, why))
		return false;
	unsigned char buf[MAX_MSG];
	long n = read(fd, buf, sizeof(buf));
	TAP_CHECK(n > 0, "final read: %s", tap_got(n, errno));
	if (!valid_message(buf, n, why))
		return false;
	close(fd);
	return true;
}

/* ---- phase 2: writers on their own channels across slots -------------- */

static void private_channels_worker(int worker)
{
	struct worker_result *res = &shared->result[worker];
	unsigned char msg[MAX_MSG], buf[MAX_MSG];
	uint32_t rng = 0xC0FFEEu + (uint32_t)worker * 104729u, seq = 0;
	double deadline = now_seconds() + duration;
	int fds[SLOTS_USED], s;

	for (s = 0; s < SLOTS_USED; s++) {
		fds[s] = slot_open(stress_slots[s], O_RDWR);
		if (fds[s] < 0)
			WORKER_FAIL(res, "open slot %u: %s", stress_slots[s],
				    tap_errno_name(errno));
	}
	while (now_seconds() < deadline) {
		int round;

		for (round = 0; round < 32; round++) {
			uint32_t r = xorshift32(&rng);
			int slot = (int)(r % SLOTS_USED), k = (int)((r >> 8) % CH_PER_WORKER);
			unsigned int ch = private_channel(worker, k);
			size_t len = 1 + (r >> 16) % MAX_MSG;
			uint32_t seed = ((uint32_t)worker << 24) | (++seq & 0xFFFFFF);
			long n;

			if (ioctl(fds[slot], MSG_SLOT_CHANNEL, ch) != 0)
				WORKER_FAIL(res, "ioctl channel %u: %s", ch, tap_errno_name(errno));
			make_message(seed, len, msg);
			n = write(fds[slot], msg, len);
			if (n != (long)len)
				WORKER_FAIL(res, "write slot %u ch %u: got %s", stress_slots[slot],
					    ch, tap_got(n, errno));
			shared->last[worker][slot][k].seed = seed;
			shared->last[worker][slot][k].len = (uint32_t)len;
			res->writes++;
			/* Nobody else writes this channel: must read back exactly. */
			n = read(fds[slot], buf, sizeof(buf));
			if (n != (long)len || memcmp(buf, msg, len) != 0)
				WORKER_FAIL(res, "slot %u ch %u: wrote %zu bytes (seed 0x%08x), read back %s bytes%s",
					    stress_slots[slot], ch, len, seed, tap_got(n, errno),
					    n == (long)len ? " with different content" : "");
			res->reads++;
		}
	}
	for (s = 0; s < SLOTS_USED; s++)
		close(fds[s]);
}

static bool t_private_channels(char *why)
{
	unsigned char want[MAX_MSG], buf[MAX_MSG];
	int w, s, k, fd;

	memset(shared->last, 0, sizeof(shared->last));
	if (!run_workers(private_channels_worker, why))
		return false;
	/* Every channel holds exactly the last message its owner wrote. */
	for (s = 0; s < SLOTS_USED; s++) {
		fd = slot_open(stress_slots[s], O_RDONLY);
		TAP_CHECK(fd >= 0, "open slot %u: %s", stress_slots[s], tap_errno_name(errno));
		for (w = 0; w < NPROC; w++) {
			for (k = 0; k < CH_PER_WORKER; k++) {
				struct last_write *lw = &shared->last[w][s][k];
				unsigned int ch = private_channel(w, k);

				EXPECT_RET(ioctl(fd, MSG_SLOT_CHANNEL, ch), 0, "ioctl %u", ch);
				if (lw->seed == 0) {
					EXPECT_ERRNO(read(fd, buf, sizeof(buf)), EWOULDBLOCK,
						     "slot %u ch %u never written", stress_slots[s], ch);
					continue;
				}
				make_message(lw->seed, lw->len, want);
				EXPECT_MESSAGE(fd, want, lw->len,
					       "slot %u ch %u after all workers exited (last write seed 0x%08x)",
					       stress_slots[s], ch, lw->seed);
			}
		}
		close(fd);
	}
	return true;
}

/* ---- phase 3: threads sharing fds, switching channels, open/close ----- */

#define NTHREADS 8
#define CHAOS_SLOT 12
#define CHAOS_CHANNELS 8u
#define CHAOS_BASE 5000u

struct chaos_thread {
	pthread_t thread;
	int id;
	int shared_fd;
	bool failed;
	unsigned long ops;
	char why[TAP_WHY_LEN];
};

static void *chaos_main(void *arg)
{
	struct chaos_thread *t = arg;
	unsigned char msg[MAX_MSG], buf[MAX_MSG];
	uint32_t rng = 0xBADC0DEu + (uint32_t)t->id * 15485863u, seq = 0;
	double deadline = now_seconds() + duration;
	/* threads 0-3 share one fd (their channel choices race), 4-5 own fds,
	 * 6-7 open/ioctl/read/close over and over */
	int mode = t->id < 4 ? 0 : t->id < 6 ? 1 : 2;
	int fd = mode == 0 ? t->shared_fd : mode == 1 ? slot_open(CHAOS_SLOT, O_RDWR) : -1;

	if (mode == 1 && fd < 0) {
		tap_why(t->why, "open: %s", tap_errno_name(errno));
		t->failed = true;
		return NULL;
	}
	while (now_seconds() < deadline) {
		uint32_t r = xorshift32(&rng);
		unsigned int ch = CHAOS_BASE + r % CHAOS_CHANNELS;
		long n;

		if (mode == 2) {
			fd = slot_open(CHAOS_SLOT, O_RDONLY);
			if (fd < 0) {
				tap_why(t->why, "open: %s", tap_errno_name(errno));
				t->failed = true;
				return NULL;
			}
		}
		if (ioctl(fd, MSG_SLOT_CHANNEL, ch) != 0) {
			tap_why(t->why, "ioctl %u: %s", ch, tap_errno_name(errno));
			t->failed = true;
			break;
		}
		if (mode != 2) {
			size_t len = 1 + (r >> 8) % MAX_MSG;

			make_message(((uint32_t)(t->id + 100) << 24) | (++seq & 0xFFFFFF), len, msg);
			n = write(fd, msg, len);
			if (n != (long)len) {
				tap_why(t->why, "write %zu bytes: got %s", len, tap_got(n, errno));
				t->failed = true;
				break;
			}
		}
		/* With a shared fd the channel may change under us: any whole,
		 * valid message is fine, a torn one is not. */
		n = read(fd, buf, sizeof(buf));
		if (n < 0) {
			tap_why(t->why, "read: got %s", tap_got(n, errno));
			t->failed = true;
			break;
		}
		if (!valid_message(buf, n, t->why)) {
			t->failed = true;
			break;
		}
		t->ops++;
		if (mode == 2) {
			close(fd);
			fd = -1;
		}
	}
	if (mode == 1 || (mode == 2 && fd >= 0))
		close(fd);
	return NULL;
}

static bool t_threads(char *why)
{
	struct chaos_thread threads[NTHREADS];
	unsigned char msg[MAX_MSG];
	unsigned long ops = 0;
	int shared_fd, i, rc;
	unsigned int c;
	bool ok = true;

	shared_fd = slot_open(CHAOS_SLOT, O_RDWR);
	TAP_CHECK(shared_fd >= 0, "open: %s", tap_errno_name(errno));
	/* Pre-write every channel so reads never hit EWOULDBLOCK. */
	for (c = 0; c < CHAOS_CHANNELS; c++) {
		size_t len = make_message(0x77000000u + c, 10 + c, msg);

		EXPECT_RET(ioctl(shared_fd, MSG_SLOT_CHANNEL, CHAOS_BASE + c), 0, "ioctl");
		EXPECT_RET(write(shared_fd, msg, len), (long)len, "initial write");
	}
	memset(threads, 0, sizeof(threads));
	for (i = 0; i < NTHREADS; i++) {
		threads[i].id = i;
		threads[i].shared_fd = shared_fd;
		rc = pthread_create(&threads[i].thread, NULL, chaos_main, &threads[i]);
		TAP_CHECK(rc == 0, "pthread_create: %s", tap_errno_name(rc));
	}
	for (i = 0; i < NTHREADS; i++) {
		pthread_join(threads[i].thread, NULL);
		ops += threads[i].ops;
		if (threads[i].failed && ok) {
			tap_why(why, "thread %d: %s", i, threads[i].why);
			ok = false;
		}
	}
	close(shared_fd);
	tap_note("%d threads: %lu operations in %.1f s", NTHREADS, ops, duration);
	return ok;
}

int main(void)
{
	const char *secs = getenv("MSGSLOT_STRESS_SECONDS");

	if (secs && atof(secs) > 0)
		duration = atof(secs);
	shared = mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	tap_run("concurrent_8_procs_one_channel_no_torn_reads", t_one_channel);
	shared_channel = 2;
	fixed_len = MAX_MSG;
	tap_run("concurrent_8_procs_same_length_no_torn_reads", t_one_channel);
	tap_run("concurrent_writers_channels_and_slots", t_private_channels);
	tap_run("concurrent_threads_shared_fd_open_close", t_threads);
	return tap_exit_code();
}
