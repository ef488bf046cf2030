"""Putting cache objects into the workspace (and taking them out).

How a file is materialised is set by ``cache.link``: a comma-separated order of
``reflink``, ``copy``, ``hardlink``, ``symlink`` (default ``reflink,copy``).
reflink and copy give the workspace its own inode, so editing the file can
never change the cache. hardlink and symlink share the cache object, which is
read-only (mode 0444), so an edit fails instead of corrupting the cache -- for
a process that file modes bind. Root (more exactly, a process with
CAP_DAC_OVERRIDE) writes through mode 0444, so for it hardlink and symlink are
dropped from the order and files are copied (see ``parse_link_modes``).
Every placement is atomic: the new file is built under a temp name beside the
target (owned by this process, see tempfiles) and renamed over it -- except that
a large file whose content the caller has checked is in the cache is deleted
first (see ``materialize``), so the disk never holds both versions.
"""

from __future__ import annotations

import functools
import os
import stat as stat_module
from pathlib import Path

from artver.cache import Cache
from artver.errors import ConfigError
from artver.fsutil import clone_fd, copy_fd, unlink_if_present
from artver.tempfiles import Owner

# From this size on, a file in the way is deleted first (its content saved) or moved aside
# (see materialize and _swap_in); below it, renaming over it is as fast or faster.
LARGE_REPLACE = 64 * 1024 * 1024
LINK_MODES = ("reflink", "copy", "hardlink", "symlink")
SHARING_MODES = ("hardlink", "symlink")  # the workspace file is the cache object
DEFAULT_LINK = ("reflink", "copy")
CAP_DAC_OVERRIDE = 1  # linux/capability.h: bypass file read/write/execute permission checks


def parse_link_modes(value: str | None, privileged: bool | None = None) -> tuple[str, ...]:
    """The placement order ``cache.link`` asks for, as this process may use it. A sharing
    mode protects the cache only through the object's mode 0444, which a ``privileged``
    process (default: this one, see ``overrides_file_modes``) writes through; for it the
    sharing modes are dropped, and a list of nothing else becomes ``copy``."""
    if not value:
        return DEFAULT_LINK
    modes = tuple(part.strip() for part in value.split(",") if part.strip())
    unknown = [mode for mode in modes if mode not in LINK_MODES]
    if unknown or not modes:
        raise ConfigError(f"config: cache.link = {value!r}; use a comma-separated list of {', '.join(LINK_MODES)}")
    if any(mode in SHARING_MODES for mode in modes) and (overrides_file_modes() if privileged is None else privileged):
        return tuple(mode for mode in modes if mode not in SHARING_MODES) or ("copy",)
    return modes


def overrides_file_modes() -> bool:
    """True if this process can write a file whose mode forbids it: root, or any process
    holding CAP_DAC_OVERRIDE (read from /proc; without /proc, root alone)."""
    if os.geteuid() == 0:
        return True
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> CAP_DAC_OVERRIDE & 1)
    except (OSError, ValueError, IndexError):
        pass
    return False


@functools.cache
def _umask() -> int:
    umask = os.umask(0)  # the only way to read it is to set it; done once, before any threads
    os.umask(umask)
    return umask


def _file_mode(executable: bool) -> int:
    return (0o777 if executable else 0o666) & ~_umask()


def materialize(cache: Cache, hash_value: str, target: Path | str, executable: bool,
                modes: tuple[str, ...], saved: os.stat_result | None = None) -> os.stat_result:
    """Place the object at ``target`` atomically; return the placed file's stat (as
    os.stat(target) would), so callers can record it without asking again.

    ``saved`` is the stat of the file now at ``target`` when the caller checked that its
    content is in the cache. If that file is still exactly the one checked (same inode,
    size, mtime and ctime), is a large regular file and is its inode's only name (a hard
    link or a symlink frees nothing), it is deleted before the new content is written:
    the disk never needs room for both, nor allocates the second copy beside the first.
    A kill between the two leaves the file missing -- its content safe in the cache,
    ``status`` reporting it missing, the next checkout placing it -- never half-written.
    Otherwise the new file is built beside the old one and renamed over it."""
    target = os.fspath(target)
    if saved is not None and _frees_space_first(target, saved):
        os.unlink(target)
    source = cache.path_of(hash_value)
    owner = cache.temp_owner()
    temp = owner.temp_beside(target)
    try:
        try:
            placed = _place(source, temp, executable, modes)
        except FileNotFoundError:
            parent = os.path.dirname(target)
            if os.path.isdir(parent):
                raise
            os.makedirs(parent, exist_ok=True)  # only when the folder is new
            placed = _place(source, temp, executable, modes)
        _swap_in(temp, target, owner)
    except BaseException:
        unlink_if_present(temp)
        raise
    return placed


def _frees_space_first(target: str, saved: os.stat_result) -> bool:
    """True if the file at ``target`` may be deleted before its replacement is written:
    it is the very file whose content was found in the cache, and deleting it frees its
    blocks (a large regular file with no other name)."""
    try:
        current = os.lstat(target)
    except FileNotFoundError:
        return False
    return (stat_module.S_ISREG(current.st_mode) and current.st_nlink == 1 and current.st_size >= LARGE_REPLACE
            and _identity(current) == _identity(saved))


def _identity(stat: os.stat_result) -> tuple[int, ...]:
    """What changes when a file is replaced or written to (ctime: by any write, even one
    that restores the mtime)."""
    return stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns


def _swap_in(temp: str, target: str, owner: Owner) -> None:
    """Rename ``temp`` to ``target``. A large regular file still in the way (materialize
    did not delete it first: its content is not known to be saved, or it shares its inode)
    is first renamed aside (to another temp name of ``owner``) and unlinked after:
    renaming over it makes ext4 (auto_da_alloc) flush the whole new file first, over a
    second for 2 GiB. Callers only replace content that is in the cache (or that --force
    discards), and a killed run leaves the aside file under a temp name of its owner,
    which the next cleanup deletes."""
    try:
        existing = os.lstat(target)
    except FileNotFoundError:
        os.rename(temp, target)
        return
    if not stat_module.S_ISREG(existing.st_mode) or existing.st_size < LARGE_REPLACE:
        os.replace(temp, target)
        return
    aside = owner.temp_beside(target)
    os.rename(target, aside)
    try:
        os.rename(temp, target)
    except BaseException:
        os.rename(aside, target)
        raise
    os.unlink(aside)


def _place(source: str, temp: str, executable: bool, modes: tuple[str, ...]) -> os.stat_result:
    mode = _file_mode(executable)
    for index, link in enumerate(modes):
        if link in ("reflink", "copy"):
            # "reflink,copy" (the default) is one attempt: both files are opened once, and
            # the copy happens only if the filesystem cannot clone.
            then_copy = link == "copy" or modes[index + 1 : index + 2] == ("copy",)
            placed = _clone_or_copy(source, temp, mode, clone=link == "reflink", copy=then_copy)
            if placed is not None:
                return placed
        elif link == "hardlink" and not executable:
            # A shared inode cannot be both read-only-for-safety and executable-for-this-file.
            try:
                os.link(source, temp)
                return os.stat(temp)
            except OSError:
                continue
        elif link == "symlink":
            os.symlink(source, temp)
            return os.stat(temp)
    placed = _clone_or_copy(source, temp, mode, clone=False, copy=True)
    assert placed is not None
    return placed


def _clone_or_copy(source: str, temp: str, mode: int, clone: bool, copy: bool) -> os.stat_result | None:
    """A new file ``temp`` with the source's bytes: cloned if ``clone`` and the filesystem
    can, else copied inside the kernel if ``copy``; None (and no file) if neither."""
    src = os.open(source, os.O_RDONLY | os.O_CLOEXEC)
    try:
        # The mode already has the umask applied, so the file gets exactly this mode.
        dst = os.open(temp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, mode)
        try:
            if not (clone and clone_fd(src, dst)):
                if not copy:
                    os.close(dst)
                    dst = -1
                    os.unlink(temp)
                    return None
                copy_fd(src, dst, os.fstat(src).st_size)
            return os.fstat(dst)
        finally:
            if dst >= 0:
                os.close(dst)
    finally:
        os.close(src)


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
