"""Refusals and error reporting of the core commands: hostile pointer files (path
traversal, pointers aimed at .git or .artver), symlinks in the workspace, symlinks
inside folders being added, bad configuration, and the one-line error contract."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from artver.cache import Cache
from artver.listing import Entry
from artver.pointer import DirPointer, FilePointer, InlineListing, ListingRef, format_pointer, read_pointer
from tests.support.cli import assert_one_line_error, run_artver_process
from tests.support.files import write, xxh
from tests.support.git import commit_all

EVIL = b"#!/bin/sh\necho pwned\n"


def cache_of(repo: Path) -> Cache:
    return Cache((repo / ".artver" / "cache").resolve(), "xxh128")


def dir_pointer(*entries: tuple[str, bytes, bool]) -> bytes:
    return format_pointer(
        DirPointer(InlineListing(tuple(Entry(path, xxh(data), len(data), executable) for path, data, executable in entries)))
    )


def tree(root: Path, skip: tuple[Path, ...] = ()) -> dict[str, bytes | str]:
    """Every path below root (files with their bytes, links with their target), minus ``skip``."""
    found: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if here / d not in skip]
        for name in dirnames + filenames:
            path = here / name
            if path in skip:
                continue
            key = path.relative_to(root).as_posix()
            if path.is_symlink():
                found[key] = "-> " + os.readlink(path)
            elif path.is_file():
                found[key] = path.read_bytes()
            else:
                found[key] = "dir"
    return found


# ---------------------------------------------------------------- hostile pointers


@pytest.fixture
def arena(tmp_path: Path, repo: Path) -> tuple[Path, Path]:
    """The repo plus an 'outside' folder beside it, with EVIL in the cache."""
    outside = tmp_path / "outside"
    outside.mkdir()
    write(outside / "existing.txt", b"outside data")
    cache_of(repo).add_bytes(EVIL)
    return repo, outside


def _everything(tmp_path: Path, repo: Path) -> dict[str, bytes | str]:
    # .artver state (lock, stat db) legitimately changes; Git's internals are watched elsewhere
    return tree(tmp_path, skip=(repo / ".artver", repo / ".git"))


@pytest.mark.parametrize(
    "entry",
    ["../x", "../../outside/x", "/ABS", "a\\b", "a/../../b", "a/../../../outside/y", "./a", "a//b", "sub/./c"],
)
@pytest.mark.parametrize("command", ["checkout", "status"])
def test_path_traversal_pointer_refused(arena, tmp_path: Path, run_artver, entry: str, command: str) -> None:  # type: ignore[no-untyped-def]
    repo, outside = arena
    entry = entry.replace("/ABS", str(outside / "abs"))
    write(repo / "data.art", dir_pointer((entry, EVIL, True)))
    commit_all(repo, "hostile pointer")
    before = _everything(tmp_path, repo)
    for args in ([command], [command, "--force"] if command == "checkout" else [command, "--json"]):
        result = run_artver(repo, *args)
        assert_one_line_error(result, "data.art")
        assert _everything(tmp_path, repo) == before


def test_path_traversal_in_a_listing_object_refused(arena, tmp_path: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    repo, outside = arena
    body = f"artver-listing: 1\n{xxh(EVIL)} {len(EVIL)} x ../../outside/pwned\n".encode()
    listing_hash = cache_of(repo).add_bytes(body)
    pointer = DirPointer(ListingRef(listing_hash, count=1, size=len(EVIL)))
    write(repo / "data.art", format_pointer(pointer))
    before = _everything(tmp_path, repo)
    result = run_artver(repo, "checkout", "--force")
    assert_one_line_error(result, "data.art", "../../outside/pwned")
    assert _everything(tmp_path, repo) == before
    assert not (outside / "pwned").exists()


def test_workspace_symlink_inside_artifact_is_not_written_through(repo: Path, tmp_path: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    write(repo / "data" / "sub" / "f", b"artifact content")
    write(repo / "data" / "top", b"top")
    assert run_artver(repo, "add", "data").code == 0
    commit_all(repo, "data")
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.rmtree(repo / "data" / "sub")
    os.symlink(outside, repo / "data" / "sub")
    before = _everything(tmp_path, repo)
    results = []
    for args in (["checkout"], ["checkout", "--force"], ["checkout", "data"]):
        results.append(run_artver(repo, *args))
        assert results[-1].code not in (0, 3) and "Traceback" not in results[-1].err
        assert _everything(tmp_path, repo) == before
        assert list(outside.iterdir()) == []
    for result in results:
        assert_one_line_error(result, "data/sub", "data.art")


def test_workspace_symlink_to_a_folder_elsewhere_in_the_repo(repo: Path, tmp_path: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    write(repo / "data" / "sub" / "f", b"artifact content")
    assert run_artver(repo, "add", "data").code == 0
    write(repo / "docs" / "readme.md", b"docs")
    commit_all(repo, "data")
    shutil.rmtree(repo / "data" / "sub")
    os.symlink("../docs", repo / "data" / "sub")
    result = run_artver(repo, "checkout", "--force")
    assert result.code not in (0, 3)
    assert sorted(p.name for p in (repo / "docs").iterdir()) == ["readme.md"]
    assert_one_line_error(result, "data/sub", "data.art")


def test_artifact_directory_itself_a_symlink_is_not_written_through(repo: Path, tmp_path: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    write(repo / "data" / "f", b"artifact content")
    assert run_artver(repo, "add", "data").code == 0
    commit_all(repo, "data")
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.rmtree(repo / "data")
    os.symlink(outside, repo / "data")
    before = _everything(tmp_path, repo)
    results = []
    for args in (["checkout"], ["checkout", "--force"]):
        results.append(run_artver(repo, *args))
        assert results[-1].code not in (0, 3) and "Traceback" not in results[-1].err
        assert _everything(tmp_path, repo) == before
        assert list(outside.iterdir()) == []
    for result in results:
        assert_one_line_error(result, "data.art")


def test_file_artifact_replaced_by_symlink_is_never_written_through(repo: Path, tmp_path: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    write(repo / "m.bin", b"model")
    assert run_artver(repo, "add", "m.bin").code == 0
    target = write(tmp_path / "outside" / "victim.txt", b"victim")
    (repo / "m.bin").unlink()
    os.symlink(target, repo / "m.bin")
    result = run_artver(repo, "checkout")
    assert result.code == 1 and "m.bin" in result.err
    assert target.read_bytes() == b"victim" and (repo / "m.bin").is_symlink()
    result = run_artver(repo, "checkout", "--force")
    assert result.code == 0, result.err
    assert target.read_bytes() == b"victim"
    assert not (repo / "m.bin").is_symlink() and (repo / "m.bin").read_bytes() == b"model"


def test_pointer_aimed_at_dot_git_is_refused(arena, run_artver) -> None:  # type: ignore[no-untyped-def]
    """A committed '.git.art' must never make checkout write into the repository's .git."""
    repo, _ = arena
    write(repo / ".git.art", dir_pointer(("hooks/post-checkout", EVIL, True)))
    commit_all(repo, "hostile .git.art")
    git_before = tree(repo / ".git")
    result = run_artver(repo, "checkout")
    assert not (repo / ".git" / "hooks" / "post-checkout").exists()
    assert tree(repo / ".git") == git_before
    assert_one_line_error(result, ".git.art")


def test_file_pointer_aimed_at_dot_git_never_deletes_it(arena, run_artver) -> None:  # type: ignore[no-untyped-def]
    repo, _ = arena
    write(repo / ".git.art", format_pointer(FilePointer(xxh(EVIL), len(EVIL))))
    commit_all(repo, "hostile .git.art")
    git_before = tree(repo / ".git")
    result = run_artver(repo, "checkout", "--force")
    assert (repo / ".git").is_dir()
    assert tree(repo / ".git") == git_before
    assert_one_line_error(result, ".git.art")


def test_nested_dot_git_pointer_is_refused(arena, run_artver) -> None:  # type: ignore[no-untyped-def]
    repo, _ = arena
    write(repo / "vendor" / ".git.art", dir_pointer(("hooks/post-checkout", EVIL, True)))
    result = run_artver(repo, "checkout")
    assert not (repo / "vendor" / ".git").exists()
    assert_one_line_error(result, "vendor/.git.art")


def test_pointer_aimed_at_dot_artver_is_refused(arena, run_artver) -> None:  # type: ignore[no-untyped-def]
    """A committed '.artver.art' must neither write artver's own files nor delete cache objects."""
    repo, _ = arena
    write(repo / ".artver.art", dir_pointer(("config.local", b"[cache]\ndir = /tmp\n", False)))
    cache_of(repo).add_bytes(b"[cache]\ndir = /tmp\n")
    commit_all(repo, "hostile .artver.art")
    objects_before = tree(repo / ".artver" / "cache")
    config_before = (repo / ".artver" / "config").read_bytes()
    result = run_artver(repo, "checkout")
    assert tree(repo / ".artver" / "cache") == objects_before
    assert not (repo / ".artver" / "config.local").exists()
    assert (repo / ".artver" / "config").read_bytes() == config_before
    assert_one_line_error(result, ".artver.art")


def test_pointer_named_dot_art_alone_is_reported_not_crashing(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    write(repo / ".art", format_pointer(FilePointer(xxh(EVIL), len(EVIL))))
    result = run_artver(repo, "status")
    assert_one_line_error(result, ".art")


# ---------------------------------------------------------------- symlinks in a folder being added


def test_add_refuses_symlink_pointing_outside_the_repository(repo: Path, tmp_path: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    secret = write(tmp_path / "secret.txt", b"do not store me")
    write(repo / "data" / "ok.txt", b"ok")
    os.symlink(secret, repo / "data" / "leak")
    result = run_artver(repo, "add", "data")
    assert_one_line_error(result, "data/leak", "outside")
    assert not (repo / "data.art").exists() and not (repo / ".gitignore").exists()
    assert not cache_of(repo).has(xxh(b"do not store me"))


def test_add_refuses_symlink_pointing_outside_the_folder(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    write(repo / "elsewhere.txt", b"inside the repo but not the artifact")
    write(repo / "data" / "ok.txt", b"ok")
    os.symlink("../elsewhere.txt", repo / "data" / "link")
    assert_one_line_error(run_artver(repo, "add", "data"), "data/link")
    assert not (repo / "data.art").exists()


@pytest.mark.parametrize("kind", ["broken", "folder"])
def test_add_refuses_broken_and_folder_symlinks(repo: Path, run_artver, kind: str) -> None:  # type: ignore[no-untyped-def]
    write(repo / "data" / "sub" / "f", b"f")
    os.symlink("nowhere" if kind == "broken" else "sub", repo / "data" / "link")
    assert_one_line_error(run_artver(repo, "add", "data"), "data/link")
    assert not (repo / "data.art").exists()


def test_symlink_to_a_file_inside_is_stored_as_its_content(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    write(repo / "data" / "real" / "weights.bin", b"the weights")
    os.symlink("real/weights.bin", repo / "data" / "latest.bin")
    result = run_artver(repo, "add", "data")
    assert result.code == 0, result.err
    entries = read_pointer(repo / "data.art", "data.art").content.entries
    assert entries is not None
    assert {e.path: (e.hash, e.size) for e in entries} == {
        "latest.bin": (xxh(b"the weights"), 11),
        "real/weights.bin": (xxh(b"the weights"), 11),
    }
    assert run_artver(repo, "status", "--check").code == 0
    # The workspace is clean, so checkout has nothing to do and must not complain.
    result = run_artver(repo, "checkout")
    assert result.code == 0, result.err
    shutil.rmtree(repo / "data")
    assert run_artver(repo, "checkout").code == 0
    latest = repo / "data" / "latest.bin"
    assert not latest.is_symlink() and latest.read_bytes() == b"the weights"


# ---------------------------------------------------------------- configuration and usage errors


@pytest.mark.parametrize(
    "config, command, needle",
    [
        ("[core]\nhash = md5\n", "status", "core.hash"),
        ("[core]\nhash = xxh128\nlisting_inline_max = many\n", "add", "listing_inline_max"),
        ("[core]\nhash = xxh128\nlock_timeout = soon\n", "add", "lock_timeout"),
        ("[cache]\nlink = teleport\n", "add", "cache.link"),
        ("[core\nhash = xxh128\n", "status", "invalid config"),
        ("[remote.origin]\nurl = s3://b/p\nsecret_access_key = hunter2\n", "status", "secret"),
    ],
)
def test_bad_configuration_is_a_one_line_error(repo: Path, run_artver, config: str, command: str, needle: str) -> None:  # type: ignore[no-untyped-def]
    write(repo / "tracked.bin", b"t")
    assert run_artver(repo, "add", "tracked.bin").code == 0
    write(repo / "m.bin", b"x")
    write(repo / "d" / "f", b"y")
    (repo / ".artver" / "config").write_text(config)
    args = [command, "m.bin", "d"] if command == "add" else [command]
    line = assert_one_line_error(run_artver(repo, *args), needle)
    assert "hunter2" not in line


def test_status_outside_git_and_uninitialised(tmp_path: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    result = run_artver(tmp_path, "status")
    assert result.code == 2
    assert_one_line_error(result, "not inside a Git work tree")


def test_usage_errors_are_one_line(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    result = run_artver(repo, "add", "--bogus", "x")
    assert result.code == 2
    assert_one_line_error(result, "--bogus", "artver add --help")
    assert_one_line_error(run_artver(repo, "add"), "add")
    assert_one_line_error(run_artver(repo, "remove"), "remove")
    assert_one_line_error(run_artver(repo, "frobnicate"), "frobnicate")
    help_result = run_artver(repo)
    assert help_result.code == 0 and "checkout" in help_result.out


def test_corrupt_listing_object_is_reported(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    config = repo / ".artver" / "config"
    config.write_text(config.read_text() + "listing_inline_max = 1\n")
    write(repo / "big" / "a", b"a")
    write(repo / "big" / "b", b"b")
    assert run_artver(repo, "add", "big").code == 0
    listing_hash = read_pointer(repo / "big.art", "big.art").content.hash
    assert listing_hash is not None
    path = Path(cache_of(repo).path_of(listing_hash))
    os.chmod(path, 0o644)
    path.write_bytes(path.read_bytes().replace(b" a\n", b" c\n"))
    for command in ("status", "checkout"):
        assert_one_line_error(run_artver(repo, command), "big.art", "corrupt")
    assert (repo / "big" / "a").read_bytes() == b"a"


def test_errors_in_a_real_process_have_no_traceback(tmp_path: Path, repo: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    result = run_artver_process(plain, "status", timeout=60)
    assert result.code == 2 and result.out == ""
    assert_one_line_error(result, "not inside a Git work tree")
    write(repo / "x.art", b"garbage\n")
    result = run_artver_process(repo, "status", "--json", timeout=60)
    assert_one_line_error(result, "x.art")
    result = run_artver_process(repo, "add", "missing.bin", timeout=60)
    assert result.code == 2
    assert_one_line_error(result, "missing.bin", "no such file")


def test_status_json_is_valid_with_awkward_names(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    names = ['quo"te.bin', "back`tick.bin", "ünï\u2028line.bin"]
    for name in names:
        write(repo / name, name.encode())
    assert run_artver(repo, "add", *names).code == 0
    items = json.loads(run_artver(repo, "status", "--json").out)
    assert sorted(item["path"] for item in items) == sorted(names)
    assert {item["state"] for item in items} == {"clean"}
