"""Validation of paths that come from pointer files, listings and the command line.

A pointer file is committed, so it may come from anyone who can push to the Git
repository. Every path read from one is checked here before it is joined to a
directory on disk.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from artver.errors import UnsafePathError


_VALID_RELATIVE = re.compile(r"(?!/)[^\x00-\x1f\x7f\\]+")
_DOT_COMPONENT = re.compile(r"(?:^|/)\.{0,2}(?:/|$)")


def check_relative(path: str, where: str) -> str:
    """Return ``path`` if it is a safe relative POSIX path, else raise UnsafePathError.

    Refused: empty paths, absolute paths, ``.``/``..``/empty components,
    backslashes (a Windows separator that would escape on another machine),
    NUL and other control characters.
    """
    if _VALID_RELATIVE.fullmatch(path) and not _DOT_COMPONENT.search(path):
        return path  # the common case, decided by two regular expressions; the checks below explain refusals
    if not path:
        raise UnsafePathError(f"{where}: empty path")
    if "\\" in path:
        raise UnsafePathError(f"{where}: path {path!r} contains a backslash")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in path):
        raise UnsafePathError(f"{where}: path {path!r} contains a control character")
    if path.startswith("/"):
        raise UnsafePathError(f"{where}: path {path!r} is absolute")
    for part in path.split("/"):
        if part in ("", ".", ".."):
            raise UnsafePathError(f"{where}: path {path!r} has a {part or 'empty'!r} component")
    return path


def check_artifact_path(path: str, where: str) -> str:
    """An artifact path (from a pointer's location): a safe relative path that is not,
    and is not inside, a ``.git`` folder or the repository's ``.artver`` folder."""
    check_relative(path, where)
    parts = path.split("/")
    if ".git" in parts or parts[0] == ".artver":
        raise UnsafePathError(f"{where}: refers to {path!r}, inside Git's or artver's own folder; artver never writes there")
    return path


def check_no_symlink_escape(base: Path, relative: str, where: str) -> Path:
    """Join ``relative`` to ``base`` and refuse if an existing parent is a symlink.

    A listing entry ``a/b/c`` must land inside ``base`` even if someone placed a
    symlink ``base/a -> /etc`` in the workspace. Only the parents are checked;
    the final component is replaced atomically by the caller, never followed.
    """
    target = base
    parts = relative.split("/")
    for part in parts[:-1]:
        target = target / part
        if target.is_symlink():
            raise UnsafePathError(
                f"{where}: {target} is a symlink; artver will not write through it "
                f"(remove it, then run the command again)"
            )
    return base / relative


def is_within(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def to_posix(relative: Path | str) -> str:
    return Path(relative).as_posix()


def fs_name_ok(name: str) -> bool:
    """True if ``name`` (from os.scandir) is valid UTF-8, so it can go into a pointer."""
    if name.isascii():
        return True
    try:
        os.fsencode(name).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
