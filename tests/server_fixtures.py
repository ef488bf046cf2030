"""pytest plugin: session-scoped real object-storage servers on loopback.

Load it with ``pytest_plugins = ["tests.server_fixtures"]`` (root conftest or a
test module). Each server starts only when a test first requests its fixture,
once per session, and is stopped (by pid) at session end. Nothing is put in
``os.environ``: tests pass the endpoint to their clients explicitly.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .storage_servers import GcsServer, S3Server, start_fake_gcs, start_seaweedfs


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
