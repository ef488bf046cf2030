"""Content-defined chunks of large files, and the recipe object that rebuilds a file.

A file at or above a remote's ``chunk_threshold`` is cut with FastCDC 2020 (the
``pyfastcdc`` package: cut points depend on the bytes around them, so an insertion
moves only the chunks next to it). Each chunk is named by its hash in the file's own
algorithm (a sha256 repository gets sha256 chunks: a chunk name must resist
deliberate collisions as the file's name does). Chunks are stored in packs like any
small object; a *recipe* lists them in order. Formats: docs/pointer-format.md
("Chunked files"). This module does no I/O on remotes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from pyfastcdc import FastCDC

from artver import hashing
from artver.errors import RemoteError

# Chunk sizes (bytes). Fixed: other values would cut other chunks, and dedup works only
# between files cut alike. A recipe states them, so a change would be seen, not guessed.
MIN_CHUNK = 16 * 1024
AVERAGE_CHUNK = 64 * 1024
MAX_CHUNK = 256 * 1024
RECIPE_HEADER = b"artver recipe 1\n"
RECIPES_PREFIX = "recipes/"
MAX_RECIPE_LINE = 120  # '<sha256 hash> <length>' is under 80
_NUMBER = re.compile(r"0|[1-9][0-9]{0,15}")


@dataclass(frozen=True)
class ChunkRef:
    """A chunk of a file: its hash, and where it lies in the file."""

    hash: str
    offset: int
    length: int

    @property
    def end(self) -> int:
        return self.offset + self.length


def chunks_of(handle: BinaryIO, algorithm: str) -> Iterator[tuple[ChunkRef, memoryview]]:
    """The file's chunks in order, with their bytes (valid until the next one is asked
    for), read in bounded memory."""
    chunker = FastCDC(avg_size=AVERAGE_CHUNK)
    for chunk in chunker.cut_stream(handle):
        data = chunk.data
        hasher = hashing.new_hasher(algorithm)
        hasher.update(data)
        yield ChunkRef(f"{algorithm}:{hasher.hexdigest()}", chunk.offset, chunk.length), data


def recipe_key(file_hash: str) -> str:
    algorithm, digest = hashing.split_hash(file_hash)
    return f"{RECIPES_PREFIX}{algorithm}/{digest[:2]}/{digest[2:]}"


def file_of_recipe_key(key: str) -> str | None:
    """The file hash a key under ``recipes/`` is the recipe of (None: not one of ours)."""
    if not key.startswith(RECIPES_PREFIX):
        return None
    parts = key[len(RECIPES_PREFIX):].split("/")
    if len(parts) != 3:
        return None
    value = f"{parts[0]}:{parts[1]}{parts[2]}"
    return value if hashing.is_valid_hash(value) else None


def recipe_lines(size: int, chunks: Iterable[ChunkRef]) -> Iterator[bytes]:
    yield RECIPE_HEADER
    yield f"size {size} chunks {MIN_CHUNK} {AVERAGE_CHUNK} {MAX_CHUNK}\n".encode()
    for chunk in chunks:
        yield f"{chunk.hash} {chunk.length}\n".encode()


def max_recipe_bytes(size: int) -> int:
    """The most bytes a recipe of a ``size``-byte file can have: every chunk but the last is
    at least MIN_CHUNK long. A larger recipe is refused while it downloads."""
    return (size // MIN_CHUNK + 2) * MAX_RECIPE_LINE + 200


def parse_recipe(lines: Iterable[bytes], file_hash: str, size: int, where: str) -> list[ChunkRef]:
    """The chunks of the recipe of ``file_hash`` (``size`` bytes), refusing anything that is
    not exactly the format and does not add up to the file: a hostile recipe must not
    make a reader allocate, seek or trust beyond the file it describes."""
    problem = f"{where} is damaged; it was not used ('artver verify -r' checks the remote)"
    iterator = iter(lines)
    first = next(iterator, b"")
    if first != RECIPE_HEADER:
        if first.startswith(b"artver recipe "):
            raise RemoteError(f"{where} is in a newer recipe format than this artver reads; upgrade artver")
        raise RemoteError(problem)
    if next(iterator, b"") != f"size {size} chunks {MIN_CHUNK} {AVERAGE_CHUNK} {MAX_CHUNK}\n".encode():
        raise RemoteError(problem)
    algorithm = hashing.algorithm_of(file_hash)
    chunks: list[ChunkRef] = []
    offset = 0
    short_seen = False
    for raw in iterator:
        if len(raw) > MAX_RECIPE_LINE or not raw.endswith(b"\n") or short_seen:
            raise RemoteError(problem)
        try:
            hash_value, length_text = raw[:-1].decode("ascii").split(" ")
        except (UnicodeDecodeError, ValueError):
            raise RemoteError(problem) from None
        if not hashing.is_valid_hash(hash_value) or hashing.algorithm_of(hash_value) != algorithm \
                or not _NUMBER.fullmatch(length_text):
            raise RemoteError(problem)
        length = int(length_text)
        if not 1 <= length <= MAX_CHUNK or offset + length > size:
            raise RemoteError(problem)
        short_seen = length < MIN_CHUNK  # only the last chunk may be shorter than the minimum
        chunks.append(ChunkRef(hash_value, offset, length))
        offset += length
    if offset != size:
        raise RemoteError(problem)
    return chunks
