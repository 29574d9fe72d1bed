#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# dsm benchmark: remote read-fault latency, invalidation round trip and
# sequential remote read throughput on loopback, each also as a ratio to a
# plain TCP round trip measured in the same run.  Repeats the run
# DSM_BENCH_RUNS times (default 7) and reports median, min and max.
#
#   dsm/bench.sh [CSV_PATH]      (CSV columns: see the header line below)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
csv="${1:-}"
runs="${DSM_BENCH_RUNS:-7}"
pages="${DSM_BENCH_PAGES:-2048}"

make -s -C "$here" >/dev/null
raw="$(mktemp)"
trap 'rm -f "$raw"' EXIT
for ((i = 1; i <= runs; i++)); do
	timeout 120 "$here/build/dsm_bench" --pages "$pages" >>"$raw"
done

# One row per metric: median/min/max of the value, and of value/tcp_rtt per
# run (for pages/s the per-page time is compared with the round trip).
awk -v runs="$runs" -v csv="$csv" '
function kv(line, key,   n, a, i, p) {
	n = split(line, a, " ")
	for (i = 1; i <= n; i++) { split(a[i], p, "="); if (p[1] == key) return p[2] + 0 }
	return -1
}
function sortn(arr, n,   i, j, t) {
	for (i = 2; i <= n; i++) for (j = i; j > 1 && arr[j-1] > arr[j]; j--) { t = arr[j]; arr[j] = arr[j-1]; arr[j-1] = t }
}
function med(arr, n) { sortn(arr, n); return n % 2 ? arr[(n+1)/2] : (arr[n/2] + arr[n/2+1]) / 2 }
{ lines[NR] = $0 }
END {
	if (NR != runs) { print "dsm bench: expected " runs " runs, got " NR > "/dev/stderr"; exit 1 }
	nm = split("tcp_rtt_us read_fault_us invalidate_us seq_read_pages_s", keys, " ")
	split("plain TCP round trip (16 B ping-pong)|remote read fault (M on peer -> S)|invalidation round trip (S -> M)|sequential remote read", names, "|")
	split("us us us pages/s", units, " ")
	if (csv != "") print "metric,unit,median,min,max,ratio_to_tcp_rtt_median,ratio_min,ratio_max,runs" > csv
	printf "dsm benchmark on loopback, %d runs (median [min..max]); ratio = time / plain TCP round trip\n", runs
	for (k = 1; k <= nm; k++) {
		for (r = 1; r <= NR; r++) {
			v[r] = kv(lines[r], keys[k]); rtt = kv(lines[r], "tcp_rtt_us")
			t = (units[k] == "pages/s") ? 1e6 / v[r] : v[r]
			q[r] = t / rtt
		}
		for (r = 1; r <= NR; r++) { s1[r] = v[r]; s2[r] = v[r]; s3[r] = q[r]; s4[r] = q[r] }
		m = med(s1, NR); lo = s1[1]; hi = s1[NR]
		qm = med(s3, NR); qlo = s3[1]; qhi = s3[NR]
		printf "  %-40s %10.1f %-8s [%.1f..%.1f]   ratio %5.2f [%.2f..%.2f]\n", names[k], m, units[k], lo, hi, qm, qlo, qhi
		if (csv != "") printf "%s,%s,%.2f,%.2f,%.2f,%.3f,%.3f,%.3f,%d\n", keys[k], units[k], m, lo, hi, qm, qlo, qhi, NR > csv
	}
}' "$raw"
[[ -z "$csv" ]] || echo "wrote $csv"
