"""The repository lock: one artver process at a time changes a repository's state.

It is an flock(2) on ``.artver/lock``. The kernel releases it when the holder
exits, however it exits (SIGKILL included), so a killed process can never leave
a lock that blocks the user.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from artver.errors import LockError

DEFAULT_TIMEOUT = 10.0


@contextlib.contextmanager
def locked(path: Path, timeout: float = DEFAULT_TIMEOUT) -> Iterator[None]:
    """Hold the lock. In a ``.artver`` this process cannot write (mounted read-only, another
    user's), an existing lock file is locked through a read-only descriptor (flock needs no
    write access, so writers elsewhere are still excluded); with no lock file there is nothing
    to lock, and the command goes on: any write it tries fails on its own."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        if error.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            yield
            return
    try:
        deadline = time.monotonic() + timeout
        delay = 0.01
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _read_holder(fd)
                    raise LockError(
                        f"another artver process{holder} is working in this repository "
                        f"(waited {timeout:g}s on {path}); try again when it has finished"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.2)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        except OSError:
            pass  # a read-only descriptor: the holder's pid is only shown in messages
        yield
    finally:
        os.close(fd)


def _read_holder(fd: int) -> str:
    try:
        pid = os.pread(fd, 32, 0).decode().strip()
    except (OSError, UnicodeDecodeError):
        return ""
    return f" (pid {pid})" if pid.isdigit() else ""
