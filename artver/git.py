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
REV_PARSE_TIMEOUT = 30  # resolving one name reads refs and perhaps a reflog: never minutes


def find_work_tree(start: Path) -> Path:
    """The root of the Git work tree containing ``start``."""
    current = start.resolve()
    for candidate in (current, *current.parents):
        if (candidate / ".git").exists():
            return candidate
    raise NotARepositoryError(f"{start} is not inside a Git work tree; run 'git init' first (or cd into your repository)")


def _completed(root: Path, args: tuple[str, ...], timeout: float, what: str,
               input_bytes: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """One 'git' process in ``root`` (never through a shell), whatever its exit code;
    GitError if Git is missing or ``what`` did not finish within ``timeout``."""
    try:
        return subprocess.run(
            ["git", "-C", str(root), *args],
            input=input_bytes,
            capture_output=True,
            timeout=timeout,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
        )
    except FileNotFoundError:
        raise GitError("the 'git' command was not found; install Git and try again") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"{what} did not finish within {timeout}s") from None


def run(root: Path, *args: str, input_bytes: bytes | None = None) -> bytes:
    completed = _completed(root, args, GIT_TIMEOUT, f"'git {' '.join(args)}'", input_bytes)
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


def commit_id(root: Path, revision: str) -> str:
    """The full SHA of the commit ``revision`` names, in any syntax 'git rev-parse' accepts:
    branches, tags, (abbreviated) SHAs, HEAD~2, main^2, ORIG_HEAD, MERGE_HEAD, @{-1}, main@{1},
    v1^{commit}, :/message. One 'git' process per call; the revision never reaches a shell and
    cannot be taken for an option (it is refused if it starts with '-', and follows
    --end-of-options)."""
    if not revision or revision.startswith("-") or any(char in revision for char in "\0\n\r"):
        raise GitError(f"invalid revision {revision[:80]!r}: a revision is a name such as a branch, tag or commit SHA")
    # '^{commit}' peels tags and makes Git prefer a commit when a short SHA could name several
    # objects; ':/TEXT' (the newest commit whose message matches) would read it as part of TEXT.
    peeled = revision if revision.startswith(":/") else revision + "^{commit}"
    completed = _completed(root, ("rev-parse", "--verify", "--end-of-options", peeled), REV_PARSE_TIMEOUT,
                           f"resolving revision '{revision}'")
    if completed.returncode != 0:
        if b"is ambiguous" in completed.stderr:
            raise GitError(f"ambiguous revision '{revision}': several objects start with it; give more characters of the SHA")
        raise GitError(f"unknown revision '{revision}' (try a branch, tag or commit SHA; see 'git log')")
    return completed.stdout.decode("ascii", "replace").strip()


def current_branch(root: Path) -> str | None:
    """The branch HEAD is on, or None when HEAD is detached (or there is no commit yet)."""
    try:
        return run(root, "symbolic-ref", "-q", "--short", "HEAD").decode("utf-8", "replace").strip() or None
    except GitError:
        return None


def tags_at(root: Path, revision: str) -> list[str]:
    """Tags that point at the commit (sorted)."""
    output = run(root, "tag", "--points-at", commit_id(root, revision))
    return sorted(line for line in output.decode("utf-8", "replace").splitlines() if line)


def branches_after(root: Path, revision: str) -> list[str]:
    """Branches whose history contains the commit and goes past it: local ones, or if there are
    none, remote-tracking ones (symbolic refs such as origin/HEAD left out)."""
    sha = commit_id(root, revision)
    found: dict[str, list[str]] = {"refs/heads/": [], "refs/remotes/": []}
    output = run(root, "for-each-ref", f"--contains={sha}", "--format=%(objectname) %(symref) %(refname)",
                 "refs/heads/", "refs/remotes/")
    for line in output.decode("utf-8", "replace").splitlines():
        tip, symref, name = line.split(" ", 2)
        if symref or tip == sha:
            continue
        for prefix, names in found.items():
            if name.startswith(prefix):
                names.append(name[len(prefix):])
    return sorted(found["refs/heads/"]) or sorted(found["refs/remotes/"])


def unmerged_stages(root: Path, paths: list[str] | None = None) -> dict[str, dict[int, str]]:
    """Paths Git holds in conflict (the index has stages for them) -> {stage: blob id}: stage 1
    is the common version, 2 ours, 3 theirs; a stage is missing where that side has no file."""
    pathspecs = [f":(literal){path}" for path in paths] if paths else []
    output = run(root, "ls-files", "-z", "--unmerged", "--", *pathspecs)
    found: dict[str, dict[int, str]] = {}
    for record in output.split(b"\0"):
        if not record:
            continue
        info, _, name = record.partition(b"\t")
        _mode, blob, stage = info.decode("ascii", "replace").split(" ")
        found.setdefault(os.fsdecode(name), {})[int(stage)] = blob
    return found


def read_blob(root: Path, blob: str, limit: int) -> bytes | None:
    """A blob's bytes, or None if it is larger than ``limit`` (checked before reading it)."""
    if int(run(root, "cat-file", "-s", blob).strip() or 0) > limit:
        return None
    return run(root, "cat-file", "blob", blob)


def config_get(root: Path, key: str) -> str | None:
    """A value of the repository's own Git config (.git/config), or None if unset."""
    completed = subprocess.run(
        ["git", "-C", str(root), "config", "--local", "--get", key],
        capture_output=True, timeout=GIT_TIMEOUT,
    )
    if completed.returncode == 1:
        return None
    if completed.returncode != 0:
        raise GitError(f"'git config' failed: {completed.stderr.decode('utf-8', 'replace').strip()}")
    return completed.stdout.decode("utf-8", "surrogateescape").rstrip("\n")


def config_set(root: Path, key: str, value: str) -> None:
    run(root, "config", "--local", key, value)


def config_remove_section(root: Path, section: str) -> bool:
    """Remove a section of .git/config; False if there was none."""
    completed = subprocess.run(
        ["git", "-C", str(root), "config", "--local", "--remove-section", section],
        capture_output=True, timeout=GIT_TIMEOUT,
    )
    if completed.returncode == 0:
        return True
    if b"no such section" in completed.stderr:
        return False
    raise GitError(f"'git config' failed: {completed.stderr.decode('utf-8', 'replace').strip()}")


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
