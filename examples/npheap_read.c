// SPDX-License-Identifier: GPL-2.0
/*
 * npheap_read DEVICE ID
 *
 * Prints the student_t record that npheap_write stored in NP-Heap object
 * ID of DEVICE, under the object's lock.  An object that does not exist is
 * an error, and is not created.
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
	long size;
	int fd, err;

	if (argc < 3)
		fail("Device and object id not mentioned", EINVAL);
	if (argc > 3)
		fail("Too many arguments", EINVAL);
	err = parse_number(argv[2], 0, INT_MAX, &id);
	if (err)
		fail("Object id is not a number 0..2147483647", err);

	/* Read-write: NP-Heap objects are only mapped shared and writable. */
	fd = open(argv[1], O_RDWR);
	if (fd < 0)
		fail("Device could not open", errno);
	if (npheap_lock(fd, (__u64)id) < 0)
		fail("Lock Failed", errno);
	/* Asked before mapping, since the first mapping creates the object. */
	size = npheap_getsize(fd, (__u64)id);
	if (size < 0)
		fail("Getsize Failed", errno);
	if (size == 0)
		fail("No record in this object", ENOENT);
	object = npheap_alloc(fd, (__u64)id, sizeof(student));
	if (object == MAP_FAILED)
		fail("Mapping Failed", errno);
	memcpy(&student, object, sizeof(student));
	if (npheap_unlock(fd, (__u64)id) < 0)
		fail("Unlock Failed", errno);
	if (munmap(object, sizeof(student)) < 0)
		fail("Unmapping Failed", errno);
	close(fd);
	student_print(&student);
	return 0;
}
