#!/bin/sh
# message_sender / message_reader as graders use them: exact stdout bytes
# (compared with cmp against a file: no newline, binary-exact), exit status
# exactly 0 or 1, and on failure one stderr line with the strerror() text.
. "$GUEST/lib.sh"

work=/tmp/suite-cli
mkdir -p "$work"
SENDER=${SENDER:-$BIN/message_sender}
READER=${READER:-$BIN/message_reader}
TOOL=$BIN/msgslot_tool
EAGAIN_TEXT='Resource temporarily unavailable|Operation would block'

# Every strerror() text, for errors where the contract names no errno.
"$TOOL" strerrors > "$work/strerrors"

# t <test> <function> [args]: one result line; the function sets REASON.
t() {
    _name=$1; shift
    REASON=
    if "$@"; then tap_ok "$_name"; else tap_not_ok "$_name" "${REASON:-failed}"; fi
}

# cli <cmd...>: RC, $work/out (stdout), $work/err (stderr)
cli() { "$@" > "$work/out" 2> "$work/err"; RC=$?; }

shown() { od -An -c "$1" | tr -s ' \n' ' ' | cut -c1-160; }
err_line() { tr '\n' '|' < "$work/err" | cut -c1-200; }

# expect_ok <expected-stdout-file> <cmd...>: exit 0, stdout == file, no stderr.
expect_ok() {
    _want=$1; shift
    cli "$@"
    if [ "$RC" -ne 0 ]; then
        REASON="exit $RC (want 0), stderr '$(err_line)' [$*]"; return 1
    fi
    if ! cmp -s "$work/out" "$_want"; then
        REASON="stdout is [$(shown "$work/out")] ($(wc -c < "$work/out") bytes), want [$(shown "$_want")] ($(wc -c < "$_want") bytes) [$*]"
        return 1
    fi
    if [ -s "$work/err" ]; then
        REASON="exit 0 but stderr '$(err_line)' [$*]"; return 1
    fi
    return 0
}

# expect_error <egrep pattern | ANY> <cmd...>: exit 1, nothing on stdout,
# exactly one stderr line containing the pattern (ANY: some strerror text).
expect_error() {
    _pat=$1; shift
    cli "$@"
    if [ "$RC" -ne 1 ]; then
        REASON="exit $RC (want 1), stderr '$(err_line)' [$*]"; return 1
    fi
    if [ -s "$work/out" ]; then
        REASON="failed but wrote [$(shown "$work/out")] to stdout [$*]"; return 1
    fi
    _lines=$(awk 'END { print NR }' "$work/err")
    if [ "$_lines" -ne 1 ]; then
        REASON="stderr has $_lines lines (want exactly 1): '$(err_line)' [$*]"; return 1
    fi
    if [ "$_pat" = ANY ]; then
        if ! grep -qF -f "$work/strerrors" "$work/err"; then
            REASON="stderr '$(err_line)' contains no strerror() text [$*]"; return 1
        fi
    elif ! grep -qE "$_pat" "$work/err"; then
        REASON="stderr '$(err_line)' lacks '$_pat' [$*]"; return 1
    fi
    return 0
}

# want <printf format> [args]: writes the expected bytes to $work/want.
want() { printf "$@" > "$work/want"; }

# send_ok <dev> <ch> <msg> [censor form: <dev> <ch> <0|1> <msg>]
send_ok() { : > "$work/empty"; expect_ok "$work/empty" "$SENDER" "$@"; }

# ---- tests -----------------------------------------------------------------

roundtrip_exact() {
    send_ok /dev/slot0 1 Hello || return 1
    want 'Hello'
    expect_ok "$work/want" "$READER" /dev/slot0 1 || return 1
    # read again by another process: a message persists until overwritten
    expect_ok "$work/want" "$READER" /dev/slot0 1
}

no_newline_and_replace() {
    send_ok /dev/slot0 2 "a longer first message" || return 1
    send_ok /dev/slot0 2 abc || return 1
    want 'abc'
    expect_ok "$work/want" "$READER" /dev/slot0 2
}

whitespace_and_high_bytes() {
    msg=$(printf 'a b\tc\nd \200\377\001 -x')
    send_ok /dev/slot0 3 "$msg" || return 1
    printf '%s' "$msg" > "$work/want"
    expect_ok "$work/want" "$READER" /dev/slot0 3
}

dash_message() {
    send_ok /dev/slot0 4 -n || return 1
    want '%s' -n
    expect_ok "$work/want" "$READER" /dev/slot0 4
}

binary_reader() {
    # NUL bytes cannot be in argv: written by msgslot_tool, read by the CLI.
    printf '\000a\000b\000\377' > "$work/want"
    "$TOOL" write-file /dev/slot0 5 "$work/want" || { REASON="msgslot_tool write-file failed"; return 1; }
    expect_ok "$work/want" "$READER" /dev/slot0 5
}

msg128=$(awk 'BEGIN { for (i = 0; i < 128; i++) printf "%c", 97 + i % 26 }')

max_length() {
    send_ok /dev/slot0 6 "$msg128" || return 1
    printf '%s' "$msg128" > "$work/want"
    expect_ok "$work/want" "$READER" /dev/slot0 6
}

too_long() {
    send_ok /dev/slot0 7 keep || return 1
    expect_error 'Message too long' "$SENDER" /dev/slot0 7 "${msg128}x" || return 1
    want 'keep'
    expect_ok "$work/want" "$READER" /dev/slot0 7 || { REASON="after the 129-byte send: $REASON"; return 1; }
}

empty_message() {
    send_ok /dev/slot0 8 keep || return 1
    expect_error 'Message too long' "$SENDER" /dev/slot0 8 "" || return 1
    want 'keep'
    expect_ok "$work/want" "$READER" /dev/slot0 8 || { REASON="after the empty send: $REASON"; return 1; }
}

uint_max_channel() {
    send_ok /dev/slot0 4294967295 "top channel" || return 1
    want 'top channel'
    expect_ok "$work/want" "$READER" /dev/slot0 4294967295
}

channel_zero() {
    expect_error 'Invalid argument' "$SENDER" /dev/slot0 0 hello || return 1
    expect_error 'Invalid argument' "$READER" /dev/slot0 0
}

junk_channels() {
    # slot9 is used only here (and for an unwritten check in slots_isolated)
    send_ok /dev/slot9 4294967295 sentinel || return 1
    for junk in abc 12abc "" -1 99999999999 4294967296 "5 " 1.5; do
        expect_error ANY "$SENDER" /dev/slot9 "$junk" hello ||
            { REASON="sender channel '$junk': $REASON"; return 1; }
        expect_error ANY "$READER" /dev/slot9 "$junk" ||
            { REASON="reader channel '$junk': $REASON"; return 1; }
    done
    # Nothing may have been written to what a sloppy parse would give:
    # -1 -> 4294967295, 99999999999 -> 1215752191 (mod 2^32), 12abc -> 12, ...
    want 'sentinel'
    expect_ok "$work/want" "$READER" /dev/slot9 4294967295 ||
        { REASON="junk channel was parsed as 4294967295: $REASON"; return 1; }
    for ch in 1215752191 12 5 1; do
        expect_error "$EAGAIN_TEXT" "$READER" /dev/slot9 "$ch" ||
            { REASON="junk channel was parsed as $ch: $REASON"; return 1; }
    done
}

sender_arg_counts() {
    expect_error ANY "$SENDER" || { REASON="no arguments: $REASON"; return 1; }
    expect_error ANY "$SENDER" /dev/slot0 || { REASON="1 argument: $REASON"; return 1; }
    expect_error ANY "$SENDER" /dev/slot0 1 || { REASON="2 arguments: $REASON"; return 1; }
    expect_error ANY "$SENDER" /dev/slot0 1 0 a b || { REASON="5 arguments: $REASON"; return 1; }
}

reader_arg_counts() {
    expect_error ANY "$READER" || { REASON="no arguments: $REASON"; return 1; }
    expect_error ANY "$READER" /dev/slot0 || { REASON="1 argument: $REASON"; return 1; }
    expect_error ANY "$READER" /dev/slot0 1 extra || { REASON="3 arguments: $REASON"; return 1; }
}

missing_device() {
    expect_error 'No such file or directory' "$SENDER" /dev/no-such-slot 1 hi || return 1
    expect_error 'No such file or directory' "$READER" /dev/no-such-slot 1
}

unwritten_channel() {
    expect_error "$EAGAIN_TEXT" "$READER" /dev/slot0 424242
}

not_a_slot() {
    expect_error ANY "$SENDER" /dev/null 1 hi || { REASON="sender on /dev/null: $REASON"; return 1; }
    expect_error ANY "$READER" /dev/null 1 || { REASON="reader on /dev/null: $REASON"; return 1; }
}

slots_isolated() {
    send_ok /dev/slot0 10 zero || return 1
    send_ok /dev/slot1 10 one || return 1
    send_ok /dev/slot255 10 two-five-five || return 1
    want 'zero'; expect_ok "$work/want" "$READER" /dev/slot0 10 || return 1
    want 'one'; expect_ok "$work/want" "$READER" /dev/slot1 10 || return 1
    want 'two-five-five'; expect_ok "$work/want" "$READER" /dev/slot255 10 || return 1
    expect_error "$EAGAIN_TEXT" "$READER" /dev/slot9 10
}

censor_form() {
    send_ok /dev/slot0 11 1 abcdef || return 1
    want 'ab#de#'; expect_ok "$work/want" "$READER" /dev/slot0 11 || return 1
    send_ok /dev/slot0 11 0 abcdef || return 1
    want 'abcdef'; expect_ok "$work/want" "$READER" /dev/slot0 11 || return 1
    expect_error ANY "$SENDER" /dev/slot0 11 2 abcdef || { REASON="censor flag 2: $REASON"; return 1; }
    expect_error ANY "$SENDER" /dev/slot0 11 x abcdef || { REASON="censor flag x: $REASON"; return 1; }
    want 'abcdef'; expect_ok "$work/want" "$READER" /dev/slot0 11 ||
        { REASON="after refused censor flags: $REASON"; return 1; }
}

# The device is meant for unprivileged users (node mode 0666).
unprivileged() {
    chmod 0666 /dev/slot1
    as_nobody="$TOOL as-nobody"
    : > "$work/empty"
    expect_ok "$work/empty" $as_nobody "$SENDER" /dev/slot1 20 "from nobody" || return 1
    want 'from nobody'
    expect_ok "$work/want" $as_nobody "$READER" /dev/slot1 20 || return 1
    expect_ok "$work/want" "$READER" /dev/slot1 20 || { REASON="root reading nobody's message: $REASON"; return 1; }
    expect_error 'Message too long' $as_nobody "$SENDER" /dev/slot1 20 "${msg128}x"
}

# ---- run -------------------------------------------------------------------

if module_loaded; then
    tap_not_ok module_load "message_slot was already loaded before this suite"
    rmmod message_slot
fi
if ! load_module 2> "$work/insmod.err"; then
    tap_not_ok module_load "insmod failed: $(cat "$work/insmod.err")"
    tap_exit
fi
for minor in 0 1 9 255; do
    rm -f "/dev/slot$minor"
    mknod "/dev/slot$minor" c 235 "$minor"
done

t roundtrip_exact_bytes roundtrip_exact
t replace_no_newline no_newline_and_replace
t whitespace_and_high_bytes whitespace_and_high_bytes
t message_starting_with_dash dash_message
t reader_binary_nul_bytes binary_reader
t message_128_bytes max_length
t message_129_bytes_emsgsize too_long
t empty_message_emsgsize empty_message
t channel_4294967295 uint_max_channel
t channel_0_einval channel_zero
t junk_channel_args junk_channels
t sender_wrong_arg_count sender_arg_counts
t reader_wrong_arg_count reader_arg_counts
t missing_device_enoent missing_device
t unwritten_channel_ewouldblock unwritten_channel
t not_a_message_slot not_a_slot
t slots_isolated slots_isolated
t sender_censor_form censor_form
t unprivileged_user unprivileged

if rmmod message_slot 2> "$work/rmmod.err"; then
    tap_ok module_unload
else
    tap_not_ok module_unload "rmmod: $(cat "$work/rmmod.err")"
fi
tap_exit
