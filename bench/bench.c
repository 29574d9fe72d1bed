// SPDX-License-Identifier: GPL-2.0
/*
 * ipcbench's shared helpers: errors and progress, CSV rows, CPU pinning,
 * slot devices and the timing windows (declared, and explained, in bench.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "message_slot.h"
#include "bench.h"

void die(const char *fmt, ...)
{
	va_list ap;
	int err = errno;

	va_start(ap, fmt);
	fprintf(stderr, "ipcbench: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", strerror(err));
	exit(2);
}

void note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "ipcbench: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

struct stats stats_of(const double *samples, int n)
{
	double sorted[MAX_REPS];
	struct stats st;

	memcpy(sorted, samples, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), cmp_double);
	st.min = sorted[0];
	st.max = sorted[n - 1];
	st.median = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
	return st;
}

/* One CSV row; target and verdict are empty for plain measurements. */
void emit(const char *section, const char *test, const char *mech, long size,
	  struct stats st, const char *unit, const char *target,
	  const char *verdict)
{
	printf("BENCH,%s,%s,%s,%ld,%.4g,%.4g,%.4g,%s,%s,%s\n", section, test,
	       mech, size, st.median, st.min, st.max, unit, target ? target : "",
	       verdict ? verdict : "");
	fflush(stdout);
}

void emit_samples(const char *section, const char *test, const char *mech,
		  long size, const double *samples, int n, const char *unit)
{
	emit(section, test, mech, size, stats_of(samples, n), unit, NULL, NULL);
}

/* A ratio row with its target "<= limit" or ">= limit" judged on the median. */
void emit_ratio(const char *section, const char *test, const char *mech,
		long size, const double *samples, int n, bool at_most,
		double limit)
{
	struct stats st = stats_of(samples, n);
	char target[32];
	bool pass;

	if (limit <= 0) {
		emit(section, test, mech, size, st, "x", NULL, NULL);
		return;
	}
	snprintf(target, sizeof(target), "%s%g", at_most ? "<=" : ">=", limit);
	pass = at_most ? st.median <= limit : st.median >= limit;
	emit(section, test, mech, size, st, "x", target, pass ? "PASS" : "MISS");
}

void pin_to_cpu(int cpu)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t set;

	if (ncpu < 2)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu % ncpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		die("sched_setaffinity(cpu %d)", cpu);
}

void unpin(void)
{
	cpu_set_t set;
	long cpu, ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	CPU_ZERO(&set);
	for (cpu = 0; cpu < ncpu; cpu++)
		CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

void wait_child(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		die("waitpid");
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		errno = 0;
		die("child %d failed (status 0x%x)", (int)pid, status);
	}
}

/* /dev/bslot<minor> as char 235:<minor>; returns an open O_RDWR fd. */
int slot_open(unsigned int minor)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/dev/bslot%u", minor);
	unlink(path);
	if (mknod(path, S_IFCHR | 0600, makedev(MAJOR_NUM, minor)))
		die("mknod %s", path);
	fd = open(path, O_RDWR);
	if (fd < 0)
		die("open %s", path);
	return fd;
}

void slot_set_channel(int fd, unsigned int channel)
{
	if (ioctl(fd, MSG_SLOT_CHANNEL, channel))
		die("ioctl MSG_SLOT_CHANNEL %u", channel);
}

/* Timing windows: see bench.h. */
long g_window;

void win_begin(struct win *w)
{
	w->best = 0;
	w->n = 0;
	w->t0 = now_ns();
}

/* ns per iteration of the fastest window (of the whole run if g_window is 0). */
double win_end(struct win *w)
{
	if (!w->best && w->n)
		w->best = (now_ns() - w->t0) / w->n;
	return w->best;
}

double timed_sample(timed_fn fn, void *arg, long *cal)
{
	long windows = (long)(opt_sample_ms / opt_window_ms);
	double ns;

	if (windows < 10)
		windows = 10;
	if (!*cal) {
		long iters = 4;

		g_window = 0;
		fn(arg, 4);	/* warm caches, lazily created state, page faults */
		for (;;) {
			ns = fn(arg, iters);
			if (ns * iters >= opt_window_ms * 1e6 || iters >= (1L << 30))
				break;
			iters *= 2;
		}
		*cal = iters;
	}
	g_window = *cal;
	ns = fn(arg, *cal * windows);
	g_window = 0;
	return ns;
}
