#!/usr/bin/env bash
# Host suite "install": the paths a user takes from the README, in a private
# copy of the tree, against the Debian 6.1 and 6.12 headers. Nothing is
# installed on the live system (every install is a DESTDIR stage).
#   make-help                      `make help` lists the targets
#   no-headers-builds-clis         `make` without kernel headers builds the CLIs
#                                  and says what to install
#   install-user                   staged `make install-user` without kernel
#                                  headers: CLIs, man pages, message_slot.h and
#                                  message_slot.pc (a program builds with its
#                                  --cflags), udev rule; `make uninstall-user`
#                                  removes them again
#   install-<k>                    staged `make install`: module under the
#                                  kernel's own release and all of install-user;
#                                  no module index written into the stage
#   depmod-devname-<k>             DEPMOD=1: modules.devname makes /dev/npheap
#   udev-mode-group                UDEV_MODE / UDEV_GROUP reach the rule
#   uninstall-<k>                  `make uninstall` removes every file again
#   man/<page>                     `man --warnings` (groff) says nothing
#   clean                          `make clean` removes every build output
#   harness-ignores-stale-mod-c    a message_slot.mod.c left by `make` for
#                                  another kernel does not reach the VM's build
#   tap/prove-<suite>              `prove` accepts a host suite's TAP stream
#   cache-variable                 every script naming the cache honours
#                                  MSGSLOT_CACHE
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
work=$(mktemp -d /tmp/install-suite.XXXXXX)
TAP_SUITE=install
# shellcheck source=tests/lib/tap.sh
. "$top/tests/lib/tap.sh"
# Every exit ends the TAP stream with its plan.
trap 'tap_finish; rm -rf "$work"' EXIT
oneline() { tr '\n' '|' < "$1" | cut -c1-240; }

# A private copy of the tracked files (as in a fresh clone, with the working
# tree's contents), so builds here never race one of the checkout itself.
tree=$work/tree
mkdir -p "$tree"
git ls-files -z | xargs -0 cp --parents -t "$tree" 2> /dev/null ||
    tar -C "$top" --exclude=./build --exclude=./.git -cf - . | tar -C "$tree" -xf -
inventory() { (cd "$1" && find . -path ./.git -prune -o -print | LC_ALL=C sort); }
inventory "$tree" > "$work/pristine.list"

if ! kernels=$(tests/vm/kernels.sh 2> "$work/kernels.log"); then
    tap_details "$work/kernels.log"
    tap_not_ok setup "tests/vm/kernels.sh failed: no kernel headers to install against"
    exit 1
fi

# --- make help -----------------------------------------------------------------
if make -s -C "$tree" help > "$work/help" 2>&1 &&
    grep -q 'make install' "$work/help" && grep -q 'uninstall' "$work/help" &&
    grep -q 'dkms-install' "$work/help" && grep -q 'make demo' "$work/help"; then
    tap_ok make-help
else
    tap_not_ok make-help "$(oneline "$work/help")"
fi

# --- make without kernel headers ----------------------------------------------
rc=0
make -C "$tree" KDIR=/nonexistent/build > "$work/nohdr" 2>&1 || rc=$?
if [[ $rc -eq 0 ]]; then
    tap_not_ok no-headers-builds-clis "make succeeded without a kernel tree"
elif [[ ! -x $tree/message_sender || ! -x $tree/message_reader ]]; then
    tap_details "$work/nohdr"
    tap_not_ok no-headers-builds-clis "the CLIs were not built: $(tail -n 2 "$work/nohdr" | tr '\n' '|')"
elif ! grep -q 'linux-headers-' "$work/nohdr" || ! grep -q 'KDIR=' "$work/nohdr"; then
    tap_not_ok no-headers-builds-clis "no hint to install linux-headers-\$(uname -r) or pass KDIR=: $(oneline "$work/nohdr")"
else
    tap_ok no-headers-builds-clis
fi

# --- install-user: no kernel headers needed ------------------------------------
pages=(man1/message_sender.1 man1/message_reader.1 man3/npheap.3 man4/message_slot.4)
# user_files <stage> <prefix>: what install-user must have put there.
user_files() {
    local stage=$1 prefix=$2 f p
    for f in bin/message_sender bin/message_reader; do
        [[ -x $stage$prefix/$f ]] || problems+=("no $prefix/$f")
    done
    for p in "${pages[@]}"; do
        [[ -f $stage$prefix/share/man/$p ]] || problems+=("no $prefix/share/man/$p")
    done
    cmp -s message_slot.h "$stage$prefix/include/message_slot.h" ||
        problems+=("no $prefix/include/message_slot.h as in the tree")
    local pc=$stage$prefix/share/pkgconfig/message_slot.pc
    if [[ ! -f $pc ]]; then
        problems+=("no $prefix/share/pkgconfig/message_slot.pc")
    else
        local version cflags
        version=$(sed -n 's/^#define MSG_SLOT_VERSION[[:space:]]*"\(.*\)"$/\1/p' message_slot.h)
        [[ $(PKG_CONFIG_PATH=${pc%/*} pkg-config --modversion message_slot 2>&1) == "$version" ]] ||
            problems+=("message_slot.pc: version is not $version")
        cflags=$(PKG_CONFIG_PATH=${pc%/*} pkg-config --cflags message_slot 2>&1)
        [[ ${cflags%% } == "-I$prefix/include" ]] ||
            problems+=("pkg-config --cflags message_slot: '$cflags', want '-I$prefix/include'")
        printf '#include <message_slot.h>\nint main(void) { return MSG_SLOT_CHANNEL == 0; }\n' \
            > "$work/pc.c"
        gcc -std=c11 -Wall -Werror -I"$stage$prefix/include" "$work/pc.c" -o "$work/pc" \
            2> "$work/pc.err" || problems+=("a program including <message_slot.h>: $(oneline "$work/pc.err")")
    fi
}
istage=$work/user-stage
problems=()
if ! make -C "$tree" KDIR=/nonexistent/build DESTDIR="$istage" PREFIX=/opt/ms install-user \
    > "$work/install-user.log" 2>&1; then
    tap_details "$work/install-user.log"
    problems+=("make install-user without kernel headers failed: $(tail -n 1 "$work/install-user.log")")
else
    user_files "$istage" /opt/ms
    [[ -f $istage/etc/udev/rules.d/60-message_slot.rules ]] || problems+=("no udev rule")
    [[ -z $(find "$istage" -path '*/lib/modules*' -print -quit) ]] ||
        problems+=("install-user installed a module")
    if ! make -C "$tree" DESTDIR="$istage" PREFIX=/opt/ms uninstall-user \
        > "$work/uninstall-user.log" 2>&1; then
        problems+=("make uninstall-user failed: $(tail -n 1 "$work/uninstall-user.log")")
    elif [[ -n $(find "$istage" -type f) ]]; then
        problems+=("uninstall-user left: $(find "$istage" -type f | tr '\n' ' ')")
    fi
fi
if [[ ${#problems[@]} -eq 0 ]]; then
    tap_ok install-user
else
    tap_not_ok install-user "${problems[*]}"
fi

# --- staged install / uninstall per kernel --------------------------------------
while read -r kname _ kdir; do
    [[ -n $kname ]] || continue
    krel=$(sed -n 's/^#define UTS_RELEASE "\(.*\)"$/\1/p' "$kdir/include/generated/utsrelease.h")
    stage=$work/stage-$kname
    if ! make -C "$tree" KDIR="$kdir" DESTDIR="$stage" PREFIX=/opt/ms install \
        > "$work/install-$kname.log" 2>&1; then
        tap_details "$work/install-$kname.log"
        tap_not_ok "install-$kname" "make install failed: $(tail -n 1 "$work/install-$kname.log")"
        continue
    fi
    problems=()
    mods=$(cd "$stage" && find lib -name 'message_slot.ko*' 2> /dev/null)
    [[ $mods == lib/modules/$krel/*/message_slot.ko* ]] ||
        problems+=("module at '${mods:-nowhere}', want lib/modules/$krel/...")
    [[ -z $(find "$stage" -name 'modules.*' -print -quit) ]] ||
        problems+=("module index written into the stage: $(cd "$stage" && find . -name 'modules.*' | head -n 3 | tr '\n' ' ')")
    user_files "$stage" /opt/ms
    rule=$stage/etc/udev/rules.d/60-message_slot.rules
    if [[ ! -f $rule ]]; then
        problems+=("no udev rule")
    elif ! grep -q '^SUBSYSTEM=="npheap", KERNEL=="npheap\*", MODE="0666", GROUP="root"$' "$rule"; then
        problems+=("udev rule: $(grep -v '^#' "$rule")")
    fi
    if [[ ${#problems[@]} -eq 0 ]]; then
        tap_ok "install-$kname"
    else
        tap_not_ok "install-$kname" "${problems[*]}"
    fi

    # Asked for, the index is written, and names the node kmod creates.
    dstage=$work/dstage-$kname
    if make -C "$tree" KDIR="$kdir" DESTDIR="$dstage" DEPMOD=1 install > "$work/depmod.log" 2>&1 &&
        grep -qx 'message_slot npheap c235:524288' "$dstage/lib/modules/$krel/modules.devname" 2> /dev/null; then
        tap_ok "depmod-devname-$kname"
    else
        tap_details "$work/depmod.log"
        tap_not_ok "depmod-devname-$kname" "modules.devname: '$(tr '\n' '|' < "$dstage/lib/modules/$krel/modules.devname" 2>&1)'"
    fi

    if make -C "$tree" KDIR="$kdir" DESTDIR="$stage" PREFIX=/opt/ms uninstall \
        > "$work/uninstall.log" 2>&1; then
        left=$(find "$stage" -type f)
        if [[ -z $left ]]; then
            tap_ok "uninstall-$kname"
        else
            tap_not_ok "uninstall-$kname" "left behind: $(tr '\n' ' ' <<<"$left")"
        fi
    else
        tap_details "$work/uninstall.log"
        tap_not_ok "uninstall-$kname" "make uninstall failed"
    fi
done <<<"$kernels"

read -r _ _ kdir61 < <(grep '^6\.1 ' <<<"$kernels")

# --- udev mode and group ------------------------------------------------------------
ustage=$work/ustage
if make -C "$tree" KDIR="$kdir61" DESTDIR="$ustage" UDEV_MODE=0660 UDEV_GROUP=kvm install \
    > "$work/udev.log" 2>&1 &&
    grep -q 'MODE="0660", GROUP="kvm"' "$ustage/etc/udev/rules.d/60-message_slot.rules"; then
    tap_ok udev-mode-group
else
    tap_details "$work/udev.log"
    tap_not_ok udev-mode-group "rule: $(grep -v '^#' "$ustage/etc/udev/rules.d/60-message_slot.rules" 2>&1)"
fi

# --- man pages ------------------------------------------------------------------
for page in man/*.[1-8]; do
    # groff's warnings go to stderr; the page itself must render.
    if ! MANWIDTH=80 man --warnings -E UTF-8 -l "$page" > "$work/man.out" 2> "$work/man.err"; then
        tap_not_ok "$page" "man failed: $(oneline "$work/man.err")"
    elif [[ -s $work/man.err ]]; then
        tap_details "$work/man.err"
        tap_not_ok "$page" "$(head -n 1 "$work/man.err")"
    elif ! grep -q '^NAME' "$work/man.out"; then
        tap_not_ok "$page" "no NAME section rendered"
    else
        tap_ok "$page"
    fi
done

# --- make clean leaves the tree as it was ------------------------------------------
make -C "$tree" KDIR="$kdir61" > /dev/null 2>&1
make -C "$tree/npheap_shim" > /dev/null 2>&1
make -C "$tree/dsm" > /dev/null 2>&1
mkdir -p "$tree/build/logs" && : > "$tree/build/logs/x.log"
if make -C "$tree" KDIR="$kdir61" clean > "$work/clean.log" 2>&1; then
    inventory "$tree" > "$work/after.list"
    extra=$(comm -13 "$work/pristine.list" "$work/after.list")
    if [[ -z $extra ]]; then
        tap_ok clean
    else
        tap_not_ok clean "left behind: $(head -n 8 <<<"$extra" | tr '\n' ' ')"
    fi
else
    tap_details "$work/clean.log"
    tap_not_ok clean "make clean failed"
fi

# --- the VM harness's module build ignores kbuild output of another kernel --------
read -r _ _ kdir612 < <(grep '^6\.12 ' <<<"$kernels")
# The user's order: a VM run (build/6.1 built), `make` for the 6.12 headers at
# the top, another VM run.
if "$tree/tests/vm/build-module.sh" 6.1 "$kdir61" > /dev/null 2> "$work/bm.log" &&
    make -C "$tree" KDIR="$kdir612" module > "$work/m612.log" 2>&1 &&
    [[ -f $tree/message_slot.mod.c ]] &&
    ko=$("$tree/tests/vm/build-module.sh" 6.1 "$kdir61" 2>> "$work/bm.log"); then
    # Every symbol CRC the module records must be the 6.1 kernel's.
    /sbin/modprobe --dump-modversions "$ko" > "$work/crcs" 2>&1
    verdict=$(awk 'NR == FNR { crc[$2] = tolower($1); next }
                   ($2 in crc) { n++; if (tolower($1) != crc[$2]) bad = bad " " $2 }
                   END { print n + 0, bad }' "$kdir61/Module.symvers" "$work/crcs")
    read -r compared bad <<<"$verdict"
    if [[ $compared -eq 0 ]]; then
        tap_not_ok harness-ignores-stale-mod-c "no symbol version to compare: $(oneline "$work/crcs")"
    elif [[ -n $bad ]]; then
        tap_not_ok harness-ignores-stale-mod-c "the 6.1 module carries 6.12 symbol versions: $bad"
    elif cmp -s "$tree/message_slot.mod.c" "$tree/build/6.1/message_slot.mod.c"; then
        tap_not_ok harness-ignores-stale-mod-c "the 6.12 message_slot.mod.c was copied into build/6.1"
    else
        tap_ok harness-ignores-stale-mod-c
    fi
else
    tap_details "$work/m612.log" "$work/bm.log"
    tap_not_ok harness-ignores-stale-mod-c "could not build for 6.12 then with the harness for 6.1"
fi

# --- TAP: prove accepts the streams ------------------------------------------------
for suite in tests/host/15-cli.sh tests/host/20-shim.sh tests/host/30-examples.sh; do
    if prove --exec bash "$suite" > "$work/prove.out" 2>&1; then
        tap_ok "tap/prove-${suite##*/}"
    else
        tap_details "$work/prove.out"
        tap_not_ok "tap/prove-${suite##*/}" "$(grep -m1 -E 'No plan|Parse errors|Failed' "$work/prove.out" || tail -n 1 "$work/prove.out")"
    fi
done
# The slower suites end with a plan the same way (tap_finish of tests/lib/tap.sh
# from an EXIT trap); the guest's stream (tests/guest/run.sh) and make check's own end
# with a plan too, and CI passes make check's whole output to prove.

# --- one cache directory ----------------------------------------------------------
# tests/debug-kernel/build.sh reads MSG_SLOT_CACHE, which run-suite.sh sets from
# MSGSLOT_CACHE (the file itself stays unchanged: its cache holds a 12-minute build).
bad=()
while IFS= read -r f; do
    [[ $f == tests/debug-kernel/build.sh ]] && continue
    grep -q 'MSGSLOT_CACHE' "$f" || bad+=("$f")
done < <({ git ls-files 2> /dev/null || find . -path ./build -prune -o -type f -printf '%P\n'; } |
         xargs grep -l '\.cache' 2> /dev/null | xargs grep -l 'message_slot' 2> /dev/null |
         grep -Ev '\.md$' || true)
if ! grep -q 'MSG_SLOT_CACHE=.*MSGSLOT_CACHE' tests/vm/run-suite.sh; then
    bad+=("tests/vm/run-suite.sh does not pass MSGSLOT_CACHE on to build.sh")
fi
if [[ ${#bad[@]} -eq 0 ]]; then
    tap_ok cache-variable
else
    tap_not_ok cache-variable "ignore MSGSLOT_CACHE: ${bad[*]}"
fi

tap_exit
