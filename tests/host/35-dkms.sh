#!/usr/bin/env bash
# Host suite "dkms": the module as DKMS builds it on a user's machine.
#   build-<k>   Debian's `dkms build` of this tree (dkms.conf) against the
#               Debian 6.1 and 6.12 headers, in a private DKMS tree (the
#               system's /var/lib/dkms and /lib/modules are not touched)
#   load-<k>, roundtrip-<k>, npheap-node-<k>, unload-<k>
#               that module, loaded in a VM of the same kernel
#   readme-install-<k>
#               there, installed under /lib/modules and depmod'ed, README's
#               "Install on a real host" commands from `sudo modprobe` to
#               the censored write, as README shows them
# MSGSLOT_SKIP_DKMS_VM=1 skips the VM part.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
work=$(mktemp -d /tmp/dkms-suite.XXXXXX)
TAP_SUITE=dkms
# shellcheck source=tests/lib/tap.sh
. "$top/tests/lib/tap.sh"
# Every exit ends the TAP stream with its plan.
trap 'tap_finish; rm -rf "$work"' EXIT

if ! command -v dkms > /dev/null; then
    if [[ $(id -u) -eq 0 ]]; then
        echo "# installing dkms"
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y \
            --no-install-recommends dkms > "$work/apt.log" 2>&1 ||
            { tap_details "$work/apt.log"; tap_not_ok setup "apt-get install dkms failed"; exit 1; }
    else
        tap_not_ok setup "dkms is not installed (sudo apt-get install --no-install-recommends dkms)"
        exit 1
    fi
fi
if ! kernels=$(tests/vm/kernels.sh 2> "$work/kernels.log"); then
    tap_details "$work/kernels.log"
    tap_not_ok setup "tests/vm/kernels.sh failed"
    exit 1
fi

name=$(sed -n 's/^PACKAGE_NAME="\(.*\)"$/\1/p' dkms.conf)
version=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' dkms.conf)
src=$work/src/$name-$version
mkdir -p "$work/tree" "$work/inst"
# What `make dkms-install` copies to /usr/src: the same list, from the Makefile.
files=$(make -s --no-print-directory print-dkms-files)
for f in $files; do
    install -D -m 0644 "$f" "$src/$f"
done
dkms_private=(dkms --dkmstree "$work/tree" --sourcetree "$work/src" --installtree "$work/inst")
if ! "${dkms_private[@]}" add "$name/$version" > "$work/add.log" 2>&1; then
    tap_details "$work/add.log"
    tap_not_ok add "dkms add failed"
    exit 1
fi

mkdir -p build/dkms
vm_kernels=()
while read -r kname _ kdir; do
    [[ -n $kname ]] || continue
    krel=$(sed -n 's/^#define UTS_RELEASE "\(.*\)"$/\1/p' "$kdir/include/generated/utsrelease.h")
    start=$SECONDS
    if "${dkms_private[@]}" build "$name/$version" -k "$krel" --kernelsourcedir "$kdir" \
        > "$work/build-$kname.log" 2>&1; then
        ko=$(find "$work/tree/$name/$version/$krel" -name 'message_slot.ko*' | head -n1)
        rm -rf "build/dkms/$kname"
        mkdir -p "build/dkms/$kname"
        case $ko in
            *.ko.xz) xz -dc "$ko" > "build/dkms/$kname/message_slot.ko" ;;
            *.ko.zst) zstd -qdc "$ko" > "build/dkms/$kname/message_slot.ko" ;;
            *.ko.gz) gzip -dc "$ko" > "build/dkms/$kname/message_slot.ko" ;;
            *) cp "$ko" "build/dkms/$kname/message_slot.ko" ;;
        esac
        magic=$(modinfo -F vermagic "build/dkms/$kname/message_slot.ko" 2>/dev/null)
        if [[ $magic == "$krel "* ]]; then
            echo "# dkms build for $krel: $((SECONDS - start))s"
            tap_ok "build-$kname"
            vm_kernels+=("$kname")
            tests/vm/readme-block.sh install-guest > "build/dkms/$kname/README-install.sh"
        else
            tap_not_ok "build-$kname" "built module's vermagic is '$magic', want $krel"
        fi
    else
        tap_details "$work/build-$kname.log"
        find "$work/tree" -name make.log -path "*$krel*" -exec sed 's/^/# | /' {} \;
        tap_not_ok "build-$kname" "dkms build against $kdir failed"
    fi
done <<<"$kernels"

if [[ ${MSGSLOT_SKIP_DKMS_VM:-0} != 1 ]]; then
    for kname in "${vm_kernels[@]}"; do
        rc=0
        tests/vm/boot.sh --kernel "$kname" --name "$kname" --entry tests/vm/dkms-guest.sh \
            --add "build/dkms/$kname" --timeout 300 --log "build/logs/dkms-$kname.log" \
            > "$work/vm.out" 2> "$work/boot.log" || rc=$?
        # The guest's result lines join this stream (and its plan); a guest
        # plan line would be a second plan.
        grep -v '^1\.\.[0-9]*$' "$work/vm.out"
        tap_tally "$work/vm.out"
        if [[ $rc -ne 0 ]]; then
            tap_details "$work/boot.log"
            TAP_FAIL=$((TAP_FAIL + 1))
            # 124..126: the VM timed out, died or was never built.
            [[ $rc -lt 124 ]] || tap_not_ok "vm-$kname" "boot.sh exited $rc"
        fi
    done
fi
tap_exit
