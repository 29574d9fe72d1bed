#!/bin/sh
# The ABI as programs in the wild use it: a grader built against
# message_slot.h alone, both ioctl encodings, writev/readv/pwritev2,
# io_uring, 32-bit processes (message slots and NP-Heap) and the Python
# package as pip installs it.  The programs print their own result lines
# (abi_*.c, grader_*.c, python/test_message_slot.py); this script adds lines
# for loading, unloading and any program that dies without saying why.
# Leaves the module unloaded.
. "$GUEST/lib.sh"

work=/tmp/suite-abi
mkdir -p "$work"

load_module_first
i=0
while [ ! -c /dev/npheap ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done

rm -f /dev/slot0
mknod -m 0666 /dev/slot0 c 235 0
# 32-bit builds: every kernel here has IA32_EMULATION; the ASan+UBSan run
# (tests/static/asan-guest.sh) has 64-bit programs only.
widths="64 32"
[ -n "${MSGSLOT_NO_32BIT:-}" ] && widths=64
for width in $widths; do
    bits=
    [ "$width" = 32 ] && bits=32
    run_program "grader_header$bits" /dev/slot0
    run_program "abi_msgslot$bits"
    run_program "abi_npheap$bits" /dev/npheap
done
run_program abi_uring

# The Python package as pip installs it, with the host's interpreter
# (python/pack-guest.sh, called by tests/vm/boot.sh, packs both).
if [ -x /usr/bin/python3 ]; then
    run_program /usr/bin/python3 -I -S /payload/python/test_message_slot.py \
        --path /payload/python-site \
        /dev/slot0 /dev/npheap
    # README's example, on the node it names.
    rm -f /dev/msgslot
    mknod -m 0666 /dev/msgslot c 235 0
    if out=$(cd / && /usr/bin/python3 -I -S \
        -c 'import sys; sys.path.insert(0, "/payload/python-site"); exec(open(sys.argv[1]).read())' \
        /payload/python/readme_example.py 2>&1) &&
        [ "$out" = "$(printf "b'hello'\n8192")" ]; then
        tap_ok py-readme-example
    else
        tap_not_ok py-readme-example "README's Python example printed '$(echo "$out" | tr '\n' '|')', want 'b'hello'|8192'"
    fi
    rm -f /dev/msgslot
else
    tap_not_ok python "no /usr/bin/python3 in the guest image"
fi

# Every program has exited, so nothing holds the module.
if rmmod message_slot 2> "$work/rmmod.err"; then
    tap_ok module_unload
else
    tap_not_ok module_unload "rmmod after all programs exited: $(cat "$work/rmmod.err")"
fi
tap_exit
