#!/usr/bin/env bash
# Host suite "examples": the mmap file pair of examples/ (the NP-Heap and
# message-slot pairs need the module: tests/guest/suites/47-examples.sh).
#   build-warning-free       examples/Makefile builds all six programs with
#                            -Wall -Wextra -std=c11 and prints no warning
#   file-*                   file_write / file_read: argument checks, missing
#                            and empty files, records passed between processes,
#                            exact stdout, stderr and exit status
# Builds from a private copy of the sources, so it never races a build of
# the checkout.  Output: "ok examples/<test>" / "not ok examples/<test> - why".
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORK=$(mktemp -d)
TAP_SUITE=examples
# shellcheck source=tests/lib/tap.sh
. "$TOP/tests/lib/tap.sh"
trap 'rm -rf "$WORK"; tap_finish' EXIT
# Every test below always runs: the plan comes first, so a suite stopped
# half-way by set -e is a bad plan to prove, not a shorter passing stream.
tap_plan 30

mkdir -p "$WORK/src/examples" "$WORK/src/npheap_shim"
cp "$TOP"/examples/*.c "$TOP"/examples/*.h "$TOP"/examples/Makefile "$WORK/src/examples/"
cp -r "$TOP"/npheap_shim/Makefile "$TOP"/npheap_shim/*.c "$TOP"/npheap_shim/*.h \
    "$TOP"/npheap_shim/npheap.pc.in "$TOP"/npheap_shim/npheap "$WORK/src/npheap_shim/"
cp "$TOP/message_slot.h" "$WORK/src/"
BIN=$WORK/bin
rc=0
make -C "$WORK/src/examples" OUT="$BIN" > "$WORK/build.log" 2>&1 || rc=$?
if [[ $rc -ne 0 ]]; then
    tap_details < "$WORK/build.log"
    tap_not_ok build-warning-free "make failed (exit $rc)"
    exit 1
elif grep -qE '(warning|error):' "$WORK/build.log"; then
    tap_details < "$WORK/build.log"
    tap_not_ok build-warning-free "$(grep -m1 -E '(warning|error):' "$WORK/build.log")"
else
    tap_ok build-warning-free
fi

D=$WORK/data
mkdir -p "$D"
SEED_RECORD=$'roll_no: 123\nmarks: 90\nname: Abhishek\ncity: Bangalore'
RECORD_SIZE=264	# sizeof(student_t): 2 ints + 2 x 128 bytes

# expect <test> <exit status> <stdout> <stderr> <command...>: one result line;
# stdout and stderr compared exactly (as the shell sees them: without the
# final newline).
expect() {
    local name=$1 want_rc=$2 want_out=$3 want_err=$4 rc=0 out err
    shift 4
    "$@" > "$WORK/out" 2> "$WORK/err" || rc=$?
    out=$(< "$WORK/out") err=$(< "$WORK/err")
    if [[ $rc -ne $want_rc ]]; then
        tap_not_ok "$name" "exit $rc, want $want_rc; stderr '$err' [${*##*/}]"
    elif [[ $out != "$want_out" ]]; then
        tap_not_ok "$name" "stdout '${out//$'\n'/|}', want '${want_out//$'\n'/|}' [${*##*/}]"
    elif [[ $err != "$want_err" ]]; then
        tap_not_ok "$name" "stderr '${err//$'\n'/|}', want '${want_err//$'\n'/|}' [${*##*/}]"
    else
        tap_ok "$name"
    fi
}

# same <test> <file> <copy>: the file still equals the copy taken before.
same() {
    if cmp -s "$2" "$3"; then tap_ok "$1"; else tap_not_ok "$1" "$2 changed: $(cmp "$2" "$3" 2>&1)"; fi
}

size_is() {
    local size
    size=$(stat -c %s "$2")
    if [[ $size -eq $3 ]]; then tap_ok "$1"; else tap_not_ok "$1" "$2 is $size bytes, want $3"; fi
}

W=$BIN/file_write
R=$BIN/file_read

expect file-write-no-argument 1 "" "File path not mentioned: Invalid argument" "$W"
expect file-read-no-argument 1 "" "File path not mentioned: Invalid argument" "$R"
expect file-read-too-many-arguments 1 "" "Too many arguments: Invalid argument" "$R" "$D/x" "$D/y"
expect file-write-missing-file 1 "" "File could not open: No such file or directory" "$W" "$D/none"
expect file-read-missing-file 1 "" "File could not open: No such file or directory" "$R" "$D/none"
if [[ -e $D/none ]]; then tap_not_ok file-write-creates-nothing "$D/none exists"; else tap_ok file-write-creates-nothing; fi

# An empty file holds no record; the writer grows it to exactly one record.
: > "$D/empty"
expect file-read-empty-file 1 "" \
    "Mapping Failed: Invalid argument (0 bytes, a record is $RECORD_SIZE)" "$R" "$D/empty"
expect file-write-empty-file 0 "" "" "$W" "$D/empty"
size_is file-write-grows-to-record "$D/empty" "$RECORD_SIZE"
expect file-read-after-writer-exited 0 "$SEED_RECORD" "" "$R" "$D/empty"

# A file shorter than a record: the whole record lands in the file.
printf 'short' > "$D/short"
expect file-write-short-file 0 "" "" "$W" "$D/short" 4 75 "Ann Lee" Pune
size_is file-write-short-grows "$D/short" "$RECORD_SIZE"
expect file-read-short-file 0 $'roll_no: 4\nmarks: 75\nname: Ann Lee\ncity: Pune' "" "$R" "$D/short"

# A longer file keeps its size and every byte past the record.
head -c 1000 /dev/zero | tr '\0' x > "$D/long"
cp "$D/long" "$D/long.before"
expect file-write-long-file 0 "" "" "$W" "$D/long" -5 0 "$(printf 'n%.0s' {1..127})" C
size_is file-write-long-keeps-size "$D/long" 1000
if cmp -s <(tail -c +$((RECORD_SIZE + 1)) "$D/long") <(tail -c +$((RECORD_SIZE + 1)) "$D/long.before"); then
    tap_ok file-write-long-keeps-tail
else
    tap_not_ok file-write-long-keeps-tail "bytes past the record changed"
fi
expect file-read-long-file 0 \
    "roll_no: -5"$'\nmarks: 0\nname: '"$(printf 'n%.0s' {1..127})"$'\ncity: C' "" "$R" "$D/long"

# A second writer replaces the record; every reader process sees the last one.
: > "$D/shared"
expect file-write-first 0 "" "" "$W" "$D/shared" 1 10 First Delhi
expect file-write-second 0 "" "" "$W" "$D/shared" 2 20 Second Mumbai
expect file-read-last-record 0 $'roll_no: 2\nmarks: 20\nname: Second\ncity: Mumbai' "" "$R" "$D/shared"
expect file-read-again 0 $'roll_no: 2\nmarks: 20\nname: Second\ncity: Mumbai' "" "$R" "$D/shared"

# A bad record is refused before the file is touched.
cp "$D/shared" "$D/shared.before"
expect file-write-field-count 1 "" "Record needs ROLL_NO MARKS NAME CITY: Invalid argument" \
    "$W" "$D/shared" 1 2 3
expect file-write-roll-junk 1 "" "Roll number is not a number: Invalid argument" \
    "$W" "$D/shared" 12x 2 a b
expect file-write-marks-range 1 "" "Marks is not a number: Numerical result out of range" \
    "$W" "$D/shared" 1 2147483648 a b
expect file-write-name-too-long 1 "" "Name longer than 127 bytes: Invalid argument" \
    "$W" "$D/shared" 1 2 "$(printf 'n%.0s' {1..128})" b
expect file-write-city-too-long 1 "" "City longer than 127 bytes: Invalid argument" \
    "$W" "$D/shared" 1 2 a "$(printf 'c%.0s' {1..128})"
same file-write-bad-record-changes-nothing "$D/shared" "$D/shared.before"

# Not a regular file: a clear error, exit 1.
expect file-write-not-a-file 1 "" "File could not open: Is a directory" "$W" "$D"
expect file-read-device 1 "" "Mapping Failed: Invalid argument (0 bytes, a record is $RECORD_SIZE)" \
    "$R" /dev/null

tap_exit
