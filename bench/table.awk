# Formats the benchmark table from bench/run.sh's files:
#   awk -f bench/table.awk info.txt bench.csv [dsm.csv]
# info.txt: key=value lines (kernel, vcpus, reps, load, errors).
# bench.csv: section,test,mechanism,size,median,min,max,unit,target,verdict
# dsm.csv (optional): printed as it is when its columns differ from ours
# (rows in our columns were already merged into bench.csv by run.sh).

BEGIN { FS = "," }

FILENAME == ARGV[1] {
    eq = index($0, "=")
    ikey = substr($0, 1, eq - 1)
    val = substr($0, eq + 1)
    if (ikey == "error") errors[++nerrors] = val
    else info[ikey] = val
    next
}

FILENAME == ARGV[2] {
    if (FNR == 1) next
    k = $1 SUBSEP $2 SUBSEP $3 SUBSEP $4
    med[k] = $5; lo[k] = $6; hi[k] = $7; unit[k] = $8; tgt[k] = $9; verdict[k] = $10
    other[++nother] = $0
    if ($10 == "PASS") npass++
    if ($10 == "MISS") { nmiss++; misses[nmiss] = $1 " " $2 " " $3 " size " $4 ": " $5 " (target " $9 ")" }
    next
}

{ dsm_raw[++ndsm_raw] = $0 }

# Value scaled by @div, with few enough digits to read at a glance.
function num(x, div,    v) {
    v = x / div
    if (v < 0) return sprintf("%.2f", v)
    if (v >= 1000) return sprintf("%.0f", v)
    if (v >= 100) return sprintf("%.0f", v)
    if (v >= 10) return sprintf("%.1f", v)
    return sprintf("%.2f", v)
}

# "median [min-max]" of row @k divided by @div, or "-" when absent.
function cell(k, div) {
    if (!(k in med)) return "-"
    if (med[k] == lo[k] && med[k] == hi[k]) return num(med[k], div)
    return num(med[k], div) " [" num(lo[k], div) "-" num(hi[k], div) "]"
}

# As cell(), plus PASS/MISS when the row has a target.
function rcell(k) {
    if (!(k in med)) return "-"
    return cell(k, 1) (verdict[k] != "" ? " " verdict[k] : "")
}

function rkey(s, t, m, z) { return s SUBSEP t SUBSEP m SUBSEP z }

function target_of(s, t, m, z,    k) {
    k = rkey(s, t, m, z)
    return (k in tgt) ? tgt[k] : ""
}

function heading(text) { printf "\n%s\n", text }

# One line: a label, then the cells of rows (s, t, m, size) for each size in @sizes.
function msg_line(label, s, t, m, div, ratio,    i, c, line) {
    line = sprintf("  %-18s", label)
    for (i = 1; i <= nsizes; i++) {
        c = ratio ? rcell(rkey(s, t, m, sizes[i])) : cell(rkey(s, t, m, sizes[i]), div)
        line = line sprintf(" %-23s", c)
    }
    t = target_of(s, t, m, sizes[1])
    print line (t != "" ? "  target " t : "")
}

END {
    split("section msg msg-ratio msg-polls scale scale-ratio mem npheap npheap-tp npheap-ratio", ks, " ")
    nsizes = split("1 16 64 128", sizes, " ")

    printf "message_slot benchmarks - kernel %s, %s vCPUs (qemu TCG), %s repetitions of ~%s ms samples\n", \
        info["kernel"], info["vcpus"], info["reps"], info["sample_ms"]
    printf "run %s; host load average at start %s, at end %s\n", info["stamp"], info["load_start"], info["load_end"]
    print "Cells: median [min-max] over the repetitions. A sample's value is its fastest ~1 ms window:"
    print "the host deschedules the VM's vCPU threads at will (TCG has no steal time), which only ever"
    print "slows a window down. Ratios are computed per repetition from samples taken back to back,"
    print "then summarised the same way; under TCG they, not the absolute times, are what counts."

    heading("1. Message cost, microseconds per message (same process: one write + one read;")
    print  "   cross process: ping-pong round trip / 2)"
    printf "  %-18s", "size (bytes)"
    for (i = 1; i <= nsizes; i++) printf " %-23s", sizes[i]
    printf "\n"
    print "  same process"
    split("slot pipe mq dgram", mm, " ")
    for (j = 1; j <= 4; j++) msg_line(mm[j], "msg", "same-process", mm[j], 1000, 0)
    for (j = 2; j <= 4; j++) msg_line("slot/" mm[j], "msg-ratio", "same-process", "slot/" mm[j], 1, 1)
    msg_line("slot write only", "msg", "same-process", "slot-write-only", 1000, 0)
    msg_line("slot read only", "msg", "same-process", "slot-read-only", 1000, 0)
    print "  cross process"
    n = split("slot slot-wait slot-epoll pipe mq dgram eventfd pipe-epoll eventfd-epoll mq-epoll pipe-yield mq-yield dgram-yield", xm, " ")
    for (j = 1; j <= n; j++) msg_line(xm[j], "msg", "cross-process", xm[j], 1000, 0)
    split("pipe mq dgram pipe-yield mq-yield dgram-yield", xd, " ")
    for (j = 1; j <= 6; j++) msg_line("slot/" xd[j], "msg-ratio", "cross-process", "slot/" xd[j], 1, 1)
    n = split("slot-wait/eventfd slot-wait/pipe slot-wait/mq slot-wait/dgram slot-epoll/pipe-epoll slot-epoll/eventfd-epoll slot-epoll/mq-epoll slot-epoll/pipe slot-epoll/eventfd", xr, " ")
    for (j = 1; j <= n; j++) msg_line(xr[j], "msg-ratio", "cross-process", xr[j], 1, 1)
    msg_line("slot reads/msg", "msg-polls", "cross-process", "slot", 1, 0)
    print "  Same process: write(fd, buf, size) then read(fd, buf, 128) on one slot channel, vs"
    print "  write+read on a pipe, mq_send+mq_receive on one queue, send+recv on a socketpair."
    print "  Cross process: A sends message i, B waits for it and answers i, A waits for the answer;"
    print "  both processes on vCPU 0, so each message includes one switch to the other process."
    print "  slot: each side writes its own channel and re-reads the other's, calling sched_yield()"
    print "  between reads, until the sequence byte in the message changes (\"slot reads/msg\" counts"
    print "  those reads). slot-wait: the reading fd has MSG_SLOT_SET_WAIT on, so read sleeps until a"
    print "  message it has not read; slot-epoll: epoll_wait() on the reading fd, then read. eventfd:"
    print "  the message goes through shared memory, an eventfd write/read carries the wake-up."
    print "  *-epoll: epoll_wait() on the receive end, then a non-blocking receive (like slot-epoll)."
    print "  pipe/mq/dgram block in their receive (their normal use); the *-yield rows use a"
    print "  non-blocking receive retried after sched_yield(). Across two TCG vCPUs every mechanism costs"
    print "  milliseconds per message (an idle vCPU wakes on its next timer tick; a spinning peer"
    print "  waits for the host to run the other vCPU thread): that measures qemu, not the IPC."

    print "  notification (slot, same process)"
    for (j = 0; j <= 64; j = (j ? j * 8 : 1))
        msg_line(sprintf("write, %d pollers", j), "notify", "same-process", "write-" j "-pollers", 1000, 0)
    for (j = 1; j <= 64; j *= 8)
        msg_line(sprintf("  %d pollers / 0", j), "notify-ratio", "same-process", "write-" j "-pollers/0", 1, 1)
    line = sprintf("  %-18s", "fan-out (16 B)")
    for (j = 1; j <= 64; j *= 8)
        line = line sprintf(" %-23s", j " poller" (j > 1 ? "s " : "  ") cell(rkey("notify", "same-process", "fanout-" j "-pollers", 16), 1000))
    print line
    line = sprintf("  %-18s", "  per poller")
    for (j = 1; j <= 64; j *= 8)
        line = line sprintf(" %-23s", cell(rkey("notify", "same-process", "fanout-" j "-pollers-per-poller", 16), 1000))
    print line
    print "  write, N pollers: write(fd, buf, size) with N other open files of the channel in an epoll"
    print "  set nobody waits on (each write walks them and runs epoll's callback; no poller runs)."
    print "  fan-out: N threads, each with its own open file of the channel, sleep in poll(); the time"
    print "  from one write until all N have read the message (all on vCPU 0: N switches per write)."

    heading("2. Scaling with channels in one slot: microseconds per op on a random populated channel")
    split("1 1024 65536 1048576", cc, " ")
    printf "  %-22s", "channels"
    for (i = 1; i <= 4; i++) printf " %-23s", cc[i]
    printf "\n"
    split("select+write+read select+read", ops, " ")
    for (j = 1; j <= 2; j++) {
        line = sprintf("  %-22s", ops[j])
        for (i = 1; i <= 4; i++) line = line sprintf(" %-23s", cell(rkey("scale", ops[j], cc[i] "-channels", 16), 1000))
        print line
        line = sprintf("  %-22s", "  ratio to 1 channel")
        tline = ""
        for (i = 1; i <= 4; i++) {
            k = rkey("scale-ratio", ops[j], cc[i] "/1-channels", 16)
            line = line sprintf(" %-23s", i == 1 ? "1" : rcell(k))
            if ((k in tgt) && tgt[k] != "") tline = "  target " tgt[k] " at " cc[i]
        }
        print line tline
    }
    print "  op: ioctl(MSG_SLOT_CHANNEL, random id in 1..N) + write 16 bytes + read; select+read"
    print "  leaves the write out. N = 1, 2^10, 2^16, 2^20, one slot each, all populated first."

    heading("3. Kernel memory per channel (bytes), from /proc/meminfo and SLUB's /sys/kernel/slab")
    split("1 1 128 128", msz, " ")
    split("65536 1048576 65536 1048576", mch, " ")
    printf "  %-22s", "message size @ channels"
    for (i = 1; i <= 4; i++) printf " %-16s", msz[i] " B @ " mch[i]
    printf "\n"
    split("Slab SUnreclaim message-cache radix_tree_node", mrows, " ")
    for (j = 1; j <= 4; j++) {
        line = sprintf("  %-22s", mrows[j] (j == 3 ? "" : ""))
        tline = ""
        for (i = 1; i <= 4; i++) {
            m = mrows[j]
            if (m == "message-cache") m = (msz[i] == 1 ? "message_slot_32" : "message_slot_160")
            k = rkey("mem", mch[i] "-channels", m, msz[i])
            c = (k in med) ? num(med[k], 1) (verdict[k] != "" ? " " verdict[k] : "") : "-"
            if (verdict[k] != "") tline = tline " " tgt[k]
            line = line sprintf(" %-16s", c)
        }
        print line (tline != "" ? "  target (size+64):" tline : "")
    }
    line = sprintf("  %-22s", "after rmmod (KiB)")
    tline = ""
    for (i = 1; i <= 4; i += 2) {
        k = rkey("mem", "after-rmmod", "Slab", msz[i])
        kp = rkey("mem", "peak", "Slab", msz[i])
        c = (k in med) ? num(med[k], 1) " " verdict[k] : "-"
        line = line sprintf(" %-33s", c " (peak " ((kp in med) ? num(med[kp], 1) : "-") ")")
        if (k in tgt) tline = tline " " tgt[k]
    }
    print line (tline != "" ? "  target:" tline : "")
    print "  Per channel = (value after filling N channels - value after insmod) / N. Slab and"
    print "  SUnreclaim come from /proc/meminfo (xarray nodes are reclaimable slab: they are in Slab,"
    print "  not SUnreclaim); message_slot_<size> and radix_tree_node are the pages of those caches"
    print "  (SLUB sysfs, which follows cache merging; /proc/slabinfo lists a merged cache under another"
    print "  name). Empty slabs are shrunk before each reading. After rmmod: Slab minus its value before"
    print "  insmod; the target allows 1% of the peak (at least 256 KiB) of unrelated kernel noise."

    heading("4. NP-Heap")
    op = "lock+map+write4K+unmap+unlock"
    printf "  %-34s %s\n", "one op, microseconds", "(find existing object, lock, mmap, write 4 KiB, munmap, unlock)"
    printf "  %-34s %s\n", "  npheap", cell(rkey("npheap", op, "npheap", 4096), 1000)
    printf "  %-34s %s\n", "  shm_open+flock+mmap (tmpfs)", cell(rkey("npheap", op, "shm+flock", 4096), 1000)
    printf "  %-34s %s\n", "  npheap/shm", rcell(rkey("npheap-ratio", op, "npheap/shm", 4096))
    printf "  %-14s %-23s %-23s %-23s %-23s %s\n", "throughput", "1 proc (kops/s)", "2 procs, distinct ids", "ratio to 1 proc", "2 procs, same id", "ratio to 1 proc"
    split("npheap shm cpu-control", tw, " ")
    for (j = 1; j <= 3; j++) {
        kd = rkey("npheap-ratio", "2-proc-distinct-ids/1-proc", tw[j], 4096)
        printf "  %-14s %-23s %-23s %-23s %-23s %s%s\n", tw[j], \
            cell(rkey("npheap-tp", "1-proc", tw[j], 4096), 1000), \
            cell(rkey("npheap-tp", "2-proc-distinct-ids", tw[j], 4096), 1000), \
            rcell(kd), \
            cell(rkey("npheap-tp", "2-proc-same-id", tw[j], 4096), 1000), \
            rcell(rkey("npheap-ratio", "2-proc-same-id/1-proc", tw[j], 4096)), \
            ((kd in tgt) && tgt[kd] != "" ? "  target distinct " tgt[kd] : "")
    }
    printf "  %-14s", "whole-run ratio"
    for (j = 1; j <= 3; j++)
        printf " %s %s", tw[j], cell(rkey("npheap-ratio", "2-proc-distinct-ids/1-proc-whole-run", tw[j], 4096), 1)
    printf "   (distinct ids, no windows)\n"
    print "  shm side: shm_open(name) + flock(LOCK_EX) + mmap + write + munmap + flock(LOCK_UN) + close;"
    print "  NP-Heap keeps /dev/npheap open (the id is the name). Throughput: each process (pinned to"
    print "  its own vCPU) repeats the op and records when each op completes; the figure is the most"
    print "  completions in any 10 ms window (the stretch in which the host really ran both vCPUs);"
    print "  the whole-run ratio is first-to-last completion instead. cpu-control is pure user"
    print "  arithmetic: the parallelism the VM itself got from the host during this run."

    # DSM and any section this script does not know, as they come.
    n = 0
    for (i = 1; i <= nother; i++) {
        split(other[i], f, ",")
        if (f[1] ~ /^(msg|msg-ratio|msg-polls|notify|notify-ratio|scale|scale-ratio|mem|npheap|npheap-tp|npheap-ratio|grade)$/) continue
        if (!n++) { heading("5. DSM (dsm/bench.sh, run on the host over loopback; ratio = time / plain TCP round trip)"); printf "  %-14s %-30s %-16s %6s %-26s %-12s %s\n", "section", "test", "mechanism", "size", "median [min-max]", "unit", "target" }
        k = rkey(f[1], f[2], f[3], f[4])
        printf "  %-14s %-30s %-16s %6s %-26s %-12s %s\n", f[1], f[2], f[3], f[4], cell(k, 1), f[8], \
            (f[9] != "" ? f[9] " " f[10] : "")
    }
    if (ndsm_raw) {
        heading("5. DSM (dsm/bench.sh), as reported")
        for (i = 1; i <= ndsm_raw; i++) print "  " dsm_raw[i]
    } else if (!n) {
        heading("5. DSM: " info["dsm_status"])
    }

    n = 0
    for (i = 1; i <= nother; i++) {
        split(other[i], f, ",")
        if (f[1] != "grade") continue
        if (!n++) { heading("6. Grading (grade/bench: msgslot-grade on this machine)"); printf "  %-30s %-12s %10s %-6s %s\n", "test", "size", "median", "unit", "target" }
        printf "  %-30s %-12s %10s %-6s %s\n", f[2], f[4], f[5], f[8], (f[9] != "" ? (f[2] ~ /occupancy/ ? ">=" : "<=") f[9] " " f[10] : "")
    }

    heading(sprintf("Targets: %d PASS, %d MISS", npass, nmiss))
    for (i = 1; i <= nmiss; i++) print "  MISS " misses[i]
    for (i = 1; i <= nerrors; i++) print "  ERROR " errors[i]
}
