// SPDX-License-Identifier: GPL-2.0
/* dsm_bench: one measurement run on loopback (two processes).
 *
 * Prints one line of key=value pairs:
 *   tcp_rtt_us          median round trip of a 16-byte ping-pong on a plain TCP socket
 *   read_fault_us       median remote read fault (page Modified on the peer -> Shared here)
 *   invalidate_us       median write to a Shared page (peer invalidated and acknowledged)
 *   seq_read_pages_s    pages/s reading Modified-on-peer pages sequentially
 * bench.sh repeats runs and reports medians, min/max and ratios to tcp_rtt_us.
 *
 *   dsm_bench [--pages N] [--pings N] [--host H]
 */
#define _GNU_SOURCE
#include "dsm.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double median_us(uint64_t *v, size_t n)
{
	qsort(v, n, sizeof *v, cmp_u64);
	return (n % 2 ? (double)v[n / 2] : ((double)v[n / 2 - 1] + (double)v[n / 2]) / 2) / 1000.0;
}

static void die(const char *fmt, const char *arg)
{
	fprintf(stderr, "dsm_bench: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	exit(1);
}

static void full_io(int fd, void *buf, size_t n, int wr)
{
	size_t done = 0;
	while (done < n) {
		ssize_t r = wr ? send(fd, (char *)buf + done, n - done, MSG_NOSIGNAL)
			       : recv(fd, (char *)buf + done, n - done, 0);
		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			die("control/ping socket: %s", r ? strerror(errno) : "closed");
		}
		done += (size_t)r;
	}
}

/* control channel between the two processes (a socketpair) */
static void ctl_send(int fd, char c)
{
	full_io(fd, &c, 1, 1);
}
static void ctl_wait(int fd, char want)
{
	char c;
	full_io(fd, &c, 1, 0);
	if (c != want)
		die("control channel out of step%s", "");
}

int main(int argc, char **argv)
{
	size_t pages = 2048, pings = 2000;
	const char *host = "127.0.0.1";
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--pages") && i + 1 < argc)
			pages = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--pings") && i + 1 < argc)
			pings = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--host") && i + 1 < argc)
			host = argv[++i];
		else
			die("usage: dsm_bench [--pages N] [--pings N] [--host H] (bad argument %s)", argv[i]);
	}
	if (pages < 4 || pings < 10)
		die("need at least 4 pages and 10 pings%s", "");
	signal(SIGPIPE, SIG_IGN);
	int ctl[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, ctl) < 0)
		die("socketpair: %s", strerror(errno));

	/* Plain TCP baseline listener, and the dsm FIRST listener. */
	int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct sockaddr_in la = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof la;
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&la, sizeof la) < 0 || listen(lfd, 1) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&la, &sl) < 0)
		die("tcp listen: %s", strerror(errno));
	struct dsm_options o;
	dsm_options_init(&o);
	o.role = DSM_ROLE_FIRST;
	char err[400], port[16];
	dsm_t *d = dsm_open("0", NULL, NULL, &o, err, sizeof err);
	if (!d)
		die("%s", err);
	snprintf(port, sizeof port, "%u", dsm_listen_port(d));

	pid_t pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		/* SECOND: the measuring side. */
		close(ctl[0]);
		int c = ctl[1];
		int t = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(t, (struct sockaddr *)&la, sizeof la) < 0)
			die("tcp connect: %s", strerror(errno));
		setsockopt(t, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		uint64_t *lat = calloc(pings > pages ? pings : pages, sizeof *lat);
		unsigned char msg[16] = {0};
		for (size_t i = 0; i < pings; i++) {
			uint64_t t0 = now_ns();
			full_io(t, msg, sizeof msg, 1);
			full_io(t, msg, sizeof msg, 0);
			lat[i] = now_ns() - t0;
		}
		close(t);
		double rtt = median_us(lat, pings);

		struct dsm_options so;
		dsm_options_init(&so);
		so.role = DSM_ROLE_SECOND;
		dsm_t *s = dsm_open(NULL, host, port, &so, err, sizeof err);
		if (!s)
			die("%s", err);
		volatile char *m = dsm_map(s, 0, NULL);
		if (!m)
			die("%s", dsm_error(s));
		size_t ps = dsm_page_size(s), half = pages / 2;
		ctl_wait(c, 'W'); /* FIRST wrote every page: all Modified there */
		for (size_t i = 0; i < half; i++) {
			uint64_t t0 = now_ns();
			(void)m[i * ps];
			lat[i] = now_ns() - t0;
		}
		double rf = median_us(lat, half);
		uint64_t t0 = now_ns();
		for (size_t i = half; i < pages; i++)
			(void)m[i * ps];
		double seq = (double)(pages - half) / ((double)(now_ns() - t0) / 1e9);
		/* every page is Shared on both hosts now: time the upgrades */
		for (size_t i = 0; i < half; i++) {
			uint64_t t1 = now_ns();
			m[i * ps + 1] = 1;
			lat[i] = now_ns() - t1;
		}
		double inv = median_us(lat, half);
		if (dsm_peer_status(s) != DSM_PEER_CONNECTED)
			die("session failed: %s", dsm_error(s));
		printf("tcp_rtt_us=%.2f read_fault_us=%.2f invalidate_us=%.2f seq_read_pages_s=%.0f pages=%zu\n",
		       rtt, rf, inv, seq, pages);
		fflush(stdout);
		ctl_send(c, 'D');
		ctl_wait(c, 'C');
		dsm_close(s);
		free(lat);
		_exit(0);
	}
	close(ctl[1]);
	int c = ctl[0];
	int t = accept(lfd, NULL, NULL);
	if (t < 0)
		die("accept: %s", strerror(errno));
	setsockopt(t, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	unsigned char msg[16];
	for (size_t i = 0; i < pings; i++) {
		full_io(t, msg, sizeof msg, 0);
		full_io(t, msg, sizeof msg, 1);
	}
	close(t);
	close(lfd);
	char *m = dsm_map(d, pages, NULL);
	if (!m)
		die("%s", dsm_error(d));
	size_t ps = dsm_page_size(d);
	for (size_t i = 0; i < pages; i++)
		memset(m + i * ps, (int)(i & 0xff), ps);
	usleep(2000); /* let the hold window of the last pages pass */
	ctl_send(c, 'W');
	ctl_wait(c, 'D');
	ctl_send(c, 'C');
	int st;
	waitpid(pid, &st, 0);
	dsm_close(d);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}
