# shellcheck shell=bash
# Sourced first thing by a host suite (bash) whose result lines come from
# several places: its stdout is kept in a file and printed when the suite
# exits, followed by the TAP plan "1..N" (N: the result lines), so that
# `prove --exec bash tests/host/<suite>.sh` accepts it. make check reads a
# host suite's output when it ends anyway. A suite that sets its own EXIT
# trap calls tap_finish from it.
tap_out=$(mktemp /tmp/tap-out.XXXXXX)
exec {tap_fd}>&1 > "$tap_out"
tap_finish() {
    exec >&"$tap_fd"
    cat "$tap_out"
    echo "1..$(grep -cE '^(ok|not ok) ' "$tap_out")"
    rm -f "$tap_out"
}
trap tap_finish EXIT
