"""What -v shows of a push or fetch: which remote and endpoint, what was decided for each
class of object (file objects, directory listings), how many requests of each kind went
out and how long each phase took; with -vv, one line per request.

It watches from the outside, so the transfer code stays as it is: the command wraps the
session's storage in a RecordingStorage and the progress in a PhaseClock, and writes the
lines through Progress.note (which the CLI shows only with -v). Nothing here runs unless
the progress asks for detail (Progress.detail), and the storage is opened only when the
transfer first uses it, as without -v.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from artver.fsutil import human_size
from artver.hashing import ByteCallback
from artver.progress import Progress
from artver.remote_label import RemoteLabel
from artver.remotes.base import Sink, Size, Storage

if TYPE_CHECKING:
    from artver.repo import Repo
    from artver.transfer import Session, TransferSummary


@dataclass
class _Requests:
    count: int = 0
    seconds: float = 0.0
    failed: int = 0


@dataclass
class RecordingStorage:
    """A Storage that counts and times every request to the one it wraps (opened on first
    use, by ``open_storage``), remembers the keys it uploaded or downloaded, and with
    ``trace`` reports each request through it."""

    open_storage: Callable[[], Storage]
    url: str
    trace: Callable[[str], None] | None = None
    requests: dict[str, _Requests] = field(default_factory=dict)
    uploaded: set[str] = field(default_factory=set)
    downloaded: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def unwrap(self) -> Storage:
        return self.open_storage()

    def _timed(self, kind: str, what: str, call: Callable[[], object]) -> object:
        started = time.monotonic()
        ok = False
        try:
            result = call()
            ok = True
            return result
        finally:
            elapsed = time.monotonic() - started
            with self._lock:
                entry = self.requests.setdefault(kind, _Requests())
                entry.count += 1
                entry.seconds += elapsed
                entry.failed += not ok
            if self.trace is not None:
                self.trace(f"request: {kind} {what} {'ok' if ok else 'failed'} in {elapsed * 1000:.0f} ms")

    def exists(self, keys: Sequence[str]) -> dict[str, Size]:
        what = keys[0] if len(keys) == 1 else f"{len(keys)} keys"
        found = self._timed("exists", what, lambda: self.open_storage().exists(keys))
        assert isinstance(found, dict)
        return found

    def list(self, prefix: str) -> Iterator[tuple[str, Size]]:
        """The listing, streamed as the store pages it; counted as one request when it ends."""
        started = time.monotonic()
        count = 0
        ok = False
        try:
            for item in self.open_storage().list(prefix):
                count += 1
                yield item
            ok = True
        finally:
            elapsed = time.monotonic() - started
            with self._lock:
                entry = self.requests.setdefault("list", _Requests())
                entry.count += 1
                entry.seconds += elapsed
                entry.failed += not ok
            if self.trace is not None:
                self.trace(f"request: list {prefix or '(all)'}: {count} key(s) in {elapsed * 1000:.0f} ms")

    def upload(self, key: str, source: str, on_bytes: ByteCallback) -> None:
        self._timed("upload", key, lambda: self.open_storage().upload(key, source, on_bytes))
        with self._lock:
            self.uploaded.add(key)

    def download(self, key: str, sink: Sink, on_bytes: ByteCallback) -> None:
        self._timed("download", key, lambda: self.open_storage().download(key, sink, on_bytes))
        with self._lock:
            self.downloaded.add(key)

    def read_range(self, key: str, offset: int, length: int) -> bytes | bytearray:
        data = self._timed("read_range", f"{key} [{offset}, +{length}]",
                           lambda: self.open_storage().read_range(key, offset, length))
        assert isinstance(data, (bytes, bytearray))
        return data

    def delete(self, key: str) -> None:
        self._timed("delete", key, lambda: self.open_storage().delete(key))

    def url_of(self, key: str) -> str:
        return self.open_storage().url_of(key)


@dataclass
class PhaseClock:
    """A Progress that passes everything on to ``inner`` and times each phase (start to
    finish, or to the next start)."""

    inner: Progress
    phases: list[tuple[str, float]] = field(default_factory=list)
    _current: tuple[str, float] | None = None
    created: float = field(default_factory=time.monotonic)

    @property
    def detail(self) -> int:
        return self.inner.detail

    def start(self, description: str, total: int | None, unit: str = "bytes") -> None:
        self._close()
        self._current = (description, time.monotonic())
        self.inner.start(description, total, unit)

    def advance(self, amount: int) -> None:
        self.inner.advance(amount)

    def finish(self) -> None:
        self._close()
        self.inner.finish()

    def note(self, line: str) -> None:
        self.inner.note(line)

    def _close(self) -> None:
        if self._current is not None:
            description, started = self._current
            self.phases.append((description, time.monotonic() - started))
            self._current = None


def remote_line(url: str, endpoint: str | None) -> str:
    return f"remote: {url}" + (f", endpoint {endpoint}" if endpoint else "")


def decision_lines(verb: str, needed: dict[str, int], listings: set[str], done_keys: set[str],
                   key_of: Callable[[str], str], summary: TransferSummary) -> list[str]:
    """Per object class: how many were needed, already at the destination, transferred, failed.
    Listings always move whole, under their own key; file objects may move inside packs or as
    chunks, so theirs are the summary's figures less the listings'."""
    moved_listings = {hash_value for hash_value in set(needed) & listings if key_of(hash_value) in done_keys}
    lines = [f"{len(needed)} object(s) needed: {summary.skipped} already there, {summary.transferred} {verb}, "
             f"{len(summary.failed)} failed"]
    files = set(needed) - listings
    if files:
        count = summary.transferred - len(moved_listings)
        size = summary.bytes - sum(needed[hash_value] for hash_value in moved_listings)
        lines.append(f"  file objects: {len(files)} needed, {count} {verb} ({human_size(max(size, 0))})")
    if set(needed) & listings:
        size = sum(needed[hash_value] for hash_value in moved_listings)
        lines.append(f"  directory listings: {len(set(needed) & listings)} needed, {len(moved_listings)} {verb} "
                     f"({human_size(size)})")
    if summary.deduplicated:
        lines.append(f"  chunks of large files not {verb}, the other side had them: {human_size(summary.deduplicated)}")
    return lines


def timing_lines(storage: RecordingStorage, clock: PhaseClock, planning_what: str) -> list[str]:
    total = time.monotonic() - clock.created
    lines = []
    for kind, entry in sorted(storage.requests.items()):
        failed = f", {entry.failed} failed" if entry.failed else ""
        lines.append(f"  {kind}: {entry.count} request(s) in {entry.seconds:.2f} s (summed over parallel jobs){failed}")
    merged: dict[str, float] = {}  # a push has two phases of one name: files, then the listings that vouch for them
    for description, seconds in clock.phases:
        merged[description] = merged.get(description, 0.0) + seconds
    phases = ", ".join(f"{description}: {seconds:.2f} s" for description, seconds in merged.items())
    planning = total - sum(merged.values())
    lines.append(f"time: {total:.2f} s in all; {planning_what} {planning:.2f} s" + (f"; {phases}" if phases else ""))
    if storage.requests:
        lines.insert(0, "requests:")
    return lines


def endpoint_of(repo: Repo, url: str) -> str | None:
    """The endpoint an S3 remote talks to, where it is not AWS's default: its endpoint_url
    setting, else the AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL environment variable."""
    if not isinstance(url, RemoteLabel) or not url.url.startswith("s3://"):
        return None
    configured = repo.config.get(f"remote.{url.name}", "endpoint_url")
    return configured or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None


@dataclass
class Watch:
    """Everything -v reports of one push or fetch (see the module docstring)."""

    storage: RecordingStorage
    clock: PhaseClock
    note: Callable[[str], None]
    repo: Repo

    @staticmethod
    def of(repo: Repo, session: Session, progress: Progress) -> Watch | None:
        """A watch over the session's storage, or None when the user asked for no detail."""
        if progress.detail < 1:
            return None
        trace = progress.note if progress.detail >= 2 else None
        storage = RecordingStorage(lambda: session.storage, session.url, trace)
        progress.note(f"{remote_line(session.url, endpoint_of(repo, session.url))}; {session.jobs} parallel job(s)")
        return Watch(storage, PhaseClock(progress), progress.note, repo)

    def done(self, verb: str, planning_what: str, needed: dict[str, int], listings: set[str],
             summary: TransferSummary) -> None:
        from artver.transfer import key_of

        done_keys = self.storage.uploaded | self.storage.downloaded
        needed = dict(needed)
        for hash_value, size in needed.items():
            if not size and self.repo.cache.has(hash_value):  # listings are recorded without a size
                needed[hash_value] = os.stat(self.repo.cache.path_of(hash_value)).st_size
        for line in decision_lines(verb, needed, listings, done_keys, key_of, summary):
            self.note(line)
        for line in timing_lines(self.storage, self.clock, planning_what):
            self.note(line)
