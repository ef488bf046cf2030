"""A Storage wrapper that injects transient failures, for the contract suite.

Every second call of each operation fails with TransientRemoteError, alternately
before the real operation ran and after it (an upload that happened but whose answer
was lost, a download that wrote half its bytes, a listing cut after its first items),
so that a RetryingStorage on top must keep the contract: retries that are safe, a
sink rewound before a download starts again, a listing never half-counted.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from artver.errors import TransientRemoteError
from artver.hashing import ByteCallback
from artver.remotes.base import CreatingExclusively, Sink, Size, Storage, creating_exclusively

T = TypeVar("T")


class FaultyStorage:
    def __init__(self, inner: Storage) -> None:
        self.inner = inner
        self.url = inner.url
        self.injected = 0
        self._calls: dict[str, int] = {}
        self._lock = threading.Lock()

    def unwrap(self) -> Storage:
        return self.inner

    def _fault(self, operation: str) -> str | None:
        """'before', 'after' or None for this call of ``operation``."""
        with self._lock:
            number = self._calls.get(operation, 0)
            self._calls[operation] = number + 1
            if number % 2 == 0:
                return None
            self.injected += 1
            return "before" if number % 4 == 1 else "after"

    def _wrap(self, operation: str, call: Callable[[], T]) -> T:
        fault = self._fault(operation)
        if fault == "before":
            raise TransientRemoteError(f"{self.url}: injected failure before {operation}")
        result = call()
        if fault == "after":
            raise TransientRemoteError(f"{self.url}: injected failure after {operation}")
        return result

    def exists(self, keys: Sequence[str]) -> dict[str, Size]:
        return self._wrap("exists", lambda: self.inner.exists(keys))

    def list(self, prefix: str) -> Iterator[tuple[str, Size]]:
        fault = self._fault("list")
        if fault == "before":
            raise TransientRemoteError(f"{self.url}: injected failure before list")
        for number, item in enumerate(self.inner.list(prefix)):
            if fault == "after" and number == 1:
                raise TransientRemoteError(f"{self.url}: injected failure in the middle of a listing")
            yield item
        if fault == "after":
            raise TransientRemoteError(f"{self.url}: injected failure at the end of a listing")

    def upload(self, key: str, source: str, on_bytes: ByteCallback) -> None:
        self._wrap("upload", lambda: self.inner.upload(key, source, on_bytes))

    def download(self, key: str, sink: Sink, on_bytes: ByteCallback) -> None:
        fault = self._fault("download")
        if fault == "before":
            raise TransientRemoteError(f"{self.url}: injected failure before download")
        if fault == "after":
            self.inner.download(key, _HalfSink(sink), on_bytes)  # raises half-way through
            raise TransientRemoteError(f"{self.url}: injected failure after download")
        self.inner.download(key, sink, on_bytes)

    def read_range(self, key: str, offset: int, length: int) -> bytes:
        return self._wrap("read_range", lambda: self.inner.read_range(key, offset, length))

    def delete(self, key: str) -> None:
        self._wrap("delete", lambda: self.inner.delete(key))

    def create_new(self, key: str, data: bytes) -> bool:
        """A fault 'after' is a create that stored the object but whose answer was lost."""
        return self._wrap("create_new", lambda: self._creator().create_new(key, data))

    def list_modified(self, prefix: str) -> Iterator[tuple[str, float]]:
        return iter(self._wrap("list_modified", lambda: list(self._creator().list_modified(prefix))))

    def _creator(self) -> CreatingExclusively:
        creator = creating_exclusively(self.inner)
        assert creator is not None, "the wrapped storage cannot create exclusively"
        return creator

    def url_of(self, key: str) -> str:
        return self.inner.url_of(key)


class _HalfSink:
    """Passes on the first half of the first chunk, then fails as a cut connection would."""

    def __init__(self, sink: Sink) -> None:
        self._sink = sink

    def write(self, data: bytes) -> object:
        self._sink.write(data[: max(1, len(data) // 2)])
        raise TransientRemoteError("injected: the connection was cut in the middle of a download")

    def rewind(self) -> None:
        self._sink.rewind()
