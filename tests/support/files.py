"""Files, hashes and where objects live, computed independently of artver's own code."""

from __future__ import annotations

import os
from pathlib import Path

import xxhash

MiB = 1024 * 1024
ALGO = "xxh128"
TEMP_MARKER = ".artver-tmp-"  # in the name of every file artver writes before renaming it into place


def write(path: Path, data: bytes | str) -> Path:
    """Write a file (text as UTF-8), creating its folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def xxh(data: bytes) -> str:
    """The hash artver records for ``data`` ("xxh128:<hex>")."""
    return f"{ALGO}:{xxhash.xxh3_128(data).hexdigest()}"


_hashed: dict[tuple[int, int, int, int], str] = {}


def hash_file(path: Path) -> str:
    """The file's hash, as xxh() gives it. Objects hardlinked into many test repositories are
    read once: the result is remembered per (device, inode, size, mtime), which any write changes."""
    stat = path.stat()
    key = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
    if key in _hashed:
        return _hashed[key]
    hasher = xxhash.xxh3_128()
    with open(path, "rb", buffering=0) as handle:
        while chunk := handle.read(8 * MiB):
            hasher.update(chunk)
    _hashed[key] = f"{ALGO}:{hasher.hexdigest()}"
    return _hashed[key]


def store_object_path(store: Path, hash_value: str) -> Path:
    """Where an object lives under the root of an object store (a cache folder or a directory
    remote): <store>/<algorithm>/<2 hex>/<rest>."""
    algorithm, digest = hash_value.split(":")
    return store / algorithm / digest[:2] / digest[2:]


def object_path(repo: Path, hash_value: str) -> Path:
    """Where the cache of the repository whose work tree is ``repo`` keeps an object."""
    return store_object_path(repo / ".artver" / "cache", hash_value)


def object_files(store: Path) -> dict[str, Path]:
    """The objects of a store under their final names (temp files left out): hash -> path."""
    found: dict[str, Path] = {}
    base = store / ALGO
    if not base.is_dir():
        return found
    for prefix in os.listdir(base):
        folder = base / prefix
        if len(prefix) != 2 or not folder.is_dir():
            continue
        for name in os.listdir(folder):
            if TEMP_MARKER in name:
                continue
            found[f"{ALGO}:{prefix}{name}"] = folder / name
    return found
