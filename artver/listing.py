"""Directory listings: the sorted per-file lines that describe a tracked directory.

One line per file, sorted by path::

    <hash> <size> <mode> <path>

``mode`` is ``x`` for an executable file and ``-`` otherwise. The path is the
rest of the line, so names may contain spaces; it is a relative POSIX path
checked by artver.paths. The same lines appear inline in a small directory's
pointer file and, for a large directory, in a listing object in the cache whose
first line is ``artver-listing: 1``. The hash of that object form is the
directory's identity, whichever way it is stored.
"""

from __future__ import annotations

import re
from typing import Iterable, NamedTuple

from artver import hashing
from artver.errors import PointerError
from artver.paths import check_relative

LISTING_HEADER = b"artver-listing: 1\n"
_DECIMAL = re.compile(r"[0-9]{1,19}")


class Entry(NamedTuple):
    """One file of a directory. A NamedTuple, not a dataclass: listings hold up to millions
    of entries, and tuples are created, compared and sorted (by path first) at C speed."""

    path: str
    hash: str
    size: int
    executable: bool = False


def format_entry(entry: Entry) -> str:
    return f"{entry.hash} {entry.size} {'x' if entry.executable else '-'} {entry.path}"


def parse_entry(line: str, where: str) -> Entry:
    parts = line.split(" ", 3)
    if len(parts) != 4:
        raise PointerError(f"{where}: malformed listing line {line[:120]!r} (expected '<hash> <size> <mode> <path>')")
    hash_value, size_text, mode, path = parts
    if not hashing.is_valid_hash(hash_value):
        raise PointerError(f"{where}: invalid hash {hash_value[:80]!r} for {path[:200]!r}")
    if not _DECIMAL.fullmatch(size_text):
        raise PointerError(f"{where}: invalid size {size_text[:40]!r} for {path[:200]!r}")
    if mode not in ("-", "x"):
        raise PointerError(f"{where}: invalid mode {mode[:10]!r} for {path[:200]!r} (expected '-' or 'x')")
    return Entry(check_relative(path, where), hash_value, int(size_text), mode == "x")


def check_entries(entries: Iterable[Entry], where: str) -> tuple[Entry, ...]:
    """Sort entries; refuse duplicates and a path that is both a file and a folder."""
    ordered = tuple(sorted(entries))
    paths = {entry.path for entry in ordered}
    if len(paths) != len(ordered):
        for previous, current in zip(ordered, ordered[1:]):
            if previous.path == current.path:
                raise PointerError(f"{where}: duplicate path {current.path!r} in listing")
    folders: set[str] = set()
    for entry in ordered:
        parent = entry.path.rpartition("/")[0]
        while parent and parent not in folders:
            folders.add(parent)
            parent = parent.rpartition("/")[0]
    clash = paths & folders
    if clash:
        raise PointerError(f"{where}: {min(clash)!r} is listed both as a file and as a folder")
    return ordered


def parse_lines(lines: Iterable[str], where: str) -> tuple[Entry, ...]:
    return check_entries((parse_entry(line, where) for line in lines), where)


def to_object_bytes(entries: Iterable[Entry]) -> bytes:
    body = "".join(format_entry(entry) + "\n" for entry in entries)
    return LISTING_HEADER + body.encode("utf-8")


def from_object_bytes(data: bytes, where: str) -> tuple[Entry, ...]:
    if not data.startswith(LISTING_HEADER):
        raise PointerError(f"{where}: not an artver listing (missing '{LISTING_HEADER.decode().strip()}' header)")
    try:
        text = data[len(LISTING_HEADER):].decode("utf-8")
    except UnicodeDecodeError as error:
        raise PointerError(f"{where}: listing is not valid UTF-8 ({error.reason})") from None
    if text and not text.endswith("\n"):
        raise PointerError(f"{where}: listing is truncated (no final newline)")
    return parse_lines(text.split("\n")[:-1] if text else (), where)


def identity(entries: Iterable[Entry], algorithm: str) -> str:
    """The directory's hash: the hash of its listing in object form."""
    return hashing.hash_bytes(to_object_bytes(entries), algorithm)


def total_size(entries: Iterable[Entry]) -> int:
    return sum(entry.size for entry in entries)
