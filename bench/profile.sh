#!/usr/bin/env bash
# Where does the time go? Runs `ipcbench loop <workload>` under perf inside
# the 6.1 VM for each argument and prints the hottest symbols:
#   bench/profile.sh "slot-pair --size 128 --seconds 8" "pipe-pair --size 128 --seconds 8"
# perf is the host's (linux-perf, installed if missing), carried into the
# VM with its shared libraries. Set MSGSLOT_PROFILE_CALLGRAPH=1 for -g,
# MSGSLOT_PROFILE_SECONDS for the sampled time per workload (default 6),
# MSGSLOT_PROFILE_ANNOTATE="msgslot_read msgslot_write" for per-instruction
# shares inside those functions.
# Pipe the output through `awk -f bench/profile-buckets.awk` for cost buckets.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$TOP"
[[ $# -gt 0 ]] || { sed -n '2,7s/^# \{0,1\}//p' "$0" >&2; exit 2; }

if ! command -v perf > /dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends linux-perf >&2
fi
perf_bin=$(command -v perf)
# Debian diverts /usr/bin/perf to a version wrapper when it is a script.
if [[ $(head -c2 "$perf_bin") == '#!' ]]; then
    versioned=(/usr/bin/perf_*)
    perf_bin=$(printf '%s\n' "${versioned[@]}" | sort -V | tail -n1)
fi

mkdir -p build/bench/perf/lib
gcc -O2 -g -std=gnu11 -Wall -Wextra -Werror -static -I"$TOP" -I"$TOP/npheap_shim" \
    -o build/bench/ipcbench bench/*.c
cp "$perf_bin" build/bench/perf/perf
# objdump too, for `perf annotate` of the functions in MSGSLOT_PROFILE_ANNOTATE.
cp "$(command -v objdump)" build/bench/perf/objdump
for bin in "$perf_bin" "$(command -v objdump)"; do
    ldd "$bin" | awk '$3 ~ /^\// { print $3 } $1 ~ /^\/.*ld-linux/ { print $1 }' |
        while read -r lib; do cp -L "$lib" build/bench/perf/lib/; done
done

export MSGSLOT_PROFILE
MSGSLOT_PROFILE=$(printf '%s;' "$@")
tests/vm/boot.sh --kernel "${BENCH_KERNEL:-6.1}" --entry bench/profile-guest.sh \
    --add build/bench/ipcbench --add build/bench/perf --mem 2G --smp 2 \
    --timeout "${BENCH_TIMEOUT:-900}" --log build/bench/profile-console.log
