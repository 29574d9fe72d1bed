#!/usr/bin/env bash
# Host suite "deb": the Debian packages, as an admin installs them.
#   build            `make deb` (dpkg-buildpackage, debhelper, dh-dkms) on a
#                    private copy of the tree gives message-slot-dkms and
#                    message-slot-utils, both of MSG_SLOT_VERSION
#   lintian          lintian reports no error on them
#   apt-install      `apt-get install ./*.deb` into a Debian 12 chroot with
#                    the 6.1 headers (tests/vm/debian-chroot.sh, cached)
#   dkms-built       DKMS built and installed the module for those headers,
#                    with MODULE_VERSION = MSG_SLOT_VERSION
#   clis-run         message_sender/message_reader run there (--version, -h)
#   man-pages        `man -w` finds message_sender(1), message_reader(1),
#                    npheap(3) and message_slot(4)
#   header-library   a program including <message_slot.h> and <npheap.h>
#                    builds and links with -lnpheap there
#   purge            `apt-get purge` removes every file the packages or DKMS
#                    put there
# Needs root (chroot, debootstrap for the first run).
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
work=$(mktemp -d /tmp/deb-suite.XXXXXX)
TAP_SUITE=deb
# shellcheck source=tests/lib/tap.sh
. "$top/tests/lib/tap.sh"
# Every exit ends the TAP stream with its plan.
trap 'tap_finish; rm -rf "$work"' EXIT
oneline() { tr '\n' '|' < "$1" | cut -c1-240; }
step_start=$SECONDS
took() { echo "# deb: $1 took $((SECONDS - step_start))s"; step_start=$SECONDS; }

if [[ $(id -u) -ne 0 ]]; then
    tap_not_ok setup "needs root (chroot)"
    exit 1
fi
tools=(dpkg-buildpackage dh dh_dkms lintian fakeroot)
for t in "${tools[@]}"; do
    command -v "$t" > /dev/null && continue
    echo "# installing dpkg-dev debhelper dh-dkms lintian fakeroot"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y \
        --no-install-recommends dpkg-dev debhelper dh-dkms lintian fakeroot \
        > "$work/apt.log" 2>&1 ||
        { tap_details "$work/apt.log"; tap_not_ok setup "apt-get install failed"; exit 1; }
    break
done
version=$(sed -n 's/^#define MSG_SLOT_VERSION[[:space:]]*"\(.*\)"$/\1/p' message_slot.h)

# --- make deb ----------------------------------------------------------------------
tree=$work/tree
mkdir -p "$tree"
git ls-files -z | xargs -0 cp --parents -t "$tree" 2> /dev/null ||
    tar -C "$top" --exclude=./build --exclude=./.git -cf - . | tar -C "$tree" -xf -
if ! make -C "$tree" deb > "$work/deb.log" 2>&1; then
    tap_details "$work/deb.log"
    tap_not_ok build "make deb failed: $(tail -n 1 "$work/deb.log")"
    exit 1
fi
debs=()
for p in message-slot-dkms_${version}_all message-slot-utils_${version}_amd64; do
    [[ -f $tree/build/deb/$p.deb ]] && debs+=("$tree/build/deb/$p.deb")
done
if [[ ${#debs[@]} -ne 2 ]]; then
    tap_not_ok build "want message-slot-dkms and message-slot-utils of version $version, got: $(cd "$tree/build/deb" && ls ./*.deb | tr '\n' ' ')"
    exit 1
fi
tap_ok build
took "make deb"

lintian --tag-display-limit 0 "$tree"/build/deb/*.changes > "$work/lintian.log" 2>&1
tap_details "$work/lintian.log"
if grep -q '^E: ' "$work/lintian.log"; then
    tap_not_ok lintian "$(grep -c '^E: ' "$work/lintian.log") errors, first: $(grep -m1 '^E: ' "$work/lintian.log")"
else
    tap_ok lintian
fi
took lintian

# --- a Debian 12 chroot with the 6.1 headers ---------------------------------------
kdir=$(tests/vm/kernels.sh 6.1 2> "$work/kernels.log" | awk '$1 == "6.1" { print $3 }')
krel=$(sed -n 's/^#define UTS_RELEASE "\(.*\)"$/\1/p' "$kdir/include/generated/utsrelease.h" 2> /dev/null)
if [[ -z $krel ]]; then
    tap_details "$work/kernels.log"
    tap_not_ok chroot "no 6.1 headers from tests/vm/kernels.sh"
    exit 1
fi
if ! tarball=$(tests/vm/debian-chroot.sh "$krel" 2> "$work/chroot.log"); then
    tap_details "$work/chroot.log"
    tap_not_ok chroot "tests/vm/debian-chroot.sh $krel failed"
    exit 1
fi
root=$work/root
mkdir -p "$root"
tar -C "$root" -xzf "$tarball" || { tap_not_ok chroot "cannot unpack $tarball"; exit 1; }
mkdir -p "$root/tmp/debs"
cp "${debs[@]}" "$root/tmp/debs/"
took "chroot unpacked"

# in_root <command...>: runs a shell command in the chroot, with /proc, in a
# mount namespace of its own (nothing stays mounted on the host).
in_root() {
    unshare --mount --fork sh -c 'mount -t proc proc "$1/proc" && shift && exec chroot "$@"' \
        sh "$root" "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
        DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 /bin/sh -c "$1"
}
# What the file system holds, without package and log bookkeeping.
snapshot() {
    in_root 'find / -xdev \( -path /proc -o -path /tmp -o -path /var/cache -o -path /var/log \
        -o -path /var/lib/dpkg -o -path /var/lib/apt -o -path /root \) -prune -o -print' |
        LC_ALL=C sort > "$1"
}
snapshot "$work/before.list"

if in_root 'cd /tmp/debs && apt-get install -y ./*.deb' > "$work/install.log" 2>&1; then
    tap_ok apt-install
else
    tap_details "$work/install.log"
    tap_not_ok apt-install "apt-get install ./*.deb failed: $(tail -n 1 "$work/install.log")"
    exit 1
fi
took "apt-get install ./*.deb (DKMS build)"

status=$(in_root "dkms status -m message_slot -v $version -k $krel" 2>&1)
ko=$(cd "$root" && ls lib/modules/"$krel"/updates/dkms/message_slot.ko* 2> /dev/null | head -n 1)
modver=
[[ -n $ko ]] && modver=$(in_root "modinfo -F version /$ko" 2>&1)
if [[ $status != *"$krel"*installed* ]]; then
    tap_details "$work/install.log"
    tap_not_ok dkms-built "dkms status: '$status'"
elif [[ -z $ko ]]; then
    tap_not_ok dkms-built "no message_slot.ko under /lib/modules/$krel/updates/dkms"
elif [[ $modver != "$version" ]]; then
    tap_not_ok dkms-built "modinfo -F version /$ko: '$modver', want '$version'"
else
    tap_ok dkms-built
fi

if out=$(in_root 'message_sender --version && message_reader --version &&
        message_reader -h > /dev/null && message_sender -h > /dev/null' 2>&1) &&
    [[ $out == "message_sender $version"$'\n'"message_reader $version" ]]; then
    tap_ok clis-run
else
    tap_not_ok clis-run "$(tr '\n' '|' <<<"$out")"
fi

if out=$(in_root 'man -w 1 message_sender && man -w 1 message_reader &&
        man -w 3 npheap && man -w 4 message_slot' 2>&1); then
    tap_ok man-pages
else
    tap_not_ok man-pages "$(tr '\n' '|' <<<"$out")"
fi

cat > "$root/tmp/prog.c" <<'EOF'
#include <message_slot.h>
#include <npheap.h>
int main(void)
{
	return MSG_SLOT_CHANNEL == 0 || npheap_getsize(-1, 1) != -1;
}
EOF
if out=$(in_root 'cc -std=gnu11 -Wall -Werror /tmp/prog.c -lnpheap -o /tmp/prog && /tmp/prog' 2>&1); then
    tap_ok header-library
else
    tap_not_ok header-library "$(tr '\n' '|' <<<"$out")"
fi

if ! in_root 'apt-get purge -y message-slot-dkms message-slot-utils' > "$work/purge.log" 2>&1; then
    tap_details "$work/purge.log"
    tap_not_ok purge "apt-get purge failed: $(tail -n 1 "$work/purge.log")"
else
    snapshot "$work/after.list"
    left=$(comm -13 "$work/before.list" "$work/after.list")
    gone=$(comm -23 "$work/before.list" "$work/after.list")
    if [[ -n $left ]]; then
        tap_not_ok purge "left behind: $(head -n 8 <<<"$left" | tr '\n' ' ')"
    elif [[ -n $gone ]]; then
        tap_not_ok purge "removed what was there before: $(head -n 8 <<<"$gone" | tr '\n' ' ')"
    elif in_root 'dpkg -l message-slot-dkms message-slot-utils' 2> /dev/null | grep -qE '^[irh][a-zA-Z] '; then
        tap_not_ok purge "dpkg still lists the packages"
    else
        tap_ok purge
    fi
fi
took "apt-get purge"

tap_exit
