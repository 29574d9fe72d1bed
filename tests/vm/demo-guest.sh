#!/bin/sh
# Runs inside the VM for `make demo`: a short terminal session with the module
# and the CLIs. Each command is echoed before its output, like a shell with
# `set -x`, and the session checks that what it read is what it sent.
export PATH="$BIN:$PATH"
problems=0

# run <command...>: echo, run, show its output (ending a last line that has
# no newline, as message_reader's output has none) and a non-zero status.
run() {
    line='$'
    for arg in "$@"; do
        case $arg in
            *[!A-Za-z0-9/._=-]*|'') line="$line \"$arg\"" ;;
            *) line="$line $arg" ;;
        esac
    done
    echo "$line"
    "$@" > /tmp/demo.out 2>&1
    rc=$?
    cat /tmp/demo.out
    [ -s /tmp/demo.out ] && [ -n "$(tail -c1 /tmp/demo.out)" ] && echo
    [ "$rc" -ne 0 ] && echo "[exit status $rc]"
    return "$rc"
}

# expect_read <channel> <message>: run message_reader and compare its output.
expect_read() {
    run message_reader /dev/msgslot "$1" || { problems=$((problems + 1)); return; }
    [ "$(cat /tmp/demo.out)" = "$2" ] || { echo "(demo: expected '$2')"; problems=$((problems + 1)); }
}

echo "# Linux $(uname -r) in qemu; the message_slot module and the CLIs from this repo."
run insmod "$MODULE" || problems=$((problems + 1))
run mknod /dev/msgslot c 235 0 || problems=$((problems + 1))
run chmod 666 /dev/msgslot || problems=$((problems + 1))
run ls -l /dev/msgslot
echo
echo "# Send a message on channel 1 and read it back."
run message_sender /dev/msgslot 1 "Hello from the VM" || problems=$((problems + 1))
expect_read 1 "Hello from the VM"
echo
echo "# Channel 2 of the same slot is independent; channel 1 keeps its message."
run message_sender /dev/msgslot 2 "A second channel" || problems=$((problems + 1))
expect_read 2 "A second channel"
expect_read 1 "Hello from the VM"
echo
echo "# Channel 3 was never written: the read fails with EWOULDBLOCK."
if run message_reader /dev/msgslot 3; then
    echo "(demo: expected this read to fail)"
    problems=$((problems + 1))
fi
echo
echo "# Clean up: unloading the module frees every message."
run rm /dev/msgslot
run rmmod message_slot || problems=$((problems + 1))
echo
if [ "$problems" -eq 0 ]; then
    echo "demo: every message read back as sent"
else
    echo "demo: $problems step(s) did not behave as expected"
fi
[ "$problems" -eq 0 ]
