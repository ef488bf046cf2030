"""Three-way merge of pointer files, and the form of a pointer left in conflict.

Git merges a pointer file as text, line by line: two branches that change files
whose lines are adjacent in a directory's listing conflict, and a directory whose
listing lives in a listing object conflicts as a whole. Here a directory is
merged entry by entry, by path, whichever way each version stores its listing:
a path conflicts only when both sides changed it, differently. The description
and each metadata key are merged the same way. A file's content (or a change of
kind) changed on both sides is a conflict, as in Git.

A conflict yields two complete pointers: every change of both sides, plus our
version (``ours``) or their version (``theirs``) of what both changed. They are
written between Git's conflict markers, so Git, ``git diff`` and artver's parser
all see an unresolved conflict, and ``artver resolve --ours|--theirs`` (or simply
deleting one section and the marker lines) leaves a valid pointer.

Everything here is pure: reading listing objects and building directory
pointers (inline or as a listing object) are the caller's, passed in as functions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Generic, Literal, TypeVar

from artver import listing
from artver import pointer as pointer_module
from artver.listing import Entry
from artver.pointer import DirPointer, FilePointer, ListingRef, Pointer

Side = Literal["ours", "theirs"]
CONTENT = "content"  # a field: both sides changed a file's content (or one made it a folder)
DESC = "desc"
META = "meta."  # + the key


@dataclass(frozen=True)
class Absent:
    """There is no common version: both sides added the pointer."""


@dataclass(frozen=True)
class Unreadable:
    """The common version is unknown (not a readable pointer): every difference is a conflict."""


Base = Pointer | Absent | Unreadable


@dataclass(frozen=True)
class Merged:
    pointer: Pointer


@dataclass(frozen=True)
class Conflicted:
    ours: Pointer  # both sides' changes, and ours where both changed the same thing
    theirs: Pointer  # both sides' changes, and theirs where both changed the same thing
    paths: tuple[str, ...]  # files inside a directory that both changed
    fields: tuple[str, ...]  # CONTENT, DESC, META + key: the rest of the pointer that both changed


Outcome = Merged | Conflicted
LoadEntries = Callable[[DirPointer], tuple[Entry, ...]]
BuildDirectory = Callable[[tuple[Entry, ...]], DirPointer]


def merge(base: Base, ours: Pointer, theirs: Pointer, algorithm: str, load: LoadEntries,
          build: BuildDirectory) -> Outcome:
    """Merge two pointers against their common version. ``load`` gives a directory pointer's
    entries (reading its listing object if it has one); ``build`` makes a directory pointer of
    merged entries (inline, or with a new listing object)."""
    known = not isinstance(base, Unreadable)
    common = base if isinstance(base, (FilePointer, DirPointer)) else None
    fields: list[str] = []

    desc = _three_way(known, common.desc if common else None, ours.desc, theirs.desc)
    if desc.conflict:
        fields.append(DESC)
    base_meta = dict(common.meta) if common else {}
    ours_meta, theirs_meta = dict(ours.meta), dict(theirs.meta)
    meta_picks: dict[str, _Pick[str | None]] = {}
    for key in sorted(set(base_meta) | set(ours_meta) | set(theirs_meta)):
        meta_picks[key] = _three_way(known, base_meta.get(key), ours_meta.get(key), theirs_meta.get(key))
        if meta_picks[key].conflict:
            fields.append(META + key)

    content = _merge_content(known, common, ours, theirs, algorithm, load, build)
    if content.conflict:
        fields.insert(0, CONTENT)

    def finish(side: Side) -> Pointer:
        chosen = content.ours if side == "ours" else content.theirs
        meta = tuple((key, value) for key, pick in meta_picks.items() if (value := pick.of(side)) is not None)
        return chosen.with_user_data(desc.of(side), meta)

    if not fields and not content.paths:
        return Merged(finish("ours"))
    return Conflicted(finish("ours"), finish("theirs"), content.paths, tuple(fields))


def identity(pointer: Pointer, algorithm: str) -> tuple[str, str, int | None]:
    """What a pointer's content is, whichever way a directory's listing is stored."""
    if isinstance(pointer, FilePointer):
        return ("file", pointer.hash, pointer.size)
    if isinstance(pointer.content, ListingRef):
        return ("dir", pointer.content.hash, None)
    return ("dir", listing.identity(pointer.content.entries, algorithm), None)


T = TypeVar("T")


@dataclass(frozen=True)
class _Pick(Generic[T]):
    ours: T
    theirs: T
    conflict: bool

    def of(self, side: Side) -> T:
        return self.ours if side == "ours" else self.theirs


def _three_way(known: bool, base: T, ours: T, theirs: T) -> _Pick[T]:
    if ours == theirs:
        return _Pick(ours, ours, False)
    if known and ours == base:
        return _Pick(theirs, theirs, False)
    if known and theirs == base:
        return _Pick(ours, ours, False)
    return _Pick(ours, theirs, True)


@dataclass(frozen=True)
class _Content:
    ours: Pointer  # content only: no desc, no meta
    theirs: Pointer
    paths: tuple[str, ...] = ()  # inside a directory
    conflict: bool = False  # both changed a file's content, or the kind


def _content_only(pointer: Pointer) -> Pointer:
    return replace(pointer, desc=None, meta=())


def _merge_content(known: bool, common: Pointer | None, ours: Pointer, theirs: Pointer, algorithm: str,
                   load: LoadEntries, build: BuildDirectory) -> _Content:
    base_id = identity(common, algorithm) if common else None
    pick = _three_way(known, base_id, identity(ours, algorithm), identity(theirs, algorithm))
    if not pick.conflict:
        winner = ours if pick.ours == identity(ours, algorithm) else theirs
        return _Content(_content_only(winner), _content_only(winner))
    if not isinstance(ours, DirPointer) or not isinstance(theirs, DirPointer):
        return _Content(_content_only(ours), _content_only(theirs), conflict=True)
    base_entries: tuple[Entry, ...] | None
    if common is not None:
        base_entries = load(common) if isinstance(common, DirPointer) else ()  # a file became a folder on both sides
    else:
        base_entries = () if known else None
    ours_entries, theirs_entries = load(ours), load(theirs)
    ours_pick, theirs_pick, conflicts = merge_entries(base_entries, ours_entries, theirs_entries)

    def pointer_of(entries: tuple[Entry, ...]) -> Pointer:
        for candidate, candidate_entries in ((ours, ours_entries), (theirs, theirs_entries)):
            if entries == candidate_entries:
                return _content_only(candidate)  # one side as it is: keep its form
        return build(entries)

    ours_pointer = pointer_of(ours_pick)
    theirs_pointer = ours_pointer if theirs_pick == ours_pick else pointer_of(theirs_pick)
    return _Content(ours_pointer, theirs_pointer, conflicts)


def merge_entries(base: tuple[Entry, ...] | None, ours: tuple[Entry, ...], theirs: tuple[Entry, ...]
                  ) -> tuple[tuple[Entry, ...], tuple[Entry, ...], tuple[str, ...]]:
    """Three-way merge of two listings by path (``base`` None: unknown). Returns the listing
    preferring ours where both changed a path, the one preferring theirs, and those paths."""
    base_by_path = {entry.path: entry for entry in base} if base is not None else None
    ours_by_path = {entry.path: entry for entry in ours}
    theirs_by_path = {entry.path: entry for entry in theirs}
    paths = set(ours_by_path) | set(theirs_by_path) | set(base_by_path or ())
    ours_pick: dict[str, Entry] = {}
    theirs_pick: dict[str, Entry] = {}
    conflicts: set[str] = set()
    for path in paths:
        pick = _three_way(
            base_by_path is not None,
            base_by_path.get(path) if base_by_path is not None else None,
            ours_by_path.get(path),
            theirs_by_path.get(path),
        )
        if pick.conflict:
            conflicts.add(path)
        if pick.ours is not None:
            ours_pick[path] = pick.ours
        if pick.theirs is not None:
            theirs_pick[path] = pick.theirs
    for chosen, side in ((ours_pick, ours_by_path), (theirs_pick, theirs_by_path)):
        conflicts |= _settle_file_folder_clashes(chosen, side)
    return _sorted(ours_pick), _sorted(theirs_pick), tuple(sorted(conflicts))


def _settle_file_folder_clashes(chosen: dict[str, Entry], side: dict[str, Entry]) -> set[str]:
    """One side made ``x`` a file while the other put files under ``x/``: neither listing may
    have both. Where ``chosen`` does, it takes ``side``'s whole version of ``x`` (consistent by
    itself), starting from the shortest such path. Returns the paths that clashed."""
    clashed: set[str] = set()
    while True:
        folders = {parent for path in chosen for parent in _parents(path)}
        clash = sorted(folders & set(chosen), key=len)
        if not clash:
            return clashed
        top = clash[0]
        for path in [path for path in chosen if path == top or path.startswith(top + "/")]:
            del chosen[path]
        chosen.update({path: entry for path, entry in side.items() if path == top or path.startswith(top + "/")})
        clashed.add(top)


def _parents(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:index]) for index in range(1, len(parts))]


def _sorted(entries: dict[str, Entry]) -> tuple[Entry, ...]:
    return tuple(entries[path] for path in sorted(entries))


# ---------------------------------------------------------------- the conflict form


def describe(items: tuple[str, ...], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def summary(artifact: str, conflict: Conflicted) -> str:
    """What both branches changed, in words."""
    parts = []
    if CONTENT in conflict.fields:
        kinds = {conflict.ours.kind, conflict.theirs.kind}
        parts.append(f"the file {artifact}" if kinds == {"file"} else f"{artifact} (a file on one side, a folder on the other)")
    parts += [f"{artifact}/{path}" for path in conflict.paths]
    names = {DESC: "the description"}
    parts += [names.get(field, f"metadata '{field[len(META):]}'") for field in conflict.fields if field != CONTENT]
    merged = "; every other change of both branches is merged" if CONTENT not in conflict.fields else ""
    return f"both branches changed {describe(tuple(parts))}{merged}"


def conflict_bytes(conflict: Conflicted, label: str, marker_size: int = 7) -> bytes:
    """The two resolutions between Git's conflict markers, each a complete pointer."""
    size = max(marker_size, 7)
    head = f"{'<' * size} ours (artver: {label})\n".encode()
    middle = f"{'=' * size}\n".encode()
    tail = f"{'>' * size} theirs\n".encode()
    return head + pointer_module.format_pointer(conflict.ours) + middle + pointer_module.format_pointer(conflict.theirs) + tail


def raw_conflict_bytes(ours: bytes, theirs: bytes, marker_size: int = 7) -> bytes:
    """Both versions as they are, between conflict markers (for inputs that are not pointers)."""
    size = max(marker_size, 7)

    def ended(data: bytes) -> bytes:
        return data if data.endswith(b"\n") or not data else data + b"\n"

    return (f"{'<' * size} ours\n".encode() + ended(ours) + f"{'=' * size}\n".encode() + ended(theirs)
            + f"{'>' * size} theirs\n".encode())


def _is_separator(line: bytes) -> bool:
    bare = line.rstrip(b"\r\n")
    return len(bare) >= 7 and not bare.strip(b"=")


def sides_of_conflict(data: bytes) -> tuple[bytes, bytes] | None:
    """Our and their version of a file holding conflict markers, whether artver wrote them (two
    whole pointers) or Git's text merge did (lines outside the markers belong to both, a
    diff3 base section to neither). None if the markers are not well formed."""
    ours: list[bytes] = []
    theirs: list[bytes] = []
    state = "both"
    seen = False
    for line in data.splitlines(keepends=True):
        if line.startswith(b"<<<<<<<") and state == "both":
            state, seen = "ours", True
        elif line.startswith(b"|||||||") and state == "ours":
            state = "base"
        elif state in ("ours", "base") and _is_separator(line):
            state = "theirs"
        elif line.startswith(b">>>>>>>") and state == "theirs":
            state = "both"
        elif state in ("both", "ours"):
            ours.append(line)
            if state == "both":
                theirs.append(line)
        elif state == "theirs":
            theirs.append(line)
    if not seen or state != "both":
        return None
    return b"".join(ours), b"".join(theirs)
