/*
 * course_benchmark N max_size P - the NP-Heap course workflow's writer,
 * written from the contract (the original sources are not available).
 *
 * Opens the heap device once, then forks so that P processes share that fd,
 * as the course benchmark does.  Each process, for id 0..N-1:
 *   lock(id); size = getsize(id), or a random size in 11..max_size if the
 *   object is new; if the object existed, log what it holds (G); alloc,
 *   memset, write a string of digits, log it (S); unlock.
 * Then it deletes one random id under its lock and logs it (D).
 *
 * Each process writes its own log file npheap.<pid>.log in the current
 * directory (or in $NPHEAP_LOG_DIR); lines are tab separated:
 *   op  pid  timestamp_us  id  length  data
 * The timestamp is taken inside the lock, and the lock is held until the
 * clock has moved past it, so for any one id the critical sections have
 * strictly increasing timestamps: sorting the concatenated logs by field 3
 * reproduces the real order of operations on every object.
 *
 * The device defaults to /dev/npheap; $NPHEAP_DEVICE overrides it.
 * Exit status: 0 when every process finished all its operations.
 */
#define _GNU_SOURCE
#include <npheap.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t rng_state;

/* xorshift64*: a per-process stream, seeded from pid and clock after the fork. */
static uint64_t rng_next(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Called with the lock held: the next holder of the id is guaranteed a later stamp. */
static uint64_t stamp_in_critical_section(uint64_t *last)
{
	uint64_t t = now_us();

	while (t <= *last)
		t = now_us();
	*last = t;
	return t;
}

static void wait_clock_past(uint64_t t)
{
	while (now_us() <= t)
		;
}

static void die(const char *what, unsigned long long id)
{
	fprintf(stderr, "course_benchmark[%d]: %s(%llu): %s\n", (int)getpid(),
		what, id, strerror(errno));
	exit(1);
}

/* Length of the NUL-terminated prefix, bounded by the mapping. */
static size_t object_strlen(const char *obj, size_t size)
{
	const char *nul = memchr(obj, '\0', size);

	return nul ? (size_t)(nul - obj) : size;
}

static void run_worker(int devfd, unsigned long long n, unsigned long long max_size,
		       FILE *log)
{
	int pid = (int)getpid();
	uint64_t last_stamp = 0;
	char digits[24];

	for (unsigned long long id = 0; id < n; id++) {
		if (npheap_lock(devfd, id) != 0)
			die("npheap_lock", id);

		long existing = npheap_getsize(devfd, id);
		if (existing < 0)
			die("npheap_getsize", id);

		size_t size = (size_t)existing;
		if (size == 0)
			size = 11 + (size_t)(rng_next() % (max_size - 10));

		char *obj = npheap_alloc(devfd, id, size);
		if (obj == MAP_FAILED)
			die("npheap_alloc", id);

		if (existing > 0) {
			size_t len = object_strlen(obj, size);
			uint64_t t = stamp_in_critical_section(&last_stamp);

			fprintf(log, "G\t%d\t%" PRIu64 "\t%llu\t%zu\t%.*s\n", pid, t,
				id, len, (int)len, obj);
			/* Keep G strictly before the S that follows in this section. */
			wait_clock_past(t);
		}

		memset(obj, 0, size);
		/* Repeat one random number until within 10 bytes of the end, like the course. */
		int dlen = snprintf(digits, sizeof(digits), "%" PRIu64,
				    rng_next() % 2147483647u + 1);
		size_t len = 0;
		while (len + 10 < size) {
			memcpy(obj + len, digits, (size_t)dlen);
			len += (size_t)dlen;
		}

		uint64_t t = stamp_in_critical_section(&last_stamp);
		fprintf(log, "S\t%d\t%" PRIu64 "\t%llu\t%zu\t%.*s\n", pid, t, id,
			len, (int)len, obj);
		if (munmap(obj, size) != 0)
			die("munmap", id);
		wait_clock_past(t);
		if (npheap_unlock(devfd, id) != 0)
			die("npheap_unlock", id);
	}

	unsigned long long victim = rng_next() % n;
	if (npheap_lock(devfd, victim) != 0)
		die("npheap_lock", victim);
	if (npheap_delete(devfd, victim) != 0)
		die("npheap_delete", victim);
	uint64_t t = stamp_in_critical_section(&last_stamp);
	fprintf(log, "D\t%d\t%" PRIu64 "\t%llu\t0\t\n", pid, t, victim);
	wait_clock_past(t);
	if (npheap_unlock(devfd, victim) != 0)
		die("npheap_unlock", victim);
}

static int parse_count(const char *s, unsigned long long *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno == 0 && end != s && *end == '\0' && s[0] != '-';
}

int main(int argc, char *argv[])
{
	unsigned long long n, max_size, procs;

	if (argc != 4 || !parse_count(argv[1], &n) || !parse_count(argv[2], &max_size) ||
	    !parse_count(argv[3], &procs) || n == 0 || max_size <= 10 ||
	    max_size > (1ULL << 30) || procs == 0 || procs > 1024) {
		fprintf(stderr, "Usage: %s number_of_objects max_size_of_objects(>10) "
			"number_of_processes\n", argv[0]);
		return 2;
	}

	const char *dev = getenv("NPHEAP_DEVICE");
	const char *log_dir = getenv("NPHEAP_LOG_DIR");
	if (!dev)
		dev = "/dev/npheap";
	if (!log_dir)
		log_dir = ".";

	int devfd = open(dev, O_RDWR);
	if (devfd < 0) {
		fprintf(stderr, "course_benchmark: open %s: %s\n", dev, strerror(errno));
		return 1;
	}

	/* Children never fork: the original process is the one that waits. */
	pid_t parent = getpid();
	for (unsigned long long i = 1; i < procs; i++) {
		pid_t child = fork();
		if (child < 0) {
			perror("course_benchmark: fork");
			return 1;
		}
		if (child == 0)
			break;
	}

	rng_state = ((uint64_t)getpid() << 32) ^ now_us() ^ 0x9e3779b97f4a7c15ULL;
	if (rng_state == 0)
		rng_state = 1;

	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/npheap.%d.log", log_dir, (int)getpid());
	FILE *log = fopen(path, "w");
	if (!log) {
		fprintf(stderr, "course_benchmark: %s: %s\n", path, strerror(errno));
		return 1;
	}

	run_worker(devfd, n, max_size, log);
	if (fclose(log) != 0) {
		fprintf(stderr, "course_benchmark: %s: %s\n", path, strerror(errno));
		return 1;
	}
	close(devfd);

	if (getpid() != parent)
		return 0;

	int failed = 0, status;
	while (wait(&status) > 0) {
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed++;
	}
	if (failed) {
		fprintf(stderr, "course_benchmark: %d worker process(es) failed\n", failed);
		return 1;
	}
	return 0;
}
