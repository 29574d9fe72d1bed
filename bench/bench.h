/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ipcbench's shared part: the options, the helpers, the timing windows and
 * the CSV output every benchmark uses (bench.c), and the entry point of
 * each benchmark (one file each).  See ipcbench.c for the method.
 */
#ifndef IPCBENCH_BENCH_H
#define IPCBENCH_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define MAX_REPS	15
/*
 * Message buffers are declared MSG_BUF_ALIGNED: a buffer that straddles a
 * page boundary costs TCG a slow path on every copy, and where a stack
 * buffer falls moves with ASLR from run to run.
 */
#define MSG_BUF		128
#define MSG_BUF_ALIGNED	_Alignas(MSG_BUF)

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* Options, parsed by main() in ipcbench.c. */
extern int opt_reps;
extern double opt_sample_ms;
extern double opt_window_ms;
extern double opt_tp_window_ms;
extern unsigned long opt_max_channels;
extern const char *opt_module;
extern double opt_seconds;
extern size_t opt_size;
extern const char *opt_workload;	/* loop's argument */

/* Prints the usage and exits 2 (ipcbench.c). */
void usage(void) __attribute__((noreturn));

/*
 * Helpers (bench.c).  die() prints "ipcbench: <message>: <errno's text>"
 * and exits 2; noreturn keeps its calls off the timed loops' fast path and
 * tells cppcheck that no code after "if (!f) die(...)" sees a NULL f.
 */
void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
double now_ns(void);
int cmp_double(const void *a, const void *b);
void pin_to_cpu(int cpu);
void unpin(void);
void wait_child(pid_t pid);
int slot_open(unsigned int minor);
void slot_set_channel(int fd, unsigned int channel);

/* Output: one "BENCH," CSV row per figure (bench.c) */
struct stats {
	double median, min, max;
};

struct stats stats_of(const double *samples, int n);
void emit(const char *section, const char *test, const char *mech,
	  long size, struct stats st, const char *unit,
	  const char *target, const char *verdict);
void emit_samples(const char *section, const char *test, const char *mech,
		  long size, const double *samples, int n, const char *unit);
void emit_ratio(const char *section, const char *test, const char *mech,
		long size, const double *samples, int n, bool at_most,
		double limit);

/*
 * Timing windows (bench.c).  The VM's vCPUs are host threads, and on a busy
 * host they lose the CPU for milliseconds at a time; the guest cannot see
 * that (TCG has no steal time), so a plain average mixes the cost of an op
 * with the host's scheduling.  A run is therefore cut into windows of
 * g_window iterations (~opt_window_ms each) and the fastest window counts:
 * nothing makes an op faster than its cost, while preemption only slows a
 * window.  g_window == 0 makes the whole run one window.
 */
extern long g_window;

struct win {
	double t0, best;
	long n;
};

void win_begin(struct win *w);
double win_end(struct win *w);

/* Inline: it runs once per timed iteration. */
static inline void win_op(struct win *w)
{
	if (++w->n >= g_window && g_window) {
		double t = now_ns(), per = (t - w->t0) / w->n;

		if (!w->best || per < w->best)
			w->best = per;
		w->n = 0;
		w->t0 = t;
	}
}

/*
 * @fn(@arg, iters) runs iters iterations, timed with win_*(), and returns
 * ns per iteration of its fastest window.  A sample: windows of ~opt_window_ms
 * (the iterations per window calibrated once per @cal slot) for about
 * opt_sample_ms in all, at least 10 windows.
 */
typedef double (*timed_fn)(void *arg, long iters);

double timed_sample(timed_fn fn, void *arg, long *cal);

/* xorshift64*: cheap next-channel choice that stays out of the profile. */
static inline uint64_t rng_next(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* Repeats @fn for opt_seconds and notes its cost per op (loop.c). */
void loop_for(const char *what, timed_fn fn, void *arg);

/* Write a @size-byte message to channels from..to-1 (1-based ids; scale.c). */
void populate(int fd, unsigned long from, unsigned long to, size_t size);

/*
 * The benchmarks, one file each; ipcbench.c's table maps subcommands to the
 * bench_*() functions.  *_loop(@what) runs the workload @what of `ipcbench
 * loop` and returns true if it is one of that file's, false to let the
 * next file try; loop_list() prints the workloads.
 */
void bench_msg(void);
void bench_scale(void);
void bench_mem(void);
void bench_npheap(void);
void bench_loop(void);

bool msg_loop(const char *what);
bool scale_loop(const char *what);
bool npheap_loop(const char *what);
void loop_list(FILE *f);

#endif /* IPCBENCH_BENCH_H */
