"""A client for an OCI registry (the OCI distribution API), as much of it as publishing needs.

* **Auth.** The first request (``GET /v2/``) tells how to log in
  (``WWW-Authenticate``): ``Basic`` (credentials on every request) or
  ``Bearer`` (credentials sent once to the token service named by ``realm``, for
  a token scoped to pushing this repository and pulling the repositories blobs
  may be mounted from). A token that expires during a long upload is renewed
  once, and the request sent again.
* **Blobs.** ``HEAD`` says whether the registry has a digest; a blob it has in
  another repository is *mounted* (``POST ?mount=&from=``), not sent. Uploads
  are chunked (``POST``, then ``PATCH`` per chunk, then ``PUT ?digest=``), so a
  blob of any size streams from its source without being held in memory, and
  its sha256 is computed as it is sent: the digest is only needed by the last
  request. A blob whose digest is known and that fits in one chunk goes in one
  ``PUT``. A failed upload is cancelled (``DELETE``) and started again from its
  first byte: the registry keeps nothing of it under the digest.
* **Manifests** are put by tag, last, by the caller.

Every response is untrusted: bodies are read up to a limit, error messages are
cut and stripped of control characters, and credentials are only ever sent to
the registry's host and to the token service it names, over HTTPS unless
``insecure`` (a plain-HTTP registry) was asked for.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, cast
from urllib.parse import quote, urlencode, urljoin, urlsplit

import urllib3

from artver import __version__
from artver.errors import IntegrityError, RemoteError, TransientRemoteError
from artver.oci_credentials import WHERE_LOOKED, Credentials
from artver.progress import NO_PROGRESS, Progress
from artver.remotes.retry import RetryPolicy, with_retries

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MANIFEST_ACCEPT = ", ".join((
    OCI_MANIFEST,
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
))
MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # what registries accept (the distribution registry's limit)
MAX_RESPONSE_BYTES = 1024 * 1024  # error documents and tokens; anything longer is cut
DEFAULT_CHUNK_SIZE = 64 * 1024 * 1024
IO_BLOCK = 1024 * 1024
CONNECT_TIMEOUT = 30.0
READ_TIMEOUT = 300.0  # a registry may take a while to commit a large blob after its last byte
USER_AGENT = f"artver/{__version__}"
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_CHALLENGE_PARAM = re.compile(r'([A-Za-z_]+)=(?:"((?:[^"\\]|\\.)*)"|([^\s,"]+))')
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]+")


class DigestMismatch(IntegrityError):
    """The registry refused a blob: its bytes do not hash to the digest it was uploaded as."""


class BlobSource(Protocol):
    """The bytes of one blob, readable from any offset (an upload may start again)."""

    size: int

    def open_at(self, offset: int) -> BlobReader: ...


class BlobReader(Protocol):
    def read(self, amount: int) -> bytes: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Challenge:
    scheme: str  # lowercase: "basic" or "bearer"
    params: tuple[tuple[str, str], ...]

    def get(self, name: str) -> str | None:
        return next((value for key, value in self.params if key == name), None)


def parse_challenge(values: Iterable[str]) -> Challenge | None:
    """The WWW-Authenticate challenge to answer: Bearer if offered, else Basic."""
    found: list[Challenge] = []
    for value in values:
        scheme, _, rest = value.strip().partition(" ")
        if scheme.lower() not in ("basic", "bearer"):
            continue
        params = tuple(
            (match.group(1).lower(), match.group(2).replace('\\"', '"') if match.group(2) is not None else match.group(3))
            for match in _CHALLENGE_PARAM.finditer(rest)
        )
        found.append(Challenge(scheme.lower(), params))
    found.sort(key=lambda challenge: challenge.scheme != "bearer")
    return found[0] if found else None


def clean(text: str, limit: int = 200) -> str:
    """A server-supplied string made fit for a one-line message."""
    flat = _UNPRINTABLE.sub(" ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def error_detail(data: bytes) -> str:
    """'CODE: message' from an OCI error document ({"errors": [{"code", "message"}]}), if it is one."""
    try:
        document = json.loads(data)
        first = document["errors"][0]
        code, message = str(first.get("code", "")), str(first.get("message", ""))
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return ""
    return clean(f"{code}: {message}" if code and message else code or message)


@dataclass(frozen=True)
class Response:
    status: int
    headers: urllib3.HTTPHeaderDict
    data: bytes


class Registry:
    """One registry, to push one repository (and pull from ``mount_sources`` for mounts).

    Holds a connection pool and the current authorization; use as a context manager.
    """

    def __init__(
        self,
        host: str,
        repository: str,
        credentials: Credentials | None,
        insecure: bool = False,
        mount_sources: tuple[str, ...] = (),
        policy: RetryPolicy = RetryPolicy(),
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> None:
        self.host = host
        self.repository = repository
        self.insecure = insecure
        self.base = f"{'http' if insecure else 'https'}://{host}"
        self.policy = policy
        self.chunk_size = chunk_size
        self._credentials = credentials
        self.mount_sources = mount_sources
        self._authorization: str | None = None
        self._pool = urllib3.PoolManager(
            retries=False,
            timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT),
            blocksize=IO_BLOCK,
            maxsize=4,
        )

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.clear()

    # ------------------------------------------------------------------ requests

    def _url(self, path: str) -> str:
        return f"{self.base}/v2/{self.repository}/{path}"

    def _same_host(self, url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme == urlsplit(self.base).scheme and parts.netloc == self.host

    def _send(
        self,
        method: str,
        url: str,
        headers: dict[str, str] | None = None,
        body: Callable[[], bytes | _Reading] | None = None,
        what: str = "",
        limit: int = MAX_RESPONSE_BYTES,
    ) -> Response:
        """One request, authenticating (once) if the registry asks. Connection problems and
        5xx/429 answers raise TransientRemoteError; other answers are returned as they are."""
        response: Response | None = None
        for attempt in (1, 2):
            sent = {"User-Agent": USER_AGENT, **(headers or {})}
            if self._authorization and self._same_host(url):
                sent["Authorization"] = self._authorization
            payload = body() if body is not None else None
            follow = method in ("GET", "HEAD")
            try:
                raw = self._pool.request(
                    method, url, headers=sent, body=cast(Any, payload), preload_content=False, redirect=follow,
                    retries=urllib3.Retry(total=None, connect=0, read=0, status=0, other=0,
                                          redirect=5 if follow else 0, raise_on_redirect=False),
                )
            except urllib3.exceptions.HTTPError as error:
                raise self._connection_error(error, what) from None
            finally:
                if isinstance(payload, _Reading):
                    payload.close()
            response = Response(raw.status, raw.headers, b"" if method == "HEAD" else _read_limited(raw, limit))
            if method == "HEAD":
                raw.release_conn()
            if response.status == 401 and self._same_host(url):
                if attempt == 2:
                    break
                self._authenticate(response, had_authorization="Authorization" in sent)
                continue
            if response.status >= 500 or response.status == 429:
                raise TransientRemoteError(self._describe(response, what))
            return response
        assert response is not None
        if self._authorization and self._authorization.startswith("Basic "):
            raise self._bad_credentials()  # Basic credentials are checked on every request: these are wrong
        raise self._refused(response, what)

    def _connection_error(self, error: Exception, what: str) -> RemoteError:
        reason = getattr(error, "reason", None) or error
        if isinstance(reason, urllib3.exceptions.SSLError) or "SSL" in type(reason).__name__:
            text = str(reason)
            hint = "for a plain-HTTP registry use --insecure" if "WRONG_VERSION_NUMBER" in text or "wrong version" in text \
                else "if it uses a private certificate authority, point SSL_CERT_FILE at that CA's certificate"
            detail = "certificate verify failed" if "CERTIFICATE_VERIFY_FAILED" in text else clean(text, 120)
            return RemoteError(f"registry {self.host}: TLS failed ({detail}); {hint}")
        return TransientRemoteError(f"registry {self.host}: {what or 'request'} failed: {clean(str(reason), 160)}")

    def _describe(self, response: Response, what: str) -> str:
        detail = error_detail(response.data)
        return f"registry {self.host}: {what} failed: HTTP {response.status}" + (f" {detail}" if detail else "")

    def _fail(self, response: Response, what: str) -> RemoteError:
        if response.status in (401, 403):
            return self._refused(response, what)
        return RemoteError(self._describe(response, what))

    def _refused(self, response: Response, what: str) -> RemoteError:
        if self._credentials is None:
            return self._login_needed(what)
        detail = error_detail(response.data)
        return RemoteError(
            f"registry {self.host}: user '{clean(self._credentials.username, 60)}' may not {what or 'do this'} in "
            f"{self.repository} (HTTP {response.status}{' ' + detail if detail else ''})"
        )

    def _login_needed(self, what: str) -> RemoteError:
        return RemoteError(
            f"registry {self.host} requires a login to {what or 'push'} in {self.repository}, and no credentials for it "
            f"were found ({WHERE_LOOKED}); log in with 'docker login {self.host}'"
        )

    # ---------------------------------------------------------------------- auth

    def _authenticate(self, response: Response, had_authorization: bool) -> None:
        challenge = parse_challenge(response.headers.getlist("WWW-Authenticate"))
        if challenge is None:
            raise RemoteError(f"registry {self.host}: answered 401 without a usable WWW-Authenticate challenge")
        if challenge.scheme == "basic":
            credentials = self._require_credentials()
            if had_authorization:
                raise self._bad_credentials()
            self._authorization = "Basic " + _basic(credentials)
            return
        self._authorization = "Bearer " + self._token(challenge)

    def _require_credentials(self) -> Credentials:
        if self._credentials is None:
            raise self._login_needed("push")
        return self._credentials

    def _bad_credentials(self) -> RemoteError:
        assert self._credentials is not None
        return RemoteError(
            f"registry {self.host} refused the credentials from {self._credentials.source} (HTTP 401); "
            f"check the user name and password (e.g. log in again with 'docker login {self.host}')"
        )

    def _token(self, challenge: Challenge) -> str:
        realm = challenge.get("realm") or ""
        parts = urlsplit(realm)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise RemoteError(f"registry {self.host}: the token service {clean(realm, 100)!r} is not an HTTP(S) URL")
        if parts.scheme == "http" and not self.insecure and self._credentials is not None:
            raise RemoteError(
                f"registry {self.host}: its token service {clean(realm, 100)} is plain HTTP; refusing to send "
                f"credentials there (use --insecure only for a test registry)"
            )
        query: list[tuple[str, str]] = []
        if challenge.get("service"):
            query.append(("service", challenge.get("service") or ""))
        query.append(("scope", f"repository:{self.repository}:pull,push"))
        query += [("scope", f"repository:{source}:pull") for source in self.mount_sources]
        url = realm + ("&" if parts.query else "?") + urlencode(query)
        headers = {"User-Agent": USER_AGENT}
        if self._credentials:
            headers["Authorization"] = "Basic " + _basic(self._credentials)
        try:
            raw = self._pool.request("GET", url, headers=headers, preload_content=False)
        except urllib3.exceptions.HTTPError as error:
            raise self._connection_error(error, "token request") from None
        data = _read_limited(raw)
        if raw.status in (401, 403):
            if self._credentials is None:
                self._require_credentials()
            raise self._bad_credentials()
        if raw.status >= 500 or raw.status == 429:
            raise TransientRemoteError(f"registry {self.host}: token service answered HTTP {raw.status}")
        if raw.status != 200:
            detail = error_detail(data)
            raise RemoteError(f"registry {self.host}: token service answered HTTP {raw.status}{' ' + detail if detail else ''}")
        try:
            document = json.loads(data)
            token = document.get("token") or document.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token or not token.isascii() or not token.isprintable():
            raise RemoteError(f"registry {self.host}: the token service answered without a usable token")
        return token

    # --------------------------------------------------------------------- calls

    def ping(self) -> None:
        """Check the API answers (and log in): GET /v2/."""

        def attempt() -> None:
            response = self._send("GET", f"{self.base}/v2/", what="connect")
            if response.status == 400 and self.insecure:
                raise RemoteError(f"registry {self.host}: answered HTTP 400 to plain HTTP; it may want HTTPS (drop --insecure)")
            if response.status != 200:
                raise self._fail(response, "connect")

        with_retries(attempt, self.policy)

    def blob_size(self, digest: str) -> int | None:
        """The size of the blob if the repository has it, else None."""

        def attempt() -> int | None:
            response = self._send("HEAD", self._url(f"blobs/{digest}"), what=f"check blob {digest}")
            if response.status == 404:
                return None
            if response.status != 200:
                raise self._fail(response, f"check blob {digest}")
            length = response.headers.get("Content-Length", "")
            return int(length) if length.isdigit() else -1

        return with_retries(attempt, self.policy)

    def mount(self, digest: str, source: str) -> bool:
        """Make the repository share a blob another repository of the registry has; True if done."""

        def attempt() -> bool:
            url = self._url("blobs/uploads/") + "?" + urlencode({"mount": digest, "from": source})
            response = self._send("POST", url, headers={"Content-Length": "0"}, what=f"mount blob {digest}")
            if response.status == 201:
                return True
            if response.status == 202:  # not mounted: the registry opened an upload session instead
                self._cancel(self._location(response))
                return False
            if response.status in (401, 403, 404):
                return False  # no right to read the source, or it is gone: upload instead
            raise self._fail(response, f"mount blob {digest}")

        return with_retries(attempt, self.policy)

    def upload(self, source: BlobSource, digest: str | None, what: str, progress: Progress = NO_PROGRESS) -> str:
        """Upload a blob; return its digest. Without ``digest``, the sha256 is computed while the
        bytes are sent; with it, the registry checks the bytes against it (DigestMismatch if they
        differ) and nothing is committed unless they match."""
        return with_retries(lambda: self._upload_once(source, digest, what, progress), self.policy)

    def _upload_once(self, source: BlobSource, expected: str | None, what: str, progress: Progress) -> str:
        location = self._start_upload(what)
        try:
            if expected is not None and source.size <= self.chunk_size:
                self._commit(location, expected, _Body(source, 0, source.size, None, progress, what), what)
                return expected
            hasher = None if expected is not None else hashlib.sha256()
            offset = 0
            while offset < source.size:
                length = min(self.chunk_size, source.size - offset)
                body = _Body(source, offset, length, hasher, progress, what)
                headers = {
                    "Content-Type": "application/octet-stream",
                    "Content-Length": str(length),
                    "Content-Range": f"{offset}-{offset + length - 1}",
                }
                response = self._send("PATCH", location, headers, body.open, what=f"upload {what}")
                if response.status != 202:
                    raise self._fail(response, f"upload {what}")
                hasher = body.hasher_after()
                location = self._location(response)
                offset += length
            digest = expected if expected is not None else "sha256:" + hasher.hexdigest()  # type: ignore[union-attr]  # hasher is None only when expected is given
            self._commit(location, digest, None, what)
            return digest
        except BaseException:
            self._cancel(location)
            raise

    def _start_upload(self, what: str) -> str:
        response = self._send("POST", self._url("blobs/uploads/"), headers={"Content-Length": "0"}, what=f"upload {what}")
        if response.status != 202:
            raise self._fail(response, f"upload {what}")
        return self._location(response)

    def _commit(self, location: str, digest: str, body: _Body | None, what: str) -> None:
        """The last request of an upload: PUT ?digest=, with the last bytes (or all of them) if any."""
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(body.length if body else 0)}
        url = location + ("&" if urlsplit(location).query else "?") + "digest=" + quote(digest, safe="")
        response = self._send("PUT", url, headers, body.open if body and body.length else None, what=f"upload {what}")
        if response.status == 400 and "DIGEST_INVALID" in error_detail(response.data):
            raise DigestMismatch(f"registry {self.host}: the bytes of {what} do not hash to {digest}; nothing was committed")
        if response.status != 201:
            raise self._fail(response, f"upload {what}")

    def _cancel(self, location: str) -> None:
        """Abandon an upload session (best effort: a registry also expires them by itself)."""
        try:
            self._send("DELETE", location, what="cancel upload")
        except RemoteError:
            pass

    def _location(self, response: Response) -> str:
        location = response.headers.get("Location", "")
        if not location:
            raise RemoteError(f"registry {self.host}: answered an upload request without a Location")
        url = urljoin(self.base + "/", location)
        if urlsplit(url).scheme not in ("http", "https"):
            raise RemoteError(f"registry {self.host}: upload Location {clean(location, 100)!r} is not an HTTP(S) URL")
        return url

    def manifest_digest(self, tag: str) -> str | None:
        """The digest of the manifest the tag points to, or None if there is no such tag."""

        def attempt() -> str | None:
            url = self._url(f"manifests/{tag}")
            response = self._send("HEAD", url, headers={"Accept": MANIFEST_ACCEPT}, what=f"check tag {tag}")
            if response.status == 404:
                return None
            if response.status != 200:
                raise self._fail(response, f"check tag {tag}")
            digest = response.headers.get("Docker-Content-Digest", "")
            if _DIGEST.fullmatch(digest):
                return digest
            response = self._send("GET", url, headers={"Accept": MANIFEST_ACCEPT}, what=f"read tag {tag}",
                                  limit=MAX_MANIFEST_BYTES)
            if response.status != 200:
                raise self._fail(response, f"read tag {tag}")
            return "sha256:" + hashlib.sha256(response.data).hexdigest()

        return with_retries(attempt, self.policy)

    def put_manifest(self, tag: str, data: bytes) -> str:
        """Point the tag at this manifest; return its digest."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()

        def attempt() -> None:
            headers = {"Content-Type": OCI_MANIFEST, "Content-Length": str(len(data))}
            response = self._send("PUT", self._url(f"manifests/{tag}"), headers, lambda: data, what=f"tag {tag}")
            if response.status != 201:
                raise self._fail(response, f"put the manifest of tag {tag}")
            answered = response.headers.get("Docker-Content-Digest", digest)
            if _DIGEST.fullmatch(answered) and answered != digest:
                raise RemoteError(f"registry {self.host}: stored the manifest of {tag} as {answered}, not {digest}")

        with_retries(attempt, self.policy)
        return digest


class _Body:
    """The body of one upload request: ``length`` bytes of a blob from ``offset``, counted (and
    hashed, when the digest is not known) as they are read. Each send reads a fresh copy: a
    request sent again after a renewed token must not be hashed twice."""

    def __init__(self, source: BlobSource, offset: int, length: int, hasher: hashlib._Hash | None,
                 progress: Progress, what: str) -> None:
        self.source = source
        self.offset = offset
        self.length = length
        self.start_state = hasher
        self.progress = progress
        self.what = what
        self.last: _Reading | None = None

    def open(self) -> _Reading:
        state = self.start_state.copy() if self.start_state is not None else None
        self.last = _Reading(self.source.open_at(self.offset), self.length, state, self.progress, self.what)
        return self.last

    def hasher_after(self) -> hashlib._Hash | None:
        """The hash state after the bytes of the last send, once the registry accepted them all."""
        assert self.last is not None
        if self.last.remaining:
            raise TransientRemoteError(f"{self.what}: the registry answered before receiving the whole chunk")
        return self.last.hasher


class _Reading:
    def __init__(self, reader: BlobReader, count: int, hasher: hashlib._Hash | None, progress: Progress, what: str) -> None:
        self.reader = reader
        self.remaining = count
        self.hasher = hasher
        self.progress = progress
        self.what = what

    def read(self, amount: int = -1) -> bytes:
        if self.remaining <= 0:
            return b""
        wanted = self.remaining if amount is None or amount < 0 else min(amount, self.remaining)
        data = self.reader.read(min(wanted, IO_BLOCK))
        if not data:
            raise IntegrityError(f"{self.what}: its source ended {self.remaining} bytes early")
        if self.hasher is not None:
            self.hasher.update(data)
        self.remaining -= len(data)
        self.progress.advance(len(data))
        return data

    def close(self) -> None:
        self.reader.close()


def _basic(credentials: Credentials | None) -> str:
    assert credentials is not None
    return base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode("ascii")


def _read_limited(raw: urllib3.BaseHTTPResponse, limit: int = MAX_RESPONSE_BYTES) -> bytes:
    try:
        data = raw.read(limit + 1)
    except urllib3.exceptions.HTTPError:
        raw.close()
        return b""
    if len(data) > limit:
        raw.close()  # longer than anything we need to read: drop the connection rather than drain it
        return data[:limit]
    raw.release_conn()
    return data
