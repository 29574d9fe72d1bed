#!/usr/bin/env bash
# Draws bench.png from bench.csv (columns as in bench/ipcbench.c):
#   bench/plot.sh <bench.csv> <out.png>
# Six panels: message cost same/cross process, slot/peer ratios, channel
# scaling, memory per channel, NP-Heap throughput ratios; targets as dashed
# lines. Error bars are the min..max over the repetitions.
set -euo pipefail

csv=${1:?usage: plot.sh <bench.csv> <out.png>}
png=${2:?usage: plot.sh <bench.csv> <out.png>}
command -v gnuplot > /dev/null || { echo "plot.sh: gnuplot is not installed" >&2; exit 1; }
dat=$(mktemp -d)
trap 'rm -rf "$dat"' EXIT

# Message cost: one file per mechanism, "size-index median min max" in µs.
for mode in same-process cross-process; do
    for mech in slot pipe mq dgram pipe-yield mq-yield dgram-yield; do
        awk -F, -v mode="$mode" -v mech="$mech" '
            NR > 1 && $1 == "msg" && $2 == mode && $3 == mech {
                i = ($4 == 1 ? 0 : $4 == 16 ? 1 : $4 == 64 ? 2 : 3)
                print i, $5 / 1000, $6 / 1000, $7 / 1000 }' "$csv" > "$dat/$mode-$mech.dat"
    done
done
for mode in same-process cross-process; do
    awk -F, -v mode="$mode" '
        NR > 1 && $1 == "msg-ratio" && $2 == mode && $3 == "slot/pipe" {
            i = ($4 == 1 ? 0 : $4 == 16 ? 1 : $4 == 64 ? 2 : 3)
            print i, $5, $6, $7 }' "$csv" > "$dat/ratio-$mode.dat"
done
for op in select+write+read select+read; do
    awk -F, -v op="$op" '
        NR > 1 && $1 == "scale-ratio" && $2 == op {
            split($3, n, "/"); print log(n[1]) / log(2), $5, $6, $7 }
        NR > 1 && $1 == "scale" && $2 == op && $3 == "1-channels" { print 0, 1, 1, 1 }' \
        "$csv" | sort -n > "$dat/scale-$op.dat"
done
# Memory: "label slab target" per (size, channels).
awk -F, 'NR > 1 && $1 == "mem" && $3 == "Slab" && $2 ~ /-channels$/ {
            split($2, c, "-"); t = $9; sub(/^<=/, "", t)
            printf "\"%s B @ 2^{%d}\" %s %s\n", $4, log(c[1]) / log(2) + 0.5, $5, t }' \
    "$csv" > "$dat/mem.dat"
# NP-Heap throughput ratios: "label distinct same" per workload.
awk -F, 'NR > 1 && $1 == "npheap-ratio" && ($2 == "2-proc-distinct-ids/1-proc" || $2 == "2-proc-same-id/1-proc") {
            key = $3; if (!(key in seen)) { seen[key] = ++n; name[n] = key }
            if ($2 ~ /distinct/) d[key] = $5; else s[key] = $5 }
         END { for (i = 1; i <= n; i++) { k = name[i]; printf "%s %s %s\n", k, (k in d ? d[k] : 0), (k in s ? s[k] : 0) } }' \
    "$csv" > "$dat/tp.dat"

[[ -s $dat/mem.dat ]] || echo '"none" 0 0' > "$dat/mem.dat"
[[ -s $dat/tp.dat ]] || echo 'none 0 0' > "$dat/tp.dat"
for f in "$dat"/*.dat; do [[ -s $f ]] || echo '0 NaN NaN NaN' > "$f"; done

gnuplot <<EOF
set terminal pngcairo size 1500,1250 font "DejaVu Sans,10"
set output "$png"
set multiplot layout 3,2 title "message\\\\_slot benchmarks (qemu TCG; medians, bars = min..max)"
set grid ytics
set key top left
set xtics ("1" 0, "16" 1, "64" 2, "128" 3)
set xrange [-0.5:3.5]
set xlabel "message size (bytes)"
set ylabel "µs per message"
set yrange [0:*]

set title "1a. Same process: write + read"
plot for [m in "slot pipe mq dgram"] "$dat/same-process-".m.".dat" \
     using 1:2:3:4 with yerrorlines lw 2 title m

set title "1b. Cross process ping-pong on one vCPU (round trip / 2)"
plot for [m in "slot pipe mq dgram pipe-yield mq-yield dgram-yield"] "$dat/cross-process-".m.".dat" \
     using 1:2:3:4 with yerrorlines lw 2 title m

set title "1c. Message slot / pipe"
set ylabel "ratio"
plot "$dat/ratio-same-process.dat" using 1:2:3:4 with yerrorlines lw 2 title "same process", \
     "$dat/ratio-cross-process.dat" using 1:2:3:4 with yerrorlines lw 2 title "cross process", \
     0.9 with lines dt 2 lc rgb "red" title "target <= 0.9"

set title "2. Channels in one slot: cost per op / cost with 1 channel"
set xtics autofreq
set xtics ("1" 0, "2^{10}" 10, "2^{16}" 16, "2^{20}" 20)
set xrange [-1:21]
set xlabel "channels populated (random access)"
plot "$dat/scale-select+write+read.dat" using 1:2:3:4 with yerrorlines lw 2 title "select+write+read", \
     "$dat/scale-select+read.dat" using 1:2:3:4 with yerrorlines lw 2 title "select+read", \
     1.2 with lines dt 2 lc rgb "red" title "target <= 1.2 at 2^{20}"

set title "3. Kernel memory per channel (Slab delta)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.6 border -1
set xtics autofreq
set xrange [*:*]
set xlabel ""
set ylabel "bytes per channel"
plot "$dat/mem.dat" using 2:xtic(1) title "measured", "" using 3 title "target (size + 64)"

set title "4. NP-Heap throughput, 2 processes / 1 process (best 10 ms windows)"
set ylabel "ratio"
set yrange [0:2.2]
set arrow from graph 0, first 1.8 to graph 1, first 1.8 nohead dt 2 lc rgb "red"
plot "$dat/tp.dat" using 2:xtic(1) title "distinct ids (target >= 1.8 for npheap)", "" using 3 title "same id"
unset multiplot
EOF
