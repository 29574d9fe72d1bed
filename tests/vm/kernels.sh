#!/usr/bin/env bash
# Idempotent host setup for the VM harness: installs the tools it needs from
# the Debian archive, finds the newest 6.1 and 6.12 cloud kernels whose
# headers are also in the archive, installs those headers and caches the
# kernel images (vmlinuz only: installing the image package would run
# grub/initramfs hooks we neither need nor want).
#
# stdout: one line per kernel, "<short-name> <vmlinuz> <kdir>".
# All chatter goes to stderr.
set -euo pipefail

CACHE_DIR=${MSGSLOT_CACHE:-$HOME/.cache/message_slot}
KERNEL_CACHE=$CACHE_DIR/kernels
SERIES=(6.1 6.12)
TOOLS=(qemu-system-x86 busybox-static cpio gzip gcc make libc6-dev binutils)
# A longer wait than apt's default: another session may be mid-install.
APT_OPTS=(-o DPkg::Lock::Timeout=900 -o Acquire::Retries=3)

log() { printf 'kernels.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

if [[ $(id -u) -ne 0 ]]; then
    die "needs root (apt-get install)"
fi
export DEBIAN_FRONTEND=noninteractive

is_installed() {
    dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

apt_updated=0
apt_update() {
    if [[ $apt_updated -eq 0 ]]; then
        log "apt-get update"
        apt-get "${APT_OPTS[@]}" update -qq >&2
        apt_updated=1
    fi
}

lists_are_fresh() {
    [[ -n $(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -1440 2>/dev/null | head -n1) ]]
}

apt_install() {
    log "apt-get install $*"
    apt-get "${APT_OPTS[@]}" install -y -qq --no-install-recommends "$@" >&2
}

# Prints "<abi> <package> <version>" for every 6.1/6.12 cloud image and
# headers package the archive really has (virtual and stale names have no
# version). One apt-cache call each: they cost half a second apiece.
archive_kernel_packages() {
    local names
    names=$(apt-cache pkgnames linux-image-6.1 |
            grep -E '^linux-image-6\.(1|12)\.[0-9][^[:space:]]*-cloud-amd64$' |
            sed -e 's/^linux-image-//' -e 's/-cloud-amd64$//' || true)
    [[ -n $names ]] || return 0
    # shellcheck disable=SC2086
    apt-cache show --no-all-versions \
        $(for abi in $names; do echo "linux-image-$abi-cloud-amd64 linux-headers-$abi-cloud-amd64"; done) \
        2>/dev/null |
        awk '/^Package: /{p=$2} /^Version: /{abi=p; sub(/^linux-(image|headers)-/,"",abi); sub(/-cloud-amd64$/,"",abi); print abi, p, $2}' || true
}

# Newest "<abi>" of a series (e.g. "6.1.0-56", "6.12.117+deb12") whose image
# and headers both exist in the archive with the same version.
newest_abi() {
    local series=$1 abi
    abi=$(printf '%s\n' "$ARCHIVE_KERNELS" |
          awk -v s="$series." 'index($1, s) == 1 {
                 kind = ($2 ~ /^linux-image-/) ? "img" : "hdr"; v[$1, kind] = $3; seen[$1] = 1 }
               END { for (a in seen) if (v[a, "img"] != "" && v[a, "img"] == v[a, "hdr"]) print a }' |
          sort -rV | head -n1)
    [[ -n $abi ]] && echo "$abi"
}

if ! lists_are_fresh; then
    apt_update
fi

missing=()
for pkg in "${TOOLS[@]}"; do
    is_installed "$pkg" || missing+=("$pkg")
done
if [[ ${#missing[@]} -gt 0 ]]; then
    apt_install "${missing[@]}" || { apt_update; apt_install "${missing[@]}"; }
fi

ARCHIVE_KERNELS=$(archive_kernel_packages)
for series in "${SERIES[@]}"; do
    if ! abi=$(newest_abi "$series"); then
        apt_update
        ARCHIVE_KERNELS=$(archive_kernel_packages)
        abi=$(newest_abi "$series") || die "no linux-image-$series.*-cloud-amd64 with matching headers in the archive"
    fi
    krel=$abi-cloud-amd64
    kdir=/usr/src/linux-headers-$krel

    if ! is_installed "linux-headers-$krel" || [[ ! -f $kdir/Makefile ]]; then
        apt_install "linux-headers-$krel"
    fi
    [[ -f $kdir/Makefile ]] || die "$kdir/Makefile missing after installing linux-headers-$krel"

    image_dir=$KERNEL_CACHE/$krel
    if [[ ! -s $image_dir/vmlinuz ]]; then
        log "fetching linux-image-$krel"
        mkdir -p "$KERNEL_CACHE"
        tmp=$(mktemp -d "$KERNEL_CACHE/.fetch.XXXXXX")
        # apt-get download writes into the current directory (as root it
        # notes that the _apt sandbox is not used, which is harmless).
        (cd "$tmp" && apt-get "${APT_OPTS[@]}" download -q "linux-image-$krel" >&2)
        deb=$(ls "$tmp"/linux-image-"$krel"_*.deb)
        dpkg-deb -x "$deb" "$tmp/root"
        mkdir -p "$image_dir"
        cp "$tmp/root/boot/vmlinuz-$krel" "$image_dir/vmlinuz.new"
        # The config tells what the test kernel enables when reading a log.
        cp "$tmp/root/boot/config-$krel" "$image_dir/config"
        mv "$deb" "$image_dir/"
        mv "$image_dir/vmlinuz.new" "$image_dir/vmlinuz"
        rm -rf "$tmp"
    fi
    printf '%s %s %s\n' "$series" "$image_dir/vmlinuz" "$kdir"
done
