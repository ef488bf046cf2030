"""Temp files: named after the process that made them, deleted only once it is provably gone.

Every temp file artver writes while it works -- a new or downloaded object in
``<cache>/tmp/``, a workspace file built beside its target -- belongs to an *owner*:
one per process and cache, named by a random 128-bit token. Before its first temp
file, the owner creates its record ``<cache>/tmp/<token>.owner`` and locks it
(flock(2)) for as long as the process lives; the kernel drops that lock when the
process ends, however it ends. Before its first temp file in a folder outside the
cache, the owner appends that folder to its record.

Cleaning up after a killed process is then a proof, not a guess about names or ages:

- a record that nobody holds locked belongs to a process that is gone, so the temp
  files carrying its token are garbage; a locked record (or one this process cannot
  lock: another user's, or a filesystem without locks) is left alone;
- only names of the exact grammar below that carry a dead record's token are deleted,
  only regular files (a symlink is neither followed nor deleted), and only in
  ``<cache>/tmp`` and the folders the record lists;
- a file that merely looks like a temp name -- no dead record names its token -- is
  never deleted. Inside a tracked folder it is the user's file like any other.

Names (``T`` is the owner's token, 32 lowercase hex digits):

- ``<cache>/tmp/T.owner``: the record (``pid N record DEV:INODE``, then the folders,
  each item NUL-terminated);
- ``<cache>/tmp/T-`` + 16 hex digits: an object being written or downloaded;
- ``.artver-tmp-T-`` + 12 hex digits: a file being built beside its target.

A process with a cache keeps one owner for its whole life (commands run in-process,
as the Python API does, share it). When it exits normally with no temp file left,
its record is deleted; otherwise the next cleanup deletes the leftovers and then the
record. Cleanup runs in add, fetch, checkout, the hooks and gc, under the repository
lock; a shared cache's other clones are protected by the records' locks.
"""

from __future__ import annotations

import atexit
import errno
import fcntl
import itertools
import os
import re
import secrets
import stat as stat_module
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

TEMP_MARKER = ".artver-tmp-"
OWNER_SUFFIX = ".owner"
_TOKEN = "[0-9a-f]{32}"
OWNER_NAME = re.compile(f"({_TOKEN}){re.escape(OWNER_SUFFIX)}")
CACHE_TEMP_NAME = re.compile(f"({_TOKEN})-[0-9a-f]{{16}}")
BESIDE_TEMP_NAME = re.compile(f"{re.escape(TEMP_MARKER)}({_TOKEN})-[0-9a-f]{{12}}")


@dataclass(frozen=True)
class Owner:
    """This process's identity in one temp folder. ``fd`` holds the record open and
    locked until the process ends; ``journaled`` is the set of folders already in the
    record (it only grows)."""

    directory: str  # <cache>/tmp
    token: str
    fd: int
    pid: int
    journaled: set[str] = field(default_factory=set, compare=False, repr=False)
    guard: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)
    # next() of itertools.count is atomic in CPython: threads naming temps at once get distinct numbers.
    numbers: Iterator[int] = field(default_factory=itertools.count, compare=False, repr=False)

    @property
    def record(self) -> str:
        return f"{self.directory}/{self.token}{OWNER_SUFFIX}"

    def cache_temp(self) -> str:
        """A new name for a temp file in the cache's temp folder (unique: the token is this
        owner's alone, and the number is never repeated by it)."""
        return f"{self.directory}/{self.token}-{next(self.numbers):016x}"

    def temp_beside(self, target: str) -> str:
        """A new name for a temp file in ``target``'s folder; the folder is in the record
        before the name is returned, so a kill right after creating the file leaves it findable."""
        folder = os.path.dirname(target)
        if folder not in self.journaled:
            with self.guard:
                if folder not in self.journaled:
                    os.write(self.fd, os.fsencode(os.path.abspath(folder)) + b"\0")
                    self.journaled.add(folder)
        return f"{folder}/{TEMP_MARKER}{self.token}-{next(self.numbers):012x}"


# The one piece of process-wide state in artver: a process's identity per temp folder. It
# must live as long as the process (its lock is the proof that the process is alive),
# longer than any one command run in-process.
_owners: dict[tuple[str, int], Owner] = {}
_owners_guard = threading.Lock()


def owner_of(directory: str) -> Owner:
    """This process's owner in ``directory`` (created, with its record and the folder, on
    first use, and again if the record was deleted: someone emptied the cache meanwhile)."""
    key = (directory, os.getpid())  # a forked child is another process: it gets its own
    owner = _owners.get(key)
    if owner is not None and os.fstat(owner.fd).st_nlink:
        return owner
    with _owners_guard:
        owner = _owners.get(key)
        if owner is None or not os.fstat(owner.fd).st_nlink:
            # A replaced owner's descriptor stays open until exit, when _release closes it.
            owner = _new_owner(directory)
            _owners[key] = owner
            atexit.register(_release, owner)
    return owner


def _new_owner(directory: str) -> Owner:
    os.makedirs(directory, exist_ok=True)
    while True:
        token = secrets.token_hex(16)
        fd = os.open(f"{directory}/{token}{OWNER_SUFFIX}",
                     os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            # Blocking: a cleaner may have found the record before this lock and hold it a moment.
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as error:
            if error.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
                os.close(fd)
                raise
            # No locks on this filesystem: cleaners cannot lock the record either, so they
            # leave this owner's files alone for good (never deleted is the safe side).
        found = os.fstat(fd)
        if found.st_nlink:
            os.write(fd, _header(os.getpid(), found))
            return Owner(directory, token, fd, os.getpid())
        os.close(fd)  # a cleaner deleted the record before we locked it: take another token


def _header(pid: int, record: os.stat_result) -> bytes:
    """The record's first item: who wrote it, and which file it was written into. A copy
    of the record (a cache copied with cp -r) is another file, so its cleaner does not
    take the folders it lists (those of the original's owner) for its own."""
    return f"pid {pid}".encode() + _identity(record) + b"\0"


def _identity(record: os.stat_result) -> bytes:
    return f" record {record.st_dev}:{record.st_ino}".encode()


def _release(owner: Owner) -> None:
    """At a normal exit: delete the record if none of the owner's temp files is left (if
    one is, the record stays, and the next cleanup deletes both)."""
    if os.getpid() != owner.pid:
        return
    try:
        left = any(CACHE_TEMP_NAME.fullmatch(name) and name.startswith(owner.token)
                   for name in os.listdir(owner.directory))
        left = left or any(_beside_temps(folder, owner.token, delete=False) for folder in owner.journaled)
        if not left:
            os.unlink(owner.record)
    except OSError:
        pass
    finally:
        os.close(owner.fd)


def remove_leftovers(directory: str) -> None:
    """Delete the temp files of every owner in ``directory`` (a cache's temp folder)
    whose process is gone, then their records. Nothing else is deleted."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return  # absent, or a symlink (never followed to delete anything)
    try:
        names = os.listdir(dir_fd)
        for name in names:
            match = OWNER_NAME.fullmatch(name)
            if match:
                _remove_if_dead(dir_fd, name, match.group(1), names)
    finally:
        os.close(dir_fd)


def _remove_if_dead(dir_fd: int, record: str, token: str, names: list[str]) -> None:
    try:
        fd = os.open(record, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError:
        return  # a symlink, another user's record, or already gone
    try:
        if not stat_module.S_ISREG(os.fstat(fd).st_mode):
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return  # locked: its process is alive (or locks do not work here: nothing is proven)
        if not os.fstat(fd).st_nlink:
            return  # another cleaner got here first
        for folder in _journaled_folders(fd):
            _beside_temps(folder, token, delete=True)
        for name in names:
            if name.startswith(token) and CACHE_TEMP_NAME.fullmatch(name):
                _unlink_regular(dir_fd, name)
        os.unlink(record, dir_fd=dir_fd)  # last: a cleaner killed before this finds the record again
    finally:
        os.close(fd)


def _journaled_folders(fd: int) -> list[str]:
    """The folders the record lists, if it is the file its owner wrote (not a copy)."""
    chunks = []
    offset = 0
    while chunk := os.pread(fd, 1 << 16, offset):
        chunks.append(chunk)
        offset += len(chunk)
    items = b"".join(chunks).split(b"\0")[:-1]  # a last item without its NUL was cut by a kill
    if not items or not items[0].endswith(_identity(os.fstat(fd))):
        return []
    return [os.fsdecode(item) for item in items[1:] if item.startswith(b"/")]


def _beside_temps(folder: str, token: str, delete: bool) -> bool:
    """Whether ``folder`` holds temp files of ``token`` (deleting them if ``delete``).
    The folder itself is not followed if it is a symlink."""
    try:
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    found = False
    try:
        with os.scandir(dir_fd) as entries:
            for entry in entries:
                match = BESIDE_TEMP_NAME.fullmatch(entry.name)
                if match is None or match.group(1) != token or not entry.is_file(follow_symlinks=False):
                    continue
                found = True
                if delete:
                    _unlink_regular(dir_fd, entry.name)
    except OSError:
        return found
    finally:
        os.close(dir_fd)
    return found


def _unlink_regular(dir_fd: int, name: str) -> None:
    try:
        if stat_module.S_ISREG(os.lstat(name, dir_fd=dir_fd).st_mode):
            os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        pass
