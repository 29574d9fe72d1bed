# SPDX-License-Identifier: GPL-2.0
"""Message slots and NP-Heap objects from Python (standard library only).

    from message_slot import MessageSlot, NPHeap

    with MessageSlot("/dev/msgslot") as slot:
        slot.channel = 4294967295       # any id 1..4294967295, per open file
        slot.censor = False
        slot.write(b"hello")            # one call = one message (1..128 bytes)
        assert slot.read() == b"hello"

    with NPHeap("/dev/npheap") as heap:
        with heap.lock(7):              # unlocked when the block ends
            obj = heap.alloc(7, 8192)   # an mmap.mmap of object 7
            obj[:5] = b"hello"
        assert heap.getsize(7) == 8192

Failed calls raise OSError with the driver's errno (e.errno), e.g.
EMSGSIZE for an empty or 129-byte message, EWOULDBLOCK (BlockingIOError)
for a channel never written, EINVAL for channel 0 or no channel set.
"""

import errno
import fcntl
import mmap
import os
import struct

__all__ = ["MessageSlot", "NPHeap", "MAX_MESSAGE_LEN"]

MAJOR_NUM = 235
MAX_MESSAGE_LEN = 128
_UINT_MAX = 0xFFFFFFFF

_IOC_WRITE = 1
_IOC_READ = 2


def _ioc(direction, kind, nr, size):
    return (direction << 30) | (size << 16) | (kind << 8) | nr


# The unsigned int encodings (message_slot.h).  The kernel reads the low 32
# bits of the argument, which fcntl.ioctl passes as a C int.
MSG_SLOT_CHANNEL = _ioc(_IOC_WRITE, MAJOR_NUM, 0, 4)
MSG_SLOT_SET_CEN = _ioc(_IOC_WRITE, MAJOR_NUM, 1, 4)

# NP-Heap requests with the 64-bit struct npheap_cmd (32 bytes): the driver
# serves these numbers to 32-bit processes too, so one layout fits both.
_NPHEAP_CMD = struct.Struct("=QQQQ")    # op, offset, size, data
NPHEAP_IOCTL_LOCK = _ioc(_IOC_READ | _IOC_WRITE, ord("N"), 0x43, 32)
NPHEAP_IOCTL_UNLOCK = _ioc(_IOC_READ | _IOC_WRITE, ord("N"), 0x44, 32)
NPHEAP_IOCTL_DELETE = _ioc(_IOC_READ | _IOC_WRITE, ord("N"), 0x45, 32)
NPHEAP_IOCTL_GETSIZE = _ioc(_IOC_READ | _IOC_WRITE, ord("N"), 0x46, 32)


def _as_c_int(value):
    """@value (0..UINT_MAX) as the C int with the same 32 bits."""
    return value - (1 << 32) if value > 0x7FFFFFFF else value


# Object ids whose byte offset (id * page size) fits the ABI's __u64.
_MAX_OBJECT_ID = (1 << 64) // mmap.PAGESIZE - 1


def _check_range(value, what, limit):
    """EINVAL, as the driver would give, for ids it cannot be passed."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if not 0 <= value <= limit:
        raise OSError(errno.EINVAL, f"{what} {value} is outside 0..{limit}")


class MessageSlot:
    """One open file of a message slot device (its own channel and censor flag)."""

    def __init__(self, path):
        self.fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        self._channel = None
        self._censor = False

    @property
    def channel(self):
        """The channel set through this object (None before the first)."""
        return self._channel

    @channel.setter
    def channel(self, channel_id):
        _check_range(channel_id, "channel id", _UINT_MAX)
        fcntl.ioctl(self.fd, MSG_SLOT_CHANNEL, _as_c_int(channel_id))
        self._channel = channel_id

    @property
    def censor(self):
        return self._censor

    @censor.setter
    def censor(self, on):
        fcntl.ioctl(self.fd, MSG_SLOT_SET_CEN, 1 if on else 0)
        self._censor = bool(on)

    def write(self, data):
        """Store @data (1..128 bytes) as the channel's message."""
        return os.write(self.fd, data)

    def read(self):
        """The channel's message, as bytes."""
        return os.read(self.fd, MAX_MESSAGE_LEN)

    def fileno(self):
        return self.fd

    def close(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _Held:
    """What NPHeap.lock returns: releases the lock at the end of a with block."""

    def __init__(self, heap, object_id):
        self.heap = heap
        self.object_id = object_id

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.heap.unlock(self.object_id)


class NPHeap:
    """An NP-Heap device: objects by id, mapped with alloc(), per-id locks."""

    def __init__(self, path="/dev/npheap"):
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        # mmap.mmap keeps a dup() of the fd it maps and closes it with the
        # mapping.  The driver releases a process's locks on close() of an
        # open file they were taken through: mapping through a second open
        # file keeps those closes away from the locks taken through self.fd.
        self._map_fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)

    def _ioctl(self, request, object_id):
        _check_range(object_id, "object id", _MAX_OBJECT_ID)
        cmd = bytearray(_NPHEAP_CMD.pack(0, object_id * mmap.PAGESIZE, 0, 0))
        return fcntl.ioctl(self.fd, request, cmd, True)

    def alloc(self, object_id, size):
        """Map object @object_id (created zero-filled, or grown, to @size)."""
        _check_range(object_id, "object id", _MAX_OBJECT_ID)
        if size <= 0:
            raise OSError(errno.EINVAL, f"size {size} is not positive")
        size = -(-size // mmap.PAGESIZE) * mmap.PAGESIZE
        return mmap.mmap(self._map_fd, size, flags=mmap.MAP_SHARED,
                         prot=mmap.PROT_READ | mmap.PROT_WRITE,
                         offset=object_id * mmap.PAGESIZE)

    def lock(self, object_id):
        """Take @object_id's lock (blocking); usable as a context manager."""
        self._ioctl(NPHEAP_IOCTL_LOCK, object_id)
        return _Held(self, object_id)

    def unlock(self, object_id):
        self._ioctl(NPHEAP_IOCTL_UNLOCK, object_id)

    def delete(self, object_id):
        self._ioctl(NPHEAP_IOCTL_DELETE, object_id)

    def getsize(self, object_id):
        """The object's size in bytes, 0 if it does not exist."""
        return self._ioctl(NPHEAP_IOCTL_GETSIZE, object_id)

    def fileno(self):
        return self.fd

    def close(self):
        for name in ("fd", "_map_fd"):
            fd = getattr(self, name)
            if fd >= 0:
                os.close(fd)
                setattr(self, name, -1)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
