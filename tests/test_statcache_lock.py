"""The stat database (files are not re-read when inode, size and mtime are unchanged)
and the repository lock (one artver process at a time; a killed holder never blocks)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from artver import file_lock, hashing
from artver.pointer import read_pointer
from tests.support.cli import run_artver_process
from tests.support.files import xxh
from tests.support.git import SUBPROCESS_TIMEOUT

OLD = 1_600_000_000_000_000_000  # 2020, far older than any racy window


def future_mtime(path: Path) -> None:
    """An mtime later than any record: such an entry can never be trusted (racy-git rule)."""
    future = time.time_ns() + 3600 * 10**9
    os.utime(path, ns=(future, future))


def place_file(path: Path, data: bytes, old: bool = True) -> Path:
    """Write a file, by default with an mtime far in the past (outside any racy window)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if old:
        os.utime(path, ns=(OLD, OLD))
    return path


@pytest.fixture
def hash_calls(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every file whose content artver reads to hash it (the real function still runs)."""
    calls: list[Path] = []
    real = hashing.hash_file

    def counting(path, algorithm, on_bytes=None):  # type: ignore[no-untyped-def]
        calls.append(Path(path))
        return real(path, algorithm, on_bytes)

    monkeypatch.setattr(hashing, "hash_file", counting)
    return calls


def rows(repo: Path) -> dict[str, tuple[int, int, int, str]]:
    connection = sqlite3.connect(repo / ".artver" / "state.db")
    try:
        query = "SELECT path, ino, size, mtime_ns, hash FROM stat"
        return {path: (ino, size, mtime, h) for path, ino, size, mtime, h in connection.execute(query)}
    finally:
        connection.close()


# ---------------------------------------------------------------- stat database


def test_second_status_reads_no_file(repo: Path, run_artver, hash_calls: list[Path]) -> None:  # type: ignore[no-untyped-def]
    place_file(repo / "m.bin", b"model")
    for index in range(5):
        place_file(repo / "d" / f"f{index}", f"file {index}".encode())
    assert run_artver(repo, "add", "m.bin", "d").code == 0
    recorded = rows(repo)
    assert set(recorded) == {"m.bin"} | {f"d/f{index}" for index in range(5)}
    stat = (repo / "m.bin").stat()
    assert recorded["m.bin"] == (stat.st_ino, 5, OLD, xxh(b"model"))
    hash_calls.clear()
    for _ in range(2):
        result = run_artver(repo, "status", "--check")
        assert result.code == 0, result.out
        assert hash_calls == []


def test_first_status_records_then_second_reads_nothing(repo: Path, run_artver, hash_calls: list[Path]) -> None:  # type: ignore[no-untyped-def]
    future_mtime(place_file(repo / "m.bin", b"model", old=False))
    future_mtime(place_file(repo / "d" / "f", b"f", old=False))
    assert run_artver(repo, "add", "m.bin", "d").code == 0
    hash_calls.clear()
    assert run_artver(repo, "status", "--check").code == 0
    assert sorted(p.name for p in hash_calls) == ["f", "m.bin"]  # recorded, but not trusted (racy-git protection)
    os.utime(repo / "m.bin", ns=(OLD, OLD))
    os.utime(repo / "d" / "f", ns=(OLD, OLD))
    hash_calls.clear()
    assert run_artver(repo, "status", "--check").code == 0
    assert sorted(p.name for p in hash_calls) == ["f", "m.bin"]
    assert set(rows(repo)) == {"m.bin", "d/f"}
    hash_calls.clear()
    assert run_artver(repo, "status", "--check").code == 0
    assert hash_calls == []


def test_recent_files_are_hashed_every_time(repo: Path, run_artver, hash_calls: list[Path]) -> None:  # type: ignore[no-untyped-def]
    future_mtime(place_file(repo / "m.bin", b"model", old=False))
    assert run_artver(repo, "add", "m.bin").code == 0
    for _ in range(2):
        hash_calls.clear()
        assert run_artver(repo, "status", "--check").code == 0
        assert [p.name for p in hash_calls] == ["m.bin"]


def test_changed_mtime_or_inode_is_read_again(repo: Path, run_artver, hash_calls: list[Path]) -> None:  # type: ignore[no-untyped-def]
    place_file(repo / "a.bin", b"aaaa")
    place_file(repo / "b.bin", b"bbbb")
    assert run_artver(repo, "add", "a.bin", "b.bin").code == 0
    # a.bin: new mtime, same content -> read once, still clean, recorded again
    os.utime(repo / "a.bin", ns=(OLD + 10**9, OLD + 10**9))
    # b.bin: replaced by a new inode with the same size and mtime but other content
    replacement = place_file(repo / "b.tmp", b"BBBB")
    os.replace(replacement, repo / "b.bin")
    hash_calls.clear()
    result = run_artver(repo, "status")
    assert sorted(p.name for p in hash_calls) == ["a.bin", "b.bin"]
    assert [line.split() for line in result.lines] == [["modified", "b.bin"]]
    hash_calls.clear()
    run_artver(repo, "status")
    assert hash_calls == []  # both recorded now, b.bin with its new (modified) hash
    assert rows(repo)["b.bin"][3] == xxh(b"BBBB")


def test_unchanged_readd_reads_nothing(repo: Path, run_artver, hash_calls: list[Path]) -> None:  # type: ignore[no-untyped-def]
    place_file(repo / "m.bin", b"m" * 1000)
    for index in range(3):
        place_file(repo / "d" / str(index), bytes([index]) * 100)
    assert run_artver(repo, "add", "m.bin", "d").code == 0
    hash_calls.clear()
    result = run_artver(repo, "add", "m.bin", "d")
    assert result.code == 0 and "added" not in result.out
    assert hash_calls == []


def test_only_the_changed_file_of_a_directory_is_read(repo: Path, run_artver, hash_calls: list[Path]) -> None:  # type: ignore[no-untyped-def]
    for index in range(10):
        place_file(repo / "d" / f"{index:02}", f"content {index}".encode())
    assert run_artver(repo, "add", "d").code == 0
    place_file(repo / "d" / "07", b"CONTENT 7")  # same size, new mtime and content
    os.utime(repo / "d" / "07", ns=(OLD + 5 * 10**9, OLD + 5 * 10**9))
    hash_calls.clear()
    result = run_artver(repo, "status")
    assert [p.name for p in hash_calls] == ["07"]
    assert "    modified:  07" in result.lines


def test_damaged_stat_database_is_rebuilt(repo: Path, run_artver, hash_calls: list[Path]) -> None:  # type: ignore[no-untyped-def]
    place_file(repo / "m.bin", b"model")
    assert run_artver(repo, "add", "m.bin").code == 0
    for suffix in ("-wal", "-shm"):
        Path(str(repo / ".artver" / "state.db") + suffix).unlink(missing_ok=True)
    (repo / ".artver" / "state.db").write_bytes(b"this is not a database" * 100)
    hash_calls.clear()
    result = run_artver(repo, "status", "--check")
    assert result.code == 0, result.err
    assert [p.name for p in hash_calls] == ["m.bin"]
    assert set(rows(repo)) == {"m.bin"}
    place_file(repo / "m.bin", b"MODEL", old=False)
    assert run_artver(repo, "status", "--check").code == 1


def test_stat_entries_of_another_path_are_not_trusted(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    """A row is keyed by path: renaming a file onto another artifact's path is detected."""
    place_file(repo / "a.bin", b"same size A")
    place_file(repo / "b.bin", b"same size B")
    assert run_artver(repo, "add", "a.bin", "b.bin").code == 0
    os.replace(repo / "a.bin", repo / "b.bin")
    result = run_artver(repo, "status")
    assert sorted(line.split()[:2] for line in result.lines) == [["missing", "a.bin"], ["modified", "b.bin"]]


# ---------------------------------------------------------------- the lock


def _set_lock_timeout(repo: Path, seconds: int) -> None:
    config = repo / ".artver" / "config"
    config.write_text(config.read_text() + f"lock_timeout = {seconds}\n")
    assert "[core]" in config.read_text()


def test_add_waits_then_fails_while_the_lock_is_held(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    _set_lock_timeout(repo, 1)
    place_file(repo / "m.bin", b"model")
    with file_lock.locked(repo / ".artver" / "lock", timeout=1):
        start = time.monotonic()
        result = run_artver(repo, "add", "m.bin")
        elapsed = time.monotonic() - start
    assert result.code == 1
    assert 0.9 <= elapsed < 10, elapsed
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.err
    assert "another artver process" in lines[0] and f"pid {os.getpid()}" in lines[0] and "waited 1s" in lines[0]
    assert not (repo / "m.bin.art").exists() and not (repo / ".gitignore").exists()
    # released: the same command now works at once
    start = time.monotonic()
    assert run_artver(repo, "add", "m.bin").code == 0
    assert time.monotonic() - start < 5


def test_checkout_and_remove_also_respect_the_lock(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    place_file(repo / "m.bin", b"model")
    assert run_artver(repo, "add", "m.bin").code == 0
    _set_lock_timeout(repo, 1)
    (repo / "m.bin").unlink()
    with file_lock.locked(repo / ".artver" / "lock", timeout=1):
        for args in (["checkout"], ["remove", "m.bin"]):
            result = run_artver(repo, *args)
            assert result.code == 1 and "another artver process" in result.err
    assert not (repo / "m.bin").exists() and (repo / "m.bin.art").exists()


HOLDER = """
import sys, time
from pathlib import Path
from artver.file_lock import locked
with locked(Path(sys.argv[1]), timeout=5):
    Path(sys.argv[2]).write_text("held")
    time.sleep(float(sys.argv[3]))
"""


def _start_holder(repo: Path, tmp_path: Path, seconds: float) -> subprocess.Popen[bytes]:
    marker = tmp_path / f"held-{time.monotonic_ns()}"
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(repo / ".artver" / "lock"), str(marker), str(seconds)],
        cwd=Path(__file__).resolve().parent.parent,
    )
    deadline = time.monotonic() + 30
    while not marker.exists():
        if child.poll() is not None or time.monotonic() > deadline:
            child.kill()
            child.wait(timeout=10)
            pytest.fail("the lock-holding child did not start")
        time.sleep(0.02)
    return child


def test_lock_of_a_sigkilled_process_does_not_block(repo: Path, tmp_path: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    _set_lock_timeout(repo, 1)
    place_file(repo / "m.bin", b"model")
    child = _start_holder(repo, tmp_path, 120)
    try:
        result = run_artver(repo, "add", "m.bin")
        assert result.code == 1 and f"pid {child.pid}" in result.err
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
    assert (repo / ".artver" / "lock").exists()  # the stale file is there, its lock is not
    start = time.monotonic()
    result = run_artver_process(repo, "add", "m.bin", timeout=60)
    assert result.code == 0, result.err
    assert time.monotonic() - start < 5
    assert read_pointer(repo / "m.bin.art", "m.bin.art").hash == xxh(b"model")


def test_add_waits_for_a_short_holder_and_then_succeeds(repo: Path, tmp_path: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    _set_lock_timeout(repo, 20)
    place_file(repo / "m.bin", b"model")
    child = _start_holder(repo, tmp_path, 0.7)
    try:
        start = time.monotonic()
        result = run_artver(repo, "add", "m.bin")
        elapsed = time.monotonic() - start
    finally:
        child.wait(timeout=30)
    assert result.code == 0, result.err
    assert elapsed >= 0.3, elapsed  # it did wait
    assert (repo / "m.bin.art").exists()


def test_concurrent_adds_lose_no_gitignore_line(repo: Path) -> None:
    names = [f"m{index}.bin" for index in range(4)]
    for name in names:
        place_file(repo / name, name.encode())
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "artver", "add", name], cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for name in names
    ]
    for child in children:
        _, err = child.communicate(timeout=SUBPROCESS_TIMEOUT)
        assert child.returncode == 0, err
    assert sorted((repo / ".gitignore").read_text().splitlines()) == [f"/{name}" for name in names]
    for name in names:
        assert read_pointer(repo / f"{name}.art", name).hash == xxh(name.encode())
