#!/usr/bin/env bash
# Host suite for dsm/ (distributed shared memory over userfaultfd + TCP).
# Runs from the repo top: builds dsm (plain and ASan+UBSan), then
#   - library selftest over IPv4 loopback, a subset over IPv6 loopback,
#   - CLI transcripts over loopback,
#   - library subset + CLI transcripts between two network namespaces
#     joined by a veth pair (IPv4 and IPv6 link-local addresses, that link only),
#   - selftest + CLI again under ASan+UBSan.
# One `ok dsm/<name>` / `not ok dsm/<name> - reason` line per test; exit
# status non-zero if anything failed.  Every step has a timeout.
set -euo pipefail
top="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$top"
log="$(mktemp /tmp/dsm-suite.XXXXXX)"
ns_a="dsm-a-$$" ns_b="dsm-b-$$" veth_a="dsmva$$" veth_b="dsmvb$$"
netns_made=0

cleanup() {
	if ((netns_made)); then
		ip netns del "$ns_a" 2>/dev/null || true
		ip netns del "$ns_b" 2>/dev/null || true
		ip link del "$veth_a" 2>/dev/null || true
	fi
	rm -f "$log"
	tap_finish
}
TAP_SUITE=dsm
# shellcheck source=tests/lib/tap.sh
. "$top/tests/lib/tap.sh"
trap cleanup EXIT
trap 'exit 130' INT TERM

last_lines() { tail -n "${2:-3}" "$1" | tr '\n' ' ' | cut -c1-300; }

# Runs a program that prints its own ok/not ok lines; a timeout or a crash
# without a line still counts as a failure.
run_lines() { # run_lines NAME TIMEOUT cmd...
	local name="$1" t="$2" rc=0
	shift 2
	timeout -k 5 "$t" "$@" >"$log" 2>&1 || rc=$?
	grep -E '^(ok|not ok|#) ' "$log" || true
	tap_tally "$log"
	if ((rc != 0)); then
		if ((rc == 124 || rc == 137)); then
			tap_not_ok "$name" "timed out after ${t}s"
		elif ! grep -q '^not ok ' "$log"; then
			tap_not_ok "$name" "exit status $rc: $(last_lines "$log")"
		fi
	fi
}

# ------------------------------------------------------------ dependencies
missing=()
command -v gcc >/dev/null || missing+=(gcc libc6-dev)
command -v make >/dev/null || missing+=(make)
command -v ip >/dev/null || missing+=(iproute2)
command -v pkill >/dev/null || missing+=(procps)
if ((${#missing[@]})); then
	export DEBIAN_FRONTEND=noninteractive
	if ! timeout 300 apt-get install -y -qq "${missing[@]}" >"$log" 2>&1; then
		timeout 300 apt-get update -qq >"$log" 2>&1 || true
		timeout 300 apt-get install -y -qq "${missing[@]}" >"$log" 2>&1 ||
			{ tap_not_ok deps "apt-get install ${missing[*]} failed: $(last_lines "$log")"; exit 1; }
	fi
fi

# ------------------------------------------------------------------ builds
if timeout 300 make -s -C dsm >"$log" 2>&1; then
	tap_ok build
else
	tap_not_ok build "$(last_lines "$log")"
	exit 1
fi
san_ok=1
if timeout 300 make -s -C dsm SAN=1 >"$log" 2>&1; then
	tap_ok build-asan
else
	tap_not_ok build-asan "$(last_lines "$log")"
	san_ok=0
fi

seed="${DSM_SEED:-$(date +%s)}"
echo "# dsm: coherence seed $seed (set DSM_SEED to repeat)"

# ---------------------------------------------------------------- loopback
run_lines selftest 180 dsm/build/dsm_selftest --seed "$seed"
run_lines ipv6/selftest 120 dsm/build/dsm_selftest --host ::1 --prefix ipv6/ --seed "$((seed + 1))" \
	--only msi-transitions --only coherence-random --only graceful-close --only fake-conformance-timeout
run_lines cli 120 dsm/tests/cli_test.sh dsm/build/dsm ""

# ------------------------------------------------- two network namespaces
netns_setup() {
	ip netns add "$ns_a" && ip netns add "$ns_b" || return 1
	netns_made=1
	ip link add "$veth_a" type veth peer name "$veth_b" &&
		ip link set "$veth_a" netns "$ns_a" &&
		ip link set "$veth_b" netns "$ns_b" || return 1
	ip -n "$ns_a" addr add 169.254.77.1/30 dev "$veth_a" &&
		ip -n "$ns_b" addr add 169.254.77.2/30 dev "$veth_b" &&
		ip -n "$ns_a" -6 addr add fe80::a/64 dev "$veth_a" nodad &&
		ip -n "$ns_b" -6 addr add fe80::b/64 dev "$veth_b" nodad || return 1
	local ns
	for ns in "$ns_a" "$ns_b"; do
		ip -n "$ns" link set lo up || return 1
	done
	ip -n "$ns_a" link set "$veth_a" up && ip -n "$ns_b" link set "$veth_b" up || return 1
	local i
	for ((i = 0; i < 100; i++)); do
		if ip -n "$ns_a" link show "$veth_a" | grep -q LOWER_UP &&
			ip -n "$ns_b" link show "$veth_b" | grep -q LOWER_UP; then
			return 0
		fi
		sleep 0.05
	done
	return 1
}
if netns_setup >"$log" 2>&1; then
	tap_ok netns/setup
	run_lines netns/selftest 180 dsm/build/dsm_selftest --ns "$ns_a" "$ns_b" --host 169.254.77.1 \
		--prefix netns/ --seed "$((seed + 2))" --only msi-transitions --only coherence-random \
		--only sync-then-kill --only peer-kill-second --only graceful-close
	# The CLI pair talks IPv6 link-local across the veth (scope = local interface).
	run_lines netns/cli 120 dsm/tests/cli_test.sh dsm/build/dsm netns/ "$ns_a" "$ns_b" \
		"fe80::a%$veth_b" "fe80::b%$veth_a"
else
	tap_not_ok netns/setup "$(last_lines "$log")"
fi

# ----------------------------------------------------------- sanitizers
if ((san_ok)); then
	export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=23"
	export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
	run_lines asan/selftest 240 dsm/build-san/dsm_selftest --prefix asan/ --seed "$((seed + 3))" --ops 1000
	run_lines asan/cli 120 dsm/tests/cli_test.sh dsm/build-san/dsm asan/
fi

tap_exit
