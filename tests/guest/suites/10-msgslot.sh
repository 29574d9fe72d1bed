#!/bin/sh
# Message slot contract, censorship (N=3), concurrency and scale, all with
# the module loaded once with default parameters. The C programs print their
# own result lines (msgslot_*.c); this script adds lines for loading,
# parameter defaults, unloading, and any program that dies without saying why.
. "$GUEST/lib.sh"

work=/tmp/suite-msgslot
mkdir -p "$work"

# kmemleak/KASAN kernels: a million objects take minutes to create and, at
# rmmod, to free (one kmemleak RCU callback each), so scale down there; the
# full 2^20 runs on the Debian kernels.
is_debug_kernel() {
    [ -e /sys/kernel/debug/kmemleak ] || dmesg | grep -q 'KernelAddressSanitizer initialized'
}

load_module_first

params=/sys/module/message_slot/parameters
max=$(cat "$params/max_msg_bytes" 2>/dev/null)
period=$(cat "$params/censor_period" 2>/dev/null)
if [ "$max" = 268435456 ] && [ "$period" = 3 ]; then
    tap_ok param_defaults
else
    tap_not_ok param_defaults "max_msg_bytes='$max' (want 268435456), censor_period='$period' (want 3)"
fi

run_program msgslot_contract
run_program msgslot_censor 3
run_program msgslot_stress
if is_debug_kernel; then
    echo "# debug kernel: 2^16 dense and 2^12 sparse channels instead of 2^20 and 2^16"
    run_program msgslot_many 16 12
else
    run_program msgslot_many
fi

# Every program has exited, so nothing holds the module.
if rmmod message_slot 2> "$work/rmmod.err"; then
    tap_ok module_unload
else
    tap_not_ok module_unload "rmmod after all programs exited: $(cat "$work/rmmod.err")"
fi
tap_exit
