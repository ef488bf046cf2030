"""S3 and S3-compatible stores (AWS, SeaweedFS, MinIO, Ceph, R2) through boto3.

Credentials come from boto3's own default chain (environment variables,
profile, instance metadata) unless ``access_key_id``/``secret_access_key`` are
set in ``.artver/config.local``. ``endpoint_url``, ``region`` and ``profile``
may be set per remote; ``AWS_ENDPOINT_URL(_S3)`` work with no setting at all.

Small objects are sent with one PUT carrying ``If-None-Match: *`` so an
existing key is never replaced. Large ones go up in a multipart upload whose
parts are read straight from the file (no part is held in memory); a failed
upload is aborted, so nothing partial is ever visible under the final key.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO, Iterator, Mapping, Sequence

import boto3
import botocore.exceptions
import urllib3
from botocore.config import Config as BotoConfig

from artver.errors import RemoteError, TransientRemoteError
from artver.remotes.base import join_key
from artver.hashing import CHUNK_SIZE, ByteCallback

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
    def __init__(self, url: str, bucket: str, prefix: str, settings: Mapping[str, str], jobs: int) -> None:
        self.url = url
        self.bucket = bucket
        self.prefix = prefix
        timeout = _timeout(settings, url)
        try:
            self._client = _client(settings, jobs, timeout)
        except botocore.exceptions.ProfileNotFound as error:
            raise RemoteError(f"{url}: {error}; fix the remote's profile or AWS_PROFILE") from None
        except ValueError as error:
            raise RemoteError(f"{url}: invalid endpoint_url or region ({error})") from None
        except botocore.exceptions.BotoCoreError as error:
            raise RemoteError(f"{url}: {error}") from None
        self._part_slots = threading.BoundedSemaphore(PART_JOBS * 2)

    def _key(self, key: str) -> str:
        return join_key(self.prefix, key)

    def exists(self, keys: Sequence[str]) -> dict[str, int]:
        present = {}
        for key in keys:
            try:
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
            raise RemoteError(_no_bucket(self))
        return present

    def _explain_forbidden(self, key: str) -> None:
        """A HEAD answer has no body, so a 403 does not say why; ask a request that does."""
        try:
            self._client.list_objects_v2(Bucket=self.bucket, Prefix=self._key(key), MaxKeys=1)
        except botocore.exceptions.ClientError as error:
            raise _translate(error, self, key) from None

    def list(self, prefix: str) -> Iterator[tuple[str, int]]:
        paginator = self._client.get_paginator("list_objects_v2")
        strip = len(self.prefix) + 1 if self.prefix else 0
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
                for item in page.get("Contents", ()):
                    yield item["Key"][strip:], item["Size"]
        except Exception as error:  # noqa: BLE001
            raise _translate(error, self, prefix) from None

    def upload(self, key: str, source: str, on_bytes: ByteCallback) -> None:
        size = os.stat(source).st_size
        try:
            if size < MULTIPART_THRESHOLD:
                with open(source, "rb") as body:
                    # Content-MD5 lets the server refuse a body cut short, instead of storing
                    # what arrived under the final key (SeaweedFS stores a cut PUT as empty).
                    digest = base64.b64encode(hashlib.md5(body.read(), usedforsecurity=False).digest()).decode()
                    body.seek(0)
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
        except (RemoteError, TransientRemoteError):
            raise
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

    def download(self, key: str, sink: BinaryIO, on_bytes: ByteCallback) -> None:
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=self._key(key))
            body = response["Body"]
            while chunk := body.read(CHUNK_SIZE):
                sink.write(chunk)
                on_bytes(len(chunk))
        except Exception as error:  # noqa: BLE001
            raise _translate(error, self, key) from None

    def delete(self, key: str) -> None:
        try:
            self._client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as error:  # noqa: BLE001
            raise _translate(error, self, key) from None

    def url_of(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"


def _timeout(settings: Mapping[str, str], url: str) -> float:
    try:
        return float(settings.get("timeout", "60"))
    except ValueError:
        raise RemoteError(f"{url}: timeout {settings.get('timeout')!r} must be a number of seconds") from None


def _client(settings: Mapping[str, str], jobs: int, timeout: float) -> Any:
    session = boto3.session.Session(
        profile_name=settings.get("profile") or None,
        aws_access_key_id=settings.get("access_key_id") or None,
        aws_secret_access_key=settings.get("secret_access_key") or None,
        aws_session_token=settings.get("session_token") or None,
    )
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


def _translate(error: BaseException, storage: S3Storage, key: str) -> RemoteError:
    where = storage.url
    if isinstance(error, botocore.exceptions.ClientError):
        code = _code(error)
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code == "NoSuchBucket":
            return RemoteError(_no_bucket(storage))
        if code in ("NoSuchKey", "404", "NotFound"):
            return RemoteError(f"{where}: object {key} does not exist in the remote")
        if code in _CREDENTIAL_CODES:
            return RemoteError(
                f"{where}: the credentials were rejected ({code}); check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
                f"the profile, or the remote's access_key_id/secret_access_key in .artver/config.local"
            )
        if code in ("AccessDenied", "403", "AllAccessDisabled"):
            return RemoteError(f"{where}: permission denied ({code}) for {key or 'the bucket'}")
        if code in _TRANSIENT_CODES or status >= 500:
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
