#!/usr/bin/env bash
# Boots one kernel under qemu (TCG, no KVM needed) with a busybox initramfs
# holding the module, the guest programs, tests/guest/ and tests/lib/, runs
# an entry script inside and powers off.
#
#   boot.sh --kernel <6.1|6.12|path/to/vmlinuz> --entry <repo-relative script>
#           [--kdir DIR] [--name NAME] [--timeout S] [--mem M] [--smp N]
#           [--log FILE] [--add <repo-relative path>]... [--append "<cmdline>"]
#
# A short kernel name is resolved by kernels.sh (which also installs what is
# missing); a vmlinuz path needs --kdir (its headers/build tree) and takes
# its name from --name or the tree's kernel.release.
#
# stdout: the entry's output (stdout+stderr), live. The whole serial console
# (boot, entry output, kernel messages, a dmesg dump at the end) goes to the
# log, default build/logs/<name>.log. SUITES and every MSGSLOT_* variable are
# passed into the guest environment.
#
# Exit status: the entry's own status; 124 if the timeout killed the VM;
# 125 if the VM ended without the entry finishing (panic, oops=panic, init
# died); 126 if building or packing failed.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VM_DIR=$TOP/tests/vm

kernel= entry= kdir= name= log= append_extra=
timeout_s=600 mem=1G smp=2
adds=()

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2; exit 126; }
die() { printf 'boot.sh: error: %s\n' "$*" >&2; exit 126; }
note() { printf 'boot.sh: %s\n' "$*" >&2; }

while [[ $# -gt 0 ]]; do
    case $1 in
        --kernel) kernel=${2:?}; shift 2 ;;
        --entry) entry=${2:?}; shift 2 ;;
        --kdir) kdir=${2:?}; shift 2 ;;
        --name) name=${2:?}; shift 2 ;;
        --timeout) timeout_s=${2:?}; shift 2 ;;
        --mem) mem=${2:?}; shift 2 ;;
        --smp) smp=${2:?}; shift 2 ;;
        --log) log=${2:?}; shift 2 ;;
        --add) adds+=("${2:?}"); shift 2 ;;
        --append) append_extra=${2?}; shift 2 ;;
        -h|--help) usage ;;
        *) note "unknown argument: $1"; usage ;;
    esac
done
[[ -n $kernel && -n $entry ]] || usage
[[ -f $TOP/$entry ]] || die "entry $entry does not exist in $TOP"

# --- which kernel --------------------------------------------------------
if [[ -f $kernel ]]; then
    vmlinuz=$(realpath "$kernel")
    [[ -n $kdir ]] || die "--kernel given as a file needs --kdir"
    if [[ -z $name ]]; then
        name=$(cat "$kdir/include/config/kernel.release" 2>/dev/null) ||
            die "no --name and no $kdir/include/config/kernel.release"
    fi
else
    # Only the kernel this boot needs is fetched.
    line=$("$VM_DIR/kernels.sh" "$kernel" | awk -v k="$kernel" '$1 == k') ||
        die "kernels.sh failed (see above)"
    [[ -n $line ]] || die "kernels.sh gave no line for '$kernel'"
    read -r _ vmlinuz found_kdir <<<"$line"
    kdir=${kdir:-$found_kdir}
    name=${name:-$kernel}
fi
[[ -f $kdir/Makefile ]] || die "$kdir is not a kernel build tree"

# --- build (serialised: a concurrent demo and check share build/) ---------
mkdir -p "$TOP/build"
exec 9> "$TOP/build/.build.lock"
flock 9
module=$("$VM_DIR/build-module.sh" "$name" "$kdir") || die "module build failed"
make -s -C "$TOP/tests/guest" OUT="$TOP/build/guest" STAGE="$TOP/build/stage" >&2 ||
    die "guest programs failed to build"
flock -u 9

# --- initramfs -------------------------------------------------------------
mkdir -p "$TOP/build/vm"
work=$(mktemp -d "$TOP/build/vm/$name.XXXXXX")
qemu_pid=
tail_pid=
cleanup() {
    [[ -n $qemu_pid ]] && kill "$qemu_pid" 2>/dev/null
    [[ -n $tail_pid ]] && kill "$tail_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,root} "$root/payload/bin"
busybox=$(command -v busybox) || die "busybox not installed (kernels.sh installs it)"
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list-full); do
    [[ $applet == bin/busybox || -e $root/$applet ]] || ln -s /bin/busybox "$root/$applet"
done
printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'nobody:x:65534:65534:nobody:/nonexistent:/bin/sh' > "$root/etc/passwd"
printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' > "$root/etc/group"

cp "$TOP/tests/guest/init" "$root/init"
cp "$module" "$root/payload/message_slot.ko"
find "$TOP/build/guest" -maxdepth 1 -type f -perm -u+x -exec cp -t "$root/payload/bin" {} +
mkdir -p "$root/payload/tests"
cp -r "$TOP/tests/guest" "$root/payload/tests/guest"
# The TAP library tests/guest/lib.sh sources (shared with the host suites).
cp -r "$TOP/tests/lib" "$root/payload/tests/lib"
for path in "$entry" "${adds[@]}"; do
    [[ -e $TOP/$path ]] || die "$path does not exist in $TOP"
    mkdir -p "$root/payload/$(dirname "$path")"
    cp -r "$TOP/$path" "$root/payload/$(dirname "$path")/"
done

# The host's Python and the stdlib files python/*.py need (suite 15-abi).
"$TOP/python/pack-guest.sh" "$root" || die "packing Python failed"

shell_quote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
{
    printf 'ENTRY=%s\n' "$(shell_quote "$entry")"
    printf 'KERNEL_NAME=%s\n' "$(shell_quote "$name")"
    printf 'export SUITES=%s\n' "$(shell_quote "${SUITES:-}")"
    while IFS= read -r var; do
        printf 'export %s=%s\n' "$var" "$(shell_quote "${!var}")"
    done < <(compgen -e | grep '^MSGSLOT_' || true)
} > "$root/payload/guest-env"

initrd=$work/initramfs.cpio
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) > "$initrd" ||
    die "cpio failed"

# --- boot --------------------------------------------------------------------
log=${log:-$TOP/build/logs/$name.log}
mkdir -p "$(dirname "$log")"
: > "$log"
out=$work/guest.out
: > "$out"

# panic=-1 + -no-reboot: a panic ends qemu at once instead of hanging.
# oops=panic: an oops must not leave a half-dead kernel running the tests.
# mitigations=off: pure overhead under TCG, and not what is being tested.
# The lockup detectors get longer thresholds because a starved TCG vCPU on a
# busy 2-core host can look stuck for a while; a real deadlock still trips
# them (and the hung-task detector keeps its 120 s).
cmdline="console=ttyS0 panic=-1 oops=panic panic_on_warn=0 mitigations=off"
cmdline+=" watchdog_thresh=30 rcupdate.rcu_cpu_stall_timeout=60"
cmdline+=" ${append_extra}"

# -cpu max gives SMEP/SMAP, so a driver touching user memory without
# copy_{from,to}_user faults instead of silently working.
qemu=(qemu-system-x86_64 -accel tcg -cpu max -smp "$smp" -m "$mem"
      -nodefaults -display none -monitor none -no-reboot
      -kernel "$vmlinuz" -initrd "$initrd"
      -chardev "file,id=console,path=$log" -serial chardev:console
      -chardev "file,id=results,path=$out" -serial chardev:results)

note "booting $name ($vmlinuz), timeout ${timeout_s}s, log $log"
start=$SECONDS
# Up to three boots: init powers off at once, before the entry, when the
# kernel reported a problem while booting (see tests/guest/init); that log
# is kept as <log>.boot-<n>.
for attempt in 1 2 3; do
    last=0
    [[ $attempt -lt 3 ]] || last=1
    timeout -k 10 "$timeout_s" "${qemu[@]}" -append "$cmdline MSGSLOT_LAST_BOOT=$last" < /dev/null &
    qemu_pid=$!
    tail -n +1 -s 0.3 -f --pid="$qemu_pid" "$out" &
    tail_pid=$!
    set +e
    wait "$qemu_pid"
    qemu_rc=$?
    set -e
    qemu_pid=
    wait "$tail_pid" 2>/dev/null || true
    tail_pid=
    grep -aq '^MSGSLOT-BOOT-TAINTED' "$log" || break
    mv "$log" "$log.boot-$attempt"
    : > "$log"
    note "$name: the kernel reported a problem while booting, before the entry started ($(grep -a -m1 -E 'BUG:|WARNING:|Oops' "$log.boot-$attempt" | sed 's/^\[[ 0-9.]*\] //')); booting again (that log: $log.boot-$attempt)"
done
elapsed=$((SECONDS - start))

sed -i 's/\r$//' "$log"
if [[ $qemu_rc -eq 124 || $qemu_rc -eq 137 ]]; then
    note "$name: TIMEOUT after ${timeout_s}s, VM killed (log $log)"
    exit 124
fi
exit_line=$(grep -a '^MSGSLOT-GUEST-EXIT ' "$log" | tail -n1 || true)
if [[ -z $exit_line ]]; then
    if grep -aq 'Kernel panic' "$log"; then
        note "$name: kernel panic after ${elapsed}s (log $log)"
    else
        note "$name: VM stopped (qemu status $qemu_rc) before the entry finished (log $log)"
    fi
    exit 125
fi
rc=${exit_line#MSGSLOT-GUEST-EXIT }
note "$name: entry exited $rc after ${elapsed}s"
exit "$rc"
