#!/usr/bin/env bash
# Host check of the shim's build and staged install, the way a course user
# meets it: build with -Wall -Wextra -Werror, `make install DESTDIR=...`, then
# compile course-style programs against the installed files (dynamic, static,
# and through pkg-config), and `make uninstall` leaves nothing behind.
# Never touches the live system (always a DESTDIR).  No device needed.
# Output: "ok shim/<test>" / "not ok shim/<test> - <reason>"; exit 1 on failure.
# shellcheck disable=SC2317  # the checks are functions called through check()
set -euo pipefail

SHIM=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$SHIM/.." && pwd)
WORK=$(mktemp -d)
TAP_SUITE=shim
# shellcheck source=tests/lib/tap.sh
. "$TOP/tests/lib/tap.sh"
# Every exit ends the TAP stream with its plan.
trap 'tap_finish; rm -rf "$WORK"' EXIT

# check <test> <command...>: ok if it succeeds; else not ok with its first output line.
check() {
    local name=$1 rc=0; shift
    "$@" > "$WORK/$name.log" 2>&1 || rc=$?
    if [[ $rc -eq 0 ]]; then
        tap_ok "$name"
    else
        tap_details "$WORK/$name.log"
        tap_not_ok "$name" "$(grep -m1 . "$WORK/$name.log" || echo "exit $rc")"
    fi
}

# A private copy, so this never races a build of the checkout itself.
mkdir -p "$WORK/src"
cp -r "$SHIM/Makefile" "$SHIM/npheap.c" "$SHIM/npheap.h" "$SHIM/npheap.pc.in" "$SHIM/npheap" "$WORK/src/"
STAGE=$WORK/stage
INC=$STAGE/usr/local/include
LIB=$STAGE/usr/local/lib

check build_werror make -C "$WORK/src" CFLAGS="-O2 -Wall -Wextra -Werror"
check install_destdir make -C "$WORK/src" install DESTDIR="$STAGE"

layout() {
    local f
    for f in "$INC/npheap.h" "$INC/npheap/npheap.h" "$LIB/libnpheap.so.1.0.0" \
             "$LIB/libnpheap.a" "$LIB/pkgconfig/npheap.pc"; do
        [[ -f $f ]] || { echo "missing $f"; return 1; }
    done
    [[ $(readlink "$LIB/libnpheap.so") == libnpheap.so.1 ]] || { echo "libnpheap.so link"; return 1; }
    [[ $(readlink "$LIB/libnpheap.so.1") == libnpheap.so.1.0.0 ]] || { echo "libnpheap.so.1 link"; return 1; }
    cmp -s "$INC/npheap/npheap.h" "$SHIM/npheap/npheap.h" || { echo "installed ABI header differs"; return 1; }
}
check install_layout layout

soname() {
    # (grep -q on a pipe would end the writer with SIGPIPE, a failure under pipefail)
    grep -Eq 'SONAME +libnpheap\.so\.1$' <<<"$(objdump -p "$LIB/libnpheap.so.1.0.0")" ||
        { echo "SONAME is not libnpheap.so.1"; return 1; }
    local sym
    for sym in npheap_alloc npheap_lock npheap_unlock npheap_delete npheap_getsize; do
        grep -qw "$sym" <<<"$(nm -D --defined-only "$LIB/libnpheap.so.1.0.0")" || { echo "no $sym in .so"; return 1; }
        grep -qw "$sym" <<<"$(nm --defined-only "$LIB/libnpheap.a")" || { echo "no $sym in .a"; return 1; }
    done
}
check soname_and_symbols soname

# The course programs of this repository stand in for "a course program".
COURSE=("$TOP/tests/guest/course_benchmark.c" "$TOP/tests/guest/course_validate.c")

dynamic() {
    local c
    for c in "${COURSE[@]}"; do
        gcc -Wall -Wextra -Werror -I"$INC" "$c" -L"$LIB" -lnpheap -o "$WORK/dyn" || return 1
        grep -q "libnpheap.so.1 => $LIB/libnpheap.so.1" <<<"$(LD_LIBRARY_PATH=$LIB ldd "$WORK/dyn")" ||
            { echo "$(basename "$c") does not load libnpheap.so.1 from the stage"; return 1; }
    done
}
check course_build_dynamic dynamic

static() {
    local c
    for c in "${COURSE[@]}"; do
        gcc -Wall -Wextra -Werror -static -I"$INC" "$c" -L"$LIB" -lnpheap -o "$WORK/static" || return 1
        grep -q 'statically linked' <<<"$(file "$WORK/static")" || { echo "not static"; return 1; }
    done
}
check course_build_static static

pkgconf() {
    local flags
    flags=$(PKG_CONFIG_SYSROOT_DIR=$STAGE PKG_CONFIG_PATH=$LIB/pkgconfig pkg-config --cflags --libs npheap)
    [[ $flags == *"-I$INC"* && $flags == *"-L$LIB"* && $flags == *-lnpheap* ]] ||
        { echo "pkg-config said: $flags"; return 1; }
    # shellcheck disable=SC2086  # the flags are meant to split
    gcc -Wall -Wextra -Werror "${COURSE[0]}" $flags -o "$WORK/pc"
}
check pkg_config pkgconf

# The header alone, in strict C11 and as C++, declares the five calls.
header() {
    cat > "$WORK/hdr.c" <<'EOF'
#include <npheap.h>
int main(void)
{
	void *(*a)(int, __u64, __u64) = npheap_alloc;
	int (*l)(int, __u64) = npheap_lock, (*u)(int, __u64) = npheap_unlock,
	    (*d)(int, __u64) = npheap_delete;
	long (*g)(int, __u64) = npheap_getsize;
	struct npheap_cmd cmd;
	(void)a; (void)l; (void)u; (void)d; (void)g;
	return sizeof(cmd) == 32 && NPHEAP_IOCTL_LOCK == 0xc0204e43UL ? 0 : 1;
}
EOF
    gcc -std=c11 -pedantic -Wall -Wextra -Werror -I"$INC" "$WORK/hdr.c" -L"$LIB" -lnpheap -o "$WORK/hdr"
    LD_LIBRARY_PATH=$LIB "$WORK/hdr" || { echo "C11: wrong struct size or ioctl number"; return 1; }
    cp "$WORK/hdr.c" "$WORK/hdr.cc"
    g++ -Wall -Wextra -Werror -I"$INC" "$WORK/hdr.cc" -L"$LIB" -lnpheap -o "$WORK/hdrxx"
    LD_LIBRARY_PATH=$LIB "$WORK/hdrxx" || { echo "C++: wrong struct size or ioctl number"; return 1; }
}
check header_c11_and_cxx header

# The .pc describes the PREFIX of the install, not the one of the first build.
pc_prefix() {
    local stage2=$WORK/stage-opt pc
    make -C "$WORK/src" install DESTDIR="$stage2" PREFIX=/opt/np > /dev/null
    pc=$stage2/opt/np/lib/pkgconfig/npheap.pc
    [[ -f $pc ]] || { echo "no $pc"; return 1; }
    if ! grep -qx 'prefix=/opt/np' "$pc" || ! grep -qx 'libdir=/opt/np/lib' "$pc" ||
        ! grep -qx 'includedir=/opt/np/include' "$pc"; then
        echo "PREFIX=/opt/np installed a .pc saying: $(tr '\n' ' ' < "$pc")"
        return 1
    fi
    make -C "$WORK/src" uninstall DESTDIR="$stage2" PREFIX=/opt/np > /dev/null
}
check pc_prefix_follows_install pc_prefix

uninstall() {
    make -C "$WORK/src" uninstall DESTDIR="$STAGE" > /dev/null
    local left
    left=$(find "$STAGE" -type f)
    [[ -z $left ]] || { echo "left behind: $left"; return 1; }
}
check uninstall_destdir uninstall

tap_exit
