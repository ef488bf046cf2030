"""A fresh, empty remote of each kind for one test: a directory, an S3 bucket, a GCS bucket."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

_counter = itertools.count()


class BytesSink:
    """A download Sink in memory."""

    def __init__(self) -> None:
        self._data = bytearray()

    def write(self, data: bytes) -> int:
        self._data += data
        return len(data)

    def rewind(self) -> None:
        self._data.clear()

    def getvalue(self) -> bytes:
        return bytes(self._data)


@dataclass(frozen=True)
class RemoteUnderTest:
    kind: str  # local, s3, gcs
    url: str
    settings: dict[str, str]  # artver remote settings to apply with 'remote modify'
    put_raw: Callable[[str, bytes], None]  # write bytes under a key, bypassing artver
    get_raw: Callable[[str], bytes]
    keys: Callable[[], list[str]]


def s3_client(server: Any) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=server.endpoint_url,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        region_name=server.region,
        config=Config(s3={"addressing_style": "path"}),
    )


def gcs_client(server: Any) -> Any:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(project="test", credentials=AnonymousCredentials(), client_options={"api_endpoint": server.endpoint})


def make_remote(kind: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RemoteUnderTest:
    number = next(_counter)
    if kind == "local":
        root = tmp_path / f"remote-{number}"
        root.mkdir()

        def put_local(key: str, data: bytes) -> None:
            path = root / key
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists():
                path.chmod(0o644)
            path.write_bytes(data)

        return RemoteUnderTest(
            "local", str(root), {}, put_local, lambda key: (root / key).read_bytes(),
            lambda: sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()),
        )
    if kind == "s3":
        server = request.getfixturevalue("s3_server")
        client = s3_client(server)
        bucket = f"bucket-{number}"
        client.create_bucket(Bucket=bucket)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", server.access_key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", server.secret_key)
        monkeypatch.setenv("AWS_DEFAULT_REGION", server.region)
        prefix = "team/artifacts"

        def s3_keys() -> list[str]:
            pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/")
            return sorted(item["Key"][len(prefix) + 1 :] for page in pages for item in page.get("Contents", ()))

        return RemoteUnderTest(
            "s3", f"s3://{bucket}/{prefix}", {"endpoint_url": server.endpoint_url},
            lambda key, data: client.put_object(Bucket=bucket, Key=f"{prefix}/{key}", Body=data),
            lambda key: client.get_object(Bucket=bucket, Key=f"{prefix}/{key}")["Body"].read(),
            s3_keys,
        )
    server = request.getfixturevalue("gcs_server")
    client = gcs_client(server)
    bucket_name = f"bucket-{number}"
    bucket = client.create_bucket(bucket_name)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", server.endpoint)
    prefix = "models"
    return RemoteUnderTest(
        "gcs", f"gs://{bucket_name}/{prefix}", {},
        lambda key, data: bucket.blob(f"{prefix}/{key}").upload_from_string(data),
        lambda key: bucket.blob(f"{prefix}/{key}").download_as_bytes(),
        lambda: sorted(blob.name[len(prefix) + 1 :] for blob in client.list_blobs(bucket_name, prefix=prefix + "/")),
    )
