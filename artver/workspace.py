"""Putting cache objects into the workspace (and taking them out).

How a file is materialised is set by ``cache.link``: a comma-separated order of
``reflink``, ``copy``, ``hardlink``, ``symlink`` (default ``reflink,copy``).
reflink and copy give the workspace its own inode, so editing the file can
never change the cache. hardlink and symlink share the cache object, which is
read-only (mode 0444), so an edit fails instead of corrupting the cache.
Every placement is atomic: the new file is built under a temp name beside the
target and renamed over it.
"""

from __future__ import annotations

import functools
import os
import stat as stat_module
from pathlib import Path

from artver.cache import Cache, _reflink
from artver.errors import ConfigError
from artver.fsutil import copy_fd, temp_path_beside

LARGE_REPLACE = 64 * 1024 * 1024  # above this, _swap_in moves the old file aside first
LINK_MODES = ("reflink", "copy", "hardlink", "symlink")
DEFAULT_LINK = ("reflink", "copy")


def parse_link_modes(value: str | None) -> tuple[str, ...]:
    if not value:
        return DEFAULT_LINK
    modes = tuple(part.strip() for part in value.split(",") if part.strip())
    unknown = [mode for mode in modes if mode not in LINK_MODES]
    if unknown or not modes:
        raise ConfigError(f"config: cache.link = {value!r}; use a comma-separated list of {', '.join(LINK_MODES)}")
    return modes


@functools.cache
def _umask() -> int:
    umask = os.umask(0)  # the only way to read it is to set it; done once, before any threads
    os.umask(umask)
    return umask


def _file_mode(executable: bool) -> int:
    return (0o777 if executable else 0o666) & ~_umask()


def materialize(cache: Cache, hash_value: str, target: Path, executable: bool, modes: tuple[str, ...]) -> str:
    """Place the object at ``target`` atomically; return the link mode used."""
    source = cache.path_of(hash_value)
    temp = temp_path_beside(target)
    try:
        try:
            used = _place(source, temp, executable, modes)
        except FileNotFoundError:
            if os.path.isdir(target.parent):
                raise
            target.parent.mkdir(parents=True, exist_ok=True)  # only when the folder is new
            used = _place(source, temp, executable, modes)
        _swap_in(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return used


def _swap_in(temp: Path, target: Path) -> None:
    """Rename ``temp`` to ``target``. A large regular file in the way is first renamed
    aside and unlinked after: renaming over it makes ext4 (auto_da_alloc) flush the whole
    new file first, over a second for 2 GiB. Callers only replace content that is in the
    cache, and a killed run leaves the aside file under a temp name the next checkout deletes."""
    try:
        existing = os.lstat(target)
    except FileNotFoundError:
        os.rename(temp, target)
        return
    if not stat_module.S_ISREG(existing.st_mode) or existing.st_size < LARGE_REPLACE:
        os.replace(temp, target)
        return
    aside = temp_path_beside(target)
    os.rename(target, aside)
    try:
        os.rename(temp, target)
    except BaseException:
        os.rename(aside, target)
        raise
    os.unlink(aside)


def _place(source: Path, temp: Path, executable: bool, modes: tuple[str, ...]) -> str:
    for mode in modes:
        if mode == "reflink":
            if _reflink(source, temp):
                os.chmod(temp, _file_mode(executable))
                return mode
        elif mode == "copy":
            _copy(source, temp, _file_mode(executable))
            return mode
        elif mode == "hardlink" and not executable:
            # A shared inode cannot be both read-only-for-safety and executable-for-this-file.
            try:
                os.link(source, temp)
                return mode
            except OSError:
                continue
        elif mode == "symlink":
            os.symlink(source, temp)
            return mode
    _copy(source, temp, _file_mode(executable))
    return "copy"


def _copy(source: Path, temp: Path, mode: int) -> None:
    """A new file with the source's bytes and the given mode, copied inside the kernel."""
    with open(source, "rb", buffering=0) as src:
        fd = os.open(temp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, mode)
        try:
            copy_fd(src.fileno(), fd)
            os.fchmod(fd, mode)  # the umask may have narrowed the mode given to open
        finally:
            os.close(fd)


def is_link_into(path: Path, cache: Cache) -> bool:
    """True if the workspace file is a symlink to a cache object (cache.link = symlink)."""
    if not path.is_symlink():
        return False
    try:
        return Path(os.readlink(path)).is_relative_to(cache.root)
    except OSError:
        return False


def remove_empty_parents(start: Path, stop: Path) -> None:
    """Remove now-empty directories from ``start`` up to, not including, ``stop``."""
    current = start
    while current != stop and current.is_relative_to(stop):
        try:
            current.rmdir()
        except OSError:
            return
        current = current.parent
