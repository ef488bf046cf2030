"""A pointer or listing can never make artver write a Git (or artver) repository.

Every spelling that some filesystem resolves to ``.git`` or ``.artver`` is refused, at the
top and nested, in inline listings, in listing objects fetched from a remote, in a pointer's
own location, in history, and at ``artver add``; so is a folder laid out as a bare repository.
The first test is the end-to-end reproduction of the issue: a committed ``evil.art`` whose
listing makes ``evil/`` a repository whose ``core.fsmonitor`` runs a command on ``git status``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from artver import listing
from artver.cache import Cache
from artver.console import printable
from artver.errors import UnsafePathError
from artver.listing import Entry
from artver.paths import check_artifact_path, check_relative, git_file_of, own_folder_of
from artver.pointer import DirPointer, FilePointer, InlineListing, ListingRef, format_pointer
from tests.support.cli import assert_one_line_error
from tests.support.files import write, xxh
from tests.support.git import SUBPROCESS_TIMEOUT, commit_all, git

GIT_SPELLINGS = [
    ".git", ".GIT", ".Git", ".gIT", ".git.", ".git ", ".git. .", ".GIT  ..", ".git:", ".git::$INDEX_ALLOCATION",
    ".git:stream:$DATA", "git~1", "GIT~1", "Git~1 .", ".g\u200cit", "\u200c.git", ".gi\ufefft", ".git\u206a",
    ".g\u200d\u202eit", ".g\u0131t", ".G\u0130T",
]
ARTVER_SPELLINGS = [".artver", ".ARTVER", ".Artver.", ".artver::$INDEX_ALLOCATION", "artver~1", ".art\u200cver"]
FINE_NAMES = [".github", ".gitx", "git", ".gi", "git~2", "x.git", ".git-rewrite", "..git", ".gitattributes", ".gitignore",
              ".gitmodules", ".artverx", "artver", ".DS_Store", "HEAD", "objects", "refs", "config"]

EVIL_CONFIG = b"[core]\n\trepositoryformatversion = 0\n\tbare = false\n\tfsmonitor = touch PWNED\n"
GIT_LAYOUT = {
    ".git/HEAD": b"ref: refs/heads/main\n",
    ".git/config": EVIL_CONFIG,
    ".git/objects/info/packs": b"\n",
    ".git/refs/heads/.keep": b"",
}


def git_with_input(cwd: Path, text: str, *args: str) -> str:
    completed = subprocess.run(["git", *args], cwd=cwd, input=text, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT)
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def cache_of(repo: Path) -> Cache:
    return Cache((repo / ".artver" / "cache").resolve(), "xxh128")


def entries_of(files: dict[str, bytes]) -> tuple[Entry, ...]:
    return tuple(sorted(Entry(path, xxh(data), len(data)) for path, data in files.items()))


def put_in_remote(remote: Path, data: bytes) -> str:
    """Store an object in a directory remote the way artver lays it out."""
    hash_value = xxh(data)
    digest = hash_value.split(":")[1]
    write(remote / "xxh128" / digest[:2] / digest[2:], data)
    return hash_value


def files_below(root: Path) -> set[str]:
    return {
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if not path.relative_to(root).as_posix().startswith((".git/", ".artver/"))
    }


@pytest.fixture
def remote_dir(repo: Path, tmp_path: Path, run_artver) -> Path:  # type: ignore[no-untyped-def]
    remote = tmp_path / "remote"
    remote.mkdir()
    assert run_artver(repo, "remote", "add", "origin", str(remote), "--default").code == 0
    commit_all(repo, "remote")
    return remote


# ---------------------------------------------------------------- the reproduction of the issue


@pytest.mark.parametrize("form", ["inline", "listing-object"])
def test_hostile_commit_cannot_make_a_pulled_folder_a_git_repository(repo: Path, remote_dir: Path, tmp_path: Path, run_artver, form: str) -> None:  # type: ignore[no-untyped-def]
    files = {**GIT_LAYOUT, "weights.bin": b"w" * 100}
    for data in files.values():
        put_in_remote(remote_dir, data)
    entries = entries_of(files)
    if form == "inline":
        hostile = DirPointer(InlineListing(entries))
    else:
        listing_hash = put_in_remote(remote_dir, listing.to_object_bytes(entries))
        hostile = DirPointer(ListingRef(listing_hash, count=len(entries), size=sum(len(d) for d in files.values())))
    write(repo / "evil.art", format_pointer(hostile))
    commit_all(repo, "a dataset")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    before = files_below(clone)

    result = run_artver(clone, "pull")

    assert_one_line_error(result, "evil.art", "'.git'", "artver never writes into a .git folder")
    assert not (clone / "evil").exists()
    assert files_below(clone) == before
    # What the attack needed: had evil/ been written, this would run the fsmonitor command.
    (clone / "evil").mkdir()
    subprocess.run(["git", "status"], cwd=clone / "evil", capture_output=True, timeout=SUBPROCESS_TIMEOUT)
    assert not (clone / "evil" / "PWNED").exists()


# ---------------------------------------------------------------- the predicate


@pytest.mark.parametrize("name", GIT_SPELLINGS)
def test_every_git_spelling_is_git(name: str) -> None:
    assert own_folder_of(name) == ".git"
    for path in (name, f"{name}/config", f"sub/{name}", f"a/b/{name}/hooks/post-checkout"):
        with pytest.raises(UnsafePathError, match="never writes into a .git folder"):
            check_relative(path, "p.art")


@pytest.mark.parametrize("name", ARTVER_SPELLINGS)
def test_every_artver_spelling_is_artver(name: str) -> None:
    assert own_folder_of(name) == ".artver"
    with pytest.raises(UnsafePathError, match="never writes into a .artver folder"):
        check_relative(f"{name}/config.local", "p.art")
    with pytest.raises(UnsafePathError, match="never writes into a .artver folder"):
        check_relative(f"sub/{name}/cache/x", "p.art")


@pytest.mark.parametrize("name", FINE_NAMES)
def test_names_that_only_look_alike_are_fine_in_listings(name: str) -> None:
    assert own_folder_of(name) is None
    assert check_relative(f"{name}/x", "p.art") == f"{name}/x"
    assert check_relative(f"sub/{name}", "p.art") == f"sub/{name}"


@pytest.mark.parametrize(
    ("name", "git_file"),
    [(".gitattributes", ".gitattributes"), (".GITIGNORE .", ".gitignore"), (".gitmodules::$DATA", ".gitmodules"),
     ("gitmod~1", ".gitmodules"), ("GI7EBA~1", ".gitmodules"), ("gi7d2~12", ".gitattributes"), (".mail\u200cmap", ".mailmap"),
     ("gitign~4", ".gitignore"), (".gitignore2", None), ("gitmod~5", None), ("model.pt", None)],
)
def test_git_files_are_refused_as_artifacts_only(name: str, git_file: str | None) -> None:
    assert git_file_of(name) == git_file
    assert check_relative(f"data/{name}", "p.art")  # inside a tracked folder: Git ignores it there
    if git_file is None:
        assert check_artifact_path(f"sub/{name}", "p.art")
    else:
        with pytest.raises(UnsafePathError, match=f"Git reads as its {git_file} file"):
            check_artifact_path(f"sub/{name}", "p.art")


# ---------------------------------------------------------------- every source of a path


def _inline_pointer(path: str) -> bytes:
    return format_pointer(DirPointer(InlineListing((Entry(path, xxh(EVIL_CONFIG), len(EVIL_CONFIG)),))))


@pytest.mark.parametrize("name", GIT_SPELLINGS + ARTVER_SPELLINGS)
def test_inline_listing_is_refused_at_top_and_nested(repo: Path, run_artver, name: str) -> None:  # type: ignore[no-untyped-def]
    cache_of(repo).add_bytes(EVIL_CONFIG)
    for path in (f"{name}/config", f"sub/{name}/config"):
        write(repo / "data.art", _inline_pointer(path))
        before = files_below(repo)
        for command in (["checkout"], ["status"], ["ls"]):
            assert_one_line_error(run_artver(repo, *command), "data.art", "artver never writes into a .")
        assert files_below(repo) == before and not (repo / "data").exists()


@pytest.mark.parametrize("name", GIT_SPELLINGS + ARTVER_SPELLINGS)
def test_listing_object_pulled_from_a_directory_remote_is_refused(repo: Path, remote_dir: Path, run_artver, name: str) -> None:  # type: ignore[no-untyped-def]
    put_in_remote(remote_dir, EVIL_CONFIG)
    for path in (f"{name}/config", f"sub/{name}/config"):
        entries = (Entry(path, xxh(EVIL_CONFIG), len(EVIL_CONFIG)), Entry("z.bin", xxh(b"z"), 1))
        listing_hash = put_in_remote(remote_dir, listing.to_object_bytes(sorted(entries)))
        write(repo / "data.art", format_pointer(DirPointer(ListingRef(listing_hash, count=2, size=len(EVIL_CONFIG) + 1))))
        before = files_below(repo)
        assert_one_line_error(run_artver(repo, "pull"), "data.art", f"listing {listing_hash[:15]}", "artver never writes into a .")
        assert files_below(repo) == before and not (repo / "data").exists()


@pytest.mark.parametrize("name", GIT_SPELLINGS + ARTVER_SPELLINGS)
def test_pointer_location_is_refused_at_top_and_nested(repo: Path, run_artver, name: str) -> None:  # type: ignore[no-untyped-def]
    cache_of(repo).add_bytes(EVIL_CONFIG)
    pointer = format_pointer(FilePointer(xxh(EVIL_CONFIG), len(EVIL_CONFIG)))
    locations = [f"{name}.art", f"sub/{name}.art"]
    if name != ".git":  # Git lists no file inside a folder named exactly .git
        locations.append(f"sub/{name}/config.art")
    if name not in (".git", ".artver"):  # those two exist at the top of the work tree
        locations.append(f"{name}/config.art")
    for location in locations:
        write(repo / location, pointer)
        before = files_below(repo)
        for command in (["checkout", "--force"], ["status"], ["push"]):
            assert_one_line_error(run_artver(repo, *command), printable(location), "artver never writes into a .")
        assert files_below(repo) == before
        (repo / location).unlink()


@pytest.mark.parametrize("name", [".GIT", "git~1", ".git.", ".g\u200cit", ".Artver"])
def test_pointer_location_in_history_is_refused(repo: Path, run_artver, name: str) -> None:  # type: ignore[no-untyped-def]
    """Git refuses these paths in its index, but a crafted commit can still hold them."""
    blob = git_with_input(repo, _inline_pointer("config").decode(), "hash-object", "-w", "--stdin").strip()
    inner = git_with_input(repo, f"100644 blob {blob}\tdata.art\n", "mktree").strip()
    listed = git(repo, "ls-tree", "HEAD")
    root = git_with_input(repo, listed + f"040000 tree {inner}\t{name}\n", "mktree").strip()
    commit = git(repo, "commit-tree", "-p", "HEAD", "-m", "crafted", root).strip()
    for command in (["ls", "--rev", commit], ["diff", "HEAD", commit], ["fetch", "--rev", commit]):
        assert_one_line_error(run_artver(repo, *command), printable(f"{name}/data.art"), "artver never writes into a .")


@pytest.mark.parametrize("name", GIT_SPELLINGS + ARTVER_SPELLINGS)
def test_add_refuses_a_folder_holding_a_repository(repo: Path, run_artver, name: str) -> None:  # type: ignore[no-untyped-def]
    write(repo / "data" / "fine.csv", b"1,2\n")
    write(repo / "data" / "sub" / name / "config", EVIL_CONFIG)
    line = assert_one_line_error(run_artver(repo, "add", "data"), printable(f"data/sub/{name}"), "which artver does not track", "move data/sub out of data")
    assert line.count("\n") == 0
    assert not (repo / "data.art").exists()
    assert not any(cache_of(repo).root.rglob("xxh128/*/*"))  # refused before anything was stored
    (repo / "data" / "sub" / name / "config").unlink()
    (repo / "data" / "sub" / name).rmdir()
    write(repo / "data" / name / "config", EVIL_CONFIG)
    assert_one_line_error(run_artver(repo, "add", "data"), printable(f"data/{name}"), printable(f"delete or move data/{name}"))
    assert_one_line_error(run_artver(repo, "add", f"data/{name}/config"), "inside .")
    assert_one_line_error(run_artver(repo, "add", f"data/{name}"), "inside .")
    assert not (repo / "data.art").exists()


@pytest.mark.parametrize("name", [".gitattributes", ".gitignore", ".gitmodules", ".mailmap", "GITMOD~1", ".GITIGNORE"])
def test_add_refuses_a_git_file_as_an_artifact(repo: Path, run_artver, name: str) -> None:  # type: ignore[no-untyped-def]
    write(repo / "sub" / name, b"* filter=x\n")
    assert_one_line_error(run_artver(repo, "add", f"sub/{name}"), f"sub/{name}", "files itself, so artver never tracks one")
    assert not (repo / "sub" / f"{name}.art").exists()


def test_git_files_inside_a_tracked_folder_are_ordinary_data(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    """A model snapshot often carries a .gitattributes; inside a folder Git ignores, Git never reads it."""
    files = {".gitattributes": b"*.bin filter=lfs\n", ".gitignore": b"*\n", ".gitmodules": b"", "sub/.mailmap": b"", "w.bin": b"w"}
    for path, data in files.items():
        write(repo / "model" / path, data)
    assert run_artver(repo, "add", "model").code == 0
    commit_all(repo, "model")
    for path in files:
        (repo / "model" / path).unlink()
    assert run_artver(repo, "checkout").code == 0
    assert all((repo / "model" / path).read_bytes() == data for path, data in files.items())
    assert git(repo, "status", "--porcelain") == ""


# ---------------------------------------------------------------- bare repository layouts


@pytest.mark.parametrize(
    "files",
    [
        {"HEAD": b"ref: refs/heads/main\n", "objects/info/packs": b"\n", "refs/heads/x": b"", "config": EVIL_CONFIG},
        {"repo/HEAD": b"ref: refs/heads/main\n", "repo/objects/x": b"", "repo/refs/x": b"", "repo/config": EVIL_CONFIG},
        {"a/b/head": b"ref: refs/heads/main\n", "a/b/Objects/x": b"", "a/b/REFS/x": b""},
        {"r/HEAD.": b"ref: x\n", "r/obj\u200cects/x": b""},
        {"r/H\u200cEAD": b"ref: x\n", "r/commondir": b"../elsewhere\n"},
    ],
    ids=["root", "nested", "case", "ntfs-hfs", "commondir"],
)
def test_a_bare_repository_layout_is_refused(repo: Path, run_artver, files: dict[str, bytes]) -> None:  # type: ignore[no-untyped-def]
    for data in files.values():
        cache_of(repo).add_bytes(data)
    write(repo / "data.art", format_pointer(DirPointer(InlineListing(entries_of(files)))))
    assert_one_line_error(run_artver(repo, "checkout"), "data.art", "would be a Git repository")
    assert not (repo / "data").exists()
    (repo / "data.art").unlink()
    for path, data in files.items():
        write(repo / "data" / path, data)
    assert_one_line_error(run_artver(repo, "add", "data"), "would be a Git repository")
    assert not (repo / "data.art").exists()


def test_repository_words_apart_are_fine(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    files = {"a/HEAD": b"h", "b/objects/x": b"o", "a/x/refs/y": b"r", "headers/refs/z": b"z", "forehead/objects/q": b"q"}
    for path, data in files.items():
        write(repo / "data" / path, data)
    assert run_artver(repo, "add", "data").code == 0
    entries = listing.parse_lines([listing.format_entry(entry) for entry in entries_of(files)], "x")
    assert [entry.path for entry in entries] == sorted(files)


def test_lone_surrogate_and_overlong_paths_are_refused() -> None:
    with pytest.raises(UnsafePathError, match="lone surrogate"):
        check_relative("a/\udcff", "p.art")
    with pytest.raises(UnsafePathError, match="longer than 4096"):
        check_relative("a/" * 2100 + "b", "p.art")
    assert check_relative("a/" * 2000 + "b", "p.art")


def test_add_of_a_folder_named_like_git_in_the_work_tree_root(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    """On Linux '.GIT' is an ordinary folder; on macOS or Windows it would be the repository's own."""
    write(repo / ".GIT" / "hooks" / "pre-commit", b"#!/bin/sh\n")
    assert_one_line_error(run_artver(repo, "add", ".GIT"), "inside .git")
    assert_one_line_error(run_artver(repo, "add", ".GIT/hooks/pre-commit"), "inside .git")
    assert not (repo / ".GIT.art").exists() and os.listdir(repo / ".GIT") == ["hooks"]
