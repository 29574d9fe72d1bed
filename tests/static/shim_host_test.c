// SPDX-License-Identifier: GPL-2.0
/*
 * shim_host_test - the npheap_shim library's own logic, run on the host
 * (no driver needed) under ASan+UBSan by tests/host/10-static.sh:
 * argument overflow checks, error propagation from bad fds, and the
 * page rounding of npheap_alloc against a device that supports shared
 * mappings (/dev/zero).
 * Prints "ok static/asan-host/shim-<name>" / "not ok ... - reason".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <npheap.h>

static int failures;

static void result(const char *name, bool passed, const char *why)
{
	if (passed) {
		printf("ok static/asan-host/shim-%s\n", name);
	} else {
		printf("not ok static/asan-host/shim-%s - %s\n", name, why);
		failures++;
	}
}

static void expect_errno(const char *name, long ret, int err, int want)
{
	char why[160];

	snprintf(why, sizeof(why), "returned %ld errno %s, want -1 errno %s", ret,
		 strerror(err), strerror(want));
	result(name, ret == -1 && err == want, why);
}

int main(void)
{
	long page = sysconf(_SC_PAGESIZE);
	int devnull = open("/dev/null", O_RDWR);
	int devzero = open("/dev/zero", O_RDWR);
	char why[160];
	void *p;
	long ret;

	if (devnull < 0 || devzero < 0) {
		perror("open /dev/null or /dev/zero");
		return 2;
	}

	errno = 0;
	p = npheap_alloc(-1, 1, 4096);
	result("alloc-bad-fd", p == MAP_FAILED && errno == EBADF, "want MAP_FAILED/EBADF");

	errno = 0;
	p = npheap_alloc(devzero, 1, UINT64_MAX);
	result("alloc-size-overflow", p == MAP_FAILED && errno == ENOMEM,
	       "size UINT64_MAX must fail with ENOMEM, not wrap");

	errno = 0;
	p = npheap_alloc(devzero, UINT64_MAX / 2, 4096);
	result("alloc-id-overflow", p == MAP_FAILED && errno == EINVAL,
	       "an id whose offset overflows off_t must fail with EINVAL");

	/* One byte asked, one whole page mapped: the last byte is usable. */
	p = npheap_alloc(devzero, 0, 1);
	if (p == MAP_FAILED) {
		snprintf(why, sizeof(why), "mmap of /dev/zero failed: %s", strerror(errno));
		result("alloc-rounds-to-page", false, why);
	} else {
		((volatile char *)p)[page - 1] = 1;
		result("alloc-rounds-to-page", munmap(p, page) == 0, "munmap of one page failed");
	}

	errno = 0;
	ret = npheap_lock(-1, 3);
	expect_errno("lock-bad-fd", ret, errno, EBADF);
	errno = 0;
	ret = npheap_unlock(-1, 3);
	expect_errno("unlock-bad-fd", ret, errno, EBADF);
	errno = 0;
	ret = npheap_delete(devnull, 3);
	expect_errno("delete-not-npheap", ret, errno, ENOTTY);
	errno = 0;
	ret = npheap_getsize(devnull, UINT64_MAX);
	expect_errno("getsize-not-npheap", ret, errno, ENOTTY);

	close(devnull);
	close(devzero);
	return failures ? 1 : 0;
}
