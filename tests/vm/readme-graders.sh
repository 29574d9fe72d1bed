#!/usr/bin/env bash
# Prints the commands of README's "For graders" block, so that tests run
# exactly what the README shows:
#   readme-graders.sh host    the commands before `sudo insmod` (unzip, make)
#   readme-graders.sh guest   from `sudo insmod` on (load, mknod, the CLIs)
set -euo pipefail
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
part=${1:?usage: readme-graders.sh host|guest}
awk -v part="$part" '
    /^## For graders/ { section = 1; next }
    section && /^## / { exit }
    section && /^```sh/ { block = 1; next }
    block && /^```/ { exit }
    block {
        if ($0 ~ /^sudo insmod/) guest = 1
        if ((part == "guest") == guest) print
    }' "$TOP/README.md"
