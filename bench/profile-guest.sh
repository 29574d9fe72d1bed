#!/bin/sh
# Inside the VM (entry started by bench/profile.sh): profiles each workload of
# MSGSLOT_PROFILE ("workload args;workload args;..." for `ipcbench loop`) on a
# freshly loaded module. perf samples cpu-clock (TCG has no PMU) of the
# ipcbench process only (the whole system for *2proc* workloads), from the
# moment its setup (populating channels, creating objects) is done, for
# MSGSLOT_PROFILE_SECONDS (default 6).
set -u
IPCBENCH=/payload/build/bench/ipcbench
P=/payload/build/bench/perf
SECONDS_PROFILED=${MSGSLOT_PROFILE_SECONDS:-6}
perf() { "$P/lib/ld-linux-x86-64.so.2" --library-path "$P/lib" "$P/perf" "$@"; }

mkdir -p /dev/mqueue
grep -q ' /dev/mqueue ' /proc/mounts || mount -t mqueue none /dev/mqueue
printf '#!/bin/sh\nexec %s --library-path %s %s "$@"\n' \
    "$P/lib/ld-linux-x86-64.so.2" "$P/lib" "$P/objdump" > /tmp/objdump
chmod +x /tmp/objdump
echo 0 > /proc/sys/kernel/kptr_restrict
echo -1 > /proc/sys/kernel/perf_event_paranoid

echo "$MSGSLOT_PROFILE" | tr ';' '\n' | while read -r workload; do
    [ -n "$workload" ] || continue
    insmod "$MODULE" || exit 1
    echo "=== profile: ipcbench loop $workload"
    rm -f /tmp/ready
    # shellcheck disable=SC2086 # the workload is a command line
    IPCBENCH_READY_FILE=/tmp/ready $IPCBENCH loop $workload --seconds $((SECONDS_PROFILED + 2)) &
    pid=$!
    while [ ! -e /tmp/ready ] && kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
    # Whole system (both vCPUs, idle included) for multi-process workloads;
    # vCPU 0, where both processes run, for the ping-pongs.
    case $workload in *2proc*) target=-a ;; *pingpong*) target="-C 0" ;; *) target="-p $pid" ;; esac
    # shellcheck disable=SC2086 # target is one or two words
    perf record -q -e cpu-clock -F 2000 ${MSGSLOT_PROFILE_CALLGRAPH:+-g} -o /tmp/perf.data \
        $target -- sleep "$SECONDS_PROFILED" 2>&1 | grep -v '^\[ perf record'
    wait "$pid"
    perf report -i /tmp/perf.data --stdio --no-children --sort sym \
        --percent-limit "${MSGSLOT_PROFILE_LIMIT:-0.05}" 2>/dev/null |
        grep -v '^$' | grep -v '^#' | grep -v 'tips.txt'
    for func in ${MSGSLOT_PROFILE_ANNOTATE:-}; do
        echo "--- annotate $func (percent of the function's samples; lines >= 0.5%)"
        perf annotate -i /tmp/perf.data --stdio --objdump=/tmp/objdump "$func" 2>/dev/null |
            awk -F: '$1 ~ /^ *[0-9.]+ *$/ && $1 + 0 >= 0.5'
    done
    rm -f /tmp/perf.data
    rmmod message_slot || exit 1
done
