"""A harness for artver processes a test starts, signals, races and kills (the crash-safety
and concurrency suites): each runs in its own session, so a signal reaches the whole process
group, and every one still running at teardown is killed by its group id."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from .cli import Result

PROCESS_TIMEOUT = 180.0  # any single artver process of these suites
LOCK_WAIT_TIMEOUT = 90.0  # how long a started process may take to reach the repository lock


def kill_group(child: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    """Send ``sig`` to the child's process group (a no-op once it is gone)."""
    try:
        os.killpg(child.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def run_artver_to_end(cwd: Path, *args: str, env: dict[str, str] | None = None,
                      timeout: float = PROCESS_TIMEOUT) -> Result:
    """Run artver to completion in its own process group (``env``: the whole environment;
    default the current one). On timeout the group is killed and the test fails."""
    child = subprocess.Popen(
        [sys.executable, "-m", "artver", *args], cwd=cwd, env=env if env is not None else dict(os.environ),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        out, err = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(child)
        child.communicate(timeout=30)
        pytest.fail(f"artver {' '.join(args)} did not finish within {timeout:g}s (in {cwd})")
    finally:
        if child.poll() is None:
            kill_group(child)
            child.wait(timeout=30)
    return Result(child.returncode, out, err)


@dataclass
class Running:
    """A started artver process; its stdout and stderr go to files."""

    process: subprocess.Popen
    started: float  # time.monotonic() at start
    out_path: Path
    err_path: Path

    def output(self) -> tuple[str, str]:
        return (self.out_path.read_text(errors="replace"), self.err_path.read_text(errors="replace"))


class Processes:
    """Starts artver processes (each in its own session/process group) and kills every
    one still running at teardown, by process group, whatever the test outcome."""

    def __init__(self, logs: Path) -> None:
        self._logs = logs
        self._running: list[Running] = []
        self._count = 0

    def start(self, cwd: Path, *args: str, python_flags: tuple[str, ...] = (), stderr_pipe: bool = False) -> Running:
        self._count += 1
        self._logs.mkdir(parents=True, exist_ok=True)
        out_path = self._logs / f"p{self._count}.out"
        err_path = self._logs / f"p{self._count}.err"
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            process = subprocess.Popen(
                [sys.executable, *python_flags, "-m", "artver", *args], cwd=cwd, env=dict(os.environ),
                stdout=out, stderr=subprocess.PIPE if stderr_pipe else err, start_new_session=True,
            )
        running = Running(process, time.monotonic(), out_path, err_path)
        self._running.append(running)
        return running

    def wait(self, running: Running, timeout: float = PROCESS_TIMEOUT) -> int:
        try:
            return running.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(running.process)
            running.process.wait(timeout=30)
            pytest.fail(f"artver {running.process.args[2:]} did not finish within {timeout:g}s")

    def kill_all(self) -> None:
        for running in self._running:
            if running.process.poll() is None:
                kill_group(running.process)
                try:
                    running.process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    pass
            if running.process.stderr is not None:
                running.process.stderr.close()


def wait_for_lock_holder(repo: Path, running: Running, timeout: float = LOCK_WAIT_TIMEOUT) -> float | None:
    """Seconds from start until the process holds the repository lock (its pid is written
    into .artver/lock right after flock succeeds); None if it exited first."""
    lock = repo / ".artver" / "lock"
    pid = str(running.process.pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if lock.read_text().strip() == pid:
                return time.monotonic() - running.started
        except (FileNotFoundError, UnicodeDecodeError):
            pass
        if running.process.poll() is not None:
            return None
        time.sleep(0.002)
    pytest.fail(f"artver (pid {pid}) did not take the repository lock within {timeout:g}s")
