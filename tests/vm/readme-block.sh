#!/usr/bin/env bash
# Prints commands of a README.md block, so that tests run exactly what the
# README shows:
#   readme-block.sh graders-host     "For graders": before `sudo insmod`
#                                    (unzip, make)
#   readme-block.sh graders-guest    "For graders": from `sudo insmod` on
#                                    (load, mknod, the CLIs)
#   readme-block.sh install-guest    "Install on a real host": from
#                                    `sudo modprobe` to the censored write
#                                    (load, mknod, the CLIs)
set -euo pipefail
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# heading, first line printed, first line not printed (empty: to the end)
case ${1:-} in
graders-host) set -- '## For graders' '' '^sudo insmod' ;;
graders-guest) set -- '## For graders' '^sudo insmod' '' ;;
install-guest) set -- '## Install on a real host' '^sudo modprobe' '^man ' ;;
*) echo "usage: readme-block.sh graders-host|graders-guest|install-guest" >&2; exit 2 ;;
esac
awk -v heading="$1" -v from="$2" -v to="$3" '
    $0 == heading { section = 1; on = from == ""; next }
    section && /^## / { exit }
    section && /^```sh/ { block = 1; next }
    block && /^```/ { exit }
    block {
        if (from != "" && $0 ~ from) on = 1
        if (to != "" && $0 ~ to) exit
        if (on) print
    }' "$TOP/README.md"
