"""The storage interface every remote backend implements, and nothing more.

A backend moves opaque blobs under keys relative to the remote's URL (the
layout ``<algorithm>/<2 hex>/<rest>`` is decided above, in transfer.py).
It knows nothing about pointers, hashes, retries or progress bars.

Invariants every backend keeps (tests/test_storage_contract.py checks them against
each backend; a new backend is done when that suite passes):

* An object, once stored under a key, is never replaced: ``upload`` of an existing
  key leaves the stored object as it is and succeeds (keys name their content).
* No partial object is ever visible under its key: a failed or interrupted upload
  leaves nothing there.
* A failure is raised as one of the types of artver/errors.py, never decided from
  message text: ObjectNotFoundError (no such key), ContainerNotFoundError (no such
  bucket or top directory), AccessDeniedError (credentials refused or a permission
  missing), TransientRemoteError (worth retrying: a cut or slow connection, a timeout,
  5xx, throttling) or RemoteError (anything else, final).
* An exception raised by the caller's sink or byte callback is not translated: it
  reaches the caller unchanged (a full local disk is a local problem, not a remote one).
* A size the store did not state is None ("unknown"), never 0.

Retrying is not a backend's business: remotes/retry.py wraps any Storage.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Protocol, TypeVar, runtime_checkable

from artver.errors import RemoteError
from artver.hashing import ByteCallback

Size = int | None  # bytes; None: the store did not say


class Sink(Protocol):
    """Where a download writes its bytes."""

    def write(self, data: bytes) -> object: ...

    def rewind(self) -> None:
        """Forget everything written so far: a retried download starts again from byte 0."""


class Storage(Protocol):
    url: str  # the remote, for messages (never contains credentials)

    def exists(self, keys: Sequence[str]) -> dict[str, Size]:
        """The keys present in the remote, with their sizes (one request per key).
        Absent keys are left out; a missing container raises ContainerNotFoundError."""

    def list(self, prefix: str) -> Iterator[tuple[str, Size]]:
        """Every key starting with ``prefix``, with its size, across all the store's pages."""

    def upload(self, key: str, source: str, on_bytes: ByteCallback) -> None:
        """Store the file under ``key``, unless the key exists (then: success, nothing
        changed). A failure leaves nothing under ``key``."""

    def download(self, key: str, sink: Sink, on_bytes: ByteCallback) -> None:
        """Write the whole object to ``sink``. A response shorter than the store said is
        a TransientRemoteError, never a short success. Once this returns or raises, it
        writes nothing more to ``sink``."""

    def read_range(self, key: str, offset: int, length: int) -> bytes | bytearray:
        """Bytes ``offset`` to ``offset + length`` of the object (fewer if the object ends
        first; none if it ends before ``offset``). ``offset >= 0``, ``length >= 1``. The
        result may be a ``bytearray`` the caller then owns: a backend that receives a range in
        pieces gathers them into one without copying it again."""

    def delete(self, key: str) -> None:
        """Remove the key; a missing key is not an error (a missing container is)."""

    def url_of(self, key: str) -> str:
        """Where the object lives, as a URL or path a person could use."""


@runtime_checkable
class HardLinking(Protocol):
    """An optional ability: objects are files on this machine, so one can get a second
    name (a hard link) instead of being copied."""

    def link_to(self, key: str, target: str) -> bool:
        """Hard-link the object as ``target``; False if it must be copied (download) instead."""


@runtime_checkable
class Presigning(Protocol):
    """An optional ability: the backend can make a URL that downloads one object with no
    credentials of the downloader's own (an S3 presigned URL, a GCS signed URL, a file://
    URL). Whoever holds the URL can download the object until it expires: it is a bearer
    token, never logged."""

    def presigned_url(self, key: str, expires: int) -> str:
        """A URL that GETs the object for ``expires`` seconds (checked by expiry_problem
        already). It does not check that the object exists: the caller does, once."""


@runtime_checkable
class CreatingExclusively(Protocol):
    """An optional ability: create a small object only if its key is free, atomically in the
    store (S3 ``If-None-Match: *``, GCS ``ifGenerationMatch=0``, link(2) of a complete file in
    a directory), and list objects with the time the store wrote them. The remote locks of
    artver/remote_lock.py are built on it.

    The caller's contract: ``data`` is non-empty and unique to the caller (it carries a random
    token). That is what lets a retried create tell "my first attempt stored it, its answer was
    lost" (the object holds my bytes: True) from "someone else's" (False); see remotes/retry.py."""

    def create_new(self, key: str, data: bytes) -> bool:
        """Store ``data`` under ``key`` if no object has that key: True if this call created
        it, False if the key existed (the existing object is left as it is). Never replaces
        an object, never leaves a partial one visible."""

    def list_modified(self, prefix: str) -> Iterator[tuple[str, float]]:
        """Every key starting with ``prefix``, with the time its object was written by the
        store's own clock (POSIX seconds; a directory remote: the file's mtime), across all pages."""


DELETE_BATCH = 1000  # keys of one DeleteObjects request, the most S3 takes


@runtime_checkable
class DeletingMany(Protocol):
    """An optional ability: delete many objects in one request (S3 DeleteObjects). Without
    it, objects are deleted one request each: a directory deletes a file with one system
    call, and the GCS emulator the tests run takes no batch requests."""

    def delete_many(self, keys: Sequence[str]) -> None:
        """Remove every one of ``keys`` (at most DELETE_BATCH); a key that is already gone is
        no error. If the store refuses any key, RemoteError naming one of them (the others
        may or may not be deleted: delete_many again, or delete, finishes the job)."""


@runtime_checkable
class Wrapping(Protocol):
    """A Storage that adds behaviour to another one (retries, faults in tests)."""

    def unwrap(self) -> Storage: ...


Ability = TypeVar("Ability")


def ability(storage: Storage, kind: type[Ability]) -> Ability | None:
    """``storage`` (or the backend it wraps) as ``kind`` if it has that optional ability.
    (``kind`` is one of the runtime-checkable protocols above; mypy wants concrete classes
    for ``type[...]``, so callers use the typed shortcuts below.)"""
    current: object = storage
    while True:
        if isinstance(current, kind):
            # A wrapper that passes an ability through has it only if what it wraps has it.
            if not isinstance(current, Wrapping) or ability(current.unwrap(), kind) is not None:
                return current
            return None
        if not isinstance(current, Wrapping):
            return None
        current = current.unwrap()


def hard_linking(storage: Storage) -> HardLinking | None:
    return ability(storage, HardLinking)  # type: ignore[type-abstract]  # mypy refuses a Protocol as a type argument; ability() checks it at run time


def presigning(storage: Storage) -> Presigning | None:
    return ability(storage, Presigning)  # type: ignore[type-abstract]  # mypy refuses a Protocol as a type argument; ability() checks it at run time


def creating_exclusively(storage: Storage) -> CreatingExclusively | None:
    return ability(storage, CreatingExclusively)  # type: ignore[type-abstract]  # mypy refuses a Protocol as a type argument; ability() checks it at run time


def deleting_many(storage: Storage) -> DeletingMany | None:
    return ability(storage, DeletingMany)  # type: ignore[type-abstract]  # mypy refuses a Protocol as a type argument; ability() checks it at run time


# The longest a download link may last: both S3 SigV4 presigned URLs and GCS V4 signed URLs
# are refused by the store beyond seven days.
MAX_LINK_SECONDS = 7 * 24 * 3600


def expiry_problem(seconds: object) -> str | None:
    """What is wrong with a link lifetime in seconds, or None."""
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        return f"{seconds!r} must be a whole number of seconds"
    if not 1 <= seconds <= MAX_LINK_SECONDS:
        return (f"{seconds} seconds is out of range: a download link lasts from 1 second to 7 days "
                f"({MAX_LINK_SECONDS} seconds), the longest S3 and GCS signatures allow")
    return None


def timeout_setting(settings: Mapping[str, str], url: str) -> float:
    """The remote's ``timeout`` (seconds per request) of a network backend, checked: the
    committed config may have been edited by hand."""
    return positive_seconds(settings, "timeout", "60", url)


def positive_seconds(settings: Mapping[str, str], key: str, default: str, url: str) -> float:
    """A setting that must be a finite positive number of seconds."""
    raw = settings.get(key, default)
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise RemoteError(f"{url}: {key} {raw!r} must be a positive number of seconds "
                          f"(artver remote modify NAME {key} {default})")
    return value


def bool_setting(settings: Mapping[str, str], key: str, default: bool, url: str) -> bool:
    """A setting that is true or false (also yes/no, on/off, 1/0), checked."""
    raw = settings.get(key)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in ("true", "yes", "on", "1"):
        return True
    if value in ("false", "no", "off", "0"):
        return False
    raise RemoteError(f"{url}: {key} {raw!r} must be true or false (artver remote modify NAME {key} false)")


# Settings of a remote read by the storage layer beyond ``timeout``, each checked by its
# function above when the remote is opened and by check_transfer_setting at 'remote modify'.
TRANSFER_SETTINGS = ("direct_requests", "speed_limit", "speed_time", "pack", "chunk")


def check_transfer_setting(remote: str, key: str, value: str) -> None:
    """Refuse a value the storage layer would refuse when opening the remote (ConfigError)."""
    from artver.errors import ConfigError
    from artver.remotes.speed import low_speed_rule

    try:
        if key in ("direct_requests", "pack", "chunk"):
            bool_setting({key: value}, key, True, f"remote.{remote}")
        elif key in ("speed_limit", "speed_time"):
            low_speed_rule({key: value}, f"remote.{remote}")
    except RemoteError as error:
        raise ConfigError(str(error)) from None


def check_range(offset: int, length: int) -> None:
    """The arguments read_range accepts (a wrong one is a bug in the caller)."""
    if offset < 0 or length < 1:
        raise ValueError(f"read_range needs offset >= 0 and length >= 1, not {offset}, {length}")


def join_key(prefix: str, key: str) -> str:
    """The full object name under a bucket's prefix (no prefix: the key itself)."""
    return f"{prefix}/{key}" if prefix else key
