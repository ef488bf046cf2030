"""Small filesystem primitives shared by the cache, pointers and the workspace.

Every write that a user or another process could observe half-done goes through
``atomic_write_bytes`` or ``temp_path_beside``: the bytes land in a temporary file in
the same directory (same filesystem), then one rename makes them visible.
A killed process leaves at most a temporary file, never a truncated target.
"""

from __future__ import annotations

import functools
import os
import secrets
from pathlib import Path
from typing import Any

TEMP_MARKER = ".artver-tmp-"


def temp_path_beside(target: Path) -> Path:
    """A fresh temporary name in target's directory; recognisable by TEMP_MARKER."""
    return target.with_name(f".{target.name[:80]}{TEMP_MARKER}{secrets.token_hex(6)}")


def copy_fd(source_fd: int, target_fd: int) -> int:
    """Copy a whole file between descriptors in the kernel; return the bytes copied."""
    total = 0
    while True:
        try:
            count = os.copy_file_range(source_fd, target_fd, 1 << 30)
        except OSError:
            count = os.sendfile(target_fd, source_fd, None, 1 << 30)
        if not count:
            return total
        total += count


@functools.cache
def _libc_linkat() -> Any:
    import ctypes
    import ctypes.util

    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    return libc.linkat


def _link_fd(fd: int, final: str) -> None:
    """Give an O_TMPFILE inode a name: linkat(2) with AT_SYMLINK_FOLLOW on /proc/self/fd/N
    (os.link would use link(2), which does not follow that magic link)."""
    import ctypes

    at_fdcwd, at_symlink_follow = -100, 0x400
    if _libc_linkat()(at_fdcwd, f"/proc/self/fd/{fd}".encode(), at_fdcwd, os.fsencode(final), at_symlink_follow) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), final)


def publish_new(source: str, final: str, mode: int = 0o444) -> bool:
    """Copy ``source`` to ``final`` so that ``final`` appears whole or not at all, and is
    never replaced if it exists. Returns False if ``final`` already existed.

    An unnamed O_TMPFILE inode is filled and then linked under the final name (linkat
    refuses an existing name), so not even a temp file is left if the process dies.
    Filesystems without O_TMPFILE get a named temp file and link(2) instead.
    """
    directory = os.path.dirname(final)
    with open(source, "rb", buffering=0) as src:
        try:
            fd = os.open(directory, os.O_TMPFILE | os.O_WRONLY, mode)
        except OSError:
            fd = -1
        if fd >= 0:
            try:
                copy_fd(src.fileno(), fd)
                _link_fd(fd, final)
                return True
            except FileExistsError:
                return False
            finally:
                os.close(fd)
        temp = str(temp_path_beside(Path(final)))
        fd = os.open(temp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, mode)
        try:
            copy_fd(src.fileno(), fd)
            os.close(fd)
            fd = -1
            os.link(temp, final)
            return True
        except FileExistsError:
            return False
        finally:
            if fd >= 0:
                os.close(fd)
            os.unlink(temp)


def atomic_write_bytes(target: Path, data: bytes, mode: int = 0o644) -> None:
    temp = temp_path_beside(target)
    try:
        with open(temp, "xb") as handle:
            handle.write(data)
        os.chmod(temp, mode)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def remove_temp_files(directory: Path, target: str | None = None) -> None:
    """Delete temporary files a killed artver left in ``directory`` (not recursive); with
    ``target``, only those beside that file. Call it only while holding the repository lock."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    prefix = f".{target[:80]}{TEMP_MARKER}" if target is not None else None
    for name in names:
        if (name.startswith(prefix) if prefix else TEMP_MARKER in name):
            (directory / name).unlink(missing_ok=True)


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
