"""Property-based tests: the parsers never fail with anything but PointerError on any input,
never take super-linear time, refuse every spelling of .git that Git refuses, and what the
CLI prints can never carry a terminal control sequence; writers round-trip."""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Callable
from contextlib import redirect_stdout

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from artver import listing, pointer
from artver.console import Output, printable
from artver.errors import PointerError
from artver.listing import Entry
from artver.paths import check_relative, own_folder_of

HASH = "xxh128:" + "0" * 32
HASHES = st.builds(lambda digest: f"xxh128:{digest}", st.text("0123456789abcdef", min_size=32, max_size=32))
NAMES = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\"), min_size=1, max_size=20).filter(
    lambda name: name not in (".", "..") and own_folder_of(name) is None  # .git, .artver and their spellings are refused
)
PATHS = st.lists(NAMES, min_size=1, max_size=3).map("/".join)
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=50)
META = st.dictionaries(st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True), TEXT, max_size=4)
# What must never reach a terminal raw: C0 but tab, DEL, C1, separators, bidi controls, surrogates.
UNSAFE = set(map(chr, [*range(0x00, 0x09), *range(0x0A, 0x20), *range(0x7F, 0xA0), 0x061C, 0x200E, 0x200F,
                       *range(0x2028, 0x202F), *range(0x2066, 0x206A), *range(0xD800, 0xE000)]))
# Fragments that have broken parsers or later code before: nesting, escapes, surrogates,
# control characters, separators, every spelling of .git, repository layouts.
NASTY = [
    "[", "{", "[" * 50, '"', "\\", "\\u", "\\ud800", "\\udfff", '\\"', "\x00", "\x1b[2J", "\x9b", "\u202e", "\u2028", "\r", "\n",
    "\ufeff", "\u200c", ".git", ".GIT", "git~1", ".git.", ".git::$INDEX_ALLOCATION", ".artver", "/", "//", "..", "~", ":",
    "HEAD", "objects/", "refs/", "commondir", " ", "end\n", "entries:\n", "desc: ", "meta.x: ", "listing: ", HASH, "-", "x",
    "\xe9", "\U0001f600", "9" * 25, "-1",
]


def file_pointer(desc: str | None, meta: dict[str, str]) -> bytes:
    return pointer.format_pointer(pointer.file_pointer(HASH, 1).with_user_data(desc, tuple(meta.items())))


def dir_pointer(paths: list[str]) -> bytes:
    return pointer.format_pointer(pointer.dir_pointer(listing.check_entries([Entry(p, HASH, 1) for p in set(paths)], "x")))


def assert_usable(parsed: pointer.Pointer) -> None:
    """Whatever the parser accepts, later code can write, print and serialise without failing."""
    assert pointer.parse_pointer(pointer.format_pointer(parsed), "again.art") == parsed
    entries: tuple[Entry, ...] | None = None
    if isinstance(parsed, pointer.DirPointer) and isinstance(parsed.content, pointer.InlineListing):
        entries = parsed.content.entries
    for entry in entries or ():
        assert check_relative(entry.path, "x") == entry.path
    if entries is not None:
        listing.identity(entries, "xxh128")
    for text in [parsed.desc or "", *(value for _, value in parsed.meta), *(entry.path for entry in entries or ())]:
        text.encode("utf-8")
        assert not UNSAFE & set(printable(text))


def parse_or_refuse(data: bytes) -> None:
    try:
        parsed = pointer.parse_pointer(data, "fuzz.art")
    except PointerError as error:
        assert "fuzz.art" in str(error)
        return
    assert_usable(parsed)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_crash_the_pointer_parser(data: bytes) -> None:
    parse_or_refuse(data)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_after_a_valid_header_never_crash(data: bytes) -> None:
    for prefix in (b"artver-pointer: 1\nkind: dir\nentries:\n", b"artver-pointer: 1\nkind: file\n"):
        parse_or_refuse(prefix + data + b"\nend\n")
    try:
        entries = listing.from_object_bytes(listing.LISTING_HEADER + data, "fuzz listing")
    except PointerError:
        return
    assert listing.from_object_bytes(listing.to_object_bytes(entries), "again") == entries


@settings(max_examples=200)
@given(st.text(max_size=300))
def test_arbitrary_text_never_crashes_the_parser(text: str) -> None:
    parse_or_refuse(text.encode("utf-8", "surrogatepass"))


@st.composite
def mutated_pointers(draw: st.DrawFn) -> bytes:
    """A valid pointer, then a few insertions, deletions and duplications of lines and of nasty fragments."""
    if draw(st.booleans()):
        data = file_pointer(draw(st.one_of(st.none(), TEXT)), draw(META))
    else:
        try:
            data = dir_pointer(draw(st.lists(PATHS, min_size=1, max_size=5)))
        except PointerError:  # a path both a file and a folder
            data = dir_pointer(["a", "b/c"])
    text = data.decode("utf-8")
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "duplicate-line", "replace-value"]))
        if action == "insert":
            text = text[:position] + draw(st.sampled_from(NASTY)) * draw(st.integers(1, 3)) + text[position:]
        elif action == "delete":
            text = text[:position] + text[position + draw(st.integers(1, 10)) :]
        elif action == "duplicate-line":
            lines = text.split("\n")
            line = draw(st.sampled_from(lines))
            lines.insert(draw(st.integers(0, len(lines))), line)
            text = "\n".join(lines)
        else:
            lines = text.split("\n")
            index = draw(st.integers(0, len(lines) - 1))
            key = lines[index].partition(": ")[0]
            lines[index] = f"{key}: {draw(st.sampled_from(NASTY))}{draw(TEXT)}"
            text = "\n".join(lines)
    return text.encode("utf-8", "surrogatepass")


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_pointers())
def test_mutated_pointers_are_refused_or_usable(data: bytes) -> None:
    parse_or_refuse(data)


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
        return  # a path that is both a file and a folder, or a repository layout: refusing it is specified
    data = listing.to_object_bytes(checked)
    assert listing.from_object_bytes(data, "generated") == checked
    inline = pointer.dir_pointer(checked)
    assert pointer.parse_pointer(pointer.format_pointer(inline), "d.art") == pointer.DirPointer(pointer.InlineListing(checked))


# ---------------------------------------------------------------- .git in every spelling Git refuses


HFS_IGNORED = "\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u206a\u206b\u206c\u206d\u206e\u206f\ufeff"


def git_refuses_as_dotgit(name: str) -> bool:
    """An independent model of Git's own rules for one path component (read-cache.c verify_path with
    core.protectNTFS and core.protectHFS): is_ntfs_dotgit, is_hfs_dotgit and the plain ".git" test."""
    def ntfs() -> bool:
        for stem in (".git", "git~1"):
            if name[: len(stem)].lower() == stem:
                rest = name[len(stem) :]
                while rest[:1] in (" ", "."):
                    rest = rest[1:]
                if rest == "" or rest.startswith(":"):
                    return True
        return False

    def hfs() -> bool:
        stripped = "".join(char for char in name if char not in HFS_IGNORED)
        return stripped.isascii() and stripped.lower() == ".git"

    return name.lower() == ".git" or ntfs() or hfs()


SPELLING_PARTS = st.lists(st.sampled_from([".", "g", "G", "i", "I", "t", "T", "~", "1", "2", " ", ":", "$", "x", *HFS_IGNORED[:3], "\ufeff"]), max_size=9)


@settings(max_examples=1500)
@given(st.one_of(SPELLING_PARTS.map("".join), st.builds(lambda pre, post: pre + ".git" + post, SPELLING_PARTS.map("".join), SPELLING_PARTS.map("".join))))
def test_every_name_git_refuses_is_refused(name: str) -> None:
    if git_refuses_as_dotgit(name):
        assert own_folder_of(name) == ".git", ascii(name)
        with pytest.raises(PointerError):
            check_relative(f"data/{name}/config", "x")


# ---------------------------------------------------------------- what is printed


@settings(max_examples=500)
@given(st.text(st.characters(), max_size=200))
def test_printable_leaves_nothing_a_terminal_would_obey(text: str) -> None:
    shown = printable(text)
    assert not UNSAFE & set(shown)
    if not UNSAFE & set(text):
        assert shown == text  # ordinary output is unchanged


@settings(max_examples=300)
@given(st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.text(st.characters())),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=10))
def test_json_output_is_valid_and_exact_for_any_text(value: object) -> None:
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        Output().json(value)
    text = buffer.getvalue()
    assert not (UNSAFE - {"\n"}) & set(text)
    assert json.loads(text) == value


# ---------------------------------------------------------------- never super-linear


def _listing_of(paths: list[str]) -> bytes:
    return listing.LISTING_HEADER + "".join(f"{HASH} 1 - {path}\n" for path in sorted(paths)).encode()


def _inline_of(paths: list[str]) -> bytes:
    return b"artver-pointer: 1\nkind: dir\nentries:\n" + _listing_of(paths)[len(listing.LISTING_HEADER) :] + b"end\n"


def _deep(size: int) -> list[str]:
    chain = "/".join(["a"] * 1990)
    return [f"d{index}/{chain}" for index in range(size // 4000)]


HOSTILE_SHAPES: dict[str, Callable[[int], tuple[Callable[[bytes], object], bytes]]] = {
    "deep paths in a listing object": lambda size: (lambda data: listing.from_object_bytes(data, "x"), _listing_of(_deep(size))),
    "a path as deep as the input": lambda size: (  # a twentieth: quadratic code would need minutes and gigabytes
        lambda data: listing.from_object_bytes(data, "x"), _listing_of(["a/" * (size // 40) + "b", "c/" * (size // 80) + "d"])),
    "deep paths inline": lambda size: (lambda data: pointer.parse_pointer(data, "x"), _inline_of(_deep(size))),
    "deep paths and HEAD files": lambda size: (
        lambda data: listing.from_object_bytes(data, "x"), _listing_of([*_deep(size // 2), *(f"h{i}/HEAD" for i in range(size // 40))])),
    "paths that prefix the next": lambda size: (
        lambda data: listing.from_object_bytes(data, "x"), _listing_of([p for i in range(size // 110) for p in (f"p{i}", f"p{i}.x")])),
    "dot and tilde components": lambda size: (
        lambda data: listing.from_object_bytes(data, "x"), _listing_of([f".d{i}/g~{i}/.h\u200c{i}" for i in range(size // 70)])),
    "escaped desc": lambda size: (
        lambda data: pointer.parse_pointer(data, "x"),
        b'artver-pointer: 1\nkind: file\nhash: ' + HASH.encode() + b'\nsize: 1\ndesc: "' + b"\\u00e9\\n" * (size // 8) + b'"\nend\n'),
    "unclosed desc": lambda size: (
        lambda data: pointer.parse_pointer(data, "x"),
        b'artver-pointer: 1\nkind: file\nhash: ' + HASH.encode() + b'\nsize: 1\ndesc: "' + b"ab\\" * (size // 3) + b"\nend\n"),
    "nested brackets": lambda size: (
        lambda data: pointer.parse_pointer(data, "x"),
        b"artver-pointer: 1\nkind: file\nhash: " + HASH.encode() + b"\nsize: 1\nmeta.a: " + b"[" * size + b"\nend\n"),
}


def _cpu_seconds(parse: Callable[[bytes], object], data: bytes) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        try:
            parse(data)
        except PointerError:
            pass
        best = min(best, time.process_time() - start)
    return best


@pytest.mark.parametrize("shape", sorted(HOSTILE_SHAPES))
def test_hostile_inputs_take_linear_time(shape: str) -> None:
    """Four times the input may take about four times as long, not sixteen (quadratic): the ratio
    of the best of three CPU times is compared, with room for n log n and measurement noise."""
    small_parse, small = HOSTILE_SHAPES[shape](1_000_000)
    large_parse, large = HOSTILE_SHAPES[shape](4_000_000)
    assert 3.5 * len(small) < len(large) < 4.5 * len(small)
    # A floor under the small input's time: the fastest parsers take a few hundredths of a
    # second there, where a busy machine's noise alone can double a figure. Quadratic work
    # (sixteen times the small input's time) still exceeds eight times the floor.
    small_time = max(_cpu_seconds(small_parse, small), 0.05)
    large_time = _cpu_seconds(large_parse, large)
    assert large_time < 8 * small_time, (shape, small_time, large_time)


# --------------------------------------------------------------- sources that change during add

_EDIT = st.tuples(
    st.floats(min_value=0.0, max_value=2.99),  # when: bytes read so far (over all of add's reads), in file sizes
    st.sampled_from(["truncate", "append", "overwrite"]),
    st.integers(min_value=0, max_value=3 * 1024 * 1024),  # where (truncate, overwrite) or how much (append)
)


class _EditWhileReading:
    """A Progress for add: ``advance`` runs in the reading thread between two chunks, so an
    edit made there lands in the middle of a read (the staging test_add_integrity uses)."""

    def __init__(self, edit: Callable[[int], None]) -> None:
        self.read = 0
        self.edit = edit

    def start(self, description: str, total: int | None, unit: str = "bytes") -> None:
        pass

    def advance(self, amount: int) -> None:
        self.read += amount
        self.edit(self.read)

    def finish(self) -> None:
        pass


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(size=st.integers(min_value=1, max_value=3 * 1024 * 1024), edits=st.lists(_EDIT, min_size=1, max_size=4),
       seed=st.integers(0, 2**32))
def test_a_source_changing_during_add_is_recorded_exactly_or_refused(
        tmp_path_factory: pytest.TempPathFactory, size: int, edits: list[tuple[float, str, int]], seed: int) -> None:
    """Whatever another writer does to a file while add reads it (truncate, grow, rewrite, at
    any point of any of add's reads), add either records exactly the bytes it stored, which
    are the file's content when add finished, or refuses it as changed and records nothing."""
    import random
    import subprocess
    from contextlib import redirect_stderr

    from artver import api, error_handler
    from artver.commands.add import add
    from artver.pointer import read_pointer
    from artver.repo import open_repo
    from tests.support.files import object_path, xxh

    root = tmp_path_factory.mktemp("changing")
    subprocess.run(["git", "init", "-q", str(root)], check=True, timeout=60)
    api.init(root)
    rng = random.Random(seed)
    path = root / "model.bin"
    path.write_bytes(rng.randbytes(size))
    pending = sorted((int(when * size), action, amount) for when, action, amount in edits)
    fired: list[int] = []

    def edit(read: int) -> None:
        while pending and read >= pending[0][0]:
            _, action, amount = pending.pop(0)
            fired.append(read)
            with open(path, "r+b") as handle:
                if action == "truncate":
                    handle.truncate(min(amount, os.path.getsize(path)))
                elif action == "append":
                    handle.seek(0, 2)
                    handle.write(rng.randbytes(amount % (256 * 1024) + 1))
                else:
                    handle.seek(min(amount, os.path.getsize(path)))
                    handle.write(rng.randbytes(64 * 1024))

    errors = io.StringIO()
    with redirect_stdout(io.StringIO()), redirect_stderr(errors):
        code = error_handler.run(lambda: add(open_repo(root), [str(path)], progress=_EditWhileReading(edit)), False)
    final = path.read_bytes()
    if code == 0:
        recorded = read_pointer(root / "model.bin.art", "model.bin.art")
        assert (recorded.size, recorded.hash) == (len(final), xxh(final))
        assert object_path(root, xxh(final)).read_bytes() == final
    else:
        assert fired, f"add failed although nothing changed the file: {errors.getvalue()}"
        assert errors.getvalue() == "artver: error: model.bin: changed while being added; stop the process writing it, then add again\n"
        assert not (root / "model.bin.art").exists()


_TRICKY_PATHS = st.text(st.sampled_from(list("ab.gGA/~ \\x\x01\u200c\u212a\u0130\ud800")), min_size=0, max_size=12)
_LISTING_LINES = st.lists(st.tuples(st.sampled_from(["xxh128:" + "a" * 32, "sha256:" + "b" * 64, "xxh128:" + "a" * 31, "md5:1"]),
                                    st.sampled_from(["0", "17", "0017", "1" * 20, "-1"]), st.sampled_from(["-", "x", "X"]),
                                    _TRICKY_PATHS), max_size=6)


@given(_LISTING_LINES)
def test_the_one_scan_listing_check_agrees_with_the_line_by_line_parse(lines: list[tuple[str, str, str, str]]) -> None:
    # from_object_bytes checks ordinary listings in one scan and parses the others line by
    # line: whatever the lines, the scan accepts only what the line parser accepts, alike.
    text = "".join(f"{hash_value} {size} {mode} {path}\n" for hash_value, size, mode, path in lines)
    fast = listing._ordinary_entries(text)
    if fast is None:
        return
    assert fast == [listing.parse_entry(line, "x") for line in text.split("\n")[:-1]]


_OLD_ENOUGH = 1_000_000_000  # an mtime far in the past: never too recent to trust


@given(st.lists(st.tuples(st.text(min_size=1, max_size=8), st.integers(1, 2**40), st.integers(0, 2**40),
                          st.integers(_OLD_ENOUGH, 2 * _OLD_ENOUGH), st.sampled_from([0o100644, 0o100755])),
                unique_by=lambda item: item[0], min_size=1, max_size=20),
       st.randoms(use_true_random=False), st.integers(0, 3))
def test_a_folder_signature_does_not_depend_on_walk_order_but_on_every_field(
        files: list[tuple[str, int, int, int, int]], rng, field: int) -> None:
    # checkout and status compute the signature from a walk in the order the filesystem gives.
    from artver.statcache import FileStat, directory_signature

    stats = [(name, FileStat(1, ino, size, mtime, mode)) for name, ino, size, mtime, mode in files]
    shuffled = list(stats)
    rng.shuffle(shuffled)
    assert directory_signature(stats) == directory_signature(shuffled)
    name, stat = stats[0]
    changed = [stat._replace(st_ino=stat.st_ino + 1), stat._replace(st_size=stat.st_size + 1),
               stat._replace(st_mtime_ns=stat.st_mtime_ns + 1), stat._replace(st_mode=stat.st_mode ^ 0o100)][field]
    assert directory_signature([(name, changed), *stats[1:]]) != directory_signature(stats)
    assert directory_signature(stats[1:]) != directory_signature(stats)
