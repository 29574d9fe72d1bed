#!/usr/bin/env bash
# `make check`: the whole test suite.
#  1. setup (kernels.sh: tools, newest Debian 6.1/6.12 cloud kernels + headers;
#     its progress is shown as "# [setup]" lines)
#  2. in the background, at once: the debug kernel build
#     (tests/debug-kernel/build.sh, cached after the first run) and the host
#     suites (every executable tests/host/*.sh, in order, one at a time)
#  3. per kernel, one VM boot running tests/guest/run.sh (all guest suites):
#     the Debian kernels from kernels.sh, then the debug kernel once built
#     - every result line is printed with the kernel name: "ok [6.1] msgslot/x"
#     - the console log is scanned for kernel reports: "[k] kernel-log"
#     - a VM that times out or dies is a failed test
#  4. the host suites' results, in suite order, once the VMs are done
#  5. one final line "N passed, N failed"; non-zero exit on any failure or
#     when no test ran.
# The background work uses the host cores a VM leaves idle (QEMU's TCG runs
# one host thread per vCPU, and most guest tests keep one vCPU busy);
# MSGSLOT_SERIAL=1 runs everything one after another instead.
# Knobs: KERNELS="6.1 6.12" (subset of the Debian kernels), SUITES="10-msgslot"
# (guest suites whose file name contains a word), MSGSLOT_SKIP_DEBUG=1,
# MSGSLOT_SKIP_HOST=1, MSGSLOT_SERIAL=1, MSGSLOT_KERNEL_TIMEOUT (s per boot,
# default 1200), MSGSLOT_DEBUG_KERNEL_TIMEOUT (s for the debug kernel's boot,
# default 2700: KASAN + lockdep under TCG run the suite and the 10^6-op fuzz
# ~10x slower), MSGSLOT_HOST_TIMEOUT (s per host suite, default 1200),
# MSGSLOT_DEBUG_BUILD_TIMEOUT (s, default 3600), MSGSLOT_CACHE (default
# ~/.cache/message_slot), MSGSLOT_DEBUG_SPLIT=0 (the debug kernel's fuzz
# seeds in one VM instead of two at once).
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$TOP"
VM_DIR=$TOP/tests/vm
LOG_DIR=$TOP/build/logs
mkdir -p "$LOG_DIR"

# One cache directory for every script; tests/debug-kernel/build.sh reads it
# as MSG_SLOT_CACHE.
export MSGSLOT_CACHE=${MSGSLOT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/message_slot}
export MSG_SLOT_CACHE=$MSGSLOT_CACHE

KERNEL_TIMEOUT=${MSGSLOT_KERNEL_TIMEOUT:-1200}
HOST_TIMEOUT=${MSGSLOT_HOST_TIMEOUT:-1200}
DEBUG_BUILD_TIMEOUT=${MSGSLOT_DEBUG_BUILD_TIMEOUT:-3600}
DEBUG_KERNEL_TIMEOUT=${MSGSLOT_DEBUG_KERNEL_TIMEOUT:-2700}

passed=0
failed=0
run_start=$SECONDS

# Commands run in the background ignore SIGINT, so an interrupted run stops
# the current one (and its VM) explicitly instead of leaving it to time out;
# the background jobs run in process groups of their own (setsid).
current_pid=
bg_pids=()
on_signal() {
    local pid
    [[ -n $current_pid ]] && kill -TERM -- "-$current_pid" 2>/dev/null
    for pid in "${bg_pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null; done
    echo "# interrupted"
    exit 130
}
trap on_signal INT TERM

pass() { echo "ok [$1] $2"; passed=$((passed + 1)); }
fail() { echo "not ok [$1] $2 - $3"; failed=$((failed + 1)); }
# Indented diagnostics: never mistaken for a result line.
diag() { local label=$1; shift; printf '# [%s] %s\n' "$label" "$*"; }
show_file() { local label=$1; sed "s/^/# [$label] | /" "$2"; }

# parse_results <label> < output: result lines are counted and re-labelled,
# anything else becomes a diagnostic. Sets STREAM_RESULTS, STREAM_FAILS.
parse_results() {
    local label=$1 line
    STREAM_RESULTS=0
    STREAM_FAILS=0
    while IFS= read -r line; do
        case $line in
            "ok "*) pass "$label" "${line#ok }"; STREAM_RESULTS=$((STREAM_RESULTS + 1)) ;;
            "not ok "*)
                echo "not ok [$label] ${line#not ok }"
                failed=$((failed + 1))
                STREAM_RESULTS=$((STREAM_RESULTS + 1))
                STREAM_FAILS=$((STREAM_FAILS + 1)) ;;
            "# "*) diag "$label" "${line#\# }" ;;
            *) diag "$label" "$line" ;;
        esac
    done
}

# Runs a command with its output streamed line by line: result lines are
# counted and re-labelled, anything else becomes a diagnostic. The command's
# output goes through a file (not a pipe) so a process it leaves behind
# cannot stall the harness; those processes are killed with its group.
# Sets STREAM_RC, STREAM_RESULTS, STREAM_FAILS.
run_streamed() {
    local label=$1; shift
    local out
    out=$(mktemp)
    "$@" > "$out" 2>&1 < /dev/null &
    local pid=$!
    current_pid=$pid
    parse_results "$label" < <(tail -n +1 -s 0.5 -f --pid="$pid" "$out")
    STREAM_RC=0
    wait "$pid" || STREAM_RC=$?
    kill -KILL -- "-$pid" 2>/dev/null || true
    current_pid=
    rm -f "$out"
}

# One VM boot with every guest suite, then the kernel log check. VM_ENV
# (an array of VAR=value) is the VM's environment on top of this one;
# VM_ADDS (boot.sh --add options) what it gets beside the payload.
VM_ENV=()
VM_ADDS=()
test_kernel() {
    local name=$1 vmlinuz=$2 kdir=$3 KERNEL_TIMEOUT=${4:-$KERNEL_TIMEOUT}
    local log=$LOG_DIR/$name.log start=$SECONDS before=$failed
    # timeout(1) makes its own process group, which run_streamed kills.
    run_streamed "$name" env "${VM_ENV[@]}" timeout -k 30 $((KERNEL_TIMEOUT + 60)) \
        "$VM_DIR/boot.sh" --kernel "$vmlinuz" --kdir "$kdir" --name "$name" \
        --entry tests/guest/run.sh --timeout "$KERNEL_TIMEOUT" --log "$log" "${VM_ADDS[@]}"
    kernel_verdict "$name" "$log" "$KERNEL_TIMEOUT" "$start" "$before"
}

# The same VM in the background, its output kept in build/logs/<name>.out;
# finish_kernel_bg <name> <timeout> then reports it like test_kernel. It
# boots once the host suites are done: some of them boot VMs of their own,
# and three VMs on two cores stretch the guests' timed waits past their
# bounds.
start_kernel_bg() {
    local name=$1 vmlinuz=$2 kdir=$3 t=$4
    setsid bash -c 'while [[ -n $1 ]] && kill -0 "$1" 2> /dev/null; do sleep 2; done
        shift; exec "$@"' host-wait "$host_pid" env "${VM_ENV[@]}" timeout -k 30 $((t + 60)) \
        "$VM_DIR/boot.sh" --kernel "$vmlinuz" --kdir "$kdir" --name "$name" \
        --entry tests/guest/run.sh --timeout "$t" --log "$LOG_DIR/$name.log" \
        > "$LOG_DIR/$name.out" 2>&1 < /dev/null &
    bg_vm_pid=$!
    bg_pids+=("$bg_vm_pid")
    bg_vm_start=$SECONDS
}
finish_kernel_bg() {
    local name=$1 t=$2 before=$failed
    STREAM_RC=0
    wait "$bg_vm_pid" || STREAM_RC=$?
    parse_results "$name" < "$LOG_DIR/$name.out"
    kernel_verdict "$name" "$LOG_DIR/$name.log" "$t" "$bg_vm_start" "$before"
}

# kernel_verdict <name> <log> <timeout> <start> <failed before>: the VM's
# exit status (STREAM_*) and its kernel log, as result lines.
kernel_verdict() {
    local name=$1 log=$2 KERNEL_TIMEOUT=$3 start=$4 before=$5
    case $STREAM_RC in
        0) ;;
        124) fail "$name" vm "timed out after ${KERNEL_TIMEOUT}s (log $log)" ;;
        125) fail "$name" vm "the VM died before the tests finished (log $log)"
             [[ -f $log ]] && { diag "$name" "last 80 console lines:"; tail -n 80 "$log" | sed "s/^/# [$name] | /"; } ;;
        126) fail "$name" build "the module or guest programs did not build for $name" ;;
        *) [[ $STREAM_FAILS -gt 0 ]] || fail "$name" guest-exit-status "run.sh exited $STREAM_RC" ;;
    esac
    if [[ $STREAM_RC -ne 126 && $STREAM_RESULTS -eq 0 ]]; then
        fail "$name" no-results "the guest printed no result line"
    fi
    if [[ -f $log && -s $log ]]; then
        local scan
        if scan=$("$VM_DIR/scan-log.sh" "$log"); then
            pass "$name" kernel-log
        else
            fail "$name" kernel-log "$(head -n1 <<<"$scan")"
            tail -n +2 <<<"$scan" | sed "s/^/# [$name] | /"
        fi
    fi
    diag "$name" "done in $((SECONDS - start))s, $((failed - before)) failed"
}

# suites_include <word>: SUITES (empty: all) selects a suite named like word.
suites_include() {
    local w
    [[ -z ${SUITES:-} ]] && return 0
    for w in ${SUITES//,/ }; do
        [[ $1 == *"$w"* ]] && return 0
    done
    return 1
}

# Host suites, one after another, each with its output, exit status and
# duration in $1/<suite>.{out,rc,time}; run in the background by
# `run-suite.sh --host-suites <dir>` (so it can be a process group of its own).
run_host_suites() {
    local dir=$1 suite file start rc
    for suite in "$TOP"/tests/host/*.sh; do
        [[ -f $suite && -x $suite ]] || continue
        file=$(basename "$suite" .sh)
        start=$SECONDS
        rc=0
        timeout -k 30 "$HOST_TIMEOUT" "$suite" > "$dir/$file.out" 2>&1 < /dev/null || rc=$?
        echo $((SECONDS - start)) > "$dir/$file.time"
        echo "$rc" > "$dir/$file.rc"
    done
    : > "$dir/all-done"
}
if [[ ${1:-} == --host-suites ]]; then
    run_host_suites "$2"
    exit 0
fi

# Prints the results of the host suites run by run_host_suites.
report_host_suites() {
    local dir=$1 suite file sname rc
    for suite in "$TOP"/tests/host/*.sh; do
        [[ -f $suite && -x $suite ]] || continue
        file=$(basename "$suite" .sh)
        sname=${file#[0-9][0-9]-}
        diag host "suite $file"
        if [[ ! -f $dir/$file.rc ]]; then
            fail host "$sname/not-run" "the host suites stopped before this one"
            continue
        fi
        parse_results host < "$dir/$file.out"
        rc=$(cat "$dir/$file.rc")
        if [[ $rc -eq 124 || $rc -eq 137 ]]; then
            fail host "$sname/timeout" "killed after ${HOST_TIMEOUT}s"
        elif [[ $rc -ne 0 && $STREAM_FAILS -eq 0 ]]; then
            fail host "$sname/exit-status" "rc=$rc"
        fi
        [[ $STREAM_RESULTS -gt 0 ]] || fail host "$sname/no-results" "the suite printed no result line"
        diag host "suite $file done in $(cat "$dir/$file.time")s"
    done
}

serial=${MSGSLOT_SERIAL:-0}
run_host=1
[[ ${MSGSLOT_SKIP_HOST:-0} != 1 ]] || run_host=0
run_debug=1
[[ -f $TOP/tests/debug-kernel/build.sh && ${MSGSLOT_SKIP_DEBUG:-0} != 1 ]] || run_debug=0
HOST_DIR=$TOP/build/host-suites
DEBUG_OUT=$LOG_DIR/debug-kernel-build.out
DEBUG_LOG=$LOG_DIR/debug-kernel-build.log

# --- 1. setup ----------------------------------------------------------------
# Only the kernels this run boots are fetched (the host suites fetch both).
wanted=" $(echo "${KERNELS:-}" | tr ',' ' ') "
setup_args=()
[[ $wanted == "  " || $run_host -eq 1 ]] || read -ra setup_args <<<"$wanted"
kernel_lines=
: > "$LOG_DIR/setup.log"
# Progress lines reach the terminal live (fd 3), not the captured stdout.
exec 3>&1
if ! kernel_lines=$("$VM_DIR/kernels.sh" "${setup_args[@]}" \
        2> >(tee -a "$LOG_DIR/setup.log" | sed -u 's/^/# [setup] /' >&3)); then
    sleep 0.2
    fail setup kernels "kernels.sh failed (log $LOG_DIR/setup.log)"
fi
sleep 0.2 # the progress lines are printed by a process of their own
diag setup "done in $((SECONDS - run_start))s"

# --- 2. background work ------------------------------------------------------------
start_debug_build() {
    diag debug "building the debug kernel in the background (log $DEBUG_LOG)"
    debug_start=$SECONDS
    setsid timeout -k 30 "$DEBUG_BUILD_TIMEOUT" bash "$TOP/tests/debug-kernel/build.sh" \
        > "$DEBUG_OUT" 2> "$DEBUG_LOG" < /dev/null &
    debug_pid=$!
    bg_pids+=("$debug_pid")
}
start_host_suites() {
    rm -rf "$HOST_DIR"
    mkdir -p "$HOST_DIR"
    setsid "$VM_DIR/run-suite.sh" --host-suites "$HOST_DIR" > "$HOST_DIR/chain.log" 2>&1 < /dev/null &
    host_pid=$!
    bg_pids+=("$host_pid")
    host_start=$SECONDS
}
debug_pid='' host_pid='' debug_start=$SECONDS host_start=$SECONDS bg_vm_pid='' bg_vm_start=$SECONDS
if [[ $serial != 1 ]]; then
    [[ $run_debug -eq 0 ]] || start_debug_build
    if [[ $run_host -eq 1 ]]; then
        diag host "running the host suites in the background; their results follow the VMs'"
        start_host_suites
    fi
fi

# The course ZIP (`make submission`; a work tree with changes is packed as
# the commit `git stash create` makes of it), built per Debian kernel as a
# grader builds it; that kernel's VM runs guest suite 12-submission on it.
SUB_DIR=build/submission
SUB_ZIP=$TOP/$SUB_DIR/ex3_ci.zip
submission_zip_made=0
if suites_include 12-submission; then
    mkdir -p "$TOP/$SUB_DIR"
    rev=$(git stash create 2> /dev/null) || rev=
    if make -s submission ID=ci ZIP="$SUB_ZIP" REV="${rev:-HEAD}" > "$LOG_DIR/submission.log" 2>&1; then
        submission_zip_made=1
    else
        fail setup submission-zip "make submission failed: $(tail -n1 "$LOG_DIR/submission.log")"
    fi
fi
# submission_adds <name> <kdir>: VM_ADDS for that kernel's ZIP build.
submission_adds() {
    VM_ADDS=()
    [[ $submission_zip_made -eq 1 ]] || return 0
    if "$VM_DIR/build-submission.sh" "$SUB_ZIP" "$2" "$TOP/$SUB_DIR/$1" \
            > /dev/null 2> "$LOG_DIR/submission-$1.log"; then
        # The guest runs the rest of README's "For graders" commands.
        "$VM_DIR/readme-block.sh" graders-guest > "$TOP/$SUB_DIR/$1/README-graders.sh"
        VM_ADDS=(--add "$SUB_DIR/$1")
    else
        fail "$1" submission-build "$(tail -n1 "$LOG_DIR/submission-$1.log")"
    fi
}

# --- 3. Debian kernels, then the debug kernel ----------------------------------
while read -r name vmlinuz kdir; do
    [[ -n $name ]] || continue
    if [[ $wanted != "  " && $wanted != *" $name "* ]]; then
        continue
    fi
    submission_adds "$name" "$kdir"
    test_kernel "$name" "$vmlinuz" "$kdir"
    VM_ADDS=()
done <<<"$kernel_lines"
if [[ $wanted != "  " ]]; then
    for name in $wanted; do
        grep -q "^$name " <<<"$kernel_lines" || fail setup "kernel-$name" "KERNELS names '$name', which kernels.sh does not provide"
    done
fi

if [[ $run_debug -eq 1 ]]; then
    [[ -n $debug_pid ]] || start_debug_build
    rc=0
    wait "$debug_pid" || rc=$?
    read -r name vmlinuz kdir < <(tail -n1 "$DEBUG_OUT") || true
    # (In the background it may have ended long before this wait.)
    diag debug "debug kernel ready $((SECONDS - debug_start))s after its build started, status $rc"
    if [[ $rc -ne 0 || -z ${kdir:-} || ! -f ${vmlinuz:-} ]]; then
        fail debug debug-kernel-build "tests/debug-kernel/build.sh status $rc, last line '$(tail -n1 "$DEBUG_OUT" 2>/dev/null)'"
        tail -n 40 "$DEBUG_LOG" | sed 's/^/# [debug] | /'
    elif [[ $serial != 1 && -z ${MSGSLOT_FUZZ_SEEDS:-} && ${MSGSLOT_DEBUG_SPLIT:-1} == 1 ]] &&
        suites_include 90-fuzz; then
        # The longest part of the run: the fuzzer's seeds are split between
        # two VMs of the debug kernel that run at once (each VM leaves much
        # of the host idle), the second running the fuzz suite alone.
        diag debug "the fuzz suite's seeds are split with a second VM, debug-fuzz"
        VM_ENV=(SUITES=fuzz MSGSLOT_FUZZ_PART=2/2)
        start_kernel_bg debug-fuzz "$vmlinuz" "$kdir" "$DEBUG_KERNEL_TIMEOUT"
        VM_ENV=(MSGSLOT_FUZZ_PART=1/2)
        test_kernel "$name" "$vmlinuz" "$kdir" "$DEBUG_KERNEL_TIMEOUT"
        VM_ENV=()
        finish_kernel_bg debug-fuzz "$DEBUG_KERNEL_TIMEOUT"
    else
        test_kernel "$name" "$vmlinuz" "$kdir" "$DEBUG_KERNEL_TIMEOUT"
    fi
fi

# --- 4. host suites ----------------------------------------------------------------
if [[ $run_host -eq 1 ]]; then
    if [[ -z $host_pid ]]; then
        diag host "running the host suites"
        start_host_suites
    fi
    wait "$host_pid" || true
    report_host_suites "$HOST_DIR"
    diag host "host suites took $((SECONDS - host_start))s (started at $((host_start - run_start))s)"
fi

echo "# total time $((SECONDS - run_start))s"
# The TAP plan: the stream is one TAP stream for `prove`; the streams it
# gathers (one per VM and host suite) had plans of their own, shown above
# as diagnostics.
echo "1..$((passed + failed))"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 && $passed -gt 0 ]]
