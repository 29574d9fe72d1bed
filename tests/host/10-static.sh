#!/usr/bin/env bash
# Host suite "static": static analysis and sanitizer runs.
#   sparse-<kernel>          module built with C=2 against each Debian kernel's
#                            headers: any sparse or compiler warning fails
#   checkpatch/<file>        checkpatch.pl --no-tree --strict -f on the module
#                            and its headers; tolerated findings are listed,
#                            each justified, in tests/static/checkpatch.conf
#   werror/<file>            every tracked user-space .c: gcc -Wall -Wextra -Werror
#                            (the CLIs also with the graders' -std=c11 -O3)
#   cppcheck/<file>          cppcheck warning/portability/performance checks;
#                            justified exceptions in tests/static/cppcheck.supp
#   asan-host/...            CLIs (argument handling, nonexistent and wrong
#                            devices) and the npheap_shim logic under ASan+UBSan
#   asan-guest/...           the whole guest suite in a VM (Debian 6.1 kernel)
#                            with every guest program and CLI built with
#                            ASan+UBSan (MSGSLOT_SKIP_ASAN_GUEST=1 skips it)
# Output: "ok static/<test>" / "not ok static/<test> - <reason>", details as "# ".
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$TOP"
TAP_SUITE=static
# shellcheck source=tests/lib/tap.sh
. "$TOP/tests/lib/tap.sh"
trap tap_finish EXIT
WORK=$TOP/build/static
CACHE=${MSGSLOT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/message_slot}
# check_quiet <test> <logfile> <command...>: ok if the command succeeds and
# prints nothing; otherwise not ok with its output as details.
check_quiet() {
    local name=$1 logf=$2 rc=0; shift 2
    "$@" > "$logf" 2>&1 || rc=$?
    if [[ $rc -eq 0 && ! -s $logf ]]; then
        tap_ok "$name"
    else
        tap_details < "$logf"
        tap_not_ok "$name" "$(grep -m1 . "$logf" || echo "exit status $rc")"
    fi
}

have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
ensure_packages() {
    local missing=() p
    for p in "$@"; do have_pkg "$p" || missing+=("$p"); done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    echo "# installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y \
        --no-install-recommends "${missing[@]}" > "$WORK/apt.log" 2>&1 ||
        { tap_details < "$WORK/apt.log"; tap_not_ok setup "apt-get install ${missing[*]} failed"; exit 1; }
}

rm -rf "$WORK"
mkdir -p "$WORK"
ensure_packages sparse cppcheck perl xz-utils gcc make libc6-dev linux-source-6.1

# User-space sources: every tracked C file except the module and the course
# submissions the grader's self-test grades (kernel code, defective on
# purpose) (a fresh clone has exactly these; files still being written by
# someone are not judged).
mapfile -t user_c < <(git ls-files '*.c' 2>/dev/null | grep -v -e '^message_slot\.c$' -e '^tests/grade/.*/message_slot\.c$' || true)
if [[ ${#user_c[@]} -eq 0 ]]; then
    mapfile -t user_c < <(find . -name '*.c' ! -path './build/*' ! -name message_slot.c -printf '%P\n' | sort)
fi
INCLUDES=(-I"$TOP" -I"$TOP/npheap_shim" -I"$TOP/tests/guest" -I"$TOP/dsm")

# --- sparse ----------------------------------------------------------------------
if kernels=$(tests/vm/kernels.sh 2> "$WORK/kernels.log"); then
    while read -r kname _ kdir; do
        [[ -n $kname ]] || continue
        src=$WORK/sparse-$kname
        mkdir -p "$src"
        cp message_slot.c message_slot.h Makefile "$src/"
        # C=2: check every file. The build's own "CC"/"CHECK" lines are
        # progress; any other line about a source file is a finding.
        make -C "$kdir" M="$src" C=2 modules > "$src/build.log" 2>&1 || true
        findings=$(grep -E ':[0-9]+(:[0-9]+)?: (warning|error|note):|^WARNING:|^ERROR:' "$src/build.log" || true)
        if [[ ! -f $src/message_slot.ko ]]; then
            tap_details < "$src/build.log"
            tap_not_ok "sparse-$kname" "module did not build against $kdir"
        elif [[ -n $findings ]]; then
            tap_details <<<"$findings"
            tap_not_ok "sparse-$kname" "$(wc -l <<<"$findings") finding(s): $(head -n1 <<<"$findings")"
        elif ! grep -q 'CHECK .*message_slot\.c' "$src/build.log"; then
            tap_not_ok "sparse-$kname" "sparse did not run (no CHECK line in the build log)"
        else
            tap_ok "sparse-$kname"
        fi
    done <<<"$kernels"
else
    tap_details < "$WORK/kernels.log"
    tap_not_ok sparse "tests/vm/kernels.sh failed: no kernel headers to check against"
fi

# --- checkpatch ----------------------------------------------------------------
src_version=$(dpkg-query -W -f='${Version}' linux-source-6.1)
cpdir=$CACHE/checkpatch-$src_version
if [[ ! -f $cpdir/checkpatch.pl ]]; then
    rm -rf "$cpdir.tmp"
    mkdir -p "$cpdir.tmp"
    tar -C "$cpdir.tmp" --strip-components=2 -xaf /usr/src/linux-source-6.1.tar.xz \
        linux-source-6.1/scripts/checkpatch.pl linux-source-6.1/scripts/spelling.txt \
        linux-source-6.1/scripts/const_structs.checkpatch
    rm -rf "$cpdir"
    mv "$cpdir.tmp" "$cpdir"
fi
conf=tests/static/checkpatch.conf
if bad=$(awk '!/^[[:space:]]*(#|$)/ && !/#[[:space:]]*[^[:space:]]/' "$conf") && [[ -n $bad ]]; then
    tap_not_ok checkpatch-conf "entries without a justification in $conf: $bad"
fi
for file in message_slot.c message_slot.h npheap_shim/npheap/npheap.h; do
    [[ -f $file ]] || { tap_not_ok "checkpatch/$file" "missing"; continue; }
    out=$WORK/checkpatch-${file//\//_}.txt
    perl "$cpdir/checkpatch.pl" --no-tree --strict --terse --show-types --no-summary \
        -f "$file" > "$out" 2>&1 || true
    # file:line: LEVEL:TYPE: message  ->  tolerated if conf lists TYPE with a
    # regex that the source line matches.
    verdict=$(awk -v conf="$conf" -v src="$file" '
        BEGIN {
            while ((getline l < conf) > 0) {
                if (l ~ /^[[:space:]]*(#|$)/) continue
                split(l, f, /[[:space:]]+/); n++; type[n] = f[1]; re[n] = f[2]
            }
            while ((getline l < src) > 0) line[++lines] = l
        }
        match($0, /^[^:]+:[0-9]+: (ERROR|WARNING|CHECK):[A-Z_]+:/) {
            split($0, p, ":"); ln = p[2] + 0
            t = $0; sub(/^[^:]+:[0-9]+: (ERROR|WARNING|CHECK):/, "", t); sub(/:.*/, "", t)
            tolerated = 0
            for (i = 1; i <= n; i++)
                if (type[i] == t && line[ln] ~ re[i]) tolerated = 1
            print (tolerated ? "tolerated " : "finding ") $0
            next
        }
        /[^[:space:]]/ { print "finding " $0 }' "$out")
    findings=$(grep '^finding ' <<<"$verdict" | sed 's/^finding //' || true)
    tolerated=$(grep -c '^tolerated ' <<<"$verdict" || true)
    if [[ -n $findings ]]; then
        tap_details <<<"$findings"
        tap_not_ok "checkpatch/$file" "$(wc -l <<<"$findings") finding(s): $(head -n1 <<<"$findings")"
    else
        [[ $tolerated -eq 0 ]] || echo "# checkpatch/$file: $tolerated finding(s) tolerated by $conf"
        tap_ok "checkpatch/$file"
    fi
done

# --- gcc -Werror and cppcheck on user-space C ----------------------------------
supp=tests/static/cppcheck.supp
if bad=$(awk '!/^[[:space:]]*(#|$)/ && !/#[[:space:]]*[^[:space:]]/' "$supp") && [[ -n $bad ]]; then
    tap_not_ok cppcheck-supp "entries without a justification in $supp: $bad"
fi
sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$supp" > "$WORK/cppcheck.supp"
for file in "${user_c[@]}"; do
    dir=$(dirname "$file")
    check_quiet "werror/$file" "$WORK/werror.log" \
        gcc -std=gnu11 -O2 -Wall -Wextra -Werror -pthread "${INCLUDES[@]}" -I"$TOP/$dir" \
        -c -o /dev/null "$file"
    case $file in
        message_sender.c|message_reader.c|tests/guest/grader_*.c)
            # The graders' command, alone, and stricter; newer GCC's default
            # -Werror=implicit-function-declaration (message_slot.h declares ioctl).
            check_quiet "werror-c11/$file" "$WORK/werror.log" \
                gcc -std=c11 -O3 -Wall -Wextra -Werror -Werror=implicit-function-declaration \
                -I"$TOP" -c -o /dev/null "$file" ;;
    esac
    check_quiet "cppcheck/$file" "$WORK/cppcheck.log" \
        cppcheck -q --error-exitcode=1 --enable=warning,portability,performance \
        --std=c11 --inline-suppr --suppress=missingIncludeSystem \
        --suppressions-list="$WORK/cppcheck.supp" "${INCLUDES[@]}" -I"$TOP/$dir" "$file"
done

# --- ASan+UBSan on the host ----------------------------------------------------------
SAN=(-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all)
export ASAN_OPTIONS=exitcode=99:detect_leaks=1
export UBSAN_OPTIONS=exitcode=99:print_stacktrace=1:halt_on_error=1
san_bin=$WORK/asan-host
mkdir -p "$san_bin"

# cli_case <test> <expected exit> <stderr must contain> <command...>
cli_case() {
    local name=$1 want_rc=$2 want_err=$3; shift 3
    local rc=0
    "$@" > "$san_bin/out" 2> "$san_bin/err" || rc=$?
    if grep -qE 'Sanitizer|runtime error:' "$san_bin/err"; then
        tap_details < "$san_bin/err"
        tap_not_ok "asan-host/$name" "sanitizer report"
    elif [[ $rc -ne $want_rc ]]; then
        tap_details < "$san_bin/err"
        tap_not_ok "asan-host/$name" "exit $rc, want $want_rc"
    elif [[ -n $want_err ]] && ! grep -q "$want_err" "$san_bin/err"; then
        tap_not_ok "asan-host/$name" "stderr lacks '$want_err': $(head -c 200 "$san_bin/err")"
    elif [[ $want_rc -ne 0 && -s $san_bin/out ]]; then
        tap_not_ok "asan-host/$name" "printed to stdout on failure: $(head -c 200 "$san_bin/out")"
    else
        tap_ok "asan-host/$name"
    fi
}

for cli in message_sender message_reader; do
    if ! gcc -std=c11 "${SAN[@]}" -Wall -o "$san_bin/$cli" "$cli.c" > "$WORK/san-build.log" 2>&1; then
        tap_details < "$WORK/san-build.log"
        tap_not_ok "asan-host/$cli-build" "does not build with sanitizers"
        continue
    fi
    s=$san_bin/$cli
    [[ $cli == message_sender ]] && msg=(hello) || msg=()
    cli_case "$cli-no-args" 1 "" "$s"
    cli_case "$cli-too-many-args" 1 "" "$s" /dev/null 1 0 a b c
    cli_case "$cli-nonexistent-device" 1 "No such file or directory" "$s" /nonexistent/slot 1 "${msg[@]}"
    cli_case "$cli-not-a-slot" 1 "Inappropriate ioctl for device" "$s" /dev/null 1 "${msg[@]}"
    for junk in abc "" -1 4294967296 12x " 7" 0x10 99999999999999999999999; do
        cli_case "$cli-channel-junk-'$junk'" 1 "" "$s" /dev/null "$junk" "${msg[@]}"
    done
    cli_case "$cli-channel-max" 1 "Inappropriate ioctl for device" "$s" /dev/null 4294967295 "${msg[@]}"
done
cli_case "message_sender-censor-junk" 1 "" "$san_bin/message_sender" /dev/null 1 2 hello
cli_case "message_sender-censor-form" 1 "Inappropriate ioctl for device" \
    "$san_bin/message_sender" /dev/null 1 1 hello
cli_case "message_sender-empty-message" 1 "Inappropriate ioctl for device" \
    "$san_bin/message_sender" /dev/null 1 ""
cli_case "message_sender-long-message" 1 "Inappropriate ioctl for device" \
    "$san_bin/message_sender" /dev/null 1 "$(printf '%0300d' 0)"

if gcc -std=gnu11 "${SAN[@]}" -Wall -Wextra -I"$TOP/npheap_shim" -o "$san_bin/shim_host_test" \
        tests/static/shim_host_test.c npheap_shim/npheap.c > "$WORK/san-build.log" 2>&1; then
    rc=0
    "$san_bin/shim_host_test" > "$san_bin/out" 2> "$san_bin/err" || rc=$?
    cat "$san_bin/out"
    tap_tally "$san_bin/out"
    if grep -qE 'Sanitizer|runtime error:' "$san_bin/err" || [[ $rc -ne 0 && $rc -ne 1 ]]; then
        tap_details < "$san_bin/err"
        tap_not_ok asan-host/shim-run "exit $rc or sanitizer report"
    fi
else
    tap_details < "$WORK/san-build.log"
    tap_not_ok asan-host/shim-build "npheap_shim does not build with sanitizers"
fi

# --- ASan+UBSan inside the VM ------------------------------------------------------
# Every tests/guest/*.c, examples/*.c and the CLIs, built like tests/guest/Makefile does but
# dynamic and sanitized (shim programs link the shim's source directly), plus
# the libraries they load; tests/static/asan-guest.sh installs those in the
# guest and runs the whole guest suite with this BIN.
asan_guest() {
    local out=$WORK/asan ok_build=1 f name lib
    mkdir -p "$out/bin" "$out/lib"
    for f in tests/guest/*.c examples/*.c; do
        name=$(basename "$f" .c)
        case $name in
            npheap_*|course_*) extra=(npheap_shim/npheap.c) ;;
            abi_uring) extra=(-luring) ;;
            *) extra=() ;;
        esac
        if ! gcc -std=gnu11 "${SAN[@]}" -Wall -Wextra "${INCLUDES[@]}" -o "$out/bin/$name" \
                "$f" "${extra[@]}" -pthread > "$WORK/san-build.log" 2>&1; then
            tap_details < "$WORK/san-build.log"
            tap_not_ok "asan-guest/build-$name" "does not build with sanitizers"
            ok_build=0
        fi
    done
    for f in message_sender message_reader; do
        gcc -std=c11 "${SAN[@]}" -Wall -o "$out/bin/$f" "$f.c" > "$WORK/san-build.log" 2>&1 ||
            { tap_details < "$WORK/san-build.log"; tap_not_ok "asan-guest/build-$f" "does not build"; ok_build=0; }
    done
    [[ $ok_build -eq 1 ]] || return 0
    # The loader and every library any of them loads.
    for lib in $(ldd "$out"/bin/* | awk '/=>/ { print $3 } /ld-linux/ { print $1 }' | sort -u); do
        [[ -f $lib ]] && cp -L "$lib" "$out/lib/"
    done
    local rc=0
    timeout -k 30 1500 tests/vm/boot.sh --kernel 6.1 --name asan-6.1 \
        --entry tests/static/asan-guest.sh --add build/static/asan --timeout 1400 \
        --log "$WORK/asan-guest.log" > "$WORK/asan-guest.out" 2> "$WORK/asan-guest.err" || rc=$?
    # Guest results become static/asan-guest/<suite>/<test>.
    sed -n -e 's#^ok #ok static/asan-guest/#p' -e 's#^not ok #not ok static/asan-guest/#p' \
        "$WORK/asan-guest.out"
    tap_tally "$WORK/asan-guest.out"
    local reports
    reports=$(grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$WORK/asan-guest.out" || true)
    if [[ -n $reports ]]; then
        grep -E -A 20 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$WORK/asan-guest.out" | tap_details
        tap_not_ok asan-guest/sanitizer-reports "$(wc -l <<<"$reports") report(s): $(head -n1 <<<"$reports")"
    elif ! grep -q '^ok ' "$WORK/asan-guest.out"; then
        tail -n 30 "$WORK/asan-guest.err" "$WORK/asan-guest.out" | tap_details
        tap_not_ok asan-guest/run "no result from the VM (boot.sh exit $rc, log $WORK/asan-guest.log)"
    elif [[ $rc -ne 0 ]] && ! grep -q '^not ok ' "$WORK/asan-guest.out"; then
        tap_not_ok asan-guest/run "boot.sh exit $rc without a failing test (log $WORK/asan-guest.log)"
    else
        tap_ok asan-guest/no-sanitizer-reports
    fi
}
if [[ ${MSGSLOT_SKIP_ASAN_GUEST:-0} == 1 ]]; then
    tap_skip asan-guest MSGSLOT_SKIP_ASAN_GUEST=1
else
    asan_guest
fi

tap_exit
