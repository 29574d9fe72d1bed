#!/usr/bin/env bash
# Host suite: message_sender / message_reader without a device.
#  - each builds alone, warning-free, with the course's command line;
#  - -h and --help print the usage on stdout and exit 0; the reader's usage
#    lists --wait and --follow, the sender's help names censor_period;
#  - --version prints "<cli> <MSG_SLOT_VERSION of message_slot.h>";
#  - wrong argument counts keep their exact, grader-facing stderr line and
#    exit status 1 (the forms graders use must not change byte for byte).
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
work=$(mktemp -d /tmp/cli-suite.XXXXXX)
TAP_SUITE=cli
# shellcheck source=tests/lib/tap.sh
. "$top/tests/lib/tap.sh"
# Every exit ends the TAP stream with its plan.
trap 'tap_finish; rm -rf "$work"' EXIT
oneline() { tr '\n' '|' < "$1" | cut -c1-200; }

built=1
for cli in message_sender message_reader; do
	if gcc -O3 -Wall -Wextra -std=c11 "$cli.c" -o "$work/$cli" 2> "$work/cc.err" &&
		! [ -s "$work/cc.err" ]; then
		tap_ok "$cli-builds-alone"
	else
		tap_not_ok "$cli-builds-alone" "gcc: $(oneline "$work/cc.err")"
		built=0
	fi
done
[ "$built" -eq 1 ] || exit 1

# help <cli> <option> <usage>: exit 0, <usage> first on stdout, nothing on
# stderr, a pointer to the man page.
help() {
	local cli=$1 opt=$2 usage=$3 rc=0
	"$work/$cli" "$opt" > "$work/out" 2> "$work/err" || rc=$?
	if [ "$rc" -ne 0 ]; then
		tap_not_ok "$cli$opt" "exit $rc (want 0), stderr '$(oneline "$work/err")'"
	elif [ -s "$work/err" ]; then
		tap_not_ok "$cli$opt" "stderr '$(oneline "$work/err")' (want nothing)"
	elif [ "$(head -n 1 "$work/out")" != "$usage" ]; then
		tap_not_ok "$cli$opt" "stdout does not start with '$usage': '$(oneline "$work/out")'"
	elif ! grep -q "$cli(1)" "$work/out"; then
		tap_not_ok "$cli$opt" "no pointer to the $cli(1) man page: '$(oneline "$work/out")'"
	else
		tap_ok "$cli$opt"
	fi
}
sender_line='usage: message_sender <device> <channel> [<censor 0|1>] <message>'
reader_line='usage: message_reader [--wait | --follow] <device> <channel>'
for opt in --help -h; do
	help message_sender "$opt" "$sender_line"
	help message_reader "$opt" "$reader_line"
done
if "$work/message_sender" --help | grep -q 'censor_period'; then
	tap_ok sender-help-censor-period
else
	tap_not_ok sender-help-censor-period "--help does not say the censor period is the module parameter censor_period"
fi

# One version: MSG_SLOT_VERSION of message_slot.h.
version=$(sed -n 's/^#define MSG_SLOT_VERSION[[:space:]]*"\(.*\)"$/\1/p' message_slot.h)
for cli in message_sender message_reader; do
	rc=0
	out=$("$work/$cli" --version 2> "$work/err") || rc=$?
	if [ -z "$version" ]; then
		tap_not_ok "$cli-version" "no MSG_SLOT_VERSION in message_slot.h"
	elif [ "$rc" -ne 0 ] || [ "$out" != "$cli $version" ] || [ -s "$work/err" ]; then
		tap_not_ok "$cli-version" "exit $rc, stdout '$out' (want '$cli $version'), stderr '$(oneline "$work/err")'"
	else
		tap_ok "$cli-version"
	fi
done

# A full stdout is an error, not a silent success.
for cli in message_sender message_reader; do
	if [ -w /dev/full ]; then
		if "$work/$cli" --help > /dev/full 2> "$work/err"; then
			tap_not_ok "$cli-help-stdout-full" "exit 0 although stdout could not be written"
		elif ! grep -q 'No space left on device' "$work/err"; then
			tap_not_ok "$cli-help-stdout-full" "stderr '$(oneline "$work/err")'"
		else
			tap_ok "$cli-help-stdout-full"
		fi
	fi
done

# usage_exact <test> <expected stderr> <cli> [args]: exit 1, stdout empty,
# stderr exactly the given line.
usage_exact() {
	local name=$1 want=$2 rc=0
	shift 2
	"$work/$1" "${@:2}" > "$work/out" 2> "$work/err" || rc=$?
	printf '%s\n' "$want" > "$work/want"
	if [ "$rc" -ne 1 ]; then
		tap_not_ok "$name" "exit $rc (want 1)"
	elif [ -s "$work/out" ]; then
		tap_not_ok "$name" "stdout '$(oneline "$work/out")' (want nothing)"
	elif ! cmp -s "$work/err" "$work/want"; then
		tap_not_ok "$name" "stderr '$(oneline "$work/err")', want '$want'"
	else
		tap_ok "$name"
	fi
}
sender_usage="$sender_line: Invalid argument"
reader_usage="$reader_line: Invalid argument"
usage_exact sender-no-args "$sender_usage" message_sender
usage_exact sender-1-arg "$sender_usage" message_sender /dev/slot0
usage_exact sender-2-args "$sender_usage" message_sender /dev/slot0 1
usage_exact sender-help-plus-args "$sender_usage" message_sender --help 1
usage_exact sender-5-args "$sender_usage" message_sender /dev/slot0 1 0 a b
usage_exact reader-no-args "$reader_usage" message_reader
usage_exact reader-1-arg "$reader_usage" message_reader /dev/slot0
usage_exact reader-3-args "$reader_usage" message_reader /dev/slot0 1 x
# "--help" as a device in the grader forms is still just a path.
usage_exact reader-help-as-device 'message_reader: cannot open --help: No such file or directory' \
	message_reader --help 1
usage_exact sender-help-as-device 'message_sender: cannot open --help: No such file or directory' \
	message_sender --help 1 hi

tap_exit
