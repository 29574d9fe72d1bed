#!/usr/bin/env bash
# Builds message_slot.ko out of tree for one kernel:
#   build-module.sh <name> <kdir>   ->  build/<name>/message_slot.ko (path on stdout)
# Kbuild cannot put objects outside M= before 6.13, so the sources are copied
# into build/<name>/ (only when changed, so kbuild's incremental build works)
# and built there. Any compiler or modpost warning fails the build.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
name=${1:?usage: build-module.sh <name> <kdir>}
kdir=${2:?usage: build-module.sh <name> <kdir>}
out=$TOP/build/$name

die() { printf 'build-module.sh: error: %s\n' "$*" >&2; exit 1; }

[[ -f $kdir/Makefile ]] || die "$kdir is not a kernel build tree"
[[ -f $TOP/message_slot.c ]] || die "$TOP/message_slot.c does not exist yet"

copy_if_changed() {
    local src=$1 dst=$2
    mkdir -p "$(dirname "$dst")"
    cmp -s "$src" "$dst" || cp "$src" "$dst"
}

# The module is every top-level *.c/*.h that is not a CLI or kbuild's own
# output (a *.mod.c left by `make` for another kernel carries that kernel's
# symbol versions). Its object list comes from
# the top-level Kbuild file, else from the Kbuild half of the top-level
# Makefile (kbuild reads it with KERNELRELEASE set), else a single-object
# default.
sources=()
for f in "$TOP"/*.c "$TOP"/*.h; do
    [[ -e $f ]] || continue
    case ${f##*/} in message_sender.c|message_reader.c|*.mod.c) continue ;; esac
    sources+=("${f##*/}")
done
for f in "${sources[@]}"; do
    copy_if_changed "$TOP/$f" "$out/$f"
done
if [[ -f $TOP/Kbuild ]]; then
    copy_if_changed "$TOP/Kbuild" "$out/Kbuild"
elif [[ -f $TOP/Makefile ]] && grep -q '^obj-m' "$TOP/Makefile"; then
    copy_if_changed "$TOP/Makefile" "$out/Kbuild"
else
    printf '%s\n' 'obj-m := message_slot.o' > "$out/Kbuild.new"
    copy_if_changed "$out/Kbuild.new" "$out/Kbuild"
    rm -f "$out/Kbuild.new"
fi

if ! make -C "$kdir" M="$out" modules > "$out/build.log" 2>&1; then
    cat "$out/build.log" >&2
    die "module build failed against $kdir"
fi
# Removing the objects makes the next run recompile and warn again: kbuild
# would otherwise skip the unchanged file and the warning would vanish.
if grep -qi 'warning' "$out/build.log"; then
    cat "$out/build.log" >&2
    rm -f "$out/message_slot.ko" "$out"/*.o
    die "module build against $kdir printed warnings (see above)"
fi
[[ -f $out/message_slot.ko ]] || die "no message_slot.ko produced in $out"
echo "$out/message_slot.ko"
