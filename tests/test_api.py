"""The Python API, against the real storage servers: what a notebook or an application does."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import artver.api as av
from artver.errors import ArtverError, IntegrityError, UsageError
from tests.support.git import commit_all, git
from tests.support.remotes import RemoteUnderTest, make_remote, stored_objects, tamper


# Both remote layouts: small objects packed (the default) and every object whole (pack = false).
@pytest.fixture(params=[("local", True), ("s3", False), ("gcs", True)], ids=["local", "s3-whole", "gcs"])
def remote(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RemoteUnderTest:
    kind, packed = request.param
    return make_remote(kind, request, tmp_path, monkeypatch, packed=packed)


@pytest.fixture
def history(repo: Path, remote: RemoteUnderTest) -> tuple[Path, dict[str, bytes]]:
    """Three versions of a model and a dataset, all pushed, tagged v1..v3."""
    from artver.commands import remote as remote_commands
    from artver.repo import open_repo

    remote_commands.add(open_repo(repo), "origin", remote.url, default=True)
    for key, value in remote.settings.items():
        remote_commands.modify(open_repo(repo), "origin", key, value)
    versions = {}
    for number in (1, 2, 3):
        versions[f"v{number}"] = f"weights of version {number}\n".encode() * 1000
        (repo / "model.pt").write_bytes(versions[f"v{number}"])
        (repo / "data").mkdir(exist_ok=True)
        (repo / "data" / "labels.csv").write_text(f"id,label\n1,{number}\n", encoding="utf-8")
        results = av.add(["model.pt", "data"], repo=repo, desc=f"version {number}", meta={"epoch": str(number * 10)})
        assert {result.path for result in results} == {"model.pt", "data"}
        commit_all(repo, f"version {number}")
        git(repo, "tag", f"v{number}")
        summary = av.push(repo=repo)
        assert summary.ok
    return repo, versions


def test_open_at_an_old_revision_whose_data_is_only_in_the_remote(history, tmp_path: Path) -> None:
    repo, versions = history
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    assert not (clone / ".artver" / "cache").exists()
    with av.open("model.pt", rev="v1", repo=clone) as handle:
        assert handle.read() == versions["v1"]
    assert not (clone / "model.pt").exists()  # the workspace is never touched
    assert av.read("data/labels.csv", rev="v2", repo=clone, mode="r", encoding="utf-8") == "id,label\n1,2\n"
    # cached by default: a second open needs no remote
    shutil.rmtree(clone / ".artver" / "cache" / "tmp", ignore_errors=True)
    assert av.read("model.pt", rev="v1", repo=clone) == versions["v1"]


def test_open_without_caching_leaves_the_cache_empty(history, tmp_path: Path) -> None:
    repo, versions = history
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    with av.open("model.pt", rev="v2", repo=clone, cache=False) as handle:
        assert handle.read() == versions["v2"]
    # Nothing but this process's temp-owner record (see artver/tempfiles.py), kept while it lives.
    objects = [path for path in (clone / ".artver" / "cache").rglob("*") if path.is_file() and not path.name.endswith(".owner")]
    assert objects == []


def test_open_in_text_mode_and_relative_to_repo(history) -> None:
    repo, _ = history
    with av.open("data/labels.csv", repo=repo, mode="r", encoding="utf-8") as handle:
        assert handle.readline() == "id,label\n"
    with av.open(Path("data") / "labels.csv", rev="HEAD~2", repo=repo / "data" / "..") as handle:
        assert handle.read() == b"id,label\n1,1\n"


def test_open_refuses_what_it_cannot_serve(history) -> None:
    repo, _ = history
    with pytest.raises(UsageError, match="not a tracked artifact"):
        av.read("nothing.bin", repo=repo)
    with pytest.raises(UsageError, match="is a tracked directory"):
        av.read("data", repo=repo)
    with pytest.raises(UsageError, match="read-only"):
        with av.open("model.pt", repo=repo, mode="wb"):
            pass
    with pytest.raises(ArtverError, match="unknown revision"):
        av.read("model.pt", rev="v99", repo=repo)


def test_corrupt_remote_object_never_reaches_the_caller(history, remote: RemoteUnderTest, tmp_path: Path) -> None:
    repo, versions = history
    from artver.hashing import hash_bytes

    algorithm, digest = hash_bytes(versions["v1"], "xxh128").split(":")
    tamper(remote, f"{algorithm}:{digest}", lambda data: b"not the model".ljust(len(data)))
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    with pytest.raises(IntegrityError, match="corrupt"):
        av.read("model.pt", rev="v1", repo=clone)
    assert not any(path.is_file() for path in (clone / ".artver" / "cache").rglob(digest[2:]))


def test_corrupt_cache_object_is_detected_on_open(history) -> None:
    repo, versions = history
    from artver.hashing import hash_bytes

    _, digest = hash_bytes(versions["v3"], "xxh128").split(":")
    path = repo / ".artver" / "cache" / "xxh128" / digest[:2] / digest[2:]
    path.chmod(0o644)
    path.write_bytes(b"bit rot" + versions["v3"][7:])
    with pytest.raises(IntegrityError, match="quarantined"):
        av.read("model.pt", repo=repo)
    assert av.read("model.pt", repo=repo) == versions["v3"]  # fetched again from the remote


def test_get_url_points_at_the_blob(history, remote: RemoteUnderTest) -> None:
    repo, versions = history
    from artver.hashing import hash_bytes

    _, digest = hash_bytes(versions["v2"], "xxh128").split(":")
    if stored_objects(remote)[f"xxh128:{digest}"].packed:
        with pytest.raises(UsageError, match="stored inside a pack"):
            av.get_url("model.pt", rev="v2", repo=repo)
        return
    url = av.get_url("model.pt", rev="v2", repo=repo)
    assert url.endswith(f"xxh128/{digest[:2]}/{digest[2:]}")
    assert url.startswith({"local": "/", "s3": "s3://", "gcs": "gs://"}[remote.kind])
    assert remote.get_raw(f"xxh128/{digest[:2]}/{digest[2:]}") == versions["v2"]


def test_operations_return_typed_results(history, tmp_path: Path) -> None:
    repo, versions = history
    infos = {info.path: info for info in av.ls(repo=repo)}
    assert infos["model.pt"].desc == "version 3" and infos["model.pt"].meta == {"epoch": "30"}
    assert infos["data"].files == 1
    assert [info.path for info in av.ls(rev="v1", repo=repo)] == ["data", "model.pt"]
    assert {item.path: item.state for item in av.status(repo=repo)} == {"data": "clean", "model.pt": "clean"}
    assert all(item.state == "in-remote" for item in av.cloud_status(repo=repo))
    change = av.diff("v1", "v3", repo=repo)
    assert {item.path: item.change for item in change.changes} == {"data": "modified", "model.pt": "modified"}
    entries = av.log("model.pt", repo=repo)
    assert [entry.subject for entry in entries] == ["version 3", "version 2", "version 1"]
    assert entries[-1].change == "added" and entries[0].author.startswith("Ada Tester")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    pulled = av.pull(repo=clone)
    assert pulled.ok and pulled.fetch.transferred == 2
    assert (clone / "model.pt").read_bytes() == versions["v3"]
    git(clone, "checkout", "-q", "v1")
    assert av.fetch(repo=clone).transferred == 2
    assert av.checkout(repo=clone).ok
    assert (clone / "model.pt").read_bytes() == versions["v1"]
    assert av.verify(repo=clone, remote="origin").ok
    removed = av.remove("model.pt", repo=clone)
    assert removed[0].pointer_path == "model.pt.art" and (clone / "model.pt").exists()


def test_errors_are_one_documented_hierarchy(tmp_path: Path) -> None:
    from artver.errors import NotARepositoryError

    outside = tmp_path / "plain"
    outside.mkdir()
    with pytest.raises(NotARepositoryError) as caught:
        av.status(repo=outside)
    assert isinstance(caught.value, ArtverError) and "git init" in str(caught.value)
    assert caught.value.exit_code == 2
