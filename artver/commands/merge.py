"""Git's merge driver for pointer files, and 'artver resolve' for what it leaves in conflict.

``artver merge-driver BASE OURS THEIRS MARKER-SIZE PATH`` is what Git runs (set up by
'artver init' and 'artver install-hooks', see artver/hooks.py) whenever a merge, rebase,
cherry-pick, revert or pull changed the same pointer on both sides. The three files are
untrusted input: each is parsed by pointer.parse_pointer and nothing in them is ever run.
The result replaces OURS atomically; the exit status tells Git whether the merge is clean.

``artver resolve [--ours|--theirs] [PATH...]`` merges a conflicted pointer again from the
three versions Git keeps in the index (stages 1, 2 and 3), so it also repairs what Git's
own text merge left in a clone without the driver; with --ours or --theirs it keeps one
side for what both changed and every other change of both.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from artver import file_lock, git, listing
from artver import merge as merging
from artver import pointer as pointer_module
from artver.artifacts import artifact_of_argument, entries_fetching_listing
from artver.errors import ArtverError, PointerError, UsageError
from artver.fsutil import atomic_write_bytes
from artver.listing import Entry
from artver.paths import check_artifact_path
from artver.pointer import Pointer
from artver.repo import Repo, open_repo

SUFFIX = pointer_module.SUFFIX


# ---------------------------------------------------------------- shared by the driver and resolve


@dataclass
class _Listings:
    """Reads and writes listing objects for a merge, taking the repository lock (once) only if
    one is needed: a merge of inline listings and files never waits for another artver process."""

    repo: Repo
    where: str
    stack: contextlib.ExitStack
    lock: bool  # take the lock before touching the cache (resolve already holds it)

    def _locked(self) -> None:
        if self.lock:
            self.stack.enter_context(file_lock.locked(self.repo.lock_path, self.repo.lock_timeout))
            self.lock = False

    def load(self, pointer: pointer_module.DirPointer) -> tuple[Entry, ...]:
        if isinstance(pointer.content, pointer_module.InlineListing):
            return pointer.content.entries
        self._locked()
        return entries_fetching_listing(self.repo, pointer, self.where)

    def build(self, entries: tuple[Entry, ...]) -> pointer_module.DirPointer:
        entries = listing.check_entries(entries, self.where)
        if len(entries) <= self.repo.inline_max:
            return pointer_module.dir_pointer(entries)
        self._locked()
        listing_hash = self.repo.cache.add_bytes(listing.to_object_bytes(entries))
        return pointer_module.dir_pointer(entries, listing_hash)


def _merge(repo: Repo, where: str, base: merging.Base, ours: Pointer, theirs: Pointer, lock: bool) -> merging.Outcome:
    with contextlib.ExitStack() as stack:
        listings = _Listings(repo, where, stack, lock)
        return merging.merge(base, ours, theirs, repo.algorithm, listings.load, listings.build)


def _base_of(data: bytes | None, where: str) -> merging.Base:
    if data is None:
        return merging.Unreadable()  # too large to be a pointer
    if not data:
        return merging.Absent()  # no common version (Git passes an empty file)
    try:
        return pointer_module.parse_pointer(data, where)
    except PointerError:
        return merging.Unreadable()


def _conflict_hint(where: str, conflict: merging.Conflicted) -> str:
    artifact = where[: -len(SUFFIX)]
    return (
        f"{where}: {merging.summary(artifact, conflict)}. Keep one side with 'artver resolve --ours {artifact}' or "
        f"'artver resolve --theirs {artifact}' (or 'git checkout --ours/--theirs {where}' for that side's whole "
        f"version), then 'git add {where}'"
    )


# ---------------------------------------------------------------- the merge driver


@dataclass(frozen=True)
class DriverResult:
    clean: bool
    message: str | None  # for stderr: what conflicted and how to resolve it


def run_driver(base_file: str, ours_file: str, theirs_file: str, marker_size: str, path: str) -> DriverResult:
    """Merge the three versions Git gives; write the result over ``ours_file``."""
    size = int(marker_size) if marker_size.isdigit() and 7 <= int(marker_size) <= 100 else 7
    ours_data, theirs_data, base_data = (_read_limited(name) for name in (ours_file, theirs_file, base_file))
    if ours_data is None or theirs_data is None:
        # Not a pointer; and too large to copy between markers: OURS stays as it is, Git keeps all
        # three versions in the index.
        return DriverResult(False, f"{path}: too large to be an artver pointer file; left as our version, in conflict")
    try:
        ours = pointer_module.parse_pointer(ours_data, f"{path} (ours)")
        theirs = pointer_module.parse_pointer(theirs_data, f"{path} (theirs)")
        check_artifact_path(path[: -len(SUFFIX)] if path.endswith(SUFFIX) else path, path)
        repo = open_repo(Path.cwd())
        outcome = _merge(repo, path, _base_of(base_data, f"{path} (base)"), ours, theirs, lock=True)
    except ArtverError as error:
        _replace(ours_file, merging.raw_conflict_bytes(ours_data, theirs_data, size))
        return DriverResult(False, f"{path}: cannot merge it entry by entry ({error}); both versions are left "
                                   f"between conflict markers: keep one with 'git checkout --ours {path}' or "
                                   f"'--theirs', or fix the cause and run 'artver resolve {path[: -len(SUFFIX)]}'")
    if isinstance(outcome, merging.Merged):
        _replace(ours_file, pointer_module.format_pointer(outcome.pointer))
        return DriverResult(True, None)
    _replace(ours_file, merging.conflict_bytes(outcome, merging.summary(path[: -len(SUFFIX)], outcome), size))
    return DriverResult(False, _conflict_hint(path, outcome))


def _read_limited(path: str) -> bytes | None:
    """A file's bytes, or None if it is too large to be a pointer (never read whole)."""
    with open(path, "rb") as handle:
        data = handle.read(pointer_module.MAX_POINTER_BYTES + 1)
    return data if len(data) <= pointer_module.MAX_POINTER_BYTES else None


def _replace(path: str, data: bytes) -> None:
    target = Path(path)
    mode = target.stat().st_mode & 0o777 if target.exists() else 0o644
    atomic_write_bytes(target, data, mode)


# ---------------------------------------------------------------- artver resolve


@dataclass(frozen=True)
class Resolution:
    path: str  # the artifact
    pointer_path: str
    action: str  # merged | ours | theirs | deleted | conflict
    paths: tuple[str, ...] = ()  # files inside a folder that both branches changed
    fields: tuple[str, ...] = ()  # "content", "desc", "meta.KEY": the rest of the pointer both changed
    detail: str = ""  # what both changed, in words


def resolve(repo: Repo, paths: list[str] | None, side: merging.Side | None) -> list[Resolution]:
    """Merge each conflicted pointer entry by entry again; with ``side``, settle what both
    branches changed with that side's version. Without paths: every conflicted pointer."""
    stages = git.unmerged_stages(repo.root)
    if paths:
        targets = []
        for user_path in paths:
            artifact = artifact_of_argument(repo, user_path)
            check_artifact_path(artifact, user_path)
            targets.append(artifact + SUFFIX)
    else:
        targets = sorted(path for path in stages if path.endswith(SUFFIX))
        if not targets:
            raise UsageError("no pointer file is in conflict (Git's index has no unmerged .art file)")
    with file_lock.locked(repo.lock_path, repo.lock_timeout):
        return [_resolve_one(repo, pointer_path, stages.get(pointer_path), side) for pointer_path in dict.fromkeys(targets)]


def _resolve_one(repo: Repo, pointer_path: str, stages: dict[int, str] | None, side: merging.Side | None) -> Resolution:
    artifact = pointer_path[: -len(SUFFIX)]
    target = repo.root / pointer_path
    current = _read_limited(str(target)) if target.is_file() else b""
    if stages:
        versions = {stage: _stage_bytes(repo, blob, pointer_path) for stage, blob in stages.items()}
        if current and current not in versions.values() and merging.sides_of_conflict(current) is None:
            raise UsageError(
                f"{pointer_path}: no longer holds conflict markers, so it may have been resolved by hand; 'git add "
                f"{pointer_path}' if it is, or 'git checkout -m {pointer_path}' to re-create the conflict first"
            )
        ours_data, theirs_data = versions.get(2), versions.get(3)
        base: merging.Base = _base_of(versions.get(1), f"{pointer_path} (base)")
        if ours_data is None or theirs_data is None:
            return _deleted_on_one_side(repo, artifact, pointer_path, ours_data, theirs_data, side)
    else:
        sides = merging.sides_of_conflict(current) if current else None
        if sides is None:
            raise UsageError(f"{pointer_path}: not in conflict (Git's index has no unmerged versions of it and the "
                             f"file has no conflict markers); nothing to resolve")
        ours_data, theirs_data = sides
        base = merging.Unreadable()
    ours = pointer_module.parse_pointer(ours_data, f"{pointer_path} (ours)")
    theirs = pointer_module.parse_pointer(theirs_data, f"{pointer_path} (theirs)")
    outcome = _merge(repo, pointer_path, base, ours, theirs, lock=False)
    if isinstance(outcome, merging.Merged):
        pointer_module.write_pointer(target, outcome.pointer)
        return Resolution(artifact, pointer_path, "merged")
    detail = merging.summary(artifact, outcome)
    if side is None:
        atomic_write_bytes(target, merging.conflict_bytes(outcome, detail))
        return Resolution(artifact, pointer_path, "conflict", outcome.paths, outcome.fields, detail)
    pointer_module.write_pointer(target, outcome.ours if side == "ours" else outcome.theirs)
    return Resolution(artifact, pointer_path, side, outcome.paths, outcome.fields, detail)


def _stage_bytes(repo: Repo, blob: str, where: str) -> bytes:
    data = git.read_blob(repo.root, blob, pointer_module.MAX_POINTER_BYTES)
    if data is None:
        raise PointerError(f"{where}: a version in Git's index is too large to be an artver pointer file")
    return data


def _deleted_on_one_side(repo: Repo, artifact: str, pointer_path: str, ours: bytes | None, theirs: bytes | None,
                         side: merging.Side | None) -> Resolution:
    detail = f"{'our' if ours is None else 'their'} branch deleted it, the other changed it"
    if side is None:
        return Resolution(artifact, pointer_path, "conflict", (), (merging.CONTENT,), detail)
    chosen = ours if side == "ours" else theirs
    target = repo.root / pointer_path
    if chosen is None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(target)
        return Resolution(artifact, pointer_path, "deleted", (), (merging.CONTENT,), detail)
    pointer = pointer_module.parse_pointer(chosen, f"{pointer_path} ({side})")
    pointer_module.write_pointer(target, pointer)
    return Resolution(artifact, pointer_path, side, (), (merging.CONTENT,), detail)

