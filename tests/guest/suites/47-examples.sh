#!/bin/sh
# The NP-Heap and message-slot pairs of examples/ (examples/README.md): a
# student record written by one process and read back by later ones after
# the writer exited, argument and device errors, records that do not fit,
# and that both are gone after rmmod.  Exact stdout, stderr and exit status.
# (The file pair runs on the host: tests/host/30-examples.sh.)
. "$GUEST/lib.sh"

work=/tmp/suite-examples
mkdir -p "$work"
HEAP=/dev/npheap
SLOT=/dev/slot47
SEED='roll_no: 123
marks: 90
name: Abhishek
city: Bangalore'
ANN='roll_no: 7
marks: 88
name: Ann Lee
city: Pune'

# expect <test> <exit status> <stdout> <stderr> <command...>: one result
# line; stdout and stderr compared exactly (without the final newline).
expect() {
    _name=$1 _want_rc=$2 _want_out=$3 _want_err=$4
    shift 4
    "$@" > "$work/out" 2> "$work/err"
    _rc=$?
    _out=$(cat "$work/out") _err=$(cat "$work/err")
    if [ "$_rc" -ne "$_want_rc" ]; then
        tap_not_ok "$_name" "exit $_rc, want $_want_rc; stderr '$_err' [$*]"
    elif [ "$_out" != "$_want_out" ]; then
        tap_not_ok "$_name" "stdout '$(echo "$_out" | tr '\n' '|')', want '$(echo "$_want_out" | tr '\n' '|')' [$*]"
    elif [ "$_err" != "$_want_err" ]; then
        tap_not_ok "$_name" "stderr '$(echo "$_err" | tr '\n' '|')', want '$_want_err' [$*]"
    else
        tap_ok "$_name"
    fi
}

# repeat <char> <count>
repeat() { awk -v c="$1" -v n="$2" 'BEGIN { for (i = 0; i < n; i++) printf "%s", c }'; }

# load: insmod, wait (bounded) for devtmpfs to show the heap, make the slot.
load() {
    load_module || return 1
    _i=0
    while [ ! -c "$HEAP" ] && [ $_i -lt 50 ]; do sleep 0.1; _i=$((_i + 1)); done
    rm -f "$SLOT"
    mknod -m 0666 "$SLOT" c 235 47 && [ -c "$HEAP" ]
}

if module_loaded; then
    tap_not_ok module-load "message_slot was already loaded before this suite"
    rmmod message_slot
fi
if ! load 2> "$work/load.err"; then
    tap_not_ok module-load "insmod or device nodes failed: $(cat "$work/load.err")"
    unload_module
    tap_exit
fi

# ---- NP-Heap: npheap_write / npheap_read -----------------------------------
NW=$BIN/npheap_write
NR=$BIN/npheap_read

expect npheap-write-no-arguments 1 "" "Device and object id not mentioned: Invalid argument" "$NW" "$HEAP"
expect npheap-read-too-many-arguments 1 "" "Too many arguments: Invalid argument" "$NR" "$HEAP" 47 x
expect npheap-write-bad-id 1 "" "Object id is not a number 0..2147483647: Invalid argument" "$NW" "$HEAP" 4x
expect npheap-read-id-range 1 "" "Object id is not a number 0..2147483647: Numerical result out of range" \
    "$NR" "$HEAP" 2147483648
expect npheap-read-missing-device 1 "" "Device could not open: No such file or directory" "$NR" /dev/no-heap 47
expect npheap-read-not-a-heap 1 "" "Lock Failed: Inappropriate ioctl for device" "$NR" /dev/null 47
expect npheap-read-no-object 1 "" "No record in this object: No such file or directory" "$NR" "$HEAP" 47
expect npheap-read-creates-nothing 0 0 "" "$BIN/npheap_test" getsize "$HEAP" 47

expect npheap-write 0 "" "" "$NW" "$HEAP" 47
expect npheap-read-after-writer-exited 0 "$SEED" "" "$NR" "$HEAP" 47
expect npheap-read-again 0 "$SEED" "" "$NR" "$HEAP" 47
expect npheap-write-other-object 0 "" "" "$NW" "$HEAP" 48 7 88 "Ann Lee" Pune
expect npheap-read-other-object 0 "$ANN" "" "$NR" "$HEAP" 48
expect npheap-objects-independent 0 "$SEED" "" "$NR" "$HEAP" 47
expect npheap-write-field-count 1 "" "Record needs ROLL_NO MARKS NAME CITY: Invalid argument" \
    "$NW" "$HEAP" 47 1 2 3
expect npheap-write-name-too-long 1 "" "Name longer than 127 bytes: Invalid argument" \
    "$NW" "$HEAP" 47 1 2 "$(repeat n 128)" b
expect npheap-bad-record-changes-nothing 0 "$SEED" "" "$NR" "$HEAP" 47
expect npheap-read-unprivileged 0 "$ANN" "" as_nobody "$NR" "$HEAP" 48
expect npheap-replace-unprivileged 0 "" "" as_nobody "$NW" "$HEAP" 48 -1 100 "$(repeat n 127)" "$(repeat c 127)"
expect npheap-read-longest-record 0 "roll_no: -1
marks: 100
name: $(repeat n 127)
city: $(repeat c 127)" "" "$NR" "$HEAP" 48

# ---- message slot: slot_write / slot_read ----------------------------------
SW=$BIN/slot_write
SR=$BIN/slot_read
EAGAIN_TEXT='Resource temporarily unavailable'	# glibc's EWOULDBLOCK

expect slot-write-no-arguments 1 "" "Device and channel not mentioned: Invalid argument" "$SW"
expect slot-read-too-many-arguments 1 "" "Too many arguments: Invalid argument" "$SR" "$SLOT" 1 x
expect slot-write-bad-channel 1 "" "Channel is not a number: Invalid argument" "$SW" "$SLOT" -1
expect slot-read-channel-range 1 "" "Channel is not a number: Numerical result out of range" "$SR" "$SLOT" 4294967296
expect slot-write-channel-zero 1 "" "Channel could not be set: Invalid argument" "$SW" "$SLOT" 0
expect slot-read-missing-device 1 "" "Device could not open: No such file or directory" "$SR" /dev/no-slot 1
expect slot-read-not-a-slot 1 "" "Channel could not be set: Inappropriate ioctl for device" "$SR" /dev/null 1
expect slot-read-unwritten 1 "" "Read Failed: $EAGAIN_TEXT" "$SR" "$SLOT" 1

expect slot-write 0 "" "" "$SW" "$SLOT" 1
expect slot-read-after-writer-exited 0 "$SEED" "" "$SR" "$SLOT" 1
expect slot-read-again 0 "$SEED" "" "$SR" "$SLOT" 1
# 4 + 4 bytes of numbers, "Abhishek\0", "Bangalore\0"
expect slot-record-packed-27-bytes 0 27 "" sh -c "message_reader $SLOT 1 | wc -c"
expect slot-write-other-channel 0 "" "" "$SW" "$SLOT" 4294967295 7 88 "Ann Lee" Pune
expect slot-read-other-channel 0 "$ANN" "" "$SR" "$SLOT" 4294967295
expect slot-channels-independent 0 "$SEED" "" "$SR" "$SLOT" 1
# 8 + 101 + 19 = 128 bytes fits exactly; one more byte does not.
expect slot-write-128-byte-record 0 "" "" "$SW" "$SLOT" 2 5 6 "$(repeat n 100)" "$(repeat c 18)"
expect slot-write-129-byte-record 1 "" "Record does not fit in a message: Message too long" \
    "$SW" "$SLOT" 2 5 6 "$(repeat n 100)" "$(repeat c 19)"
expect slot-read-128-byte-record 0 "roll_no: 5
marks: 6
name: $(repeat n 100)
city: $(repeat c 18)" "" "$SR" "$SLOT" 2
expect slot-write-field-count 1 "" "Record needs ROLL_NO MARKS NAME CITY: Invalid argument" "$SW" "$SLOT" 1 1 2 3
expect slot-bad-record-changes-nothing 0 "$SEED" "" "$SR" "$SLOT" 1
if message_sender "$SLOT" 3 hello 2> "$work/err"; then
    expect slot-read-not-a-record 1 "" "Not a student record: Bad message" "$SR" "$SLOT" 3
else
    tap_not_ok slot-read-not-a-record "message_sender failed: $(cat "$work/err")"
fi
expect slot-write-unprivileged 0 "" "" as_nobody "$SW" "$SLOT" 4 1 2 nobody nowhere
expect slot-read-unprivileged 0 "roll_no: 1
marks: 2
name: nobody
city: nowhere" "" as_nobody "$SR" "$SLOT" 4

# ---- neither survives the module -------------------------------------------
if unload_module 2> "$work/err" && load 2>> "$work/err"; then
    expect npheap-gone-after-unload 1 "" "No record in this object: No such file or directory" "$NR" "$HEAP" 47
    expect slot-gone-after-unload 1 "" "Read Failed: $EAGAIN_TEXT" "$SR" "$SLOT" 1
else
    tap_not_ok reload "rmmod/insmod failed: $(cat "$work/err")"
fi

check module-unload unload_module
tap_exit
