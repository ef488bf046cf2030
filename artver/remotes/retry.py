"""Retrying, as one wrapper around any Storage.

Backends raise TransientRemoteError for what is worth another try and say nothing
about retries; callers use a RetryingStorage and say nothing about them either.

The rule: an operation is attempted at most ``RetryPolicy.attempts`` times (the
remote's ``retries`` setting plus the first attempt). Between attempts it waits a
random time up to ``min(cap, base * 2**attempt)`` (exponential backoff with full
jitter). Only TransientRemoteError is retried; every other error is final at once.

When an operation runs out of attempts the remote is taken to be down: that one
raises RemoteGaveUpError, and every later operation of this storage (in any thread,
including attempts already waiting to retry) raises the same error at once. A
command facing a dead or stalled server therefore stops within one operation's
retry budget, however many objects it had left.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from artver.errors import ObjectNotFoundError, RemoteError, RemoteGaveUpError, TransientRemoteError
from artver.hashing import ByteCallback
from artver.remotes.base import CreatingExclusively, Sink, Size, Storage, creating_exclusively, deleting_many

T = TypeVar("T")

DEFAULT_RETRIES = 5  # the remote's ``retries`` setting: retries after the first attempt
BACKOFF_BASE = 0.25
BACKOFF_CAP = 10.0


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 1 + DEFAULT_RETRIES  # in all, the first one included
    base: float = BACKOFF_BASE
    cap: float = BACKOFF_CAP

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"RetryPolicy.attempts must be at least 1, not {self.attempts}")

    @classmethod
    def from_retries(cls, retries: int) -> RetryPolicy:
        """The policy for the remote's ``retries`` setting (negative counts as none)."""
        return cls(attempts=1 + max(0, retries))

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return random.uniform(0, min(self.cap, self.base * 2**attempt))


def with_retries(operation: Callable[[], T], policy: RetryPolicy, what: str = "the request",
                 notify: Callable[[str], None] | None = None, sleep: Callable[[float], None] = time.sleep,
                 before_retry: Callable[[], None] | None = None,
                 on_give_up: Callable[[RemoteGaveUpError], RemoteGaveUpError] | None = None) -> T:
    """Run ``operation`` by the rule of this module: RetryingStorage's loop, and the one
    for requests that are not a Storage's (a registry's, for publish)."""
    for attempt in range(1, policy.attempts + 1):
        try:
            return operation()
        except TransientRemoteError as error:
            if attempt >= policy.attempts:
                gave_up = RemoteGaveUpError(f"{error} (gave up after {policy.attempts} attempts)")
                raise (gave_up if on_give_up is None else on_give_up(gave_up)) from None
            if notify is not None:
                notify(f"{error}; retrying {what} (attempt {attempt + 1} of {policy.attempts})")
            sleep(policy.delay(attempt))
            if before_retry is not None:
                before_retry()
    raise AssertionError("the loop above returns or raises")  # RetryPolicy.attempts >= 1


class RetryingStorage:
    """A Storage that retries each operation of ``inner`` by the policy (see the module doc)."""

    def __init__(self, inner: Storage, policy: RetryPolicy, notify: Callable[[str], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.inner = inner
        self.url = inner.url
        self.policy = policy
        self._notify = notify
        self._sleep = sleep
        self._lock = threading.Lock()
        self._gave_up: RemoteGaveUpError | None = None

    def unwrap(self) -> Storage:
        return self.inner

    def _run(self, what: str, operation: Callable[[], T], before_retry: Callable[[], None] | None = None) -> T:
        def attempt() -> T:
            self._raise_if_gave_up()
            return operation()

        def prepare_retry() -> None:
            self._raise_if_gave_up()
            if before_retry is not None:
                before_retry()

        return with_retries(attempt, self.policy, what, self._notify, self._sleep, prepare_retry, self._remember)

    def _raise_if_gave_up(self) -> None:
        with self._lock:
            gave_up = self._gave_up
        if gave_up is not None:
            raise RemoteGaveUpError(str(gave_up))

    def _remember(self, gave_up: RemoteGaveUpError) -> RemoteGaveUpError:
        with self._lock:
            if self._gave_up is None:
                self._gave_up = gave_up
        return gave_up

    def exists(self, keys: Sequence[str]) -> dict[str, Size]:
        return self._run("an existence check", lambda: self.inner.exists(keys))

    def list(self, prefix: str) -> Iterator[tuple[str, Size]]:
        # A listing cut half-way is listed again from its start, so it is gathered whole.
        return iter(self._run("a listing", lambda: list(self.inner.list(prefix))))

    def upload(self, key: str, source: str, on_bytes: ByteCallback) -> None:
        self._run(f"the upload of {key}", lambda: self.inner.upload(key, source, on_bytes))

    def download(self, key: str, sink: Sink, on_bytes: ByteCallback) -> None:
        self._run(f"the download of {key}", lambda: self.inner.download(key, sink, on_bytes), sink.rewind)

    def read_range(self, key: str, offset: int, length: int) -> bytes | bytearray:
        return self._run(f"a read of {key}", lambda: self.inner.read_range(key, offset, length))

    def delete(self, key: str) -> None:
        self._run(f"the deletion of {key}", lambda: self.inner.delete(key))

    def delete_many(self, keys: Sequence[str]) -> None:
        """Retried whole: deleting what is already gone is no error."""
        deleter = deleting_many(self.inner)
        if deleter is None:  # deleting_many(self) said None: a caller that did not ask
            raise RemoteError(f"{self.url}: this remote cannot delete objects in batches")
        self._run(f"the deletion of {len(keys)} objects", lambda: deleter.delete_many(keys))

    def create_new(self, key: str, data: bytes) -> bool:
        """Retried like the rest, with one twist. An attempt that failed transiently may have
        stored the object before its answer was lost; the next attempt then finds the key taken
        and says False. So a False that follows a failed attempt is checked: the object is read
        back, and if it holds exactly ``data`` -- unique to the caller, by the contract of
        CreatingExclusively -- this call created it (True). If it is gone by then, False: it
        is no longer there for the caller to hold, whoever made it."""
        creator = self._creator()
        failed = [False]

        def note_failure() -> None:
            failed[0] = True

        created = self._run(f"the creation of {key}", lambda: creator.create_new(key, data), note_failure)
        if created or not failed[0]:
            return created
        try:
            stored = self.read_range(key, 0, len(data) + 1)
        except ObjectNotFoundError:
            return False
        return stored == data

    def list_modified(self, prefix: str) -> Iterator[tuple[str, float]]:
        creator = self._creator()
        return iter(self._run("a listing", lambda: list(creator.list_modified(prefix))))

    def _creator(self) -> CreatingExclusively:
        creator = creating_exclusively(self.inner)
        if creator is None:  # creating_exclusively(self) said None: a caller that did not ask
            raise RemoteError(f"{self.url}: this remote cannot create objects exclusively")
        return creator

    def url_of(self, key: str) -> str:
        return self.inner.url_of(key)
