#!/usr/bin/env bash
# `make demo`: boots the Debian 6.1 kernel in qemu, loads the module and
# sends and reads messages with the CLIs (tests/vm/demo-guest.sh), printing
# that session. The kernel's console goes to build/logs/demo.log; any kernel
# report in it fails the demo.
set -euo pipefail
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
log=$TOP/build/logs/demo.log
kernel=${DEMO_KERNEL:-6.1}

echo "Booting the Debian $kernel kernel in qemu (software emulation, about half a minute)..."
rc=0
"$TOP/tests/vm/boot.sh" --kernel "$kernel" --entry tests/vm/demo-guest.sh \
    --timeout 300 --log "$log" 2>"$TOP/build/logs/demo-boot.err" || rc=$?
if [[ $rc -ge 124 ]]; then
    cat "$TOP/build/logs/demo-boot.err" >&2
fi
if ! scan=$("$TOP/tests/vm/scan-log.sh" "$log"); then
    echo "The kernel reported a problem: $(head -n1 <<<"$scan")"
    tail -n +2 <<<"$scan"
    rc=${rc/#0/1}
fi
echo "(full console log: ${log#"$TOP"/})"
exit "$rc"
