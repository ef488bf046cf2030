"""Shared fixtures (only fixtures: helpers live in tests/support and are imported from there)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.cli import Result
from tests.support.environment import FIXED_ENV, GIT_ENV, HIDDEN_PREFIXES, prepare_home
from tests.support.git import commit_all, git
from tests.support.processes import Processes

pytest_plugins = ["tests.support.server_fixtures"]


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test sees the developer's Git config, AWS profile or GCS credentials."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    for key, value in {**GIT_ENV, **FIXED_ENV}.items():
        monkeypatch.setenv(key, value)
    for key in list(os.environ):
        if key.startswith(HIDDEN_PREFIXES):
            monkeypatch.delenv(key)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)  # artver's user config: under the temporary HOME
    prepare_home(home)


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


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    """Start artver processes with processes.start(...); every one still running is killed at teardown."""
    manager = Processes(tmp_path / "logs")
    try:
        yield manager
    finally:
        manager.kill_all()
