"""A file or folder inside a tracked directory as the target of pull, fetch, checkout, status
and push: only what is under it moves, against a directory, SeaweedFS (S3) and fake-gcs-server
(GCS), with the listing inline in the pointer and as a listing object."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from artver.hashing import hash_bytes
from tests.support.cli import Result, assert_one_line_error
from tests.support.git import commit_all, git
from tests.support.remotes import RemoteUnderTest, make_remote, stored_objects

KINDS = ["local", "s3", "gcs"]
LISTING_FORMS = ["inline", "object"]

FILES = {
    "cats/c1.jpg": b"cat one\n",
    "cats/c2.jpg": b"cat two\n",
    "cats/deep/c3.jpg": b"cat three\n",
    "dogs/d1.jpg": b"dog one\n",
    "dogs/d2.jpg": b"dog two\n",
    "dogs/d3.jpg": b"dog three\n",
    "README.md": b"pets\n",
    "cats-notes.txt": b"sorts between cats and cats/ (a prefix, not a folder)\n",
}
CATS = [path for path in FILES if path.startswith("cats/")]
DOGS = [path for path in FILES if path.startswith("dogs/")]


@dataclass(frozen=True)
class Project:
    root: Path
    remote: RemoteUnderTest
    listing: str | None  # the listing object's hash; None when the listing is inline


def object_of(relative: str) -> str:
    return hash_bytes(FILES[relative], "xxh128")


def objects_of(relatives: list[str]) -> set[str]:
    return {object_of(relative) for relative in relatives}


def cache_objects(root: Path) -> set[str]:
    """Every object in the repository's cache, by hash."""
    cache = root / ".artver" / "cache" / "xxh128"
    return {f"xxh128:{path.parent.name}{path.name}" for path in cache.glob("??/*")} if cache.is_dir() else set()


def remote_objects(remote: RemoteUnderTest) -> set[str]:
    """Every object the remote holds, whole or in a pack."""
    return set(stored_objects(remote))


def listing_of(root: Path) -> str | None:
    for line in (root / "data" / "images.art").read_text().splitlines():
        if line.startswith("listing: "):
            return line.removeprefix("listing: ")
    return None


def write_files(root: Path, files: dict[str, bytes]) -> None:
    for relative, content in files.items():
        path = root / "data" / "images" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def configure(run_artver: Callable[..., Result], root: Path, remote: RemoteUnderTest) -> None:
    assert run_artver(root, "remote", "add", "origin", remote.url, "--default").code == 0
    for key, value in remote.settings.items():
        assert run_artver(root, "remote", "modify", "origin", key, value).code == 0


def new_project(root: Path, remote: RemoteUnderTest, form: str, run_artver: Callable[..., Result]) -> Project:
    if form == "object":
        config = root / ".artver" / "config"
        config.write_text(config.read_text().replace("[core]\n", "[core]\nlisting_inline_max = 2\n"))
    write_files(root, FILES)
    assert run_artver(root, "add", "data/images").code == 0
    configure(run_artver, root, remote)
    commit_all(root, "images")
    listing = listing_of(root)
    assert (listing is None) == (form == "inline")
    return Project(root, remote, listing)


@pytest.fixture(params=KINDS)
def remote(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RemoteUnderTest:
    return make_remote(request.param, request, tmp_path, monkeypatch)


@pytest.fixture
def directory_remote(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RemoteUnderTest:
    """A directory remote, for what does not depend on the kind of remote."""
    return make_remote("local", request, tmp_path, monkeypatch)


@pytest.fixture(params=LISTING_FORMS)
def project(request: pytest.FixtureRequest, repo: Path, remote: RemoteUnderTest, run_artver: Callable[..., Result]) -> Project:
    return new_project(repo, remote, request.param, run_artver)


@pytest.fixture
def pushed(project: Project, run_artver: Callable[..., Result]) -> Project:
    result = run_artver(project.root, "push")
    assert result.code == 0, result.err
    return project


def clone(project: Project, tmp_path: Path, name: str = "clone") -> Path:
    target = tmp_path / name
    git(tmp_path, "clone", "-q", str(project.root), str(target))
    return target


def workspace_files(root: Path) -> set[str]:
    folder = root / "data" / "images"
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()} if folder.is_dir() else set()


def listing_objects(project: Project) -> set[str]:
    return {project.listing} if project.listing else set()


# --- pull and fetch: only the part's objects move --------------------------------------------------


def test_pull_of_a_folder_fetches_and_places_only_its_files(pushed: Project, tmp_path: Path, run_artver) -> None:
    other = clone(pushed, tmp_path)
    assert cache_objects(other) == set()
    result = run_artver(other, "pull", "data/images/cats/", "--json")  # trailing slash, as a shell completes it
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert cache_objects(other) == objects_of(CATS) | listing_objects(pushed)
    assert summary["fetch"]["transferred"] == len(CATS) + len(listing_objects(pushed))
    assert sorted(summary["checkout"]["updated"]) == sorted(f"data/images/{path}" for path in CATS)
    assert workspace_files(other) == set(CATS)  # not cats-notes.txt, whose name merely starts like it
    for relative in CATS:
        assert (other / "data" / "images" / relative).read_bytes() == FILES[relative]


def test_pull_of_one_file_from_a_subfolder_moves_only_that_file(pushed: Project, tmp_path: Path, run_artver) -> None:
    other = clone(pushed, tmp_path)
    result = run_artver(other / "data", "pull", "images/dogs/d2.jpg")  # relative to the current directory
    assert result.code == 0, result.err
    assert cache_objects(other) == {object_of("dogs/d2.jpg")} | listing_objects(pushed)
    assert workspace_files(other) == {"dogs/d2.jpg"}
    # A second part adds its own objects, and only those.
    result = run_artver(other, "fetch", "data/images/dogs")
    assert result.code == 0, result.err
    assert cache_objects(other) == objects_of(DOGS) | listing_objects(pushed)
    assert workspace_files(other) == {"dogs/d2.jpg"}  # fetch places nothing


def test_fetch_of_a_part_at_a_revision(repo: Path, tmp_path: Path, run_artver, directory_remote) -> None:
    remote = directory_remote
    project = new_project(repo, remote, "object", run_artver)
    git(repo, "tag", "v1")
    old_cats = {hash_bytes(FILES[path], "xxh128") for path in CATS}
    write_files(repo, {"cats/c1.jpg": b"cat one, retouched\n", "dogs/d1.jpg": b"dog one, retouched\n"})
    assert run_artver(repo, "add", "data/images").code == 0
    commit_all(repo, "retouched")
    assert run_artver(repo, "push", "--rev", "v1").code == 0
    other = clone(project, tmp_path)
    result = run_artver(other, "fetch", "data/images/cats", "--rev", "v1")
    assert result.code == 0, result.err
    new_cats = {hash_bytes(b"cat one, retouched\n", "xxh128")} | objects_of(["cats/c2.jpg", "cats/deep/c3.jpg"])
    listings = {listing_of(repo), project.listing}
    assert cache_objects(other) == old_cats | new_cats | listings
    # A part the revision does not have selects nothing there; the workspace has it, so no error.
    write_files(repo, {"birds/b1.jpg": b"bird\n"})
    assert run_artver(repo, "add", "data/images").code == 0
    assert run_artver(repo, "push").code == 0
    commit_all(repo, "birds")
    git(other, "pull", "-q")
    before = cache_objects(other)
    result = run_artver(other, "fetch", "data/images/birds", "--rev", "v1")
    assert result.code == 0, result.err
    assert cache_objects(other) - before == {hash_bytes(b"bird\n", "xxh128"), listing_of(repo)}


def test_api_read_of_a_file_in_a_directory_fetches_only_that_file(pushed: Project, tmp_path: Path) -> None:
    import artver.api as av

    other = clone(pushed, tmp_path)
    assert av.read("data/images/dogs/d3.jpg", repo=other) == FILES["dogs/d3.jpg"]
    assert cache_objects(other) == {object_of("dogs/d3.jpg")} | listing_objects(pushed)
    with av.open("data/images/cats/deep/c3.jpg", repo=other, mode="r") as handle:
        assert handle.read() == FILES["cats/deep/c3.jpg"].decode()
    assert workspace_files(other) == set()  # the workspace is never touched


# --- checkout: only the part, with the usual safety rules -------------------------------------------


@pytest.mark.parametrize("form", LISTING_FORMS)
def test_checkout_of_a_part_leaves_the_rest_of_the_folder_alone(repo: Path, tmp_path: Path, run_artver, directory_remote,
                                                                form: str) -> None:
    project = new_project(repo, directory_remote, form, run_artver)
    images = repo / "data" / "images"
    (images / "dogs" / "d1.jpg").write_bytes(b"unsaved dog edit\n")
    (images / "dogs" / "extra.jpg").write_bytes(b"a file of the user's\n")
    (images / "README.md").unlink()
    (images / "cats" / "c1.jpg").write_bytes(b"unsaved cat edit\n")
    (images / "cats" / "c2.jpg").unlink()
    (images / "cats" / "deep" / "saved-extra.jpg").write_bytes(FILES["dogs/d2.jpg"])  # content in the cache
    (images / "cats" / "unsaved-extra.jpg").write_bytes(b"saved nowhere\n")
    outside = {path: (images / path).read_bytes() for path in ("dogs/d1.jpg", "dogs/extra.jpg", "dogs/d2.jpg")}

    result = run_artver(repo, "checkout", "data/images/cats", "--json")
    assert result.code == 1, result.err
    report = json.loads(result.out)
    assert report["updated"] == ["data/images/cats/c2.jpg"]
    assert report["removed"] == ["data/images/cats/deep/saved-extra.jpg"]
    assert report["unsaved"] == ["data/images/cats/c1.jpg", "data/images/cats/unsaved-extra.jpg"]
    assert (images / "cats" / "c1.jpg").read_bytes() == b"unsaved cat edit\n"
    assert (images / "cats" / "unsaved-extra.jpg").exists()
    assert not (images / "README.md").exists()  # outside the part: not restored
    assert {path: (images / path).read_bytes() for path in outside} == outside

    result = run_artver(repo, "checkout", "data/images/cats/", "--force", "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["removed"] == ["data/images/cats/unsaved-extra.jpg"]
    assert report["updated"] == ["data/images/cats/c1.jpg"]
    assert {path: (images / path).read_bytes() for path in outside} == outside  # --force stays inside the part too
    assert not (images / "README.md").exists()
    assert {path for path in workspace_files(repo) if path.startswith("cats/")} == set(CATS)
    assert project.listing is None if form == "inline" else project.listing in cache_objects(repo)


def test_checkout_of_one_file_keeps_its_executable_bit_and_git_tracked_paths(repo: Path, tmp_path: Path, run_artver,
                                                                            directory_remote) -> None:
    project = new_project(repo, directory_remote, "inline", run_artver)
    images = project.root / "data" / "images"
    script = images / "dogs" / "run.sh"
    script.write_bytes(b"#!/bin/sh\n")
    script.chmod(0o755)
    assert run_artver(repo, "add", "data/images").code == 0
    script.chmod(0o644)
    (images / "dogs" / "d1.jpg").write_bytes(b"mine, in Git\n")
    git(repo, "add", "-f", "data/images/dogs/d1.jpg")
    assert run_artver(repo, "checkout", "data/images/dogs/run.sh").code == 0
    assert script.stat().st_mode & 0o100  # the listing's executable bit, restored
    result = run_artver(repo, "checkout", "data/images/dogs/d1.jpg", "--json")
    assert result.code == 1
    assert json.loads(result.out)["git_tracked"] == ["data/images/dogs/d1.jpg"]
    assert (images / "dogs" / "d1.jpg").read_bytes() == b"mine, in Git\n"


def test_checkout_of_a_part_refuses_a_symlinked_folder(repo: Path, tmp_path: Path, run_artver,
                                                                   directory_remote) -> None:
    new_project(repo, directory_remote, "inline", run_artver)
    images = repo / "data" / "images"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for relative in ("deep/c3.jpg",):
        (images / "cats" / relative).unlink()
    (images / "cats" / "deep").rmdir()
    (images / "cats" / "deep").symlink_to(elsewhere)
    # A path through the link resolves outside the repository; the link itself is refused.
    assert_one_line_error(run_artver(repo, "checkout", "data/images/cats/deep/c3.jpg"), "outside the repository")
    assert_one_line_error(run_artver(repo, "checkout", "data/images/cats/deep", "--force"),
                          "data/images/cats/deep: symlink points outside the tracked folder")
    assert list(elsewhere.iterdir()) == []
    (images / "dogs").rename(tmp_path / "dogs")
    (images / "dogs").symlink_to(tmp_path / "dogs")
    assert_one_line_error(run_artver(repo, "pull", "data/images/dogs/"), "data/images/dogs: symlink points outside the tracked folder")


# --- status -----------------------------------------------------------------------------------------


def test_status_of_parts_reports_only_what_is_under_them(repo: Path, tmp_path: Path, run_artver, directory_remote) -> None:
    new_project(repo, directory_remote, "object", run_artver)
    images = repo / "data" / "images"
    (images / "dogs" / "d1.jpg").write_bytes(b"edited\n")
    (images / "README.md").unlink()
    (images / "cats" / "new.jpg").write_bytes(b"new\n")
    (images / "cats" / "c2.jpg").unlink()
    result = run_artver(repo, "status", "data/images/cats", "data/images/dogs/d2.jpg", "data/images/cats/deep",
                        "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out) == [
        {"path": "data/images/cats", "kind": "dir", "state": "modified", "added": ["new.jpg"], "modified": [],
         "deleted": ["c2.jpg"], "detail": ""},
        {"path": "data/images/dogs/d2.jpg", "kind": "file", "state": "clean", "added": [], "modified": [],
         "deleted": [], "detail": ""},
    ]  # cats/deep is inside cats, named already: reported once
    (images / "dogs" / "d2.jpg").chmod(0o755)
    (images / "dogs" / "d3.jpg").unlink()
    result = run_artver(repo, "status", "data/images/dogs/d2.jpg", "data/images/dogs/d3.jpg", "--json")
    states = [(item["path"], item["state"]) for item in json.loads(result.out)]
    assert states == [("data/images/dogs/d2.jpg", "modified"), ("data/images/dogs/d3.jpg", "missing")]
    assert run_artver(repo, "status", "data/images/dogs/d1.jpg", "--check").code == 1
    assert run_artver(repo, "status", "data/images/cats/c1.jpg", "--check").code == 0


# --- bad parts --------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["pull", "fetch", "checkout", "status", "push"])
def test_a_part_that_names_nothing_is_a_one_line_error(pushed: Project, tmp_path: Path, run_artver, command: str) -> None:
    other = clone(pushed, tmp_path)
    if command in ("checkout", "status", "push"):
        # These never fetch; with the listing object in the cache they check the part up front.
        # (pull and fetch run in the fresh clone: they fetch the listing, then check.)
        assert run_artver(other, "fetch", "data/images/README.md").code == 0
    before = cache_objects(other)
    result = run_artver(other, command, "data/images/birds")
    assert result.code == 2
    assert_one_line_error(result, "data/images/birds: not in the tracked directory data/images",
                          "holds: README.md, cats-notes.txt, cats/, dogs/")
    assert cache_objects(other) - before <= listing_objects(pushed)  # at most the listing, to know what is there
    assert workspace_files(other) <= {"README.md"}
    result = run_artver(other, command, "data/images/cats/deep/c9.jpg")
    assert_one_line_error(result, "(data/images/cats/deep holds: c3.jpg)")
    result = run_artver(other, command, "data/images/cats/c1.jpg/more")
    assert_one_line_error(result, "not in the tracked directory data/images (data/images/cats holds: c1.jpg, c2.jpg, deep/)")


def test_a_path_inside_a_tracked_file_is_refused(repo: Path, run_artver) -> None:
    (repo / "model.pt").write_bytes(b"weights")
    assert run_artver(repo, "add", "model.pt").code == 0
    assert_one_line_error(run_artver(repo, "checkout", "model.pt/x"), "model.pt is a tracked file, not a directory")


def test_api_names_what_a_directory_holds(pushed: Project, tmp_path: Path) -> None:
    import artver.api as av
    from artver.errors import UsageError

    other = clone(pushed, tmp_path)
    with pytest.raises(UsageError, match=r"data/images/dogs/d9.jpg: not in the tracked directory data/images "
                                         r"\(data/images/dogs holds: d1.jpg, d2.jpg, d3.jpg\)"):
        av.read("data/images/dogs/d9.jpg", repo=other)
    with pytest.raises(UsageError, match="a folder inside the tracked directory data/images; name a file in it"):
        av.read("data/images/dogs", repo=other)
    assert cache_objects(other) == listing_objects(pushed)


# --- push: only the part's objects; the listing only once the remote holds all its files -------------


def test_push_of_parts_keeps_the_listing_last(project: Project, run_artver) -> None:
    root, remote = project.root, project.remote
    result = run_artver(root, "push", "data/images/cats")
    assert result.code == 0, result.err
    assert remote_objects(remote) == objects_of(CATS)  # the listing would vouch for files not there yet
    if project.listing:
        cloud = json.loads(run_artver(root, "status", "--cloud", "data/images/cats", "--json").out)
        assert cloud == [{"path": "data/images/cats", "kind": "dir", "state": "partly-in-remote",
                          "objects": len(CATS) + 1, "missing": 1,
                          "detail": "its directory's listing goes up once the remote has all the directory's files"}]
    result = run_artver(root, "push", "data/images/dogs/d1.jpg", "data/images/README.md")
    assert result.code == 0, result.err
    assert remote_objects(remote) == objects_of([*CATS, "dogs/d1.jpg", "README.md"])
    # The last part completes the directory: now the listing goes up, after its files.
    result = run_artver(root, "push", "data/images/dogs", "data/images/cats-notes.txt", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["transferred"] == 3 + len(listing_objects(project))
    assert remote_objects(remote) == objects_of(list(FILES)) | listing_objects(project)
    result = run_artver(root, "push", "data/images/cats")
    assert result.code == 0, result.err
    assert run_artver(root, "status", "--cloud", "data/images", "--check").code == 0


def test_push_of_a_part_uploads_the_listing_when_the_rest_is_already_there(repo: Path, tmp_path: Path, run_artver,
                                                                          directory_remote) -> None:
    remote = directory_remote
    project = new_project(repo, remote, "object", run_artver)
    for relative in FILES:
        if relative != "dogs/d3.jpg":  # everything else reached the remote by other pushes
            remote.put_raw(f"xxh128/{object_of(relative)[7:9]}/{object_of(relative)[9:]}", FILES[relative])
    assert run_artver(repo, "push", "data/images/dogs/d3.jpg").code == 0
    assert remote_objects(remote) == objects_of(list(FILES)) | {project.listing}
    # A listing already in the remote is not uploaded again.
    result = run_artver(repo, "push", "data/images/dogs", "--json")
    assert json.loads(result.out)["transferred"] == 0


def test_push_of_a_part_whose_file_fails_does_not_upload_the_listing(repo: Path, tmp_path: Path, run_artver,
                                                                    directory_remote) -> None:
    remote = directory_remote
    project = new_project(repo, remote, "object", run_artver)
    for relative in FILES:
        if not relative.startswith("cats/"):
            remote.put_raw(f"xxh128/{object_of(relative)[7:9]}/{object_of(relative)[9:]}", FILES[relative])
    damaged = object_of("cats/c2.jpg")
    cached = repo / ".artver" / "cache" / "xxh128" / damaged[7:9] / damaged[9:]
    cached.chmod(0o644)
    cached.write_bytes(b"rotten on disk\n")  # push refuses to upload an object that no longer matches its name
    result = run_artver(repo, "push", "data/images/cats")
    assert result.code == 1
    assert damaged not in remote_objects(remote)
    assert project.listing not in remote_objects(remote)
    assert os.path.exists(repo / "data" / "images" / "cats" / "c2.jpg")


def test_verify_of_a_part_checks_only_its_objects(repo: Path, run_artver, directory_remote) -> None:
    project = new_project(repo, directory_remote, "object", run_artver)
    result = run_artver(repo, "verify", "data/images/dogs", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["checked"] == len(DOGS) + 1  # and the listing
    damaged = object_of("cats/c1.jpg")
    cached = repo / ".artver" / "cache" / "xxh128" / damaged[7:9] / damaged[9:]
    cached.chmod(0o644)
    cached.write_bytes(b"rotten\n")
    assert run_artver(repo, "verify", "data/images/dogs").code == 0
    report = json.loads(run_artver(repo, "verify", "data/images/cats/c1.jpg", "--json").out)
    assert [(problem["object"], problem["artifacts"]) for problem in report["problems"]] == [
        (damaged, ["data/images/cats/c1.jpg"])]
    assert report["checked"] == 2 and project.listing is not None


def test_the_error_for_a_missing_part_stays_short(repo: Path, run_artver) -> None:
    folder = repo / "many"
    folder.mkdir()
    long_name = "a" * 200 + ".bin"  # sorts first, so it is among the names shown
    for name in [long_name, *(f"f{index}.bin" for index in range(9))]:
        (folder / name).write_bytes(name.encode())
    assert run_artver(repo, "add", "many").code == 0
    line = assert_one_line_error(run_artver(repo, "checkout", "many/f9.bin.art"),
                                 "many/f9.bin.art: not in the tracked directory many (it holds: a", "f0.bin, ", "and 4 more)")
    assert "a" * 80 + "..." in line and "a" * 81 not in line


def test_push_of_a_part_at_a_revision(repo: Path, run_artver, directory_remote) -> None:
    project = new_project(repo, directory_remote, "object", run_artver)
    git(repo, "tag", "v1")
    write_files(repo, {"cats/c1.jpg": b"cat one, retouched\n", "dogs/d1.jpg": b"dog one, retouched\n"})
    assert run_artver(repo, "add", "data/images").code == 0
    commit_all(repo, "retouched")
    result = run_artver(repo, "push", "data/images/cats", "--rev", "v1")
    assert result.code == 0, result.err
    # Both versions of the part, and neither listing: the remote lacks the dogs of either.
    assert remote_objects(directory_remote) == objects_of(CATS) | {hash_bytes(b"cat one, retouched\n", "xxh128")}
    result = run_artver(repo, "push", "--rev", "v1", "data/images/dogs", "data/images/README.md", "data/images/cats-notes.txt")
    assert result.code == 0, result.err
    assert {project.listing, listing_of(repo)} <= remote_objects(directory_remote)  # each version complete: both go up


def test_listing_under_selects_exactly_the_paths_at_or_below_a_part() -> None:
    import random

    from artver.listing import Entry, check_entries, names_in, under

    rng = random.Random(10)
    alphabet = ["a", "b", "a-b", "a.b", "a0", "a b", "é", "a/"]  # neighbours of "/" in sort order, and a separator
    for _ in range(300):
        paths = {"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 4))).strip("/").replace("//", "/")
                 for _ in range(rng.randint(1, 12))}
        paths = {path for path in paths if path and not any(other.startswith(path + "/") for other in paths)}
        entries = check_entries((Entry(path, "xxh128:" + "0" * 32, 1) for path in paths), "test")
        for inner in {"a", "a-b", "a/a", "b", "é", "a/b/a", *paths}:
            expected = [entry for entry in entries if entry.path == inner or entry.path.startswith(inner + "/")]
            assert list(under(entries, inner)) == expected, (inner, paths)
        assert names_in(entries, "") == list(dict.fromkeys(
            path.split("/")[0] + ("/" if "/" in path else "") for path in sorted(paths)))
