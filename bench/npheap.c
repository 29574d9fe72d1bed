// SPDX-License-Identifier: GPL-2.0
/*
 * ipcbench npheap: an NP-Heap op (lock, map, write 4 KiB, unmap, unlock)
 * against the same work with shm_open + flock + mmap, and the throughput
 * of 2 processes against 1.  Its loop workloads: npheap-op, shm-op,
 * npheap-2proc, npheap-2proc-same, shm-2proc.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <npheap/npheap.h>
#include "bench.h"

#define OBJ_BYTES	4096
#define SHM_NAME_FMT	"/ipcbench-obj-%lu"

struct heap_arg {
	bool shm;
	int devfd;
	unsigned long id;
	char data[OBJ_BYTES];
};

static void np_ioctl(int fd, unsigned long cmd, unsigned long id)
{
	struct npheap_cmd c = { .offset = id * (unsigned long)sysconf(_SC_PAGESIZE) };

	if (ioctl(fd, cmd, &c) < 0)
		die("npheap ioctl 0x%lx id %lu", cmd, id);
}

/*
 * One op, the same work on both sides: find the existing object by its
 * name/id, lock it, map it, write 4 KiB, unmap, unlock.  NP-Heap keeps its
 * device fd open (ids are the names); shm opens the name each time
 * (shm_open is its lookup by name) and closes it after.
 */
static void heap_op(struct heap_arg *arg)
{
	long page = sysconf(_SC_PAGESIZE);
	char name[64];
	void *map;
	int fd;

	if (!arg->shm) {
		np_ioctl(arg->devfd, NPHEAP_IOCTL_LOCK, arg->id);
		map = mmap(NULL, OBJ_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED,
			   arg->devfd, (off_t)(arg->id * page));
		if (map == MAP_FAILED)
			die("npheap mmap id %lu", arg->id);
		memcpy(map, arg->data, OBJ_BYTES);
		munmap(map, OBJ_BYTES);
		np_ioctl(arg->devfd, NPHEAP_IOCTL_UNLOCK, arg->id);
		return;
	}
	snprintf(name, sizeof(name), SHM_NAME_FMT, arg->id);
	fd = shm_open(name, O_RDWR, 0);
	if (fd < 0)
		die("shm_open %s", name);
	if (flock(fd, LOCK_EX))
		die("flock");
	map = mmap(NULL, OBJ_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		die("shm mmap");
	memcpy(map, arg->data, OBJ_BYTES);
	munmap(map, OBJ_BYTES);
	if (flock(fd, LOCK_UN))
		die("flock unlock");
	close(fd);
}

static double heap_run(void *p, long iters)
{
	struct win w;
	long i;

	win_begin(&w);
	for (i = 0; i < iters; i++) {
		heap_op(p);
		win_op(&w);
	}
	return win_end(&w);
}

/* Create object @id (4 KiB) in both worlds, so every op finds it existing. */
static void heap_create(int devfd, unsigned long id)
{
	long page = sysconf(_SC_PAGESIZE);
	char name[64];
	void *map;
	int fd;

	map = mmap(NULL, OBJ_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, devfd,
		   (off_t)(id * page));
	if (map == MAP_FAILED)
		die("npheap create id %lu", id);
	munmap(map, OBJ_BYTES);
	snprintf(name, sizeof(name), SHM_NAME_FMT, id);
	fd = shm_open(name, O_RDWR | O_CREAT, 0600);
	if (fd < 0 || ftruncate(fd, OBJ_BYTES))
		die("shm create %s", name);
	close(fd);
}

/* Spin arithmetic: what the VM itself gives two processes (control). */
static volatile uint64_t cpu_op_sink;	/* keeps the loop from being optimised away */

static void cpu_op(void)
{
	uint64_t x = 88172645463325252ULL;
	int i;

	for (i = 0; i < 2000; i++)
		rng_next(&x);
	cpu_op_sink = x;
}

enum tp_work { TP_NPHEAP, TP_SHM, TP_CPU };

/*
 * Throughput of @nproc processes doing @ops ops each on ids @id0 + i*@stride
 * (stride 0: all on the same id), in ops per second.  *@whole: over the
 * whole run (common start to last finish).  Returned: over the best
 * opt_tp_window_ms window of the run, counted from every op's completion
 * time - the stretch in which the host actually ran the VM's vCPUs; on a
 * busy host the whole-run figure mostly measures the host's scheduler.
 */
static double throughput(enum tp_work work, int devfd, int nproc,
			 unsigned long id0, unsigned long stride, long ops,
			 double *whole)
{
	size_t bytes = (size_t)nproc * ops * sizeof(double);
	double t_start = 1e300, t_end = 0, window = opt_tp_window_ms * 1e6;
	double *done_at;
	long best = 0, lo, hi, total = (long)nproc * ops;
	int go[2], i;
	pid_t pids[2];

	done_at = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (done_at == MAP_FAILED)
		die("mmap %zu bytes", bytes);
	if (pipe(go))
		die("pipe");
	for (i = 0; i < nproc; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			die("fork");
		if (pids[i] == 0) {
			static struct heap_arg arg;
			double *mine = done_at + (long)i * ops;
			char c;
			long n;

			pin_to_cpu(i);
			close(go[1]);
			arg.shm = work == TP_SHM;
			arg.devfd = devfd;
			arg.id = id0 + i * stride;
			memset(arg.data, 'a' + i, sizeof(arg.data));
			if (work != TP_CPU)
				heap_op(&arg);	/* fault in the binary's paths */
			if (read(go[0], &c, 1) != 0)
				_exit(3);
			for (n = 0; n < ops; n++) {
				if (work == TP_CPU)
					cpu_op();
				else
					heap_op(&arg);
				mine[n] = now_ns();
			}
			_exit(0);
		}
	}
	close(go[0]);
	usleep(50 * 1000);	/* let the children reach the barrier */
	close(go[1]);		/* EOF on go[0]: everybody starts */
	for (i = 0; i < nproc; i++)
		wait_child(pids[i]);

	/* Whole run: the ops completed between the first and last completion. */
	for (i = 0; i < nproc; i++) {
		double *mine = done_at + (long)i * ops;

		if (mine[0] < t_start)
			t_start = mine[0];
		if (mine[ops - 1] > t_end)
			t_end = mine[ops - 1];
	}
	*whole = (total - nproc) / ((t_end - t_start) / 1e9);

	/* Most completions inside any window of the given length. */
	qsort(done_at, total, sizeof(*done_at), cmp_double);
	for (lo = 0, hi = 0; hi < total; hi++) {
		while (done_at[hi] - done_at[lo] > window)
			lo++;
		if (hi - lo > best)
			best = hi - lo;	/* completions after done_at[lo] */
	}
	munmap(done_at, bytes);
	if (t_end - t_start < 2 * window) {
		errno = 0;
		die("throughput run of %.1f ms is too short for %.1f ms windows",
		    (t_end - t_start) / 1e6, opt_tp_window_ms);
	}
	return best / (window / 1e9);
}

void bench_npheap(void)
{
	static struct heap_arg args[2];
	static double op_ns[2][MAX_REPS];
	/* work x {1 proc, 2 distinct, 2 same}: best window, whole run */
	static double tp[3][3][MAX_REPS], tp_whole[3][3][MAX_REPS];
	static const char *const work_name[3] = { "npheap", "shm", "cpu-control" };
	static long cal[2];
	double ratio[MAX_REPS] = { 0 };
	long ops[3];
	int devfd, rep, w, k;

	memset(tp, 0, sizeof(tp));
	unsigned long id;

	devfd = open("/dev/npheap", O_RDWR);
	if (devfd < 0)
		die("open /dev/npheap");
	for (id = 1; id <= 2; id++)
		heap_create(devfd, id);

	/* Single-process op cost, npheap vs shm interleaved. */
	pin_to_cpu(0);
	for (w = 0; w < 2; w++) {
		args[w].shm = w;
		args[w].devfd = devfd;
		args[w].id = 1;
		memset(args[w].data, 'd', OBJ_BYTES);
	}
	for (rep = 0; rep < opt_reps; rep++) {
		note("npheap: op cost repetition %d/%d", rep + 1, opt_reps);
		for (k = 0; k < 2; k++) {
			w = (k + rep) % 2;
			op_ns[w][rep] = timed_sample(heap_run, &args[w], &cal[w]);
		}
	}
	unpin();
	/* Ops per throughput run: ~2 samples' worth for one process. */
	ops[TP_NPHEAP] = (long)(2 * opt_sample_ms * 1e6 / stats_of(op_ns[0], opt_reps).min);
	ops[TP_SHM] = (long)(2 * opt_sample_ms * 1e6 / stats_of(op_ns[1], opt_reps).min);
	{
		double t0 = now_ns();
		long n;

		for (n = 0; n < 1000; n++)
			cpu_op();
		ops[TP_CPU] = (long)(2 * opt_sample_ms * 1e6 / ((now_ns() - t0) / 1000));
	}
	for (rep = 0; rep < opt_reps; rep++) {
		note("npheap: throughput repetition %d/%d", rep + 1, opt_reps);
		for (w = 0; w < 3; w++) {
			tp[w][0][rep] = throughput(w, devfd, 1, 1, 0, ops[w],
						   &tp_whole[w][0][rep]);
			tp[w][1][rep] = throughput(w, devfd, 2, 1, 1, ops[w],
						   &tp_whole[w][1][rep]);
			if (w != TP_CPU)
				tp[w][2][rep] = throughput(w, devfd, 2, 1, 0, ops[w],
							   &tp_whole[w][2][rep]);
		}
	}

	emit_samples("npheap", "lock+map+write4K+unmap+unlock", "npheap",
		     OBJ_BYTES, op_ns[0], opt_reps, "ns/op");
	emit_samples("npheap", "lock+map+write4K+unmap+unlock", "shm+flock",
		     OBJ_BYTES, op_ns[1], opt_reps, "ns/op");
	for (rep = 0; rep < opt_reps; rep++)
		ratio[rep] = op_ns[0][rep] / op_ns[1][rep];
	emit_ratio("npheap-ratio", "lock+map+write4K+unmap+unlock", "npheap/shm",
		   OBJ_BYTES, ratio, opt_reps, true, 0);

	for (w = 0; w < 3; w++) {
		emit_samples("npheap-tp", "1-proc", work_name[w], OBJ_BYTES,
			     tp[w][0], opt_reps, "ops/s");
		emit_samples("npheap-tp", "2-proc-distinct-ids", work_name[w],
			     OBJ_BYTES, tp[w][1], opt_reps, "ops/s");
		for (rep = 0; rep < opt_reps; rep++)
			ratio[rep] = tp[w][1][rep] / tp[w][0][rep];
		emit_ratio("npheap-ratio", "2-proc-distinct-ids/1-proc", work_name[w],
			   OBJ_BYTES, ratio, opt_reps, false, w == TP_NPHEAP ? 1.8 : 0);
		for (rep = 0; rep < opt_reps; rep++)
			ratio[rep] = tp_whole[w][1][rep] / tp_whole[w][0][rep];
		emit_ratio("npheap-ratio", "2-proc-distinct-ids/1-proc-whole-run",
			   work_name[w], OBJ_BYTES, ratio, opt_reps, false, 0);
		if (w == TP_CPU)
			continue;
		emit_samples("npheap-tp", "2-proc-same-id", work_name[w], OBJ_BYTES,
			     tp[w][2], opt_reps, "ops/s");
		for (rep = 0; rep < opt_reps; rep++)
			ratio[rep] = tp[w][2][rep] / tp[w][0][rep];
		emit_ratio("npheap-ratio", "2-proc-same-id/1-proc", work_name[w],
			   OBJ_BYTES, ratio, opt_reps, false, 0);
	}

	for (id = 1; id <= 2; id++) {
		char name[64];

		np_ioctl(devfd, NPHEAP_IOCTL_DELETE, id);
		snprintf(name, sizeof(name), SHM_NAME_FMT, id);
		shm_unlink(name);
	}
	close(devfd);
}

/* `ipcbench loop` workloads npheap-op, shm-op, npheap-2proc[-same], shm-2proc. */
bool npheap_loop(const char *what)
{
	static struct heap_arg heap;

	if (!strncmp(what, "npheap-2proc", 12) || !strcmp(what, "shm-2proc")) {
		/* Two processes (vCPU 0 and 1) for opt_seconds; -same: one id. */
		bool shm = !strcmp(what, "shm-2proc");
		double whole, rate;
		long ops;

		heap.devfd = open("/dev/npheap", O_RDWR);
		if (heap.devfd < 0)
			die("/dev/npheap");
		heap_create(heap.devfd, 1);
		heap_create(heap.devfd, 2);
		heap.id = 1;
		heap.shm = shm;
		ops = (long)(opt_seconds * 1e9 / heap_run(&heap, 50));
		unpin();
		if (getenv("IPCBENCH_READY_FILE"))
			close(open(getenv("IPCBENCH_READY_FILE"), O_WRONLY | O_CREAT, 0600));
		rate = throughput(shm ? TP_SHM : TP_NPHEAP, heap.devfd, 2, 1,
				  strcmp(what, "npheap-2proc-same") ? 1 : 0, ops, &whole);
		note("loop %s: %.0f ops/s in the best window, %.0f over the run",
		     what, rate, whole);
		return true;
	}
	if (strcmp(what, "npheap-op") && strcmp(what, "shm-op"))
		return false;
	heap.devfd = open("/dev/npheap", O_RDWR);
	if (heap.devfd < 0)
		die("/dev/npheap");
	heap_create(heap.devfd, 1);
	heap.shm = !strcmp(what, "shm-op");
	heap.id = 1;
	loop_for(what, heap_run, &heap);
	return true;
}
