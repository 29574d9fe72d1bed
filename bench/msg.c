// SPDX-License-Identifier: GPL-2.0
/*
 * ipcbench msg: message cost.  The slot against pipe, mq and datagram
 * socketpair in one process and as a cross-process ping-pong (plain,
 * waiting read and epoll, against the blocking, yielding and epoll
 * variants of the others and eventfd + shared memory), a write's cost with
 * pollers, fan-out to 1..64 pollers.  Its loop workloads: <m>-pair,
 * <x>-pingpong, slot-write, slot-read.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "message_slot.h"
#include "bench.h"

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
	MSG_BUF_ALIGNED char buf[MSG_BUF];
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
	MSG_BUF_ALIGNED char buf[MSG_BUF];

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

/* The ping-pong's control pipe between parent and child. */
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
	MSG_BUF_ALIGNED char buf[MSG_BUF];
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
	MSG_BUF_ALIGNED char buf[MSG_BUF];
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
	MSG_BUF_ALIGNED char buf[MSG_BUF];
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
	MSG_BUF_ALIGNED char buf[MSG_BUF];

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
	MSG_BUF_ALIGNED char buf[MSG_BUF];
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
	MSG_BUF_ALIGNED char buf[MSG_BUF] = { 0 };
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

void bench_msg(void)
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

/* `ipcbench loop` workloads <m>-pair, <x>-pingpong, slot-write, slot-read. */
bool msg_loop(const char *what)
{
	struct endpoint a, b;
	struct pair_arg pair;
	struct half_arg half;
	int m;

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
		return true;
	}
	for (m = 0; m < X_NR; m++) {
		struct pingpong_arg arg = { .mech = xmech[m], .size = opt_size,
					    .spin = m >= X_PIPE_YIELD && m <= X_DGRAM_YIELD };
		char name[40];

		snprintf(name, sizeof(name), "%s-pingpong", xname[m]);
		if (!strcmp(what, name)) {
			loop_for(what, pingpong_run, &arg);
			return true;
		}
	}
	if (strcmp(what, "slot-write") && strcmp(what, "slot-read"))
		return false;
	half.fd = slot_with_message(3, opt_size);
	half.size = opt_size;
	half.read = !strcmp(what, "slot-read");
	loop_for(what, slot_half_run, &half);
	return true;
}
