#!/bin/sh
# kmemleak (debug kernel): load the module, exercise every path (fuzzer on
# slots and heaps, CLIs, many opens), close everything, then scan with the
# module loaded (reports name [message_slot]) and again after rmmod (raw
# addresses inside the module's former core). Any such object fails.
. "$GUEST/lib.sh"
. "$GUEST/suites/kmemleak.inc"

if [ ! -w "$KMEMLEAK" ]; then
    tap_skip no-leaks "no kmemleak in kernel $KERNEL_NAME"
    exit 0
fi
echo clear > "$KMEMLEAK"
if ! load_module; then
    tap_not_ok load "insmod failed"
    tap_exit
fi
text=$(cat /sys/module/message_slot/sections/.text)
size=$(cat /sys/module/message_slot/coresize)

mknod /tmp/leak-slot c 235 42
check exercise-fuzz "$BIN/fuzz" --seed 99 --ops 20000 --procs 3 --seconds 600 --name kmemleak-exercise
for i in 1 2 3 4 5 6 7 8; do
    "$BIN/message_sender" /tmp/leak-slot "$i" "message $i" || tap_not_ok exercise-cli "sender failed"
    "$BIN/message_reader" /tmp/leak-slot "$i" > /dev/null || tap_not_ok exercise-cli "reader failed"
done
# Overwrite every channel again: replaced messages go through RCU frees.
for i in 1 2 3 4 5 6 7 8; do
    "$BIN/message_sender" /tmp/leak-slot "$i" "x" || tap_not_ok exercise-cli "sender failed"
done
rm -f /tmp/leak-slot

leak_check no-leaks-while-loaded
unload_module || tap_not_ok unload "rmmod failed"
leak_check no-leaks-after-rmmod "$text" "$size"
tap_exit
