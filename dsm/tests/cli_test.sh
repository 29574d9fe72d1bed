#!/usr/bin/env bash
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

# start NAME NS LISTEN PEER PEER_HOST: the instance reads $work/NAME.in
# (kept open by the driver on fd 7 for A, 8 for B).
start() {
	local name="$1" ns="$2" lp="$3" pp="$4" host="$5" pre=()
	mkfifo "$work/$name.in"
	if [[ "$name" == A ]]; then exec 7<>"$work/$name.in"; else exec 8<>"$work/$name.in"; fi
	if [[ -n "$ns" ]]; then pre=(ip netns exec "$ns"); fi
	# The instance must not inherit the driver's FIFO ends, or it never sees EOF.
	( exec 7>&- 8>&-; exec timeout 60 "${pre[@]}" "$DSM" "$lp" "$pp" "$host" \
		<"$work/$name.in" >"$work/$name.out" 2>"$work/$name.err" ) &
	pid[$name]=$!
	count[$name]=0
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
P4=' > For which page? (0-3, or -1 for all): '
M=' > Type your new message: '
F=' [x] PAGEFAULT'

# ---------------------------------------------------------------- sessions

# The seed's walk-through: write on one host, read on the other, overwrite,
# write all pages, view the MSI states, then the first host leaves.
session_transcript() {
	local pa=$((port_base + 1)) pb=$((port_base + 2))
	start A "$NS_A" "$pa" "$pb" "$ADDR_B"
	send A 4
	wait_text A "How many pages" 1
	wait_text A "waiting for the peer" 1 err
	start B "$NS_B" "$pb" "$pa" "$ADDR_A"
	wait_text A "$PROMPT" 1; count[A]=1
	wait_text B "$PROMPT" 1; count[B]=1
	step A w 0 "hello from A"
	step B r 0
	step A v
	step B v
	step B w 0 "B was here"
	step A r -1
	step A w -1 "all"
	step B r -1
	step A v
	step B v
	finish A
	wait_text B "peer closed the session" 1 err
	step B v
	step B r 2
	finish B
	check_transcript A "$(cat <<EOF
 > How many pages would you like to allocate (greater than 0)?
 [*] Address returned by mmap() = ADDR, size = 16384 bytes (4 pages)
$C$P4$M$F
 [*] Page 0:
hello from A
$C [*] Page 0: S
 [*] Page 1: S
 [*] Page 2: S
 [*] Page 3: S
$C$P4$F
 [*] Page 0:
B was here
 [*] Page 1:

 [*] Page 2:

 [*] Page 3:

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
$C [*] Page 0: S
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
$C [*] Page 0: S
 [*] Page 1: S
 [*] Page 2: S
 [*] Page 3: S
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
$C [*] Page 0: S
 [*] Page 1: S
 [*] Page 2: S
 [*] Page 3: S
$C [!] Peer left: peer closed the session after pushing its pages; this host now owns every page
 [*] Page 0: M
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

# Bad input everywhere: page count, command, page number, long message.
session_bad_input() {
	local pa=$((port_base + 3)) pb=$((port_base + 4)) long
	long="$(head -c 5000 /dev/zero | tr '\0' x)"
	start A "$NS_A" "$pa" "$pb" "$ADDR_B"
	send A abc 0 -3 "" 99999999999999999999 " 2 "
	wait_text A "waiting for the peer" 1 err
	start B "$NS_B" "$pb" "$pa" "$ADDR_A"
	wait_text A "$PROMPT" 1; count[A]=1
	wait_text B "$PROMPT" 1; count[B]=1
	step A x
	step A ""
	step A rw
	step A r abc
	step A r 2
	step A r -2
	step A w " "
	step A w 1 "$long"
	send A r
	finish A
	finish B
	# the stored message is exactly one page minus the terminating NUL
	[[ "$(grep -o -E '^x+$' "$work/A.out" | awk '{print length($0)}')" == 4095 ]] ||
		{ echo "long message not truncated to 4095 bytes" >"$work/why"; return 1; }
	sed -i -E 's/^x{4095}$/<4095 x>/' "$work/A.out"
	check_transcript A "$(cat <<EOF
 > How many pages would you like to allocate (greater than 0)?
 [!] 'abc' is not a whole number greater than 0
 > How many pages would you like to allocate (greater than 0)?
 [!] '0' is not a whole number greater than 0
 > How many pages would you like to allocate (greater than 0)?
 [!] '-3' is not a whole number greater than 0
 > How many pages would you like to allocate (greater than 0)?
 [!] '' is not a whole number greater than 0
 > How many pages would you like to allocate (greater than 0)?
 [!] '99999999999999999999' is not a whole number greater than 0
 > How many pages would you like to allocate (greater than 0)?
 [*] Address returned by mmap() = ADDR, size = 8192 bytes (2 pages)
$C [!] Unknown command 'x': use r, w or v
$C [!] Unknown command '': use r, w or v
$C [!] Unknown command 'rw': use r, w or v
$C > For which page? (0-1, or -1 for all):  [!] Invalid page 'abc': enter a number from 0 to 1, or -1 for all
$C > For which page? (0-1, or -1 for all):  [!] Invalid page '2': enter a number from 0 to 1, or -1 for all
$C > For which page? (0-1, or -1 for all):  [!] Invalid page '-2': enter a number from 0 to 1, or -1 for all
$C > For which page? (0-1, or -1 for all):  [!] Invalid page '': enter a number from 0 to 1, or -1 for all
$C > For which page? (0-1, or -1 for all): $M [!] Message truncated to 4095 bytes (one page)
$F
 [*] Page 1:
<4095 x>
$C > For which page? (0-1, or -1 for all): 
 [*] End of input; exiting

EOF
)"
}

# EOF before the page count; usage errors; the same port twice.
session_startup_errors() {
	local p=$((port_base + 5)) out rc
	set +e
	out="$(ns_exec "$NS_A" timeout 10 "$DSM" "$p" $((p + 1)) "$ADDR_B" </dev/null 2>&1)"
	rc=$?
	set -e
	[[ $rc == 1 && "$out" == *"End of input before a page count was given; exiting"* ]] ||
		{ echo "EOF at the page count: rc $rc, output: $out" >"$work/why"; return 1; }
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

# The second host is SIGKILLed while holding page 0 Modified.
session_peer_kill() {
	local pa=$((port_base + 6)) pb=$((port_base + 7))
	start A "$NS_A" "$pa" "$pb" "$ADDR_B"
	send A 2
	wait_text A "waiting for the peer" 1 err
	start B "$NS_B" "$pb" "$pa" "$ADDR_A"
	wait_text A "$PROMPT" 1; count[A]=1
	wait_text B "$PROMPT" 1; count[B]=1
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
 > How many pages would you like to allocate (greater than 0)?
 [*] Address returned by mmap() = ADDR, size = 8192 bytes (2 pages)
$C > For which page? (0-1, or -1 for all): $M$F
 [*] Page 1:
kept here
$C [!] Peer lost: <reason>
 > For which page? (0-1, or -1 for all):  [!] Page 0 is unavailable: its only copy was on the lost peer
 [*] Page 1:
kept here
$C > For which page? (0-1, or -1 for all): $M [*] Page 1:
new
$C > For which page? (0-1, or -1 for all): $M [!] Page 0 cannot be written: its only copy was on the lost peer
 [!] Page 0 is unavailable: its only copy was on the lost peer
$C
 [*] End of input; exiting

EOF
)"
}

run transcript session_transcript
run bad-input session_bad_input
run startup-errors session_startup_errors
run peer-kill session_peer_kill
exit $failed
