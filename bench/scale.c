// SPDX-License-Identifier: GPL-2.0
/*
 * ipcbench scale: the cost of an op on a random populated channel with
 * 1, 2^10, 2^16 and --max-channels channels in a slot.  Its loop
 * workloads: scale, scale-read.
 */
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "message_slot.h"
#include "bench.h"

#define SCALE_MSG_SIZE	16
#define SCALE_SLOTS	4

void populate(int fd, unsigned long from, unsigned long to, size_t size)
{
	MSG_BUF_ALIGNED char buf[MSG_BUF];
	unsigned long ch;

	memset(buf, 'p', sizeof(buf));
	for (ch = from; ch < to; ch++) {
		slot_set_channel(fd, (unsigned int)ch);
		if (write(fd, buf, size) != (ssize_t)size)
			die("populate channel %lu", ch);
	}
}

struct scale_arg {
	int fd;
	unsigned long channels;
	bool write;	/* false: select + read only */
	uint64_t rng;
};

/* One op: select a random populated channel, write a message, read it. */
static double scale_run(void *p, long iters)
{
	struct scale_arg *arg = p;
	MSG_BUF_ALIGNED char buf[MSG_BUF];
	unsigned int ch;
	struct win w;
	long i;

	memset(buf, 's', sizeof(buf));
	win_begin(&w);
	for (i = 0; i < iters; i++) {
		ch = 1 + (unsigned int)(rng_next(&arg->rng) % arg->channels);
		if (ioctl(arg->fd, MSG_SLOT_CHANNEL, ch))
			die("ioctl");
		if (arg->write && write(arg->fd, buf, SCALE_MSG_SIZE) != SCALE_MSG_SIZE)
			die("write channel %u", ch);
		if (read(arg->fd, buf, MSG_BUF) != SCALE_MSG_SIZE)
			die("read channel %u", ch);
		win_op(&w);
	}
	return win_end(&w);
}

void bench_scale(void)
{
	static double ns[2][SCALE_SLOTS][MAX_REPS];
	static long cal[2][SCALE_SLOTS];
	unsigned long counts[SCALE_SLOTS] = { 1, 1UL << 10, 1UL << 16, opt_max_channels };
	struct scale_arg args[SCALE_SLOTS];
	double ratio[MAX_REPS] = { 0 };
	int rep, i, k, w;

	pin_to_cpu(0);
	/* One slot per channel count, all alive at once, so the samples interleave. */
	for (i = 0; i < SCALE_SLOTS; i++) {
		double t0 = now_ns();

		args[i].fd = slot_open(10 + i);
		args[i].channels = counts[i];
		args[i].rng = 0x9E3779B97F4A7C15ULL + i;
		populate(args[i].fd, 1, counts[i] + 1, SCALE_MSG_SIZE);
		note("scale: populated %lu channels in %.1f s", counts[i],
		     (now_ns() - t0) / 1e9);
	}
	for (rep = 0; rep < opt_reps; rep++) {
		note("scale: repetition %d/%d", rep + 1, opt_reps);
		for (w = 1; w >= 0; w--) {
			for (k = 0; k < SCALE_SLOTS; k++) {
				i = (k + rep) % SCALE_SLOTS;
				args[i].write = w;
				ns[w][i][rep] = timed_sample(scale_run, &args[i], &cal[w][i]);
			}
		}
	}
	for (w = 1; w >= 0; w--) {
		const char *test = w ? "select+write+read" : "select+read";

		for (i = 0; i < SCALE_SLOTS; i++) {
			char mech[32];

			snprintf(mech, sizeof(mech), "%lu-channels", counts[i]);
			emit_samples("scale", test, mech, SCALE_MSG_SIZE, ns[w][i],
				     opt_reps, "ns/op");
			if (!i)
				continue;
			for (rep = 0; rep < opt_reps; rep++)
				ratio[rep] = ns[w][i][rep] / ns[w][0][rep];
			snprintf(mech, sizeof(mech), "%lu/1-channels", counts[i]);
			emit_ratio("scale-ratio", test, mech, SCALE_MSG_SIZE, ratio,
				   opt_reps, true,
				   w && counts[i] == (1UL << 20) ? 1.2 : 0);
		}
	}
	for (i = 0; i < SCALE_SLOTS; i++)
		close(args[i].fd);
	unpin();
}

/* `ipcbench loop` workloads scale, scale-read: --max-channels channels. */
bool scale_loop(const char *what)
{
	struct scale_arg scale;

	if (strcmp(what, "scale") && strcmp(what, "scale-read"))
		return false;
	scale.fd = slot_open(1);
	scale.channels = opt_max_channels;
	scale.write = !strcmp(what, "scale");
	scale.rng = 42;
	populate(scale.fd, 1, opt_max_channels + 1, SCALE_MSG_SIZE);
	loop_for(what, scale_run, &scale);
	return true;
}
