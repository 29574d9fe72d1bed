// SPDX-License-Identifier: GPL-2.0
/*
 * msgslot_tool.c - small actions the shell suites need but cannot do in
 * busybox ash.  Not a test program itself: it prints no result lines.
 *
 *   msgslot_tool write <dev> <ch> <msg>        exit 0, or errno name on stderr, exit 1
 *   msgslot_tool write-file <dev> <ch> <file>  the file's bytes (NULs too) as one message
 *   msgslot_tool read <dev> <ch>               message bytes on stdout, or errno name on stderr
 *   msgslot_tool fill <dev> <first> <count> <len>    count messages of len bytes on
 *   msgslot_tool verify <dev> <first> <count> <len>  channels first.., content from the id
 *   msgslot_tool churn <dev> <count>           open, select a channel, read, close, count times
 *   msgslot_tool slabstat                      "slab_kb sunreclaim_kb slabinfo_active_kb"
 *   msgslot_tool openstat <dev> <count>        SUnreclaim kB before and while count
 *                                              fds are open, each with a channel
 *   msgslot_tool slabtop <n>                   the n slab caches with most active bytes
 *   msgslot_tool kmsg-errors                   text of every kernel log record at level <= err
 *   msgslot_tool as-nobody <prog> [args]       exec prog as uid/gid 65534, no groups
 *   msgslot_tool strerrors                     every strerror() text, one per line
 */
#define _GNU_SOURCE
#include <grp.h>
#include <sys/resource.h>

#include "tap.h"
#include "msgslot_util.h"

static int usage(void)
{
	fprintf(stderr, "usage: msgslot_tool write|read|fill|verify|slabstat|openstat|slabtop|kmsg-errors|strerrors ...\n");
	return 2;
}

static int open_channel(const char *dev, const char *ch_text, int flags)
{
	unsigned long ch = strtoul(ch_text, NULL, 0);
	int fd = open(dev, flags);

	if (fd < 0) {
		fprintf(stderr, "open %s: %s\n", dev, tap_errno_name(errno));
		return -1;
	}
	if (ioctl(fd, MSG_SLOT_CHANNEL, (unsigned int)ch) != 0) {
		fprintf(stderr, "ioctl %lu: %s\n", ch, tap_errno_name(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static size_t fill_message(uint32_t id, size_t len, unsigned char *out)
{
	uint32_t state = id * 2654435761u + (uint32_t)len;
	size_t i;

	for (i = 0; i < len; i++)
		out[i] = (unsigned char)xorshift32(&state);
	if (len >= 4)
		memcpy(out, &id, 4);
	return len;
}

static int fill_or_verify(bool verify, const char *dev, const char *first_text,
			  const char *count_text, const char *len_text)
{
	uint32_t first = (uint32_t)strtoul(first_text, NULL, 0);
	uint32_t count = (uint32_t)strtoul(count_text, NULL, 0), i;
	size_t len = strtoul(len_text, NULL, 0);
	unsigned char msg[128], buf[128];
	int fd;

	if (len < 1 || len > 128)
		return usage();
	fd = open(dev, verify ? O_RDONLY : O_RDWR);
	if (fd < 0) {
		fprintf(stderr, "open %s: %s\n", dev, tap_errno_name(errno));
		return 1;
	}
	for (i = 0; i < count; i++) {
		uint32_t id = first + i;
		long n;

		fill_message(id, len, msg);
		if (ioctl(fd, MSG_SLOT_CHANNEL, id) != 0) {
			fprintf(stderr, "ioctl %u: %s\n", id, tap_errno_name(errno));
			return 1;
		}
		if (verify) {
			n = read(fd, buf, sizeof(buf));
			if (n != (long)len || memcmp(buf, msg, len) != 0) {
				fprintf(stderr, "%s channel %u: read %s bytes, expected its %zu-byte message\n",
					dev, id, tap_got(n, errno), len);
				return 1;
			}
		} else {
			n = write(fd, msg, len);
			if (n != (long)len) {
				fprintf(stderr, "%s channel %u: write returned %s\n", dev, id,
					tap_got(n, errno));
				return 1;
			}
		}
	}
	close(fd);
	return 0;
}

/* /proc/meminfo value of key, in kB, or -1. */
static long meminfo_kb(const char *key)
{
	char line[256];
	size_t klen = strlen(key);
	long value = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			value = strtol(line + klen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return value;
}

struct slab_line {
	char name[64];
	unsigned long long active_bytes;
};

/* Parses /proc/slabinfo (version 2.1): name active_objs num_objs objsize ... */
static int read_slabinfo(struct slab_line *lines, int max, unsigned long long *total)
{
	char line[512];
	int n = 0;
	FILE *f = fopen("/proc/slabinfo", "r");

	*total = 0;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char name[64];
		unsigned long active, num, size;

		if (line[0] == '#' || strncmp(line, "slabinfo", 8) == 0)
			continue;
		if (sscanf(line, "%63s %lu %lu %lu", name, &active, &num, &size) != 4)
			continue;
		*total += (unsigned long long)active * size;
		if (lines && n < max) {
			snprintf(lines[n].name, sizeof(lines[n].name), "%s", name);
			lines[n].active_bytes = (unsigned long long)active * size;
			n++;
		}
	}
	fclose(f);
	return n;
}

static int slabstat(void)
{
	unsigned long long total;

	if (read_slabinfo(NULL, 0, &total) < 0) {
		fprintf(stderr, "/proc/slabinfo: %s\n", tap_errno_name(errno));
		return 1;
	}
	printf("%ld %ld %llu\n", meminfo_kb("Slab"), meminfo_kb("SUnreclaim"), total / 1024);
	return 0;
}

static int openstat(const char *dev, unsigned long count)
{
	struct rlimit lim = { count + 64, count + 64 };
	long before = meminfo_kb("SUnreclaim"), during;
	int *fds = calloc(count, sizeof(*fds));
	unsigned long i;

	if (!fds || setrlimit(RLIMIT_NOFILE, &lim) != 0) {
		fprintf(stderr, "openstat: %s\n", tap_errno_name(errno));
		return 1;
	}
	for (i = 0; i < count; i++) {
		fds[i] = open_channel(dev, "1", O_RDONLY);
		if (fds[i] < 0)
			return 1;
	}
	during = meminfo_kb("SUnreclaim");
	for (i = 0; i < count; i++)
		close(fds[i]);
	free(fds);
	printf("%ld %ld\n", before, during);
	return 0;
}

static int cmp_active(const void *a, const void *b)
{
	const struct slab_line *x = a, *y = b;

	return x->active_bytes < y->active_bytes ? 1 : x->active_bytes > y->active_bytes ? -1 : 0;
}

static int slabtop(int count)
{
	static struct slab_line lines[1024];
	unsigned long long total;
	int n = read_slabinfo(lines, 1024, &total), i;

	if (n < 0)
		return 1;
	qsort(lines, (size_t)n, sizeof(lines[0]), cmp_active);
	for (i = 0; i < n && i < count; i++)
		printf("%s %llu\n", lines[i].name, lines[i].active_bytes / 1024);
	return 0;
}

/* /dev/kmsg records: "prio,seq,usec,flags;text\n[ continuation\n]" */
static int kmsg_errors(void)
{
	char rec[8192];
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);

	if (fd < 0) {
		fprintf(stderr, "/dev/kmsg: %s\n", tap_errno_name(errno));
		return 1;
	}
	for (;;) {
		ssize_t n = read(fd, rec, sizeof(rec) - 1);
		char *text, *nl;

		if (n < 0 && errno == EPIPE)
			continue; /* overwritten records: go on with the next */
		if (n <= 0)
			break;
		rec[n] = '\0';
		text = strchr(rec, ';');
		if (!text || (strtol(rec, NULL, 10) & 7) > 3)
			continue;
		text++;
		nl = strchr(text, '\n');
		if (nl)
			*nl = '\0';
		printf("%s\n", text);
	}
	close(fd);
	return 0;
}

static int strerrors(void)
{
	int e;

	for (e = 1; e < 134; e++) {
		const char *s = strerror(e);

		if (strncmp(s, "Unknown error", 13) != 0)
			printf("%s\n", s);
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";

	if (strcmp(cmd, "write") == 0 && argc == 5) {
		int fd = open_channel(argv[2], argv[3], O_RDWR);
		size_t len = strlen(argv[4]);

		if (fd < 0)
			return 1;
		if (write(fd, argv[4], len) != (long)len) {
			fprintf(stderr, "write: %s\n", tap_errno_name(errno));
			return 1;
		}
		return 0;
	}
	if (strcmp(cmd, "write-file") == 0 && argc == 5) {
		unsigned char buf[4096];
		int fd = open_channel(argv[2], argv[3], O_RDWR);
		int in = open(argv[4], O_RDONLY);
		long len;

		if (fd < 0 || in < 0 || (len = read(in, buf, sizeof(buf))) < 0) {
			fprintf(stderr, "write-file: %s\n", tap_errno_name(errno));
			return 1;
		}
		if (write(fd, buf, (size_t)len) != len) {
			fprintf(stderr, "write: %s\n", tap_errno_name(errno));
			return 1;
		}
		return 0;
	}
	if (strcmp(cmd, "read") == 0 && argc == 4) {
		unsigned char buf[128];
		int fd = open_channel(argv[2], argv[3], O_RDONLY);
		long n;

		if (fd < 0)
			return 1;
		n = read(fd, buf, sizeof(buf));
		if (n < 0) {
			fprintf(stderr, "read: %s\n", tap_errno_name(errno));
			return 1;
		}
		return write(STDOUT_FILENO, buf, (size_t)n) == n ? 0 : 1;
	}
	if ((strcmp(cmd, "fill") == 0 || strcmp(cmd, "verify") == 0) && argc == 6)
		return fill_or_verify(cmd[0] == 'v', argv[2], argv[3], argv[4], argv[5]);
	if (strcmp(cmd, "churn") == 0 && argc == 4) {
		unsigned long count = strtoul(argv[3], NULL, 0), i;
		char buf[128];

		for (i = 0; i < count; i++) {
			int fd = open_channel(argv[2], "1", O_RDONLY);

			if (fd < 0)
				return 1;
			/* any outcome of the read is fine: it only uses the state */
			if (read(fd, buf, sizeof(buf)) < 0 && errno != EAGAIN) {
				fprintf(stderr, "read: %s\n", tap_errno_name(errno));
				return 1;
			}
			close(fd);
		}
		return 0;
	}
	if (strcmp(cmd, "slabstat") == 0 && argc == 2)
		return slabstat();
	if (strcmp(cmd, "openstat") == 0 && argc == 4)
		return openstat(argv[2], strtoul(argv[3], NULL, 0));
	if (strcmp(cmd, "slabtop") == 0 && argc == 3)
		return slabtop(atoi(argv[2]));
	if (strcmp(cmd, "kmsg-errors") == 0 && argc == 2)
		return kmsg_errors();
	if (strcmp(cmd, "as-nobody") == 0 && argc >= 3) {
		/* busybox has no setpriv --reuid; this is the same thing */
		if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0) {
			fprintf(stderr, "dropping to uid 65534: %s\n", tap_errno_name(errno));
			return 126;
		}
		execv(argv[2], argv + 2);
		fprintf(stderr, "exec %s: %s\n", argv[2], tap_errno_name(errno));
		return 127;
	}
	if (strcmp(cmd, "strerrors") == 0 && argc == 2)
		return strerrors();
	return usage();
}
