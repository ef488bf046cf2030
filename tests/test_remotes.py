"""The same behaviour against a local directory, SeaweedFS (S3) and fake-gcs-server (GCS)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import Result, assert_one_line_error
from tests.support.git import commit_all, git
from tests.support.remotes import RemoteUnderTest, make_remote, stored_objects, tamper

KINDS = ["local", "s3", "gcs"]


@pytest.fixture(params=KINDS)
def remote(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RemoteUnderTest:
    return make_remote(request.param, request, tmp_path, monkeypatch)


def configure(run_artver: Callable[..., Result], root: Path, remote: RemoteUnderTest, name: str = "origin") -> None:
    result = run_artver(root, "remote", "add", name, remote.url, "--default")
    assert result.code == 0, result.err
    for key, value in remote.settings.items():
        result = run_artver(root, "remote", "modify", name, key, value)
        assert result.code == 0, result.err


def make_project(root: Path) -> dict[str, bytes]:
    files = {
        "model.pt": os.urandom(300_000),
        "data/train/a.csv": b"x,y\n1,2\n",
        "data/train/b.csv": b"x,y\n3,4\n",
        "data/test/empty.csv": b"",
        "data/caf\u00e9 menu.txt": "unicode \u2713".encode(),
    }
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return files


def assert_files(root: Path, files: dict[str, bytes]) -> None:
    for relative, content in files.items():
        assert (root / relative).read_bytes() == content, relative


@pytest.fixture
def pushed(repo: Path, remote: RemoteUnderTest, run_artver: Callable[..., Result]) -> tuple[Path, RemoteUnderTest, dict[str, bytes]]:
    files = make_project(repo)
    assert run_artver(repo, "add", "model.pt", "data").code == 0
    configure(run_artver, repo, remote)
    commit_all(repo, "model and data")
    result = run_artver(repo, "push")
    assert result.code == 0, result.err
    return repo, remote, files


def clone(source: Path, tmp_path: Path, name: str = "clone") -> Path:
    target = tmp_path / name
    git(tmp_path, "clone", "-q", str(source), str(target))
    return target


def test_push_then_pull_into_a_fresh_clone(pushed, tmp_path: Path, run_artver) -> None:
    repo, remote, files = pushed
    assert len(stored_objects(remote)) == len(files)  # one object per distinct content
    other = clone(repo, tmp_path)
    result = run_artver(other, "pull")
    assert result.code == 0, result.err
    assert_files(other, files)
    assert run_artver(other, "status", "--check").code == 0


def test_pull_with_everything_cached_does_not_contact_the_remote(pushed, tmp_path: Path, run_artver) -> None:
    repo, remote, files = pushed
    other = clone(repo, tmp_path)
    assert run_artver(other, "pull").code == 0
    # An S3 remote whose endpoint refuses connections: a pull that needs nothing from it succeeds.
    assert run_artver(other, "remote", "add", "dead", "s3://nowhere/x").code == 0
    assert run_artver(other, "remote", "modify", "dead", "endpoint_url", "http://127.0.0.1:9").code == 0
    assert run_artver(other, "remote", "modify", "dead", "retries", "0").code == 0
    result = run_artver(other, "pull", "-r", "dead")
    assert result.code == 0, result.err
    assert "up to date" in result.out
    assert_files(other, files)
    (other / "model.pt").unlink()
    for path in (other / ".artver" / "cache").rglob("*"):
        if path.is_file() and path.read_bytes() == files["model.pt"]:
            path.unlink()
    result = run_artver(other, "pull", "-r", "dead", "model.pt")
    # Now it is needed, and opened: refused (or, with no AWS credentials around, not even tried).
    assert result.code != 0 and ("cannot connect" in result.err or "no credentials" in result.err), result.err


@pytest.mark.parametrize("kind", KINDS)
def test_remote_layout_is_the_cache_layout(kind: str, repo: Path, request, tmp_path: Path, monkeypatch, run_artver) -> None:
    """With pack = false, the remote is a copy of the cache, for ordinary tools to use."""
    remote = make_remote(kind, request, tmp_path, monkeypatch, packed=False)
    make_project(repo)
    assert run_artver(repo, "add", "model.pt", "data").code == 0
    configure(run_artver, repo, remote)
    assert run_artver(repo, "push").code == 0
    cache = repo / ".artver" / "cache"
    local = sorted(p.relative_to(cache).as_posix() for p in cache.rglob("*") if p.is_file() and p.relative_to(cache).parts[0] != "tmp")
    assert remote.keys() == local
    for key in local:
        assert remote.get_raw(key) == (cache / key).read_bytes()


def test_packed_remote_holds_every_object_once(pushed) -> None:
    """Small objects in a pack, listed by an index; larger ones whole; a format marker."""
    repo, remote, files = pushed
    cache = repo / ".artver" / "cache"
    local = {f"{p.parent.parent.name}:{p.parent.name}{p.name}": p.read_bytes()
             for p in cache.rglob("*") if p.is_file() and p.relative_to(cache).parts[0] != "tmp"}
    stored = stored_objects(remote)
    assert set(stored) == set(local)
    for hash_value, where in stored.items():
        data = remote.get_raw(where.key)
        if where.length is not None:
            data = data[where.offset:where.offset + where.length]
        assert data == local[hash_value]
    assert any(where.packed for where in stored.values())
    assert remote.get_raw("artver-format") == b"artver remote format 3\n"


def test_second_push_moves_nothing(pushed, run_artver) -> None:
    repo, remote, files = pushed
    result = run_artver(repo, "push", "--json")
    assert result.code == 0
    summary = json.loads(result.out)
    assert summary["transferred"] == 0 and summary["skipped"] == len(files) and summary["ok"]
    assert "up to date" in run_artver(repo, "push").out


def test_push_never_overwrites_an_existing_object(pushed, run_artver) -> None:
    repo, remote, _ = pushed
    key = [key for key in remote.keys() if key.startswith(("packs/", "xxh128/"))][0]
    remote.put_raw(key, b"something else")
    (repo / "model.pt").write_bytes(b"new model")
    assert run_artver(repo, "add", "model.pt").code == 0
    assert run_artver(repo, "push").code == 0
    assert remote.get_raw(key) == b"something else"


def test_partial_pull_of_one_artifact(pushed, tmp_path: Path, run_artver) -> None:
    repo, _, files = pushed
    other = clone(repo, tmp_path)
    result = run_artver(other, "pull", "model.pt")
    assert result.code == 0, result.err
    assert (other / "model.pt").read_bytes() == files["model.pt"]
    assert not (other / "data").exists()
    assert run_artver(other, "fetch", "data").code == 0
    assert not (other / "data").exists()  # fetch fills the cache only
    assert run_artver(other, "checkout", "data").code == 0
    assert_files(other, files)


def test_pull_of_a_file_inside_a_tracked_folder_is_refused_clearly(pushed, tmp_path: Path, run_artver) -> None:
    repo, _, _ = pushed
    other = clone(repo, tmp_path)
    result = run_artver(other, "pull", "nothing-here")
    assert result.code == 2
    assert "nothing-here" in result.err and "not a tracked artifact" in result.err


def test_push_all_tags_sends_old_versions(repo: Path, remote: RemoteUnderTest, tmp_path: Path, run_artver) -> None:
    configure(run_artver, repo, remote)
    versions = {}
    for version in ("v1", "v2", "v3"):
        versions[version] = f"model {version}".encode() * 1000
        (repo / "model.pt").write_bytes(versions[version])
        assert run_artver(repo, "add", "model.pt").code == 0
        commit_all(repo, f"model {version}")
        git(repo, "tag", version)
    result = run_artver(repo, "push", "--json")
    assert json.loads(result.out)["transferred"] == 1  # the workspace only: v3
    # The caches of older versions are still local, so --all-tags can push them.
    result = run_artver(repo, "push", "--all-tags", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["transferred"] == 2
    other = clone(repo, tmp_path)
    git(other, "checkout", "-q", "v1")
    assert run_artver(other, "pull").code == 0
    assert (other / "model.pt").read_bytes() == versions["v1"]


def test_fetch_rev_reads_pointers_from_history(repo: Path, remote: RemoteUnderTest, tmp_path: Path, run_artver) -> None:
    configure(run_artver, repo, remote)
    (repo / "model.pt").write_bytes(b"first" * 100)
    run_artver(repo, "add", "model.pt")
    first = commit_all(repo, "first")
    assert run_artver(repo, "push").code == 0
    (repo / "model.pt").write_bytes(b"second" * 100)
    run_artver(repo, "add", "model.pt")
    commit_all(repo, "second")
    assert run_artver(repo, "push").code == 0
    other = clone(repo, tmp_path)
    result = run_artver(other, "fetch", "--rev", "HEAD~1", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["transferred"] == 2  # HEAD~1 plus the workspace
    git(other, "checkout", "-q", first)
    assert run_artver(other, "checkout").code == 0  # no pull needed: already fetched
    assert (other / "model.pt").read_bytes() == b"first" * 100


def test_corrupted_remote_object_is_an_integrity_error(pushed, tmp_path: Path, run_artver) -> None:
    repo, remote, files = pushed
    from artver.hashing import hash_bytes

    model_hash = hash_bytes(files["model.pt"], "xxh128")
    algorithm, digest = model_hash.split(":")
    key = f"{algorithm}/{digest[:2]}/{digest[2:]}"
    tamper(remote, model_hash, lambda data: b"tampered" + data[8:])
    other = clone(repo, tmp_path)
    result = run_artver(other, "pull")
    assert result.code == 1
    assert digest[:8] in result.err and "corrupt" in result.err and "origin" in result.err
    assert "Traceback" not in result.err
    assert not (other / "model.pt").exists()
    assert not (other / ".artver" / "cache" / key).exists()
    assert_files(other, {name: data for name, data in files.items() if name != "model.pt"})  # the rest goes on


def test_status_cloud(repo: Path, remote: RemoteUnderTest, run_artver) -> None:
    configure(run_artver, repo, remote)
    make_project(repo)
    run_artver(repo, "add", "model.pt", "data")
    result = run_artver(repo, "status", "--cloud", "--json")
    assert result.code == 0, result.err
    assert {item["path"]: item["state"] for item in json.loads(result.out)} == {"data": "not-in-remote", "model.pt": "not-in-remote"}
    assert run_artver(repo, "status", "--cloud", "--check").code == 1
    run_artver(repo, "push", "model.pt")
    states = {item["path"]: item["state"] for item in json.loads(run_artver(repo, "status", "--cloud", "--json").out)}
    assert states == {"data": "not-in-remote", "model.pt": "in-remote"}
    run_artver(repo, "push")
    assert run_artver(repo, "status", "--cloud", "--check").code == 0


def test_large_directory_listing_travels_as_an_object(repo: Path, remote: RemoteUnderTest, tmp_path: Path, run_artver) -> None:
    (repo / ".artver" / "config").write_text("[core]\nhash = xxh128\nlisting_inline_max = 3\n")
    files = {f"data/f{index:02}.bin": os.urandom(100 + index) for index in range(12)}
    for relative, content in files.items():
        (repo / relative).parent.mkdir(exist_ok=True)
        (repo / relative).write_bytes(content)
    run_artver(repo, "add", "data")
    assert "listing: " in (repo / "data.art").read_text()
    configure(run_artver, repo, remote)
    commit_all(repo, "data")
    assert run_artver(repo, "push").code == 0
    other = clone(repo, tmp_path)
    result = run_artver(other, "pull")
    assert result.code == 0, result.err
    assert_files(other, files)


def test_missing_bucket_or_directory_is_a_clear_error(repo: Path, remote: RemoteUnderTest, run_artver) -> None:
    broken = RemoteUnderTest(remote.kind, remote.url.replace("bucket-", "no-such-bucket-").replace("remote-", "no-such-dir-"),
                             remote.settings, remote.put_raw, remote.get_raw, remote.keys)
    configure(run_artver, repo, broken)
    run_artver(repo, "remote", "modify", "origin", "retries", "1")
    (repo / "model.pt").write_bytes(b"model")
    run_artver(repo, "add", "model.pt")
    result = run_artver(repo, "push")
    assert result.code != 0
    assert "Traceback" not in result.err
    message = result.err.strip().splitlines()
    assert len(message) == 1, result.err
    assert "origin" in message[0] and ("does not exist" in message[0])


def test_every_remote_command_says_a_missing_bucket_or_directory_is_missing(pushed, tmp_path: Path, run_artver) -> None:
    """Regression: verify -r used to report every object 'missing' (and suggest 'artver push')
    when the bucket or directory itself was missing, as not-found was read from message text."""
    repo, remote, files = pushed
    gone = remote.url.replace("bucket-", "no-such-bucket-").replace("remote-", "no-such-dir-")
    assert gone != remote.url
    other = clone(repo, tmp_path)
    for root in (repo, other):
        assert run_artver(root, "remote", "modify", "origin", "url", gone).code == 0
    (repo / "model.pt").write_bytes(b"a new model")
    assert run_artver(repo, "add", "model.pt").code == 0
    for root, command in [(repo, ("verify", "-r", "origin")), (repo, ("status", "--cloud")), (repo, ("push",)),
                          (other, ("fetch",)), (other, ("pull",))]:
        result = run_artver(root, *command)
        assert result.code == 1, (command, result)
        line = assert_one_line_error(result, "origin", "does not exist")
        assert ("bucket" in line) if remote.kind != "local" else ("directory" in line), line
        assert "missing" not in result.out + result.err and "artver push" not in result.out + result.err, (command, result)


@pytest.mark.parametrize("kind", ["s3", "gcs"])
def test_large_file_goes_up_in_parts(kind: str, repo: Path, request, tmp_path: Path, monkeypatch, run_artver) -> None:
    remote = make_remote(kind, request, tmp_path, monkeypatch)
    data = os.urandom(1024 * 1024) * 70  # 70 MiB: above the S3 multipart and GCS resumable thresholds
    (repo / "big.bin").write_bytes(data)
    run_artver(repo, "add", "big.bin")
    configure(run_artver, repo, remote)
    commit_all(repo, "big")
    result = run_artver(repo, "push")
    assert result.code == 0, result.err
    other = clone(repo, tmp_path)
    assert run_artver(other, "pull").code == 0
    assert (other / "big.bin").read_bytes() == data


@pytest.fixture
def small_multipart(monkeypatch: pytest.MonkeyPatch) -> int:
    """Multipart uploads of the smallest parts S3 accepts (5 MiB), for files of 6 MB and more."""
    from artver.remotes import s3

    monkeypatch.setattr(s3, "MULTIPART_THRESHOLD", 6_000_000)
    monkeypatch.setattr(s3, "PART_SIZE", 5 * 1024 * 1024)
    return 11_000_000


def s3_storage(endpoint: str, bucket: str, prefix: str) -> Any:
    from artver.remotes.s3 import S3Storage

    return S3Storage(f"remote 'o' (s3://{bucket}/{prefix})", bucket, prefix, {"endpoint_url": endpoint}, 4)


def test_only_multipart_uploads_older_than_a_day_are_aborted_as_abandoned(
        request, tmp_path: Path, monkeypatch, small_multipart: int) -> None:
    import datetime

    from artver.remotes import s3
    from tests.support.remotes import s3_client

    remote = make_remote("s3", request, tmp_path, monkeypatch)
    bucket, prefix = remote.url[len("s3://"):].split("/", 1)
    client = s3_client(request.getfixturevalue("s3_server"))
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(small_multipart))
    server = request.getfixturevalue("s3_server")

    def uploads() -> list[str]:
        return [item["UploadId"] for item in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]

    # What a push killed mid-upload leaves: an upload nobody completes. Young, it may be a live one: kept.
    key = "xxh128/ab/0000000000000000000000000000aa"
    left = client.create_multipart_upload(Bucket=bucket, Key=f"{prefix}/{key}")["UploadId"]
    s3_storage(server.endpoint_url, bucket, prefix).upload(key, str(source), lambda count: None)
    assert uploads() == [left]
    other = "xxh128/ab/0000000000000000000000000000bb"
    client.create_multipart_upload(Bucket=bucket, Key=f"{prefix}/{other}")
    monkeypatch.setattr(s3, "ABANDONED_UPLOAD_AGE", datetime.timedelta(0))  # now both count as old
    s3_storage(server.endpoint_url, bucket, prefix).upload(other, str(source), lambda count: None)
    assert uploads() == [left]  # the other key's abandoned upload is gone; this key's is not touched
    assert remote.get_raw(other) == source.read_bytes()


def test_two_clones_pushing_the_same_large_object_at_once_both_succeed(
        request, tmp_path: Path, monkeypatch, small_multipart: int) -> None:
    """Regression: the clean-up of abandoned multipart uploads aborted the other clone's live
    upload, which then failed with NoSuchUpload."""
    import threading
    import time

    from tests.support.faultproxy import FaultPlan
    from tests.support.remotes import s3_client

    remote = make_remote("s3", request, tmp_path, monkeypatch)
    bucket, prefix = remote.url[len("s3://"):].split("/", 1)
    server, proxy = request.getfixturevalue("s3_server"), request.getfixturevalue("s3_proxy")
    client = s3_client(server)
    data = os.urandom(small_multipart)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    key = "xxh128/cd/0000000000000000000000000000cc"
    first = s3_storage(proxy.url, bucket, prefix)  # one clone, whose parts stall half-way for a while
    second = s3_storage(server.endpoint_url, bucket, prefix)  # the other, straight to the store
    first.exists([key])
    outcome: list[BaseException | None] = []

    def push_first() -> None:
        try:
            first.upload(key, str(source), lambda count: None)
            outcome.append(None)
        except BaseException as error:  # noqa: BLE001 - reported below
            outcome.append(error)

    proxy.set_plan(FaultPlan(stall=1.0, stall_after=(2_000_000, 2_000_000), stall_direction="up", stall_seconds=4))
    try:
        proxy.drop_connections()
        thread = threading.Thread(target=push_first)
        thread.start()
        deadline = time.monotonic() + 10
        while not client.list_multipart_uploads(Bucket=bucket).get("Uploads") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.list_multipart_uploads(Bucket=bucket).get("Uploads"), "the first upload never started"
        second.upload(key, str(source), lambda count: None)  # while the first one is under way
        thread.join(60)
    finally:
        proxy.heal()
    assert outcome == [None], outcome
    assert remote.get_raw(key) == data
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_remote_modify_checks_the_transfer_settings(repo: Path, run_artver) -> None:
    assert run_artver(repo, "remote", "add", "origin", "s3://bucket/x", "--default").code == 0
    for key, value, message in [("speed_limit", "fast", "must be a number of bytes per second"),
                                ("speed_limit", "inf", "must be a number of bytes per second"),
                                ("speed_time", "nan", "must be a positive number of seconds"),
                                ("direct_requests", "maybe", "must be true or false")]:
        result = run_artver(repo, "remote", "modify", "origin", key, value)
        assert result.code == 2, (key, value, result)
        assert_one_line_error(result, f"remote.origin: {key} '{value}'", message)
    for key, value in [("speed_limit", "0"), ("speed_time", "2.5"), ("direct_requests", "false")]:
        assert run_artver(repo, "remote", "modify", "origin", key, value).code == 0
    assert "speed_time = 2.5" in (repo / ".artver" / "config").read_text()
