"""Shared test fixtures: real Git repositories in temp dirs and ways to run artver."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

pytest_plugins = ["tests.server_fixtures"]

SUBPROCESS_TIMEOUT = 120
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Ada Tester",
    "GIT_AUTHOR_EMAIL": "ada@example.invalid",
    "GIT_COMMITTER_NAME": "Ada Tester",
    "GIT_COMMITTER_EMAIL": "ada@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test sees the developer's Git config, AWS profile or GCS credentials."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    for key in list(os.environ):
        if key.startswith(("AWS_", "GOOGLE_", "STORAGE_EMULATOR", "CLOUDSDK_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)  # artver's user config: under the temporary HOME
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n")


def git(cwd: Path, *args: str) -> str:
    completed = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT
    )
    if completed.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {completed.stderr}")
    return completed.stdout


def commit_all(cwd: Path, message: str) -> str:
    git(cwd, "add", "-A")
    git(cwd, "commit", "-q", "-m", message)
    return git(cwd, "rev-parse", "HEAD").strip()


@pytest.fixture
def run_artver(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """Run the CLI in-process (fast) from a directory: run_artver(cwd, 'add', 'x')."""
    from artver.cli import main

    def run(cwd: Path, *args: str) -> Result:
        capsys.readouterr()
        monkeypatch.chdir(cwd)
        code = main(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def run_artver_process(cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = SUBPROCESS_TIMEOUT) -> Result:
    """Run the CLI as a real process, as a user or a Git hook would."""
    completed = subprocess.run(
        [sys.executable, "-m", "artver", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    return Result(completed.returncode, completed.stdout, completed.stderr)


@pytest.fixture
def repo(tmp_path: Path, run_artver: Callable[..., Result]) -> Path:
    """A Git repository with artver initialised and one commit."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    result = run_artver(root, "init")
    assert result.code == 0, result.err
    commit_all(root, "init artver")
    return root
