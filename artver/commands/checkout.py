"""artver checkout: make the workspace match the pointer files.

Safety rules, each lifted only by ``force``:

- a workspace file is only overwritten or deleted if its current content is
  saved in the cache (so it can be got back);
- a path Git tracks (in the index or in HEAD) is never written, overwritten or
  deleted: it is Git's, even where a pointer also names it.

Paths a rule protects are listed and left alone; everything else is still
checked out.
"""

from __future__ import annotations

import bisect
import dataclasses
import os
import shutil
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from artver import file_lock, git, verification, workspace
from artver.artifacts import (
    Hasher,
    Preloaded,
    Tracked,
    WorkspaceFile,
    content_hash_of,
    open_stats,
    select,
    selected_entries,
    walk_directory,
    walk_if_changed,
    walk_part,
)
from artver.errors import ArtverError, ObjectMissingError, UnsafePathError
from artver.listing import Entry
from artver.paths import check_no_symlink_escape
from artver.pointer import DirPointer, FilePointer, ListingRef
from artver.progress import NO_PROGRESS, Progress
from artver.repo import Repo
from artver.statcache import StatFields, StatKey
from artver.status_states import State


@dataclass
class CheckoutResult:
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unsaved: list[str] = field(default_factory=list)  # left alone: their content is saved nowhere
    missing: list[str] = field(default_factory=list)  # their object is not in the cache
    corrupt: list[str] = field(default_factory=list)  # their cache object was corrupt (now quarantined)
    git_tracked: list[str] = field(default_factory=list)  # left alone: Git tracks them (index or HEAD)
    unchanged: int = 0
    # Left at another revision: they hold data the cache has, and the cache lacks this revision's
    # object (or a folder's listing); see workspace.file_state. 'artver pull' brings it.
    outdated: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.unsaved and not self.missing and not self.corrupt and not self.git_tracked and not self.outdated


@dataclass(frozen=True, slots=True)
class _Wanted:
    """A file to place: ``entry`` of the listing of the tracked folder ``folder`` (or, with
    ``folder`` empty, a tracked file whose repository-relative path is ``entry.path``). The
    listing's own entry is kept, not a copy with its path joined: a checkout of millions of
    files plans one of these per file."""

    folder: str
    entry: Entry
    # The stat of the file it replaces, taken when that file's content was found in the
    # cache (see workspace.materialize); None if nothing is replaced or --force skipped the check.
    saved: os.stat_result | None = None

    @property
    def path(self) -> str:
        """Repository-relative."""
        return f"{self.folder}/{self.entry.path}" if self.folder else self.entry.path

    @property
    def hash(self) -> str:
        return self.entry.hash

    @property
    def size(self) -> int:
        return self.entry.size

    @property
    def executable(self) -> bool:
        return self.entry.executable


def _paired(entries: Sequence[Entry], present: Sequence[WorkspaceFile]) -> Iterator[tuple[Entry, WorkspaceFile | None]]:
    """Each entry with the walked file at its path, or None. Both come in path order (a
    listing's entries are sorted, and so is walk_directory), so one pass pairs them: no
    dict of a walk of millions of files."""
    files = iter(present)
    item = next(files, None)
    for entry in entries:
        while item is not None and item.relative < entry.path:
            item = next(files, None)
        yield entry, item if item is not None and item.relative == entry.path else None


def _unlisted(present: Sequence[WorkspaceFile], entries: Sequence[Entry]) -> Iterator[WorkspaceFile]:
    """The walked files at no entry's path, by the same single pass as _paired."""
    listed = iter(entries)
    entry = next(listed, None)
    for item in present:
        while entry is not None and entry.path < item.relative:
            entry = next(listed, None)
        if entry is None or entry.path != item.relative:
            yield item


def checkout(
    repo: Repo, paths: list[str] | None = None, force: bool = False, progress: Progress = NO_PROGRESS
) -> CheckoutResult:
    with file_lock.locked(repo.lock_path, repo.lock_timeout):
        return checkout_unlocked(repo, paths, force, progress)


def checkout_unlocked(repo: Repo, paths: list[str] | None, force: bool, progress: Progress) -> CheckoutResult:
    """checkout, for a caller that holds the repository lock."""
    result = CheckoutResult()
    tracked = select(repo, paths)
    repo.cache.remove_stale_temps()
    git_paths = GitTracked.of(repo, [item.selected_path for item in tracked])
    with open_stats(repo) as stats:
        plan = _Checkout(repo, Hasher(repo, stats), force, result, git_paths)
        for item in tracked:
            plan.artifact(item)
        plan.place_all(progress)
    for items in (result.updated, result.removed, result.unsaved, result.missing, result.corrupt, result.git_tracked,
                  result.outdated):
        items.sort()
    return result


@dataclass(frozen=True)
class GitTracked:
    """The paths Git tracks (in the index or in HEAD) at or below some artifacts."""

    ordered: tuple[str, ...]

    @staticmethod
    def of(repo: Repo, artifacts: list[str]) -> GitTracked:
        return GitTracked(tuple(sorted(git.tracked_in_index_or_head(repo.root, artifacts))))

    def covers(self, path: str) -> bool:
        """True if Git tracks ``path`` or anything below it."""
        if not self.ordered:
            return False
        index = bisect.bisect_left(self.ordered, path)
        if index < len(self.ordered) and self.ordered[index] == path:
            return True
        below = path + "/"
        index = bisect.bisect_left(self.ordered, below)
        return index < len(self.ordered) and self.ordered[index].startswith(below)


def symlinked_parent(root: Path, relative: str) -> Path | None:
    """The first folder on the way from ``root`` to ``relative`` that is a symlink, if any:
    below it, a write or a deletion would land wherever the link points."""
    current = root
    for part in relative.split("/")[:-1]:
        current = current / part
        if current.is_symlink():
            return current
    return None


def _link_inside(link: Path, folder: Path | None) -> Path | None:
    """The file a symlink points to, if it lies inside the tracked ``folder`` (as add stores it)."""
    if folder is None or not link.is_symlink():
        return None
    real = Path(os.path.realpath(link))
    return real if real.is_file() and real.is_relative_to(Path(os.path.realpath(folder))) else None


@dataclass
class _Checkout:
    repo: Repo
    hasher: Hasher
    force: bool
    result: CheckoutResult
    git_paths: GitTracked
    to_place: list[_Wanted] = field(default_factory=list)

    def artifact(self, tracked: Tracked) -> None:
        absolute = self.repo.root / tracked.path
        pointer = tracked.pointer
        link = symlinked_parent(self.repo.root, tracked.path)
        if link is not None:
            raise UnsafePathError(
                f"{tracked.pointer_path}: {link} is a symlink; artver will not write through it (remove it first)"
            )
        if isinstance(pointer, FilePointer):
            if absolute.is_dir() and not absolute.is_symlink():
                if not self._clear_folder(tracked.path, absolute):
                    return
            self._want(_Wanted("", Entry(tracked.path, pointer.hash, pointer.size)), absolute)
            return
        try:
            entries = selected_entries(self.repo, tracked)
        except ObjectMissingError:
            if tracked.part is not None:
                self.result.missing.append(tracked.selected_path)
            else:
                # Without the listing nothing in the folder can be checked out: a folder holding
                # another revision's data stays at that revision (see workspace.unlisted_folder_state).
                self._listing_missing(tracked, absolute)
            return
        if tracked.part is not None:
            self._part(tracked, absolute, entries)
            return
        if absolute.is_symlink():
            raise UnsafePathError(
                f"{tracked.pointer_path}: the folder {tracked.path} is a symlink; artver will not write through it (remove it first)"
            )
        if absolute.exists() and not absolute.is_dir():
            if not self._git_allows(tracked.path):
                return
            if not self._may_replace(tracked.path, absolute):
                self.result.unsaved.append(tracked.path)
                return
            absolute.unlink()
            self.result.removed.append(tracked.path)
        placed_before = self._counts()
        signature = None
        identity = content_hash_of(tracked, self.repo)
        # Every file of the folder as found, with its stat; none if the folder is absent (a fresh
        # clone), so nothing is in the way of any file.
        present: list[WorkspaceFile] = []
        if absolute.is_dir():
            try:
                changed = walk_if_changed(self.hasher.stats, absolute, tracked.path, identity)
            except UnsafePathError as error:
                raise UnsafePathError(f"{tracked.pointer_path}: {error}") from None
            if changed is None:
                self.result.unchanged += len(entries)  # nothing below it changed since it last matched
                return
            present, signature = changed.files, changed.signature
        # Loaded only past the signature check: an unchanged folder of millions of files needs neither.
        preloaded = self.hasher.stats.under(tracked.path)
        if present:
            self._remove_unlisted(tracked.path, absolute, _unlisted(present, entries), preloaded)
        self._place_entries(tracked, absolute, _paired(entries, present), preloaded)
        if signature is not None and placed_before == self._counts():
            # Everything already matched: remember the folder's signature for the next command.
            self.hasher.stats.record_directory(tracked.path, identity, signature)
        if not entries:
            absolute.mkdir(parents=True, exist_ok=True)  # an empty tracked folder; others appear as files land

    def _part(self, tracked: Tracked, absolute: Path, entries: tuple[Entry, ...]) -> None:
        """Check out the part of a directory that ``entries`` are (selected_entries): the files
        at or below it are placed, and files there that the listing does not have are deleted
        (if saved), by the rules of a whole directory; nothing else in the folder is looked at."""
        assert tracked.part is not None
        if absolute.is_symlink():
            raise UnsafePathError(
                f"{tracked.pointer_path}: the folder {tracked.path} is a symlink; artver will not write through it (remove it first)"
            )
        if absolute.exists() and not absolute.is_dir():
            # A file where the directory should be: it is outside the part, so it stays; the
            # part's files cannot be placed (reported as 'unsaved': a file of the user's is in the way).
            self.result.unsaved.append(tracked.path)
            return
        try:
            present = walk_part(absolute, tracked.path, tracked.part.path)
        except UnsafePathError as error:
            raise UnsafePathError(f"{tracked.pointer_path}: {error}") from None
        preloaded = self.hasher.stats.under(tracked.selected_path)
        self._remove_unlisted(tracked.path, absolute, _unlisted(present, entries), preloaded)
        self._place_entries(tracked, absolute, _paired(entries, present), preloaded)

    def _remove_unlisted(self, artifact: str, absolute: Path, unlisted: Iterable[WorkspaceFile],
                         preloaded: Preloaded) -> None:
        """Delete the walked files the listing does not have (``unlisted``), if their content
        is saved (or with --force) and Git does not track them; report the others as unsaved."""
        for item in unlisted:
            path = f"{artifact}/{item.relative}"
            target = absolute / item.relative
            if not self._git_allows(path):
                continue
            if self.force or self._saved(path, target, item.stat, preloaded, absolute):
                target.unlink()
                workspace.remove_empty_parents(target.parent, absolute)
                self.result.removed.append(path)
            else:
                self.result.unsaved.append(path)

    def _place_entries(self, tracked: Tracked, absolute: Path, paired: Iterable[tuple[Entry, WorkspaceFile | None]],
                       preloaded: Preloaded) -> None:
        """Place every listed file not already there; ``paired``: each entry with the walked
        file at its path, if any. The walk refused any symlinked folder inside, and holds
        every file's stat: no need to check parents or stat each entry again."""
        for entry, found in paired:
            wanted_file = _Wanted(tracked.path, entry)
            if found is None:
                self._want_absent(wanted_file)
            elif not self._already_there(wanted_file, found, absolute, preloaded):
                self._want(wanted_file, check_no_symlink_escape(absolute, entry.path, tracked.pointer_path), absolute,
                           preloaded)

    def _listing_missing(self, tracked: Tracked, absolute: Path) -> None:
        outdated = False
        pointer = tracked.pointer
        if absolute.is_dir() and not absolute.is_symlink() and isinstance(pointer, DirPointer) \
                and isinstance(pointer.content, ListingRef):
            present = walk_directory(absolute, tracked.path)
            state = workspace.unlisted_folder_state(self.repo.cache, self.hasher, tracked.path, present,
                                                    pointer.content.hash, self.repo.algorithm)
            outdated = state is State.OUTDATED
        (self.result.outdated if outdated else self.result.missing).append(tracked.path)

    def _want_absent(self, wanted: _Wanted) -> None:
        # Whether the cache has the object is found out when it is placed: one stat, not two.
        self.to_place.append(wanted)

    def _already_there(self, wanted: _Wanted, item: WorkspaceFile, folder: Path, preloaded: Preloaded) -> bool:
        """True (and counted) if a walked regular file already holds the wanted content and mode."""
        if item.target is not None:  # a symlink inside the folder: the slow path
            return False
        stat = item.stat
        if stat.st_size != wanted.size or bool(stat.st_mode & 0o100) != wanted.executable:
            return False
        if self.hasher.hash(wanted.path, item.path, stat, preloaded) != wanted.hash:
            return False
        self.result.unchanged += 1
        return True

    def _counts(self) -> tuple[int, ...]:
        return (len(self.to_place), len(self.result.unsaved), len(self.result.missing), len(self.result.removed),
                len(self.result.corrupt), len(self.result.git_tracked), len(self.result.outdated))

    def _git_allows(self, path: str) -> bool:
        """May artver write, replace or delete ``path`` (or anything below it)? Not if Git
        tracks it (the path is listed instead), unless forced."""
        if self.force or not self.git_paths.covers(path):
            return True
        self.result.git_tracked.append(path)
        return False

    def _want(self, wanted: _Wanted, target: Path, folder: Path | None = None, preloaded: Preloaded | None = None) -> None:
        """Plan to place one file; ``folder`` is its tracked directory, if any."""
        if target.is_symlink() and not workspace.is_link_into(target, self.repo.cache) \
                and _link_inside(target, folder) is None:
            if not self.force:
                if self._git_allows(wanted.path):
                    self.result.unsaved.append(wanted.path)
                return
        elif target.is_file():
            stat = target.stat()
            state = workspace.file_state(self.repo.cache, self.hasher, wanted.path, target, wanted.hash, wanted.size,
                                         stat, preloaded)
            if state in (State.CLEAN, State.NOT_IN_CACHE):
                if bool(stat.st_mode & 0o100) != wanted.executable and not target.is_symlink() and stat.st_nlink == 1:
                    if not self._git_allows(wanted.path):
                        return
                    os.chmod(target, (stat.st_mode | 0o111) & 0o7777 if wanted.executable else stat.st_mode & 0o7666)
                self.result.unchanged += 1
                return
            if not self._git_allows(wanted.path):
                return
            if state is State.OUTDATED:
                self.result.outdated.append(wanted.path)
                return
            if not self.force:
                if not self._saved(wanted.path, target, stat, None, folder):
                    self.result.unsaved.append(wanted.path)
                    return
                wanted = dataclasses.replace(wanted, saved=stat)
        elif target.is_dir():
            if not self._clear_folder(wanted.path, target):
                return
        elif not self._git_allows(wanted.path):  # absent from the work tree, but Git's to restore
            return
        if not self.repo.cache.has(wanted.hash):
            self.result.missing.append(wanted.path)
            return
        self.to_place.append(wanted)

    def place_all(self, progress: Progress) -> None:
        if not self.to_place:
            return
        progress.start("Checking out", sum(item.size for item in self.to_place))
        bad: set[str] = set()
        root = str(self.repo.root)
        while self.to_place:
            # A batch at a time, taken off the plan: the verification records of this batch
            # only, and the plan shrinks as the list of placed paths grows.
            batch = self.to_place[:verification.CHECK_BATCH]
            del self.to_place[:verification.CHECK_BATCH]
            verified = self.hasher.stats.verified_among(wanted.hash for wanted in batch)
            for item in batch:
                path = self._usable(item, bad, verified)
                if path is None:
                    continue
                try:
                    placed = workspace.materialize(self.repo.cache, item.hash, f"{root}/{path}", item.executable,
                                                   self.repo.link_modes, item.saved)
                except (NotADirectoryError, FileExistsError, IsADirectoryError):
                    self.result.unsaved.append(path)  # a file or folder of the user's is in the way
                    continue
                self.hasher.record(path, placed, item.hash)
                self.result.updated.append(path)
                progress.advance(item.size)
        progress.finish()

    def _usable(self, item: _Wanted, bad: set[str], verified: dict[str, StatKey]) -> str | None:
        """The file's path if its cache object is there and intact; else None, and why in the
        result. One path string per file, the one kept in the result."""
        path = item.path
        try:
            intact = item.hash not in bad and verification.check(self.repo, self.hasher.stats, item.hash, verified)
        except FileNotFoundError:
            self.result.missing.append(path)  # planned without asking the cache (see _want_absent)
            return None
        if not intact:
            bad.add(item.hash)
            self.result.corrupt.append(path)
            return None
        return path

    def _saved(self, path: str, target: Path, stat: StatFields, preloaded: Preloaded | None = None,
               folder: Path | None = None) -> bool:
        """Is the content at ``target`` in the cache, so that replacing it loses nothing?"""
        if target.is_symlink():
            if workspace.is_link_into(target, self.repo.cache):
                return True
            inside = _link_inside(target, folder)
            if inside is None:
                return False
            target, stat = inside, inside.stat()
        return self.repo.cache.has(self.hasher.hash(path, target, stat, preloaded))

    def _may_replace(self, path: str, target: Path) -> bool:
        return self.force or self._saved(path, target, target.stat())

    def _clear_folder(self, path: str, folder: Path) -> bool:
        """Remove a folder standing where a file must go, if everything in it is saved
        and Git tracks nothing in it."""
        if not self._git_allows(path):
            return False
        if not self.force:
            for item in walk_directory(folder, path):
                if not self._saved(f"{path}/{item.relative}", item.absolute, item.stat):
                    self.result.unsaved.append(path)
                    return False
        shutil.rmtree(folder)
        self.result.removed.append(path)
        return True


def remove_dropped(repo: Repo, artifacts: list[str], hasher: Hasher) -> tuple[list[str], list[str]]:
    """Delete the workspace data of artifacts that are no longer tracked (after a branch
    switch), file by file, only where the content is in the cache. A path Git tracks (in
    the new index or HEAD: the new commit may hold the same folder in Git) is Git's, and
    stays. Returns (removed, kept: the files saved nowhere). The caller holds the lock."""
    removed: list[str] = []
    kept: list[str] = []
    cache = repo.cache
    git_paths = GitTracked.of(repo, artifacts)
    for artifact in artifacts:
        absolute = repo.root / artifact
        if absolute.is_symlink() or not absolute.exists() or symlinked_parent(repo.root, artifact) is not None:
            continue  # (through a symlinked parent, the path would lead out of the work tree)
        if absolute.is_file():
            if git_paths.covers(artifact):
                continue
            if cache.has(hasher.hash(artifact, absolute, absolute.stat())):
                absolute.unlink()
                removed.append(artifact)
            else:
                kept.append(artifact)
            continue
        try:
            present = walk_directory(absolute, artifact)
        except ArtverError:
            continue  # e.g. a symlink out of the folder: no longer artver's folder, left as it is
        for item in present:
            path = f"{artifact}/{item.relative}"
            if git_paths.covers(path):
                continue
            if cache.has(hasher.hash(path, item.absolute, item.stat)):
                target = absolute / item.relative  # the name itself (a symlink's target stays)
                target.unlink()
                workspace.remove_empty_parents(target.parent, absolute)
                removed.append(path)
            else:
                kept.append(path)
        workspace.remove_empty_parents(absolute, repo.root)
    return removed, kept
