"""Smoke tests: the loopback SeaweedFS (S3) and fake-gcs-server (GCS) fixtures work."""

from __future__ import annotations

import uuid
from pathlib import Path

import boto3
import pytest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from tests.support.servers import (
    SEAWEED_GRPC_OFFSET,
    GcsServer,
    S3Server,
    _port_is_free,
    free_port,
    pid_alive,
    start_fake_gcs,
    start_seaweedfs,
)


def _s3_client(server: S3Server, *, secret_key: str | None = None, access_key: str | None = None) -> BaseClient:
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint_url,
        aws_access_key_id=access_key or server.access_key,
        aws_secret_access_key=secret_key or server.secret_key,
        region_name=server.region,
        config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 2}),
    )


def _gcs_client(server: GcsServer) -> storage.Client:
    return storage.Client(
        project="test",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": server.endpoint},
    )


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def test_s3_put_get_list(s3_server: S3Server) -> None:
    s3 = _s3_client(s3_server)
    bucket = _name("smoke")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="dir/hello.txt", Body=b"hello world")
    s3.put_object(Bucket=bucket, Key="dir/other.bin", Body=bytes(range(256)))

    got = s3.get_object(Bucket=bucket, Key="dir/hello.txt")
    assert got["Body"].read() == b"hello world"
    assert got["ContentLength"] == 11

    listed = s3.list_objects_v2(Bucket=bucket, Prefix="dir/")
    assert sorted(o["Key"] for o in listed["Contents"]) == ["dir/hello.txt", "dir/other.bin"]

    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=bucket, Key="missing")
    assert err.value.response["Error"]["Code"] == "NoSuchKey"


def test_s3_wrong_secret_is_rejected(s3_server: S3Server) -> None:
    good = _s3_client(s3_server)
    bucket = _name("auth")
    good.create_bucket(Bucket=bucket)

    bad = _s3_client(s3_server, secret_key="not-the-secret")
    with pytest.raises(ClientError) as err:
        bad.put_object(Bucket=bucket, Key="x", Body=b"x")
    assert err.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    with pytest.raises(ClientError) as err:
        bad.list_objects_v2(Bucket=bucket)
    assert err.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert "Contents" not in good.list_objects_v2(Bucket=bucket)


def test_s3_unknown_access_key_is_rejected(s3_server: S3Server) -> None:
    bad = _s3_client(s3_server, access_key="no-such-key")
    with pytest.raises(ClientError) as err:
        bad.list_buckets()
    assert err.value.response["Error"]["Code"] == "InvalidAccessKeyId"


def test_gcs_upload_download_list(gcs_server: GcsServer) -> None:
    client = _gcs_client(gcs_server)
    bucket = client.create_bucket(_name("smoke"))
    bucket.blob("dir/hello.txt").upload_from_string(b"hello gcs")

    # A resumable (chunked) upload goes through the upload session URL, which
    # must point back at the server (-external-url).
    big = bucket.blob("dir/big.bin", chunk_size=256 * 1024)
    payload = bytes(range(256)) * 2400  # 600 KiB, three chunks
    big.upload_from_string(payload)

    fresh = _gcs_client(gcs_server).bucket(bucket.name)
    assert fresh.blob("dir/hello.txt").download_as_bytes() == b"hello gcs"
    assert fresh.blob("dir/big.bin").download_as_bytes() == payload
    assert sorted(b.name for b in client.list_blobs(bucket.name, prefix="dir/")) == [
        "dir/big.bin",
        "dir/hello.txt",
    ]


def test_free_port_reserves_offset_ports() -> None:
    port = free_port(offsets=(0, SEAWEED_GRPC_OFFSET))
    assert _port_is_free(port)
    assert _port_is_free(port + SEAWEED_GRPC_OFFSET)
    other = free_port(exclude=[port])
    assert other != port


def test_seaweedfs_stop_ends_process_and_removes_sockets(tmp_path: Path) -> None:
    server = start_seaweedfs(tmp_path)
    try:
        assert pid_alive(server.pid)
        assert server.is_running()
    finally:
        server.stop()
    assert not server.is_running()
    assert not pid_alive(server.pid)
    leftovers = [p for port in server.ports for p in Path("/tmp").glob(f"seaweedfs-*-{port}.sock")]
    assert leftovers == []
    server.stop()  # idempotent


def test_fake_gcs_stop_ends_process(tmp_path: Path) -> None:
    server = start_fake_gcs(tmp_path)
    try:
        assert pid_alive(server.pid)
    finally:
        server.stop()
    assert not server.is_running()
    assert not pid_alive(server.pid)
    server.stop()  # idempotent
