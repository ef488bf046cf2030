"""artver add: store files and folders in the cache and write their pointer files."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from artver import file_lock, git, gitignore, listing, verification, workspace
from artver import pointer as pointer_module
from artver.artifacts import Hasher, WorkspaceFile, all_pointer_paths, cli_path, open_stats, walk_directory
from artver.errors import PointerError, UnsafePathError, UsageError
from artver.paths import check_relative, reserved_name_in
from artver.listing import Entry
from artver.pointer import Pointer
from artver.progress import NO_PROGRESS, Progress
from artver.repo import Repo


ADD_THREADS = 4


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
        _check_addable(repo, relatives, paths)
        repo.cache.remove_stale_temps()
        with open_stats(repo) as stats:
            hasher = Hasher(repo, stats, progress.advance)
            return [_add_one(repo, relative, desc, meta, hasher, progress) for relative in relatives]


def _check_addable(repo: Repo, relatives: list[str], user_paths: list[str]) -> None:
    pointers = {path[: -len(pointer_module.SUFFIX)] for path in all_pointer_paths(repo)}
    for relative, user_path in zip(relatives, user_paths):
        absolute = repo.root / relative
        parts = relative.split("/")
        if relative == ".":
            raise UsageError(f"{user_path}: cannot track the whole repository; name a file or folder inside it")
        reserved = reserved_name_in(relative)  # .git, .artver, .gitignore, ... in every spelling a filesystem resolves to them
        if reserved:
            raise UsageError(f"{user_path}: inside {reserved}, which artver never tracks")
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


def _existing_pointer(path: Path, where: str) -> Pointer | None:
    if not path.exists():
        return None
    try:
        return pointer_module.read_pointer(path, where)
    except PointerError:
        return None  # a broken pointer is about to be rewritten from the data


def _add_one(
    repo: Repo,
    relative: str,
    desc: str | None,
    meta: tuple[tuple[str, str], ...],
    hasher: Hasher,
    progress: Progress,
) -> AddResult:
    absolute = repo.root / relative
    pointer_path = pointer_module.pointer_path_of(absolute)
    pointer_relative = relative + pointer_module.SUFFIX
    old = _existing_pointer(pointer_path, pointer_relative)
    if absolute.is_dir() and not absolute.is_symlink():
        new = _add_directory(repo, relative, absolute, hasher, progress)
        entries = _entries(repo, new)
        identity = listing.identity(entries, repo.algorithm)
        size, count = listing.total_size(entries), len(entries)
    else:
        new = _add_file(repo, relative, absolute, old, hasher, progress)
        assert new.hash is not None and new.size is not None
        identity, size, count = new.hash, new.size, 1
    kept_desc = desc if desc is not None else (old.desc if old else None)
    kept_meta = dict(old.meta if old else ())
    kept_meta.update(meta)
    new = new.with_user_data(kept_desc, tuple(kept_meta.items()))
    changed = pointer_module.write_pointer(pointer_path, new)
    ignore_changed = gitignore.add(absolute.parent, absolute.name)
    parent = absolute.parent.relative_to(repo.root).as_posix()
    ignore_path = ".gitignore" if parent == "." else f"{parent}/.gitignore"
    return AddResult(
        path=relative,
        pointer_path=pointer_relative,
        kind=new.kind,
        hash=identity,
        size=size,
        files=count,
        changed=changed,
        gitignore=ignore_path if ignore_changed else None,
    )


def _entries(repo: Repo, new: Pointer) -> tuple[Entry, ...]:
    if new.entries is not None:
        return new.entries
    assert new.listing is not None
    return listing.from_object_bytes(repo.cache.read_bytes(new.listing, "listing"), "listing")


def _add_file(repo: Repo, relative: str, absolute: Path, old: Pointer | None, hasher: Hasher, progress: Progress) -> Pointer:
    cache = repo.cache
    stat = absolute.stat()
    hash_value = hasher.known(relative, stat)
    if hash_value is None or not cache.has(hash_value):
        progress.start(f"Adding {relative}", stat.st_size)
        hash_value = None
        if old is not None and old.kind == "file" and old.size == stat.st_size and old.hash and cache.has(old.hash):
            # Probably unchanged but too recent for the stat database: a read-only check avoids a copy.
            candidate = hasher.hash(relative, absolute, stat)
            hash_value = candidate if candidate == old.hash else None
        if hash_value is None:
            hash_value, _ = cache.add_file(absolute, progress.advance)
            hasher.record(relative, stat, hash_value)
            verification.mark(repo, hasher.stats, [hash_value])
        progress.finish()
    if repo.link_modes[0] in ("hardlink", "symlink") and not workspace.is_link_into(absolute, cache):
        placed = workspace.materialize(cache, hash_value, absolute, executable=False, modes=repo.link_modes)
        hasher.record(relative, placed, hash_value)
    return pointer_module.file_pointer(hash_value, stat.st_size)


def _add_directory(repo: Repo, relative: str, absolute: Path, hasher: Hasher, progress: Progress) -> Pointer:
    cache = repo.cache
    files = walk_directory(absolute, relative)
    listing.check_names_to_add([item.relative for item in files], relative)
    known = hasher.stats.under(relative)
    resolved: dict[str, str] = {}
    for item in files:
        path = f"{relative}/{item.relative}"
        hash_value = hasher.known(path, item.stat, known)
        if hash_value is not None and cache.has(hash_value):
            resolved[item.relative] = hash_value
    pending = [item for item in files if item.relative not in resolved]
    if pending:
        progress.start(f"Adding {relative}", sum(item.stat.st_size for item in pending))
        def store(item: WorkspaceFile) -> tuple[WorkspaceFile, str]:
            return item, cache.add_file(item.path, progress.advance)[0]

        # Small files are dominated by opening and creating files, which the kernel does in
        # parallel: a few threads use the second core (hashing releases the GIL too).
        with ThreadPoolExecutor(max_workers=ADD_THREADS) as pool:
            for item, hash_value in pool.map(store, pending):
                hasher.record(f"{relative}/{item.relative}", item.stat, hash_value)
                resolved[item.relative] = hash_value
        verification.mark(repo, hasher.stats, [resolved[item.relative] for item in pending])
        progress.finish()
    entries = listing.check_entries(
        (Entry(item.relative, resolved[item.relative], item.stat.st_size, item.executable) for item in files),
        relative,
    )
    if repo.link_modes[0] in ("hardlink", "symlink"):
        # As for a single file: the workspace shares the (read-only) cache object instead of a copy.
        for item in files:
            target = absolute / item.relative
            if target.is_symlink() or (item.executable and repo.link_modes[0] == "hardlink"):
                continue
            placed = workspace.materialize(cache, resolved[item.relative], target, item.executable, repo.link_modes)
            hasher.record(f"{relative}/{item.relative}", placed, resolved[item.relative])
    if len(entries) > repo.inline_max:
        listing_hash = cache.add_bytes(listing.to_object_bytes(entries))
        return Pointer(kind="dir", listing=listing_hash, count=len(entries), size=listing.total_size(entries))
    return Pointer(kind="dir", entries=entries)
