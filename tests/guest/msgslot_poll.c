// SPDX-License-Identifier: GPL-2.0
/*
 * msgslot_poll.c - change notification: poll/select/epoll readiness, the
 * per-open-file "last read" generation, MSG_SLOT_SET_WAIT waiting reads,
 * wake-ups (across processes, 64 pollers, none for other channels),
 * signals, O_NONBLOCK and close while a thread waits.
 *
 * Every test uses its own slot minor (SLOT_BASE + n) so no test sees
 * another's messages.  "Must wake" waits allow WAKE_MS (generous: the
 * debug kernel runs under TCG with KASAN); "must not wake" checks wait
 * QUIET_MS.
 */
#define _GNU_SOURCE
#include "tap.h"
#include "msgslot_util.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/wait.h>

#define SLOT_BASE	1700
#define WAKE_MS		20000
#define QUIET_MS	300
#define POLLERS		64

#define RD	(POLLIN | POLLRDNORM)
#define WR	(POLLOUT | POLLWRNORM)

static unsigned int next_minor = SLOT_BASE;

/* A fresh slot's fd on @channel (each test gets its own slot). */
static int fresh_fd(unsigned int channel, unsigned int *minor)
{
	*minor = next_minor++;
	return slot_open_channel(*minor, channel);
}

static short poll_now(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM };

	if (poll(&p, 1, 0) < 0)
		return -1;
	return p.revents;
}

static const char *events_text(short ev)
{
	static char text[96];

	if (ev < 0)
		return "poll failed";
	snprintf(text, sizeof(text), "%s%s%s%s%s%s(0x%x)",
		 ev & POLLIN ? "IN " : "", ev & POLLRDNORM ? "RDNORM " : "",
		 ev & POLLOUT ? "OUT " : "", ev & POLLWRNORM ? "WRNORM " : "",
		 ev & POLLERR ? "ERR " : "", ev & POLLHUP ? "HUP " : "", ev);
	return text;
}

#define EXPECT_EVENTS(fd, want, ...)                                     \
	do {                                                             \
		short ev_ = poll_now(fd);                                \
		if (ev_ != (want)) {                                     \
			char ew_[200];                                   \
			snprintf(ew_, sizeof(ew_), __VA_ARGS__);         \
			TAP_FAIL("%s: poll reports %s, expected 0x%x", ew_, \
				 events_text(ev_), (want));              \
		}                                                        \
	} while (0)

static int set_wait(int fd, unsigned int on)
{
	return ioctl(fd, MSG_SLOT_SET_WAIT, on);
}

static long ms_since(double t0)
{
	return (long)((now_seconds() - t0) * 1000);
}

/* Wait until thread @tid sleeps in the kernel ('S'), at most 5 s. */
static bool wait_sleeping(pid_t tid)
{
	char path[64], buf[256];
	int i;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	for (i = 0; i < 5000; i++) {
		char *p;

		if (read_text(path, buf, sizeof(buf)) > 0) {
			p = strrchr(buf, ')');
			if (p && p[1] == ' ' && p[2] == 'S') {
				usleep(20000);	/* past the last check */
				return true;
			}
		}
		usleep(1000);
	}
	return false;
}

/* voluntary_ctxt_switches of thread @tid: how often it slept and woke. */
static long voluntary_switches(pid_t tid)
{
	char path[64], buf[2048], *p;

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
	if (read_text(path, buf, sizeof(buf)) < 0)
		return -1;
	p = strstr(buf, "\nvoluntary_ctxt_switches:");
	return p ? strtol(p + 25, NULL, 10) : -1;
}

/* ---- readiness ---------------------------------------------------------- */

static bool t_no_channel(char *why)
{
	unsigned int minor = next_minor++;
	int fd = slot_open(minor, O_RDWR);

	TAP_CHECK(fd >= 0, "open: %s", tap_errno_name(errno));
	EXPECT_EVENTS(fd, POLLERR, "fd without a channel");
	close(fd);
	return true;
}

static bool t_empty_channel(char *why)
{
	unsigned int minor;
	int fd = fresh_fd(5, &minor);

	TAP_CHECK(fd >= 0, "open: %s", tap_errno_name(errno));
	EXPECT_EVENTS(fd, WR, "never-written channel");
	close(fd);
	return true;
}

static bool t_after_write_and_read(char *why)
{
	unsigned int minor;
	int fd = fresh_fd(5, &minor);

	TAP_CHECK(fd >= 0, "open: %s", tap_errno_name(errno));
	EXPECT_RET(write(fd, "abc", 3), 3, "write");
	EXPECT_EVENTS(fd, RD | WR, "after a write");
	EXPECT_EVENTS(fd, RD | WR, "polled again without reading");
	EXPECT_MESSAGE(fd, "abc", 3, "read");
	EXPECT_EVENTS(fd, WR, "after reading the message");
	/* Read mode off: the message is still returned every time. */
	EXPECT_MESSAGE(fd, "abc", 3, "read again");
	EXPECT_EVENTS(fd, WR, "after reading it again");
	EXPECT_RET(write(fd, "abc", 3), 3, "rewrite of identical bytes");
	EXPECT_EVENTS(fd, RD | WR, "after a rewrite of identical bytes");
	/* A different size class replaces the buffer: the generation goes on. */
	EXPECT_MESSAGE(fd, "abc", 3, "read");
	EXPECT_RET(write(fd, "0123456789abcdefghijklmnopqrstuvwxyz", 36), 36, "longer write");
	EXPECT_EVENTS(fd, RD | WR, "after a write into a new buffer");
	EXPECT_MESSAGE(fd, "0123456789abcdefghijklmnopqrstuvwxyz", 36, "read");
	EXPECT_EVENTS(fd, WR, "after reading the new buffer");
	/* ENOSPC does not count as reading it. */
	EXPECT_RET(write(fd, "hello", 5), 5, "write");
	{
		char small[2];

		EXPECT_ERRNO(read(fd, small, sizeof(small)), ENOSPC, "short read");
	}
	EXPECT_EVENTS(fd, RD | WR, "after a failed (ENOSPC) read");
	close(fd);
	return true;
}

static bool t_per_open_file(char *why)
{
	unsigned int minor;
	int a = fresh_fd(9, &minor), b = slot_open_channel(minor, 9);

	TAP_CHECK(a >= 0 && b >= 0, "open: %s", tap_errno_name(errno));
	EXPECT_RET(write(a, "x", 1), 1, "write through a");
	EXPECT_EVENTS(a, RD | WR, "fd a after the write");
	EXPECT_EVENTS(b, RD | WR, "fd b after the write");
	EXPECT_MESSAGE(a, "x", 1, "read a");
	EXPECT_EVENTS(a, WR, "fd a after a read through a");
	EXPECT_EVENTS(b, RD | WR, "fd b after a read through a");
	EXPECT_MESSAGE(b, "x", 1, "read b");
	EXPECT_EVENTS(b, WR, "fd b after its own read");
	/* A fresh open has read nothing: an existing message is unseen. */
	{
		int c = slot_open_channel(minor, 9);

		TAP_CHECK(c >= 0, "open c: %s", tap_errno_name(errno));
		EXPECT_EVENTS(c, RD | WR, "a new open file");
		close(c);
	}
	close(a);
	close(b);
	return true;
}

static bool t_channel_switch(char *why)
{
	unsigned int minor;
	int fd = fresh_fd(1, &minor), w = slot_open_channel(minor, 2);

	TAP_CHECK(fd >= 0 && w >= 0, "open: %s", tap_errno_name(errno));
	EXPECT_RET(write(fd, "one", 3), 3, "write ch 1");
	EXPECT_RET(write(w, "two", 3), 3, "write ch 2");
	EXPECT_MESSAGE(fd, "one", 3, "read ch 1");
	EXPECT_EVENTS(fd, WR, "ch 1 read");
	EXPECT_RET(ioctl(fd, MSG_SLOT_CHANNEL, 1), 0, "select ch 1 again");
	EXPECT_EVENTS(fd, WR, "same channel selected again (keeps what was read)");
	EXPECT_RET(ioctl(fd, MSG_SLOT_CHANNEL, 2), 0, "switch to ch 2");
	EXPECT_EVENTS(fd, RD | WR, "switched to written ch 2");
	EXPECT_MESSAGE(fd, "two", 3, "read ch 2");
	EXPECT_EVENTS(fd, WR, "ch 2 read");
	EXPECT_RET(ioctl(fd, MSG_SLOT_CHANNEL, 1), 0, "switch back to ch 1");
	EXPECT_EVENTS(fd, RD | WR, "back on ch 1 (the switch forgot what was read)");
	EXPECT_RET(ioctl(fd, MSG_SLOT_CHANNEL, 3), 0, "switch to ch 3");
	EXPECT_EVENTS(fd, WR, "never-written ch 3");
	close(fd);
	close(w);
	return true;
}

static bool t_select(char *why)
{
	unsigned int minor;
	int fd = fresh_fd(4, &minor);
	struct timeval tv = { 0, 0 };
	fd_set rd, wr;

	TAP_CHECK(fd >= 0, "open: %s", tap_errno_name(errno));
	FD_ZERO(&rd);
	FD_ZERO(&wr);
	FD_SET(fd, &rd);
	FD_SET(fd, &wr);
	EXPECT_RET(select(fd + 1, &rd, &wr, NULL, &tv), 1, "select before a write");
	TAP_CHECK(!FD_ISSET(fd, &rd) && FD_ISSET(fd, &wr), "select before a write: readable %d writable %d",
		  FD_ISSET(fd, &rd), FD_ISSET(fd, &wr));
	EXPECT_RET(write(fd, "s", 1), 1, "write");
	FD_SET(fd, &rd);
	FD_SET(fd, &wr);
	tv.tv_sec = 0;
	EXPECT_RET(select(fd + 1, &rd, &wr, NULL, &tv), 2, "select after a write");
	close(fd);
	return true;
}

/* ---- epoll -------------------------------------------------------------- */

static int epoll_for(int fd, unsigned int events)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };
	int ep = epoll_create1(0);

	if (ep < 0)
		return -1;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		close(ep);
		return -1;
	}
	return ep;
}

static bool t_epoll_level(char *why)
{
	struct epoll_event ev;
	unsigned int minor;
	int fd = fresh_fd(3, &minor), ep;

	TAP_CHECK(fd >= 0, "open: %s", tap_errno_name(errno));
	ep = epoll_for(fd, EPOLLIN);
	TAP_CHECK(ep >= 0, "epoll: %s", tap_errno_name(errno));
	EXPECT_RET(epoll_wait(ep, &ev, 1, 0), 0, "epoll_wait before a write");
	EXPECT_RET(write(fd, "lt", 2), 2, "write");
	EXPECT_RET(epoll_wait(ep, &ev, 1, 0), 1, "epoll_wait after a write");
	TAP_CHECK(ev.events == EPOLLIN, "events 0x%x, expected EPOLLIN", ev.events);
	EXPECT_RET(epoll_wait(ep, &ev, 1, 0), 1, "level-triggered: again before reading");
	EXPECT_MESSAGE(fd, "lt", 2, "read");
	EXPECT_RET(epoll_wait(ep, &ev, 1, 0), 0, "epoll_wait after reading");
	close(ep);
	close(fd);
	return true;
}

static bool t_epoll_edge(char *why)
{
	struct epoll_event ev;
	unsigned int minor;
	int fd = fresh_fd(3, &minor), ep;

	TAP_CHECK(fd >= 0, "open: %s", tap_errno_name(errno));
	ep = epoll_for(fd, EPOLLIN | EPOLLET);
	TAP_CHECK(ep >= 0, "epoll: %s", tap_errno_name(errno));
	EXPECT_RET(epoll_wait(ep, &ev, 1, 0), 0, "epoll_wait before a write");
	EXPECT_RET(write(fd, "et", 2), 2, "write");
	EXPECT_RET(epoll_wait(ep, &ev, 1, 0), 1, "epoll_wait after a write");
	EXPECT_RET(epoll_wait(ep, &ev, 1, 0), 0, "edge-triggered: no second event for one write");
	EXPECT_RET(write(fd, "et2", 3), 3, "second write, first message not read");
	EXPECT_RET(epoll_wait(ep, &ev, 1, WAKE_MS), 1, "epoll_wait after the second write");
	EXPECT_MESSAGE(fd, "et2", 3, "read");
	EXPECT_RET(epoll_wait(ep, &ev, 1, 0), 0, "epoll_wait after reading");
	EXPECT_RET(write(fd, "et2", 3), 3, "rewrite of identical bytes");
	EXPECT_RET(epoll_wait(ep, &ev, 1, WAKE_MS), 1, "epoll_wait after an identical rewrite");
	close(ep);
	close(fd);
	return true;
}

/* ---- wake-ups ----------------------------------------------------------- */

/* A child process writes @msg to @minor/@channel after @delay_ms. */
static pid_t delayed_writer(unsigned int minor, unsigned int channel,
			    const char *msg, int delay_ms)
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd = slot_open_channel(minor, channel);

		usleep((useconds_t)delay_ms * 1000);
		_exit(fd < 0 || write(fd, msg, strlen(msg)) != (ssize_t)strlen(msg));
	}
	return pid;
}

static bool reap(pid_t pid, char *why)
{
	int status;

	TAP_CHECK(pid > 0, "fork: %s", tap_errno_name(errno));
	TAP_CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		  WEXITSTATUS(status) == 0, "writer process failed (status 0x%x)", status);
	return true;
}

static bool t_poll_woken_by_other_process(char *why)
{
	unsigned int minor;
	int fd = fresh_fd(6, &minor);
	struct pollfd p;
	long waited;
	double t0;
	pid_t pid;
	int n;

	TAP_CHECK(fd >= 0, "open: %s", tap_errno_name(errno));
	pid = delayed_writer(minor, 6, "wake", 200);
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	t0 = now_seconds();
	n = poll(&p, 1, WAKE_MS);
	waited = ms_since(t0);
	if (!reap(pid, why))
		return false;
	TAP_CHECK(n == 1 && p.revents == POLLIN, "poll returned %d revents %s after %ld ms",
		  n, events_text(p.revents), waited);
	TAP_CHECK(waited >= 100, "poll returned after %ld ms, before the write", waited);
	EXPECT_MESSAGE(fd, "wake", 4, "read");
	close(fd);
	return true;
}

struct poller {
	int fd;
	int epoll;		/* >= 0: wait in epoll_wait on it instead of poll */
	pid_t tid;
	int result;		/* poll/epoll_wait return value */
	short revents;
	double woke;
	pthread_barrier_t *ready;
};

static void *poller_main(void *arg)
{
	struct poller *pl = arg;

	pl->tid = gettid();
	if (pl->ready)
		pthread_barrier_wait(pl->ready);
	if (pl->epoll >= 0) {
		struct epoll_event ev;

		pl->result = epoll_wait(pl->epoll, &ev, 1, WAKE_MS);
		pl->revents = pl->result == 1 ? (short)ev.events : 0;
	} else {
		struct pollfd p = { .fd = pl->fd, .events = POLLIN };

		pl->result = poll(&p, 1, WAKE_MS);
		pl->revents = p.revents;
	}
	pl->woke = now_seconds();
	return NULL;
}

static bool t_64_pollers(char *why)
{
	static struct poller pl[POLLERS];
	static pthread_t th[POLLERS];
	pthread_barrier_t ready;
	unsigned int minor = next_minor++;
	int i, w, woken = 0, eps = 0;
	double t0, last = 0;

	pthread_barrier_init(&ready, NULL, POLLERS + 1);
	for (i = 0; i < POLLERS; i++) {
		pl[i] = (struct poller){ .fd = slot_open_channel(minor, 7), .epoll = -1,
					 .ready = &ready };
		TAP_CHECK(pl[i].fd >= 0, "open poller %d: %s", i, tap_errno_name(errno));
		/* Half poll(), half epoll_wait(). */
		if (i % 2) {
			pl[i].epoll = epoll_for(pl[i].fd, EPOLLIN);
			TAP_CHECK(pl[i].epoll >= 0, "epoll %d: %s", i, tap_errno_name(errno));
			eps++;
		}
		TAP_CHECK(pthread_create(&th[i], NULL, poller_main, &pl[i]) == 0, "pthread_create");
	}
	pthread_barrier_wait(&ready);
	for (i = 0; i < POLLERS; i++)
		TAP_CHECK(wait_sleeping(pl[i].tid), "poller %d never slept", i);
	w = slot_open_channel(minor, 7);
	TAP_CHECK(w >= 0, "open writer: %s", tap_errno_name(errno));
	t0 = now_seconds();
	EXPECT_RET(write(w, "all", 3), 3, "the one write");
	for (i = 0; i < POLLERS; i++) {
		pthread_join(th[i], NULL);
		if (pl[i].result == 1 && (pl[i].revents & POLLIN))
			woken++;
		if (pl[i].woke - t0 > last)
			last = pl[i].woke - t0;
		close(pl[i].fd);
		if (pl[i].epoll >= 0)
			close(pl[i].epoll);
	}
	close(w);
	pthread_barrier_destroy(&ready);
	TAP_CHECK(woken == POLLERS, "%d of %d pollers (%d in epoll_wait) saw the write", woken,
		  POLLERS, eps);
	tap_note("%d pollers woken by one write, the last after %.2f ms", POLLERS, last * 1e3);
	return true;
}

/*
 * A poller of channel 1 sleeps while 4096 other channels of its slot (so
 * every wait queue bucket) are written: it must not wake even once.
 */
static bool t_no_wake_other_channel(char *why)
{
	struct poller pl;
	pthread_t th;
	unsigned int minor = next_minor++, ch;
	long before, after;
	int w;

	pl = (struct poller){ .fd = slot_open_channel(minor, 1), .epoll = -1 };
	TAP_CHECK(pl.fd >= 0, "open: %s", tap_errno_name(errno));
	w = slot_open(minor, O_RDWR);
	TAP_CHECK(w >= 0, "open writer: %s", tap_errno_name(errno));
	TAP_CHECK(pthread_create(&th, NULL, poller_main, &pl) == 0, "pthread_create");
	while (!__atomic_load_n(&pl.tid, __ATOMIC_SEQ_CST))
		usleep(1000);
	TAP_CHECK(wait_sleeping(pl.tid), "poller never slept");
	before = voluntary_switches(pl.tid);
	for (ch = 2; ch < 2 + 4096; ch++) {
		EXPECT_RET(ioctl(w, MSG_SLOT_CHANNEL, ch), 0, "ioctl %u", ch);
		EXPECT_RET(write(w, "o", 1), 1, "write ch %u", ch);
	}
	usleep(QUIET_MS * 1000);
	after = voluntary_switches(pl.tid);
	EXPECT_RET(ioctl(w, MSG_SLOT_CHANNEL, 1), 0, "ioctl 1");
	EXPECT_RET(write(w, "mine", 4), 4, "write ch 1");
	pthread_join(th, NULL);
	close(w);
	close(pl.fd);
	TAP_CHECK(before >= 0 && after == before,
		  "the poller of ch 1 woke %ld times for writes to other channels", after - before);
	TAP_CHECK(pl.result == 1, "poller not woken by its own channel's write: poll returned %d",
		  pl.result);
	return true;
}

/* ---- waiting reads ------------------------------------------------------ */

static bool t_wait_off_is_contract(char *why)
{
	unsigned int minor;
	int fd = fresh_fd(2, &minor);
	char buf[8];

	TAP_CHECK(fd >= 0, "open: %s", tap_errno_name(errno));
	EXPECT_ERRNO(read(fd, buf, sizeof(buf)), EWOULDBLOCK, "never-written channel");
	EXPECT_RET(set_wait(fd, 1), 0, "SET_WAIT 1");
	EXPECT_RET(set_wait(fd, 0), 0, "SET_WAIT 0");
	EXPECT_ERRNO(read(fd, buf, sizeof(buf)), EWOULDBLOCK, "never-written channel, wait off again");
	EXPECT_RET(write(fd, "m", 1), 1, "write");
	EXPECT_MESSAGE(fd, "m", 1, "first read");
	EXPECT_MESSAGE(fd, "m", 1, "second read of the same message");
	EXPECT_ERRNO(set_wait(fd, 2), EINVAL, "SET_WAIT 2");
	close(fd);
	return true;
}

static bool t_wait_nonblock(char *why)
{
	unsigned int minor;
	int fd = fresh_fd(2, &minor);
	char buf[8];

	TAP_CHECK(fd >= 0, "open: %s", tap_errno_name(errno));
	EXPECT_RET(set_wait(fd, 1), 0, "SET_WAIT 1");
	EXPECT_RET(fcntl(fd, F_SETFL, O_NONBLOCK), 0, "O_NONBLOCK");
	EXPECT_ERRNO(read(fd, buf, sizeof(buf)), EAGAIN, "never-written channel");
	EXPECT_RET(write(fd, "n", 1), 1, "write");
	EXPECT_MESSAGE(fd, "n", 1, "unseen message");
	EXPECT_ERRNO(read(fd, buf, sizeof(buf)), EAGAIN, "message already read");
	EXPECT_RET(set_wait(fd, 0), 0, "SET_WAIT 0");
	EXPECT_MESSAGE(fd, "n", 1, "wait off: read again");
	close(fd);
	return true;
}

/* The unsigned long encoding, as for the other requests. */
static bool t_wait_ul_encoding(char *why)
{
	unsigned int minor;
	int fd = fresh_fd(2, &minor);
	char buf[8];

	TAP_CHECK(fd >= 0, "open: %s", tap_errno_name(errno));
	EXPECT_ERRNO(ioctl(fd, MSG_SLOT_SET_WAIT_UL, (1UL << 32) | 1), EINVAL,
		     "SET_WAIT_UL with 2^32 + 1");
	EXPECT_ERRNO(ioctl(fd, MSG_SLOT_SET_WAIT_UL, 2UL), EINVAL, "SET_WAIT_UL 2");
	EXPECT_RET(ioctl(fd, MSG_SLOT_SET_WAIT_UL, 1UL), 0, "SET_WAIT_UL 1");
	EXPECT_RET(fcntl(fd, F_SETFL, O_NONBLOCK), 0, "O_NONBLOCK");
	EXPECT_RET(write(fd, "u", 1), 1, "write");
	EXPECT_MESSAGE(fd, "u", 1, "unseen message");
	EXPECT_ERRNO(read(fd, buf, sizeof(buf)), EAGAIN, "waiting read (SET_WAIT_UL 1), nothing new");
	EXPECT_RET(ioctl(fd, MSG_SLOT_SET_WAIT_UL, 0UL), 0, "SET_WAIT_UL 0");
	EXPECT_MESSAGE(fd, "u", 1, "plain read after SET_WAIT_UL 0");
	close(fd);
	return true;
}

static bool t_wait_woken_by_other_process(char *why)
{
	unsigned int minor;
	int fd = fresh_fd(8, &minor);
	long waited;
	double t0;
	pid_t pid;
	bool ok;

	TAP_CHECK(fd >= 0, "open: %s", tap_errno_name(errno));
	EXPECT_RET(write(fd, "old", 3), 3, "write");
	EXPECT_RET(set_wait(fd, 1), 0, "SET_WAIT 1");
	EXPECT_MESSAGE(fd, "old", 3, "unseen message returned at once");
	pid = delayed_writer(minor, 8, "new", 200);
	t0 = now_seconds();
	ok = slot_expect_message(fd, "new", 3, why, "waiting read");
	waited = ms_since(t0);
	if (!reap(pid, why) || !ok)
		return false;
	TAP_CHECK(waited >= 100, "read returned after %ld ms, before the write", waited);
	close(fd);
	return true;
}

static volatile sig_atomic_t signalled;

static void on_signal(int sig)
{
	(void)sig;
	signalled = 1;
}

struct waiter {
	int fd;
	pid_t tid;
	long result;
	int err;
	char buf[MSG_SLOT_MAX_LEN];
};

static void *waiter_main(void *arg)
{
	struct waiter *wt = arg;

	__atomic_store_n(&wt->tid, gettid(), __ATOMIC_SEQ_CST);
	errno = 0;
	wt->result = read(wt->fd, wt->buf, sizeof(wt->buf));
	wt->err = errno;
	return NULL;
}

static bool start_waiter(struct waiter *wt, pthread_t *th, char *why)
{
	TAP_CHECK(pthread_create(th, NULL, waiter_main, wt) == 0, "pthread_create");
	while (!__atomic_load_n(&wt->tid, __ATOMIC_SEQ_CST))
		usleep(1000);
	TAP_CHECK(wait_sleeping(wt->tid), "waiting reader never slept");
	return true;
}

static bool signal_test(bool restart, char *why)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct waiter wt = { 0 };
	unsigned int minor;
	pthread_t th;
	int w;

	wt.fd = fresh_fd(1, &minor);
	TAP_CHECK(wt.fd >= 0, "open: %s", tap_errno_name(errno));
	EXPECT_RET(set_wait(wt.fd, 1), 0, "SET_WAIT 1");
	sa.sa_flags = restart ? SA_RESTART : 0;
	sigaction(SIGUSR1, &sa, NULL);
	if (!start_waiter(&wt, &th, why))
		return false;
	signalled = 0;
	pthread_kill(th, SIGUSR1);
	if (restart) {
		/* The read restarts after the handler and still waits. */
		while (!signalled)
			usleep(1000);
		TAP_CHECK(wait_sleeping(wt.tid), "reader did not go back to sleep");
		TAP_CHECK(wt.result == 0 && wt.err == 0, "read returned %s on a SA_RESTART signal",
			  tap_got(wt.result, wt.err));
		w = slot_open_channel(minor, 1);
		TAP_CHECK(w >= 0, "open writer: %s", tap_errno_name(errno));
		EXPECT_RET(write(w, "after", 5), 5, "write");
		close(w);
	}
	pthread_join(th, NULL);
	close(wt.fd);
	if (restart)
		TAP_CHECK(wt.result == 5 && !memcmp(wt.buf, "after", 5),
			  "restarted read returned %s", tap_got(wt.result, wt.err));
	else
		TAP_CHECK(wt.result == -1 && wt.err == EINTR, "read returned %s, expected -1/EINTR",
			  tap_got(wt.result, wt.err));
	return true;
}

static bool t_wait_eintr(char *why)
{
	return signal_test(false, why);
}

static bool t_wait_sa_restart(char *why)
{
	return signal_test(true, why);
}

static bool t_wait_channel_switch(char *why)
{
	struct waiter wt = { 0 };
	unsigned int minor;
	pthread_t th;
	int w;

	wt.fd = fresh_fd(1, &minor);
	w = slot_open_channel(minor, 2);
	TAP_CHECK(wt.fd >= 0 && w >= 0, "open: %s", tap_errno_name(errno));
	EXPECT_RET(write(w, "ch2", 3), 3, "write ch 2");
	EXPECT_RET(set_wait(wt.fd, 1), 0, "SET_WAIT 1");
	if (!start_waiter(&wt, &th, why))
		return false;
	/* Another thread moves the fd: the waiter must follow. */
	EXPECT_RET(ioctl(wt.fd, MSG_SLOT_CHANNEL, 2), 0, "switch to ch 2");
	pthread_join(th, NULL);
	close(w);
	close(wt.fd);
	TAP_CHECK(wt.result == 3 && !memcmp(wt.buf, "ch2", 3),
		  "waiting read after a switch to a written channel returned %s",
		  tap_got(wt.result, wt.err));
	return true;
}

/*
 * close() in another thread while one waits in read and one in poll: the
 * close succeeds, the waiters still hold the file (and so the module:
 * rmmod is refused) and finish at the next write; nothing hangs.
 */
static bool t_close_while_waiting(char *why)
{
	struct waiter wt = { 0 };
	struct poller pl;
	unsigned int minor;
	pthread_t th, tp;
	int w, pfd;

	wt.fd = fresh_fd(1, &minor);
	TAP_CHECK(wt.fd >= 0, "open: %s", tap_errno_name(errno));
	EXPECT_RET(set_wait(wt.fd, 1), 0, "SET_WAIT 1");
	pfd = slot_open_channel(minor, 1);
	TAP_CHECK(pfd >= 0, "open: %s", tap_errno_name(errno));
	pl = (struct poller){ .fd = pfd, .epoll = -1 };
	if (!start_waiter(&wt, &th, why))
		return false;
	TAP_CHECK(pthread_create(&tp, NULL, poller_main, &pl) == 0, "pthread_create");
	while (!__atomic_load_n(&pl.tid, __ATOMIC_SEQ_CST))
		usleep(1000);
	TAP_CHECK(wait_sleeping(pl.tid), "poller never slept");
	/* Both hold the module through their files: rmmod is refused. */
	EXPECT_ERRNO(syscall(SYS_delete_module, "message_slot", O_NONBLOCK), EAGAIN,
		     "rmmod while one thread waits in read and one in poll");
	EXPECT_RET(close(wt.fd), 0, "close the waiting reader's fd");
	EXPECT_RET(close(pfd), 0, "close the poller's fd");
	w = slot_open_channel(minor, 1);
	TAP_CHECK(w >= 0, "open writer: %s", tap_errno_name(errno));
	EXPECT_RET(write(w, "bye", 3), 3, "write");
	close(w);
	pthread_join(th, NULL);
	pthread_join(tp, NULL);
	TAP_CHECK(wt.result == 3 && !memcmp(wt.buf, "bye", 3),
		  "waiting read on the closed fd returned %s", tap_got(wt.result, wt.err));
	/* poll on an fd closed meanwhile: woken by the write, reports it ready. */
	TAP_CHECK(pl.result == 1, "poll on the closed fd returned %d", pl.result);
	return true;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	tap_run("poll_no_channel_is_error", t_no_channel);
	tap_run("poll_empty_channel_writable_only", t_empty_channel);
	tap_run("poll_readable_until_read", t_after_write_and_read);
	tap_run("poll_per_open_file", t_per_open_file);
	tap_run("poll_channel_switch_forgets", t_channel_switch);
	tap_run("select_readable_writable", t_select);
	tap_run("epoll_level_triggered", t_epoll_level);
	tap_run("epoll_edge_triggered", t_epoll_edge);
	tap_run("poll_woken_by_other_process", t_poll_woken_by_other_process);
	tap_run("poll_64_pollers_one_write", t_64_pollers);
	tap_run("poll_no_wake_for_other_channels", t_no_wake_other_channel);
	tap_run("wait_off_keeps_contract", t_wait_off_is_contract);
	tap_run("wait_nonblock_eagain", t_wait_nonblock);
	tap_run("wait_ul_encoding", t_wait_ul_encoding);
	tap_run("wait_read_woken_by_other_process", t_wait_woken_by_other_process);
	tap_run("wait_read_eintr", t_wait_eintr);
	tap_run("wait_read_sa_restart", t_wait_sa_restart);
	tap_run("wait_read_follows_channel_switch", t_wait_channel_switch);
	tap_run("close_while_waiting", t_close_while_waiting);
	return tap_exit_code();
}
