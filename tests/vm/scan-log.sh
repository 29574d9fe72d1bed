#!/usr/bin/env bash
# Looks for kernel problem reports in a VM console log written by boot.sh.
#   scan-log.sh <log>
# Exit 0: clean. Exit 1: reports found; stdout is then a one-line summary
# followed by the offending log sections.
#
# Only kernel lines (those with a printk timestamp) are matched, so a test
# printing the word "WARNING:" cannot fail the run. The console and the
# dmesg dump at the end hold the same lines; each report is shown once.
# Lockdep reports all start with "WARNING:" or "BUG:"; the bare word is not
# matched because a lockdep kernel's boot log mentions it harmlessly.
set -euo pipefail
log=${1:?usage: scan-log.sh <log>}
[[ -f $log ]] || { echo "no log $log"; exit 1; }

REPORTS='Oops|BUG:|kernel BUG|WARNING:|KASAN|UBSAN|KFENCE|possible circular locking|lockdep is turned off|DEBUG_LOCKS_WARN_ON|general protection fault|Call Trace|Kernel panic|blocked for more than [0-9]+ seconds|soft lockup|hard LOCKUP|detected stall'
# Taint bits that only a real problem sets: B bad page (32), D oops (128),
# W warning (512), L soft lockup (16384).
BAD_TAINT=$((32 | 128 | 512 | 16384))

problems=()
sections=$(mktemp)
trap 'rm -f "$sections"' EXIT

# Matching kernel lines, deduplicated, each with a little context; the
# context after a match runs until the next blank or "end trace" line, at
# most 60 lines.
awk -v re="$REPORTS" '
    { line[NR] = $0 }
    /\[ *[0-9]+\.[0-9]+\] / && $0 ~ re {
        key = $0; sub(/^.*\[ *[0-9]+\.[0-9]+\] /, "", key)
        if (!(key in seen)) { seen[key] = 1; hit[++n] = NR }
    }
    END {
        last = 0
        for (i = 1; i <= n; i++) {
            from = hit[i] - 3; if (from <= last) from = last + 1
            if (from < 1) from = 1
            if (from > hit[i]) continue
            to = hit[i]
            while (to < NR && to - hit[i] < 60 && line[to] !~ /end trace|^MSGSLOT-/) to++
            if (from > last + 1 && last > 0) print "..."
            for (j = from; j <= to; j++) print line[j]
            last = to
        }
    }' "$log" > "$sections.kernel"
if [[ -s $sections.kernel ]]; then
    found=$(grep -aoE "$REPORTS" "$sections.kernel" | sort -u | paste -sd, -)
    problems+=("kernel reports: $found")
    cat "$sections.kernel" >> "$sections"
fi
rm -f "$sections.kernel"

# kmemleak blocks ("unreferenced object ..." up to the next one) naming the module.
awk '
    /^MSGSLOT-KMEMLEAK-BEGIN/ { inside = 1; next }
    /^MSGSLOT-KMEMLEAK-END/ { if (keep) printf "%s", block; inside = 0; next }
    inside && /unreferenced object/ { if (keep) printf "%s", block; block = ""; keep = 0 }
    inside { block = block $0 "\n"; if (/message_slot/) keep = 1 }
' "$log" > "$sections.leak"
if [[ -s $sections.leak ]]; then
    problems+=("kmemleak: $(grep -c 'unreferenced object' "$sections.leak") unreferenced object(s) from message_slot")
    cat "$sections.leak" >> "$sections"
fi
rm -f "$sections.leak"

taint=$(sed -n 's/^MSGSLOT-TAINT \([0-9]*\).*/\1/p' "$log" | tail -n1)
if [[ -n $taint ]] && (( taint & BAD_TAINT )); then
    problems+=("kernel tainted $taint (bad page/oops/warning/lockup)")
fi

if [[ ${#problems[@]} -eq 0 ]]; then
    exit 0
fi
summary=${problems[0]}
for problem in "${problems[@]:1}"; do summary+="; $problem"; done
echo "$summary"
cat "$sections"
exit 1
