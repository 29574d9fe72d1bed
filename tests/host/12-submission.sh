#!/usr/bin/env bash
# Host suite "submission": the course ZIP as graders receive it. Each kernel
# is a Debian 6.1 / 6.12 header tree, reached as /lib/modules/$(uname -r)/build.
#   zip-five-files          `make submission` writes exactly the five files
#   zip-reproducible        a second `make submission` gives the same bytes
#   make-<k>                unzipped into an empty folder, plain `make` builds
#                           message_slot.ko and both CLIs, warning-free
#   make-clean-<k>          `make clean` leaves exactly the five files
#   one-line-kbuild-<k>     `obj-m := message_slot.o` beside only the .c and
#                           the .h builds the module warning-free
#   gcc-<cli>               `gcc -O3 -Wall -std=c11` with only message_slot.h
#   full-tree-<target>      other targets stop with "needs the full source
#                           tree", not with a missing-file error
#   no-stray-output         make prints nothing on stderr about missing files
#   npheap-abi-agree-m<N>   message_slot.h and npheap_shim/npheap/npheap.h
#                           define the same NP-Heap ioctls and struct
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
work=$(mktemp -d /tmp/submission-suite.XXXXXX)
TAP_SUITE=submission
# shellcheck source=tests/lib/tap.sh
. "$top/tests/lib/tap.sh"
trap 'tap_finish; rm -rf "$work"' EXIT
oneline() { tr '\n' '|' < "$1" | cut -c1-240; }
FIVE="Makefile message_reader.c message_sender.c message_slot.c message_slot.h"
# only_five <dir>: the folder holds the five files and nothing else.
only_five() { [[ $(cd "$1" && ls -A | sort | tr '\n' ' ') == "$FIVE " ]]; }

# The committed tree in CI; a work tree with changes is packed as the
# commit `git stash create` makes of it (the same make target either way).
rev=$(git stash create 2> /dev/null)
zip=$work/ex3_test.zip
if ! make -s submission ID=test ZIP="$zip" REV="${rev:-HEAD}" > "$work/zip.log" 2>&1; then
	tap_not_ok zip-five-files "make submission failed: $(oneline "$work/zip.log")"
	exit 1
fi
listed=$(unzip -Z1 "$zip" | sort | tr '\n' ' ')
if [[ $listed == "$FIVE " ]]; then
	tap_ok zip-five-files
else
	tap_not_ok zip-five-files "the ZIP holds '$listed', want '$FIVE'"
fi
sleep 1 # a second later: the same bytes only if no timestamp is "now"
make -s submission ID=test ZIP="$work/again.zip" REV="${rev:-HEAD}" > /dev/null 2>&1
if cmp -s "$zip" "$work/again.zip"; then
	tap_ok zip-reproducible
else
	tap_not_ok zip-reproducible "two runs of make submission gave different ZIPs"
fi

kernels=$(tests/vm/kernels.sh 2> "$work/kernels.log") || {
	tap_details "$work/kernels.log"
	tap_not_ok kernels "tests/vm/kernels.sh failed: no kernel headers to build against"
	exit 1
}
while read -r k _ kdir; do
	[[ -n $k ]] || continue
	out=$work/grader-$k
	if tests/vm/build-submission.sh "$zip" "$kdir" "$out" > /dev/null 2> "$work/build-$k.err"; then
		tap_ok "make-$k"
		if ! (cd "$out" && PATH=$out.bin:$PATH make clean) > "$work/clean-$k.log" 2>&1; then
			tap_not_ok "make-clean-$k" "make clean failed: $(oneline "$work/clean-$k.log")"
		elif ! only_five "$out"; then
			tap_not_ok "make-clean-$k" "left: $(cd "$out" && ls -A | tr '\n' ' ')"
		else
			tap_ok "make-clean-$k"
		fi
	else
		tap_details "$work/build-$k.err"
		tap_not_ok "make-$k" "$(grep -m1 -E 'error|warning' "$work/build-$k.err" || tail -n1 "$work/build-$k.err")"
	fi

	kb=$work/kbuild-$k
	mkdir -p "$kb"
	unzip -q "$zip" message_slot.c message_slot.h -d "$kb"
	echo 'obj-m := message_slot.o' > "$kb/Makefile"
	if ! make -C "$kdir" M="$kb" modules > "$kb.log" 2>&1 || [[ ! -f $kb/message_slot.ko ]]; then
		tap_details "$kb.log"
		tap_not_ok "one-line-kbuild-$k" "$(grep -m1 -E 'error' "$kb.log" || tail -n1 "$kb.log")"
	elif grep -qi warning "$kb.log"; then
		tap_details "$kb.log"
		tap_not_ok "one-line-kbuild-$k" "$(grep -m1 -i warning "$kb.log")"
	else
		tap_ok "one-line-kbuild-$k"
	fi
done <<<"$kernels"

for cli in message_sender message_reader; do
	d=$work/gcc-$cli
	mkdir -p "$d"
	unzip -q "$zip" "$cli.c" message_slot.h -d "$d"
	if (cd "$d" && gcc -O3 -Wall -std=c11 "$cli.c" -o "$cli") > "$d.log" 2>&1 &&
		[[ ! -s $d.log ]]; then
		tap_ok "gcc-$cli"
	else
		tap_not_ok "gcc-$cli" "$(oneline "$d.log")"
	fi
done

# Targets that need more than the five files say so (exit 2) instead of
# failing on a missing file; `make help` works.
five=$work/five
mkdir -p "$five"
unzip -q "$zip" -d "$five"
for target in check demo bench examples install dkms-install; do
	if (cd "$five" && make "$target" DESTDIR="$work/stage") > "$work/t.out" 2>&1; then
		tap_not_ok "full-tree-$target" "exit 0 from the five files: $(oneline "$work/t.out")"
	elif ! grep -q "needs the full source tree" "$work/t.out"; then
		tap_not_ok "full-tree-$target" "$(oneline "$work/t.out")"
	else
		tap_ok "full-tree-$target"
	fi
done
(cd "$five" && make help && make -n clean) > /dev/null 2> "$work/stderr.log"
if [[ -s $work/stderr.log ]]; then
	tap_not_ok no-stray-output "stderr: $(oneline "$work/stderr.log")"
else
	tap_ok no-stray-output
fi

for m in 64 32; do
	if gcc -m$m -std=c11 -Wall -Wextra -Werror -I. -Inpheap_shim -o "$work/agree$m" \
		tests/static/npheap_abi_agree.c > "$work/agree$m.log" 2>&1; then
		tap_ok "npheap-abi-agree-m$m"
	else
		tap_not_ok "npheap-abi-agree-m$m" "$(grep -m1 error "$work/agree$m.log")"
	fi
done
tap_exit
