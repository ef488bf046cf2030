"""pytest plugin: session-scoped real object-storage servers on loopback.

Load it with ``pytest_plugins = ["tests.support.server_fixtures"]`` (root conftest or a
test module). Each server starts only when a test first requests its fixture,
once per session, and is stopped (by pid) at session end. Nothing is put in
``os.environ``: tests pass the endpoint to their clients explicitly.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .faultproxy import NO_FAULTS, Proxy, start_proxy
from .servers import LOOPBACK, GcsServer, S3Server, free_port, start_fake_gcs, start_seaweedfs

PROXY_TIME_LIMIT = 3600  # hard limit for a session's proxy, in case teardown never comes


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A SeaweedFS S3 endpoint accepting only ``access_key`` / ``secret_key``."""
    server = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def gcs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GcsServer]:
    """A fake-gcs-server endpoint (GCS JSON API over plain HTTP)."""
    server = start_fake_gcs(tmp_path_factory.mktemp("fake-gcs"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_proxy(s3_server: S3Server) -> Iterator[Proxy]:
    """A fault proxy in front of the SeaweedFS server (healthy unless a test sets a plan;
    tests heal it when they are done)."""
    host, port = s3_server.endpoint_url.rsplit("/", 1)[-1].split(":")
    proxy = start_proxy(host, int(port), NO_FAULTS, 0, time_limit=PROXY_TIME_LIMIT)
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture(scope="session")
def gcs_proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GcsServer, Proxy]]:
    """A fake-gcs-server whose -external-url is the fault proxy in front of it (the URL
    clients use: its answers name that URL for uploads and downloads)."""
    last: Exception | None = None
    for _ in range(3):
        port = free_port()
        server = start_fake_gcs(tmp_path_factory.mktemp("fake-gcs-proxied"), external_url=f"http://{LOOPBACK}:{port}")
        try:
            proxy = start_proxy(LOOPBACK, int(server.endpoint.rsplit(":", 1)[1]), NO_FAULTS, 0,
                                listen_port=port, time_limit=PROXY_TIME_LIMIT)
        except OSError as error:  # the chosen port was taken meanwhile: try another
            last = error
            server.stop()
            continue
        try:
            yield server, proxy
        finally:
            try:
                proxy.stop()
            finally:
                server.stop()
        return
    raise RuntimeError(f"cannot start fake-gcs-server behind the proxy: {last}")
