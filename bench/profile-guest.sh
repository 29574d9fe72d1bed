#!/bin/sh
# Inside the VM (entry started by bench/profile.sh): profiles each workload of
# MSGSLOT_PROFILE ("workload args;workload args;..." for `ipcbench loop`)
# with perf's cpu-clock sampling (TCG has no PMU) on a freshly loaded module
# and prints the hottest symbols, kernel and user.
set -u
IPCBENCH=/payload/build/bench/ipcbench
P=/payload/build/bench/perf
perf() { "$P/lib/ld-linux-x86-64.so.2" --library-path "$P/lib" "$P/perf" "$@"; }

mkdir -p /dev/mqueue
grep -q ' /dev/mqueue ' /proc/mounts || mount -t mqueue none /dev/mqueue
echo 0 > /proc/sys/kernel/kptr_restrict
echo -1 > /proc/sys/kernel/perf_event_paranoid

echo "$MSGSLOT_PROFILE" | tr ';' '\n' | while read -r workload; do
    [ -n "$workload" ] || continue
    insmod "$MODULE" || exit 1
    echo "=== profile: ipcbench loop $workload"
    # shellcheck disable=SC2086
    perf record -q -e cpu-clock -F 2000 ${MSGSLOT_PROFILE_CALLGRAPH:+-g} -o /tmp/perf.data \
        -- $IPCBENCH loop $workload 2>&1 | grep -v '^\[ perf record'
    perf report -i /tmp/perf.data --stdio --no-children --sort sym \
        --percent-limit "${MSGSLOT_PROFILE_LIMIT:-0.7}" 2>/dev/null | grep -v '^$' | grep -v '^# *$' | head -n 70
    rm -f /tmp/perf.data
    rmmod message_slot || exit 1
done
