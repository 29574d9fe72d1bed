/*
 * course_validate N max_size < sorted_trace - the NP-Heap course workflow's
 * checker, written from the contract (the original sources are not available).
 *
 * Reads the concatenated benchmark logs sorted by timestamp (field 3) and
 * replays them into the expected content of every object:
 *   S  object now holds <data>            D  object deleted (empty)
 *   G  a process read <data> under the lock: must equal the replayed state
 * Then, as a fresh process, re-reads every object 0..N-1 through getsize +
 * alloc and compares it with the replayed state: the digits, zero bytes after
 * them up to the object's size, and size 0 exactly for objects that ended
 * deleted.  Prints "Pass" on stderr and exits 0 when everything matches;
 * otherwise prints each mismatch and "Fail" on stderr and exits 1 (2 for
 * unusable input or arguments).
 *
 * The device defaults to /dev/npheap; $NPHEAP_DEVICE overrides it.
 */
#define _GNU_SOURCE
#include <npheap.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct expected_object {
	char *data;		/* NULL: no object (never set, or deleted) */
	size_t len;
	uint64_t last_stamp;	/* of the last logged operation on this id */
};

static int parse_u64(const char *s, unsigned long long *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno == 0 && end != s && *end == '\0' && s[0] != '-';
}

/* Split a log line into its six tab-separated fields (data may be empty). */
static int split_fields(char *line, char *field[6])
{
	for (int i = 0; i < 5; i++) {
		char *tab = strchr(line, '\t');

		if (!tab)
			return 0;
		*tab = '\0';
		field[i] = line;
		line = tab + 1;
	}
	field[5] = line;
	return strchr(line, '\t') == NULL;
}

static size_t page_round(unsigned long long n, size_t page)
{
	return (size_t)((n + page - 1) / page * page);
}

int main(int argc, char *argv[])
{
	unsigned long long n, max_size;

	if (argc != 3 || !parse_u64(argv[1], &n) || !parse_u64(argv[2], &max_size) ||
	    n == 0 || n > (1ULL << 24) || max_size <= 10 || max_size > (1ULL << 30)) {
		fprintf(stderr, "Usage: %s number_of_objects max_size_of_objects(>10) "
			"< sorted_trace\n", argv[0]);
		return 2;
	}
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	/* The first writer picks <= max_size; later ones reuse getsize, a page multiple. */
	size_t max_object = page_round(max_size, page);

	struct expected_object *obj = calloc((size_t)n, sizeof(*obj));
	if (!obj) {
		perror("course_validate: calloc");
		return 2;
	}

	char *line = NULL;
	size_t cap = 0;
	ssize_t got;
	unsigned long long lineno = 0, errors = 0, ops[3] = { 0, 0, 0 };
	uint64_t prev_stamp = 0;

	while ((got = getline(&line, &cap, stdin)) > 0) {
		char *field[6];
		unsigned long long pid, stamp, id, len;

		lineno++;
		if (line[got - 1] == '\n')
			line[--got] = '\0';
		if (!split_fields(line, field) || strlen(field[0]) != 1 ||
		    !parse_u64(field[1], &pid) || !parse_u64(field[2], &stamp) ||
		    !parse_u64(field[3], &id) || !parse_u64(field[4], &len)) {
			fprintf(stderr, "line %llu: malformed log line\n", lineno);
			return 2;
		}
		char op = field[0][0];
		const char *data = field[5];
		size_t data_len = strlen(data);

		if (id >= n) {
			fprintf(stderr, "line %llu: id %llu out of range 0..%llu\n",
				lineno, id, n - 1);
			return 2;
		}
		if (stamp < prev_stamp) {
			fprintf(stderr, "line %llu: input is not sorted by timestamp\n", lineno);
			return 2;
		}
		prev_stamp = stamp;
		/* Equal stamps on one id would make the replay order ambiguous. */
		if (obj[id].last_stamp != 0 && stamp <= obj[id].last_stamp) {
			fprintf(stderr, "line %llu: id %llu has two operations at %llu us\n",
				lineno, id, stamp);
			return 2;
		}
		obj[id].last_stamp = stamp;
		if (len != data_len || strspn(data, "0123456789") != data_len) {
			fprintf(stderr, "line %llu: length field %llu does not describe "
				"its %zu-byte digit string\n", lineno, len, data_len);
			return 2;
		}

		switch (op) {
		case 'S':
			ops[0]++;
			if (data_len == 0 || data_len >= max_object) {
				fprintf(stderr, "line %llu: S of %zu bytes cannot fit an "
					"object of at most %zu bytes\n", lineno, data_len,
					max_object);
				errors++;
			}
			free(obj[id].data);
			obj[id].data = strdup(data);
			if (!obj[id].data) {
				perror("course_validate: strdup");
				return 2;
			}
			obj[id].len = data_len;
			break;
		case 'D':
			ops[1]++;
			free(obj[id].data);
			obj[id].data = NULL;
			obj[id].len = 0;
			break;
		case 'G':
			ops[2]++;
			if (!obj[id].data || obj[id].len != data_len ||
			    memcmp(obj[id].data, data, data_len) != 0) {
				fprintf(stderr, "line %llu: pid %llu read object %llu as "
					"\"%.40s\"(%zu bytes) but the last write was "
					"\"%.40s\"(%zu bytes)\n", lineno, pid, id, data,
					data_len, obj[id].data ? obj[id].data : "",
					obj[id].len);
				errors++;
			}
			break;
		default:
			fprintf(stderr, "line %llu: unknown op '%c'\n", lineno, op);
			return 2;
		}
	}
	free(line);
	if (ferror(stdin)) {
		perror("course_validate: stdin");
		return 2;
	}

	const char *dev = getenv("NPHEAP_DEVICE");
	if (!dev)
		dev = "/dev/npheap";
	int devfd = open(dev, O_RDWR);
	if (devfd < 0) {
		fprintf(stderr, "course_validate: open %s: %s\n", dev, strerror(errno));
		return 2;
	}

	unsigned long long live = 0;
	for (unsigned long long id = 0; id < n; id++) {
		long size = npheap_getsize(devfd, id);

		if (size < 0) {
			fprintf(stderr, "Object %llu: npheap_getsize: %s\n", id, strerror(errno));
			errors++;
			continue;
		}
		if (!obj[id].data) {
			if (size != 0) {
				fprintf(stderr, "Object %llu should not exist but has %ld bytes\n",
					id, size);
				errors++;
			}
			continue;
		}
		live++;
		if (size == 0 || (size_t)size % page != 0 || (size_t)size > max_object ||
		    (size_t)size <= obj[id].len) {
			fprintf(stderr, "Object %llu has size %ld, expected a page multiple "
				"in %zu..%zu\n", id, size, obj[id].len + 1, max_object);
			errors++;
			continue;
		}
		unsigned char *mapped = npheap_alloc(devfd, id, (__u64)size);
		if (mapped == MAP_FAILED) {
			fprintf(stderr, "Object %llu: npheap_alloc: %s\n", id, strerror(errno));
			errors++;
			continue;
		}
		size_t tail_nonzero = 0;
		for (size_t i = obj[id].len; i < (size_t)size; i++)
			tail_nonzero += mapped[i] != 0;
		if (memcmp(mapped, obj[id].data, obj[id].len) != 0 || tail_nonzero) {
			fprintf(stderr, "Object %llu has a wrong value \"%.40s\" v.s. "
				"\"%.40s\" (%zu nonzero bytes after the string)\n", id,
				(const char *)mapped, obj[id].data, tail_nonzero);
			errors++;
		}
		munmap(mapped, (size_t)size);
	}
	close(devfd);

	fprintf(stderr, "%llu lines (%llu S, %llu D, %llu G), %llu live objects of %llu, "
		"%llu errors\n", lineno, ops[0], ops[1], ops[2], live, n, errors);
	for (unsigned long long id = 0; id < n; id++)
		free(obj[id].data);
	free(obj);
	if (errors) {
		fprintf(stderr, "Fail\n");
		return 1;
	}
	fprintf(stderr, "Pass\n");
	return 0;
}
