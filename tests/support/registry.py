"""A real OCI registry on loopback for tests, and what stands around it.

* :func:`start_registry`: the CNCF distribution registry (Debian's
  ``docker-registry`` package, ``docker-registry serve CONFIG``), on
  127.0.0.1 with a free port and filesystem storage in a temp dir, optionally
  with htpasswd (Basic) auth, token (Bearer) auth or TLS. ``stop()`` ends it
  by its pid.
* :class:`Relay`: a loopback HTTP relay between a client and the registry that
  records every request (method, path, body bytes) — evidence of what a client
  really sent, independent of the client's own figures — and can hold a
  request's body after N bytes (to kill the client mid-upload) or answer some
  requests with an error instead of forwarding them.
* :func:`start_token_service`: a token service for the registry's token auth:
  checks a user name and password (Basic) and answers a JWT signed with a key
  whose self-signed certificate the registry trusts.
* :func:`self_signed`: a key and self-signed certificate for 127.0.0.1.

Every process and thread is started by the test run and stopped by it.
"""

from __future__ import annotations

import base64
import datetime
import http.client
import ipaddress
import json
import os
import shutil
import signal
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from .servers import LOOPBACK, free_port

REGISTRY_BINARY = "docker-registry"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
HTTP_TIMEOUT = 30.0


class MissingTool(RuntimeError):
    pass


def require(binary: str, package: str) -> str:
    found = shutil.which(binary)
    if found is None:
        raise MissingTool(f"'{binary}' is not installed: run ./scripts/test.sh (it installs the Debian package {package})")
    return found


class _QuietServer(ThreadingHTTPServer):
    """A threading HTTP server that does not print a traceback when a client goes away mid-request
    (the tests kill clients on purpose)."""

    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- certificates


def self_signed(directory: Path, name: str = "registry") -> tuple[Path, Path]:
    """(certificate, key) PEM files for 127.0.0.1, self-signed, usable as their own CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"artver test {name}")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOOPBACK))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


# ----------------------------------------------------------------------------- token service


@dataclass
class TokenService:
    url: str  # the realm
    certificate: Path
    service: str
    issuer: str
    requests: list[dict[str, list[str]]]
    server: ThreadingHTTPServer
    thread: threading.Thread

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=STOP_TIMEOUT)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def start_token_service(directory: Path, username: str, password: str) -> TokenService:
    """Grants what is asked to ``username``/``password``, pull only to anonymous clients, 401 otherwise."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    cert_path, key_path = self_signed(directory, "token-signer")
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    der = ssl.PEM_cert_to_DER_cert(cert_path.read_text())
    service, issuer = "artver-test-registry", "artver-test-issuer"
    requests: list[dict[str, list[str]]] = []
    expected = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            query = parse_qs(urlsplit(self.path).query)
            requests.append(query)
            given = self.headers.get("Authorization")
            if given is not None and given != expected:
                self._answer(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]})
                return
            access = []
            for scope in query.get("scope", []):
                kind, _, rest = scope.partition(":")
                name, _, actions = rest.rpartition(":")
                granted = actions.split(",") if given is not None else [a for a in actions.split(",") if a == "pull"]
                access.append({"type": kind, "name": name, "actions": granted})
            now = int(time.time())
            claims = {"iss": issuer, "sub": username if given else "", "aud": service, "exp": now + 300,
                      "nbf": now - 10, "iat": now, "jti": os.urandom(8).hex(), "access": access}
            header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
            signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
            signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr,call-arg]
            token = f"{signing_input}.{_b64url(signature)}"
            self._answer(200, {"token": token, "access_token": token, "expires_in": 300})

        def _answer(self, status: int, document: object) -> None:
            body = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = _QuietServer((LOOPBACK, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    url = f"http://{LOOPBACK}:{server.server_address[1]}/token"
    return TokenService(url, cert_path, service, issuer, requests, server, thread)


# ----------------------------------------------------------------------------- registry


@dataclass
class RegistryServer:
    host: str  # 127.0.0.1:PORT
    scheme: str
    storage: Path
    log: Path
    process: subprocess.Popen[bytes]
    certificate: Path | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=STOP_TIMEOUT)
        else:
            self.process.wait(timeout=STOP_TIMEOUT)


def _config(port: int, storage: Path, htpasswd: Path | None, token: TokenService | None, tls: tuple[Path, Path] | None) -> str:
    lines = [
        "version: 0.1",
        "log:",
        "  level: info",
        "  accesslog:",
        "    disabled: true",
        "storage:",
        "  filesystem:",
        f"    rootdirectory: {storage}",
        "  delete:",
        "    enabled: true",
        "  maintenance:",
        "    uploadpurging:",
        "      enabled: false",
        "http:",
        f"  addr: {LOOPBACK}:{port}",
        "  secret: artver-test-upload-state-secret",
    ]
    if tls is not None:
        lines += ["  tls:", f"    certificate: {tls[0]}", f"    key: {tls[1]}"]
    if htpasswd is not None:
        lines += ["auth:", "  htpasswd:", "    realm: artver-test", f"    path: {htpasswd}"]
    if token is not None:
        lines += ["auth:", "  token:", f"    realm: {token.url}", f"    service: {token.service}",
                  f"    issuer: {token.issuer}", f"    rootcertbundle: {token.certificate}"]
    return "\n".join(lines) + "\n"


def start_registry(
    workdir: Path,
    *,
    htpasswd: Path | None = None,
    token: TokenService | None = None,
    tls: tuple[Path, Path] | None = None,
) -> RegistryServer:
    binary = require(REGISTRY_BINARY, "docker-registry")
    storage = workdir / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    last_error = ""
    for _ in range(3):
        port = free_port()
        config = workdir / "config.yml"
        config.write_text(_config(port, storage, htpasswd, token, tls))
        log = workdir / "registry.log"
        with open(log, "ab") as sink:
            process = subprocess.Popen(
                [binary, "serve", str(config)], cwd=workdir, stdin=subprocess.DEVNULL, stdout=sink,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
        server = RegistryServer(f"{LOOPBACK}:{port}", "https" if tls else "http", storage, log, process,
                                tls[0] if tls else None)
        if _wait_ready(server):
            return server
        server.stop()
        last_error = log.read_text(errors="replace")[-3000:]
    raise RuntimeError(f"docker-registry did not start:\n{last_error}")


def _wait_ready(server: RegistryServer) -> bool:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        try:
            status, _, _ = registry_request(server, "GET", "/v2/")
            if status in (200, 401):
                return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def registry_request(
    server: RegistryServer, method: str, path: str, headers: dict[str, str] | None = None, auth: tuple[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """A request straight to the registry (not through artver): (status, headers, body)."""
    context = ssl.create_default_context(cafile=str(server.certificate)) if server.certificate else None
    sent = dict(headers or {})
    if auth is not None:
        sent["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))
    try:
        with opener.open(urllib.request.Request(server.url + path, method=method, headers=sent), timeout=HTTP_TIMEOUT) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


MANIFEST_ACCEPT = "application/vnd.oci.image.manifest.v1+json"


def tags(server: RegistryServer, repository: str, auth: tuple[str, str] | None = None) -> list[str]:
    status, _, body = registry_request(server, "GET", f"/v2/{repository}/tags/list", auth=auth)
    if status == 404:
        return []
    assert status == 200, (status, body)
    return list(json.loads(body).get("tags") or [])


def assert_every_tag_complete(server: RegistryServer, repository: str, auth: tuple[str, str] | None = None) -> int:
    """Every tag of the repository points to a manifest whose config and layers are all present; the tag count."""
    found = tags(server, repository, auth)
    for tag in found:
        status, _, body = registry_request(server, "GET", f"/v2/{repository}/manifests/{tag}", {"Accept": MANIFEST_ACCEPT}, auth)
        assert status == 200, (tag, status)
        manifest = json.loads(body)
        for descriptor in [manifest["config"], *manifest["layers"]]:
            status, headers, _ = registry_request(server, "HEAD", f"/v2/{repository}/blobs/{descriptor['digest']}", auth=auth)
            assert status == 200, f"tag {tag} points to a manifest whose blob {descriptor['digest']} is missing"
            assert int(headers["Content-Length"]) == descriptor["size"]
    return len(found)


# ----------------------------------------------------------------------------- relay


@dataclass(frozen=True)
class Record:
    method: str
    path: str
    body_bytes: int
    status: int


@dataclass
class Relay:
    """Loopback HTTP relay to ``target`` (host:port, plain HTTP) that records every request."""

    target: str
    records: list[Record] = field(default_factory=list)
    hold_after: int | None = None  # stop forwarding request bodies once this many body bytes went through
    fail: Callable[[str, str], int | None] | None = None  # (method, path) -> a status to answer instead
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    body_bytes: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None
    thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        assert self.server is not None
        return f"{LOOPBACK}:{self.server.server_address[1]}"

    def start(self) -> Relay:
        relay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:  # noqa: N802
                relay._forward(self)

            do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET  # noqa: N815

        self.server = _QuietServer((LOOPBACK, 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        if self.thread is not None:
            self.thread.join(timeout=STOP_TIMEOUT)

    def reset(self) -> None:
        with self.lock:
            self.records.clear()
            self.body_bytes = 0

    def requests(self, method: str | None = None, contains: str = "") -> list[Record]:
        with self.lock:
            return [r for r in self.records if (method is None or r.method == method) and contains in r.path]

    def blob_body_bytes(self) -> int:
        """Bytes of blob content sent in upload requests (PATCH, and PUT of a blob upload)."""
        return sum(r.body_bytes for r in self.requests() if "/blobs/uploads/" in r.path)

    def _forward(self, handler: BaseHTTPRequestHandler) -> None:
        assert "chunked" not in (handler.headers.get("Transfer-Encoding") or ""), "the client sent a chunked body"
        length = int(handler.headers.get("Content-Length") or 0)
        status = self.fail(handler.command, handler.path) if self.fail else None
        if status is not None:
            handler.rfile.read(length)
            self._record(handler, length, status)
            self._reply(handler, status, {"Content-Type": "application/json"},
                        json.dumps({"errors": [{"code": "INJECTED", "message": "relay refused this request"}]}).encode())
            return
        upstream = http.client.HTTPConnection(self.target, timeout=HTTP_TIMEOUT)
        try:
            upstream.putrequest(handler.command, handler.path, skip_host=True, skip_accept_encoding=True)
            for name, value in handler.headers.items():
                upstream.putheader(name, value)
            upstream.endheaders()
            remaining = length
            while remaining:
                data = handler.rfile.read(min(64 * 1024, remaining))
                if not data:
                    raise ConnectionError("client went away")
                with self.lock:
                    self.body_bytes += len(data)
                    reached = self.hold_after is not None and self.body_bytes >= self.hold_after
                upstream.send(data)
                remaining -= len(data)
                if reached:
                    self.held.set()
                    self.release.wait(timeout=120)
                    raise ConnectionError("held, then dropped")
            response = upstream.getresponse()
            body = response.read()
            headers = {k: v for k, v in response.getheaders() if k.lower() not in ("transfer-encoding", "connection")}
            if handler.command != "HEAD":
                headers["Content-Length"] = str(len(body))
            self._record(handler, length, response.status)  # before the reply: the client may look as soon as it has it
            self._reply(handler, response.status, headers, body)
        except (ConnectionError, OSError):
            handler.close_connection = True
            self._record(handler, length, 0)
        finally:
            upstream.close()

    def _reply(self, handler: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes) -> None:
        handler.send_response_only(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        if "Content-Length" not in headers and handler.command != "HEAD":
            handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(body)

    def _record(self, handler: BaseHTTPRequestHandler, length: int, status: int) -> None:
        with self.lock:
            self.records.append(Record(handler.command, handler.path, length, status))


def start_relay(target: str, **options: object) -> Relay:
    return Relay(target, **options).start()  # type: ignore[arg-type]
