#!/bin/sh
# NP-Heap: device nodes and module parameters, load/unload rules, and every
# semantic line of the contract (npheap_test prints those lines itself).
# Leaves the module unloaded.

SUITE=npheap
# shellcheck source=tests/guest/lib.sh
. "$GUEST/lib.sh"
DEV=/dev/npheap
SYSPARAM=/sys/module/message_slot/parameters
T=$BIN/npheap_test
HOLDER=

# expect NAME REASON COMMAND...: one test line from a command's status.
expect() {
	name=$1 reason=$2
	shift 2
	if "$@"; then tap_ok "$name"; else tap_not_ok "$name" "$reason"; fi
}

loaded() { [ -d /sys/module/message_slot ]; }

# load [params...]: insmod and wait (bounded) for devtmpfs to show /dev/npheap.
load() {
	insmod "$MODULE" "$@" || return 1
	i=0
	while [ ! -c "$DEV" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	[ -c "$DEV" ]
}

unload() {
	loaded || return 0
	rmmod message_slot
}

# A background npheap_test helper; waits (bounded) for it to print "ready".
start_holder() {
	out=/tmp/npheap_holder.$$
	: > "$out"
	"$T" "$@" > "$out" &
	HOLDER=$!
	i=0
	while ! grep -q ready "$out" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	grep -q ready "$out"
}

stop_holder() {
	[ -n "$HOLDER" ] || return 0
	kill -9 "$HOLDER" 2>/dev/null
	wait "$HOLDER" 2>/dev/null
	HOLDER=
	rm -f /tmp/npheap_holder.$$
}

cleanup() {
	stop_holder
	rm -f /dev/npheap_minor1
	unload 2>/dev/null
}

node_is() { # PATH MINOR_HEX MODE
	[ -c "$1" ] && [ "$(stat -c '%t:%T %a' "$1")" = "eb:$2 $3" ]
}

# ---------------------------------------------------------------- default load
if ! load; then
	tap_not_ok load_creates_dev_npheap "insmod $MODULE failed or /dev/npheap did not appear"
	cleanup
	exit 1
fi
tap_ok load_creates_dev_npheap
expect dev_npheap_is_235_524288_mode_0666 "got '$(stat -c '%t:%T %a' $DEV)'" \
	node_is "$DEV" 80000 666
expect dev_npheap_opens_for_other_users "nobody could not open $DEV" \
	sh -c "[ \"\$('$T' open-as 65534 $DEV)\" = OK ]"
expect only_one_node_by_default "/dev/npheap1 exists with npheap_nodes=1" \
	test ! -e /dev/npheap1
expect params_defaults "got $(cat $SYSPARAM/npheap_max_bytes $SYSPARAM/npheap_mode $SYSPARAM/npheap_nodes 2>&1 | tr '\n' ' ')" \
	sh -c "[ \"\$(cat $SYSPARAM/npheap_max_bytes $SYSPARAM/npheap_mode $SYSPARAM/npheap_nodes | tr '\n' ' ')\" = '268435456 438 1 ' ]"
expect params_permissions "got $(stat -c '%a' $SYSPARAM/npheap_max_bytes $SYSPARAM/npheap_mode $SYSPARAM/npheap_nodes 2>&1 | tr '\n' ' ')" \
	sh -c "[ \"\$(stat -c '%a' $SYSPARAM/npheap_max_bytes $SYSPARAM/npheap_mode $SYSPARAM/npheap_nodes | tr '\n' ' ')\" = '644 444 444 ' ]"
expect module_alias_npheap "no alias=npheap in the module's modinfo" \
	sh -c "tr '\\000' '\\n' < '$MODULE' | grep -qx 'alias=npheap'"

"$T" semantics "$DEV" || TAP_FAIL=$((TAP_FAIL + 1))

# A second heap minor, made by hand, is an independent heap.
if mknod /dev/npheap_minor1 c 235 524289; then
	"$T" independent "$DEV" /dev/npheap_minor1 || TAP_FAIL=$((TAP_FAIL + 1))
	rm -f /dev/npheap_minor1
else
	tap_not_ok heaps_independent_data "mknod of minor 524289 failed"
fi

# rmmod is refused while a heap fd is open ...
if start_holder hold-open "$DEV"; then
	rmmod message_slot 2>/dev/null
	expect rmmod_refused_while_open "rmmod succeeded with $DEV open" loaded
	stop_holder
else
	tap_not_ok rmmod_refused_while_open "holder did not start"
	stop_holder
fi
# ... and while an object is mapped, even after the fd was closed.
if start_holder hold-map "$DEV" 42; then
	rmmod message_slot 2>/dev/null
	expect rmmod_refused_while_mapped_after_close "rmmod succeeded with an object mapped" \
		loaded
	stop_holder
else
	tap_not_ok rmmod_refused_while_mapped_after_close "holder did not start"
	stop_holder
fi

# Objects persist while loaded; rmmod frees them, so a new load starts empty.
expect objects_persist_while_loaded "fill/check-fill of id 5 failed" \
	sh -c "'$T' fill $DEV 5 8192 0xab && '$T' check-fill $DEV 5 8192 0xab"
expect rmmod_succeeds_when_idle "rmmod failed with nothing open or mapped" unload
expect dev_npheap_removed_on_rmmod "$DEV still exists" test ! -e "$DEV"
if load; then
	expect rmmod_insmod_starts_empty "getsize of id 5 after reload = $("$T" getsize "$DEV" 5)" \
		sh -c "[ \"\$('$T' getsize $DEV 5)\" = 0 ] && '$T' check-zero $DEV 5 8192"
	unload
else
	tap_not_ok rmmod_insmod_starts_empty "reload failed"
fi

# ---------------------------------------------------------------- npheap_mode
if load npheap_mode=0600; then
	expect npheap_mode_sets_node_mode "got '$(stat -c '%a' $DEV)'" node_is "$DEV" 80000 600
	expect npheap_mode_denies_other_users "nobody got '$("$T" open-as 65534 $DEV)'" \
		sh -c "[ \"\$('$T' open-as 65534 $DEV)\" = EACCES ]"
	expect npheap_mode_root_still_opens "root could not use $DEV" \
		sh -c "'$T' getsize $DEV 1 > /dev/null"
	unload
else
	tap_not_ok npheap_mode_sets_node_mode "insmod npheap_mode=0600 failed"
fi

# ---------------------------------------------------------------- npheap_nodes
if load npheap_nodes=3; then
	expect npheap_nodes_creates_nodes "nodes: $(ls /dev | grep npheap | tr '\n' ' ')" \
		sh -c "[ -c /dev/npheap ] && [ \"\$(stat -c '%t:%T %a' /dev/npheap1 /dev/npheap2 | tr '\n' ' ')\" = 'eb:80001 666 eb:80002 666 ' ] && [ ! -e /dev/npheap3 ]"
	"$T" fill /dev/npheap2 9 4096 0x5c
	expect npheap_nodes_are_separate_heaps "id 9 written in npheap2 shows in npheap" \
		sh -c "'$T' check-fill /dev/npheap2 9 4096 0x5c && [ \"\$('$T' getsize /dev/npheap 9)\" = 0 ] && [ \"\$('$T' getsize /dev/npheap1 9)\" = 0 ]"
	unload
	expect npheap_nodes_removed_on_rmmod "left: $(ls /dev | grep npheap | tr '\n' ' ')" \
		sh -c "! ls /dev | grep -q npheap"
else
	tap_not_ok npheap_nodes_creates_nodes "insmod npheap_nodes=3 failed"
fi

# ---------------------------------------------------------------- memory bound
LIMIT=65536
if load npheap_max_bytes=$LIMIT; then
	expect bound_param_visible "got $(cat $SYSPARAM/npheap_max_bytes)" \
		sh -c "[ \"\$(cat $SYSPARAM/npheap_max_bytes)\" = $LIMIT ]"
	"$T" bound "$DEV" $LIMIT || TAP_FAIL=$((TAP_FAIL + 1))
	unload
else
	tap_not_ok bound_param_visible "insmod npheap_max_bytes=$LIMIT failed"
fi

cleanup
loaded && { tap_not_ok module_left_unloaded "message_slot is still loaded"; }
tap_exit
