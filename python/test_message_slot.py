# SPDX-License-Identifier: GPL-2.0
"""The message slot and NP-Heap contracts through the message_slot package.

    python3 test_message_slot.py [--path DIR] SLOT_DEVICE NPHEAP_DEVICE

Imports the package from DIR (where `pip install --target DIR ./python` put
it) or else from python/ beside this file.  Run with the module loaded
(default parameters: censor period 3).  Prints one "ok abi/py-<name>" or
"not ok abi/py-<name> - <reason>" line per test and exits 1 if any failed.
"""

import errno
import mmap
import os
import selectors
import signal
import sys
import time

args = sys.argv[1:]
site = os.path.dirname(os.path.abspath(__file__))
if args[:1] == ["--path"]:
    site, args = os.path.abspath(args[1]), args[2:]
sys.path.insert(0, site)
import message_slot  # noqa: E402
from message_slot import MessageSlot, NPHeap  # noqa: E402

SLOT, HEAP = args[0], args[1]
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


def in_child(func, delay):
    """Run func in a child process after delay seconds; its pid."""
    pid = os.fork()
    if pid == 0:
        try:
            time.sleep(delay)
            func()
        finally:
            os._exit(0)
    return pid


def reap(pid):
    os.waitpid(pid, 0)


@test
def package():
    where = os.path.dirname(os.path.abspath(message_slot.__file__))
    check(where == os.path.join(site, "message_slot"),
          f"imported {message_slot.__file__}, not the package {site}/message_slot")
    for name in ("py.typed",):
        check(os.path.exists(os.path.join(where, name)), f"no {name} installed")
    check(all(getattr(message_slot, n).__doc__ for n in ("MessageSlot", "NPHeap")),
          "a class without a docstring")
    hints = MessageSlot.read.__annotations__
    check(hints.get("return") is bytes, f"MessageSlot.read hints {hints}")


@test
def wait_read():
    with MessageSlot(SLOT) as w, MessageSlot(SLOT) as r:
        w.channel = r.channel = 80
        w.write(b"old")
        check(r.read() == b"old", "plain read")
        r.wait = True
        check(r.wait, "wait property")

        def send():
            with MessageSlot(SLOT) as c:
                c.channel = 80
                c.write(b"new")
        start = time.monotonic()
        pid = in_child(send, 0.5)
        got = r.read()
        waited = time.monotonic() - start
        reap(pid)
        check(got == b"new", f"waiting read returned {got!r}, not the newer b'new'")
        check(waited >= 0.4, f"waiting read returned after {waited:.2f}s, before the write")
        r.wait = False
        check(r.read() == b"new", "wait = False: plain read again")


@test
def wait_nonblocking():
    with MessageSlot(SLOT, channel=81, wait=True, nonblocking=True) as r:
        expect_errno(errno.EAGAIN, "waiting read of an empty channel, O_NONBLOCK", r.read)
        with MessageSlot(SLOT, channel=81) as w:
            w.write(b"x")
        check(r.read() == b"x", "waiting read after a write")
        expect_errno(errno.EAGAIN, "waiting read of a message already read", r.read)


@test
def wait_interrupted():
    def on_alarm(signum, frame):
        raise InterruptedError(errno.EINTR, "alarm")
    old = signal.signal(signal.SIGALRM, on_alarm)
    try:
        with MessageSlot(SLOT) as r:
            r.channel = 82
            r.wait = True
            signal.setitimer(signal.ITIMER_REAL, 0.3)
            expect_errno(errno.EINTR, "waiting read ended by a signal", r.read)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@test
def selectors_readiness():
    with MessageSlot(SLOT) as r, MessageSlot(SLOT) as w, \
            selectors.DefaultSelector() as sel:
        r.channel = w.channel = 83
        sel.register(r, selectors.EVENT_READ)
        check(sel.select(0) == [], "readable before any write")
        check(not r.readable(), "readable() before any write")
        w.write(b"ping")
        events = sel.select(1)
        check(len(events) == 1 and events[0][0].fileobj is r and
              events[0][1] & selectors.EVENT_READ, f"not readable after a write: {events}")
        check(r.readable(), "readable() after a write")
        r.read()
        check(sel.select(0) == [], "still readable after the message was read")
        pid = in_child(lambda: w.write(b"pong"), 0.3)
        check(r.readable(timeout=30), "readable(timeout) missed a write")
        reap(pid)
        check(r.read() == b"pong", "message after readable()")
    with MessageSlot(SLOT) as none:
        expect_errno(errno.EINVAL, "readable() without a channel", none.readable)


@test
def constructor_settings():
    with MessageSlot(SLOT, channel=84, censor=True) as s:
        check(s.channel == 84 and s.censor, "constructor settings")
        s.write(b"abcdef")
        check(s.read() == b"ab#de#", "censored through the constructor")
    before = set(os.listdir("/proc/self/fd"))
    expect_errno(errno.EINVAL, "MessageSlot(channel=0)", lambda: MessageSlot(SLOT, channel=0))
    check(set(os.listdir("/proc/self/fd")) == before, "a failed constructor left its fd open")


@test
def npheap_no_fd_leak():
    real_open = os.open
    calls = []

    def second_fails(path, flags, *rest):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(errno.EMFILE, "second open fails")
        return real_open(path, flags, *rest)
    before = set(os.listdir("/proc/self/fd"))
    os.open = second_fails
    try:
        expect_errno(errno.EMFILE, "NPHeap with a failing second open", NPHeap, HEAP)
    finally:
        os.open = real_open
    check(len(calls) == 2, f"{len(calls)} opens")
    check(set(os.listdir("/proc/self/fd")) == before,
          "the first descriptor stays open when the second open fails")


@test
def npheap_id_range():
    # The C library's range: alloc up to INT64_MAX / page size, EINVAL above.
    limit = ((1 << 63) - 1) // mmap.PAGESIZE
    with NPHeap(HEAP) as heap:
        for bad in (limit + 1, 2**52 - 1, 2**64, -1):
            expect_errno(errno.EINVAL, f"alloc({bad})", heap.alloc, bad, 4096)
        for bad in (2**64, -1):
            expect_errno(errno.EINVAL, f"getsize({bad})", heap.getsize, bad)
            expect_errno(errno.EINVAL, f"lock({bad})", heap.lock, bad)
        expect_errno(errno.EINVAL, "alloc(size 0)", heap.alloc, 42, 0)
        # Sizes no mapping can have: the C library's ENOMEM.
        for huge in (2**63, 2**64 - 1, 2**64):
            expect_errno(errno.ENOMEM, f"alloc(42, {huge})", heap.alloc, 42, huge)
        try:
            heap.getsize("1")
            raise Fail("getsize('1') did not raise TypeError")
        except TypeError:
            pass
        check(heap.getsize(2**64 - 1) >= 0, "getsize of the largest __u64 id")
    check(getattr(message_slot, "MAX_ALLOC_ID", None) == limit,
          f"MAX_ALLOC_ID is {getattr(message_slot, 'MAX_ALLOC_ID', None)}, not {limit}")


sys.exit(1 if failed else 0)
