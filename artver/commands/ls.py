"""artver ls: the tracked artifacts at a revision (or in the workspace)."""

from __future__ import annotations

from dataclasses import dataclass

from artver.artifacts import content_hash_of
from artver.history import snapshot
from artver.pointer import FilePointer, Kind
from artver.repo import Repo


@dataclass(frozen=True)
class ArtifactInfo:
    path: str
    kind: Kind
    size: int
    files: int
    hash: str
    desc: str | None
    meta: dict[str, str]


def ls(repo: Repo, revision: str | None = None) -> list[ArtifactInfo]:
    found = []
    for path, tracked in sorted(snapshot(repo, revision).items()):
        pointer = tracked.pointer
        if isinstance(pointer, FilePointer):
            size, files = pointer.size, 1
        else:
            size, files = pointer.content.size, pointer.content.count
        found.append(ArtifactInfo(path, pointer.kind, size, files, content_hash_of(tracked, repo), pointer.desc, dict(pointer.meta)))
    return found
