#!/bin/sh
# Module lifecycle and load-time parameters of the message slot half:
# rmmod refused while a file is open, a reload starts empty, kernel memory
# returns to its baseline after a heavy workload and rmmod, the memory bound
# (max_msg_bytes), and censor_period (valid, invalid, other values).
# Each test loads and unloads the module itself.
. "$GUEST/lib.sh"

work=/tmp/suite-lifecycle
mkdir -p "$work"
SENDER=$BIN/message_sender
READER=$BIN/message_reader
TOOL=$BIN/msgslot_tool
PARAMS=/sys/module/message_slot/parameters

t() {
    _name=$1; shift
    REASON=
    if "$@"; then tap_ok "$_name"; else tap_not_ok "$_name" "${REASON:-failed}"; fi
    # whatever a test did, the next one starts without the module
    module_loaded && ! rmmod message_slot 2>/dev/null &&
        echo "# could not rmmod after $_name: $(cat /proc/modules | grep message_slot)"
}

# load [params]: insmod or set REASON and fail.
load() {
    if module_loaded; then
        rmmod message_slot 2> "$work/rmmod.err" ||
            { REASON="message_slot already loaded and rmmod failed: $(cat "$work/rmmod.err")"; return 1; }
    fi
    load_module "$@" 2> "$work/insmod.err" ||
        { REASON="insmod $* failed: $(cat "$work/insmod.err")"; return 1; }
}

unload() {
    rmmod message_slot 2> "$work/rmmod.err" ||
        { REASON="rmmod failed: $(cat "$work/rmmod.err")"; return 1; }
}

node() { rm -f "/dev/slot$1"; mknod "/dev/slot$1" c 235 "$1"; }
for minor in 0 40 41 42 43 44; do node "$minor"; done

# read_is <dev> <ch> <text>: msgslot_tool reads exactly text.
read_is() {
    _got=$("$TOOL" read "$1" "$2" 2>&1) && [ "$_got" = "$3" ] && return 0
    REASON="$1 channel $2: got '$_got', want '$3'"; return 1
}

# read_empty <dev> <ch>: the channel was never written (EWOULDBLOCK).
read_empty() {
    _got=$("$TOOL" read "$1" "$2" 2>&1) && {
        REASON="$1 channel $2 holds '$_got', want EWOULDBLOCK (never written since load)"; return 1; }
    case $_got in *EAGAIN*) return 0 ;; esac
    REASON="$1 channel $2: want EWOULDBLOCK, got '$_got'"; return 1
}

# ---- rmmod and reload --------------------------------------------------------

rmmod_refused_while_open() {
    load || return 1
    exec 3<> /dev/slot0
    if rmmod message_slot 2> "$work/rmmod.err"; then
        exec 3>&-
        REASON="rmmod succeeded while this shell had /dev/slot0 open"; return 1
    fi
    module_loaded || { exec 3>&-; REASON="rmmod failed but the module is gone"; return 1; }
    exec 3>&-
    # the same with the fd held by another process
    sleep 600 3< /dev/slot0 &
    holder=$!
    sleep 1
    if rmmod message_slot 2> "$work/rmmod.err"; then
        kill "$holder"; wait "$holder" 2>/dev/null
        REASON="rmmod succeeded while process $holder had /dev/slot0 open"; return 1
    fi
    kill "$holder"; wait "$holder" 2>/dev/null
    unload || { REASON="after every fd was closed: $REASON"; return 1; }
    module_loaded && { REASON="rmmod returned 0 but message_slot is still in /proc/modules"; return 1; }
    return 0
}

reload_starts_empty() {
    load || return 1
    "$TOOL" write /dev/slot0 5 before || { REASON="write before reload failed"; return 1; }
    "$TOOL" write /dev/slot40 4294967295 before || { REASON="write before reload failed"; return 1; }
    read_is /dev/slot0 5 before || return 1
    unload || return 1
    load || return 1
    read_empty /dev/slot0 5 || return 1
    read_empty /dev/slot40 4294967295 || return 1
    # and the fresh module works
    "$TOOL" write /dev/slot0 5 after || { REASON="write after reload failed"; return 1; }
    read_is /dev/slot0 5 after || return 1
    unload
}

# ---- kernel memory back to baseline -----------------------------------------

# Let deferred frees (RCU, per-cpu slab caches) finish, then drop what can be
# dropped so that only live objects are counted.
settle() {
    sleep 3
    sync
    echo 3 > /proc/sys/vm/drop_caches
    for shrink in /sys/kernel/slab/*/shrink; do echo 1 2>/dev/null > "$shrink"; done
    sleep 1
}

is_debug_kernel() {
    [ -e /sys/kernel/debug/kmemleak ] || dmesg | grep -q 'KernelAddressSanitizer initialized'
}

# 4 slots x 32768 channels x 128 bytes (+ 65536 1-byte messages) is ~26 MiB
# of message objects (a 128-byte one costs 160 B); on debug kernels, where
# each object is slow to create and free, 2 slots (~10 MiB). Any leak of
# 2^16 x 128 B (8 MiB) or more exceeds the tolerance; WORKLOAD_MIN_KB (the
# payload alone) proves the figures would show it.
LEAK_TOLERANCE_KB=4096
if is_debug_kernel; then
    WORKLOAD_SLOTS="40 41" WORKLOAD_MIN_KB=8192 SMALL_MESSAGES=0
else
    WORKLOAD_SLOTS="40 41 42 43" WORKLOAD_MIN_KB=16384 SMALL_MESSAGES=65536
fi

workload() {
    for minor in $WORKLOAD_SLOTS; do
        "$TOOL" fill "/dev/slot$minor" 1 32768 128 || return 1
        "$TOOL" verify "/dev/slot$minor" 1 32768 128 || return 1
    done
    "$TOOL" fill /dev/slot44 100000 "$SMALL_MESSAGES" 1 &&
        "$TOOL" verify /dev/slot44 100000 "$SMALL_MESSAGES" 1 || return 1
    # overwrite half of them with shorter messages: replacements must free
    "$TOOL" fill /dev/slot40 1 16384 7 && "$TOOL" verify /dev/slot40 1 16384 7
}

memory_baseline() {
    # warm-up cycle: one-time allocations of a first load are not a leak
    load || return 1
    "$TOOL" fill /dev/slot40 1 1000 128 || { REASON="warm-up fill failed"; return 1; }
    unload || return 1
    settle
    set -- $("$TOOL" slabstat) || { REASON="slabstat failed"; return 1; }
    slab0=$1 sunr0=$2 act0=$3
    "$TOOL" slabtop 8 > "$work/slabtop.before"

    load || return 1
    workload 2> "$work/workload.err" || { REASON="workload failed: $(cat "$work/workload.err")"; return 1; }
    set -- $("$TOOL" slabstat)
    slab1=$1 sunr1=$2 act1=$3
    unload || return 1
    settle
    set -- $("$TOOL" slabstat)
    slab2=$1 sunr2=$2 act2=$3
    "$TOOL" slabtop 8 > "$work/slabtop.after"

    figures="Slab ${slab0}->${slab1}->${slab2} kB, SUnreclaim ${sunr0}->${sunr1}->${sunr2} kB, slabinfo active ${act0}->${act1}->${act2} kB (before load -> loaded with workload -> after rmmod)"
    echo "# memory: $figures"
    echo "# top caches before: $(tr '\n' ' ' < "$work/slabtop.before")"
    echo "# top caches after:  $(tr '\n' ' ' < "$work/slabtop.after")"
    # The method must see the workload, or it could not see a leak either.
    if [ $((sunr1 - sunr0)) -lt "$WORKLOAD_MIN_KB" ]; then
        REASON="the workload raised SUnreclaim by only $((sunr1 - sunr0)) kB (< $WORKLOAD_MIN_KB): messages are not slab-accounted? $figures"
        return 1
    fi
    if [ $((sunr2 - sunr0)) -gt "$LEAK_TOLERANCE_KB" ] || [ $((act2 - act0)) -gt "$LEAK_TOLERANCE_KB" ]; then
        REASON="kernel memory did not return to baseline (tolerance $LEAK_TOLERANCE_KB kB): $figures"
        return 1
    fi
    return 0
}

# Per-open state must be freed in release: 2^18 opens (2^17 on debug
# kernels) that each leaked even 16 bytes would hold 4 (2) MiB.
OPEN_LEAK_TOLERANCE_KB=1024
if is_debug_kernel; then OPENS=131072; else OPENS=262144; fi

open_close_frees_state() {
    load || return 1
    "$TOOL" churn /dev/slot0 1000 || { REASON="warm-up open/close failed"; return 1; }
    settle
    set -- $("$TOOL" slabstat)
    sunr0=$2 act0=$3
    "$TOOL" churn /dev/slot0 "$OPENS" 2> "$work/churn.err" ||
        { REASON="open/ioctl/read/close loop failed: $(cat "$work/churn.err")"; return 1; }
    settle
    set -- $("$TOOL" slabstat)
    sunr1=$2 act1=$3
    figures="SUnreclaim ${sunr0}->${sunr1} kB, slabinfo active ${act0}->${act1} kB"
    echo "# $OPENS open/close: $figures"
    if [ $((sunr1 - sunr0)) -gt "$OPEN_LEAK_TOLERANCE_KB" ] || [ $((act1 - act0)) -gt "$OPEN_LEAK_TOLERANCE_KB" ]; then
        REASON="$OPENS open/close cycles grew slab memory beyond $OPEN_LEAK_TOLERANCE_KB kB: $figures"
        return 1
    fi
    unload
}

# The course's bound: total memory O(C*M + F) for C channels holding
# messages of M bytes and F open files. Measured as SUnreclaim growth per
# channel (1-byte, then 128-byte messages, dense ids) and per open file,
# against generous constants (the slab costs are 32 / 160 bytes per
# message plus a share of a 576-byte index node; KASAN's redzones and
# lockdep's bigger locks make everything larger on the debug kernel).
LINEAR_CHANNELS=16384
LINEAR_FILES=4096
memory_linear() {
    if is_debug_kernel; then scale=4; else scale=1; fi
    load || return 1
    settle
    set -- $("$TOOL" slabstat); s0=$2
    "$TOOL" fill /dev/slot41 1 "$LINEAR_CHANNELS" 1 || { REASON="fill 1-byte failed"; return 1; }
    settle
    set -- $("$TOOL" slabstat); s1=$2
    "$TOOL" fill /dev/slot42 1 "$LINEAR_CHANNELS" 128 || { REASON="fill 128-byte failed"; return 1; }
    settle
    set -- $("$TOOL" slabstat); s2=$2
    set -- $("$TOOL" openstat /dev/slot43 "$LINEAR_FILES" 2> "$work/openstat.err") ||
        { REASON="openstat failed: $(cat "$work/openstat.err")"; return 1; }
    f0=$1 f1=$2
    per1=$(( (s1 - s0) * 1024 / LINEAR_CHANNELS ))
    per128=$(( (s2 - s1) * 1024 / LINEAR_CHANNELS ))
    perfile=$(( (f1 - f0) * 1024 / LINEAR_FILES ))
    figures="per channel: ${per1} B (1-byte), ${per128} B (128-byte); per open file: ${perfile} B"
    echo "# O(C*M+F): $figures (SUnreclaim $s0 -> $s1 -> $s2 kB; files $f0 -> $f1 kB)"
    unload || return 1
    if [ "$per1" -gt $((256 * scale)) ] || [ "$per128" -gt $((512 * scale)) ] ||
        [ "$perfile" -gt $((2048 * scale)) ]; then
        REASON="above 256 / 512 / 2048 bytes (x$scale): $figures"; return 1
    fi
    if [ "$per128" -le "$per1" ]; then
        REASON="a 128-byte message costs no more than a 1-byte one, so the measurement saw nothing: $figures"
        return 1
    fi
}

# ---- parameters --------------------------------------------------------------

param_permissions() {
    load || return 1
    for spec in max_msg_bytes:644 censor_period:444; do
        name=${spec%%:*} mode=${spec#*:}
        got=$(stat -c %a "$PARAMS/$name" 2>&1)
        [ "$got" = "$mode" ] || { REASON="$PARAMS/$name mode '$got', want $mode"; return 1; }
    done
    # censor_period is read-only at runtime
    if echo 5 2>/dev/null > "$PARAMS/censor_period"; then
        REASON="writing $PARAMS/censor_period succeeded (0444)"; return 1
    fi
    unload
}

# The memory bound: first measure what messages and index nodes cost (and
# check that against the README), then reload with max_msg_bytes = 63 x the
# cost of a 128-byte message + 3 index nodes (11808) and walk up to the
# bound and past it.
membound() {
    load max_msg_bytes=100000 || { tap_not_ok membound_insmod "$REASON"; return; }
    if is_debug_kernel; then
        run_program msgslot_membound probe "$work/costs" debug
    else
        run_program msgslot_membound probe "$work/costs"
    fi
    unload || { tap_not_ok membound_rmmod "$REASON"; return; }
    read -r cost1 cost128 node < "$work/costs" 2>/dev/null && [ -n "$node" ] ||
        { tap_not_ok membound_run "the probe measured no costs"; return; }
    bound=$((63 * cost128 + 3 * node))
    load max_msg_bytes=$bound || { tap_not_ok membound_insmod "$REASON"; return; }
    value=$(cat "$PARAMS/max_msg_bytes")
    if [ "$value" = "$bound" ]; then
        tap_ok membound_insmod_param
    else
        tap_not_ok membound_insmod_param "max_msg_bytes reads '$value' after insmod max_msg_bytes=$bound"
    fi
    run_program msgslot_membound run "$cost1" "$cost128" "$node"
    unload || tap_not_ok membound_rmmod "$REASON"
}

censor_period_4() {
    load censor_period=4 || return 1
    run_program msgslot_censor 4
    "$SENDER" /dev/slot0 1 1 abcdefgh || { REASON="message_sender /dev/slot0 1 1 abcdefgh failed"; return 1; }
    "$READER" /dev/slot0 1 > "$work/out" || { REASON="message_reader failed"; return 1; }
    printf 'abc#efg#' > "$work/want"
    cmp -s "$work/out" "$work/want" ||
        { REASON="sender's censored write with N=4 read back as '$(cat "$work/out")', want 'abc#efg#'"; return 1; }
    unload
}

censor_period_1_and_128() {
    load censor_period=1 || return 1
    "$SENDER" /dev/slot0 1 1 abc || { REASON="N=1: message_sender failed"; return 1; }
    read_is /dev/slot0 1 '###' || { REASON="N=1: $REASON"; return 1; }
    unload || return 1
    load censor_period=128 || return 1
    [ "$(cat "$PARAMS/censor_period")" = 128 ] || { REASON="censor_period reads '$(cat "$PARAMS/censor_period")', want 128"; return 1; }
    "$SENDER" /dev/slot0 1 1 abcdef || { REASON="N=128: message_sender failed"; return 1; }
    read_is /dev/slot0 1 abcdef || { REASON="N=128 on a 6-byte message: $REASON"; return 1; }
    unload
}

# insmod with a bad censor_period fails with EINVAL and a KERN_ERR line.
bad_censor_period() {
    for bad in 0 129; do
        "$TOOL" kmsg-errors > "$work/kmsg.before"
        if load_module censor_period=$bad 2> "$work/insmod.err"; then
            REASON="insmod censor_period=$bad succeeded"; return 1
        fi
        module_loaded && { REASON="insmod censor_period=$bad failed but the module is loaded"; return 1; }
        grep -qi 'invalid argument' "$work/insmod.err" ||
            { REASON="insmod censor_period=$bad: '$(cat "$work/insmod.err")' is not EINVAL"; return 1; }
        "$TOOL" kmsg-errors > "$work/kmsg.after"
        before=$(wc -l < "$work/kmsg.before") after=$(wc -l < "$work/kmsg.after")
        [ "$after" -gt "$before" ] ||
            { REASON="insmod censor_period=$bad logged no KERN_ERR line"; return 1; }
        echo "# censor_period=$bad: $(tail -n 1 "$work/kmsg.after")"
    done
    # a plain insmod afterwards works, with the default period
    load || { REASON="plain insmod after the refused ones: $REASON"; return 1; }
    [ "$(cat "$PARAMS/censor_period")" = 3 ] || { REASON="censor_period is not 3 after a plain insmod"; return 1; }
    "$SENDER" /dev/slot0 1 1 abcdef || { REASON="message_sender failed after reload"; return 1; }
    read_is /dev/slot0 1 'ab#de#' || return 1
    unload
}

# ---- run ---------------------------------------------------------------------

if module_loaded; then
    tap_not_ok clean_start "message_slot was already loaded before this suite"
    rmmod message_slot
fi

t rmmod_refused_while_open rmmod_refused_while_open
t reload_starts_empty reload_starts_empty
t memory_returns_to_baseline memory_baseline
t open_close_frees_per_file_state open_close_frees_state
t memory_linear_in_channels_and_files memory_linear
t param_permissions param_permissions
membound
t censor_period_4 censor_period_4
t censor_period_1_and_128 censor_period_1_and_128
t censor_period_invalid_refused bad_censor_period
tap_exit
