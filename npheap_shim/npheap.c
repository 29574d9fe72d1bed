/*
 * npheap.c - the NP-Heap user library: thin wrappers over mmap and the
 * driver's ioctls, laid out like the original course library.
 */
#include <npheap/npheap.h>
#include "npheap.h"

#include <errno.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

static __u64 page_size(void)
{
	return (__u64)sysconf(_SC_PAGESIZE);
}

/* The driver reads only cmd.offset (id * page size); the rest is zeroed for tidiness. */
static long npheap_cmd_ioctl(int devfd, unsigned long request, __u64 id)
{
	struct npheap_cmd cmd = { .offset = id * page_size() };

	return ioctl(devfd, request, &cmd);
}

void *npheap_alloc(int devfd, __u64 offset, __u64 size)
{
	__u64 pagesize = page_size();
	__u64 aligned_size = (size + pagesize - 1) / pagesize * pagesize;

	/* Sizes or ids that do not fit the mmap arguments cannot name an object. */
	if (aligned_size < size || aligned_size > SIZE_MAX) {
		errno = ENOMEM;
		return MAP_FAILED;
	}
	if (offset > (__u64)INT64_MAX / pagesize) {
		errno = EINVAL;
		return MAP_FAILED;
	}
	return mmap(NULL, (size_t)aligned_size, PROT_READ | PROT_WRITE,
		    MAP_SHARED, devfd, (off_t)(offset * pagesize));
}

int npheap_lock(int devfd, __u64 offset)
{
	return (int)npheap_cmd_ioctl(devfd, NPHEAP_IOCTL_LOCK, offset);
}

int npheap_unlock(int devfd, __u64 offset)
{
	return (int)npheap_cmd_ioctl(devfd, NPHEAP_IOCTL_UNLOCK, offset);
}

int npheap_delete(int devfd, __u64 offset)
{
	return (int)npheap_cmd_ioctl(devfd, NPHEAP_IOCTL_DELETE, offset);
}

long npheap_getsize(int devfd, __u64 offset)
{
	return npheap_cmd_ioctl(devfd, NPHEAP_IOCTL_GETSIZE, offset);
}
