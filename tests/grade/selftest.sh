#!/usr/bin/env bash
# The grader's self-test: grade/msgslot-grade grades a class made of the
# project's own five-file submission (`make submission`), the plain
# reference tests/grade/simple/ and each mutant of tests/grade/mutants/
# (simple/ with one defect), all in one VM boot per kernel (reboots only
# after a crash or a dirty kernel log). Each must fail exactly the tests
# tests/grade/expect names for it and pass every other one.
#   tests/grade/selftest.sh
# GRADE_SELFTEST_KERNELS (default "6.1"): the kernels graded;
# GRADE_SELFTEST_SLOW=1 adds tests/grade/mutants-slow/ (hangs: each costs
# its test's deadline and a reboot); a "debug" kernel adds
# tests/grade/mutants-debug/ (leaks only kmemleak finds);
# GRADE_SELFTEST_ONLY="name...".
# Output: the TAP protocol of tests/README.md ("ok grade/<submission>").
set -uo pipefail
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$TOP" || exit 1
kernels=${GRADE_SELFTEST_KERNELS:-6.1}
work=$TOP/build/grade-selftest
class=$work/class
rm -rf "$work"
mkdir -p "$class"
TAP_SUITE=grade
# shellcheck source=tests/lib/tap.sh
. "$TOP/tests/lib/tap.sh"
trap tap_finish EXIT

# The project's own submission, as committed (a work tree with changes is
# packed as the commit `git stash create` makes of it).
rev=$(git stash create 2> /dev/null) || rev=
if make -s submission ID=selftest ZIP="$class/reference-project.zip" REV="${rev:-HEAD}" > "$work/zip.log" 2>&1; then
    tap_ok submission-zip
else
    tap_not_ok submission-zip "make submission failed: $(tail -n1 "$work/zip.log")"
fi
cp -r tests/grade/simple "$class/reference-simple"
patches=(tests/grade/mutants/*.patch)
[[ ${GRADE_SELFTEST_SLOW:-0} != 1 ]] || patches+=(tests/grade/mutants-slow/*.patch)
[[ " $kernels " != *" debug "* ]] || patches+=(tests/grade/mutants-debug/*.patch)
for patch in "${patches[@]}"; do
    name=$(basename "$patch" .patch)
    cp -r tests/grade/simple "$class/$name"
    if ! (cd "$class/$name" && patch -s -p1 < "$TOP/$patch") > "$work/patch-$name.log" 2>&1; then
        tap_not_ok "mutant-$name" "the patch does not apply: $(tail -n1 "$work/patch-$name.log")"
        rm -rf "${class:?}/$name"
    fi
done

# GRADE_SELFTEST_ONLY="name...": grade only these (a quicker loop).
if [[ -n ${GRADE_SELFTEST_ONLY:-} ]]; then
    for entry in "$class"/*; do
        name=$(basename "$entry" .zip)
        [[ " $GRADE_SELFTEST_ONLY " == *" $name "* ]] || rm -rf "$entry"
    done
fi
start=$SECONDS
# As grade/README shows a class run.
make -s grade SUB="$class" OUT="$work/out" KERNELS="$kernels" > "$work/grade.out" 2> "$work/grade.err"
rc=$?
# Only what is not a passing test line (the whole log: $work/grade.err).
grep -vE ' ok +$' "$work/grade.err" | grep -v ' not-run ' | tap_details

echo "# grading $(ls "$class" | wc -l) submissions on $kernels took $((SECONDS - start))s"
[[ $rc -eq 0 ]] || tap_not_ok run "msgslot-grade exited $rc"

# check <submission> <expectation>
python3 - "$work/out" "$TOP/tests/grade/expect" > "$work/expect.out" <<'PY'
import json, os, sys
out, expect_path = sys.argv[1:3]
failed = 0
for line in open(expect_path):
    line = line.split("#", 1)[0].split()
    if not line:
        continue
    sub, spec = line[0], line[1]
    label = sub if sub.startswith("reference") else "mutant-" + sub
    path = os.path.join(out, sub, "results.json")
    if not os.path.isdir(os.path.join(out, "..", "class", sub)) and \
            not os.path.exists(os.path.join(out, "..", "class", sub + ".zip")):
        continue  # not graded in this run (GRADE_SELFTEST_SLOW, GRADE_SELFTEST_ONLY)
    try:
        res = json.load(open(path))
    except (OSError, ValueError) as e:
        print("not ok grade/%s - no results.json (%s)" % (label, e)); failed += 1
        continue
    want = {}
    rest_not_run = False
    if spec != "-":
        for item in spec.split(","):
            if item == "+not-run":
                rest_not_run = True
            else:
                t, _, st = item.partition("=")
                want[t] = st or None
    problems = []
    caught = set()
    for t in res["tests"]:
        kernel, test = t["name"].split("/", 1)
        status = t["extra_data"]["result"]
        if test in want:
            if status == "pass":
                problems.append("%s passed (it must catch the defect)" % t["name"])
            elif want[test] and status != want[test]:
                problems.append("%s is %s, expected %s" % (t["name"], status, want[test]))
            else:
                caught.add(test)
        elif status != "pass" and not (rest_not_run and status == "not-run"):
            first = t["output"].split("\n")[1] if "\n" in t["output"] else t["output"]
            problems.append("%s %s: %s" % (t["name"], status, first[:200]))
        elif rest_not_run and status == "pass" and kernel != "all":
            problems.append("%s ran and passed (expected not run)" % t["name"])
    for test in want:
        if test not in caught and not any(p.startswith(kk + "/" + test) for p in problems for kk in ("all", "6.1", "6.12")):
            problems.append("%s was not run" % test)
    if problems:
        print("not ok grade/%s - %s" % (label, "; ".join(problems)[:900])); failed += 1
    elif want:
        print("ok grade/%s - caught by %s, score %s" % (label, " ".join(sorted(want)), res["score"]))
    else:
        print("ok grade/%s - full marks %s/%s" % (label, res["score"], res["max_score"]))
sys.exit(1 if failed else 0)
PY
rc=$?
cat "$work/expect.out"
tap_tally "$work/expect.out"
# A failure without a line of its own (the check itself broke).
[[ $rc -eq 0 ]] || grep -q '^not ok ' "$work/expect.out" || TAP_FAIL=$((TAP_FAIL + 1))

if [[ -f $work/out/summary.csv ]] && [[ $(wc -l < "$work/out/summary.csv") -eq $(($(ls "$class" | wc -l) + 1)) ]]; then
    tap_ok class-summary-csv
else
    tap_not_ok class-summary-csv "no summary.csv with one row per submission in $work/out"
fi
if python3 -c 'import sys, xml.dom.minidom as m; [m.parse(p) for p in sys.argv[1:]]' "$work"/out/*/junit.xml 2> "$work/junit.err"; then
    tap_ok junit-xml-parses
else
    tap_not_ok junit-xml-parses "$(tail -n1 "$work/junit.err")"
fi
tap_exit
