"""Replacing a large workspace file whose content is in the cache: the old file is deleted
before the new one is written, so the disk never holds both (see workspace.materialize).
A file whose content is not known to be saved (``--force``), a small file, a link, or a
file that changed since it was checked keeps the old ordering: built beside, renamed over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from artver import workspace
from artver.tempfiles import TEMP_MARKER
from artver.workspace import LARGE_REPLACE
from tests.support.cli import Result, run_artver_process
from tests.support.files import object_path, xxh
from tests.support.git import SUBPROCESS_TIMEOUT, commit_all, git

WORKTREE = Path(__file__).resolve().parents[1]
NAME = "model.bin"

# `artver checkout` in a child process whose placement reports whether the target still
# existed when the new content started to be written -- and, with "kill", SIGKILLs itself at
# that moment if it did not (the window between freeing the old file and renaming the new one).
# The patch lives in this test's child only; production code has no hook for it.
OBSERVED_CHECKOUT = r"""
import os, signal, sys
from artver import cli, workspace
target, action = os.path.abspath(sys.argv[1]), sys.argv[2]
real_place = workspace._place
def observing_place(source, temp, executable, modes):
    if os.path.dirname(os.path.abspath(temp)) == os.path.dirname(target):
        present = os.path.lexists(target)
        print("target-present" if present else "target-freed", flush=True)
        if action == "kill" and not present:
            os.kill(os.getpid(), signal.SIGKILL)
    return real_place(source, temp, executable, modes)
workspace._place = observing_place
sys.exit(cli.main(sys.argv[3:]))
"""


def artver(cwd: Path, *args: str) -> Result:
    return run_artver_process(cwd, *args, env={"PYTHONPATH": str(WORKTREE)})


def ok(result: Result) -> Result:
    assert result.code == 0, f"exit {result.code}\nstdout:\n{result.out}\nstderr:\n{result.err}"
    return result


def observed_checkout(repo: Path, action: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", OBSERVED_CHECKOUT, str(repo / NAME), action, "checkout", *args],
        cwd=repo, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT,
        env={**os.environ, "PYTHONPATH": str(WORKTREE)},
    )


def two_versions(root: Path, size: int) -> tuple[bytes, bytes]:
    """A repository at ``root`` whose NAME is v2 in the workspace and in HEAD, v1 one commit
    back, both in the cache; Git's HEAD is then moved back to v1 (the pointer only)."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q")
    ok(artver(root, "init"))
    v1, v2 = os.urandom(size), os.urandom(size)
    (root / NAME).write_bytes(v1)
    ok(artver(root, "add", NAME))
    commit_all(root, "v1")
    with open(root / NAME, "r+b") as handle:  # in place: the disk holds one workspace copy
        handle.write(v2)
    ok(artver(root, "add", NAME))
    commit_all(root, "v2")
    git(root, "checkout", "-q", "HEAD~1")
    return v1, v2


def temps_beside(repo: Path) -> list[str]:
    return [name for name in os.listdir(repo) if TEMP_MARKER in name]


def test_a_saved_large_file_is_freed_before_its_replacement_is_written(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    v1, _ = two_versions(repo, LARGE_REPLACE)
    run = observed_checkout(repo, "observe")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0] == "target-freed"
    assert (repo / NAME).read_bytes() == v1
    assert "clean" in ok(artver(repo, "status")).out


def test_a_kill_after_freeing_leaves_the_file_missing_and_checkout_restores_it(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    v1, v2 = two_versions(repo, LARGE_REPLACE)
    killed = observed_checkout(repo, "kill")
    assert killed.returncode == -signal.SIGKILL, (killed.stdout, killed.stderr)
    # In the window: the old file is gone, both versions are still in the cache, nothing is
    # half-written under the file's name, and status says what happened.
    assert not (repo / NAME).exists()
    for data in (v1, v2):
        assert object_path(repo, xxh(data)).read_bytes() == data
    status = ok(artver(repo, "status"))
    assert any(line.split() == ["missing", NAME] for line in status.lines), status.out
    ok(artver(repo, "checkout"))
    assert (repo / NAME).read_bytes() == v1
    assert temps_beside(repo) == []  # the killed run's temp file is cleaned up
    assert "clean" in ok(artver(repo, "status")).out


def test_without_a_saved_check_the_old_file_stays_until_the_new_one_is_renamed_over(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    v1, _ = two_versions(repo, LARGE_REPLACE)
    # --force skips the check that the current content is in the cache: it may be the only copy
    # of something, so it stays in place until the new file is complete.
    run = observed_checkout(repo, "kill", "--force")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0] == "target-present"
    assert (repo / NAME).read_bytes() == v1


def test_a_small_file_is_renamed_over(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    v1, _ = two_versions(repo, 1024 * 1024)
    run = observed_checkout(repo, "kill")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0] == "target-present"
    assert (repo / NAME).read_bytes() == v1


def test_a_hard_linked_file_is_renamed_over(tmp_path: Path) -> None:
    """Deleting one name of a hard-linked file frees nothing; the other name keeps its content."""
    repo = tmp_path / "repo"
    v1, v2 = two_versions(repo, LARGE_REPLACE)
    os.link(repo / NAME, tmp_path / "other-name.bin")
    run = observed_checkout(repo, "kill")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0] == "target-present"
    assert (repo / NAME).read_bytes() == v1
    assert (tmp_path / "other-name.bin").read_bytes() == v2


def large_file(path: Path, data: bytes) -> os.stat_result:
    path.write_bytes(data)
    return os.lstat(path)


def test_only_the_very_file_found_saved_is_freed_first(tmp_path: Path) -> None:
    data = b"\1" * LARGE_REPLACE
    target = tmp_path / "file.bin"
    checked = large_file(target, data)
    assert workspace._frees_space_first(str(target), checked)

    # Rewritten since the check (same size, mtime put back): its ctime tells.
    with open(target, "r+b") as handle:
        handle.write(b"\2")
    os.utime(target, ns=(checked.st_atime_ns, checked.st_mtime_ns))
    assert not workspace._frees_space_first(str(target), checked)

    # Replaced by another file since the check.
    os.unlink(target)
    other = large_file(tmp_path / "other.bin", data)
    os.rename(tmp_path / "other.bin", target)
    assert not workspace._frees_space_first(str(target), checked)

    # A symlink: deleting it frees nothing.
    os.unlink(target)
    real = tmp_path / "real.bin"
    real.write_bytes(data)
    target.symlink_to(real)
    assert not workspace._frees_space_first(str(target), other)
    assert not workspace._frees_space_first(str(target), os.stat(target))

    # Below the size where freeing first pays.
    small = tmp_path / "small.bin"
    assert not workspace._frees_space_first(str(small), large_file(small, b"x" * (LARGE_REPLACE - 1)))

    # Gone meanwhile.
    os.unlink(small)
    assert not workspace._frees_space_first(str(small), checked)


@pytest.fixture
def small_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs with room for the cache's two versions, the workspace file, and half a
    file more: the old ordering (new file beside the old one) cannot fit, freeing first can."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CAP_SYS_ADMIN)")
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    size = 3 * LARGE_REPLACE + LARGE_REPLACE // 2
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)],
                   check=True, capture_output=True, timeout=SUBPROCESS_TIMEOUT)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True, capture_output=True, timeout=SUBPROCESS_TIMEOUT)


def test_a_large_file_is_replaced_on_a_nearly_full_filesystem(small_filesystem: Path) -> None:
    repo = small_filesystem / "repo"
    v1, v2 = two_versions(repo, LARGE_REPLACE)
    # Building the new file beside the old one (what --force does, as it does not check that
    # the current content is saved) needs room for a fourth copy: the disk is full.
    forced = artver(repo, "checkout", "--force")
    assert forced.code == 1 and "no space left on device" in forced.err, forced
    assert (repo / NAME).read_bytes() == v2  # refused, and nothing lost
    assert temps_beside(repo) == []
    # The content is in the cache, so checkout frees it first and fits.
    ok(artver(repo, "checkout"))
    assert (repo / NAME).read_bytes() == v1
    assert temps_beside(repo) == []
    assert "clean" in ok(artver(repo, "status")).out
