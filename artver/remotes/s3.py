"""S3 and S3-compatible stores (AWS, SeaweedFS, MinIO, Ceph, R2) through boto3.

Credentials come from boto3's own default chain (environment variables,
profile, instance metadata) unless ``access_key_id``/``secret_access_key`` are
set in ``.artver/config.local``. ``endpoint_url``, ``region`` and ``profile``
may be set per remote; ``AWS_ENDPOINT_URL(_S3)`` work with no setting at all.

Small objects are sent with one PUT carrying ``If-None-Match: *`` so an
existing key is never replaced. Large ones go up in a multipart upload whose
parts are read straight from the file (no part is held in memory); a failed
upload is aborted, so nothing partial is ever visible under the final key.

The requests made once per object (HEAD, GET, small PUT, and listing pages) take
the direct path of s3_direct.py unless the remote's ``direct_requests`` is false
or the path cannot be set up (then a -v note says why). Everything else (multipart
uploads, deletes, error explanations) goes through the client. Both paths read
their responses with s3_responses.py and have their errors translated here, once.
"""

from __future__ import annotations

import base64
import datetime
import email.utils
import hashlib
import http.client
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import botocore.exceptions
import urllib3
from botocore.config import Config as BotoConfig

from artver.errors import AccessDeniedError, ArtverError, ContainerNotFoundError, ObjectNotFoundError, RemoteError, TransientRemoteError
from artver.hashing import ByteCallback
from artver.remotes import s3_direct
from artver.remotes.base import DELETE_BATCH, Sink, bool_setting, check_range, join_key, timeout_setting
from artver.remotes.s3_responses import client_error, parse_listing, read_body, stated_size
from artver.remotes.speed import SpeedMeter, low_speed_rule

MULTIPART_THRESHOLD = 64 * 1024 * 1024
# A multipart upload of the same key started this long ago (by the store's clock) is taken to
# be abandoned by a killed push and aborted; a younger one may be another clone's, under way.
ABANDONED_UPLOAD_AGE = datetime.timedelta(hours=24)
PART_SIZE = 16 * 1024 * 1024
PART_JOBS = 4
MAX_PARTS = 10_000
_TRANSIENT_CODES = {
    "SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeTooSkewed",
    "InternalError", "ServiceUnavailable", "503", "500", "502", "504", "RequestLimitExceeded",
}
_CREDENTIAL_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "AuthorizationHeaderMalformed"}
_NOT_FOUND_CODES = ("NoSuchKey", "404", "NotFound")


class S3Storage:
    def __init__(self, url: str, bucket: str, prefix: str, settings: Mapping[str, str], jobs: int,
                 notify: Callable[[str], None] | None = None, list_page_size: int = 1000) -> None:
        self.url = url
        self.bucket = bucket
        self.prefix = prefix
        timeout = timeout_setting(settings, url)
        self._settings, self._timeout = dict(settings), timeout  # for the presigning client, made when asked
        self._speed = low_speed_rule(settings, url)
        self._use_direct = bool_setting(settings, "direct_requests", True, url)
        try:
            self._session = _session(settings)
            self._client = _client(self._session, settings, jobs, timeout)
        except botocore.exceptions.ProfileNotFound as error:
            raise RemoteError(f"{url}: {error}; fix the remote's profile or AWS_PROFILE") from None
        except ValueError as error:
            raise RemoteError(f"{url}: invalid endpoint_url or region ({error})") from None
        except botocore.exceptions.BotoCoreError as error:
            raise RemoteError(f"{url}: {error}") from None
        self._notify = notify
        self._page = list_page_size  # keys per listing request (the store's maximum, 1,000, unless testing)
        self._part_slots = threading.BoundedSemaphore(PART_JOBS * 2)
        self._lock = threading.Lock()
        self._route: s3_direct.Route | s3_direct.NoRoute | None = None  # found on first use
        self._bucket_seen = False  # a request showed the bucket exists
        self._responses = threading.local()  # the client path's last GetObject response, per thread
        self._client.meta.events.register("after-call.s3.GetObject", self._keep_response)

    def _key(self, key: str) -> str:
        return join_key(self.prefix, key)

    def _direct(self) -> s3_direct.Route | None:
        """The direct path, found once (see s3_direct.discover); None: use the client."""
        if not self._use_direct:
            return None
        with self._lock:
            route = self._route
        if route is None:
            route = s3_direct.discover(self._client, self.bucket)  # a transient failure is raised: tried again later
            with self._lock:
                if self._route is None:
                    self._route = route
                    self._bucket_seen = self._bucket_seen or isinstance(route, s3_direct.Route)
                    if isinstance(route, s3_direct.NoRoute) and self._notify is not None:
                        self._notify(f"{self.url}: every request goes through boto3's slower request pipeline: "
                                     f"{route.reason}")
                route = self._route
        return route if isinstance(route, s3_direct.Route) else None

    def _send(self, route: s3_direct.Route, method: str, key: str, query: str = "", headers: dict[str, str] | None = None,
              body: Any = None, stream: bool = False) -> Any:
        return s3_direct.send(route, self._session.get_credentials(), method, self._key(key) if key else "", query,
                              headers, body, stream)

    def _keep_response(self, http_response: Any, **_: Any) -> None:
        self._responses.last = http_response

    def _require_bucket(self) -> None:
        """Before the first upload: some stores (SeaweedFS) create a missing bucket on PUT,
        and artver never creates buckets (a typo in the name would silently make a new one)."""
        with self._lock:
            if self._bucket_seen:
                return
        if not _bucket_exists(self):
            raise ContainerNotFoundError(_no_bucket(self))
        with self._lock:
            self._bucket_seen = True

    def exists(self, keys: Sequence[str]) -> dict[str, int | None]:
        present: dict[str, int | None] = {}
        try:
            route = self._direct()
        except Exception as error:  # noqa: BLE001 - e.g. a credential process that fails
            raise _translate(error, self, "") from None
        for key in keys:
            try:
                if route is not None:
                    response = self._send(route, "HEAD", key)
                    if response.status_code != 200:
                        raise client_error(response.status_code, b"", "HeadObject")
                    headers = response.headers
                else:
                    headers = self._client.head_object(Bucket=self.bucket, Key=self._key(key))["ResponseMetadata"]["HTTPHeaders"]
                present[key] = stated_size(headers)  # None if the answer states no length: unknown, not 0
            except botocore.exceptions.ClientError as error:
                if _code(error) in _NOT_FOUND_CODES:
                    continue
                if _code(error) == "403":
                    self._explain_forbidden(key)
                raise _translate(error, self, key) from None
            except Exception as error:  # noqa: BLE001 - botocore raises many unrelated types
                raise _translate(error, self, key) from None
        if not present and keys and not _bucket_exists(self):
            # A HEAD on a missing bucket is a bare 404, like a missing key. Say what is wrong.
            raise ContainerNotFoundError(_no_bucket(self))
        return present

    def _explain_forbidden(self, key: str) -> None:
        """A HEAD answer has no body, so a 403 does not say why; ask a request that does."""
        try:
            self._client.list_objects_v2(Bucket=self.bucket, Prefix=self._key(key), MaxKeys=1)
        except botocore.exceptions.ClientError as error:
            raise _translate(error, self, key) from None

    def list(self, prefix: str) -> Iterator[tuple[str, int | None]]:
        strip = len(self.prefix) + 1 if self.prefix else 0
        try:
            route = self._direct()
            if route is not None:
                for key, size in self._list_direct(route, self._key(prefix)):
                    yield key[strip:], size
                return
            paginator = self._client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix), PaginationConfig={"PageSize": self._page}):
                for item in page.get("Contents", ()):
                    yield item["Key"][strip:], _listed_size(item.get("Size"))
        except Exception as error:  # noqa: BLE001 - the client library raises many unrelated types; _translate maps the known ones and re-raises the rest
            raise _translate(error, self, "") from None

    def _list_direct(self, route: s3_direct.Route, full_prefix: str) -> Iterator[tuple[str, int | None]]:
        token = None
        while True:
            query = f"list-type=2&max-keys={self._page}&prefix={s3_direct.quote_query(full_prefix)}"
            if token is not None:
                query += f"&continuation-token={s3_direct.quote_query(token)}"
            meter = self._speed.meter(f"{self.url}: a listing page")
            response = self._send(route, "GET", "", query, stream=True)
            page = self._body(response, "ListObjectsV2", f"{self.url}: a listing page", meter)
            listing = parse_listing(page)
            yield from listing.items
            if not listing.truncated or not listing.token:
                return
            token = listing.token

    def _body(self, response: Any, operation: str, what: str, meter: SpeedMeter) -> bytes:
        """The whole body of a direct response; an error response raises its ClientError."""
        parts: list[bytes] = []
        if response.status_code not in (200, 206):
            raise client_error(response.status_code, response.content, operation)
        read_body(response.raw, response.headers, parts.append, what, meter.moved)
        return b"".join(parts)

    def upload(self, key: str, source: str, on_bytes: ByteCallback) -> None:
        size = os.stat(source).st_size
        multipart = size >= MULTIPART_THRESHOLD
        meter = self._speed.meter(f"{self.url}: the upload of {key}")
        try:
            route = self._direct()
            self._require_bucket()
            if not multipart:
                with open(source, "rb") as handle:
                    # Content-MD5 lets the server refuse a body cut short, instead of storing
                    # what arrived under the final key (SeaweedFS stores a cut PUT as empty).
                    digest = base64.b64encode(hashlib.file_digest(handle, lambda: hashlib.md5(usedforsecurity=False)).digest()).decode()
                    body = _FileRange(handle.fileno(), 0, size, meter.moved)
                    if route is not None:
                        response = self._send(route, "PUT", key, headers={"Content-MD5": digest, "If-None-Match": "*"},
                                              body=body)
                        if response.status_code not in (200, 201, 204):
                            raise client_error(response.status_code, response.content, "PutObject")
                    else:
                        self._client.put_object(Bucket=self.bucket, Key=self._key(key), Body=body, IfNoneMatch="*",
                                                ContentMD5=digest)
            else:
                self._upload_multipart(key, source, size, on_bytes, meter)
                return
        except botocore.exceptions.ClientError as error:
            if _code(error) not in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                raise _translate(error, self, key) from None
            # Someone stored it first; content-addressed, so it is the same content.
            if multipart:
                return  # its parts were counted as they went up
        except Exception as error:  # noqa: BLE001 - the client library raises many unrelated types; _translate maps the known ones and re-raises the rest
            # The meter's error, raised while botocore read the body, comes back wrapped.
            raise meter.error or _translate(error, self, key) from None
        on_bytes(size)

    def create_new(self, key: str, data: bytes) -> bool:
        """One PUT with ``If-None-Match: *`` (the store refuses it with 412 if the key exists,
        atomically: SeaweedFS and AWS both let exactly one of racing PUTs through, which
        tests/test_storage_contract.py checks). Content-MD5 makes a body cut short a refusal,
        not a short object. AWS answers 409 ConditionalRequestConflict while another
        conditional write of the key is under way: transient, and the retry then sees 412."""
        digest = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
        try:
            route = self._direct()
            self._require_bucket()
            if route is not None:
                response = self._send(route, "PUT", key, headers={"Content-MD5": digest, "If-None-Match": "*"}, body=data)
                if response.status_code not in (200, 201, 204):
                    raise client_error(response.status_code, response.content, "PutObject")
            else:
                self._client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, IfNoneMatch="*",
                                        ContentMD5=digest)
        except botocore.exceptions.ClientError as error:
            if _code(error) in ("PreconditionFailed", "412"):
                return False
            if _code(error) in ("ConditionalRequestConflict", "409"):
                raise TransientRemoteError(f"{self.url}: another conditional write of {key} was under way") from None
            raise _translate(error, self, key) from None
        except Exception as error:  # noqa: BLE001 - the client library raises many unrelated types; _translate maps the known ones and re-raises the rest
            raise _translate(error, self, key) from None
        return True

    def list_modified(self, prefix: str) -> Iterator[tuple[str, float]]:
        """Through the client (a lock listing is one small page, where the direct path saves
        nothing): each key with its LastModified, the time the store wrote it."""
        strip = len(self.prefix) + 1 if self.prefix else 0
        try:
            paginator = self._client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix), PaginationConfig={"PageSize": self._page}):
                for item in page.get("Contents", ()):
                    modified = item.get("LastModified")
                    if not isinstance(modified, datetime.datetime) or modified.tzinfo is None:
                        raise RemoteError(f"{self.url}: the listing states no time for {item.get('Key')!r}")
                    yield item["Key"][strip:], modified.timestamp()
        except Exception as error:  # noqa: BLE001 - the client library raises many unrelated types; _translate maps the known ones and re-raises the rest
            raise _translate(error, self, "") from None

    def _upload_multipart(self, key: str, source: str, size: int, on_bytes: ByteCallback, meter: SpeedMeter) -> None:
        part_size = max(PART_SIZE, -(-size // MAX_PARTS))
        full_key = self._key(key)
        self._abort_abandoned(full_key)
        upload_id = self._client.create_multipart_upload(Bucket=self.bucket, Key=full_key)["UploadId"]
        try:
            with open(source, "rb", buffering=0) as handle, ThreadPoolExecutor(PART_JOBS) as pool:
                offsets = range(0, size, part_size)
                futures = [
                    pool.submit(self._upload_part, full_key, upload_id, number, handle.fileno(), offset,
                                min(part_size, size - offset), on_bytes, meter)
                    for number, offset in enumerate(offsets, start=1)
                ]
                parts = [future.result() for future in futures]
            self._client.complete_multipart_upload(
                Bucket=self.bucket, Key=full_key, UploadId=upload_id,
                MultipartUpload={"Parts": parts}, IfNoneMatch="*",
            )
        except BaseException:
            try:
                self._client.abort_multipart_upload(Bucket=self.bucket, Key=full_key, UploadId=upload_id)
            except Exception:  # noqa: BLE001 - best effort; the original error matters more
                pass
            raise

    def _abort_abandoned(self, full_key: str) -> None:
        """Abort multipart uploads of this key left by a killed push: they are invisible, but
        a store keeps (and bills) their parts until someone aborts them. Only those provably
        abandoned: started more than ABANDONED_UPLOAD_AGE ago by the store's own clock (the
        Date of its answer, so that a skewed local clock cannot make a live upload look old).
        Another clone pushing the same object at the same time has a younger one, which it is
        still filling: aborting it would make that push fail (NoSuchUpload)."""
        try:
            listed = self._client.list_multipart_uploads(Bucket=self.bucket, Prefix=full_key)
            now = _server_time(listed.get("ResponseMetadata", {}).get("HTTPHeaders", {}))
            for upload in listed.get("Uploads", ()):
                started = upload.get("Initiated")
                if upload.get("Key") != full_key or not isinstance(started, datetime.datetime):
                    continue
                if started.tzinfo is None or now - started < ABANDONED_UPLOAD_AGE:
                    continue  # maybe under way: another clone's, or another process's of this clone
                self._client.abort_multipart_upload(Bucket=self.bucket, Key=full_key, UploadId=upload["UploadId"])
        except botocore.exceptions.ClientError:
            pass  # not allowed or not supported: the new upload does not depend on it

    def _upload_part(self, key: str, upload_id: str, number: int, fd: int, offset: int, length: int,
                     on_bytes: ByteCallback, meter: SpeedMeter) -> dict[str, Any]:
        with self._part_slots:
            body = _FileRange(fd, offset, length, meter.moved)
            response = self._client.upload_part(
                Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body, ContentLength=length
            )
        on_bytes(length)
        return {"PartNumber": number, "ETag": response["ETag"]}

    def _get(self, key: str, byte_range: str | None) -> tuple[Any, Any, int]:
        """A GET of the object whose body is still to be read: (urllib3 response, headers, status),
        by either path. An error answer raises its ClientError."""
        route = self._direct()
        if route is not None:
            response = self._send(route, "GET", key, headers={"Range": byte_range} if byte_range else None, stream=True)
            if response.status_code not in (200, 206):
                raise client_error(response.status_code, response.content, "GetObject")
            return response.raw, response.headers, response.status_code
        self._responses.last = None
        arguments = {"Range": byte_range} if byte_range else {}
        parsed = self._client.get_object(Bucket=self.bucket, Key=self._key(key), **arguments)
        http_response = self._responses.last  # from after-call: the same urllib3 response, unread
        metadata = parsed["ResponseMetadata"]
        if http_response is None:
            raise RemoteError(f"{self.url}: boto3 gave no response object for {key}")
        return http_response.raw, metadata["HTTPHeaders"], metadata["HTTPStatusCode"]

    def download(self, key: str, sink: Sink, on_bytes: ByteCallback) -> None:
        meter = self._speed.meter(f"{self.url}: {key}")
        try:
            raw, headers, _ = self._get(key, None)
        except Exception as error:  # noqa: BLE001 - the client library raises many unrelated types; _translate maps the known ones and re-raises the rest
            raise _translate(error, self, key) from None

        def write(chunk: bytes) -> None:
            sink.write(chunk)  # its errors are the caller's: not translated
            on_bytes(len(chunk))

        try:
            read_body(raw, headers, _Passing(write), f"{self.url}: {key}", meter.moved)
        except _PassedOn as passed:
            raise passed.error from None
        except Exception as error:  # noqa: BLE001 - the client library raises many unrelated types; _translate maps the known ones and re-raises the rest
            raise _translate(error, self, key) from None

    def read_range(self, key: str, offset: int, length: int) -> bytes | bytearray:
        check_range(offset, length)
        meter = self._speed.meter(f"{self.url}: {key}")
        try:
            raw, headers, status = self._get(key, f"bytes={offset}-{offset + length - 1}")
            # 200: the store ignored Range and sends the whole object, of which the range is kept
            filling = _Filling(offset if status == 200 else 0, length)
            read_body(raw, headers, filling.write, f"{self.url}: {key}", meter.moved)
        except botocore.exceptions.ClientError as error:
            if _code(error) in ("InvalidRange", "416"):
                return b""  # the object ends before ``offset``
            raise _translate(error, self, key) from None
        except Exception as error:  # noqa: BLE001 - the client library raises many unrelated types; _translate maps the known ones and re-raises the rest
            raise _translate(error, self, key) from None
        return filling.result()

    def delete(self, key: str) -> None:
        try:
            self._client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as error:  # noqa: BLE001 - the client library raises many unrelated types; _translate maps the known ones and re-raises the rest
            raise _translate(error, self, key) from None

    def delete_many(self, keys: Sequence[str]) -> None:
        """One DeleteObjects request (quiet: the answer lists only the keys it failed on)."""
        if not keys:
            return
        if len(keys) > DELETE_BATCH:
            raise ValueError(f"delete_many takes at most {DELETE_BATCH} keys, not {len(keys)}")
        try:
            answer = self._client.delete_objects(Bucket=self.bucket, Delete={
                "Objects": [{"Key": self._key(key)} for key in keys], "Quiet": True})
        except Exception as error:  # noqa: BLE001 - the client library raises many unrelated types; _translate maps the known ones and re-raises the rest
            raise _translate(error, self, keys[0]) from None
        # The answer is the server's: only its short string fields are used, cut to a length.
        refused = [failure for failure in answer.get("Errors") or () if isinstance(failure, dict)
                   and failure.get("Code") != "NoSuchKey"]
        if refused:
            first = refused[0]
            raise RemoteError(f"{self.url}: {len(refused)} of {len(keys)} objects were not deleted; the first, "
                              f"{str(first.get('Key'))[:300]!r}: {str(first.get('Code'))[:100]} "
                              f"{str(first.get('Message'))[:200]} (run the command again)")

    def url_of(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def presigned_url(self, key: str, expires: int) -> str:
        """A SigV4 presigned GET of the object, made offline by boto3 with the remote's
        credentials, endpoint and addressing style. It works only as long as those
        credentials do: a session token's expiry ends it early."""
        try:
            # botocore presigns with the legacy SigV2 unless told otherwise; SigV4 is what every
            # region and store accepts, and what bounds a link to seven days.
            signer = _client(self._session, self._settings, 1, self._timeout, signature_version="s3v4")
            url = signer.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": self._key(key)}, ExpiresIn=expires)
        except Exception as error:  # noqa: BLE001 - e.g. no credentials at all
            raise _translate(error, self, key) from None
        return str(url)


class _PassedOn(Exception):
    """Carries an exception of the sink or callback past the translation of network errors."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class _Filling:
    """Keeps bytes ``skip`` to ``skip + length`` of a response body in one buffer allocated
    once: a ranged read is held once while it arrives, with no pieces to join and no
    buffer growing (a pull reads several spans of megabytes at once). Bytes beyond the
    range, whatever a server sends, are dropped."""

    def __init__(self, skip: int, length: int) -> None:
        self._buffer = bytearray(length)
        self._skip = skip
        self._seen = 0
        self._filled = 0

    def write(self, chunk: bytes) -> None:
        start = self._seen
        self._seen += len(chunk)
        low = max(self._skip - start, 0)
        high = min(self._skip + len(self._buffer) - start, len(chunk))
        if low < high:
            at = start + low - self._skip
            self._buffer[at:at + high - low] = memoryview(chunk)[low:high]
            self._filled = at + high - low

    def result(self) -> bytearray:
        """The range's bytes (fewer than asked for if the object ends first)."""
        del self._buffer[self._filled:]
        return self._buffer

class _Passing:
    """Calls ``write``; whatever it raises comes out wrapped in _PassedOn, so that it reaches
    the caller untranslated (a full local disk is not a remote problem)."""

    def __init__(self, write: Callable[[bytes], None]) -> None:
        self._write = write

    def __call__(self, chunk: bytes) -> None:
        try:
            self._write(chunk)
        except Exception as error:  # noqa: BLE001 - any error of the caller's, passed on as it is
            raise _PassedOn(error) from error


def _server_time(headers: Mapping[str, str]) -> datetime.datetime:
    """The time in the Date header of a store's answer (this machine's clock if it has none)."""
    try:
        stated = email.utils.parsedate_to_datetime(headers.get("date", ""))
    except (TypeError, ValueError):
        stated = None
    if stated is None or stated.tzinfo is None:
        return datetime.datetime.now(datetime.UTC)
    return stated


def _listed_size(value: Any) -> int | None:
    return value if isinstance(value, int) and value >= 0 else None


def _session(settings: Mapping[str, str]) -> boto3.session.Session:
    return boto3.session.Session(
        profile_name=settings.get("profile") or None,
        aws_access_key_id=settings.get("access_key_id") or None,
        aws_secret_access_key=settings.get("secret_access_key") or None,
        aws_session_token=settings.get("session_token") or None,
    )


def _client(session: boto3.session.Session, settings: Mapping[str, str], jobs: int, timeout: float,
            signature_version: str | None = None) -> Any:
    # A custom endpoint (artver setting or AWS_ENDPOINT_URL[_S3]) is almost always an S3-compatible
    # store, where bucket-in-hostname addressing does not resolve.
    custom_endpoint = settings.get("endpoint_url") or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    return session.client(
        "s3",
        endpoint_url=settings.get("endpoint_url") or None,
        region_name=settings.get("region") or None,
        config=BotoConfig(
            retries={"total_max_attempts": 1},  # remotes/retry.py retries, with backoff and jitter
            max_pool_connections=max(10, jobs * PART_JOBS),
            connect_timeout=min(timeout, 10.0),
            read_timeout=timeout,
            s3={"addressing_style": "path"} if custom_endpoint else None,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            signature_version=signature_version,
        ),
    )


class _FileRange:
    """A seekable, read-only view of part of a file, so botocore can stream and
    re-read (for checksums and retries) a part without it being held in memory.
    Each read reports its bytes to ``moved`` (the low-speed rule: the HTTP library asks
    for the next block only once it has sent the previous one)."""

    def __init__(self, fd: int, offset: int, length: int, moved: Callable[[int], None]) -> None:
        self._fd, self._offset, self._length, self._position = fd, offset, length, 0
        self._moved = moved

    def read(self, size: int = -1) -> bytes:
        remaining = self._length - self._position
        if size is None or size < 0 or size > remaining:
            size = remaining
        data = os.pread(self._fd, size, self._offset + self._position) if size else b""
        self._position += len(data)
        self._moved(len(data))
        return data

    def seek(self, position: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._position, 2: self._length}[whence]
        self._position = max(0, min(self._length, base + position))
        return self._position

    def tell(self) -> int:
        return self._position

    def __len__(self) -> int:
        return self._length


def _code(error: botocore.exceptions.ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _bucket_exists(storage: S3Storage) -> bool:
    try:
        storage._client.head_bucket(Bucket=storage.bucket)
        return True
    except botocore.exceptions.ClientError as error:
        return _code(error) not in ("404", "NoSuchBucket", "NotFound")
    except Exception:  # noqa: BLE001 - any other failure is not proof that the bucket is missing
        return True


def _no_bucket(storage: S3Storage) -> str:
    return f"{storage.url}: bucket {storage.bucket!r} does not exist (create it, or fix the URL with 'artver remote modify')"


def _translate(error: BaseException, storage: S3Storage, key: str) -> ArtverError:
    """The artver error for a failure of botocore or of the direct path (or, unchanged, an
    artver error that passed through). ``key`` is empty for bucket operations."""
    where = storage.url
    if isinstance(error, ArtverError):
        return error
    if isinstance(error, botocore.exceptions.ClientError):
        code = _code(error)
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code == "NoSuchBucket" or (code in ("404", "NotFound") and not (key and _bucket_exists(storage))):
            # A bare 404 (an answer without a body, as to HEAD) may be either: ask the store.
            return ContainerNotFoundError(_no_bucket(storage))
        if code in _NOT_FOUND_CODES:
            return ObjectNotFoundError(f"{where}: object {key} does not exist in the remote")
        if code in _CREDENTIAL_CODES:
            return AccessDeniedError(
                f"{where}: the credentials were rejected ({code}); check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
                f"the profile, or the remote's access_key_id/secret_access_key in .artver/config.local"
            )
        if code in ("AccessDenied", "403", "AllAccessDisabled"):
            return AccessDeniedError(f"{where}: permission denied ({code}) for {key or 'the bucket'}")
        if code in _TRANSIENT_CODES or status >= 500 or status == 429:
            return TransientRemoteError(f"{where}: the server answered {code or status}")
        return RemoteError(f"{where}: {code or status}: {error.response.get('Error', {}).get('Message', '')}".rstrip(": "))
    if isinstance(error, botocore.exceptions.NoCredentialsError):
        return AccessDeniedError(
            f"{where}: no credentials found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), "
            f"or 'artver remote modify NAME access_key_id ... --local'"
        )
    if isinstance(error, botocore.exceptions.ProfileNotFound):
        return RemoteError(f"{where}: {error}")
    if isinstance(error, botocore.exceptions.EndpointConnectionError):
        return TransientRemoteError(f"{where}: cannot connect to {error.kwargs.get('endpoint_url', 'the endpoint')}")
    if isinstance(error, (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError,
                          botocore.exceptions.ResponseStreamingError, botocore.exceptions.IncompleteReadError,
                          urllib3.exceptions.HTTPError, http.client.HTTPException, ConnectionError, TimeoutError)):
        return TransientRemoteError(f"{where}: connection failed ({type(error).__name__})")
    if isinstance(error, botocore.exceptions.BotoCoreError):
        return RemoteError(f"{where}: {error}")
    if isinstance(error, OSError):
        return RemoteError(f"{where}: {error.strerror or error}")
    raise error
