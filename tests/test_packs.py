"""Packs against real remotes (a directory, SeaweedFS, fake-gcs-server): round trips,
granular pulls and what they cost on the wire, kills at every step of a packed push, a
repack and a pull, two pushes at once, gc against a push, tampered and hostile packs and
indexes, format markers, index consolidation and the local database of a remote.

What the remote holds is read with the test's own client and parser (tests/support/remotes.py),
never with artver's."""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import xxhash

from artver import hashing
from tests.support.cli import Result, assert_one_line_error
from tests.support.git import commit_all, git
from tests.support.processes import Processes, Running, run_artver_to_end
from tests.support.remotes import (
    RemoteUnderTest,
    directory_remote,
    gcs_client,
    make_remote,
    stored_objects,
    tamper,
)

KINDS = ["local", "s3", "gcs"]
PACKED_NAME = re.compile(r"(packs|index)/([0-9a-f]{32})")
MIB = 1024 * 1024
_buckets = itertools.count()


# ------------------------------------------------------------------------------ helpers


def configure(run_artver: Callable[..., Result], root: Path, remote: RemoteUnderTest, **extra: str) -> None:
    result = run_artver(root, "remote", "add", "origin", remote.url, "--default")
    assert result.code == 0, result.err
    for key, value in {**remote.settings, **extra}.items():
        result = run_artver(root, "remote", "modify", "origin", key, value)
        assert result.code == 0, result.err


def make_dataset(root: Path, folders: int, per_folder: int, sizes: tuple[int, int], seed: int = 1,
                 big: int = 0, top: str = "data") -> dict[str, bytes]:
    """``folders`` x ``per_folder`` small files of random content under ``top``; and a file of
    ``big`` bytes (above the packing threshold) if asked."""
    rng = random.Random(seed)
    files: dict[str, bytes] = {}
    for folder in range(folders):
        for number in range(per_folder):
            files[f"{top}/f{folder:02d}/x{number:04d}.bin"] = rng.randbytes(rng.randint(*sizes))
    if big:
        files["model.pt"] = rng.randbytes(big)
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return files


def hash_of(data: bytes) -> str:
    return hashing.hash_bytes(data, "xxh128")


def assert_files(root: Path, files: dict[str, bytes]) -> None:
    for relative, content in files.items():
        assert (root / relative).read_bytes() == content, relative


def clone(source: Path, tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    git(tmp_path, "clone", "-q", str(source), str(target))
    return target


def cached(root: Path) -> set[str]:
    cache = root / ".artver" / "cache" / "xxh128"
    return {f"xxh128:{path.parent.name}{path.name}" for path in cache.glob("??/*")} if cache.is_dir() else set()


def packed_keys(remote: RemoteUnderTest) -> tuple[list[str], list[str]]:
    """The pack and index keys the remote holds (well-formed names only)."""
    found: dict[str, list[str]] = {"packs": [], "index": []}
    for key in remote.keys():
        match = PACKED_NAME.fullmatch(key)
        if match:
            found[match.group(1)].append(key)
    return found["packs"], found["index"]


def assert_packs_intact(remote: RemoteUnderTest) -> dict[str, bytes]:
    """Every visible pack and index hashes to its name; every member an index lists lies inside
    its pack and hashes to its own name. Returns the packs' bytes by key."""
    pack_keys, index_keys = packed_keys(remote)
    data = {key: remote.get_raw(key) for key in pack_keys + index_keys}
    for key, content in data.items():
        assert xxhash.xxh3_128_hexdigest(content) == key.split("/")[1], f"{key} does not hash to its name"
        if key.startswith("packs/"):
            assert content.startswith(b"artver pack 1\n"), key
    for hash_value, where in stored_objects(remote).items():
        if where.packed:
            assert where.key in data, f"an index lists {hash_value} in {where.key}, which is not in the remote"
            assert where.length is not None
            member = data[where.key][where.offset:where.offset + where.length]
            assert len(member) == where.length and hash_of(member) == hash_value, (hash_value, where)
    return data


def push_ok(run_artver: Callable[..., Result], root: Path, *args: str) -> dict:
    result = run_artver(root, "push", "--json", *args)
    assert result.code == 0, result.err
    return json.loads(result.out)


def verify_remote_clean(run_artver: Callable[..., Result], root: Path) -> None:
    result = run_artver(root, "verify", "--all", "-r", "origin")
    assert result.code == 0, (result.out, result.err)


@pytest.fixture(params=KINDS)
def remote(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RemoteUnderTest:
    return make_remote(request.param, request, tmp_path, monkeypatch)


@pytest.fixture
def local_remote(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RemoteUnderTest:
    return make_remote("local", request, tmp_path, monkeypatch)


# ------------------------------------------------------------------- 1. round trips


def test_round_trip_through_packs(remote: RemoteUnderTest, repo: Path, tmp_path: Path, run_artver) -> None:
    files = make_dataset(repo, folders=6, per_folder=50, sizes=(10, 4000), big=1_200_000)
    assert run_artver(repo, "add", "data", "model.pt").code == 0
    configure(run_artver, repo, remote)
    commit_all(repo, "data")
    push_ok(run_artver, repo)

    keys = remote.keys()
    assert remote.get_raw("artver-format") == b"artver remote format 2\n"
    pack_keys, index_keys = packed_keys(remote)
    assert pack_keys and index_keys
    stored = stored_objects(remote)
    for relative, content in files.items():
        where = stored[hash_of(content)]
        assert where.packed == (relative != "model.pt"), relative  # small ones packed, the large one whole
    small = {hash_of(content) for relative, content in files.items() if relative != "model.pt"}
    assert not small & {hash_value for hash_value, where in stored.items() if not where.packed}
    assert_packs_intact(remote)

    assert push_ok(run_artver, repo)["transferred"] == 0
    assert remote.keys() == keys  # a second push moves nothing

    other = clone(repo, tmp_path, "other")
    result = run_artver(other, "pull")
    assert result.code == 0, result.err
    assert_files(other, files)
    assert run_artver(other, "status", "--check").code == 0


# ----------------------------------------------------------------- 2. granular pulls


def test_granular_pull_of_a_folder_and_a_file_fetches_only_them(local_remote: RemoteUnderTest, repo: Path,
                                                                 tmp_path: Path, run_artver) -> None:
    files = make_dataset(repo, folders=5, per_folder=40, sizes=(10, 3000))
    assert run_artver(repo, "add", "data").code == 0
    configure(run_artver, repo, local_remote)
    commit_all(repo, "data")
    push_ok(run_artver, repo)
    listing = {hash_value for hash_value, where in stored_objects(local_remote).items() if not where.packed}

    other = clone(repo, tmp_path, "other")
    result = run_artver(other, "pull", "data/f02")
    assert result.code == 0, result.err
    folder = {relative: content for relative, content in files.items() if relative.startswith("data/f02/")}
    assert_files(other, folder)
    assert not (other / "data" / "f01").exists()
    assert cached(other) == {hash_of(content) for content in folder.values()} | listing

    one = "data/f04/x0007.bin"
    result = run_artver(other, "pull", one)
    assert result.code == 0, result.err
    assert (other / one).read_bytes() == files[one]
    assert cached(other) == {hash_of(content) for content in folder.values()} | listing | {hash_of(files[one])}


@pytest.fixture(params=["s3", "gcs"])
def proxied(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A packed remote behind the counting proxy: (remote as artver sees it, proxy)."""
    if request.param == "s3":
        proxy = request.getfixturevalue("s3_proxy")
        made = make_remote("s3", request, tmp_path, monkeypatch)
        return RemoteUnderTest(made.kind, made.url, {**made.settings, "endpoint_url": proxy.url}, made.put_raw,
                               made.get_raw, made.keys), proxy
    server, proxy = request.getfixturevalue("gcs_proxied")
    client = gcs_client(server)  # straight to the server, not through the proxy
    name = f"proxied-{next(_buckets)}"
    bucket = client.create_bucket(name)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", proxy.url)  # artver goes through the proxy
    return RemoteUnderTest(
        "gcs", f"gs://{name}/models", {},
        lambda key, data: bucket.blob(f"models/{key}").upload_from_string(data),
        lambda key: bucket.blob(f"models/{key}").download_as_bytes(),
        lambda: sorted(blob.name[len("models/"):] for blob in client.list_blobs(name, prefix="models/")),
    ), proxy


def test_pulling_one_folder_reads_little_more_than_it(proxied, repo: Path, tmp_path: Path, run_artver) -> None:
    remote, proxy = proxied
    files = make_dataset(repo, folders=20, per_folder=25, sizes=(1000, 7000))
    assert run_artver(repo, "add", "data").code == 0
    configure(run_artver, repo, remote)
    commit_all(repo, "data")
    push_ok(run_artver, repo)
    stored = stored_objects(remote)
    _, index_keys = packed_keys(remote)
    overhead = sum(len(remote.get_raw(key)) for key in index_keys)
    overhead += sum(len(remote.get_raw(where.key)) for where in stored.values() if not where.packed)  # the listing
    folder = {relative: content for relative, content in files.items() if relative.startswith("data/f07/")}
    folder_bytes = sum(len(content) for content in folder.values())

    other = clone(repo, tmp_path, "other")
    before = proxy.stats()
    result = run_artver(other, "pull", "data/f07")
    moved = proxy.stats().since(before)
    assert result.code == 0, result.err
    assert_files(other, folder)
    assert moved.bytes_down > folder_bytes  # the proxy saw the pull
    assert moved.bytes_down <= 3 * folder_bytes + overhead, (moved.bytes_down, folder_bytes, overhead)
