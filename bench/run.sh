#!/usr/bin/env bash
# `make bench`: boots the stock 6.1 kernel under qemu (tests/vm/boot.sh), runs
# bench/guest.sh there (ipcbench: message slot vs pipe/mq/dgram, channel
# scaling, memory per channel, NP-Heap vs shm), adds the DSM rows of
# dsm/bench.sh when it exists, and writes
#   results/bench-<timestamp>/{table.txt,bench.csv,bench.png,console.log,guest.out}
# plus the symlink results/latest. Prints the table.
#
# Knobs: BENCH_REPS (default 7), BENCH_SAMPLE_MS (150), BENCH_PARTS
# ("mem msg scale npheap"), BENCH_MAX_CHANNELS (1048576), BENCH_TIMEOUT
# (seconds for the VM, default 900), BENCH_KERNEL (6.1).
#
# Exit status: 0 when every part ran and produced its rows (a missed target
# is a result, not an error), 1 otherwise.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$TOP"

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- host dependencies --------------------------------------------------------
need_pkgs=()
command -v gnuplot > /dev/null || need_pkgs+=(gnuplot-nox)
command -v gcc > /dev/null || need_pkgs+=(gcc)
[[ -f /usr/lib/x86_64-linux-gnu/libc.a ]] || need_pkgs+=(libc6-dev)
if [[ ${#need_pkgs[@]} -gt 0 ]]; then
    [[ $(id -u) -eq 0 ]] || die "needs ${need_pkgs[*]} (apt-get install as root)"
    log "apt-get install ${need_pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt_opts=(-o DPkg::Lock::Timeout=900 -o Acquire::Retries=3)
    apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends "${need_pkgs[@]}" >&2 ||
        { apt-get "${apt_opts[@]}" update -qq >&2 &&
          apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends "${need_pkgs[@]}" >&2; }
fi

# --- build --------------------------------------------------------------------
mkdir -p build/bench
gcc -O2 -g -std=gnu11 -Wall -Wextra -Werror -static -I"$TOP" -I"$TOP/npheap_shim" \
    -o build/bench/ipcbench bench/*.c

# --- run ------------------------------------------------------------------------
stamp=$(date +%Y%m%d-%H%M%S)
out=results/bench-$stamp
mkdir -p "$out"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
started=$SECONDS

export MSGSLOT_BENCH_REPS=${BENCH_REPS:-7}
export MSGSLOT_BENCH_SAMPLE_MS=${BENCH_SAMPLE_MS:-150}
export MSGSLOT_BENCH_PARTS=${BENCH_PARTS:-mem msg scale npheap}
export MSGSLOT_BENCH_MAX_CHANNELS=${BENCH_MAX_CHANNELS:-1048576}

log "booting the ${BENCH_KERNEL:-6.1} VM; results in $out"
set +e
# 2 GiB: 2^20 channels of 128-byte messages hold ~170 MiB of slab.
tests/vm/boot.sh --kernel "${BENCH_KERNEL:-6.1}" --entry bench/guest.sh \
    --add build/bench/ipcbench --mem 2G --smp 2 \
    --timeout "${BENCH_TIMEOUT:-900}" --log "$out/console.log" |
    tee "$out/guest.out" | grep --line-buffered -v '^BENCH' >&2
vm_rc=${PIPESTATUS[0]}
set -e
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
log "VM finished with status $vm_rc after $((SECONDS - started)) s"

csv=$out/bench.csv
echo 'section,test,mechanism,size,median,min,max,unit,target,verdict' > "$csv"
grep -a '^BENCH,' "$out/guest.out" | sed 's/^BENCH,//' >> "$csv" || true

# --- DSM rows (dsm/bench.sh <csv-path>, run on the host) -------------------------
dsm_status="not run (dsm/bench.sh does not exist)"
if [[ -x dsm/bench.sh ]]; then
    log "running dsm/bench.sh"
    if dsm/bench.sh "$out/dsm.csv" >&2; then
        dsm_status="ok"
    else
        dsm_status="dsm/bench.sh exited $?"
    fi
    # Its rows join bench.csv: as they are when in our columns, converted
    # from its "metric,unit,median,min,max,ratio_to_<base>_median,ratio_min,
    # ratio_max,runs" format; anything else is shown as it is (dsm.csv).
    if [[ -f $out/dsm.csv ]]; then
        dsm_header=$(head -n1 "$out/dsm.csv")
        if [[ $dsm_header == "$(head -n1 "$csv")" ]]; then
            tail -n +2 "$out/dsm.csv" >> "$csv"
            mv "$out/dsm.csv" "$out/dsm-rows.csv"
        elif [[ $dsm_header == metric,unit,median,min,max,ratio_to_*_median,ratio_min,ratio_max* ]]; then
            base=${dsm_header#*ratio_to_}
            base=${base%%_median*}
            awk -F, -v base="$base" 'NR > 1 {
                    printf "dsm,%s,dsm,,%s,%s,%s,%s,,\n", $1, $3, $4, $5, $2
                    if ($1 != base) printf "dsm-ratio,%s/%s,dsm,,%s,%s,%s,x,,\n", $1, base, $6, $7, $8
                }' "$out/dsm.csv" >> "$csv"
            mv "$out/dsm.csv" "$out/dsm-rows.csv"
        fi
    fi
fi

# --- grading time (grade/bench appends its rows to bench.csv) ----------------------
if [[ -x grade/bench && ${BENCH_GRADE:-1} != 0 ]]; then
    log "running grade/bench (grading one submission on 6.1 and 6.12)"
    grade/bench "$csv" >&2 || log "grade/bench exited $?"
fi

# --- table and plot --------------------------------------------------------------
info() { grep -a "^BENCHINFO,$1," "$out/guest.out" | cut -d, -f3 | tail -n1; }
{
    echo "kernel=$(info kernel)"
    echo "vcpus=$(info vcpus)"
    echo "reps=$MSGSLOT_BENCH_REPS"
    echo "sample_ms=$MSGSLOT_BENCH_SAMPLE_MS"
    echo "load_start=$load_start"
    echo "load_end=$load_end"
    echo "stamp=$stamp"
    echo "dsm_status=$dsm_status"
    grep -a '^BENCHERR,' "$out/guest.out" | sed 's/^BENCHERR,/error=/' || true
} > "$out/info.txt"
table_inputs=("$out/info.txt" "$csv")
[[ -f $out/dsm.csv ]] && table_inputs+=("$out/dsm.csv")
awk -f bench/table.awk "${table_inputs[@]}" > "$out/table.txt"
bench/plot.sh "$csv" "$out/bench.png" || log "plot failed (see above)"

ln -sfn "bench-$stamp" results/latest
cat "$out/table.txt"
log "wrote $out/table.txt, $csv, $out/bench.png (results/latest -> bench-$stamp)"

# Every part must have delivered its rows.
missing=
for section in msg scale mem npheap; do
    case " $MSGSLOT_BENCH_PARTS " in *" $section "*) ;; *) continue ;; esac
    grep -q "^$section," "$csv" || missing+=" $section"
done
if [[ $vm_rc -ne 0 || -n $missing ]]; then
    die "VM status $vm_rc, parts without results:${missing:- none} (see $out/console.log)"
fi
