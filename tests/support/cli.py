"""Running the artver command line and judging what it printed."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .git import SUBPROCESS_TIMEOUT


@dataclass(frozen=True)
class Result:
    """What one artver command did: exit code, stdout, stderr."""

    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()


def run_artver_process(cwd: Path, *args: str, env: dict[str, str] | None = None,
                       timeout: float = SUBPROCESS_TIMEOUT) -> Result:
    """Run the CLI as a real process, as a user or a Git hook would (``env`` is laid over the
    current environment). Raises subprocess.TimeoutExpired after ``timeout`` seconds."""
    completed = subprocess.run(
        [sys.executable, "-m", "artver", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    return Result(completed.returncode, completed.stdout, completed.stderr)


def assert_one_line_error(result: Result, *needles: str) -> str:
    """A failed command that said why in one 'artver: error:' line (no traceback); the line."""
    assert result.code not in (0, 3), result
    assert "Traceback" not in result.err and "Traceback" not in result.out
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("artver: error: "), result.err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]
