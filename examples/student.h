/* SPDX-License-Identifier: GPL-2.0 */
/*
 * student.h - the record every example passes between processes (the seed's
 * student_t: roll number, marks, name, city) and the helpers they share.
 * Writers and readers of all three mechanisms include this one definition,
 * so they cannot disagree about the layout.
 */
#ifndef STUDENT_H
#define STUDENT_H

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STUDENT_TEXT_LEN	128	/* name and city, NUL included */

typedef struct {
	int roll_no;
	int marks;
	char name[STUDENT_TEXT_LEN];
	char city[STUDENT_TEXT_LEN];
} student_t;

/* Every failure: the message, the strerror() text, exit status 1. */
static inline void fail(const char *msg, int err)
{
	fprintf(stderr, "%s: %s\n", msg, strerror(err));
	exit(1);
}

/* Parse a whole decimal number in [min, max]; any junk fails. */
static inline int parse_number(const char *text, long long min, long long max,
			       long long *value)
{
	long long parsed;
	char *end;

	if ((*text < '0' || *text > '9') && *text != '-')
		return EINVAL;
	errno = 0;
	parsed = strtoll(text, &end, 10);
	if (errno)
		return errno;
	if (end == text || *end)
		return EINVAL;
	if (parsed < min || parsed > max)
		return ERANGE;
	*value = parsed;
	return 0;
}

static inline void set_text(char *dst, const char *src, const char *what)
{
	char msg[64];

	if (strlen(src) >= STUDENT_TEXT_LEN) {
		snprintf(msg, sizeof(msg), "%s longer than %d bytes", what,
			 STUDENT_TEXT_LEN - 1);
		fail(msg, EINVAL);
	}
	strcpy(dst, src);
}

/*
 * The record a writer sends: the seed's values when argv has nothing after
 * argv[first - 1], else exactly ROLL_NO MARKS NAME CITY.  Zeroed first, so
 * no stray bytes reach a file or a heap object.
 */
static inline void student_from_args(student_t *s, int argc, char **argv,
				     int first)
{
	long long number;
	int err;

	memset(s, 0, sizeof(*s));
	if (argc == first) {
		s->roll_no = 123;
		s->marks = 90;
		strcpy(s->name, "Abhishek");
		strcpy(s->city, "Bangalore");
		return;
	}
	if (argc != first + 4)
		fail("Record needs ROLL_NO MARKS NAME CITY", EINVAL);
	err = parse_number(argv[first], INT_MIN, INT_MAX, &number);
	if (err)
		fail("Roll number is not a number", err);
	s->roll_no = (int)number;
	err = parse_number(argv[first + 1], INT_MIN, INT_MAX, &number);
	if (err)
		fail("Marks is not a number", err);
	s->marks = (int)number;
	set_text(s->name, argv[first + 2], "Name");
	set_text(s->city, argv[first + 3], "City");
}

/* Bounded by the arrays: a record from elsewhere may lack its NULs. */
static inline void student_print(const student_t *s)
{
	printf("roll_no: %d\nmarks: %d\nname: %.*s\ncity: %.*s\n",
	       s->roll_no, s->marks,
	       (int)strnlen(s->name, STUDENT_TEXT_LEN), s->name,
	       (int)strnlen(s->city, STUDENT_TEXT_LEN), s->city);
}

/*
 * The record packed for a channel of at most `size` bytes (a message slot
 * holds 128): roll_no and marks as 4 bytes each in host byte order, then
 * name and city, each NUL-terminated.  Returns the length, or 0 when the
 * strings are too long to fit.
 */
static inline size_t student_pack(const student_t *s, unsigned char *buf,
				  size_t size)
{
	size_t name_len = strnlen(s->name, STUDENT_TEXT_LEN - 1) + 1;
	size_t city_len = strnlen(s->city, STUDENT_TEXT_LEN - 1) + 1;
	int32_t numbers[2] = { s->roll_no, s->marks };
	size_t len = sizeof(numbers) + name_len + city_len;

	if (len > size)
		return 0;
	memcpy(buf, numbers, sizeof(numbers));
	memcpy(buf + sizeof(numbers), s->name, name_len - 1);
	buf[sizeof(numbers) + name_len - 1] = '\0';
	memcpy(buf + sizeof(numbers) + name_len, s->city, city_len - 1);
	buf[len - 1] = '\0';
	return len;
}

/* The reverse; -1 unless buf is exactly one packed record. */
static inline int student_unpack(student_t *s, const unsigned char *buf,
				 size_t len)
{
	int32_t numbers[2];
	const unsigned char *name = buf + sizeof(numbers), *city, *end;
	size_t name_len, city_len;

	if (len < sizeof(numbers) + 2 || buf[len - 1] != '\0')
		return -1;
	end = buf + len;
	name_len = strnlen((const char *)name, (size_t)(end - name));
	city = name + name_len + 1;
	if (city >= end)
		return -1;
	city_len = (size_t)(end - city) - 1;
	if (strlen((const char *)city) != city_len ||
	    name_len >= STUDENT_TEXT_LEN || city_len >= STUDENT_TEXT_LEN)
		return -1;
	memset(s, 0, sizeof(*s));
	memcpy(numbers, buf, sizeof(numbers));
	s->roll_no = numbers[0];
	s->marks = numbers[1];
	memcpy(s->name, name, name_len);
	memcpy(s->city, city, city_len);
	return 0;
}

#endif /* STUDENT_H */
