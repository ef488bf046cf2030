"""Finding tracked artifacts and reading their workspace state.

Shared by add, status, checkout and remove: which pointer files exist, which of
them the user selected, how a directory in the workspace is walked, and how a
workspace file's content hash is obtained (from the stat database when its
inode, size and mtime are unchanged; by reading it otherwise).
"""

from __future__ import annotations

import os
import re
import stat as stat_module
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from artver import git, hashing, listing
from artver import pointer as pointer_module
from artver.errors import ArtverError, UnsafePathError, UsageError
from artver.hashing import ByteCallback
from artver.listing import Entry
from artver.paths import check_artifact_path, check_no_symlink_escape, fs_name_ok
from artver.pointer import DirPointer, FilePointer, InlineListing, ListingRef, Pointer
from artver.repo import Repo
from artver.statcache import FileStat, StatCache, StatFields, StatKey, directory_signature


@dataclass(frozen=True)
class Part:
    """A file or folder inside a tracked directory that a command is limited to.

    ``path`` is relative to the directory. ``must_exist``: named by the user against the
    workspace pointer, so naming nothing in its listing is an error; a revision's pointer
    (--rev) holds whatever it holds, and a part it lacks simply selects nothing there."""

    path: str
    must_exist: bool = True


@dataclass(frozen=True)
class Tracked:
    """One artifact: its repository-relative path and its parsed pointer; for a directory
    selected only in part (``artver pull data/images/cats``), that part."""

    path: str
    pointer_path: str
    pointer: Pointer
    part: Part | None = None  # None: the whole artifact

    @property
    def selected_path(self) -> str:
        """What the selection names: the artifact, or the part inside it."""
        return self.path if self.part is None else f"{self.path}/{self.part.path}"


@dataclass(frozen=True, slots=True)
class WorkspaceFile:
    """One file found by a walk of a tracked folder. Its absolute path is not kept but made
    when asked for: a walk of millions of files keeps the folder's path once, not once per file."""

    relative: str  # inside the artifact directory
    folder: str  # the tracked folder, absolute, as a string (directories of a million files make pathlib too slow here)
    stat: FileStat  # not an os.stat_result: a walk of millions of files keeps one per file
    # A symlink's target (absolute, inside the tracked folder), whose stat ``stat`` is; None
    # for a regular file.
    target: str | None = None

    @property
    def path(self) -> str:
        """Absolute, as a string: the file's own path, or a symlink's target."""
        return self.target if self.target is not None else f"{self.folder}/{self.relative}"

    @property
    def absolute(self) -> Path:
        return Path(self.path)

    @property
    def executable(self) -> bool:
        return bool(self.stat.st_mode & stat_module.S_IXUSR)


def cli_path(repo: Repo, user_path: str) -> str:
    """Repository-relative path of a path the user typed (relative to the current directory)."""
    absolute = Path(os.path.abspath(user_path))
    parent = Path(os.path.realpath(absolute.parent))
    absolute = parent / absolute.name if absolute.name else parent
    try:
        relative = absolute.relative_to(repo.root)
    except ValueError:
        raise UsageError(f"{user_path}: outside the repository {repo.root}") from None
    return relative.as_posix() if relative.parts else "."


def artifact_of_argument(repo: Repo, user_path: str) -> str:
    """Accept either the artifact path or its pointer file path."""
    relative = cli_path(repo, user_path)
    if relative.endswith(pointer_module.SUFFIX) and relative != pointer_module.SUFFIX:
        return relative[: -len(pointer_module.SUFFIX)]
    return relative


def all_pointer_paths(repo: Repo) -> list[str]:
    return [
        path for path in git.pointer_files(repo.root, pointer_module.SUFFIX) if (repo.root / path).is_file()
    ]


def select(repo: Repo, user_paths: list[str] | None) -> list[Tracked]:
    """The tracked artifacts named by ``user_paths`` (an artifact, its pointer, a folder
    containing artifacts, or a file or folder inside a tracked directory); all of them when
    no path is given. A part of a directory comes back as a Tracked with that ``part``, one
    per part named (parts inside another part named, or inside a directory named whole, are
    dropped); it is checked against the listing here when the listing is at hand, else when
    the command has fetched it (selected_entries)."""
    pointer_paths = all_pointer_paths(repo)
    if not user_paths:
        return [load(repo, path) for path in pointer_paths]
    chosen: set[str] = set()
    parts: dict[str, list[str]] = {}  # pointer path -> paths inside that directory
    for user_path in user_paths:
        wanted = artifact_of_argument(repo, user_path)
        matches = [
            path
            for path in pointer_paths
            if wanted == "." or path[: -len(pointer_module.SUFFIX)] == wanted or path.startswith(wanted + "/")
        ]
        if matches:
            chosen.update(matches)
            continue
        inside = cli_path(repo, user_path)  # as typed: a file inside a directory may end in .art
        holder = _holder_of(inside, pointer_paths)
        if holder is None:
            raise UsageError(f"{user_path}: not a tracked artifact (no {wanted}{pointer_module.SUFFIX}); see 'artver add'")
        parts.setdefault(holder, []).append(part_of(holder[: -len(pointer_module.SUFFIX)], inside) or "")
    found = [load(repo, path) for path in sorted(chosen)]
    for pointer_path, inner_paths in sorted(parts.items()):
        if pointer_path in chosen:
            continue  # also named whole
        tracked = load(repo, pointer_path)
        if not isinstance(tracked.pointer, DirPointer):
            raise UsageError(f"{tracked.path}/{inner_paths[0]}: {tracked.path} is a tracked file, not a directory; "
                             f"name {tracked.path} itself")
        for inner in outermost(inner_paths):
            part = replace(tracked, part=Part(inner))
            if isinstance(tracked.pointer.content, InlineListing) or repo.cache.has(tracked.pointer.content.hash):
                selected_entries(repo, part)  # refuses a part that names nothing, before any work
            found.append(part)
    return found


def _holder_of(wanted: str, pointer_paths: list[str]) -> str | None:
    """The pointer of the tracked artifact ``wanted`` lies inside, if any (the deepest one)."""
    holders = set(pointer_paths)
    parts = wanted.split("/")
    for index in range(len(parts) - 1, 0, -1):
        candidate = "/".join(parts[:index]) + pointer_module.SUFFIX
        if candidate in holders:
            return candidate
    return None


def part_of(artifact: str, wanted: str) -> str | None:
    """The path inside the directory ``artifact`` that the repository path ``wanted`` names,
    or None if ``wanted`` is not inside it."""
    return wanted[len(artifact) + 1:] if wanted.startswith(artifact + "/") else None


def outermost(inner_paths: list[str]) -> list[str]:
    """The paths, sorted and without duplicates, less those inside another one."""
    kept: list[str] = []
    for path in sorted(set(inner_paths)):
        if not any(path.startswith(outer + "/") for outer in kept):
            kept.append(path)
    return kept


def selected_entries(repo: Repo, tracked: Tracked) -> tuple[Entry, ...]:
    """The entries of a directory that the selection covers: all of them, or those of its part
    (listing.under). A part that must exist and names nothing is refused with what the
    directory holds there. Raises ObjectMissingError like entries_of when the listing object
    is not in the cache."""
    pointer = tracked.pointer
    assert isinstance(pointer, DirPointer)
    entries = entries_of(repo, pointer, tracked.pointer_path)
    if tracked.part is None:
        return entries
    chosen = listing.under(entries, tracked.part.path)
    if not chosen and tracked.part.must_exist:
        raise UsageError(not_in_directory(tracked, entries))
    return chosen


def part_as_artifact(tracked: Tracked, entries: tuple[Entry, ...]) -> Tracked:
    """The selected part of a directory (``entries``: its selected_entries) as an artifact of
    its own at its own path: a file, or a folder listing the entries below it. What compares a
    whole artifact with the workspace then compares a part unchanged. (A file artifact has no
    executable bit: a caller that cares compares ``entries[0].executable`` itself.)"""
    if tracked.part is None:
        return tracked
    inner = tracked.part.path
    if len(entries) == 1 and entries[0].path == inner:
        return Tracked(tracked.selected_path, tracked.pointer_path, FilePointer(entries[0].hash, entries[0].size))
    cut = len(inner) + 1
    rerooted = tuple(entry._replace(path=entry.path[cut:]) for entry in entries)
    return Tracked(tracked.selected_path, tracked.pointer_path, DirPointer(InlineListing(rerooted)))


_NAMES_SHOWN = 6
_NAME_CHARS = 80  # a listing is untrusted: a name shown in a message is cut short


def not_in_directory(tracked: Tracked, entries: tuple[Entry, ...], at: str = "") -> str:
    """'DIR/PART: not in the tracked directory DIR [at REV] (FOLDER holds: a, b/ and 3 more)',
    naming the deepest folder on the way to PART that the listing has."""
    folder = tracked.part.path if tracked.part else ""
    while folder:
        folder = folder.rpartition("/")[0]
        inside = listing.under(entries, folder) if folder else ()
        if not folder or (inside and inside[0].path != folder):  # a folder the listing has (not a file)
            break
    names = [name if len(name) <= _NAME_CHARS else name[:_NAME_CHARS] + "..." for name in listing.names_in(entries, folder)]
    shown = ", ".join(names[:_NAMES_SHOWN]) + (f" and {len(names) - _NAMES_SHOWN} more" if len(names) > _NAMES_SHOWN else "")
    where = f"{tracked.path}/{folder}" if folder else "it"
    holds = f"{where} holds: {shown}" if names else "it is empty"
    revision = f" at {at}" if at else ""
    return f"{tracked.selected_path}: not in the tracked directory {tracked.path}{revision} ({holds})"


def load(repo: Repo, pointer_path: str) -> Tracked:
    artifact = pointer_path[: -len(pointer_module.SUFFIX)]
    check_artifact_path(artifact, pointer_path)
    parsed = pointer_module.read_pointer(repo.root / pointer_path, pointer_path)
    return Tracked(artifact, pointer_path, parsed)


def entries_of(repo: Repo, pointer: DirPointer, where: str) -> tuple[Entry, ...]:
    """A directory's listing, inline or from its listing object in the cache (``where``, the
    pointer's path, names it in errors)."""
    content = pointer.content
    if isinstance(content, InlineListing):
        return content.entries
    parsed = repo.parsed_listings.get(content.hash)
    if parsed is None:
        label = f"{where} (listing {hashing.short(content.hash)})"
        # The bytes are let go once decoded: a listing of millions of paths is held once while parsed.
        parsed = listing.from_object_text(listing.object_text(repo.cache.read_bytes(content.hash, where), label), label)
        repo.parsed_listings[content.hash] = parsed
    return parsed


def content_hash_of(tracked: Tracked, repo: Repo) -> str:
    """The artifact's identity: a file's hash, a directory's listing hash."""
    pointer = tracked.pointer
    if isinstance(pointer, FilePointer):
        return pointer.hash
    if isinstance(pointer.content, ListingRef):
        return pointer.content.hash
    return listing.identity(pointer.content.entries, repo.algorithm)


_BAD_NAME = re.compile(r"[\x00-\x1f\x7f\\]")


def walk_directory(root: Path, display: str, boundary: Path | None = None) -> list[WorkspaceFile]:
    """Every file below ``root``, sorted. Symlinks to files inside ``boundary`` (default:
    ``root``; the tracked folder when ``root`` is a folder inside it) count as the file they
    point to; symlinks that leave it, point to folders, or are broken are refused.

    No name is skipped: whatever is in a tracked folder is the user's, even a name that
    looks like an artver temp file. The temp files of killed artver processes are found
    through their owners' records and deleted (under the repository lock, before add or
    checkout walk the folder), never by their names alone (see tempfiles). A walk without
    the lock (status) may meet the temp files of a checkout running at that moment, as it
    may meet that checkout's half-updated folder."""
    found = list(walk_unsorted(root, display, boundary))
    found.sort(key=lambda item: item.relative)
    return found


def walk_unsorted(root: Path, display: str, boundary: Path | None = None) -> Iterator[WorkspaceFile]:
    """walk_directory's files as they are found, in no particular order, with its checks: for a
    caller that needs each file once and not all of them at once (a folder's signature)."""
    real_root = Path(os.path.realpath(boundary or root))
    folder = str(root)
    pending = [("", folder)]
    # Device and mode are the same few numbers for every file: one int object each, shared,
    # instead of two per file (a walk of millions of files keeps every stat).
    shared: dict[int, int] = {}
    while pending:
        prefix, directory = pending.pop()
        try:
            iterator = os.scandir(directory)
        except OSError as error:
            raise ArtverError(f"{display}/{prefix}: cannot read folder ({error.strerror})") from None
        with iterator:
            for item in iterator:
                name = item.name
                relative = prefix + name
                if not name.isascii() and not fs_name_ok(name):
                    raise UsageError(f"{os.fsencode(display + '/' + relative)!r}: file name is not valid UTF-8; rename it to track it")
                if _BAD_NAME.search(name):
                    raise UsageError(
                        f"{display + '/' + relative!r}: file name contains a backslash or control character; rename it to track it"
                    )
                if item.is_file(follow_symlinks=False):  # the common case first: one d_type test
                    found = item.stat(follow_symlinks=False)
                    yield WorkspaceFile(relative, folder, FileStat(
                        shared.setdefault(found.st_dev, found.st_dev), found.st_ino, found.st_size, found.st_mtime_ns,
                        shared.setdefault(found.st_mode, found.st_mode)))
                elif item.is_symlink():
                    yield _symlinked_file(item.path, real_root, folder, relative, f"{display}/{relative}")
                elif item.is_dir(follow_symlinks=False):
                    pending.append((relative + "/", item.path))
                else:
                    raise UsageError(f"{display}/{relative}: not a regular file (device, socket or pipe); artver tracks only files")


@dataclass(frozen=True)
class ChangedFolder:
    """A tracked folder whose signature did not match: its files, sorted, and the signature
    of exactly those stats (None if some file is too recent to trust)."""

    files: list[WorkspaceFile]
    signature: str | None


def walk_if_changed(stats: StatCache, folder: Path, path: str, identity: str) -> ChangedFolder | None:
    """None if the folder at ``path`` has the signature recorded when it last matched
    ``identity``; else its files. The signature is first taken from a walk that keeps nothing
    (an unchanged folder of millions of files costs a stat each, not a list of them); only a
    changed folder is walked again into a list, and its signature is taken from that list,
    which is what the caller compares (the folder may have changed in between)."""
    signature = directory_signature((item.relative, item.stat) for item in walk_unsorted(folder, path))
    if signature is not None and stats.directory_matches(path, identity, signature):
        return None
    files = walk_directory(folder, path)
    return ChangedFolder(files, directory_signature((item.relative, item.stat) for item in files))


def walk_part(folder: Path, display: str, part: str) -> list[WorkspaceFile]:
    """The files of the tracked folder ``folder`` (``display`` names it) at or below ``part``, a
    path inside it, as walk_directory would list them (paths relative to ``folder``), without
    walking the rest of the folder. A symlinked folder on the way to ``part`` is refused: what
    is below it lies elsewhere."""
    target = check_no_symlink_escape(folder, part, display)
    try:
        found = os.lstat(target)
    except (FileNotFoundError, NotADirectoryError):
        return []  # absent, or a file is where a folder on the way should be
    if stat_module.S_ISREG(found.st_mode):
        return [WorkspaceFile(part, str(folder), FileStat.of(found))]
    if stat_module.S_ISLNK(found.st_mode):
        return [_symlinked_file(str(target), Path(os.path.realpath(folder)), str(folder), part, f"{display}/{part}")]
    if stat_module.S_ISDIR(found.st_mode):
        return [WorkspaceFile(f"{part}/{item.relative}", str(folder), item.stat, item.target)
                for item in walk_directory(target, f"{display}/{part}", folder)]
    raise UsageError(f"{display}/{part}: not a regular file (device, socket or pipe); artver tracks only files")


def _symlinked_file(path: str, real_root: Path, folder: str, relative: str, where: str) -> WorkspaceFile:
    target = Path(os.path.realpath(path))
    if not target.is_relative_to(real_root):
        raise UnsafePathError(f"{where}: symlink points outside the tracked folder (to {target}); replace it by a copy or remove it")
    if not target.exists():
        raise UsageError(f"{where}: broken symlink; remove it or fix its target")
    if target.is_dir():
        raise UsageError(f"{where}: symlink to a folder; artver stores files only (replace the link by the folder)")
    return WorkspaceFile(relative, folder, FileStat.of(target.stat()), str(target))


class Preloaded(Protocol):
    """Stat entries of many paths: a dict, or the database's rows read in order (RowsInOrder)."""

    def get(self, path: str, /) -> tuple[StatKey, str] | None: ...


@dataclass
class Hasher:
    """Gets content hashes of workspace files, trusting the stat database where it can."""

    repo: Repo
    stats: StatCache
    on_bytes: ByteCallback | None = None

    def known(self, relative: str, stat: StatFields, preloaded: Preloaded | None = None) -> str | None:
        """The recorded hash if the file's inode, size and mtime are unchanged, else None."""
        key = StatKey.of(stat)
        if preloaded is not None:
            hit = preloaded.get(relative)
            hash_value = hit[1] if hit is not None and hit[0] == key else None
        else:
            hash_value = self.stats.lookup(relative, key)
        if hash_value is not None and hashing.algorithm_of(hash_value) == self.repo.algorithm:
            return hash_value
        return None

    def hash(self, relative: str, absolute: Path | str, stat: StatFields, preloaded: Preloaded | None = None) -> str:
        cached = self.known(relative, stat, preloaded)
        if cached is not None:
            return cached
        hash_value, _ = hashing.hash_file(absolute, self.repo.algorithm, self.on_bytes)
        self.stats.record(relative, StatKey.of(stat), hash_value)
        return hash_value

    def record(self, relative: str, stat: StatFields, hash_value: str) -> None:
        self.stats.record(relative, StatKey.of(stat), hash_value)


def open_stats(repo: Repo) -> StatCache:
    return StatCache(repo.state_db)


def required_objects(repo: Repo, items: list[Tracked]) -> tuple[dict[str, int], list[str]]:
    """Every object the artifacts need (hash -> size), and the listing objects that are
    not in the cache (their entries cannot be known until they are fetched)."""
    objects: dict[str, int] = {}
    unknown_listings: list[str] = []
    cache = repo.cache
    for item in items:
        pointer = item.pointer
        if isinstance(pointer, FilePointer):
            objects[pointer.hash] = pointer.size
            continue
        if isinstance(pointer.content, ListingRef):
            objects.setdefault(pointer.content.hash, 0)
            if not cache.has(pointer.content.hash):
                unknown_listings.append(pointer.content.hash)
                continue
        for entry in selected_entries(repo, item):
            objects[entry.hash] = entry.size
    return objects, sorted(set(unknown_listings))


def listing_members(repo: Repo, items: list[Tracked]) -> dict[str, frozenset[str]]:
    """For each directory stored with a listing object in the cache: the file objects it lists
    (all of them, whatever part of the directory is selected)."""
    members = {}
    for item in items:
        pointer = item.pointer
        if not isinstance(pointer, DirPointer) or not isinstance(pointer.content, ListingRef):
            continue
        if repo.cache.has(pointer.content.hash):
            members[pointer.content.hash] = frozenset(entry.hash for entry in entries_of(repo, pointer, item.pointer_path))
    return members


def partly_selected_listings(repo: Repo, items: list[Tracked]) -> dict[str, frozenset[str]]:
    """The listing objects (in the cache) of directories that ``items`` select only in part,
    with every file object each one lists. Such a listing may go to a remote only once the
    remote holds all those files (docs/design.md, "Write ordering"): a push of a part must not
    upload it on the strength of the part's files alone."""
    whole = {item.pointer.content.hash for item in items
             if item.part is None and isinstance(item.pointer, DirPointer) and isinstance(item.pointer.content, ListingRef)}
    members = listing_members(repo, [item for item in items if item.part is not None])
    return {listing_hash: files for listing_hash, files in members.items() if listing_hash not in whole}


def entries_fetching_listing(
    repo: Repo, pointer: DirPointer, where: str, remote: str | None = None
) -> tuple[Entry, ...]:
    """Like entries_of, but a listing missing from the cache is fetched from the remote
    (the named one, else the default one, if any). Only listings, never data."""
    from artver.errors import ObjectMissingError

    content = pointer.content
    if isinstance(content, InlineListing):
        return content.entries
    try:
        return entries_of(repo, pointer, where)
    except ObjectMissingError:
        from artver import transfer

        try:
            session = transfer.open_session(repo, remote, 1)
        except ArtverError:
            raise ObjectMissingError(
                f"{where}: listing {hashing.short(content.hash)} is not in the cache "
                f"and no remote is configured to fetch it from"
            ) from None
        transfer.download_verified(repo.cache, session.storage, content.hash, packed=session.packed)
        return entries_of(repo, pointer, where)


def workspace_pointers(repo: Repo) -> dict[str, Tracked]:
    return {item.path: item for item in select(repo, None)}
