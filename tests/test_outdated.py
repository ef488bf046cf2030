"""Outdated is not modified (issue 15, item 4).

A clone that only fetched v2's data, then ``git checkout v1 && artver checkout``: the v1
objects are not in the cache, so v2's files stay. They are another revision's known data,
not the user's change: status, checkout and the hooks say "outdated" and "artver pull",
never "modified" (which invites 'artver add' to record v2's bytes as v1)."""

from __future__ import annotations

import configparser
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.cli import Result
from tests.support.git import commit_all, git

HOOK_TIMEOUT = 60


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@pytest.fixture(params=["inline", "listing-object"])
def clone_at_v1(request: pytest.FixtureRequest, repo: Path, tmp_path: Path, run_artver: Callable[..., Result]) -> Path:
    """Origin with tags v1 and v2 (a file and a folder), everything pushed to a directory
    remote; a clone that pulled v2 only, then 'git checkout v1' (no hooks)."""
    if request.param == "listing-object":  # the folder's listing is an object of its own, fetched like data
        parser = configparser.ConfigParser()
        config = repo / ".artver" / "config"
        parser.read(config)
        parser.set("core", "listing_inline_max", "0")
        with config.open("w") as handle:
            parser.write(handle)
    remote = tmp_path / "remote"
    remote.mkdir()
    assert run_artver(repo, "remote", "add", "origin", str(remote), "--default").code == 0
    _write(repo / "model.bin", b"weights v1 " * 100)
    for name, data in {"a": b"same in both", "b": b"b at v1", "c": b"c only at v1"}.items():
        _write(repo / "data" / name, data)
    assert run_artver(repo, "add", "model.bin", "data").code == 0
    commit_all(repo, "v1")
    git(repo, "tag", "v1")
    _write(repo / "model.bin", b"weights v2 " * 120)
    (repo / "data" / "c").unlink()
    _write(repo / "data" / "b", b"b at v2, longer")
    _write(repo / "data" / "d", b"d only at v2")
    assert run_artver(repo, "add", "model.bin", "data").code == 0
    commit_all(repo, "v2")
    git(repo, "tag", "v2")
    for tag in ("v1", "v2"):
        git(repo, "checkout", "-q", tag)
        assert run_artver(repo, "checkout").code == 0
        pushed = run_artver(repo, "push")
        assert pushed.code == 0, pushed.err
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    git(clone, "checkout", "-q", "v2")
    pulled = run_artver(clone, "pull")
    assert pulled.code == 0, pulled.err
    git(clone, "checkout", "-q", "v1")
    return clone


def _states(run_artver: Callable[..., Result], clone: Path) -> dict[str, dict]:
    result = run_artver(clone, "status", "--json")
    assert result.code == 0, result.err
    return {item["path"]: item for item in json.loads(result.out)}


def test_checkout_and_status_call_another_revisions_data_outdated(clone_at_v1: Path, run_artver) -> None:
    clone = clone_at_v1
    checkout = run_artver(clone, "checkout")
    assert checkout.code == 1, checkout.out + checkout.err
    assert "stayed at another revision" in checkout.err and "artver pull" in checkout.err, checkout.err
    assert (clone / "model.bin").read_bytes() == b"weights v2 " * 120  # nothing lost, nothing half-done
    listing_missing = "listing_inline_max" in (clone / ".artver" / "config").read_text()
    # v2's extra file was saved in the cache, so removed; without v1's listing the folder is left whole.
    assert (clone / "data" / "d").exists() == listing_missing

    result = json.loads(run_artver(clone, "checkout", "--json").out)
    assert "model.bin" in result["outdated"] and result["ok"] is False
    assert "model.bin" not in result["missing"]

    states = _states(run_artver, clone)
    assert states["model.bin"]["state"] == "outdated"
    assert states["data"]["state"] == "outdated"
    assert states["data"]["modified"] == [] and states["data"]["deleted"] == []
    if listing_missing:
        assert states["data"]["outdated"] == [] and "listing" in states["data"]["detail"]
    else:
        assert states["data"]["outdated"] == ["b", "c"]

    human = run_artver(clone, "-v", "status")
    assert "outdated      model.bin" in human.out and "modified" not in human.out, human.out
    assert "artver pull" in human.out

    pulled = run_artver(clone, "pull")
    assert pulled.code == 0, pulled.err
    assert (clone / "model.bin").read_bytes() == b"weights v1 " * 100
    assert (clone / "data" / "c").read_bytes() == b"c only at v1"
    assert {item["state"] for item in _states(run_artver, clone).values()} == {"clean"}


def test_the_users_own_change_stays_modified(clone_at_v1: Path, run_artver) -> None:
    """Bytes saved nowhere are the user's work, even where the pointer's object is missing."""
    clone = clone_at_v1
    run_artver(clone, "checkout")
    _write(clone / "model.bin", b"my own edit")
    states = _states(run_artver, clone)
    assert states["model.bin"]["state"] == "modified"
    if "listing_inline_max" not in (clone / ".artver" / "config").read_text():
        _write(clone / "data" / "b", b"edited by hand")
        data = _states(run_artver, clone)["data"]
        assert data["state"] == "modified" and data["modified"] == ["b"] and data["outdated"] == ["c"]


def test_the_post_checkout_hook_says_outdated(clone_at_v1: Path, run_artver) -> None:
    clone = clone_at_v1
    git(clone, "checkout", "-q", "v2")
    assert run_artver(clone, "checkout").code == 0
    assert run_artver(clone, "install-hooks").code == 0
    env = {key: value for key, value in os.environ.items() if not key.startswith("ARTVER_IN_")}
    switched = subprocess.run(["git", "checkout", "-q", "v1"], cwd=clone, env=env, capture_output=True, text=True,
                              timeout=HOOK_TIMEOUT)
    assert switched.returncode == 0, switched.stderr
    assert "stayed at another revision" in switched.stderr and "artver pull" in switched.stderr, switched.stderr
    assert "model.bin" in switched.stderr


def test_pre_commit_says_pull_for_a_pointer_restored_from_another_revision(clone_at_v1: Path, run_artver) -> None:
    """'git checkout v1 -- POINTER' on a branch whose data is v2's: committing that pointer
    needs v1's data, which 'artver pull' brings; 'artver add' would record v2's bytes."""
    clone = clone_at_v1
    git(clone, "checkout", "-q", "v2")
    assert run_artver(clone, "checkout").code == 0
    git(clone, "checkout", "v1", "--", "model.bin.art", "data.art")
    result = run_artver(clone, "hook", "pre-commit")
    assert result.code == 1, result
    assert "model.bin: the workspace holds another revision's data" in result.err, result.err
    assert "data: the folder holds another revision's data" in result.err, result.err
    assert "'artver pull model.bin'" in result.err and "'artver pull data'" in result.err
    data = _states(run_artver, clone)["data"]
    assert data["state"] == "outdated" and data["added"] == [], data
    if "listing_inline_max" not in (clone / ".artver" / "config").read_text():
        assert data["outdated"] == ["b", "c", "d"]  # d: v2's file, which v1 does not list
