#!/bin/sh
# Guest entry of grade/msgslot-grade (busybox ash, run by tests/guest/init).
# /payload/$MSGSLOT_GRADE_STAGE holds:
#   plan                 "<sub> <test>" lines, in the order to run them
#   tests.list           the test registry (grade/tests.list)
#   subs/<sub>/          message_slot.ko, message_sender, message_reader,
#                        grade_tests (built against the sub's header), major
# Submissions are graded one after another: insmod, tests, rmmod, next.
# Output protocol (the host parses only these lines):
#   GRADE-BEGIN <sub> <test>
#   GRADE-OUT <sub> <test> <line>         the test's own output
#   GRADE-KLOG <sub> <test> <line>        a kernel report logged during it
#   GRADE-RESULT <sub> <test> <pass|fail|timeout> <seconds> [reason]
#   GRADE-SUB-END <sub> <clean|dirty|stuck>  the host reboots before the next
#                                         (stuck: a test's task could not be killed;
#                                         the host goes on with the sub's next test)
#   GRADE-ALL-DONE
# Before each test "msgslot-grade: begin <sub> <test>" goes to the kernel log,
# so the host can attribute a crash's splat to the test that caused it.
STAGE=/payload/$MSGSLOT_GRADE_STAGE
SEED=${MSGSLOT_GRADE_SEED:-20}
REPORTS='Oops|BUG:|kernel BUG|WARNING:|KASAN|UBSAN|KFENCE|possible circular locking|DEBUG_LOCKS_WARN_ON|general protection fault|Call Trace|Kernel panic|blocked for more than [0-9]+ seconds|soft lockup|hard LOCKUP|detected stall|kmemleak'
BAD_TAINT=$((32 | 128 | 512 | 16384))
work=/tmp/grade
mkdir -p "$work"

deadline_of() { awk -v t="$1" '$1 == t { print $2; exit }' "$STAGE/tests.list"; }
where_of() { awk -v t="$1" '$1 == t { print $3; exit }' "$STAGE/tests.list"; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }
bad_taint() { echo $(( $(cat /proc/sys/kernel/tainted) & BAD_TAINT )); }

char_majors() {
    awk '/^Character devices:/ { c = 1; next } /^$/ { c = 0 } c { print $1 }' /proc/devices | sort
}

# load <sub>: insmod; sets MOD (module name) and MAJOR. Output in $work/insmod.out.
load() {
    ko=$STAGE/subs/$1/message_slot.ko
    MOD=$(modinfo -F name "$ko" 2>/dev/null)
    [ -n "$MOD" ] || MOD=$(basename "$ko" .ko | tr - _)
    char_majors > "$work/majors.before"
    if ! insmod "$ko" > "$work/insmod.out" 2>&1; then
        return 1
    fi
    char_majors > "$work/majors.after"
    MAJOR=$(comm -13 "$work/majors.before" "$work/majors.after" | head -n1)
    if [ -z "$MAJOR" ]; then
        MAJOR=$(cat "$STAGE/subs/$1/major" 2>/dev/null)
        echo "no new character major in /proc/devices after insmod; using the header's ${MAJOR:-235}" >> "$work/insmod.out"
        MAJOR=${MAJOR:-235}
    fi
    return 0
}
loaded() { [ -n "$MOD" ] && grep -q "^$MOD " /proc/modules; }

# test_tasks: pids of the programs a test runs (busybox here has no pgrep).
test_tasks() {
    for d in /proc/[0-9]*; do
        read -r comm < "$d/comm" 2>/dev/null || continue
        case $comm in
            grade_tests|message_sender|message_reader|rmmod|insmod) echo "${d#/proc/}" ;;
        esac
    done
}

# Shell tests: set REASON, return 0 on pass.
sh_module_loads() {
    if ! load "$SUB"; then
        REASON="insmod failed: $(tail -n 3 "$work/insmod.out" | tr '\n' ' ')"
        return 1
    fi
    cat "$work/insmod.out"
    echo "module $MOD registered major $MAJOR"
    return 0
}

sh_major_235() {
    [ "$MAJOR" = 235 ] && return 0
    REASON="the module registered major $MAJOR, the assignment fixes 235"
    return 1
}

sh_rmmod_reload() {
    run_c fill || { REASON="writing the messages before rmmod: $REASON"; return 1; }
    if ! rmmod "$MOD" > "$work/rmmod.out" 2>&1; then
        REASON="rmmod $MOD with messages stored failed: $(tr '\n' ' ' < "$work/rmmod.out")"
        return 1
    fi
    if loaded; then REASON="rmmod returned 0 but $MOD is still loaded"; return 1; fi
    echo "rmmod with messages in 4 slots: ok"
    if ! load "$SUB"; then
        REASON="insmod after rmmod failed: $(tail -n 3 "$work/insmod.out" | tr '\n' ' ')"
        return 1
    fi
    run_c check-gone || { REASON="after rmmod and insmod: $REASON"; return 1; }
    if ! rmmod "$MOD" > "$work/rmmod.out" 2>&1; then
        REASON="the second rmmod failed: $(tr '\n' ' ' < "$work/rmmod.out")"
        return 1
    fi
    return 0
}

# Debug kernel only (the host plans it there): leaks kmemleak pins on the module.
sh_kmemleak_open_close() {
    km=/sys/kernel/debug/kmemleak
    [ -w "$km" ] || { REASON="this kernel has no $km"; return 1; }
    echo clear > "$km"
    run_c open-close || return 1
    # An object is reported only once it is a few seconds old.
    sleep 6; echo scan > "$km"; sleep 1; echo scan > "$km"
    awk -v mod="[$MOD]" '/^unreferenced object/ { blk = $0; next } { blk = blk "\n" $0 }
        index($0, mod) && blk != "" { print blk; n++; blk = "" } END { exit n == 0 }' "$km" > "$work/leaks" || return 0
    sed 's/^/kmemleak: /' "$work/leaks" | head -n 30
    REASON="kmemleak: $(grep -c '^unreferenced object' "$work/leaks") unreferenced objects allocated by $MOD (first: $(grep -m1 "\[$MOD\]" "$work/leaks" | sed 's/^ *//'))"
    return 1
}

# Debug kernel only: what exit leaves behind. After rmmod the module's
# symbols are gone, so its frames are the raw addresses of its former core.
sh_kmemleak_after_rmmod() {
    km=/sys/kernel/debug/kmemleak
    [ -w "$km" ] || { REASON="this kernel has no $km"; return 1; }
    run_c fill || { REASON="writing the messages before rmmod: $REASON"; return 1; }
    text=$(cat "/sys/module/$MOD/sections/.text")
    size=$(cat "/sys/module/$MOD/coresize")
    echo clear > "$km"
    if ! rmmod "$MOD" > "$work/rmmod.out" 2>&1; then
        REASON="rmmod $MOD with messages stored failed: $(tr '\n' ' ' < "$work/rmmod.out")"
        return 1
    fi
    sleep 6; echo scan > "$km"; sleep 1; echo scan > "$km"
    leaked=0
    awk -v mod="$MOD" -v text="$text" -v size="$size" -f "$GUEST/kmemleak-leaks.awk" "$km" \
        > "$work/leaks" && leaked=1
    if ! load "$SUB"; then
        REASON="insmod after rmmod failed: $(tail -n 3 "$work/insmod.out" | tr '\n' ' ')"
        return 1
    fi
    [ "$leaked" = 1 ] || return 0
    sed 's/^/kmemleak: /' "$work/leaks" | head -n 30
    REASON="kmemleak: $(grep -c '^unreferenced object' "$work/leaks") unreferenced objects the module allocated were left after rmmod"
    return 1
}

# run_c <test>: grade_tests <test>; REASON from its FAIL line.
run_c() {
    GRADE_MAJOR=$MAJOR GRADE_SEED=$SEED GRADE_CHANNELS=${MSGSLOT_GRADE_CHANNELS:-1048576} GRADE_SENDER=$STAGE/subs/$SUB/message_sender \
        GRADE_READER=$STAGE/subs/$SUB/message_reader \
        "$STAGE/subs/$SUB/grade_tests" "$1" > "$work/c.out" 2>&1
    _rc=$?
    cat "$work/c.out"
    REASON=$(sed -n 's/^FAIL //p' "$work/c.out" | tail -n1)
    [ "$_rc" -eq 0 ] && grep -qx PASS "$work/c.out" && return 0
    [ -n "$REASON" ] || REASON="grade_tests $1 exited $_rc: $(grep -v '^#' "$work/c.out" | tail -n1)"
    return 1
}

# run_test <sub> <test>: one test with its deadline, result and kernel log.
run_test() {
    SUB=$1 TEST=$2
    deadline=$(deadline_of "$TEST")
    where=$(where_of "$TEST")
    echo "GRADE-BEGIN $SUB $TEST"
    echo "msgslot-grade: begin $SUB $TEST" > /dev/kmsg
    taint_before=$(bad_taint)
    start=$(uptime_s)
    status=pass REASON=
    if [ "$TEST" != module_loads ] && ! loaded; then
        status=fail REASON="the module is not loaded (module_loads failed)"
    else
        # The test runs in the background so a deadline can stop it;
        # results come back through files.
        (
            REASON=
            if [ "$where" = sh ]; then
                "sh_$TEST"; rc=$?
            else
                run_c "$TEST"; rc=$?
            fi
            printf '%s\n' "$REASON" > "$work/reason"
            echo "MAJOR=$MAJOR MOD=$MOD" > "$work/state"
            exit $rc
        ) > "$work/test.out" 2>&1 &
        pid=$!
        waited=0
        while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt "$((deadline * 10))" ]; do
            sleep 0.1; waited=$((waited + 1))
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" $(test_tasks) 2>/dev/null
            status=timeout REASON="still running after its deadline of ${deadline}s: killed"
            sleep 2
            # A task that SIGKILL does not end is stuck in the kernel (its
            # locks are held): this boot is done, the host boots again.
            if [ -n "$(test_tasks)" ]; then
                REASON="still running after its deadline of ${deadline}s, and SIGKILL did not end it (stuck in the kernel): VM rebooted"
                STUCK=1
            fi
        else
            wait "$pid"; rc=$?
            REASON=$(cat "$work/reason" 2>/dev/null)
            [ -f "$work/state" ] && eval "$(cat "$work/state")"
            [ "$rc" -eq 0 ] || status=fail
        fi
        rm -f "$work/reason" "$work/state"
    fi
    sed "s/^/GRADE-OUT $SUB $TEST /" "$work/test.out" 2>/dev/null
    : > "$work/test.out"
    # The kernel's reports since this test began are this test's.
    dmesg | awk -v m="msgslot-grade: begin $SUB $TEST" 'index($0, m) { n = NR } { l[NR] = $0 } END { for (i = n + 1; i <= NR; i++) print l[i] }' > "$work/klog"
    if grep -Eq "$REPORTS" "$work/klog"; then
        grep -E -A 12 "$REPORTS" "$work/klog" | head -n 40 | sed "s/^/GRADE-KLOG $SUB $TEST /"
        # Not every report taints (lockdep reports once, then turns itself
        # off): the next submission gets a fresh boot all the same.
        SUB_REPORTED=1
        first=$(grep -E -m1 "$REPORTS" "$work/klog" | sed 's/^\[[ 0-9.]*\] //')
        [ "$status" = pass ] && status=fail REASON="the kernel reported: $first"
    elif [ "$(bad_taint)" != "$taint_before" ]; then
        [ "$status" = pass ] && status=fail REASON="the kernel became tainted ($(cat /proc/sys/kernel/tainted)) during the test"
    fi
    end=$(uptime_s)
    echo "GRADE-RESULT $SUB $TEST $status $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }') $REASON"
    if [ "$STUCK" = 1 ]; then
        for p in $(test_tasks); do
            echo "GRADE-OUT $SUB $TEST stuck: pid $p $(tr '\0' ' ' < "/proc/$p/cmdline") state $(awk '/^State:/ { print $2 }' "/proc/$p/status")"
            sed "s/^/GRADE-OUT $SUB $TEST   /" "/proc/$p/stack" 2>/dev/null | head -n 12
        done
        echo "GRADE-SUB-END $SUB stuck"
        exit 0
    fi
}

MOD= MAJOR= current= STUCK=0 SUB_REPORTED=0
while read -r sub test; do
    [ -n "$sub" ] || continue
    if [ "$sub" != "$current" ]; then
        if [ -n "$current" ]; then
            loaded && rmmod "$MOD" 2>/dev/null
            if [ "$(bad_taint)" -ne 0 ] || [ "$SUB_REPORTED" = 1 ]; then
                echo "GRADE-SUB-END $current dirty"
                exit 0
            fi
            echo "GRADE-SUB-END $current clean"
        fi
        current=$sub MOD= MAJOR= SUB_REPORTED=0
        # After a reboot in the middle of a submission its module is loaded
        # again before the next test (not a test of its own; a crash here
        # ends the submission's remaining tests, not the others').
        if [ "$test" != module_loads ]; then
            echo "GRADE-BEGIN $sub reload"
            echo "msgslot-grade: begin $sub reload" > /dev/kmsg
            load "$sub" && echo "# reloaded $MOD (major $MAJOR) to continue $sub"
            echo "GRADE-RELOADED $sub"
        fi
    fi
    run_test "$sub" "$test"
done < "$STAGE/plan"
if [ -n "$current" ]; then
    loaded && rmmod "$MOD" 2>/dev/null
    if [ "$(bad_taint)" -ne 0 ]; then
        echo "GRADE-SUB-END $current dirty"
    else
        echo "GRADE-SUB-END $current clean"
    fi
fi
echo "GRADE-ALL-DONE"
