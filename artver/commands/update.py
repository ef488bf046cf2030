"""artver update: move imported artifacts to the newest commit of their revision (or to another
revision); and, for 'artver status --check-updates', whether they are behind their source.

Each source repository is read once (imports.opened), however many imports name it. An
import whose source has not moved is left alone; for the others the data is fetched,
verified, into the cache first, and the pointers are rewritten only once every import's
data is there: a failure on any of them leaves every pointer (and its data) as it was. Placing the new data in the workspace, and the diff
shown, are composed in api.update (checkout and diff are other commands).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from artver import imports
from artver import pointer as pointer_module
from artver.artifacts import Tracked, open_stats, select
from artver.errors import ArtverError, UsageError
from artver.pointer import Pointer, Source
from artver.progress import NO_PROGRESS, Progress
from artver.repo import Repo


@dataclass(frozen=True)
class UpdateResult:
    path: str
    pointer_path: str
    old_source: Source
    new_source: Source  # the same as old_source when the import was up to date
    changed: bool  # the pointer was rewritten


@dataclass(frozen=True)
class Moved:
    """One import as update saw it: the result, and the pointers before and after (for the diff)."""

    result: UpdateResult
    old: Pointer
    new: Pointer


def imported(repo: Repo, paths: list[str] | None) -> list[Tracked]:
    """The imported artifacts among ``paths`` (all of them when None); a named artifact that
    is not an import is refused."""
    found = select(repo, paths)
    if paths:
        named = [item for item in found if item.pointer.source is None]
        if named and len(named) == len(found):
            raise UsageError(f"{named[0].path}: not an imported artifact (its pointer has no source.* keys); "
                             f"'artver import' creates imports")
    return [item for item in found if item.pointer.source is not None]


def _by_repository(items: list[Tracked]) -> dict[str, list[Tracked]]:
    groups: dict[str, list[Tracked]] = {}
    for item in items:
        assert item.pointer.source is not None
        groups.setdefault(item.pointer.source.repo, []).append(item)
    return groups


def update_unlocked(repo: Repo, paths: list[str] | None, rev: str | None, cwd: Path, jobs: int | None = None,
                    progress: Progress = NO_PROGRESS) -> list[Moved]:
    """update, for a caller that holds the repository lock."""
    items = imported(repo, paths)
    repo.cache.remove_stale_temps()
    results: list[Moved] = []
    for url, group in _by_repository(items).items():
        with imports.opened(url, cwd) as source:
            for item in group:
                results.append(_update_one(repo, source, item, rev, jobs, progress))
    # Every new pointer's data is in the cache by now; only then is any pointer rewritten, so
    # a failure on one import (its source moved away, an object missing) changes none of them.
    for moved in results:
        if moved.result.changed:
            pointer_module.write_pointer(repo.root / moved.result.pointer_path, moved.new)
    results.sort(key=lambda moved: moved.result.path)
    return results


def _update_one(repo: Repo, source: imports.SourceRepo, item: Tracked, rev: str | None, jobs: int | None,
                progress: Progress) -> Moved:
    old = item.pointer
    assert old.source is not None
    wanted_rev = rev if rev is not None else old.source.rev
    commit = imports.resolve(source, wanted_rev)
    if commit == old.source.commit:
        new = replace(old, source=replace(old.source, rev=wanted_rev))
    else:
        located = imports.locate(source, commit, wanted_rev, old.source.path)
        session = imports.open_remote(source, commit, jobs, progress)
        entries, installed = imports.fetch_into(repo.cache, located, session, progress)
        fresh = imports.imported_pointer(located, entries, old.source.repo)
        imports.check_algorithm(repo, fresh, entries, f"{source.shown}:{old.source.path}")
        with open_stats(repo) as stats:
            stats.mark_verified(installed)
        new = fresh
    assert new.source is not None
    return Moved(UpdateResult(item.path, item.pointer_path, old.source, new.source, new != old), old, new)


@dataclass(frozen=True)
class ImportCheck:
    path: str
    source: Source
    latest: str | None  # the commit the import's revision names now; None when it could not be read
    detail: str = ""  # why it could not be read

    @property
    def behind(self) -> bool:
        return self.latest is not None and self.latest != self.source.commit


def check_updates(repo: Repo, paths: list[str] | None, cwd: Path,
                  on_error: Callable[[ArtverError], str] = str) -> list[ImportCheck]:
    """For each import: the commit its revision names in the source now (needs the network).
    A source that cannot be read is reported on its imports, not raised: the others are
    still checked."""
    checks: list[ImportCheck] = []
    for url, group in _by_repository(imported(repo, paths)).items():
        try:
            with imports.opened(url, cwd) as source:
                for item in group:
                    assert item.pointer.source is not None
                    try:
                        latest: str | None = imports.resolve(source, item.pointer.source.rev)
                        detail = ""
                    except ArtverError as error:
                        latest, detail = None, on_error(error)
                    checks.append(ImportCheck(item.path, item.pointer.source, latest, detail))
        except ArtverError as error:
            for item in group:
                assert item.pointer.source is not None
                checks.append(ImportCheck(item.path, item.pointer.source, None, on_error(error)))
    checks.sort(key=lambda check: check.path)
    return checks
