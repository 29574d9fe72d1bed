// SPDX-License-Identifier: GPL-2.0
/*
 * file_write FILE [ROLL_NO MARKS NAME CITY]
 *
 * Writes one student_t record at the start of FILE through a shared memory
 * mapping, then msync()s it, so that any other process mapping or reading
 * the file sees it (see file_read.c).  FILE must exist; when it is shorter
 * than a record it is grown to a record's size, bytes past the record are
 * left as they were.  Without record fields it writes the seed's record.
 */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "student.h"

int main(int argc, char **argv)
{
	struct stat statbuf;
	student_t student;
	void *mapped;
	int fd;

	if (argc < 2)
		fail("File path not mentioned", EINVAL);
	/* Before the file is opened: a bad record changes nothing. */
	student_from_args(&student, argc, argv, 2);

	fd = open(argv[1], O_RDWR);
	if (fd < 0)
		fail("File could not open", errno);
	if (fstat(fd, &statbuf) < 0)
		fail("File could not stat", errno);
	/*
	 * Mapping past the end of a file gives SIGBUS on access, and a
	 * zero-length mapping is refused: make room for the record first.
	 */
	if (statbuf.st_size < (off_t)sizeof(student) &&
	    ftruncate(fd, sizeof(student)) < 0)
		fail("File could not grow", errno);

	mapped = mmap(NULL, sizeof(student), PROT_READ | PROT_WRITE,
		      MAP_SHARED, fd, 0);
	if (mapped == MAP_FAILED)
		fail("Mapping Failed", errno);
	/* The mapping keeps the file open. */
	close(fd);

	memcpy(mapped, &student, sizeof(student));
	/* Stores reach the page cache at once; MS_SYNC also puts them on disk. */
	if (msync(mapped, sizeof(student), MS_SYNC) < 0)
		fail("Sync Failed", errno);
	if (munmap(mapped, sizeof(student)) < 0)
		fail("Unmapping Failed", errno);
	return 0;
}
