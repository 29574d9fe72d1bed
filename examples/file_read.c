// SPDX-License-Identifier: GPL-2.0
/*
 * file_read FILE
 *
 * Maps FILE read-only and private, copies the student_t record at its
 * start (written by file_write, maybe by a process that has long exited)
 * and prints it.  A file shorter than a record holds none and is refused.
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
	if (argc > 2)
		fail("Too many arguments", EINVAL);

	fd = open(argv[1], O_RDONLY);
	if (fd < 0)
		fail("File could not open", errno);
	if (fstat(fd, &statbuf) < 0)
		fail("File could not stat", errno);
	/* Reading a mapping past the end of the file would be SIGBUS. */
	if (statbuf.st_size < (off_t)sizeof(student)) {
		fprintf(stderr, "Mapping Failed: %s (%jd bytes, a record is %zu)\n",
			strerror(EINVAL), (intmax_t)statbuf.st_size,
			sizeof(student));
		return 1;
	}

	mapped = mmap(NULL, sizeof(student), PROT_READ, MAP_PRIVATE, fd, 0);
	if (mapped == MAP_FAILED)
		fail("Mapping Failed", errno);
	close(fd);

	memcpy(&student, mapped, sizeof(student));
	if (munmap(mapped, sizeof(student)) < 0)
		fail("Unmapping Failed", errno);
	student_print(&student);
	return 0;
}
