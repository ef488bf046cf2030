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
from bisect import bisect_left
from collections.abc import Iterable
from typing import NamedTuple

from artver import hashing
from artver.errors import PointerError, UsageError
from artver.paths import MAX_PATH_CHARS, ORDINARY_PATH_PATTERN, check_relative, fold_name, own_folder_in

LISTING_HEADER = b"artver-listing: 1\n"
_DECIMAL = re.compile(r"[0-9]{1,19}")
# Lines that parse_entry accepts and whose paths check_relative passes without a closer look:
# nearly every listing is all such lines, and one scan in C checks them all. The repetition
# is possessive (*+): a line matches in one way only, and a plain * would keep a backtracking
# record per line (150 MiB for 200,000 lines).
_ORDINARY_LINES = re.compile(f"(?:(?:{hashing.HASH_PATTERN}) [0-9]{{1,19}} [-x] (?:{ORDINARY_PATH_PATTERN})\n)*+")
_FIELDS = re.compile(r"([^ ]+) ([0-9]+) ([-x]) ([^\n]*)\n")


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
    """Sort entries; refuse duplicates, a path that is both a file and a folder, and a folder
    laid out as a Git repository (see _refuse_embedded_repository).

    Linear in the total length of the paths for ordinary listings, O(n log n) at worst,
    and without a set of every folder: hostile listings of deep paths must not cost
    quadratic time or memory."""
    ordered = tuple(sorted(entries))
    paths = [entry.path for entry in ordered]
    for index in range(1, len(paths)):
        previous, current = paths[index - 1], paths[index]
        if not current.startswith(previous):
            continue  # the common case: all paths that start with `previous` directly follow it
        if current == previous:
            raise PointerError(f"{where}: duplicate path {current!r} in listing")
        # `previous` is a folder of some path iff the first path >= previous + "/" starts with it
        inside = previous + "/"
        position = bisect_left(paths, inside, index)
        if position < len(paths) and paths[position].startswith(inside):
            raise PointerError(f"{where}: {previous!r} is listed both as a file and as a folder")
    _refuse_embedded_repository(paths, where)
    return ordered


# Git takes a folder for a (bare) repository if it holds a HEAD file and objects/ and refs/
# folders, or a HEAD file and a commondir file naming them elsewhere (setup.c, is_git_directory).
# Running any git command below such a folder reads its config, which can run commands.
_REPOSITORY_PARTS = frozenset(("objects", "refs", "commondir"))
_IGNORED = "[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]*"  # paths.fold_name drops these
_MAYBE_HEAD = re.compile(f"[hH]{_IGNORED}[eE]{_IGNORED}[aA]{_IGNORED}[dD][^/\n]*$", re.MULTILINE)


def _refuse_embedded_repository(paths: list[str], where: str) -> None:
    """Refuse a listing that makes one of its folders (or the artifact itself) a Git repository:
    a HEAD file next to objects, refs or commondir, in any spelling a filesystem resolves to
    those names (paths.fold_name). One regular expression per path, unless a file that may be
    called HEAD is listed (rare in real data)."""
    text = "\n".join(paths)  # one scan of all paths in C; paths hold no newline (check_relative)
    heads = []
    for match in _MAYBE_HEAD.finditer(text):
        path = text[text.rfind("\n", 0, match.start()) + 1 : match.end()]
        if fold_name(path.rpartition("/")[2]) == "head":
            heads.append(path)
    if not heads:
        return

    def folder_keys(folded: list[str]) -> list[int]:
        """Key of each folder along a path: a rolling hash of its folded components, so that no
        folder name is built per level (paths may be thousands of components deep). A collision
        could only refuse a listing, never let one through; str hashes are seeded per process."""
        keys = [0]
        for component in folded[:-1]:
            keys.append(hash((keys[-1], component)))
        return keys

    candidates: dict[int, str] = {}
    for path in heads:
        candidates[folder_keys([fold_name(part) for part in path.split("/")])[-1]] = path.rpartition("/")[0]
    for path in paths:
        folded = [fold_name(part) for part in path.split("/")]
        for key, component in zip(folder_keys(folded), folded):
            if component in _REPOSITORY_PARTS and key in candidates:
                folder = candidates[key]
                raise PointerError(
                    f"{where}: {repr(folder) if folder else 'the folder itself'} would be a Git repository (a HEAD file "
                    f"next to {path[:200]!r}), whose config can run commands; artver does not track repositories"
                )


def check_names_to_add(paths: list[str], folder: str) -> None:
    """Refuse, before anything is stored, to add a folder (``paths`` are its files) that holds
    a repository: a .git or .artver folder in any spelling (paths.own_folder_in), or a folder
    laid out as a bare Git repository. A listing of it would be refused on every read."""
    for path in paths:
        found = own_folder_in(path)
        if found is None:
            continue
        component, own = found
        holder = component.rpartition("/")[0]
        if holder:
            advice = f"move {folder}/{holder} out of {folder}, or delete {folder}/{component} if you need only its files"
        else:
            advice = f"delete or move {folder}/{component} if you need only the files"
        raise UsageError(f"{folder}/{component}: {own} folder of a repository, which artver does not track; {advice}")
    try:
        _refuse_embedded_repository(paths, folder)
    except PointerError as error:
        raise UsageError(str(error)) from None


def parse_lines(lines: Iterable[str], where: str) -> tuple[Entry, ...]:
    return check_entries((parse_entry(line, where) for line in lines), where)


def to_object_bytes(entries: Iterable[Entry]) -> bytes:
    body = "".join(format_entry(entry) + "\n" for entry in entries)
    return LISTING_HEADER + body.encode("utf-8")


def _ordinary_entries(text: str) -> list[Entry] | None:
    """The entries of the listing body ``text`` (lines with their newlines) if every line is
    ordinary (see _ORDINARY_LINES) and no path is too long; else None, and the caller parses
    line by line, which names what is wrong. The same entries as parse_entry gives."""
    if _ORDINARY_LINES.fullmatch(text) is None:
        return None
    # finditer, not findall: a list of every line's fields would double the peak memory.
    entries = [Entry(match[4], match[1], int(match[2]), match[3] == "x") for match in _FIELDS.finditer(text)]
    if entries and max(len(entry.path) for entry in entries) > MAX_PATH_CHARS:
        return None
    return entries


def from_object_bytes(data: bytes, where: str) -> tuple[Entry, ...]:
    return from_object_text(object_text(data, where), where)


def object_text(data: bytes, where: str) -> str:
    """The entry lines of a listing object, decoded (without a copy of the bytes): a caller
    that lets go of ``data`` before from_object_text holds one copy of a large listing, not
    two, while its entries are made."""
    if not data.startswith(LISTING_HEADER):
        raise PointerError(f"{where}: not an artver listing (missing '{LISTING_HEADER.decode().strip()}' header)")
    try:
        text = str(memoryview(data)[len(LISTING_HEADER):], "utf-8")
    except UnicodeDecodeError as error:
        raise PointerError(f"{where}: listing is not valid UTF-8 ({error.reason})") from None
    if text and not text.endswith("\n"):
        raise PointerError(f"{where}: listing is truncated (no final newline)")
    return text


def from_object_text(text: str, where: str) -> tuple[Entry, ...]:
    """The entries of a listing object's text (object_text)."""
    ordinary = _ordinary_entries(text)
    if ordinary is not None:
        return check_entries(ordinary, where)
    return parse_lines(text.split("\n")[:-1] if text else (), where)


_NAMED_HASH = re.compile(f"^({hashing.HASH_PATTERN}) ".encode(), re.MULTILINE)


def hashes_named(data: bytes) -> set[str]:
    """The distinct object hashes a listing object's lines begin with, found in one scan
    without parsing the listing: only for counting objects (push reports a directory the
    remote already holds without parsing its listing), never for deciding what to read,
    write or trust."""
    return {match.decode() for match in _NAMED_HASH.findall(data)}


def identity(entries: Iterable[Entry], algorithm: str) -> str:
    """The directory's hash: the hash of its listing in object form."""
    return hashing.hash_bytes(to_object_bytes(entries), algorithm)


def total_size(entries: Iterable[Entry]) -> int:
    return sum(entry.size for entry in entries)


def under(entries: tuple[Entry, ...], inner: str) -> tuple[Entry, ...]:
    """The entries a path inside the directory selects: the file ``inner``, or every file in
    the folder ``inner``; ``()`` if it names nothing. ``entries`` are sorted (as every
    listing is), so this costs two binary searches, not a pass over millions of entries.

    This is the one rule for what a part of a tracked directory is: every command that
    accepts a path inside a directory (pull, fetch, checkout, status, push) selects with it."""
    first = bisect_left(entries, inner, key=_path_of)
    if first < len(entries) and entries[first].path == inner:
        return (entries[first],)  # a file (check_entries: then nothing is listed below it)
    # Paths below "inner/" sort before "inner0" ("0" follows "/"), and nothing else sorts between.
    start = bisect_left(entries, inner + "/", first, key=_path_of)
    end = bisect_left(entries, inner + "0", start, key=_path_of)
    return entries[start:end]


def names_in(entries: tuple[Entry, ...], folder: str) -> list[str]:
    """The names directly in ``folder`` (``""``: the directory itself), a folder's with a
    trailing ``/``, in listing order: what a message shows of what is tracked there."""
    selected = under(entries, folder) if folder else entries
    prefix = len(folder) + 1 if folder else 0
    names: dict[str, None] = {}
    for entry in selected:
        name, slash, _ = entry.path[prefix:].partition("/")
        names[name + slash] = None
    return list(names)


def _path_of(entry: Entry) -> str:
    return entry.path
