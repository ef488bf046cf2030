#!/usr/bin/env python3
"""Write docs/commands.md from the CLI itself, so the reference cannot drift.

    .venv/bin/python scripts/gen_cli_reference.py          # rewrite docs/commands.md
    .venv/bin/python scripts/gen_cli_reference.py --check  # exit 1 if it is out of date (the tests run this)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from artver.cli import app

TARGET = Path(__file__).resolve().parent.parent / "docs" / "commands.md"
HEADER = """# Command reference

Generated from the CLI by `scripts/gen_cli_reference.py`; a test fails when it
is out of date. Every command accepts `-h/--help`. Global options go anywhere
on the command line: `-q/--quiet` (only errors), `-v/--verbose` (more detail,
and the traceback of an internal error), `--version`.

Shell completion of commands and options:
`artver --install-completion` sets it up for your shell (bash, zsh, fish or
PowerShell, detected from the shell you run it in; open a new shell
afterwards), and `artver --show-completion` prints the script instead, to
install by hand.

Exit codes: 0 success; 1 the command ran but something is not right
(`status --check` found changes, objects missing or corrupt, a transfer
failed); 2 bad usage or input; 3 internal error (a bug; please report it with
the output of `-v`); 130 interrupted.
"""


def _param_line(param: Any) -> str | None:
    if getattr(param, "hidden", False) or param.name in ("help",):
        return None
    help_text = (getattr(param, "help", None) or "").strip()
    if param.param_type_name == "argument":
        name = (param.metavar or param.name.upper()).strip()
        suffix = "..." if param.nargs == -1 and "..." not in name else ""
        required = "" if param.required else " (optional)"
        return f"- `{name}{suffix}`{required}: {help_text}".rstrip(": ")
    names = ", ".join(f"`{opt}`" for opt in param.opts + list(param.secondary_opts))
    if not param.is_flag:
        names = names[:-1] + f" {(param.metavar or param.name).upper()}`"
    extra = []
    if param.multiple:
        extra.append("repeatable")
    if not param.is_flag and param.default not in (None, (), []) and not callable(param.default):
        extra.append(f"default: {param.default}")
    tail = f" ({'; '.join(extra)})" if extra else ""
    return f"- {names}: {help_text}{tail}"


def _render(command: Any, path: str, out: list[str]) -> None:
    subcommands = getattr(command, "commands", None)
    if subcommands is not None and path:
        out.append(f"## `{path}`\n\n{(command.help or '').strip()}\n")
    for name in (sorted(subcommands) if subcommands is not None else []):
        child = subcommands[name]
        if getattr(child, "hidden", False):
            continue
        child_path = f"{path} {name}".strip()
        if getattr(child, "commands", None) is not None:
            _render(child, child_path, out)
            continue
        level = "###" if path else "##"
        out.append(f"{level} `artver {child_path}`\n")
        out.append((child.help or "").strip() + "\n")
        lines = [line for line in (_param_line(param) for param in child.params) if line]
        if lines:
            out.append("\n".join(lines) + "\n")


def render() -> str:
    command = typer.main.get_command(app)
    parts: list[str] = [HEADER]
    _render(command, "", parts)
    text = "\n".join(parts)
    return text.replace("## `remote`", "## `artver remote`") .rstrip() + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            sys.stderr.write(f"{TARGET} is out of date; run scripts/gen_cli_reference.py\n")
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
