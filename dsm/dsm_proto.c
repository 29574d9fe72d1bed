// SPDX-License-Identifier: GPL-2.0
/* dsm protocol, the network thread: serves the peer's requests from this
 * host's page state alone, applies GRANTs, PUSHes and their acks, and ends
 * the session on BYE, on an ERROR or on anything malformed. */
#define _GNU_SOURCE
#include "dsm_internal.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>

__attribute__((format(printf, 2, 3))) static void protocol_error(struct dsm *d, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	/* Best effort only: a sender stuck on a full socket must not block us. */
	if (pthread_mutex_trylock(&d->send_lock) == 0) {
		dsmi_send_error_msg(d->sock, DSM_ERR_PROTOCOL, msg);
		pthread_mutex_unlock(&d->send_lock);
	}
	dsmi_fail_session(d, DSM_PEER_LOST, "protocol error from peer: %s", msg);
}

static bool must_defer(struct dsm *d, struct dsm_page *pg)
{
	if (now_ns() < pg->hold_until)
		return true;
	return pg->busy && d->role == DSM_ROLE_FIRST;
}

/* Serves a peer request from our own state alone (see the invariants at the
 * top).  Page lock held. */
static int serve_req(struct dsm *d, uint32_t idx, uint16_t want, uint32_t seq)
{
	struct dsm_page *pg = &d->pages[idx];
	bool excl = want == DSM_WANT_EXCL;
	atomic_fetch_add_explicit(&d->st_served, 1, memory_order_relaxed);
	switch (pg->state) {
	case ST_M:
		/* Stop stores first, then the copy we send is final. */
		if (dsmi_pg_protect(d, idx, true) < 0)
			return -1;
		memcpy(d->serve_buf, page_addr(d, idx), d->page_size);
		if (excl) {
			if (dsmi_pg_drop(d, idx) < 0)
				return -1;
			pg->present = false;
			pg->state = ST_I;
		} else {
			pg->state = ST_S;
		}
		DBG(d, "serve %s page %u: M -> %c, sending data", excl ? "EXCL" : "SHARED", idx, pg->state);
		atomic_fetch_add_explicit(&d->st_sent, 1, memory_order_relaxed);
		return dsmi_send_msg(d, DSM_MSG_GRANT, DSM_GRANT_DATA, idx, seq, d->serve_buf,
				     (uint32_t)d->page_size);
	case ST_S:
		if (!excl) {
			/* Fresh: the peer installs zeros.  Otherwise only reachable
			 * when the peer received our PUSH meanwhile; the copy is
			 * identical to what it has. */
			if (pg->fresh)
				return dsmi_send_msg(d, DSM_MSG_GRANT, 0, idx, seq, NULL, 0);
			memcpy(d->serve_buf, page_addr(d, idx), d->page_size);
			atomic_fetch_add_explicit(&d->st_sent, 1, memory_order_relaxed);
			return dsmi_send_msg(d, DSM_MSG_GRANT, DSM_GRANT_DATA, idx, seq, d->serve_buf,
					     (uint32_t)d->page_size);
		}
		/* Invalidation; also the SECOND yielding in a write-write race.
		 * The peer holds the same bytes, or the page is fresh (zeros). */
		if (pg->present && dsmi_pg_drop(d, idx) < 0)
			return -1;
		pg->present = false;
		pg->state = ST_I;
		pg->fresh = false;
		DBG(d, "serve EXCL page %u: S -> I%s", idx, pg->busy ? " (yield)" : "");
		return dsmi_send_msg(d, DSM_MSG_GRANT, 0, idx, seq, NULL, 0);
	default:
		if (!pg->fresh) {
			protocol_error(d, "peer requested page %u, which it already holds", idx);
			return -1;
		}
		/* Nobody has written it: the peer starts from zeros. */
		if (excl)
			pg->fresh = false;
		DBG(d, "serve %s page %u: fresh, nothing to send", excl ? "EXCL" : "SHARED", idx);
		return dsmi_send_msg(d, DSM_MSG_GRANT, 0, idx, seq, NULL, 0);
	}
}

static int handle_req(struct dsm *d, uint32_t idx, uint16_t want, uint32_t seq)
{
	struct dsm_page *pg = &d->pages[idx];
	if (d->deferred.valid) {
		protocol_error(d, "second request (page %u) while request for page %u is pending", idx,
			       d->deferred.page);
		return -1;
	}
	pthread_mutex_lock(&pg->lock);
	int rc = 0;
	if (must_defer(d, pg)) {
		d->deferred.valid = true;
		d->deferred.page = idx;
		d->deferred.seq = seq;
		d->deferred.want = want;
		atomic_fetch_add_explicit(&d->st_deferred, 1, memory_order_relaxed);
		DBG(d, "defer request for page %u (%s)", idx, pg->busy ? "conflict" : "hold");
	} else {
		rc = serve_req(d, idx, want, seq);
	}
	pthread_mutex_unlock(&pg->lock);
	return rc;
}

/* Serves the deferred peer request if it may go now.  Otherwise *wait_ns is
 * how long until it may (hold time), or UINT64_MAX when only a message can
 * release it (our own conflicting request's GRANT).  Deciding and computing
 * the wait under the same lock leaves no window for a missed expiry. */
static int try_deferred(struct dsm *d, uint64_t *wait_ns)
{
	*wait_ns = UINT64_MAX;
	if (!d->deferred.valid)
		return 0;
	struct dsm_page *pg = &d->pages[d->deferred.page];
	int rc = 0;
	pthread_mutex_lock(&pg->lock);
	uint64_t now = now_ns();
	if (now < pg->hold_until) {
		*wait_ns = pg->hold_until - now;
	} else if (!(pg->busy && d->role == DSM_ROLE_FIRST)) {
		d->deferred.valid = false;
		rc = serve_req(d, d->deferred.page, d->deferred.want, d->deferred.seq);
	}
	pthread_mutex_unlock(&pg->lock);
	return rc;
}

static int handle_grant(struct dsm *d, uint32_t idx, uint16_t flags, uint32_t seq,
			const unsigned char *data)
{
	struct dsm_page *pg = &d->pages[idx];
	pthread_mutex_lock(&pg->lock);
	if (!pg->busy || pg->seq != seq) {
		pthread_mutex_unlock(&pg->lock);
		protocol_error(d, "GRANT for page %u seq %u that we did not request", idx, seq);
		return -1;
	}
	bool shared = pg->want == DSM_WANT_SHARED;
	if (flags & DSM_GRANT_DATA) {
		if (!pg->present && pg->state == ST_I) {
			if (dsmi_pg_install(d, idx, data, shared) < 0)
				goto fail;
			pg->present = true;
		} else if (!(pg->present && pg->state == ST_S && shared)) {
			/* Present+S+shared: a PUSH raced our read; same bytes. */
			char st = (char)pg->state;
			pthread_mutex_unlock(&pg->lock);
			protocol_error(d, "GRANT with data for page %u we hold in state %c", idx, st);
			return -1;
		}
		atomic_fetch_add_explicit(&d->st_recv, 1, memory_order_relaxed);
		pg->state = shared ? ST_S : ST_M;
	} else if (pg->present && pg->state == ST_S && !shared) {
		/* Upgrade: the peer dropped its copy; ours is current. */
		if (dsmi_pg_protect(d, idx, false) < 0)
			goto fail;
		pg->state = ST_M;
	} else if (!pg->present && pg->state == ST_I && pg->fresh) {
		/* Nobody has written the page: start from zeros. */
		if (dsmi_pg_install(d, idx, d->zero_page, shared) < 0)
			goto fail;
		pg->present = true;
		pg->state = shared ? ST_S : ST_M;
	} else {
		char st = (char)pg->state;
		pthread_mutex_unlock(&pg->lock);
		protocol_error(d, "GRANT without data for page %u in state %c", idx, st);
		return -1;
	}
	if (pg->state == ST_M)
		pg->fresh = false;
	DBG(d, "granted page %u -> %c", idx, pg->state);
	pg->hold_until = now_ns() + (uint64_t)d->opt.hold_us * 1000u;
	pg->busy = false;
	pg->txn_done = true;
	pthread_cond_broadcast(&pg->done);
	pthread_mutex_unlock(&pg->lock);
	return 0;
fail:
	pthread_mutex_unlock(&pg->lock);
	return -1;
}

static int handle_push(struct dsm *d, uint32_t idx, uint32_t seq, const unsigned char *data)
{
	struct dsm_page *pg = &d->pages[idx];
	pthread_mutex_lock(&pg->lock);
	if (pg->state != ST_I || pg->present) {
		char st = (char)pg->state;
		pthread_mutex_unlock(&pg->lock);
		protocol_error(d, "PUSH of page %u, which we hold in state %c", idx, st);
		return -1;
	}
	DBG(d, "PUSH of page %u received", idx);
	int rc = dsmi_pg_install(d, idx, data, true);
	if (rc == 0) {
		pg->present = true;
		pg->state = ST_S;
		atomic_fetch_add_explicit(&d->st_recv, 1, memory_order_relaxed);
	}
	pthread_mutex_unlock(&pg->lock);
	return rc ? rc : dsmi_send_msg(d, DSM_MSG_PUSH_ACK, 0, idx, seq, NULL, 0);
}

static int handle_push_ack(struct dsm *d, uint32_t idx)
{
	struct dsm_page *pg = &d->pages[idx];
	pthread_mutex_lock(&pg->lock);
	bool ok = pg->push_pending;
	pg->push_pending = false;
	pthread_mutex_unlock(&pg->lock);
	if (!ok) {
		protocol_error(d, "PUSH_ACK for page %u that we did not push", idx);
		return -1;
	}
	pthread_mutex_lock(&d->lock);
	d->pushes_outstanding--;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	return 0;
}

/* The peer synced and left: every copy it had is now ours alone. */
static void handle_bye(struct dsm *d)
{
	DBG(d, "BYE received");
	for (size_t i = 0; i < d->npages; i++) {
		struct dsm_page *pg = &d->pages[i];
		pthread_mutex_lock(&pg->lock);
		/* The pte stays write-protected until a write faults; a fresh
		 * page without a copy gets zeros on first touch. */
		if (pg->state == ST_S || (pg->state == ST_I && pg->fresh))
			pg->state = ST_M;
		pthread_mutex_unlock(&pg->lock);
	}
	dsmi_fail_session(d, DSM_PEER_LEFT, "peer closed the session after pushing its pages; this host "
				       "now owns every page");
	shutdown(d->sock, SHUT_WR);
}

/* Returns -1 when the session is over. */
static int handle_msg(struct dsm *d, const struct dsm_hdr *h, const unsigned char *payload)
{
	bool page_ok = h->page < d->npages;
	uint32_t ps = (uint32_t)d->page_size;
	switch (h->type) {
	case DSM_MSG_REQ:
		if (h->payload_len || (h->flags != DSM_WANT_SHARED && h->flags != DSM_WANT_EXCL) || !page_ok)
			break;
		return handle_req(d, h->page, h->flags, h->seq);
	case DSM_MSG_GRANT:
		if ((h->flags & ~DSM_GRANT_DATA) || !page_ok ||
		    h->payload_len != ((h->flags & DSM_GRANT_DATA) ? ps : 0))
			break;
		return handle_grant(d, h->page, h->flags, h->seq, payload);
	case DSM_MSG_PUSH:
		if (h->flags || !page_ok || h->payload_len != ps)
			break;
		return handle_push(d, h->page, h->seq, payload);
	case DSM_MSG_PUSH_ACK:
		if (h->flags || !page_ok || h->payload_len)
			break;
		return handle_push_ack(d, h->page);
	case DSM_MSG_BYE:
		if (h->payload_len || h->flags)
			break;
		handle_bye(d);
		return -1;
	case DSM_MSG_ERROR: {
		char txt[DSM_ERROR_MAX];
		if (h->payload_len < 4)
			break;
		dsmi_sanitize(txt, sizeof txt, payload + 4, h->payload_len - 4);
		dsmi_fail_session(d, DSM_PEER_LOST, "peer reported an error: %s", txt);
		return -1;
	}
	default:
		protocol_error(d, "unknown message type %u", h->type);
		return -1;
	}
	protocol_error(d, "malformed message type %u (flags 0x%x, page %u, %u payload bytes)", h->type,
		       h->flags, h->page, h->payload_len);
	return -1;
}

void *dsmi_net_main(void *arg)
{
	struct dsm *d = arg;
	struct pollfd pf[2] = {{.fd = d->sock, .events = POLLIN}, {.fd = d->stop_efd, .events = POLLIN}};
	for (;;) {
		uint64_t wait_ns;
		if (try_deferred(d, &wait_ns) < 0 || atomic_load(&d->status) != DSM_PEER_CONNECTED)
			break;
		struct timespec ts = ns_to_ts(wait_ns == UINT64_MAX ? 0 : wait_ns);
		int r = ppoll(pf, 2, wait_ns == UINT64_MAX ? NULL : &ts, NULL);
		if (r < 0 && errno != EINTR) {
			dsmi_fail_session(d, DSM_PEER_LOST, "internal: ppoll: %s", strerror(errno));
			break;
		}
		if (r <= 0)
			continue;
		if (pf[1].revents)
			break;
		if (pf[0].revents) {
			struct dsm_hdr h;
			char why[200];
			if (dsmi_raw_recv(d->sock, &h, d->rx_buf, d->rx_cap, UINT64_MAX, d->opt.io_timeout_ms, why,
					  sizeof why) < 0) {
				if (atomic_load(&d->closing))
					break; /* we said BYE; the peer hung up as asked */
				if (strncmp(why, "protocol error: ", 16) == 0)
					protocol_error(d, "%s", why + 16);
				else
					dsmi_fail_session(d, DSM_PEER_LOST, "%s", why);
				break;
			}
			if (handle_msg(d, &h, d->rx_buf) < 0)
				break;
		}
	}
	pthread_mutex_lock(&d->lock);
	d->net_exited = true;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	return NULL;
}
