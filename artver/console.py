"""Terminal output of the CLI: plain lines, JSON, and a delayed rich progress bar."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from artver.progress import NO_PROGRESS, Progress

PROGRESS_DELAY = 1.0  # seconds of work before a bar appears (ARTVER_PROGRESS_DELAY overrides, for tests)
UPDATE_INTERVAL = 0.05  # seconds between redraw requests (rich redraws at 10 Hz anyway)


@dataclass(frozen=True)
class Output:
    quiet: bool = False
    verbose: bool = False

    def say(self, line: str = "") -> None:
        if not self.quiet:
            sys.stdout.write(line + "\n")

    def detail(self, line: str) -> None:
        if self.verbose and not self.quiet:
            sys.stdout.write(line + "\n")

    def warn(self, line: str) -> None:
        from artver.error_handler import redact

        sys.stderr.write(f"artver: {redact(line)}\n")

    def json(self, value: Any) -> None:
        from artver.error_handler import redact

        sys.stdout.write(redact(json.dumps(to_jsonable(value), indent=2, ensure_ascii=False)) + "\n")

    def progress(self) -> Progress:
        if self.quiet or not sys.stderr.isatty() or os.environ.get("TERM") == "dumb":
            return NO_PROGRESS
        return DelayedBar()


def to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: to_jsonable(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def relative_to_cwd(root: Path, repo_relative: str) -> str:
    """How to name a repository path on a command line typed in the current directory."""
    return os.path.relpath(root / repo_relative)


class DelayedBar:
    """A rich progress bar on stderr that appears only once a phase has run PROGRESS_DELAY seconds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bar: Any = None
        self._task: Any = None
        self._description = ""
        self._total: int | None = None
        self._unit = "bytes"
        self._done = 0
        self._started = 0.0
        self._updated = 0.0
        try:
            self._delay = float(os.environ.get("ARTVER_PROGRESS_DELAY", PROGRESS_DELAY))
        except ValueError:
            self._delay = PROGRESS_DELAY

    def start(self, description: str, total: int | None, unit: str = "bytes") -> None:
        with self._lock:
            self._stop()
            self._description, self._total, self._unit = description, total, unit
            self._done = 0
            self._started = time.monotonic()

    def advance(self, amount: int) -> None:
        with self._lock:
            self._done += amount
            now = time.monotonic()
            if self._bar is None:
                if now - self._started < self._delay:
                    return
                self._show()
            elif now - self._updated < UPDATE_INTERVAL:
                return  # called per chunk and per object: 20,000 bar updates would cost ~0.3 s
            self._updated = now
            self._bar.update(self._task, completed=self._done)

    def finish(self) -> None:
        with self._lock:
            self._stop()

    def _show(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            MofNCompleteColumn,
            Progress as RichProgress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        amount = [DownloadColumn(), TransferSpeedColumn()] if self._unit == "bytes" else [MofNCompleteColumn()]
        self._bar = RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            *amount,
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._bar.start()
        self._task = self._bar.add_task(self._description, total=self._total, completed=self._done)

    def _stop(self) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=self._done)  # the last advances may have been skipped
            self._bar.stop()
            self._bar = None
