// SPDX-License-Identifier: GPL-2.0
/*
 * ipcbench loop <workload>: a profiling aid (bench/profile.sh runs it under
 * perf) that repeats one workload for --seconds and prints its cost per op
 * on stderr.  The workloads live with their benchmarks (msg.c, scale.c,
 * npheap.c), which keep their internals static.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench.h"

void loop_for(const char *what, timed_fn fn, void *arg)
{
	double t0 = now_ns(), ns_sum = 0;
	long rounds = 0;

	fn(arg, 100);	/* warm-up */
	/* Setup done: a profiler waiting for this file attaches now. */
	if (getenv("IPCBENCH_READY_FILE")) {
		int fd = open(getenv("IPCBENCH_READY_FILE"), O_WRONLY | O_CREAT, 0600);

		if (fd < 0)
			die("ready file");
		close(fd);
	}
	t0 = now_ns();
	while (now_ns() - t0 < opt_seconds * 1e9) {
		ns_sum += fn(arg, 1000);
		rounds++;
	}
	note("loop %s: %.0f ns/op over %ld000 ops", what, ns_sum / rounds, rounds);
}

/* The files with workloads, in the order they are asked to take one. */
static const struct {
	const char *bench;
	const char *workloads;
	bool (*fn)(const char *what);
} families[] = {
	{ "msg", "slot-pair pipe-pair mq-pair dgram-pair slot-write slot-read\n"
		 "           <x>-pingpong, x: slot pipe mq dgram pipe-yield mq-yield\n"
		 "           dgram-yield slot-epoll slot-wait eventfd pipe-epoll\n"
		 "           eventfd-epoll mq-epoll",
	  msg_loop },
	{ "scale", "scale scale-read", scale_loop },
	{ "npheap", "npheap-op shm-op npheap-2proc npheap-2proc-same shm-2proc",
	  npheap_loop },
};

void bench_loop(void)
{
	size_t i;

	pin_to_cpu(0);
	for (i = 0; i < ARRAY_SIZE(families); i++)
		if (families[i].fn(opt_workload))
			return;
	usage();
}

void loop_list(FILE *f)
{
	size_t i;

	fprintf(f, "workloads of loop, by benchmark:\n");
	for (i = 0; i < ARRAY_SIZE(families); i++)
		fprintf(f, "  %-8s %s\n", families[i].bench, families[i].workloads);
}
