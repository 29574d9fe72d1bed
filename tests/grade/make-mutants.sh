#!/usr/bin/env bash
# Regenerates tests/grade/mutants/*.patch from tests/grade/simple/: each
# mutant is the plain reference with exactly one defect. The first line of
# each patch says what the defect is (patch ignores it); tests/grade/expect
# says which test must catch it. Run after changing simple/.
set -euo pipefail
cd "$(dirname "$0")"
M=$(mktemp -d)
trap 'rm -rf "$M"' EXIT
rm -f mutants/*.patch mutants-slow/*.patch mutants-debug/*.patch
mkdir -p mutants mutants-slow mutants-debug

mk() { rm -rf "$M/a" "$M/b"; mkdir -p "$M/a" "$M/b"; cp simple/* "$M/a/"; cp simple/* "$M/b/"; }
save() {
    local dir=${3:-mutants}
    { echo "$2"; (cd "$M" && diff -ru a b | sed -E 's/^(---|\+\+\+) ([^\t]*)\t.*/\1 \2/') || true; } > "$dir/$1.patch"
    grep -q '^@@' "$dir/$1.patch" || { echo "make-mutants.sh: $1 changed nothing" >&2; exit 1; }
}
# replace <file> <old> <new>: exact text replacement that must match once.
replace() {
    python3 - "$M/b/$1" "$2" "$3" <<'EOF'
import sys
path, old, new = sys.argv[1:4]
s = open(path).read()
if s.count(old) != 1:
    sys.exit("make-mutants.sh: %r found %d times in %s" % (old, s.count(old), path))
open(path, "w").write(s.replace(old, new))
EOF
}

mk; replace message_slot.c $'\t\tret = -EWOULDBLOCK;' $'\t\tret = -EIO;'
save empty-errno "Defect: a read of a never-written channel fails with EIO instead of EWOULDBLOCK."

mk; replace message_slot.c $'static int device_release(struct inode *inode, struct file *file)\n{\n\tkfree(file->private_data);' \
$'static int device_release(struct inode *inode, struct file *file)\n{\n\tstruct fd_state *st = file->private_data;\n\tstruct channel *ch;\n\n\tmutex_lock(&slots_lock);\n\tch = st->channel ? find_channel(st->minor, st->channel, false) : NULL;\n\tif (!IS_ERR_OR_NULL(ch))\n\t\tch->len = 0;\n\tmutex_unlock(&slots_lock);\n\tkfree(file->private_data);'
save lost-on-close "Defect: closing an fd discards the message of its channel."

mk; replace message_slot.c $'\tstruct slot *s = slots[minor];\n\tstruct channel *ch;\n\n\tif (!s) {' \
$'\tstruct slot *s = slots[0];\n\tstruct channel *ch;\n\n\tminor = 0;\n\tif (!s) {'
save shared-minors "Defect: every minor uses the channels of minor 0."

mk; replace message_slot.c 'if (cmd != MSG_SLOT_CHANNEL || arg == 0 || arg > UINT_MAX)' 'if (cmd != MSG_SLOT_CHANNEL || arg > UINT_MAX)'
save channel-zero "Defect: ioctl(MSG_SLOT_CHANNEL, 0) is accepted."

mk; replace message_slot.c $'\telse if (count < ch->len)\n\t\tret = -ENOSPC;\n\telse if (copy_to_user(buf, ch->buf, ch->len))\n\t\tret = -EFAULT;\n\telse\n\t\tret = ch->len;' \
$'\telse if (copy_to_user(buf, ch->buf, min_t(size_t, count, ch->len)))\n\t\tret = -EFAULT;\n\telse\n\t\tret = min_t(size_t, count, ch->len);'
save truncating-read "Defect: a read into a short buffer returns the first bytes instead of failing with ENOSPC."

mk; sed -i '/mutex_lock(&slots_lock);/d; /mutex_unlock(&slots_lock);/d; /DEFINE_MUTEX(slots_lock);/d' "$M/b/message_slot.c"
save no-locking "Defect: no locking at all (reads and writes of one channel race)."

mk; replace message_slot.c $'\tkfree(file->private_data);\n\treturn SUCCESS;' $'\tfile->private_data = NULL;\n\treturn SUCCESS;'
save leak-release "Defect: release does not free the per-fd state open allocated."

mk; replace message_slot.c $'\tfor (minor = 0; minor < NR_MINORS; minor++) {\n\t\tstruct slot *s = slots[minor];\n\n\t\tif (!s)\n\t\t\tcontinue;' \
$'\tfor (minor = 0; minor <= NR_MINORS; minor++) {\n\t\tstruct slot *s = minor < NR_MINORS ? slots[minor] : NULL;\n\n\t\tif (!s && minor < NR_MINORS)\n\t\t\tcontinue;'
save oops-rmmod "Defect: the module's exit walks one slot too far and dereferences NULL (an oops on rmmod)."

mk; replace message_slot.h '#define MAJOR_NUM 235' '#define MAJOR_NUM 240'
save major-240 "Defect: the device is registered on major 240 instead of 235."

mk; replace message_reader.c $'\t\tfail("write to stdout");\n\treturn 0;' $'\t\tfail("write to stdout");\n\tprintf("\\n");\n\treturn 0;'
save reader-newline "Defect: message_reader prints a newline after the message."

mk; replace message_slot.c $'\tst->channel = (unsigned int)arg;' $'\tst->channel = (unsigned int)arg'
save no-compile "Defect: a missing semicolon: message_slot.c does not compile."
mk; replace message_slot.c $'\tst->channel = (unsigned int)arg;' $'\tWARN_ON(arg == UINT_MAX);\n\tst->channel = (unsigned int)arg;'
save channel-warn "Defect: the kernel logs a WARNING (and is tainted) when channel 4294967295 is selected; it works otherwise."

# The slow ones (GRADE_SELFTEST_SLOW=1): hangs, each costing its test's deadline.
mk; replace message_slot.c $'\telse if (count < ch->len)\n\t\tret = -ENOSPC;' \
$'\telse if (count < ch->len) {\n\t\twhile (!signal_pending(current))\n\t\t\tschedule_timeout_interruptible(HZ);\n\t\tret = -ENOSPC;\n\t}'
save hang-enospc "Defect: a read into a short buffer sleeps until a signal comes (a killable hang)." mutants-slow

mk; replace message_slot.c $'\telse if (count < ch->len)\n\t\tret = -ENOSPC;' \
$'\telse if (count < ch->len) {\n\t\tmutex_lock(&slots_lock);\n\t\tret = -ENOSPC;\n\t}'
save deadlock-enospc "Defect: a read into a short buffer takes the lock it holds (a deadlock nothing can kill)." mutants-slow
ls mutants mutants-slow

# The debug-kernel ones (GRADE_SELFTEST_KERNELS with debug): only kmemleak sees them.
mk; replace message_slot.c $'\t\txa_for_each(&s->channels, id, ch)\n\t\t\tkfree(ch);' \
$'\t\txa_for_each(&s->channels, id, ch)\n\t\t\t(void)ch;'
save leak-exit "Defect: rmmod frees the slots but not their channels (a leak only kmemleak sees)." mutants-debug
