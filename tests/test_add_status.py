"""artver init, add, status and remove, through the CLI on real Git repositories."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from artver.pointer import InlineListing, read_pointer
from tests.support.cli import assert_one_line_error
from tests.support.files import object_path, write, xxh
from tests.support.git import SUBPROCESS_TIMEOUT, commit_all, git


def cache_files(root: Path) -> list[Path]:
    base = root / ".artver" / "cache"
    return sorted(p for p in base.rglob("*") if p.is_file() and "tmp" not in p.relative_to(base).parts)


def ignored(root: Path, relative: str) -> bool:
    completed = subprocess.run(
        ["git", "check-ignore", "-q", "--no-index", "--", relative], cwd=root, timeout=SUBPROCESS_TIMEOUT
    )
    assert completed.returncode in (0, 1), completed
    return completed.returncode == 0


def untracked(root: Path) -> set[str]:
    out = subprocess.run(
        ["git", "ls-files", "-z", "--others", "--exclude-standard"],
        cwd=root, capture_output=True, timeout=SUBPROCESS_TIMEOUT, check=True,
    ).stdout
    return {os.fsdecode(item) for item in out.split(b"\0") if item}


# ---------------------------------------------------------------- init


def test_init_creates_config_and_ignores_machine_local_state(tmp_path: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "r"
    (root / "deep" / "er").mkdir(parents=True)
    git(root, "init", "-q")
    result = run_artver(root / "deep" / "er", "init")
    assert result.code == 0, result.err
    assert "Initialised" in result.out and "xxh128" in result.out
    assert (root / ".artver" / "config").is_file()
    assert "hash = xxh128" in (root / ".artver" / "config").read_text()
    assert not (root / "deep" / "er" / ".artver").exists()
    for local in ["cache/xxh128/ab/cd", "state.db", "state.db-wal", "tmp/x", "config.local", "lock"]:
        assert ignored(root, f".artver/{local}"), local
    assert not ignored(root, ".artver/config")
    assert not ignored(root, ".artver/.gitignore")
    # After some real work, only committable files show up in Git.
    write(root / "m.bin", b"12345")
    assert run_artver(root, "add", "m.bin").code == 0
    assert untracked(root) == {".artver/.gitignore", ".artver/config", ".gitattributes", ".gitignore", "m.bin.art"}


def test_init_twice_is_harmless_and_says_so(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    config_before = (repo / ".artver" / "config").read_bytes()
    ignore_before = (repo / ".artver" / ".gitignore").read_bytes()
    write(repo / "m.bin", b"x")
    assert run_artver(repo, "add", "m.bin").code == 0
    result = run_artver(repo, "init")
    assert result.code == 0, result.err
    assert "already initialised" in result.out and "nothing changed" in result.out
    assert (repo / ".artver" / "config").read_bytes() == config_before
    assert (repo / ".artver" / ".gitignore").read_bytes() == ignore_before
    assert len(cache_files(repo)) == 1
    assert run_artver(repo, "init", "--hash", "xxh128").code == 0  # same algorithm: fine
    assert run_artver(repo, "status", "--check").code == 0


def test_init_outside_git_fails_clearly(tmp_path: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    plain = tmp_path / "plain"
    plain.mkdir()
    result = run_artver(plain, "init")
    assert_one_line_error(result, "not inside a Git work tree", str(plain))
    assert not (plain / ".artver").exists()


def test_init_sha256_prefixes_every_hash(tmp_path: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "r"
    root.mkdir()
    git(root, "init", "-q")
    result = run_artver(root, "init", "--hash", "sha256")
    assert result.code == 0 and "sha256" in result.out
    assert "hash = sha256" in (root / ".artver" / "config").read_text()
    write(root / "m.bin", b"abc")
    write(root / "d" / "f", b"def")
    assert run_artver(root, "add", "m.bin", "d").code == 0
    pointer = read_pointer(root / "m.bin.art", "m.bin.art")
    assert pointer.hash == "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    entries = read_pointer(root / "d.art", "d.art").content.entries
    assert entries is not None and entries[0].hash.startswith("sha256:")
    assert object_path(root, pointer.hash).read_bytes() == b"abc"
    assert not (root / ".artver" / "cache" / "xxh128").exists()


def test_init_default_is_xxh128(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    write(repo / "m.bin", b"abc")
    assert run_artver(repo, "add", "m.bin").code == 0
    assert read_pointer(repo / "m.bin.art", "m.bin.art").hash == xxh(b"abc")
    assert "xxh128:" in (repo / "m.bin.art").read_text()


def test_init_refuses_to_change_the_hash(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    before = (repo / ".artver" / "config").read_bytes()
    result = run_artver(repo, "init", "--hash", "sha256")
    assert_one_line_error(result, "xxh128", "cannot change")
    assert (repo / ".artver" / "config").read_bytes() == before


def test_init_unknown_algorithm(tmp_path: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    git(tmp_path, "init", "-q")
    assert_one_line_error(run_artver(tmp_path, "init", "--hash", "md5"), "md5")
    assert not (tmp_path / ".artver").exists()


def test_commands_in_an_uninitialised_git_repo(tmp_path: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    git(tmp_path, "init", "-q")
    write(tmp_path / "m.bin", b"x")
    for args in (["add", "m.bin"], ["status"], ["checkout"], ["remove", "m.bin"]):
        assert_one_line_error(run_artver(tmp_path, *args), "not initialised", "artver init")
    assert not (tmp_path / "m.bin.art").exists()


# ---------------------------------------------------------------- add


def test_add_file_writes_pointer_cache_object_and_gitignore(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    data = os.urandom(100_000)
    write(repo / "models" / "model.pt", data)
    result = run_artver(repo, "add", "models/model.pt")
    assert result.code == 0, result.err
    assert result.err == ""
    assert "added" in result.out and "models/model.pt" in result.out
    assert "git add models/model.pt.art models/.gitignore" in result.out
    pointer = read_pointer(repo / "models" / "model.pt.art", "p")
    assert pointer.kind == "file" and pointer.hash == xxh(data) and pointer.size == len(data)
    obj = object_path(repo, pointer.hash)
    assert obj.read_bytes() == data
    assert obj.stat().st_mode & 0o777 == 0o444
    assert (repo / "models" / ".gitignore").read_text() == "/model.pt\n"
    assert not (repo / ".gitignore").exists() or "model.pt" not in (repo / ".gitignore").read_text()
    assert (repo / "models" / "model.pt").read_bytes() == data
    assert untracked(repo) == {"models/.gitignore", "models/model.pt.art"}


def test_add_prints_a_git_add_command_that_works(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    names = ["sp ace.bin", "st*r.bin", "#hash.bin", "quo'te.bin", "ünï.bin"]
    for name in names:
        write(repo / "sub" / name, name.encode())
    result = run_artver(repo / "sub", "add", *names)
    assert result.code == 0, result.err
    command = [line for line in result.out.splitlines() if line.startswith("To record this in Git:")]
    assert len(command) == 1
    shell = command[0].split(":  ", 1)[1]
    subprocess.run(["bash", "-c", shell], cwd=repo / "sub", check=True, timeout=SUBPROCESS_TIMEOUT)
    staged = set(git(repo, "-c", "core.quotepath=off", "diff", "--cached", "--name-only").splitlines())
    assert staged == {f"sub/{name}.art" for name in names} | {"sub/.gitignore"}


def test_add_directory_nested(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    files = {"a.txt": b"A", "x/y/z.bin": os.urandom(5000), "x/empty": b"", "x/y/sp ace é": b"s"}
    for name, data in files.items():
        write(repo / "data" / name, data)
    result = run_artver(repo, "add", "data")
    assert result.code == 0, result.err
    assert "4 files" in result.out
    pointer = read_pointer(repo / "data.art", "data.art")
    assert pointer.kind == "dir" and isinstance(pointer.content, InlineListing)
    assert {e.path: (e.hash, e.size) for e in pointer.content.entries} == {n: (xxh(d), len(d)) for n, d in files.items()}
    for data in files.values():
        assert object_path(repo, xxh(data)).read_bytes() == data
    assert (repo / ".gitignore").read_text() == "/data\n"
    assert run_artver(repo, "status", "--check").code == 0


def test_gitignore_user_content_is_kept_in_order_without_duplicates(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    user = b"# my rules\n*.log\n\n!keep.log\nbuild/"  # no trailing newline
    write(repo / ".gitignore", user)
    write(repo / "a.bin", b"a")
    write(repo / "b.bin", b"b")
    assert run_artver(repo, "add", "a.bin").code == 0
    assert (repo / ".gitignore").read_bytes() == user + b"\n/a.bin\n"
    assert run_artver(repo, "add", "b.bin", "a.bin").code == 0
    assert (repo / ".gitignore").read_bytes() == user + b"\n/a.bin\n/b.bin\n"
    write(repo / "a.bin", b"changed")
    assert run_artver(repo, "add", "a.bin").code == 0
    assert (repo / ".gitignore").read_bytes() == user + b"\n/a.bin\n/b.bin\n"


def test_gitignore_line_already_written_by_the_user_is_not_duplicated(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    write(repo / ".gitignore", "/a.bin\n*.tmp\n")
    write(repo / "a.bin", b"a")
    result = run_artver(repo, "add", "a.bin")
    assert result.code == 0
    assert (repo / ".gitignore").read_text() == "/a.bin\n*.tmp\n"
    assert "git add a.bin.art\n" in result.out


@pytest.mark.parametrize(
    "name, sibling",
    [
        ("st*r.bin", "stXr.bin"),
        ("#hash", "hash"),
        ("sp ace.bin", "sp"),
        ("trailing ", "trailing"),
        ("!bang", "bang"),
        ("[ab].bin", "a.bin"),
        ("q?.bin", "qx.bin"),
        ("mod\u00e8le \u4e2d.bin", "mod.bin"),
    ],
)
def test_gitignore_pattern_matches_exactly_the_artifact(repo: Path, run_artver, name: str, sibling: str) -> None:  # type: ignore[no-untyped-def]
    write(repo / "d" / name, b"payload")
    write(repo / "d" / sibling, b"not an artifact")
    write(repo / "d" / "keep", b"user line target")
    write(repo / "d" / ".gitignore", "keep")
    result = run_artver(repo, "add", f"d/{name}")
    assert result.code == 0, result.err
    lines = (repo / "d" / ".gitignore").read_text().splitlines()
    assert lines[0] == "keep" and len(lines) == 2 and lines[1].startswith("/")
    assert ignored(repo, f"d/{name}")
    assert not ignored(repo, f"d/{sibling}")
    assert not ignored(repo, f"d/{name}.art")
    assert ignored(repo, "d/keep")
    assert f"d/{name}.art" in untracked(repo)
    # removing takes exactly that line away again
    assert run_artver(repo, "remove", f"d/{name}").code == 0
    assert (repo / "d" / ".gitignore").read_text() == "keep\n"
    assert not ignored(repo, f"d/{name}")


def test_gitignore_with_crlf_line_endings_is_kept_byte_for_byte(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    user = b"*.log\r\n# windows user\r\n"
    write(repo / ".gitignore", user)
    write(repo / "a.bin", b"a")
    assert run_artver(repo, "add", "a.bin").code == 0
    assert (repo / ".gitignore").read_bytes().startswith(user)
    assert run_artver(repo, "remove", "a.bin").code == 0
    assert (repo / ".gitignore").read_bytes() == user


def test_gitignore_that_is_not_utf8_is_handled(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    user = b"caf\xe9.log\n"  # Latin-1: Git treats .gitignore as bytes and accepts it
    write(repo / ".gitignore", user)
    write(repo / "a.bin", b"a")
    result = run_artver(repo, "add", "a.bin")
    assert result.code == 0, result.err
    assert (repo / ".gitignore").read_bytes() == user + b"/a.bin\n"
    assert ignored(repo, "a.bin")


def test_readd_changed_file_updates_pointer(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    write(repo / "m.bin", b"version one")
    assert run_artver(repo, "add", "m.bin").code == 0
    write(repo / "m.bin", b"version two!")
    result = run_artver(repo, "add", "m.bin")
    assert result.code == 0 and result.out.startswith("added")
    pointer = read_pointer(repo / "m.bin.art", "m.bin.art")
    assert (pointer.hash, pointer.size) == (xxh(b"version two!"), 12)
    assert object_path(repo, xxh(b"version one")).read_bytes() == b"version one"  # the old one stays
    assert object_path(repo, xxh(b"version two!")).read_bytes() == b"version two!"


def test_readd_changed_directory_updates_pointer(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    write(repo / "d" / "a", b"1")
    write(repo / "d" / "b", b"2")
    assert run_artver(repo, "add", "d").code == 0
    (repo / "d" / "a").unlink()
    write(repo / "d" / "b", b"22")
    write(repo / "d" / "c" / "c", b"3")
    assert run_artver(repo, "add", "d").code == 0
    entries = read_pointer(repo / "d.art", "d.art").content.entries
    assert entries is not None
    assert [(e.path, e.hash) for e in entries] == [("b", xxh(b"22")), ("c/c", xxh(b"3"))]


@pytest.mark.parametrize("kind", ["file", "dir"])
def test_unchanged_readd_is_a_no_op(repo: Path, run_artver, kind: str) -> None:  # type: ignore[no-untyped-def]
    if kind == "file":
        write(repo / "art", b"same")
    else:
        write(repo / "art" / "x", b"same")
        write(repo / "art" / "y" / "z", b"too")
    assert run_artver(repo, "add", "art", "--desc", "d").code == 0
    pointer = repo / "art.art"
    old_time = 1_500_000_000_000_000_000
    os.utime(pointer, ns=(old_time, old_time))
    before = pointer.stat()
    data = pointer.read_bytes()
    ignore_before = (repo / ".gitignore").stat().st_mtime_ns
    objects = cache_files(repo)
    result = run_artver(repo, "add", "art")
    assert result.code == 0
    assert result.out.startswith("unchanged")
    assert "git add" not in result.out
    after = pointer.stat()
    assert pointer.read_bytes() == data
    assert (after.st_mtime_ns, after.st_ino) == (before.st_mtime_ns, before.st_ino)
    assert (repo / ".gitignore").stat().st_mtime_ns == ignore_before
    assert cache_files(repo) == objects


def test_desc_and_meta_are_stored_and_kept(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    write(repo / "m.bin", b"one")
    result = run_artver(
        repo, "add", "m.bin", "--desc", "A \"fine\" model\twith é", "--meta", "epoch=3", "--meta", "lr=0.1=x", "--meta", "empty="
    )
    assert result.code == 0, result.err
    pointer = read_pointer(repo / "m.bin.art", "m.bin.art")
    assert pointer.desc == "A \"fine\" model\twith é"
    assert dict(pointer.meta) == {"epoch": "3", "lr": "0.1=x", "empty": ""}
    write(repo / "m.bin", b"two")
    assert run_artver(repo, "add", "m.bin").code == 0
    pointer = read_pointer(repo / "m.bin.art", "m.bin.art")
    assert pointer.hash == xxh(b"two")
    assert pointer.desc == "A \"fine\" model\twith é"
    assert dict(pointer.meta) == {"epoch": "3", "lr": "0.1=x", "empty": ""}
    assert run_artver(repo, "add", "m.bin", "--meta", "epoch=4", "--meta", "new=1").code == 0
    pointer = read_pointer(repo / "m.bin.art", "m.bin.art")
    assert pointer.desc == "A \"fine\" model\twith é"
    assert dict(pointer.meta) == {"epoch": "4", "lr": "0.1=x", "empty": "", "new": "1"}
    assert run_artver(repo, "add", "m.bin", "--desc", "new words").code == 0
    assert read_pointer(repo / "m.bin.art", "m.bin.art").desc == "new words"


def test_desc_kept_on_directory_readd(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    write(repo / "d" / "a", b"1")
    assert run_artver(repo, "add", "d", "--desc", "dataset", "--meta", "split=train").code == 0
    write(repo / "d" / "b", b"2")
    assert run_artver(repo, "add", "d").code == 0
    pointer = read_pointer(repo / "d.art", "d.art")
    assert pointer.desc == "dataset" and pointer.meta == (("split", "train"),)
    assert isinstance(pointer.content, InlineListing) and len(pointer.content.entries) == 2


@pytest.mark.parametrize("bad", ["novalue", "=v", "sp ace=1", "x/y=1"])
def test_bad_meta_refused(repo: Path, run_artver, bad: str) -> None:  # type: ignore[no-untyped-def]
    write(repo / "m.bin", b"x")
    assert_one_line_error(run_artver(repo, "add", "m.bin", "--meta", bad), "--meta")
    assert not (repo / "m.bin.art").exists()


# ---------------------------------------------------------------- add: refusals


def _assert_refused_cleanly(repo: Path, result, needle: str) -> None:  # type: ignore[no-untyped-def]
    assert_one_line_error(result, needle)
    written = {p for p in untracked(repo) if p.endswith((".art", ".gitignore"))}
    assert not written, written  # no pointer, no .gitignore written


def test_add_refuses_path_outside_the_repository(repo: Path, tmp_path: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    outside = write(tmp_path / "outside.bin", b"x")
    _assert_refused_cleanly(repo, run_artver(repo, "add", str(outside)), str(outside))
    _assert_refused_cleanly(repo, run_artver(repo, "add", "../outside.bin"), "../outside.bin")
    assert not (tmp_path / "outside.bin.art").exists()


def test_add_refuses_path_through_symlink_leaving_the_repository(repo: Path, tmp_path: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    write(tmp_path / "elsewhere" / "f.bin", b"x")
    os.symlink(tmp_path / "elsewhere", repo / "link")
    commit_all(repo, "link")
    result = run_artver(repo, "add", "link/f.bin")
    assert_one_line_error(result, "link/f.bin")
    assert not (tmp_path / "elsewhere" / "f.bin.art").exists()
    assert not (tmp_path / "elsewhere" / ".gitignore").exists()


def test_add_refuses_git_tracked_file(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    write(repo / "src" / "code.py", "print(1)\n")
    commit_all(repo, "code")
    _assert_refused_cleanly(repo, run_artver(repo, "add", "src/code.py"), "src/code.py")
    _assert_refused_cleanly(repo, run_artver(repo / "src", "add", "code.py"), "code.py")
    result = run_artver(repo, "add", "src/code.py")
    assert "Git already tracks" in result.err


def test_add_refuses_staged_file(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    write(repo / "staged.bin", b"x")
    git(repo, "add", "staged.bin")
    assert_one_line_error(run_artver(repo, "add", "staged.bin"), "staged.bin", "Git already tracks")
    assert not (repo / "staged.bin.art").exists()


def test_add_refuses_directory_containing_git_tracked_files(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    write(repo / "src" / "deep" / "code.py", "x")
    commit_all(repo, "code")
    write(repo / "src" / "new.bin", b"x")
    _assert_refused_cleanly(repo, run_artver(repo, "add", "src"), "src")
    # a new file inside a Git-tracked folder is fine
    assert run_artver(repo, "add", "src/new.bin").code == 0


def test_add_refuses_path_inside_a_tracked_artifact_directory(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    write(repo / "data" / "sub" / "f", b"x")
    assert run_artver(repo, "add", "data").code == 0
    commit_all(repo, "data")
    pointer = (repo / "data.art").read_bytes()
    for path in ("data/sub/f", "data/sub"):
        result = run_artver(repo, "add", path)
        assert_one_line_error(result, path, "inside the tracked folder data")
    assert not (repo / "data" / "sub.art").exists() and not (repo / "data" / "sub" / "f.art").exists()
    assert not (repo / "data" / ".gitignore").exists()
    assert (repo / "data.art").read_bytes() == pointer


def test_add_refuses_directory_containing_artifacts(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    write(repo / "runs" / "a" / "m.bin", b"x")
    write(repo / "runs" / "b.bin", b"y")
    assert run_artver(repo, "add", "runs/a/m.bin").code == 0
    result = run_artver(repo, "add", "runs")
    assert_one_line_error(result, "runs", "runs/a/m.bin")
    assert not (repo / "runs.art").exists()


def test_add_refuses_a_folder_and_its_content_in_one_command(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    """Overlapping artifacts must not come into being in one call either."""
    write(repo / "data" / "sub" / "f", b"x")
    write(repo / "data" / "g", b"y")
    for args in (["data", "data/sub"], ["data/sub/f", "data"]):
        result = run_artver(repo, "add", *args)
        assert_one_line_error(result, "data")
        assert not (repo / "data.art").exists()
        assert not (repo / "data" / "sub.art").exists() and not (repo / "data" / "sub" / "f.art").exists()
        assert not (repo / "data" / ".gitignore").exists() and not (repo / "data" / "sub" / ".gitignore").exists()


def test_add_refuses_missing_path(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    _assert_refused_cleanly(repo, run_artver(repo, "add", "no/such.bin"), "no/such.bin")


@pytest.mark.parametrize("path", [".git", ".git/config", ".git/objects", ".artver", ".artver/config", ".artver/cache"])
def test_add_refuses_git_and_artver_folders(repo: Path, run_artver, path: str) -> None:  # type: ignore[no-untyped-def]
    (repo / ".artver" / "cache").mkdir(exist_ok=True)
    _assert_refused_cleanly(repo, run_artver(repo, "add", path), path)
    assert not (repo / (path + ".art")).exists()


def test_add_refuses_nested_dot_git(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    write(repo / "vendor" / ".git" / "HEAD", "ref: x\n")
    assert_one_line_error(run_artver(repo, "add", "vendor/.git"), "vendor/.git")


def test_add_refuses_pointer_file(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    write(repo / "m.bin", b"x")
    assert run_artver(repo, "add", "m.bin").code == 0
    before = (repo / "m.bin.art").read_bytes()
    assert_one_line_error(run_artver(repo, "add", "m.bin.art"), "m.bin.art", "pointer")
    assert not (repo / "m.bin.art.art").exists()
    assert (repo / "m.bin.art").read_bytes() == before


def test_add_refuses_top_level_symlink(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    write(repo / "real.bin", b"x")
    os.symlink("real.bin", repo / "alias.bin")
    assert_one_line_error(run_artver(repo, "add", "alias.bin"), "alias.bin", "symlink")
    assert not (repo / "alias.bin.art").exists()


def test_add_refuses_whole_repository(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    assert_one_line_error(run_artver(repo, "add", "."), ".")
    assert not list(repo.glob("*.art"))


def test_one_bad_path_adds_nothing(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    write(repo / "good.bin", b"x")
    assert_one_line_error(run_artver(repo, "add", "good.bin", "missing.bin"), "missing.bin")
    assert not (repo / "good.bin.art").exists() and not (repo / ".gitignore").exists()


@pytest.mark.parametrize("name", ["back\\slash.bin", "new\nline.bin", "tab\tname.bin"], ids=["backslash", "newline", "tab"])
def test_add_refuses_names_a_pointer_cannot_hold(repo: Path, run_artver, name: str) -> None:  # type: ignore[no-untyped-def]
    """A name that every later command would refuse to load must be refused by add itself."""
    write(repo / "ok.bin", b"ok")
    assert run_artver(repo, "add", "ok.bin").code == 0
    write(repo / name, b"x")
    result = run_artver(repo, "add", name)
    assert result.code == 2, result
    assert "Traceback" not in result.err
    assert not (repo / (name + ".art")).exists()
    assert (repo / ".gitignore").read_text() == "/ok.bin\n"
    status = run_artver(repo, "status", "--check")
    assert status.code == 0, status.err


def test_add_from_a_subdirectory(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    write(repo / "a" / "b" / "m.bin", b"x")
    write(repo / "a" / "top.bin", b"t")
    result = run_artver(repo / "a" / "b", "add", "m.bin", "../top.bin")
    assert result.code == 0, result.err
    assert (repo / "a" / "b" / "m.bin.art").is_file() and (repo / "a" / "top.bin.art").is_file()
    assert (repo / "a" / "b" / ".gitignore").read_text() == "/m.bin\n"
    assert (repo / "a" / ".gitignore").read_text() == "/top.bin\n"
    assert "git add m.bin.art .gitignore ../top.bin.art ../.gitignore" in result.out


def test_add_json_output(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    write(repo / "m.bin", b"abc")
    result = run_artver(repo, "add", "--json", "m.bin")
    assert result.code == 0
    [item] = json.loads(result.out)
    assert item["path"] == "m.bin" and item["kind"] == "file" and item["hash"] == xxh(b"abc") and item["changed"]


# ---------------------------------------------------------------- status


def _status_json(run_artver, repo: Path, *args: str) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    result = run_artver(repo, "status", "--json", *args)
    assert result.code == 0, result.err
    items = json.loads(result.out)
    for item in items:
        assert {"path", "kind", "state"} <= set(item)
    return {item["path"]: item for item in items}


def test_status_without_artifacts(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    result = run_artver(repo, "status", "--check")
    assert result.code == 0 and len(result.lines) == 1
    assert json.loads(run_artver(repo, "status", "--json").out) == []


def test_status_clean_is_one_line(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    write(repo / "m.bin", b"x")
    write(repo / "d" / "f", b"y")
    assert run_artver(repo, "add", "m.bin", "d").code == 0
    for args in ([], ["--check"]):
        result = run_artver(repo, "status", *args)
        assert result.code == 0
        assert result.lines == ["All 2 artifacts clean: the workspace matches the pointers."]
        assert result.err == ""
    items = _status_json(run_artver, repo)
    assert {p: (i["kind"], i["state"]) for p, i in items.items()} == {"m.bin": ("file", "clean"), "d": ("dir", "clean")}


def test_status_modified_file(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    write(repo / "m.bin", b"abc")
    write(repo / "other.bin", b"o")
    assert run_artver(repo, "add", "m.bin", "other.bin").code == 0
    write(repo / "m.bin", b"abd")  # same size, different content
    result = run_artver(repo, "status")
    assert result.code == 0
    assert result.lines[0].split() == ["modified", "m.bin"]
    assert "other.bin" not in result.out
    assert run_artver(repo, "status", "--check").code == 1
    assert run_artver(repo, "status", "--check", "other.bin").code == 0
    assert _status_json(run_artver, repo)["m.bin"]["state"] == "modified"


def test_status_modified_directory_lists_files(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    for name in ("keep", "change", "gone", "deep/gone too", "mode"):
        write(repo / "d" / name, name.encode())
    assert run_artver(repo, "add", "d").code == 0
    write(repo / "d" / "change", b"CHANGE")
    (repo / "d" / "gone").unlink()
    (repo / "d" / "deep" / "gone too").unlink()
    write(repo / "d" / "new file", b"n")
    os.chmod(repo / "d" / "mode", 0o755)
    result = run_artver(repo, "status")
    assert result.code == 0
    assert result.lines[0].split() == ["modified", "d", "(1", "added,", "2", "modified,", "2", "deleted)"]
    assert "    added:     new file" in result.lines
    assert "    modified:  change" in result.lines
    assert "    modified:  mode" in result.lines
    assert "    deleted:   gone" in result.lines
    assert "    deleted:   deep/gone too" in result.lines
    item = _status_json(run_artver, repo)["d"]
    assert item["state"] == "modified"
    assert item["added"] == ["new file"]
    assert sorted(item["modified"]) == ["change", "mode"]
    assert sorted(item["deleted"]) == ["deep/gone too", "gone"]
    assert run_artver(repo, "status", "--check").code == 1


def test_status_missing(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    write(repo / "m.bin", b"x")
    write(repo / "d" / "f", b"y")
    assert run_artver(repo, "add", "m.bin", "d").code == 0
    (repo / "m.bin").unlink()
    (repo / "d" / "f").unlink()
    (repo / "d").rmdir()
    result = run_artver(repo, "status")
    assert result.code == 0
    assert sorted(line.split()[:2] for line in result.lines) == [["missing", "d"], ["missing", "m.bin"]]
    items = _status_json(run_artver, repo)
    assert items["m.bin"]["state"] == items["d"]["state"] == "missing"
    assert run_artver(repo, "status", "--check").code == 1


def test_status_not_in_cache_and_add_saves_it_again(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    write(repo / "m.bin", b"file content")
    write(repo / "d" / "f", b"dir content")
    assert run_artver(repo, "add", "m.bin", "d").code == 0
    object_path(repo, xxh(b"file content")).unlink()
    object_path(repo, xxh(b"dir content")).unlink()
    items = _status_json(run_artver, repo)
    assert items["m.bin"]["state"] == "not-in-cache"
    assert items["d"]["state"] == "not-in-cache"
    result = run_artver(repo, "status", "--check")
    assert result.code == 1
    assert {line.split()[0] for line in result.lines} == {"not-in-cache"}
    result = run_artver(repo, "add", "m.bin", "d")
    assert result.code == 0
    assert object_path(repo, xxh(b"file content")).read_bytes() == b"file content"
    assert object_path(repo, xxh(b"dir content")).read_bytes() == b"dir content"
    assert run_artver(repo, "status", "--check").code == 0


def test_status_of_selected_paths(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    write(repo / "a" / "x.bin", b"1")
    write(repo / "a" / "y.bin", b"2")
    write(repo / "b.bin", b"3")
    assert run_artver(repo, "add", "a/x.bin", "a/y.bin", "b.bin").code == 0
    assert set(_status_json(run_artver, repo, "a")) == {"a/x.bin", "a/y.bin"}
    assert set(_status_json(run_artver, repo, "b.bin.art")) == {"b.bin"}
    assert set(_status_json(run_artver, repo / "a", "x.bin")) == {"a/x.bin"}
    assert_one_line_error(run_artver(repo, "status", "nope"), "nope", "not a tracked artifact")


def test_status_after_commit_of_pointer(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    write(repo / "m.bin", b"x")
    assert run_artver(repo, "add", "m.bin").code == 0
    commit_all(repo, "m")
    assert git(repo, "status", "--porcelain") == ""
    assert _status_json(run_artver, repo)["m.bin"]["state"] == "clean"


# ---------------------------------------------------------------- remove


def test_remove_deletes_pointer_and_gitignore_line_keeps_data(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    write(repo / ".gitignore", "*.log\n")
    write(repo / "m.bin", b"model")
    write(repo / "d" / "f", b"dir")
    assert run_artver(repo, "add", "m.bin", "d").code == 0
    commit_all(repo, "tracked")
    result = run_artver(repo, "remove", "m.bin")
    assert result.code == 0, result.err
    assert "stopped tracking m.bin" in result.out and "git add -A m.bin.art .gitignore" in result.out
    assert not (repo / "m.bin.art").exists()
    assert (repo / "m.bin").read_bytes() == b"model"
    assert (repo / ".gitignore").read_text() == "*.log\n/d\n"
    assert object_path(repo, xxh(b"model")).exists()
    assert not ignored(repo, "m.bin")
    result = run_artver(repo, "remove", "d.art")  # by pointer path
    assert result.code == 0
    assert (repo / ".gitignore").read_text() == "*.log\n"
    assert (repo / "d" / "f").read_bytes() == b"dir"
    assert json.loads(run_artver(repo, "status", "--json").out) == []


def test_remove_deletes_gitignore_it_emptied(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    write(repo / "sub" / "m.bin", b"x")
    assert run_artver(repo, "add", "sub/m.bin").code == 0
    assert run_artver(repo, "remove", "sub/m.bin").code == 0
    assert not (repo / "sub" / ".gitignore").exists()
    assert (repo / "sub" / "m.bin").read_bytes() == b"x"


def test_remove_untracked_is_an_error(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    write(repo / "m.bin", b"x")
    assert_one_line_error(run_artver(repo, "remove", "m.bin"), "m.bin", "not a tracked artifact")
    assert (repo / "m.bin").read_bytes() == b"x"


def test_remove_then_readd(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    write(repo / "m.bin", b"x")
    assert run_artver(repo, "add", "m.bin").code == 0
    assert run_artver(repo, "remove", "m.bin").code == 0
    assert run_artver(repo, "add", "m.bin").code == 0
    assert (repo / ".gitignore").read_text() == "/m.bin\n"


def test_add_in_a_folder_git_ignores_is_not_silently_lost(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    """If the user's .gitignore hides the pointer, artver (which finds pointers through Git)
    and Git would both lose it: add must refuse, or the artifact must stay visible."""
    write(repo / ".gitignore", "build/\n")
    write(repo / "build" / "m.pt", b"x")
    result = run_artver(repo, "add", "build/m.pt")
    if result.code == 0:
        assert "build/m.pt" in _status_json(run_artver, repo)
        assert not ignored(repo, "build/m.pt.art")
    else:
        assert_one_line_error(result, "build/m.pt", "ignore")
        assert not (repo / "build" / "m.pt.art").exists()
