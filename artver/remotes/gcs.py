"""Google Cloud Storage through google-cloud-storage.

Credentials: ``credentials_path`` (a service-account JSON file) if set, else
google-auth's default chain. ``STORAGE_EMULATOR_HOST`` is honoured by the
library itself, with no artver setting. Uploads carry
``if_generation_match=0``, so an existing object is never replaced; large files
use resumable uploads, which commit nothing until the last chunk. The library's
own retries are turned off (retry=None): remotes/retry.py retries, bounded by the
remote's ``retries`` and ``timeout`` settings.

Downloads follow the low-speed rule (remotes/speed.py) through a watchdog: the library
reads a response in fixed 8 KiB blocks and offers no way to interrupt a read, so a
server trickling a byte a second would hold a read for hours. Each download runs in a
worker thread while the calling thread watches the bytes it moves; a download too slow
is abandoned: the caller goes on (a retry, with a new client), and the worker, fenced
off from the sink, ends at its next block or when the process exits. An upload sends
each request body (a chunk of at most RESUMABLE_CHUNK) in one socket call, which the
``timeout`` bounds as a whole.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from artver.errors import AccessDeniedError, ArtverError, ContainerNotFoundError, ObjectNotFoundError, RemoteError, TransientRemoteError
from artver.hashing import ByteCallback
from artver.remotes.base import Sink, check_range, join_key, timeout_setting
from artver.remotes.speed import low_speed_rule

RESUMABLE_CHUNK = 16 * 1024 * 1024
RESUMABLE_THRESHOLD = 8 * 1024 * 1024
WATCH_INTERVAL = 0.25  # seconds between two looks of the watchdog at a download

T = TypeVar("T")


class GcsStorage:
    def __init__(self, url: str, bucket: str, prefix: str, settings: Mapping[str, str], list_page_size: int = 1000) -> None:
        self.url = url
        self.bucket_name = bucket
        self.prefix = prefix
        self._settings = dict(settings)
        self._local = threading.local()  # one client per thread: the HTTP session is not shared
        self._timeout = timeout_setting(settings, url)
        self._speed = low_speed_rule(settings, url)
        self._page = list_page_size  # keys per listing request (1,000 unless testing)

    def _bucket(self) -> Any:
        bucket = getattr(self._local, "bucket", None)
        if bucket is None:
            bucket = _make_client(self._settings, self.url).bucket(self.bucket_name)
            self._local.bucket = bucket
        return bucket

    def _key(self, key: str) -> str:
        return join_key(self.prefix, key)

    def exists(self, keys: Sequence[str]) -> dict[str, int | None]:
        present: dict[str, int | None] = {}
        for key in keys:
            try:
                blob = self._bucket().get_blob(self._key(key), timeout=self._timeout, retry=None)
            except Exception as error:  # noqa: BLE001 - the client library raises many unrelated types; _translate maps the known ones and re-raises the rest
                raise _translate(error, self, key) from None
            if blob is not None:
                present[key] = None if blob.size is None else int(blob.size)
        if not present and keys:
            self._check_bucket()  # get_blob says None for a missing bucket too
        return present

    def _check_bucket(self) -> None:
        """Raise ContainerNotFoundError if the bucket does not exist."""
        try:
            found = self._bucket().exists(timeout=self._timeout, retry=None)
        except Exception as error:  # noqa: BLE001 - the client library raises many unrelated types; _translate maps the known ones and re-raises the rest
            raise _translate(error, self, "") from None
        if not found:
            raise ContainerNotFoundError(_no_bucket(self))

    def list(self, prefix: str) -> Iterator[tuple[str, int | None]]:
        strip = len(self.prefix) + 1 if self.prefix else 0
        try:
            client = self._bucket().client
            for blob in client.list_blobs(self.bucket_name, prefix=self._key(prefix), page_size=self._page, timeout=self._timeout, retry=None):
                yield blob.name[strip:], None if blob.size is None else int(blob.size)
        except Exception as error:  # noqa: BLE001 - the client library raises many unrelated types; _translate maps the known ones and re-raises the rest
            raise _translate(error, self, "") from None

    def upload(self, key: str, source: str, on_bytes: ByteCallback) -> None:
        size = os.stat(source).st_size
        blob = self._bucket().blob(self._key(key), chunk_size=RESUMABLE_CHUNK if size >= RESUMABLE_THRESHOLD else None)
        try:
            blob.upload_from_filename(str(source), if_generation_match=0, timeout=self._timeout, checksum=None, retry=None)
        except Exception as error:  # noqa: BLE001 - the client library raises many unrelated types; _translate maps the known ones and re-raises the rest
            if _status(error) == 412:
                on_bytes(size)  # already there: content-addressed, so the same content
                return
            raise _translate(error, self, key) from None
        on_bytes(size)

    def create_new(self, key: str, data: bytes) -> bool:
        """One upload with ``ifGenerationMatch=0``: GCS refuses it with 412 if the key has a
        live object, atomically (exactly one of racing creates wins; checked against
        fake-gcs-server by tests/test_storage_contract.py)."""
        try:
            self._bucket().blob(self._key(key)).upload_from_string(data, if_generation_match=0, timeout=self._timeout,
                                                                   retry=None)
        except Exception as error:  # noqa: BLE001 - the client library raises many unrelated types; _translate maps the known ones and re-raises the rest
            if _status(error) == 412:
                return False
            raise _translate(error, self, key) from None
        return True

    def list_modified(self, prefix: str) -> Iterator[tuple[str, float]]:
        """Each key with its ``updated`` time, set by the store when it wrote the object."""
        strip = len(self.prefix) + 1 if self.prefix else 0
        try:
            client = self._bucket().client
            for blob in client.list_blobs(self.bucket_name, prefix=self._key(prefix), page_size=self._page,
                                          timeout=self._timeout, retry=None):
                updated = blob.updated
                if updated is None or updated.tzinfo is None:
                    raise RemoteError(f"{self.url}: the listing states no time for {blob.name!r}")
                yield blob.name[strip:], updated.timestamp()
        except Exception as error:  # noqa: BLE001 - the client library raises many unrelated types; _translate maps the known ones and re-raises the rest
            raise _translate(error, self, "") from None

    def download(self, key: str, sink: Sink, on_bytes: ByteCallback) -> None:
        self._download(key, sink.write, on_bytes)

    def read_range(self, key: str, offset: int, length: int) -> bytes:
        check_range(offset, length)
        data = io.BytesIO()
        self._download(key, data.write, lambda count: None, offset, offset + length - 1)
        return data.getvalue()[:length]

    def _download(self, key: str, write: Callable[[bytes], object], on_bytes: ByteCallback,
                  start: int | None = None, end: int | None = None) -> None:
        """Download the object (or bytes ``start`` to ``end``) to ``write`` under the watchdog.
        Errors of ``write`` and ``on_bytes`` reach the caller untranslated."""
        blob = self._bucket().blob(self._key(key))

        def transfer(fence: _Fence) -> None:
            blob.download_to_file(_FencedWriter(fence, write, on_bytes), raw_download=True, checksum=None,
                                  start=start, end=end, timeout=self._timeout, retry=None)

        try:
            self._watched(f"{self.url}: {key}", transfer)
        except _PassedOn as passed:
            raise passed.error from None
        except Exception as error:  # noqa: BLE001 - the client library raises many unrelated types; _translate maps the known ones and re-raises the rest
            if start is not None and _status(error) == 416:
                return  # a range that starts after the object's end: nothing to read
            raise _translate(error, self, key) from None

    def _watched(self, what: str, transfer: Callable[[_Fence], T]) -> T:
        """Run ``transfer`` in a worker thread, abandoning it if it breaks the low-speed rule
        (see the module doc). With the rule off, it runs in this thread."""
        meter = self._speed.meter(what)
        fence = _Fence(meter.moved)
        if self._speed.limit <= 0:
            return transfer(fence)
        outcome: list[tuple[bool, Any]] = []
        done = threading.Event()

        def work() -> None:
            try:
                outcome.append((True, transfer(fence)))
            except BaseException as error:  # noqa: BLE001 - handed to the calling thread
                outcome.append((False, error))
            finally:
                done.set()

        threading.Thread(target=work, name="artver-gcs-download", daemon=True).start()
        while not done.wait(WATCH_INTERVAL):
            try:
                meter.check()
            except TransientRemoteError:
                fence.close()  # nothing the worker reads from now on reaches the sink
                self._local.bucket = None  # the worker keeps its client and connection; the retry gets new ones
                raise
        succeeded, value = outcome[0]
        if succeeded:
            return value
        raise value

    def delete(self, key: str) -> None:
        try:
            self._bucket().blob(self._key(key)).delete(timeout=self._timeout, retry=None)
        except Exception as error:  # noqa: BLE001 - the client library raises many unrelated types; _translate maps the known ones and re-raises the rest
            if _status(error) == 404:
                self._check_bucket()  # a missing key is no error, a missing bucket is
                return
            raise _translate(error, self, key) from None

    def url_of(self, key: str) -> str:
        return f"gs://{self.bucket_name}/{self._key(key)}"

    def presigned_url(self, key: str, expires: int) -> str:
        """A V4 signed GET of the object. Signing needs credentials holding a private key
        (a service-account key file) or able to ask IAM to sign (impersonated credentials);
        user and anonymous credentials cannot, and get a one-line RemoteError saying so."""
        import datetime

        from google.auth.credentials import Signing

        credentials = _signing_credentials(self._settings, self.url)
        if not isinstance(credentials, Signing):
            raise RemoteError(
                f"{self.url}: these Google credentials ({type(credentials).__name__}) cannot sign download links; "
                f"use a service-account key file ('artver remote modify NAME credentials_path KEY.json --local') "
                f"or service-account impersonation ('gcloud auth application-default login "
                f"--impersonate-service-account SA_EMAIL'), or read the artifact with artver.api.open instead"
            )
        blob = self._bucket().blob(self._key(key))
        try:
            url = blob.generate_signed_url(version="v4", expiration=datetime.timedelta(seconds=expires), method="GET",
                                           credentials=credentials)
        except Exception as error:  # noqa: BLE001 - impersonated signing asks IAM over the network
            raise _translate(error, self, key) from None
        return str(url)


class _Abandoned(Exception):
    """Raised in a worker the watchdog gave up on, at its next write: it unwinds and ends."""


class _PassedOn(Exception):
    """Carries an exception of the caller's sink or callback past the library and the
    translation of its errors."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class _Fence:
    """Between a download's worker and its sink: once closed, no write gets through."""

    def __init__(self, moved: Callable[[int], None]) -> None:
        self.moved = moved
        self.lock = threading.Lock()
        self.closed = False

    def close(self) -> None:
        with self.lock:
            self.closed = True


class _FencedWriter:
    """The file object the library downloads into: counts for the low-speed rule, then
    writes through the fence."""

    def __init__(self, fence: _Fence, write: Callable[[bytes], object], on_bytes: ByteCallback) -> None:
        self._fence, self._write, self._on_bytes = fence, write, on_bytes

    def write(self, data: bytes) -> int:
        self._fence.moved(len(data))
        with self._fence.lock:
            if self._fence.closed:
                raise _Abandoned()
            try:
                self._write(data)
                self._on_bytes(len(data))
            except Exception as error:  # noqa: BLE001 - the caller's own error, passed on unchanged
                raise _PassedOn(error) from error
        return len(data)


def _make_client(settings: Mapping[str, str], url: str) -> Any:
    from google.cloud import storage

    credentials = None
    path = settings.get("credentials_path")
    try:
        if path:
            from google.oauth2 import service_account

            credentials = service_account.Credentials.from_service_account_file(str(Path(path).expanduser()))
        return storage.Client(project=settings.get("project") or None, credentials=credentials)
    except FileNotFoundError:
        raise RemoteError(f"{url}: credentials file {path} does not exist") from None
    except Exception as error:  # noqa: BLE001 - google-auth raises several unrelated types
        name = type(error).__name__
        if name == "DefaultCredentialsError":
            raise RemoteError(
                f"{url}: no Google credentials found; set GOOGLE_APPLICATION_CREDENTIALS, run "
                f"'gcloud auth application-default login', or 'artver remote modify NAME credentials_path FILE --local'"
            ) from None
        raise RemoteError(f"{url}: cannot set up the Google Cloud Storage client ({name}: {str(error).splitlines()[0] if str(error) else ''})") from None


def _signing_credentials(settings: Mapping[str, str], url: str) -> Any:
    """The credentials the client of _make_client authenticates with, found the same way
    (the key file of credentials_path, else anonymous ones for an emulator, else google-auth's
    default chain), asked for through public functions so their ability to sign can be checked."""
    path = settings.get("credentials_path")
    try:
        if path:
            from google.oauth2 import service_account

            return service_account.Credentials.from_service_account_file(str(Path(path).expanduser()))
        if os.environ.get("STORAGE_EMULATOR_HOST"):
            from google.auth.credentials import AnonymousCredentials

            return AnonymousCredentials()
        import google.auth

        credentials, _ = google.auth.default()
        return credentials
    except FileNotFoundError:
        raise RemoteError(f"{url}: credentials file {path} does not exist") from None
    except Exception as error:  # noqa: BLE001 - google-auth raises several unrelated types
        if type(error).__name__ == "DefaultCredentialsError":
            raise RemoteError(
                f"{url}: no Google credentials found; set GOOGLE_APPLICATION_CREDENTIALS, run "
                f"'gcloud auth application-default login', or 'artver remote modify NAME credentials_path FILE --local'"
            ) from None
        raise RemoteError(f"{url}: cannot load the Google credentials ({type(error).__name__})") from None


def _status(error: BaseException) -> int:
    code = getattr(error, "code", None)
    if isinstance(code, int):
        return code
    response = getattr(error, "response", None)
    return int(getattr(response, "status_code", 0) or 0)


def _no_bucket(storage: GcsStorage) -> str:
    return f"{storage.url}: bucket {storage.bucket_name!r} does not exist (create it, or fix the URL with 'artver remote modify')"


def _translate(error: BaseException, storage: GcsStorage, key: str) -> ArtverError:
    """The artver error for a failure of the library (or, unchanged, an artver error that
    passed through it: a sink's or the bucket check's). ``key`` is empty for operations
    on the bucket, whose 404 can only mean that the bucket does not exist."""
    where = storage.url
    if isinstance(error, ArtverError):
        return error
    status = _status(error)
    message = str(getattr(error, "message", "") or error).splitlines()[0] if str(error) else type(error).__name__
    if status == 404:
        # The same status for a missing object and a missing bucket: ask the store which.
        if key:
            storage._check_bucket()
            return ObjectNotFoundError(f"{where}: object {key} does not exist in the remote")
        return ContainerNotFoundError(_no_bucket(storage))
    if status == 401:
        return AccessDeniedError(f"{where}: the credentials were rejected (401); check credentials_path or GOOGLE_APPLICATION_CREDENTIALS")
    if status == 403:
        return AccessDeniedError(f"{where}: permission denied (403) for {key or 'the bucket'}")
    if status == 429 or status >= 500:
        return TransientRemoteError(f"{where}: the server answered {status}")
    import http.client

    import requests
    import urllib3

    if isinstance(error, (requests.RequestException, urllib3.exceptions.HTTPError, http.client.HTTPException,
                          ConnectionError, TimeoutError)):
        # Includes a response cut short (ChunkedEncodingError, or JSONDecodeError of a cut body).
        return TransientRemoteError(f"{where}: connection failed ({type(error).__name__})")
    name = type(error).__name__
    if name in ("DataCorruption", "InvalidResponse", "ChunkedEncodingError", "RetryError"):
        return TransientRemoteError(f"{where}: {name} during transfer")
    if isinstance(error, (AttributeError, TypeError, KeyError)) and _raised_in_client_library(error):
        # The library parses a JSON answer whose headers were cut (so it was not recognised as
        # JSON and came back as bytes): a damaged response, worth another request.
        return TransientRemoteError(f"{where}: a response arrived incomplete ({name} in the client library)")
    if isinstance(error, OSError):
        return RemoteError(f"{where}: {error.strerror or error}")
    if status:
        return RemoteError(f"{where}: {status}: {message}")
    raise error


def _raised_in_client_library(error: BaseException) -> bool:
    """Whether the innermost frame of ``error`` is in the Google client libraries (not artver)."""
    trace = error.__traceback__
    if trace is None:
        return False
    while trace.tb_next is not None:
        trace = trace.tb_next
    return str(trace.tb_frame.f_globals.get("__name__", "")).startswith("google.")
