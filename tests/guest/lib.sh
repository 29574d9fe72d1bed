# shellcheck shell=sh
# Helpers for guest suites (busybox ash). Use:  . "$GUEST/lib.sh"
# Result lines come from tests/lib/tap.sh (tap_ok <test>, tap_not_ok <test>
# <reason>, tap_skip <test> <reason>): "ok <suite>/<test>" or
# "not ok <suite>/<test> - <reason>". SUITE defaults to the suite's file name
# without its NN- prefix (run.sh exports SUITE_NAME); a suite may set its own
# before sourcing this file. No plan here: run.sh prints the one plan of the
# guest's stream.
SUITE=${SUITE:-${SUITE_NAME:-guest}}
TAP_SUITE=$SUITE
# shellcheck source=tests/lib/tap.sh
. "$GUEST/../lib/tap.sh"

# check <test> <command...>: ok if the command exits 0; otherwise not ok
# with its exit status and the last line it printed.
check() {
    _name=$1; shift
    _out=$("$@" 2>&1); _rc=$?
    if [ "$_rc" -eq 0 ]; then
        tap_ok "$_name"
    else
        tap_not_ok "$_name" "rc=$_rc: $(printf '%s\n' "$_out" | tail -n1) [$*]"
    fi
}

# check_fails <test> <command...>: ok if the command exits non-zero.
check_fails() {
    _name=$1; shift
    _out=$("$@" 2>&1); _rc=$?
    if [ "$_rc" -ne 0 ]; then
        tap_ok "$_name"
    else
        tap_not_ok "$_name" "expected failure, got rc=0: $(printf '%s\n' "$_out" | tail -n1) [$*]"
    fi
}

# check_output <test> <expected stdout> <command...>: exit 0 and stdout
# exactly as expected (compared as the shell sees it: trailing newlines
# stripped; use od/cmp in the suite when bytes matter).
check_output() {
    _name=$1; _want=$2; shift 2
    _out=$("$@" 2>/dev/null); _rc=$?
    if [ "$_rc" -eq 0 ] && [ "$_out" = "$_want" ]; then
        tap_ok "$_name"
    else
        tap_not_ok "$_name" "rc=$_rc, stdout '$_out', wanted '$_want' [$*]"
    fi
}

# as_nobody <command...>: runs the command as uid/gid 65534 with the current
# environment (busybox su: root needs no password; its setpriv cannot
# change uids; "--" keeps su from taking the command's options as its own).
# Exit status is the command's.
as_nobody() { su -p -s /bin/sh -c 'exec "$@"' -- nobody as_nobody "$@"; }

module_loaded() { grep -q '^message_slot ' /proc/modules; }

# load_module [param=value...]: insmod with the given parameters.
load_module() { insmod "$MODULE" "$@"; }

# unload_module: rmmod if loaded; fails if it stays loaded.
unload_module() {
    module_loaded || return 0
    rmmod message_slot
}

# run_program <name|path> [args...]: runs $BIN/<name> (or the path) with live
# output; the program prints its own result lines.  Reports a crash, or a
# failure exit without a "not ok" line, as a result of the suite.  Keeps its
# output and status in $work (the suite's scratch directory).
work=${work:-/tmp/suite-$SUITE}
run_program() {
    _prog=$(basename "$1")
    _path=$1
    shift
    case $_path in /*) ;; *) _path=$BIN/$_path ;; esac
    mkdir -p "$work"
    _start=$(cut -d. -f1 /proc/uptime)
    { "$_path" "$@"; echo $? > "$work/$_prog.rc"; } | tee "$work/$_prog.out"
    _rc=$(cat "$work/$_prog.rc")
    echo "# $_prog: exit $_rc after $(( $(cut -d. -f1 /proc/uptime) - _start ))s"
    if [ "$_rc" -ge 128 ]; then
        tap_not_ok "$_prog-exit" "$_prog was killed by signal $((_rc - 128))"
    elif [ "$_rc" -ne 0 ] && ! grep -q '^not ok ' "$work/$_prog.out"; then
        tap_not_ok "$_prog-exit" "$_prog exited $_rc without a failing test line"
    fi
    # The program's own result lines.
    tap_tally "$work/$_prog.out"
}

# load_module_first [param=value...]: a suite's first insmod, reported as
# module_load (a module left loaded by an earlier suite is unloaded first);
# the suite ends when insmod fails.
load_module_first() {
    if module_loaded; then
        tap_not_ok module_load "message_slot was already loaded before this suite"
        rmmod message_slot
    fi
    mkdir -p "$work"
    if ! load_module "$@" 2> "$work/insmod.err"; then
        tap_not_ok module_load "insmod $MODULE failed: $(cat "$work/insmod.err")"
        tap_exit
    fi
    tap_ok module_load
}

