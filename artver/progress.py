"""How the core reports progress without printing: a small protocol the CLI implements."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def start(self, description: str, total: int | None, unit: str = "bytes") -> None:
        """Begin a phase; ``total`` in ``unit`` (None if unknown)."""

    def advance(self, amount: int) -> None:
        """Called from any thread."""

    def finish(self) -> None: ...


class NoProgress:
    def start(self, description: str, total: int | None, unit: str = "bytes") -> None:
        pass

    def advance(self, amount: int) -> None:
        pass

    def finish(self) -> None:
        pass


NO_PROGRESS = NoProgress()
