#!/bin/sh
# Memory an unprivileged user can make the kernel hold through messages and
# NP-Heap objects: bounded by max_msg_bytes / npheap_max_bytes whatever ids
# are used (index nodes are charged), back to baseline after rmmod; the
# per-slot channel cap (max_channels); objects below 2 GiB.
. "$GUEST/lib.sh"

work=/tmp/suite-indexbound
mkdir -p "$work"
PROG=$BIN/msgslot_indexbound
TOOL=$BIN/msgslot_tool
BASELINE_TOLERANCE_KB=2048

is_debug_kernel() {
    [ -e /sys/kernel/debug/kmemleak ] || dmesg | grep -q 'KernelAddressSanitizer initialized'
}
# 8 MiB takes ~200k dense 1-byte messages; KASAN makes each ~10x slower.
# Debug kernels: slab objects carry KASAN/kmemleak metadata several times
# their size, so there only the charge is checked against the bound.
if is_debug_kernel; then BOUND=2097152 DEBUG=debug; else BOUND=8388608 DEBUG=; fi

settle() {
    sleep 2
    echo 3 > /proc/sys/vm/drop_caches
    for shrink in /sys/kernel/slab/*/shrink; do echo 1 2>/dev/null > "$shrink"; done
    sleep 1
}

slab_kb() { set -- $("$TOOL" slabstat); echo "$1"; }

# bounded <msg|heap> <pattern>: fill as nobody up to the bound, then rmmod
# and compare Slab with the figure before insmod.
bounded() {
    kind=$1 pattern=$2
    case $kind in
        msg) param=max_msg_bytes used_param=msg_bytes_used ;;
        heap) param=npheap_max_bytes used_param=npheap_bytes_used ;;
    esac
    settle
    before=$(slab_kb)
    if ! load_module "$param=$BOUND" 2> "$work/insmod.err"; then
        tap_not_ok "${kind}_${pattern}_insmod" "$(cat "$work/insmod.err")"
        return
    fi
    # the program prints its own result line and figures
    "$PROG" "$kind" "$pattern" "$BOUND" $DEBUG || TAP_FAIL=$((TAP_FAIL + 1))
    used=$(cat "/sys/module/message_slot/parameters/$used_param")
    echo "# $kind $pattern: $used bytes charged of $BOUND"
    rmmod message_slot || { tap_not_ok "${kind}_${pattern}_rmmod" "rmmod failed"; return; }
    settle
    after=$(slab_kb)
    echo "# $kind $pattern: Slab ${before} kB before insmod, ${after} kB after rmmod"
    if [ $((after - before)) -le $BASELINE_TOLERANCE_KB ]; then
        tap_ok "${kind}_${pattern}_back_to_baseline_after_rmmod"
    else
        tap_not_ok "${kind}_${pattern}_back_to_baseline_after_rmmod" "Slab ${before} kB -> ${after} kB after rmmod (tolerance $BASELINE_TOLERANCE_KB kB)"
    fi
}

for pattern in dense sparse random; do
    bounded msg "$pattern"
    bounded heap "$pattern"
done

if load_module max_channels=1000 2> "$work/insmod.err"; then
    "$PROG" channels 1000 || TAP_FAIL=$((TAP_FAIL + 1))
    unload_module || tap_not_ok channels_rmmod "rmmod failed"
else
    tap_not_ok max_channels_per_slot "insmod max_channels=1000: $(cat "$work/insmod.err")"
fi

if load_module 2> "$work/insmod.err"; then
    [ "$(cat /sys/module/message_slot/parameters/max_channels)" = 1048576 ] &&
        tap_ok max_channels_default_2_20 ||
        tap_not_ok max_channels_default_2_20 "max_channels is $(cat /sys/module/message_slot/parameters/max_channels)"
    "$PROG" heapsize || TAP_FAIL=$((TAP_FAIL + 1))
    unload_module || tap_not_ok heapsize_rmmod "rmmod failed"
else
    tap_not_ok objects_below_2GiB_EFBIG "insmod: $(cat "$work/insmod.err")"
fi
tap_exit
