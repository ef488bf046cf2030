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

MAX_PATH_CHARS = 4096  # PATH_MAX of Linux: no longer path can be created, and it bounds the work per path

# A path a Git repository or artver itself gives meaning to must never come out of a pointer:
# a listing that writes ``data/.git/config`` turns ``data/`` into a repository whose config
# (core.fsmonitor, core.pager, ...) runs commands as soon as anyone runs git there.
# Git refuses these paths in its index (read-cache.c verify_path) in every spelling that some
# filesystem resolves to ``.git``; the same facts decide here, for ``.git`` and ``.artver``:
# - case: NTFS, APFS and HFS+ compare names case-insensitively (Git refuses ``.GIT`` everywhere);
# - NTFS drops trailing dots and spaces (``.git . .``) and opens a stream for ``name:stream``
#   (``.git::$INDEX_ALLOCATION`` is the folder itself);
# - NTFS gives ``.git`` the 8.3 short name ``GIT~1``;
# - HFS+ ignores some zero-width and direction code points when comparing (``.g\u200cit``).
_HFS_IGNORED = "\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u206a\u206b\u206c\u206d\u206e\u206f\ufeff"
# Non-ASCII letters whose upper or lower case is an ASCII letter, so a case-insensitive
# filesystem may match them to one (the Turkish dotted/dotless i, long s, Kelvin sign).
_CASE_TO_ASCII = {"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"}
_OWN_FOLDERS = {".git": ".git", "git~1": ".git", ".artver": ".artver", "artver~1": ".artver"}
# Files Git reads as its own configuration of the folder they are in; artver never makes one
# of them an artifact (its content would hide in the cache, and artver would make Git ignore it).
_GIT_FILES = {"gitmodules": "gi7eba", "gitattributes": "gi7d29", "gitignore": "gi250a", "mailmap": "maba30"}

# The common case, decided by C-speed string tests (listings hold up to millions of paths):
# printable characters without backslash, no empty component, and no component that needs a
# closer look: "." followed by g, a, "." or nothing (., .., .git, .artver and their spellings),
# "~" (NTFS short names), or a character a filesystem may ignore or case-fold to ASCII.
_PLAIN = re.compile("[^\\x00-\\x1f\\x7f\\\\~\\ud800-\\udfff" + _HFS_IGNORED + "".join(_CASE_TO_ASCII) + "]+")
_SPECIAL_DOT = re.compile(r"(?:^|/)\.(?:[gGaA./]|$)")
# The same rule as one pattern (without the length limit), for checking a whole listing's
# paths in one scan: components of plain characters, none empty, none beginning with "."
# followed by g, a, "." or nothing.
_NOT_PLAIN = "/\\x00-\\x1f\\x7f\\\\~\\ud800-\\udfff" + _HFS_IGNORED + "".join(_CASE_TO_ASCII)
_COMPONENT = f"(?:[^.{_NOT_PLAIN}]|\\.[^gGaA.{_NOT_PLAIN}])[^{_NOT_PLAIN}]*"
ORDINARY_PATH_PATTERN = f"{_COMPONENT}(?:/{_COMPONENT})*"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _is_ordinary(path: str) -> bool:
    return (
        len(path) <= MAX_PATH_CHARS
        and _PLAIN.fullmatch(path) is not None
        and path[0] != "/"
        and path[-1] != "/"
        and "//" not in path
        and ((path[0] != "." and "/." not in path) or _SPECIAL_DOT.search(path) is None)
    )


def fold_name(name: str) -> str:
    """``name`` as a case-insensitive, NTFS- or HFS+-like filesystem sees it, for comparison
    with an ASCII name: ignored code points dropped, an NTFS stream suffix and trailing dots
    and spaces cut, lower case."""
    if not name.isascii():
        name = "".join(_CASE_TO_ASCII.get(char, char) for char in name if char not in _HFS_IGNORED)
    return name.partition(":")[0].rstrip(" .").lower()


def own_folder_of(name: str) -> str | None:
    """``".git"`` or ``".artver"`` if some filesystem would open that folder for this path
    component (``.GIT``, ``.git.``, ``git~1``, ``.g\u200cit``, ...), else None."""
    return _OWN_FOLDERS.get(fold_name(name))


def git_file_of(name: str) -> str | None:
    """``".gitmodules"``, ``".gitattributes"``, ``".gitignore"`` or ``".mailmap"`` if some
    filesystem would open that file for ``name`` (including NTFS short names), else None."""
    folded = fold_name(name)
    if folded.startswith("."):
        return "." + folded[1:] if folded[1:] in _GIT_FILES else None
    if "~" not in folded:
        return None
    for long_name, hashed in _GIT_FILES.items():
        if re.fullmatch(re.escape(long_name[:6]) + "~[1-4]", folded):
            return "." + long_name
        # the fallback short name: up to six characters of Windows' hash of the name, '~', then digits
        for kept in range(7):
            if re.fullmatch(re.escape(hashed[:kept]) + f"~[1-9][0-9]{{{6 - kept}}}", folded):
                return "." + long_name
    return None


def own_folder_in(path: str) -> tuple[str, str] | None:
    """The first component of ``path`` that names Git's or artver's own folder (own_folder_of),
    with that folder's name: ``("sub/GIT~1", ".git")`` for ``sub/GIT~1/config``; else None."""
    if _is_ordinary(path):
        return None
    parts = path.split("/")
    for index, part in enumerate(parts):
        folder = own_folder_of(part)
        if folder is not None:
            return "/".join(parts[: index + 1]), folder
    return None


def reserved_name_in(path: str) -> str | None:
    """What ``path`` may not be as an artifact: ``.git`` or ``.artver`` if it is or is inside one
    (own_folder_in), a Git file name if it names one (git_file_of), else None."""
    found = own_folder_in(path)
    return found[1] if found is not None else git_file_of(path.rpartition("/")[2])


def _shown(path: str) -> str:
    return repr(path) if len(path) <= 200 else f"{path[:200]!r}..."


def check_relative(path: str, where: str) -> str:
    """Return ``path`` if it is a safe relative POSIX path, else raise UnsafePathError.

    Refused: empty paths, absolute paths, ``.``/``..``/empty components,
    backslashes (a Windows separator that would escape on another machine),
    NUL and other control characters, text that is not valid Unicode (a lone
    surrogate), paths longer than MAX_PATH_CHARS, and any component that names
    Git's or artver's own folder on some filesystem (see own_folder_of).
    """
    if _is_ordinary(path):
        return path  # the common case; the checks below explain refusals
    if not path:
        raise UnsafePathError(f"{where}: empty path")
    if "\\" in path:
        raise UnsafePathError(f"{where}: path {_shown(path)} contains a backslash")
    if _CONTROL.search(path):
        raise UnsafePathError(f"{where}: path {_shown(path)} contains a control character")
    if _SURROGATE.search(path):
        raise UnsafePathError(f"{where}: path {_shown(path)} is not valid Unicode (a lone surrogate)")
    if path.startswith("/"):
        raise UnsafePathError(f"{where}: path {_shown(path)} is absolute")
    if len(path) > MAX_PATH_CHARS:
        raise UnsafePathError(f"{where}: path {_shown(path)} is longer than {MAX_PATH_CHARS} characters")
    for part in path.split("/"):
        if part in ("", ".", ".."):
            raise UnsafePathError(f"{where}: path {_shown(path)} has a {part or 'empty'!r} component")
    found = own_folder_in(path)
    if found is not None:
        component, folder = found
        name = component.rpartition("/")[2]
        alias = "" if name == folder else f" (which a filesystem may take for {folder})"
        raise UnsafePathError(f"{where}: path {_shown(path)} has the component {name!r}{alias}; artver never writes into a {folder} folder")
    return path


def check_artifact_path(path: str, where: str) -> str:
    """An artifact path (from a pointer's location): a safe relative path (check_relative)
    that does not name a file Git reads as its configuration (.gitattributes, ...)."""
    check_relative(path, where)
    name = path.rpartition("/")[2]
    git_file = git_file_of(name)
    if git_file is not None:
        raise UnsafePathError(
            f"{where}: refers to {path!r}, which Git reads as its {git_file} file; artver never writes it"
        )
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
