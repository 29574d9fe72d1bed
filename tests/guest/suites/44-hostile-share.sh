#!/bin/sh
# One unprivileged user must not exhaust or slow what other users share
# (issue 19): per-user shares of the NP-Heap lock table and of the message
# budget, keyed lock buckets, object creation outside the heap-wide lock,
# 64-bit generations, RWF_NOWAIT writes, SET_WAIT 0 and a forked child's
# close. hostile_share prints its own result lines; this script adds
# load/unload lines. Each mode gets a fresh load with its parameters.
. "$GUEST/lib.sh"

DEV=/dev/npheap
H=$BIN/hostile_share

# run <mode> [params...]; MSGSLOT_HOSTILE_MODES="mode ..." runs only those.
run() {
    mode=$1
    shift
    case " ${MSGSLOT_HOSTILE_MODES:-$mode} " in *" $mode "*) ;; *) return ;; esac
    if ! load_module "$@"; then
        tap_not_ok "load-$mode" "insmod $* failed"
        return
    fi
    i=0
    while [ ! -c "$DEV" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    "$H" "$mode" || TAP_FAIL=$((TAP_FAIL + 1))
    check "unload-after-$mode" unload_module
}

run lock-share
run lock-collide
run create-latency
run msg-share max_msg_bytes=4194304 max_msg_bytes_per_user=1048576
run gen-wrap msg_gen_step=2147483649
run nowait-write
run setwait-wakes
run fork-close
tap_exit
