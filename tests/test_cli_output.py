"""What the CLI prints for long lists of paths: capped, with the way to see them all."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.support.files import write
from tests.support.git import commit_all


def _dataset(repo: Path, run_artver, files: int) -> None:  # type: ignore[no-untyped-def]
    for index in range(files):
        write(repo / "data" / f"f{index:03}.bin", f"file {index}")
    assert run_artver(repo, "add", "data").code == 0
    commit_all(repo, "data")


def test_status_lists_at_most_twenty_paths_without_verbose(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    _dataset(repo, run_artver, 30)
    for index in range(27):
        (repo / "data" / f"f{index:03}.bin").unlink()
    result = run_artver(repo, "status")
    deleted = [line for line in result.lines if line.strip().startswith("deleted:")]
    assert len(deleted) == 20
    assert result.lines[-1] == "    ... and 7 more (-v or --json for all)"
    assert "(0 added, 0 modified, 27 deleted)" in result.out

    verbose = run_artver(repo, "status", "-v")
    assert len([line for line in verbose.lines if line.strip().startswith("deleted:")]) == 27
    assert "more (-v" not in verbose.out


def test_checkout_caps_the_missing_objects_it_lists(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    _dataset(repo, run_artver, 25)
    shutil.rmtree(repo / "data")
    shutil.rmtree(repo / ".artver" / "cache")
    result = run_artver(repo, "checkout")
    assert result.code == 1
    listed = [line for line in result.err.splitlines() if line.startswith("artver:     data/")]
    assert len(listed) == 20
    assert result.err.splitlines()[-1] == "artver:     ... and 5 more (-v or --json for all)"
    assert len(run_artver(repo, "checkout", "-v").err.splitlines()) == 1 + 25


def test_shell_completion_completes_commands_and_options(tmp_path: Path) -> None:
    """The protocol the installed completion script speaks: the shell sets COMP_WORDS and
    COMP_CWORD and artver answers with the candidates, one per line."""
    import os
    import subprocess
    import sys

    def complete(words: str, index: int) -> list[str]:
        completed = subprocess.run(
            [sys.executable, "-m", "artver"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
            env={**os.environ, "COMP_WORDS": words, "COMP_CWORD": str(index), "_ARTVER_COMPLETE": "complete_bash"},
        )
        assert completed.returncode == 0, completed.stderr
        return completed.stdout.split()

    assert complete("artver pu", 1) == ["push", "pull", "publish"]
    assert complete("artver push --re", 2) == ["--remote", "--rev"]
    assert complete("artver remote mo", 2) == ["modify"]
    help_text = subprocess.run([sys.executable, "-m", "artver", "--help"], capture_output=True, text=True, timeout=60).stdout
    assert "--install-completion" in help_text and "--show-completion" in help_text
