// SPDX-License-Identifier: GPL-2.0
/*
 * ipcbench mem: kernel memory per channel, from /proc/meminfo and SLUB's
 * /sys/kernel/slab, at 2^16 and --max-channels channels of 1- and 128-byte
 * messages, and what is left after rmmod.  It loads the module itself.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

/* A snapshot of what the module's memory shows up in, in bytes. */
struct memsnap {
	long slab, sunreclaim;
	long msg_cache;		/* the message_slot_<size> cache holding the messages */
	long radix;		/* radix_tree_node: xarray nodes */
};

static long meminfo_kb(const char *key)
{
	char line[256];
	size_t klen = strlen(key);
	long value = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		die("/proc/meminfo");
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && line[klen] == ':') {
			value = strtol(line + klen + 1, NULL, 10);
			break;
		}
	fclose(f);
	if (value < 0) {
		errno = ENOENT;
		die("no %s in /proc/meminfo", key);
	}
	return value;
}

static long read_long(const char *path)
{
	char text[64];
	long value;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	value = fgets(text, sizeof(text), f) ? strtol(text, NULL, 10) : -1;
	fclose(f);
	return value;
}

/*
 * Bytes in pages held by a slab cache, from SLUB's sysfs (which follows
 * cache merging: message_slot_32 may be an alias of another 32-byte cache).
 * /proc/slabinfo only lists a merged cache under the name it was created
 * with, so it cannot be used for the module's caches.
 */
static long slab_cache_bytes(const char *cache)
{
	char path[128];
	long slabs, order;

	snprintf(path, sizeof(path), "/sys/kernel/slab/%s/slabs", cache);
	slabs = read_long(path);
	snprintf(path, sizeof(path), "/sys/kernel/slab/%s/order", cache);
	order = read_long(path);
	if (slabs < 0 || order < 0)
		return 0;	/* gone (after rmmod) */
	return slabs * (sysconf(_SC_PAGESIZE) << order);
}

/* Give back empty slabs and wait out RCU frees so deltas are stable. */
static void settle(void)
{
	struct dirent *entry;
	char path[512];
	DIR *dir;

	sync();
	usleep(300 * 1000);
	dir = opendir("/sys/kernel/slab");
	if (!dir)
		die("/sys/kernel/slab");
	while ((entry = readdir(dir))) {
		int fd;

		if (entry->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/kernel/slab/%s/shrink",
			 entry->d_name);
		fd = open(path, O_WRONLY);
		if (fd < 0)
			continue;
		/* A cache that cannot shrink just stays as it is. */
		if (write(fd, "1", 1) < 0 && errno != EINVAL)
			note("shrink %s: %s", entry->d_name, strerror(errno));
		close(fd);
	}
	closedir(dir);
	usleep(300 * 1000);
}

static struct memsnap memsnap_take(const char *msg_cache)
{
	struct memsnap s;

	settle();
	s.slab = meminfo_kb("Slab") * 1024;
	s.sunreclaim = meminfo_kb("SUnreclaim") * 1024;
	s.msg_cache = msg_cache ? slab_cache_bytes(msg_cache) : 0;
	s.radix = slab_cache_bytes("radix_tree_node");
	return s;
}

static void run_cmd(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	if (rc) {
		errno = 0;
		die("'%s' exited %d", cmd, rc);
	}
}

static void emit_value(const char *section, const char *test, const char *mech,
		       long size, double value, const char *unit,
		       const char *target, const char *verdict)
{
	struct stats st = { value, value, value };

	emit(section, test, mech, size, st, unit, target, verdict);
}

/*
 * Per message size: snapshot before insmod (B0), after insmod (B1), after
 * filling 2^16 and then 2^20 channels of one slot (P), after rmmod (A).
 * Per channel = (P - B1) / channels; residue after unload = A - B0.
 */
void bench_mem(void)
{
	static const size_t sizes[] = { 1, 128 };
	unsigned long counts[2] = { 1UL << 16, opt_max_channels };
	unsigned int si, ci;

	for (si = 0; si < 2; si++) {
		size_t size = sizes[si];
		long objsize = (long)((16 + 1 + size + 15) / 16 * 16);
		char cache[32], test[48], target[32];
		struct memsnap b0, b1, p, a;
		unsigned long done = 0;
		double limit = size + 64.0;
		int fd;

		if (objsize < 32)
			objsize = 32;
		snprintf(cache, sizeof(cache), "message_slot_%ld", objsize);
		b0 = memsnap_take(NULL);
		run_cmd("insmod %s", opt_module);
		b1 = memsnap_take(cache);
		fd = slot_open(20);
		for (ci = 0; ci < 2; ci++) {
			double t0 = now_ns(), per_slab, per_sunr, per_cache, per_radix;

			populate(fd, done + 1, counts[ci] + 1, size);
			done = counts[ci];
			note("mem: %zu-byte messages, %lu channels (%.1f s)", size,
			     done, (now_ns() - t0) / 1e9);
			p = memsnap_take(cache);
			per_slab = (double)(p.slab - b1.slab) / done;
			per_sunr = (double)(p.sunreclaim - b1.sunreclaim) / done;
			per_cache = (double)(p.msg_cache - b1.msg_cache) / done;
			per_radix = (double)(p.radix - b1.radix) / done;
			snprintf(test, sizeof(test), "%lu-channels", done);
			snprintf(target, sizeof(target), "<=%g", limit);
			emit_value("mem", test, "Slab", size, per_slab, "B/channel",
				   target, per_slab <= limit ? "PASS" : "MISS");
			emit_value("mem", test, "SUnreclaim", size, per_sunr,
				   "B/channel", NULL, NULL);
			emit_value("mem", test, cache, size, per_cache, "B/channel",
				   NULL, NULL);
			emit_value("mem", test, "radix_tree_node", size, per_radix,
				   "B/channel", NULL, NULL);
		}
		close(fd);
		run_cmd("rmmod message_slot");
		a = memsnap_take(NULL);
		{
			double residue = (double)(a.slab - b0.slab);
			double peak = (double)(p.slab - b0.slab);
			/* "Baseline" allows 1% of the peak for unrelated kernel noise. */
			double allowed = peak / 100 > 256 * 1024 ? peak / 100 : 256 * 1024;

			snprintf(target, sizeof(target), "<=%.0fKiB", allowed / 1024);
			emit_value("mem", "after-rmmod", "Slab", size, residue / 1024,
				   "KiB vs before insmod", target,
				   residue <= allowed ? "PASS" : "MISS");
			emit_value("mem", "after-rmmod", "SUnreclaim", size,
				   (double)(a.sunreclaim - b0.sunreclaim) / 1024,
				   "KiB vs before insmod", NULL, NULL);
			emit_value("mem", "peak", "Slab", size, peak / 1024,
				   "KiB vs before insmod", NULL, NULL);
		}
	}
}
