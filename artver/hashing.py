"""Content hashes: which algorithms, how hash strings look, how files are hashed.

A hash string always carries its algorithm: ``xxh128:<32 hex>`` or
``sha256:<64 hex>``. XXH3-128 is the default because it hashes at memory speed;
SHA-256 is there for teams that must resist deliberate collisions (see
docs/security.md).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat as stat_module
from pathlib import Path
from typing import Protocol

import xxhash

from artver.errors import SourceError, UsageError

DEFAULT_ALGORITHM = "xxh128"
ALGORITHMS = {"xxh128": 32, "sha256": 64}  # algorithm -> hex digits
CHUNK_SIZE = 1024 * 1024  # small enough that a chunk is still in the CPU cache when written after hashing

_HASH_RE = re.compile(r"(xxh128|sha256):([0-9a-f]+)")
# A valid hash as a pattern, for checking many at once in a larger text.
HASH_PATTERN = "|".join(f"{name}:[0-9a-f]{{{digits}}}" for name, digits in ALGORITHMS.items())


class ByteCallback(Protocol):
    def __call__(self, count: int, /) -> None: ...


def ignore_bytes(count: int, /) -> None:
    """The ByteCallback of a transfer nobody watches."""
    del count


class Hasher(Protocol):
    def update(self, data: bytes | memoryview, /) -> None: ...

    def hexdigest(self) -> str: ...


def new_hasher(algorithm: str) -> Hasher:
    if algorithm == "xxh128":
        return xxhash.xxh3_128()
    if algorithm == "sha256":
        return hashlib.sha256()
    raise UsageError(f"unknown hash algorithm {algorithm!r}; choose one of: {', '.join(ALGORITHMS)}")


def is_valid_hash(value: str) -> bool:
    """The whole string is '<algorithm>:<hex digest of its length>' (fullmatch: a trailing
    newline, which '$' would let through, makes a name that is no object's)."""
    match = _HASH_RE.fullmatch(value)
    return match is not None and len(match.group(2)) == ALGORITHMS[match.group(1)]


def split_hash(value: str) -> tuple[str, str]:
    """Return (algorithm, hex digest); the caller must have validated the string."""
    algorithm, _, digest = value.partition(":")
    return algorithm, digest


def algorithm_of(value: str) -> str:
    return value.partition(":")[0]


def short(value: str, digits: int = 8) -> str:
    """A hash prefix for people: ``xxh128:8d3c1a2b``."""
    algorithm, digest = split_hash(value)
    return f"{algorithm}:{digest[:digits]}"


def hash_bytes(data: bytes | memoryview, algorithm: str) -> str:
    hasher = new_hasher(algorithm)
    hasher.update(data)
    return f"{algorithm}:{hasher.hexdigest()}"


def hash_file(path: Path | str, algorithm: str, on_bytes: ByteCallback | None = None) -> tuple[str, int]:
    """Hash a regular file's content in bounded memory; return (hash string, size).
    Opening never blocks: a named pipe (or a folder or device) where a file was
    expected raises SourceError instead of waiting forever for a writer."""
    hasher = new_hasher(algorithm)
    size = 0
    with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC), "rb", buffering=0) as source:
        stat = os.fstat(source.fileno())
        if not stat_module.S_ISREG(stat.st_mode):
            raise SourceError(
                f"{os.fspath(path)}: not a regular file (a named pipe, folder or device is there); "
                f"artver reads only regular files, so move it out of the way and run the command again"
            )
        buffer = bytearray(min(CHUNK_SIZE, stat.st_size + 1))
        view = memoryview(buffer)
        while True:
            count = source.readinto(buffer)
            if not count:
                break
            hasher.update(view[:count])
            size += count
            if on_bytes is not None:
                on_bytes(count)
    return f"{algorithm}:{hasher.hexdigest()}", size

