// SPDX-License-Identifier: GPL-2.0
/*
 * npheap_write DEVICE ID [ROLL_NO MARKS NAME CITY]
 *
 * Stores one student_t record in NP-Heap object ID of DEVICE (/dev/npheap):
 * lock the id, map the object (created zero-filled on first use), copy the
 * record in, unlock.  The object outlives this process; npheap_read gets
 * the record back until the object is deleted or the module unloaded.
 */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <npheap.h>

#include "student.h"

int main(int argc, char **argv)
{
	student_t student;
	long long id;
	void *object;
	int fd, err;

	if (argc < 3)
		fail("Device and object id not mentioned", EINVAL);
	err = parse_number(argv[2], 0, INT_MAX, &id);
	if (err)
		fail("Object id is not a number 0..2147483647", err);
	student_from_args(&student, argc, argv, 3);

	fd = open(argv[1], O_RDWR);
	if (fd < 0)
		fail("Device could not open", errno);
	/* Readers lock too, so none sees a half-copied record. */
	if (npheap_lock(fd, (__u64)id) < 0)
		fail("Lock Failed", errno);
	/*
	 * A failure below exits with the lock held: the driver releases a
	 * process's locks when it exits.
	 */
	object = npheap_alloc(fd, (__u64)id, sizeof(student));
	if (object == MAP_FAILED)
		fail("Mapping Failed", errno);
	memcpy(object, &student, sizeof(student));
	if (npheap_unlock(fd, (__u64)id) < 0)
		fail("Unlock Failed", errno);
	if (munmap(object, sizeof(student)) < 0)
		fail("Unmapping Failed", errno);
	close(fd);
	return 0;
}
