#!/bin/sh
# Inside the benchmark VM (busybox ash), entry of tests/vm/boot.sh as started
# by bench/run.sh: runs the ipcbench parts, each on a freshly loaded module,
# and prints their "BENCH," rows. "BENCHINFO," rows describe the VM.
# Knobs (passed from the host environment): MSGSLOT_BENCH_PARTS (default
# "mem msg scale npheap"), MSGSLOT_BENCH_REPS, MSGSLOT_BENCH_SAMPLE_MS,
# MSGSLOT_BENCH_MAX_CHANNELS.
set -u

IPCBENCH=/payload/build/bench/ipcbench
PARTS=${MSGSLOT_BENCH_PARTS:-mem msg scale npheap}
OPTS="--reps ${MSGSLOT_BENCH_REPS:-5} --sample-ms ${MSGSLOT_BENCH_SAMPLE_MS:-150}"
OPTS="$OPTS --max-channels ${MSGSLOT_BENCH_MAX_CHANNELS:-1048576}"

# POSIX message queues and shm_open need their file systems.
mkdir -p /dev/mqueue /dev/shm
grep -q ' /dev/mqueue ' /proc/mounts || mount -t mqueue none /dev/mqueue
grep -q ' /dev/shm ' /proc/mounts || mount -t tmpfs tmpfs /dev/shm

echo "BENCHINFO,kernel,$(uname -r)"
echo "BENCHINFO,vcpus,$(grep -c '^processor' /proc/cpuinfo)"
echo "BENCHINFO,mem_total_kb,$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)"

failed=0
for part in $PARTS; do
    start=$(date +%s)
    echo "bench: part $part" >&2
    if [ "$part" = mem ]; then
        # mem loads and unloads the module itself: it measures both.
        # shellcheck disable=SC2086 # OPTS is a list of options
        $IPCBENCH mem --module "$MODULE" $OPTS
        rc=$?
    else
        insmod "$MODULE" || { echo "BENCHERR,$part,insmod failed"; failed=1; continue; }
        # shellcheck disable=SC2086 # OPTS is a list of options
        $IPCBENCH "$part" $OPTS
        rc=$?
        rmmod message_slot || { echo "BENCHERR,$part,rmmod failed"; failed=1; }
    fi
    if [ "$rc" -ne 0 ]; then
        echo "BENCHERR,$part,ipcbench exited $rc"
        failed=1
    fi
    echo "BENCHINFO,seconds_$part,$(( $(date +%s) - start ))"
done
exit "$failed"
