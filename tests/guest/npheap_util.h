/* SPDX-License-Identifier: GPL-2.0 */
/*
 * npheap_util.h - helpers shared by the npheap_*.c guest programs: clocks,
 * sleeps, a shared anonymous page, reaping a child with a deadline, and the
 * runner that gives every test its own process group, id range and deadline.
 *
 * The including file defines _GNU_SOURCE, SUITE (the name in result lines)
 * and TEST_DEADLINE_MS before including it, and sets `page` at start-up.
 */
#ifndef NPHEAP_UTIL_H
#define NPHEAP_UTIL_H

#include <errno.h>
#include <linux/types.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static size_t page;
/* Each test gets its own range of ids so tests never see each other's objects. */
static __u64 id_base;

/* First failure reason of the running test; shared with the test's children. */
struct test_result {
	int failed;
	char reason[480];
	char note[480];		/* figures printed as a diagnostic after the result */
};
static struct test_result *result;

static inline int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int fail(const char *fmt, ...)
{
	va_list ap;

	if (!result) {
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
		return 1;
	}
	if (!result->failed) {
		va_start(ap, fmt);
		vsnprintf(result->reason, sizeof(result->reason), fmt, ap);
		va_end(ap);
		result->failed = 1;
	}
	return 1;
}

static inline void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(result->note, sizeof(result->note), fmt, ap);
	va_end(ap);
}

#define CHECK(cond, ...) do { if (!(cond)) return fail(__VA_ARGS__); } while (0)
/* In a forked helper: record and leave. */
#define CHILD_CHECK(cond, ...) do { if (!(cond)) { fail(__VA_ARGS__); _exit(1); } } while (0)

static inline uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static inline uint64_t now_ms(void)
{
	return now_us() / 1000;
}

static inline void sleep_us(unsigned long us)
{
	struct timespec ts = { .tv_sec = (time_t)(us / 1000000),
			       .tv_nsec = (long)(us % 1000000) * 1000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static inline void sleep_ms(unsigned int ms)
{
	sleep_us((unsigned long)ms * 1000);
}

/* One page shared with children forked later (results, timestamps). */
static inline void *shared_page(void)
{
	void *p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		fail("anonymous shared mmap: %s", strerror(errno));
		_exit(1);
	}
	return p;
}

/* Waits for a child; returns its exit code, or 128+signal, or -1 on timeout (killed). */
static inline int reap(pid_t pid, int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
	int status;

	for (;;) {
		pid_t got = waitpid(pid, &status, WNOHANG);

		if (got == pid)
			break;
		if (got < 0)
			return -1;
		if (now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		sleep_us(2000);
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

struct test {
	const char *name;
	int (*fn)(void);
};

#define T(name) { #name, t_##name }

/*
 * Runs each test in a forked process group with ids from
 * first_id_base + i * id_stride; prints one result line per test (and the
 * test's note, if any).  Returns 1 if any failed.
 */
static inline int run_tests(const struct test *tests, size_t count, __u64 first_id_base,
			    __u64 id_stride)
{
	int failures = 0;

	result = shared_page();
	for (size_t i = 0; i < count; i++) {
		memset(result, 0, sizeof(*result));
		id_base = first_id_base + (__u64)i * id_stride;
		fflush(stdout);
		pid_t pid = fork();
		if (pid == 0) {
			setpgid(0, 0);
			int rc = tests[i].fn();
			if (rc && !result->failed)
				fail("failed");
			_exit(rc ? 1 : 0);
		}
		setpgid(pid, pid);
		int rc = reap(pid, TEST_DEADLINE_MS);
		/* Helpers a test left behind must not hold fds or locks into the next test. */
		kill(-pid, SIGKILL);
		if (rc == 0 && !result->failed) {
			printf("ok %s/%s\n", SUITE, tests[i].name);
		} else {
			failures++;
			if (rc == -1)
				printf("not ok %s/%s - timed out after %d s\n", SUITE, tests[i].name,
				       TEST_DEADLINE_MS / 1000);
			else if (!result->failed)
				printf("not ok %s/%s - test process %s %d\n", SUITE, tests[i].name,
				       rc > 128 ? "killed by signal" : "exited", rc > 128 ? rc - 128 : rc);
			else
				printf("not ok %s/%s - %s\n", SUITE, tests[i].name, result->reason);
		}
		if (result->note[0])
			printf("# %s: %s\n", tests[i].name, result->note);
	}
	fflush(stdout);
	return failures ? 1 : 0;
}

#endif /* NPHEAP_UTIL_H */
