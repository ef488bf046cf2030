"""artver add: store files and folders in the cache and write their pointer files."""

from __future__ import annotations

import os
import stat as stat_module
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from artver import file_lock, git, gitignore, listing, verification, workspace
from artver import pointer as pointer_module
from artver import source as source_module
from artver.artifacts import Hasher, WorkspaceFile, all_pointer_paths, cli_path, open_stats, walk_directory
from artver.cache import Stored
from artver.errors import PointerConflictError, PointerError, UnsafePathError, UsageError
from artver.listing import Entry
from artver.paths import check_relative, own_folder_in, reserved_name_in
from artver.pointer import Pointer
from artver.progress import NO_PROGRESS, Progress
from artver.repo import Repo
from artver.statcache import FileStat, StatFields

ADD_THREADS = 4
ADD_WINDOW = 1024  # files submitted to the threads at a time


@dataclass(frozen=True)
class _Planned:
    """An artifact whose content is in the cache, and the pointer that will record it."""

    relative: str
    pointer: Pointer
    identity: str
    size: int
    files: int


@dataclass(frozen=True)
class AddResult:
    path: str
    pointer_path: str
    kind: str
    hash: str
    size: int
    files: int
    changed: bool
    gitignore: str | None  # the .gitignore artver changed, if any


def parse_meta(items: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """``KEY=VALUE`` strings from the command line."""
    pairs = []
    for item in items:
        key, separator, value = item.partition("=")
        if not separator:
            raise UsageError(f"--meta {item!r}: expected KEY=VALUE")
        try:
            pairs.append((pointer_module.check_meta_key(key, "--meta"), value))
        except PointerError as error:
            raise UsageError(str(error)) from None
    return tuple(pairs)


def add(
    repo: Repo,
    paths: list[str],
    desc: str | None = None,
    meta: tuple[tuple[str, str], ...] = (),
    progress: Progress = NO_PROGRESS,
) -> list[AddResult]:
    if not paths:
        raise UsageError("nothing to add: name the files or folders to track")
    relatives = list(dict.fromkeys(cli_path(repo, path) for path in paths))
    with file_lock.locked(repo.lock_path, repo.lock_timeout):
        ignore_homes = _check_addable(repo, relatives, paths)
        repo.cache.remove_stale_temps()
        with open_stats(repo) as stats:
            hasher = Hasher(repo, stats, progress.advance)
            # Every artifact is in the cache before the first pointer is written: an add
            # refused half-way (a file changing, an unreadable file) records nothing.
            planned = [_store(repo, relative, hasher, progress) for relative in relatives]
        return [_record(repo, plan, desc, meta, ignore_homes[plan.relative]) for plan in planned]


def _check_addable(repo: Repo, relatives: list[str], user_paths: list[str]) -> dict[str, tuple[str, str]]:
    """Refuse paths that cannot be tracked; for each path, where its ignore rule goes
    (a .gitignore and the line, see gitignore.home_of)."""
    pointers = {path[: -len(pointer_module.SUFFIX)] for path in all_pointer_paths(repo)}
    for relative, user_path in zip(relatives, user_paths):
        absolute = repo.root / relative
        parts = relative.split("/")
        if relative == ".":
            raise UsageError(f"{user_path}: cannot track the whole repository; name a file or folder inside it")
        # .git, .artver, .gitignore, ... in every spelling a filesystem resolves to them
        if own_folder_in(relative) is not None:
            raise UsageError(f"{user_path}: inside {reserved_name_in(relative)}, which artver never tracks")
        git_file = reserved_name_in(relative)
        if git_file:
            raise UsageError(f"{user_path}: Git reads {git_file} files itself, so artver never tracks one; commit it with Git")
        try:
            check_relative(relative, user_path)
        except UnsafePathError:
            raise UsageError(
                f"{user_path!r}: the name contains a backslash or a control character, which a pointer cannot hold; rename it"
            ) from None
        if len(os.fsencode(absolute.name + pointer_module.SUFFIX)) > 255:
            raise UsageError(
                f"{user_path}: the name is too long for its pointer file ({absolute.name[:40]}...{pointer_module.SUFFIX} "
                f"would exceed 255 bytes); shorten it by at least {len(os.fsencode(absolute.name)) + 4 - 255} bytes"
            )
        for other in relatives:
            if other != relative and relative.startswith(other + "/"):
                raise UsageError(f"{user_path}: is inside {other}, also being added; add only {other}")
        if relative.endswith(pointer_module.SUFFIX):
            raise UsageError(f"{user_path}: is an artver pointer file; add the artifact itself")
        if not os.path.lexists(absolute):
            raise UsageError(f"{user_path}: no such file or folder")
        if absolute.is_symlink() and not workspace.is_link_into(absolute, repo.cache):
            raise UsageError(f"{user_path}: is a symlink; add the file or folder it points to instead")
        if not (absolute.is_file() or absolute.is_dir()):
            raise UsageError(f"{user_path}: not a regular file or folder")
        for index in range(1, len(parts)):
            ancestor = "/".join(parts[:index])
            if ancestor in pointers:
                raise UsageError(
                    f"{user_path}: inside the tracked folder {ancestor}; re-add {ancestor} to record its changes"
                )
        inner = sorted(path for path in pointers if path.startswith(relative + "/"))
        if inner:
            raise UsageError(
                f"{user_path}: contains the tracked artifact {inner[0]}; run 'artver remove {inner[0]}' first"
            )
    ignored = git.ignored(repo.root, [relative + pointer_module.SUFFIX for relative in relatives])
    for relative, user_path in zip(relatives, user_paths):
        if relative + pointer_module.SUFFIX in ignored:
            raise UsageError(
                f"{user_path}: its pointer {relative}{pointer_module.SUFFIX} would be ignored by Git's ignore rules, "
                f"so it could not be committed; un-ignore it (e.g. '!{relative}{pointer_module.SUFFIX}' in .gitignore) or "
                f"track a path outside the ignored folder"
            )
    tracked = git.tracked_under(repo.root, relatives)
    for relative, user_path in zip(relatives, user_paths):
        if any(path == relative or path.startswith(relative + "/") for path in tracked):
            raise UsageError(
                f"{user_path}: Git already tracks it; run 'git rm -r --cached {relative}' first to hand it to artver"
            )
    # artver never edits data it tracks: a rule goes to a .gitignore that is no artifact.
    artifacts = pointers | set(relatives)
    homes = {}
    for relative, user_path in zip(relatives, user_paths):
        home = gitignore.home_of(relative, artifacts)
        if home is None:
            raise UsageError(
                f"{user_path}: the top-level {gitignore.NAME} is tracked by artver, so no {gitignore.NAME} is left to "
                f"keep {relative} out of Git; run 'artver remove {gitignore.NAME}' and commit that file with Git"
            )
        homes[relative] = home
    return homes


def _existing_pointer(path: Path, where: str) -> Pointer | None:
    if not path.exists():
        return None
    try:
        return pointer_module.read_pointer(path, where)
    except PointerConflictError:
        raise  # re-adding would record one branch's data and silently drop the other's changes
    except PointerError:
        return None  # a broken pointer is about to be rewritten from the data


def _store(repo: Repo, relative: str, hasher: Hasher, progress: Progress) -> _Planned:
    """Put the artifact's content in the cache; the pointer that records it (without
    user data). Size and hash are those of the bytes stored."""
    absolute = repo.root / relative
    pointer_relative = relative + pointer_module.SUFFIX
    if absolute.is_dir() and not absolute.is_symlink():
        new = _add_directory(repo, relative, absolute, hasher, progress)
        entries = _entries(repo, new)
        return _Planned(relative, new, listing.identity(entries, repo.algorithm), listing.total_size(entries), len(entries))
    old = _existing_pointer(pointer_module.pointer_path_of(absolute), pointer_relative)
    stored = _add_file(repo, relative, absolute, old, hasher, progress)
    return _Planned(relative, stored, stored.hash, stored.size, 1)


def _record(repo: Repo, plan: _Planned, desc: str | None, meta: tuple[tuple[str, str], ...],
            ignore_home: tuple[str, str]) -> AddResult:
    """Write the pointer (keeping the old one's description and metadata unless given)
    and the ignore rule."""
    absolute = repo.root / plan.relative
    pointer_path = pointer_module.pointer_path_of(absolute)
    pointer_relative = plan.relative + pointer_module.SUFFIX
    old = _existing_pointer(pointer_path, pointer_relative)
    kept_desc = desc if desc is not None else (old.desc if old else None)
    kept_meta = dict(old.meta if old else ())
    kept_meta.update(meta)
    new = plan.pointer.with_user_data(kept_desc, tuple(kept_meta.items()))
    changed = pointer_module.write_pointer(pointer_path, new)
    ignore_file, pattern = ignore_home
    ignore_changed = gitignore.add(repo.root, ignore_file, pattern)
    return AddResult(
        path=plan.relative,
        pointer_path=pointer_relative,
        kind=new.kind,
        hash=plan.identity,
        size=plan.size,
        files=plan.files,
        changed=changed,
        gitignore=ignore_file if ignore_changed else None,
    )


def _entries(repo: Repo, new: pointer_module.DirPointer) -> tuple[Entry, ...]:
    if isinstance(new.content, pointer_module.InlineListing):
        return new.content.entries
    return listing.from_object_bytes(repo.cache.read_bytes(new.content.hash, "listing"), "listing")


def _check_unchanged(path: Path | str, seen: StatFields, display: str) -> None:
    """Before a workspace file is replaced by a link to the cache: it must still be the
    file whose bytes were stored, or a write that landed after the read would be lost.
    (Not ctime: storing an object can unlink a cache name of this very inode.)"""
    now = source_module.lstat(os.fspath(path), display)
    if (now.st_dev, now.st_ino, now.st_size, now.st_mtime_ns) != (seen.st_dev, seen.st_ino, seen.st_size, seen.st_mtime_ns):
        raise source_module.changed(display)


def _add_file(repo: Repo, relative: str, absolute: Path, old: Pointer | None, hasher: Hasher,
              progress: Progress) -> pointer_module.FilePointer:
    cache = repo.cache
    linked = workspace.is_link_into(absolute, cache)  # cache.link = symlink: read the object it points to
    source = os.path.realpath(absolute) if linked else str(absolute)
    stat = source_module.lstat(source, relative)
    seen = stat  # the stat of the content the pointer will record
    hash_value = hasher.known(relative, stat)
    if hash_value is None or not cache.has(hash_value):
        progress.start(f"Adding {relative}", stat.st_size)
        hash_value = None
        if isinstance(old, pointer_module.FilePointer) and old.size == stat.st_size and cache.has(old.hash):
            # Probably unchanged but too recent for the stat database: a read-only check avoids a copy.
            snapshot = source_module.hash_snapshot(source, relative, stat, repo.algorithm, progress.advance)
            hasher.record(relative, snapshot.stat, snapshot.hash)
            if snapshot.hash == old.hash:
                hash_value, seen = snapshot.hash, snapshot.stat
        if hash_value is None:
            stored = cache.add_file(source, progress.advance, relative, stat)
            hash_value, seen = stored.hash, stored.source_stat
            hasher.record(relative, seen, hash_value)
            verification.mark(repo, hasher.stats, [hash_value])
        progress.finish()
    if repo.link_modes[0] in ("hardlink", "symlink") and not linked:
        _check_unchanged(absolute, seen, relative)
        placed = workspace.materialize(cache, hash_value, absolute, executable=False, modes=repo.link_modes)
        hasher.record(relative, placed, hash_value)
    return pointer_module.file_pointer(hash_value, seen.st_size)


def _add_directory(repo: Repo, relative: str, absolute: Path, hasher: Hasher,
                   progress: Progress) -> pointer_module.DirPointer:
    cache = repo.cache
    files = walk_directory(absolute, relative)
    listing.check_names_to_add([item.relative for item in files], relative)
    known = hasher.stats.under(relative)
    # Per file: its hash and the stat of the content hashed (from the scan if the stat
    # database knew it, else from the read that stored it).
    resolved: dict[str, tuple[str, StatFields]] = {}
    for item in files:
        path = f"{relative}/{item.relative}"
        hash_value = hasher.known(path, item.stat, known)
        if hash_value is not None and cache.has(hash_value):
            resolved[item.relative] = (hash_value, item.stat)
    pending = [item for item in files if item.relative not in resolved]
    if pending:
        progress.start(f"Adding {relative}", sum(item.stat.st_size for item in pending))

        def store(item: WorkspaceFile) -> Stored:
            return cache.add_file(item.path, progress.advance, f"{relative}/{item.relative}", item.stat)

        # Small files are dominated by opening and creating files, which the kernel does in
        # parallel: a few threads use the second core (hashing releases the GIL too).
        # Submitted a window at a time: a future per file of a folder of millions, all at
        # once, held hundreds of MiB.
        with ThreadPoolExecutor(max_workers=ADD_THREADS) as pool:
            for start in range(0, len(pending), ADD_WINDOW):
                futures: list[tuple[WorkspaceFile, Future[Stored]]] = [
                    (item, pool.submit(store, item)) for item in pending[start:start + ADD_WINDOW]]
                try:
                    for item, future in futures:
                        stored = future.result()
                        hasher.record(f"{relative}/{item.relative}", stored.source_stat, stored.hash)
                        resolved[item.relative] = (stored.hash, FileStat.of(stored.source_stat))
                except BaseException:
                    for _, future in futures:
                        future.cancel()  # one refusal ends the add: read no more files
                    raise
        verification.mark(repo, hasher.stats, [resolved[item.relative][0] for item in pending])
        progress.finish()

    def entry_of(item: WorkspaceFile) -> Entry:
        hash_value, stat = resolved[item.relative]
        return Entry(item.relative, hash_value, stat.st_size, bool(stat.st_mode & stat_module.S_IXUSR))

    entries = listing.check_entries((entry_of(item) for item in files), relative)
    if repo.link_modes[0] in ("hardlink", "symlink"):
        # As for a single file: the workspace shares the (read-only) cache object instead of a copy.
        for entry in entries:
            target = absolute / entry.path
            if target.is_symlink() or (entry.executable and repo.link_modes[0] == "hardlink"):
                continue
            display = f"{relative}/{entry.path}"
            _check_unchanged(target, resolved[entry.path][1], display)
            placed = workspace.materialize(cache, entry.hash, target, entry.executable, repo.link_modes)
            hasher.record(display, placed, entry.hash)
    if len(entries) > repo.inline_max:
        listing_hash = cache.add_bytes(listing.to_object_bytes(entries), f"the listing of {relative}")
        return pointer_module.dir_pointer(entries, listing_hash)
    return pointer_module.dir_pointer(entries)
