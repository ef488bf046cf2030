"""Real Git, run in temporary repositories."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

SUBPROCESS_TIMEOUT = 120  # seconds, for any single git or artver process a test runs to completion


def git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run git in ``cwd`` (in ``env``, a whole environment, if given); its stdout. A failure fails the test."""
    completed = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT,
        env=env if env is not None else dict(os.environ),
    )
    if completed.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {completed.stderr}")
    return completed.stdout


def commit_all(cwd: Path, message: str) -> str:
    """Stage everything and commit; the new commit id."""
    git(cwd, "add", "-A")
    git(cwd, "commit", "-q", "-m", message)
    return git(cwd, "rev-parse", "HEAD").strip()
