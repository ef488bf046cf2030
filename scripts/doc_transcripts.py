#!/usr/bin/env python3
"""Run the commands of a walkthrough page and compare (or rewrite) the output it shows.

Every ```console block of the page is part of one shell session: a line starting
with ``$ `` is a command, the lines after it (up to the next command or the end of
the block) are what it prints, stdout and stderr together. The commands run in
order in one bash process inside a fresh temporary home directory, so ``cd`` and
``export`` carry over from block to block, exactly as for a reader who types them.

    .venv/bin/python scripts/doc_transcripts.py            # exit 1 and show the first difference
    .venv/bin/python scripts/doc_transcripts.py --write    # put the real output into the page

What may differ between two honest runs is normalised on both sides before they
are compared: the temporary home directory is shown as ``/home/you``, and commit
ids with their dates (``artver log``) as ``<commit>  <date>``. Everything else,
content hashes included, must match: the page builds its sample data with a
seeded generator, so a reader gets the same hashes.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = (ROOT / "docs" / "getting-started.md", ROOT / "docs" / "remotes.md")
TIMEOUT = 600
SHOWN_HOME = "/home/you"
_MARKER = "@@artver-doc-step-{}@@"
_COMMIT_AND_DATE = re.compile(r"\b[0-9a-f]{8}  \d{4}-\d\d-\d\d \d\d:\d\d\b")
_FENCE = re.compile(r"^```console\n(.*?)^```\n", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Step:
    command: str
    shown: tuple[str, ...]  # the output lines the page shows
    block: int  # which console block, for messages


def steps_of(text: str) -> list[Step]:
    steps: list[Step] = []
    for block, match in enumerate(_FENCE.finditer(text)):
        command: str | None = None
        shown: list[str] = []
        for line in match.group(1).splitlines():
            if line.startswith("$ "):
                if command is not None:
                    steps.append(Step(command, tuple(shown), block))
                command, shown = line[2:], []
            elif command is None:
                raise ValueError(f"console block {block + 1} starts with output, not with '$ COMMAND': {line!r}")
            else:
                shown.append(line)
        if command is not None:
            steps.append(Step(command, tuple(shown), block))
    return steps


def _artver_on_path(bin_dir: Path) -> None:
    """An ``artver`` command for the session: this interpreter running this checkout."""
    shim = bin_dir / "artver"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m artver "$@"\n')
    shim.chmod(0o755)


def run_steps(steps: list[Step]) -> list[tuple[str, ...]]:
    """What each command prints, with the temporary home shown as SHOWN_HOME."""
    with tempfile.TemporaryDirectory(prefix="artver-doc-") as temp:
        home = Path(temp) / "home"
        bin_dir = Path(temp) / "bin"
        home.mkdir()
        bin_dir.mkdir()
        _artver_on_path(bin_dir)
        (home / ".gitconfig").write_text("[advice]\n\tdetachedHead = false\n")
        tmp = Path(temp) / "tmp"  # servers a page starts leave sockets in TMPDIR
        tmp.mkdir()
        env = {
            "HOME": str(home),
            "TMPDIR": str(tmp),
            # artver first, then the tools installed beside this interpreter (weed, for remotes.md)
            "PATH": os.pathsep.join([str(bin_dir), os.path.dirname(sys.executable), os.environ.get("PATH", "")]),
            "PYTHONPATH": str(ROOT),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "GIT_CONFIG_NOSYSTEM": "1",
            "TERM": "dumb",
            "COLUMNS": "100",
        }
        script = ["set -u", "cd ~"]
        for number, step in enumerate(steps):
            script.append(f"printf '\\n{_MARKER.format(number)}\\n'")
            script.append(f"{{ {step.command}\n}} 2>&1 </dev/null")
        script.append(f"printf '\\n{_MARKER.format('end')}\\n'")
        session = subprocess.Popen(
            ["bash", "--noprofile", "--norc", "-c", "\n".join(script)], cwd=home, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )
        try:
            output, errors = session.communicate(timeout=TIMEOUT)
        finally:
            _end_process_group(session)
        outputs: list[tuple[str, ...]] = []
        for number in range(len(steps)):
            start = output.find(f"\n{_MARKER.format(number)}\n")
            end = output.find(f"\n{_MARKER.format(number + 1 if number + 1 < len(steps) else 'end')}\n")
            if start < 0 or end < 0:
                raise RuntimeError(f"the session stopped at step {number + 1} ({steps[number].command!r}):\n"
                                   f"{errors[-2000:]}")
            text = output[start + len(_MARKER.format(number)) + 2 : end]
            outputs.append(tuple(_show_home(line, str(home)) for line in text.splitlines()))
        return outputs


def _end_process_group(session: subprocess.Popen[str]) -> None:
    """Stop the shell and whatever a page left running in the background (a server whose
    stop command was never reached), by the process group the shell leads."""
    for signal_number in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(session.pid, signal_number)
        except ProcessLookupError:
            break
        try:
            session.wait(timeout=5)
            time.sleep(0.2)  # let background children get the signal too
        except subprocess.TimeoutExpired:
            continue


def _show_home(line: str, home: str) -> str:
    return line.replace(os.path.realpath(home), SHOWN_HOME).replace(home, SHOWN_HOME).rstrip()


def _normalise(line: str) -> str:
    return _COMMIT_AND_DATE.sub("<commit>  <date>", line)


def differences(steps: list[Step], outputs: list[tuple[str, ...]]) -> list[str]:
    problems = []
    for step, actual in zip(steps, outputs, strict=True):
        shown = tuple(_normalise(line.rstrip()) for line in step.shown)
        if shown != tuple(_normalise(line) for line in actual):
            problems.append(
                f"$ {step.command}\n  the page shows:\n" + "".join(f"    {line}\n" for line in shown)
                + "  it prints:\n" + "".join(f"    {line}\n" for line in actual)
            )
    return problems


def rewrite(text: str, steps: list[Step], outputs: list[tuple[str, ...]]) -> str:
    """The page with each command's shown output replaced by ``outputs``, except where
    the two differ only in what is normalised (so commit ids do not churn)."""
    kept = [
        step.shown if tuple(_normalise(line.rstrip()) for line in step.shown) == tuple(_normalise(line) for line in actual)
        else actual
        for step, actual in zip(steps, outputs, strict=True)
    ]
    iterator = iter(kept)

    def block(match: re.Match[str]) -> str:
        lines = []
        for line in match.group(1).splitlines():
            if line.startswith("$ "):
                lines.append(line)
                lines.extend(next(iterator))
        return "```console\n" + "".join(f"{line}\n" for line in lines) + "```\n"

    return _FENCE.sub(block, text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="put the real output into the pages")
    arguments = parser.parse_args()
    if shutil.which("git") is None:
        print("doc_transcripts: git is not on PATH", file=sys.stderr)
        return 2
    status = 0
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        steps = steps_of(text)
        outputs = run_steps(steps)
        if arguments.write:
            page.write_text(rewrite(text, steps, outputs), encoding="utf-8")
            continue
        problems = differences(steps, outputs)
        if problems:
            print(f"{page.relative_to(ROOT)}: {len(problems)} command(s) print something else than the page shows "
                  f"(rerun with --write and review the diff):\n\n" + "\n".join(problems[:5]), file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
