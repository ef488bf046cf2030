"""The documentation says what the code does."""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_command_reference_is_generated_from_the_cli() -> None:
    completed = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_cli_reference.py"), "--check"],
        capture_output=True, text=True, timeout=60,
    )
    assert completed.returncode == 0, completed.stderr


def test_every_command_is_in_the_reference() -> None:
    import typer

    from artver.cli import app

    text = (ROOT / "docs" / "commands.md").read_text(encoding="utf-8")
    group = typer.main.get_command(app)
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        if getattr(command, "hidden", False):
            continue
        assert f"`artver {name}" in text, name


def test_readme_has_exactly_the_two_set_up_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Set up", 1)[1].split("\n## ", 1)[0]
    commands = [line.split("#")[0].strip() for line in section.splitlines() if line.startswith("./scripts/")]
    assert commands == ["./scripts/demo.sh", "./scripts/test.sh"]
    assert (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1] == "exec ./scripts/test.sh"


def test_documented_links_exist() -> None:
    import re

    for document in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#:]+\.md)(?:#[^)]*)?\)", document.read_text(encoding="utf-8")):
            assert (document.parent / target).exists(), f"{document.name} links to missing {target}"


def test_generator_module_loads() -> None:
    namespace = runpy.run_path(str(ROOT / "scripts" / "gen_cli_reference.py"), run_name="not_main")
    assert "render" in namespace


def test_walkthrough_pages_run_as_written() -> None:
    """Every command of docs/getting-started.md and of the S3-on-your-laptop part of
    docs/remotes.md, run in order in a fresh home directory, prints what the page shows
    (scripts/doc_transcripts.py explains what is normalised)."""
    completed = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "doc_transcripts.py")], capture_output=True, text=True, timeout=900,
    )
    assert completed.returncode == 0, completed.stderr


def test_top_level_help_shows_whole_sentences() -> None:
    """'artver --help' lists each command with its first sentence, never cut mid-phrase
    in an 80-column terminal (click shortens anything longer with '...')."""
    import typer

    from artver.cli import app

    def every(group: typer.core.TyperGroup, prefix: str) -> list[tuple[str, object]]:
        found = []
        for name, command in group.commands.items():
            found.append((prefix + name, command))
            if isinstance(command, typer.core.TyperGroup):
                found += every(command, f"{prefix}{name} ")
        return found

    root = typer.main.get_command(app)
    assert isinstance(root, typer.core.TyperGroup)
    width_left = 80 - 6 - max(len(name) for name in root.commands)
    for name, command in every(root, ""):
        if getattr(command, "hidden", False):
            continue
        first_paragraph = " ".join((command.help or "").strip().split("\n\n")[0].split())  # type: ignore[attr-defined]
        assert command.get_short_help_str(limit=width_left) == first_paragraph, name  # type: ignore[attr-defined]
        assert len(first_paragraph) <= width_left, name
