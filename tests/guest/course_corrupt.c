/*
 * course_corrupt N - the negative control of the course workflow: changes one
 * digit of the first live object among ids 0..N-1 (under its lock, through
 * the shim like any course program) and prints that id on stdout.  A
 * validator run afterwards must then report that object and fail.
 *
 * The device defaults to /dev/npheap; $NPHEAP_DEVICE overrides it.
 */
#define _GNU_SOURCE
#include <npheap.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char *argv[])
{
	char *end;
	unsigned long long n;

	if (argc != 2 || (n = strtoull(argv[1], &end, 10)) == 0 || *end != '\0') {
		fprintf(stderr, "Usage: %s number_of_objects\n", argv[0]);
		return 2;
	}
	const char *dev = getenv("NPHEAP_DEVICE");
	if (!dev)
		dev = "/dev/npheap";
	int devfd = open(dev, O_RDWR);
	if (devfd < 0) {
		fprintf(stderr, "course_corrupt: open %s: %s\n", dev, strerror(errno));
		return 1;
	}

	for (unsigned long long id = 0; id < n; id++) {
		if (npheap_lock(devfd, id) != 0) {
			fprintf(stderr, "course_corrupt: lock %llu: %s\n", id, strerror(errno));
			return 1;
		}
		long size = npheap_getsize(devfd, id);
		if (size > 0) {
			char *obj = npheap_alloc(devfd, id, (__u64)size);

			if (obj == MAP_FAILED) {
				fprintf(stderr, "course_corrupt: alloc %llu: %s\n", id,
					strerror(errno));
				return 1;
			}
			/* Stay a digit so only the content check can catch it. */
			obj[0] = obj[0] == '7' ? '3' : '7';
			munmap(obj, (size_t)size);
			npheap_unlock(devfd, id);
			printf("%llu\n", id);
			return 0;
		}
		npheap_unlock(devfd, id);
	}
	fprintf(stderr, "course_corrupt: no live object among 0..%llu\n", n - 1);
	return 1;
}
