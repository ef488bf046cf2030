"""cache.link: how the workspace gets its files from the cache.

hardlink and symlink make the workspace file the cache object; only the object's
read-only mode keeps an in-place edit from changing the cache, and root writes through
that mode. So the sharing modes are tested as an unprivileged user (the object is
shared, and an in-place write is refused), and as root (artver copies instead).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from artver.workspace import overrides_file_modes, parse_link_modes
from tests.support.git import SUBPROCESS_TIMEOUT, commit_all

WORKTREE = Path(__file__).resolve().parents[1]
NOBODY = 65534


def set_link(repo: Path, value: str) -> None:
    with open(repo / ".artver" / "config", "a", encoding="utf-8") as handle:
        handle.write(f"[cache]\nlink = {value}\n")


def cache_object(repo: Path, data: bytes) -> Path:
    from artver.hashing import hash_bytes

    _, digest = hash_bytes(data, "xxh128").split(":")
    return repo / ".artver" / "cache" / "xxh128" / digest[:2] / digest[2:]


@dataclass(frozen=True)
class User:
    """Runs commands as a user whom file modes bind: this one, or (when the tests run as
    root) uid 65534 through setpriv, in a scratch folder that user owns."""

    home: Path
    prefix: tuple[str, ...]

    def run(self, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "HOME": str(self.home), "PYTHONPATH": str(WORKTREE), "PYTHONDONTWRITEBYTECODE": "1"}
        return subprocess.run([*self.prefix, *args], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=SUBPROCESS_TIMEOUT)

    def ok(self, cwd: Path, *args: str) -> str:
        completed = self.run(cwd, *args)
        assert completed.returncode == 0, f"{args} failed ({completed.returncode}):\n{completed.stdout}\n{completed.stderr}"
        return completed.stdout

    def artver(self, cwd: Path, *args: str) -> str:
        return self.ok(cwd, sys.executable, "-m", "artver", *args)

    def new_repo(self) -> Path:
        root = self.home / "repo"
        root.mkdir()
        if self.prefix:
            os.chown(root, NOBODY, NOBODY)
        self.ok(root, "git", "init", "-q")
        self.artver(root, "init")
        return root

    def write(self, path: Path, data: bytes, mode: int = 0o644) -> None:
        """Write a file as the user (so the user owns it)."""
        self.ok(path.parent, sys.executable, "-c",
                "import os, sys; open(sys.argv[1], 'wb').write(bytes.fromhex(sys.argv[2])); os.chmod(sys.argv[1], int(sys.argv[3]))",
                str(path), data.hex(), str(mode))

    def edit_in_place(self, path: Path) -> subprocess.CompletedProcess[str]:
        """What an in-place editor does: open the existing file for writing and write."""
        return self.run(path.parent, sys.executable, "-c", "import sys; open(sys.argv[1], 'r+b').write(b'EDITED')", str(path))


@pytest.fixture
def user() -> Iterator[User]:
    if not overrides_file_modes():
        home = Path(tempfile.mkdtemp(prefix="artver-user-"))
        yield User(home, ())
        shutil.rmtree(home, ignore_errors=True)
        return
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("the tests run as root and setpriv (util-linux) is not installed to run a step as another user")
    home = Path(tempfile.mkdtemp(prefix="artver-user-"))  # not under pytest's folder, which only root may enter
    os.chmod(home, 0o755)
    os.chown(home, NOBODY, NOBODY)
    yield User(home, (setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--inh-caps=-all"))
    shutil.rmtree(home, ignore_errors=True)


def test_default_copies_so_an_edit_never_touches_the_cache(repo: Path, run_artver) -> None:
    (repo / "m.bin").write_bytes(b"weights")
    run_artver(repo, "add", "m.bin")
    obj = cache_object(repo, b"weights")
    assert (repo / "m.bin").stat().st_ino != obj.stat().st_ino
    assert stat.S_IMODE(obj.stat().st_mode) == 0o444


def test_hardlink_mode_shares_read_only_inodes(user: User) -> None:
    repo = user.new_repo()
    set_link(repo, "hardlink,copy")
    (repo / "d").mkdir()
    if user.prefix:
        os.chown(repo / "d", NOBODY, NOBODY)
    user.write(repo / "m.bin", b"weights")
    user.write(repo / "d" / "a", b"a")
    user.write(repo / "d" / "run.sh", b"#!/bin/sh\n", 0o755)
    user.artver(repo, "add", "m.bin", "d")
    for path, data in ((repo / "m.bin", b"weights"), (repo / "d" / "a", b"a")):
        assert path.stat().st_ino == cache_object(repo, data).stat().st_ino
        assert stat.S_IMODE(path.stat().st_mode) == 0o444
    # An executable cannot share a read-only inode: it stays a copy with its exec bit.
    assert (repo / "d" / "run.sh").stat().st_ino != cache_object(repo, b"#!/bin/sh\n").stat().st_ino
    assert (repo / "d" / "run.sh").stat().st_mode & 0o111
    user.ok(repo, "git", "add", "-A")
    user.ok(repo, "git", "commit", "-q", "-m", "linked")
    user.ok(repo, "rm", "m.bin")
    user.artver(repo, "checkout")
    assert (repo / "m.bin").stat().st_ino == cache_object(repo, b"weights").stat().st_ino
    user.artver(repo, "status", "--check")
    # What the mode protects: an in-place edit is refused, so the only local copy of the bytes survives.
    edited = user.edit_in_place(repo / "m.bin")
    assert edited.returncode != 0 and "PermissionError" in edited.stderr, edited.stderr
    assert cache_object(repo, b"weights").read_bytes() == b"weights"


def test_symlink_mode_points_into_the_cache(user: User) -> None:
    repo = user.new_repo()
    set_link(repo, "symlink")
    user.write(repo / "m.bin", b"weights v1")
    user.artver(repo, "add", "m.bin")
    assert (repo / "m.bin").is_symlink()
    assert Path(os.readlink(repo / "m.bin")) == cache_object(repo, b"weights v1")
    user.artver(repo, "status", "--check")
    edited = user.edit_in_place(repo / "m.bin")
    assert edited.returncode != 0 and "PermissionError" in edited.stderr, edited.stderr
    user.ok(repo, "git", "add", "-A")
    user.ok(repo, "git", "commit", "-q", "-m", "v1")
    # A new version: replace the link by a real file, add again.
    user.ok(repo, "rm", "m.bin")
    user.write(repo / "m.bin", b"weights v2")
    user.artver(repo, "add", "m.bin")
    user.ok(repo, "git", "add", "-A")
    user.ok(repo, "git", "commit", "-q", "-m", "v2")
    user.ok(repo, "git", "checkout", "-q", "HEAD~1")
    user.artver(repo, "checkout")  # the old link target is in the cache: safe to replace
    assert (repo / "m.bin").read_bytes() == b"weights v1"
    assert cache_object(repo, b"weights v1").read_bytes() == b"weights v1"
    assert cache_object(repo, b"weights v2").read_bytes() == b"weights v2"


@pytest.mark.parametrize("value", ["hardlink,copy", "hardlink", "symlink", "symlink,hardlink"])
def test_as_root_the_sharing_modes_copy_so_an_edit_cannot_reach_the_cache(repo: Path, run_artver, value: str) -> None:
    if not overrides_file_modes():
        pytest.skip("only a process that writes through mode 0444 (root) gets copies; the user fixture covers the others")
    set_link(repo, value)
    (repo / "m.bin").write_bytes(b"weights")
    (repo / "d").mkdir()
    (repo / "d" / "a").write_bytes(b"a")
    assert run_artver(repo, "add", "m.bin", "d").code == 0
    commit_all(repo, "v1")
    (repo / "d" / "a").unlink()
    assert run_artver(repo, "checkout").code == 0
    for path, data in ((repo / "m.bin", b"weights"), (repo / "d" / "a", b"a")):
        assert not path.is_symlink()
        assert path.stat().st_ino != cache_object(repo, data).stat().st_ino
        with open(path, "r+b") as handle:  # root: the mode would not have stopped this
            handle.write(b"EDITED")
        assert cache_object(repo, data).read_bytes() == data
    result = run_artver(repo, "status")
    assert "modified" in result.out


def test_parse_link_modes_drops_the_sharing_modes_for_a_privileged_process() -> None:
    assert parse_link_modes("hardlink,copy", privileged=True) == ("copy",)
    assert parse_link_modes("reflink,hardlink,copy", privileged=True) == ("reflink", "copy")
    assert parse_link_modes("symlink", privileged=True) == ("copy",)
    assert parse_link_modes("hardlink,symlink", privileged=True) == ("copy",)
    assert parse_link_modes("hardlink,copy", privileged=False) == ("hardlink", "copy")
    assert parse_link_modes("symlink", privileged=False) == ("symlink",)
    assert parse_link_modes(None, privileged=True) == ("reflink", "copy")


@pytest.mark.parametrize("value", ["bogus", "copy,teleport"])
def test_unknown_link_modes_are_refused(repo: Path, run_artver, value: str) -> None:
    set_link(repo, value)
    result = run_artver(repo, "status")
    assert result.code == 2 and "cache.link" in result.err
