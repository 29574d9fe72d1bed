#!/bin/sh
# The ABI as programs in the wild use it: a grader built against
# message_slot.h alone, both ioctl encodings, writev/readv/pwritev2,
# io_uring, 32-bit processes (message slots and NP-Heap) and the Python
# module.  The programs print their own result lines (abi_*.c, grader_*.c,
# python/test_msgslot.py); this script adds lines for loading, unloading and
# any program that dies without saying why.  Leaves the module unloaded.
. "$GUEST/lib.sh"

work=/tmp/suite-abi
mkdir -p "$work"

# run_program <name> [args...]: runs <name> ($BIN/<name> or a path) with live
# output; reports a crash, or a failure exit without a "not ok" line.
run_program() {
    _prog=$(basename "$1")
    _path=$1
    shift
    case $_path in /*) ;; *) _path=$BIN/$_path ;; esac
    { "$_path" "$@"; echo $? > "$work/$_prog.rc"; } | tee "$work/$_prog.out"
    _rc=$(cat "$work/$_prog.rc")
    if [ "$_rc" -ge 128 ]; then
        not_ok "$_prog-exit" "$_prog was killed by signal $((_rc - 128))"
    elif [ "$_rc" -ne 0 ] && ! grep -q '^not ok ' "$work/$_prog.out"; then
        not_ok "$_prog-exit" "$_prog exited $_rc without a failing test line"
    elif grep -q '^not ok ' "$work/$_prog.out"; then
        FAILED=$((FAILED + 1))
    fi
}

if module_loaded; then
    not_ok module_load "message_slot was already loaded before this suite"
    rmmod message_slot
fi
if ! load_module 2> "$work/insmod.err"; then
    not_ok module_load "insmod $MODULE failed: $(cat "$work/insmod.err")"
    finish
fi
ok module_load
i=0
while [ ! -c /dev/npheap ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done

rm -f /dev/slot0
mknod -m 0666 /dev/slot0 c 235 0
for bits in "" 32; do
    run_program "grader_header$bits" /dev/slot0
    run_program "abi_msgslot$bits"
    run_program "abi_npheap$bits" /dev/npheap
done
run_program abi_uring

# The Python module, with the host's interpreter (tests/vm/boot.sh packs it).
if [ -x /usr/bin/python3 ]; then
    run_program /usr/bin/python3 -I -S /payload/python/test_message_slot.py \
        /dev/slot0 /dev/npheap
else
    not_ok python "no /usr/bin/python3 in the guest image"
fi

# Every program has exited, so nothing holds the module.
if rmmod message_slot 2> "$work/rmmod.err"; then
    ok module_unload
else
    not_ok module_unload "rmmod after all programs exited: $(cat "$work/rmmod.err")"
fi
finish
