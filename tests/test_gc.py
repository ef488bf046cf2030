"""artver gc: which cache (and remote) objects are deleted for each scope, and which are always kept."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from artver.fsutil import human_size
from artver.transfer import hash_of_key, key_of
from tests.support.cli import Result
from tests.support.files import write
from tests.support.git import commit_all, git
from tests.support.remotes import directory_remote, stored_objects

TIMEOUT = 60


def ok(result: Result) -> Result:
    assert result.code == 0, f"exit {result.code}\nstdout:\n{result.out}\nstderr:\n{result.err}"
    return result


def objects_under(root: Path) -> set[str]:
    """Hashes stored under a cache or a directory remote (<algorithm>/<2 hex>/<rest>, or in
    the remote's packs)."""
    if not root.exists():
        return set()
    found = set(stored_objects(directory_remote(root))) if (root / "index").is_dir() else set()
    for path in root.rglob("*"):
        if path.is_file():
            value = hash_of_key(path.relative_to(root).as_posix())
            if value is not None:
                found.add(value)
    return found


def pointer_field(pointer: Path, name: str) -> str:
    for line in pointer.read_text().splitlines():
        if line.startswith(name + ": "):
            return line[len(name) + 2:]
    raise AssertionError(f"no {name} in {pointer}")


def inline_entries(pointer: Path) -> dict[str, str]:
    return {line.split(" ", 3)[3]: line.split(" ", 1)[0] for line in pointer.read_text().splitlines() if line.startswith("xxh128:")}


@dataclass
class Project:
    root: Path
    model: dict[str, str] = field(default_factory=dict)  # version -> hash
    sizes: dict[str, int] = field(default_factory=dict)  # hash -> size
    data: set[str] = field(default_factory=set)  # hashes of data/ files

    @property
    def cache(self) -> Path:
        return self.root / ".artver" / "cache"

    def cached(self) -> set[str]:
        return objects_under(self.cache)


MODELS = {"v1": b"model one" * 100, "v2": b"model two" * 200, "vF": b"feature model" * 50, "v3": b"model three" * 300}

_TEMPLATES: dict[str, Project] = {}


@pytest.fixture
def project(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, run_artver: Callable[..., Result]) -> Project:
    """main: c1 (tag v1) model v1 + data/; c2 model v2; c3 model v3 (the workspace).
    feature (from c2): model vF. Built once per session, copied for each test."""
    if "main" not in _TEMPLATES:
        root = tmp_path_factory.mktemp("gc-template") / "repo"
        root.mkdir()
        git(root, "init", "-q")
        ok(run_artver(root, "init"))
        commit_all(root, "init")
        built = Project(root)

        def model(version: str) -> None:
            write(root / "model.bin", MODELS[version])
            ok(run_artver(root, "add", "model.bin"))
            built.model[version] = pointer_field(root / "model.bin.art", "hash")
            built.sizes[built.model[version]] = len(MODELS[version])
            commit_all(root, f"model {version}")

        write(root / "data/a.txt", "a\n")
        write(root / "data/b.txt", "bb\n")
        ok(run_artver(root, "add", "data"))
        built.data = set(inline_entries(root / "data.art").values())
        model("v1")
        git(root, "tag", "-a", "v1", "-m", "first")
        model("v2")
        git(root, "checkout", "-q", "-b", "feature")
        model("vF")
        git(root, "checkout", "-q", "main")
        ok(run_artver(root, "checkout"))
        model("v3")
        assert built.cached() == set(built.model.values()) | built.data
        _TEMPLATES["main"] = built
    template = _TEMPLATES["main"]
    root = tmp_path / "repo"
    shutil.copytree(template.root, root, symlinks=True)
    return dataclasses.replace(template, root=root)


def kept_after(run_artver, project: Project, *args: str) -> tuple[set[str], Result]:
    result = ok(run_artver(project.root, "gc", *args))
    return project.cached(), result


def versions(project: Project, *names: str) -> set[str]:
    return {project.model[name] for name in names}


def test_gc_without_a_scope_refuses_and_explains(project: Project, run_artver) -> None:
    before = project.cached()
    for args in ((), ("--dry-run",), ("--cloud",)):
        result = run_artver(project.root, "gc", *args)
        assert result.code == 2, result
        assert "gc needs a scope" in result.err
        for option in ("--workspace", "--all-branches", "--all-tags", "--all-commits", "--rev"):
            assert option in result.err
        assert project.cached() == before


def test_gc_workspace_deletes_old_versions_and_keeps_the_workspace(project: Project, run_artver) -> None:
    old = versions(project, "v1", "v2", "vF")
    cached, result = kept_after(run_artver, project, "--workspace")
    assert cached == versions(project, "v3") | project.data
    freed = sum(project.sizes[value] for value in old)
    assert result.out.strip() == f"Deleted 3 cache object(s) ({human_size(freed)}); 3 referenced object(s) kept."
    assert (project.root / "model.bin").read_bytes() == MODELS["v3"]
    assert {p.name for p in (project.root / "data").iterdir()} == {"a.txt", "b.txt"}
    ok(run_artver(project.root, "status", "--check"))
    # A second run has nothing left to do.
    _, again = kept_after(run_artver, project, "-w")
    assert again.out.startswith("Deleted 0 cache object(s) (0 B)")


@pytest.mark.parametrize(
    ("args", "kept"),
    [
        (("--all-branches",), ("v3", "vF")),
        (("--all-tags",), ("v3", "v1")),
        (("--all-commits",), ("v1", "v2", "vF", "v3")),
        (("--rev", "HEAD~1"), ("v2", "v3")),
        (("--rev", "main^"), ("v2", "v3")),
        (("--rev", "v1", "--rev", "feature"), ("v1", "vF", "v3")),
        (("--all-tags", "--all-branches"), ("v1", "vF", "v3")),
    ],
)
def test_gc_scopes(project: Project, run_artver, args: tuple[str, ...], kept: tuple[str, ...]) -> None:
    cached, result = kept_after(run_artver, project, *args)
    assert cached == versions(project, *kept) | project.data, args
    deleted = set(project.model) - set(kept)
    assert result.out.startswith(f"Deleted {len(deleted)} cache object(s)")


def test_gc_rev_with_a_full_sha(project: Project, run_artver) -> None:
    sha = git(project.root, "rev-parse", "v1^{commit}").strip()
    cached, _ = kept_after(run_artver, project, "--rev", sha)
    assert cached == versions(project, "v1", "v3") | project.data


def test_gc_rev_with_a_short_sha(project: Project, run_artver) -> None:
    sha = git(project.root, "rev-parse", "--short", "v1^{commit}").strip()
    cached, _ = kept_after(run_artver, project, "--rev", sha)
    assert cached == versions(project, "v1", "v3") | project.data


def test_gc_with_an_unknown_revision_fails_and_deletes_nothing(project: Project, run_artver) -> None:
    before = project.cached()
    result = run_artver(project.root, "gc", "--rev", "no-such-branch")
    assert result.code != 0
    assert "no-such-branch" in result.err and "Traceback" not in result.err
    assert project.cached() == before


def test_gc_dry_run_lists_count_and_bytes_and_deletes_nothing(project: Project, run_artver) -> None:
    before = project.cached()
    freed = sum(project.sizes[value] for value in versions(project, "v1", "v2", "vF"))
    for flag in ("--dry-run", "-n"):
        result = ok(run_artver(project.root, "gc", "--workspace", flag))
        assert result.out.strip() == f"Would delete 3 cache object(s) ({human_size(freed)}); 3 referenced object(s) kept."
        assert project.cached() == before
    payload = json.loads(ok(run_artver(project.root, "gc", "--all-tags", "--dry-run", "--json")).out)
    assert payload == {
        "dry_run": True, "referenced": 4, "deleted": 2,
        "bytes": project.sizes[project.model["v2"]] + project.sizes[project.model["vF"]],
        "remote": None, "remote_text": None, "remote_deleted": [],
    }
    assert project.cached() == before
    payload = json.loads(ok(run_artver(project.root, "gc", "--all-tags", "--json")).out)
    assert payload["dry_run"] is False and payload["deleted"] == 2
    assert project.cached() == before - versions(project, "v2", "vF")


def test_gc_never_deletes_what_the_workspace_needs(project: Project, run_artver) -> None:
    root = project.root
    write(root / "model.bin", b"uncommitted v4")
    write(root / "notes/new.bin", b"brand new artifact")
    ok(run_artver(root, "add", "model.bin", "notes"))
    v4 = pointer_field(root / "model.bin.art", "hash")
    new = set(inline_entries(root / "notes.art").values())
    cached, _ = kept_after(run_artver, project, "--rev", "v1")
    # v3 is only in HEAD, which is not in scope; the uncommitted pointers are.
    assert cached == versions(project, "v1") | {v4} | new | project.data
    assert (root / "model.bin").read_bytes() == b"uncommitted v4"
    ok(run_artver(root, "status", "--check"))
    # Even the narrowest scope keeps them, and the workspace files are never touched.
    cached, _ = kept_after(run_artver, project, "--workspace")
    assert cached == {v4} | new | project.data
    assert (root / "notes/new.bin").read_bytes() == b"brand new artifact"
    ok(run_artver(root, "status", "--check"))


def test_gc_keeps_listing_objects_of_referenced_large_directories(repo: Path, run_artver) -> None:
    config = repo / ".artver" / "config"
    config.write_text(config.read_text().rstrip("\n") + "\nlisting_inline_max = 2\n")
    cache = repo / ".artver" / "cache"
    for index in range(4):
        write(repo / f"big/f{index}.txt", f"file {index}\n")
    ok(run_artver(repo, "add", "big"))
    listing_1 = pointer_field(repo / "big.art", "listing")
    files_1 = objects_under(cache) - {listing_1}
    assert len(files_1) == 4
    commit_all(repo, "big 1")
    write(repo / "big/f0.txt", "file 0, changed\n")
    ok(run_artver(repo, "add", "big"))
    listing_2 = pointer_field(repo / "big.art", "listing")
    commit_all(repo, "big 2")
    all_objects = objects_under(cache)
    new_f0 = all_objects - files_1 - {listing_1, listing_2}
    assert len(new_f0) == 1

    ok(run_artver(repo, "gc", "--all-commits"))
    assert objects_under(cache) == all_objects

    ok(run_artver(repo, "gc", "--workspace"))
    remaining = objects_under(cache)
    assert listing_2 in remaining and listing_1 not in remaining
    assert len(remaining) == 1 + 4  # the listing and the four current files
    assert new_f0 < remaining
    assert len(files_1 - remaining) == 1  # the old content of f0
    ok(run_artver(repo, "status", "--check"))

    # The directory is no longer tracked anywhere in scope: its listing and files go.
    ok(run_artver(repo, "remove", "big"))
    shutil.rmtree(repo / "big")
    result = ok(run_artver(repo, "gc", "--workspace"))
    assert objects_under(cache) == set()
    assert result.out.startswith("Deleted 5 cache object(s)")


def test_gc_refuses_when_a_listing_in_scope_is_missing(repo: Path, run_artver) -> None:
    config = repo / ".artver" / "config"
    config.write_text(config.read_text().rstrip("\n") + "\nlisting_inline_max = 1\n")
    cache = repo / ".artver" / "cache"
    write(repo / "big/a", "a")
    write(repo / "big/b", "b")
    ok(run_artver(repo, "add", "big"))
    listing_1 = pointer_field(repo / "big.art", "listing")
    commit_all(repo, "big 1")
    write(repo / "big/a", "aa")
    ok(run_artver(repo, "add", "big"))
    commit_all(repo, "big 2")
    (cache / key_of(listing_1)).unlink()
    before = objects_under(cache)
    result = run_artver(repo, "gc", "--all-commits")
    assert result.code != 0
    assert "artver fetch" in result.err and "Traceback" not in result.err
    assert objects_under(cache) == before


def test_gc_refuses_a_shared_cache_without_force(project: Project, run_artver, tmp_path: Path) -> None:
    root = project.root
    shared = tmp_path / "shared-cache"
    shutil.copytree(project.cache, shared)
    config = root / ".artver" / "config.local"
    config.write_text(f"[cache]\ndir = {shared}\n")
    result = run_artver(root, "gc", "--workspace")
    assert result.code == 2 and "--force" in result.err and "shared" in result.err
    assert objects_under(shared) == set(project.model.values()) | project.data
    ok(run_artver(root, "gc", "--workspace", "--force"))
    assert objects_under(shared) == versions(project, "v3") | project.data


# ---------------------------------------------------------------- --cloud


def run_gc_process(root: Path, *args: str) -> Result:
    """gc as a non-interactive process (stdin is not a terminal)."""
    completed = subprocess.run(
        [sys.executable, "-m", "artver", "gc", *args], cwd=root, capture_output=True, text=True,
        timeout=TIMEOUT, stdin=subprocess.DEVNULL, env=dict(os.environ),
    )
    return Result(completed.returncode, completed.stdout, completed.stderr)


@pytest.fixture
def pushed(project: Project, run_artver, tmp_path: Path) -> tuple[Project, Path]:
    store = tmp_path / "store"
    store.mkdir()
    ok(run_artver(project.root, "remote", "add", "origin", str(store), "--default"))
    ok(run_artver(project.root, "push", "--all-commits"))
    assert objects_under(store) == set(project.model.values()) | project.data
    return project, store


def test_gc_cloud_without_yes_refuses_when_not_interactive(pushed) -> None:
    project, store = pushed
    before_remote, before_cache = objects_under(store), project.cached()
    result = run_gc_process(project.root, "--workspace", "--cloud", "-r", "origin")
    assert result.code != 0
    assert "--yes" in result.err and "3 object(s)" in result.err
    assert "Traceback" not in result.err
    assert objects_under(store) == before_remote
    assert project.cached() == before_cache


def test_gc_cloud_dry_run_lists_remote_objects_and_deletes_nothing(pushed, run_artver) -> None:
    project, store = pushed
    before = objects_under(store)
    result = ok(run_artver(project.root, "gc", "--workspace", "--cloud", "-r", "origin", "--dry-run"))
    assert "Would delete 3 object(s) from" in result.out
    for value in versions(project, "v1", "v2", "vF"):
        assert f"    {value}" in result.lines
    assert objects_under(store) == before
    assert project.cached() == before


def test_gc_cloud_with_yes_deletes_unreferenced_remote_objects(pushed) -> None:
    project, store = pushed
    (store / "README.txt").write_text("not an object: never touched")
    result = run_gc_process(project.root, "--all-branches", "--cloud", "-r", "origin", "--yes")
    assert result.code == 0, result.err
    deleted = versions(project, "v1", "v2")
    assert "Deleted 2 object(s) from " in result.out and str(store) in result.out
    listed = {line.strip() for line in result.lines if line.startswith("    ")}
    assert listed == deleted
    assert objects_under(store) == versions(project, "v3", "vF") | project.data
    assert (store / "README.txt").exists()
    assert project.cached() == versions(project, "v3", "vF") | project.data

    payload = json.loads(run_gc_process(project.root, "--workspace", "--cloud", "--yes", "--json").out)
    assert payload["remote_deleted"] == [project.model["vF"]]
    assert objects_under(store) == versions(project, "v3") | project.data
