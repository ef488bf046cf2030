"""artver remove: stop tracking artifacts; their data stays in the workspace."""

from __future__ import annotations

from dataclasses import dataclass

from artver import file_lock, gitignore
from artver.artifacts import artifact_of_argument
from artver.errors import UsageError
from artver.pointer import SUFFIX
from artver.repo import Repo


@dataclass(frozen=True)
class RemoveResult:
    path: str
    pointer_path: str
    gitignore: str | None  # the .gitignore artver changed, if any


def remove(repo: Repo, paths: list[str]) -> list[RemoveResult]:
    if not paths:
        raise UsageError("nothing to remove: name the artifacts to stop tracking")
    results = []
    with file_lock.locked(repo.lock_path, repo.lock_timeout):
        targets = []
        for user_path in paths:
            artifact = artifact_of_argument(repo, user_path)
            if not (repo.root / (artifact + SUFFIX)).is_file():
                raise UsageError(f"{user_path}: not a tracked artifact (no {artifact}{SUFFIX})")
            targets.append(artifact)
        for artifact in dict.fromkeys(targets):
            absolute = repo.root / artifact
            (repo.root / (artifact + SUFFIX)).unlink()
            changed = gitignore.remove(absolute.parent, absolute.name)
            parent = absolute.parent.relative_to(repo.root).as_posix()
            ignore_path = ".gitignore" if parent == "." else f"{parent}/.gitignore"
            results.append(RemoveResult(artifact, artifact + SUFFIX, ignore_path if changed else None))
    return results
