"""Every Git access of artver goes through this module.

Working-tree questions (which files does Git track, which pointer files exist)
are asked of the ``git`` command, which is fast and honours every ignore rule.
History (pointer files at any revision) is read with dulwich, without touching
the working tree, the index or HEAD.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from artver.errors import GitError, NotARepositoryError

GIT_TIMEOUT = 120


def find_work_tree(start: Path) -> Path:
    """The root of the Git work tree containing ``start``."""
    current = start.resolve()
    for candidate in (current, *current.parents):
        if (candidate / ".git").exists():
            return candidate
    raise NotARepositoryError(f"{start} is not inside a Git work tree; run 'git init' first (or cd into your repository)")


def run(root: Path, *args: str, input_bytes: bytes | None = None) -> bytes:
    try:
        completed = subprocess.run(
            ["git", "-C", str(root), *args],
            input=input_bytes,
            capture_output=True,
            timeout=GIT_TIMEOUT,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
        )
    except FileNotFoundError:
        raise GitError("the 'git' command was not found; install Git and try again") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"'git {' '.join(args)}' did not finish within {GIT_TIMEOUT}s") from None
    if completed.returncode != 0:
        message = completed.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(f"'git {args[0]}' failed: {message[-1] if message else completed.returncode}")
    return completed.stdout


def _split_z(output: bytes) -> list[str]:
    return [os.fsdecode(item) for item in output.split(b"\0") if item]


def tracked_under(root: Path, relative_paths: list[str]) -> set[str]:
    """Paths Git tracks (in the index) that are, or are below, one of ``relative_paths``."""
    if not relative_paths:
        return set()
    output = run(root, "ls-files", "-z", "--cached", "--", *(f":(literal){path}" for path in relative_paths))
    return set(_split_z(output))


def ignored(root: Path, relative_paths: list[str]) -> set[str]:
    """Which of the paths Git's ignore rules exclude (they need not exist)."""
    if not relative_paths:
        return set()
    completed = subprocess.run(
        ["git", "-C", str(root), "check-ignore", "-z", "--no-index", "--stdin"],
        input=b"\0".join(os.fsencode(path) for path in relative_paths),
        capture_output=True,
        timeout=GIT_TIMEOUT,
    )
    if completed.returncode not in (0, 1):
        raise GitError(f"'git check-ignore' failed: {completed.stderr.decode('utf-8', 'replace').strip()}")
    return set(_split_z(completed.stdout))


def pointer_files(root: Path, suffix: str) -> list[str]:
    """Repository-relative paths of every pointer file: tracked, or new and not ignored."""
    output = run(
        root, "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", f":(glob)**/*{suffix}"
    )
    return sorted(set(_split_z(output)))


PATHSPEC_BYTES_PER_CALL = 256 * 1024  # far below the system's limit on a command line


def tracked_in_index_or_head(root: Path, relative_paths: list[str]) -> set[str]:
    """Paths Git tracks, in the index or in HEAD, that are, or are below, one of
    ``relative_paths`` (a path removed from the index but still in HEAD counts)."""
    found: set[str] = set()
    batch: list[str] = []
    size = 0
    for path in relative_paths:
        batch.append(f":(literal){path}")
        size += len(os.fsencode(path)) + 16
        if size >= PATHSPEC_BYTES_PER_CALL:
            found.update(_tracked_in_index_or_head(root, batch))
            batch, size = [], 0
    if batch:
        found.update(_tracked_in_index_or_head(root, batch))
    return found


def _tracked_in_index_or_head(root: Path, pathspecs: list[str]) -> list[str]:
    try:
        output = run(root, "ls-files", "-z", "--cached", "--with-tree=HEAD", "--", *pathspecs)
    except GitError:
        output = run(root, "ls-files", "-z", "--cached", "--", *pathspecs)  # no HEAD yet (no commit)
    return _split_z(output)
