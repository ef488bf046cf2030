"""The S3 backend's direct request path (s3_direct.py) against SeaweedFS: that it is taken,
that it can be switched off, that falling back says why (with -v), that its one private
dependency is still where it was, and that both paths read answers alike. (Every
operation of both paths is checked by tests/test_storage_contract.py.)"""

from __future__ import annotations

import random
import re
import secrets
import tomllib
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from artver.remotes import s3_direct
from artver.remotes.s3 import S3Storage
from artver.remotes.s3_responses import parse_listing, stated_size
from tests.support.cli import Result
from tests.support.faultproxy import FaultPlan, Proxy
from tests.support.git import commit_all
from tests.support.remotes import s3_bucket, s3_client

PREFIX = "team/objects"


@pytest.fixture
def bucket(s3_server: Any, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> str:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", s3_server.region)
    name = f"direct-{secrets.token_hex(6)}"
    return s3_bucket(request, s3_client(s3_server), name)


def storage_for(endpoint: str, bucket: str, notes: list[str] | None = None, **settings: str) -> S3Storage:
    return S3Storage(f"remote 'o' (s3://{bucket}/{PREFIX})", bucket, PREFIX, {"endpoint_url": endpoint, **settings}, 8,
                     None if notes is None else notes.append)


def test_the_direct_path_is_taken_against_an_s3_compatible_store(s3_server: Any, bucket: str) -> None:
    notes: list[str] = []
    route = storage_for(s3_server.endpoint_url, bucket, notes)._direct()
    assert route is not None, "the direct path was not usable; every request would go through botocore's pipeline"
    # Path-style addressing under the custom endpoint, signed for the configured region.
    assert route.object_base == f"{s3_server.endpoint_url}/{bucket}/"
    assert route.bucket_url == f"{s3_server.endpoint_url}/{bucket}"
    assert (route.region, route.service) == (s3_server.region, "s3")
    assert notes == []


def test_the_private_attribute_the_direct_path_needs_is_where_it_was(s3_server: Any, bucket: str) -> None:
    """If this fails, botocore moved the client's HTTP session: every S3 request then goes
    through the client (slower, same behaviour). Update s3_direct.client_http_session and the
    botocore bound in pyproject.toml together, after testing the new version."""
    from botocore.httpsession import URLLib3Session

    client = storage_for(s3_server.endpoint_url, bucket)._client
    session = s3_direct.client_http_session(client)
    assert isinstance(session, URLLib3Session), f"botocore {version('botocore')} keeps its HTTP session elsewhere"


def test_botocore_is_bounded_to_the_versions_the_direct_path_was_tested_with() -> None:
    project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())["project"]
    declared = {re.split(r"[<>=!~ ;\[]", line, maxsplit=1)[0].lower(): line for line in project["dependencies"]}
    for package in ("boto3", "botocore", "urllib3"):
        assert package in declared, f"pyproject.toml must declare {package} with an upper bound"
        upper = re.search(r"<\s*([0-9.]+)", declared[package])
        assert upper is not None, declared[package]
        installed = tuple(int(part) for part in version(package).split(".")[:2])
        bound = tuple(int(part) for part in upper.group(1).split(".")[:2])
        assert installed < bound, f"{package} {version(package)} is not below the tested bound {upper.group(1)}"


def test_direct_requests_can_be_switched_off(s3_server: Any, bucket: str, tmp_path: Path) -> None:
    notes: list[str] = []
    storage = storage_for(s3_server.endpoint_url, bucket, notes, direct_requests="false")
    assert storage._direct() is None and notes == []  # switched off by the user: nothing to explain
    source = tmp_path / "object"
    source.write_bytes(b"through the client")
    storage.upload("xxh128/ab/cdef", str(source), lambda count: None)
    assert storage.exists(["xxh128/ab/cdef"]) == {"xxh128/ab/cdef": 18}
    with pytest.raises(Exception, match="must be true or false"):
        storage_for(s3_server.endpoint_url, bucket, direct_requests="maybe")


def test_without_the_private_attribute_every_request_goes_through_the_client_and_a_note_says_why(
        s3_server: Any, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(s3_direct, "client_http_session", lambda client: None)
    notes: list[str] = []
    storage = storage_for(s3_server.endpoint_url, bucket, notes)
    source = tmp_path / "object"
    source.write_bytes(b"payload")
    storage.upload("xxh128/ab/cdef", str(source), lambda count: None)
    assert storage.exists(["xxh128/ab/cdef"]) == {"xxh128/ab/cdef": 7}
    assert len(notes) == 1 and "slower request pipeline" in notes[0] and "HTTP session elsewhere" in notes[0]


@pytest.mark.parametrize("direct", ["true", "false"], ids=["direct", "client"])
def test_a_head_answer_without_a_length_is_an_unknown_size_and_push_keeps_the_object(
        s3_server: Any, s3_proxy: Proxy, bucket: str, tmp_path: Path, direct: str) -> None:
    """Regression: the direct path took a HEAD answer without Content-Length as size 0, so push
    took the intact remote object for a damaged upload, deleted it and uploaded it again (and
    the client path failed with an internal error on it)."""
    from artver import transfer
    from artver.cache import Cache
    from artver.remotes.retry import RetryingStorage, RetryPolicy

    cache = Cache(tmp_path / "cache", "xxh128")
    data = b"an intact model " * 1000
    hash_value = cache.add_bytes(data)
    key = transfer.key_of(hash_value)
    client = s3_client(s3_server)
    client.put_object(Bucket=bucket, Key=f"{PREFIX}/{key}", Body=data)
    storage = storage_for(s3_proxy.url, bucket, direct_requests=direct)
    assert storage.exists([key]) == {key: len(data)}  # healthy: the route (if any) is set up
    try:
        s3_proxy.set_plan(FaultPlan(respond=1.0, response=b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"))
        s3_proxy.drop_connections()
        assert storage.exists([key]) == {key: None}
        summary = transfer.push(cache, RetryingStorage(storage, RetryPolicy(attempts=1)), {hash_value: len(data)}, 1)
    finally:
        s3_proxy.heal()
    assert summary.ok and summary.skipped == 1 and summary.transferred == 0, summary
    assert client.get_object(Bucket=bucket, Key=f"{PREFIX}/{key}")["Body"].read() == data


def test_fallback_is_shown_with_verbose_only(s3_server: Any, s3_proxy: Proxy, bucket: str, repo: Path,
                                             run_artver: Callable[..., Result]) -> None:
    (repo / "model.pt").write_bytes(b"weights" * 100)
    for step in (("add", "model.pt"), ("remote", "add", "origin", f"s3://{bucket}/{PREFIX}", "--default"),
                 ("remote", "modify", "origin", "endpoint_url", s3_proxy.url)):
        assert run_artver(repo, *step).code == 0
    commit_all(repo, "model")
    forbidden = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    try:
        for flags, shown in (((), False), (("-v",), True)):
            # The first request of the command (HeadBucket, to find the direct route) is refused.
            s3_proxy.set_plan(FaultPlan(respond=1.0, response=forbidden, max_faults=1))
            s3_proxy.drop_connections()
            result = run_artver(repo, *flags, "push")
            assert result.code == 0, result.err
            note = "every request goes through boto3's slower request pipeline: HeadBucket on the bucket was refused (403)"
            assert (note in result.err) is shown, result.err
    finally:
        s3_proxy.heal()


def test_lengths_are_read_alike_and_untrusted() -> None:
    assert stated_size({"content-length": "12"}) == 12
    assert stated_size({"Content-Length": " 0 "}) == 0
    for bad in ("", "-1", "1e3", "0x10", "12 13", "١٢", "9" * 30):
        assert stated_size({"content-length": bad}) is None, bad
    assert stated_size({}) is None


def test_the_listing_parser_reads_keys_sizes_and_the_next_page() -> None:
    namespaced = (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name>'
        b"<IsTruncated>true</IsTruncated><NextContinuationToken>tok/en=</NextContinuationToken>"
        b"<Contents><Key>p/a&amp;b</Key><LastModified>2026-01-01T00:00:00Z</LastModified><Size>12</Size></Contents>"
        b"<Contents><Key>p/c</Key><Size>0</Size></Contents><Contents><Key>p/d</Key></Contents>"
        b"<Contents><Key>p/e</Key><Size>-4</Size></Contents></ListBucketResult>"
    )
    page = parse_listing(namespaced)
    assert page.items == [("p/a&b", 12), ("p/c", 0), ("p/d", None), ("p/e", None)]
    assert page.truncated and page.token == "tok/en="
    bare = b"<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>k</Key><Size>3</Size></Contents></ListBucketResult>"
    page = parse_listing(bare)
    assert page.items == [("k", 3)] and not page.truncated and page.token is None


def test_a_ranged_read_keeps_exactly_its_range_however_the_body_arrives() -> None:
    """A ranged read fills one buffer from the body's pieces (s3._Filling): whatever their
    sizes, and whether the store honoured Range (the body is the range) or ignored it (the
    body is the whole object, skipped up to the range), the result is the range's bytes,
    shorter only where the object ends."""
    from artver.remotes.s3 import _Filling

    generator = random.Random(7)
    for _ in range(2000):
        whole = generator.randbytes(generator.randint(0, 300))
        offset, length = generator.randint(0, len(whole) + 5), generator.randint(1, 120)
        for ignored_range in (False, True):
            body = whole if ignored_range else whole[offset:offset + length + generator.randint(0, 3)]
            filling = _Filling(offset if ignored_range else 0, length)
            position = 0
            while position < len(body):
                size = generator.randint(1, 50)
                filling.write(body[position:position + size])
                position += size
            assert bytes(filling.result()) == whole[offset:offset + length]
