"""Terminal output of the CLI: plain lines, JSON, and a delayed rich progress bar.

Everything the CLI prints passes through here, and much of it is text from untrusted
sources: paths and descriptions from committed pointers, commit subjects and author names,
remote URLs from the committed config. So every line is made printable first (printable):
a description cannot clear the screen, set the window title, reorder text with a bidi
override or add lines that look like artver's own output. JSON output escapes the same
characters as \\uXXXX, so it stays valid JSON with the same values.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from artver.progress import NO_PROGRESS, NotesOnly, Progress

PROGRESS_DELAY = 1.0  # seconds of work before a bar appears (ARTVER_PROGRESS_DELAY overrides, for tests)
UPDATE_INTERVAL = 0.05  # seconds between redraw requests (rich redraws at 10 Hz anyway)


# Never written raw: C0 controls except tab, DEL, C1 controls, the Unicode line and paragraph
# separators, the bidirectional controls (U+202E shows "gpj.exe" as "exe.jpg"), and lone
# surrogates (which cannot be encoded at all). Zero-width joiners stay: emoji and scripts need them.
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")
_UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")  # json.dumps escapes C0
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _SHORT_ESCAPES.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def printable(text: str) -> str:
    """``text`` with every character that could control a terminal shown as an escape (``\\x1b``)."""
    return _UNSAFE.sub(_escape, text)


# A URL's user-information part: 'scheme://' then anything up to the last '@' of the same
# word (a password may itself contain '@' or even a '/'). Its characters never include
# whitespace or quotes, which end a URL inside a message.
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^\s'\"<>@]*(?:@[^\s'\"<>@]*)*@")


def redact(message: str) -> str:
    """The message with the credentials of every URL in it replaced by '***'. Config and
    'remote modify' refuse such URLs, but one can still arrive from the environment
    (AWS_ENDPOINT_URL) or a library's message; nothing artver prints may show it."""
    return _USERINFO.sub(lambda match: f"{match.group('scheme')}***@", message)


def write_line(stream: TextIO, line: str) -> None:
    """Write one printable line, with no URL credentials in it (see redact). Text the stream's
    encoding cannot represent (a non-UTF-8 locale) is written as backslash escapes instead of
    failing the command."""
    text = printable(redact(line)) + "\n"
    try:
        stream.write(text)
    except UnicodeEncodeError:
        encoding = stream.encoding or "ascii"
        stream.write(text.encode(encoding, "backslashreplace").decode(encoding))


@dataclass(frozen=True)
class Output:
    quiet: bool = False
    verbose: bool = False
    trace: bool = False  # -vv: also one line per request to a remote (with verbose)

    def say(self, line: str = "") -> None:
        if not self.quiet:
            write_line(sys.stdout, line)

    def detail(self, line: str) -> None:
        if self.verbose and not self.quiet:
            write_line(sys.stdout, line)

    def warn(self, line: str) -> None:
        write_line(sys.stderr, f"artver: {line}")

    def json(self, value: Any) -> None:
        text = redact(json.dumps(to_jsonable(value), indent=2, ensure_ascii=False))
        text = _UNSAFE_IN_JSON.sub(lambda match: f"\\u{ord(match.group()):04x}", text)
        try:
            sys.stdout.write(text + "\n")
        except UnicodeEncodeError:  # a non-UTF-8 locale: plain ASCII JSON means the same
            sys.stdout.write(redact(json.dumps(to_jsonable(value), indent=2, ensure_ascii=True)) + "\n")

    def note(self, line: str) -> None:
        """A detail the core reports through Progress.note: shown on stderr with -v only."""
        if self.verbose and not self.quiet:
            write_line(sys.stderr, f"artver: {line}")

    def progress(self) -> Progress:
        notes = self.note if self.verbose and not self.quiet else None
        detail = 0 if notes is None else 2 if self.trace else 1
        if self.quiet or not sys.stderr.isatty() or os.environ.get("TERM") == "dumb":
            return NO_PROGRESS if notes is None else NotesOnly(notes, detail)
        return DelayedBar(notes, detail)


# The results' fields that name a remote (a remote_label.RemoteLabel, or None) were plain strings
# in the JSON output; now they are {"name", "url"} objects, and for one release the string stays
# beside them as "<field>_text" (documented as deprecated in docs/json.md).
REMOTE_FIELDS = frozenset({"remote"})
DEPRECATED_TEXT_SUFFIX = "_text"


def to_jsonable(value: Any) -> Any:
    """A result as JSON values: a dataclass becomes its fields, then its public properties (a
    result's ``ok``), so JSON output states what the CLI's exit code is based on. A value
    with ``as_json()`` (a RemoteLabel) becomes what that returns; a remote field also keeps
    its former string form beside it, as ``remote_text``, for one release."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields: dict[str, Any] = {}
        for field in dataclasses.fields(value):
            item = getattr(value, field.name)
            fields[field.name] = to_jsonable(item)
            if field.name in REMOTE_FIELDS and (item is None or hasattr(item, "as_json")):
                fields[field.name + DEPRECATED_TEXT_SUFFIX] = None if item is None else str(item)
        return {**fields, **{name: to_jsonable(getattr(value, name)) for name in _properties(type(value))}}
    if hasattr(value, "as_json"):
        return to_jsonable(value.as_json())
    if isinstance(value, (list, tuple)):
        return [to_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def _properties(cls: type) -> list[str]:
    """The public properties of a class, bases first, each in the order it is defined."""
    names = (name for klass in reversed(cls.__mro__) for name, attribute in vars(klass).items()
             if isinstance(attribute, property) and not name.startswith("_"))
    return list(dict.fromkeys(names))


def relative_to_cwd(root: Path, repo_relative: str) -> str:
    """How to name a repository path on a command line typed in the current directory."""
    return os.path.relpath(root / repo_relative)


class DelayedBar:
    """A rich progress bar on stderr that appears only once a phase has run PROGRESS_DELAY seconds."""

    def __init__(self, notes: Callable[[str], None] | None = None, detail: int = 0) -> None:
        self._notes = notes
        self.detail = detail if notes is not None else 0
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
            self._description, self._total, self._unit = printable(description), total, unit
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

    def note(self, line: str) -> None:
        if self._notes is None:
            return
        with self._lock:
            if self._bar is not None:
                self._bar.console.print(printable(f"artver: {line}"), markup=False, highlight=False)
            else:
                self._notes(line)

    def _show(self) -> None:
        from rich.console import Console

        self._bar = make_bar(Console(stderr=True), self._unit)
        self._bar.start()
        self._task = self._bar.add_task(self._description, total=self._total, completed=self._done)

    def _stop(self) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=self._done)  # the last advances may have been skipped
            self._bar.stop()
            self._bar = None


def make_bar(console: Any, unit: str = "bytes") -> Any:
    """A rich Progress on ``console`` that fits its width on one line: the description is cut
    with an ellipsis rather than wrapped, and the bar takes what is left. Sizes and speeds
    are in binary units (KiB, MiB, GiB), as every summary artver prints."""
    from rich.progress import BarColumn, MofNCompleteColumn, ProgressColumn, TextColumn, TimeRemainingColumn
    from rich.progress import Progress as RichProgress
    from rich.table import Column
    from rich.text import Text

    from artver.fsutil import human_size

    class Amount(ProgressColumn):
        def render(self, task: Any) -> Text:
            total = "?" if task.total is None else human_size(int(task.total))
            return Text(f"{human_size(int(task.completed))}/{total}", style="progress.download")

    class Speed(ProgressColumn):
        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            return Text("?" if speed is None else f"{human_size(int(speed))}/s", style="progress.data.speed")

    amount: list[ProgressColumn] = [Amount(), Speed()] if unit == "bytes" else [MofNCompleteColumn()]
    return RichProgress(
        # a path like "a[/b]" is not markup; a long one is cut, never wrapped onto a second line
        TextColumn("{task.description}", markup=False, table_column=Column(ratio=3, no_wrap=True, overflow="ellipsis")),
        BarColumn(bar_width=None, table_column=Column(ratio=2, max_width=40)),
        *amount,
        TimeRemainingColumn(),
        console=console,
        transient=True,
        expand=True,
    )
