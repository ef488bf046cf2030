"""artver checkout: restoring the workspace from pointers, its safety rules, and round trips
through real Git history (revision switches, merges, fresh clones)."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from artver.pointer import DirPointer, ListingRef, read_pointer
from tests.support.files import object_path, write, xxh
from tests.support.git import commit_all, git

Snapshot = dict[str, tuple[bytes, bool]]


def snapshot(path: Path) -> Snapshot:
    """Every file below ``path`` (or the file itself): bytes and executable bit."""
    if path.is_file():
        return {"": (path.read_bytes(), bool(path.stat().st_mode & 0o111))}
    result: Snapshot = {}
    for item in sorted(path.rglob("*")):
        if item.is_file():
            result[item.relative_to(path).as_posix()] = (item.read_bytes(), bool(item.stat().st_mode & 0o111))
    return result


def workspace(root: Path, *artifacts: str) -> dict[str, Snapshot]:
    return {name: snapshot(root / name) if (root / name).exists() else {} for name in artifacts}


def cache_objects(root: Path) -> list[Path]:
    base = root / ".artver" / "cache"
    return sorted(p for p in base.rglob("*") if p.is_file() and p.relative_to(base).parts[0] != "tmp")


def ok(result) -> None:  # type: ignore[no-untyped-def]
    assert result.code == 0, (result.out, result.err)
    assert "Traceback" not in result.err


def make_v1(repo: Path) -> None:
    write(repo / "m.bin", os.urandom(200_000))
    write(repo / "other.bin", b"other v1")
    data = repo / "data set"
    write(data / "keep.txt", b"keep")
    write(data / "change.txt", b"change v1")
    write(data / "gone.txt", b"gone in v2")
    write(data / "nested" / "deeper" / "leaf.bin", os.urandom(3000))
    write(data / "nested" / "empty", b"")
    write(data / "ünïcødé ✓.txt", "ünï".encode())
    write(data / "bin" / "run.sh", b"#!/bin/sh\necho hi\n")
    os.chmod(data / "bin" / "run.sh", 0o755)


def make_v2(repo: Path) -> None:
    write(repo / "m.bin", os.urandom(150_000))
    write(repo / "other.bin", b"other v2 is longer")
    data = repo / "data set"
    write(data / "change.txt", b"change v2")
    (data / "gone.txt").unlink()
    write(data / "new" / "new.txt", b"new in v2")
    os.chmod(data / "bin" / "run.sh", 0o644)
    os.chmod(data / "keep.txt", 0o755)


ARTIFACTS = ("m.bin", "other.bin", "data set")


@pytest.fixture
def history(repo: Path, run_artver):  # type: ignore[no-untyped-def]
    """Two commits of three artifacts; returns (c1, c2, snapshot1, snapshot2)."""
    make_v1(repo)
    ok(run_artver(repo, "add", *ARTIFACTS))
    c1 = commit_all(repo, "v1")
    s1 = workspace(repo, *ARTIFACTS)
    make_v2(repo)
    ok(run_artver(repo, "add", *ARTIFACTS))
    c2 = commit_all(repo, "v2")
    s2 = workspace(repo, *ARTIFACTS)
    assert s1 != s2
    return c1, c2, s1, s2


def test_revision_switch_restores_exact_bytes(repo: Path, run_artver, history) -> None:  # type: ignore[no-untyped-def]
    c1, c2, s1, s2 = history
    git(repo, "checkout", "-q", c1)
    result = run_artver(repo, "checkout")
    ok(result)
    assert result.out.startswith("Checked out")
    assert workspace(repo, *ARTIFACTS) == s1
    assert not (repo / "data set" / "new").exists()  # removed, and its empty folder too
    assert run_artver(repo, "status", "--check").code == 0
    git(repo, "checkout", "-q", "main")
    ok(run_artver(repo, "checkout"))
    assert workspace(repo, *ARTIFACTS) == s2
    assert not (repo / "data set" / "gone.txt").exists()
    assert run_artver(repo, "status", "--check").code == 0
    result = run_artver(repo, "checkout")
    ok(result)
    assert result.lines == ["Workspace already matches the pointers; nothing to do."]


def test_checkout_restores_deleted_artifacts(repo: Path, run_artver, history) -> None:  # type: ignore[no-untyped-def]
    _, _, _, s2 = history
    shutil.rmtree(repo / "data set")
    (repo / "m.bin").unlink()
    (repo / "data set.art").touch()  # mtime change only
    result = run_artver(repo, "checkout")
    ok(result)
    assert workspace(repo, *ARTIFACTS) == s2


def test_checkout_restores_missing_and_removes_saved_extra_files_in_a_dir(repo: Path, run_artver, history) -> None:  # type: ignore[no-untyped-def]
    _, _, _, s2 = history
    data = repo / "data set"
    (data / "keep.txt").unlink()
    shutil.rmtree(data / "nested")
    # extra files whose content is in the cache (an old version, a copy of another file)
    write(data / "gone.txt", b"gone in v2")
    write(data / "copy" / "of other.txt", b"other v1")
    result = run_artver(repo, "-v", "checkout", "data set")
    ok(result)
    assert "removed: data set/gone.txt" in result.out
    assert "removed: data set/copy/of other.txt" in result.out
    assert "updated: data set/keep.txt" in result.out
    assert workspace(repo, *ARTIFACTS) == s2
    assert not (data / "copy").exists()


def test_checkout_of_selected_paths_only(repo: Path, run_artver, history) -> None:  # type: ignore[no-untyped-def]
    c1, _, s1, s2 = history
    git(repo, "checkout", "-q", c1)
    ok(run_artver(repo, "checkout", "other.bin.art"))
    assert snapshot(repo / "other.bin") == s1["other.bin"]
    assert snapshot(repo / "m.bin") == s2["m.bin"]
    assert snapshot(repo / "data set") == s2["data set"]
    ok(run_artver(repo / "data set" / "nested", "checkout", ".."))
    assert snapshot(repo / "data set") == s1["data set"]


def test_checkout_never_overwrites_unsaved_data(repo: Path, run_artver, history) -> None:  # type: ignore[no-untyped-def]
    c1, _, s1, _ = history
    write(repo / "m.bin", b"precious unsaved work")
    write(repo / "data set" / "change.txt", b"unsaved edit of change")
    write(repo / "data set" / "notes.md", b"unsaved new file")
    git(repo, "checkout", "-q", c1)
    result = run_artver(repo, "checkout")
    assert result.code == 1, result
    assert "Traceback" not in result.err
    err = result.err
    assert "left 3 path(s) untouched" in err and "--force" in err
    for path in ("m.bin", "data set/change.txt", "data set/notes.md"):
        assert f"artver:     {path}\n" in err
    # the unsaved data is untouched ...
    assert (repo / "m.bin").read_bytes() == b"precious unsaved work"
    assert (repo / "data set" / "change.txt").read_bytes() == b"unsaved edit of change"
    assert (repo / "data set" / "notes.md").read_bytes() == b"unsaved new file"
    # ... and everything else was checked out
    assert snapshot(repo / "other.bin") == s1["other.bin"]
    rest = {k: v for k, v in snapshot(repo / "data set").items() if k not in ("change.txt", "notes.md")}
    assert rest == {k: v for k, v in s1["data set"].items() if k != "change.txt"}
    # JSON says the same
    result = run_artver(repo, "checkout", "--json")
    assert result.code == 1
    report = json.loads(result.out)
    assert report["ok"] is False
    assert report["unsaved"] == ["data set/change.txt", "data set/notes.md", "m.bin"]
    # --force discards it
    result = run_artver(repo, "checkout", "--force")
    ok(result)
    assert workspace(repo, *ARTIFACTS) == s1


def test_checkout_refuses_to_replace_unsaved_folder_by_file(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    write(repo / "m.bin", b"model")
    ok(run_artver(repo, "add", "m.bin"))
    (repo / "m.bin").unlink()
    write(repo / "m.bin" / "mine.txt", b"unsaved")
    result = run_artver(repo, "checkout")
    assert result.code == 1 and "m.bin" in result.err
    assert (repo / "m.bin" / "mine.txt").read_bytes() == b"unsaved"
    ok(run_artver(repo, "checkout", "-f"))
    assert (repo / "m.bin").read_bytes() == b"model"


def test_checkout_replaces_file_by_folder_only_if_saved(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    write(repo / "d" / "f", b"inside")
    ok(run_artver(repo, "add", "d"))
    shutil.rmtree(repo / "d")
    write(repo / "d", b"a file of the user's")
    result = run_artver(repo, "checkout")
    assert result.code == 1 and "artver:     d\n" in result.err
    assert (repo / "d").read_bytes() == b"a file of the user's"
    ok(run_artver(repo, "checkout", "--force"))
    assert snapshot(repo / "d") == {"f": (b"inside", False)}


def test_objects_missing_from_cache_are_listed_and_the_rest_checked_out(repo: Path, run_artver, history) -> None:  # type: ignore[no-untyped-def]
    c1, _, s1, s2 = history
    m1 = s1["m.bin"][""][0]
    gone = s1["data set"]["gone.txt"][0]  # not in the v2 workspace: must come from the cache
    object_path(repo, xxh(m1)).unlink()
    object_path(repo, xxh(gone)).unlink()
    git(repo, "checkout", "-q", c1)
    result = run_artver(repo, "checkout")
    assert result.code == 1, result
    assert "Traceback" not in result.err
    assert "1 object(s) are not in the cache" in result.err and "artver pull" in result.err
    # m.bin keeps v2's data, which the cache has: another revision's, not the user's change
    assert "1 path(s) stayed at another revision" in result.err and "artver:     m.bin\n" in result.err
    assert "artver:     data set/gone.txt\n" in result.err
    assert snapshot(repo / "m.bin") == s2["m.bin"]  # left as it was, not deleted
    assert snapshot(repo / "other.bin") == s1["other.bin"]
    data = snapshot(repo / "data set")
    assert data == {k: v for k, v in s1["data set"].items() if k != "gone.txt"}


def test_fresh_clone_without_cache_reports_everything_missing(repo: Path, tmp_path: Path, run_artver, history) -> None:  # type: ignore[no-untyped-def]
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    statuses = {i["path"]: i["state"] for i in json.loads(run_artver(clone, "status", "--json").out)}
    assert statuses == {name: "missing" for name in ARTIFACTS}
    result = run_artver(clone, "checkout")
    assert result.code == 1
    assert "not in the cache" in result.err and "artver pull" in result.err
    for name in ARTIFACTS:
        assert not (clone / name).exists() or not any((clone / name).rglob("*"))


def test_fresh_clone_with_shared_cache_round_trip_keeps_exec_bits(repo: Path, tmp_path: Path, run_artver, history) -> None:  # type: ignore[no-untyped-def]
    c1, _, s1, s2 = history
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    write(clone / ".artver" / "config.local", f"[cache]\ndir = {repo / '.artver' / 'cache'}\n")
    assert git(clone, "status", "--porcelain") == ""  # config.local is ignored
    ok(run_artver(clone, "checkout"))
    assert workspace(clone, *ARTIFACTS) == s2
    mode = (clone / "data set" / "keep.txt").stat().st_mode
    assert mode & 0o111 and stat.S_IMODE(mode) == 0o755
    assert stat.S_IMODE((clone / "data set" / "change.txt").stat().st_mode) == 0o644
    assert not (clone / "data set" / "bin" / "run.sh").stat().st_mode & 0o111
    git(clone, "checkout", "-q", c1)
    ok(run_artver(clone, "checkout"))
    assert workspace(clone, *ARTIFACTS) == s1
    assert (clone / "data set" / "bin" / "run.sh").stat().st_mode & 0o111
    assert not (clone / "data set" / "keep.txt").stat().st_mode & 0o111


def test_exec_bit_restored_after_deleting_the_directory(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    write(repo / "tools" / "run", b"#!/bin/sh\n")
    write(repo / "tools" / "lib" / "also", b"#!/bin/sh\n")
    write(repo / "tools" / "plain", b"text")
    os.chmod(repo / "tools" / "run", 0o755)
    os.chmod(repo / "tools" / "lib" / "also", 0o700)
    ok(run_artver(repo, "add", "tools"))
    shutil.rmtree(repo / "tools")
    ok(run_artver(repo, "checkout"))
    assert (repo / "tools" / "run").stat().st_mode & 0o111
    assert (repo / "tools" / "lib" / "also").stat().st_mode & 0o111
    assert not (repo / "tools" / "plain").stat().st_mode & 0o111
    assert run_artver(repo, "status", "--check").code == 0


def test_exec_bit_only_change_is_restored_in_place(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    write(repo / "tools" / "run", b"#!/bin/sh\n")
    os.chmod(repo / "tools" / "run", 0o755)
    ok(run_artver(repo, "add", "tools"))
    os.chmod(repo / "tools" / "run", 0o644)
    assert run_artver(repo, "status", "--check").code == 1
    ok(run_artver(repo, "checkout"))
    assert (repo / "tools" / "run").stat().st_mode & 0o111
    assert run_artver(repo, "status", "--check").code == 0


def test_empty_file_and_empty_directory_round_trip(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    write(repo / "empty.bin", b"")
    (repo / "hollow").mkdir()
    ok(run_artver(repo, "add", "empty.bin", "hollow"))
    assert (repo / "hollow.art").read_text() == "artver-pointer: 1\nkind: dir\nentries:\nend\n"
    assert read_pointer(repo / "empty.bin.art", "e").size == 0
    commit_all(repo, "empties")
    assert run_artver(repo, "status", "--check").code == 0
    (repo / "empty.bin").unlink()
    (repo / "hollow").rmdir()
    assert {i["path"]: i["state"] for i in json.loads(run_artver(repo, "status", "--json").out)} == {
        "empty.bin": "missing",
        "hollow": "missing",
    }
    ok(run_artver(repo, "checkout"))
    assert (repo / "empty.bin").read_bytes() == b""
    assert (repo / "hollow").is_dir() and not any((repo / "hollow").iterdir())
    assert run_artver(repo, "status", "--check").code == 0


def test_unicode_and_space_names_round_trip(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    names = ["mödel ✓ v1.bin", "data set/a b/ç d.txt", "日本語/ファイル.bin", "  leading and trailing  .bin"]
    contents = {}
    for index, name in enumerate(names):
        contents[name] = f"{index} {name}".encode()
        write(repo / name, contents[name])
    ok(run_artver(repo, "add", names[0], "data set", "日本語", names[3]))
    c1 = commit_all(repo, "unicode")
    for name in names:
        write(repo / name, b"changed " + contents[name])
    ok(run_artver(repo, "add", names[0], "data set", "日本語", names[3]))
    commit_all(repo, "changed")
    git(repo, "checkout", "-q", c1)
    ok(run_artver(repo, "checkout"))
    for name in names:
        assert (repo / name).read_bytes() == contents[name], name
    assert run_artver(repo, "status", "--check").code == 0


def test_merge_of_independent_changes_in_one_directory(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    for index in range(20):
        write(repo / "data" / f"f{index:02}.bin", f"base {index}".encode())
    ok(run_artver(repo, "add", "data"))
    commit_all(repo, "base")
    git(repo, "checkout", "-q", "-b", "a")
    write(repo / "data" / "f03.bin", b"changed on branch a")
    ok(run_artver(repo, "add", "data"))
    commit_all(repo, "a changes f03")
    git(repo, "checkout", "-q", "main")
    ok(run_artver(repo, "checkout"))
    assert (repo / "data" / "f03.bin").read_bytes() == b"base 3"
    git(repo, "checkout", "-q", "-b", "b")
    write(repo / "data" / "f15.bin", b"changed on branch b!")
    ok(run_artver(repo, "add", "data"))
    commit_all(repo, "b changes f15")
    git(repo, "checkout", "-q", "a")
    ok(run_artver(repo, "checkout"))
    assert (repo / "data" / "f15.bin").read_bytes() == b"base 15"
    git(repo, "merge", "--no-edit", "-q", "b")  # raises on a conflict
    text = (repo / "data.art").read_text()
    assert "<<<<<<<" not in text and ">>>>>>>" not in text
    read_pointer(repo / "data.art", "data.art")  # still a valid pointer
    ok(run_artver(repo, "checkout"))
    assert (repo / "data" / "f03.bin").read_bytes() == b"changed on branch a"
    assert (repo / "data" / "f15.bin").read_bytes() == b"changed on branch b!"
    for index in set(range(20)) - {3, 15}:
        assert (repo / "data" / f"f{index:02}.bin").read_bytes() == f"base {index}".encode()
    assert run_artver(repo, "status", "--check").code == 0


def test_large_directory_uses_a_listing_object(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    config = repo / ".artver" / "config"
    config.write_text(config.read_text() + "listing_inline_max = 5\n")
    assert "[core]" in config.read_text()
    files = {f"sub{index % 3}/file {index}.bin": os.urandom(100 + index) for index in range(10)}
    for name, data in files.items():
        write(repo / "big" / name, data)
    ok(run_artver(repo, "add", "big"))
    pointer = read_pointer(repo / "big.art", "big.art")
    assert isinstance(pointer, DirPointer) and isinstance(pointer.content, ListingRef)
    assert pointer.content.count == 10 and pointer.content.size == sum(len(d) for d in files.values())
    assert "entries:" not in (repo / "big.art").read_text()
    listing_bytes = object_path(repo, pointer.content.hash).read_bytes()
    assert listing_bytes.startswith(b"artver-listing: 1\n") and len(listing_bytes.splitlines()) == 11
    assert xxh(listing_bytes) == pointer.content.hash
    c1 = commit_all(repo, "big")
    assert run_artver(repo, "status", "--check").code == 0
    shutil.rmtree(repo / "big")
    ok(run_artver(repo, "checkout"))
    assert {k: v[0] for k, v in snapshot(repo / "big").items()} == files
    write(repo / "big" / "sub1" / "file 1.bin", b"modified")
    status = json.loads(run_artver(repo, "status", "--json").out)[0]
    assert status["state"] == "modified" and status["modified"] == ["sub1/file 1.bin"]
    ok(run_artver(repo, "add", "big"))
    assert read_pointer(repo / "big.art", "big.art").content.hash != pointer.content.hash
    commit_all(repo, "modified")
    git(repo, "checkout", "-q", c1)
    ok(run_artver(repo, "checkout"))
    assert {k: v[0] for k, v in snapshot(repo / "big").items()} == files
    # a small directory in the same repo stays inline
    write(repo / "small" / "x", b"x")
    ok(run_artver(repo, "add", "small"))
    assert "entries:" in (repo / "small.art").read_text()


def test_large_directory_with_missing_listing_object(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    config = repo / ".artver" / "config"
    config.write_text(config.read_text() + "listing_inline_max = 5\n")
    for index in range(10):
        write(repo / "big" / f"{index}", str(index).encode())
    ok(run_artver(repo, "add", "big"))
    listing_hash = read_pointer(repo / "big.art", "big.art").content.hash
    assert listing_hash is not None
    object_path(repo, listing_hash).unlink()
    assert json.loads(run_artver(repo, "status", "--json").out)[0]["state"] == "not-in-cache"
    shutil.rmtree(repo / "big")
    assert json.loads(run_artver(repo, "status", "--json").out)[0]["state"] == "missing"
    result = run_artver(repo, "checkout")
    assert result.code == 1 and "artver pull" in result.err and "big" in result.err


# ---------------------------------------------------------------- the cache is never altered


def _assert_cache_intact(root: Path) -> None:
    objects = cache_objects(root)
    assert objects
    for path in objects:
        assert stat.S_IMODE(path.stat().st_mode) == 0o444, path
        digest = path.parent.name + path.name
        assert xxh(path.read_bytes()) == f"xxh128:{digest}", path


def test_editing_workspace_files_never_alters_the_cache(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    write(repo / "m.bin", b"model bytes")
    write(repo / "d" / "f", b"dir bytes")
    ok(run_artver(repo, "add", "m.bin", "d"))
    _assert_cache_intact(repo)
    for path in (repo / "m.bin", repo / "d" / "f"):
        with open(path, "ab") as handle:
            handle.write(b" appended after add")
    _assert_cache_intact(repo)
    assert object_path(repo, xxh(b"model bytes")).read_bytes() == b"model bytes"
    assert object_path(repo, xxh(b"dir bytes")).read_bytes() == b"dir bytes"
    # after a checkout (the workspace files are placed from the cache) too
    ok(run_artver(repo, "checkout", "--force"))
    assert (repo / "m.bin").read_bytes() == b"model bytes"
    for path in (repo / "m.bin", repo / "d" / "f"):
        assert os.stat(path).st_ino != object_path(repo, xxh(path.read_bytes())).stat().st_ino
        with open(path, "r+b") as handle:
            handle.write(b"XX")  # overwrite in place
    _assert_cache_intact(repo)
    assert object_path(repo, xxh(b"model bytes")).read_bytes() == b"model bytes"
    assert object_path(repo, xxh(b"dir bytes")).read_bytes() == b"dir bytes"
    assert run_artver(repo, "status", "--check").code == 1


def test_kind_changes_between_revisions(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    """An artifact that is a folder in one commit and a file in the next; and inside a
    folder, a sub-folder that becomes a file."""
    write(repo / "x" / "a", b"folder content")
    write(repo / "d" / "sub" / "f", b"deep")
    ok(run_artver(repo, "add", "x", "d", "--desc", "kept"))
    c1 = commit_all(repo, "folders")
    shutil.rmtree(repo / "x")
    write(repo / "x", b"now a file")
    shutil.rmtree(repo / "d" / "sub")
    write(repo / "d" / "sub", b"sub is a file now")
    ok(run_artver(repo, "add", "x", "d"))
    assert read_pointer(repo / "x.art", "x.art").kind == "file"
    assert read_pointer(repo / "x.art", "x.art").desc == "kept"
    c2 = commit_all(repo, "files")
    for revision, expected_x, expected_d in [
        (c1, {"a": (b"folder content", False)}, {"sub/f": (b"deep", False)}),
        (c2, {"": (b"now a file", False)}, {"sub": (b"sub is a file now", False)}),
        (c1, {"a": (b"folder content", False)}, {"sub/f": (b"deep", False)}),
    ]:
        git(repo, "checkout", "-q", revision)
        ok(run_artver(repo, "checkout"))
        assert snapshot(repo / "x") == expected_x
        assert snapshot(repo / "d") == expected_d
        assert run_artver(repo, "status", "--check").code == 0


def test_checkout_leaves_paths_git_tracks_alone_unless_forced(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    write(repo / "m.bin", b"v1")
    ok(run_artver(repo, "add", "m.bin"))
    commit_all(repo, "v1")
    write(repo / "m.bin", b"v2")
    write(repo / "data" / "a.txt", b"a")
    ok(run_artver(repo, "add", "m.bin", "data"))
    commit_all(repo, "v2")
    # A commit that also holds these paths in Git, with content the cache has (so that only the Git
    # rule stops artver): m.bin as v1, an extra file in the tracked folder, and one only staged.
    write(repo / "m.bin", b"v1")
    write(repo / "data" / "extra.txt", b"a")
    git(repo, "add", "-f", "m.bin", "data/extra.txt")
    commit_all(repo, "the same paths in Git")
    write(repo / "data" / "staged.txt", b"v2")
    git(repo, "add", "-f", "data/staged.txt")
    git(repo, "rm", "-q", "--cached", "data/extra.txt")  # still in HEAD: still Git's

    result = run_artver(repo, "checkout", "--json")
    assert result.code == 1, result.err
    assert json.loads(result.out)["git_tracked"] == ["data/extra.txt", "data/staged.txt", "m.bin"]
    assert (repo / "m.bin").read_bytes() == b"v1"
    assert (repo / "data" / "extra.txt").read_bytes() == b"a" and (repo / "data" / "staged.txt").read_bytes() == b"v2"
    plain = run_artver(repo, "checkout")
    assert plain.code == 1 and "Git tracks them" in plain.err and "m.bin" in plain.err

    ok(run_artver(repo, "checkout", "--force"))
    assert (repo / "m.bin").read_bytes() == b"v2"
    assert not (repo / "data" / "extra.txt").exists() and not (repo / "data" / "staged.txt").exists()
