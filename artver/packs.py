"""Pack and index objects: the byte formats, and parsing them as untrusted input.

A *pack* holds many small objects ("members") back to back after a one-line header;
an *index* object says, for one or more packs, where each member lies. Both are
named by the XXH3-128 of their own bytes (``packs/<32 hex>``, ``index/<32 hex>``)
and never rewritten. A name is an identity, not a proof: every member is checked
against its own hash (the repository's algorithm) before it gets a cache name, so a
pack or index that lies can make a read fail, never make it return wrong bytes.
docs/pointer-format.md ("Remote layout") is the specification; docs/design.md says
in which order they are written.

This module does no I/O on remotes; remote_packs.py moves these objects.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, NoReturn

import xxhash

from artver.errors import RemoteError

PACK_HEADER = b"artver pack 1\n"
INDEX_HEADER = b"artver pack index 1\n"
PACKS_PREFIX = "packs/"
INDEX_PREFIX = "index/"

# A member is read whole into memory (a few at a time per reading thread), so an index
# that claims a longer one is refused rather than believed: packing stops far below this.
MAX_MEMBER = 64 * 1024 * 1024
MAX_OFFSET = 1 << 40  # a pack is never near a terabyte; a larger figure is a lie
MAX_INDEX_LINE = 200  # bytes: '<sha256 hash> <offset> <length>' is under 100

_NAME = re.compile(r"[0-9a-f]{32}")
_NUMBER = re.compile(r"0|[1-9][0-9]{0,12}")


@dataclass(frozen=True)
class Location:
    """Where a member lies: bytes ``offset`` to ``offset + length`` of pack ``pack``."""

    pack: str  # the pack's name (32 hex), not its key
    offset: int
    length: int

    @property
    def end(self) -> int:
        return self.offset + self.length


@dataclass(frozen=True)
class Member:
    hash: str
    location: Location


def pack_key(name: str) -> str:
    return f"{PACKS_PREFIX}{name}"


def index_key(name: str) -> str:
    return f"{INDEX_PREFIX}{name}"


def name_in_key(key: str, prefix: str) -> str | None:
    """The name of a pack or index key listed under ``prefix`` (a key that is not one of
    ours, such as a stray file a person copied there, is None and ignored)."""
    if not key.startswith(prefix):
        return None
    name = key[len(prefix):]
    return name if _NAME.fullmatch(name) else None


def is_name(value: str) -> bool:
    return _NAME.fullmatch(value) is not None


def index_bytes(members: Iterable[Member]) -> bytes:
    """The index object describing ``members``."""
    return b"".join(index_lines(sorted(members, key=lambda each: (each.location.pack, each.location.offset, each.hash))))


def index_lines(ordered: Iterable[Member]) -> Iterator[bytes]:
    """The lines of the index object describing ``ordered``, which come sorted by pack name,
    then offset, then hash (so one set of members always gives the same bytes and name)."""
    yield INDEX_HEADER
    pack: str | None = None
    for member in ordered:
        if member.location.pack != pack:
            pack = member.location.pack
            yield f"pack {pack}\n".encode()
        yield f"{member.hash} {member.location.offset} {member.location.length}\n".encode()


def name_of_bytes(data: bytes) -> str:
    return xxhash.xxh3_128_hexdigest(data)


Row = tuple[str, str, int, int]  # (member hash, pack name, offset, length): what the database stores

# One member line, whole: a hash of a known algorithm, two decimal numbers without sign or
# leading zeros. One match per line keeps loading an index of a million members quick.
_MEMBER_LINE = re.compile(rb"(xxh128:[0-9a-f]{32}|sha256:[0-9a-f]{64}) (0|[1-9][0-9]{0,12}) (0|[1-9][0-9]{0,12})\n")
_PACK_LINE = re.compile(rb"pack ([0-9a-f]{32})\n")


def parse_index_rows(lines: Iterable[bytes], where: str) -> Iterator[Row]:
    """The members an index object lists, from its lines (with their newlines), refusing
    anything that is not exactly the format: a hostile index must not reach the local
    database, and an index that is wrong anywhere is not trusted anywhere (the caller
    consumes the whole iterator before using any member)."""
    iterator = iter(lines)
    first = next(iterator, b"")
    if first != INDEX_HEADER:
        if first.startswith(b"artver pack index "):
            raise RemoteError(f"{where} is in a newer index format than this artver reads; upgrade artver")
        raise RemoteError(f"{where} is not an artver pack index; it was not used")
    pack: str | None = None
    header = len(PACK_HEADER)
    for number, raw in enumerate(iterator, start=2):
        match = _MEMBER_LINE.fullmatch(raw) if len(raw) <= MAX_INDEX_LINE else None
        if match is not None and pack is not None:
            offset, length = int(match[2]), int(match[3])
            if header <= offset <= MAX_OFFSET and 1 <= length <= MAX_MEMBER:
                yield match[1].decode(), pack, offset, length
                continue
        elif match is None and (pack_match := _PACK_LINE.fullmatch(raw)) is not None:
            pack = pack_match[1].decode()
            continue
        raise RemoteError(f"{where}, line {number}, is damaged; the index was not used ('artver verify -r' checks the remote)")


def parse_index(lines: Iterable[bytes], where: str) -> Iterator[Member]:
    """As parse_index_rows, as Members."""
    for hash_value, pack, offset, length in parse_index_rows(lines, where):
        yield Member(hash_value, Location(pack, offset, length))


def bounded_lines(handle: BinaryIO) -> Iterator[bytes]:
    """The lines of ``handle`` as parse_index_rows takes them, read with a bound: one
    endless line must not fill memory (it comes in pieces, the first of which is refused)."""
    return iter(lambda: handle.readline(MAX_INDEX_LINE + 1), b"")


def _decimal_range(low: int, high: int) -> bytes:
    """A pattern matching exactly the decimals from ``low`` to ``high`` (0 <= low < high),
    written without sign or leading zeros: range checks done by the one regex pass that
    validates a whole block of an index, with no integer made per line."""
    low_text, high_text = str(low).encode(), str(high).encode()

    def digit_range(first: int, last: int) -> bytes:
        return b"%d" % first if first == last else b"[%d-%d]" % (first, last)

    def same_length(bound: bytes, at_least: bool) -> list[bytes]:
        """The decimals of len(bound) digits that are >= bound (or <= bound)."""
        choices = [bound]
        for position in range(len(bound)):
            digit = bound[position] - ord("0")
            lowest = 1 if position == 0 and len(bound) > 1 else 0  # no leading zero
            first, last = (digit + 1, 9) if at_least else (lowest, digit - 1)
            if first <= last:
                rest = len(bound) - position - 1
                choices.append(bound[:position] + digit_range(first, last) + (b"[0-9]{%d}" % rest if rest else b""))
        return choices

    if len(low_text) == len(high_text):
        above, below = same_length(low_text, True), same_length(high_text, False)
        return b"(?=(?:%s)(?![0-9]))(?:%s)(?![0-9])" % (b"|".join(above), b"|".join(below))
    choices = same_length(low_text, True)
    if len(high_text) - len(low_text) > 1:
        choices.append(b"[1-9][0-9]{%d,%d}" % (len(low_text), len(high_text) - 2))
    choices += same_length(high_text, False)
    return b"(?:%s)(?![0-9])" % b"|".join(choices)


# The grammar of a run of whole lines after the header, ranges included: one fullmatch
# per block of an index validates it at the speed of the regex engine, not of a Python
# loop. It accepts exactly what parse_index_rows accepts (tests/test_pack_format.py
# checks the two against each other); the per-line parser stays the specification, and
# names the damaged line when this one refuses a block.
_BLOCK_GRAMMAR = re.compile(
    rb"(?:pack [0-9a-f]{32}\n|(?:xxh128:[0-9a-f]{32}|sha256:[0-9a-f]{64}) "
    + _decimal_range(len(PACK_HEADER), MAX_OFFSET) + rb" " + _decimal_range(1, MAX_MEMBER) + rb"\n)*+")
INDEX_BLOCK = 4 * 1024 * 1024  # bytes validated at once: memory per load does not grow with the index


@dataclass(frozen=True)
class Section:
    """Consecutive member lines of one pack, as they stand in a validated index: each
    exactly ``<hash> <offset> <length>\n``, ASCII, in the ranges parse_index_rows allows."""

    pack: str
    lines: bytes


def parse_index_sections(handle: BinaryIO, where: str, block_size: int = INDEX_BLOCK) -> Iterator[Section]:
    """The members of the index object in ``handle`` (read from its start), pack by pack,
    validated exactly as parse_index_rows validates them but a block at a time. As there,
    the caller consumes the whole iterator before using any member: a damaged line raises
    RemoteError (from parse_index_rows, so the message names the line) after the sections
    before it were yielded."""
    handle.seek(0)
    if handle.read(len(INDEX_HEADER)) != INDEX_HEADER:
        _raise_exact_error(handle, where)
    pack: str | None = None
    rest = b""
    while chunk := handle.read(block_size):
        block = rest + chunk
        cut = block.rfind(b"\n") + 1
        block, rest = block[:cut], block[cut:]
        if len(rest) > MAX_INDEX_LINE or (pack is None and block and not block.startswith(b"pack ")) \
                or _BLOCK_GRAMMAR.fullmatch(block) is None:
            _raise_exact_error(handle, where)
        start = 0
        while start < len(block):
            if block.startswith(b"pack ", start):  # a pack line is the only one that starts so
                pack = block[start + 5:start + 37].decode()
                start += 38
                continue
            end = block.find(b"\npack ", start) + 1 or len(block)
            assert pack is not None
            yield Section(pack, block[start:end])
            start = end
    if rest:
        _raise_exact_error(handle, where)


def _raise_exact_error(handle: BinaryIO, where: str) -> NoReturn:
    """Raise the error parse_index_rows gives for the index in ``handle``."""
    handle.seek(0)
    for _ in parse_index_rows(bounded_lines(handle), where):
        pass
    raise AssertionError(f"{where}: the block and line parsers of indexes disagree")


def group_by_pack(members: Iterable[Member]) -> dict[str, list[Member]]:
    """The members of each pack, in the order given."""
    grouped: dict[str, list[Member]] = {}
    for member in members:
        grouped.setdefault(member.location.pack, []).append(member)
    return grouped


@dataclass(frozen=True)
class Span:
    """One ranged read of a pack, covering several members that lie close together."""

    pack: str
    offset: int
    length: int
    members: tuple[Member, ...]


def spans(members: Iterable[Member], max_gap: int, max_span: int) -> list[Span]:
    """Group the wanted members into ranged reads: members of one pack, in offset order,
    share a read while the bytes between them are at most ``max_gap`` and the read stays
    within ``max_span`` bytes (a read is held in memory). Reading a few unwanted bytes
    costs less than another request."""
    by_pack = group_by_pack(members)
    result: list[Span] = []
    for pack in sorted(by_pack):
        current: list[Member] = []
        start = end = 0
        for member in sorted(by_pack[pack], key=lambda each: each.location.offset):
            location = member.location
            if current and (location.offset - end > max_gap or max(end, location.end) - start > max_span
                            or location.offset < end):
                result.append(Span(pack, start, end - start, tuple(current)))
                current = []
            if not current:
                start, end = location.offset, location.end
            current.append(member)
            end = max(end, location.end)
        if current:
            result.append(Span(pack, start, end - start, tuple(current)))
    return result
