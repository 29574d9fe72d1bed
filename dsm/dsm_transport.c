// SPDX-License-Identifier: GPL-2.0
/* dsm transport: length-prefixed frames on a non-blocking TCP socket, every
 * read and write looping over short transfers until a deadline, and the
 * sockets themselves (listen, connect, session options).  Nothing here
 * knows about pages. */
#define _GNU_SOURCE
#include "dsm_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* Prints at most `max` bytes of untrusted peer text, replacing non-printables. */
void dsmi_sanitize(char *out, size_t outlen, const unsigned char *in, size_t inlen)
{
	size_t n = 0;
	for (size_t i = 0; i < inlen && n + 1 < outlen; i++)
		out[n++] = (in[i] >= 0x20 && in[i] < 0x7f) ? (char)in[i] : '?';
	out[n] = '\0';
}

/* -------------------------------------------------------------- socket IO */

/* Reads exactly len bytes.  `boundary` says a clean EOF before the first byte
 * is "peer closed" rather than "truncated message". */
static int io_read(int fd, void *buf, size_t len, uint64_t deadline, bool boundary, char *why,
		   size_t wl)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = recv(fd, (char *)buf + got, len - got, 0);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n == 0) {
			if (boundary && got == 0)
				snprintf(why, wl, "peer closed the connection");
			else
				snprintf(why, wl, "peer closed the connection in the middle of a message "
						  "(truncated after %zu of %zu bytes)", got, len);
			return -1;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			snprintf(why, wl, "connection to the peer failed: %s", strerror(errno));
			return -1;
		}
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int t = remaining_ms(deadline);
		if (t == 0) {
			snprintf(why, wl, "timed out waiting for the rest of a message from the peer "
					  "(%zu of %zu bytes arrived)", got, len);
			return -1;
		}
		if (poll(&p, 1, t) < 0 && errno != EINTR) {
			snprintf(why, wl, "poll: %s", strerror(errno));
			return -1;
		}
	}
	return 0;
}

static int io_writev(int fd, struct iovec *iov, int cnt, uint64_t deadline, char *why, size_t wl)
{
	while (cnt > 0) {
		struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)cnt};
		ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				snprintf(why, wl, "sending to the peer failed: %s", strerror(errno));
				return -1;
			}
			struct pollfd p = {.fd = fd, .events = POLLOUT};
			int t = remaining_ms(deadline);
			if (t == 0) {
				snprintf(why, wl, "timed out sending to the peer (it stopped reading)");
				return -1;
			}
			if (poll(&p, 1, t) < 0 && errno != EINTR) {
				snprintf(why, wl, "poll: %s", strerror(errno));
				return -1;
			}
			continue;
		}
		size_t left = (size_t)n;
		while (cnt > 0 && left >= iov->iov_len) {
			left -= iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (char *)iov->iov_base + left;
			iov->iov_len -= left;
		}
	}
	return 0;
}

int dsmi_raw_send(int fd, uint16_t type, uint16_t flags, uint32_t page, uint32_t seq,
		  const void *payload, uint32_t len, unsigned timeout_ms, char *why, size_t wl)
{
	unsigned char hdr[DSM_HDR_LEN];
	struct dsm_hdr h = {.payload_len = len, .type = type, .flags = flags, .page = page, .seq = seq};
	dsm_hdr_encode(hdr, &h);
	struct iovec iov[2] = {{hdr, DSM_HDR_LEN}, {(void *)payload, len}};
	return io_writev(fd, iov, len ? 2 : 1, deadline_after_ms(timeout_ms), why, wl);
}

/* Reads one message; the header's first byte must arrive by first_deadline,
 * the rest within the io timeout.  Lengths above cap are rejected before
 * anything is allocated or read. */
int dsmi_raw_recv(int fd, struct dsm_hdr *h, unsigned char *buf, size_t cap,
		  uint64_t first_deadline, unsigned io_timeout_ms, char *why, size_t wl)
{
	unsigned char hb[DSM_HDR_LEN];
	struct pollfd p = {.fd = fd, .events = POLLIN};
	for (;;) {
		int t = remaining_ms(first_deadline);
		int r = poll(&p, 1, t);
		if (r > 0)
			break;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(why, wl, "poll: %s", strerror(errno));
			return -1;
		}
		snprintf(why, wl, "timed out waiting for the peer");
		return -1;
	}
	uint64_t dl = deadline_after_ms(io_timeout_ms);
	if (io_read(fd, hb, 1, dl, true, why, wl) < 0 ||
	    io_read(fd, hb + 1, DSM_HDR_LEN - 1, dl, false, why, wl) < 0)
		return -1;
	dsm_hdr_decode(h, hb);
	if (h->payload_len > cap) {
		snprintf(why, wl, "protocol error: message type %u announces %u payload bytes (limit %zu)",
			 h->type, h->payload_len, cap);
		return -1;
	}
	if (h->payload_len && io_read(fd, buf, h->payload_len, dl, false, why, wl) < 0)
		return -1;
	return 0;
}

void dsmi_send_error_msg(int fd, uint32_t code, const char *text)
{
	unsigned char buf[DSM_ERROR_MAX];
	size_t n = strlen(text);
	if (n > DSM_ERROR_MAX - 4)
		n = DSM_ERROR_MAX - 4;
	dsm_put32(buf, code);
	memcpy(buf + 4, text, n);
	char why[64];
	dsmi_raw_send(fd, DSM_MSG_ERROR, 0, 0, 0, buf, (uint32_t)(4 + n), 500, why, sizeof why);
}

/* Session send: serialised, failure ends the session. */
int dsmi_send_msg(struct dsm *d, uint16_t type, uint16_t flags, uint32_t page, uint32_t seq,
		  const void *payload, uint32_t len)
{
	char why[160];
	pthread_mutex_lock(&d->send_lock);
	int rc = dsmi_raw_send(d->sock, type, flags, page, seq, payload, len, d->opt.io_timeout_ms, why,
			       sizeof why);
	pthread_mutex_unlock(&d->send_lock);
	if (rc < 0)
		dsmi_fail_session(d, DSM_PEER_LOST, "%s", why);
	return rc;
}

/* ------------------------------------------------------------- networking */

void dsmi_tune_session_socket(int fd)
{
	int one = 1, idle = 10, intvl = 5, cnt = 3, buf = 1 << 20;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static int listen_family(struct dsm *d, const char *host, const char *port, int family, char *err,
			 size_t el);

int dsmi_make_listener(struct dsm *d, const char *host, const char *port, char *err, size_t el)
{
	if (host)
		return listen_family(d, host, port, AF_UNSPEC, err, el);
	/* Dual stack: one IPv6 socket also takes IPv4; IPv4 alone if the host
	 * has no IPv6. */
	if (listen_family(d, NULL, port, AF_INET6, err, el) == 0)
		return 0;
	return listen_family(d, NULL, port, AF_INET, err, el);
}

static int listen_family(struct dsm *d, const char *host, const char *port, int family, char *err,
			 size_t el)
{
	struct addrinfo hints = {.ai_family = family, .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, el, "cannot resolve listen address %s port %s: %s", host ? host : "*", port,
			 gai_strerror(rc));
		return -1;
	}
	int last = 0;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			last = errno;
			continue;
		}
		int one = 1, zero = 0;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (ai->ai_family == AF_INET6 && !host)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 4) == 0) {
			struct sockaddr_storage ss;
			socklen_t sl = sizeof ss;
			if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
				d->listen_port = ntohs(ss.ss_family == AF_INET6
							       ? ((struct sockaddr_in6 *)&ss)->sin6_port
							       : ((struct sockaddr_in *)&ss)->sin_port);
			d->listen_fd = fd;
			freeaddrinfo(res);
			return 0;
		}
		last = errno;
		close(fd);
	}
	freeaddrinfo(res);
	snprintf(err, el, "cannot listen on %s port %s: %s", host ? host : "*", port, strerror(last));
	return -1;
}

/* One connect attempt to every address of host:port.  Returns the socket,
 * -1 if nobody accepted (peer not up), -2 on a configuration error. */
int dsmi_try_connect(const char *host, const char *port, unsigned timeout_ms, char *err, size_t el)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, el, "cannot resolve peer %s port %s: %s", host, port, gai_strerror(rc));
		return -2;
	}
	int last = ECONNREFUSED;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
				ai->ai_protocol);
		if (fd < 0) {
			last = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			freeaddrinfo(res);
			return fd;
		}
		if (errno == EINPROGRESS) {
			struct pollfd p = {.fd = fd, .events = POLLOUT};
			int soerr = ETIMEDOUT;
			socklen_t sl = sizeof soerr;
			if (poll(&p, 1, (int)timeout_ms) == 1 &&
			    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0) {
				freeaddrinfo(res);
				return fd;
			}
			last = soerr;
		} else {
			last = errno;
		}
		close(fd);
	}
	freeaddrinfo(res);
	snprintf(err, el, "cannot connect to %s port %s: %s", host, port, strerror(last));
	return -1;
}
