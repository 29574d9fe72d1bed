#!/usr/bin/env bash
# A Debian 12 root file system for installing the project's .deb packages
# into, as an admin's machine would have them: dkms, man-db, a C toolchain
# (libc6-dev) and the headers of the 6.1 kernel that tests/vm/kernels.sh
# picks, with that kernel's module index (so DKMS builds the module for it
# on install). debootstrap from Debian's archive, the first time only: the
# result is cached as a tarball under $MSGSLOT_CACHE/chroot/, keyed by the
# headers' release and this script's recipe.
#
#   debian-chroot.sh <kernel release>     e.g. 6.1.0-57-cloud-amd64
#
# stdout: the tarball's path. Progress goes to stderr; debootstrap's and
# apt's output to <cache>/chroot/build.log, shown when a step fails.
set -euo pipefail

krel=${1:?usage: debian-chroot.sh <kernel release>}
CACHE_DIR=${MSGSLOT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/message_slot}
dir=$CACHE_DIR/chroot
MIRROR=${MSGSLOT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY=${MSGSLOT_DEBIAN_SECURITY:-http://deb.debian.org/debian-security}
PACKAGES=(dkms "linux-headers-$krel" man-db libc6-dev)
# A new recipe is a new tarball.
key=$(sed -n '/^PACKAGES=/,$p' "${BASH_SOURCE[0]}" | md5sum | cut -c1-8)
tarball=$dir/bookworm-$krel-$key.tar.gz

log() { printf 'debian-chroot.sh: [%3ss] %s\n' "$SECONDS" "$*" >&2; }
die() {
    printf 'debian-chroot.sh: error: %s\n' "$*" >&2
    [[ -f $dir/build.log ]] && tail -n 20 "$dir/build.log" | sed 's/^/  /' >&2
    exit 1
}

if [[ -f $tarball ]]; then
    echo "$tarball"
    exit 0
fi
[[ $(id -u) -eq 0 ]] || die "building $tarball needs root (debootstrap)"
mkdir -p "$dir"
if ! command -v debootstrap > /dev/null; then
    log "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y \
        --no-install-recommends debootstrap >> "$dir/build.log" 2>&1 ||
        die "apt-get install debootstrap failed"
fi

root=$(mktemp -d "$dir/root.XXXXXX")
cleanup() {
    umount "$root/proc" 2> /dev/null || true
    rm -rf "$root"
}
trap cleanup EXIT
log "debootstrap bookworm from $MIRROR"
: > "$dir/build.log"
debootstrap --variant=minbase bookworm "$root" "$MIRROR" >> "$dir/build.log" 2>&1 ||
    die "debootstrap failed"
log "installing ${PACKAGES[*]} into it"
mount -t proc proc "$root/proc"
# Nothing starts services in a chroot.
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2> /dev/null || true
# The kernel's updates (the headers kernels.sh picks) come from these too.
cat > "$root/etc/apt/sources.list" <<EOF
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb $SECURITY bookworm-security main
EOF
chroot "$root" apt-get -o Acquire::Retries=3 update >> "$dir/build.log" 2>&1 ||
    die "apt-get update in the chroot failed"
chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get -o Acquire::Retries=3 install -y \
    --no-install-recommends "${PACKAGES[@]}" >> "$dir/build.log" 2>&1 ||
    die "apt-get install ${PACKAGES[*]} in the chroot failed"
chroot "$root" apt-get clean >> "$dir/build.log" 2>&1
# The kernel's module index, as its image package would have made it.
chroot "$root" depmod -a "$krel" >> "$dir/build.log" 2>&1 || die "depmod in the chroot failed"
umount "$root/proc"
log "packing $tarball"
tar -C "$root" -czf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball" ||
    die "tar failed"
log "done ($(du -h "$tarball" | cut -f1))"
echo "$tarball"
