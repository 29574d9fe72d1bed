// SPDX-License-Identifier: GPL-2.0
/* dsm region setup: the first host maps the region and proposes it (MAP),
 * the second checks the proposal and maps the same range (MAP_OK).  Each
 * then registers it with userfaultfd, allocates the page state and starts
 * its fault and network threads. */
#define _GNU_SOURCE
#include "dsm_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/random.h>

/* Random default addresses come from this window: above the sanitizer
 * shadow, below the usual mmap base and sanitizer allocator regions. */
#define AUTO_ADDR_LO 0x200000000000ull
#define AUTO_ADDR_HI 0x500000000000ull
#define AUTO_ADDR_ALIGN (2ull << 20)

static int map_region(struct dsm *d, void *addr, bool fixed, char *err, size_t el)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | (fixed ? MAP_FIXED_NOREPLACE : 0);
	void *p = mmap(addr, d->size, PROT_READ | PROT_WRITE, flags, -1, 0);
	if (p == MAP_FAILED) {
		if (errno == EEXIST)
			snprintf(err, el, "cannot map %zu bytes at %p: the address range is already in use "
					  "(MAP_FIXED_NOREPLACE refused to replace an existing mapping)",
				 d->size, addr);
		else
			snprintf(err, el, "cannot map %zu bytes at %p: %s", d->size, addr, strerror(errno));
		return -1;
	}
	if (fixed && p != addr) { /* kernels before 4.17 treat the flag as a hint */
		munmap(p, d->size);
		snprintf(err, el, "cannot map at %p: kernel placed the region at %p instead "
				  "(MAP_FIXED_NOREPLACE unsupported?)", addr, p);
		return -1;
	}
	d->base = p;
	d->mapped = true;
	madvise(p, d->size, MADV_NOHUGEPAGE); /* 4 KiB pages are the coherence unit */
	return 0;
}

static int alloc_state(struct dsm *d, char *err, size_t el)
{
	d->pages = calloc(d->npages, sizeof *d->pages);
	d->rx_cap = d->page_size > DSM_HELLO_MAX ? d->page_size : DSM_HELLO_MAX;
	d->zero_page = aligned_alloc(d->page_size, d->page_size);
	d->rx_buf = aligned_alloc(d->page_size, d->rx_cap);
	d->serve_buf = aligned_alloc(d->page_size, d->page_size);
	d->sync_buf = aligned_alloc(d->page_size, d->page_size);
	d->stop_efd = eventfd(0, EFD_CLOEXEC);
	if (!d->pages || !d->zero_page || !d->rx_buf || !d->serve_buf || !d->sync_buf || d->stop_efd < 0) {
		snprintf(err, el, "out of memory");
		return -1;
	}
	memset(d->zero_page, 0, d->page_size);
	for (size_t i = 0; i < d->npages; i++) {
		pthread_mutex_init(&d->pages[i].lock, NULL);
		dsmi_init_monotonic_cond(&d->pages[i].done);
		/* Every page starts Invalid on both hosts; the first access
		 * asks the peer, which answers "zeros" while the page is fresh. */
		d->pages[i].state = ST_I;
		d->pages[i].fresh = true;
	}
	return 0;
}

static int start_threads(struct dsm *d, char *err, size_t el)
{
	sigset_t all, old;
	sigfillset(&all);
	/* Our threads take no signals; they belong to the application. */
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&d->fault_thr, NULL, dsmi_fault_main, d);
	if (rc == 0) {
		d->fault_started = true;
		rc = pthread_create(&d->net_thr, NULL, dsmi_net_main, d);
		if (rc == 0)
			d->net_started = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc)
		snprintf(err, el, "pthread_create: %s", strerror(rc));
	return rc ? -1 : 0;
}

void *dsmi_map_first(struct dsm *d, size_t npages, void *addr, char *err, size_t el)
{
	char why[200];
	int local = -1;
	if (npages == 0 || npages > DSM_MAX_PAGES) {
		snprintf(err, el, "number of pages must be between 1 and %u", DSM_MAX_PAGES);
		goto local_fail;
	}
	d->npages = npages;
	d->size = npages * d->page_size;
	if (addr) {
		if ((uintptr_t)addr % d->page_size) {
			snprintf(err, el, "address %p is not page aligned", addr);
			goto local_fail;
		}
		if (map_region(d, addr, true, err, el) < 0)
			goto local_fail;
	} else {
		/* A random address in a window that is normally empty in every
		 * process, so the peer can map it too. */
		uint64_t slots = (AUTO_ADDR_HI - AUTO_ADDR_LO - d->size) / AUTO_ADDR_ALIGN;
		for (int tries = 0;; tries++) {
			uint64_t r;
			if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
				r = now_ns() * 0x9e3779b97f4a7c15ull;
			void *a = (void *)(uintptr_t)(AUTO_ADDR_LO + (r % slots) * AUTO_ADDR_ALIGN);
			if (map_region(d, a, true, err, el) == 0)
				break;
			if (tries == 16)
				goto local_fail;
		}
	}
	if (dsmi_uffd_setup(d, err, el) < 0 || alloc_state(d, err, el) < 0)
		goto local_fail;
	local = 0;
	if (dsmi_do_pair(d, err, el) < 0)
		return NULL;

	struct dsm_hdr h;
	unsigned char map[DSM_MAP_LEN];
	dsm_put32(map, (uint32_t)d->page_size);
	dsm_put32(map + 4, 0);
	dsm_put64(map + 8, d->npages);
	dsm_put64(map + 16, (uintptr_t)d->base);
	if (dsmi_raw_send(d->sock, DSM_MSG_MAP, 0, 0, 0, map, sizeof map, d->opt.io_timeout_ms, why, sizeof why) < 0 ||
	    dsmi_raw_recv(d->sock, &h, d->rx_buf, d->rx_cap, deadline_after_ms(d->opt.request_timeout_ms),
			  d->opt.io_timeout_ms, why, sizeof why) < 0) {
		snprintf(err, el, "handshake: %s", why);
		return NULL;
	}
	if (h.type == DSM_MSG_ERROR && h.payload_len >= 4) {
		char txt[DSM_ERROR_MAX];
		dsmi_sanitize(txt, sizeof txt, d->rx_buf + 4, h.payload_len - 4);
		snprintf(err, el, "peer could not join: %s", txt);
		return NULL;
	}
	if (h.type != DSM_MSG_MAP_OK || h.payload_len) {
		snprintf(err, el, "handshake: expected MAP_OK, got message type %u (%u bytes)", h.type,
			 h.payload_len);
		dsmi_send_error_msg(d->sock, DSM_ERR_PROTOCOL, "expected MAP_OK");
		return NULL;
	}
	if (start_threads(d, err, el) < 0)
		return NULL;
	return d->base;
local_fail:
	/* A peer already paired waits for the region: tell it why there is none. */
	if (local < 0 && d->paired)
		dsmi_send_error_msg(d->sock, DSM_ERR_MAP, err);
	return NULL;
}

/* Lowest address a peer may propose: vm.mmap_min_addr, and never below
 * 64 KiB (the kernel's default) even where the sysctl is lower, so that a
 * null-pointer bug cannot land in shared memory. */
static uint64_t lowest_addr(void)
{
	unsigned long long v = 0;
	FILE *f = fopen("/proc/sys/vm/mmap_min_addr", "re");
	if (f) {
		if (fscanf(f, "%llu", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v > 65536 ? v : 65536;
}

/* Checks the region the first proposes; a hostile or broken first must not
 * make us map at a null-ish or non-user address.  msg is empty if usable. */
static void check_map(struct dsm *d, uint32_t ps, uint64_t np, uint64_t addr, char *msg, size_t ml)
{
	/* 47-bit user space: what mmap hands out without a hint on x86_64 and arm64. */
	const uint64_t user_end = (1ull << 47) - ps;
	uint64_t lo = lowest_addr();
	msg[0] = '\0';
	if (ps != d->page_size)
		snprintf(msg, ml, "page size mismatch: peer uses %u bytes, this host %zu", ps, d->page_size);
	else if (np == 0 || np > DSM_MAX_PAGES)
		snprintf(msg, ml, "peer proposed %llu pages; allowed: 1..%u", (unsigned long long)np,
			 DSM_MAX_PAGES);
	else if (addr % ps)
		snprintf(msg, ml, "unusable address 0x%llx for %llu pages proposed by the first instance: "
			 "not page aligned", (unsigned long long)addr, (unsigned long long)np);
	else if (addr < lo)
		snprintf(msg, ml, "unusable address 0x%llx for %llu pages proposed by the first instance: "
			 "below 0x%llx (vm.mmap_min_addr, at least 64 KiB)", (unsigned long long)addr,
			 (unsigned long long)np,
			 (unsigned long long)lo);
	else if (addr > user_end || np * ps > user_end - addr)
		snprintf(msg, ml, "unusable address 0x%llx for %llu pages proposed by the first instance: "
			 "outside the user address range (0x%llx..0x%llx)", (unsigned long long)addr,
			 (unsigned long long)np, (unsigned long long)lo, (unsigned long long)user_end);
}

void *dsmi_map_second(struct dsm *d, char *err, size_t el)
{
	char why[200];
	if (dsmi_do_pair(d, err, el) < 0)
		return NULL;
	/* The first instance sends the region once its user has chosen the size. */
	struct dsm_hdr h;
	unsigned char buf[DSM_HELLO_MAX];
	if (dsmi_raw_recv(d->sock, &h, buf, sizeof buf, deadline_after_ms(d->opt.accept_timeout_ms),
			  d->opt.io_timeout_ms, why, sizeof why) < 0) {
		snprintf(err, el, "handshake: %s", why);
		return NULL;
	}
	if (h.type == DSM_MSG_ERROR && h.payload_len >= 4) {
		char txt[DSM_ERROR_MAX];
		dsmi_sanitize(txt, sizeof txt, buf + 4, h.payload_len - 4);
		snprintf(err, el, "the first instance could not map the region: %s", txt);
		return NULL;
	}
	if (h.type != DSM_MSG_MAP || h.payload_len != DSM_MAP_LEN) {
		snprintf(err, el, "handshake: expected MAP, got message type %u (%u bytes)", h.type,
			 h.payload_len);
		dsmi_send_error_msg(d->sock, DSM_ERR_PROTOCOL, "expected MAP");
		return NULL;
	}
	uint32_t ps = dsm_get32(buf);
	uint64_t np = dsm_get64(buf + 8), addr = dsm_get64(buf + 16);
	char msg[300];
	check_map(d, ps, np, addr, msg, sizeof msg);
	if (!msg[0]) {
		d->npages = (size_t)np;
		d->size = (size_t)np * ps;
		if (map_region(d, (void *)(uintptr_t)addr, true, msg, sizeof msg) == 0 &&
		    (dsmi_uffd_setup(d, msg, sizeof msg) < 0 || alloc_state(d, msg, sizeof msg) < 0 ||
		     start_threads(d, msg, sizeof msg) < 0) && !msg[0])
			snprintf(msg, sizeof msg, "setup failed");
	}
	if (msg[0]) {
		snprintf(err, el, "%s", msg);
		dsmi_send_error_msg(d->sock, DSM_ERR_MAP, msg);
		return NULL;
	}
	if (dsmi_raw_send(d->sock, DSM_MSG_MAP_OK, 0, 0, 0, NULL, 0, d->opt.io_timeout_ms, why, sizeof why) < 0) {
		snprintf(err, el, "handshake: %s", why);
		return NULL;
	}
	return d->base;
}
