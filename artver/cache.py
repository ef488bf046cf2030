"""The content-addressed object cache: ``<cache>/<algorithm>/<2 hex>/<rest>``.

Write ordering (why a crash is harmless): an object is first written to
``<cache>/tmp/`` (same filesystem), hashed *while* it is written, made
read-only, and only then renamed to its final name. So a file under its final
name always holds the content its name says; a killed process leaves only a
temp file, named after its owner (see tempfiles), which the next run deletes
once that process is provably gone. Objects are never modified in place.
"""

from __future__ import annotations

import functools
import os
import re
import secrets
import stat as stat_module
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from artver import hashing, tempfiles
from artver.errors import CacheError, IntegrityError, ObjectMissingError
from artver.fsutil import clone_fd, unlink_if_present
from artver.hashing import CHUNK_SIZE, ByteCallback

OBJECT_MODE = 0o444


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

    def add_file(self, source: Path | str, on_bytes: ByteCallback | None = None) -> tuple[str, int]:
        """Store a copy of ``source``; return (hash, size). Reads the source once."""
        temp = self.new_temp()
        try:
            if _reflink(source, temp):
                hash_value, size = hashing.hash_file(temp, self.algorithm, on_bytes)
            else:
                hash_value, size = _copy_and_hash(source, temp, self.algorithm, on_bytes)
            self._install(temp, hash_value)
        except OSError as error:
            raise CacheError(f"cannot store {source} in the cache {self.root}: {error.strerror or error}") from None
        finally:
            unlink_if_present(temp)
        return hash_value, size

    def add_bytes(self, data: bytes) -> str:
        hash_value = hashing.hash_bytes(data, self.algorithm)
        if self.has(hash_value):
            return hash_value
        temp = self.new_temp()
        try:
            with open(temp, "xb") as handle:
                handle.write(data)
            self._install(temp, hash_value)
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


def _reflink(source: Path | str, target: Path | str) -> bool:
    """Clone source into a new file target; False where the filesystem cannot."""
    try:
        devices = (os.stat(source).st_dev, os.stat(os.path.dirname(target)).st_dev)
    except OSError:
        devices = None
    if devices in _NO_REFLINK:
        return False
    try:
        with open(source, "rb") as src, open(target, "xb") as dst:
            if clone_fd(src.fileno(), dst.fileno()):
                return True
    except OSError:
        Path(target).unlink(missing_ok=True)
        raise
    Path(target).unlink(missing_ok=True)
    if devices is not None:
        _NO_REFLINK.add(devices)
    return False


def _copy_and_hash(source: Path | str, target: str, algorithm: str, on_bytes: ByteCallback | None) -> tuple[str, int]:
    hasher = hashing.new_hasher(algorithm)
    size = 0
    with open(source, "rb", buffering=0) as src, open(target, "xb", buffering=0) as dst:
        # A buffer no larger than the file: zero-filling 1 MiB for each of 20,000 small files costs seconds.
        buffer = bytearray(min(CHUNK_SIZE, os.fstat(src.fileno()).st_size + 1))
        view = memoryview(buffer)
        while True:
            count = src.readinto(buffer)
            if not count:
                break
            chunk = view[:count]
            hasher.update(chunk)
            written = 0
            while written < count:
                written += dst.write(chunk[written:])
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
