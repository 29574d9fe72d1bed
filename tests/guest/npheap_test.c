/*
 * npheap_test - NP-Heap contract tests (shared/spec/npheap.md + params.md),
 * built like a course program against the installed shim.
 *
 *   npheap_test semantics DEV          all single-load semantic tests
 *   npheap_test bound DEV LIMIT        memory bound (module loaded with
 *                                      npheap_max_bytes=LIMIT, nothing mapped)
 *   npheap_test independent DEV1 DEV2  two heap minors do not share anything
 *   npheap_test open-as UID DEV        prints the errno name of open(O_RDWR) as UID
 *   npheap_test fill DEV ID SIZE BYTE  create object ID, fill it with BYTE
 *   npheap_test check-fill DEV ID SIZE BYTE  object ID is SIZE bytes of BYTE
 *   npheap_test getsize DEV ID         prints the object's size
 *   npheap_test check-zero DEV ID SIZE maps SIZE bytes of ID: all zero
 *   npheap_test hold-open DEV          opens DEV, prints "ready", sleeps
 *   npheap_test hold-map DEV ID        maps ID, closes the fd, prints "ready", sleeps
 *
 * Test modes print one `ok npheap/<name>` or `not ok npheap/<name> - why`
 * line per test and exit 1 if any failed.  Every test runs in its own process
 * group with a deadline, so a hung or crashing test is reported, not fatal.
 */
#define _GNU_SOURCE
#include <npheap.h>
#include <npheap/npheap.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SUITE "npheap"
/* Per test; generous because the debug kernel (KASAN, lockdep) under TCG is slow. */
#define TEST_DEADLINE_MS 180000
/* How long a process must stay blocked before we call it blocked (TCG is slow). */
#define BLOCKED_MS 400
/* Deadline for an event that must happen (a helper's step, a woken waiter). */
#define WAIT_MS 60000

#include "npheap_util.h"

static const char *dev_path;

static int open_heap_path(const char *path)
{
	int fd = open(path, O_RDWR);

	if (fd < 0)
		fail("open %s: %s", path, strerror(errno));
	return fd;
}

static int open_heap(void)
{
	return open_heap_path(dev_path);
}

static void *map_id(int fd, __u64 id, size_t len)
{
	return mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)(id * page));
}

/* Raw ioctl with every ignored field set to garbage the driver must not use. */
static int raw_ioctl(int fd, unsigned long req, __u64 offset)
{
	struct npheap_cmd cmd = {
		.op = 0xdeadbeefcafef00dULL,
		.offset = offset,
		.size = ~0ULL,
		.data = (void *)8,
	};

	return ioctl(fd, req, &cmd);
}

static bool all_bytes(const unsigned char *p, size_t len, unsigned char value)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != value)
			return false;
	return true;
}

/* ---- inter-process handshakes: one byte over a pipe, with a deadline ---- */

struct channel {
	int rd, wr;
};

static void channel_open(struct channel *c)
{
	int fds[2];

	if (pipe(fds) != 0) {
		fail("pipe: %s", strerror(errno));
		_exit(1);
	}
	c->rd = fds[0];
	c->wr = fds[1];
}

static void channel_send(struct channel *c, char byte)
{
	if (write(c->wr, &byte, 1) != 1) {
		fail("pipe write: %s", strerror(errno));
		_exit(1);
	}
}

/* Returns the byte, or -1 when nothing arrived within timeout_ms. */
static int channel_recv(struct channel *c, int timeout_ms)
{
	struct pollfd pfd = { .fd = c->rd, .events = POLLIN };
	char byte;

	if (poll(&pfd, 1, timeout_ms) <= 0 || read(c->rd, &byte, 1) != 1)
		return -1;
	return (unsigned char)byte;
}

/* ======================= object data semantics ======================= */

static int t_getsize_unknown_id_zero(void)
{
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	long size = npheap_getsize(fd, id_base + 7);
	CHECK(size == 0, "getsize of a never-created id = %ld (errno %s), want 0", size,
	      strerror(errno));
	return 0;
}

static int t_mmap_creates_zero_filled(void)
{
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	size_t len = 5 * page;
	unsigned char *p = map_id(fd, id_base, len);
	CHECK(p != MAP_FAILED, "mmap of a new id: %s", strerror(errno));
	CHECK(all_bytes(p, len, 0), "a new object is not zero-filled");
	/* The library call must behave the same. */
	unsigned char *q = npheap_alloc(fd, id_base + 1, 3 * page + 1);
	CHECK(q != MAP_FAILED, "npheap_alloc of a new id: %s", strerror(errno));
	CHECK(all_bytes(q, 4 * page, 0), "an object made by npheap_alloc is not zero-filled");
	return 0;
}

static int t_getsize_page_rounded(void)
{
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	static const size_t asked[] = { 1, 100, 4096, 4097, 3 * 4096 + 17 };
	for (size_t i = 0; i < sizeof(asked) / sizeof(asked[0]); i++) {
		size_t want = (asked[i] + page - 1) / page * page;
		void *p = npheap_alloc(fd, id_base + i, asked[i]);

		CHECK(p != MAP_FAILED, "npheap_alloc(%zu): %s", asked[i], strerror(errno));
		long size = npheap_getsize(fd, id_base + i);
		CHECK(size == (long)want, "object made with %zu bytes: getsize %ld, want %zu",
		      asked[i], size, want);
	}
	return 0;
}

static int t_same_memory_two_mappings(void)
{
	int fd = open_heap(), fd2 = open_heap();
	CHECK(fd >= 0 && fd2 >= 0, "open");
	char *a = map_id(fd, id_base, 2 * page);
	char *b = map_id(fd2, id_base, 2 * page);
	CHECK(a != MAP_FAILED && b != MAP_FAILED, "mmap: %s", strerror(errno));
	CHECK(a != b, "two mmaps returned one address");
	strcpy(a + page + 10, "through mapping a");
	CHECK(strcmp(b + page + 10, "through mapping a") == 0,
	      "write through one mapping not visible through the other");
	b[0] = 'x';
	CHECK(a[0] == 'x', "write through the second mapping not visible through the first");
	return 0;
}

static int t_same_memory_two_processes(void)
{
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	volatile char *mine = map_id(fd, id_base, page);
	CHECK(mine != MAP_FAILED, "mmap: %s", strerror(errno));
	struct channel done;
	channel_open(&done);

	pid_t pid = fork();
	if (pid == 0) {
		/* An unrelated process: its own open, its own mapping. */
		int cfd = open_heap();
		CHILD_CHECK(cfd >= 0, "child open");
		char *theirs = map_id(cfd, id_base, page);
		CHILD_CHECK(theirs != MAP_FAILED, "child mmap: %s", strerror(errno));
		strcpy(theirs + 100, "written by the child");
		channel_send(&done, 'w');
		_exit(0);
	}
	CHECK(channel_recv(&done, TEST_DEADLINE_MS / 2) == 'w', "child did not write");
	CHECK(strcmp((const char *)mine + 100, "written by the child") == 0,
	      "the parent's existing mapping does not show the child's write");
	CHECK(reap(pid, 5000) == 0, "child failed");
	return 0;
}

static int t_persistence_across_close(void)
{
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	char *p = map_id(fd, id_base, page);
	CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
	strcpy(p, "kept after munmap and close");
	CHECK(munmap(p, page) == 0 && close(fd) == 0, "munmap/close");
	fd = open_heap();
	CHECK(fd >= 0, "reopen");
	CHECK(npheap_getsize(fd, id_base) == (long)page, "getsize after reopen is not one page");
	p = map_id(fd, id_base, page);
	CHECK(p != MAP_FAILED, "mmap after reopen: %s", strerror(errno));
	CHECK(strcmp(p, "kept after munmap and close") == 0, "data lost after munmap+close");
	return 0;
}

static int t_persistence_across_process_exit(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open_heap();
		CHILD_CHECK(fd >= 0, "child open");
		char *p = map_id(fd, id_base, 3 * page);
		CHILD_CHECK(p != MAP_FAILED, "child mmap: %s", strerror(errno));
		memset(p, 0x5a, 3 * page);
		strcpy(p + page, "left by a process that exited");
		_exit(0);	/* no munmap, no close: exit does both */
	}
	CHECK(reap(pid, WAIT_MS) == 0, "writer process failed");
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	CHECK(npheap_getsize(fd, id_base) == (long)(3 * page), "getsize after the writer exited");
	unsigned char *p = map_id(fd, id_base, 3 * page);
	CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
	CHECK(strcmp((char *)p + page, "left by a process that exited") == 0 &&
	      all_bytes(p, page, 0x5a) && all_bytes(p + 2 * page, page, 0x5a),
	      "a later process does not read what an exited one wrote");
	return 0;
}

static int t_larger_mmap_grows_with_zero_pages(void)
{
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	unsigned char *small = map_id(fd, id_base, page);
	CHECK(small != MAP_FAILED, "mmap 1 page: %s", strerror(errno));
	memset(small, 0xa5, page);
	unsigned char *big = map_id(fd, id_base, 4 * page);
	CHECK(big != MAP_FAILED, "mmap 4 pages of a 1-page object: %s", strerror(errno));
	CHECK(all_bytes(big, page, 0xa5), "the grown object lost its first page");
	CHECK(all_bytes(big + page, 3 * page, 0), "the added pages are not zero");
	long size = npheap_getsize(fd, id_base);
	CHECK(size == (long)(4 * page), "getsize after growing = %ld, want %zu", size, 4 * page);
	return 0;
}

static int t_larger_mmap_old_mapping_still_valid(void)
{
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	char *small = map_id(fd, id_base, 2 * page);
	CHECK(small != MAP_FAILED, "mmap: %s", strerror(errno));
	strcpy(small, "before growth");
	char *big = map_id(fd, id_base, 6 * page);
	CHECK(big != MAP_FAILED, "mmap larger: %s", strerror(errno));
	strcpy(small + page, "old mapping after growth");
	CHECK(strcmp(big + page, "old mapping after growth") == 0,
	      "write through the old mapping is not seen through the new one");
	strcpy(big, "new mapping");
	CHECK(strcmp(small, "new mapping") == 0,
	      "the old mapping no longer shows the object's first pages");
	strcpy(big + 5 * page, "in the added pages");
	/* Another process sees the grown object too. */
	pid_t pid = fork();
	if (pid == 0) {
		int cfd = open_heap();
		CHILD_CHECK(cfd >= 0, "open");
		char *p = map_id(cfd, id_base, 6 * page);
		CHILD_CHECK(p != MAP_FAILED, "child mmap");
		CHILD_CHECK(strcmp(p + 5 * page, "in the added pages") == 0 &&
			    strcmp(p, "new mapping") == 0, "another process sees other data");
		_exit(0);
	}
	CHECK(reap(pid, WAIT_MS) == 0, "child check failed");
	return 0;
}

static int t_smaller_mmap_maps_prefix(void)
{
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	unsigned char *whole = map_id(fd, id_base, 4 * page);
	CHECK(whole != MAP_FAILED, "mmap: %s", strerror(errno));
	for (size_t i = 0; i < 4; i++)
		memset(whole + i * page, 0x10 + (int)i, page);
	unsigned char *prefix = map_id(fd, id_base, 2 * page);
	CHECK(prefix != MAP_FAILED, "smaller mmap: %s", strerror(errno));
	CHECK(all_bytes(prefix, page, 0x10) && all_bytes(prefix + page, page, 0x11),
	      "a smaller mapping does not show the object's first pages");
	long size = npheap_getsize(fd, id_base);
	CHECK(size == (long)(4 * page), "a smaller mmap changed the size to %ld", size);
	CHECK(munmap(whole, 4 * page) == 0, "munmap");
	CHECK(all_bytes(prefix + page, page, 0x11), "prefix mapping changed after munmap");
	return 0;
}

static int t_map_private_einval(void)
{
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	errno = 0;
	void *p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, (off_t)(id_base * page));
	CHECK(p == MAP_FAILED && errno == EINVAL, "MAP_PRIVATE mmap: %s, want EINVAL",
	      p == MAP_FAILED ? strerror(errno) : "succeeded");
	CHECK(npheap_getsize(fd, id_base) == 0, "a refused MAP_PRIVATE mmap created the object");
	p = mmap(NULL, page, PROT_READ, MAP_PRIVATE, fd, (off_t)(id_base * page));
	CHECK(p == MAP_FAILED && errno == EINVAL, "read-only MAP_PRIVATE mmap: %s, want EINVAL",
	      p == MAP_FAILED ? strerror(errno) : "succeeded");
	return 0;
}

static int t_mremap_beyond_object_refused_or_sigbus(void)
{
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	char *p = map_id(fd, id_base, page);
	CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
	/* Either the driver refuses to stretch its vma, or the stretch must fault. */
	char *grown = mremap(p, page, 3 * page, MREMAP_MAYMOVE);
	if (grown == MAP_FAILED) {
		CHECK(strcmp(p, "") == 0 && (p[0] = 'k') == 'k', "the refused mremap broke the mapping");
		return 0;
	}
	pid_t pid = fork();
	if (pid == 0) {
		grown[2 * page] = 1;	/* beyond the 1-page object */
		_exit(0);
	}
	int rc = reap(pid, WAIT_MS);
	CHECK(rc == 128 + SIGBUS, "touching past the object after mremap: %s %d, want SIGBUS",
	      rc > 128 ? "signal" : "exit", rc > 128 ? rc - 128 : rc);
	CHECK(npheap_getsize(fd, id_base) == (long)page, "the stray touch changed the object size");
	return 0;
}

static int t_ioctl_ignores_op_size_data(void)
{
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	CHECK(map_id(fd, id_base, 2 * page) != MAP_FAILED, "mmap");
	long size = raw_ioctl(fd, NPHEAP_IOCTL_GETSIZE, id_base * page);
	CHECK(size == (long)(2 * page), "GETSIZE with garbage op/size/data = %ld (%s)", size,
	      strerror(errno));
	CHECK(raw_ioctl(fd, NPHEAP_IOCTL_LOCK, id_base * page) == 0, "LOCK with garbage fields: %s",
	      strerror(errno));
	CHECK(raw_ioctl(fd, NPHEAP_IOCTL_DELETE, id_base * page) == 0,
	      "DELETE with garbage fields: %s", strerror(errno));
	CHECK(raw_ioctl(fd, NPHEAP_IOCTL_UNLOCK, id_base * page) == 0,
	      "UNLOCK with garbage fields: %s", strerror(errno));
	CHECK(npheap_getsize(fd, id_base) == 0, "DELETE with garbage fields did not delete");
	return 0;
}

static int t_ioctl_id_is_offset_page(void)
{
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	CHECK(map_id(fd, id_base + 1, 3 * page) != MAP_FAILED, "mmap");
	/* Bytes within the page do not change the id. */
	long size = raw_ioctl(fd, NPHEAP_IOCTL_GETSIZE, (id_base + 1) * page + page - 1);
	CHECK(size == (long)(3 * page), "GETSIZE at offset id*page+page-1 = %ld, want %zu",
	      size, 3 * page);
	size = raw_ioctl(fd, NPHEAP_IOCTL_GETSIZE, (id_base + 2) * page);
	CHECK(size == 0, "GETSIZE of the next id = %ld, want 0", size);
	return 0;
}

static int t_large_id(void)
{
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	const __u64 big_id = (1ULL << 32) + id_base;
	char *p = npheap_alloc(fd, big_id, page);
	CHECK(p != MAP_FAILED, "alloc of id 2^32+%llu: %s", (unsigned long long)id_base,
	      strerror(errno));
	strcpy(p, "big id");
	CHECK(npheap_getsize(fd, big_id) == (long)page, "getsize of the big id");
	CHECK(npheap_getsize(fd, id_base) == 0, "the big id aliases id %llu (truncated?)",
	      (unsigned long long)id_base);
	CHECK(npheap_lock(fd, big_id) == 0 && npheap_unlock(fd, big_id) == 0,
	      "lock/unlock of the big id: %s", strerror(errno));
	return 0;
}

static int t_many_objects(void)
{
	enum { COUNT = 1024 };
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	for (unsigned int i = 0; i < COUNT; i++) {
		size_t len = (1 + i % 3) * page;
		unsigned int *p = map_id(fd, id_base + i, len);

		CHECK(p != MAP_FAILED, "mmap object %u: %s", i, strerror(errno));
		p[0] = i * 2654435761u;
		p[len / sizeof(*p) - 1] = ~i;
		CHECK(munmap(p, len) == 0, "munmap");
	}
	for (unsigned int i = 0; i < COUNT; i++) {
		size_t len = (1 + i % 3) * page;
		CHECK(npheap_getsize(fd, id_base + i) == (long)len, "object %u size", i);
		unsigned int *p = map_id(fd, id_base + i, len);
		CHECK(p != MAP_FAILED, "remap object %u", i);
		CHECK(p[0] == i * 2654435761u && p[len / sizeof(*p) - 1] == ~i,
		      "object %u holds another object's data", i);
		CHECK(munmap(p, len) == 0, "munmap");
	}
	for (unsigned int i = 0; i < COUNT; i++)
		CHECK(npheap_delete(fd, id_base + i) == 0, "delete %u: %s", i, strerror(errno));
	for (unsigned int i = 0; i < COUNT; i++)
		CHECK(npheap_getsize(fd, id_base + i) == 0, "object %u survived delete", i);
	return 0;
}

static int t_concurrent_create_same_id(void)
{
	enum { PROCS = 6 };
	pid_t pids[PROCS];
	struct channel go;
	channel_open(&go);

	for (int i = 0; i < PROCS; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			int fd = open_heap();
			CHILD_CHECK(fd >= 0, "open");
			CHILD_CHECK(channel_recv(&go, WAIT_MS) == 'g', "no start signal");
			/* Everyone races to create the same id with a different size. */
			size_t len = (size_t)(i + 1) * page;
			uint32_t *p = map_id(fd, id_base, len);
			CHILD_CHECK(p != MAP_FAILED, "racing mmap: %s", strerror(errno));
			p[i] = 0x1000u + (uint32_t)i;
			p[len / 4 - 1] = 0x2000u + (uint32_t)i;
			_exit(0);
		}
	}
	for (int i = 0; i < PROCS; i++)
		channel_send(&go, 'g');
	for (int i = 0; i < PROCS; i++)
		CHECK(reap(pids[i], WAIT_MS) == 0, "racing process %d failed", i);

	int fd = open_heap();
	CHECK(fd >= 0, "open");
	long size = npheap_getsize(fd, id_base);
	CHECK(size == (long)(PROCS * page), "after racing creates getsize = %ld, want %zu", size,
	      PROCS * page);
	uint32_t *p = map_id(fd, id_base, PROCS * page);
	CHECK(p != MAP_FAILED, "mmap");
	for (int i = 0; i < PROCS; i++) {
		size_t last = (size_t)(i + 1) * page / 4 - 1;
		CHECK(p[i] == 0x1000u + (uint32_t)i, "process %d's write is lost", i);
		CHECK(p[last] == 0x2000u + (uint32_t)i, "process %d's last-word write is lost", i);
	}
	return 0;
}

/* ============================ delete ============================ */

static int t_delete_never_created_id(void)
{
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	CHECK(npheap_delete(fd, id_base + 3) == 0, "delete of a never-created id: %s",
	      strerror(errno));
	CHECK(npheap_getsize(fd, id_base + 3) == 0, "getsize after that delete");
	return 0;
}

static int t_getsize_zero_after_delete(void)
{
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	char *p = map_id(fd, id_base, 2 * page);
	CHECK(p != MAP_FAILED, "mmap");
	CHECK(munmap(p, 2 * page) == 0, "munmap");
	CHECK(npheap_lock(fd, id_base) == 0, "lock");
	CHECK(npheap_delete(fd, id_base) == 0, "delete: %s", strerror(errno));
	CHECK(npheap_getsize(fd, id_base) == 0, "getsize after delete is not 0");
	CHECK(npheap_unlock(fd, id_base) == 0, "unlock after delete: %s", strerror(errno));
	CHECK(npheap_delete(fd, id_base) == 0, "second delete: %s", strerror(errno));
	return 0;
}

static int t_delete_then_fresh_zeroed_object(void)
{
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	unsigned char *p = map_id(fd, id_base, 3 * page);
	CHECK(p != MAP_FAILED, "mmap");
	memset(p, 0xee, 3 * page);
	CHECK(munmap(p, 3 * page) == 0, "munmap");
	CHECK(npheap_delete(fd, id_base) == 0, "delete");
	p = map_id(fd, id_base, page);
	CHECK(p != MAP_FAILED, "mmap after delete: %s", strerror(errno));
	CHECK(all_bytes(p, page, 0), "the object made after delete shows old data");
	long size = npheap_getsize(fd, id_base);
	CHECK(size == (long)page, "new object's size %ld, want one page (the old size was 3)", size);
	return 0;
}

static int t_delete_while_mapped_keeps_old_mapping(void)
{
	struct channel mapped, deleted, checked;
	channel_open(&mapped);
	channel_open(&deleted);
	channel_open(&checked);

	pid_t pid = fork();
	if (pid == 0) {
		int fd = open_heap();
		CHILD_CHECK(fd >= 0, "open");
		unsigned char *old = map_id(fd, id_base, 2 * page);
		CHILD_CHECK(old != MAP_FAILED, "mmap");
		memset(old, 0x77, 2 * page);
		channel_send(&mapped, 'm');
		CHILD_CHECK(channel_recv(&deleted, WAIT_MS) == 'd', "no delete signal");
		CHILD_CHECK(all_bytes(old, 2 * page, 0x77),
			    "a mapping of a deleted object lost its data");
		/* Still writable memory, private to the holders of the old mapping now. */
		memset(old, 0x88, 2 * page);
		CHILD_CHECK(all_bytes(old, 2 * page, 0x88),
			    "a mapping of a deleted object is not writable");
		channel_send(&checked, 'c');
		CHILD_CHECK(channel_recv(&deleted, WAIT_MS) == 'n', "no second signal");
		/* The parent wrote 0x99 into the new object: the old pages must not see it. */
		CHILD_CHECK(all_bytes(old, 2 * page, 0x88),
			    "the old mapping shows the new object's data");
		_exit(0);
	}
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	CHECK(channel_recv(&mapped, WAIT_MS) == 'm', "child did not map");
	CHECK(npheap_lock(fd, id_base) == 0 && npheap_delete(fd, id_base) == 0 &&
	      npheap_unlock(fd, id_base) == 0, "lock/delete/unlock: %s", strerror(errno));
	CHECK(npheap_getsize(fd, id_base) == 0, "getsize after delete while mapped");
	channel_send(&deleted, 'd');
	CHECK(channel_recv(&checked, WAIT_MS) == 'c', "child check of the old mapping failed");
	unsigned char *fresh = map_id(fd, id_base, page);
	CHECK(fresh != MAP_FAILED, "mmap after delete: %s", strerror(errno));
	CHECK(all_bytes(fresh, page, 0), "new object after delete is not zero "
	      "(shows the deleted object's pages)");
	memset(fresh, 0x99, page);
	channel_send(&deleted, 'n');
	CHECK(reap(pid, WAIT_MS) == 0, "child failed");
	CHECK(all_bytes(fresh, page, 0x99), "the new object changed when the old mapping went away");
	return 0;
}

/* ============================ locks ============================ */

static int t_lock_id_without_object(void)
{
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	CHECK(npheap_lock(fd, id_base) == 0, "lock of an id with no object: %s", strerror(errno));
	CHECK(npheap_getsize(fd, id_base) == 0, "locking created an object");
	CHECK(npheap_unlock(fd, id_base) == 0, "unlock: %s", strerror(errno));
	return 0;
}

static int t_lock_relock_edeadlk(void)
{
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	CHECK(npheap_lock(fd, id_base) == 0, "lock: %s", strerror(errno));
	errno = 0;
	int rc = npheap_lock(fd, id_base);
	CHECK(rc == -1 && errno == EDEADLK, "relock by the owner: rc %d %s, want EDEADLK", rc,
	      strerror(errno));
	/* Through another fd of the same process it is still the same owner. */
	int fd2 = open_heap();
	CHECK(fd2 >= 0, "open");
	rc = npheap_lock(fd2, id_base);
	CHECK(rc == -1 && errno == EDEADLK, "relock through a second fd: rc %d %s, want EDEADLK",
	      rc, strerror(errno));
	CHECK(npheap_unlock(fd, id_base) == 0, "unlock after EDEADLK: %s", strerror(errno));
	CHECK(npheap_lock(fd, id_base) == 0 && npheap_unlock(fd, id_base) == 0,
	      "lock/unlock cycle after EDEADLK");
	return 0;
}

static int t_unlock_unheld_eperm(void)
{
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	errno = 0;
	int rc = npheap_unlock(fd, id_base);
	CHECK(rc == -1 && errno == EPERM, "unlock of a never-locked id: rc %d %s, want EPERM", rc,
	      strerror(errno));
	CHECK(npheap_lock(fd, id_base + 1) == 0 && npheap_unlock(fd, id_base + 1) == 0,
	      "lock/unlock");
	rc = npheap_unlock(fd, id_base + 1);
	CHECK(rc == -1 && errno == EPERM, "second unlock: rc %d %s, want EPERM", rc,
	      strerror(errno));
	return 0;
}

/*
 * Child that locks `id` and reports: 'L' once the lock call returned 0,
 * 'E' + errno byte on failure.  Returns its pid.
 */
static pid_t spawn_locker(int inherited_fd, __u64 id, struct channel *report,
			  volatile uint64_t *acquired_at)
{
	pid_t pid = fork();
	if (pid == 0) {
		int fd = inherited_fd >= 0 ? inherited_fd : open_heap();
		CHILD_CHECK(fd >= 0, "locker open");
		int rc = npheap_lock(fd, id);
		if (acquired_at)
			*acquired_at = now_us();
		if (rc != 0) {
			channel_send(report, 'E');
			channel_send(report, (char)errno);
			_exit(1);
		}
		channel_send(report, 'L');
		/* Hold the lock until told; exit releases it. */
		sleep_ms(TEST_DEADLINE_MS);
		_exit(0);
	}
	return pid;
}

static int lock_blocks_until_unlock(bool share_fd)
{
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	volatile uint64_t *when = shared_page();
	struct channel report;
	channel_open(&report);

	CHECK(npheap_lock(fd, id_base) == 0, "lock: %s", strerror(errno));
	uint64_t t0 = now_us();
	pid_t pid = spawn_locker(share_fd ? fd : -1, id_base, &report, &when[0]);
	/* Hold the lock across other system calls while the other process waits. */
	char *p = map_id(fd, id_base, page);
	CHECK(p != MAP_FAILED, "mmap while holding the lock");
	strcpy(p, "written under the lock");
	CHECK(npheap_getsize(fd, id_base) == (long)page, "getsize while holding");
	int early = channel_recv(&report, 2 * BLOCKED_MS);
	CHECK(early == -1, "the other process got '%c' while the lock was held", early);
	uint64_t unlocked_at = now_us();
	CHECK(npheap_unlock(fd, id_base) == 0, "unlock: %s", strerror(errno));
	int got = channel_recv(&report, WAIT_MS);
	CHECK(got == 'L', "the waiter did not get the lock after unlock (got %d)", got);
	CHECK(when[0] >= unlocked_at, "the waiter's lock returned %lld us before the unlock",
	      (long long)(unlocked_at - when[0]));
	CHECK(when[0] - t0 >= (uint64_t)BLOCKED_MS * 1000,
	      "the waiter waited only %llu ms", (unsigned long long)(when[0] - t0) / 1000);
	kill(pid, SIGKILL);
	reap(pid, 5000);
	return 0;
}

static int t_lock_blocks_other_process_until_unlock(void)
{
	return lock_blocks_until_unlock(false);
}

static int t_lock_blocks_with_shared_fd(void)
{
	return lock_blocks_until_unlock(true);
}

static volatile sig_atomic_t alarm_count;

static void on_alarm(int sig)
{
	(void)sig;
	alarm_count++;
}

static int t_lock_waiter_eintr(void)
{
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	CHECK(npheap_lock(fd, id_base) == 0, "lock");
	volatile uint64_t *info = shared_page();

	pid_t pid = fork();
	if (pid == 0) {
		int cfd = open_heap();
		CHILD_CHECK(cfd >= 0, "open");
		struct sigaction sa = { .sa_handler = on_alarm };	/* no SA_RESTART */
		sigemptyset(&sa.sa_mask);
		sigaction(SIGALRM, &sa, NULL);
		struct itimerval it = { .it_value = { .tv_sec = 0, .tv_usec = 500000 } };
		setitimer(ITIMER_REAL, &it, NULL);
		uint64_t t0 = now_ms();
		errno = 0;
		int rc = npheap_lock(cfd, id_base);
		int err = errno;
		info[1] = now_ms() - t0;
		CHILD_CHECK(rc == -1 && err == EINTR,
			    "a signalled waiter: rc %d %s, want EINTR", rc, strerror(err));
		CHILD_CHECK(alarm_count == 1, "the handler ran %d times", (int)alarm_count);
		/* It must not have taken the lock on the way out. */
		rc = npheap_unlock(cfd, id_base);
		CHILD_CHECK(rc == -1 && errno == EPERM,
			    "unlock after EINTR: rc %d %s, want EPERM", rc, strerror(errno));
		_exit(0);
	}
	int rc = reap(pid, WAIT_MS);
	CHECK(rc != -1, "the waiter was still blocked 60 s after SIGALRM: the signal did not "
	      "interrupt the lock");
	CHECK(rc == 0, "waiter process: exit %d", rc);
	CHECK(info[1] >= 400, "lock returned after %llu ms, before the signal",
	      (unsigned long long)info[1]);
	CHECK(npheap_unlock(fd, id_base) == 0, "the holder lost the lock: %s", strerror(errno));
	return 0;
}

static int t_unlock_foreign_process_eperm(void)
{
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	CHECK(npheap_lock(fd, id_base) == 0, "lock");
	pid_t pid = fork();
	if (pid == 0) {
		/* Both through the inherited fd and through its own. */
		int own = open_heap();
		CHILD_CHECK(own >= 0, "open");
		int rc = npheap_unlock(fd, id_base);
		CHILD_CHECK(rc == -1 && errno == EPERM,
			    "unlock of another process's lock (shared fd): rc %d %s, want EPERM",
			    rc, strerror(errno));
		rc = npheap_unlock(own, id_base);
		CHILD_CHECK(rc == -1 && errno == EPERM,
			    "unlock of another process's lock (own fd): rc %d %s, want EPERM",
			    rc, strerror(errno));
		_exit(0);
	}
	CHECK(reap(pid, WAIT_MS) == 0, "child failed");
	/* The foreign unlock attempts left the lock held: a new waiter still blocks. */
	struct channel report;
	channel_open(&report);
	pid_t waiter = spawn_locker(-1, id_base, &report, NULL);
	int early = channel_recv(&report, BLOCKED_MS);
	CHECK(early == -1, "lock was free after a foreign unlock attempt (got '%c')", early);
	CHECK(npheap_unlock(fd, id_base) == 0, "owner unlock: %s", strerror(errno));
	CHECK(channel_recv(&report, WAIT_MS) == 'L', "waiter did not get the lock");
	kill(waiter, SIGKILL);
	reap(waiter, 5000);
	return 0;
}

struct thread_arg {
	int fd;
	__u64 id;
	int rc, err;
	atomic_int done;
	unsigned int rounds;
	volatile uint64_t *counter;
};

static void *thread_unlock(void *p)
{
	struct thread_arg *a = p;

	a->rc = npheap_unlock(a->fd, a->id);
	a->err = errno;
	a->done = 1;
	return NULL;
}

static void *thread_lock(void *p)
{
	struct thread_arg *a = p;

	a->rc = npheap_lock(a->fd, a->id);
	a->err = errno;
	a->done = 1;
	return NULL;
}

static int t_lock_owner_is_thread(void)
{
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	CHECK(npheap_lock(fd, id_base) == 0, "lock");
	pthread_t t;
	struct thread_arg a = { .fd = fd, .id = id_base };
	CHECK(pthread_create(&t, NULL, thread_unlock, &a) == 0, "pthread_create");
	pthread_join(t, NULL);
	CHECK(a.rc == -1 && a.err == EPERM, "unlock by another thread: rc %d %s, want EPERM",
	      a.rc, strerror(a.err));

	struct thread_arg b = { .fd = fd, .id = id_base };
	CHECK(pthread_create(&t, NULL, thread_lock, &b) == 0, "pthread_create");
	sleep_ms(BLOCKED_MS);
	CHECK(!b.done, "another thread of the owner got the lock (rc %d %s)", b.rc,
	      strerror(b.err));
	CHECK(npheap_unlock(fd, id_base) == 0, "owner unlock");
	pthread_join(t, NULL);
	CHECK(b.rc == 0, "the waiting thread: %s", strerror(b.err));
	/* Now the second thread owns it: the main thread may not unlock it. */
	int rc = npheap_unlock(fd, id_base);
	CHECK(rc == -1 && errno == EPERM,
	      "main thread unlocked a lock its exited thread holds: rc %d %s", rc,
	      strerror(errno));
	return 0;
}

/* Increments a counter in an object under the id's lock, `rounds` times. */
static int locked_increments(int fd, __u64 id, unsigned int rounds)
{
	volatile uint64_t *obj = npheap_alloc(fd, id, page);

	if (obj == MAP_FAILED)
		return fail("alloc: %s", strerror(errno));
	for (unsigned int i = 0; i < rounds; i++) {
		if (npheap_lock(fd, id) != 0)
			return fail("lock: %s", strerror(errno));
		uint64_t v = obj[0];
		/* Widen the race window a little: a broken lock shows up as lost updates. */
		for (volatile int spin = 0; spin < 200; spin++)
			;
		obj[0] = v + 1;
		obj[1] += 1;
		if (npheap_unlock(fd, id) != 0)
			return fail("unlock: %s", strerror(errno));
	}
	munmap((void *)obj, page);
	return 0;
}

static int t_lock_mutual_exclusion_processes(void)
{
	enum { PROCS = 4, ROUNDS = 400 };
	int shared = open_heap();
	CHECK(shared >= 0, "open");
	pid_t pids[PROCS];
	for (int i = 0; i < PROCS; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			/* Half share the parent's fd (course style), half open their own. */
			int fd = i % 2 ? shared : open_heap();
			_exit(locked_increments(fd, id_base, ROUNDS));
		}
	}
	for (int i = 0; i < PROCS; i++)
		CHECK(reap(pids[i], TEST_DEADLINE_MS - 5000) == 0, "incrementing process %d failed", i);
	volatile uint64_t *obj = npheap_alloc(shared, id_base, page);
	CHECK(obj != MAP_FAILED, "alloc");
	CHECK(obj[0] == PROCS * ROUNDS && obj[1] == PROCS * ROUNDS,
	      "counter %llu/%llu after %d locked increments: the lock is not exclusive",
	      (unsigned long long)obj[0], (unsigned long long)obj[1], PROCS * ROUNDS);
	return 0;
}

static void *thread_increments(void *p)
{
	struct thread_arg *a = p;

	a->rc = locked_increments(a->fd, a->id, a->rounds);
	return NULL;
}

static int t_lock_mutual_exclusion_threads(void)
{
	enum { THREADS = 4, ROUNDS = 400 };
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	pthread_t t[THREADS];
	struct thread_arg a[THREADS];
	for (int i = 0; i < THREADS; i++) {
		a[i] = (struct thread_arg){ .fd = fd, .id = id_base, .rounds = ROUNDS };
		CHECK(pthread_create(&t[i], NULL, thread_increments, &a[i]) == 0, "pthread_create");
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		CHECK(a[i].rc == 0, "thread %d failed", i);
	}
	volatile uint64_t *obj = npheap_alloc(fd, id_base, page);
	CHECK(obj != MAP_FAILED, "alloc");
	CHECK(obj[0] == THREADS * ROUNDS, "counter %llu after %d locked increments by threads",
	      (unsigned long long)obj[0], THREADS * ROUNDS);
	return 0;
}

static int t_different_ids_never_block_processes(void)
{
	enum { OTHER_IDS = 64 };
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	CHECK(npheap_lock(fd, id_base) == 0, "lock");
	pid_t pid = fork();
	if (pid == 0) {
		int cfd = open_heap();
		CHILD_CHECK(cfd >= 0, "open");
		for (int i = 1; i <= OTHER_IDS; i++)
			CHILD_CHECK(npheap_lock(cfd, id_base + (__u64)i) == 0, "lock of id +%d: %s", i,
				    strerror(errno));
		for (int i = 1; i <= OTHER_IDS; i++)
			CHILD_CHECK(npheap_unlock(cfd, id_base + (__u64)i) == 0, "unlock +%d", i);
		_exit(0);
	}
	/* The holder keeps its lock until the other process is done or the deadline. */
	int rc = reap(pid, WAIT_MS);
	CHECK(rc == 0, "another process could not lock other ids while one is held (%s)",
	      rc == -1 ? "blocked" : "failed");
	CHECK(npheap_unlock(fd, id_base) == 0, "unlock");
	return 0;
}

static int t_different_ids_never_block_threads(void)
{
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	CHECK(npheap_lock(fd, id_base) == 0, "lock");
	pthread_t t;
	struct thread_arg a = { .fd = fd, .id = id_base + 1 };
	CHECK(pthread_create(&t, NULL, thread_lock, &a) == 0, "pthread_create");
	uint64_t deadline = now_ms() + WAIT_MS;
	while (!a.done && now_ms() < deadline)
		sleep_ms(5);
	CHECK(a.done, "a thread locking id+1 blocked behind id held by another thread");
	pthread_join(t, NULL);
	CHECK(a.rc == 0, "thread lock: %s", strerror(a.err));
	return 0;
}

static int killed_holder(bool shared_fd)
{
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	struct channel holder_report, waiter_report;
	channel_open(&holder_report);
	channel_open(&waiter_report);
	pid_t holder = spawn_locker(shared_fd ? fd : -1, id_base, &holder_report, NULL);
	CHECK(channel_recv(&holder_report, WAIT_MS) == 'L', "holder did not lock");
	/* A waiter already blocked when the holder dies must be woken. */
	pid_t waiter = spawn_locker(shared_fd ? fd : -1, id_base, &waiter_report, NULL);
	int early = channel_recv(&waiter_report, BLOCKED_MS);
	CHECK(early == -1, "waiter got '%c' while the holder was alive", early);
	kill(holder, SIGKILL);
	CHECK(reap(holder, WAIT_MS) == 128 + SIGKILL, "holder did not die of SIGKILL");
	int got = channel_recv(&waiter_report, WAIT_MS);
	CHECK(got == 'L', "the id stayed locked after its holder was killed (waiter: %d)", got);
	kill(waiter, SIGKILL);
	reap(waiter, 5000);
	/* And a fresh locker gets it too (the dead waiter's hold went with it). */
	CHECK(npheap_lock(fd, id_base) == 0, "lock after both died: %s", strerror(errno));
	CHECK(npheap_unlock(fd, id_base) == 0, "unlock");
	return 0;
}

static int t_killed_holder_wakes_waiter(void)
{
	return killed_holder(false);
}

static int t_killed_holder_shared_fd(void)
{
	return killed_holder(true);
}

static int t_exit_without_unlock_releases(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open_heap();
		CHILD_CHECK(fd >= 0 && npheap_lock(fd, id_base) == 0 &&
			    npheap_lock(fd, id_base + 1) == 0, "child lock");
		_exit(0);
	}
	CHECK(reap(pid, WAIT_MS) == 0, "child failed");
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	struct channel report;
	channel_open(&report);
	pid_t locker = spawn_locker(-1, id_base + 1, &report, NULL);
	CHECK(channel_recv(&report, WAIT_MS) == 'L', "a lock held at exit was not released");
	kill(locker, SIGKILL);
	reap(locker, 5000);
	CHECK(npheap_lock(fd, id_base) == 0 && npheap_unlock(fd, id_base) == 0,
	      "relock after exit");
	return 0;
}

/*
 * A child locks id through fd A, then closes A (itself or from another
 * thread), then waits; the parent tries the id.  Closing another open of
 * the heap keeps the lock: npheap_locks tests that.
 */
enum close_action { CLOSE_LOCK_FD, CLOSE_BY_OTHER_THREAD };

static void *thread_close(void *p)
{
	struct thread_arg *a = p;

	a->rc = close(a->fd);
	return NULL;
}

static int close_releases(enum close_action action)
{
	struct channel ready, finish;
	channel_open(&ready);
	channel_open(&finish);
	pid_t pid = fork();
	if (pid == 0) {
		int a = open_heap(), b = open_heap();
		CHILD_CHECK(a >= 0 && b >= 0, "open");
		CHILD_CHECK(npheap_lock(a, id_base) == 0, "lock: %s", strerror(errno));
		if (action == CLOSE_LOCK_FD) {
			CHILD_CHECK(close(a) == 0, "close");
		} else {
			pthread_t t;
			struct thread_arg arg = { .fd = a };
			CHILD_CHECK(pthread_create(&t, NULL, thread_close, &arg) == 0, "thread");
			pthread_join(t, NULL);
		}
		channel_send(&ready, 'r');
		CHILD_CHECK(channel_recv(&finish, WAIT_MS) == 'f', "no finish signal");
		/* Released by the close: an unlock now is of an unheld lock. */
		int rc = npheap_unlock(b, id_base);
		CHILD_CHECK(rc == -1 && errno == EPERM,
			    "unlock after the close released it: rc %d %s, want EPERM", rc,
			    strerror(errno));
		_exit(0);
	}
	CHECK(channel_recv(&ready, WAIT_MS) == 'r', "child did not lock/close");
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	struct channel report;
	channel_open(&report);
	pid_t locker = spawn_locker(-1, id_base, &report, NULL);
	int got = channel_recv(&report, WAIT_MS);
	CHECK(got == 'L', "the lock is still held after its owner closed a heap fd");
	kill(locker, SIGKILL);
	reap(locker, 5000);
	channel_send(&finish, 'f');
	CHECK(reap(pid, WAIT_MS) == 0, "child failed");
	return 0;
}

static int t_close_lock_fd_releases(void)
{
	return close_releases(CLOSE_LOCK_FD);
}

static int t_close_by_other_thread_releases(void)
{
	return close_releases(CLOSE_BY_OTHER_THREAD);
}

static int t_close_keeps_other_process_locks(void)
{
	/* The course pattern: fd opened once, forked; one process closes its copy. */
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	CHECK(npheap_lock(fd, id_base) == 0, "lock");
	pid_t pid = fork();
	if (pid == 0) {
		CHILD_CHECK(close(fd) == 0, "child close");
		int other = open_heap();
		CHILD_CHECK(other >= 0, "open");
		CHILD_CHECK(close(other) == 0, "close");
		_exit(0);
	}
	CHECK(reap(pid, WAIT_MS) == 0, "child failed");
	struct channel report;
	channel_open(&report);
	pid_t waiter = spawn_locker(-1, id_base, &report, NULL);
	int early = channel_recv(&report, BLOCKED_MS);
	CHECK(early == -1, "another process's close released this process's lock (got '%c')",
	      early);
	CHECK(npheap_unlock(fd, id_base) == 0, "the owner lost its lock: %s", strerror(errno));
	CHECK(channel_recv(&report, WAIT_MS) == 'L', "waiter not woken");
	kill(waiter, SIGKILL);
	reap(waiter, 5000);
	return 0;
}

static int t_lock_survives_delete(void)
{
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	CHECK(npheap_alloc(fd, id_base, page) != MAP_FAILED, "alloc");
	CHECK(npheap_lock(fd, id_base) == 0, "lock");
	CHECK(npheap_delete(fd, id_base) == 0, "delete");
	int rc = npheap_lock(fd, id_base);
	CHECK(rc == -1 && errno == EDEADLK, "lock after delete by the owner: rc %d %s, want EDEADLK",
	      rc, strerror(errno));
	struct channel report;
	channel_open(&report);
	pid_t waiter = spawn_locker(-1, id_base, &report, NULL);
	int early = channel_recv(&report, BLOCKED_MS);
	CHECK(early == -1, "delete dropped the id's lock (another process got '%c')", early);
	CHECK(npheap_unlock(fd, id_base) == 0, "unlock after delete: %s", strerror(errno));
	CHECK(channel_recv(&report, WAIT_MS) == 'L', "waiter not woken after unlock");
	kill(waiter, SIGKILL);
	reap(waiter, 5000);
	return 0;
}

/* ============================ ioctl errors ============================ */

static int t_unknown_ioctl_enotty(void)
{
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	struct npheap_cmd cmd = { .offset = id_base * page };
	const unsigned long bad[] = {
		_IOWR('N', 0x42, struct npheap_cmd),
		_IOWR('N', 0x47, struct npheap_cmd),
		_IOW(235, 0, unsigned int),	/* a message-slot request */
		0,
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		int rc = ioctl(fd, bad[i], &cmd);
		CHECK(rc == -1 && errno == ENOTTY, "ioctl 0x%lx: rc %d %s, want ENOTTY", bad[i], rc,
		      strerror(errno));
	}
	return 0;
}

static int t_bad_cmd_pointer_efault(void)
{
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	/* A struct that starts in a mapped page and ends in an unmapped one. */
	char *two = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(two != MAP_FAILED && munmap(two + page, page) == 0, "scratch pages");
	void *half = two + page - 8;
	const unsigned long reqs[] = { NPHEAP_IOCTL_LOCK, NPHEAP_IOCTL_UNLOCK,
				       NPHEAP_IOCTL_DELETE, NPHEAP_IOCTL_GETSIZE };
	void *ptrs[] = { NULL, (void *)1, half, (void *)-4096L };
	for (size_t r = 0; r < 4; r++) {
		for (size_t i = 0; i < 4; i++) {
			errno = 0;
			int rc = ioctl(fd, reqs[r], ptrs[i]);
			CHECK(rc == -1 && errno == EFAULT, "ioctl 0x%lx with cmd at %p: rc %d %s, "
			      "want EFAULT", reqs[r], ptrs[i], rc, strerror(errno));
		}
	}
	/* Nothing was locked by the failed LOCKs. */
	int rc = npheap_unlock(fd, 0);
	CHECK(rc == -1 && errno == EPERM, "a faulting LOCK took a lock on some id");
	return 0;
}

/* ============================ runner ============================ */

#define RUN(list, base) run_tests(list, sizeof(list) / sizeof(list[0]), base, 10000)

static const struct test semantic_tests[] = {
	T(getsize_unknown_id_zero),
	T(mmap_creates_zero_filled),
	T(getsize_page_rounded),
	T(same_memory_two_mappings),
	T(same_memory_two_processes),
	T(persistence_across_close),
	T(persistence_across_process_exit),
	T(larger_mmap_grows_with_zero_pages),
	T(larger_mmap_old_mapping_still_valid),
	T(smaller_mmap_maps_prefix),
	T(map_private_einval),
	T(mremap_beyond_object_refused_or_sigbus),
	T(ioctl_ignores_op_size_data),
	T(ioctl_id_is_offset_page),
	T(large_id),
	T(many_objects),
	T(concurrent_create_same_id),
	T(delete_never_created_id),
	T(getsize_zero_after_delete),
	T(delete_then_fresh_zeroed_object),
	T(delete_while_mapped_keeps_old_mapping),
	T(lock_id_without_object),
	T(lock_relock_edeadlk),
	T(unlock_unheld_eperm),
	T(lock_blocks_other_process_until_unlock),
	T(lock_blocks_with_shared_fd),
	T(lock_waiter_eintr),
	T(unlock_foreign_process_eperm),
	T(lock_owner_is_thread),
	T(lock_mutual_exclusion_processes),
	T(lock_mutual_exclusion_threads),
	T(different_ids_never_block_processes),
	T(different_ids_never_block_threads),
	T(killed_holder_wakes_waiter),
	T(killed_holder_shared_fd),
	T(exit_without_unlock_releases),
	T(close_lock_fd_releases),
	T(close_by_other_thread_releases),
	T(close_keeps_other_process_locks),
	T(lock_survives_delete),
	T(unknown_ioctl_enotty),
	T(bad_cmd_pointer_efault),
};

/* ======================= memory bound (own load) ======================= */

static unsigned long long bound_limit;

static int write_param(const char *name, unsigned long long value)
{
	char path[128];
	snprintf(path, sizeof(path), "/sys/module/message_slot/parameters/%s", name);
	FILE *f = fopen(path, "w");
	if (!f)
		return fail("open %s: %s", path, strerror(errno));
	fprintf(f, "%llu\n", value);
	if (fclose(f) != 0)
		return fail("write %s: %s", path, strerror(errno));
	return 0;
}

static int read_param(const char *name, unsigned long long *value)
{
	char path[128];
	snprintf(path, sizeof(path), "/sys/module/message_slot/parameters/%s", name);
	FILE *f = fopen(path, "r");
	if (!f)
		return fail("open %s: %s", path, strerror(errno));
	int n = fscanf(f, "%llu", value);
	fclose(f);
	CHECK(n == 1, "cannot parse %s", path);
	return 0;
}

/*
 * What the driver charges an object (README, "Memory bounds"): its pages,
 * the 576-byte nodes indexing its pages (none for one page, then one per 64
 * pages, plus the levels above), and one objects-index node per level of its
 * id (ids below 64 need one level).
 */
static unsigned long long object_charge(size_t pages)
{
	unsigned long long nodes = 1, span = 64;

	if (pages > 1) {
		for (;;) {
			nodes += (pages + span - 1) / span;
			if (pages <= span)
				break;
			span *= 64;
		}
	}
	return (unsigned long long)pages * page + nodes * 576;
}

/*
 * Fills the budget with two objects: id 1 (half the limit) and id 2 (as
 * large as possible while a 1-page object still fits): afterwards a 1-page
 * object fits and nothing of 2 pages or more does.
 */
static size_t fill_half, fill_rest;	/* pages of ids 1 and 2 */

static int fill_budget(int fd, size_t *pages_out)
{
	size_t pages = bound_limit / page;
	unsigned long long used;
	CHECK(pages >= 8, "limit %llu is too small for the test", bound_limit);
	size_t half = pages / 2, rest = 0;
	unsigned char *a = map_id(fd, 1, half * page);
	CHECK(a != MAP_FAILED, "mmap of %zu pages within the bound: %s", half, strerror(errno));
	memset(a, 0xa1, half * page);
	if (read_param("npheap_bytes_used", &used))
		return 1;
	while (used + object_charge(rest + 1) + object_charge(1) <= bound_limit)
		rest++;
	CHECK(rest > 0, "no room for a second object after %llu bytes", used);
	unsigned char *b = map_id(fd, 2, rest * page);
	CHECK(b != MAP_FAILED, "mmap of %zu more pages within the bound: %s", rest,
	      strerror(errno));
	memset(b, 0xb2, rest * page);
	/* Unmapped, so a later delete really frees the pages. */
	CHECK(munmap(a, half * page) == 0 && munmap(b, rest * page) == 0, "munmap");
	fill_half = half;
	fill_rest = rest;
	*pages_out = half + rest + 1;
	return 0;
}

static int t_bound_create_enomem(void)
{
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	size_t pages;
	if (fill_budget(fd, &pages))
		return 1;
	/* Exactly one page is left: one page fits, two do not. */
	errno = 0;
	void *p = map_id(fd, 3, 2 * page);
	CHECK(p == MAP_FAILED && errno == ENOMEM, "creating 2 pages with 1 left: %s, want ENOMEM",
	      p == MAP_FAILED ? strerror(errno) : "succeeded");
	CHECK(npheap_getsize(fd, 3) == 0, "the refused create left an object behind");
	p = map_id(fd, 3, page);
	CHECK(p != MAP_FAILED, "creating the last page that fits: %s", strerror(errno));
	p = map_id(fd, 4, page);
	CHECK(p == MAP_FAILED && errno == ENOMEM, "creating past a full budget: %s, want ENOMEM",
	      p == MAP_FAILED ? strerror(errno) : "succeeded");
	return 0;
}

static int t_bound_grow_enomem_size_unchanged(void)
{
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	size_t pages;
	if (fill_budget(fd, &pages))
		return 1;
	size_t half = fill_half;
	errno = 0;
	void *p = map_id(fd, 1, (half + 3) * page);
	CHECK(p == MAP_FAILED && errno == ENOMEM, "growing by 3 pages with room for 1: %s, want ENOMEM",
	      p == MAP_FAILED ? strerror(errno) : "succeeded");
	long size = npheap_getsize(fd, 1);
	CHECK(size == (long)(half * page), "refused growth changed the size to %ld", size);
	return 0;
}

static int t_bound_existing_data_intact(void)
{
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	size_t pages;
	if (fill_budget(fd, &pages))
		return 1;
	size_t half = fill_half, rest = fill_rest;
	map_id(fd, 5, 4 * page);	/* refused */
	map_id(fd, 2, (rest + 3) * page);	/* refused */
	unsigned char *a = map_id(fd, 1, half * page);
	unsigned char *b = map_id(fd, 2, rest * page);
	CHECK(a != MAP_FAILED && b != MAP_FAILED, "remapping existing objects at a full "
	      "budget: %s", strerror(errno));
	CHECK(all_bytes(a, half * page, 0xa1) && all_bytes(b, rest * page, 0xb2),
	      "existing objects lost data after ENOMEM");
	return 0;
}

static int t_bound_delete_frees(void)
{
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	size_t pages;
	if (fill_budget(fd, &pages))
		return 1;
	size_t rest = fill_rest;
	/* fill_budget left id 2 unmapped: its pages go as soon as it is deleted. */
	CHECK(npheap_delete(fd, 2) == 0, "delete");
	void *p = map_id(fd, 6, (rest + 1) * page);
	CHECK(p != MAP_FAILED, "creating after delete freed %zu pages: %s", rest, strerror(errno));
	return 0;
}

static int t_bound_raise_at_runtime(void)
{
	int fd = open_heap();
	CHECK(fd >= 0, "open");
	size_t pages;
	if (fill_budget(fd, &pages))
		return 1;
	void *p = map_id(fd, 7, 8 * page);
	CHECK(p == MAP_FAILED && errno == ENOMEM, "mmap past the bound: %s",
	      p == MAP_FAILED ? strerror(errno) : "succeeded");
	if (write_param("npheap_max_bytes", bound_limit + 16 * page))
		return 1;
	p = map_id(fd, 7, 8 * page);
	int err = errno;
	write_param("npheap_max_bytes", bound_limit);
	CHECK(p != MAP_FAILED, "mmap after raising npheap_max_bytes: %s", strerror(err));
	return 0;
}

/*
 * Every bound test starts from an empty heap: it deletes ids 1..7 of its own
 * (unmapped by then, since each test's process has exited).
 */
static int clear_bound_ids(void)
{
	int fd = open_heap();
	if (fd < 0)
		return 1;
	for (__u64 id = 1; id <= 7; id++)
		npheap_delete(fd, id);
	close(fd);
	return 0;
}

#define BOUND_TEST(name) \
	static int tb_##name(void) { return clear_bound_ids() || t_bound_##name(); }
BOUND_TEST(create_enomem)
BOUND_TEST(grow_enomem_size_unchanged)
BOUND_TEST(existing_data_intact)
BOUND_TEST(delete_frees)
BOUND_TEST(raise_at_runtime)

static const struct test bound_tests[] = {
	{ "bound_create_enomem", tb_create_enomem },
	{ "bound_grow_enomem_size_unchanged", tb_grow_enomem_size_unchanged },
	{ "bound_existing_data_intact", tb_existing_data_intact },
	{ "bound_delete_frees", tb_delete_frees },
	{ "bound_raise_at_runtime", tb_raise_at_runtime },
};

/* ===================== two heap minors (own load) ===================== */

static const char *other_dev;

static int t_heaps_independent_data(void)
{
	int a = open_heap(), b = open_heap_path(other_dev);
	CHECK(a >= 0 && b >= 0, "open");
	char *pa = map_id(a, id_base, page);
	CHECK(pa != MAP_FAILED, "mmap");
	strcpy(pa, "heap A");
	CHECK(npheap_getsize(b, id_base) == 0, "the id created in one heap exists in the other");
	char *pb = map_id(b, id_base, 2 * page);
	CHECK(pb != MAP_FAILED, "mmap other heap");
	CHECK(pb[0] == 0, "the other heap shows heap A's data");
	strcpy(pb, "heap B");
	CHECK(strcmp(pa, "heap A") == 0, "a write in heap B changed heap A");
	CHECK(npheap_getsize(a, id_base) == (long)page && npheap_getsize(b, id_base) == (long)(2 * page),
	      "sizes leak between heaps");
	CHECK(npheap_delete(b, id_base) == 0 && npheap_getsize(a, id_base) == (long)page,
	      "delete in heap B removed heap A's object");
	return 0;
}

static int t_heaps_independent_locks(void)
{
	int a = open_heap(), b = open_heap_path(other_dev);
	CHECK(a >= 0 && b >= 0, "open");
	CHECK(npheap_lock(a, id_base) == 0, "lock in heap A");
	/* The same id in the other heap is a different lock: no EDEADLK, no blocking. */
	CHECK(npheap_lock(b, id_base) == 0, "lock of the same id in heap B: %s", strerror(errno));
	CHECK(npheap_unlock(b, id_base) == 0, "unlock in heap B");
	int rc = npheap_unlock(b, id_base);
	CHECK(rc == -1 && errno == EPERM, "heap B's unlock released... rc %d %s", rc, strerror(errno));
	CHECK(npheap_unlock(a, id_base) == 0, "heap A's lock was lost: %s", strerror(errno));
	return 0;
}

static int t_heaps_close_releases_only_that_heap(void)
{
	struct channel ready, finish;
	channel_open(&ready);
	channel_open(&finish);
	pid_t pid = fork();
	if (pid == 0) {
		int a = open_heap(), b = open_heap_path(other_dev);
		CHILD_CHECK(a >= 0 && b >= 0, "open");
		CHILD_CHECK(npheap_lock(a, id_base) == 0, "lock");
		CHILD_CHECK(close(b) == 0, "close");
		channel_send(&ready, 'r');
		CHILD_CHECK(channel_recv(&finish, WAIT_MS) == 'f', "no finish");
		CHILD_CHECK(npheap_unlock(a, id_base) == 0,
			    "closing heap B's fd released a lock in heap A: %s", strerror(errno));
		_exit(0);
	}
	CHECK(channel_recv(&ready, WAIT_MS) == 'r', "child not ready");
	struct channel report;
	channel_open(&report);
	pid_t waiter = spawn_locker(-1, id_base, &report, NULL);
	int early = channel_recv(&report, BLOCKED_MS);
	channel_send(&finish, 'f');
	CHECK(early == -1, "closing heap B's fd released the lock in heap A");
	CHECK(reap(pid, WAIT_MS) == 0, "child failed");
	CHECK(channel_recv(&report, WAIT_MS) == 'L', "waiter not woken");
	kill(waiter, SIGKILL);
	reap(waiter, 5000);
	return 0;
}

static const struct test independent_tests[] = {
	T(heaps_independent_data),
	T(heaps_independent_locks),
	T(heaps_close_releases_only_that_heap),
};

/* ============================ helper modes ============================ */

static int parse_u64_arg(const char *s, unsigned long long *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 0);
	if (errno || end == s || *end) {
		fprintf(stderr, "npheap_test: bad number '%s'\n", s);
		return -1;
	}
	return 0;
}

static int die_usage(void)
{
	fprintf(stderr, "usage: npheap_test semantics DEV | bound DEV LIMIT | independent DEV1 DEV2 |\n"
		"  open-as UID DEV | fill DEV ID SIZE BYTE | check-fill DEV ID SIZE BYTE |\n"
		"  getsize DEV ID | check-zero DEV ID SIZE | hold-open DEV | hold-map DEV ID\n");
	return 2;
}

static int helper_mode(int argc, char **argv)
{
	const char *mode = argv[1];
	unsigned long long id = 0, size = 0, byte = 0;

	dev_path = argv[2];
	if (!strcmp(mode, "open-as")) {
		unsigned long long uid;
		if (argc != 4 || parse_u64_arg(argv[2], &uid))
			return die_usage();
		/* Drop root's supplementary groups too, so only the "other" bits apply. */
		if (setgroups(0, NULL) != 0 || setgid((gid_t)uid) != 0 ||
		    setuid((uid_t)uid) != 0) {
			perror("setuid");
			return 1;
		}
		int fd = open(argv[3], O_RDWR);
		printf("%s\n", fd >= 0 ? "OK" : errno == EACCES ? "EACCES" : strerror(errno));
		return 0;
	}
	int fd = open(dev_path, O_RDWR);
	if (fd < 0) {
		fprintf(stderr, "npheap_test: open %s: %s\n", dev_path, strerror(errno));
		return 1;
	}
	if (!strcmp(mode, "hold-open") && argc == 3) {
		printf("ready\n");
		fflush(stdout);
		for (;;)
			pause();
	}
	if (argc < 4 || parse_u64_arg(argv[3], &id))
		return die_usage();
	if (!strcmp(mode, "getsize") && argc == 4) {
		long s = npheap_getsize(fd, id);
		if (s < 0) {
			perror("npheap_getsize");
			return 1;
		}
		printf("%ld\n", s);
		return 0;
	}
	if (!strcmp(mode, "hold-map") && argc == 4) {
		char *p = npheap_alloc(fd, id, page);
		if (p == MAP_FAILED) {
			perror("npheap_alloc");
			return 1;
		}
		close(fd);	/* only the mapping keeps the module busy now */
		p[0] = 1;
		printf("ready\n");
		fflush(stdout);
		for (;;)
			pause();
	}
	if (argc < 5 || parse_u64_arg(argv[4], &size) || size == 0)
		return die_usage();
	if (!strcmp(mode, "check-zero") && argc == 5) {
		unsigned char *p = npheap_alloc(fd, id, size);
		if (p == MAP_FAILED) {
			perror("npheap_alloc");
			return 1;
		}
		return all_bytes(p, size, 0) ? 0 : 1;
	}
	if (argc != 6 || parse_u64_arg(argv[5], &byte) || byte > 255)
		return die_usage();
	unsigned char *p = npheap_alloc(fd, id, size);
	if (p == MAP_FAILED) {
		perror("npheap_alloc");
		return 1;
	}
	if (!strcmp(mode, "fill")) {
		memset(p, (int)byte, size);
		return 0;
	}
	if (!strcmp(mode, "check-fill"))
		return all_bytes(p, size, (unsigned char)byte) &&
		       npheap_getsize(fd, id) == (long)((size + page - 1) / page * page) ? 0 : 1;
	return die_usage();
}

int main(int argc, char **argv)
{
	page = (size_t)sysconf(_SC_PAGESIZE);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 3)
		return die_usage();
	dev_path = argv[2];
	if (!strcmp(argv[1], "semantics") && argc == 3)
		return RUN(semantic_tests, 1000000);
	if (!strcmp(argv[1], "bound") && argc == 4) {
		if (parse_u64_arg(argv[3], &bound_limit))
			return 2;
		return RUN(bound_tests, 0);
	}
	if (!strcmp(argv[1], "independent") && argc == 4) {
		other_dev = argv[3];
		return RUN(independent_tests, 2000000);
	}
	return helper_mode(argc, argv);
}
