#!/usr/bin/env bash
# Idempotent host setup for the VM harness: installs the tools it needs from
# the Debian archive, finds the newest 6.1 and 6.12 cloud kernels whose
# headers are also in the archive, installs those headers and caches the
# kernel images (vmlinuz only: installing the image package would run
# grub/initramfs hooks we neither need nor want).
#
#   kernels.sh [series...]     e.g. "kernels.sh 6.1": only that kernel
#
# Root is needed only to install what is missing: as another user, a kernel
# whose image is cached and whose headers are installed is used as is, and
# anything missing ends with the exact command to run as root.
#
# stdout: one line per kernel, "<short-name> <vmlinuz> <kdir>".
# Progress (one line per step: what is fetched, its size, elapsed time) goes
# to stderr; apt's own output to <cache>/apt.log, shown when a step fails.
set -euo pipefail

CACHE_DIR=${MSGSLOT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/message_slot}
KERNEL_CACHE=$CACHE_DIR/kernels
ALL_SERIES=(6.1 6.12)
TOOLS=(qemu-system-x86 busybox-static cpio gzip gcc make libc6-dev binutils
       gcc-multilib liburing-dev python3-minimal
       python3-pip python3-setuptools python3-wheel)
# A longer wait than apt's default: another session may be mid-install.
APT_OPTS=(-o DPkg::Lock::Timeout=900 -o Acquire::Retries=3)

log() { printf 'kernels.sh: [%3ss] %s\n' "$SECONDS" "$*" >&2; }
die() { printf 'kernels.sh: error: %s\n' "$*" >&2; exit 1; }

SERIES=()
for arg in "$@"; do
    case " ${ALL_SERIES[*]} " in
        *" $arg "*) SERIES+=("$arg") ;;
        *) printf 'kernels.sh: skipping unknown kernel series %s (known: %s)\n' "$arg" "${ALL_SERIES[*]}" >&2 ;;
    esac
done
if [[ ${#SERIES[@]} -eq 0 ]]; then
    [[ $# -eq 0 ]] || die "no known kernel series in: $*"
    SERIES=("${ALL_SERIES[@]}")
fi

mkdir -p "$CACHE_DIR"
APT_LOG=$CACHE_DIR/apt.log
ROOT=0
[[ $(id -u) -eq 0 ]] && ROOT=1
export DEBIAN_FRONTEND=noninteractive

is_installed() {
    dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

# run_logged <what> <command...>: the command's output goes to the apt log,
# shown (its tail) only when it fails.
run_logged() {
    local what=$1 start=$SECONDS; shift
    printf '\n=== %s: %s\n' "$(date -u +%FT%TZ)" "$*" >> "$APT_LOG"
    if ! "$@" >> "$APT_LOG" 2>&1; then
        tail -n 20 "$APT_LOG" | sed 's/^/kernels.sh: | /' >&2
        log "$what failed (full log $APT_LOG)"
        return 1
    fi
    log "$what done in $((SECONDS - start))s"
}

# human <bytes>: "12.3 MB"
human() { awk -v b="${1:-0}" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }

apt_updated=0
apt_update() {
    if [[ $apt_updated -eq 0 ]]; then
        log "apt-get update (package lists)"
        run_logged "apt-get update" apt-get "${APT_OPTS[@]}" update
        apt_updated=1
    fi
}

lists_are_fresh() {
    [[ -n $(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -1440 2>/dev/null | head -n1) ]]
}

apt_install() {
    local size
    # What apt would download (URI, name, size, hash per file).
    size=$(apt-get install -qq --print-uris --no-install-recommends "$@" 2>/dev/null |
           awk '{ s += $3 } END { print s + 0 }')
    log "apt-get install $* ($(human "$size") to download)"
    run_logged "apt-get install" apt-get "${APT_OPTS[@]}" install -y --no-install-recommends "$@"
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
    # shellcheck disable=SC2046,SC2086  # package names, meant to split
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

# newest_cached <series>: "<krel>" of the newest kernel of the series whose
# image is cached and whose headers are installed (what a non-root run uses).
newest_cached() {
    local krel dir
    for krel in $(for dir in "$KERNEL_CACHE/$1".[0-9]*-cloud-amd64; do
                      [[ -d $dir ]] && echo "${dir##*/}"; done | sort -rV); do
        [[ -s $KERNEL_CACHE/$krel/vmlinuz && -f /usr/src/linux-headers-$krel/Makefile ]] || continue
        echo "$krel"
        return 0
    done
    return 1
}

fetch_image() {
    local krel=$1 image_dir=$KERNEL_CACHE/$1 tmp deb size
    size=$(apt-cache show --no-all-versions "linux-image-$krel" 2>/dev/null | awk '/^Size: /{print $2; exit}')
    log "fetching linux-image-$krel ($(human "$size")) into $KERNEL_CACHE"
    mkdir -p "$KERNEL_CACHE"
    tmp=$(mktemp -d "$KERNEL_CACHE/.fetch.XXXXXX")
    # apt-get download writes into the current directory (as root it
    # notes that the _apt sandbox is not used, which is harmless).
    (cd "$tmp" && run_logged "download" apt-get "${APT_OPTS[@]}" download "linux-image-$krel") ||
        { rm -rf "$tmp"; return 1; }
    deb=$(ls "$tmp"/linux-image-"$krel"_*.deb)
    dpkg-deb -x "$deb" "$tmp/root"
    mkdir -p "$image_dir"
    cp "$tmp/root/boot/vmlinuz-$krel" "$image_dir/vmlinuz.new"
    # The config tells what the test kernel enables when reading a log.
    cp "$tmp/root/boot/config-$krel" "$image_dir/config"
    mv "$deb" "$image_dir/"
    mv "$image_dir/vmlinuz.new" "$image_dir/vmlinuz"
    rm -rf "$tmp"
}

missing=()
for pkg in "${TOOLS[@]}"; do
    is_installed "$pkg" || missing+=("$pkg")
done

# --- not root: use what is there, or say exactly what to run ---------------
if [[ $ROOT -eq 0 ]]; then
    lines=()
    for series in "${SERIES[@]}"; do
        # The newest 6.1.x must not match 6.12.x: the glob is "<series>.<digit>".
        if krel=$(newest_cached "$series"); then
            lines+=("$series $KERNEL_CACHE/$krel/vmlinuz /usr/src/linux-headers-$krel")
            continue
        fi
        # Headers installed but no image yet: downloading needs no root.
        krel=$(for dir in /usr/src/linux-headers-"$series".[0-9]*-cloud-amd64; do
                   [[ -d $dir ]] && echo "${dir##*/linux-headers-}"; done | sort -rV | head -n1)
        if [[ -n $krel && -f /usr/src/linux-headers-$krel/Makefile ]] &&
            apt-cache show "linux-image-$krel" > /dev/null 2>&1 && fetch_image "$krel"; then
            lines+=("$series $KERNEL_CACHE/$krel/vmlinuz /usr/src/linux-headers-$krel")
            continue
        fi
        missing+=("linux-headers-$series")
    done
    if [[ ${#missing[@]} -gt 0 ]]; then
        need=() series_missing=()
        for pkg in "${missing[@]}"; do
            case $pkg in
                linux-headers-*) series_missing+=("${pkg#linux-headers-}") ;;
                *) need+=("$pkg") ;;
            esac
        done
        msg="missing:${need[*]:+ ${need[*]}}${series_missing[*]:+ the Debian ${series_missing[*]} kernel (image and headers)}."
        if [[ ${#series_missing[@]} -gt 0 ]]; then
            die "$msg Run once as root: sudo $0 ${series_missing[*]}"
        fi
        die "$msg Run once: sudo apt-get install --no-install-recommends ${need[*]}"
    fi
    printf '%s\n' "${lines[@]}"
    exit 0
fi

# --- root: install what is missing -------------------------------------------
if ! lists_are_fresh; then
    apt_update
fi
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

    if [[ ! -s $KERNEL_CACHE/$krel/vmlinuz ]]; then
        fetch_image "$krel" || die "could not fetch linux-image-$krel"
    fi
    printf '%s %s %s\n' "$series" "$KERNEL_CACHE/$krel/vmlinuz" "$kdir"
done
