// SPDX-License-Identifier: GPL-2.0
/* dsm pairing: the HELLO exchange that turns a connection into a session.
 * The first host accepts until a connection completes a valid HELLO, and
 * drops and reports every other one; the second says HELLO first. */
#define _GNU_SOURCE
#include "dsm_internal.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void encode_hello(unsigned char *b, struct dsm *d)
{
	dsm_put32(b, DSM_WIRE_MAGIC);
	dsm_put16(b + 4, DSM_PROTO_VERSION);
	dsm_put16(b + 6, DSM_PROTO_VERSION);
	dsm_put32(b + 8, (uint32_t)d->role);
	dsm_put32(b + 12, 0);
	dsm_put64(b + 16, d->nonce);
}

/* Validates the peer's HELLO; on mismatch tells the peer (on fd) why. */
static int check_hello(struct dsm *d, int fd, const struct dsm_hdr *h, const unsigned char *p, char *err,
		       size_t el)
{
	if (h->type == DSM_MSG_ERROR && h->payload_len >= 4) {
		char txt[DSM_ERROR_MAX];
		dsmi_sanitize(txt, sizeof txt, p + 4, h->payload_len - 4);
		snprintf(err, el, "peer refused the session: %s", txt);
		return -1;
	}
	if (h->type != DSM_MSG_HELLO || h->payload_len < DSM_HELLO_LEN || h->payload_len > DSM_HELLO_MAX ||
	    dsm_get32(p) != DSM_WIRE_MAGIC) {
		snprintf(err, el, "peer does not speak the dsm protocol (first message: type %u, %u bytes%s)",
			 h->type, h->payload_len,
			 h->type == DSM_MSG_HELLO && h->payload_len >= 4 ? ", bad magic" : "");
		dsmi_send_error_msg(fd, DSM_ERR_PROTOCOL, "expected a dsm HELLO");
		return -1;
	}
	unsigned vmin = dsm_get16(p + 4), vmax = dsm_get16(p + 6), prole = dsm_get32(p + 8);
	if (vmin > vmax || vmax < DSM_PROTO_VERSION || vmin > DSM_PROTO_VERSION) {
		char msg[160];
		snprintf(msg, sizeof msg, "protocol version mismatch: peer speaks versions %u..%u, "
					  "this host speaks %u..%u", vmin, vmax, DSM_PROTO_VERSION, DSM_PROTO_VERSION);
		snprintf(err, el, "%s", msg);
		dsmi_send_error_msg(fd, DSM_ERR_VERSION, msg);
		return -1;
	}
	if (prole == (unsigned)d->role || (prole != DSM_ROLE_FIRST && prole != DSM_ROLE_SECOND)) {
		snprintf(err, el, "peer claims role %u, which conflicts with ours (%u)", prole, (unsigned)d->role);
		dsmi_send_error_msg(fd, DSM_ERR_ROLE, "role conflict");
		return -1;
	}
	return 0;
}

/* A connection to the first's listen port that has not completed its HELLO. */
struct pending {
	int fd;
	uint64_t deadline;
	size_t got;
	char who[NI_MAXHOST + NI_MAXSERV + 8];
	unsigned char buf[DSM_HDR_LEN + DSM_HELLO_MAX];
};

/* Connections waiting for their HELLO at once; a flood drops the oldest. */
#define MAX_PENDING 8

__attribute__((format(printf, 3, 4))) static void drop_pending(struct dsm *d, struct pending *pc,
							       const char *fmt, ...)
{
	char why[300], msg[sizeof why + sizeof pc->who + 40];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	snprintf(msg, sizeof msg, "dropped a connection from %s: %s", pc->who, why);
	DBG(d, "%s", msg);
	if (d->opt.on_rejected)
		d->opt.on_rejected(d->opt.cb_arg, msg);
	close(pc->fd);
	pc->fd = -1;
}

/* Reads what has arrived.  1: a complete, valid HELLO; 0: keep waiting;
 * -1: the connection was dropped. */
static int pending_read(struct dsm *d, struct pending *pc)
{
	struct dsm_hdr h;
	for (;;) {
		size_t need = DSM_HDR_LEN;
		if (pc->got >= DSM_HDR_LEN) {
			dsm_hdr_decode(&h, pc->buf);
			need += h.payload_len; /* checked against DSM_HELLO_MAX below */
		}
		if (pc->got == need)
			break;
		ssize_t n = recv(pc->fd, pc->buf + pc->got, need - pc->got, 0);
		if (n > 0) {
			pc->got += (size_t)n;
			if (pc->got == DSM_HDR_LEN) {
				dsm_hdr_decode(&h, pc->buf);
				if (h.payload_len > DSM_HELLO_MAX) {
					char why[160];
					snprintf(why, sizeof why, "protocol error: message type %u announces %u "
						 "payload bytes (limit %u)", h.type, h.payload_len, DSM_HELLO_MAX);
					dsmi_send_error_msg(pc->fd, DSM_ERR_PROTOCOL, why);
					drop_pending(d, pc, "%s", why);
					return -1;
				}
			}
			continue;
		}
		if (n == 0) {
			if (pc->got == 0)
				drop_pending(d, pc, "closed without sending a HELLO");
			else
				drop_pending(d, pc, "closed in the middle of a message (truncated after %zu of "
					     "%zu bytes)", pc->got, need);
			return -1;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		drop_pending(d, pc, "%s", strerror(errno));
		return -1;
	}
	char err[300];
	if (check_hello(d, pc->fd, &h, pc->buf + DSM_HDR_LEN, err, sizeof err) < 0) {
		drop_pending(d, pc, "%s", err);
		return -1;
	}
	return 1;
}

/* Says HELLO on the session socket. */
static int send_hello(struct dsm *d, char *err, size_t el)
{
	unsigned char hello[DSM_HELLO_LEN];
	char why[200];

	encode_hello(hello, d);
	if (dsmi_raw_send(d->sock, DSM_MSG_HELLO, 0, 0, 0, hello, sizeof hello, d->opt.io_timeout_ms, why,
			  sizeof why) < 0) {
		snprintf(err, el, "handshake: %s", why);
		return -1;
	}
	return 0;
}

/* FIRST: accepts connections until one says a valid HELLO.  Anything else
 * (a port scan, a client speaking another protocol, a silent socket, a dsm
 * of the wrong version) is dropped and reported; waiting goes on. */
static int pair_first(struct dsm *d, char *err, size_t el)
{
	struct pending pend[MAX_PENDING] = {0};
	int npend = 0, rc = -1;
	uint64_t dl = deadline_after_ms(d->opt.accept_timeout_ms);
	for (;;) {
		struct pollfd pf[MAX_PENDING + 1];
		uint64_t wake = dl;
		pf[0] = (struct pollfd){.fd = d->listen_fd, .events = POLLIN};
		for (int i = 0; i < npend; i++) {
			pf[i + 1] = (struct pollfd){.fd = pend[i].fd, .events = POLLIN};
			if (pend[i].deadline < wake)
				wake = pend[i].deadline;
		}
		int r = poll(pf, (nfds_t)npend + 1, remaining_ms(wake));
		if (r < 0 && errno != EINTR) {
			snprintf(err, el, "poll: %s", strerror(errno));
			break;
		}
		int won = -1;
		for (int i = 0; r > 0 && i < npend && won < 0; i++)
			if (pf[i + 1].revents && pending_read(d, &pend[i]) > 0)
				won = i;
		if (won >= 0) {
			d->sock = pend[won].fd;
			pend[won].fd = -1;
			rc = 0;
			break;
		}
		uint64_t now = now_ns();
		int kept = 0;
		for (int i = 0; i < npend; i++) {
			if (pend[i].fd >= 0 && now >= pend[i].deadline) {
				if (pend[i].got)
					drop_pending(d, &pend[i], "timed out waiting for the rest of a message "
						     "(%zu bytes arrived in %u ms)", pend[i].got,
						     d->opt.handshake_timeout_ms);
				else
					drop_pending(d, &pend[i], "sent no HELLO within %u ms",
						     d->opt.handshake_timeout_ms);
			}
			if (pend[i].fd >= 0)
				pend[kept++] = pend[i];
		}
		npend = kept;
		if (r > 0 && (pf[0].revents & POLLIN)) {
			struct sockaddr_storage ss;
			socklen_t sl = sizeof ss;
			int fd = accept4(d->listen_fd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC | SOCK_NONBLOCK);
			if (fd >= 0) {
				if (npend == MAX_PENDING) {
					drop_pending(d, &pend[0], "%d newer connections are waiting for their HELLO",
						     MAX_PENDING);
					memmove(&pend[0], &pend[1], sizeof pend[0] * (MAX_PENDING - 1));
					npend--;
				}
				struct pending *pc = &pend[npend++];
				char host[NI_MAXHOST], serv[NI_MAXSERV];
				pc->fd = fd;
				pc->got = 0;
				pc->deadline = deadline_after_ms(d->opt.handshake_timeout_ms);
				if (getnameinfo((struct sockaddr *)&ss, sl, host, sizeof host, serv, sizeof serv,
						NI_NUMERICHOST | NI_NUMERICSERV) == 0)
					snprintf(pc->who, sizeof pc->who, "%s port %s", host, serv);
				else
					snprintf(pc->who, sizeof pc->who, "an unknown address");
			} else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED && errno != EPROTO) {
				snprintf(err, el, "accept: %s", strerror(errno));
				break;
			}
		}
		if (dl != UINT64_MAX && now_ns() >= dl) {
			snprintf(err, el, "no peer connected within %u ms", d->opt.accept_timeout_ms);
			break;
		}
	}
	for (int i = 0; i < npend; i++)
		if (pend[i].fd >= 0)
			close(pend[i].fd);
	if (rc < 0)
		return -1;
	close(d->listen_fd); /* exactly one peer */
	d->listen_fd = -1;
	dsmi_tune_session_socket(d->sock);
	return send_hello(d, err, el);
}

/* SECOND: says HELLO and waits for the first's. */
static int pair_second(struct dsm *d, char *err, size_t el)
{
	char why[200];

	if (send_hello(d, err, el) < 0)
		return -1;
	/* If someone connects to *us* meanwhile, both instances think they are
	 * second (started together, or same port twice): say so, don't hang. */
	uint64_t dl = deadline_after_ms(d->opt.accept_timeout_ms);
	for (;;) {
		struct pollfd p[2] = {{.fd = d->sock, .events = POLLIN}, {.fd = d->listen_fd, .events = POLLIN}};
		int r = poll(p, d->listen_fd >= 0 ? 2 : 1, remaining_ms(dl));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, el, "poll: %s", strerror(errno));
			return -1;
		}
		if (r == 0) {
			snprintf(err, el, "the peer did not answer within %u ms", d->opt.accept_timeout_ms);
			return -1;
		}
		if (p[0].revents)
			break;
		if (d->listen_fd >= 0 && p[1].revents) {
			snprintf(err, el, "another instance connected to our listen port while we were "
					  "joining as the second instance: both started at once, or the two "
					  "ports are the same. Start one instance, then the other");
			return -1;
		}
	}
	struct dsm_hdr h;
	unsigned char buf[DSM_HELLO_MAX];
	if (dsmi_raw_recv(d->sock, &h, buf, sizeof buf, UINT64_MAX, d->opt.io_timeout_ms, why, sizeof why) < 0) {
		snprintf(err, el, "handshake: %s", why);
		return -1;
	}
	if (check_hello(d, d->sock, &h, buf, err, el) < 0)
		return -1;
	if (d->listen_fd >= 0) {
		close(d->listen_fd);
		d->listen_fd = -1;
	}
	return 0;
}

int dsmi_do_pair(struct dsm *d, char *err, size_t el)
{
	if (d->paired)
		return 0;
	if (atomic_load(&d->status) != DSM_PEER_CONNECTED) {
		snprintf(err, el, "the session is over");
		return -1;
	}
	int rc = d->role == DSM_ROLE_FIRST ? pair_first(d, err, el) : pair_second(d, err, el);
	if (rc == 0)
		d->paired = true;
	return rc;
}
