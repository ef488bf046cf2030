"""Small helpers shared by the test modules (fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from artver import hashing


def write(path: Path, data: bytes | str) -> Path:
    """Write a file (text as UTF-8), creating its folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def xxh(data: bytes) -> str:
    return hashing.hash_bytes(data, "xxh128")


def object_path(root: Path, hash_value: str) -> Path:
    """Where a repository's cache keeps an object."""
    algorithm, digest = hash_value.split(":")
    return root / ".artver" / "cache" / algorithm / digest[:2] / digest[2:]


def assert_one_line_error(result: Any, *needles: str) -> str:
    """A failed command that said why in one 'artver: error:' line (no traceback); the line."""
    assert result.code not in (0, 3), result
    assert "Traceback" not in result.err and "Traceback" not in result.out
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("artver: error: "), result.err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]
