"""artver ls: the tracked artifacts at a revision (or in the workspace)."""

from __future__ import annotations

from dataclasses import dataclass

from artver import listing
from artver.artifacts import content_hash_of
from artver.history import snapshot
from artver.repo import Repo


@dataclass(frozen=True)
class ArtifactInfo:
    path: str
    kind: str
    size: int
    files: int
    hash: str
    desc: str | None
    meta: dict[str, str]


def ls(repo: Repo, revision: str | None = None) -> list[ArtifactInfo]:
    found = []
    for path, tracked in sorted(snapshot(repo, revision).items()):
        pointer = tracked.pointer
        if pointer.kind == "file":
            size, files = pointer.size or 0, 1
        elif pointer.listing is not None:
            size, files = pointer.size or 0, pointer.count or 0
        else:
            entries = pointer.entries or ()
            size, files = listing.total_size(entries), len(entries)
        found.append(ArtifactInfo(path, pointer.kind, size, files, content_hash_of(tracked, repo), pointer.desc, dict(pointer.meta)))
    return found
