#!/bin/sh
# Runs inside the VM: every tests/guest/suites/*.sh in sorted order, each in
# its own shell. $SUITES (space/comma separated words) keeps only suites whose
# file name contains one of the words, e.g. SUITES="10-msgslot npheap".
#
# Adds its own result lines for what a suite cannot report about itself:
#   not ok <suite>/exit-status - rc=N      non-zero exit without a "not ok"
#   not ok <suite>/no-results             the suite printed no result line
#   not ok <suite>/left-module-loaded     message_slot still loaded at the end
# The stream ends with its totals and TAP plan line "1..N" (N: result lines
# printed). Exit status: 0 if no "not ok" line was printed, else 1.
# shellcheck source=tests/guest/lib.sh
. "$GUEST/lib.sh"
# run.sh's own result names carry the suite's name.
TAP_SUITE=

suites_dir=$GUEST/suites
work=/tmp/run-sh
mkdir -p "$work"
selected=0

suite_selected() {
    [ -z "$SUITES" ] && return 0
    for word in $(echo "$SUITES" | tr ',' ' '); do
        case $1 in *"$word"*) return 0 ;; esac
    done
    return 1
}

# Kills every process a suite left behind (they inherit the tag).
kill_tagged() {
    for environ in /proc/[0-9]*/environ; do
        # A task stuck holding its mmap lock blocks this read: bound it.
        timeout -s KILL 5 grep -qa "MSGSLOT_SUITE_TAG=$1" "$environ" 2>/dev/null || continue
        pid=${environ#/proc/}; pid=${pid%/environ}
        echo "# run.sh: killing process $pid left behind by $2: $(timeout -s KILL 5 tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null)"
        kill -9 "$pid" 2>/dev/null
    done
}

for suite in "$suites_dir"/*.sh; do
    [ -f "$suite" ] || continue
    file=$(basename "$suite" .sh)
    suite_selected "$file" || continue
    selected=$((selected + 1))
    # Result names use the suite file name without its NN- order prefix.
    name=${file#[0-9][0-9]-}
    out=$work/$file.out
    fifo=$work/$file.fifo
    rm -f "$fifo"
    mkfifo "$fifo"
    echo "# suite $file (kernel $KERNEL_NAME)"
    # The suite writes into a fifo drained by tee (output stays live and is
    # kept for the checks below); see kill_tagged for what holds it open.
    tee "$out" < "$fifo" &
    tee_pid=$!
    start=$(cut -d. -f1 /proc/uptime)
    MSGSLOT_SUITE_TAG="$$-$file" SUITE_NAME=$name sh "$suite" > "$fifo" 2>&1 < /dev/null
    rc=$?
    kill_tagged "$$-$file" "$file"
    wait "$tee_pid"
    rm -f "$fifo"
    echo "# suite $file: exit $rc after $(( $(cut -d. -f1 /proc/uptime) - start ))s"
    tap_tally "$out"

    if [ "$rc" -ne 0 ] && ! grep -q '^not ok ' "$out"; then
        tap_not_ok "$name/exit-status" "rc=$rc"
    fi
    if ! grep -q '^ok \|^not ok ' "$out"; then
        tap_not_ok "$name/no-results" "the suite printed no result line"
    fi
    if module_loaded; then
        if rmmod message_slot 2>"$work/rmmod.err"; then
            tap_not_ok "$name/left-module-loaded" "the suite did not rmmod message_slot"
        else
            tap_not_ok "$name/left-module-loaded" "and rmmod failed: $(cat "$work/rmmod.err")"
        fi
    fi
done

if [ "$selected" -eq 0 ]; then
    tap_not_ok run/no-suites "no suite in $suites_dir matches SUITES='$SUITES'"
fi
tap_finish
tap_exit
