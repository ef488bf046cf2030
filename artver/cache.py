"""The content-addressed object cache: ``<cache>/<algorithm>/<2 hex>/<rest>``.

Write ordering (why a crash is harmless): an object is first written to
``<cache>/tmp/`` (same filesystem), hashed *while* it is written, made
read-only, and only then renamed to its final name. So a file under its final
name always holds the content its name says; a killed process leaves only a
temp file, named after its owner (see tempfiles), which the next run deletes
once that process is provably gone. Objects are never modified in place.
``add_file`` returns the hash and size of the bytes it stored, read from a
source that did not change during the read (see source.py), never a size or
stat taken at another moment.
"""

from __future__ import annotations

import errno
import functools
import os
import re
import secrets
import stat as stat_module
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from artver import hashing, tempfiles
from artver import source as source_module
from artver.errors import CacheError, IntegrityError, ObjectMissingError
from artver.fsutil import clone_fd, unlink_if_present
from artver.hashing import ByteCallback
from artver.statcache import StatFields

OBJECT_MODE = 0o444


@dataclass(frozen=True)
class Stored:
    """What add_file put in the cache: the object's hash and size, and the stat the
    source had before and after the read of exactly those bytes (what the stat
    database may record for it)."""

    hash: str
    size: int
    source_stat: os.stat_result


@dataclass(frozen=True)
class Cache:
    root: Path
    algorithm: str

    @property
    def temp_dir(self) -> Path:
        return self.root / "tmp"

    def path_of(self, hash_value: str) -> str:
        # A plain string, not a Path: called per file of a 20,000-file folder, where pathlib's
        # parsing costs more than the system calls made with the result.
        algorithm, _, digest = hash_value.partition(":")
        return f"{self._root_text}/{algorithm}/{digest[:2]}/{digest[2:]}"

    def has(self, hash_value: str) -> bool:
        return os.path.isfile(self.path_of(hash_value))

    def present(self, hashes: Iterable[str]) -> set[str]:
        """Which of many hashes are in the cache: one directory listing per 2-hex folder
        instead of one stat per object (a directory of 20,000 files needs ~256 listings)."""
        wanted: dict[str, set[str]] = {}
        for hash_value in hashes:
            algorithm, _, digest = hash_value.partition(":")
            wanted.setdefault(f"{algorithm}/{digest[:2]}", set()).add(hash_value)
        found: set[str] = set()
        for folder, candidates in wanted.items():
            if len(candidates) < 4:
                found.update(hash_value for hash_value in candidates if self.has(hash_value))
                continue
            try:
                names = set(os.listdir(f"{self._root_text}/{folder}"))
            except (FileNotFoundError, NotADirectoryError):
                continue
            algorithm, prefix = folder.split("/")
            found.update(hash_value for hash_value in candidates if hash_value[len(algorithm) + 3 :] in names)
        return found

    @functools.cached_property
    def _root_text(self) -> str:
        return str(self.root)

    def temp_owner(self) -> tempfiles.Owner:
        """This process's owner of temp files in this cache (its record creates the temp folder)."""
        return tempfiles.owner_of(f"{self._root_text}/tmp")

    def new_temp(self) -> str:
        """A name for a new temp file in the cache's temp folder (the folder exists)."""
        return self._temp_name()

    def _temp_name(self) -> str:
        return self.temp_owner().cache_temp()

    def create_temp(self) -> tuple[str, int]:
        """A new temp file, already read-only (the mode of an object; the descriptor
        returned can still write): (path, descriptor open for writing)."""
        temp = self._temp_name()
        return temp, os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, OBJECT_MODE)

    def add_file(self, source: Path | str, on_bytes: ByteCallback | None = None, display: str | None = None,
                 expected: StatFields | None = None) -> Stored:
        """Store a copy of the regular file ``source``; return what was stored.

        The source is read once per attempt, hashed while it is copied (or, where the
        filesystem can, cloned and the clone hashed: the hash is always of the object's
        own bytes), between two fstat calls on one descriptor (see source.py). If it
        changed meanwhile, the copy is discarded and the source read again, up to
        ``source.ATTEMPTS`` times, then refused. ``display`` names the source in messages;
        ``expected`` is the stat it was scanned with. Errors reading the source raise
        SourceError naming it; errors writing the cache raise CacheError naming the cache."""
        path = os.fspath(source)
        name = display if display is not None else path
        for _ in range(source_module.ATTEMPTS):
            stored = self._store_once(path, name, expected, on_bytes)
            if stored is not None:
                return stored
        raise source_module.changed(name)

    def _store_once(self, path: str, name: str, expected: StatFields | None,
                    on_bytes: ByteCallback | None) -> Stored | None:
        """One attempt of add_file: the stored object, or None if the source changed during the read."""
        descriptor, before = source_module.open_source(path, name, expected)
        try:
            try:
                temp, out = self.create_temp()
            except OSError as error:
                raise self._write_error(name, error) from None
            try:
                if self._clone(descriptor, out, before):
                    # The clone is the read: compare the source's stat right after it. The
                    # hash is then taken of the object's bytes, the ones a pointer will name.
                    after = source_module.stat_after(descriptor, path, name)
                    hash_value, size = hashing.hash_file(temp, self.algorithm, on_bytes)
                else:
                    hash_value, size = _copy_and_hash(descriptor, before, out, path, name, self.algorithm, on_bytes)
                    after = source_module.stat_after(descriptor, path, name)
                os.close(out)
                out = -1
                if not source_module.unchanged(before, after, size):
                    return None
                self._install(temp, hash_value, read_only=True)
            except OSError as error:  # the source's errors are SourceErrors by now: these are the cache's
                raise self._write_error(name, error) from None
            finally:
                if out >= 0:
                    os.close(out)
                unlink_if_present(temp)
        finally:
            os.close(descriptor)
        return Stored(hash_value, size, after)

    def _clone(self, source_fd: int, target_fd: int, before: os.stat_result) -> bool:
        """Share the source's extents with the (empty) target where the filesystem can;
        False to copy instead. A failed clone falls back to the copy, whose errors say
        which side failed."""
        devices = (before.st_dev, os.fstat(target_fd).st_dev)
        if devices in _NO_REFLINK:
            return False
        try:
            if clone_fd(source_fd, target_fd):
                return True
        except OSError:
            return False
        _NO_REFLINK.add(devices)
        return False

    def _write_error(self, name: str, error: OSError) -> CacheError:
        reason = (error.strerror or str(error)).lower()
        hint = _CACHE_HINTS.get(error.errno or 0, "check the disk the cache is on")
        return CacheError(
            f"cannot store {name} in the cache {self.root}: {reason} ({hint}, or move the cache elsewhere with cache.dir)"
        )

    def add_bytes(self, data: bytes, display: str = "a listing") -> str:
        hash_value = hashing.hash_bytes(data, self.algorithm)
        if self.has(hash_value):
            return hash_value
        temp = self.new_temp()
        try:
            with open(temp, "xb") as handle:
                handle.write(data)
            self._install(temp, hash_value)
        except OSError as error:
            raise self._write_error(display, error) from None
        finally:
            unlink_if_present(temp)
        return hash_value

    def install_trusted(self, temp: str, hash_value: str, read_only: bool = False) -> None:
        """Move a temp file whose content the caller has just hashed into the cache
        (``read_only``: it already has the object mode, as create_temp makes it)."""
        self._install(temp, hash_value, read_only)

    def read_bytes(self, hash_value: str, where: str) -> bytes:
        """Read a small object (a listing) fully, checking its hash."""
        try:
            with open(self.path_of(hash_value), "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            raise ObjectMissingError(f"{where}: object {hashing.short(hash_value)} is not in the cache") from None
        if hashing.hash_bytes(data, hashing.algorithm_of(hash_value)) != hash_value:
            raise IntegrityError(f"{where}: cache object {self.path_of(hash_value)} is corrupt (run 'artver verify')")
        return data

    def objects(self) -> list[tuple[str, int]]:
        """Every object in the cache with its size."""
        found = []
        for algorithm in hashing.ALGORITHMS:
            base = f"{self._root_text}/{algorithm}"
            if not os.path.isdir(base):
                continue
            for prefix in sorted(os.listdir(base)):
                folder = f"{base}/{prefix}"
                if len(prefix) != 2 or not os.path.isdir(folder):
                    continue
                for name in os.listdir(folder):
                    value = f"{algorithm}:{prefix}{name}"
                    if hashing.is_valid_hash(value):
                        found.append((value, os.stat(f"{folder}/{name}").st_size))
        return found

    def remove_stale_temps(self) -> None:
        """Delete the temp files of processes that are provably gone (killed mid-write), in
        the cache and beside workspace files, and nothing else (see tempfiles). A live
        writer's files are left alone, even one in another clone sharing this cache."""
        tempfiles.remove_leftovers(f"{self._root_text}/tmp")

    @property
    def quarantine_dir(self) -> Path:
        return self.root / "quarantine"

    def quarantine(self, hash_value: str) -> Path | None:
        """Move a corrupt object out of the way (kept for inspection); return where it went."""
        source = self.path_of(hash_value)
        target = self.quarantine_dir / f"{hash_value.replace(':', '-')}-{secrets.token_hex(4)}"
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(source, target)
        except FileNotFoundError:
            return None
        os.utime(target)  # gc keeps quarantined objects for a while, counted from now
        return target

    def remove_quarantined(self, older_than: float) -> int:
        """Delete quarantined objects moved there more than ``older_than`` seconds ago; return
        how many. Only regular files named as ``quarantine`` names them are deleted: anything
        else in the folder (a file of the user's, a symlink) is not artver's and stays."""
        try:
            dir_fd = os.open(self.quarantine_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return 0
        cutoff = time.time() - older_than
        deleted = 0
        try:
            for name in os.listdir(dir_fd):
                if not _is_quarantine_name(name):
                    continue
                try:
                    found = os.lstat(name, dir_fd=dir_fd)
                    if stat_module.S_ISREG(found.st_mode) and found.st_mtime < cutoff:
                        os.unlink(name, dir_fd=dir_fd)
                        deleted += 1
                except FileNotFoundError:
                    continue
        finally:
            os.close(dir_fd)
        return deleted

    def _install(self, temp: str, hash_value: str, read_only: bool = False) -> None:
        final = self.path_of(hash_value)
        if not read_only:
            os.chmod(temp, OBJECT_MODE)
        try:
            os.replace(temp, final)  # same content if it existed: content-addressed
        except FileNotFoundError:
            os.makedirs(os.path.dirname(final), exist_ok=True)  # first object of its 2-hex folder
            os.replace(temp, final)


# Filesystems (by device pair) found unable to reflink, so that a folder of 20,000 files
# does not pay a failed clone attempt per file. Only ever grows; a capability, not state.
_NO_REFLINK: set[tuple[int, int]] = set()

_CACHE_HINTS = {
    errno.ENOSPC: "free space on the cache's disk",
    errno.EDQUOT: "free space in your disk quota",
    errno.EROFS: "the cache's filesystem is read-only",
    errno.EACCES: "check the permissions of the cache folder",
    errno.EPERM: "check the permissions of the cache folder",
    errno.EFBIG: "the cache's filesystem or a resource limit refuses a file this large",
}


def _copy_and_hash(source_fd: int, before: os.stat_result, target_fd: int, path: str, name: str, algorithm: str,
                   on_bytes: ByteCallback | None) -> tuple[str, int]:
    """Copy the open source into the open target, hashing the very bytes written."""
    hasher = hashing.new_hasher(algorithm)
    size = 0
    for chunk in source_module.chunks(source_fd, before, path, name):
        hasher.update(chunk)
        count = len(chunk)
        written = 0
        while written < count:
            written += os.write(target_fd, chunk[written:])
        size += count
        if on_bytes is not None:
            on_bytes(count)
    return f"{algorithm}:{hasher.hexdigest()}", size


# ``<algorithm>-<digest>-<8 hex>``, as ``Cache.quarantine`` names a corrupt object.
_QUARANTINE_NAME = re.compile(
    "(?:" + "|".join(f"{re.escape(name)}-[0-9a-f]{{{length}}}" for name, length in hashing.ALGORITHMS.items())
    + ")-[0-9a-f]{8}"
)


def _is_quarantine_name(name: str) -> bool:
    return _QUARANTINE_NAME.fullmatch(name) is not None
