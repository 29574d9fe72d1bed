#!/usr/bin/env bash
# The grader's self-test (tests/grade/selftest.sh): the project's own
# submission and the plain reference get full marks, each mutant fails
# exactly the test that names its defect. One VM boot per kernel graded
# (GRADE_SELFTEST_KERNELS, default 6.1). Inside make check no VM lock is
# taken (make check is the one running its VMs; a caller holding
# /tmp/msgslot-vm.lock around make check would otherwise deadlock);
# MSGSLOT_VM_LOCK=<file> asks for one.
export MSGSLOT_VM_LOCK=${MSGSLOT_VM_LOCK:-none}
# One grading VM at a time: make check runs a VM of its own beside it.
export MSGSLOT_GRADE_VMS=${MSGSLOT_GRADE_VMS:-1}
exec "$(dirname "$0")/../grade/selftest.sh"
