// SPDX-License-Identifier: GPL-2.0
/*
 * msgslot_indexbound.c - what an unprivileged user can make the kernel hold
 * through messages or NP-Heap objects stays within the configured budget,
 * whatever ids it picks: the index nodes behind sparse ids are charged too.
 *
 *   msgslot_indexbound msg <dense|sparse|random> <bound>
 *     module loaded with max_msg_bytes=<bound>.  As uid 65534, writes 1-byte
 *     messages on new channels of one slot until ENOMEM; then the first and
 *     last messages are intact, and slab growth <= 1.25 * bound + 2 MiB.
 *   msgslot_indexbound heap <dense|sparse|random> <bound>
 *     module loaded with npheap_max_bytes=<bound>.  As uid 65534, creates
 *     1-page objects until ENOMEM; slab growth + their pages <= the same.
 *
 *   msgslot_indexbound channels <cap>
 *     module loaded with max_channels=<cap>: a slot takes exactly <cap>
 *     channels, the next new one fails with ENOMEM and nothing changes.
 *   msgslot_indexbound heapsize
 *     objects stay below 2 GiB (GETSIZE returns an int): creating or growing
 *     one to 2 GiB or more fails with EFBIG and changes nothing.
 *
 * With "debug" as the last argument (KASAN/kmemleak kernels, where every
 * slab object carries metadata several times its size) the kernel memory
 * figures are only printed: the charge itself must stop within the bound.
 *
 * Ids: dense 1, 2, 3, ...; sparse i << 17 (channels) or i << 20 (objects);
 * random: xorshift.  The test stops early (and fails) once the kernel holds
 * four times the bound without refusing.
 */
#define _GNU_SOURCE
#include <string.h>
#include <sys/mman.h>

#include "tap.h"
#include "msgslot_util.h"
#include "npheap_shim/npheap/npheap.h"

#define SLOT 30
#define NOBODY 65534
#define MIB (1024ULL * 1024)

static unsigned long long bound;
static const char *pattern;
static bool debug_kernel;
/* Stop (and fail) once the kernel holds this many times the bound. */
static unsigned long long runaway_factor = 4;

static long long slab_kb(void)
{
	char line[128];
	long long kb = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Slab: %lld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static unsigned long long next_id(unsigned long long i, unsigned int sparse_shift,
				  uint32_t *state, unsigned long long mask)
{
	unsigned long long id;

	if (strcmp(pattern, "dense") == 0)
		return i + 1;
	if (strcmp(pattern, "sparse") == 0)
		return ((i + 1) << sparse_shift) & mask;
	do
		id = (((unsigned long long)xorshift32(state) << 32) | xorshift32(state)) & mask;
	while (!id);
	return id;
}

static bool drop_privileges(char *why)
{
	TAP_CHECK(setresgid(NOBODY, NOBODY, NOBODY) == 0 && setresuid(NOBODY, NOBODY, NOBODY) == 0,
		  "cannot become uid %d: %s", NOBODY, tap_errno_name(errno));
	return true;
}

/*
 * Slab growth (and @extra bytes of pages) against 1.25 * bound + 2 MiB, and
 * what the driver says it charged (@used_param) against the bound.
 */
static bool check_growth(long long before_kb, unsigned long long extra, unsigned long long count,
			 const char *what, const char *used_param, char *why)
{
	long long grown = (slab_kb() - before_kb) * 1024 + (long long)extra;
	unsigned long long limit = bound + bound / 4 + 2 * MIB, used;

	TAP_CHECK(slot_param_read(used_param, &used) == 0, "cannot read %s: %s", used_param,
		  tap_errno_name(errno));
	TAP_CHECK(used <= bound && used + 16384 > bound,
		  "%s is %llu at ENOMEM for a bound of %llu", used_param, used, bound);
	tap_note("%s %s ids: %llu accepted, kernel memory grew %lld kB for a bound of %llu kB (%.2fx)",
		 pattern, what, count, grown / 1024, bound / 1024, (double)grown / (double)bound);
	if (debug_kernel)
		return true;
	TAP_CHECK(grown <= (long long)limit,
		  "%llu %s on %s ids grew kernel memory by %lld kB, above 1.25 x %llu kB + 2 MiB",
		  count, what, pattern, grown / 1024, bound / 1024);
	return true;
}

static bool t_messages(char *why)
{
	uint32_t state = 2463534242u;
	unsigned long long i, count = 0, first = 0, last = 0;
	long long before;
	char path[64];
	int fd;

	TAP_CHECK(slot_path(SLOT, path, sizeof(path)) == 0 && chmod(path, 0666) == 0,
		  "mknod %s: %s", path, tap_errno_name(errno));
	before = slab_kb();
	TAP_CHECK(before > 0, "cannot read Slab from /proc/meminfo");
	if (!drop_privileges(why))
		return false;
	fd = open(path, O_RDWR);
	TAP_CHECK(fd >= 0, "open %s as uid %d: %s", path, NOBODY, tap_errno_name(errno));
	for (i = 0;; i++) {
		unsigned long long ch = next_id(i, 17, &state, 0xffffffffULL);
		unsigned char byte = (unsigned char)(ch * 7 + 1);
		long n;

		EXPECT_RET(ioctl(fd, MSG_SLOT_CHANNEL, (unsigned int)ch), 0, "ioctl %llu", ch);
		errno = 0;
		n = write(fd, &byte, 1);
		if (n < 0 && errno == ENOMEM)
			break;
		if (n < 0 && errno == EWOULDBLOCK)
			continue;
		TAP_CHECK(n == 1, "1-byte write on channel %llu: %s", ch, tap_got(n, errno));
		if (!count++)
			first = ch;
		last = ch;
		TAP_CHECK(i % 4096 || (slab_kb() - before) * 1024 < (long long)(runaway_factor * bound),
			  "%llu messages on %s ids and no ENOMEM: slab grew %lld kB, bound %llu kB",
			  count, pattern, slab_kb() - before, bound / 1024);
	}
	/* The refused write changed nothing: the oldest and newest are intact. */
	for (i = 0; i < 2; i++) {
		unsigned long long ch = i ? last : first;
		unsigned char want = (unsigned char)(ch * 7 + 1), got = 0;

		EXPECT_RET(ioctl(fd, MSG_SLOT_CHANNEL, (unsigned int)ch), 0, "ioctl %llu", ch);
		EXPECT_RET(read(fd, &got, 1), 1, "reading channel %llu after ENOMEM", ch);
		TAP_CHECK(got == want, "channel %llu holds %#x, wrote %#x", ch, got, want);
	}
	close(fd);
	return check_growth(before, 0, count, "messages", "msg_bytes_used", why);
}

static bool t_objects(char *why)
{
	uint32_t state = 2463534242u;
	long page = sysconf(_SC_PAGESIZE);
	unsigned long long i, count = 0;
	long long before;
	int fd;

	before = slab_kb();
	TAP_CHECK(before > 0, "cannot read Slab from /proc/meminfo");
	if (!drop_privileges(why))
		return false;
	fd = open("/dev/npheap", O_RDWR);
	TAP_CHECK(fd >= 0, "open /dev/npheap as uid %d: %s", NOBODY, tap_errno_name(errno));
	for (i = 0;; i++) {
		/* ids up to 2^40: offsets stay below 2^52 */
		unsigned long long id = next_id(i, 20, &state, (1ULL << 40) - 1);
		unsigned char *p;

		p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)(id * page));
		if (p == MAP_FAILED && errno == ENOMEM)
			break;
		TAP_CHECK(p != MAP_FAILED, "mmap of id %llu: %s", id, tap_errno_name(errno));
		p[0] = 1;
		munmap(p, page);
		count++;
		TAP_CHECK(i % 1024 ||
			  (slab_kb() - before) * 1024 + (long long)(count * page) <
			  (long long)(runaway_factor * bound),
			  "%llu objects on %s ids and no ENOMEM: bound %llu kB", count, pattern,
			  bound / 1024);
	}
	close(fd);
	return check_growth(before, count * page, count, "objects", "npheap_bytes_used", why);
}

static unsigned long long cap;

static bool put(int fd, unsigned int ch, const void *msg, size_t len, int want_errno, char *why)
{
	EXPECT_RET(ioctl(fd, MSG_SLOT_CHANNEL, ch), 0, "ioctl %u", ch);
	if (want_errno)
		EXPECT_ERRNO(write(fd, msg, len), want_errno, "%zu-byte write on channel %u", len, ch);
	else
		EXPECT_RET(write(fd, msg, len), (long)len, "%zu-byte write on channel %u", len, ch);
	return true;
}

static bool t_channel_cap(char *why)
{
	char path[64], big[100];
	unsigned int ch;
	int fd, other;

	memset(big, 'b', sizeof(big));
	TAP_CHECK(slot_path(SLOT, path, sizeof(path)) == 0, "mknod: %s", tap_errno_name(errno));
	fd = open(path, O_RDWR);
	TAP_CHECK(fd >= 0, "open %s: %s", path, tap_errno_name(errno));
	for (ch = 1; ch <= cap; ch++)
		if (!put(fd, ch << 8, "a", 1, 0, why))
			return false;
	if (!put(fd, (unsigned int)(cap + 1) << 8, "a", 1, ENOMEM, why) ||
	    !put(fd, 1 << 8, big, sizeof(big), 0, why) ||	/* a new buffer, same channel */
	    !put(fd, (unsigned int)cap << 8, "c", 1, 0, why))
		return false;
	EXPECT_RET(ioctl(fd, MSG_SLOT_CHANNEL, (unsigned int)(cap + 1) << 8), 0, "ioctl");
	EXPECT_ERRNO(read(fd, big, sizeof(big)), EWOULDBLOCK, "the refused channel after ENOMEM");
	EXPECT_RET(ioctl(fd, MSG_SLOT_CHANNEL, (unsigned int)cap << 8), 0, "ioctl");
	if (!slot_expect_message(fd, "c", 1, why, "the last channel"))
		return false;
	close(fd);
	/* The cap is per slot. */
	other = slot_open_channel(SLOT + 1, 1);
	TAP_CHECK(other >= 0, "open slot %d: %s", SLOT + 1, tap_errno_name(errno));
	EXPECT_RET(write(other, "x", 1), 1, "first channel of another slot");
	close(other);
	return true;
}

static long getsize(int fd, unsigned long long id, long page)
{
	struct npheap_cmd cmd = { .offset = id * page };

	return ioctl(fd, NPHEAP_IOCTL_GETSIZE, &cmd);
}

static bool t_heap_size(char *why)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned char *p;
	int fd;

	fd = open("/dev/npheap", O_RDWR);
	TAP_CHECK(fd >= 0, "open /dev/npheap: %s", tap_errno_name(errno));
	errno = 0;
	p = mmap(NULL, 2ULL << 30, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 11 * page);
	TAP_CHECK(p == MAP_FAILED && errno == EFBIG, "creating a 2 GiB object: %s, want EFBIG",
		  p == MAP_FAILED ? tap_errno_name(errno) : "mapped");
	TAP_CHECK(getsize(fd, 11, page) == 0, "the refused create left an object");
	p = mmap(NULL, 4ULL << 30, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 11 * page);
	TAP_CHECK(p == MAP_FAILED && errno == EFBIG, "creating a 4 GiB object: %s, want EFBIG",
		  p == MAP_FAILED ? tap_errno_name(errno) : "mapped");
	p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 11 * page);
	TAP_CHECK(p != MAP_FAILED, "creating a 1-page object: %s", tap_errno_name(errno));
	p[0] = 42;
	munmap(p, page);
	p = mmap(NULL, 2ULL << 30, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 11 * page);
	TAP_CHECK(p == MAP_FAILED && errno == EFBIG, "growing to 2 GiB: %s, want EFBIG",
		  p == MAP_FAILED ? tap_errno_name(errno) : "mapped");
	TAP_CHECK(getsize(fd, 11, page) == page, "refused growth: size %ld, want %ld",
		  getsize(fd, 11, page), page);
	/* Just below 2 GiB is a size GETSIZE can report: refused by the budget only. */
	p = mmap(NULL, (2ULL << 30) - page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 11 * page);
	TAP_CHECK(p == MAP_FAILED && errno == ENOMEM,
		  "growing to 2 GiB - 1 page past npheap_max_bytes: %s, want ENOMEM",
		  p == MAP_FAILED ? tap_errno_name(errno) : "mapped");
	p = mmap(NULL, page, PROT_READ, MAP_SHARED, fd, 11 * page);
	TAP_CHECK(p != MAP_FAILED && p[0] == 42, "the object lost its byte after refused growth");
	munmap(p, page);
	close(fd);
	return true;
}

int main(int argc, char **argv)
{
	char name[64];
	bool heap;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && strcmp(argv[1], "channels") == 0) {
		cap = strtoull(argv[2], NULL, 10);
		tap_run("max_channels_per_slot", t_channel_cap);
		return tap_exit_code();
	}
	if (argc == 2 && strcmp(argv[1], "heapsize") == 0) {
		tap_run("objects_below_2GiB_EFBIG", t_heap_size);
		return tap_exit_code();
	}
	if (argc == 5 && strcmp(argv[4], "debug") == 0) {
		debug_kernel = true;
		runaway_factor = 64;
		argc--;
	}
	if (argc != 4 || (strcmp(argv[1], "msg") && strcmp(argv[1], "heap")) ||
	    (strcmp(argv[2], "dense") && strcmp(argv[2], "sparse") && strcmp(argv[2], "random"))) {
		fprintf(stderr, "usage: %s msg|heap dense|sparse|random <bound> [debug]\n", argv[0]);
		return 2;
	}
	heap = strcmp(argv[1], "heap") == 0;
	pattern = argv[2];
	bound = strtoull(argv[3], NULL, 10);
	snprintf(name, sizeof(name), "%s_bound_%s_ids", heap ? "objects" : "messages", pattern);
	tap_run(name, heap ? t_objects : t_messages);
	return tap_exit_code();
}
