"""The pack and index byte formats as untrusted input (artver/packs.py): parse_index accepts
exactly what index_bytes writes and refuses everything else in one line; spans groups
members into ranged reads without ever mixing packs, overlapping or oversized reads."""

from __future__ import annotations

import hashlib

import pytest

from artver import packs
from artver.errors import RemoteError
from artver.packs import Location, Member

PACK_A = "a" * 32
PACK_B = "b" * 32
HEADER = len(packs.PACK_HEADER)


def sha(number: int) -> str:
    return "sha256:" + hashlib.sha256(str(number).encode()).hexdigest()


def xxh(number: int) -> str:
    return "xxh128:" + packs.name_of_bytes(str(number).encode())


def parse(data: bytes) -> list[Member]:
    return list(packs.parse_index(data.splitlines(keepends=True), "index/test"))


def one_line_refusal(data: bytes, *needles: str) -> str:
    with pytest.raises(RemoteError) as raised:
        parse(data)
    message = str(raised.value)
    assert "\n" not in message and message.startswith("index/test"), message
    for needle in needles:
        assert needle in message, message
    return message


def test_an_index_parses_back_to_the_members_it_was_written_from() -> None:
    members = [Member(xxh(1), Location(PACK_B, HEADER, 10)), Member(sha(2), Location(PACK_A, HEADER + 5, 7)),
               Member(xxh(3), Location(PACK_A, HEADER, 5))]
    data = packs.index_bytes(members)
    assert data.startswith(packs.INDEX_HEADER)
    parsed = parse(data)
    assert sorted(parsed, key=repr) == sorted(members, key=repr)
    # one set of members always gives the same bytes (and so the same name)
    assert packs.index_bytes(reversed(members)) == data


def test_an_empty_index_lists_nothing() -> None:
    assert parse(packs.INDEX_HEADER) == []


GOOD = f"pack {PACK_A}\n{xxh(1)} {HEADER} 10\n".encode()


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
    one_line_refusal(packs.INDEX_HEADER + body, "damaged", "was not used")


def test_a_damaged_line_after_good_ones_refuses_the_whole_index() -> None:
    """The caller consumes the whole iterator before using a member: the good lines before
    the bad one are not returned as a usable partial result."""
    body = "".join(f"{xxh(n)} {HEADER + 10 * n} 10\n" for n in range(50))
    message = one_line_refusal(packs.INDEX_HEADER + f"pack {PACK_A}\n{body}garbage\n".encode())
    assert "line 53" in message


def test_an_unknown_index_version_says_to_upgrade() -> None:
    one_line_refusal(b"artver pack index 2\n" + GOOD, "newer index format", "upgrade artver")


@pytest.mark.parametrize("data", [b"", b"artver pack 1\n" + GOOD, b"\x00" * 30, b"ARTVER PACK INDEX 1\n" + GOOD])
def test_something_that_is_not_an_index_is_refused(data: bytes) -> None:
    one_line_refusal(data, "not an artver pack index")


def test_a_header_line_that_is_endless_is_read_with_a_bound() -> None:
    """The reader hands parse_index bounded lines (remote_packs reads MAX_INDEX_LINE + 1 at a
    time); a header cut that way is refused, not accumulated."""
    chunks = [b"artver pack index " + b"9" * packs.MAX_INDEX_LINE]
    one_line_refusal(b"".join(chunks), "upgrade artver")


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
