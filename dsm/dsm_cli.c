/* dsm CLI: the seed's interactive two-instance tool on top of libdsm.
 *
 *   dsm <listen-port> <peer-port> [peer-host]
 *
 * Start one instance, then the other with the ports swapped.  Every prompt
 * reads one line of stdin, so a script can drive it through a pipe. */
#define _GNU_SOURCE
#include "dsm.h"

#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static sigjmp_buf bus_jmp;
static volatile sig_atomic_t bus_armed;

static void on_sigbus(int sig)
{
	(void)sig;
	if (bus_armed)
		siglongjmp(bus_jmp, 1);
	signal(SIGBUS, SIG_DFL);
	raise(SIGBUS);
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
	fprintf(stderr, "dsm: %s\n", why);
}

/* Reads one line without the newline.  NULL on EOF. */
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

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s <listen-port> <peer-port> [peer-host]\n"
			"Start one instance, then a second one with the two ports swapped.\n",
		prog);
}

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 4) {
		usage(argv[0]);
		return 2;
	}
	long lp, pp;
	if (!parse_long(argv[1], &lp) || lp < 1 || lp > 65535 || !parse_long(argv[2], &pp) || pp < 1 ||
	    pp > 65535) {
		fprintf(stderr, "%s: ports must be numbers from 1 to 65535\n", argv[0]);
		usage(argv[0]);
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
	char err[400];
	dsm_t *d = dsm_open(argv[1], peer_host, argv[2], &opt, err, sizeof err);
	if (!d) {
		fprintf(stderr, "%s: %s\n", argv[0], err);
		return 1;
	}

	char *line = NULL;
	size_t cap = 0;
	char *region;
	if (dsm_role(d) == DSM_ROLE_FIRST) {
		long n;
		for (;;) {
			prompt(" > How many pages would you like to allocate (greater than 0)?\n");
			char *s = read_line(&line, &cap);
			if (!s) {
				printf(" [!] End of input before a page count was given; exiting\n");
				dsm_close(d);
				free(line);
				return 1;
			}
			s = trim(s);
			if (parse_long(s, &n) && n > 0 && n <= INT_MAX)
				break;
			printf(" [!] '%s' is not a whole number greater than 0\n", s);
		}
		fprintf(stderr, "dsm: waiting for the peer on port %s\n", argv[1]);
		region = dsm_map(d, (size_t)n, NULL);
		if (!region) {
			fprintf(stderr, "%s: %s\n", argv[0], dsm_error(d));
			dsm_close(d);
			free(line);
			return 1;
		}
		printf(" [*] Address returned by mmap() = %p, size = %zu bytes (%zu pages)\n", (void *)region,
		       dsm_npages(d) * dsm_page_size(d), dsm_npages(d));
	} else {
		region = dsm_map(d, 0, NULL);
		if (!region) {
			fprintf(stderr, "%s: %s\n", argv[0], dsm_error(d));
			dsm_close(d);
			free(line);
			return 1;
		}
		printf(" [*] Address received from peer = %p, size = %zu bytes (%zu pages)\n", (void *)region,
		       dsm_npages(d) * dsm_page_size(d), dsm_npages(d));
	}

	size_t ps = dsm_page_size(d);
	int last = (int)dsm_npages(d) - 1;
	char *buf = malloc(ps + 1);
	char page_prompt[96];
	snprintf(page_prompt, sizeof page_prompt, " > For which page? (0-%i, or -1 for all): ", last);
	bool reported = false;
	int rc = 0;
	for (;;) {
		report_peer(d, &reported);
		prompt(" > Which command should I run? (r:read, w:write, v:view msi array): ");
		char *s = read_line(&line, &cap);
		if (!s) {
			printf("\n [*] End of input; exiting\n");
			break;
		}
		s = trim(s);
		report_peer(d, &reported);
		char cmd = s[0];
		if (strlen(s) != 1 || (cmd != 'r' && cmd != 'w' && cmd != 'v')) {
			printf(" [!] Unknown command '%s': use r, w or v\n", s);
			continue;
		}
		if (cmd == 'v') {
			for (int i = 0; i <= last; i++)
				printf(" [*] Page %i: %c\n", i, dsm_page_state(d, (size_t)i));
			continue;
		}
		prompt(page_prompt);
		s = read_line(&line, &cap);
		if (!s) {
			printf("\n [*] End of input; exiting\n");
			break;
		}
		s = trim(s);
		long page;
		if (!parse_long(s, &page) || page < -1 || page > last) {
			printf(" [!] Invalid page '%s': enter a number from 0 to %i, or -1 for all\n", s, last);
			continue;
		}
		long from = page < 0 ? 0 : page, to = page < 0 ? last : page;
		if (cmd == 'w') {
			prompt(" > Type your new message: ");
			s = read_line(&line, &cap);
			if (!s) {
				printf("\n [*] End of input; exiting\n");
				break;
			}
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
	fflush(stdout);
	free(buf);
	free(line);
	if (dsm_close(d) < 0)
		rc = 1;
	return rc;
}
