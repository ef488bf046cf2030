"""A progress bar on a terminal for long hashing and copying; never in pipes or logs."""

from __future__ import annotations

import io
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

from tests.support.cli import run_artver_process


def run_in_terminal(cwd: Path, *args: str, timeout: float = 120, columns: int = 100) -> str:
    """Run artver with stdout and stderr on a pseudo-terminal; return what the terminal showed."""
    leader, follower = pty.openpty()
    env = {**os.environ, "ARTVER_PROGRESS_DELAY": "0", "TERM": "xterm", "COLUMNS": str(columns)}
    process = subprocess.Popen([sys.executable, "-m", "artver", *args], cwd=cwd, stdin=subprocess.DEVNULL,
                               stdout=follower, stderr=follower, env=env)
    os.close(follower)
    shown = b""
    deadline = time.monotonic() + timeout
    # poll, not select: in a long test session descriptors can pass select()'s limit of 1024
    # (each cache a process touched keeps its flock-held temp-owner record open).
    poller = select.poll()
    poller.register(leader, select.POLLIN)
    try:
        while time.monotonic() < deadline:
            ready = poller.poll(500)
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
    assert "Adding big.bin" in shown and "MiB" in shown
    (repo / "big.bin").unlink()
    shown = run_in_terminal(repo, "checkout")
    assert "Checking out" in shown
    (repo / "big.bin").unlink()
    piped = run_artver_process(repo, "checkout", env={"ARTVER_PROGRESS_DELAY": "0"})
    assert piped.code == 0
    assert "Checking out" not in piped.out + piped.err and "\x1b[" not in piped.out + piped.err


ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def test_the_bar_fits_80_columns_in_binary_units(repo: Path) -> None:
    """Each redraw of the bar is one line of at most 80 columns (a long description is cut,
    never wrapped, so the numbers stay beside it), and sizes are KiB/MiB/GiB like the summaries."""
    name = "a_rather_long_folder_name_for_the_data/and_an_even_longer_file_name_inside_it.bin"
    (repo / name).parent.mkdir(parents=True)
    (repo / name).write_bytes(os.urandom(8 * 1024 * 1024) * 24)
    shown = run_in_terminal(repo, "add", name, columns=80)
    segments = [segment for segment in ESCAPE.sub("", shown).replace("\r", "\n").split("\n") if segment.strip()]
    bars = [segment for segment in segments if "Adding" in segment]
    assert bars, shown
    for segment in segments:
        if "artver" in segment or "added" in segment or "git add" in segment:
            continue  # the command's own output lines, not the bar
        assert len(segment) <= 80, segment
        if "iB/" in segment:
            assert "Adding" in segment, f"the numbers wrapped onto a line of their own: {segment!r}"
    assert any("MiB/" in bar for bar in bars) and not any(re.search(r"\d (MB|GB|kB)", bar) for bar in bars), bars


def test_make_bar_fits_any_width_with_long_paths_and_large_sizes() -> None:
    from rich.console import Console

    from artver.console import make_bar

    for width in (60, 80, 120):
        buffer = io.StringIO()
        bar = make_bar(Console(file=buffer, width=width, force_terminal=True, color_system=None))
        task = bar.add_task("Pushing to remote 'origin' (s3://a-long-bucket-name/and/a/long/prefix/inside/it)",
                            total=2 * 1024**4, completed=1024**4 + 5 * 1024**3)
        bar.tasks[0].finished_speed = 987.6 * 1024**2
        bar.update(task)
        bar.console.print(bar.get_renderable())
        lines = [line for line in ESCAPE.sub("", buffer.getvalue()).splitlines() if line.strip()]
        assert len(lines) == 1 and len(lines[0]) <= width, lines
        assert "1.0 TiB/2.0 TiB" in lines[0] and "987.6 MiB/s" in lines[0], lines
