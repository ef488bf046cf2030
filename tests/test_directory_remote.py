"""A directory remote on the cache's filesystem with link = hardlink shares inodes with the
cache instead of holding a second copy (never while the workspace shares them too); by
default it keeps copies of its own."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.cli import Result
from tests.support.git import commit_all, git

MODEL = b"model weights " * 5000


def model_object_in(store: Path) -> Path:
    """The one object of a cache or directory remote that holds MODEL."""
    files = [path for path in store.rglob("*") if path.is_file() and "tmp" not in path.relative_to(store).parts]
    (only,) = [path for path in files if path.read_bytes() == MODEL]
    return only


@pytest.fixture
def project(repo: Path, tmp_path: Path, run_artver: Callable[..., Result]) -> tuple[Path, Path]:
    """A model and a directory remote with link = hardlink (committed, so clones share it), every
    object whole (pack = false: hard links are for objects stored whole; packed ones are copied)."""
    (repo / "model.pt").write_bytes(MODEL)
    assert run_artver(repo, "add", "model.pt").code == 0
    remote = tmp_path / "remote"
    remote.mkdir()
    assert run_artver(repo, "remote", "add", "origin", str(remote), "--default").code == 0
    assert run_artver(repo, "remote", "modify", "origin", "link", "hardlink").code == 0
    assert run_artver(repo, "remote", "modify", "origin", "pack", "false").code == 0
    commit_all(repo, "model")
    return repo, remote


def clone_of(repo: Path, tmp_path: Path) -> Path:
    target = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(target))
    return target


def test_push_and_pull_on_one_filesystem_share_the_object(project, tmp_path: Path, run_artver) -> None:
    repo, remote = project
    assert run_artver(repo, "push").code == 0
    cached = model_object_in(repo / ".artver" / "cache")
    stored = model_object_in(remote)
    assert os.stat(cached).st_ino == os.stat(stored).st_ino  # one inode, two names: no second copy
    other = clone_of(repo, tmp_path)
    result = run_artver(other, "pull")
    assert result.code == 0, result.err
    assert (other / "model.pt").read_bytes() == MODEL
    assert os.stat(model_object_in(other / ".artver" / "cache")).st_ino == os.stat(stored).st_ino
    # The workspace always gets its own copy (cache.link defaults to reflink,copy).
    assert os.stat(other / "model.pt").st_ino != os.stat(stored).st_ino
    assert run_artver(other, "status", "--check").code == 0


@pytest.mark.parametrize("setting", [["link", "copy"], ["link", "--unset"]], ids=["copy", "default"])
def test_by_default_or_with_link_copy_the_remote_keeps_its_own_copy(project, setting: list[str], run_artver) -> None:
    repo, remote = project
    assert run_artver(repo, "remote", "modify", "origin", *setting).code == 0  # --unset: back to the default
    assert run_artver(repo, "push").code == 0
    assert os.stat(model_object_in(repo / ".artver" / "cache")).st_ino != os.stat(model_object_in(remote)).st_ino


def test_no_sharing_when_the_workspace_shares_the_cache(project, run_artver) -> None:
    repo, remote = project
    config = repo / ".artver" / "config"
    config.write_text(config.read_text() + "\n[cache]\nlink = hardlink,copy\n")
    assert run_artver(repo, "push").code == 0
    # An in-place edit of the (hard-linked) workspace file must not be able to reach the remote.
    assert os.stat(model_object_in(repo / ".artver" / "cache")).st_ino != os.stat(model_object_in(remote)).st_ino


def test_a_tampered_shared_object_is_refused(project, tmp_path: Path, run_artver) -> None:
    repo, remote = project
    assert run_artver(repo, "remote", "modify", "origin", "link", "copy").code == 0
    assert run_artver(repo, "push").code == 0
    stored = model_object_in(remote)
    os.chmod(stored, 0o644)
    stored.write_bytes(MODEL.replace(b"model", b"MODEL", 1))
    os.chmod(stored, 0o444)
    other = clone_of(repo, tmp_path)
    result = run_artver(other, "pull")
    assert result.code != 0 and "corrupt" in result.err, result.err
    assert not (other / "model.pt").exists()
    cache = other / ".artver" / "cache"
    # Nothing entered the cache, not even a link (a temp-owner record of this process may be there).
    assert not [path for path in cache.rglob("*") if path.is_file() and not path.name.endswith(".owner")]


def test_a_writable_remote_object_is_copied_not_linked(project, tmp_path: Path, run_artver) -> None:
    repo, remote = project
    assert run_artver(repo, "push").code == 0
    stored = model_object_in(remote)
    os.unlink(stored)
    stored.write_bytes(MODEL)  # put back by hand, writable: linking would make the cache object writable
    other = clone_of(repo, tmp_path)
    assert run_artver(other, "pull").code == 0
    cached = model_object_in(other / ".artver" / "cache")
    assert os.stat(cached).st_ino != os.stat(stored).st_ino
    assert os.stat(cached).st_mode & 0o777 == 0o444


def test_link_setting_is_checked(project, run_artver) -> None:
    repo, _ = project
    result = run_artver(repo, "remote", "modify", "origin", "link", "symlink")
    assert result.code != 0 and "remote.origin.link must be one of copy, hardlink" in result.err
