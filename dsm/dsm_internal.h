/* SPDX-License-Identifier: GPL-2.0 */
/* dsm internals: the handle, page states and what the library's files share.
 *
 * Two-host distributed shared memory, page-granule MSI over TCP, enforced
 * with userfaultfd MISSING + WRITE-PROTECT.  See README.md for the protocol
 * table; the invariants the library relies on are:
 *
 *  - Two hosts, no silent eviction.  Every page starts (I,I) and "fresh":
 *    nobody has written it, so its content is zeros.  While a page is fresh
 *    its pair of states is (I,I), (S,I), (I,S) or (S,S); once a host has had
 *    it Modified it is (S,S), (M,I) or (I,M) for good.  Freshness ends only
 *    through an exclusive grant, which both hosts see, so each side knows it
 *    exactly and serves a request by looking only at its own state: a GRANT
 *    without data means "zeros" to a host that has no copy.
 *  - A host has at most one request (REQ) outstanding: the single fault
 *    thread waits for each answer.  So at most one peer request is ever
 *    deferred, and in-flight bytes per direction are bounded (PUSHes are
 *    windowed), which keeps the two network threads from blocking each other.
 *  - Crossing requests only happen in (S,S) when both sides write.  The FIRST
 *    host wins: it defers the SECOND's request until its own is granted; the
 *    SECOND yields (drops its copy) at once.  The FIRST's store lands first,
 *    the SECOND's after it; nothing is lost.
 *  - A page fetched for a local fault is held for hold_us before it is given
 *    away again (Mirage's time window), so the faulting instruction gets to
 *    run and two writers cannot livelock stealing the page from each other.
 */
#ifndef DSM_INTERNAL_H
#define DSM_INTERNAL_H

#include "dsm.h"
#include "dsm_wire.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

/* Waiters re-check the session status at least this often. */
#define WAIT_SLICE_NS (50 * 1000 * 1000LL)

enum { ST_M = 'M', ST_S = 'S', ST_I = 'I' };

struct dsm_page {
	pthread_mutex_t lock;
	pthread_cond_t done; /* fault thread waits here for its GRANT */
	uint8_t state;
	bool present;        /* a pte exists: we installed it and have not dropped it */
	bool busy;           /* our REQ for this page is outstanding */
	bool txn_done;
	bool push_pending;
	bool poisoned;       /* peer lost with the only copy: every access SIGBUSes */
	bool fresh;          /* no host has had it Modified yet: the content is zeros */
	uint16_t want;
	uint32_t seq;
	uint64_t hold_until; /* CLOCK_MONOTONIC ns */
};

struct dsm {
	struct dsm_options opt;
	enum dsm_role role;
	int listen_fd, sock, uffd, stop_efd;
	unsigned listen_port;
	uint64_t nonce;
	bool debug;

	char *base;
	size_t npages, page_size, size;
	bool mapped, registered, user_mode_only, have_poison, have_tid, paired;
	struct dsm_page *pages;

	pthread_t fault_thr, net_thr;
	bool fault_started, net_started;

	pthread_mutex_t send_lock;
	pthread_mutex_t sync_lock;  /* serialises dsm_sync callers (one sync_buf) */
	pthread_mutex_t lock;       /* pushes_outstanding, net_exited */
	pthread_cond_t cond;
	unsigned pushes_outstanding;
	bool net_exited;
	atomic_int status;          /* enum dsm_peer_status */
	atomic_bool closing;
	atomic_long waiting_page;   /* page the fault thread waits on, -1 if none */
	atomic_bool gone_reported;

	struct {
		bool valid;
		uint32_t page, seq;
		uint16_t want;
	} deferred; /* net thread only */
	uint32_t next_seq; /* fault thread only */

	unsigned char *zero_page, *rx_buf, *serve_buf, *sync_buf;
	size_t rx_cap;

	pthread_mutex_t err_lock;
	bool err_frozen;
	char err[512];

	atomic_uint_fast64_t st_remote, st_local, st_served, st_sent, st_recv, st_push, st_deferred;
};

/* Deadlines are CLOCK_MONOTONIC ns; UINT64_MAX is "none" (a timeout of 0). */
static inline uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline struct timespec ns_to_ts(uint64_t ns)
{
	struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000ull), .tv_nsec = (long)(ns % 1000000000ull)};
	return ts;
}

static inline int remaining_ms(uint64_t deadline)
{
	uint64_t now = now_ns();
	if (deadline == UINT64_MAX)
		return -1;
	if (now >= deadline)
		return 0;
	uint64_t ms = (deadline - now + 999999) / 1000000;
	return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

static inline uint64_t deadline_after_ms(unsigned ms)
{
	return ms ? now_ns() + (uint64_t)ms * 1000000ull : UINT64_MAX;
}

/* DSM_DEBUG=1 in the environment: a line on stderr per protocol step. */
#define DBG(d, ...)                                                                                \
	do {                                                                                       \
		if ((d)->debug) {                                                                  \
			fprintf(stderr, "[dsm %s] ", (d)->role == DSM_ROLE_FIRST ? "first" : "second"); \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
		}                                                                                  \
	} while (0)

static inline char *page_addr(struct dsm *d, size_t idx)
{
	return d->base + idx * d->page_size;
}

/* dsm.c: the end of the session, which every layer reports; monotonic condvars. */
__attribute__((format(printf, 3, 4)))
void dsmi_fail_session(struct dsm *d, int status, const char *fmt, ...);
void dsmi_init_monotonic_cond(pthread_cond_t *c);

/* dsm_transport.c: frames on a socket, the session's sends, listen and connect. */
int dsmi_raw_send(int fd, uint16_t type, uint16_t flags, uint32_t page, uint32_t seq,
		  const void *payload, uint32_t len, unsigned timeout_ms, char *why, size_t wl);
int dsmi_raw_recv(int fd, struct dsm_hdr *h, unsigned char *buf, size_t cap,
		  uint64_t first_deadline, unsigned io_timeout_ms, char *why, size_t wl);
void dsmi_send_error_msg(int fd, uint32_t code, const char *text);
int dsmi_send_msg(struct dsm *d, uint16_t type, uint16_t flags, uint32_t page, uint32_t seq,
		  const void *payload, uint32_t len);
void dsmi_sanitize(char *out, size_t outlen, const unsigned char *in, size_t inlen);
void dsmi_tune_session_socket(int fd);
int dsmi_make_listener(struct dsm *d, const char *host, const char *port, char *err, size_t el);
int dsmi_try_connect(const char *host, const char *port, unsigned timeout_ms, char *err, size_t el);

/* dsm_pair.c: the HELLO exchange, once per handle. */
int dsmi_do_pair(struct dsm *d, char *err, size_t el);

/* dsm_region.c: the region and its setup, on either side. */
void *dsmi_map_first(struct dsm *d, size_t npages, void *addr, char *err, size_t el);
void *dsmi_map_second(struct dsm *d, char *err, size_t el);

/* dsm_uffd.c: registering the region, page operations (page lock held), the fault thread. */
int dsmi_uffd_setup(struct dsm *d, char *err, size_t el);
int dsmi_pg_install(struct dsm *d, size_t idx, const void *src, bool wp);
int dsmi_pg_protect(struct dsm *d, size_t idx, bool wp);
int dsmi_pg_drop(struct dsm *d, size_t idx);
void *dsmi_fault_main(void *arg);

/* dsm_proto.c: the network thread. */
void *dsmi_net_main(void *arg);

#endif
