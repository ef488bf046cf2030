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
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, NoReturn

import xxhash

from artver import sorted_lines
from artver.errors import RemoteError

PACK_HEADER = b"artver pack 1\n"
INDEX_HEADER = b"artver pack index 2\n"  # what artver writes: members sorted by hash
INDEX_HEADER_V1 = b"artver pack index 1\n"  # what artver wrote before; still read
PACKS_PREFIX = "packs/"
INDEX_PREFIX = "index/"

# A member is read whole into memory (a few at a time per reading thread), so an index
# that claims a longer one is refused rather than believed: packing stops far below this.
MAX_MEMBER = 64 * 1024 * 1024
MAX_OFFSET = 1 << 40  # a pack is never near a terabyte; a larger figure is a lie
MAX_INDEX_LINE = 200  # bytes: '<sha256 hash> <pack number> <offset> <length>' is under 110

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
    """The index object (format 2) describing ``members``."""
    return b"".join(index_lines(members))


def index_lines(members: Iterable[Member]) -> Iterator[bytes]:
    """The lines of the index object (format 2) describing ``members``, given in any order:
    the pack lines in name order, then one line per member, each once, in byte order, so
    one set of members always gives the same bytes and name. Memory stays bounded for any
    number of members: they are spooled to a temp file until every pack is known (a pack's
    number is its place among them), then sorted in runs (sorted_lines)."""
    with tempfile.TemporaryFile() as spool:
        names: set[str] = set()
        write = spool.write
        for member in members:
            location = member.location
            names.add(location.pack)
            write(f"{member.hash} {location.pack} {location.offset} {location.length}\n".encode())
        yield from _spooled_lines(spool, names)


def _spooled_lines(spool: BinaryIO, names: set[str]) -> Iterator[bytes]:
    """index_lines from its spool of '<hash> <pack name> <offset> <length>' lines."""
    ordered = sorted(names)
    numbers = {name.encode(): str(number).encode() for number, name in enumerate(ordered)}
    yield INDEX_HEADER
    for name in ordered:
        yield b"pack %s\n" % name.encode()
    spool.seek(0)
    lines = (b"%s %s %s" % (hash_value, numbers[pack], rest)
             for hash_value, pack, rest in (line.split(b" ", 2) for line in spool))
    yield from sorted_lines.sorted_unique(lines)


def name_of_bytes(data: bytes) -> str:
    return xxhash.xxh3_128_hexdigest(data)


Row = tuple[str, str, int, int]  # (member hash, pack name, offset, length)

# One member line, whole: a hash of a known algorithm, two decimal numbers without sign or
# leading zeros. One match per line keeps loading an index of a million members quick.
_MEMBER_LINE = re.compile(rb"(xxh128:[0-9a-f]{32}|sha256:[0-9a-f]{64}) (0|[1-9][0-9]{0,12}) (0|[1-9][0-9]{0,12})\n")
_PACK_LINE = re.compile(rb"pack ([0-9a-f]{32})\n")


_MEMBER_LINE_V2 = re.compile(
    rb"(xxh128:[0-9a-f]{32}|sha256:[0-9a-f]{64}) (0|[1-9][0-9]{0,12}) (0|[1-9][0-9]{0,12}) (0|[1-9][0-9]{0,12})\n")


def parse_index_rows(lines: Iterable[bytes], where: str) -> Iterator[Row]:
    """The members an index object (format 2, or format 1 as artver wrote before) lists,
    from its lines (with their newlines), refusing anything that is not exactly the format:
    this is the specification the block parsers are checked against. An index that is
    wrong anywhere is not trusted anywhere: the caller consumes the whole iterator before
    using any member. The order of member lines is not checked (docs/security.md)."""
    iterator = iter(lines)
    first = next(iterator, b"")
    if first == INDEX_HEADER:
        yield from _rows_v2(iterator, where)
        return
    if first != INDEX_HEADER_V1:
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
        raise _damaged(where, number)


def _rows_v2(lines: Iterator[bytes], where: str) -> Iterator[Row]:
    """parse_index_rows after the header of format 2: pack lines, each name greater than
    the one before (so sorted, each once), then member lines naming a pack by its place."""
    names = bytearray()  # the pack names, 32 bytes each: a hostile index may list millions
    count = 0
    header = len(PACK_HEADER)
    for number, raw in enumerate(lines, start=2):
        if len(raw) <= MAX_INDEX_LINE:
            match = _MEMBER_LINE_V2.fullmatch(raw)
            if match is not None:
                pack, offset, length = int(match[2]), int(match[3]), int(match[4])
                if pack < count and header <= offset <= MAX_OFFSET and 1 <= length <= MAX_MEMBER:
                    yield match[1].decode(), names[32 * pack:32 * pack + 32].decode(), offset, length
                    continue
            elif (pack_match := _PACK_LINE.fullmatch(raw)) is not None and number == count + 2 \
                    and pack_match[1] > names[-32:]:
                names += pack_match[1]
                count += 1
                continue
        raise _damaged(where, number)


def _damaged(where: str, number: int) -> RemoteError:
    return RemoteError(f"{where}, line {number}, is damaged; the index was not used ('artver verify -r' checks the remote)")


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


# The grammar of a run of whole lines after the header of format 1, ranges included: one fullmatch
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
    """The members of the index object in ``handle`` (format 1, read from its start), pack by pack,
    validated exactly as parse_index_rows validates them but a block at a time. As there,
    the caller consumes the whole iterator before using any member: a damaged line raises
    RemoteError (from parse_index_rows, so the message names the line) after the sections
    before it were yielded."""
    handle.seek(0)
    if handle.read(len(INDEX_HEADER_V1)) != INDEX_HEADER_V1:
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


PACK_LINES = re.compile(rb"(?:pack [0-9a-f]{32}\n)*+")  # the run of pack lines of format 2
PACK_LINE_BYTES = len(b"pack ") + 32 + 1  # every pack line is this long: pack n is at a known place


def _member_grammar(pack_count: int) -> re.Pattern[bytes]:
    """The grammar of a run of whole member lines of format 2 in an index of ``pack_count``
    pack lines, ranges included (see _BLOCK_GRAMMAR)."""
    if pack_count == 0:
        number = rb"(?!)"  # no member line can name a pack
    elif pack_count == 1:
        number = rb"0(?![0-9])"
    else:
        number = _decimal_range(0, pack_count - 1)
    return re.compile(rb"(?:(?:xxh128:[0-9a-f]{32}|sha256:[0-9a-f]{64}) " + number + rb" "
                      + _decimal_range(len(PACK_HEADER), MAX_OFFSET) + rb" " + _decimal_range(1, MAX_MEMBER) + rb"\n)*+")


def parse_index_blocks(handle: BinaryIO, where: str, block_size: int = INDEX_BLOCK) -> Iterator[bytes]:
    """The index object of format 2 in ``handle`` (read from its start), as it stands, in
    blocks of whole lines, each validated before it is yielded exactly as parse_index_rows
    validates it, by one regex match per block. As there, the caller consumes the whole
    iterator before using any of it: a damaged line raises RemoteError (from
    parse_index_rows, so the message names the line) after the blocks before it."""
    handle.seek(0)
    if handle.read(len(INDEX_HEADER)) != INDEX_HEADER:
        _raise_exact_error(handle, where)
    yield INDEX_HEADER
    pack_count = 0
    last_pack = b""
    grammar: re.Pattern[bytes] | None = None  # known once the pack lines have ended
    rest = b""
    while chunk := handle.read(block_size):
        block = rest + chunk
        cut = block.rfind(b"\n") + 1
        block, rest = block[:cut], block[cut:]
        if len(rest) > MAX_INDEX_LINE:
            _raise_exact_error(handle, where)
        start = 0
        if grammar is None:
            matched = PACK_LINES.match(block)
            assert matched is not None  # the pattern matches the empty string
            start = matched.end()
            for at in range(5, start, PACK_LINE_BYTES):
                name = block[at:at + 32]
                if name <= last_pack:
                    _raise_exact_error(handle, where)
                last_pack = name
                pack_count += 1
            if start < len(block):
                grammar = _member_grammar(pack_count)
        if grammar is not None and grammar.fullmatch(block, start) is None:
            _raise_exact_error(handle, where)
        yield block
    if rest:
        _raise_exact_error(handle, where)


def index_blocks(handle: BinaryIO, where: str, block_size: int = INDEX_BLOCK) -> Iterator[bytes]:
    """The index object in ``handle`` as format 2, validated: as it stands if it is in
    format 2 (parse_index_blocks); converted if it is in format 1 (parsed whole, then
    sorted: old indexes are few, and consolidation rewrites them). Consume it whole before
    using any of it, as parse_index_blocks."""
    handle.seek(0)
    if handle.read(len(INDEX_HEADER)) == INDEX_HEADER:
        yield from parse_index_blocks(handle, where, block_size)
        return
    with tempfile.TemporaryFile() as spool:
        names: set[str] = set()
        for section in parse_index_sections(handle, where, block_size):
            names.add(section.pack)
            # '<hash> <offset> <length>' lines, validated: the pack's name after the hash
            spool.write(_BEFORE_OFFSET.sub(b" %s " % section.pack.encode(), section.lines))
        yield from _spooled_lines(spool, names)


_BEFORE_OFFSET = re.compile(rb" (?=[0-9]+ [0-9]+\n)")  # in a validated line, only the space after the hash


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
