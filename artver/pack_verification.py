"""verify -r of a packed remote: every index and every pack, read in full.

Each index object is downloaded again (not taken from its local copy) and checked
against its name, and one of index format 2 for the order of its member lines (a reader
does not check it: an unsorted index hides its own members from lookups); each pack an index lists is downloaded whole into an unnamed temp
file, checked against its name, and every member the indexes place in it is hashed
with its own algorithm. Memory stays bounded: a pack goes to disk, a member is read
from there one at a time.
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

import xxhash

from artver import hashing, packs
from artver.errors import ObjectNotFoundError, RemoteError
from artver.packs import Member
from artver.remote_packs import PackedRemote


@dataclass(frozen=True)
class PackProblem:
    object: str  # an object's hash, or the key of a pack or index
    problem: str  # corrupt | missing | out of order (an index whose member lines are not sorted)


class _HashingFile:
    """A download sink: an unnamed temp file, hashed as it is written."""

    def __init__(self) -> None:
        self.file = tempfile.TemporaryFile()
        self.hasher = xxhash.xxh3_128()

    def write(self, data: bytes) -> None:
        self.hasher.update(data)
        self.file.write(data)

    def rewind(self) -> None:
        self.file.seek(0)
        self.file.truncate()
        self.hasher = xxhash.xxh3_128()


def check_packs(packed: PackedRemote, on_bytes: Callable[[int], None]) -> tuple[int, list[PackProblem]]:
    """(objects checked, problems) for every index and pack of the remote."""
    packed.refresh()
    problems: list[PackProblem] = []
    checked = 0
    for name in sorted(packed.index.index_names()):
        key = packs.index_key(name)
        sink = _HashingFile()
        try:
            try:
                packed.storage.download(key, sink, on_bytes)
            except ObjectNotFoundError:
                problems.append(PackProblem(key, "missing"))
                continue
            checked += 1
            if sink.hasher.hexdigest() != name:
                problems.append(PackProblem(key, "corrupt"))
            elif not _in_order(sink.file):
                problems.append(PackProblem(key, "out of order"))
        finally:
            sink.file.close()
    # members() comes pack by pack: one pack's members are held at a time
    for pack, members in itertools.groupby(packed.index.members(), key=lambda member: member.location.pack):
        checked += 1
        problems.extend(_check_pack(packed, pack, list(members), on_bytes))
    return checked, problems


def _in_order(handle: BinaryIO) -> bool:
    """Whether the member lines of the index in ``handle`` (its name checked, so the one
    loaded and validated before) are in byte order, as format 2 requires. Format 1 is
    not checked: its readers sorted it themselves."""
    handle.seek(0)
    if handle.readline(packs.MAX_INDEX_LINE + 1) != packs.INDEX_HEADER:
        return True
    previous = b""
    for line in packs.bounded_lines(handle):
        if not line.startswith(b"pack "):
            if line < previous:
                return False
            previous = line
    return True


def _check_pack(packed: PackedRemote, pack: str, members: list[Member],
                on_bytes: Callable[[int], None]) -> list[PackProblem]:
    key = packs.pack_key(pack)
    sink = _HashingFile()
    try:
        try:
            packed.storage.download(key, sink, on_bytes)
        except ObjectNotFoundError:
            return [PackProblem(key, "missing")] + [PackProblem(member.hash, "missing") for member in members]
        problems = [] if sink.hasher.hexdigest() == pack else [PackProblem(key, "corrupt")]
        for member in members:
            sink.file.seek(member.location.offset)
            data = sink.file.read(member.location.length)
            if len(data) != member.location.length or \
                    hashing.hash_bytes(data, hashing.algorithm_of(member.hash)) != member.hash:
                problems.append(PackProblem(member.hash, "corrupt"))
        return problems
    except RemoteError:
        raise
    finally:
        sink.file.close()
