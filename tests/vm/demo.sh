#!/usr/bin/env bash
# `make demo`: boots the Debian 6.1 kernel in qemu, loads the module and
# sends and reads messages with the CLIs (tests/vm/demo-guest.sh), printing
# that session. Setup progress (packages, kernel download) is shown as it
# happens. The kernel's console goes to build/logs/demo.log; any kernel
# report in it fails the demo. DEMO_KERNEL=6.12 boots 6.12.
set -euo pipefail
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
mkdir -p "$TOP/build/logs"
log=$TOP/build/logs/demo.log
kernel=${DEMO_KERNEL:-6.1}
start=$SECONDS

echo "Booting the Debian $kernel kernel in qemu (software emulation, about half a minute)..."
rm -f "$log"
rc=0
"$TOP/tests/vm/boot.sh" --kernel "$kernel" --entry tests/vm/demo-guest.sh \
    --timeout 300 --log "$log" || rc=$?
# 126: nothing booted (setup or build failed, said above); the kernel is
# judged only when it ran.
if [[ $rc -ne 126 && -s $log ]]; then
    if ! scan=$("$TOP/tests/vm/scan-log.sh" "$log"); then
        echo "The kernel reported a problem: $(head -n1 <<<"$scan")"
        tail -n +2 <<<"$scan"
        [[ $rc -ne 0 ]] || rc=1
    fi
    echo "(full console log: ${log#"$TOP"/})"
fi
if [[ $rc -eq 0 ]]; then
    echo "Demo done in $((SECONDS - start))s."
else
    echo "Demo failed (status $rc) after $((SECONDS - start))s." >&2
fi
exit "$rc"
