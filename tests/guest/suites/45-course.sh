#!/bin/sh
# The NP-Heap course workflow, as graders run it: load the module, run
# `benchmark N max_size P` (P processes forked around one /dev/npheap fd),
# concatenate the per-process logs, sort them by timestamp, run
# `validate N max_size` on the sorted trace, unload.  course_* are built only
# against the installed npheap shim, exactly like course programs.
# Negative controls prove the validator can fail.  Leaves the module unloaded.

SUITE=course
# shellcheck source=tests/guest/lib.sh
. "$GUEST/lib.sh"
DEV=/dev/npheap
TAB=$(printf '\t')
WORK=${TMPDIR:-/tmp}/course.$$

loaded() { [ -d /sys/module/message_slot ]; }

load() {
	insmod "$MODULE" || return 1
	i=0
	while [ ! -c "$DEV" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	[ -c "$DEV" ]
}

# Centiseconds since boot: busybox date has no sub-second format.
now_cs() {
	read -r up _ < /proc/uptime
	echo "${up%.*}${up#*.}" | sed 's/^0*//;s/^$/0/'
}

secs() { # centiseconds -> seconds with two decimals
	printf '%d.%02d' $(($1 / 100)) $(($1 % 100))
}

# A line of the validator's summary: "L lines (S S, D D, G G), ..."
summary_field() { # FILE WORD -> the number before WORD
	sed -n "s/.*[ (]\([0-9]*\) $2[,)].*/\1/p" "$1" | tail -n 1
}

# run_config N MAX P [negatives]
run_config() {
	n=$1 max=$2 p=$3 negatives=$4
	tag=N${n}_max${max}_P${p}
	dir=$WORK/$tag
	mkdir -p "$dir"
	if ! load; then
		tap_not_ok "benchmark_$tag" "insmod failed"
		return
	fi

	t0=$(now_cs)
	(cd "$dir" && "$BIN/course_benchmark" "$n" "$max" "$p") > "$dir/bench.out" 2>&1
	rc=$?
	t1=$(now_cs)
	logs=$(ls "$dir" | grep -c '^npheap\.[0-9]*\.log$')
	if [ $rc -eq 0 ] && [ "$logs" -eq "$p" ]; then
		tap_ok "benchmark_$tag"
	else
		tap_not_ok "benchmark_$tag" "exit $rc, $logs logs: $(head -c 300 "$dir/bench.out")"
	fi

	cat "$dir"/npheap.*.log | sort -n -t "$TAB" -k 3,3 > "$dir/trace"
	rm -f "$dir"/npheap.*.log
	t2=$(now_cs)
	"$BIN/course_validate" "$n" "$max" < "$dir/trace" 2> "$dir/validate.err"
	rc=$?
	t3=$(now_cs)
	if [ $rc -eq 0 ] && [ "$(tail -n 1 "$dir/validate.err")" = Pass ]; then
		tap_ok "validate_$tag"
	else
		tap_not_ok "validate_$tag" "exit $rc: $(grep -v '^Pass$' "$dir/validate.err" | head -n 3 | tr '\n' ' ')"
	fi
	echo "# course $tag: benchmark $(secs $((t1 - t0))) s, sort $(secs $((t2 - t1))) s, validate $(secs $((t3 - t2))) s; $(tail -n 2 "$dir/validate.err" | head -n 1)"

	# Every process did N sets and one delete.  A G precedes each set of an
	# existing object: all but the first set of each id, less at most one per
	# delete (the set after a delete creates the object anew).
	s=$(summary_field "$dir/validate.err" S)
	d=$(summary_field "$dir/validate.err" D)
	g=$(summary_field "$dir/validate.err" G)
	gmax=$((n * (p - 1)))
	gmin=$((gmax - p))
	if [ "$s" = $((n * p)) ] && [ "$d" = "$p" ] && [ "${g:-0}" -ge $gmin ] &&
	   [ "${g:-0}" -le $gmax ]; then
		tap_ok "log_complete_$tag"
	else
		tap_not_ok "log_complete_$tag" "S=$s D=$d G=$g, want S=$((n * p)) D=$p G in $gmin..$gmax"
	fi

	if [ -n "$negatives" ]; then
		negative_checks "$n" "$max" "$tag" "$dir"
	fi
	rm -rf "$dir"
	rmmod message_slot || tap_not_ok "unload_after_$tag" "rmmod failed"
}

negative_checks() {
	n=$1 max=$2 tag=$3 dir=$4

	# The validator must notice a trace that is not in timestamp order.
	sort -r -n -t "$TAB" -k 3,3 "$dir/trace" | "$BIN/course_validate" "$n" "$max" 2> "$dir/neg.err"
	rc=$?
	if [ $rc -ne 0 ] && grep -q 'not sorted' "$dir/neg.err"; then
		tap_ok "validate_rejects_unsorted_trace_$tag"
	else
		tap_not_ok "validate_rejects_unsorted_trace_$tag" "exit $rc: $(head -n 2 "$dir/neg.err")"
	fi

	# Drop the line that set some object's final value: the replay then disagrees.
	awk -F "$TAB" '{ last[$4] = NR; op[$4] = $1 }
		END { for (id in last) if (op[id] == "S") { print last[id]; exit } }' \
		"$dir/trace" > "$dir/dropline"
	drop=$(cat "$dir/dropline")
	if [ -n "$drop" ]; then
		sed "${drop}d" "$dir/trace" | "$BIN/course_validate" "$n" "$max" 2> "$dir/neg.err"
		rc=$?
		if [ $rc -eq 1 ] && [ "$(tail -n 1 "$dir/neg.err")" = Fail ]; then
			tap_ok "validate_detects_missing_log_line_$tag"
		else
			tap_not_ok "validate_detects_missing_log_line_$tag" "exit $rc after dropping line $drop"
		fi
	else
		tap_not_ok "validate_detects_missing_log_line_$tag" "no object ends with a set"
	fi

	# Change one digit of one object between benchmark and validate.
	victim=$("$BIN/course_corrupt" "$n")
	"$BIN/course_validate" "$n" "$max" < "$dir/trace" 2> "$dir/neg.err"
	rc=$?
	if [ -n "$victim" ] && [ $rc -eq 1 ] && grep -q "^Object $victim has a wrong value" "$dir/neg.err" &&
	   [ "$(tail -n 1 "$dir/neg.err")" = Fail ]; then
		tap_ok "validate_detects_corrupted_object_$tag"
	else
		tap_not_ok "validate_detects_corrupted_object_$tag" "victim '$victim', exit $rc: $(head -n 2 "$dir/neg.err" | tr '\n' ' ')"
	fi
}

mkdir -p "$WORK"
# N max_size P [negatives]
if [ "$KERNEL_NAME" = debug ]; then
	# KASAN + lockdep under TCG run this ~20x slower (N=1024 P=8 took 340 s):
	# the same shapes with fewer objects keep the debug boot within its time.
	run_config 128 8192 1
	run_config 128 20000 2 negatives
	run_config 256 8192 8 negatives
else
	run_config 256 8192 1
	run_config 256 20000 2 negatives
	run_config 512 8192 4
	run_config 1024 8192 8 negatives
fi
rm -rf "$WORK"

if loaded; then
	tap_not_ok module_left_unloaded "message_slot is still loaded"
	rmmod message_slot
fi
tap_exit
