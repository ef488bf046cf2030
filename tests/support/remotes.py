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


def s3_bucket(request: pytest.FixtureRequest, client: Any, name: str) -> str:
    """Create an S3 bucket for one test and delete it (with everything in it) at teardown.
    SeaweedFS gives each bucket volumes of its own: a suite that kept every bucket would
    run out of free volumes ("No writable volumes and no free volumes left") late in a run."""
    client.create_bucket(Bucket=name)

    def delete() -> None:
        try:
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
                keys = [{"Key": item["Key"]} for item in page.get("Contents", ())]
                if keys:
                    client.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})
            client.delete_bucket(Bucket=name)
        except Exception:  # noqa: BLE001 - a server already stopped at teardown: nothing left to free
            pass

    request.addfinalizer(delete)
    return name


def gcs_client(server: Any) -> Any:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(project="test", credentials=AnonymousCredentials(), client_options={"api_endpoint": server.endpoint})


def make_remote(kind: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                packed: bool = True) -> RemoteUnderTest:
    """A fresh remote of ``kind``; ``packed=False`` sets ``pack = false`` (every object whole)."""
    remote = _make_remote(kind, request, tmp_path, monkeypatch)
    if packed:
        return remote
    return RemoteUnderTest(remote.kind, remote.url, {**remote.settings, "pack": "false"}, remote.put_raw,
                           remote.get_raw, remote.keys)


def _make_remote(kind: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RemoteUnderTest:
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
        bucket = s3_bucket(request, client, f"bucket-{number}")
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


@dataclass(frozen=True)
class Stored:
    """Where a remote holds an object: ``key`` whole (offset 0, its whole length) or a range
    of the pack ``key``."""

    key: str
    offset: int
    length: int | None  # None: the whole object
    packed: bool


def stored_objects(remote: RemoteUnderTest) -> dict[str, Stored]:
    """Every object the remote holds, read with the test's own client and parser of the
    documented layout (docs/pointer-format.md), not with artver's."""
    found: dict[str, Stored] = {}
    for key in remote.keys():
        parts = key.split("/")
        if len(parts) == 3 and parts[0] in ("xxh128", "sha256"):
            found[f"{parts[0]}:{parts[1]}{parts[2]}"] = Stored(key, 0, None, False)
        elif parts[0] == "index":
            lines = remote.get_raw(key).decode().splitlines()
            assert lines[0] in ("artver pack index 1", "artver pack index 2")
            pack = ""
            pack_lines: list[str] = []
            for line in lines[1:]:
                if line.startswith("pack "):
                    pack = "packs/" + line[5:]
                    pack_lines.append(pack)
                elif lines[0] == "artver pack index 1":
                    hash_value, offset, length = line.split(" ")
                    found.setdefault(hash_value, Stored(pack, int(offset), int(length), True))
                else:  # format 2: the pack by its place among the pack lines
                    hash_value, number, offset, length = line.split(" ")
                    found.setdefault(hash_value, Stored(pack_lines[int(number)], int(offset), int(length), True))
    return found


def tamper(remote: RemoteUnderTest, hash_value: str, replace: Callable[[bytes], bytes]) -> Stored:
    """Replace the stored bytes of one object, whole or inside its pack, bypassing artver."""
    where = stored_objects(remote)[hash_value]
    data = remote.get_raw(where.key)
    if where.length is None:
        remote.put_raw(where.key, replace(data))
    else:
        member = data[where.offset:where.offset + where.length]
        changed = replace(member)
        assert len(changed) == len(member), "a packed member is tampered in place"
        remote.put_raw(where.key, data[:where.offset] + changed + data[where.offset + where.length:])
    return where


def directory_remote(root: Path) -> RemoteUnderTest:
    """An existing directory remote, to inspect with stored_objects."""
    return RemoteUnderTest("local", str(root), {}, lambda key, data: (root / key).write_bytes(data),
                           lambda key: (root / key).read_bytes(),
                           lambda: sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()))


def holds(root: Path, hash_value: str) -> bool:
    """Whether the directory remote at ``root`` holds the object, whole or in a pack."""
    return hash_value in stored_objects(directory_remote(root))


def chunked_files(remote: RemoteUnderTest) -> dict[str, bytes]:
    """Every file the remote holds as a recipe (docs/pointer-format.md, "Chunked files"), put
    together from its chunks with the test's own reading of the layout (whatever they hash to:
    the caller checks)."""
    stored = stored_objects(remote)
    files: dict[str, bytes] = {}
    for key in remote.keys():
        parts = key.split("/")
        if parts[0] != "recipes" or len(parts) != 4:
            continue
        lines = remote.get_raw(key).decode().splitlines()
        assert lines[0] == "artver recipe 1"
        pieces = []
        for line in lines[2:]:
            chunk, _ = line.split(" ")
            where = stored[chunk]
            data = remote.get_raw(where.key)
            pieces.append(data if where.length is None else data[where.offset:where.offset + where.length])
        files[f"{parts[1]}:{parts[2]}{parts[3]}"] = b"".join(pieces)
    return files
