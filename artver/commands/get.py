"""artver get: copy an artifact of another artver repository here, without a pointer.

For CI jobs and notebooks: the source repository is read through imports.py (never
checked out), its data is fetched verified into this repository's cache (outside any
artver repository: a temp cache, deleted afterwards) and copied to OUT. OUT appears whole
or not at all: a directory is built in a temp folder beside it and renamed into place.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from artver import file_lock, hashing, imports, workspace
from artver.cache import Cache
from artver.errors import UsageError
from artver.listing import Entry
from artver.pointer import FilePointer
from artver.progress import NO_PROGRESS, Progress
from artver.repo import Repo

COPY_MODES = ("reflink", "copy")  # OUT is the user's own copy: never a link into a cache


@dataclass(frozen=True)
class GetResult:
    source: str  # the source repository, as recorded (a URL, or an absolute path)
    rev: str | None  # as asked; None: the source's default branch
    commit: str  # the commit it named
    path: str  # the artifact (or the file inside a tracked directory) in the source
    output: str  # where the copy was written, as given (or the default name)
    kind: str  # file | dir
    files: int
    size: int


@contextlib.contextmanager
def _cache_for(repo: Repo | None) -> Iterator[Cache]:
    """The repository's cache under its lock (later imports reuse what get fetched), or
    outside any repository a temp cache deleted afterwards."""
    if repo is not None:
        with file_lock.locked(repo.lock_path, repo.lock_timeout):
            repo.cache.remove_stale_temps()
            yield repo.cache
        return
    folder = tempfile.mkdtemp(prefix="artver-get-cache-")
    try:
        yield Cache(Path(folder), hashing.DEFAULT_ALGORITHM)
    finally:
        _remove_tree(folder)


def _remove_tree(folder: str) -> None:
    # Cache objects are read-only; their folders are not, so rmtree can delete them.
    shutil.rmtree(folder, ignore_errors=True)


def default_output(path: str) -> str:
    return path.rstrip("/").rpartition("/")[2]


def get(source_text: str, path: str, output: str | None, rev: str | None, cwd: Path, repo: Repo | None,
        jobs: int | None = None, progress: Progress = NO_PROGRESS) -> GetResult:
    wanted = imports.normalized_path(path)
    shown_output = output or default_output(wanted)
    target = Path(os.path.abspath(cwd / shown_output))
    if os.path.lexists(target):
        raise UsageError(f"{shown_output}: already exists; remove it or choose another name with -o")
    if not target.parent.is_dir():
        raise UsageError(f"{shown_output}: the folder {target.parent} does not exist")
    with imports.opened(source_text, cwd) as source:
        commit = imports.resolve(source, rev)
        located = imports.locate(source, commit, rev, wanted)
        session = imports.open_remote(source, commit, jobs, progress)
        with _cache_for(repo) as cache:
            entries, _ = imports.fetch_into(cache, located, session, progress)
            pointer = located.pointer
            if isinstance(pointer, FilePointer) and entries is None:
                workspace.materialize(cache, pointer.hash, target, False, COPY_MODES)
                return GetResult(source.url, rev, commit, wanted, shown_output, "file", 1, pointer.size)
            assert entries is not None
            if located.inner:
                (entry,) = entries
                workspace.materialize(cache, entry.hash, target, entry.executable, COPY_MODES)
                return GetResult(source.url, rev, commit, wanted, shown_output, "file", 1, entry.size)
            _place_directory(cache, entries, target, shown_output)
            return GetResult(source.url, rev, commit, wanted, shown_output, "dir", len(entries),
                             sum(entry.size for entry in entries))


def _place_directory(cache: Cache, entries: tuple[Entry, ...], target: Path, shown: str) -> None:
    """Build the directory in a temp folder beside ``target``, then rename it into place:
    a failure leaves no partial OUT (listing paths were checked when the listing was parsed)."""
    temp = Path(tempfile.mkdtemp(prefix=f".{target.name[:40]}.artver-get-", dir=target.parent))
    try:
        for entry in entries:
            workspace.materialize(cache, entry.hash, temp / entry.path, entry.executable, COPY_MODES)
        os.chmod(temp, 0o777 & ~_umask())
        try:
            os.rename(temp, target)  # fails if something appeared at target meanwhile (a non-empty folder)
        except OSError as error:
            raise UsageError(f"{shown}: cannot put the folder in place ({error.strerror}); remove what is there and "
                             f"run the command again") from None
    except BaseException:
        _remove_tree(str(temp))
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
