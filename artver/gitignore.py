"""Keeping each artifact out of Git: one anchored line in its directory's .gitignore.

artver appends ``/name`` once and removes exactly that line again; everything
the user wrote stays as it was, in its order.
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


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []


def add(directory: Path, name: str) -> bool:
    """Ensure the artifact ``name`` is ignored; return True if the file changed."""
    path = directory / ".gitignore"
    pattern = pattern_for(name)
    if pattern in _lines(path):
        return False
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        data = b""
    if data and not data.endswith(b"\n"):
        data += b"\n"
    atomic_write_bytes(path, data + pattern.encode("utf-8") + b"\n")
    return True


def remove(directory: Path, name: str) -> bool:
    path = directory / ".gitignore"
    pattern = pattern_for(name)
    lines = _lines(path)
    if pattern not in lines:
        return False
    kept = [line for line in lines if line != pattern]
    if kept:
        atomic_write_bytes(path, ("\n".join(kept) + "\n").encode("utf-8"))
    else:
        path.unlink()
    return True
