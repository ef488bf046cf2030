"""Putting cache objects into the workspace (and taking them out), and deciding what a
workspace path is against the object its pointer wants there (``file_state``,
``folder_state``: the one decision status, checkout and the hooks share).

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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from artver.cache import Cache
from artver.errors import ConfigError
from artver.fsutil import clone_fd, copy_fd, unlink_if_present
from artver.statcache import StatFields
from artver.status_states import State
from artver.tempfiles import Owner

if TYPE_CHECKING:  # artifacts imports repo, which imports this module
    from artver.artifacts import Hasher, Preloaded, WorkspaceFile
    from artver.listing import Entry

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


def file_state(cache: Cache, hasher: Hasher, relative: str, absolute: Path | str, wanted_hash: str,
               wanted_size: int | None = None, stat: StatFields | None = None,
               preloaded: Preloaded | None = None, wanted_cached: bool | None = None) -> State:
    """What the workspace file at ``relative`` is, against the object ``wanted_hash`` that its
    pointer wants there. ``stat`` (followed through symlinks) saves a stat when the caller has
    it; ``wanted_cached`` saves a cache lookup when the caller asked the cache in bulk.

    - MISSING: nothing is there;
    - CLEAN: it holds the wanted content; NOT_IN_CACHE if the cache lacks that content (the
      workspace file is then its only copy);
    - OUTDATED: the cache lacks the wanted object, and the file holds content the cache has,
      i.e. another revision's data that checkout could not replace. It is not the user's
      change: 'artver pull' brings the wanted object, and 'artver add' would record the other
      revision's data under this revision's pointer;
    - MODIFIED: anything else (content saved nowhere, a folder where the file should be).

    The file is hashed (through the stat database) only when the answer depends on it."""
    if stat is None:
        try:
            stat = os.stat(absolute)
        except (FileNotFoundError, NotADirectoryError):
            return State.MISSING
    if stat_module.S_ISDIR(stat.st_mode):
        return State.MODIFIED
    cached = cache.has(wanted_hash) if wanted_cached is None else wanted_cached
    current = None
    # A named pipe or device is read (hashing refuses it in one line, without blocking), never
    # judged by its size.
    if wanted_size is None or stat.st_size == wanted_size or not stat_module.S_ISREG(stat.st_mode):
        current = hasher.hash(relative, absolute, stat, preloaded)
        if current == wanted_hash:
            return State.CLEAN if cached else State.NOT_IN_CACHE
    if cached:
        return State.MODIFIED  # checkout can put the wanted content back: what is here is a change
    if current is None:
        current = hasher.hash(relative, absolute, stat, preloaded)
    return State.OUTDATED if cache.has(current) else State.MODIFIED


@dataclass(frozen=True)
class FolderState:
    """A tracked folder against its listing (paths inside the folder, each in one list)."""

    state: State
    added: tuple[str, ...] = ()  # in the folder, not in the listing
    modified: tuple[str, ...] = ()  # other content or executable bit: the user's change
    deleted: tuple[str, ...] = ()  # listed, absent, and the cache has the object (checkout restores it)
    # Another revision's data (content the cache has), or absent, where the cache lacks the listed
    # object; or, next to such files, a file this revision does not list whose content the cache has.
    outdated: tuple[str, ...] = ()


def folder_state(cache: Cache, hasher: Hasher, artifact: str, present: Sequence[WorkspaceFile],
                 entries: Sequence[Entry], preloaded: Preloaded | None = None) -> FolderState:
    """What a tracked folder that exists is, file by file (see file_state): MODIFIED if any
    file was added, changed or deleted by the user; else OUTDATED if any file is at another
    revision (or absent) for want of its object in the cache (files the listing lacks count
    as another revision's too when the cache has their content); else NOT_IN_CACHE if a
    matching file's object is missing from the cache; else CLEAN."""
    hashes = {entry.hash for entry in entries}
    cached = cache.present(hashes)
    expected = {entry.path: entry for entry in entries}
    added: list[str] = []
    modified: list[str] = []
    outdated: list[str] = []
    uncached_match = False
    for item in present:
        entry = expected.get(item.relative)
        if entry is None:
            added.append(item.relative)
            continue
        state = file_state(cache, hasher, f"{artifact}/{item.relative}", item.path, entry.hash, entry.size,
                           item.stat, preloaded, entry.hash in cached)
        if state in (State.CLEAN, State.NOT_IN_CACHE) and entry.executable != item.executable:
            state = State.MODIFIED
        if state is State.MODIFIED:
            modified.append(item.relative)
        elif state is State.OUTDATED:
            outdated.append(item.relative)
        elif state is State.NOT_IN_CACHE:
            uncached_match = True
    seen = {item.relative for item in present}
    deleted: list[str] = []
    for path, entry in expected.items():
        if path not in seen:
            (deleted if entry.hash in cached else outdated).append(path)
    if added and outdated and not modified and not deleted:
        # Files this revision does not list, next to files at another revision: if the cache
        # has their content too, they are that other revision's (checkout removes them once
        # this revision's data is there). Hashed only in this case: status never reads new files otherwise.
        by_name = {item.relative: item for item in present}
        contents = {hasher.hash(f"{artifact}/{path}", by_name[path].path, by_name[path].stat, preloaded) for path in added}
        if len(cache.present(contents)) == len(contents):
            outdated += added
            added = []
    outdated.sort()
    if added or modified or deleted:
        state = State.MODIFIED
    elif outdated:
        state = State.OUTDATED
    else:
        state = State.NOT_IN_CACHE if uncached_match else State.CLEAN
    return FolderState(state, tuple(added), tuple(modified), tuple(deleted), tuple(outdated))


def unlisted_folder_state(cache: Cache, hasher: Hasher, artifact: str, present: Sequence[WorkspaceFile],
                          listing_hash: str, algorithm: str) -> State:
    """What a tracked folder that exists is when the cache lacks its listing object, so its
    files cannot be compared one by one: NOT_IN_CACHE if its files make exactly that listing
    (the workspace matches; only the listing is gone), OUTDATED if every file holds content
    the cache has (another revision's data), MODIFIED otherwise (some file is saved nowhere).
    Hashes every file (through the stat database): only for this rare case."""
    from artver.listing import Entry, identity

    entries = [Entry(item.relative, hasher.hash(f"{artifact}/{item.relative}", item.path, item.stat), item.stat.st_size,
                     item.executable) for item in present]
    if identity(entries, algorithm) == listing_hash:
        return State.NOT_IN_CACHE
    hashes = {entry.hash for entry in entries}
    return State.OUTDATED if len(cache.present(hashes)) == len(hashes) else State.MODIFIED
