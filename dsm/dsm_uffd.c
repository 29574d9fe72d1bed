// SPDX-License-Identifier: GPL-2.0
/* dsm userfaultfd side: opening and registering the userfaultfd, the page
 * operations the protocol is built from (install, write-protect, drop,
 * poison), and the fault thread, which turns a fault on a page this host
 * may not access yet into a request to the peer and waits for the GRANT. */
#define _GNU_SOURCE
#include "dsm_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Older uapi headers (Debian bookworm ships 6.1) lack these; the values are
 * fixed kernel ABI. */
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif
#ifndef UFFD_FEATURE_POISON
#define UFFD_FEATURE_POISON (1 << 14)
struct uffdio_poison {
	struct uffdio_range range;
	__u64 mode;
	__s64 updated;
};
#define _UFFDIO_POISON (0x08)
#define UFFDIO_POISON _IOWR(UFFDIO, _UFFDIO_POISON, struct uffdio_poison)
#endif

static int uffd_new(bool *user_only)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0)
		return fd;
	int first_errno = errno;
	int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev >= 0) {
		fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
		close(dev);
		if (fd >= 0)
			return fd;
	}
	/* Unprivileged and no /dev/userfaultfd: user-mode faults only, so a
	 * syscall reading into the region gets EFAULT instead of a fetch. */
	fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (fd >= 0) {
		*user_only = true;
		return fd;
	}
	errno = first_errno;
	return -1;
}

int dsmi_uffd_setup(struct dsm *d, char *err, size_t el)
{
	bool user_only = false;
	int probe = uffd_new(&user_only);
	if (probe < 0) {
		snprintf(err, el, "userfaultfd unavailable: %s (needs CONFIG_USERFAULTFD and either "
				  "CAP_SYS_PTRACE, vm.unprivileged_userfaultfd=1 or access to /dev/userfaultfd)",
			 strerror(errno));
		return -1;
	}
	struct uffdio_api api = {.api = UFFD_API, .features = 0};
	if (ioctl(probe, UFFDIO_API, &api) < 0) {
		snprintf(err, el, "UFFDIO_API failed: %s", strerror(errno));
		close(probe);
		return -1;
	}
	close(probe);
	if (!(api.features & UFFD_FEATURE_PAGEFAULT_FLAG_WP)) {
		snprintf(err, el, "this kernel's userfaultfd has no write-protect mode for anonymous "
				  "memory (UFFD_FEATURE_PAGEFAULT_FLAG_WP, Linux >= 5.7 on x86_64); dsm "
				  "needs it to trap stores and does not fall back to mprotect/SIGSEGV");
		return -1;
	}
	uint64_t want = UFFD_FEATURE_PAGEFAULT_FLAG_WP;
	if (api.features & UFFD_FEATURE_THREAD_ID)
		want |= UFFD_FEATURE_THREAD_ID;
	if (api.features & UFFD_FEATURE_POISON)
		want |= UFFD_FEATURE_POISON;

	user_only = false;
	d->uffd = uffd_new(&user_only);
	if (d->uffd < 0) {
		snprintf(err, el, "userfaultfd: %s", strerror(errno));
		return -1;
	}
	d->user_mode_only = user_only;
	api = (struct uffdio_api){.api = UFFD_API, .features = want};
	if (ioctl(d->uffd, UFFDIO_API, &api) < 0) {
		snprintf(err, el, "UFFDIO_API(features 0x%llx) failed: %s", (unsigned long long)want,
			 strerror(errno));
		return -1;
	}
	d->have_tid = (api.features & UFFD_FEATURE_THREAD_ID) != 0;

	struct uffdio_register reg = {
		.range = {.start = (uintptr_t)d->base, .len = d->size},
		.mode = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP,
	};
	if (ioctl(d->uffd, UFFDIO_REGISTER, &reg) < 0) {
		snprintf(err, el, "UFFDIO_REGISTER(MISSING|WP) failed: %s", strerror(errno));
		return -1;
	}
	d->registered = true;
	uint64_t need = (1ull << _UFFDIO_COPY) | (1ull << _UFFDIO_WAKE) | (1ull << _UFFDIO_WRITEPROTECT);
	if ((reg.ioctls & need) != need) {
		snprintf(err, el, "userfaultfd range lacks COPY/WAKE/WRITEPROTECT (ioctls 0x%llx)",
			 (unsigned long long)reg.ioctls);
		return -1;
	}
	d->have_poison = (want & UFFD_FEATURE_POISON) && (reg.ioctls & (1ull << _UFFDIO_POISON));
	return 0;
}

/* Page operations; the caller holds the page lock.  A failure means the
 * kernel refused an operation we rely on: the session cannot continue. */
int dsmi_pg_install(struct dsm *d, size_t idx, const void *src, bool wp)
{
	for (;;) {
		struct uffdio_copy c = {.dst = (uintptr_t)page_addr(d, idx), .src = (uintptr_t)src,
					.len = d->page_size, .mode = wp ? UFFDIO_COPY_MODE_WP : 0};
		if (ioctl(d->uffd, UFFDIO_COPY, &c) == 0)
			return 0;
		if (errno == EAGAIN)
			continue;
		dsmi_fail_session(d, DSM_PEER_LOST, "internal: UFFDIO_COPY of page %zu failed: %s", idx,
				  strerror(errno));
		return -1;
	}
}

int dsmi_pg_protect(struct dsm *d, size_t idx, bool wp)
{
	struct uffdio_writeprotect w = {.range = {.start = (uintptr_t)page_addr(d, idx), .len = d->page_size},
					.mode = wp ? UFFDIO_WRITEPROTECT_MODE_WP : 0};
	for (;;) {
		if (ioctl(d->uffd, UFFDIO_WRITEPROTECT, &w) == 0)
			return 0;
		if (errno == EAGAIN)
			continue;
		dsmi_fail_session(d, DSM_PEER_LOST, "internal: UFFDIO_WRITEPROTECT of page %zu failed: %s",
				  idx, strerror(errno));
		return -1;
	}
}

static void pg_wake(struct dsm *d, size_t idx)
{
	struct uffdio_range r = {.start = (uintptr_t)page_addr(d, idx), .len = d->page_size};
	ioctl(d->uffd, UFFDIO_WAKE, &r);
}

int dsmi_pg_drop(struct dsm *d, size_t idx)
{
	if (madvise(page_addr(d, idx), d->page_size, MADV_DONTNEED) == 0)
		return 0;
	dsmi_fail_session(d, DSM_PEER_LOST, "internal: MADV_DONTNEED of page %zu failed: %s", idx,
			  strerror(errno));
	return -1;
}

/* An access that can never be satisfied (peer lost): SIGBUS.  Poisoning is
 * exact.  The tgkill fallback (kernels before 6.6) can hit a thread whose
 * event was stale, i.e. that already moved on; see README. */
static void pg_unavailable(struct dsm *d, size_t idx, uint32_t tid, bool present)
{
	struct dsm_page *pg = &d->pages[idx];
	if (pg->poisoned)
		return; /* stale event: the poison already woke that thread */
	if (!present && d->have_poison) {
		struct uffdio_poison p = {.range = {.start = (uintptr_t)page_addr(d, idx), .len = d->page_size}};
		if (ioctl(d->uffd, UFFDIO_POISON, &p) == 0 || errno == EEXIST) {
			pg->poisoned = true; /* wakes the thread, whose retry gets SIGBUS */
			return;
		}
	}
	if (d->have_tid && tid)
		syscall(SYS_tgkill, getpid(), (pid_t)tid, SIGBUS);
	else
		kill(getpid(), SIGBUS);
}

/* ----------------------------------------------------------- fault thread */

/* Sends our request and waits for the net thread to apply the GRANT.  Page
 * lock held (released while waiting).  0: fault resolved; -1: session over. */
static int transact(struct dsm *d, size_t idx, uint16_t want, enum dsm_fault_kind kind)
{
	struct dsm_page *pg = &d->pages[idx];
	pg->busy = true;
	pg->want = want;
	pg->txn_done = false;
	pg->seq = ++d->next_seq;
	if (d->opt.on_remote_fault)
		d->opt.on_remote_fault(d->opt.cb_arg, idx, kind);
	DBG(d, "request page %zu %s (state %c)", idx, want == DSM_WANT_EXCL ? "EXCL" : "SHARED", pg->state);
	atomic_store(&d->waiting_page, (long)idx);
	if (dsmi_send_msg(d, DSM_MSG_REQ, want, (uint32_t)idx, pg->seq, NULL, 0) < 0) {
		pg->busy = false;
		atomic_store(&d->waiting_page, -1);
		return -1;
	}
	uint64_t deadline = deadline_after_ms(d->opt.request_timeout_ms);
	while (!pg->txn_done && atomic_load(&d->status) == DSM_PEER_CONNECTED) {
		uint64_t now = now_ns();
		if (now >= deadline) {
			dsmi_fail_session(d, DSM_PEER_LOST, "peer did not answer a request for page %zu within %u ms",
					  idx, d->opt.request_timeout_ms);
			break;
		}
		uint64_t until = now + WAIT_SLICE_NS < deadline ? now + WAIT_SLICE_NS : deadline;
		struct timespec ts = ns_to_ts(until);
		pthread_cond_timedwait(&pg->done, &pg->lock, &ts);
	}
	atomic_store(&d->waiting_page, -1);
	if (!pg->txn_done) {
		pg->busy = false;
		return -1;
	}
	atomic_fetch_add_explicit(&d->st_remote, 1, memory_order_relaxed);
	return 0;
}

/* Peer left or lost.  Page lock held.  What this host holds becomes its
 * private copy: readable, and writable on first store (S -> M).  A page whose
 * only copy was on the peer is poisoned: exactly the threads that touch it get
 * SIGBUS, now or later. */
static void resolve_offline(struct dsm *d, size_t idx, bool wpf, bool write, uint32_t tid)
{
	struct dsm_page *pg = &d->pages[idx];
	bool zeros = pg->fresh && !pg->present; /* never written by anyone */
	if (!zeros && (pg->state == ST_I || (pg->state == ST_M && !pg->present &&
					     atomic_load(&d->status) == DSM_PEER_LOST))) {
		if (wpf && !pg->present)
			pg_wake(d, idx); /* stale WP event: the retry becomes a MISSING fault */
		else
			pg_unavailable(d, idx, tid, pg->present);
		return;
	}
	if (pg->present) {
		if (wpf) {
			pg->state = ST_M;
			dsmi_pg_protect(d, idx, false);
		} else {
			pg_wake(d, idx);
		}
	} else if (dsmi_pg_install(d, idx, d->zero_page, !write) == 0) {
		pg->present = true; /* never written by anyone: zeros */
		if (write) {
			pg->state = ST_M;
			pg->fresh = false;
		} else if (pg->state != ST_M) {
			pg->state = ST_S; /* M after a BYE stays ours: WP until a store */
		}
	}
}

static void handle_fault(struct dsm *d, uintptr_t addr, uint64_t flags, uint32_t tid)
{
	size_t idx = (addr - (uintptr_t)d->base) / d->page_size;
	if (addr < (uintptr_t)d->base || idx >= d->npages)
		return;
	struct dsm_page *pg = &d->pages[idx];
	bool wpf = flags & UFFD_PAGEFAULT_FLAG_WP;
	bool write = flags & UFFD_PAGEFAULT_FLAG_WRITE;
	pthread_mutex_lock(&pg->lock);
	for (;;) {
		if (atomic_load(&d->status) != DSM_PEER_CONNECTED) {
			resolve_offline(d, idx, wpf, write, tid);
			break;
		}
		if (wpf) {
			if (pg->state == ST_M) { /* another thread's fault already upgraded it */
				dsmi_pg_protect(d, idx, false);
				break;
			}
			if (!pg->present) { /* dropped meanwhile: retry becomes a MISSING fault */
				pg_wake(d, idx);
				break;
			}
			if (transact(d, idx, DSM_WANT_EXCL, DSM_FAULT_UPGRADE) == 0)
				break;
			continue;
		}
		if (pg->present) { /* resolved by an earlier event or a PUSH */
			atomic_fetch_add_explicit(&d->st_local, 1, memory_order_relaxed);
			pg_wake(d, idx);
			break;
		}
		if (pg->state != ST_I) {
			dsmi_fail_session(d, DSM_PEER_LOST, "internal: page %zu is %c but not mapped", idx,
					  (char)pg->state);
			continue;
		}
		if (transact(d, idx, write ? DSM_WANT_EXCL : DSM_WANT_SHARED,
			     write ? DSM_FAULT_WRITE : DSM_FAULT_READ) == 0)
			break;
	}
	pthread_mutex_unlock(&pg->lock);
}

void *dsmi_fault_main(void *arg)
{
	struct dsm *d = arg;
	struct pollfd pf[2] = {{.fd = d->uffd, .events = POLLIN}, {.fd = d->stop_efd, .events = POLLIN}};
	struct uffd_msg msgs[16];
	for (;;) {
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pf[1].revents)
			break;
		ssize_t n = read(d->uffd, msgs, sizeof msgs);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			dsmi_fail_session(d, DSM_PEER_LOST, "internal: reading userfaultfd: %s", strerror(errno));
			break;
		}
		for (size_t i = 0; i < (size_t)n / sizeof msgs[0]; i++) {
			if (msgs[i].event != UFFD_EVENT_PAGEFAULT)
				continue;
			handle_fault(d, (uintptr_t)msgs[i].arg.pagefault.address, msgs[i].arg.pagefault.flags,
				     d->have_tid ? msgs[i].arg.pagefault.feat.ptid : 0);
		}
	}
	return NULL;
}
