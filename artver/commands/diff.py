"""artver diff: what changed in the artifacts between two revisions (or a revision and the workspace).

"The workspace" here means the pointer files in the working tree (committed or
not): diff answers "what does this commit change in the artifacts". Whether the
data on disk matches those pointers is what ``artver status`` answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from artver import history
from artver import pointer as pointer_module
from artver.artifacts import Tracked, content_hash_of, entries_fetching_listing
from artver.errors import ArtverError, UsageError
from artver.history import snapshot
from artver.listing import Entry
from artver.repo import Repo

WORKSPACE = "workspace"


@dataclass(frozen=True)
class FileChange:
    path: str  # inside the directory
    change: str  # added | deleted | modified
    old_hash: str | None
    new_hash: str | None
    old_size: int | None
    new_size: int | None


@dataclass(frozen=True)
class ArtifactChange:
    path: str
    change: str  # added | deleted | modified | renamed
    kind: str
    old_path: str | None
    old_hash: str | None
    new_hash: str | None
    old_size: int | None
    new_size: int | None
    files_added: int = 0
    files_deleted: int = 0
    files_modified: int = 0
    files: tuple[FileChange, ...] = ()
    detail: str = ""


@dataclass(frozen=True)
class DiffResult:
    old: str
    new: str
    changes: tuple[ArtifactChange, ...] = field(default_factory=tuple)


def diff(repo: Repo, old: str | None = None, new: str | None = None, paths: list[str] | None = None) -> DiffResult:
    old_revision = old or "HEAD"
    git = history.open_git(repo.root)
    before = snapshot(repo, old_revision, git)
    after = snapshot(repo, new, git)
    if paths:
        from artver.artifacts import artifact_of_argument

        wanted = [artifact_of_argument(repo, path) for path in paths]

        def chosen(path: str) -> bool:
            return any(item in (".", path) or path.startswith(item + "/") for item in wanted)

        for item, user_path in zip(wanted, paths):
            if item != "." and not any(path == item or path.startswith(item + "/") for path in (*before, *after)):
                raise UsageError(
                    f"{user_path}: neither a Git revision nor an artifact tracked at {old_revision} or {new or WORKSPACE}"
                )
        before = {path: item for path, item in before.items() if chosen(path)}
        after = {path: item for path, item in after.items() if chosen(path)}
    return DiffResult(old_revision, new or WORKSPACE, tuple(compare(repo, before, after)))


def _size(repo: Repo, tracked: Tracked) -> int | None:
    pointer = tracked.pointer
    if isinstance(pointer, pointer_module.FilePointer):
        return pointer.size
    return pointer.content.size


def compare(repo: Repo, before: dict[str, Tracked], after: dict[str, Tracked]) -> list[ArtifactChange]:
    identity_before = {path: (item.pointer.kind, content_hash_of(item, repo)) for path, item in before.items()}
    identity_after = {path: (item.pointer.kind, content_hash_of(item, repo)) for path, item in after.items()}
    deleted = sorted(set(before) - set(after))
    added = sorted(set(after) - set(before))
    changes: list[ArtifactChange] = []
    for path in added:
        source = next((old for old in deleted if identity_before[old] == identity_after[path]), None)
        item = after[path]
        if source is not None:
            deleted.remove(source)
            changes.append(ArtifactChange(path, "renamed", item.pointer.kind, source, identity_before[source][1],
                                          identity_after[path][1], _size(repo, before[source]), _size(repo, item)))
        else:
            changes.append(_one_sided(repo, item, "added"))
    for path in deleted:
        changes.append(_one_sided(repo, before[path], "deleted"))
    for path in sorted(set(before) & set(after)):
        if identity_before[path] != identity_after[path]:
            changes.append(_modified(repo, before[path], after[path]))
    changes.sort(key=lambda change: change.path)
    return changes


def _one_sided(repo: Repo, item: Tracked, change: str) -> ArtifactChange:
    identity = content_hash_of(item, repo)
    size = _size(repo, item)
    old, new = (None, identity) if change == "added" else (identity, None)
    old_size, new_size = (None, size) if change == "added" else (size, None)
    counts: dict[str, int] = {}
    if isinstance(item.pointer, pointer_module.DirPointer):
        counts["files_added" if change == "added" else "files_deleted"] = item.pointer.content.count
    return ArtifactChange(item.path, change, item.pointer.kind, None, old, new, old_size, new_size, **counts)  # type: ignore[arg-type]  # counts is a dict of the int fields, which mypy cannot match to keywords


def _modified(repo: Repo, before: Tracked, after: Tracked) -> ArtifactChange:
    old_hash, new_hash = content_hash_of(before, repo), content_hash_of(after, repo)
    base = dict(path=after.path, change="modified", kind=after.pointer.kind, old_path=None, old_hash=old_hash,
                new_hash=new_hash, old_size=_size(repo, before), new_size=_size(repo, after))
    old_pointer, new_pointer = before.pointer, after.pointer
    if not isinstance(old_pointer, pointer_module.DirPointer) or not isinstance(new_pointer, pointer_module.DirPointer):
        return ArtifactChange(**base)  # type: ignore[arg-type]  # base holds the common fields with their types, which mypy cannot see through a dict
    try:
        old_entries = entries_fetching_listing(repo, old_pointer, before.pointer_path)
        new_entries = entries_fetching_listing(repo, new_pointer, after.pointer_path)
    except ArtverError as error:
        return ArtifactChange(**base, detail=f"file list unavailable: {error}")  # type: ignore[arg-type]  # base holds the common fields with their types, which mypy cannot see through a dict
    files = diff_entries(old_entries, new_entries)
    return ArtifactChange(
        **base,  # type: ignore[arg-type]  # base holds the common fields with their types, which mypy cannot see through a dict
        files_added=sum(1 for item in files if item.change == "added"),
        files_deleted=sum(1 for item in files if item.change == "deleted"),
        files_modified=sum(1 for item in files if item.change == "modified"),
        files=tuple(files),
    )


def diff_entries(old: tuple[Entry, ...], new: tuple[Entry, ...]) -> list[FileChange]:
    before = {entry.path: entry for entry in old}
    after = {entry.path: entry for entry in new}
    changes = []
    for path in sorted(set(before) | set(after)):
        a, b = before.get(path), after.get(path)
        if a is None and b is not None:
            changes.append(FileChange(path, "added", None, b.hash, None, b.size))
        elif b is None and a is not None:
            changes.append(FileChange(path, "deleted", a.hash, None, a.size, None))
        elif a is not None and b is not None and (a.hash != b.hash or a.executable != b.executable):
            changes.append(FileChange(path, "modified", a.hash, b.hash, a.size, b.size))
    return changes
