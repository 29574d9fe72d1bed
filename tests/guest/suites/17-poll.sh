#!/bin/sh
# Change notification: poll/select/epoll readiness and waiting reads
# (msgslot_poll.c prints its own result lines), then the CLI's --wait and
# --follow, and rmmod refused while a reader waits.
. "$GUEST/lib.sh"

work=/tmp/suite-poll
mkdir -p "$work"
READER=$BIN/message_reader
SENDER=$BIN/message_sender

# sleeping_in_read <pid>: wait (up to 20 s) until <pid> sleeps in read(2).
sleeping_in_read() {
    _i=0
    while [ "$_i" -lt 2000 ] && [ -e "/proc/$1" ]; do
        _state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
        _call=$(cut -d' ' -f1 "/proc/$1/syscall" 2>/dev/null)
        [ "$_state" = S ] && [ "$_call" = 0 ] && return 0
        sleep 0.01
        _i=$((_i + 1))
    done
    return 1
}

load_module_first

"$BIN/msgslot_poll"; rc=$?
if [ "$rc" -ge 128 ]; then
    tap_not_ok msgslot_poll-exit "msgslot_poll was killed by signal $((rc - 128))"
elif [ "$rc" -ne 0 ]; then
    TAP_FAIL=$((TAP_FAIL + 1))
fi

dev=/dev/slot1800
[ -e "$dev" ] || mknod "$dev" c 235 1800

# --wait skips the message present at startup and prints the next one.
"$SENDER" "$dev" 1 old
"$READER" --wait "$dev" 1 > "$work/wait.out" 2> "$work/wait.err" &
pid=$!
if ! sleeping_in_read "$pid"; then
    tap_not_ok cli_wait_sleeps "message_reader --wait never slept in read"
else
    tap_ok cli_wait_sleeps
    if rmmod message_slot 2> "$work/rmmod.err" || ! module_loaded; then
        tap_not_ok rmmod_refused_while_waiting "rmmod succeeded while a reader waited"
    else
        tap_ok rmmod_refused_while_waiting
    fi
fi
"$SENDER" "$dev" 1 new
wait "$pid"; rc=$?
if [ "$rc" -eq 0 ] && printf new | cmp -s - "$work/wait.out" && [ ! -s "$work/wait.err" ]; then
    tap_ok cli_wait_prints_next_message
else
    tap_not_ok cli_wait_prints_next_message "exit $rc, stdout '$(cat "$work/wait.out")', stderr '$(cat "$work/wait.err")' (want 'new')"
fi

# On an empty channel it prints the first message.
"$READER" --wait "$dev" 2 > "$work/wait2.out" 2>&1 &
pid=$!
sleeping_in_read "$pid"
"$SENDER" "$dev" 2 first
wait "$pid"; rc=$?
if [ "$rc" -eq 0 ] && printf first | cmp -s - "$work/wait2.out"; then
    tap_ok cli_wait_empty_channel
else
    tap_not_ok cli_wait_empty_channel "exit $rc, output '$(cat "$work/wait2.out")' (want 'first')"
fi

# --follow prints every new message on its own line.
"$SENDER" "$dev" 3 before
"$READER" --follow "$dev" 3 > "$work/follow.out" 2>&1 &
pid=$!
for m in a bb ccc; do
    sleeping_in_read "$pid"
    "$SENDER" "$dev" 3 "$m"
done
sleeping_in_read "$pid"
kill "$pid"
wait "$pid" 2>/dev/null
if printf 'a\nbb\nccc\n' | cmp -s - "$work/follow.out"; then
    tap_ok cli_follow_prints_each_message
else
    tap_not_ok cli_follow_prints_each_message "output '$(tr '\n' '|' < "$work/follow.out")' (want 'a|bb|ccc|')"
fi

if "$READER" --wait "$dev" 0 > "$work/bad.out" 2> "$work/bad.err"; then
    tap_not_ok cli_wait_bad_channel "exit 0 for channel 0"
elif grep -q 'Invalid argument' "$work/bad.err" && [ ! -s "$work/bad.out" ]; then
    tap_ok cli_wait_bad_channel
else
    tap_not_ok cli_wait_bad_channel "stderr '$(cat "$work/bad.err")', want 'Invalid argument'"
fi

if rmmod message_slot 2> "$work/rmmod.err"; then
    tap_ok module_unload
else
    tap_not_ok module_unload "rmmod after every reader exited: $(cat "$work/rmmod.err")"
fi
tap_exit
