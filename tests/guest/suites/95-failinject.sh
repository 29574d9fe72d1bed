#!/bin/sh
# Allocation-failure injection (failslab + fail_page_alloc through
# /proc/thread-self/fail-nth) into every allocating path of the driver:
# each call must succeed or fail with ENOMEM leaving the old state, and
# nothing may leak (kmemleak scan with the module loaded and after rmmod).
# Needs the debug kernel's fault-injection knobs; stock kernels skip.
. "$GUEST/lib.sh"
. "$GUEST/suites/kmemleak.inc"

if [ ! -d /sys/kernel/debug/failslab ] || [ ! -d /sys/kernel/debug/fail_page_alloc ] ||
   [ ! -e /proc/self/fail-nth ]; then
    tap_skip allocation-failures "no failslab/fail_page_alloc in kernel $KERNEL_NAME"
    exit 0
fi

[ -w "$KMEMLEAK" ] && echo clear > "$KMEMLEAK"
if ! load_module; then
    tap_not_ok load "insmod failed"
    tap_exit
fi
# Module text range: after rmmod, leak backtraces show raw addresses only.
text=$(cat /sys/module/message_slot/sections/.text)
size=$(cat /sys/module/message_slot/coresize)

"$BIN/failinject_alloc" || TAP_FAIL=$((TAP_FAIL + 1))

if [ -w "$KMEMLEAK" ]; then
    leak_check no-leaks-while-loaded
fi
unload_module || tap_not_ok unload "rmmod failed"
[ -w "$KMEMLEAK" ] && leak_check no-leaks-after-rmmod "$text" "$size"
tap_exit
