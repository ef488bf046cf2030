"""The pointer file format (artver/pointer.py) and directory listings (artver/listing.py).

Unit tests of the reader and writer: round trips, deterministic bytes, and the
strictness of the reader (every malformed input is a PointerError naming the
file), plus the same refusals seen through the CLI.
"""

from __future__ import annotations

import os
import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from artver import hashing, listing
from artver.errors import PointerError, UnsafePathError
from artver.listing import Entry
from artver.pointer import (
    DirPointer,
    FilePointer,
    InlineListing,
    ListingRef,
    dir_pointer,
    file_pointer,
    format_pointer,
    parse_pointer,
    read_pointer,
    write_pointer,
)
from tests.support.git import commit_all

H1 = "xxh128:" + "0123456789abcdef" * 2
H2 = "xxh128:" + "fedcba9876543210" * 2
S1 = "sha256:" + "ab" * 32
WHERE = "models/weights.bin.art"


def file_text(hash_value: str = H1, size: str = "12", extra: str = "") -> str:
    return f"artver-pointer: 1\nkind: file\nhash: {hash_value}\nsize: {size}\n{extra}end\n"


def dir_text(entry_lines: list[str], extra: str = "") -> str:
    body = "".join(line + "\n" for line in entry_lines)
    return f"artver-pointer: 1\nkind: dir\n{extra}entries:\n{body}end\n"


def assert_refused(data: bytes, *needles: str, error: type[Exception] = PointerError) -> PointerError:
    with pytest.raises(error) as caught:
        parse_pointer(data, WHERE)
    message = str(caught.value)
    assert WHERE in message, message
    assert "\n" not in message, message
    for needle in needles:
        assert needle in message, message
    return caught.value


# ---------------------------------------------------------------- round trips


def test_file_pointer_exact_bytes() -> None:
    pointer = FilePointer(H1, 12, desc="ResNet \"50\"\nv2 é", meta=(("z", "1"), ("a", "x y")))
    data = format_pointer(pointer)
    assert data == (
        b"artver-pointer: 1\nkind: file\nhash: " + H1.encode() + b"\nsize: 12\n"
        b'desc: "ResNet \\"50\\"\\nv2 \xc3\xa9"\n'
        b'meta.a: "x y"\nmeta.z: "1"\nend\n'
    )
    parsed = parse_pointer(data, WHERE)
    assert isinstance(parsed, FilePointer)
    assert parsed.kind == "file" and parsed.hash == H1 and parsed.size == 12
    assert parsed.desc == "ResNet \"50\"\nv2 é"
    assert parsed.meta == (("a", "x y"), ("z", "1"))
    assert format_pointer(parsed) == data


def test_dir_pointer_round_trip_with_spaces_unicode_and_exec_bit() -> None:
    entries = (
        Entry("a b/c d.txt", H1, 0, False),
        Entry("bin/run.sh", H2, 7, True),
        Entry("ünï cødé/📦 box", S1, 123456789012, False),
    )
    pointer = DirPointer(InlineListing(entries), desc="", meta=(("k", ""),))
    data = format_pointer(pointer)
    text = data.decode()
    assert f"{H1} 0 - a b/c d.txt\n" in text
    assert f"{H2} 7 x bin/run.sh\n" in text
    parsed = parse_pointer(data, WHERE)
    assert isinstance(parsed, DirPointer) and parsed.content == InlineListing(entries)
    assert parsed.desc == "" and parsed.meta == (("k", ""),)
    assert format_pointer(parsed) == data


def test_empty_dir_pointer_round_trip() -> None:
    data = format_pointer(dir_pointer(()))
    assert data == b"artver-pointer: 1\nkind: dir\nentries:\nend\n"
    assert parse_pointer(data, WHERE) == DirPointer(InlineListing(()))


def test_listing_pointer_round_trip() -> None:
    pointer = DirPointer(ListingRef(H2, count=10, size=4096))
    data = format_pointer(pointer)
    assert data == f"artver-pointer: 1\nkind: dir\nlisting: {H2}\ncount: 10\nsize: 4096\nend\n".encode()
    assert parse_pointer(data, WHERE) == pointer


def test_each_kind_carries_only_its_own_fields() -> None:
    """A file has a hash and a size; a directory has a listing in one of two forms. Both forms
    give the same count and size, and user data keeps the pointer's own type."""
    entries = (Entry("a", H1, 3), Entry("b", H2, 4, True))
    inline, by_reference = dir_pointer(entries), dir_pointer(entries, H2)
    assert (inline.kind, by_reference.kind, file_pointer(H1, 1).kind) == ("dir", "dir", "file")
    assert inline.content == InlineListing(entries)
    assert by_reference.content == ListingRef(H2, count=2, size=7)
    assert (inline.content.count, inline.content.size) == (by_reference.content.count, by_reference.content.size)
    for pointer in (file_pointer(H1, 1), inline, by_reference):
        annotated = pointer.with_user_data("d", (("k", "v"),))
        assert type(annotated) is type(pointer) and annotated.desc == "d" and annotated.meta == (("k", "v"),)
        assert parse_pointer(format_pointer(annotated), WHERE) == annotated
    assert not hasattr(file_pointer(H1, 1), "content") and not hasattr(inline, "hash")
    with pytest.raises(PointerError, match="description"):
        inline.with_user_data("\ud800", ())


def test_format_is_deterministic_whatever_the_metadata_order() -> None:
    one = file_pointer(H1, 1).with_user_data("d", (("b", "2"), ("a", "1")))
    two = file_pointer(H1, 1).with_user_data("d", (("a", "1"), ("b", "2")))
    assert format_pointer(one) == format_pointer(two) == format_pointer(one)


def test_listing_identity_is_independent_of_input_order() -> None:
    a = Entry("a", H1, 1)
    b = Entry("b/c", H2, 2, True)
    forward = listing.check_entries([a, b], WHERE)
    backward = listing.check_entries([b, a], WHERE)
    assert forward == backward == (a, b)
    assert listing.identity(forward, "xxh128") == listing.identity(backward, "xxh128")
    assert listing.identity(forward, "sha256").startswith("sha256:")
    data = listing.to_object_bytes(forward)
    assert data == f"artver-listing: 1\n{H1} 1 - a\n{H2} 2 x b/c\n".encode()
    assert listing.from_object_bytes(data, WHERE) == forward


def test_write_pointer_is_atomic_and_skips_identical_content(tmp_path: Path) -> None:
    path = tmp_path / "m.bin.art"
    pointer = file_pointer(H1, 5)
    assert write_pointer(path, pointer) is True
    before = path.stat()
    assert write_pointer(path, pointer) is False
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert read_pointer(path, "m.bin.art") == pointer
    assert write_pointer(path, file_pointer(H2, 5)) is True
    assert read_pointer(path, "m.bin.art") == file_pointer(H2, 5)
    assert [p.name for p in tmp_path.iterdir()] == ["m.bin.art"]  # no temp file left behind


safe_name = st.text(alphabet=string.ascii_letters + string.digits + " _-.éü中", min_size=1, max_size=12).filter(
    lambda name: name not in (".", "..")
)
hash_value = st.one_of(
    st.text(alphabet="0123456789abcdef", min_size=32, max_size=32).map(lambda h: "xxh128:" + h),
    st.text(alphabet="0123456789abcdef", min_size=64, max_size=64).map(lambda h: "sha256:" + h),
)
json_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
meta_key = st.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}\Z")


@settings(max_examples=150, deadline=None)
@given(
    paths=st.lists(st.lists(safe_name, min_size=1, max_size=3).map("/".join), max_size=8, unique=True),
    hashes=st.lists(hash_value, min_size=8, max_size=8),
    sizes=st.lists(st.integers(0, 2**63 - 1), min_size=8, max_size=8),
    desc=st.none() | json_text,
    meta=st.dictionaries(meta_key, json_text, max_size=4),
)
def test_dir_pointer_round_trip_property(paths, hashes, sizes, desc, meta) -> None:  # type: ignore[no-untyped-def]
    # Drop paths that are a folder of another path: a listing refuses those.
    paths = [p for p in paths if not any(other.startswith(p + "/") for other in paths)]
    entries = tuple(sorted(Entry(p, hashes[i], sizes[i], i % 2 == 0) for i, p in enumerate(paths)))
    pointer = dir_pointer(entries).with_user_data(desc, tuple(meta.items()))
    data = format_pointer(pointer)
    parsed = parse_pointer(data, WHERE)
    assert parsed == pointer
    assert format_pointer(parsed) == data


# ---------------------------------------------------------------- strictness


def test_empty_file_refused() -> None:
    assert_refused(b"", "empty")


def test_binary_content_refused() -> None:
    assert_refused(file_text().encode().replace(b"kind", b"ki\0nd"), "binary")


def test_non_utf8_refused() -> None:
    assert parse_pointer(file_text(extra='desc: "caf\u00e9"\n').encode(), WHERE).desc == "caf\u00e9"
    assert_refused(file_text(extra='desc: "caf\xe9"\n').encode("latin-1"), "UTF-8")


def test_not_a_pointer_refused() -> None:
    assert_refused(b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 3\n", "not an artver pointer")


@pytest.mark.parametrize("version", ["2", "0", "1.0", " 1", "01", ""])
def test_unknown_version_refused(version: str) -> None:
    data = file_text().replace("artver-pointer: 1", f"artver-pointer: {version}").encode()
    assert_refused(data)


@pytest.mark.parametrize(
    "data",
    [
        file_text()[: -len("end\n")],  # final 'end' line missing
        file_text()[:-1],  # no newline after 'end'
        file_text()[: len(file_text()) // 2],  # cut in the middle
        "artver-pointer: 1\n",
        "artver-pointer: 1\nend",
        file_text() + "\n",  # something after 'end'
        file_text() + "kind: dir\n",
    ],
    ids=["no-end", "no-final-newline", "half", "header-only", "end-without-newline", "blank-after-end", "after-end"],
)
def test_truncated_or_trailing_garbage_refused(data: str) -> None:
    assert_refused(data.encode())


def test_crlf_line_endings_refused() -> None:
    assert_refused(file_text().replace("\n", "\r\n").encode())


@pytest.mark.parametrize(
    "extra, needle",
    [
        ("colour: blue\n", "unknown key"),
        ("Kind: file\n", "unknown key"),
        ("size: 12\n", "duplicate key"),
        ("hash: " + H1 + "\n", "duplicate key"),
        ('desc: "a"\ndesc: "b"\n', "duplicate key"),
        ('meta.k: "a"\nmeta.k: "b"\n', "duplicate metadata key"),
        ('meta.bad key: "a"\n', "invalid metadata key"),
        ('meta.: "a"\n', "invalid metadata key"),
        ("desc: plain words\n", "JSON string"),
        ("desc: 42\n", "JSON string"),
        ("no separator here\n", "malformed line"),
        ("listing: " + H2 + "\n", "does not belong"),
        ("count: 3\n", "does not belong"),
    ],
)
def test_bad_header_lines_refused(extra: str, needle: str) -> None:
    assert_refused(file_text(extra=extra).encode(), needle)


@pytest.mark.parametrize(
    "bad_hash",
    [
        "xxh128:" + "0" * 31,
        "xxh128:" + "0" * 33,
        "xxh128:" + "0" * 30 + "AB",
        "xxh128:" + "0" * 31 + "g",
        "sha256:" + "0" * 32,
        "md5:" + "0" * 32,
        "0" * 32,
        "",
        "xxh128: " + "0" * 32,
    ],
)
def test_invalid_hash_refused(bad_hash: str) -> None:
    assert_refused(file_text(hash_value=bad_hash).encode())


@pytest.mark.parametrize("bad_size", ["-1", "1.0", "0x10", "", "1e3", " 1", "9" * 20])
def test_invalid_size_refused(bad_size: str) -> None:
    assert_refused(file_text(size=bad_size).encode())


@pytest.mark.parametrize("bad_size", ["\u00b2", "\u0661", "\uff11"], ids=["superscript-two", "arabic-indic-one", "fullwidth-one"])
def test_non_ascii_digit_sizes_refused_as_pointer_errors(bad_size: str) -> None:
    """str.isdigit() accepts these; the format only allows ASCII digits."""
    assert_refused(file_text(size=bad_size).encode(), "size")


@pytest.mark.parametrize("bad_size", ["\u00b2", "\u0661"], ids=["superscript-two", "arabic-indic-one"])
def test_non_ascii_digit_listing_sizes_refused(bad_size: str) -> None:
    assert_refused(dir_text([f"{H1} {bad_size} - a"]).encode(), "size")


def test_missing_or_unknown_kind_refused() -> None:
    assert_refused(b"artver-pointer: 1\nhash: " + H1.encode() + b"\nsize: 1\nend\n", "missing 'kind'")
    assert_refused(file_text().replace("kind: file", "kind: symlink").encode(), "unknown kind")


def test_missing_hash_or_size_refused() -> None:
    assert_refused(b"artver-pointer: 1\nkind: file\nsize: 1\nend\n", "missing 'hash'")
    assert_refused(b"artver-pointer: 1\nkind: file\nhash: " + H1.encode() + b"\nend\n", "missing 'size'")


def test_dir_pointer_shape_refused() -> None:
    assert_refused(b"artver-pointer: 1\nkind: dir\nend\n", "needs 'entries:' or 'listing:'")
    assert_refused(dir_text([], extra=f"hash: {H1}\n").encode(), "does not belong")
    assert_refused(dir_text([], extra="size: 3\n").encode(), "does not belong")
    assert_refused(dir_text([], extra=f"listing: {H1}\ncount: 1\nsize: 1\n").encode(), "not both")
    assert_refused(f"artver-pointer: 1\nkind: dir\nlisting: {H1}\nsize: 1\nend\n".encode(), "count")
    assert_refused(file_text(extra="entries:\n").encode())


@pytest.mark.parametrize(
    "line, needle",
    [
        (f"{H1} 1 - a\n{H1} 2 - a", "duplicate path"),
        (f"{H1} 1 - a\n{H2} 1 - a/b", "both as a file and as a folder"),
        (f"{H1} 1 - a b/c\n{H1} 1 - a b", "both as a file and as a folder"),
        (f"{H1} 1 x", "malformed listing line"),
        (f"{H1} 1 r a", "invalid mode"),
        (f"{H1} -1 - a", "invalid size"),
        ("xxh128:zz 1 - a", "invalid hash"),
        ("", "malformed listing line"),
    ],
)
def test_bad_listing_lines_refused(line: str, needle: str) -> None:
    assert_refused(dir_text(line.split("\n")).encode(), needle)


@pytest.mark.parametrize(
    "path",
    ["../x", "/abs", "a\\b", "a/../../b", "a/./b", "./a", "a//b", "a/", ".", "..", "a/..", "tab\there", "nul\x7f"],
)
def test_unsafe_listing_paths_refused(path: str) -> None:
    assert_refused(dir_text([f"{H1} 3 - {path}"]).encode(), error=UnsafePathError)


def test_listing_object_strictness() -> None:
    good = listing.to_object_bytes([Entry("a", H1, 1)])
    assert listing.from_object_bytes(good, WHERE) == (Entry("a", H1, 1),)
    assert listing.from_object_bytes(listing.LISTING_HEADER, WHERE) == ()
    for data, needle in [
        (good[len(listing.LISTING_HEADER):], "header"),
        (good[:-1], "truncated"),
        (listing.LISTING_HEADER + b"\xff\xfe\n", "UTF-8"),
        (listing.LISTING_HEADER + f"{H1} 1 - ../x\n".encode(), "../x"),
        (listing.LISTING_HEADER + f"{H1} 1 - a\n{H1} 1 - a\n".encode(), "duplicate"),
    ]:
        with pytest.raises(PointerError) as caught:
            listing.from_object_bytes(data, WHERE)
        assert WHERE in str(caught.value) and needle in str(caught.value)


def test_oversized_pointer_refused_without_reading_everything(tmp_path: Path) -> None:
    path = tmp_path / "big.art"
    with open(path, "wb") as handle:
        handle.truncate(17 * 1024 * 1024)
    with pytest.raises(PointerError, match="too large"):
        read_pointer(path, "big.art")


# ---------------------------------------------------------------- through the CLI

BROKEN = {
    "unknown-version": file_text().replace("pointer: 1", "pointer: 7").encode(),
    "truncated": file_text()[:-4].encode(),
    "binary": b"\0\1\2\3",
    "empty": b"",
    "non-utf8": b"artver-pointer: 1\nkind: \xff\nend\n",
    "unknown-key": file_text(extra="colour: red\n").encode(),
    "duplicate-key": file_text(extra="size: 3\n").encode(),
    "invalid-hash": file_text(hash_value="xxh128:1234").encode(),
    "duplicate-listing-path": dir_text([f"{H1} 1 - a", f"{H1} 1 - a"]).encode(),
    "unicode-digit-size": file_text(size="\u00b2").encode(),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
@pytest.mark.parametrize("command", ["status", "checkout"])
def test_cli_reports_broken_pointer_in_one_line(repo: Path, run_artver, name: str, command: str) -> None:  # type: ignore[no-untyped-def]
    (repo / "sub").mkdir()
    pointer = repo / "sub" / "weights v1.bin.art"
    pointer.write_bytes(BROKEN[name])
    result = run_artver(repo, command)
    assert result.code not in (0, 3), result  # 3 would be an internal error
    assert "Traceback" not in result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("artver: error: ")
    assert "sub/weights v1.bin.art" in lines[0]
    assert not (repo / "sub" / "weights v1.bin").exists()


def test_cli_broken_pointer_in_a_subfolder_cwd(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    (repo / "a" / "b").mkdir(parents=True)
    (repo / "a" / "b" / "x.art").write_bytes(BROKEN["unknown-key"])
    commit_all(repo, "broken pointer")
    result = run_artver(repo / "a", "status", "--json")
    assert result.code == 1 and result.out == ""
    assert "a/b/x.art" in result.err and "unknown key" in result.err


def test_add_rewrites_a_broken_pointer_from_the_data(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    (repo / "m.bin").write_bytes(b"payload")
    (repo / "m.bin.art").write_bytes(BROKEN["truncated"])
    result = run_artver(repo, "add", "m.bin")
    assert result.code == 0, result.err
    parsed = read_pointer(repo / "m.bin.art", "m.bin.art")
    assert parsed == file_pointer(hashing.hash_bytes(b"payload", "xxh128"), 7)
    assert run_artver(repo, "status", "--check").code == 0


def test_pointer_bytes_identical_across_repositories(tmp_path: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    """The same directory, created in a different order, gives the same pointer bytes."""
    from tests.support.git import git

    outputs = []
    for index, order in enumerate([("b", "a/z", "a/y"), ("a/y", "b", "a/z")]):
        root = tmp_path / f"r{index}"
        root.mkdir()
        git(root, "init", "-q")
        assert run_artver(root, "init").code == 0
        for name in order:
            path = root / "data" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(name.encode() * 3)
        os.chmod(root / "data" / "b", 0o755)
        assert run_artver(root, "add", "data", "--meta", "z=1", "--meta", "a=2", "--desc", "d").code == 0
        outputs.append((root / "data.art").read_bytes())
    assert outputs[0] == outputs[1]
    text = outputs[0].decode()
    assert text.index("meta.a") < text.index("meta.z")
    assert text.index(" a/y\n") < text.index(" a/z\n") < text.index(" x b\n")


@pytest.mark.parametrize("suffix", ["\n", "\r", " ", "\x00", "0"])
def test_a_hash_with_anything_after_its_digest_is_not_a_hash(suffix: str) -> None:
    """A cache file or remote key named like an object plus a trailing newline must not be
    taken for that object (gc would delete it, a listing would use it)."""
    from artver import hashing, transfer

    digest = "0" * 32
    assert hashing.is_valid_hash(f"xxh128:{digest}")
    assert not hashing.is_valid_hash(f"xxh128:{digest}{suffix}")
    assert transfer.hash_of_key(f"xxh128/00/{digest[2:]}{suffix}") is None
