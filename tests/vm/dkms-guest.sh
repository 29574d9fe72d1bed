#!/bin/sh
# VM entry of the host suite "dkms" (tests/host/35-dkms.sh): loads the module
# that Debian's `dkms build` produced (packed as /payload/build/dkms/<name>/),
# not the harness's own build, and checks it is that build and that it works.
# shellcheck disable=SC2034  # read by lib.sh
SUITE=dkms
# shellcheck source=tests/guest/lib.sh
. "$GUEST/lib.sh"
ko=/payload/build/dkms/$KERNEL_NAME/message_slot.ko
t=$KERNEL_NAME

if [ ! -f "$ko" ]; then
    tap_not_ok "load-$t" "no $ko in the VM"
    tap_exit
fi
if ! cmp -s "$ko" "$MODULE" && insmod "$ko" 2> /tmp/insmod.err; then
    tap_ok "load-$t"
else
    tap_not_ok "load-$t" "insmod: $(cat /tmp/insmod.err 2>/dev/null) (or identical to the harness build)"
    tap_exit
fi
mknod /dev/dkms-slot c 235 0
if message_sender /dev/dkms-slot 4294967295 "built by dkms" &&
    [ "$(message_reader /dev/dkms-slot 4294967295)" = "built by dkms" ]; then
    tap_ok "roundtrip-$t"
else
    tap_not_ok "roundtrip-$t" "message did not read back"
fi
if [ -c /dev/npheap ]; then
    tap_ok "npheap-node-$t"
else
    tap_not_ok "npheap-node-$t" "/dev/npheap was not created"
fi
rm -f /dev/dkms-slot
if rmmod message_slot 2> /tmp/rmmod.err; then
    tap_ok "unload-$t"
else
    tap_not_ok "unload-$t" "rmmod: $(cat /tmp/rmmod.err)"
fi

# README's install commands: the module where `make install` puts it, then
# modprobe, mknod and the CLIs exactly as README shows them.
moddir=/lib/modules/$(uname -r)/updates/dkms
mkdir -p "$moddir" && cp "$ko" "$moddir/" && depmod
commands=/payload/build/dkms/$KERNEL_NAME/README-install.sh
rm -f /dev/msgslot
out=$({ echo 'sudo() { "$@"; }'; cat "$commands"; } | sh -e 2>&1)
rc=$?
censored=$(message_reader /dev/msgslot 7 2>&1)
if [ "$rc" -eq 0 ] && [ "$out" = Hello ] && [ "$censored" = 'ab#de#' ]; then
    tap_ok "readme-install-$t"
else
    tap_not_ok "readme-install-$t" "rc=$rc, output '$out' (want 'Hello'), channel 7 '$censored' (want 'ab#de#'), commands: $(tr '\n' '|' < "$commands")"
fi
rm -f /dev/msgslot
module_loaded && rmmod message_slot
tap_exit
