"""A progress bar on a terminal for long hashing and copying; never in pipes or logs."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from tests.support.cli import run_artver_process


def run_in_terminal(cwd: Path, *args: str, timeout: float = 120) -> str:
    """Run artver with stdout and stderr on a pseudo-terminal; return what the terminal showed."""
    leader, follower = pty.openpty()
    env = {**os.environ, "ARTVER_PROGRESS_DELAY": "0", "TERM": "xterm", "COLUMNS": "100"}
    process = subprocess.Popen([sys.executable, "-m", "artver", *args], cwd=cwd, stdin=subprocess.DEVNULL,
                               stdout=follower, stderr=follower, env=env)
    os.close(follower)
    shown = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                shown += chunk
            elif process.poll() is not None:
                break
        process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        os.close(leader)
    assert process.returncode == 0, shown.decode(errors="replace")
    return shown.decode(errors="replace")


def test_progress_bar_on_a_terminal_only(repo: Path) -> None:
    (repo / "big.bin").write_bytes(os.urandom(8 * 1024 * 1024) * 24)  # 192 MiB: a few hashing steps
    shown = run_in_terminal(repo, "add", "big.bin")
    assert "Adding big.bin" in shown and "MB" in shown
    (repo / "big.bin").unlink()
    shown = run_in_terminal(repo, "checkout")
    assert "Checking out" in shown
    (repo / "big.bin").unlink()
    piped = run_artver_process(repo, "checkout", env={"ARTVER_PROGRESS_DELAY": "0"})
    assert piped.code == 0
    assert "Checking out" not in piped.out + piped.err and "\x1b[" not in piped.out + piped.err
