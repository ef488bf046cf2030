"""A read-only .artver (a CI cache mounted read-only, another user's clone): the commands
that only read work, write nothing there, and the stat database is still used."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import Result
from tests.support.git import SUBPROCESS_TIMEOUT, commit_all, git


@pytest.fixture
def read_only_artver_repo(run_artver) -> Iterator[Path]:
    """A clone owned by 'nobody' whose .artver is root's: nobody can read it but not write it."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        raise AssertionError("this test expects to run as root with setpriv available (as on CI)")
    base = Path(tempfile.mkdtemp(prefix="artver-ro-", dir="/tmp"))
    os.chmod(base, 0o755)
    root = base / "repo"
    root.mkdir()
    try:
        git(root, "init", "-q")
        assert run_artver(root, "init").code == 0
        (root / "m.bin").write_bytes(b"model")
        (root / "data").mkdir()
        (root / "data" / "a.txt").write_text("a")
        for path in (root / "m.bin", root / "data" / "a.txt"):
            os.utime(path, (1_600_000_000, 1_600_000_000))  # long before they are recorded: trusted
        assert run_artver(root, "add", "m.bin", "data").code == 0
        commit_all(root, "data")
        assert run_artver(root, "status").code == 0  # fills the stat database
        for path in [root, *root.rglob("*")]:
            if ".artver" not in path.relative_to(root).parts:
                os.chown(path, 65534, 65534, follow_symlinks=False)
        yield root
    finally:
        shutil.rmtree(base, ignore_errors=True)


def as_nobody(cwd: Path, *args: str) -> Result:
    env = {"PATH": os.environ["PATH"], "HOME": str(cwd.parent), "GIT_CONFIG_NOSYSTEM": "1",
           "PYTHONPATH": os.pathsep.join(sys.path)}
    completed = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m", "artver", *args],
        cwd=cwd, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT, env=env,
    )
    return Result(completed.returncode, completed.stdout, completed.stderr)


@pytest.mark.parametrize("database", [True, False])
def test_reading_commands_work_in_a_read_only_artver(read_only_artver_repo: Path, database: bool) -> None:
    root = read_only_artver_repo
    if not database:
        (root / ".artver" / "state.db").unlink()
    before = sorted((path.relative_to(root).as_posix(), path.stat().st_mtime_ns) for path in (root / ".artver").rglob("*"))
    for command in (["status"], ["status", "--check"], ["diff"], ["ls"], ["log", "m.bin"], ["verify"], ["verify", "--all"]):
        result = as_nobody(root, *command)
        assert result.code == 0 and result.err == "", (command, result.err)
    (root / "m.bin").write_bytes(b"changed")
    result = as_nobody(root, "status", "--check")
    assert result.code == 1 and "m.bin" in result.out and "Traceback" not in result.err
    after = sorted((path.relative_to(root).as_posix(), path.stat().st_mtime_ns) for path in (root / ".artver").rglob("*"))
    assert after == before  # nothing in .artver was written


def test_writing_commands_in_a_read_only_artver_fail_in_one_line(read_only_artver_repo: Path) -> None:
    root = read_only_artver_repo
    (root / "new.bin").write_bytes(b"new")
    result = as_nobody(root, "add", "new.bin")
    assert result.code == 1 and "Traceback" not in result.err and len(result.err.strip().splitlines()) == 1
    assert "ermission denied" in result.err
    assert not (root / "new.bin.art").exists()



def test_status_uses_the_stat_database_of_a_read_only_artver(read_only_artver_repo: Path) -> None:
    root = read_only_artver_repo
    model = root / "m.bin"
    stat = model.stat()
    with open(model, "r+b") as handle:  # same inode, same size, and the old mtime put back:
        handle.write(b"MODEL")
    os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    result = as_nobody(root, "status", "m.bin")
    # Only a recorded hash can call this file clean (hashing it would not): the database was read.
    assert result.code == 0 and "clean" in result.out, result.out + result.err


def test_verify_in_a_read_only_artver_reports_what_it_cannot_quarantine(read_only_artver_repo: Path) -> None:
    root = read_only_artver_repo
    stored = next(path for path in (root / ".artver" / "cache" / "xxh128").rglob("*") if path.is_file() and path.stat().st_size == 5)
    stored.chmod(0o644)
    stored.write_bytes(b"rot!!")
    result = as_nobody(root, "verify")
    assert result.code == 1 and "Traceback" not in result.err
    assert f"cache object xxh128:{stored.parent.name}{stored.name} is corrupt (used by m.bin)" in result.err
    assert "where .artver is writable" in result.err
    assert stored.exists() and not (root / ".artver" / "cache" / "quarantine").exists()
