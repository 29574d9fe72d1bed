// SPDX-License-Identifier: GPL-2.0
/* dsm CLI: the seed's interactive two-instance tool on top of libdsm, also
 * built as `s2dsm` (the name the course handout uses).
 *
 *   s2dsm <listen-port> <peer-port> [peer-host]
 *
 * Start one instance, then the other with the ports swapped.  The two pair
 * first; then the first instance asks for the number of pages.  Every prompt
 * reads one line of stdin, so a script can drive it through a pipe. */
#define _GNU_SOURCE
#include "dsm.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static sigjmp_buf bus_jmp;
static volatile sig_atomic_t bus_armed;
static volatile sig_atomic_t stop_sig; /* SIGINT/SIGTERM seen: leave cleanly */
static const char *prog = "dsm";

static void on_sigbus(int sig)
{
	(void)sig;
	if (bus_armed)
		siglongjmp(bus_jmp, 1);
	signal(SIGBUS, SIG_DFL);
	raise(SIGBUS);
}

/* Once the session runs, SIGINT and SIGTERM end it the way end of input
 * does (the peer receives the pages only this host holds).  A second signal
 * while leaving takes the default action. */
static void on_stop(int sig)
{
	if (stop_sig) {
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	stop_sig = sig;
}

/* The fault thread calls this while our main thread is blocked on the very
 * access that faulted, so the line lands exactly before the page's output.
 * The main thread never touches the region while holding the stdout lock. */
static void on_remote_fault(void *arg, size_t page, enum dsm_fault_kind kind)
{
	(void)arg;
	(void)page;
	(void)kind;
	fputs(" [x] PAGEFAULT\n", stdout);
	fflush(stdout);
}

/* Asynchronous notice goes to stderr so the stdout transcript stays exact;
 * the main loop reports the same on stdout at its next step. */
static void on_peer_gone(void *arg, enum dsm_peer_status st, const char *why)
{
	(void)arg;
	(void)st;
	fprintf(stderr, "%s: %s\n", prog, why);
}

static void on_rejected(void *arg, const char *why)
{
	(void)arg;
	fprintf(stderr, "%s: %s; still waiting for the peer\n", prog, why);
}

/* Reads one line without the newline.  NULL on EOF, or when a signal
 * interrupted the read (stop_sig is then set). */
static char *read_line(char **buf, size_t *cap)
{
	ssize_t n = getline(buf, cap, stdin);
	if (n < 0)
		return NULL;
	while (n > 0 && ((*buf)[n - 1] == '\n' || (*buf)[n - 1] == '\r'))
		(*buf)[--n] = '\0';
	return *buf;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

static bool parse_long(const char *s, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (!*s || *end || errno)
		return false;
	*out = v;
	return true;
}

static void prompt(const char *s)
{
	fputs(s, stdout);
	fflush(stdout);
}

/* Copies a page out of the region (faults happen here, not inside printf). */
static bool load_page(char *dst, const char *src, size_t len)
{
	bus_armed = 1;
	if (sigsetjmp(bus_jmp, 1)) {
		bus_armed = 0;
		return false;
	}
	memcpy(dst, src, len);
	bus_armed = 0;
	return true;
}

static bool store_page(char *dst, const char *msg, size_t len)
{
	bus_armed = 1;
	if (sigsetjmp(bus_jmp, 1)) {
		bus_armed = 0;
		return false;
	}
	memcpy(dst, msg, len);
	dst[len] = '\0';
	bus_armed = 0;
	return true;
}

static void report_peer(dsm_t *d, bool *reported)
{
	if (*reported || dsm_peer_status(d) == DSM_PEER_CONNECTED)
		return;
	*reported = true;
	printf(" [!] %s: %s\n", dsm_peer_status(d) == DSM_PEER_LEFT ? "Peer left" : "Peer lost",
	       dsm_error(d));
}

static void print_page(dsm_t *d, char *region, long i, char *buf)
{
	size_t ps = dsm_page_size(d);
	if (!load_page(buf, region + (size_t)i * ps, ps)) {
		printf(" [!] Page %ld is unavailable: its only copy was on the lost peer\n", i);
		return;
	}
	buf[ps] = '\0';
	printf(" [*] Page %ld:\n%s\n", i, buf);
}

static void usage(void)
{
	fprintf(stderr, "usage: %s <listen-port> <peer-port> [peer-host]\n"
			"Start one instance, then a second one with the two ports swapped.\n",
		prog);
}

static void print_states(dsm_t *d, long from, long to)
{
	for (long i = from; i <= to; i++)
		printf(" [*] Page %ld: %c\n", i, dsm_page_state(d, (size_t)i));
}

/* Asks for the page until the answer is one; false on end of input. */
static bool ask_page(const char *page_prompt, int last, char **line, size_t *cap, long *page)
{
	for (;;) {
		if (stop_sig)
			return false;
		prompt(page_prompt);
		char *s = read_line(line, cap);
		if (!s)
			return false;
		s = trim(s);
		if (parse_long(s, page) && *page >= -1 && *page <= last)
			return true;
		printf(" [!] Invalid page '%s': enter a number from 0 to %i, or -1 for all\n", s, last);
	}
}

static void say_end(void)
{
	if (stop_sig)
		printf("\n [*] Caught %s; leaving\n", stop_sig == SIGINT ? "SIGINT" : "SIGTERM");
	else
		printf("\n [*] End of input; exiting\n");
}

int main(int argc, char **argv)
{
	const char *slash = strrchr(argv[0], '/');
	prog = slash ? slash + 1 : argv[0];
	if (argc < 3 || argc > 4) {
		usage();
		return 2;
	}
	long lp, pp;
	if (!parse_long(argv[1], &lp) || lp < 1 || lp > 65535 || !parse_long(argv[2], &pp) || pp < 1 ||
	    pp > 65535) {
		fprintf(stderr, "%s: ports must be numbers from 1 to 65535\n", prog);
		usage();
		return 2;
	}
	const char *peer_host = argc == 4 ? argv[3] : "localhost";

	struct sigaction sa = {0};
	sa.sa_handler = on_sigbus;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);

	struct dsm_options opt;
	dsm_options_init(&opt);
	opt.on_remote_fault = on_remote_fault;
	opt.on_peer_gone = on_peer_gone;
	opt.on_rejected = on_rejected;
	char err[400];
	dsm_t *d = dsm_open(argv[1], peer_host, argv[2], &opt, err, sizeof err);
	if (!d) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return 1;
	}
	/* Pairing comes first; then the first instance chooses the size. */
	if (dsm_role(d) == DSM_ROLE_FIRST)
		fprintf(stderr, "%s: waiting for the peer on port %s\n", prog, argv[1]);
	if (dsm_pair(d) < 0) {
		fprintf(stderr, "%s: %s\n", prog, dsm_error(d));
		dsm_close(d);
		return 1;
	}

	char *line = NULL;
	size_t cap = 0;
	char *region;
	if (dsm_role(d) == DSM_ROLE_FIRST) {
		long n;
		for (;;) {
			prompt(" > How many pages would you like to allocate (greater than 0)?");
			char *s = read_line(&line, &cap);
			if (!s) {
				printf("\n [!] End of input before a page count was given; exiting\n");
				dsm_close(d);
				free(line);
				return 1;
			}
			s = trim(s);
			if (parse_long(s, &n) && n > 0 && n <= (long)DSM_MAX_PAGES)
				break;
			printf(" [!] '%s' is not a number of pages from 1 to %u\n", s, DSM_MAX_PAGES);
		}
		region = dsm_map(d, (size_t)n, NULL);
		if (!region) {
			fprintf(stderr, "%s: %s\n", prog, dsm_error(d));
			dsm_close(d);
			free(line);
			return 1;
		}
		printf(" [*] Address returned by mmap() = %p, size = %zu bytes (%zu pages)\n", (void *)region,
		       dsm_npages(d) * dsm_page_size(d), dsm_npages(d));
	} else {
		fprintf(stderr, "%s: paired; waiting for the first instance to choose the size\n", prog);
		region = dsm_map(d, 0, NULL);
		if (!region) {
			fprintf(stderr, "%s: %s\n", prog, dsm_error(d));
			dsm_close(d);
			free(line);
			return 1;
		}
		printf(" [*] Address received from peer = %p, size = %zu bytes (%zu pages)\n", (void *)region,
		       dsm_npages(d) * dsm_page_size(d), dsm_npages(d));
	}
	/* No SA_RESTART: a signal interrupts the blocking read of stdin. */
	sa.sa_handler = on_stop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	size_t ps = dsm_page_size(d);
	int last = (int)dsm_npages(d) - 1;
	char *buf = malloc(ps + 1);
	if (!buf) {
		fprintf(stderr, "%s: out of memory\n", prog);
		dsm_close(d);
		free(line);
		return 1;
	}
	char page_prompt[96];
	snprintf(page_prompt, sizeof page_prompt, " > For which page? (0-%i, or -1 for all): ", last);
	bool reported = false;
	int rc = 0;
	for (;;) {
		if (stop_sig)
			break;
		report_peer(d, &reported);
		prompt(" > Which command should I run? (r:read, w:write, v:view msi array): ");
		char *s = read_line(&line, &cap);
		if (!s)
			break;
		s = trim(s);
		report_peer(d, &reported);
		char cmd = s[0];
		if (strlen(s) != 1 || (cmd != 'r' && cmd != 'w' && cmd != 'v')) {
			printf(" [!] Unknown command '%s': use r, w or v\n", s);
			continue;
		}
		long page;
		if (!ask_page(page_prompt, last, &line, &cap, &page))
			break;
		long from = page < 0 ? 0 : page, to = page < 0 ? last : page;
		if (cmd == 'v') {
			print_states(d, from, to);
			continue;
		}
		if (cmd == 'w') {
			prompt(" > Type your new message: ");
			s = read_line(&line, &cap);
			if (!s)
				break;
			size_t len = strlen(s);
			if (len > ps - 1) {
				printf(" [!] Message truncated to %zu bytes (one page)\n", ps - 1);
				len = ps - 1;
			}
			for (long i = from; i <= to; i++) {
				fflush(stdout);
				if (!store_page(region + (size_t)i * ps, s, len))
					printf(" [!] Page %ld cannot be written: its only copy was on the "
					       "lost peer\n", i);
			}
		}
		for (long i = from; i <= to; i++) {
			fflush(stdout);
			print_page(d, region, i, buf);
		}
	}
	say_end();
	fflush(stdout);
	free(buf);
	free(line);
	if (dsm_close(d) < 0)
		rc = 1;
	if (stop_sig) {
		/* Report the signal to the parent the usual way. */
		fflush(stdout);
		signal(stop_sig, SIG_DFL);
		raise(stop_sig);
	}
	return rc;
}
