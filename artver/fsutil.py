"""Small filesystem primitives shared by the cache, pointers and the workspace.

Every write that a user or another process could observe half-done goes through
``atomic_write_bytes`` or ``temp_path_beside``: the bytes land in a temporary file in
the same directory (same filesystem), then one rename makes them visible.
A killed process leaves at most a temporary file, never a truncated target.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

TEMP_MARKER = ".artver-tmp-"


def temp_path_beside(target: Path) -> Path:
    """A fresh temporary name in target's directory; recognisable by TEMP_MARKER."""
    return target.with_name(f".{target.name[:80]}{TEMP_MARKER}{secrets.token_hex(6)}")


def atomic_write_bytes(target: Path, data: bytes, mode: int = 0o644) -> None:
    temp = temp_path_beside(target)
    try:
        with open(temp, "xb") as handle:
            handle.write(data)
        os.chmod(temp, mode)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def remove_temp_files(directory: Path) -> None:
    """Delete temporary files a killed artver left in ``directory`` (not recursive)."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if TEMP_MARKER in name:
            (directory / name).unlink(missing_ok=True)


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
