# SPDX-License-Identifier: GPL-2.0
"""Message slots and NP-Heap objects from Python (standard library only).

    from message_slot import MessageSlot, NPHeap

    with MessageSlot("/dev/msgslot", channel=4294967295) as slot:
        slot.censor = False
        slot.write(b"hello")            # one call = one message (1..128 bytes)
        assert slot.read() == b"hello"
        slot.wait = True                # read() now sleeps for a newer message

    with NPHeap("/dev/npheap") as heap:
        with heap.lock(7):              # unlocked when the block ends
            obj = heap.alloc(7, 8192)   # an mmap.mmap of object 7
            obj[:5] = b"hello"
        assert heap.getsize(7) == 8192

Failed calls raise OSError with the driver's errno (e.errno), e.g.
EMSGSIZE for an empty or 129-byte message, EWOULDBLOCK (BlockingIOError)
for a channel never written, EINVAL for channel 0 or no channel set.
Both classes have fileno(), so select, poll and selectors work on them:
a slot is readable while its channel holds a message this object has not
read.  The whole interface: message_slot(4) and npheap(3).
"""

import errno
import fcntl
import mmap
import os
import select
import struct
import sys
from types import TracebackType
from typing import Optional, Type

__all__ = ["MessageSlot", "NPHeap", "MAX_MESSAGE_LEN", "MAX_CHANNEL",
           "MAX_ALLOC_ID", "MAX_OBJECT_ID", "__version__"]

# MSG_SLOT_VERSION of message_slot.h (tests/host/17-docs.sh checks it).
__version__ = "1.0.0"

MAJOR_NUM = 235
MAX_MESSAGE_LEN = 128
MAX_CHANNEL = 0xFFFFFFFF

_IOC_WRITE = 1
_IOC_READ = 2


def _ioc(direction: int, kind: int, nr: int, size: int) -> int:
    return (direction << 30) | (size << 16) | (kind << 8) | nr


# The unsigned int encodings (message_slot.h).  The kernel reads the low 32
# bits of the argument, which fcntl.ioctl passes as a C int.
MSG_SLOT_CHANNEL = _ioc(_IOC_WRITE, MAJOR_NUM, 0, 4)
MSG_SLOT_SET_CEN = _ioc(_IOC_WRITE, MAJOR_NUM, 1, 4)
MSG_SLOT_SET_WAIT = _ioc(_IOC_WRITE, MAJOR_NUM, 2, 4)

# NP-Heap requests with the 64-bit struct npheap_cmd (32 bytes): the driver
# serves these numbers to 32-bit processes too, so one layout fits both.
_NPHEAP_CMD = struct.Struct("=QQQQ")    # op, offset, size, data
NPHEAP_IOCTL_LOCK = _ioc(_IOC_READ | _IOC_WRITE, ord("N"), 0x43, 32)
NPHEAP_IOCTL_UNLOCK = _ioc(_IOC_READ | _IOC_WRITE, ord("N"), 0x44, 32)
NPHEAP_IOCTL_DELETE = _ioc(_IOC_READ | _IOC_WRITE, ord("N"), 0x45, 32)
NPHEAP_IOCTL_GETSIZE = _ioc(_IOC_READ | _IOC_WRITE, ord("N"), 0x46, 32)

# The ids of the C library (npheap_shim/npheap.c): its calls take a __u64
# id and pass id * page size, modulo 2^64, as struct npheap_cmd's offset;
# npheap_alloc() refuses with EINVAL an id whose offset does not fit mmap's
# signed 64-bit off_t.
MAX_OBJECT_ID = (1 << 64) - 1
MAX_ALLOC_ID = ((1 << 63) - 1) // mmap.PAGESIZE
_U64_MASK = (1 << 64) - 1


def _as_c_int(value: int) -> int:
    """value (0..UINT_MAX) as the C int with the same 32 bits."""
    return value - (1 << 32) if value > 0x7FFFFFFF else value


def _check_range(value: int, what: str, limit: int) -> None:
    """EINVAL, as the driver or the C library would give, for ids they
    cannot be passed; TypeError for what is not an int."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if not 0 <= value <= limit:
        raise OSError(errno.EINVAL, f"{what} {value} is outside 0..{limit}")


def _flag(value: bool) -> int:
    return 1 if value else 0


class MessageSlot:
    """One open file of a message slot device.

    Channel, censor flag and waiting reads belong to this object (its open
    file), not to the slot or the process.
    """

    def __init__(self, path: str, *, channel: Optional[int] = None,
                 censor: bool = False, wait: bool = False,
                 nonblocking: bool = False) -> None:
        """Open the slot device at path, then set what is given.

        nonblocking opens it O_NONBLOCK: a waiting read that finds nothing
        new raises BlockingIOError instead of sleeping.  The device is
        closed again if a setting fails.
        """
        flags = os.O_RDWR | os.O_CLOEXEC | (os.O_NONBLOCK if nonblocking else 0)
        self.fd = os.open(path, flags)
        self._channel: Optional[int] = None
        self._censor = False
        self._wait = False
        try:
            if channel is not None:
                self.channel = channel
            if censor:
                self.censor = True
            if wait:
                self.wait = True
        except BaseException:
            self.close()
            raise

    @property
    def channel(self) -> Optional[int]:
        """The channel set through this object (None before the first)."""
        return self._channel

    @channel.setter
    def channel(self, channel_id: int) -> None:
        _check_range(channel_id, "channel id", MAX_CHANNEL)
        fcntl.ioctl(self.fd, MSG_SLOT_CHANNEL, _as_c_int(channel_id))
        self._channel = channel_id

    @property
    def censor(self) -> bool:
        """Censored writes: every censor_period-th byte is stored as '#'."""
        return self._censor

    @censor.setter
    def censor(self, on: bool) -> None:
        fcntl.ioctl(self.fd, MSG_SLOT_SET_CEN, _flag(on))
        self._censor = bool(on)

    @property
    def wait(self) -> bool:
        """Waiting reads (MSG_SLOT_SET_WAIT): read() returns only a message
        this object has not read yet, sleeping until one is written."""
        return self._wait

    @wait.setter
    def wait(self, on: bool) -> None:
        fcntl.ioctl(self.fd, MSG_SLOT_SET_WAIT, _flag(on))
        self._wait = bool(on)

    def write(self, data: bytes) -> int:
        """Store data (1..128 bytes) as the channel's message; its length."""
        return os.write(self.fd, data)

    def read(self) -> bytes:
        """The channel's message.

        With wait on, the first message this object has not read, after
        sleeping for it if needed (BlockingIOError when opened nonblocking).
        """
        return os.read(self.fd, MAX_MESSAGE_LEN)

    def readable(self, timeout: Optional[float] = 0) -> bool:
        """Whether the channel holds a message this object has not read,
        waiting up to timeout seconds for one (None: without a limit)."""
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        ms = None if timeout is None else max(0, int(timeout * 1000))
        for _, events in poller.poll(ms):
            if events & select.POLLERR:
                raise OSError(errno.EINVAL, "no channel set")
            return bool(events & select.POLLIN)
        return False

    def fileno(self) -> int:
        """The file descriptor, for select, poll and selectors."""
        return self.fd

    def close(self) -> None:
        """Close the device; further calls fail with EBADF."""
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)

    def __enter__(self) -> "MessageSlot":
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]],
                 exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.close()


class _Held:
    """What NPHeap.lock returns: releases the lock at the end of a with block."""

    def __init__(self, heap: "NPHeap", object_id: int) -> None:
        self.heap = heap
        self.object_id = object_id

    def __enter__(self) -> "_Held":
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]],
                 exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.heap.unlock(self.object_id)


class NPHeap:
    """An NP-Heap device: objects by id, mapped with alloc(), per-id locks.

    Ids and errors are those of the C library (npheap(3)): 0..MAX_OBJECT_ID
    for lock, unlock, delete and getsize, 0..MAX_ALLOC_ID for alloc; other
    ints raise OSError(EINVAL).
    """

    def __init__(self, path: str = "/dev/npheap") -> None:
        """Open the heap device at path (twice: see below)."""
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        # mmap.mmap keeps a dup() of the fd it maps and closes it with the
        # mapping.  The driver releases a process's locks on close() of an
        # open file they were taken through: mapping through a second open
        # file keeps those closes away from the locks taken through self.fd.
        try:
            self._map_fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except BaseException:
            os.close(self.fd)
            self.fd = -1
            raise

    def _ioctl(self, request: int, object_id: int) -> int:
        _check_range(object_id, "object id", MAX_OBJECT_ID)
        offset = (object_id * mmap.PAGESIZE) & _U64_MASK
        cmd = bytearray(_NPHEAP_CMD.pack(0, offset, 0, 0))
        return fcntl.ioctl(self.fd, request, cmd, True)

    def alloc(self, object_id: int, size: int) -> mmap.mmap:
        """Map object object_id, created zero-filled (or grown) to size
        bytes rounded up to pages.  Close the mapping when done."""
        _check_range(object_id, "object id", MAX_ALLOC_ID)
        if isinstance(size, bool) or not isinstance(size, int):
            raise TypeError(f"size must be an int, not {type(size).__name__}")
        if size <= 0:
            raise OSError(errno.EINVAL, f"size {size} is not positive")
        size = -(-size // mmap.PAGESIZE) * mmap.PAGESIZE
        if size > sys.maxsize:
            # No mapping that large exists: the C library's (and mmap's) ENOMEM.
            raise OSError(errno.ENOMEM, f"size {size} cannot be mapped")
        return mmap.mmap(self._map_fd, size, flags=mmap.MAP_SHARED,
                         prot=mmap.PROT_READ | mmap.PROT_WRITE,
                         offset=object_id * mmap.PAGESIZE)

    def lock(self, object_id: int) -> _Held:
        """Take object_id's lock, sleeping while another thread holds it
        (EDEADLK if this thread does); usable as a context manager."""
        self._ioctl(NPHEAP_IOCTL_LOCK, object_id)
        return _Held(self, object_id)

    def unlock(self, object_id: int) -> None:
        """Release object_id's lock (EPERM unless this thread holds it)."""
        self._ioctl(NPHEAP_IOCTL_UNLOCK, object_id)

    def delete(self, object_id: int) -> None:
        """Remove the object; existing mappings keep their pages."""
        self._ioctl(NPHEAP_IOCTL_DELETE, object_id)

    def getsize(self, object_id: int) -> int:
        """The object's size in bytes, 0 if it does not exist."""
        return self._ioctl(NPHEAP_IOCTL_GETSIZE, object_id)

    def fileno(self) -> int:
        """The file descriptor locks are taken through."""
        return self.fd

    def close(self) -> None:
        """Close both descriptors: releases the locks taken through this
        object (mappings stay valid until closed)."""
        for name in ("fd", "_map_fd"):
            fd = getattr(self, name, -1)
            if fd >= 0:
                setattr(self, name, -1)
                os.close(fd)

    def __enter__(self) -> "NPHeap":
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]],
                 exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.close()
