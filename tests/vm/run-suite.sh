#!/usr/bin/env bash
# `make check`: the whole test suite.
#  1. setup (kernels.sh: tools, newest Debian 6.1/6.12 cloud kernels + headers)
#  2. per kernel, one VM boot running tests/guest/run.sh (all guest suites)
#     - Debian kernels from kernels.sh, then the debug kernel that
#       tests/debug-kernel/build.sh builds (when that script exists)
#     - every result line is printed with the kernel name: "ok [6.1] msgslot/x"
#     - the console log is scanned for kernel reports: "[k] kernel-log"
#     - a VM that times out or dies is a failed test
#  3. host suites: every executable tests/host/*.sh, in order
#  4. one final line "N passed, N failed"; non-zero exit on any failure or
#     when no test ran.
# Knobs: KERNELS="6.1 6.12" (subset of the Debian kernels), SUITES="10-msgslot"
# (guest suites whose file name contains a word), MSGSLOT_SKIP_DEBUG=1,
# MSGSLOT_SKIP_HOST=1, MSGSLOT_KERNEL_TIMEOUT (s per boot, default 1200),
# MSGSLOT_DEBUG_KERNEL_TIMEOUT (s for the debug kernel's boot, default 2700:
# KASAN + lockdep under TCG run the suite and the 10^6-op fuzz ~10x slower),
# MSGSLOT_HOST_TIMEOUT (s per host suite, default 1200),
# MSGSLOT_DEBUG_BUILD_TIMEOUT (s, default 3600).
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$TOP"
VM_DIR=$TOP/tests/vm
LOG_DIR=$TOP/build/logs
mkdir -p "$LOG_DIR"

KERNEL_TIMEOUT=${MSGSLOT_KERNEL_TIMEOUT:-1200}
HOST_TIMEOUT=${MSGSLOT_HOST_TIMEOUT:-1200}
DEBUG_BUILD_TIMEOUT=${MSGSLOT_DEBUG_BUILD_TIMEOUT:-3600}
DEBUG_KERNEL_TIMEOUT=${MSGSLOT_DEBUG_KERNEL_TIMEOUT:-2700}

passed=0
failed=0
run_start=$SECONDS

# Commands run in the background ignore SIGINT, so an interrupted run stops
# the current one (and its VM) explicitly instead of leaving it to time out.
current_pid=
on_signal() {
    [[ -n $current_pid ]] && kill -TERM -- "-$current_pid" 2>/dev/null
    echo "# interrupted"
    exit 130
}
trap on_signal INT TERM

pass() { echo "ok [$1] $2"; passed=$((passed + 1)); }
fail() { echo "not ok [$1] $2 - $3"; failed=$((failed + 1)); }
# Indented diagnostics: never mistaken for a result line.
diag() { local label=$1; shift; printf '# [%s] %s\n' "$label" "$*"; }
show_file() { local label=$1; sed "s/^/# [$label] | /" "$2"; }

# Runs a command with its output streamed line by line: result lines are
# counted and re-labelled, anything else becomes a diagnostic. The command's
# output goes through a file (not a pipe) so a process it leaves behind
# cannot stall the harness; those processes are killed with its group.
# Sets STREAM_RC, STREAM_RESULTS, STREAM_FAILS.
run_streamed() {
    local label=$1; shift
    local out line
    out=$(mktemp)
    "$@" > "$out" 2>&1 < /dev/null &
    local pid=$!
    current_pid=$pid
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
    done < <(tail -n +1 -s 0.5 -f --pid="$pid" "$out")
    STREAM_RC=0
    wait "$pid" || STREAM_RC=$?
    kill -KILL -- "-$pid" 2>/dev/null || true
    current_pid=
    rm -f "$out"
}

# One VM boot with every guest suite, then the kernel log check.
test_kernel() {
    local name=$1 vmlinuz=$2 kdir=$3 KERNEL_TIMEOUT=${4:-$KERNEL_TIMEOUT}
    local log=$LOG_DIR/$name.log start=$SECONDS before=$failed
    # timeout(1) makes its own process group, which run_streamed kills.
    run_streamed "$name" timeout -k 30 $((KERNEL_TIMEOUT + 60)) \
        "$VM_DIR/boot.sh" --kernel "$vmlinuz" --kdir "$kdir" --name "$name" \
        --entry tests/guest/run.sh --timeout "$KERNEL_TIMEOUT" --log "$log"
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

# --- 1. setup ----------------------------------------------------------------
kernel_lines=
if ! kernel_lines=$("$VM_DIR/kernels.sh" 2> "$LOG_DIR/setup.log"); then
    show_file setup "$LOG_DIR/setup.log"
    fail setup kernels "kernels.sh failed"
fi

# --- 2. Debian kernels, then the debug kernel ----------------------------------
wanted=" $(echo "${KERNELS:-}" | tr ',' ' ') "
while read -r name vmlinuz kdir; do
    [[ -n $name ]] || continue
    if [[ $wanted != "  " && $wanted != *" $name "* ]]; then
        continue
    fi
    test_kernel "$name" "$vmlinuz" "$kdir"
done <<<"$kernel_lines"
if [[ $wanted != "  " ]]; then
    for name in $wanted; do
        grep -q "^$name " <<<"$kernel_lines" || fail setup "kernel-$name" "KERNELS names '$name', which kernels.sh does not provide"
    done
fi

if [[ -f $TOP/tests/debug-kernel/build.sh && ${MSGSLOT_SKIP_DEBUG:-0} != 1 ]]; then
    diag debug "building the debug kernel (log $LOG_DIR/debug-kernel-build.log)"
    start=$SECONDS
    rc=0
    timeout -k 30 "$DEBUG_BUILD_TIMEOUT" bash "$TOP/tests/debug-kernel/build.sh" \
        > "$LOG_DIR/debug-kernel-build.out" 2> "$LOG_DIR/debug-kernel-build.log" < /dev/null || rc=$?
    read -r name vmlinuz kdir < <(tail -n1 "$LOG_DIR/debug-kernel-build.out") || true
    diag debug "debug kernel build finished in $((SECONDS - start))s, status $rc"
    if [[ $rc -ne 0 || -z ${kdir:-} || ! -f ${vmlinuz:-} ]]; then
        fail debug debug-kernel-build "tests/debug-kernel/build.sh status $rc, last line '$(tail -n1 "$LOG_DIR/debug-kernel-build.out" 2>/dev/null)'"
        tail -n 40 "$LOG_DIR/debug-kernel-build.log" | sed 's/^/# [debug] | /'
    else
        test_kernel "$name" "$vmlinuz" "$kdir" "$DEBUG_KERNEL_TIMEOUT"
    fi
fi

# --- 3. host suites ----------------------------------------------------------------
if [[ ${MSGSLOT_SKIP_HOST:-0} != 1 ]]; then
    for suite in "$TOP"/tests/host/*.sh; do
        [[ -f $suite && -x $suite ]] || continue
        file=$(basename "$suite" .sh)
        sname=${file#[0-9][0-9]-}
        start=$SECONDS
        diag host "suite $file"
        run_streamed host timeout -k 30 "$HOST_TIMEOUT" "$suite"
        if [[ $STREAM_RC -eq 124 || $STREAM_RC -eq 137 ]]; then
            fail host "$sname/timeout" "killed after ${HOST_TIMEOUT}s"
        elif [[ $STREAM_RC -ne 0 && $STREAM_FAILS -eq 0 ]]; then
            fail host "$sname/exit-status" "rc=$STREAM_RC"
        fi
        [[ $STREAM_RESULTS -gt 0 ]] || fail host "$sname/no-results" "the suite printed no result line"
        diag host "suite $file done in $((SECONDS - start))s"
    done
fi

echo "# total time $((SECONDS - run_start))s"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 && $passed -gt 0 ]]
