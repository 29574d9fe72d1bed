// SPDX-License-Identifier: GPL-2.0
/* dsm public API (dsm.h): a handle's life from dsm_open to dsm_close, and
 * the end of its session, which every layer reports into.  The layers:
 * dsm_transport.c (frames, sockets), dsm_pair.c (HELLO), dsm_region.c (MAP),
 * dsm_uffd.c (userfaultfd, fault thread), dsm_proto.c (network thread);
 * dsm_internal.h has the handle and the invariants they rely on. */
#define _GNU_SOURCE
#include "dsm_internal.h"

#include <errno.h>
#include <linux/userfaultfd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#define PUSH_WINDOW 16u

/* ----------------------------------------------------------------- errors */

static void vset_err(struct dsm *d, bool freeze, const char *fmt, va_list ap)
{
	pthread_mutex_lock(&d->err_lock);
	if (!d->err_frozen) {
		vsnprintf(d->err, sizeof d->err, fmt, ap);
		d->err_frozen = freeze;
	}
	pthread_mutex_unlock(&d->err_lock);
}

__attribute__((format(printf, 2, 3))) static void set_err(struct dsm *d, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vset_err(d, false, fmt, ap);
	va_end(ap);
}

/* Ends the session once: records why, unblocks every waiter.  Never takes a
 * page lock, so it may be called with one held; waiters poll in 50 ms slices
 * and notice the status change even if a wakeup races past them. */
void dsmi_fail_session(struct dsm *d, int status, const char *fmt, ...)
{
	int expected = DSM_PEER_CONNECTED;
	if (!atomic_compare_exchange_strong(&d->status, &expected, status))
		return;
	va_list ap;
	va_start(ap, fmt);
	vset_err(d, true, fmt, ap);
	va_end(ap);
	DBG(d, "session ended: %s", d->err);
	if (status == DSM_PEER_LOST && d->sock >= 0)
		shutdown(d->sock, SHUT_RDWR);
	long w = atomic_load(&d->waiting_page);
	if (w >= 0)
		pthread_cond_broadcast(&d->pages[w].done);
	pthread_cond_broadcast(&d->cond);
	if (d->opt.on_peer_gone && !atomic_exchange(&d->gone_reported, true))
		d->opt.on_peer_gone(d->opt.cb_arg, (enum dsm_peer_status)status, d->err);
}

/* ------------------------------------------------------------------- API */

void dsm_options_init(struct dsm_options *o)
{
	memset(o, 0, sizeof *o);
	o->role = DSM_ROLE_AUTO;
	o->connect_timeout_ms = 10000;
	o->accept_timeout_ms = 0;
	o->handshake_timeout_ms = 5000;
	o->io_timeout_ms = 5000;
	o->request_timeout_ms = 10000;
	o->hold_us = 200;
}

static void dsm_free(struct dsm *d)
{
	if (d->pages) {
		for (size_t i = 0; i < d->npages; i++) {
			pthread_mutex_destroy(&d->pages[i].lock);
			pthread_cond_destroy(&d->pages[i].done);
		}
		free(d->pages);
	}
	if (d->registered) {
		struct uffdio_range r = {.start = (uintptr_t)d->base, .len = d->size};
		ioctl(d->uffd, UFFDIO_UNREGISTER, &r);
	}
	if (d->mapped)
		munmap(d->base, d->size);
	if (d->uffd >= 0)
		close(d->uffd);
	if (d->sock >= 0)
		close(d->sock);
	if (d->listen_fd >= 0)
		close(d->listen_fd);
	if (d->stop_efd >= 0)
		close(d->stop_efd);
	free(d->zero_page);
	free(d->rx_buf);
	free(d->serve_buf);
	free(d->sync_buf);
	pthread_mutex_destroy(&d->send_lock);
	pthread_mutex_destroy(&d->sync_lock);
	pthread_mutex_destroy(&d->lock);
	pthread_mutex_destroy(&d->err_lock);
	pthread_cond_destroy(&d->cond);
	free(d);
}

void dsmi_init_monotonic_cond(pthread_cond_t *c)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(c, &ca);
	pthread_condattr_destroy(&ca);
}

dsm_t *dsm_open(const char *listen_port, const char *peer_host, const char *peer_port,
		const struct dsm_options *opt, char *err, size_t errlen)
{
	char dummy[8];
	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof dummy;
	}
	err[0] = '\0';
	struct dsm *d = calloc(1, sizeof *d);
	if (!d) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d->listen_fd = d->sock = d->uffd = d->stop_efd = -1;
	pthread_mutex_init(&d->send_lock, NULL);
	pthread_mutex_init(&d->sync_lock, NULL);
	pthread_mutex_init(&d->lock, NULL);
	pthread_mutex_init(&d->err_lock, NULL);
	dsmi_init_monotonic_cond(&d->cond);
	atomic_init(&d->status, DSM_PEER_CONNECTED);
	atomic_init(&d->waiting_page, -1);
	if (opt)
		d->opt = *opt;
	else
		dsm_options_init(&d->opt);
	const char *dbg = getenv("DSM_DEBUG");
	d->debug = dbg && *dbg && strcmp(dbg, "0") != 0;
	if (getrandom(&d->nonce, sizeof d->nonce, 0) != (ssize_t)sizeof d->nonce)
		d->nonce = now_ns() ^ ((uint64_t)getpid() << 32);
	d->role = d->opt.role;

	bool need_peer = d->role != DSM_ROLE_FIRST;
	bool need_listen = d->role != DSM_ROLE_SECOND || listen_port;
	if (need_peer && (!peer_host || !peer_port)) {
		snprintf(err, errlen, "a peer host and port are required");
		goto fail;
	}
	if (need_listen && !listen_port) {
		snprintf(err, errlen, "a listen port is required");
		goto fail;
	}
	/* Listen before connecting: a peer started right after us finds us. */
	if (need_listen && dsmi_make_listener(d, d->opt.listen_host, listen_port, err, errlen) < 0)
		goto fail;

	if (d->role == DSM_ROLE_AUTO) {
		int fd = dsmi_try_connect(peer_host, peer_port, 3000, err, errlen);
		if (fd == -2)
			goto fail;
		err[0] = '\0';
		if (fd >= 0) {
			d->sock = fd;
			d->role = DSM_ROLE_SECOND;
		} else {
			d->role = DSM_ROLE_FIRST;
		}
	} else if (d->role == DSM_ROLE_SECOND) {
		uint64_t dl = deadline_after_ms(d->opt.connect_timeout_ms);
		for (;;) {
			int fd = dsmi_try_connect(peer_host, peer_port, 3000, err, errlen);
			if (fd >= 0) {
				d->sock = fd;
				break;
			}
			if (fd == -2 || remaining_ms(dl) == 0)
				goto fail;
			usleep(20000);
		}
		err[0] = '\0';
	}
	if (d->sock >= 0)
		dsmi_tune_session_socket(d->sock);
	return d;
fail:
	dsm_free(d);
	return NULL;
}

enum dsm_role dsm_role(const dsm_t *d)
{
	return d->role;
}

unsigned dsm_listen_port(const dsm_t *d)
{
	return d->listen_port;
}

int dsm_pair(dsm_t *d)
{
	char err[400];
	err[0] = '\0';
	if (atomic_load(&d->status) != DSM_PEER_CONNECTED)
		return -1; /* dsm_error() already says why */
	if (dsmi_do_pair(d, err, sizeof err) == 0)
		return 0;
	set_err(d, "%s", err);
	atomic_store(&d->status, DSM_PEER_LOST);
	return -1;
}

void *dsm_map(dsm_t *d, size_t npages, void *addr)
{
	char err[400];
	err[0] = '\0';
	if (d->base) {
		set_err(d, "dsm_map: already mapped");
		return NULL;
	}
	long ps = sysconf(_SC_PAGESIZE);
	d->page_size = ps > 0 ? (size_t)ps : 4096;
	void *r;
	if (atomic_load(&d->status) != DSM_PEER_CONNECTED)
		return NULL; /* a failed dsm_pair: dsm_error() says why */
	if (d->role == DSM_ROLE_FIRST) {
		r = dsmi_map_first(d, npages, addr, err, sizeof err);
	} else if (npages || addr) {
		snprintf(err, sizeof err, "the second instance takes size and address from the peer");
		r = NULL;
	} else {
		r = dsmi_map_second(d, err, sizeof err);
	}
	if (!r) {
		set_err(d, "%s", err);
		/* Leave nothing half set up: the handle stays valid for dsm_error/close. */
		atomic_store(&d->status, DSM_PEER_LOST);
		return NULL;
	}
	DBG(d, "mapped %zu pages at %p (poison %d, tid %d, user-mode-only %d)", d->npages, d->base,
	    d->have_poison, d->have_tid, d->user_mode_only);
	return r;
}

void *dsm_addr(const dsm_t *d)
{
	return d->base;
}
size_t dsm_npages(const dsm_t *d)
{
	return d->npages;
}
size_t dsm_page_size(const dsm_t *d)
{
	return d->page_size;
}

static int wait_pushes(struct dsm *d, unsigned limit)
{
	pthread_mutex_lock(&d->lock);
	while (d->pushes_outstanding > limit && atomic_load(&d->status) == DSM_PEER_CONNECTED) {
		struct timespec ts = ns_to_ts(now_ns() + WAIT_SLICE_NS);
		pthread_cond_timedwait(&d->cond, &d->lock, &ts);
	}
	pthread_mutex_unlock(&d->lock);
	return atomic_load(&d->status) == DSM_PEER_CONNECTED ? 0 : -1;
}

int dsm_sync(dsm_t *d)
{
	if (!d->fault_started || atomic_load(&d->status) != DSM_PEER_CONNECTED) {
		errno = ENOTCONN;
		return -1;
	}
	pthread_mutex_lock(&d->sync_lock);
	int rc = 0;
	for (size_t i = 0; i < d->npages && rc == 0; i++) {
		/* Windowed so in-flight bytes stay far below the socket buffers. */
		if (wait_pushes(d, PUSH_WINDOW - 1) < 0) {
			rc = -1;
			break;
		}
		struct dsm_page *pg = &d->pages[i];
		pthread_mutex_lock(&pg->lock);
		if (pg->state == ST_M && pg->present && !pg->push_pending) {
			if (dsmi_pg_protect(d, i, true) == 0) {
				memcpy(d->sync_buf, page_addr(d, i), d->page_size);
				pg->state = ST_S;
				pg->push_pending = true;
				pthread_mutex_lock(&d->lock);
				d->pushes_outstanding++;
				pthread_mutex_unlock(&d->lock);
				atomic_fetch_add_explicit(&d->st_push, 1, memory_order_relaxed);
				DBG(d, "pushing page %zu", i);
				rc = dsmi_send_msg(d, DSM_MSG_PUSH, 0, (uint32_t)i, 0, d->sync_buf,
						   (uint32_t)d->page_size);
			} else {
				rc = -1;
			}
		}
		pthread_mutex_unlock(&pg->lock);
	}
	if (rc == 0)
		rc = wait_pushes(d, 0);
	pthread_mutex_unlock(&d->sync_lock);
	if (rc < 0)
		errno = ENOTCONN;
	return rc;
}

char dsm_page_state(dsm_t *d, size_t page)
{
	if (!d->pages || page >= d->npages)
		return '?';
	pthread_mutex_lock(&d->pages[page].lock);
	char c = (char)d->pages[page].state;
	pthread_mutex_unlock(&d->pages[page].lock);
	return c;
}

enum dsm_peer_status dsm_peer_status(dsm_t *d)
{
	return (enum dsm_peer_status)atomic_load(&d->status);
}

const char *dsm_error(dsm_t *d)
{
	/* A per-thread copy: the net thread may be writing the text right now. */
	static _Thread_local char copy[sizeof d->err];
	pthread_mutex_lock(&d->err_lock);
	memcpy(copy, d->err, sizeof copy);
	pthread_mutex_unlock(&d->err_lock);
	return copy;
}

void dsm_get_stats(dsm_t *d, struct dsm_stats *st)
{
	st->remote_faults = atomic_load(&d->st_remote);
	st->local_faults = atomic_load(&d->st_local);
	st->requests_served = atomic_load(&d->st_served);
	st->pages_sent = atomic_load(&d->st_sent);
	st->pages_received = atomic_load(&d->st_recv);
	st->pushes = atomic_load(&d->st_push);
	st->deferred = atomic_load(&d->st_deferred);
}

int dsm_close(dsm_t *d)
{
	int rc = 0;
	if (!d)
		return 0;
	if (d->net_started && atomic_load(&d->status) == DSM_PEER_CONNECTED) {
		/* Hand everything we modified to the peer, then leave: the peer
		 * becomes the only owner and loses nothing. */
		rc = dsm_sync(d);
		if (rc == 0) {
			atomic_store(&d->closing, true);
			DBG(d, "sending BYE");
			rc = dsmi_send_msg(d, DSM_MSG_BYE, 0, 0, 0, NULL, 0);
			/* Keep serving until the peer hangs up (it does on reading
			 * BYE), so nothing it sent before seeing BYE goes
			 * unanswered.  The write side stays open for that: a peer
			 * closing at the same time may still be pushing, and an
			 * unsendable PUSH_ACK or GRANT would end our session and
			 * reset the connection under the peer before it reads our
			 * BYE, failing its close. */
			pthread_mutex_lock(&d->lock);
			uint64_t dl = deadline_after_ms(d->opt.io_timeout_ms);
			while (!d->net_exited && now_ns() < dl) {
				struct timespec ts = ns_to_ts(now_ns() + WAIT_SLICE_NS);
				pthread_cond_timedwait(&d->cond, &d->lock, &ts);
			}
			pthread_mutex_unlock(&d->lock);
		}
		/* Both closed at once: the peer's BYE ended our sync, or came
		 * in before ours went out.  Nobody is left to hand pages to. */
		if (rc < 0 && atomic_load(&d->status) == DSM_PEER_LEFT)
			rc = 0;
	}
	if (d->stop_efd >= 0) {
		uint64_t one = 1;
		if (write(d->stop_efd, &one, sizeof one) < 0)
			rc = -1;
	}
	if (d->fault_started)
		pthread_join(d->fault_thr, NULL);
	if (d->net_started)
		pthread_join(d->net_thr, NULL);
	dsm_free(d);
	return rc;
}
