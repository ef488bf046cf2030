"""Installing artver's Git hooks next to the user's own, and taking them out again.

Each hook file gets one block between two marker lines; artver only ever
touches that block. A hook that already existed without the block is renamed
to ``<hook>.pre-artver`` and the block chains to it, with the same arguments
and standard input. Re-running the installer rewrites the block in place (so
edits outside it survive) and never moves a file that has the block, so a hook
can never be chained to itself. As a second guard, the block exports
``ARTVER_IN_<HOOK>`` and does nothing when it finds it already set: even a hand-
made loop (a copy of the block in the chained file) runs once and stops.
"""

from __future__ import annotations

import os
import shlex
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from artver import git
from artver.errors import UsageError
from artver.fsutil import atomic_write_bytes

HOOKS = ("post-checkout", "post-merge", "pre-push", "pre-commit")
BEGIN = "# >>> artver hook (managed by 'artver install-hooks'; edit outside this block) >>>"
END = "# <<< artver hook <<<"
CHAINED_SUFFIX = ".pre-artver"


@dataclass(frozen=True)
class HookChange:
    hook: str
    action: str  # installed | updated | unchanged | chained | removed | restored


def hooks_dir(root: Path) -> Path:
    path = Path(git.run(root, "rev-parse", "--git-path", "hooks").decode().strip())
    return path if path.is_absolute() else root / path


def block(hook: str, python: str) -> str:
    guard = "ARTVER_IN_" + hook.upper().replace("-", "_")
    chained = f'"$(dirname "$0")/{hook}{CHAINED_SUFFIX}"'
    run = f'artver_run() {{ if [ -x {shlex.quote(python)} ]; then {shlex.quote(python)} -m artver "$@"; else artver "$@"; fi; }}'
    if hook == "pre-push":
        body = [
            'artver_input=$(cat)',
            f'printf "%s\\n" "$artver_input" | artver_run hook {hook} "$@" || exit $?',
            f'if [ -x {chained} ]; then printf "%s\\n" "$artver_input" | {chained} "$@" || exit $?; fi',
        ]
    else:
        body = [
            f'artver_run hook {hook} "$@" || exit $?',
            f'if [ -x {chained} ]; then {chained} "$@" || exit $?; fi',
        ]
    lines = [
        BEGIN,
        f'if [ -z "${{{guard}:-}}" ]; then',
        f"  {guard}=1; export {guard}",
        f"  {run}",
        *(f"  {line}" for line in body),
        "fi",
        END,
    ]
    return "\n".join(lines) + "\n"


def _split(text: str) -> tuple[str, str, str] | None:
    """(before, block, after) if the file holds artver's block."""
    start = text.find(BEGIN)
    if start < 0:
        return None
    end = text.find(END, start)
    if end < 0:
        raise UsageError("a hook file has artver's start marker but not its end marker; fix it by hand")
    end += len(END) + 1
    return text[:start], text[start:end], text[end:]


def install(root: Path, python: str | None = None) -> list[HookChange]:
    directory = hooks_dir(root)
    directory.mkdir(parents=True, exist_ok=True)
    interpreter = python or sys.executable
    changes = []
    for hook in HOOKS:
        path = directory / hook
        wanted = block(hook, interpreter)
        text = path.read_text(encoding="utf-8", errors="surrogateescape") if path.exists() else None
        parts = _split(text) if text is not None else None
        if parts is not None:
            before, current, after = parts
            if current == wanted:
                changes.append(HookChange(hook, "unchanged"))
                continue
            _write(path, before + wanted + after)
            changes.append(HookChange(hook, "updated"))
            continue
        if text is not None:
            chained = directory / (hook + CHAINED_SUFFIX)
            if chained.exists():
                raise UsageError(
                    f"{path} exists and so does {chained.name}; merge them into one hook by hand, then run "
                    f"'artver install-hooks' again"
                )
            os.replace(path, chained)
            changes.append(HookChange(hook, "chained"))
        else:
            changes.append(HookChange(hook, "installed"))
        _write(path, "#!/bin/sh\n" + wanted)
    return changes


def uninstall(root: Path) -> list[HookChange]:
    directory = hooks_dir(root)
    changes = []
    for hook in HOOKS:
        path = directory / hook
        if not path.exists():
            continue
        parts = _split(path.read_text(encoding="utf-8", errors="surrogateescape"))
        if parts is None:
            continue
        before, _, after = parts
        rest = before + after
        chained = directory / (hook + CHAINED_SUFFIX)
        if rest.strip() in ("", "#!/bin/sh"):
            path.unlink()
            if chained.exists():
                os.replace(chained, path)
                changes.append(HookChange(hook, "restored"))
                continue
        elif chained.exists():
            # The user added lines of their own around the block: keep them, and keep their original
            # hook running through a plain call where the block was.
            call = f'"$(dirname "$0")/{hook}{CHAINED_SUFFIX}" "$@" || exit $?\n'
            _write(path, before + call + after)
        else:
            _write(path, rest)
        changes.append(HookChange(hook, "removed"))
    return changes


def _write(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8", "surrogateescape"), mode=0o755)
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
