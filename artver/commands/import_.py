"""artver import: track an artifact of another artver repository here, with its provenance.

The data is fetched verified into this repository's cache first; only then is the pointer
``OUT.art`` written (the source's pointer content plus ``source.*`` keys: repository,
revision asked for, commit, path; see docs/pointer-format.md) and the ignore rule added.
So a failure at any step leaves no pointer, and never one whose data is not in the cache.
Placing the data in the workspace is checkout's job (api.import_ composes the two).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from artver import git, gitignore, imports, listing
from artver import pointer as pointer_module
from artver.artifacts import all_pointer_paths, cli_path, open_stats
from artver.errors import PointerError, UsageError
from artver.paths import check_artifact_path, check_no_symlink_escape
from artver.pointer import FilePointer, Pointer, Source
from artver.progress import NO_PROGRESS, Progress
from artver.repo import Repo


@dataclass(frozen=True)
class ImportResult:
    path: str  # repository-relative
    pointer_path: str
    kind: str  # file | dir
    hash: str  # a file's hash, a directory's listing identity
    size: int
    files: int
    source: Source
    gitignore: str | None  # the .gitignore artver changed, if any


def identity_of(repo: Repo, pointer: Pointer, entries: tuple[listing.Entry, ...] | None) -> str:
    if isinstance(pointer, FilePointer):
        return pointer.hash
    content = pointer.content
    if isinstance(content, pointer_module.ListingRef):
        return content.hash
    return listing.identity(content.entries, repo.algorithm)


def _check_target(repo: Repo, relative: str, shown: str) -> tuple[str, str]:
    """Refuse an OUT that cannot receive an import; where its ignore rule goes."""
    try:
        check_artifact_path(relative, shown)
    except PointerError as error:
        raise UsageError(f"{shown}: cannot import there ({error})") from None
    pointer_relative = relative + pointer_module.SUFFIX
    pointers = {path[: -len(pointer_module.SUFFIX)] for path in all_pointer_paths(repo)}
    if relative in pointers:
        existing = pointer_module.read_pointer(repo.root / pointer_relative, pointer_relative)
        hint = "run 'artver update " + shown + "' to move it to a newer commit" if existing.source is not None \
            else "choose another name with -o"
        raise UsageError(f"{shown}: already tracked ({pointer_relative} exists); {hint}")
    if os.path.lexists(repo.root / relative):
        raise UsageError(f"{shown}: already exists in the workspace; move it away or choose another name with -o")
    if os.path.lexists(repo.root / pointer_relative):
        raise UsageError(f"{pointer_relative}: already exists; move it away or choose another name with -o")
    parts = relative.split("/")
    for index in range(1, len(parts)):
        ancestor = "/".join(parts[:index])
        if ancestor in pointers:
            raise UsageError(f"{shown}: inside the tracked folder {ancestor}; choose a path outside it with -o")
    if git.tracked_under(repo.root, [relative]):
        raise UsageError(f"{shown}: Git tracks files there; choose another name with -o")
    if git.ignored(repo.root, [pointer_relative]):
        raise UsageError(f"{shown}: its pointer {pointer_relative} would be ignored by Git's ignore rules; "
                         f"choose another name with -o or un-ignore it")
    home = gitignore.home_of(relative, pointers | {relative})
    if home is None:
        raise UsageError(f"{shown}: the top-level {gitignore.NAME} is tracked by artver, so no {gitignore.NAME} "
                         f"is left to keep {relative} out of Git")
    return home


def import_unlocked(repo: Repo, source_text: str, path: str, output: str | None, rev: str | None, cwd: Path,
                    jobs: int | None = None, progress: Progress = NO_PROGRESS) -> ImportResult:
    """import, for a caller that holds the repository lock."""
    wanted = imports.normalized_path(path)
    shown = output or wanted.rpartition("/")[2]
    relative = cli_path(repo, str(cwd / shown))
    if relative == ".":
        raise UsageError(f"{shown}: cannot import onto the whole repository; name a file or folder inside it")
    ignore_file, pattern = _check_target(repo, relative, shown)
    check_no_symlink_escape(repo.root, relative, shown)
    repo.cache.remove_stale_temps()
    with imports.opened(source_text, cwd) as source:
        commit = imports.resolve(source, rev)
        located = imports.locate(source, commit, rev, wanted)
        session = imports.open_remote(source, commit, jobs, progress)
        entries, installed = imports.fetch_into(repo.cache, located, session, progress)
        new = imports.imported_pointer(located, entries, source.url)
        imports.check_algorithm(repo, new, entries, f"{source.shown}:{wanted}")
    with open_stats(repo) as stats:
        stats.mark_verified(installed)
    pointer_path = check_no_symlink_escape(repo.root, relative + pointer_module.SUFFIX, shown)
    pointer_path.parent.mkdir(parents=True, exist_ok=True)
    pointer_module.write_pointer(pointer_path, new)
    changed_ignore = gitignore.add(repo.root, ignore_file, pattern)
    files = 1 if isinstance(new, FilePointer) else len(entries or ())
    size = new.size if isinstance(new, FilePointer) else listing.total_size(entries or ())
    assert new.source is not None
    return ImportResult(relative, relative + pointer_module.SUFFIX, new.kind, identity_of(repo, new, entries), size,
                        files, new.source, ignore_file if changed_ignore else None)
