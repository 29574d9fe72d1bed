#!/bin/sh
# The course ZIP as graders build it: tests/vm/run-suite.sh runs
# `make submission`, unzips it into an empty folder and runs plain `make`
# for each Debian kernel (tests/vm/build-submission.sh), and adds the result
# as build/submission/<kernel>. Here README's remaining grader commands
# (insmod, mknod, the CLIs, rmmod), the message-slot suite (10-msgslot) and
# the CLI checks (20-cli) run on that module and those CLIs (dynamically
# linked, as a grader's are: the guest has the host's libc for Python).
. "$GUEST/lib.sh"

sub=/payload/build/submission/$KERNEL_NAME
if [ ! -f "$sub/message_slot.ko" ]; then
    tap_skip zip-built "no ZIP-built module for kernel $KERNEL_NAME"
    exit 0
fi
status=0

# README's commands from `sudo insmod` on, in the unzipped folder, as root.
rm -f /dev/slot0
out=$(cd "$sub" && { echo 'sudo() { "$@"; }'; cat README-graders.sh; } | sh -e 2>&1)
rc=$?
if [ "$rc" -ne 0 ] || [ "$out" != Hello ]; then
    tap_not_ok readme-commands "rc=$rc, output '$out' (want 'Hello'), commands: $(tr '\n' '|' < "$sub/README-graders.sh")"
    status=1
elif module_loaded; then
    tap_not_ok readme-commands "the module is still loaded after the README's rmmod"
    rmmod message_slot
    status=1
else
    tap_ok readme-commands
fi
rm -f /dev/slot0

for suite in 10-msgslot 20-cli; do
    echo "# $SUITE: suite $suite on $sub"
    MODULE=$sub/message_slot.ko SENDER=$sub/message_sender READER=$sub/message_reader \
        SUITE_NAME=$SUITE/${suite#[0-9][0-9]-} sh "$GUEST/suites/$suite.sh" || status=1
done
exit "$status"
