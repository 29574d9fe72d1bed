/* SPDX-License-Identifier: GPL-2.0 */
/* dsm: distributed shared memory between two hosts.
 *
 * A region of anonymous memory is mapped at the same address on both hosts
 * and kept coherent page by page with an MSI protocol over one TCP
 * connection.  Coherence is enforced by userfaultfd (MISSING + WRITE-PROTECT),
 * so ordinary loads and stores by any code in the process are covered, not
 * only accesses made through this API.
 *
 * Typical use:
 *     struct dsm_options o; dsm_options_init(&o);
 *     dsm_t *d = dsm_open("7000", "peer.example", "7001", &o, err, sizeof err);
 *     char *mem = dsm_map(d, dsm_role(d) == DSM_ROLE_FIRST ? 16 : 0, NULL);
 *     ... use mem like memory ...
 *     dsm_sync(d);      // optional: push dirty pages to the peer
 *     dsm_close(d);     // pushes dirty pages, tells the peer, unmaps
 */
#ifndef DSM_H
#define DSM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dsm dsm_t;

/* Largest region, in pages, that dsm_map accepts (and a peer may propose). */
#define DSM_MAX_PAGES (1u << 20)

enum dsm_role {
	DSM_ROLE_AUTO = 0,   /* connect to the peer if it listens, else wait for it */
	DSM_ROLE_FIRST = 1,  /* chooses size and address, waits for the peer */
	DSM_ROLE_SECOND = 2, /* connects to the peer, adopts its size and address */
};

enum dsm_fault_kind {
	DSM_FAULT_READ = 1,    /* read of an Invalid page: fetch a shared copy */
	DSM_FAULT_WRITE = 2,   /* write of an Invalid page: fetch an exclusive copy */
	DSM_FAULT_UPGRADE = 3, /* write of a Shared page: invalidate the peer's copy */
};

enum dsm_peer_status {
	DSM_PEER_CONNECTED = 0,
	DSM_PEER_LEFT = 1, /* peer closed cleanly after pushing its pages: we own everything */
	DSM_PEER_LOST = 2, /* connection lost or protocol error: see dsm_error() */
};

struct dsm_options {
	enum dsm_role role;
	const char *listen_host;      /* NULL: every local address (IPv6 dual stack) */
	unsigned connect_timeout_ms;  /* SECOND: keep retrying a refused connect this long */
	unsigned accept_timeout_ms;   /* FIRST: how long pairing waits for the peer; SECOND: how
				       * long it waits for the first's HELLO and MAP; 0 = forever */
	unsigned handshake_timeout_ms; /* FIRST: a connection must deliver its HELLO within this */
	unsigned io_timeout_ms;       /* a started message must arrive completely within this */
	unsigned request_timeout_ms;  /* an unanswered request declares the peer lost */
	unsigned hold_us;             /* a page fetched for a local fault is kept at least this long */
	/* Called from the fault thread before a fault is sent to the peer.  It
	 * must not touch the region. */
	void (*on_remote_fault)(void *arg, size_t page, enum dsm_fault_kind kind);
	/* Called once when the peer leaves or is lost; must not touch the region. */
	void (*on_peer_gone)(void *arg, enum dsm_peer_status status, const char *why);
	/* FIRST, while pairing: a connection that is not a well-behaved peer
	 * (no HELLO in time, garbage, wrong version or role) was dropped; the
	 * instance goes on waiting for the real peer. */
	void (*on_rejected)(void *arg, const char *why);
	void *cb_arg;
};

struct dsm_stats {
	uint64_t remote_faults;   /* faults that needed the peer */
	uint64_t local_faults;    /* faults already resolved by an earlier event or a PUSH */
	uint64_t requests_served; /* peer requests answered */
	uint64_t pages_sent;
	uint64_t pages_received;
	uint64_t pushes;          /* pages pushed by dsm_sync/dsm_close */
	uint64_t deferred;        /* peer requests delayed by the hold time or a conflict */
};

void dsm_options_init(struct dsm_options *opt);

/* Pairs with the peer: listens on listen_port (may be "0" for any port)
 * and, unless the role is FIRST, connects to peer_host:peer_port.  On
 * failure returns NULL and writes a message to err. */
dsm_t *dsm_open(const char *listen_port, const char *peer_host, const char *peer_port,
		const struct dsm_options *opt, char *err, size_t errlen);

enum dsm_role dsm_role(const dsm_t *d);
/* Port we listen on (useful with listen_port "0"), 0 if none. */
unsigned dsm_listen_port(const dsm_t *d);

/* Pairs with the peer without mapping anything yet.  FIRST: accepts
 * connections until one completes the HELLO exchange; the others are dropped
 * (see on_rejected).  SECOND: exchanges HELLOs with the first.  Afterwards
 * the first chooses the size (dsm_map) while the second waits in dsm_map.
 * Optional: dsm_map pairs by itself.  0, or -1 (see dsm_error()). */
int dsm_pair(dsm_t *d);

/* FIRST: maps npages pages (at addr if not NULL, else at a random address
 * chosen for being free on both hosts), pairs unless dsm_pair already did,
 * and agrees on the region with the peer.  SECOND: npages and addr must be
 * 0/NULL; it pairs if needed, waits for the first's region (up to
 * accept_timeout_ms), checks it and maps it at the same address with
 * MAP_FIXED_NOREPLACE.  Returns the region, or NULL (see dsm_error()). */
void *dsm_map(dsm_t *d, size_t npages, void *addr);

void *dsm_addr(const dsm_t *d);
size_t dsm_npages(const dsm_t *d);
size_t dsm_page_size(const dsm_t *d);

/* Pushes every Modified page to the peer (both copies become Shared) and
 * waits for the peer's acknowledgement.  Afterwards the peer holds every
 * byte written here, so it survives this host's death.  -1 with errno
 * ENOTCONN if the peer is gone. */
int dsm_sync(dsm_t *d);

/* 'M', 'S' or 'I' for the page, '?' if out of range.  Every page starts
 * Invalid on both hosts; the first access fetches it from the peer (zeros
 * while nobody has written it). */
char dsm_page_state(dsm_t *d, size_t page);

enum dsm_peer_status dsm_peer_status(dsm_t *d);
/* Text of the first fatal error (or of the last failed setup call). */
const char *dsm_error(dsm_t *d);
void dsm_get_stats(dsm_t *d, struct dsm_stats *st);

/* Pushes dirty pages and says goodbye if the peer is still there, stops the
 * threads and unmaps the region.  The region must not be used afterwards. */
int dsm_close(dsm_t *d);

#ifdef __cplusplus
}
#endif
#endif
