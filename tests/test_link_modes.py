"""cache.link: how the workspace gets its files from the cache."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.conftest import commit_all, git


def set_link(repo: Path, value: str) -> None:
    with open(repo / ".artver" / "config", "a", encoding="utf-8") as handle:
        handle.write(f"[cache]\nlink = {value}\n")


def cache_object(repo: Path, data: bytes) -> Path:
    from artver.hashing import hash_bytes

    _, digest = hash_bytes(data, "xxh128").split(":")
    return repo / ".artver" / "cache" / "xxh128" / digest[:2] / digest[2:]


def test_default_copies_so_an_edit_never_touches_the_cache(repo: Path, run_artver) -> None:
    (repo / "m.bin").write_bytes(b"weights")
    run_artver(repo, "add", "m.bin")
    obj = cache_object(repo, b"weights")
    assert (repo / "m.bin").stat().st_ino != obj.stat().st_ino
    assert stat.S_IMODE(obj.stat().st_mode) == 0o444


def test_hardlink_mode_shares_read_only_inodes(repo: Path, run_artver) -> None:
    set_link(repo, "hardlink,copy")
    (repo / "m.bin").write_bytes(b"weights")
    (repo / "d").mkdir()
    (repo / "d" / "a").write_bytes(b"a")
    (repo / "d" / "run.sh").write_bytes(b"#!/bin/sh\n")
    os.chmod(repo / "d" / "run.sh", 0o755)
    assert run_artver(repo, "add", "m.bin", "d").code == 0
    for path, data in ((repo / "m.bin", b"weights"), (repo / "d" / "a", b"a")):
        assert path.stat().st_ino == cache_object(repo, data).stat().st_ino
        assert stat.S_IMODE(path.stat().st_mode) == 0o444
    # An executable cannot share a read-only inode: it stays a copy with its exec bit.
    assert (repo / "d" / "run.sh").stat().st_ino != cache_object(repo, b"#!/bin/sh\n").stat().st_ino
    assert (repo / "d" / "run.sh").stat().st_mode & 0o111
    commit_all(repo, "linked")
    (repo / "m.bin").unlink()
    assert run_artver(repo, "checkout").code == 0
    assert (repo / "m.bin").stat().st_ino == cache_object(repo, b"weights").stat().st_ino
    assert run_artver(repo, "status", "--check").code == 0


def test_symlink_mode_points_into_the_cache(repo: Path, run_artver, tmp_path: Path) -> None:
    set_link(repo, "symlink")
    (repo / "m.bin").write_bytes(b"weights v1")
    assert run_artver(repo, "add", "m.bin").code == 0
    assert (repo / "m.bin").is_symlink()
    assert Path(os.readlink(repo / "m.bin")) == cache_object(repo, b"weights v1")
    assert run_artver(repo, "status", "--check").code == 0
    commit_all(repo, "v1")
    # A new version: replace the link by a real file, add again.
    (repo / "m.bin").unlink()
    (repo / "m.bin").write_bytes(b"weights v2")
    assert run_artver(repo, "add", "m.bin").code == 0
    commit_all(repo, "v2")
    git(repo, "checkout", "-q", "HEAD~1")
    assert run_artver(repo, "checkout").code == 0  # the old link target is in the cache: safe to replace
    assert (repo / "m.bin").read_bytes() == b"weights v1"
    assert cache_object(repo, b"weights v2").read_bytes() == b"weights v2"


@pytest.mark.parametrize("value", ["bogus", "copy,teleport"])
def test_unknown_link_modes_are_refused(repo: Path, run_artver, value: str) -> None:
    set_link(repo, value)
    result = run_artver(repo, "status")
    assert result.code == 2 and "cache.link" in result.err
