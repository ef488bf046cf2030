"""Keeping each artifact out of Git: one anchored line in its directory's .gitignore.

artver appends ``/name`` once and removes exactly that line again; every other
byte the user wrote (order, comments, line endings, encoding) stays as it was.
"""

from __future__ import annotations

from pathlib import Path

from artver.fsutil import atomic_write_bytes

_SPECIAL = set("*?[]!#\\")


def pattern_for(name: str) -> str:
    """An anchored .gitignore pattern that matches exactly ``name``."""
    escaped = "".join("\\" + char if char in _SPECIAL else char for char in name)
    if escaped.endswith(" "):
        escaped = escaped[:-1] + "\\ "
    return "/" + escaped


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""


def _is_our_line(line: bytes, pattern: bytes) -> bool:
    return line.rstrip(b"\r\n") == pattern


def add(directory: Path, name: str) -> bool:
    """Ensure the artifact ``name`` is ignored; return True if the file changed."""
    path = directory / ".gitignore"
    pattern = pattern_for(name).encode("utf-8")
    data = _read(path)
    if any(_is_our_line(line, pattern) for line in data.splitlines(keepends=True)):
        return False
    newline = b"\r\n" if b"\r\n" in data else b"\n"
    if data and not data.endswith(b"\n"):
        data += newline
    atomic_write_bytes(path, data + pattern + newline)
    return True


def remove(directory: Path, name: str) -> bool:
    path = directory / ".gitignore"
    pattern = pattern_for(name).encode("utf-8")
    lines = _read(path).splitlines(keepends=True)
    kept = [line for line in lines if not _is_our_line(line, pattern)]
    if len(kept) == len(lines):
        return False
    if kept:
        atomic_write_bytes(path, b"".join(kept))
    else:
        path.unlink()
    return True
