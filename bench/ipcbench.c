// SPDX-License-Identifier: GPL-2.0
/*
 * ipcbench - message slot and NP-Heap against the IPC a user would pick
 * instead.  Runs inside the benchmark VM (bench/guest.sh); every result is a
 * CSV row on stdout prefixed "BENCH," that bench/run.sh turns into the
 * table, the CSV and the plot.  Progress and diagnostics go to stderr.
 *
 *   ipcbench msg     [opts]  write+read pair cost: slot vs pipe/mq/dgram;
 *                            slot waiting read / epoll vs pipe/mq/dgram/eventfd;
 *                            write cost with pollers, fan-out to 1..64 pollers
 *   ipcbench scale   [opts]  per-op cost with 1..2^20 channels in a slot
 *   ipcbench mem     [opts]  kernel memory per channel, and after rmmod
 *   ipcbench npheap  [opts]  NP-Heap op vs shm_open+mmap+flock; 2-proc scaling
 *
 * Options: --reps R (repetitions, default 5), --sample-ms MS (length of one
 * timed sample, default 150), --window-ms MS (timing window inside a sample,
 * default 1), --tp-window-ms MS (throughput window, default 10),
 * --max-channels N (scale/mem, default 2^20), --module PATH (mem: the .ko).
 *
 * Method: a sample is ~opt_sample_ms of iterations cut into ~1 ms windows;
 * its value is the fastest window (see bench.h: the host deschedules
 * the VM's vCPU threads at will, and only that makes a window slower).  The
 * mechanisms being compared are sampled interleaved in every repetition (in
 * a rotating order) and a ratio is computed per repetition.  Reported:
 * median and min/max over the repetitions.
 *
 * CSV columns: section,test,mechanism,size,median,min,max,unit,target,verdict
 *
 * Files: this one parses the options and dispatches through benches[];
 * bench.h and bench.c hold what the benchmarks share (helpers, timing
 * windows, CSV output); msg.c, scale.c, mem.c and npheap.c are one
 * benchmark each, and loop.c runs `ipcbench loop`.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

int opt_reps = 5;
double opt_sample_ms = 150;
double opt_window_ms = 1;
double opt_tp_window_ms = 10;
unsigned long opt_max_channels = 1UL << 20;
const char *opt_module = "/payload/message_slot.ko";
double opt_seconds = 10;
size_t opt_size = 16;
const char *opt_workload;

/* The subcommands, in the order --help lists them. */
static const struct bench {
	const char *name;
	const char *summary;
	void (*fn)(void);
	bool workload;	/* takes a <workload> argument before the options */
} benches[] = {
	{ .name = "msg", .fn = bench_msg,
	  .summary = "write+read pair cost: slot vs pipe/mq/dgram;\n"
		     "           slot waiting read / epoll vs pipe/mq/dgram/eventfd;\n"
		     "           write cost with pollers, fan-out to 1..64 pollers" },
	{ .name = "scale", .fn = bench_scale,
	  .summary = "per-op cost with 1..2^20 channels in a slot" },
	{ .name = "mem", .fn = bench_mem,
	  .summary = "kernel memory per channel, and after rmmod" },
	{ .name = "npheap", .fn = bench_npheap,
	  .summary = "NP-Heap op vs shm_open+mmap+flock; 2-proc scaling" },
	{ .name = "loop", .fn = bench_loop, .workload = true,
	  .summary = "<workload>: repeat one workload for --seconds (profiling)" },
};

enum opt_type { OPT_INT, OPT_DOUBLE, OPT_ULONG, OPT_SIZE, OPT_STRING };

static const struct {
	const char *name;
	enum opt_type type;
	void *var;
} options[] = {
	{ "--reps", OPT_INT, &opt_reps },
	{ "--sample-ms", OPT_DOUBLE, &opt_sample_ms },
	{ "--window-ms", OPT_DOUBLE, &opt_window_ms },
	{ "--tp-window-ms", OPT_DOUBLE, &opt_tp_window_ms },
	{ "--max-channels", OPT_ULONG, &opt_max_channels },
	{ "--module", OPT_STRING, &opt_module },
	{ "--size", OPT_SIZE, &opt_size },
	{ "--seconds", OPT_DOUBLE, &opt_seconds },
};

static void print_usage(FILE *f)
{
	size_t i;

	fprintf(f,
		"usage: ipcbench <benchmark> [--reps R] [--sample-ms MS]\n"
		"                [--window-ms MS] [--tp-window-ms MS]\n"
		"                [--max-channels N] [--module PATH]\n"
		"       ipcbench loop <workload> [--size S] [--seconds T]\n"
		"                [--max-channels N]\n"
		"       ipcbench --help\n"
		"benchmarks:\n");
	for (i = 0; i < ARRAY_SIZE(benches); i++)
		fprintf(f, "  %-8s %s\n", benches[i].name, benches[i].summary);
	loop_list(f);
}

void usage(void)
{
	print_usage(stderr);
	exit(2);
}

/* Set option @name from @val; false if there is no such option. */
static bool set_option(const char *name, const char *val)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(options); i++)
		if (!strcmp(name, options[i].name))
			break;
	if (i == ARRAY_SIZE(options))
		return false;
	switch (options[i].type) {
	case OPT_INT:
		*(int *)options[i].var = atoi(val);
		break;
	case OPT_DOUBLE:
		*(double *)options[i].var = atof(val);
		break;
	case OPT_ULONG:
		*(unsigned long *)options[i].var = strtoul(val, NULL, 0);
		break;
	case OPT_SIZE:
		*(size_t *)options[i].var = strtoul(val, NULL, 0);
		break;
	case OPT_STRING:
		*(const char **)options[i].var = val;
		break;
	}
	return true;
}

int main(int argc, char **argv)
{
	const struct bench *b = NULL;
	int i, first_opt;
	size_t k;

	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		print_usage(stdout);
		return 0;
	}
	if (argc < 2)
		usage();
	for (k = 0; k < ARRAY_SIZE(benches) && !b; k++)
		if (!strcmp(argv[1], benches[k].name))
			b = &benches[k];
	if (!b)
		usage();
	first_opt = b->workload ? 3 : 2;
	if (argc < first_opt)
		usage();
	if (b->workload)
		opt_workload = argv[2];
	for (i = first_opt; i < argc; i += 2)
		if (i + 1 >= argc || !set_option(argv[i], argv[i + 1]))
			usage();
	if (opt_reps < 1 || opt_reps > MAX_REPS || opt_sample_ms <= 0 ||
	    opt_window_ms <= 0 || opt_tp_window_ms <= 0 ||
	    opt_max_channels < 1 || opt_max_channels > (1UL << 22) ||
	    opt_size < 1 || opt_size > MSG_BUF || opt_seconds <= 0)
		usage();
	if (!b->workload && opt_max_channels < (1UL << 16))
		usage();	/* scale and mem measure 2^16 below the maximum */
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);

	b->fn();
	return 0;
}
