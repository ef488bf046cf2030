"""How the core reports progress without printing: a small protocol the CLI implements."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class Progress(Protocol):
    @property
    def detail(self) -> int:
        """How much detail the user asked for: 0 none, 1 notes (-v), 2 notes and one line per
        request to a remote (-vv). A command computes a detail only when this asks for it."""

    def start(self, description: str, total: int | None, unit: str = "bytes") -> None:
        """Begin a phase; ``total`` in ``unit`` (None if unknown)."""

    def advance(self, amount: int) -> None:
        """Called from any thread."""

    def finish(self) -> None: ...

    def note(self, line: str) -> None:
        """A detail of how the work is being done (a slower request path taken, an attempt
        retried) that the CLI shows only with -v. Called from any thread."""


class NoProgress:
    detail = 0

    def start(self, description: str, total: int | None, unit: str = "bytes") -> None:
        pass

    def advance(self, amount: int) -> None:
        pass

    def finish(self) -> None:
        pass

    def note(self, line: str) -> None:
        pass


class NotesOnly(NoProgress):
    """No progress display, but notes go to ``show`` (the CLI with -v and no terminal)."""

    def __init__(self, show: Callable[[str], None], detail: int = 1) -> None:
        self._show = show
        self.detail = detail

    def note(self, line: str) -> None:
        self._show(line)


NO_PROGRESS = NoProgress()
