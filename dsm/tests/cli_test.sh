#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Scripted sessions of the dsm CLI with exact expected transcripts.
#
#   cli_test.sh DSM_BINARY PREFIX [NS_A NS_B ADDR_OF_A ADDR_OF_B]
#
# Two instances are driven step by step through FIFOs: after each command
# the driver waits for the instance's next prompt, so the interleaving
# between the hosts (and therefore the output) is deterministic.  Prints
# `ok dsm/<PREFIX>cli/<name>` or `not ok ... - reason` per test.
set -euo pipefail
DSM="$1"
PREFIX="$2"
NS_A="${3:-}" NS_B="${4:-}" ADDR_A="${5:-localhost}" ADDR_B="${6:-localhost}"
work="$(mktemp -d /tmp/dsm-cli.XXXXXX)"
failed=0
PROMPT='Which command should I run?'
declare -A pid count

cleanup() {
	local p
	for p in "${pid[@]:-}"; do [[ -n "$p" ]] && kill -9 "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

# Ports: derived from the PID so parallel runs do not collide.
port_base=$((20000 + ($$ % 20000)))

ns_exec() { # ns_exec NS cmd...
	if [[ -n "$1" ]]; then
		local ns="$1"
		shift
		ip netns exec "$ns" "$@"
	else
		shift
		"$@"
	fi
}

# start NAME NS LISTEN PEER PEER_HOST [BINARY]: the instance reads $work/NAME.in
# (kept open by the driver on fd 7 for A, 8 for B).
start() {
	local name="$1" ns="$2" lp="$3" pp="$4" host="$5" bin="${6:-$DSM}" pre=()
	mkfifo "$work/$name.in"
	if [[ "$name" == A ]]; then exec 7<>"$work/$name.in"; else exec 8<>"$work/$name.in"; fi
	if [[ -n "$ns" ]]; then pre=(ip netns exec "$ns"); fi
	# The instance must not inherit the driver's FIFO ends, or it never sees EOF.
	( exec 7>&- 8>&-; exec timeout 60 "${pre[@]}" "$bin" "$lp" "$pp" "$host" \
		<"$work/$name.in" >"$work/$name.out" 2>"$work/$name.err" ) &
	pid[$name]=$!
	count[$name]=0
}

# pair_up PORT_A PORT_B NPAGES [BINARY]: A waits, B joins; after pairing A
# is asked for the size; returns once both show their first command prompt.
pair_up() {
	start A "$NS_A" "$1" "$2" "$ADDR_B" "${4:-}"
	wait_text A "waiting for the peer" 1 err
	start B "$NS_B" "$2" "$1" "$ADDR_A" "${4:-}"
	wait_text A "How many pages" 1
	send A "$3"
	wait_text A "$PROMPT" 1; count[A]=1
	wait_text B "$PROMPT" 1; count[B]=1
}

send() { # send NAME line...
	local name="$1" l
	shift
	for l in "$@"; do
		if [[ "$name" == A ]]; then printf '%s\n' "$l" >&7; else printf '%s\n' "$l" >&8; fi
	done
}

occurrences() { grep -o -F -- "$2" "$work/$1.out" 2>/dev/null | wc -l; }

wait_text() { # wait_text NAME TEXT MIN_COUNT [FILE-suffix]
	local name="$1" text="$2" n="$3" suffix="${4:-out}" i
	for ((i = 0; i < 1000; i++)); do
		if [[ $(grep -o -F -- "$text" "$work/$name.$suffix" 2>/dev/null | wc -l) -ge $n ]]; then return 0; fi
		sleep 0.01
	done
	echo "timed out waiting for '$text' x$n from $name" >"$work/why"
	return 1
}

# step NAME lines...: send a command and wait for the next command prompt.
step() {
	local name="$1"
	shift
	send "$name" "$@"
	count[$name]=$((count[$name] + 1))
	wait_text "$name" "$PROMPT" "${count[$name]}"
}

# finish NAME: close its stdin and wait for it to exit.
finish() {
	local name="$1" i
	if [[ "$name" == A ]]; then exec 7>&-; else exec 8>&-; fi
	for ((i = 0; i < 1000; i++)); do
		kill -0 "${pid[$name]}" 2>/dev/null || break
		sleep 0.01
	done
	wait "${pid[$name]}" 2>/dev/null || echo "$name exit $?" >>"$work/exits"
	pid[$name]=""
}

normalise() { sed -E -e 's/0x[0-9a-f]+/ADDR/g' -e 's/( \[!\] Peer lost: ).*/\1<reason>/' "$1"; }

check_transcript() { # check_transcript NAME EXPECTED_TEXT
	if ! diff -u <(printf '%s\n' "$2") <(printf '%s\n' "$(normalise "$work/$1.out")") >"$work/diff"; then
		echo "transcript of $1 differs: $(head -c 600 "$work/diff" | tr '\n' '|')" >"$work/why"
		return 1
	fi
}

run() { # run NAME FUNCTION
	local name="$1" fn="$2"
	rm -f "$work"/*.in "$work"/*.out "$work"/*.err "$work/why" "$work/exits"
	pid=() count=()
	exec 7>&- 8>&-
	if (set -e; "$fn") && [[ ! -s "$work/exits" ]]; then
		echo "ok dsm/${PREFIX}cli/$name"
	else
		local why="failed"
		[[ -s "$work/why" ]] && why="$(cat "$work/why")"
		[[ -s "$work/exits" ]] && why="$why; $(tr '\n' ' ' <"$work/exits")"
		echo "not ok dsm/${PREFIX}cli/$name - $why"
		for n in A B; do
			[[ -f "$work/$n.out" ]] && sed "s/^/# $n.out: /" "$work/$n.out" | head -60
			[[ -f "$work/$n.err" ]] && sed "s/^/# $n.err: /" "$work/$n.err" | head -20
		done
		failed=1
	fi
	for n in A B; do [[ -n "${pid[$n]:-}" ]] && kill -9 "${pid[$n]}" 2>/dev/null || true; done
	exec 7>&- 8>&-
}

C=' > Which command should I run? (r:read, w:write, v:view msi array): '
P2=' > For which page? (0-1, or -1 for all): '
P3=' > For which page? (0-2, or -1 for all): '
P4=' > For which page? (0-3, or -1 for all): '
M=' > Type your new message: '
F=' [x] PAGEFAULT'
# The answer is typed on the prompt's line, so in a captured transcript the
# next output follows it directly.
N=' > How many pages would you like to allocate (greater than 0)?'
S2DSM="$(dirname "$DSM")/s2dsm"
EMPTY=''

# wait_exit NAME: waits for an instance that ends by itself (a signal), and
# puts its exit status in $rc.
wait_exit() {
	local name="$1" i
	for ((i = 0; i < 1000; i++)); do
		kill -0 "${pid[$name]}" 2>/dev/null || break
		sleep 0.01
	done
	rc=0
	wait "${pid[$name]}" 2>/dev/null || rc=$?
	pid[$name]=""
}

# view3 A B C: a `v -1` answer for three pages.
view3() { printf ' [*] Page 0: %s\n [*] Page 1: %s\n [*] Page 2: %s' "$1" "$2" "$3"; }

# ---------------------------------------------------------------- sessions

# The handout's first scripted sequence ("P2.2"), run as s2dsm: pair with 3
# pages; app 1 reads page 0, reads all, writes page 2, reads all, writes all,
# reads all.  Every page starts Invalid on both sides, so each first access
# faults and asks the peer; a page nobody has written prints empty.
session_handout_p2() {
	local pa=$((port_base + 11)) pb=$((port_base + 12))
	pair_up "$pa" "$pb" 3 "$S2DSM"
	step A r 0
	step A r -1
	step A w 2 "Hello Userfaultfd!"
	step A r -1
	step A w -1 "Writing this to all pages!"
	step A r -1
	finish A
	finish B
	check_transcript A "$(cat <<EOF
$N [*] Address returned by mmap() = ADDR, size = 12288 bytes (3 pages)
$C$P3$F
 [*] Page 0:
$EMPTY
$C$P3 [*] Page 0:
$EMPTY
$F
 [*] Page 1:
$EMPTY
$F
 [*] Page 2:
$EMPTY
$C$P3$M$F
 [*] Page 2:
Hello Userfaultfd!
$C$P3 [*] Page 0:
$EMPTY
 [*] Page 1:
$EMPTY
 [*] Page 2:
Hello Userfaultfd!
$C$P3$M$F
$F
 [*] Page 0:
Writing this to all pages!
 [*] Page 1:
Writing this to all pages!
 [*] Page 2:
Writing this to all pages!
$C$P3 [*] Page 0:
Writing this to all pages!
 [*] Page 1:
Writing this to all pages!
 [*] Page 2:
Writing this to all pages!
$C
 [*] End of input; exiting
EOF
)" && check_transcript B "$(cat <<EOF
 [*] Address received from peer = ADDR, size = 12288 bytes (3 pages)
$C
 [*] End of input; exiting
EOF
)"
}

# The handout's second scripted sequence ("P3.2"): both apps view every
# page's MSI state before and after each of: app 1 reads page 0, app 1 reads
# all, app 2 writes page 2, app 1 writes all, app 1 reads all.
session_handout_p3() {
	local pa=$((port_base + 13)) pb=$((port_base + 14))
	pair_up "$pa" "$pb" 3 "$S2DSM"
	step A v -1; step B v -1
	step A r 0
	step A v -1; step B v -1
	step A r -1
	step A v -1; step B v -1
	step B w 2 "Hello Userfaultfd!"
	step A v -1; step B v -1
	step A w -1 "Writing this to all pages!"
	step A v -1; step B v -1
	step A r -1
	step A v -1; step B v -1
	finish A
	finish B
	check_transcript A "$(cat <<EOF
$N [*] Address returned by mmap() = ADDR, size = 12288 bytes (3 pages)
$C$P3$(view3 I I I)
$C$P3$F
 [*] Page 0:
$EMPTY
$C$P3$(view3 S I I)
$C$P3 [*] Page 0:
$EMPTY
$F
 [*] Page 1:
$EMPTY
$F
 [*] Page 2:
$EMPTY
$C$P3$(view3 S S S)
$C$P3$(view3 S S I)
$C$P3$M$F
$F
$F
 [*] Page 0:
Writing this to all pages!
 [*] Page 1:
Writing this to all pages!
 [*] Page 2:
Writing this to all pages!
$C$P3$(view3 M M M)
$C$P3 [*] Page 0:
Writing this to all pages!
 [*] Page 1:
Writing this to all pages!
 [*] Page 2:
Writing this to all pages!
$C$P3$(view3 M M M)
$C
 [*] End of input; exiting
EOF
)" && check_transcript B "$(cat <<EOF
 [*] Address received from peer = ADDR, size = 12288 bytes (3 pages)
$C$P3$(view3 I I I)
$C$P3$(view3 I I I)
$C$P3$(view3 I I I)
$C$P3$M$F
 [*] Page 2:
Hello Userfaultfd!
$C$P3$(view3 I I M)
$C$P3$(view3 I I I)
$C$P3$(view3 I I I)
$C
 [*] End of input; exiting
EOF
)"
}

# The README walk-through: write on one host, read on the other, overwrite,
# write all pages, view the MSI states, then the first host leaves.
session_transcript() {
	local pa=$((port_base + 1)) pb=$((port_base + 2))
	pair_up "$pa" "$pb" 4
	step A w 0 "hello from A"
	step B r 0
	step A v -1
	step B v -1
	step B w 0 "B was here"
	step A r -1
	step A w -1 "all"
	step B r -1
	step A v -1
	step B v 2
	finish A
	wait_text B "peer closed the session" 1 err
	step B v -1
	step B r 2
	finish B
	check_transcript A "$(cat <<EOF
$N [*] Address returned by mmap() = ADDR, size = 16384 bytes (4 pages)
$C$P4$M$F
 [*] Page 0:
hello from A
$C$P4 [*] Page 0: S
 [*] Page 1: I
 [*] Page 2: I
 [*] Page 3: I
$C$P4$F
 [*] Page 0:
B was here
$F
 [*] Page 1:
$EMPTY
$F
 [*] Page 2:
$EMPTY
$F
 [*] Page 3:
$EMPTY
$C$P4$M$F
$F
$F
$F
 [*] Page 0:
all
 [*] Page 1:
all
 [*] Page 2:
all
 [*] Page 3:
all
$C$P4 [*] Page 0: S
 [*] Page 1: S
 [*] Page 2: S
 [*] Page 3: S
$C
 [*] End of input; exiting
EOF
)" && check_transcript B "$(cat <<EOF
 [*] Address received from peer = ADDR, size = 16384 bytes (4 pages)
$C$P4$F
 [*] Page 0:
hello from A
$C$P4 [*] Page 0: S
 [*] Page 1: I
 [*] Page 2: I
 [*] Page 3: I
$C$P4$M$F
 [*] Page 0:
B was here
$C$P4$F
 [*] Page 0:
all
$F
 [*] Page 1:
all
$F
 [*] Page 2:
all
$F
 [*] Page 3:
all
$C$P4 [*] Page 2: S
$C [!] Peer left: peer closed the session after pushing its pages; this host now owns every page
$P4 [*] Page 0: M
 [*] Page 1: M
 [*] Page 2: M
 [*] Page 3: M
$C$P4 [*] Page 2:
all
$C
 [*] End of input; exiting
EOF
)"
}

# Bad input everywhere: page count, command, page number (asked again, also
# inside `w` and `v`), long message.
session_bad_input() {
	local pa=$((port_base + 3)) pb=$((port_base + 4)) long
	long="$(head -c 5000 /dev/zero | tr '\0' x)"
	start A "$NS_A" "$pa" "$pb" "$ADDR_B"
	wait_text A "waiting for the peer" 1 err
	start B "$NS_B" "$pb" "$pa" "$ADDR_A"
	wait_text A "How many pages" 1
	send A abc 0 -3 "" 99999999999999999999 2147483648 2000000 " 2 "
	wait_text A "$PROMPT" 1; count[A]=1
	wait_text B "$PROMPT" 1; count[B]=1
	step A x
	step A ""
	step A rw
	step A r abc 2 -2 0
	step A w " " 1 "$long"
	step A w 7 1 "short"
	step A v 9 1
	send A r
	finish A
	finish B
	# the stored message is exactly one page minus the terminating NUL
	[[ "$(grep -o -E '^x+$' "$work/A.out" | awk '{print length($0)}')" == 4095 ]] ||
		{ echo "long message not truncated to 4095 bytes" >"$work/why"; return 1; }
	sed -i -E 's/^x{4095}$/<4095 x>/' "$work/A.out"
	local bad=" is not a number of pages from 1 to 1048576"
	check_transcript A "$(cat <<EOF
$N [!] 'abc'$bad
$N [!] '0'$bad
$N [!] '-3'$bad
$N [!] ''$bad
$N [!] '99999999999999999999'$bad
$N [!] '2147483648'$bad
$N [!] '2000000'$bad
$N [*] Address returned by mmap() = ADDR, size = 8192 bytes (2 pages)
$C [!] Unknown command 'x': use r, w or v
$C [!] Unknown command '': use r, w or v
$C [!] Unknown command 'rw': use r, w or v
$C$P2 [!] Invalid page 'abc': enter a number from 0 to 1, or -1 for all
$P2 [!] Invalid page '2': enter a number from 0 to 1, or -1 for all
$P2 [!] Invalid page '-2': enter a number from 0 to 1, or -1 for all
$P2$F
 [*] Page 0:
$EMPTY
$C$P2 [!] Invalid page '': enter a number from 0 to 1, or -1 for all
$P2$M [!] Message truncated to 4095 bytes (one page)
$F
 [*] Page 1:
<4095 x>
$C$P2 [!] Invalid page '7': enter a number from 0 to 1, or -1 for all
$P2$M [*] Page 1:
short
$C$P2 [!] Invalid page '9': enter a number from 0 to 1, or -1 for all
$P2 [*] Page 1: M
$C$P2
 [*] End of input; exiting
EOF
)"
}

# EOF at the page count (after pairing); usage errors; the same port twice.
session_startup_errors() {
	local p=$((port_base + 5)) out rc
	( set +e; ns_exec "$NS_A" timeout 10 "$DSM" "$p" $((p + 1)) "$ADDR_B" </dev/null >"$work/eofA.out" 2>&1
	  echo $? >"$work/eofA.rc" ) &
	wait_text eofA "waiting for the peer" 1
	set +e
	out="$(ns_exec "$NS_B" timeout 10 "$DSM" $((p + 1)) "$p" "$ADDR_A" </dev/null 2>&1)"
	rc=$?
	set -e
	wait
	[[ "$(cat "$work/eofA.rc")" == 1 && "$(cat "$work/eofA.out")" == *"End of input before a page count was given; exiting"* ]] ||
		{ echo "EOF at the page count: rc $(cat "$work/eofA.rc"), output: $(cat "$work/eofA.out")" >"$work/why"; return 1; }
	[[ $rc == 1 && "$out" == *"peer closed the connection"* ]] ||
		{ echo "second after the first's EOF: rc $rc, output: $out" >"$work/why"; return 1; }
	set +e
	out="$(timeout 10 "$DSM" 2>&1)"; rc=$?
	set -e
	[[ $rc == 2 && "$out" == *"usage:"* ]] || { echo "no-argument usage: rc $rc: $out" >"$work/why"; return 1; }
	set +e
	out="$(timeout 10 "$DSM" 12x 7 2>&1)"; rc=$?
	set -e
	[[ $rc == 2 && "$out" == *"ports must be numbers"* ]] || { echo "bad port: rc $rc: $out" >"$work/why"; return 1; }
	set +e
	out="$(ns_exec "$NS_A" timeout 10 "$DSM" "$p" "$p" localhost </dev/null 2>&1)"; rc=$?
	set -e
	[[ $rc == 1 && "$out" == *"the two ports are the same"* ]] ||
		{ echo "same port twice: rc $rc: $out" >"$work/why"; return 1; }
}

# Stray connections while the first instance waits: a port scan (connect and
# close), HTTP, and a silent socket that stays open.  Each is dropped with a
# line on stderr; the real peer still pairs, even with the silent one pending.
session_stray() {
	local pa=$((port_base + 8)) pb=$((port_base + 9)) silent
	start A "$NS_A" "$pa" "$pb" "$ADDR_B"
	wait_text A "waiting for the peer" 1 err
	ns_exec "$NS_A" timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$pa"
	wait_text A "closed without sending a HELLO; still waiting for the peer" 1 err
	ns_exec "$NS_A" timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$pa
		printf 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' >&3; cat <&3" >/dev/null 2>&1 || true
	wait_text A "announces 1195725856 payload bytes" 1 err
	# silent: says nothing, and ends when the first instance closes it
	ns_exec "$NS_A" timeout 20 bash -c "exec 3<>/dev/tcp/127.0.0.1/$pa; echo connected; read -r -u 3 || true" \
		>"$work/silent.out" 2>&1 &
	silent=$!
	wait_text silent connected 1
	start B "$NS_B" "$pb" "$pa" "$ADDR_A"
	wait_text A "How many pages" 1
	# pairing closed the pending silent connection
	wait "$silent" || { echo "silent connection still open after pairing" >"$work/why"; return 1; }
	send A 2
	wait_text A "$PROMPT" 1; count[A]=1
	wait_text B "$PROMPT" 1; count[B]=1
	step A w 0 "paired"
	step B r 0
	finish A
	finish B
	[[ $(grep -c 'dropped a connection from' "$work/A.err") == 2 ]] ||
		{ echo "expected 2 dropped connections: $(tr '\n' '|' <"$work/A.err")" >"$work/why"; return 1; }
	check_transcript B "$(cat <<EOF
 [*] Address received from peer = ADDR, size = 8192 bytes (2 pages)
$C$P2$F
 [*] Page 0:
paired
$C
 [*] End of input; exiting
EOF
)"
}

# SIGINT / SIGTERM leave like end of input: the victim pushes the page only it
# holds and says goodbye; the survivor then owns (and reads) every page.
signal_leave() { # signal_leave VICTIM SURVIVOR SIGNAL STATUS PORT_A PORT_B
	local v="$1" s="$2" sig="$3" want="$4" head_a head_b
	pair_up "$5" "$6" 2
	step "$v" w 1 "only on $v"
	step "$s" r 0
	pkill "-$sig" -P "${pid[$v]}"
	wait_exit "$v"
	[[ $rc == "$want" ]] || { echo "$v exit status $rc after SIG$sig, expected $want" >"$work/why"; return 1; }
	wait_text "$s" "peer closed the session" 1 err
	step "$s" r -1
	step "$s" v -1
	finish "$s"
	head_a="$N [*] Address returned by mmap() = ADDR, size = 8192 bytes (2 pages)"
	head_b=" [*] Address received from peer = ADDR, size = 8192 bytes (2 pages)"
	local hv="$head_a" hs="$head_b"
	[[ "$v" == B ]] && hv="$head_b" hs="$head_a"
	check_transcript "$v" "$(cat <<EOF
$hv
$C$P2$M$F
 [*] Page 1:
only on $v
$C
 [*] Caught SIG$sig; leaving
EOF
)" && check_transcript "$s" "$(cat <<EOF
$hs
$C$P2$F
 [*] Page 0:
$EMPTY
$C [!] Peer left: peer closed the session after pushing its pages; this host now owns every page
$P2 [*] Page 0:
$EMPTY
 [*] Page 1:
only on $v
$C$P2 [*] Page 0: M
 [*] Page 1: M
$C
 [*] End of input; exiting
EOF
)"
}
session_sigint() { signal_leave B A INT 130 $((port_base + 15)) $((port_base + 16)); }
session_sigterm() { signal_leave A B TERM 143 $((port_base + 17)) $((port_base + 18)); }

# The second host is SIGKILLed while holding page 0 Modified.
session_peer_kill() {
	local pa=$((port_base + 6)) pb=$((port_base + 7))
	pair_up "$pa" "$pb" 2
	step A w 1 "kept here"
	step B w 0 "only on B"
	step B r 1
	# kill the dsm process itself (child of `timeout`), as a crash would;
	# disowned first so bash does not report the dead job
	disown "${pid[B]}"
	pkill -KILL -P "${pid[B]}"
	pid[B]=""
	# FIN or RST, depending on what was in flight: either is a clear loss
	# (the transcript comparison masks the reason text)
	wait_text A "dsm: " 2 err
	step A r -1
	step A w 1 "new"
	step A w 0 "lost"
	finish A
	check_transcript A "$(cat <<EOF
$N [*] Address returned by mmap() = ADDR, size = 8192 bytes (2 pages)
$C$P2$M$F
 [*] Page 1:
kept here
$C [!] Peer lost: <reason>
$P2 [!] Page 0 is unavailable: its only copy was on the lost peer
 [*] Page 1:
kept here
$C$P2$M [*] Page 1:
new
$C$P2$M [!] Page 0 cannot be written: its only copy was on the lost peer
 [!] Page 0 is unavailable: its only copy was on the lost peer
$C
 [*] End of input; exiting
EOF
)"
}

run handout-p2.2 session_handout_p2
run handout-p3.2 session_handout_p3
run transcript session_transcript
run bad-input session_bad_input
run startup-errors session_startup_errors
run stray-connections session_stray
run sigint-leaves-cleanly session_sigint
run sigterm-leaves-cleanly session_sigterm
run peer-kill session_peer_kill
exit $failed
