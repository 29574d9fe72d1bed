#!/usr/bin/env python3
"""Scores and reports for grade/msgslot-grade.

report.py --tests grade/tests.list --rubric FILE --seed N --kernels "6.1 6.12"
          --run RUN_DIR --elapsed S [--class OUT_ROOT] NAME=DEST...

For each NAME it reads RUN_DIR/NAME/results.tsv (kernel, test, status,
seconds, reason) and RUN_DIR/NAME/out/<kernel>/<test>.out, and writes
DEST/results.json (Gradescope), DEST/junit.xml and DEST/report.md.  With
--class it also writes OUT_ROOT/summary.csv.  A summary goes to stderr.
"""
import argparse
import csv
import json
import os
import re
import subprocess
import sys
from xml.sax.saxutils import escape, quoteattr

PER_RUN = ("clis_build", "clis_no_warnings", "header_defines_channel")


def read_tests(path):
    tests = {}
    order = []
    with open(path) as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split(None, 3)
            tests[parts[0]] = {"deadline": int(parts[1]), "where": parts[2],
                               "purpose": parts[3].strip() if len(parts) > 3 else ""}
            order.append(parts[0])
    return tests, order


def read_rubric(path):
    """<test> <points> [<section>] lines; '#' comments."""
    rubric = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            try:
                points = float(parts[1])
            except (IndexError, ValueError):
                sys.exit("report.py: %s:%d: expected '<test> <points> [<section>]'" % (path, n))
            rubric[parts[0]] = {"points": points,
                                "section": parts[2] if len(parts) > 2 else "other"}
    return rubric


def read_results(run, name):
    rows = {}
    path = os.path.join(run, name, "results.tsv")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) < 5:
                    continue
                kernel, test, status, secs, reason = parts[:5]
                try:
                    secs = float(secs)
                except ValueError:
                    secs = 0.0
                # A later line (a test re-run after a reboot) wins.
                rows[(kernel, test)] = {"status": status, "seconds": secs, "reason": reason}
    return rows


def detail(run, name, kernel, test):
    path = os.path.join(run, name, "out", kernel, test + ".out")
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def xml_text(text):
    """@text without the control characters XML 1.0 forbids (kernel logs have some)."""
    return re.sub("[\x00-\x08\x0b\x0c\x0e-\x1f]", "?", text)


def git_rev():
    try:
        return subprocess.run(["git", "-C", os.path.dirname(os.path.abspath(__file__)),
                               "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def planned(test, kernel, only):
    """Whether msgslot-grade runs @test on @kernel (its plan's rules)."""
    if only and test not in only:
        return False
    if test.startswith("kmemleak_"):
        return kernel == "debug"
    return test != "release_frees_memory" or kernel != "debug"


def score_one(name, dest, args, tests, order, rubric, kernels):
    rows = read_results(args.run, name)
    entries = []
    for test in order:
        ks = ["all"] if test in PER_RUN else kernels
        for k in ks:
            row = rows.get((k, test))
            if row is None:
                # A planned test without a result (no message_slot.c, a
                # build that stopped early) still counts in the maximum.
                if not planned(test, k, args.only):
                    continue
                row = {"status": "not-run", "seconds": 0.0,
                       "reason": "no result: the submission did not get this far"}
            pts = rubric.get(test, {"points": 0.0})["points"]
            max_score = pts if k == "all" else pts / len(kernels)
            passed = row["status"] == "pass"
            entries.append({
                "test": test, "kernel": k, "status": row["status"],
                "seconds": row["seconds"], "reason": row["reason"],
                "max_score": round(max_score, 4),
                "score": round(max_score if passed else 0.0, 4),
                "section": rubric.get(test, {}).get("section", "unscored"),
                "purpose": tests.get(test, {}).get("purpose", ""),
                "detail": detail(args.run, name, k, test),
            })
    total = round(sum(e["score"] for e in entries), 2)
    max_total = round(sum(e["max_score"] for e in entries), 2)
    meta = "graded on %s, seed %d, grader %s, rubric %s" % (
        " ".join(kernels), args.seed, git_rev(), os.path.basename(args.rubric))

    # results.json (Gradescope autograder format)
    gs_tests = []
    for e in entries:
        out = e["purpose"]
        if e["status"] != "pass":
            out += "\n%s: %s" % (e["status"].upper(), e["reason"])
            if e["detail"].strip():
                out += "\n" + e["detail"].strip()[-3000:]
        gs_tests.append({
            "name": "%s/%s" % (e["kernel"], e["test"]),
            "score": e["score"], "max_score": e["max_score"],
            "status": "passed" if e["status"] == "pass" else "failed",
            "output": out, "tags": [e["section"]],
            "extra_data": {"result": e["status"], "seconds": e["seconds"]},
        })
    with open(os.path.join(dest, "results.json"), "w") as f:
        json.dump({"score": total, "max_score": max_total, "execution_time": args.elapsed,
                   "output": meta, "tests": gs_tests}, f, indent=2)
        f.write("\n")

    # junit.xml
    with open(os.path.join(dest, "junit.xml"), "w") as f:
        fails = sum(1 for e in entries if e["status"] in ("fail", "not-run"))
        errors = sum(1 for e in entries if e["status"] in ("crashed", "timeout"))
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        f.write('<testsuites name=%s tests="%d" failures="%d" errors="%d">\n' % (
            quoteattr("msgslot-grade " + name), len(entries), fails, errors))
        for k in (["all"] + kernels):
            ks = [e for e in entries if e["kernel"] == k]
            if not ks:
                continue
            f.write('  <testsuite name=%s tests="%d">\n' % (quoteattr("%s.%s" % (name, k)), len(ks)))
            for e in ks:
                f.write('    <testcase classname=%s name=%s time="%.1f">' % (
                    quoteattr("%s.%s" % (name, k)), quoteattr(e["test"]), e["seconds"]))
                if e["status"] != "pass":
                    tag = "error" if e["status"] in ("crashed", "timeout") else "failure"
                    f.write('<%s type=%s message=%s>%s</%s>' % (
                        tag, quoteattr(e["status"]), quoteattr(xml_text(e["reason"])),
                        escape(xml_text(e["detail"][-4000:])), tag))
                f.write('</testcase>\n')
            f.write('  </testsuite>\n')
        f.write('</testsuites>\n')

    # report.md
    sub_path = args.sources.get(name, name)
    lines = ["# %s: %s / %s" % (name, fmt(total), fmt(max_total)), "",
             meta + "; %d s." % args.elapsed, ""]
    cols = ["all"] + kernels
    lines.append("| test | purpose | " + " | ".join(cols) + " | points |")
    lines.append("|---|---|" + "---|" * len(cols) + "---|")
    for test in order:
        got = [e for e in entries if e["test"] == test]
        if not got:
            continue
        cells = []
        for k in cols:
            e = next((x for x in got if x["kernel"] == k), None)
            cells.append("" if e is None else ("ok" if e["status"] == "pass" else "**%s**" % e["status"]))
        lines.append("| %s | %s | %s | %s / %s |" % (
            test, got[0]["purpose"], " | ".join(cells),
            fmt(sum(e["score"] for e in got)), fmt(sum(e["max_score"] for e in got))))
    bad = [e for e in entries if e["status"] != "pass"]
    if bad:
        lines += ["", "## Failures", ""]
    for e in bad:
        lines += ["### %s/%s: %s" % (e["kernel"], e["test"], e["status"]), "",
                  e["purpose"], "", "- result: " + (e["reason"] or "(no reason)")]
        klines = [l for l in e["detail"].splitlines() if l.startswith("kernel: ")]
        other = [l for l in e["detail"].splitlines() if not l.startswith("kernel: ")]
        if other:
            lines += ["- output:", "", "```"] + other[-40:] + ["```"]
        if klines:
            lines += ["- kernel log lines it caused:", "", "```"] + \
                     [l[len("kernel: "):] for l in klines[:40]] + ["```"]
        k = e["kernel"] if e["kernel"] != "all" else kernels[0]
        lines += ["- reproduce: `grade/msgslot-grade --kernels %s --tests %s %s`" % (
            k, e["test"], sub_path)]
        if tests.get(e["test"], {}).get("where") == "c":
            lines += ["  (in a VM with the module loaded: `GRADE_MAJOR=<major> GRADE_SENDER=./message_sender "
                      "GRADE_READER=./message_reader grade_tests %s`, grade_tests built from "
                      "grade/guest/grade_tests.c with `-I<submission>`)" % e["test"]]
        lines.append("")
    with open(os.path.join(dest, "report.md"), "w") as f:
        f.write("\n".join(lines) + "\n")

    by_test = {}
    for e in entries:
        by_test[e["test"]] = by_test.get(e["test"], 0.0) + e["score"]
    return {"name": name, "score": total, "max": max_total, "by_test": by_test,
            "failed": sorted({"%s/%s" % (e["kernel"], e["test"]) for e in bad}),
            "dest": dest}


def fmt(x):
    return ("%.2f" % x).rstrip("0").rstrip(".")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tests", required=True)
    ap.add_argument("--rubric", required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--kernels", required=True)
    ap.add_argument("--run", required=True)
    ap.add_argument("--elapsed", type=int, default=0)
    ap.add_argument("--class", dest="class_root")
    ap.add_argument("--only", default="", help="the tests selected (default: all)")
    ap.add_argument("subs", nargs="+")
    args = ap.parse_args()
    tests, order = read_tests(args.tests)
    rubric = read_rubric(args.rubric)
    unknown = sorted(set(rubric) - set(tests))
    if unknown:
        sys.exit("report.py: %s names tests that do not exist: %s (see %s)" %
                 (args.rubric, " ".join(unknown), args.tests))
    args.only = set(args.only.split())
    kernels = args.kernels.split()
    args.sources = {}
    try:
        with open(os.path.join(args.run, "sources.tsv")) as f:
            for line in f:
                name, _, src = line.rstrip("\n").partition("\t")
                args.sources[name] = src
    except OSError:
        pass
    summaries = []
    for spec in args.subs:
        name, dest = spec.split("=", 1)
        os.makedirs(dest, exist_ok=True)
        summaries.append(score_one(name, dest, args, tests, order, rubric, kernels))
    if args.class_root:
        with open(os.path.join(args.class_root, "summary.csv"), "w", newline="") as f:
            w = csv.writer(f)
            cols = [t for t in order if t in rubric]
            w.writerow(["submission", "score", "max_score"] + cols)
            for s in summaries:
                w.writerow([s["name"], fmt(s["score"]), fmt(s["max"])] +
                           [fmt(s["by_test"].get(t, 0.0)) for t in cols])
    width = max(len(s["name"]) for s in summaries)
    print("%-*s  %7s  %s" % (width, "submission", "score", "failed tests"), file=sys.stderr)
    for s in summaries:
        print("%-*s  %7s  %s" % (width, s["name"], "%s/%s" % (fmt(s["score"]), fmt(s["max"])),
                                 " ".join(s["failed"]) or "-"), file=sys.stderr)
    for s in summaries:
        print("%s: %s" % (s["name"], s["dest"]), file=sys.stderr)


if __name__ == "__main__":
    main()
