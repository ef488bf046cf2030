"""Which pointers a command works on: the workspace, and optionally Git revisions.

push, fetch and gc accept ``--rev REV`` (repeatable), ``--all-branches``,
``--all-tags`` and ``--all-commits``. The workspace's pointers are always
included; the revisions add the pointers they contain, read through dulwich
without touching the working tree. A path inside a tracked directory selects that
part of the directory, in the workspace and in each revision alike (artifacts.select,
listing.under).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from artver import pointer as pointer_module
from artver.artifacts import Part, Tracked, cli_path, outermost, part_of, select
from artver.pointer import DirPointer
from artver.repo import Repo

if TYPE_CHECKING:
    from dulwich.objects import Commit


@dataclass(frozen=True)
class Revisions:
    revs: tuple[str, ...] = ()
    all_branches: bool = False
    all_tags: bool = False
    all_commits: bool = False

    @property
    def any(self) -> bool:
        return bool(self.revs or self.all_branches or self.all_tags or self.all_commits)


def pointers_in_scope(repo: Repo, paths: list[str] | None, revisions: Revisions, workspace: bool = True) -> list[Tracked]:
    found: list[Tracked] = select(repo, paths) if workspace else []
    if not revisions.any:
        return found
    from artver import history  # dulwich: loaded only when revisions are asked for

    wanted = [cli_path(repo, path) for path in paths] if paths else None
    git = history.open_git(repo.root)
    reader = history.PointerReader(git, pointer_module.SUFFIX.encode())
    commits: dict[bytes, tuple[str, Commit]] = {}
    for revision in revisions.revs:
        commit = history.resolve(git, revision)
        commits.setdefault(commit.id, (revision, commit))
    if revisions.all_branches:
        for name, commit in history.branch_commits(git):
            commits.setdefault(commit.id, (name, commit))
    if revisions.all_tags:
        for name, commit in history.tag_commits(git):
            commits.setdefault(commit.id, (name, commit))
    if revisions.all_commits:
        for commit in history.all_commits(git):
            commits.setdefault(commit.id, (commit.id.decode()[:8], commit))
    seen_blobs: set[bytes] = set()

    def whole(artifact: str) -> bool:
        return wanted is None or any(
            artifact == item or artifact.startswith(item + "/") or item in (".", artifact + pointer_module.SUFFIX)
            for item in wanted
        )

    def parts(artifact: str) -> list[str]:
        return [inner for item in wanted or () if (inner := part_of(artifact, item))]

    def accept(artifact: str, blob_id: bytes) -> bool:
        if blob_id in seen_blobs or not (whole(artifact) or parts(artifact)):
            return False
        seen_blobs.add(blob_id)
        return True

    for label, commit in commits.values():
        for tracked in history.pointers_at(reader, commit, label, accept):
            if whole(tracked.path):
                found.append(tracked)
            elif isinstance(tracked.pointer, DirPointer):  # a path inside a file names nothing
                # A revision holds what it holds: a part it lacks selects nothing there.
                found.extend(replace(tracked, part=Part(inner, must_exist=False)) for inner in outermost(parts(tracked.path)))
    return found
