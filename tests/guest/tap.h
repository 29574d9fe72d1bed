/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tap.h - kselftest-style result lines for the in-VM test programs.
 *
 * Each test is a function `bool fn(char *why)`: it returns true on success,
 * or writes a one-line reason into why[TAP_WHY_LEN] and returns false.
 * tap_run() prints `ok <suite>/<name>` or `not ok <suite>/<name> - <why>`.
 * Everything is static inline so a program that uses only part of it still
 * builds with -Wall -Wextra -Werror.
 */
#ifndef TAP_H
#define TAP_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TAP_WHY_LEN 600

/* counts[0] = passed, counts[1] = failed; suite[] = the "<suite>/" prefix. */
struct tap_state {
	int counts[2];
	char suite[64];
};

/* The suite name is $SUITE_NAME (run.sh exports it: the suite file name
 * without its NN- prefix), else "msgslot". */
static inline struct tap_state *tap_state(void)
{
	static struct tap_state state;
	static bool initialised;

	if (!initialised) {
		const char *env = getenv("SUITE_NAME");

		snprintf(state.suite, sizeof(state.suite), "%s",
			 env && env[0] ? env : "msgslot");
		initialised = true;
	}
	return &state;
}

static inline void tap_set_suite(const char *suite)
{
	snprintf(tap_state()->suite, sizeof(tap_state()->suite), "%s", suite);
}

/* errno names rather than strerror text: the reasons quote the contract. */
static inline const char *tap_errno_name(int err)
{
	static char unknown[32];

	switch (err) {
	case 0: return "0 (no error)";
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case ESRCH: return "ESRCH";
	case EINTR: return "EINTR";
	case EIO: return "EIO";
	case ENXIO: return "ENXIO";
	case E2BIG: return "E2BIG";
	case EBADF: return "EBADF";
	case ECHILD: return "ECHILD";
	case EAGAIN: return "EAGAIN/EWOULDBLOCK";
	case ENOMEM: return "ENOMEM";
	case EACCES: return "EACCES";
	case EFAULT: return "EFAULT";
	case EBUSY: return "EBUSY";
	case EEXIST: return "EEXIST";
	case ENODEV: return "ENODEV";
	case ENOTDIR: return "ENOTDIR";
	case EISDIR: return "EISDIR";
	case EINVAL: return "EINVAL";
	case ENFILE: return "ENFILE";
	case EMFILE: return "EMFILE";
	case ENOTTY: return "ENOTTY";
	case EFBIG: return "EFBIG";
	case ENOSPC: return "ENOSPC";
	case ESPIPE: return "ESPIPE";
	case EROFS: return "EROFS";
	case EPIPE: return "EPIPE";
	case ERANGE: return "ERANGE";
	case EDEADLK: return "EDEADLK";
	case ENOLCK: return "ENOLCK";
	case ENOSYS: return "ENOSYS";
	case EMSGSIZE: return "EMSGSIZE";
	case EOVERFLOW: return "EOVERFLOW";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	default:
		snprintf(unknown, sizeof(unknown), "errno %d", err);
		return unknown;
	}
}

static inline void tap_why(char *why, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline void tap_why(char *why, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, TAP_WHY_LEN, fmt, ap);
	va_end(ap);
}

/* "got 5" or "got -1/EFAULT": what a syscall returned, for a reason line. */
static inline const char *tap_got(long ret, int err)
{
	static char got[64];

	if (ret == -1)
		snprintf(got, sizeof(got), "-1/%s", tap_errno_name(err));
	else
		snprintf(got, sizeof(got), "%ld", ret);
	return got;
}

static inline void tap_result(const char *name, bool passed, const char *why)
{
	struct tap_state *st = tap_state();

	if (passed)
		printf("ok %s/%s\n", st->suite, name);
	else
		printf("not ok %s/%s - %s\n", st->suite, name,
		       why && why[0] ? why : "failed (no reason given)");
	st->counts[passed ? 0 : 1]++;
	/* Flush now: children are forked between tests and must not inherit
	 * a half-full stdio buffer that they would print again. */
	fflush(stdout);
}

typedef bool (*tap_test_fn)(char *why);

static inline bool tap_run(const char *name, tap_test_fn fn)
{
	char why[TAP_WHY_LEN] = "";
	bool passed = fn(why);

	tap_result(name, passed, why);
	return passed;
}

static inline int tap_failed(void)
{
	return tap_state()->counts[1];
}

static inline int tap_exit_code(void)
{
	return tap_failed() ? 1 : 0;
}

/* Diagnostics that the harness does not count (they start with '#'). */
static inline void tap_note(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static inline void tap_note(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

/*
 * Assertion macros for use inside a test function (they need `why` in
 * scope and return false from it).  The description is a printf format.
 */
#define TAP_FAIL(...)                                                    \
	do {                                                             \
		tap_why(why, __VA_ARGS__);                               \
		return false;                                            \
	} while (0)

#define TAP_CHECK(cond, ...)                                             \
	do {                                                             \
		if (!(cond))                                             \
			TAP_FAIL(__VA_ARGS__);                           \
	} while (0)

/* expr must fail with -1 and errno == want. */
#define EXPECT_ERRNO(expr, want, ...)                                    \
	do {                                                             \
		errno = 0;                                               \
		long tap_ret_ = (long)(expr);                            \
		int tap_err_ = errno;                                    \
		if (tap_ret_ != -1 || tap_err_ != (want)) {              \
			char tap_what_[300];                             \
			snprintf(tap_what_, sizeof(tap_what_), __VA_ARGS__); \
			TAP_FAIL("%s: expected -1/%s, got %s", tap_what_, \
				 tap_errno_name(want),                   \
				 tap_got(tap_ret_, tap_err_));           \
		}                                                        \
	} while (0)

/* expr must return exactly want. */
#define EXPECT_RET(expr, want, ...)                                      \
	do {                                                             \
		errno = 0;                                               \
		long tap_ret_ = (long)(expr);                            \
		int tap_err_ = errno;                                    \
		if (tap_ret_ != (long)(want)) {                          \
			char tap_what_[300];                             \
			snprintf(tap_what_, sizeof(tap_what_), __VA_ARGS__); \
			TAP_FAIL("%s: expected %ld, got %s", tap_what_,  \
				 (long)(want), tap_got(tap_ret_, tap_err_)); \
		}                                                        \
	} while (0)

#endif /* TAP_H */
