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
 * its value is the fastest window (see win_begin(): the host deschedules
 * the VM's vCPU threads at will, and only that makes a window slower).  The
 * mechanisms being compared are sampled interleaved in every repetition (in
 * a rotating order) and a ratio is computed per repetition.  Reported:
 * median and min/max over the repetitions.
 *
 * CSV columns: section,test,mechanism,size,median,min,max,unit,target,verdict
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <sched.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "message_slot.h"
#include <npheap/npheap.h>

#define MAX_REPS	15
#define MSG_BUF		128

static int opt_reps = 5;
static double opt_sample_ms = 150;
static double opt_window_ms = 1;
static double opt_tp_window_ms = 10;
static unsigned long opt_max_channels = 1UL << 20;
static const char *opt_module = "/payload/message_slot.ko";

/* ------------------------------------------------------------------------
 * Small helpers
 */

static void usage(void);

static void die(const char *fmt, ...)
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

static void note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "ipcbench: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

struct stats {
	double median, min, max;
};

static struct stats stats_of(const double *samples, int n)
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
static void emit(const char *section, const char *test, const char *mech,
		 long size, struct stats st, const char *unit,
		 const char *target, const char *verdict)
{
	printf("BENCH,%s,%s,%s,%ld,%.4g,%.4g,%.4g,%s,%s,%s\n", section, test,
	       mech, size, st.median, st.min, st.max, unit, target ? target : "",
	       verdict ? verdict : "");
	fflush(stdout);
}

static void emit_samples(const char *section, const char *test,
			 const char *mech, long size, const double *samples,
			 int n, const char *unit)
{
	emit(section, test, mech, size, stats_of(samples, n), unit, NULL, NULL);
}

/* A ratio row with its target "<= limit" or ">= limit" judged on the median. */
static void emit_ratio(const char *section, const char *test, const char *mech,
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

static void pin_to_cpu(int cpu)
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

static void unpin(void)
{
	cpu_set_t set;
	long cpu, ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	CPU_ZERO(&set);
	for (cpu = 0; cpu < ncpu; cpu++)
		CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static void xwrite_all(int fd, const void *buf, size_t len)
{
	if (write(fd, buf, len) != (ssize_t)len)
		die("write to control pipe");
}

static void xread_all(int fd, void *buf, size_t len)
{
	if (read(fd, buf, len) != (ssize_t)len)
		die("read from control pipe");
}

static void wait_child(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		die("waitpid");
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		errno = 0;
		die("child %d failed (status 0x%x)", (int)pid, status);
	}
}

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

/* /dev/bslot<minor> as char 235:<minor>; returns an open O_RDWR fd. */
static int slot_open(unsigned int minor)
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

static void slot_set_channel(int fd, unsigned int channel)
{
	if (ioctl(fd, MSG_SLOT_CHANNEL, channel))
		die("ioctl MSG_SLOT_CHANNEL %u", channel);
}

/*
 * Timing windows.  The VM's vCPUs are host threads, and on a busy host they
 * lose the CPU for milliseconds at a time; the guest cannot see that (TCG
 * has no steal time), so a plain average mixes the cost of an op with the
 * host's scheduling.  A run is therefore cut into windows of g_window
 * iterations (~opt_window_ms each) and the fastest window counts: nothing
 * makes an op faster than its cost, while preemption only slows a window.
 * g_window == 0 makes the whole run one window.
 */
static long g_window;

struct win {
	double t0, best;
	long n;
};

static void win_begin(struct win *w)
{
	w->best = 0;
	w->n = 0;
	w->t0 = now_ns();
}

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

/* ns per iteration of the fastest window (of the whole run if g_window is 0). */
static double win_end(struct win *w)
{
	if (!w->best && w->n)
		w->best = (now_ns() - w->t0) / w->n;
	return w->best;
}

/*
 * @fn(@arg, iters) runs iters iterations, timed with win_*(), and returns
 * ns per iteration of its fastest window.  A sample: windows of ~opt_window_ms
 * (the iterations per window calibrated once per @cal slot) for about
 * opt_sample_ms in all, at least 10 windows.
 */
typedef double (*timed_fn)(void *arg, long iters);

static double timed_sample(timed_fn fn, void *arg, long *cal)
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

/* ------------------------------------------------------------------------
 * Message cost
 */

/*
 * M_NR ends the mechanisms of the same-process pair; the others only run
 * cross-process: the slot with epoll_wait() + read or with waiting reads
 * (MSG_SLOT_SET_WAIT), eventfd + shared memory, and pipe, eventfd and mq
 * with epoll_wait() + a non-blocking receive (like for like with
 * slot-epoll).
 */
enum mech { M_SLOT, M_PIPE, M_MQ, M_DGRAM, M_NR,
	    M_SLOT_EPOLL = M_NR, M_SLOT_WAIT, M_EVFD, M_PIPE_EPOLL,
	    M_EVFD_EPOLL, M_MQ_EPOLL, M_ALL };
static const char *const mech_name[M_ALL] = {
	"slot", "pipe", "mq", "dgram", "slot-epoll", "slot-wait", "eventfd",
	"pipe-epoll", "eventfd-epoll", "mq-epoll"
};

/* The object a mechanism moves messages through. */
static enum mech transport(enum mech mech)
{
	switch (mech) {
	case M_SLOT_EPOLL:
	case M_SLOT_WAIT:
		return M_SLOT;
	case M_PIPE_EPOLL:
		return M_PIPE;
	case M_EVFD_EPOLL:
		return M_EVFD;
	case M_MQ_EPOLL:
		return M_MQ;
	default:
		return mech;
	}
}

static bool is_slot(enum mech mech)
{
	return transport(mech) == M_SLOT;
}

static bool uses_epoll(enum mech mech)
{
	return mech == M_SLOT_EPOLL || mech == M_PIPE_EPOLL ||
	       mech == M_EVFD_EPOLL || mech == M_MQ_EPOLL;
}

/* eventfd + shm: the two message buffers (a->b, b->a), shared across fork. */
static char *evfd_shm;

/*
 * One direction of a message channel between two ends.  For the slot,
 * wfd writes our channel, rfd reads the peer's channel.
 */
struct endpoint {
	enum mech mech;
	bool spin;	/* non-blocking receive, retried (after a yield) until a message arrives */
	int wfd, rfd;
	int epfd;	/* uses_epoll(): epoll set holding the receive end */
	char *wbuf, *rbuf;	/* M_EVFD: message buffers in evfd_shm */
	mqd_t wq, rq;
	size_t size;
	long polls;	/* receive calls made (spin mode counts the retries) */
};

static void ep_send(struct endpoint *ep, const char *buf)
{
	ssize_t n;

	switch (transport(ep->mech)) {
	case M_MQ:
		if (mq_send(ep->wq, buf, ep->size, 0))
			die("mq_send");
		return;
	case M_DGRAM:
		n = send(ep->wfd, buf, ep->size, 0);
		break;
	case M_EVFD: {
		uint64_t one = 1;

		memcpy(ep->wbuf, buf, ep->size);
		__atomic_thread_fence(__ATOMIC_RELEASE);
		if (write(ep->wfd, &one, sizeof(one)) != sizeof(one))
			die("eventfd write");
		return;
	}
	default:
		n = write(ep->wfd, buf, ep->size);
		break;
	}
	if (n != (ssize_t)ep->size)
		die("send %s", mech_name[ep->mech]);
}

/* Receive one message into @buf; returns false on "nothing yet" (spin). */
static bool ep_try_recv(struct endpoint *ep, char *buf)
{
	ssize_t n;

	ep->polls++;
	if (uses_epoll(ep->mech)) {
		struct epoll_event ev;

		while (epoll_wait(ep->epfd, &ev, 1, -1) != 1)
			if (errno != EINTR)
				die("epoll_wait");
	}
	switch (transport(ep->mech)) {
	case M_MQ:
		n = mq_receive(ep->rq, buf, MSG_BUF, NULL);
		break;
	case M_DGRAM:
		n = recv(ep->rfd, buf, MSG_BUF, ep->spin ? MSG_DONTWAIT : 0);
		break;
	case M_EVFD: {
		uint64_t count;

		n = read(ep->rfd, &count, sizeof(count));
		if (n < 0 && errno == EAGAIN && ep->spin)
			return false;
		if (n != sizeof(count))
			die("eventfd read");
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		memcpy(buf, ep->rbuf, ep->size);
		return true;
	}
	default:
		n = read(ep->rfd, buf, MSG_BUF);
		break;
	}
	if (n == (ssize_t)ep->size)
		return true;
	if (n < 0 && errno == EAGAIN && ep->spin)
		return false;
	die("receive %s (got %zd of %zu)", mech_name[ep->mech], n, ep->size);
	return false;
}

/*
 * Wait for the message carrying sequence byte @seq.  A plain slot read
 * returns the channel's current message at once, new or not, so the
 * spinning slot side re-reads until the sequence byte changes, yielding
 * the CPU to the peer in between; epoll and waiting reads sleep until a
 * message this fd has not read (the first is the initial sequence 0); the
 * queues deliver each message once, so for them the first message
 * received is the one expected.
 */
static void ep_recv_seq(struct endpoint *ep, char *buf, unsigned char seq)
{
	for (;;) {
		if (ep_try_recv(ep, buf)) {
			if ((unsigned char)buf[0] == seq)
				return;
			if (!is_slot(ep->mech)) {
				errno = 0;
				die("%s: message %u out of order (got %u)",
				    mech_name[ep->mech], seq,
				    (unsigned char)buf[0]);
			}
		}
		if (ep->spin)
			sched_yield();
	}
}

/* Same process: one write then one read of the message, per iteration. */
struct pair_arg {
	struct endpoint ep;
};

static double pair_run(void *p, long iters)
{
	struct endpoint *ep = &((struct pair_arg *)p)->ep;
	char buf[MSG_BUF];
	struct win w;
	long i;

	memset(buf, 'm', sizeof(buf));
	win_begin(&w);
	for (i = 0; i < iters; i++) {
		buf[0] = (char)i;
		ep_send(ep, buf);
		if (!ep_try_recv(ep, buf))
			die("same-process receive found nothing");
		win_op(&w);
	}
	return win_end(&w);
}

/* A queue with one descriptor for its sender and one for its receiver. */
static void mq_make(const char *name, bool nonblock, mqd_t *wq, mqd_t *rq)
{
	struct mq_attr attr = { .mq_maxmsg = 8, .mq_msgsize = MSG_BUF };
	int flags = O_RDWR | (nonblock ? O_NONBLOCK : 0);

	mq_unlink(name);
	*wq = mq_open(name, flags | O_CREAT | O_EXCL, 0600, &attr);
	if (*wq == (mqd_t)-1)
		die("mq_open %s", name);
	*rq = mq_open(name, flags);
	if (*rq == (mqd_t)-1)
		die("mq_open %s again", name);
	mq_unlink(name);	/* lives as long as the descriptors */
}

/*
 * Build the two ends of a ping-pong (or, for same-process, a loop-back:
 * a = writer and reader of one object).  Slot: minor 0, channel 1 carries
 * a->b, channel 2 carries b->a; both hold a first message with sequence 0.
 */
static void endpoints_make(enum mech mech, size_t size, bool spin,
			   struct endpoint *a, struct endpoint *b)
{
	int ab[2], ba[2];
	char buf[MSG_BUF];

	memset(a, 0, sizeof(*a));
	memset(b, 0, sizeof(*b));
	a->mech = b->mech = mech;
	a->size = b->size = size;
	/* epoll variants of the queues receive non-blocking after epoll_wait(). */
	if (uses_epoll(mech) && !is_slot(mech))
		spin = true;
	a->spin = b->spin = spin || mech == M_SLOT;

	switch (transport(mech)) {
	case M_SLOT:
		a->wfd = slot_open(0);
		a->rfd = slot_open(0);
		b->wfd = slot_open(0);
		b->rfd = slot_open(0);
		slot_set_channel(a->wfd, 1);
		slot_set_channel(b->rfd, 1);
		slot_set_channel(b->wfd, 2);
		slot_set_channel(a->rfd, 2);
		memset(buf, 0, sizeof(buf));
		ep_send(a, buf);
		ep_send(b, buf);
		if (mech == M_SLOT_WAIT &&
		    (ioctl(a->rfd, MSG_SLOT_SET_WAIT, 1) || ioctl(b->rfd, MSG_SLOT_SET_WAIT, 1)))
			die("ioctl MSG_SLOT_SET_WAIT");
		break;
	case M_EVFD:
		if (!evfd_shm) {
			evfd_shm = mmap(NULL, 2 * MSG_BUF, PROT_READ | PROT_WRITE,
					MAP_SHARED | MAP_ANONYMOUS, -1, 0);
			if (evfd_shm == MAP_FAILED)
				die("mmap shared");
		}
		a->wfd = eventfd(0, spin ? EFD_NONBLOCK : 0);
		b->wfd = eventfd(0, spin ? EFD_NONBLOCK : 0);
		if (a->wfd < 0 || b->wfd < 0)
			die("eventfd");
		/* Own descriptors: each side closes the other's end after fork. */
		b->rfd = dup(a->wfd);
		a->rfd = dup(b->wfd);
		if (a->rfd < 0 || b->rfd < 0)
			die("dup");
		a->wbuf = b->rbuf = evfd_shm;
		b->wbuf = a->rbuf = evfd_shm + MSG_BUF;
		break;
	case M_PIPE:
		if (pipe2(ab, spin ? O_NONBLOCK : 0) || pipe2(ba, spin ? O_NONBLOCK : 0))
			die("pipe2");
		a->wfd = ab[1];
		b->rfd = ab[0];
		b->wfd = ba[1];
		a->rfd = ba[0];
		break;
	case M_MQ:
		mq_make("/ipcbench-ab", spin, &a->wq, &b->rq);
		mq_make("/ipcbench-ba", spin, &b->wq, &a->rq);
		break;
	case M_DGRAM:
		if (socketpair(AF_UNIX, SOCK_DGRAM, 0, ab))
			die("socketpair");
		a->wfd = a->rfd = ab[0];
		b->wfd = b->rfd = ab[1];
		break;
	default:
		break;
	}
	if (uses_epoll(mech)) {
		struct epoll_event ev = { .events = EPOLLIN };
		bool mq = transport(mech) == M_MQ;

		a->epfd = epoll_create1(0);
		b->epfd = epoll_create1(0);
		if (a->epfd < 0 || b->epfd < 0 ||
		    epoll_ctl(a->epfd, EPOLL_CTL_ADD, mq ? (int)a->rq : a->rfd, &ev) ||
		    epoll_ctl(b->epfd, EPOLL_CTL_ADD, mq ? (int)b->rq : b->rfd, &ev))
			die("epoll on %s", mech_name[mech]);
	}
}

static void endpoint_close(struct endpoint *ep)
{
	if (uses_epoll(ep->mech))
		close(ep->epfd);
	if (transport(ep->mech) == M_MQ) {
		mq_close(ep->wq);
		mq_close(ep->rq);
		return;
	}
	close(ep->wfd);
	if (ep->rfd != ep->wfd)
		close(ep->rfd);
}

/* Same process: A's messages are read back through B's receive end. */
static double same_sample(enum mech mech, size_t size, long *cal)
{
	struct endpoint a, b;
	struct pair_arg arg;
	double ns;

	endpoints_make(mech, size, false, &a, &b);
	arg.ep = a;
	arg.ep.rfd = b.rfd;	/* slot: a fd on channel 1, the one A writes */
	arg.ep.rq = b.rq;
	ns = timed_sample(pair_run, &arg, cal);
	endpoint_close(&a);
	endpoint_close(&b);
	return ns;
}

/*
 * Cross-process ping-pong: A sends message i, B waits for it and answers
 * with message i, A waits for the answer; per-message cost = round trip / 2.
 * Both run on CPU 0, so every message costs one switch to the other
 * process.  Across two TCG vCPUs a wake-up waits for the idle vCPU's next
 * timer tick and a spinning peer for the host to run the other vCPU's
 * thread: milliseconds per message for every mechanism, which measures
 * qemu and the host scheduler, not the IPC.
 */
struct pingpong_arg {
	enum mech mech;
	size_t size;
	bool spin;
	double polls_per_msg;
};

static double pingpong_run(void *p, long iters)
{
	struct pingpong_arg *arg = p;
	struct endpoint a, b;
	int ready[2], done[2];
	char buf[MSG_BUF];
	long i, b_polls;
	struct win w;
	double ns;
	pid_t pid;

	endpoints_make(arg->mech, arg->size, arg->spin, &a, &b);
	if (pipe(ready) || pipe(done))
		die("pipe");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		endpoint_close(&a);
		memset(buf, 'b', sizeof(buf));
		xwrite_all(ready[1], "r", 1);
		for (i = 1; i <= iters; i++) {
			ep_recv_seq(&b, buf, (unsigned char)i);
			buf[0] = (char)i;
			ep_send(&b, buf);
		}
		b_polls = b.polls;
		xwrite_all(done[1], &b_polls, sizeof(b_polls));
		_exit(0);
	}
	endpoint_close(&b);
	xread_all(ready[0], buf, 1);
	memset(buf, 'a', sizeof(buf));
	win_begin(&w);
	for (i = 1; i <= iters; i++) {
		buf[0] = (char)i;
		ep_send(&a, buf);
		ep_recv_seq(&a, buf, (unsigned char)i);
		win_op(&w);
	}
	ns = win_end(&w) / 2;	/* a round trip carries two messages */
	xread_all(done[0], &b_polls, sizeof(b_polls));
	wait_child(pid);
	arg->polls_per_msg = (double)(a.polls + b_polls) / (2.0 * iters);
	endpoint_close(&a);
	close(ready[0]);
	close(ready[1]);
	close(done[0]);
	close(done[1]);
	return ns;
}

/* The slot's halves alone: only writes, or only reads, of one channel. */
struct half_arg {
	int fd;
	size_t size;
	bool read;
};

static double slot_half_run(void *p, long iters)
{
	struct half_arg *arg = p;
	char buf[MSG_BUF];
	struct win w;
	long i;

	memset(buf, 'h', sizeof(buf));
	win_begin(&w);
	for (i = 0; i < iters; i++) {
		ssize_t n = arg->read ? read(arg->fd, buf, MSG_BUF) :
					write(arg->fd, buf, arg->size);

		if (n != (ssize_t)arg->size)
			die("slot %s", arg->read ? "read" : "write");
		win_op(&w);
	}
	return win_end(&w);
}

/* A slot fd on @channel, which holds a @size-byte message. */
static int slot_with_message(unsigned int channel, size_t size)
{
	char buf[MSG_BUF];
	int fd = slot_open(0);

	slot_set_channel(fd, channel);
	memset(buf, 'h', sizeof(buf));
	if (write(fd, buf, size) != (ssize_t)size)
		die("slot write");
	return fd;
}

static double slot_half_sample(size_t size, bool read_only, long *cal)
{
	struct half_arg arg = { .size = size, .read = read_only };
	double ns;

	arg.fd = slot_with_message(3, size);
	ns = timed_sample(slot_half_run, &arg, cal);
	close(arg.fd);
	return ns;
}

static const size_t msg_sizes[] = { 1, 16, 64, 128 };
#define NSIZES (sizeof(msg_sizes) / sizeof(msg_sizes[0]))

/*
 * Cross-process variants: the slot (re-read + sched_yield: it has no
 * blocking read), each peer blocking (how it is normally used) and each
 * peer with a non-blocking receive retried after sched_yield (the slot's
 * own method).
 */
enum { X_SLOT, X_PIPE, X_MQ, X_DGRAM, X_PIPE_YIELD, X_MQ_YIELD, X_DGRAM_YIELD,
       X_SLOT_EPOLL, X_SLOT_WAIT, X_EVFD, X_PIPE_EPOLL, X_EVFD_EPOLL,
       X_MQ_EPOLL, X_NR };
static const char *const xname[X_NR] = {
	"slot", "pipe", "mq", "dgram", "pipe-yield", "mq-yield", "dgram-yield",
	"slot-epoll", "slot-wait", "eventfd", "pipe-epoll", "eventfd-epoll",
	"mq-epoll"
};
static const enum mech xmech[X_NR] = {
	M_SLOT, M_PIPE, M_MQ, M_DGRAM, M_PIPE, M_MQ, M_DGRAM,
	M_SLOT_EPOLL, M_SLOT_WAIT, M_EVFD, M_PIPE_EPOLL, M_EVFD_EPOLL,
	M_MQ_EPOLL
};

/*
 * Ratios of the notified slot to its peers, with their targets: a waiting
 * read against eventfd + shared memory (the same two syscalls plus a copy)
 * and epoll on a slot against epoll on a pipe.
 */
static const struct {
	int num, den;
	double target;
} xratios[] = {
	{ X_SLOT_WAIT, X_EVFD, 1.00 }, { X_SLOT_WAIT, X_PIPE, 0 },
	{ X_SLOT_WAIT, X_MQ, 0 }, { X_SLOT_WAIT, X_DGRAM, 0 },
	{ X_SLOT_EPOLL, X_PIPE_EPOLL, 1.00 }, { X_SLOT_EPOLL, X_EVFD_EPOLL, 0 },
	{ X_SLOT_EPOLL, X_MQ_EPOLL, 0 }, { X_SLOT_EPOLL, X_PIPE, 0 },
	{ X_SLOT_EPOLL, X_EVFD, 0 },
};

/*
 * Write cost with open files of the channel registered for notification:
 * @pollers files of the written channel sit in an epoll set that nobody
 * waits on, so each write pays the wake-up walk (and epoll's callback)
 * but no poller runs.  0 pollers is the plain write.
 */
static const int poller_counts[] = { 0, 1, 8, 64 };
#define NPOLLERS (sizeof(poller_counts) / sizeof(poller_counts[0]))

static double slot_write_pollers_sample(size_t size, int pollers, long *cal)
{
	struct half_arg arg = { .size = size, .read = false };
	struct epoll_event ev = { .events = EPOLLIN };
	int fds[64], epfd = -1, i;
	double ns;

	arg.fd = slot_with_message(4, size);
	if (pollers) {
		epfd = epoll_create1(0);
		if (epfd < 0)
			die("epoll_create1");
	}
	for (i = 0; i < pollers; i++) {
		fds[i] = open("/dev/bslot0", O_RDONLY);
		if (fds[i] < 0)
			die("open /dev/bslot0");
		slot_set_channel(fds[i], 4);
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fds[i], &ev))
			die("epoll_ctl");
	}
	ns = timed_sample(slot_half_run, &arg, cal);
	for (i = 0; i < pollers; i++)
		close(fds[i]);
	if (epfd >= 0)
		close(epfd);
	close(arg.fd);
	return ns;
}

/*
 * Fan-out: @n threads (all on vCPU 0 with the writer), each with its own
 * open file of the channel, sleep in poll(); one write wakes them all, each
 * reads the message and counts itself; the writer yields until all have.
 * ns per write = the time until the last poller has the message.
 */
struct fanout_arg {
	int n;
	struct fanout_poller {
		struct fanout_arg *arg;
		int fd;
		pthread_t th;
	} poller[64];
	int wfd;
	long acks;
	bool stop;
};

static void *fanout_poller(void *p)
{
	struct fanout_poller *me = p;
	struct fanout_arg *arg = me->arg;
	char buf[MSG_BUF];

	for (;;) {
		struct pollfd pfd = { .fd = me->fd, .events = POLLIN };

		if (poll(&pfd, 1, -1) != 1)
			die("fan-out poll");
		if (__atomic_load_n(&arg->stop, __ATOMIC_ACQUIRE))
			return NULL;
		if (read(me->fd, buf, MSG_BUF) <= 0)
			die("fan-out read");
		__atomic_add_fetch(&arg->acks, 1, __ATOMIC_ACQ_REL);
	}
}

static double fanout_run(void *p, long iters)
{
	struct fanout_arg *arg = p;
	char buf[MSG_BUF];
	struct win w;
	long i;

	memset(buf, 'f', sizeof(buf));
	arg->acks = 0;
	win_begin(&w);
	for (i = 1; i <= iters; i++) {
		if (write(arg->wfd, buf, 16) != 16)
			die("fan-out write");
		while (__atomic_load_n(&arg->acks, __ATOMIC_ACQUIRE) < i * arg->n)
			sched_yield();
		win_op(&w);
	}
	return win_end(&w);
}

static double fanout_sample(int n, long *cal)
{
	static struct fanout_arg arg;
	char buf[MSG_BUF] = { 0 };
	double ns;
	int i;

	memset(&arg, 0, sizeof(arg));
	arg.n = n;
	arg.wfd = slot_open(0);
	slot_set_channel(arg.wfd, 5);
	for (i = 0; i < n; i++) {
		arg.poller[i].arg = &arg;
		arg.poller[i].fd = open("/dev/bslot0", O_RDONLY);
		if (arg.poller[i].fd < 0)
			die("open /dev/bslot0");
		slot_set_channel(arg.poller[i].fd, 5);
	}
	/* A first message, read by nobody yet: the pollers start by reading it. */
	if (write(arg.wfd, buf, 16) != 16)
		die("fan-out write");
	for (i = 0; i < n; i++)
		if (pthread_create(&arg.poller[i].th, NULL, fanout_poller, &arg.poller[i]))
			die("pthread_create");
	while (__atomic_load_n(&arg.acks, __ATOMIC_ACQUIRE) < n)
		sched_yield();
	ns = timed_sample(fanout_run, &arg, cal);
	__atomic_store_n(&arg.stop, true, __ATOMIC_RELEASE);
	if (write(arg.wfd, buf, 16) != 16)
		die("fan-out write");
	for (i = 0; i < n; i++) {
		pthread_join(arg.poller[i].th, NULL);
		close(arg.poller[i].fd);
	}
	close(arg.wfd);
	return ns;
}

static const int fanout_counts[] = { 1, 8, 64 };
#define NFANOUT (sizeof(fanout_counts) / sizeof(fanout_counts[0]))

static void bench_msg(void)
{
	static double same[NSIZES][M_NR][MAX_REPS];
	static double xproc[NSIZES][X_NR][MAX_REPS];
	static double xpolls[NSIZES][X_NR][MAX_REPS];
	static long same_cal[NSIZES][M_NR], x_cal[NSIZES][X_NR];
	static double half[NSIZES][2][MAX_REPS];
	static long half_cal[NSIZES][2];
	static double wpoll[NSIZES][NPOLLERS][MAX_REPS];
	static long wpoll_cal[NSIZES][NPOLLERS];
	static double fan[NFANOUT][MAX_REPS];
	static long fan_cal[NFANOUT];
	unsigned int j;
	double ratio[MAX_REPS] = { 0 };
	char test[64];
	int rep, m, k;
	unsigned int s;

	pin_to_cpu(0);
	for (rep = 0; rep < opt_reps; rep++) {
		note("msg: repetition %d/%d", rep + 1, opt_reps);
		for (s = 0; s < NSIZES; s++) {
			for (k = 0; k < M_NR; k++) {
				m = (k + rep) % M_NR;
				same[s][m][rep] = same_sample(m, msg_sizes[s],
							      &same_cal[s][m]);
			}
		}
		for (s = 0; s < NSIZES; s++) {
			for (k = 0; k < X_NR; k++) {
				struct pingpong_arg arg;

				m = (k + rep) % X_NR;
				arg.mech = xmech[m];
				arg.size = msg_sizes[s];
				arg.spin = m >= X_PIPE_YIELD && m <= X_DGRAM_YIELD;
				xproc[s][m][rep] = timed_sample(pingpong_run, &arg,
								&x_cal[s][m]);
				xpolls[s][m][rep] = arg.polls_per_msg;
			}
		}
		for (s = 0; s < NSIZES; s++)
			for (k = 0; k < 2; k++)
				half[s][k][rep] = slot_half_sample(msg_sizes[s], k,
								   &half_cal[s][k]);
		for (s = 0; s < NSIZES; s++)
			for (j = 0; j < NPOLLERS; j++) {
				k = (j + rep) % NPOLLERS;
				wpoll[s][k][rep] = slot_write_pollers_sample(
					msg_sizes[s], poller_counts[k], &wpoll_cal[s][k]);
			}
		for (j = 0; j < NFANOUT; j++)
			fan[j][rep] = fanout_sample(fanout_counts[j], &fan_cal[j]);
	}
	unpin();

	for (s = 0; s < NSIZES; s++) {
		for (j = 0; j < NPOLLERS; j++) {
			snprintf(test, sizeof(test), "write-%d-pollers", poller_counts[j]);
			emit_samples("notify", "same-process", test, msg_sizes[s],
				     wpoll[s][j], opt_reps, "ns/call");
			if (!j)
				continue;
			for (rep = 0; rep < opt_reps; rep++)
				ratio[rep] = wpoll[s][j][rep] / wpoll[s][0][rep];
			snprintf(test, sizeof(test), "write-%d-pollers/0", poller_counts[j]);
			emit_ratio("notify-ratio", "same-process", test, msg_sizes[s],
				   ratio, opt_reps, true, 0);
		}
	}
	for (j = 0; j < NFANOUT; j++) {
		snprintf(test, sizeof(test), "fanout-%d-pollers", fanout_counts[j]);
		emit_samples("notify", "same-process", test, 16, fan[j], opt_reps,
			     "ns/write");
		for (rep = 0; rep < opt_reps; rep++)
			ratio[rep] = fan[j][rep] / fanout_counts[j];
		snprintf(test, sizeof(test), "fanout-%d-pollers-per-poller", fanout_counts[j]);
		emit_samples("notify", "same-process", test, 16, ratio, opt_reps,
			     "ns/poller");
	}

	for (s = 0; s < NSIZES; s++) {
		for (m = 0; m < M_NR; m++)
			emit_samples("msg", "same-process", mech_name[m], msg_sizes[s],
				     same[s][m], opt_reps, "ns/msg");
		emit_samples("msg", "same-process", "slot-write-only", msg_sizes[s],
			     half[s][0], opt_reps, "ns/call");
		emit_samples("msg", "same-process", "slot-read-only", msg_sizes[s],
			     half[s][1], opt_reps, "ns/call");
		for (m = 1; m < M_NR; m++) {
			for (rep = 0; rep < opt_reps; rep++)
				ratio[rep] = same[s][M_SLOT][rep] / same[s][m][rep];
			snprintf(test, sizeof(test), "slot/%s", mech_name[m]);
			emit_ratio("msg-ratio", "same-process", test, msg_sizes[s],
				   ratio, opt_reps, true, m == M_PIPE ? 0.9 : 0);
		}
	}
	for (s = 0; s < NSIZES; s++) {
		for (m = 0; m < X_NR; m++) {
			emit_samples("msg", "cross-process", xname[m], msg_sizes[s],
				     xproc[s][m], opt_reps, "ns/msg");
			emit_samples("msg-polls", "cross-process", xname[m],
				     msg_sizes[s], xpolls[s][m], opt_reps,
				     "receive calls/msg");
		}
		for (m = 1; m < X_NR; m++) {
			for (rep = 0; rep < opt_reps; rep++)
				ratio[rep] = xproc[s][X_SLOT][rep] / xproc[s][m][rep];
			snprintf(test, sizeof(test), "slot/%s", xname[m]);
			emit_ratio("msg-ratio", "cross-process", test, msg_sizes[s],
				   ratio, opt_reps, true, m == X_PIPE ? 0.9 : 0);
		}
		for (j = 0; j < sizeof(xratios) / sizeof(xratios[0]); j++) {
			for (rep = 0; rep < opt_reps; rep++)
				ratio[rep] = xproc[s][xratios[j].num][rep] /
					     xproc[s][xratios[j].den][rep];
			snprintf(test, sizeof(test), "%s/%s", xname[xratios[j].num],
				 xname[xratios[j].den]);
			emit_ratio("msg-ratio", "cross-process", test, msg_sizes[s],
				   ratio, opt_reps, true, xratios[j].target);
		}
	}
}

/* ------------------------------------------------------------------------
 * Scaling with the number of channels
 */

#define SCALE_MSG_SIZE	16
#define SCALE_SLOTS	4

/* Write a @size-byte message to channels from..to-1 (1-based ids). */
static void populate(int fd, unsigned long from, unsigned long to, size_t size)
{
	char buf[MSG_BUF];
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
	char buf[MSG_BUF];
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

static void bench_scale(void)
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

/* ------------------------------------------------------------------------
 * Memory
 */

/* A snapshot of what the module's memory shows up in, in bytes. */
struct memsnap {
	long slab, sunreclaim;
	long msg_cache;		/* the message_slot_<size> cache holding the messages */
	long radix;		/* radix_tree_node: xarray nodes */
};

static long meminfo_kb(const char *key)
{
	char line[256];
	size_t klen = strlen(key);
	long value = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		die("/proc/meminfo");
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && line[klen] == ':') {
			value = strtol(line + klen + 1, NULL, 10);
			break;
		}
	fclose(f);
	if (value < 0) {
		errno = ENOENT;
		die("no %s in /proc/meminfo", key);
	}
	return value;
}

static long read_long(const char *path)
{
	char text[64];
	long value;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	value = fgets(text, sizeof(text), f) ? strtol(text, NULL, 10) : -1;
	fclose(f);
	return value;
}

/*
 * Bytes in pages held by a slab cache, from SLUB's sysfs (which follows
 * cache merging: message_slot_32 may be an alias of another 32-byte cache).
 * /proc/slabinfo only lists a merged cache under the name it was created
 * with, so it cannot be used for the module's caches.
 */
static long slab_cache_bytes(const char *cache)
{
	char path[128];
	long slabs, order;

	snprintf(path, sizeof(path), "/sys/kernel/slab/%s/slabs", cache);
	slabs = read_long(path);
	snprintf(path, sizeof(path), "/sys/kernel/slab/%s/order", cache);
	order = read_long(path);
	if (slabs < 0 || order < 0)
		return 0;	/* gone (after rmmod) */
	return slabs * (sysconf(_SC_PAGESIZE) << order);
}

/* Give back empty slabs and wait out RCU frees so deltas are stable. */
static void settle(void)
{
	struct dirent *entry;
	char path[512];
	DIR *dir;

	sync();
	usleep(300 * 1000);
	dir = opendir("/sys/kernel/slab");
	if (!dir)
		die("/sys/kernel/slab");
	while ((entry = readdir(dir))) {
		int fd;

		if (entry->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/kernel/slab/%s/shrink",
			 entry->d_name);
		fd = open(path, O_WRONLY);
		if (fd < 0)
			continue;
		/* A cache that cannot shrink just stays as it is. */
		if (write(fd, "1", 1) < 0 && errno != EINVAL)
			note("shrink %s: %s", entry->d_name, strerror(errno));
		close(fd);
	}
	closedir(dir);
	usleep(300 * 1000);
}

static struct memsnap memsnap_take(const char *msg_cache)
{
	struct memsnap s;

	settle();
	s.slab = meminfo_kb("Slab") * 1024;
	s.sunreclaim = meminfo_kb("SUnreclaim") * 1024;
	s.msg_cache = msg_cache ? slab_cache_bytes(msg_cache) : 0;
	s.radix = slab_cache_bytes("radix_tree_node");
	return s;
}

static void run_cmd(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	if (rc) {
		errno = 0;
		die("'%s' exited %d", cmd, rc);
	}
}

static void emit_value(const char *section, const char *test, const char *mech,
		       long size, double value, const char *unit,
		       const char *target, const char *verdict)
{
	struct stats st = { value, value, value };

	emit(section, test, mech, size, st, unit, target, verdict);
}

/*
 * Per message size: snapshot before insmod (B0), after insmod (B1), after
 * filling 2^16 and then 2^20 channels of one slot (P), after rmmod (A).
 * Per channel = (P - B1) / channels; residue after unload = A - B0.
 */
static void bench_mem(void)
{
	static const size_t sizes[] = { 1, 128 };
	unsigned long counts[2] = { 1UL << 16, opt_max_channels };
	unsigned int si, ci;

	for (si = 0; si < 2; si++) {
		size_t size = sizes[si];
		long objsize = (long)((16 + 1 + size + 15) / 16 * 16);
		char cache[32], test[48], target[32];
		struct memsnap b0, b1, p, a;
		unsigned long done = 0;
		double limit = size + 64.0;
		int fd;

		if (objsize < 32)
			objsize = 32;
		snprintf(cache, sizeof(cache), "message_slot_%ld", objsize);
		b0 = memsnap_take(NULL);
		run_cmd("insmod %s", opt_module);
		b1 = memsnap_take(cache);
		fd = slot_open(20);
		for (ci = 0; ci < 2; ci++) {
			double t0 = now_ns(), per_slab, per_sunr, per_cache, per_radix;

			populate(fd, done + 1, counts[ci] + 1, size);
			done = counts[ci];
			note("mem: %zu-byte messages, %lu channels (%.1f s)", size,
			     done, (now_ns() - t0) / 1e9);
			p = memsnap_take(cache);
			per_slab = (double)(p.slab - b1.slab) / done;
			per_sunr = (double)(p.sunreclaim - b1.sunreclaim) / done;
			per_cache = (double)(p.msg_cache - b1.msg_cache) / done;
			per_radix = (double)(p.radix - b1.radix) / done;
			snprintf(test, sizeof(test), "%lu-channels", done);
			snprintf(target, sizeof(target), "<=%g", limit);
			emit_value("mem", test, "Slab", size, per_slab, "B/channel",
				   target, per_slab <= limit ? "PASS" : "MISS");
			emit_value("mem", test, "SUnreclaim", size, per_sunr,
				   "B/channel", NULL, NULL);
			emit_value("mem", test, cache, size, per_cache, "B/channel",
				   NULL, NULL);
			emit_value("mem", test, "radix_tree_node", size, per_radix,
				   "B/channel", NULL, NULL);
		}
		close(fd);
		run_cmd("rmmod message_slot");
		a = memsnap_take(NULL);
		{
			double residue = (double)(a.slab - b0.slab);
			double peak = (double)(p.slab - b0.slab);
			/* "Baseline" allows 1% of the peak for unrelated kernel noise. */
			double allowed = peak / 100 > 256 * 1024 ? peak / 100 : 256 * 1024;

			snprintf(target, sizeof(target), "<=%.0fKiB", allowed / 1024);
			emit_value("mem", "after-rmmod", "Slab", size, residue / 1024,
				   "KiB vs before insmod", target,
				   residue <= allowed ? "PASS" : "MISS");
			emit_value("mem", "after-rmmod", "SUnreclaim", size,
				   (double)(a.sunreclaim - b0.sunreclaim) / 1024,
				   "KiB vs before insmod", NULL, NULL);
			emit_value("mem", "peak", "Slab", size, peak / 1024,
				   "KiB vs before insmod", NULL, NULL);
		}
	}
}

/* ------------------------------------------------------------------------
 * NP-Heap
 */

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
volatile uint64_t cpu_op_sink;	/* keeps the loop from being optimised away */

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

static void bench_npheap(void)
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

/* ------------------------------------------------------------------------ */

/*
 * Profiling aid (bench/profile.sh runs it under perf): repeat one workload
 * for opt_seconds and print its cost per op on stderr.
 */
static double opt_seconds = 10;
static size_t opt_size = 16;

static void loop_for(const char *what, timed_fn fn, void *arg)
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

static void bench_loop(const char *what)
{
	static struct heap_arg heap;
	struct endpoint a, b;
	struct pair_arg pair;
	struct half_arg half;
	struct scale_arg scale;
	int m;

	pin_to_cpu(0);
	for (m = 0; m < M_NR; m++) {
		char name[32];

		snprintf(name, sizeof(name), "%s-pair", mech_name[m]);
		if (strcmp(what, name))
			continue;
		endpoints_make(m, opt_size, false, &a, &b);
		pair.ep = a;
		pair.ep.rfd = b.rfd;
		pair.ep.rq = b.rq;
		loop_for(what, pair_run, &pair);
		return;
	}
	for (m = 0; m < X_NR; m++) {
		struct pingpong_arg arg = { .mech = xmech[m], .size = opt_size,
					    .spin = m >= X_PIPE_YIELD && m <= X_DGRAM_YIELD };
		char name[40];

		snprintf(name, sizeof(name), "%s-pingpong", xname[m]);
		if (!strcmp(what, name)) {
			loop_for(what, pingpong_run, &arg);
			return;
		}
	}
	if (!strcmp(what, "slot-write") || !strcmp(what, "slot-read")) {
		half.fd = slot_with_message(3, opt_size);
		half.size = opt_size;
		half.read = !strcmp(what, "slot-read");
		loop_for(what, slot_half_run, &half);
	} else if (!strcmp(what, "scale") || !strcmp(what, "scale-read")) {
		scale.fd = slot_open(1);
		scale.channels = opt_max_channels;
		scale.write = !strcmp(what, "scale");
		scale.rng = 42;
		populate(scale.fd, 1, opt_max_channels + 1, SCALE_MSG_SIZE);
		loop_for(what, scale_run, &scale);
	} else if (!strncmp(what, "npheap-2proc", 12) || !strcmp(what, "shm-2proc")) {
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
	} else if (!strcmp(what, "npheap-op") || !strcmp(what, "shm-op")) {
		heap.devfd = open("/dev/npheap", O_RDWR);
		if (heap.devfd < 0)
			die("/dev/npheap");
		heap_create(heap.devfd, 1);
		heap.shm = !strcmp(what, "shm-op");
		heap.id = 1;
		loop_for(what, heap_run, &heap);
	} else {
		usage();
	}
}

static void usage(void)
{
	fprintf(stderr,
		"usage: ipcbench msg|scale|mem|npheap [--reps R] [--sample-ms MS]\n"
		"                [--window-ms MS] [--tp-window-ms MS]\n"
		"                [--max-channels N] [--module PATH]\n"
		"       ipcbench loop slot-pair|pipe-pair|mq-pair|dgram-pair|slot-write|\n"
		"                slot-read|<x>-pingpong|scale|scale-read|npheap-op|shm-op|\n"
		"                npheap-2proc|npheap-2proc-same|shm-2proc\n"
		"                [--size S] [--seconds T] [--max-channels N]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int i, first_opt = 2;

	if (argc < 2)
		usage();
	if (!strcmp(argv[1], "loop"))
		first_opt = 3;
	if (argc < first_opt)
		usage();
	for (i = first_opt; i < argc; i++) {
		if (i + 1 >= argc)
			usage();
		if (!strcmp(argv[i], "--reps"))
			opt_reps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--sample-ms"))
			opt_sample_ms = atof(argv[++i]);
		else if (!strcmp(argv[i], "--window-ms"))
			opt_window_ms = atof(argv[++i]);
		else if (!strcmp(argv[i], "--tp-window-ms"))
			opt_tp_window_ms = atof(argv[++i]);
		else if (!strcmp(argv[i], "--max-channels"))
			opt_max_channels = strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--module"))
			opt_module = argv[++i];
		else if (!strcmp(argv[i], "--size"))
			opt_size = strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--seconds"))
			opt_seconds = atof(argv[++i]);
		else
			usage();
	}
	if (opt_reps < 1 || opt_reps > MAX_REPS || opt_sample_ms <= 0 ||
	    opt_window_ms <= 0 || opt_tp_window_ms <= 0 ||
	    opt_max_channels < 1 || opt_max_channels > (1UL << 22) ||
	    opt_size < 1 || opt_size > MSG_BUF || opt_seconds <= 0)
		usage();
	if (strcmp(argv[1], "loop") && opt_max_channels < (1UL << 16))
		usage();	/* scale and mem measure 2^16 below the maximum */
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);

	if (!strcmp(argv[1], "msg"))
		bench_msg();
	else if (!strcmp(argv[1], "scale"))
		bench_scale();
	else if (!strcmp(argv[1], "mem"))
		bench_mem();
	else if (!strcmp(argv[1], "npheap"))
		bench_npheap();
	else if (!strcmp(argv[1], "loop"))
		bench_loop(argv[2]);
	else
		usage();
	return 0;
}
