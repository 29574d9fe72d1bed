#!/bin/sh
# Multi-process fuzzer (tests/guest/fuzz.c) against a freshly loaded module
# per seed. On the debug kernel (KASAN, lockdep, kmemleak, UBSAN watching)
# it runs at least 10^6 operations in total; on stock kernels a short run
# keeps `make check` fast. MSGSLOT_FUZZ_SEEDS / MSGSLOT_FUZZ_OPS override
# the seed list / ops per seed (e.g. to replay a failure).
. "$GUEST/lib.sh"

if [ "$KERNEL_NAME" = debug ] || [ -e /sys/kernel/debug/kmemleak ]; then
    seeds="1001 1002 1003 1004"
    ops=250000
    seconds=1500
    # A dead holder's lock passes on within 1 s; the holder's own exit is
    # part of that time, and under KASAN on a busy host it alone took 1.4 s
    # (two VMs of this kernel and others at once).
    handover=3
else
    seeds="1"
    ops=200000
    seconds=300
    handover=1
fi
seeds=${MSGSLOT_FUZZ_SEEDS:-$seeds}
# MSGSLOT_FUZZ_PART=k/n: every n-th seed from the k-th (make check splits the
# debug kernel's seeds between two VMs that run at once).
if [ -n "$MSGSLOT_FUZZ_PART" ]; then
    part= i=0
    for seed in $seeds; do
        [ $((i % ${MSGSLOT_FUZZ_PART#*/})) -eq $((${MSGSLOT_FUZZ_PART%/*} - 1)) ] && part="$part $seed"
        i=$((i + 1))
    done
    seeds=${part# }
fi
ops=${MSGSLOT_FUZZ_OPS:-$ops}
procs=4
echo "# fuzz: kernel $KERNEL_NAME, seeds $seeds, $ops ops each, $procs processes"

for seed in $seeds; do
    if ! load_module; then
        tap_not_ok "seed-$seed" "insmod failed"
        continue
    fi
    # fuzz prints its own "ok fuzz/seed-N" / "not ok fuzz/seed-N - ..." line;
    # --min-ops turns running out of time into a failure.
    "$BIN/fuzz" --seed "$seed" --ops "$ops" --procs "$procs" --seconds "$seconds" \
        --min-ops "$ops" --handover "$handover" --name "seed-$seed" || TAP_FAIL=$((TAP_FAIL + 1))
    # Unloading after heavy use exercises teardown of full xarrays and heaps.
    if ! unload_module; then
        tap_not_ok "unload-after-seed-$seed" "rmmod failed: module still in use?"
        sleep 1
        unload_module
    fi
done
tap_exit
