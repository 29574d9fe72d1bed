// SPDX-License-Identifier: GPL-2.0
/*
 * abi_npheap.c - NP-Heap ioctls through the request numbers a program's own
 * build produces (struct npheap_cmd is 28 bytes on i386, 32 on x86_64) and
 * through the 64-bit numbers from any caller.  Built twice: 64-bit, and with
 * -m32 as abi_npheap32 (result names "i386-..."), which needs the driver's
 * compat_ioctl.
 *
 *   abi_npheap DEV      (the module loaded, DEV = /dev/npheap)
 */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/wait.h>

#include "tap.h"
#include "msgslot_util.h"
#include "npheap_shim/npheap/npheap.h"

#ifdef __i386__
#define NAME(n) "i386-" n
#else
#define NAME(n) n
#endif

/* struct npheap_cmd as a 64-bit program lays it out. */
struct cmd64 {
	uint64_t op, offset, size, data;
};

#define NR_LOCK		_IOC_NR(NPHEAP_IOCTL_LOCK)
#define NR_UNLOCK	_IOC_NR(NPHEAP_IOCTL_UNLOCK)
#define NR_DELETE	_IOC_NR(NPHEAP_IOCTL_DELETE)
#define NR_GETSIZE	_IOC_NR(NPHEAP_IOCTL_GETSIZE)
#define REQ64(nr)	_IOC(_IOC_READ | _IOC_WRITE, 'N', nr, sizeof(struct cmd64))

static const char *dev;
static long page;

/* The request as this program's header builds it, the fields not meant
 * to be read filled with junk. */
static long native(int fd, unsigned int nr, uint64_t id)
{
	struct npheap_cmd cmd;

	memset(&cmd, 0xA5, sizeof(cmd));
	cmd.offset = id * (uint64_t)page;
	return ioctl(fd, _IOC(_IOC_READ | _IOC_WRITE, 'N', nr, sizeof(cmd)), &cmd);
}

static long wide(int fd, unsigned int nr, uint64_t id)
{
	struct cmd64 cmd;

	memset(&cmd, 0x5A, sizeof(cmd));
	cmd.offset = id * (uint64_t)page;
	return ioctl(fd, REQ64(nr), &cmd);
}

static void *map(int fd, uint64_t id, size_t len)
{
	return mmap64(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		      (off64_t)(id * (uint64_t)page));
}

static bool t_sizes(char *why)
{
#ifdef __i386__
	TAP_CHECK(sizeof(struct npheap_cmd) == 28 && NPHEAP_IOCTL_GETSIZE == 0xc01c4e46,
		  "i386 struct npheap_cmd is %zu bytes, GETSIZE %#x",
		  sizeof(struct npheap_cmd), (unsigned int)NPHEAP_IOCTL_GETSIZE);
#else
	TAP_CHECK(sizeof(struct npheap_cmd) == 32 && NPHEAP_IOCTL_GETSIZE == 0xc0204e46,
		  "struct npheap_cmd is %zu bytes, GETSIZE %#x",
		  sizeof(struct npheap_cmd), (unsigned int)NPHEAP_IOCTL_GETSIZE);
#endif
	return true;
}

/* getsize and delete through both numbers, including an id above 2^20
 * (offset >= 2^32): the whole 64-bit offset is read. */
static bool t_getsize_delete(char *why)
{
	uint64_t ids[] = { 3, (1ULL << 20) + 3 };
	int fd = open(dev, O_RDWR);
	unsigned int i;

	TAP_CHECK(fd >= 0, "open %s: %s", dev, tap_errno_name(errno));
	for (i = 0; i < 2; i++) {
		uint64_t id = ids[i];
		char *p = map(fd, id, 2 * page);

		TAP_CHECK(p != MAP_FAILED, "mmap id %llu: %s",
			  (unsigned long long)id, tap_errno_name(errno));
		p[page] = 'x';
		EXPECT_RET(native(fd, NR_GETSIZE, id), 2 * page, "getsize(%llu)",
			   (unsigned long long)id);
		EXPECT_RET(wide(fd, NR_GETSIZE, id), 2 * page,
			   "getsize(%llu), 64-bit number", (unsigned long long)id);
		EXPECT_RET(native(fd, NR_GETSIZE, id + 1), 0, "getsize(%llu)",
			   (unsigned long long)id + 1);
		munmap(p, 2 * page);
		EXPECT_RET(i ? wide(fd, NR_DELETE, id) : native(fd, NR_DELETE, id), 0,
			   "delete(%llu)", (unsigned long long)id);
		EXPECT_RET(native(fd, NR_GETSIZE, id), 0, "getsize(%llu) after delete",
			   (unsigned long long)id);
		EXPECT_RET(wide(fd, NR_GETSIZE, id), 0,
			   "getsize(%llu) after delete, 64-bit number",
			   (unsigned long long)id);
	}
	close(fd);
	return true;
}

/* Lock through one number, see it held from another process, unlock
 * through the other number. */
static bool t_lock(char *why)
{
	int fd = open(dev, O_RDWR), status;
	pid_t child;

	TAP_CHECK(fd >= 0, "open %s: %s", dev, tap_errno_name(errno));
	EXPECT_RET(native(fd, NR_LOCK, 7), 0, "lock(7)");
	EXPECT_ERRNO(wide(fd, NR_LOCK, 7), EDEADLK, "lock(7) again, 64-bit number");
	child = fork();
	TAP_CHECK(child >= 0, "fork: %s", tap_errno_name(errno));
	if (child == 0) {
		/* Not the owner: unlock fails through either number. */
		_exit(native(fd, NR_UNLOCK, 7) == -1 && errno == EPERM &&
		      wide(fd, NR_UNLOCK, 7) == -1 && errno == EPERM ? 0 : 1);
	}
	TAP_CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) &&
		  WEXITSTATUS(status) == 0,
		  "another process could unlock a held lock (status %#x)", status);
	EXPECT_RET(wide(fd, NR_UNLOCK, 7), 0, "unlock(7), 64-bit number");
	EXPECT_RET(wide(fd, NR_LOCK, 7), 0, "lock(7), 64-bit number");
	EXPECT_RET(native(fd, NR_UNLOCK, 7), 0, "unlock(7)");
	EXPECT_ERRNO(native(fd, NR_UNLOCK, 7), EPERM, "unlock(7) not held");
	close(fd);
	return true;
}

static bool t_unknown(char *why)
{
	int fd = open(dev, O_RDWR);
	struct cmd64 cmd = { 0, 0, 0, 0 };

	TAP_CHECK(fd >= 0, "open %s: %s", dev, tap_errno_name(errno));
	EXPECT_ERRNO(ioctl(fd, _IOC(_IOC_READ | _IOC_WRITE, 'N', 0x47, sizeof(cmd)), &cmd),
		     ENOTTY, "ioctl nr 0x47");
	EXPECT_ERRNO(ioctl(fd, _IOC(_IOC_READ | _IOC_WRITE, 'N', NR_GETSIZE, 24), &cmd),
		     ENOTTY, "getsize with a 24-byte struct");
	EXPECT_ERRNO(ioctl(fd, _IOC(_IOC_WRITE, 'N', NR_GETSIZE, sizeof(cmd)), &cmd),
		     ENOTTY, "getsize as _IOW");
	EXPECT_ERRNO(ioctl(fd, NPHEAP_IOCTL_GETSIZE, NULL), EFAULT, "getsize(NULL)");
	close(fd);
	return true;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc != 2) {
		fprintf(stderr, "usage: %s /dev/npheap\n", argv[0]);
		return 2;
	}
	dev = argv[1];
	page = sysconf(_SC_PAGESIZE);
	tap_run(NAME("npheap-struct-size"), t_sizes);
	tap_run(NAME("npheap-getsize-delete"), t_getsize_delete);
	tap_run(NAME("npheap-lock-unlock"), t_lock);
	tap_run(NAME("npheap-unknown"), t_unknown);
	return tap_exit_code();
}
