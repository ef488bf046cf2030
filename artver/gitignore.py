"""Keeping each artifact out of Git: one anchored line in a .gitignore above it.

The line goes into the .gitignore of the artifact's own folder (``/name``),
unless that .gitignore is itself tracked by artver (an artifact, or inside one):
artver never edits data it tracks, so the line then goes one folder up
(``/sub/name``), and so on up to the top-level .gitignore. artver appends its
line once and removes exactly that line again; every other byte the user wrote
(order, comments, line endings, encoding) stays as it was.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from pathlib import Path

from artver.fsutil import atomic_write_bytes

_SPECIAL = set("*?[]!#\\")
NAME = ".gitignore"


def pattern_for(relative: str) -> str:
    """An anchored .gitignore pattern that matches exactly the path ``relative``
    (relative to the .gitignore's folder)."""
    escaped = "/".join("".join("\\" + char if char in _SPECIAL else char for char in part) for part in relative.split("/"))
    if escaped.endswith(" "):
        escaped = escaped[:-1] + "\\ "
    return "/" + escaped


def _is_tracked(path: str, artifacts: Collection[str]) -> bool:
    """True if ``path`` is one of ``artifacts`` or inside one of them."""
    parts = path.split("/")
    return any("/".join(parts[:depth]) in artifacts for depth in range(1, len(parts) + 1))


def _homes(artifact: str, artifacts: Collection[str]) -> Iterator[tuple[str, str]]:
    """Each folder above ``artifact`` whose .gitignore artver may edit, nearest first:
    (the .gitignore's repository-relative path, the artifact's path relative to that folder)."""
    parts = artifact.split("/")
    for depth in range(len(parts) - 1, -1, -1):
        folder = "/".join(parts[:depth])
        ignore_file = f"{folder}/{NAME}" if folder else NAME
        if not _is_tracked(ignore_file, artifacts):
            yield ignore_file, "/".join(parts[depth:])


def home_of(artifact: str, artifacts: Collection[str]) -> tuple[str, str] | None:
    """Where the rule for ``artifact`` goes: (.gitignore path, pattern) relative to the
    repository; None if every .gitignore above it is tracked (only possible when the
    top-level one is). ``artifacts`` are all tracked artifacts, those being added included."""
    nearest = next(_homes(artifact, artifacts), None)
    return None if nearest is None else (nearest[0], pattern_for(nearest[1]))


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""


def _is_our_line(line: bytes, pattern: bytes) -> bool:
    return line.rstrip(b"\r\n") == pattern


def add(root: Path, ignore_file: str, pattern: str) -> bool:
    """Ensure the line ``pattern`` is in ``root/ignore_file``; return True if the file changed."""
    path = root / ignore_file
    line = pattern.encode("utf-8")
    data = _read(path)
    if any(_is_our_line(existing, line) for existing in data.splitlines(keepends=True)):
        return False
    newline = b"\r\n" if b"\r\n" in data else b"\n"
    if data and not data.endswith(b"\n"):
        data += newline
    atomic_write_bytes(path, data + line + newline)
    return True


def remove(root: Path, artifact: str, artifacts: Collection[str]) -> str | None:
    """Remove the rule for ``artifact`` from the nearest .gitignore above it that artver
    may edit and that holds it; return that .gitignore's path, or None if none held it.
    .gitignore files in ``artifacts`` (or inside them) are never edited."""
    for ignore_file, relative in _homes(artifact, artifacts):
        path = root / ignore_file
        line = pattern_for(relative).encode("utf-8")
        lines = _read(path).splitlines(keepends=True)
        kept = [existing for existing in lines if not _is_our_line(existing, line)]
        if len(kept) == len(lines):
            continue
        if kept:
            atomic_write_bytes(path, b"".join(kept))
        else:
            path.unlink()
        return ignore_file
    return None
