"""artver remove: stop tracking artifacts; their data stays in the workspace."""

from __future__ import annotations

from dataclasses import dataclass

from artver import file_lock, gitignore
from artver.artifacts import all_pointer_paths, artifact_of_argument
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
        # Every artifact tracked when the command started, those being removed included:
        # their .gitignore files are data artver must not edit (see gitignore.py).
        artifacts = {path[: -len(SUFFIX)] for path in all_pointer_paths(repo)}
        for artifact in dict.fromkeys(targets):
            (repo.root / (artifact + SUFFIX)).unlink()
            changed = gitignore.remove(repo.root, artifact, artifacts)
            results.append(RemoveResult(artifact, artifact + SUFFIX, changed))
    return results
