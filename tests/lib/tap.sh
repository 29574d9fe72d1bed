# shellcheck shell=sh
# TAP result lines for every shell test suite: the host suites (bash,
# tests/host/*.sh), npheap_shim/test-install.sh, tests/grade/selftest.sh and,
# through tests/guest/lib.sh, the guest suites (busybox ash inside the VM;
# tests/vm/boot.sh packs tests/lib/ beside tests/guest/). POSIX sh only.
# After the kernel's kselftest (tools/testing/selftests/kselftest.h and
# kselftest/ktap_helpers.sh): one call a result, counters, the plan.
#
#   TAP_SUITE=cli                  names become "cli/<test>" (empty: "<test>")
#   . "$top/tests/lib/tap.sh"
#   tap_plan <N>                   the plan "1..N" first, for a suite that knows
#                                  its count; else tap_finish prints it last
#   tap_ok <test>                  ok cli/<test>
#   tap_not_ok <test> <reason>     not ok cli/<test> - <reason>
#   tap_skip <test> <reason>       ok cli/<test> # SKIP <reason>
#   tap_tally <file>...            counts the result lines of files that were
#                                  printed some other way (a program's own)
#   tap_diag <text>...             "# <text>"
#   tap_details [<file>...]        the files (else stdin), each line as "# <line>"
#   tap_finish                     the totals and, unless tap_plan gave it, the
#                                  plan "1..N"; runs once (call it from an EXIT
#                                  trap; never where several suites share one
#                                  stream, as the guest suites do)
#   tap_exit                       exit 0 if nothing failed, else 1
#
# Counters: TAP_COUNT (result lines), TAP_PASS, TAP_FAIL, TAP_SKIP. A suite
# may add to TAP_FAIL for a failure it reports no line of its own for (a
# program that printed its own lines and exited non-zero).
# Every function returns 0, so `set -e` suites can call them anywhere.

: "${TAP_SUITE=}" "${TAP_COUNT:=0}" "${TAP_PASS:=0}" "${TAP_FAIL:=0}" "${TAP_SKIP:=0}"
: "${TAP_PLANNED=}" "${TAP_FINISHED=}"

tap_plan() {
    TAP_PLANNED=$1
    printf '1..%s\n' "$1"
}

tap_ok() {
    printf 'ok %s%s\n' "${TAP_SUITE:+$TAP_SUITE/}" "$1"
    TAP_COUNT=$((TAP_COUNT + 1)) TAP_PASS=$((TAP_PASS + 1))
}

tap_not_ok() {
    printf 'not ok %s%s - %s\n' "${TAP_SUITE:+$TAP_SUITE/}" "$1" "$2"
    TAP_COUNT=$((TAP_COUNT + 1)) TAP_FAIL=$((TAP_FAIL + 1))
}

tap_skip() {
    printf 'ok %s%s # SKIP %s\n' "${TAP_SUITE:+$TAP_SUITE/}" "$1" "$2"
    TAP_COUNT=$((TAP_COUNT + 1)) TAP_SKIP=$((TAP_SKIP + 1))
}

tap_tally() {
    # "<pass> <fail> <skip>"; a "# SKIP" directive is case-insensitive in TAP.
    _tap_n=$(awk '/^ok / { if (toupper($0) ~ /# *SKIP/) s++; else p++ }
        /^not ok / { f++ }
        END { print p + 0, f + 0, s + 0 }' "$@") || :  # a missing file counts nothing
    _tap_p=${_tap_n%% *} _tap_n=${_tap_n#* }
    _tap_f=${_tap_n%% *} _tap_s=${_tap_n#* }
    TAP_PASS=$((TAP_PASS + _tap_p)) TAP_FAIL=$((TAP_FAIL + _tap_f)) TAP_SKIP=$((TAP_SKIP + _tap_s))
    TAP_COUNT=$((TAP_COUNT + _tap_p + _tap_f + _tap_s))
}

tap_diag() {
    printf '# %s\n' "$*"
}

# shellcheck disable=SC2120  # no file: stdin
tap_details() {
    sed 's/^/# /' "$@"
    return 0
}

tap_finish() {
    if [ -n "$TAP_FINISHED" ]; then
        return 0
    fi
    TAP_FINISHED=1
    tap_diag "Totals: pass:$TAP_PASS fail:$TAP_FAIL skip:$TAP_SKIP"
    if [ -z "$TAP_PLANNED" ]; then
        printf '1..%s\n' "$TAP_COUNT"
    elif [ "$TAP_PLANNED" -ne "$TAP_COUNT" ]; then
        tap_diag "Planned tests != run tests ($TAP_PLANNED != $TAP_COUNT)"
    fi
    return 0
}

tap_exit() {
    if [ "$TAP_FAIL" -eq 0 ]; then
        exit 0
    fi
    exit 1
}
