"""artver check-large-files: refuse to commit big files that artver should track instead."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from artver import fsutil, git
from artver.errors import UsageError

DEFAULT_MAX = 10 * 1024 * 1024


@dataclass(frozen=True)
class LargeFile:
    path: str
    size: int


def parse_size(text: str) -> int:
    size = fsutil.parse_size(text)
    if size is None:
        raise UsageError(f"--max-size {text!r}: expected a size like 10MiB, 500KB or 1048576")
    return size


def check(root: Path, files: list[str] | None, max_size: int) -> list[LargeFile]:
    """The files (default: those staged) larger than ``max_size``, pointer files excepted."""
    if not files:
        staged = git.run(root, "diff", "--cached", "--name-only", "-z", "--diff-filter=ACMR")
        files = [item for item in staged.decode("utf-8", "surrogateescape").split("\0") if item]
        base = root
    else:
        base = Path.cwd()
    found = []
    for name in files:
        path = base / name
        if name.endswith(".art") or not path.is_file():
            continue
        size = path.stat().st_size
        if size > max_size:
            found.append(LargeFile(name, size))
    return found
