"""The S3 backend's direct request path (signed requests sent without botocore's pipeline)
against SeaweedFS, compared with the same operations through the boto3 client."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from artver.errors import ContainerNotFoundError, ObjectNotFoundError
from artver.remotes.s3 import S3Storage, _parse_listing
from tests.remote_helpers import BytesSink, s3_client

PREFIX = "team/objects"


@pytest.fixture
def bucket(s3_server: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", s3_server.region)
    name = f"direct-{secrets.token_hex(6)}"
    s3_client(s3_server).create_bucket(Bucket=name)
    return name


def storage_for(s3_server: Any, bucket: str, direct: bool) -> S3Storage:
    return S3Storage(f"remote 'o' (s3://{bucket}/{PREFIX})", bucket, PREFIX, {"endpoint_url": s3_server.endpoint_url}, 8,
                     direct=direct)


def test_the_direct_path_is_taken_against_an_s3_compatible_store(s3_server: Any, bucket: str) -> None:
    route = storage_for(s3_server, bucket, True)._route()
    assert route is not None, "the direct path was not usable; every request would go through botocore's pipeline"
    # Path-style addressing under the custom endpoint, signed for the configured region.
    assert route.object_base == f"{s3_server.endpoint_url}/{bucket}/"
    assert route.bucket_url == f"{s3_server.endpoint_url}/{bucket}"
    assert (route.region, route.service) == (s3_server.region, "s3")


def test_no_direct_path_to_a_missing_bucket_and_the_client_says_why(s3_server: Any, bucket: str) -> None:
    storage = storage_for(s3_server, bucket + "-missing", True)
    assert storage._route() is None
    with pytest.raises(ContainerNotFoundError, match="does not exist"):
        storage.exists(["xxh128/00/abc"])


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "client"])
def test_both_paths_store_find_list_and_read_objects_alike(s3_server: Any, bucket: str, tmp_path: Path,
                                                           direct: bool) -> None:
    storage = storage_for(s3_server, bucket, direct)
    source = tmp_path / "object"
    source.write_bytes(b"payload " * 1000)
    moved: list[int] = []
    storage.upload("xxh128/ab/cdef", str(source), moved.append)
    storage.upload("xxh128/ab/cdef", str(source), moved.append)  # exists: the precondition refuses, no error
    assert moved == [8000, 8000]
    assert storage.exists(["xxh128/ab/cdef", "xxh128/ab/0000"]) == {"xxh128/ab/cdef": 8000}
    assert list(storage.list("xxh128/a")) == [("xxh128/ab/cdef", 8000)]
    assert list(storage.list("xxh128/b")) == []
    sink = BytesSink()
    storage.download("xxh128/ab/cdef", sink, lambda count: None)
    assert sink.getvalue() == b"payload " * 1000
    with pytest.raises(ObjectNotFoundError, match="xxh128/ab/0000 does not exist"):
        storage.download("xxh128/ab/0000", BytesSink(), lambda count: None)


def test_direct_listing_follows_continuation_pages(s3_server: Any, bucket: str) -> None:
    client = s3_client(s3_server)
    keys = [f"xxh128/{index % 256:02x}/{index:030x}" for index in range(1_150)]  # two pages of 1,000
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda key: client.put_object(Bucket=bucket, Key=f"{PREFIX}/{key}", Body=key.encode()), keys))
    listed = list(storage_for(s3_server, bucket, True).list("xxh128/"))
    assert sorted(key for key, _ in listed) == sorted(keys)
    assert {size for _, size in listed} == {len(keys[0])}


def test_the_listing_parser_reads_keys_sizes_and_the_next_page() -> None:
    namespaced = (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name>'
        b"<IsTruncated>true</IsTruncated><NextContinuationToken>tok/en=</NextContinuationToken>"
        b"<Contents><Key>p/a&amp;b</Key><LastModified>2026-01-01T00:00:00Z</LastModified><Size>12</Size></Contents>"
        b"<Contents><Key>p/c</Key><Size>0</Size></Contents></ListBucketResult>"
    )
    page = _parse_listing(namespaced)
    assert page.items == [("p/a&b", 12), ("p/c", 0)]
    assert page.truncated and page.token == "tok/en="
    bare = b"<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>k</Key><Size>3</Size></Contents></ListBucketResult>"
    page = _parse_listing(bare)
    assert page.items == [("k", 3)] and not page.truncated and page.token is None
