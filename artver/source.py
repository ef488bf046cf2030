"""Reading a file being added while other programs may still write it.

What ``add`` records (hash, size, stat-database entry) must describe bytes that
existed as one file. So every read of a source is bracketed by two ``fstat``
calls on the same open descriptor: if size, mtime, ctime or inode differ, or the
read returned fewer or more bytes than the size said, the source changed during
the read and the result is thrown away (the caller reads again, a bounded number
of times, then refuses with "changed while being added").

A write within the same timestamp tick as the previous one leaves mtime and
ctime unchanged, so a stat comparison proves nothing about a file changed a
moment ago. ``settle`` therefore waits, before a read, until the source's ctime
(which no program can set) is older than the stat database's racy window: any
write after that moment gives a new ctime. What stat cannot see at all is a
write through a shared memory mapping to a page that is already dirty; no
program that saves a model or dataset is known to rely on that.

Opening never follows a symlink (O_NOFOLLOW) and never blocks (O_NONBLOCK, so a
named pipe swapped in cannot hang add); anything but a regular file is refused.
Every error here names the source; none of them is blamed on the cache.
"""

from __future__ import annotations

import errno
import os
import stat as stat_module
import time
from collections.abc import Iterator
from dataclasses import dataclass

from artver import hashing
from artver.errors import SourceError
from artver.hashing import CHUNK_SIZE, ByteCallback
from artver.statcache import StatFields, racy_window

ATTEMPTS = 3  # a writer that is still busy after this many full reads is not going to stop for add
CHANGED = "changed while being added; stop the process writing it, then add again"
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


@dataclass(frozen=True)
class Snapshot:
    """The content of a source as read in one pass, and the stat it had before and after."""

    hash: str
    size: int
    stat: os.stat_result


def changed(display: str) -> SourceError:
    return SourceError(f"{display}: {CHANGED}")


def _kind(mode: int) -> str:
    if stat_module.S_ISDIR(mode):
        return "a folder"
    if stat_module.S_ISLNK(mode):
        return "a symlink"
    if stat_module.S_ISFIFO(mode):
        return "a named pipe"
    if stat_module.S_ISSOCK(mode):
        return "a socket"
    return "a device" if stat_module.S_ISCHR(mode) or stat_module.S_ISBLK(mode) else "something other than a file"


def _replaced(display: str, mode: int) -> SourceError:
    return SourceError(
        f"{display}: was replaced by {_kind(mode)} while being added; "
        f"artver stores regular files only, so put the file back or move that out of the way, then add again"
    )


def read_error(path: str, display: str, error: OSError) -> SourceError:
    """The one-line message for an error opening or reading the source ``path``."""
    code = error.errno
    if code in (errno.ELOOP, errno.ENXIO, errno.EISDIR):
        # O_NOFOLLOW met a symlink; a socket cannot be opened; a folder cannot be read.
        try:
            return _replaced(display, os.lstat(path).st_mode)
        except OSError:
            pass
    if code in (errno.ENOENT, errno.ENOTDIR):
        return SourceError(f"{display}: disappeared while being added (deleted or renamed); add again")
    if code in (errno.EACCES, errno.EPERM):
        return SourceError(
            f"{display}: cannot read it (permission denied); give your user read access (e.g. chmod u+r {display}), then add again"
        )
    reason = (error.strerror or str(error)).lower()
    return SourceError(f"{display}: cannot read it ({reason}); check the file and the disk it is on, then add again")


def lstat(path: str, display: str, follow: bool = False) -> os.stat_result:
    try:
        return os.stat(path) if follow else os.lstat(path)
    except OSError as error:
        raise read_error(path, display, error) from None


def open_source(path: str, display: str, expected: StatFields | None) -> tuple[int, os.stat_result]:
    """Open the regular file ``path`` for reading: (descriptor, its settled stat).
    ``expected`` is the stat it was scanned with: a different file in its place
    (another inode, e.g. renamed over it) is a change."""
    try:
        descriptor = os.open(path, _OPEN_FLAGS)
    except OSError as error:
        raise read_error(path, display, error) from None
    try:
        before = _fstat(descriptor, path, display)
        if not stat_module.S_ISREG(before.st_mode):
            raise _replaced(display, before.st_mode)
        if expected is not None and (before.st_dev, before.st_ino) != (expected.st_dev, expected.st_ino):
            raise changed(display)
        return descriptor, _settle(descriptor, before, path, display)
    except BaseException:
        os.close(descriptor)
        raise


def _fstat(descriptor: int, path: str, display: str) -> os.stat_result:
    try:
        return os.fstat(descriptor)
    except OSError as error:
        raise read_error(path, display, error) from None


def _settle(descriptor: int, current: os.stat_result, path: str, display: str) -> os.stat_result:
    """Wait until a write from now on must change the ctime (see the module docstring);
    the stat to compare the one after the read with. Never waits longer than one window,
    so a clock or a timestamp in the future cannot stall add."""
    window = racy_window(current.st_ctime_ns)
    wait = current.st_ctime_ns + window - time.time_ns()
    if wait <= 0:
        return current
    time.sleep(min(wait, window) / 1e9)
    return _fstat(descriptor, path, display)


def chunks(descriptor: int, before: os.stat_result, path: str, display: str) -> Iterator[memoryview]:
    """The source's bytes, in order, until its end, or until more bytes than ``before``
    promised came (a growing file: the read stops there, it would never end otherwise).
    Each chunk is valid only until the next one is asked for."""
    # A buffer no larger than the file: zero-filling 1 MiB for each of 20,000 small files costs seconds.
    buffer = bytearray(min(CHUNK_SIZE, before.st_size + 1))
    view = memoryview(buffer)
    total = 0
    while True:
        try:
            count = os.readv(descriptor, [buffer])
        except OSError as error:
            raise read_error(path, display, error) from None
        if not count:
            return
        total += count
        yield view[:count]
        if total > before.st_size:
            return


def unchanged(before: os.stat_result, after: os.stat_result, size: int) -> bool:
    """True if the bytes read (``size`` of them) are the whole file as ``before`` described it."""
    return size == before.st_size and (
        after.st_size, after.st_mtime_ns, after.st_ctime_ns, after.st_ino, after.st_dev
    ) == (before.st_size, before.st_mtime_ns, before.st_ctime_ns, before.st_ino, before.st_dev)


def stat_after(descriptor: int, path: str, display: str) -> os.stat_result:
    return _fstat(descriptor, path, display)


def hash_snapshot(path: str, display: str, expected: StatFields | None, algorithm: str,
                  on_bytes: ByteCallback | None = None) -> Snapshot:
    """Hash the source without storing it, read again while it changes (see the module docstring)."""
    for _ in range(ATTEMPTS):
        descriptor, before = open_source(path, display, expected)
        try:
            hasher = hashing.new_hasher(algorithm)
            size = 0
            for chunk in chunks(descriptor, before, path, display):
                hasher.update(chunk)
                size += len(chunk)
                if on_bytes is not None:
                    on_bytes(len(chunk))
            after = stat_after(descriptor, path, display)
        finally:
            os.close(descriptor)
        if unchanged(before, after, size):
            return Snapshot(f"{algorithm}:{hasher.hexdigest()}", size, after)
    raise changed(display)
