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
from dataclasses import dataclass
from pathlib import Path

from artver import git, hashing, listing
from artver import pointer as pointer_module
from artver.errors import ArtverError, UnsafePathError, UsageError
from artver.hashing import ByteCallback
from artver.listing import Entry
from artver.paths import check_artifact_path, fs_name_ok
from artver.pointer import DirPointer, FilePointer, InlineListing, ListingRef, Pointer
from artver.repo import Repo
from artver.statcache import StatCache, StatKey


@dataclass(frozen=True)
class Tracked:
    """One artifact: its repository-relative path and its parsed pointer."""

    path: str
    pointer_path: str
    pointer: Pointer


@dataclass(frozen=True)
class WorkspaceFile:
    relative: str  # inside the artifact directory
    path: str  # absolute, as a string: directories of a million files make pathlib too slow here
    stat: os.stat_result

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
    """The tracked artifacts named by ``user_paths`` (an artifact, its pointer, or a folder
    containing artifacts); all of them when no path is given."""
    pointer_paths = all_pointer_paths(repo)
    if user_paths:
        chosen: set[str] = set()
        for user_path in user_paths:
            wanted = artifact_of_argument(repo, user_path)
            matches = [
                path
                for path in pointer_paths
                if wanted == "." or path[: -len(pointer_module.SUFFIX)] == wanted or path.startswith(wanted + "/")
            ]
            if not matches:
                raise UsageError(f"{user_path}: not a tracked artifact (no {wanted}{pointer_module.SUFFIX}); see 'artver add'")
            chosen.update(matches)
        pointer_paths = sorted(chosen)
    return [load(repo, path) for path in pointer_paths]


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
        data = repo.cache.read_bytes(content.hash, where)
        parsed = listing.from_object_bytes(data, f"{where} (listing {hashing.short(content.hash)})")
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


def walk_directory(root: Path, display: str) -> list[WorkspaceFile]:
    """Every file below ``root``, sorted. Symlinks to files inside ``root`` count as the
    file they point to; symlinks that leave ``root``, point to folders, or are broken are refused.

    No name is skipped: whatever is in a tracked folder is the user's, even a name that
    looks like an artver temp file. The temp files of killed artver processes are found
    through their owners' records and deleted (under the repository lock, before add or
    checkout walk the folder), never by their names alone (see tempfiles). A walk without
    the lock (status) may meet the temp files of a checkout running at that moment, as it
    may meet that checkout's half-updated folder."""
    real_root = Path(os.path.realpath(root))
    found: list[WorkspaceFile] = []
    pending = [("", str(root))]
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
                    found.append(WorkspaceFile(relative, item.path, item.stat(follow_symlinks=False)))
                elif item.is_symlink():
                    found.append(_symlinked_file(item, real_root, relative, f"{display}/{relative}"))
                elif item.is_dir(follow_symlinks=False):
                    pending.append((relative + "/", item.path))
                else:
                    raise UsageError(f"{display}/{relative}: not a regular file (device, socket or pipe); artver tracks only files")
    found.sort(key=lambda item: item.relative)
    return found


def _symlinked_file(item: os.DirEntry[str], real_root: Path, relative: str, where: str) -> WorkspaceFile:
    target = Path(os.path.realpath(item.path))
    if not target.is_relative_to(real_root):
        raise UnsafePathError(f"{where}: symlink points outside the tracked folder (to {target}); replace it by a copy or remove it")
    if not target.exists():
        raise UsageError(f"{where}: broken symlink; remove it or fix its target")
    if target.is_dir():
        raise UsageError(f"{where}: symlink to a folder; artver stores files only (replace the link by the folder)")
    return WorkspaceFile(relative, str(target), target.stat())


Preloaded = dict[str, tuple[StatKey, str]]


@dataclass
class Hasher:
    """Gets content hashes of workspace files, trusting the stat database where it can."""

    repo: Repo
    stats: StatCache
    on_bytes: ByteCallback | None = None

    def known(self, relative: str, stat: os.stat_result, preloaded: Preloaded | None = None) -> str | None:
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

    def hash(self, relative: str, absolute: Path | str, stat: os.stat_result, preloaded: Preloaded | None = None) -> str:
        cached = self.known(relative, stat, preloaded)
        if cached is not None:
            return cached
        hash_value, _ = hashing.hash_file(absolute, self.repo.algorithm, self.on_bytes)
        self.stats.record(relative, StatKey.of(stat), hash_value)
        return hash_value

    def record(self, relative: str, stat: os.stat_result, hash_value: str) -> None:
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
        for entry in entries_of(repo, pointer, item.pointer_path):
            objects[entry.hash] = entry.size
    return objects, sorted(set(unknown_listings))


def listing_members(repo: Repo, items: list[Tracked]) -> dict[str, frozenset[str]]:
    """For each directory stored with a listing object in the cache: the file objects it lists."""
    members = {}
    for item in items:
        pointer = item.pointer
        if not isinstance(pointer, DirPointer) or not isinstance(pointer.content, ListingRef):
            continue
        if repo.cache.has(pointer.content.hash):
            members[pointer.content.hash] = frozenset(entry.hash for entry in entries_of(repo, pointer, item.pointer_path))
    return members


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
