#!/usr/bin/env bash
# Build (once) a debug kernel from Debian's linux-source-6.1: x86_64 defconfig
# merged with debug.config (KASAN, lockdep, kmemleak, UBSAN, fault injection),
# trimmed to what an initramfs-only QEMU guest needs.
#
# The result is cached outside the checkout, keyed by the fragment, the source
# package version and the compiler, so a second run returns instantly.
# The tree doubles as KDIR for `make -C <kdir> M=<dir> modules`.
#
# Last stdout line (parsed by tests/vm):   debug <path/to/bzImage> <kdir>
# Progress goes to stderr; the full build log stays in <cache>/<key>/build.log.
#
# Environment: MSG_SLOT_CACHE (default ~/.cache/message_slot), JOBS (default nproc).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
fragment=$here/debug.config
source_pkg=linux-source-6.1
source_tarball=/usr/src/linux-source-6.1.tar.xz
base_config=x86_64_defconfig
# Bump when the way the tree is configured/built changes (invalidates the cache).
recipe_version=1
cache_root=${MSG_SLOT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/message_slot}/debug-kernel
jobs=${JOBS:-$(nproc)}

log() { printf 'debug-kernel: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

ensure_packages() {
    local missing=() p
    for p in "$@"; do have_pkg "$p" || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing ${missing[*]}"
    # Other helpers use apt concurrently: wait for the dpkg lock instead of failing.
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y \
        --no-install-recommends "${missing[@]}" >&2 ||
        die "apt-get install ${missing[*]} failed"
}

print_result() {
    local tree=$1
    log "kernel $(cat "$tree/include/config/kernel.release"), built in $(cat "$2/build-seconds")s (cached)"
    printf 'debug %s %s\n' "$tree/arch/x86/boot/bzImage" "$tree"
}

ensure_packages "$source_pkg"
source_version=$(dpkg-query -W -f='${Version}' "$source_pkg")
key=$( { printf 'recipe=%s base=%s source=%s cc=%s\n' "$recipe_version" "$base_config" \
            "$source_version" "$(gcc --version | head -n1)"; cat "$fragment"; } |
       sha256sum | cut -c1-16)
dir=$cache_root/$key
tree=$dir/linux-source-6.1
done_marker=$dir/complete

# Fast path: a finished build with this key.
if [ -f "$done_marker" ]; then
    print_result "$tree" "$dir"
    exit 0
fi

mkdir -p "$dir"
exec 9>"$dir/lock"
if ! flock -n 9; then
    log "another build of $key is running; waiting for it"
    flock 9
fi
if [ -f "$done_marker" ]; then # the other run finished it
    print_result "$tree" "$dir"
    exit 0
fi

ensure_packages build-essential bc bison flex libelf-dev libssl-dev xz-utils

start=$(date +%s)
buildlog=$dir/build.log
: >"$buildlog"
fail() {
    log "build failed; last lines of $buildlog:"
    tail -n 40 "$buildlog" >&2
    exit 1
}

# No completed-marker means any existing tree is a leftover of an interrupted
# build: start from a clean extraction so no half-written object survives.
log "building $key ($source_pkg $source_version, $jobs jobs) in $dir"
rm -rf "$tree"
log "extracting $source_tarball"
tar -C "$dir" -xaf "$source_tarball" || die "extracting $source_tarball failed"

kmake() { make -C "$tree" ARCH=x86_64 "$@" >>"$buildlog" 2>&1; }

log "configuring: $base_config + $(basename "$fragment")"
kmake "$base_config" || fail
(cd "$tree" && ./scripts/kconfig/merge_config.sh -m .config "$fragment") >>"$buildlog" 2>&1 || fail
kmake olddefconfig || fail

# Kconfig silently drops options whose dependencies are unmet; refuse that.
unmet=0
while IFS= read -r line; do
    case $line in
    CONFIG_*=*)
        grep -qxF -- "$line" "$tree/.config" || { log "not applied: $line"; unmet=1; } ;;
    "# CONFIG_"*" is not set")
        opt=${line#\# }; opt=${opt%% *}
        ! grep -q "^$opt=[ym]" "$tree/.config" || { log "still enabled: $opt"; unmet=1; } ;;
    esac
done <"$fragment"
[ $unmet -eq 0 ] || die "config fragment not fully applied (see above)"

log "compiling bzImage + modules (log: $buildlog)"
kmake -j"$jobs" bzImage modules || fail

# Sanity: the tree must be usable as KDIR for out-of-tree modules.
[ -f "$tree/Module.symvers" ] || die "Module.symvers missing after build"
[ -f "$tree/arch/x86/boot/bzImage" ] || die "bzImage missing after build"

echo $(($(date +%s) - start)) >"$dir/build-seconds"
touch "$done_marker"
log "built in $(cat "$dir/build-seconds")s"
printf 'debug %s %s\n' "$tree/arch/x86/boot/bzImage" "$tree"
