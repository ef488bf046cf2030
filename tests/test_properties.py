"""Property-based tests: the parsers never crash on arbitrary input, and writers round-trip."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from artver import listing, pointer
from artver.errors import PointerError
from artver.listing import Entry

HASHES = st.builds(lambda digest: f"xxh128:{digest}", st.text("0123456789abcdef", min_size=32, max_size=32))
NAMES = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\"), min_size=1, max_size=20).filter(
    lambda name: name not in (".", "..")
)
PATHS = st.lists(NAMES, min_size=1, max_size=3).map("/".join)
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=50)
META = st.dictionaries(st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True), TEXT, max_size=4)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_crash_the_pointer_parser(data: bytes) -> None:
    try:
        pointer.parse_pointer(data, "fuzz.art")
    except PointerError as error:
        assert "fuzz.art" in str(error)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_after_a_valid_header_never_crash(data: bytes) -> None:
    for prefix in (b"artver-pointer: 1\nkind: dir\nentries:\n", b"artver-pointer: 1\nkind: file\n"):
        try:
            pointer.parse_pointer(prefix + data + b"\nend\n", "fuzz.art")
        except PointerError:
            pass
    try:
        listing.from_object_bytes(listing.LISTING_HEADER + data, "fuzz listing")
    except PointerError:
        pass


@settings(max_examples=200)
@given(st.text(max_size=300))
def test_arbitrary_text_never_crashes_the_parser(text: str) -> None:
    try:
        pointer.parse_pointer(text.encode("utf-8", "surrogatepass"), "fuzz.art")
    except PointerError:
        pass


@settings(max_examples=200)
@given(HASHES, st.integers(min_value=0, max_value=2**62), st.one_of(st.none(), TEXT), META)
def test_file_pointer_round_trip(hash_value: str, size: int, desc: str | None, meta: dict[str, str]) -> None:
    written = pointer.file_pointer(hash_value, size).with_user_data(desc, tuple(meta.items()))
    data = pointer.format_pointer(written)
    assert pointer.parse_pointer(data, "x.art") == written
    assert pointer.format_pointer(pointer.parse_pointer(data, "x.art")) == data  # deterministic


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(PATHS, st.tuples(HASHES, st.integers(0, 10**12), st.booleans()), max_size=20))
def test_listing_round_trip(files: dict[str, tuple[str, int, bool]]) -> None:
    entries = [Entry(path, hash_value, size, executable) for path, (hash_value, size, executable) in files.items()]
    try:
        checked = listing.check_entries(entries, "generated")
    except PointerError:
        return  # a path that is both a file and a folder: refusing it is the specified behaviour
    data = listing.to_object_bytes(checked)
    assert listing.from_object_bytes(data, "generated") == checked
    inline = pointer.Pointer(kind="dir", entries=checked)
    assert pointer.parse_pointer(pointer.format_pointer(inline), "d.art").entries == checked
