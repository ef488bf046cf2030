"""artver log: the commits in which an artifact (or a file inside a tracked directory) changed.

Walks history newest first, like ``git log PATH``: a commit is listed when the
artifact's content differs from every parent (a merge that only brings a
change made on a branch is not listed; the branch commit is). Renames of the
pointer are followed, like ``git log --follow``.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from pathlib import Path

from dulwich.objects import Commit
from dulwich.walk import ORDER_TOPO

from artver import history
from artver import pointer as pointer_module
from artver.artifacts import Tracked, artifact_of_argument, content_hash_of, entries_fetching_listing
from artver.errors import ArtverError, UsageError
from artver.repo import Repo

SUFFIX = pointer_module.SUFFIX


@dataclass(frozen=True)
class LogEntry:
    commit: str
    short: str
    date: str  # ISO 8601 with the author's offset
    author: str
    subject: str
    change: str  # added | modified | deleted | renamed
    path: str
    old_path: str | None
    hash: str | None
    size: int | None


@dataclass(frozen=True)
class DetachedHead:
    """HEAD is detached at a commit that branches have moved past (e.g. 'git checkout v1'):
    a log of HEAD ends there, and ``later`` holds the branches to ask for newer history."""

    at: str  # a tag pointing at HEAD, else its short SHA
    later: tuple[str, ...]

    def hint(self, path: str) -> str:
        more = f" (also: {', '.join(self.later[1:4])})" if len(self.later) > 1 else ""
        return (
            f"HEAD is detached at {self.at}, so later commits are not shown; "
            f"see them with 'artver log {path} --rev {self.later[0]}'{more}"
        )


def detached_head(root: Path) -> DetachedHead | None:
    """Where HEAD is detached in the work tree at ``root``, if branches go further; None on a
    branch (or without commits)."""
    from artver import git as git_commands

    if git_commands.current_branch(root) is not None:
        return None
    try:
        later = git_commands.branches_after(root, "HEAD")
        if not later:
            return None
        tags = git_commands.tags_at(root, "HEAD")
        at = tags[0] if tags else git_commands.commit_id(root, "HEAD")[:8]
    except ArtverError:
        return None  # no commit yet, or Git cannot tell: nothing to point to
    return DetachedHead(at, tuple(later))


@dataclass(frozen=True)
class _State:
    """What the artifact (or file) is in one commit; None fields when absent."""

    path: str
    hash: str | None
    size: int | None


@dataclass
class _Reader:
    repo: Repo
    pointers: history.PointerReader
    target: str  # the artifact path, or a file path inside a directory artifact
    artifact: str  # the artifact whose pointer holds it
    inner: str | None  # path inside the directory, or None for the artifact itself
    _states: dict[tuple[bytes, str], _State | None] = field(default_factory=dict)

    def state(self, commit: Commit, artifact: str) -> _State | None:
        blob = self.pointers.blob_at(commit, artifact + SUFFIX)
        if blob is None:
            return None
        key = (blob, artifact)
        if key not in self._states:
            self._states[key] = self._state_of(commit, artifact, blob)
        return self._states[key]

    def _state_of(self, commit: Commit, artifact: str, blob: bytes) -> _State | None:
        tracked = self._tracked(artifact, commit, blob)
        if self.inner is None:
            return _State(artifact, content_hash_of(tracked, self.repo), _size(tracked))
        pointer = tracked.pointer
        if not isinstance(pointer, pointer_module.DirPointer):
            return None
        for entry in entries_fetching_listing(self.repo, pointer, tracked.pointer_path):
            if entry.path == self.inner:
                return _State(artifact, entry.hash, entry.size)
        return None

    def _tracked(self, artifact: str, commit: Commit, blob: bytes) -> Tracked:
        where = f"{commit.id.decode()[:8]}:{artifact}{SUFFIX}"
        return Tracked(artifact, where, pointer_module.parse_pointer(self.pointers.read(blob), where))

    def renamed_from(self, commit: Commit, parent: Commit, state: _State) -> str | None:
        """The path the artifact had in ``parent`` if this commit renamed it."""
        if self.inner is not None:
            return None
        now = {path for path, _ in self.pointers.pointer_blobs(commit)}
        for path, blob in self.pointers.pointer_blobs(parent):
            if path in now:
                continue
            artifact = path[: -len(SUFFIX)]
            tracked = self._tracked(artifact, parent, blob)
            if content_hash_of(tracked, self.repo) == state.hash:
                return artifact
        return None


def _size(tracked: Tracked) -> int | None:
    pointer = tracked.pointer
    if isinstance(pointer, pointer_module.FilePointer):
        return pointer.size
    return pointer.content.size


def _find_artifact(repo: Repo, reader: history.PointerReader, head: Commit, target: str) -> tuple[str, str | None]:
    """Which artifact holds ``target``: itself, or a tracked directory above it."""
    parts = target.split("/")
    for index in range(len(parts), 0, -1):
        candidate = "/".join(parts[:index])
        if reader.blob_at(head, candidate + SUFFIX) is not None or (repo.root / (candidate + SUFFIX)).is_file():
            return candidate, ("/".join(parts[index:]) or None)
    return target, None


def log(repo: Repo, path: str, limit: int | None = None, revision: str = "HEAD") -> list[LogEntry]:
    target = artifact_of_argument(repo, path)
    git = history.open_git(repo.root)
    try:
        head = history.resolve(git, revision)
    except ArtverError:
        if revision == "HEAD":
            return []  # no commits yet
        raise
    pointers = history.PointerReader(git, SUFFIX.encode())
    artifact, inner = _find_artifact(repo, pointers, head, target)
    reader = _Reader(repo, pointers, target, artifact, inner)
    entries: list[LogEntry] = []
    follow = artifact
    seen_any = False
    # Topological order: a commit always comes before its parents, even when several share a
    # timestamp (scripted histories), which date order alone does not guarantee; following a
    # rename relies on it.
    for walk_entry in git.get_walker(include=[head.id], order=ORDER_TOPO):
        commit = walk_entry.commit
        now = reader.state(commit, follow)
        parents = [git[parent] for parent in commit.parents]
        before = [reader.state(parent, follow) for parent in parents]  # type: ignore[arg-type]  # dulwich types parents as bytes ids, which is what state() takes
        if now is not None:
            seen_any = True
        if any(_same(now, other) for other in before) or (not parents and now is None):
            continue
        if now is None:
            change, old_path = "deleted", None
        elif all(other is None for other in before):
            old_path = reader.renamed_from(commit, parents[0], now) if parents else None  # type: ignore[arg-type]  # dulwich types parents as bytes ids, which is what renamed_from() takes
            change = "renamed" if old_path else "added"
        else:
            change, old_path = "modified", None
        shown = now or next((other for other in before if other is not None), None)
        entries.append(_entry(commit, change, shown, target if inner else follow, old_path))
        if old_path:
            follow = old_path
        if limit is not None and len(entries) >= limit:
            break
    if not entries and not seen_any:
        detached = detached_head(repo.root) if revision == "HEAD" else None
        later = f" ({detached.hint(path)})" if detached else ""
        if inner is not None:
            raise UsageError(f"{path}: not a file of the tracked folder {artifact} in the history of {revision}{later}")
        if not (repo.root / (artifact + SUFFIX)).is_file():
            raise UsageError(f"{path}: not a tracked artifact in the history of {revision}{later}")
    return entries


def _same(a: _State | None, b: _State | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.hash == b.hash


def _entry(commit: Commit, change: str, state: _State | None, path: str, old_path: str | None) -> LogEntry:
    offset = datetime.timezone(datetime.timedelta(seconds=commit.author_timezone))
    date = datetime.datetime.fromtimestamp(commit.author_time, offset).isoformat()
    message = commit.message.decode("utf-8", "replace")
    return LogEntry(
        commit=commit.id.decode(),
        short=commit.id.decode()[:8],
        date=date,
        author=commit.author.decode("utf-8", "replace"),
        subject=message.strip().splitlines()[0] if message.strip() else "",
        change=change,
        path=path,
        old_path=old_path,
        hash=state.hash if state and change != "deleted" else None,
        size=state.size if state and change != "deleted" else None,
    )
