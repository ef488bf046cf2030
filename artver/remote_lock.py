"""Locks in a remote, so that gc --cloud never deletes what a concurrent push relies on.

Shared locks (push: many at once) and an exclusive lock (gc --cloud: alone), kept as small
objects under ``locks/`` in the remote itself, over any Storage with the CreatingExclusively
ability (remotes/base.py). docs/design.md "Remote locks" states the invariants and why the
ordering below keeps them; in short:

* Every holder keeps at least one *liveness object* of its own, ``locks/shared-T-N`` or
  ``locks/exclusive-T-N`` (T: a random token, N: a refresh count), created before it looks at
  the others. After creating it, the holder lists ``locks/``: an exclusive holder backs off if
  any other live lock exists, a shared one if a live exclusive one exists. Of two holders the
  one that listed last sees the other's object, so they never both go on.
* A liveness object is live while younger than ``stale_after`` by the store's own clock: its
  age is the difference between its write time and that of the lister's own object, both as
  the listing states them. No machine's clock is compared with another's.
* ``locks/exclusive`` is a mutex among exclusive acquirers, created with create_new: of racing
  gc runs exactly one goes on, the others stop at once without disturbing it. Safety does not
  depend on it (a store whose conditional write was not atomic would make racing acquirers
  back off, never both go on).
* A long operation refreshes: a new liveness object (N+1) is created, then the previous one
  deleted, so a lock object exists at every moment. The context managers refresh from a
  background thread; a holder calls RemoteLock.check() before each step that changes the
  remote, which raises once the lock may have gone stale.
* Everything read back (key names, write times, bodies) is untrusted. Whether a lock is held
  is decided by its key and write time; its body (JSON, at most MAX_BODY bytes) only says who
  holds it, for the message. A key under ``locks/`` that artver does not name counts as held
  until it is stale, and is never deleted.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

from artver.errors import ObjectNotFoundError, RemoteError, RemoteLockedError, RemoteLockLostError
from artver.remotes.base import CreatingExclusively, Storage, creating_exclusively

Kind = Literal["shared", "exclusive"]

PREFIX = "locks/"
MUTEX_KEY = "locks/exclusive"
DEFAULT_STALE_AFTER = 30 * 60.0  # seconds without a refresh after which a lock is stale
MAX_BODY = 4096  # bytes of a lock body read back; a longer one is unreadable
MAX_LOCK_OBJECTS = 10_000  # a listing of locks/ longer than this is refused
TAKEOVER_ATTEMPTS = 3  # times an exclusive acquirer starts again when the mutex vanished meanwhile
FORMAT = 1

_TOKEN = "[0-9a-f]{32}"
_LIVENESS = re.compile(rf"locks/(shared|exclusive)-({_TOKEN})-([0-9]{{8}})")
_CLOCK = re.compile(rf"locks/clock-({_TOKEN})")
_SHOWN = re.compile(r"[^\x20-\x7e]")  # what of an untrusted string is shown: printable ASCII


@dataclass(frozen=True)
class Listed:
    """One object under locks/ as the listing stated it."""

    key: str
    written: float  # by the store's clock
    role: Literal["shared", "exclusive", "mutex", "clock", "unknown"]
    token: str | None  # of a liveness object or clock probe


@dataclass(frozen=True)
class Holder:
    """A lock body, validated (every field as the holder wrote it)."""

    kind: Kind
    operation: str
    host: str
    pid: int
    created: float  # the holder's clock, shown only
    token: str


def classify(key: str, written: float) -> Listed:
    """What an object under locks/ is, by its name alone."""
    if key == MUTEX_KEY:
        return Listed(key, written, "mutex", None)
    if match := _LIVENESS.fullmatch(key):
        return Listed(key, written, "shared" if match.group(1) == "shared" else "exclusive", match.group(2))
    if match := _CLOCK.fullmatch(key):
        return Listed(key, written, "clock", match.group(1))
    return Listed(key, written, "unknown", None)


def encode_body(kind: Kind, operation: str, token: str) -> bytes:
    return json.dumps({"format": FORMAT, "kind": kind, "operation": operation, "host": socket.gethostname(),
                       "pid": os.getpid(), "created": time.time(), "token": token}, sort_keys=True).encode()


def parse_body(data: bytes) -> Holder | None:
    """The holder a lock body names, or None if it is not a well-formed body (untrusted input)."""
    if len(data) > MAX_BODY:
        return None
    try:
        fields = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(fields, dict) or fields.get("format") != FORMAT:
        return None
    kind, operation, host = fields.get("kind"), fields.get("operation"), fields.get("host")
    pid, created, token = fields.get("pid"), fields.get("created"), fields.get("token")
    if kind not in ("shared", "exclusive") or not isinstance(operation, str) or not isinstance(host, str):
        return None
    if isinstance(pid, bool) or not isinstance(pid, int) or not 0 <= pid < 2**32:
        return None
    if isinstance(created, bool) or not isinstance(created, (int, float)) or not math.isfinite(created):
        return None
    if not isinstance(token, str) or not re.fullmatch(_TOKEN, token) or len(operation) > 64 or len(host) > 255:
        return None
    return Holder(kind, operation, host, pid, float(created), token)


def _shown(text: str) -> str:
    return _SHOWN.sub("?", text)


def _utc(seconds: float) -> str:
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds))
    except (OverflowError, OSError, ValueError):
        return "an impossible time"


class RemoteLock:
    """A lock this process holds in a remote (from acquire_shared / acquire_exclusive).
    refresh() and release() may be called from different threads."""

    def __init__(self, storage: Storage, creator: CreatingExclusively, kind: Kind, operation: str, token: str,
                 stale_after: float, holds_mutex: bool, key: str, refreshed_at: float) -> None:
        self.storage = storage
        self.kind = kind
        self.operation = operation
        self.token = token
        self.stale_after = stale_after
        self._creator = creator
        self._holds_mutex = holds_mutex
        self._key = key  # the current liveness object
        self._refreshed_at = refreshed_at  # time.monotonic() when the current one was requested
        self._problem: str | None = None  # why the lock may be lost, once it may be
        self._guard = threading.Lock()
        self._released = False

    @property
    def key(self) -> str:
        with self._guard:
            return self._key

    def refresh(self) -> None:
        """Create the next liveness object, then delete the current one: a lock object exists
        at every moment. Raises RemoteLockLostError if the current one was removed meanwhile
        (someone took it over as stale) -- the lock is then lost for good."""
        with self._guard:
            if self._released:
                return
            current = self._key
            number = int(current.rsplit("-", 1)[1]) + 1
            following = f"{PREFIX}{self.kind}-{self.token}-{number:08d}"
            started = time.monotonic()
            _create_own(self.storage, self._creator, following, encode_body(self.kind, self.operation, self.token))
            self._key = following
            if not self.storage.exists([current]):
                self._problem = f"its lock object {current} was removed by another process, as stale"
            self.storage.delete(current)
            if self._problem is None:
                self._refreshed_at = started
        if self._problem is not None:
            self.check()

    def check(self) -> None:
        """Raise RemoteLockLostError if the lock may have been taken over: its last refresh
        began more than half of stale_after ago (the other half is the margin for the step
        the caller is about to take), or the refresher found it removed."""
        with self._guard:
            problem = self._problem
            age = time.monotonic() - self._refreshed_at
        if problem is None and age > self.stale_after / 2:
            problem = f"it was last refreshed {age:.0f} s ago (a lock not refreshed for {self.stale_after:.0f} s is stale)"
        if problem is not None:
            raise RemoteLockLostError(
                f"{self.storage.url}: the {self.kind} lock of '{self.operation}' may have been taken over: {problem}; "
                f"stopped before changing the remote further, run the command again")

    def note_refresh_failure(self, error: Exception) -> None:
        """A background refresh failed (it will be tried again); check() fails once the lock is at risk."""
        with self._guard:
            if isinstance(error, RemoteLockLostError) and self._problem is None:
                self._problem = str(error)

    def release(self) -> None:
        """Delete this lock's objects: the liveness object first, then (exclusive) the mutex if
        it still holds this lock's token. Safe to call twice."""
        with self._guard:
            if self._released:
                return
            self._released = True
            self.storage.delete(self._key)
            if self._holds_mutex:
                _delete_mutex_if_ours(self.storage, self.token)


def _create_own(storage: Storage, creator: CreatingExclusively, key: str, body: bytes) -> None:
    """Create an object named by this lock's own random token (so the key is free)."""
    if not creator.create_new(key, body):
        raise RemoteError(f"{storage.url}: lock object {key} exists already (a lock token used twice)")


def _delete_mutex_if_ours(storage: Storage, token: str) -> None:
    try:
        holder = parse_body(bytes(storage.read_range(MUTEX_KEY, 0, MAX_BODY + 1)))
    except ObjectNotFoundError:
        return
    if holder is not None and holder.token == token:
        storage.delete(MUTEX_KEY)


def _ability(storage: Storage) -> CreatingExclusively:
    creator = creating_exclusively(storage)
    if creator is None:
        raise RemoteError(f"{storage.url}: this kind of remote cannot hold locks (it cannot create objects exclusively)")
    return creator


def _listing(storage: Storage, creator: CreatingExclusively) -> list[Listed]:
    entries: list[Listed] = []
    for key, written in creator.list_modified(PREFIX):
        if len(entries) >= MAX_LOCK_OBJECTS:
            raise RemoteError(f"{storage.url}: more than {MAX_LOCK_OBJECTS} objects under {PREFIX}; "
                              f"remove what does not belong there")
        if not math.isfinite(written):
            raise RemoteError(f"{storage.url}: the listing states an impossible time for {key!r}")
        entries.append(classify(key, written))
    return entries


def _now(storage: Storage, entries: list[Listed], own_key: str) -> float:
    """The store's time: the write time of the object this process has just created."""
    for entry in entries:
        if entry.key == own_key:
            return entry.written
    raise RemoteError(f"{storage.url}: the listing of {PREFIX} does not show the lock object {own_key} "
                      f"just written, so the remote cannot be locked safely")


def _live(entry: Listed, now: float, stale_after: float) -> bool:
    return now - entry.written < stale_after


def _locked_error(storage: Storage, entry: Listed, stale_after: float) -> RemoteLockedError:
    """The one-line error naming who holds ``entry``, as its body says."""
    try:
        holder = parse_body(bytes(storage.read_range(entry.key, 0, MAX_BODY + 1)))
    except ObjectNotFoundError:
        holder = None
    stale_at = _utc(entry.written + stale_after)
    if holder is None:
        who = f"an unreadable lock object {entry.key} written {_utc(entry.written)}"
        gone = (f"it counts as held until it goes stale at {stale_at}; if no artver command is using the remote, "
                f"delete that object")
    else:
        who = (f"'{_shown(holder.operation)}' ({holder.kind} lock) on {_shown(holder.host)}, pid {holder.pid}, "
               f"started {_utc(holder.created)} (lock object {entry.key})")
        gone = f"if that process is gone, its lock goes stale at {stale_at} and the next command takes it over"
    return RemoteLockedError(f"{storage.url} is locked by {who}: wait for it to finish and run this again; {gone}")


def _remove_stale(storage: Storage, entries: list[Listed], now: float, stale_after: float, own_token: str) -> None:
    """Delete other holders' stale objects of the kinds artver names (never an unknown key,
    never the mutex: an exclusive acquirer replaces that one)."""
    for entry in entries:
        if entry.role in ("shared", "exclusive", "clock") and entry.token != own_token \
                and not _live(entry, now, stale_after):
            storage.delete(entry.key)


def _liveness_key(kind: Kind, token: str) -> str:
    return f"{PREFIX}{kind}-{token}-{0:08d}"


def acquire_shared(storage: Storage, operation: str, stale_after: float = DEFAULT_STALE_AFTER) -> RemoteLock:
    """Take a shared lock (many may hold one at once; none while an exclusive one is live).
    Raises RemoteLockedError naming the exclusive holder. The caller releases it (or uses
    shared_lock, which also refreshes it)."""
    creator = _ability(storage)
    token = secrets.token_hex(16)
    key = _liveness_key("shared", token)
    started = time.monotonic()
    _create_own(storage, creator, key, encode_body("shared", operation, token))
    lock = RemoteLock(storage, creator, "shared", operation, token, stale_after, False, key, started)
    try:
        entries = _listing(storage, creator)
        now = _now(storage, entries, key)
        for entry in entries:
            if entry.token != token and entry.role in ("exclusive", "unknown") and _live(entry, now, stale_after):
                raise _locked_error(storage, entry, stale_after)
        _remove_stale(storage, entries, now, stale_after, token)
    except BaseException:
        _release_quietly(lock)
        raise
    return lock


def acquire_exclusive(storage: Storage, operation: str, stale_after: float = DEFAULT_STALE_AFTER) -> RemoteLock:
    """Take the exclusive lock (no other lock, shared or exclusive, live at the same time).
    Raises RemoteLockedError naming a holder. The caller releases it (or uses exclusive_lock)."""
    creator = _ability(storage)
    token = secrets.token_hex(16)
    body = encode_body("exclusive", operation, token)
    key = _liveness_key("exclusive", token)
    started = time.monotonic()
    lock = RemoteLock(storage, creator, "exclusive", operation, token, stale_after, True, key, started)
    try:
        if not creator.create_new(MUTEX_KEY, body):
            _take_over_mutex(storage, creator, token, body, key, stale_after)  # raises if it is held
        else:
            _create_own(storage, creator, key, body)
        entries = _listing(storage, creator)
        now = _now(storage, entries, key)
        for entry in entries:
            if entry.token != token and entry.role in ("shared", "exclusive", "unknown") \
                    and _live(entry, now, stale_after):
                raise _locked_error(storage, entry, stale_after)
        _remove_stale(storage, entries, now, stale_after, token)
    except BaseException:
        _release_quietly(lock)
        raise
    return lock


def _take_over_mutex(storage: Storage, creator: CreatingExclusively, token: str, body: bytes, key: str,
                     stale_after: float) -> None:
    """The mutex exists: raise RemoteLockedError if its exclusive lock is live, else replace it
    (its holder is gone) and return with this process's liveness object created first.

    Whether it is live needs the store's time, hence a clock probe (``locks/clock-T``, which
    no lock rule counts) rather than a liveness object: creating one of those would make a
    winner that is just listing back off."""
    probe = f"{PREFIX}clock-{token}"
    for _ in range(TAKEOVER_ATTEMPTS):
        _create_own(storage, creator, probe, body)
        try:
            entries = _listing(storage, creator)
            now = _now(storage, entries, probe)
        finally:
            storage.delete(probe)
        mutex = next((entry for entry in entries if entry.role == "mutex"), None)
        if mutex is None:  # released meanwhile
            if creator.create_new(MUTEX_KEY, body):
                _create_own(storage, creator, key, body)
                return
            continue
        holding = [entry for entry in entries if entry.role == "exclusive" and entry.token != token
                   and _live(entry, now, stale_after)]
        if _live(mutex, now, stale_after) or holding:
            raise _locked_error(storage, holding[0] if holding else mutex, stale_after)
        # Stale: its holder stopped refreshing. Own liveness object first, so that another
        # acquirer replacing the mutex in the same moment sees this one (and backs off) when it lists.
        _create_own(storage, creator, key, body)
        storage.delete(MUTEX_KEY)
        if creator.create_new(MUTEX_KEY, body):
            return
        storage.delete(key)
    raise RemoteLockedError(f"{storage.url}: the exclusive lock {MUTEX_KEY} changed hands {TAKEOVER_ATTEMPTS} times "
                            f"while this command tried to take it; run it again")


@contextmanager
def shared_lock(storage: Storage, operation: str, stale_after: float = DEFAULT_STALE_AFTER) -> Iterator[RemoteLock]:
    """Hold a shared lock for the ``with`` block, refreshed in the background, released on
    every exit (an exception, Ctrl-C). A killed process leaves a lock that goes stale."""
    with _held(acquire_shared(storage, operation, stale_after)) as lock:
        yield lock


@contextmanager
def exclusive_lock(storage: Storage, operation: str, stale_after: float = DEFAULT_STALE_AFTER) -> Iterator[RemoteLock]:
    """Hold the exclusive lock for the ``with`` block (as shared_lock). Call lock.check()
    before each step that deletes or replaces something in the remote."""
    with _held(acquire_exclusive(storage, operation, stale_after)) as lock:
        yield lock


@contextmanager
def _held(lock: RemoteLock) -> Iterator[RemoteLock]:
    stop = threading.Event()
    refresher = threading.Thread(target=_refresh_until, args=(lock, stop), name="artver-remote-lock", daemon=True)
    try:
        refresher.start()
        yield lock
    except BaseException:
        stop.set()
        _release_quietly(lock)
        raise
    stop.set()  # a refresh under way finishes first: release() waits for it
    lock.release()


def _release_quietly(lock: RemoteLock) -> None:
    """Release while another error is on its way out: that error is the one to report; a lock
    whose release failed goes stale."""
    try:
        lock.release()
    except Exception:  # noqa: BLE001 - the error being raised already matters more
        pass


def _refresh_until(lock: RemoteLock, stop: threading.Event) -> None:
    """Refresh every third of stale_after until ``stop``; a failure is noted and tried again
    sooner, four times as often (check() tells the holder when the lock is at risk)."""
    wait = lock.stale_after / 3
    while not stop.wait(wait):
        try:
            lock.refresh()
            wait = lock.stale_after / 3
        except Exception as error:  # noqa: BLE001 - noted for check(); the holder's thread decides
            lock.note_refresh_failure(error)
            wait = lock.stale_after / 12
