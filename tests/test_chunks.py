"""Chunk-level dedup: a new version of a large file moves only the chunks that changed,
against a directory remote, SeaweedFS and fake-gcs-server. Bytes are counted as the
remote's own growth (the packs it gained), not by the client's figures."""

from __future__ import annotations

import io
import json
import os
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import artver.api as av
from artver import chunking
from artver.chunking import MIN_CHUNK, ChunkRef, chunks_of, parse_recipe, recipe_lines
from artver.errors import IntegrityError, RemoteError, UsageError
from tests.support.cli import Result
from tests.support.git import commit_all, git
from tests.support.remotes import RemoteUnderTest, make_remote, stored_objects, tamper

MiB = 1024 * 1024
KINDS = ["local", "s3", "gcs"]


def _cuts(data: bytes) -> list[ChunkRef]:
    return [ref for ref, _ in chunks_of(io.BytesIO(data), "xxh128")]


# --------------------------------------------------------------------------- the format


def test_cut_points_are_those_the_remote_format_was_written_with() -> None:
    """Remotes hold chunks cut at these points: a library update that moved them would make
    every new version of every file upload again. (pyfastcdc is bounded in pyproject.toml.)"""
    data = random.Random(1234).randbytes(MiB)
    assert [(ref.offset, ref.length) for ref in _cuts(data)][:6] == [
        (0, 26146), (26146, 125990), (152136, 103605), (255741, 109929), (365670, 51575), (417245, 57500)]


def test_an_insertion_at_the_front_changes_only_the_chunks_around_it() -> None:
    data = random.Random(7).randbytes(6 * MiB)
    before = {ref.hash for ref in _cuts(data)}
    after = _cuts(random.Random(8).randbytes(2 * MiB) + data)
    shared = sum(ref.length for ref in after if ref.hash in before)
    assert shared >= len(data) - 600 * 1024  # at most a couple of chunks around the seam differ


def test_every_chunk_but_the_last_is_at_least_the_minimum() -> None:
    refs = _cuts(random.Random(3).randbytes(3 * MiB) + bytes(MiB))  # zeros too
    assert all(ref.length >= MIN_CHUNK for ref in refs[:-1])
    assert sum(ref.length for ref in refs) == 4 * MiB


def _recipe(refs: list[ChunkRef], size: int) -> list[bytes]:
    return list(recipe_lines(size, refs))


@pytest.mark.parametrize("damage", [
    "header", "future", "size", "hash", "algorithm", "zero", "huge", "short-middle", "sum", "long-line", "non-ascii",
])
def test_a_hostile_recipe_is_refused_whole(damage: str) -> None:
    data = random.Random(5).randbytes(MiB)
    refs = _cuts(data)
    file_hash = "xxh128:" + "0" * 32
    lines = _recipe(refs, len(data))
    first = lines[2].decode().split(" ")[0]
    if damage == "header":
        lines[0] = b"something else\n"
    elif damage == "future":
        lines[0] = b"artver recipe 2\n"
    elif damage == "size":
        lines[1] = lines[1].replace(b"size ", b"size 1")
    elif damage == "hash":
        lines[2] = b"xxh128:zz " + lines[2].split(b" ")[1]
    elif damage == "algorithm":
        lines[2] = ("sha256:" + "a" * 64 + " " + lines[2].decode().split(" ")[1]).encode()
    elif damage == "zero":
        lines[2] = f"{first} 0\n".encode()
    elif damage == "huge":
        lines[2] = f"{first} {10**15}\n".encode()
    elif damage == "short-middle":
        lines[2] = f"{first} 100\n".encode()
    elif damage == "sum":
        lines = lines[:-1]
    elif damage == "long-line":
        lines[2] = lines[2][:-1] + b" " * 200 + b"\n"
    elif damage == "non-ascii":
        lines[2] = lines[2].replace(b"xxh128", "xxh\u00e9".encode())
    with pytest.raises(RemoteError, match="upgrade artver" if damage == "future" else "damaged"):
        parse_recipe(lines, file_hash, len(data), "recipe X")


# --------------------------------------------------------------------------- through remotes


def _configure(run_artver: Callable[..., Result], repo: Path, remote: RemoteUnderTest, **extra: str) -> None:
    assert run_artver(repo, "remote", "add", "origin", remote.url, "--default").code == 0
    for key, value in {**remote.settings, "chunk_threshold": str(MiB), **extra}.items():
        result = run_artver(repo, "remote", "modify", "origin", key, value)
        assert result.code == 0, result.err


def _pack_bytes(remote: RemoteUnderTest) -> int:
    return sum(len(remote.get_raw(key)) for key in remote.keys() if key.startswith("packs/"))


def _push_json(run_artver: Callable[..., Result], repo: Path) -> dict:
    result = run_artver(repo, "push", "--json")
    assert result.code == 0, result.err
    return json.loads(result.out)


def _edited(data: bytes, rng: random.Random) -> bytes:
    """Scattered overwrites, an insertion in the middle, bytes cut from the end."""
    edited = bytearray(data)
    for _ in range(4):
        at = rng.randrange(len(edited) - 4096)
        edited[at:at + 4096] = rng.randbytes(4096)
    middle = len(edited) // 2
    edited[middle:middle] = rng.randbytes(128 * 1024)
    del edited[-100_000:]
    return bytes(edited)


@pytest.fixture(params=KINDS)
def remote(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RemoteUnderTest:
    return make_remote(request.param, request, tmp_path, monkeypatch)


def test_a_new_version_moves_only_its_new_chunks(repo: Path, remote: RemoteUnderTest, tmp_path: Path, run_artver) -> None:
    rng = random.Random(11)
    v1 = rng.randbytes(6 * MiB)
    v2 = _edited(v1, rng)
    _configure(run_artver, repo, remote)
    (repo / "model.bin").write_bytes(v1)
    assert run_artver(repo, "add", "model.bin").code == 0
    commit_all(repo, "v1")
    git(repo, "tag", "v1")
    first = _push_json(run_artver, repo)
    assert first["deduplicated"] == 0 and first["bytes"] >= len(v1)
    stored_v1 = _pack_bytes(remote)
    assert any(key.startswith("recipes/") for key in remote.keys())
    (repo / "model.bin").chmod(0o644)
    (repo / "model.bin").write_bytes(v2)
    assert run_artver(repo, "add", "model.bin").code == 0
    (repo / "other.bin").write_bytes(v1[: 2 * MiB] + rng.randbytes(MiB))  # a second file sharing chunks with v1
    assert run_artver(repo, "add", "other.bin").code == 0
    commit_all(repo, "v2")
    second = _push_json(run_artver, repo)
    grown = _pack_bytes(remote) - stored_v1
    new_bytes = len(v2) + 3 * MiB
    assert grown <= 0.25 * len(v2) + 1.2 * MiB, f"the remote grew by {grown} bytes for {new_bytes} new bytes"
    assert second["deduplicated"] >= 0.7 * len(v2) + 2 * MiB - 600 * 1024  # also across files
    assert "up to date" in run_artver(repo, "push").out

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    git(clone, "checkout", "-q", "v1")
    assert run_artver(clone, "pull").code == 0
    git(clone, "checkout", "-q", "-")
    pulled = run_artver(clone, "pull", "--json")
    assert pulled.code == 0, pulled.err
    fetch = json.loads(pulled.out)["fetch"]
    assert fetch["deduplicated"] >= 0.7 * len(v2)
    assert fetch["bytes"] <= 0.3 * len(v2)
    assert (clone / "model.bin").read_bytes() == v2
    assert run_artver(clone, "verify", "-r", "origin").code == 0


def test_a_tampered_chunk_never_reaches_the_workspace(repo: Path, remote: RemoteUnderTest, tmp_path: Path,
                                                      run_artver) -> None:
    data = random.Random(12).randbytes(3 * MiB)
    _configure(run_artver, repo, remote)
    (repo / "model.bin").write_bytes(data)
    assert run_artver(repo, "add", "model.bin").code == 0
    commit_all(repo, "model")
    _push_json(run_artver, repo)
    refs = _cuts(data)
    tamper(remote, refs[3].hash, lambda member: bytes(len(member)))
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    result = run_artver(clone, "pull")
    assert result.code == 1 and "corrupt" in result.err and "Traceback" not in result.err
    assert not (clone / "model.bin").exists()
    assert not [path for path in (clone / ".artver" / "cache").rglob("*") if path.is_file() and path.stat().st_size > MiB]
    verified = run_artver(repo, "verify", "-r", "origin")
    assert verified.code == 1 and refs[3].hash in verified.err


def test_whole_and_chunked_files_in_one_remote_and_sha256(tmp_path: Path, request, monkeypatch, run_artver) -> None:
    """A remote holding a file whole (pushed with chunk = false) and another chunked, in a
    sha256 repository (chunks are named in sha256 too)."""
    remote = make_remote("local", request, tmp_path, monkeypatch)
    repo = tmp_path / "sha"
    repo.mkdir()
    git(repo, "init", "-q")
    assert run_artver(repo, "init", "--hash", "sha256").code == 0
    _configure(run_artver, repo, remote, chunk="false")
    whole = random.Random(13).randbytes(2 * MiB)
    (repo / "whole.bin").write_bytes(whole)
    assert run_artver(repo, "add", "whole.bin").code == 0
    commit_all(repo, "whole")
    _push_json(run_artver, repo)
    assert run_artver(repo, "remote", "modify", "origin", "chunk", "true").code == 0
    chunked = random.Random(14).randbytes(2 * MiB)
    (repo / "chunked.bin").write_bytes(chunked)
    assert run_artver(repo, "add", "chunked.bin").code == 0
    commit_all(repo, "chunked")
    _push_json(run_artver, repo)
    stored = stored_objects(remote)
    assert any(not where.packed and where.key.startswith("sha256/") for where in stored.values())
    assert any(key.startswith("recipes/sha256/") for key in remote.keys())
    assert all(hash_value.startswith("sha256:") for hash_value, where in stored.items() if where.packed)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    assert run_artver(clone, "pull").code == 0
    assert (clone / "whole.bin").read_bytes() == whole and (clone / "chunked.bin").read_bytes() == chunked
    with pytest.raises(UsageError, match="stored in .* as chunks"):
        av.get_url("chunked.bin", repo=clone)
    with av.open("chunked.bin", repo=clone, cache=False) as handle:
        assert handle.read() == chunked


def test_gc_keeps_the_chunks_live_files_need(repo: Path, tmp_path: Path, request, monkeypatch, run_artver) -> None:
    remote = make_remote("local", request, tmp_path, monkeypatch)
    _configure(run_artver, repo, remote)
    rng = random.Random(15)
    v1 = rng.randbytes(3 * MiB)
    v2 = _edited(v1, rng)
    for version, name in ((v1, "v1"), (v2, "v2")):
        (repo / "model.bin").write_bytes(version)
        if name == "v2":
            (repo / "model.bin").chmod(0o644)
            (repo / "model.bin").write_bytes(version)
        assert run_artver(repo, "add", "model.bin").code == 0
        commit_all(repo, name)
        _push_json(run_artver, repo)
    recipes_before = [key for key in remote.keys() if key.startswith("recipes/")]
    assert len(recipes_before) == 2
    result = run_artver(repo, "gc", "--workspace", "--cloud", "--yes")
    assert result.code == 0, result.err
    assert len([key for key in remote.keys() if key.startswith("recipes/")]) == 1
    v2_chunks = {ref.hash for ref in _cuts(v2)}
    v1_only = {ref.hash for ref in _cuts(v1)} - v2_chunks
    stored = stored_objects(remote)
    assert v2_chunks <= set(stored)
    assert not v1_only & set(stored)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    assert run_artver(clone, "pull").code == 0
    assert (clone / "model.bin").read_bytes() == v2
    assert run_artver(clone, "verify", "-r", "origin").code == 0


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.sampled_from(["insert", "overwrite", "truncate", "append"]),
                                st.floats(0, 1), st.integers(1, 300_000)), min_size=1, max_size=4))
def test_any_sequence_of_edits_round_trips(edits: list[tuple[str, float, int]], tmp_path_factory, request,
                                           monkeypatch, run_artver) -> None:  # type: ignore[no-untyped-def]
    base = tmp_path_factory.mktemp("edits")
    remote = make_remote("local", request, base, monkeypatch)
    repo = base / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    assert run_artver(repo, "init").code == 0
    _configure(run_artver, repo, remote)
    rng = random.Random(16)
    data = rng.randbytes(MiB + 200_000)
    versions = []
    for step, (kind, where, amount) in enumerate([("start", 0.0, 0), *edits]):
        at = int(where * len(data))
        if kind == "insert":
            data = data[:at] + rng.randbytes(amount) + data[at:]
        elif kind == "overwrite":
            data = data[:at] + rng.randbytes(amount) + data[at + amount:]
        elif kind == "truncate":
            data = data[:max(MiB, len(data) - amount)]
        elif kind == "append":
            data = data + rng.randbytes(amount)
        path = repo / "model.bin"
        if path.exists():
            path.chmod(0o644)
        path.write_bytes(data)
        assert run_artver(repo, "add", "model.bin").code == 0
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "--allow-empty", "-m", f"step {step}")  # a truncate below 1 MiB changes nothing
        git(repo, "tag", f"s{step}")
        _push_json(run_artver, repo)
        versions.append(data)
    clone = base / "clone"
    git(base, "clone", "-q", str(repo), str(clone))
    for step, expected in enumerate(versions):
        git(clone, "checkout", "-q", f"s{step}")
        result = run_artver(clone, "pull")
        assert result.code == 0, result.err
        assert (clone / "model.bin").read_bytes() == expected


def test_chunk_settings_are_checked(repo: Path, tmp_path: Path, run_artver) -> None:
    store = tmp_path / "store"
    store.mkdir()
    assert run_artver(repo, "remote", "add", "origin", str(store)).code == 0
    assert run_artver(repo, "remote", "modify", "origin", "chunk", "banana").code == 2
    assert run_artver(repo, "remote", "modify", "origin", "chunk_threshold", "1000").code == 2
    assert run_artver(repo, "remote", "modify", "origin", "chunk_threshold", str(4 * MiB)).code == 0
    assert os.path.isdir(store)
    assert chunking.recipe_key("xxh128:" + "ab" * 16) == "recipes/xxh128/ab/" + "ab" * 15


def test_open_without_caching_streams_a_chunked_file_and_seeks(repo: Path, tmp_path: Path, request, monkeypatch,
                                                               run_artver) -> None:
    """Nothing of the file is put together on disk: the cache stays empty, no temp file of its size appears."""
    remote = make_remote("s3", request, tmp_path, monkeypatch)
    _configure(run_artver, repo, remote)
    data = random.Random(17).randbytes(5 * MiB)
    (repo / "model.bin").write_bytes(data)
    assert run_artver(repo, "add", "model.bin").code == 0
    commit_all(repo, "model")
    _push_json(run_artver, repo)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    with av.open("model.bin", repo=clone, cache=False) as handle:
        handle.seek(3 * MiB + 5)
        assert handle.read(100) == data[3 * MiB + 5: 3 * MiB + 105]
        handle.seek(-10, io.SEEK_END)
        assert handle.read() == data[-10:]
        handle.seek(0)
        assert handle.read() == data  # read through in order: the whole-file hash is checked too
        large = [path for path in (clone / ".artver").rglob("*") if path.is_file() and path.stat().st_size >= MiB]
        assert large == []


def test_a_recipe_that_lists_other_chunks_is_caught_by_the_whole_file_hash(repo: Path, tmp_path: Path, request,
                                                                           monkeypatch, run_artver) -> None:
    """Each chunk is intact, but the recipe (rewritten by someone with write access) orders them
    otherwise: the rebuilt file's hash refuses it, in a pull and in a stream read through."""
    remote = make_remote("local", request, tmp_path, monkeypatch)
    _configure(run_artver, repo, remote)
    data = random.Random(18).randbytes(3 * MiB)
    (repo / "model.bin").write_bytes(data)
    assert run_artver(repo, "add", "model.bin").code == 0
    commit_all(repo, "model")
    _push_json(run_artver, repo)
    (key,) = [key for key in remote.keys() if key.startswith("recipes/")]
    lines = remote.get_raw(key).splitlines(keepends=True)
    assert lines[2] != lines[3]
    lines[2], lines[3] = lines[3], lines[2]
    remote.put_raw(key, b"".join(lines))
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    result = run_artver(clone, "pull")
    assert result.code == 1 and "rebuilt from its recipe hashes to" in result.err
    assert not (clone / "model.bin").exists()
    with pytest.raises(IntegrityError, match="streamed from its recipe hashes to"), \
            av.open("model.bin", repo=clone, cache=False) as handle:
        handle.read()


def _kill_when(processes, running, ready: Callable[[], bool], what: str) -> None:  # type: ignore[no-untyped-def]
    """SIGKILL the process group once ``ready()``; fail if the process ended first (the kill
    must land for the test to prove anything)."""
    import signal
    import time

    from tests.support.processes import kill_group

    deadline = time.monotonic() + 120
    while not ready():
        assert running.process.poll() is None, f"{what}: the process ended before the kill point: {running.output()}"
        assert time.monotonic() < deadline, f"{what}: the kill point never came"
        time.sleep(0.005)
    kill_group(running.process, signal.SIGKILL)
    assert processes.wait(running) == -signal.SIGKILL, f"{what}: the kill did not land"


def _assert_every_index_vouches_for_intact_packs(remote: RemoteUnderTest) -> None:
    """What a reader trusts in the remote is true: each index is whole (named by its bytes) and
    lists only packs that are whole, with every member's bytes hashing to its name."""
    from artver import hashing, packs

    keys = remote.keys()
    for key in keys:
        name = packs.name_in_key(key, packs.INDEX_PREFIX)
        if name is None:
            continue
        data = remote.get_raw(key)
        assert packs.name_of_bytes(data) == name, f"{key} is not whole"
        for member in packs.parse_index(data.splitlines(keepends=True), key):
            pack_key = packs.pack_key(member.location.pack)
            assert pack_key in keys, f"{key} lists {pack_key}, which is not in the remote"
            pack = remote.get_raw(pack_key)
            assert packs.name_of_bytes(pack) == member.location.pack, f"{pack_key} is not whole"
            piece = pack[member.location.offset:member.location.end]
            assert hashing.hash_bytes(piece, hashing.algorithm_of(member.hash)) == member.hash


@pytest.mark.parametrize("packs_before_kill", [1, 6])
def test_a_chunked_push_and_pull_killed_mid_way_finish_on_rerun(packs_before_kill: int, repo: Path, tmp_path: Path,
                                                                processes, run_artver) -> None:  # type: ignore[no-untyped-def]
    """Packs go up while the file is still being cut, several at once: wherever the kill lands,
    no recipe is in the remote and every index lists only whole packs of intact members."""
    from tests.support.cli import run_artver_process
    from tests.support.remotes import directory_remote

    store = tmp_path / "store"
    store.mkdir()
    remote = directory_remote(store)
    _configure(run_artver, repo, remote, pack_size=str(MiB))
    data = random.Random(19).randbytes(48 * MiB)  # a rebuild long enough for the kill to land during it
    (repo / "model.bin").write_bytes(data)
    assert run_artver(repo, "add", "model.bin").code == 0
    commit_all(repo, "model")
    running = processes.start(repo, "push")
    packs_dir = store / "packs"
    _kill_when(processes, running, lambda: packs_dir.is_dir() and len(list(packs_dir.iterdir())) >= packs_before_kill,
               "push")
    assert not any(key.startswith("recipes/") for key in remote.keys())  # the recipe goes up last
    _assert_every_index_vouches_for_intact_packs(remote)
    rerun = run_artver_process(repo, "push")
    assert rerun.code == 0, rerun.err
    assert run_artver_process(repo, "verify", "-r", "origin").code == 0

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    temp_folder = clone / ".artver" / "cache" / "tmp"

    def half_written() -> bool:
        return temp_folder.is_dir() and any(path.stat().st_size == len(data) for path in temp_folder.iterdir()
                                            if not path.name.endswith(".owner"))

    running = processes.start(clone, "pull")
    _kill_when(processes, running, half_written, "pull")
    assert not (clone / "model.bin").exists()
    rerun = run_artver_process(clone, "pull")
    assert rerun.code == 0, rerun.err
    assert (clone / "model.bin").read_bytes() == data
    assert run_artver_process(clone, "verify", "--all").code == 0
    leftovers = [path for path in temp_folder.iterdir() if path.stat().st_size >= MiB]
    assert leftovers == [], "the killed pull's temp file was not cleaned up"


def test_a_lost_chunk_index_is_rebuilt_from_the_cache(repo: Path, tmp_path: Path, request, monkeypatch,
                                                      run_artver) -> None:
    import shutil

    remote = make_remote("local", request, tmp_path, monkeypatch)
    _configure(run_artver, repo, remote)
    rng = random.Random(20)
    v1 = rng.randbytes(4 * MiB)
    v2 = _edited(v1, rng)
    (repo / "model.bin").write_bytes(v1)
    assert run_artver(repo, "add", "model.bin").code == 0
    commit_all(repo, "v1")
    git(repo, "tag", "v1")
    _push_json(run_artver, repo)
    (repo / "model.bin").chmod(0o644)
    (repo / "model.bin").write_bytes(v2)
    assert run_artver(repo, "add", "model.bin").code == 0
    commit_all(repo, "v2")
    _push_json(run_artver, repo)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    git(clone, "checkout", "-q", "v1")
    assert run_artver(clone, "pull").code == 0
    shutil.rmtree(clone / ".artver" / "chunks")
    git(clone, "checkout", "-q", "-")
    pulled = json.loads(run_artver(clone, "pull", "--json").out)["fetch"]
    assert pulled["deduplicated"] >= 0.7 * len(v2)
    assert (clone / "model.bin").read_bytes() == v2
    assert (clone / ".artver" / "chunks" / ".gitignore").read_text().endswith("*\n")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_file_written_out_of_order_is_hashed_as_its_bytes_on_disk(seed: int, tmp_path: Path) -> None:
    """The rebuild's whole-file hash is taken while chunks are written, in any order and from
    several threads: it must read back each region only once everything before it is written
    (a region read early would be hashed as zeros and the right file refused)."""
    import threading

    from artver import hashing
    from artver.remote_chunks import _InOrderHash

    rng = random.Random(seed)
    data = rng.randbytes(3 * MiB + 12345)
    refs = _cuts(data)
    rng.shuffle(refs)
    path = tmp_path / "rebuilt"
    path.write_bytes(b"")
    os.truncate(path, len(data))
    fd = os.open(path, os.O_WRONLY)
    try:
        with _InOrderHash(str(path), len(data), "xxh128") as whole:
            def write(part: list[ChunkRef]) -> None:
                for ref in part:
                    os.pwrite(fd, data[ref.offset:ref.end], ref.offset)
                    whole.written(ref.offset, ref.length)

            threads = [threading.Thread(target=write, args=(refs[number::3],)) for number in range(3)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert whole.finish() == hashing.hash_bytes(data, "xxh128")
    finally:
        os.close(fd)


def test_a_failed_pack_upload_fails_the_push_and_leaves_no_recipe(repo: Path, tmp_path: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    """Packs go up while the file is still being cut: an upload that fails must fail the file's
    push (not be lost in a worker thread), and no recipe may vouch for chunks that never arrived.
    Once the remote is fixed, the same push completes."""
    from tests.support.remotes import directory_remote

    store = tmp_path / "store"
    store.mkdir()
    remote = directory_remote(store)
    _configure(run_artver, repo, remote, pack_size=str(MiB))
    data = random.Random(23).randbytes(24 * MiB)
    (repo / "model.bin").write_bytes(data)
    assert run_artver(repo, "add", "model.bin").code == 0
    commit_all(repo, "model")
    (store / "packs").write_bytes(b"not a folder")  # every pack upload fails
    failed = run_artver(repo, "push")
    assert failed.code != 0
    assert "packs" in failed.err
    assert not any(key.startswith(("recipes/", "index/")) for key in remote.keys())
    (store / "packs").unlink()
    rerun = run_artver(repo, "push")
    assert rerun.code == 0, rerun.err
    assert any(key.startswith("recipes/") for key in remote.keys())
    assert run_artver(repo, "verify", "-r", "origin").code == 0
