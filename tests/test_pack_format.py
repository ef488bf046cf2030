"""The pack and index byte formats as untrusted input (artver/packs.py): parse_index accepts
exactly what index_bytes writes (format 2) or what artver wrote before (format 1), and
refuses everything else in one line; the block parsers of both formats accept exactly what
it accepts; spans groups members into ranged reads without ever mixing packs, overlapping
or oversized reads."""

from __future__ import annotations

import hashlib
import io
import random
import re
from collections.abc import Callable

import pytest

from artver import packs
from artver.errors import RemoteError
from artver.packs import Location, Member
from tests.support.index_v1 import index_v1_bytes

PACK_A = "a" * 32
PACK_B = "b" * 32
HEADER = len(packs.PACK_HEADER)


def sha(number: int) -> str:
    return "sha256:" + hashlib.sha256(str(number).encode()).hexdigest()


def xxh(number: int) -> str:
    return "xxh128:" + packs.name_of_bytes(str(number).encode())


def parse(data: bytes) -> list[Member]:
    return list(packs.parse_index(data.splitlines(keepends=True), "index/test"))


def parse_blocks(data: bytes, block_size: int = packs.INDEX_BLOCK) -> list[Member]:
    """What a clone loads of an index of format 1 (packs.parse_index_sections), as Members."""
    return [Member(hash_value, Location(section.pack, int(offset), int(length)))
            for section in packs.parse_index_sections(io.BytesIO(data), "index/test", block_size)
            for hash_value, offset, length in (line.split(" ") for line in section.lines.decode().splitlines())]


V1 = packs.INDEX_HEADER_V1
BLOCK_SIZES = (1, 7, 64, 1000, packs.INDEX_BLOCK)


def parse_blocks_v2(data: bytes, block_size: int = packs.INDEX_BLOCK) -> list[Member]:
    """What a clone keeps of an index of format 2 (packs.parse_index_blocks: the index as it
    stands, validated), read back as Members."""
    kept = b"".join(packs.parse_index_blocks(io.BytesIO(data), "index/test", block_size))
    assert kept == data
    return parse(kept)


def outcome(parser: Callable[..., list[Member]], data: bytes, *arguments: int) -> list[Member] | str:
    try:
        return parser(data, *arguments)
    except RemoteError as error:
        return f"refused: {error}"


def one_line_refusal(data: bytes, *needles: str, blocks: Callable[..., list[Member]] | None = None) -> str:
    """Both parsers refuse ``data`` with the same one-line message (the block parser, of
    format 1 unless ``blocks`` says otherwise, at several block sizes, so that the damage
    falls at every place of a block)."""
    with pytest.raises(RemoteError) as raised:
        parse(data)
    message = str(raised.value)
    assert "\n" not in message and message.startswith("index/test"), message
    for needle in needles:
        assert needle in message, message
    for block_size in BLOCK_SIZES:
        assert outcome(blocks or parse_blocks, data, block_size) == f"refused: {message}", block_size
    return message


def test_an_index_of_format_1_parses_back_to_the_members_it_was_written_from() -> None:
    members = [Member(xxh(1), Location(PACK_B, HEADER, 10)), Member(sha(2), Location(PACK_A, HEADER + 5, 7)),
               Member(xxh(3), Location(PACK_A, HEADER, 5))]
    data = index_v1_bytes(members)
    assert data.startswith(packs.INDEX_HEADER_V1)
    parsed = parse(data)
    assert sorted(parsed, key=repr) == sorted(members, key=repr)
    assert parse_blocks(data) == parsed


def test_an_empty_index_lists_nothing() -> None:
    assert parse(V1) == []
    assert parse_blocks(V1) == []
    assert parse_blocks(V1 + f"pack {PACK_A}\n".encode()) == []
    assert parse(packs.INDEX_HEADER) == parse_blocks_v2(packs.INDEX_HEADER) == []
    assert packs.index_bytes([]) == packs.INDEX_HEADER
    assert parse_blocks_v2(packs.INDEX_HEADER + f"pack {PACK_A}\n".encode()) == []


def valid_index(count: int, seed: int) -> bytes:
    """An index of ``count`` members of both algorithms in several packs, some of one member,
    with offsets and lengths at the bounds the format allows."""
    rng = random.Random(seed)
    numbers = [HEADER, HEADER + 1, 99, 100, 10**12, packs.MAX_OFFSET]
    lengths = [1, 9, 10, 4096, packs.MAX_MEMBER - 1, packs.MAX_MEMBER]
    members = [Member(sha(n) if rng.random() < 0.3 else xxh(n),
                      Location(f"{rng.randrange(1 if n % 50 else 40):032x}",
                               rng.choice(numbers) if n % 3 else rng.randrange(HEADER, 10**6), rng.choice(lengths)))
               for n in range(count)]
    return index_v1_bytes(members)


@pytest.mark.parametrize("block_size", [1, 2, 3, 37, 38, 39, 95, 96, 200, 201, 4096, packs.INDEX_BLOCK])
def test_the_block_parser_reads_what_the_line_parser_reads(block_size: int) -> None:
    """Pack lines, member lines and their ends fall at every place of a block."""
    data = valid_index(400, seed=block_size)
    assert parse_blocks(data, block_size) == parse(data)
    assert len(parse(data)) == 400


DAMAGE_ALPHABET = b"0123456789abcdefxsh:pack \n\r\t\x00\xff-+"


def damage(data: bytes, rng: random.Random, lowest: int, kinds: int) -> tuple[bytes, int]:
    """``data`` with one random damage at or after byte ``lowest``, and which kind: 0 a byte
    changed, 1 a byte inserted, 2 a byte removed, 3 a line doubled, 4 (with ``kinds`` 5) two
    lines after the first swapped."""
    damaged = bytearray(data)
    position = rng.randrange(lowest, len(damaged))
    kind = rng.randrange(kinds)
    if kind == 0:
        damaged[position] = rng.choice(DAMAGE_ALPHABET)
    elif kind == 1:
        damaged[position:position] = bytes([rng.choice(DAMAGE_ALPHABET)])
    elif kind == 2:
        del damaged[position]
    elif kind == 3:
        start = damaged.rfind(b"\n", 0, position) + 1
        end = damaged.find(b"\n", position) + 1 or len(damaged)
        damaged[start:start] = damaged[start:end]
    else:
        lines = bytes(damaged).splitlines(keepends=True)
        first, second = sorted(rng.sample(range(1, len(lines)), 2))
        lines[first], lines[second] = lines[second], lines[first]
        return b"".join(lines), kind
    return bytes(damaged), kind


def test_the_block_parser_refuses_exactly_what_the_line_parser_refuses() -> None:
    """Random damage (a byte changed, inserted, removed or a line doubled) anywhere in a
    valid index: the two parsers accept the same indexes, list the same members and
    refuse with the same message, naming the same line."""
    rng = random.Random(20261130)
    data = valid_index(60, seed=1)
    refused = 0
    for _ in range(1500):
        damaged, _ = damage(data, rng, 0, kinds=4)
        expected = outcome(parse, bytes(damaged))
        refused += isinstance(expected, str)
        block_size = rng.choice(BLOCK_SIZES)
        assert outcome(parse_blocks, bytes(damaged), block_size) == expected, (bytes(damaged), block_size)
    assert 300 < refused < 1500  # both outcomes were exercised


@pytest.mark.parametrize("low,high", [(0, 9), (0, 10), (1, 9), (1, 100), (14, 99), (14, 1234), (5, 5000), (99, 101),
                                      (123, 456), (100, 999), (7, 8), (0, 1)])
def test_the_range_patterns_match_exactly_the_numbers_in_range(low: int, high: int) -> None:
    pattern = re.compile(packs._decimal_range(low, high).decode())
    for number in range(0, 10 * high + 10):
        assert (pattern.fullmatch(str(number)) is not None) == (low <= number <= high), number
        assert pattern.fullmatch("0" + str(number)) is None  # a leading zero never
    assert pattern.fullmatch("") is None and pattern.fullmatch("-1") is None and pattern.fullmatch("1 ") is None


@pytest.mark.parametrize("number,good", [
    (HEADER - 1, False), (HEADER, True), (10**12 - 1, True), (packs.MAX_OFFSET, True), (packs.MAX_OFFSET + 1, False),
    (packs.MAX_OFFSET + 10**9, False), (10**13 - 1, False), (10**13, False),
])
def test_an_offset_at_the_bounds_is_judged_alike_by_both_parsers(number: int, good: bool) -> None:
    data = V1 + f"pack {PACK_A}\n{xxh(1)} {number} 10\n".encode()
    assert outcome(parse, data) == outcome(parse_blocks, data)
    assert isinstance(outcome(parse_blocks, data), list) == good


@pytest.mark.parametrize("number,good", [
    (0, False), (1, True), (9_999_999, True), (packs.MAX_MEMBER, True), (packs.MAX_MEMBER + 1, False),
    (99_999_999, False), (10**12, False),
])
def test_a_length_at_the_bounds_is_judged_alike_by_both_parsers(number: int, good: bool) -> None:
    data = V1 + f"pack {PACK_A}\n{xxh(1)} {HEADER} {number}\n".encode()
    assert outcome(parse, data) == outcome(parse_blocks, data)
    assert isinstance(outcome(parse_blocks, data), list) == good


GOOD = f"pack {PACK_A}\n{xxh(1)} {HEADER} 10\n".encode()
GOOD_V2 = f"pack {PACK_A}\n{xxh(1)} 0 {HEADER} 10\n".encode()


@pytest.mark.parametrize("body", [
    pytest.param(f"pack {PACK_A}\nxxh128:{'0' * 31} {HEADER} 10\n".encode(), id="short-hash"),
    pytest.param(f"pack {PACK_A}\nmd5:{'0' * 32} {HEADER} 10\n".encode(), id="unknown-algorithm"),
    pytest.param(f"pack {PACK_A}\n{xxh(1).upper()} {HEADER} 10\n".encode(), id="upper-case-hash"),
    pytest.param(f"{xxh(1)} {HEADER} 10\n".encode(), id="member-before-any-pack"),
    pytest.param(f"pack {PACK_A[:-1]}g\n{xxh(1)} {HEADER} 10\n".encode(), id="bad-pack-name"),
    pytest.param(f"pack ../{PACK_A[3:]}\n{xxh(1)} {HEADER} 10\n".encode(), id="pack-name-with-a-path"),
    pytest.param(f"pack {PACK_A}\n{xxh(1)} 0 10\n".encode(), id="offset-inside-the-header"),
    pytest.param(f"pack {PACK_A}\n{xxh(1)} {(1 << 40) + 1} 10\n".encode(), id="offset-beyond-any-pack"),
    pytest.param(f"pack {PACK_A}\n{xxh(1)} {HEADER} 0\n".encode(), id="empty-member"),
    pytest.param(f"pack {PACK_A}\n{xxh(1)} {HEADER} {packs.MAX_MEMBER + 1}\n".encode(), id="huge-length"),
    pytest.param(f"pack {PACK_A}\n{xxh(1)} {HEADER} 99999999999999999999\n".encode(), id="absurd-number"),
    pytest.param(f"pack {PACK_A}\n{xxh(1)} {HEADER} -1\n".encode(), id="negative-length"),
    pytest.param(f"pack {PACK_A}\n{xxh(1)} 0{HEADER} 10\n".encode(), id="leading-zero"),
    pytest.param(f"pack {PACK_A}\n{xxh(1)} {HEADER} 10 11\n".encode(), id="extra-field"),
    pytest.param(f"pack {PACK_A}\n{xxh(1)}  {HEADER} 10\n".encode(), id="double-space"),
    pytest.param(f"pack {PACK_A}\n{xxh(1)} {HEADER} 10\r\n".encode(), id="carriage-return"),
    pytest.param(f"pack {PACK_A}\n{xxh(1)} {HEADER} 1\u0665\n".encode(), id="non-ascii-digit"),
    pytest.param(f"pack {PACK_A}\n{xxh(1)} {HEADER} 10".encode(), id="last-line-without-newline"),
    pytest.param(GOOD + b"\n", id="empty-line"),
    pytest.param(GOOD + "caf\u00e9\n".encode(), id="non-ascii"),
    pytest.param(GOOD + b"\xff\xfe\n", id="not-utf8"),
    pytest.param(GOOD + b"x" * (4 * 1024 * 1024) + b"\n", id="a-line-of-megabytes"),
    pytest.param(GOOD + b"\x00" * 50 + b"\n", id="nul-bytes"),
])
def test_an_index_that_lies_anywhere_is_refused_in_one_line(body: bytes) -> None:
    one_line_refusal(V1 + body, "damaged", "was not used")


def test_a_damaged_line_after_good_ones_refuses_the_whole_index() -> None:
    """The caller consumes the whole iterator before using a member: the good lines before
    the bad one are not returned as a usable partial result."""
    body = "".join(f"{xxh(n)} {HEADER + 10 * n} 10\n" for n in range(50))
    message = one_line_refusal(V1 + f"pack {PACK_A}\n{body}garbage\n".encode())
    assert "line 53" in message


def test_an_unknown_index_version_says_to_upgrade() -> None:
    one_line_refusal(b"artver pack index 3\n" + GOOD, "newer index format", "upgrade artver")
    one_line_refusal(b"artver pack index 3\n" + GOOD_V2, "newer index format", "upgrade artver", blocks=parse_blocks_v2)


@pytest.mark.parametrize("data", [b"", b"artver pack 1\n" + GOOD, b"\x00" * 30, b"ARTVER PACK INDEX 1\n" + GOOD])
def test_something_that_is_not_an_index_is_refused(data: bytes) -> None:
    one_line_refusal(data, "not an artver pack index")


def test_a_header_line_that_is_endless_is_read_with_a_bound() -> None:
    """The reader hands parse_index bounded lines (remote_packs reads MAX_INDEX_LINE + 1 at a
    time); a header cut that way is refused, not accumulated."""
    chunks = [b"artver pack index " + b"9" * packs.MAX_INDEX_LINE]
    one_line_refusal(b"".join(chunks), "upgrade artver")


# ------------------------------------------------------------------ index format 2


def test_an_index_parses_back_to_the_members_it_was_written_from() -> None:
    members = [Member(xxh(1), Location(PACK_B, HEADER, 10)), Member(sha(2), Location(PACK_A, HEADER + 5, 7)),
               Member(xxh(3), Location(PACK_A, HEADER, 5)), Member(xxh(3), Location(PACK_B, HEADER + 10, 5))]
    data = packs.index_bytes(members)
    assert data.startswith(packs.INDEX_HEADER)
    assert data.split(b"\n")[1:3] == [f"pack {PACK_A}".encode(), f"pack {PACK_B}".encode()]
    body = data.split(b"\n")[3:-1]
    assert body == sorted(body) and len(body) == 4  # member lines in byte order: by hash first
    assert sorted(parse(data), key=repr) == sorted(members, key=repr)
    assert parse_blocks_v2(data) == parse(data)
    # one set of members always gives the same bytes (and so the same name), each member once
    assert packs.index_bytes(reversed(members)) == data
    assert packs.index_bytes([*members, *members]) == data


def test_index_lines_sorts_more_members_than_one_run_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Written in sorted runs merged from temp files (bounded memory): the same bytes as one
    sort in memory, duplicates across runs dropped."""
    from artver import sorted_lines

    members = [Member(xxh(n % 700), Location(f"{n % 700 % 13:032x}", HEADER + n % 700, 10)) for n in range(2000)]
    whole = packs.index_bytes(members)
    monkeypatch.setattr(sorted_lines, "RUN_LINES", 64)
    assert packs.index_bytes(members) == whole
    assert len(parse(whole)) == 700 and len(whole.split(b"\n")) == 1 + 13 + 700 + 1


def valid_index_v2(count: int, seed: int) -> bytes:
    """An index of format 2 of ``count`` members of both algorithms in up to 40 packs (so pack
    numbers of one and two digits), some hashes at several places, numbers at their bounds."""
    rng = random.Random(seed)
    numbers = [HEADER, HEADER + 1, 99, 100, 10**12, packs.MAX_OFFSET]
    lengths = [1, 9, 10, 4096, packs.MAX_MEMBER - 1, packs.MAX_MEMBER]
    members = [Member(sha(n // 2) if rng.random() < 0.3 else xxh(n // 3),
                      Location(f"{rng.randrange(1 if n % 50 else 40):032x}",
                               rng.choice(numbers) if n % 3 else rng.randrange(HEADER, 10**6), rng.choice(lengths)))
               for n in range(count)]
    return packs.index_bytes(members)


@pytest.mark.parametrize("block_size", [1, 2, 3, 37, 38, 39, 95, 96, 200, 201, 4096, packs.INDEX_BLOCK])
def test_the_block_parser_of_format_2_reads_what_the_line_parser_reads(block_size: int) -> None:
    """Pack lines, member lines and their ends fall at every place of a block."""
    data = valid_index_v2(400, seed=block_size)
    assert parse_blocks_v2(data, block_size) == parse(data)
    assert len(parse(data)) > 300


def test_the_block_parser_of_format_2_refuses_exactly_what_the_line_parser_refuses() -> None:
    """Random damage (a byte changed, inserted or removed, a line doubled, two lines
    swapped) anywhere in valid indexes of one, a few and many packs: the two parsers accept
    the same indexes and refuse with the same message, naming the same line. Swapped member
    lines are accepted by both: order is not checked at load (docs/security.md)."""
    rng = random.Random(20261201)
    samples = [valid_index_v2(60, seed=1), valid_index_v2(30, seed=2),
               packs.index_bytes([Member(xxh(n), Location(PACK_A, HEADER + n, 1)) for n in range(20)]),
               packs.index_bytes([Member(xxh(n), Location(f"{n:032x}", HEADER, 1)) for n in range(12)])]
    refused = accepted_swaps = 0
    for attempt in range(3000):
        data = samples[attempt % len(samples)]
        damaged, kind = damage(data, rng, len(packs.INDEX_HEADER) - 2, kinds=5)
        expected = outcome(parse, bytes(damaged))
        refused += isinstance(expected, str)
        accepted_swaps += kind == 4 and not isinstance(expected, str) and bytes(damaged) != data
        block_size = rng.choice(BLOCK_SIZES)
        assert outcome(parse_blocks_v2, bytes(damaged), block_size) == expected, (bytes(damaged), block_size)
    assert 600 < refused < 2900 and accepted_swaps > 50  # every outcome was exercised


@pytest.mark.parametrize("packs_listed", [1, 2, 9, 10, 11, 100, 101])
def test_a_pack_number_is_judged_by_the_number_of_pack_lines(packs_listed: int) -> None:
    pack_lines = "".join(f"pack {number:032x}\n" for number in range(packs_listed))
    for number in (0, packs_listed - 1, packs_listed, packs_listed + 1, 10 * packs_listed):
        data = packs.INDEX_HEADER + f"{pack_lines}{xxh(1)} {number} {HEADER} 10\n".encode()
        assert outcome(parse, data) == outcome(parse_blocks_v2, data) == outcome(parse_blocks_v2, data, 7)
        assert isinstance(outcome(parse, data), list) == (number < packs_listed), number


@pytest.mark.parametrize("number,good", [
    (HEADER - 1, False), (HEADER, True), (10**12 - 1, True), (packs.MAX_OFFSET, True), (packs.MAX_OFFSET + 1, False),
    (10**13, False),
])
def test_an_offset_of_format_2_at_the_bounds_is_judged_alike_by_both_parsers(number: int, good: bool) -> None:
    data = packs.INDEX_HEADER + f"pack {PACK_A}\n{xxh(1)} 0 {number} 10\n".encode()
    assert outcome(parse, data) == outcome(parse_blocks_v2, data)
    assert isinstance(outcome(parse_blocks_v2, data), list) == good


@pytest.mark.parametrize("number,good", [
    (0, False), (1, True), (packs.MAX_MEMBER, True), (packs.MAX_MEMBER + 1, False), (10**12, False),
])
def test_a_length_of_format_2_at_the_bounds_is_judged_alike_by_both_parsers(number: int, good: bool) -> None:
    data = packs.INDEX_HEADER + f"pack {PACK_A}\n{xxh(1)} 0 {HEADER} {number}\n".encode()
    assert outcome(parse, data) == outcome(parse_blocks_v2, data)
    assert isinstance(outcome(parse_blocks_v2, data), list) == good


@pytest.mark.parametrize("body", [
    pytest.param(f"{xxh(1)} 0 {HEADER} 10\n".encode(), id="member-without-any-pack"),
    pytest.param(f"pack {PACK_A}\n{xxh(1)} 1 {HEADER} 10\n".encode(), id="pack-number-out-of-range"),
    pytest.param(f"pack {PACK_A}\n{xxh(1)} 00 {HEADER} 10\n".encode(), id="pack-number-with-leading-zero"),
    pytest.param(f"pack {PACK_A}\n{xxh(1)} -0 {HEADER} 10\n".encode(), id="pack-number-with-sign"),
    pytest.param(f"pack {PACK_A}\n{xxh(1)} {HEADER} 10\n".encode(), id="line-of-format-1"),
    pytest.param(f"pack {PACK_B}\npack {PACK_A}\n{xxh(1)} 0 {HEADER} 10\n".encode(), id="packs-out-of-order"),
    pytest.param(f"pack {PACK_A}\npack {PACK_A}\n{xxh(1)} 0 {HEADER} 10\n".encode(), id="pack-listed-twice"),
    pytest.param(GOOD_V2 + f"pack {PACK_B}\n".encode(), id="pack-line-after-members"),
    pytest.param(f"pack {PACK_A}\n{xxh(1)} 0 0 10\n".encode(), id="offset-inside-the-header"),
    pytest.param(f"pack {PACK_A}\n{xxh(1)} 0 {HEADER} 0\n".encode(), id="empty-member"),
    pytest.param(f"pack {PACK_A}\n{xxh(1)} 0 {HEADER} 10 11\n".encode(), id="extra-field"),
    pytest.param(f"pack {PACK_A}\nxxh128:{'0' * 31} 0 {HEADER} 10\n".encode(), id="short-hash"),
    pytest.param(f"pack {PACK_A}\n{xxh(1)} 0 {HEADER} 10".encode(), id="last-line-without-newline"),
    pytest.param(GOOD_V2 + b"\n", id="empty-line"),
    pytest.param(GOOD_V2 + b"x" * (4 * 1024 * 1024) + b"\n", id="a-line-of-megabytes"),
    pytest.param(GOOD_V2 + b"\xff\xfe\n", id="not-utf8"),
])
def test_an_index_of_format_2_that_lies_anywhere_is_refused_in_one_line(body: bytes) -> None:
    one_line_refusal(packs.INDEX_HEADER + body, "damaged", "was not used", blocks=parse_blocks_v2)


def test_an_unsorted_index_of_format_2_is_read_as_it_stands() -> None:
    """Order is the writer's promise, not checked at load: a lookup compares whole hashes, so
    an unsorted index can only hide its own members (tests/test_remote_index.py)."""
    data = packs.index_bytes([Member(xxh(n), Location(PACK_A, HEADER + n, 1)) for n in range(5)])
    lines = data.splitlines(keepends=True)
    shuffled = b"".join(lines[:2] + lines[2:][::-1])
    assert sorted(parse(shuffled), key=repr) == sorted(parse(data), key=repr)
    assert parse_blocks_v2(shuffled, 7) == parse(shuffled)


def test_index_blocks_converts_format_1_to_the_index_of_format_2_of_its_members() -> None:
    members = [Member(xxh(n), Location(f"{n % 3:032x}", HEADER + 10 * n, 10)) for n in range(50)]
    old = index_v1_bytes(members)
    assert b"".join(packs.index_blocks(io.BytesIO(old), "index/test", 64)) == packs.index_bytes(members)
    new = packs.index_bytes(members)
    assert b"".join(packs.index_blocks(io.BytesIO(new), "index/test", 64)) == new
    with pytest.raises(RemoteError, match="line 3, is damaged"):
        list(packs.index_blocks(io.BytesIO(old.replace(b" 14 ", b" 014 ", 1)), "index/test", 64))


def member(pack: str, offset: int, length: int, number: int = 0) -> Member:
    return Member(xxh(number * 100_000 + offset), Location(pack, offset, length))


def test_adjacent_members_share_one_read() -> None:
    members = [member(PACK_A, HEADER + 10 * n, 10) for n in range(20)]
    (span,) = packs.spans(reversed(members), max_gap=0, max_span=1000)
    assert (span.pack, span.offset, span.length) == (PACK_A, HEADER, 200)
    assert list(span.members) == members  # in offset order


def test_a_gap_larger_than_allowed_splits_the_read() -> None:
    first, second = member(PACK_A, HEADER, 10), member(PACK_A, HEADER + 10 + 101, 10)
    assert len(packs.spans([first, second], max_gap=100, max_span=1000)) == 2
    (joined,) = packs.spans([first, second], max_gap=101, max_span=1000)
    assert joined.length == 10 + 101 + 10


def test_no_read_is_longer_than_max_span_unless_one_member_is() -> None:
    members = [member(PACK_A, HEADER + 10 * n, 10) for n in range(100)]
    result = packs.spans(members, max_gap=0, max_span=95)
    assert all(span.length <= 95 for span in result)
    assert [m for span in result for m in span.members] == members
    big = member(PACK_A, 10_000, 500)
    (alone,) = packs.spans([big], max_gap=0, max_span=95)
    assert alone.length == 500 and alone.members == (big,)


def test_members_of_different_packs_never_share_a_read() -> None:
    members = [member(PACK_A, HEADER, 10), member(PACK_B, HEADER + 10, 10), member(PACK_A, HEADER + 10, 10)]
    result = packs.spans(members, max_gap=10**6, max_span=10**6)
    assert {span.pack for span in result} == {PACK_A, PACK_B}
    for span in result:
        assert all(m.location.pack == span.pack for m in span.members)
        assert all(span.offset <= m.location.offset and m.location.end <= span.offset + span.length
                   for m in span.members)


def test_overlapping_members_from_a_lying_index_get_reads_of_their_own() -> None:
    """Every member lies inside its span, whatever the index claims."""
    members = [member(PACK_A, HEADER, 100, 1), member(PACK_A, HEADER + 50, 100, 2), member(PACK_A, HEADER, 10, 3)]
    result = packs.spans(members, max_gap=10**6, max_span=10**6)
    assert sorted(m.hash for span in result for m in span.members) == sorted(m.hash for m in members)
    for span in result:
        for m in span.members:
            assert span.offset <= m.location.offset and m.location.end <= span.offset + span.length


def test_no_members_no_reads() -> None:
    assert packs.spans([], max_gap=0, max_span=10) == []


@pytest.mark.parametrize("key,name", [
    (f"packs/{PACK_A}", PACK_A), (f"packs/{PACK_A}.tmp", None), ("packs/README", None),
    (f"index/{PACK_A}", None), (f"packs/{PACK_A.upper()}", None), (f"packs/x/{PACK_A}", None),
])
def test_only_well_formed_pack_keys_are_names(key: str, name: str | None) -> None:
    assert packs.name_in_key(key, packs.PACKS_PREFIX) == name
