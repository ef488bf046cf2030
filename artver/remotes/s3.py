"""S3 and S3-compatible stores (AWS, SeaweedFS, MinIO, Ceph, R2) through boto3.

Credentials come from boto3's own default chain (environment variables,
profile, instance metadata) unless ``access_key_id``/``secret_access_key`` are
set in ``.artver/config.local``. ``endpoint_url``, ``region`` and ``profile``
may be set per remote; ``AWS_ENDPOINT_URL(_S3)`` work with no setting at all.

Small objects are sent with one PUT carrying ``If-None-Match: *`` so an
existing key is never replaced. Large ones go up in a multipart upload whose
parts are read straight from the file (no part is held in memory); a failed
upload is aborted, so nothing partial is ever visible under the final key.

The requests made once per object (HEAD, GET, small PUT, and listing pages) skip
botocore's request pipeline: they are signed with botocore's own SigV4 signer and
sent through the client's own HTTP session, to the URL botocore itself resolves
for the bucket. botocore's pipeline (endpoint rules, event hooks, modelled
response parsing) costs 2-3 ms of CPU per request, more than the request itself
on a fast network, and parsing a 1,000-key listing page takes it about 0.2 s;
the direct path costs under 1 ms a request and a few ms a page. Everything else
(multipart uploads, deletes, error explanations) goes through the client.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import threading
import xml.etree.ElementTree as ElementTree
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Sequence
from urllib.parse import quote, urlsplit

import boto3
import botocore.exceptions
import urllib3
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.config import Config as BotoConfig

from artver.errors import (AccessDeniedError, ArtverError, ContainerNotFoundError, ObjectNotFoundError, RemoteError,
                           TransientRemoteError)
from artver.hashing import CHUNK_SIZE, ByteCallback
from artver.remotes.base import Sink, check_range, join_key, timeout_setting

MULTIPART_THRESHOLD = 64 * 1024 * 1024
PART_SIZE = 16 * 1024 * 1024
PART_JOBS = 4
MAX_PARTS = 10_000
_TRANSIENT_CODES = {
    "SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeTooSkewed",
    "InternalError", "ServiceUnavailable", "503", "500", "502", "504", "RequestLimitExceeded",
}
_CREDENTIAL_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "AuthorizationHeaderMalformed"}


class S3Storage:
    def __init__(self, url: str, bucket: str, prefix: str, settings: Mapping[str, str], jobs: int,
                 notify: Callable[[str], None] | None = None, direct: bool = True,
                 list_page_size: int = 1000) -> None:
        self.url = url
        self.bucket = bucket
        self.prefix = prefix
        timeout = timeout_setting(settings, url)
        try:
            self._session = _session(settings)
            self._client = _client(self._session, settings, jobs, timeout)
        except botocore.exceptions.ProfileNotFound as error:
            raise RemoteError(f"{url}: {error}; fix the remote's profile or AWS_PROFILE") from None
        except ValueError as error:
            raise RemoteError(f"{url}: invalid endpoint_url or region ({error})") from None
        except botocore.exceptions.BotoCoreError as error:
            raise RemoteError(f"{url}: {error}") from None
        self._part_slots = threading.BoundedSemaphore(PART_JOBS * 2)
        self._direct_lock = threading.Lock()
        self._direct_route: _Route | None = None
        self._bucket_seen = False  # a request showed the bucket exists
        self._use_direct = direct  # False: every request through the client (tests compare both)
        self._page = list_page_size  # keys per listing request (the store's maximum, 1,000, unless testing)

    def _key(self, key: str) -> str:
        return join_key(self.prefix, key)

    def _route(self) -> "_Route | None":
        """Where and how to send direct requests, worked out once from a request the
        client itself makes; None if this client cannot be bypassed."""
        if not self._use_direct:
            return None
        with self._direct_lock:
            if self._direct_route is None:
                self._direct_route = _route_of(self._client, self.bucket)
                self._bucket_seen = self._bucket_seen or self._direct_route.usable
            return self._direct_route if self._direct_route.usable else None

    def _require_bucket(self) -> None:
        """Before the first upload: some stores (SeaweedFS) create a missing bucket on PUT,
        and artver never creates buckets (a typo in the name would silently make a new one)."""
        with self._direct_lock:
            if self._bucket_seen:
                return
        if not _bucket_exists(self):
            raise ContainerNotFoundError(_no_bucket(self))
        with self._direct_lock:
            self._bucket_seen = True

    def _send(self, route: "_Route", method: str, key: str, query: str = "", headers: dict[str, str] | None = None,
              body: Any = None, stream: bool = False) -> AWSResponse:
        """One signed request for an object (or, with ``key`` empty, for the bucket)."""
        url = route.object_base + quote(self._key(key), safe="/~-_.") if key else route.bucket_url
        request = AWSRequest(method=method, url=f"{url}?{query}" if query else url, headers=headers, data=body)
        credentials = self._session.get_credentials()
        if credentials is None:
            raise botocore.exceptions.NoCredentialsError()
        S3SigV4Auth(credentials.get_frozen_credentials(), route.service, route.region).add_auth(request)
        prepared = request.prepare()
        prepared.stream_output = stream
        return route.http.send(prepared)  # type: ignore[no-any-return]

    def exists(self, keys: Sequence[str]) -> dict[str, int | None]:
        present: dict[str, int | None] = {}
        try:
            route = self._route()
        except Exception as error:  # noqa: BLE001 - e.g. a credential process that fails
            raise _translate(error, self, "") from None
        for key in keys:
            try:
                if route is not None:
                    response = self._send(route, "HEAD", key)
                    if response.status_code == 200:
                        present[key] = int(response.headers.get("content-length", 0))
                        continue
                    raise _client_error(response, "HeadObject")
                present[key] = self._client.head_object(Bucket=self.bucket, Key=self._key(key))["ContentLength"]
            except botocore.exceptions.ClientError as error:
                if _code(error) in ("404", "NoSuchKey", "NotFound"):
                    continue
                if _code(error) == "403":
                    self._explain_forbidden(key)
                raise _translate(error, self, key) from None
            except Exception as error:  # noqa: BLE001 - botocore raises many unrelated types
                raise _translate(error, self, key) from None
        if not present and keys and not _bucket_exists(self):
            # A HEAD on a missing bucket is a bare 404, like a missing key; some stores would even
            # create the bucket on the first PUT. Say what is wrong instead.
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
            route = self._route()
            if route is not None:
                for key, size in self._list_direct(route, self._key(prefix)):
                    yield key[strip:], size
                return
            paginator = self._client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix), PaginationConfig={"PageSize": self._page}):
                for item in page.get("Contents", ()):
                    yield item["Key"][strip:], item["Size"]
        except Exception as error:  # noqa: BLE001
            raise _translate(error, self, "") from None

    def _list_direct(self, route: "_Route", full_prefix: str) -> Iterator[tuple[str, int]]:
        token = None
        while True:
            query = f"list-type=2&max-keys={self._page}&prefix={_quote_query(full_prefix)}"
            if token is not None:
                query += f"&continuation-token={_quote_query(token)}"
            response = self._send(route, "GET", "", query)
            if response.status_code != 200:
                raise _client_error(response, "ListObjectsV2")
            page = _parse_listing(response.content)
            yield from page.items
            if not page.truncated or not page.token:
                return
            token = page.token

    def upload(self, key: str, source: str, on_bytes: ByteCallback) -> None:
        size = os.stat(source).st_size
        try:
            route = self._route()
            self._require_bucket()
            if size < MULTIPART_THRESHOLD:
                with open(source, "rb") as body:
                    # Content-MD5 lets the server refuse a body cut short, instead of storing
                    # what arrived under the final key (SeaweedFS stores a cut PUT as empty).
                    digest = base64.b64encode(hashlib.file_digest(body, lambda: hashlib.md5(usedforsecurity=False)).digest()).decode()
                    body.seek(0)
                    if route is not None:
                        response = self._send(route, "PUT", key, headers={"Content-MD5": digest, "If-None-Match": "*"},
                                              body=body)
                        if response.status_code not in (200, 201, 204):
                            raise _client_error(response, "PutObject")
                    else:
                        self._client.put_object(Bucket=self.bucket, Key=self._key(key), Body=body, IfNoneMatch="*",
                                                ContentMD5=digest)
                on_bytes(size)
            else:
                self._upload_multipart(key, source, size, on_bytes)
        except botocore.exceptions.ClientError as error:
            if _code(error) in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                on_bytes(size)  # someone stored it first; content-addressed, so it is the same content
                return
            raise _translate(error, self, key) from None
        except Exception as error:  # noqa: BLE001
            raise _translate(error, self, key) from None

    def _upload_multipart(self, key: str, source: str, size: int, on_bytes: ByteCallback) -> None:
        part_size = max(PART_SIZE, -(-size // MAX_PARTS))
        full_key = self._key(key)
        self._abort_abandoned(full_key)
        upload_id = self._client.create_multipart_upload(Bucket=self.bucket, Key=full_key)["UploadId"]
        try:
            with open(source, "rb", buffering=0) as handle, ThreadPoolExecutor(PART_JOBS) as pool:
                offsets = range(0, size, part_size)
                futures = [
                    pool.submit(self._upload_part, full_key, upload_id, number, handle.fileno(), offset,
                                min(part_size, size - offset), on_bytes)
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
        a store keeps (and bills) their parts until someone aborts them."""
        try:
            listed = self._client.list_multipart_uploads(Bucket=self.bucket, Prefix=full_key)
            for upload in listed.get("Uploads", ()):
                if upload.get("Key") == full_key:
                    self._client.abort_multipart_upload(Bucket=self.bucket, Key=full_key, UploadId=upload["UploadId"])
        except botocore.exceptions.ClientError:
            pass  # not allowed or not supported: the new upload does not depend on it

    def _upload_part(self, key: str, upload_id: str, number: int, fd: int, offset: int, length: int,
                     on_bytes: ByteCallback) -> dict[str, Any]:
        with self._part_slots:
            body = _FileRange(fd, offset, length)
            response = self._client.upload_part(
                Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body, ContentLength=length
            )
        on_bytes(length)
        return {"PartNumber": number, "ETag": response["ETag"]}

    def download(self, key: str, sink: Sink, on_bytes: ByteCallback) -> None:
        try:
            route = self._route()
            if route is not None:
                self._download_direct(route, key, sink, on_bytes)
                return
            response = self._client.get_object(Bucket=self.bucket, Key=self._key(key))
            body = response["Body"]
            while chunk := body.read(CHUNK_SIZE):
                sink.write(chunk)
                on_bytes(len(chunk))
        except Exception as error:  # noqa: BLE001
            raise _translate(error, self, key) from None

    def read_range(self, key: str, offset: int, length: int) -> bytes:
        check_range(offset, length)
        byte_range = f"bytes={offset}-{offset + length - 1}"
        try:
            route = self._route()
            if route is not None:
                response = self._send(route, "GET", key, headers={"Range": byte_range})
                if response.status_code == 416:
                    return b""
                if response.status_code not in (200, 206):
                    raise _client_error(response, "GetObject")
                data = response.content
                return data[offset : offset + length] if response.status_code == 200 else data[:length]
            return self._client.get_object(Bucket=self.bucket, Key=self._key(key), Range=byte_range)["Body"].read()[:length]
        except botocore.exceptions.ClientError as error:
            if _code(error) == "InvalidRange":
                return b""
            raise _translate(error, self, key) from None
        except Exception as error:  # noqa: BLE001
            raise _translate(error, self, key) from None

    def _download_direct(self, route: "_Route", key: str, sink: Sink, on_bytes: ByteCallback) -> None:
        response = self._send(route, "GET", key, stream=True)
        raw = response.raw
        try:
            if response.status_code != 200:
                raise _client_error(response, "GetObject")
            length = response.headers.get("content-length")
            if length is None and "chunked" not in response.headers.get("transfer-encoding", "").lower():
                # S3 always sends a length; without one the connection was cut inside the headers,
                # and the empty "body" that follows must not be mistaken for the object's content.
                raise TransientRemoteError(f"{self.url}: the response for {key} ended inside its headers")
            expected = int(length) if length is not None else -1
            received = 0
            while chunk := raw.read(CHUNK_SIZE):
                sink.write(chunk)
                received += len(chunk)
                on_bytes(len(chunk))
            if 0 <= expected != received:
                raise TransientRemoteError(f"{self.url}: the connection ended after {received} of {expected} bytes of {key}")
        except BaseException:
            raw.close()  # a connection left mid-body cannot serve another request
            raise
        raw.release_conn()

    def delete(self, key: str) -> None:
        try:
            self._client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as error:  # noqa: BLE001
            raise _translate(error, self, key) from None

    def url_of(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"


def _session(settings: Mapping[str, str]) -> boto3.session.Session:
    return boto3.session.Session(
        profile_name=settings.get("profile") or None,
        aws_access_key_id=settings.get("access_key_id") or None,
        aws_secret_access_key=settings.get("secret_access_key") or None,
        aws_session_token=settings.get("session_token") or None,
    )


def _client(session: boto3.session.Session, settings: Mapping[str, str], jobs: int, timeout: float) -> Any:
    # A custom endpoint (artver setting or AWS_ENDPOINT_URL[_S3]) is almost always an S3-compatible
    # store, where bucket-in-hostname addressing does not resolve.
    custom_endpoint = settings.get("endpoint_url") or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    return session.client(
        "s3",
        endpoint_url=settings.get("endpoint_url") or None,
        region_name=settings.get("region") or None,
        config=BotoConfig(
            retries={"total_max_attempts": 1},  # transfer.py retries, with backoff and jitter
            max_pool_connections=max(10, jobs * PART_JOBS),
            connect_timeout=min(timeout, 10.0),
            read_timeout=timeout,
            s3={"addressing_style": "path"} if custom_endpoint else None,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


@dataclass(frozen=True)
class _Route:
    """How direct requests reach the bucket (see the module docstring)."""

    usable: bool
    object_base: str = ""  # URL of the bucket's root as a folder: an object's URL is this + its quoted key
    bucket_url: str = ""  # URL for bucket-level requests (listing)
    region: str = ""  # what to sign for
    service: str = "s3"
    http: Any = None  # the client's botocore.httpsession.URLLib3Session: its pools, proxies and TLS settings


def _route_of(client: Any, bucket: str) -> _Route:
    """Make one HeadBucket request through the client and note where it went and what it
    was signed for: the URL botocore chose for the bucket (path or virtual-host style,
    custom endpoint, the region it was redirected to) and the SigV4 credential scope.
    If that request fails, or was not signed with SigV4, or this botocore keeps its HTTP
    session elsewhere, the client is not bypassed (and its own errors say what is wrong)."""
    http = getattr(getattr(client, "_endpoint", None), "http_session", None)
    if http is None or not hasattr(http, "send"):
        return _Route(False)
    sent: list[Any] = []

    def capture(request: Any, **_: Any) -> None:
        sent.append(request)

    event = "before-send.s3.HeadBucket"
    client.meta.events.register(event, capture)
    try:
        client.head_bucket(Bucket=bucket)
    except Exception:  # noqa: BLE001 - any failure: stay on the client's path
        return _Route(False)
    finally:
        client.meta.events.unregister(event, capture)
    if not sent:
        return _Route(False)
    request = sent[-1]
    authorization = request.headers.get("Authorization", b"")
    if isinstance(authorization, bytes):
        authorization = authorization.decode("latin-1")
    scheme, _, fields = authorization.partition(" ")
    credential = fields.partition("Credential=")[2].split(",", 1)[0].split("/")
    if scheme != "AWS4-HMAC-SHA256" or len(credential) != 5:
        return _Route(False)
    parts = urlsplit(request.url)
    origin = f"{parts.scheme}://{parts.netloc}"
    bucket_path = parts.path or "/"
    return _Route(True, origin + bucket_path.rstrip("/") + "/", origin + bucket_path, credential[2], credential[3], http)


@dataclass(frozen=True)
class _ListingPage:
    items: list[tuple[str, int]]
    truncated: bool
    token: str | None


def _parse_listing(body: bytes) -> _ListingPage:
    """A ListObjectsV2 result: the keys with their sizes, and where the next page starts."""
    root = ElementTree.fromstring(body)
    items = []
    truncated, token = False, None
    for element in root:
        tag = element.tag.rpartition("}")[2]  # with or without the S3 namespace
        if tag == "Contents":
            key, size = None, 0
            for field in element:
                name = field.tag.rpartition("}")[2]
                if name == "Key":
                    key = field.text or ""
                elif name == "Size":
                    size = int(field.text or 0)
            if key is not None:
                items.append((key, size))
        elif tag == "IsTruncated":
            truncated = (element.text or "").strip().lower() == "true"
        elif tag == "NextContinuationToken":
            token = element.text
    return _ListingPage(items, truncated, token)


def _quote_query(value: str) -> str:
    return quote(value, safe="-_.~")


def _client_error(response: AWSResponse, operation: str) -> botocore.exceptions.ClientError:
    """The ClientError botocore would have raised for this error response, so that one
    translation serves both paths."""
    code, message = str(response.status_code), ""
    body = b"" if response.raw is None else response.content
    if body:
        try:
            root = ElementTree.fromstring(body)
            code = root.findtext("Code") or code
            message = root.findtext("Message") or ""
        except ElementTree.ParseError:
            pass
    return botocore.exceptions.ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": response.status_code}},
        operation,
    )


class _FileRange:
    """A seekable, read-only view of part of a file, so botocore can stream and
    re-read (for checksums and retries) a part without it being held in memory."""

    def __init__(self, fd: int, offset: int, length: int) -> None:
        self._fd, self._offset, self._length, self._position = fd, offset, length, 0

    def read(self, size: int = -1) -> bytes:
        remaining = self._length - self._position
        if size is None or size < 0 or size > remaining:
            size = remaining
        data = os.pread(self._fd, size, self._offset + self._position) if size else b""
        self._position += len(data)
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
    except Exception:  # noqa: BLE001
        return True


def _no_bucket(storage: S3Storage) -> str:
    return f"{storage.url}: bucket {storage.bucket!r} does not exist (create it, or fix the URL with 'artver remote modify')"


def _translate(error: BaseException, storage: S3Storage, key: str) -> ArtverError:
    """The artver error for a failure of botocore or of the direct path (or, unchanged, an
    artver error that passed through: a sink's). ``key`` is empty for bucket operations."""
    where = storage.url
    if isinstance(error, ArtverError):
        return error
    if isinstance(error, botocore.exceptions.ClientError):
        code = _code(error)
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code == "NoSuchBucket" or (code in ("404", "NotFound") and not (key and _bucket_exists(storage))):
            # A bare 404 (an answer without a body, as to HEAD) may be either: ask the store.
            return ContainerNotFoundError(_no_bucket(storage))
        if code in ("NoSuchKey", "404", "NotFound"):
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
        return RemoteError(
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
