#!/usr/bin/env bash
# Builds a course submission ZIP the way a grader does, for one kernel:
#   build-submission.sh <zip> <kdir> <out>
# runs the first two commands of README's "For graders" block (make a
# folder, unzip the ZIP into it; plain `make`) with `uname -r` giving the
# kernel's release, so the Makefile's default /lib/modules/$(uname -r)/build
# is <kdir>, as on a machine running that kernel. The built folder becomes
# <out>. Fails on any compiler or modpost warning, or when the module or a
# CLI is missing; prints <out> on success. make's output: <out>.log.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
zip=${1:?usage: build-submission.sh <zip> <kdir> <out>}
kdir=${2:?usage: build-submission.sh <zip> <kdir> <out>}
out=${3:?usage: build-submission.sh <zip> <kdir> <out>}

die() { printf 'build-submission.sh: error: %s\n' "$*" >&2; exit 1; }

[[ -f $zip ]] || die "no ZIP at $zip"
zip=$(readlink -f "$zip")
release=$(sed -n 's/^#define UTS_RELEASE "\(.*\)"$/\1/p' "$kdir/include/generated/utsrelease.h" 2>/dev/null) ||
    true
[[ -n $release ]] || die "$kdir has no include/generated/utsrelease.h: not a kernel build tree"
[[ $(readlink -f "/lib/modules/$release/build") == "$(readlink -f "$kdir")" ]] ||
    die "/lib/modules/$release/build is not $kdir: install the headers package (tests/vm/kernels.sh)"

# "mkdir <dir> && cd <dir> && unzip -q ../<name>.zip" and "make".
commands=$("$TOP/tests/vm/readme-block.sh" graders-host)
shape='^mkdir ([^ ]+) && cd [^ ]+ && unzip -q \.\./([^ ]+\.zip)'$'\n''make$'
[[ $commands =~ $shape ]] ||
    die "README's For graders block does not start with 'mkdir D && cd D && unzip -q ../N.zip' and 'make': $commands"
folder=${BASH_REMATCH[1]} zip_name=${BASH_REMATCH[2]}

scratch=$out.scratch
rm -rf "$out" "$scratch"
mkdir -p "$scratch/bin"
cp "$zip" "$scratch/$zip_name"
cat > "$scratch/bin/uname" <<UNAME
#!/bin/sh
[ "\$*" = -r ] && { echo '$release'; exit 0; }
exec $(command -v uname) "\$@"
UNAME
chmod +x "$scratch/bin/uname"
if ! (cd "$scratch" && PATH=$scratch/bin:$PATH bash -euc "$commands") > "$out.log" 2>&1; then
    cat "$out.log" >&2
    die "the README's commands failed on the unzipped submission for $release"
fi
mv "$scratch/$folder" "$out"
rm -rf "$scratch"
if grep -qi 'warning' "$out.log"; then
    cat "$out.log" >&2
    die "make printed warnings for $release (see above)"
fi
for f in message_slot.ko message_sender message_reader; do
    [[ -f $out/$f ]] || die "make left no $f for $release"
done
echo "$out"
