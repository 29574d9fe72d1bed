# SPDX-License-Identifier: GPL-2.0
"""The message slot and NP-Heap contracts through python/message_slot.py.

    python3 test_message_slot.py SLOT_DEVICE NPHEAP_DEVICE

Run with the module loaded (default parameters: censor period 3).  Prints
one "ok abi/py-<name>" or "not ok abi/py-<name> - <reason>" line per test
and exits 1 if any failed.
"""

import errno
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from message_slot import MessageSlot, NPHeap  # noqa: E402

SLOT, HEAP = sys.argv[1], sys.argv[2]
failed = 0


class Fail(Exception):
    pass


def check(cond, why):
    if not cond:
        raise Fail(why)


def expect_errno(want, what, func, *args):
    try:
        got = func(*args)
    except OSError as e:
        check(e.errno == want, f"{what}: expected {errno.errorcode[want]}, "
              f"got {errno.errorcode.get(e.errno, e.errno)}")
        return
    raise Fail(f"{what}: expected {errno.errorcode[want]}, got {got!r}")


def setattr_call(obj, name):
    return lambda value: setattr(obj, name, value)


def test(func):
    global failed
    name = "py-" + func.__name__.replace("_", "-")
    try:
        func()
        print(f"ok abi/{name}", flush=True)
    except Exception as e:  # a crash of the test is its failure
        reason = str(e) if isinstance(e, Fail) else f"{type(e).__name__}: {e}"
        print(f"not ok abi/{name} - {reason}", flush=True)
        failed += 1
    return func


@test
def channel_max():
    with MessageSlot(SLOT) as a, MessageSlot(SLOT) as b:
        a.channel = 4294967295
        check(a.write(b"max id") == 6, "write returned another count")
        b.channel = 4294967295
        check(b.read() == b"max id", "channel 4294967295 read back wrong")
        b.channel = 2**31
        b.write(b"2^31")
        a.channel = 2**31
        check(a.read() == b"2^31", "channel 2^31 read back wrong")
        check(a.channel == 2**31, "channel property")


@test
def channel_invalid():
    with MessageSlot(SLOT) as s:
        s.channel = 77
        s.write(b"kept")
        expect_errno(errno.EINVAL, "channel = 0", setattr_call(s, "channel"), 0)
        expect_errno(errno.EINVAL, "channel = 2**32", setattr_call(s, "channel"), 2**32)
        expect_errno(errno.EINVAL, "channel = -1", setattr_call(s, "channel"), -1)
        check(s.read() == b"kept", "a rejected id changed the channel")


@test
def no_channel():
    with MessageSlot(SLOT) as s:
        expect_errno(errno.EINVAL, "write before a channel", s.write, b"x")
        expect_errno(errno.EINVAL, "read before a channel", s.read)


@test
def errors_keep_message():
    with MessageSlot(SLOT) as s:
        s.channel = 78
        expect_errno(errno.EWOULDBLOCK, "read of an empty channel", s.read)
        s.write(b"\0binary\xff")
        expect_errno(errno.EMSGSIZE, "empty write", s.write, b"")
        expect_errno(errno.EMSGSIZE, "129-byte write", s.write, b"y" * 129)
        check(s.read() == b"\0binary\xff", "message changed by a failed write")
        check(s.write(b"z" * 128) == 128, "128-byte write")
        check(s.read() == b"z" * 128, "128-byte message read back wrong")


@test
def censor():
    with MessageSlot(SLOT) as s, MessageSlot(SLOT) as plain:
        s.channel = plain.channel = 79
        s.censor = True
        s.write(b"abcdef")
        check(plain.read() == b"ab#de#", "censored message is not ab#de#")
        plain.write(b"abcdef")
        check(s.read() == b"abcdef", "censoring leaked to another open file")
        s.censor = False
        s.write(b"uvwxyz")
        check(s.read() == b"uvwxyz", "censor = False")


@test
def npheap_alloc():
    with NPHeap(HEAP) as heap:
        heap.delete(40)
        check(heap.getsize(40) == 0, "getsize of a deleted id")
        first = heap.alloc(40, 5000)
        check(len(first) == 8192, f"mapping is {len(first)} bytes, not 8192")
        check(first[:] == bytes(8192), "a new object is not zero-filled")
        first[4096:4101] = b"hello"
        second = heap.alloc(40, 8192)
        check(second[4096:4101] == b"hello", "a second mapping sees other bytes")
        check(heap.getsize(40) == 8192, f"getsize is {heap.getsize(40)}")
        first.close()
        second.close()
        heap.delete(40)
        check(heap.getsize(40) == 0, "getsize after delete")
        fresh = heap.alloc(40, 4096)
        check(fresh[:5] == bytes(5), "object after delete is not fresh")
        fresh.close()


@test
def npheap_lock():
    with NPHeap(HEAP) as heap:
        with heap.lock(41):
            expect_errno(errno.EDEADLK, "lock twice", heap.lock, 41)
            pid = os.fork()
            if pid == 0:
                # Blocks until the parent unlocks; then holds it briefly.
                with NPHeap(HEAP) as other:
                    with other.lock(41):
                        pass
                os._exit(0)
            time.sleep(0.5)
            check(os.waitpid(pid, os.WNOHANG) == (0, 0),
                  "another process took a held lock")
        deadline = time.monotonic() + 60
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        if not done:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        check(done == pid and os.waitstatus_to_exitcode(status) == 0,
              "the waiting process did not get the lock after unlock")
        expect_errno(errno.EPERM, "unlock of a lock not held", heap.unlock, 41)


sys.exit(1 if failed else 0)
