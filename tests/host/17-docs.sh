#!/usr/bin/env bash
# Host suite "docs": what the documents say is what the code does.
#   params-tables       the parameter tables of README.md and message_slot(4)
#                       are man/gen-params.py's output (make docs) for
#                       message_slot.c
#   params-modinfo      that generator reads every parameter, with its
#                       description, as `modinfo` shows them for the module
#                       built from the tree (6.1 headers)
#   version             MSG_SLOT_VERSION of message_slot.h is the module's
#                       modinfo version, dkms.conf's, the NP-Heap library's,
#                       the Python package's and debian/changelog's
#   errnos-<page>       every errno the driver returns in the message-slot
#                       half (NP-Heap half) of message_slot.c is in ERRORS of
#                       message_slot(4) (npheap(3)), and every errno listed
#                       there is returned there (or by the kernel for it)
#   bounds-<page>       every bound parameter (max_*, npheap_max_*) is named
#                       in the ERRORS of its page
#   ioctl-numbers       README's request table and the Python package's
#                       numbers are those of message_slot.h, and so is every
#                       number (hex or _IOW form) README and the man pages give
#   npheap-lock-release npheap(3) says a close releases the locks taken
#                       through that open file, not those of any descriptor
#   udev-vs-npheap-mode README and message_slot(4) say which of the udev rule
#                       and npheap_mode sets the node mode
#   timings-one-place   durations appear only in tests/README.md,
#                       grade/README.md (the grader's deadlines) and
#                       bench/README.md (and make help has none)
#   no-history          no document talks of earlier versions or runs
#   readme-commands     every command of a ```sh block in a README has its
#                       line in tests/readme-commands, naming the test that
#                       runs it in CI, and that test's file names the test
#   readme-c-example    README's "A slot from C" compiles warning-free
#                       against message_slot.h (gcc -Wall -Wextra -std=c11)
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
work=$(mktemp -d /tmp/docs-suite.XXXXXX)
TAP_SUITE=docs
# shellcheck source=tests/lib/tap.sh
. "$top/tests/lib/tap.sh"
# Every exit ends the TAP stream with its plan.
trap 'tap_finish; rm -rf "$work"' EXIT
oneline() { tr '\n' '|' < "$1" | cut -c1-300; }
# check <name> <problems file>: ok if empty.
verdict() {
    if [[ -s $2 ]]; then
        tap_not_ok "$1" "$(oneline "$2")"
    else
        tap_ok "$1"
    fi
}

# --- module parameters ----------------------------------------------------------
if man/gen-params.py --check 2> "$work/gen.err"; then
    tap_ok params-tables
else
    tap_not_ok params-tables "$(oneline "$work/gen.err")"
fi

version=$(sed -n 's/^#define MSG_SLOT_VERSION[[:space:]]*"\(.*\)"$/\1/p' message_slot.h)
kdir=$(tests/vm/kernels.sh 6.1 2> "$work/kernels.log" | awk '$1 == "6.1" { print $3 }')
ko=
if [[ -z $kdir ]]; then
    tap_not_ok params-modinfo "no 6.1 headers: $(tail -n 1 "$work/kernels.log")"
else
    mkdir -p "$work/mod"
    cp message_slot.c message_slot.h "$work/mod/"
    echo 'obj-m := message_slot.o' > "$work/mod/Makefile"
    if make -C "$kdir" M="$work/mod" -j2 modules > "$work/mod.log" 2>&1; then
        ko=$work/mod/message_slot.ko
        # modinfo prints "name:description (type)"; the generator "name<TAB>mode<TAB>description".
        /sbin/modinfo -F parm "$ko" | sed 's/ ([a-z]*)$//' | LC_ALL=C sort > "$work/modinfo.list"
        man/gen-params.py --list | awk -F'\t' '{ print $1 ":" $3 }' > "$work/gen.raw"
        # The generator drops "(default X)" from a description; so must the comparison.
        sed -E 's/ ?\(([^()]*), default [^()]+\)$/ (\1)/; s/ ?\(default [^()]+\)$//' \
            "$work/modinfo.list" | LC_ALL=C sort > "$work/modinfo.cmp"
        LC_ALL=C sort "$work/gen.raw" > "$work/gen.list"
        if [[ ! -s $work/modinfo.list ]]; then
            tap_not_ok params-modinfo "modinfo lists no parameter"
        elif ! diff "$work/modinfo.cmp" "$work/gen.list" > "$work/params.diff"; then
            tap_not_ok params-modinfo "modinfo (<) and man/gen-params.py (>) differ: $(grep '^[<>]' "$work/params.diff" | head -n 4 | tr '\n' '|')"
        else
            tap_ok params-modinfo
        fi
    else
        tap_details "$work/mod.log"
        tap_not_ok params-modinfo "the module did not build for $kdir"
    fi
fi

# --- one version -------------------------------------------------------------------
: > "$work/version.bad"
[[ -n $version ]] || echo "no MSG_SLOT_VERSION in message_slot.h" >> "$work/version.bad"
# have <where> <value>: one more place that must say $version.
have() { [[ $2 == "$version" ]] || echo "$1 says '$2', message_slot.h '$version'" >> "$work/version.bad"; }
[[ -n $ko ]] && have "modinfo -F version" "$(/sbin/modinfo -F version "$ko")"
have dkms.conf "$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' dkms.conf)"
have npheap_shim/Makefile "$(sed -n 's/^VERSION[[:space:]]*=[[:space:]]*//p' npheap_shim/Makefile)"
have python/message_slot "$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' python/message_slot/__init__.py)"
have debian/changelog "$(sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p' debian/changelog)"
verdict version "$work/version.bad"

# --- errnos of the man pages against the driver -------------------------------------
# The driver's halves: from the "Message slots" banner to the "NP-Heap" one,
# and from there to the "Module" one.
awk '/^ \* Message slots$/ { part = "slot" } /^ \* NP-Heap$/ { part = "npheap" }
     /^ \* Module$/ { part = "" } part { print > ("'"$work"'/" part ".c") }' message_slot.c
# errors_of <page>: the errno names of its ERRORS section.
errors_of() {
    awk '/^\.SH ERRORS/ { on = 1; next } /^\.SH / { on = 0 } on' "$1" |
        grep -oE '\bE[A-Z0-9]{2,}\b' | sort -u
}
# returned_by <file>: the errnos a part of the driver returns literally
# (not those it only compares with); -ERESTARTSYS reaches users as EINTR.
returned_by() {
    sed -E 's/[!=]= *-E[A-Z0-9]+//g' "$1" | grep -oE -- '-E[A-Z0-9]+\b' | tr -d -- - |
        sed 's/^ERESTARTSYS$/EINTR/' | sort -u
}
# errnos <page> <part> <kernel-provided...>: compare, both ways.
errnos() {
    local page=$1 part=$2 bad=$work/errnos.bad
    shift 2
    : > "$bad"
    errors_of "$page" > "$work/listed"
    { returned_by "$work/$part.c"; [[ $# -eq 0 ]] || printf '%s\n' "$@"; } | sort -u > "$work/returned"
    [[ -s $work/$part.c ]] || echo "no $part half found in message_slot.c" >> "$bad"
    comm -13 "$work/listed" "$work/returned" | sed "s/\$/ is returned but not in ERRORS/" >> "$bad"
    comm -23 "$work/listed" "$work/returned" | sed "s/\$/ is in ERRORS but never returned/" >> "$bad"
    verdict "errnos-${page##*/}" "$bad"
}
# EINTR: a signal during wait_event_interruptible (-ERESTARTSYS); ESPIPE:
# no_llseek and nonseekable_open; EAGAIN: EWOULDBLOCK's other name.
errnos man/message_slot.4 slot EINTR ESPIPE EAGAIN
errnos man/npheap.3 npheap

# bounds <page> <pattern>: each bound parameter matching pattern is in ERRORS.
bounds() {
    local page=$1 pattern=$2
    : > "$work/bounds.bad"
    awk '/^\.SH ERRORS/ { on = 1; next } /^\.SH / { on = 0 } on' "$page" > "$work/errors.txt"
    man/gen-params.py --list | cut -f1 | grep -E "$pattern" | while read -r p; do
        grep -q "$p" "$work/errors.txt" || echo "$p is not named in ERRORS" >> "$work/bounds.bad"
    done
    verdict "bounds-${page##*/}" "$work/bounds.bad"
}
bounds man/message_slot.4 '^max_'
bounds man/npheap.3 '^npheap_max_'

# --- ioctl numbers ---------------------------------------------------------------------
cat > "$work/ioctls.c" <<'EOF'
#include <stdio.h>
#include "message_slot.h"
#define P(x) printf("%s 0x%lx\n", #x, (unsigned long)(x))
int main(void)
{
	P(MSG_SLOT_CHANNEL); P(MSG_SLOT_CHANNEL_UL); P(MSG_SLOT_SET_CEN);
	P(MSG_SLOT_SET_CEN_UL); P(MSG_SLOT_SET_WAIT);
	printf("NPHEAP_IOCTL_LOCK 0x%lx\n", (unsigned long)MSG_SLOT_NPHEAP_LOCK);
	printf("NPHEAP_IOCTL_UNLOCK 0x%lx\n", (unsigned long)MSG_SLOT_NPHEAP_UNLOCK);
	printf("NPHEAP_IOCTL_DELETE 0x%lx\n", (unsigned long)MSG_SLOT_NPHEAP_DELETE);
	printf("NPHEAP_IOCTL_GETSIZE 0x%lx\n", (unsigned long)MSG_SLOT_NPHEAP_GETSIZE);
	return 0;
}
EOF
: > "$work/ioctl.bad"
if gcc -std=c11 -I. "$work/ioctls.c" -o "$work/ioctls" 2> "$work/cc.err"; then
    "$work/ioctls" > "$work/ioctls.txt"
    # README's table: | `NAME` | `0x...` | `0x...` ... (unsigned int, then _UL).
    while read -r name number; do
        case $name in
            MSG_SLOT_CHANNEL | MSG_SLOT_SET_CEN) want="| \`$name\` | \`$number\` |" ;;
            *_UL) want="| \`${name%_UL}\` | \`0x[0-9a-f]*\` | \`$number\`" ;;
            *) continue ;;
        esac
        grep -q "^$want" README.md || echo "README's table does not give $name as $number" >> "$work/ioctl.bad"
    done < "$work/ioctls.txt"
    # Every request number the documents spell out, as hex or as _IOW(...),
    # is one of message_slot.h's (NP-Heap's also with i386's 28-byte struct).
    docs=(README.md man/message_slot.4 man/npheap.3)
    known=$(awk '{ print $2 }' "$work/ioctls.txt")
    for n in $(awk '/^NPHEAP_IOCTL_/ { print $2 }' "$work/ioctls.txt"); do
        known+=$'\n'$(printf '0x%x' $(( (n & ~(0x3fff << 16)) | (28 << 16) )))
    done
    grep -ohE '\b0x[0-9a-f]{8}\b' "${docs[@]}" | sort -u | while read -r number; do
        grep -qx "$number" <<<"$known" ||
            echo "$number in the documents is no request of message_slot.h" >> "$work/ioctl.bad"
    done
    grep -ohE '_IOW\(235,( |\\ )[0-9]+,( |\\ )unsigned( |\\ )int\)' "${docs[@]}" | sed 's/\\ / /g' | sort -u > "$work/iow.txt"
    if [[ ! -s $work/iow.txt ]]; then
        echo "no _IOW(235, n, unsigned int) form in the documents" >> "$work/ioctl.bad"
    fi
    {
        echo '#include <stdio.h>'
        echo '#include <sys/ioctl.h>'
        echo 'int main(void) {'
        sed 's/.*/printf("%s\\t0x%lx\\n", "&", (unsigned long)&);/' "$work/iow.txt"
        echo 'return 0; }'
    } > "$work/iow.c"
    if gcc -std=c11 "$work/iow.c" -o "$work/iow" 2> "$work/iow.err"; then
        "$work/iow" | while IFS=$'\t' read -r form number; do
            grep -qx "$number" <<<"$known" ||
                echo "$form in the documents is $number, no request of message_slot.h" >> "$work/ioctl.bad"
        done
    else
        echo "gcc (the documents' _IOW forms): $(oneline "$work/iow.err")" >> "$work/ioctl.bad"
    fi
    /usr/bin/python3 -B -I -S - "$top/python" "$work/ioctls.txt" >> "$work/ioctl.bad" 2>&1 <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import message_slot
for line in open(sys.argv[2]):
    name, number = line.split()
    if name.endswith("_UL"):
        continue
    got = getattr(message_slot, name, None)
    if got != int(number, 16):
        print(f"python: {name} is {got if got is None else hex(got)}, message_slot.h {number}")
PY
else
    echo "gcc: $(oneline "$work/cc.err")" >> "$work/ioctl.bad"
fi
verdict ioctl-numbers "$work/ioctl.bad"

# --- single facts ------------------------------------------------------------------------
if grep -q 'any descriptor' man/npheap.3; then
    tap_not_ok npheap-lock-release "npheap(3) says closing any descriptor releases the locks"
elif ! grep -q 'that open file' man/npheap.3; then
    tap_not_ok npheap-lock-release "npheap(3) does not say a close releases the locks taken through that open file"
else
    tap_ok npheap-lock-release
fi

: > "$work/udev.bad"
for f in README.md man/message_slot.4; do
    # One paragraph names both and says which wins.
    # (Not `| grep -q`: under pipefail awk's SIGPIPE would fail the check.)
    [[ -n $(awk -v RS= '/npheap_mode/ && /udev/ && /wins/' "$f") ]] ||
        echo "$f does not say whether the udev rule or npheap_mode sets the mode" >> "$work/udev.bad"
done
verdict udev-vs-npheap-mode "$work/udev.bad"

# Durations (a number and a unit of time) outside the two homes of timings;
# "timeout (5 s)" and the like are protocol facts, not measurements.
duration='\b[0-9]+([.,][0-9]+)?(-[0-9]+)? ?(s|ms|min|minutes?|seconds?|hours?)\b'
{
    git ls-files '*.md' 'man/*.[1-8]' 2> /dev/null | grep -vx -e tests/README.md -e bench/README.md -e grade/README.md |
        xargs grep -nE "$duration" | grep -v 'timeout'
    make -s help 2> /dev/null | grep -E "$duration" | sed 's/^/make help: /'
} > "$work/durations"
verdict timings-one-place "$work/durations"

history='no longer|\bused to |before .{0,40} existed|previous (run|version|release)|earlier (run|version)|public versions?|formerly|now that|anymore|originally'
git ls-files '*.md' 'man/*.[1-8]' 2> /dev/null | xargs grep -niE "$history" > "$work/history"
verdict no-history "$work/history"

# Commands a user types are in ```sh blocks (a file's text is in its own
# language's block); a "  # comment" after a command is not part of it.
git ls-files '*.md' | xargs awk '
    FNR == 1 { block = 0 }
    /^```/ { block = !block && $0 == "```sh"; next }
    block {
        line = $0
        sub(/[ \t][ \t]+#.*$/, "", line)
        if (line !~ /^[ \t]*(#|$)/) print FILENAME "\t" line
    }' | sort -u > "$work/readme-commands"
grep -v '^#' tests/readme-commands | sort -u > "$work/commands-table"
: > "$work/commands.bad"
cut -f1,2 "$work/commands-table" | comm -23 "$work/readme-commands" - |
    sed 's/^/no test runs /' >> "$work/commands.bad"
cut -f1,2 "$work/commands-table" | comm -13 "$work/readme-commands" - |
    sed 's/^/tests\/readme-commands names a command no README has: /' >> "$work/commands.bad"
while IFS=$'\t' read -r _ command file test; do
    grep -qF -- "$test" "$file" 2> /dev/null ||
        echo "$file does not name the test '$test' that runs '$command'" >> "$work/commands.bad"
done < "$work/commands-table"
verdict readme-commands "$work/commands.bad"

{
    echo '#include <fcntl.h>'
    echo '#include <sys/ioctl.h>'
    echo '#include <unistd.h>'
    awk '/^### A slot from C/ { s = 1 } s && /^```c$/ { on = 1; next } on && /^```/ { exit } on' \
        README.md > "$work/readme-example.txt"
    grep '^#include' "$work/readme-example.txt"
    echo 'int main(void)'
    echo '{'
    grep -v '^#include' "$work/readme-example.txt"
    echo '    (void)n;'
    echo '    return 0;'
    echo '}'
} > "$work/readme-example.c"
if gcc -Wall -Wextra -std=c11 -D_POSIX_C_SOURCE=200809L -I. -c -o "$work/readme-example.o" \
    "$work/readme-example.c" > "$work/cc.log" 2>&1 && [[ ! -s $work/cc.log ]]; then
    tap_ok readme-c-example
else
    tap_not_ok readme-c-example "$(oneline "$work/cc.log")"
fi

tap_exit
