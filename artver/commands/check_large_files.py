"""artver check-large-files: refuse to commit big files that artver should track instead."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from artver import git
from artver.errors import UsageError

DEFAULT_MAX = 10 * 1024 * 1024
_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2, "mib": 1024**2,
          "g": 1000**3, "gb": 1000**3, "gib": 1024**3}


@dataclass(frozen=True)
class LargeFile:
    path: str
    size: int


def parse_size(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", text)
    if not match or match.group(2).lower() not in _UNITS:
        raise UsageError(f"--max-size {text!r}: expected a size like 10MiB, 500KB or 1048576")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


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
