"""Every revision syntax Git accepts works wherever artver takes a revision (diff, ls --rev,
log --rev, push/fetch --rev, the API), because Git itself resolves the name."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from artver import api
from artver.errors import GitError
from tests.support.cli import Result
from tests.support.files import write
from tests.support.git import commit_all, git
from tests.support.remotes import holds

TIMEOUT = 60


def ok(result: Result) -> Result:
    assert result.code == 0, f"exit {result.code}\nstdout:\n{result.out}\nstderr:\n{result.err}"
    return result


def as_json(result: Result) -> object:
    return json.loads(ok(result).out)


@dataclass(frozen=True)
class Story:
    root: Path
    sha: dict[str, str]  # name -> full SHA


def _model_hash(root: Path, revision: str) -> str:
    text = git(root, "show", f"{revision}:model.bin.art")
    return next(line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("hash: "))


@pytest.fixture
def story(repo: Path, run_artver: Callable[..., Result]) -> Story:
    """main: m1 (tag v1) -> m2 -> m3 -> m4; branch 'feature' from m2 with f1; then 'git checkout
    feature' and back to main, and a merge of feature into main that was reset away (ORIG_HEAD)."""
    sha: dict[str, str] = {}
    for number in range(1, 5):
        write(repo / "model.bin", f"model {number}")
        ok(run_artver(repo, "add", "model.bin"))
        sha[f"m{number}"] = commit_all(repo, f"model {number}")
        if number == 1:
            git(repo, "tag", "v1")
        if number == 2:
            git(repo, "checkout", "-q", "-b", "feature")
            write(repo / "extra.bin", "extra on feature")
            ok(run_artver(repo, "add", "extra.bin"))
            sha["f1"] = commit_all(repo, "feature: extra.bin")
            git(repo, "checkout", "-q", "main")
            ok(run_artver(repo, "checkout"))
    git(repo, "checkout", "-q", "feature")
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--no-edit", "feature")
    sha["merge"] = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "reset", "-q", "--hard", sha["m4"])  # ORIG_HEAD is now the merge
    return Story(repo, sha)


@pytest.mark.parametrize(
    ("revision", "expected"),
    [
        ("ORIG_HEAD", "merge"),
        ("@{-1}", "f1"),  # the branch checked out before the current one
        ("main@{1}", "merge"),  # main's previous position in its reflog
        ("HEAD@{1}", "merge"),
        ("HEAD^{commit}", "m4"),
        ("v1^{commit}", "m1"),
        ("main~2", "m2"),
        ("@", "m4"),
        (":/model 3", "m3"),
        ("feature^", "m2"),
    ],
)
def test_revision_syntax_dulwich_did_not_know(story: Story, run_artver, revision: str, expected: str) -> None:
    repo = story.root
    items = as_json(run_artver(repo, "ls", "--rev", revision, "--json"))
    model = next(item for item in items if item["path"] == "model.bin")
    assert model["hash"] == _model_hash(repo, story.sha[expected])
    payload = as_json(run_artver(repo, "diff", revision, story.sha[expected], "--json"))
    assert payload["old"] == revision and payload["changes"] == [], payload
    newest_change = git(repo, "log", "-1", "--format=%H", story.sha[expected], "--", "model.bin.art").strip()
    assert api.log("model.bin", repo=repo, rev=revision)[0].commit == newest_change
    assert api.ls(rev=revision, repo=repo)[-1].hash == _model_hash(repo, story.sha[expected])


def test_v1_tilde_and_abbreviated_shas(story: Story, run_artver) -> None:
    repo = story.root
    git(repo, "tag", "v3", story.sha["m3"])
    for revision, expected in (("v3~2", "m1"), (story.sha["m2"][:7], "m2"), (story.sha["m3"][:4], "m3")):
        payload = as_json(run_artver(repo, "diff", revision, story.sha[expected], "--json"))
        assert (payload["old"], payload["changes"]) == (revision, []), revision
    with api.open("model.bin", rev="v3~1", repo=repo) as handle:
        assert handle.read() == b"model 2"


def test_an_ambiguous_short_sha_says_so(repo: Path, run_artver) -> None:
    tree = git(repo, "rev-parse", "HEAD^{tree}").strip()
    seen: dict[str, str] = {}
    prefix = None
    for number in range(5000):  # commits whose SHAs share 4 leading digits (4 is Git's minimum)
        sha = subprocess.run(["git", "commit-tree", tree, "-m", f"c{number}"], cwd=repo, capture_output=True,
                             text=True, timeout=TIMEOUT, check=True).stdout.strip()
        if sha[:4] in seen:
            prefix = sha[:4]
            break
        seen[sha[:4]] = sha
    assert prefix is not None
    result = run_artver(repo, "ls", "--rev", prefix)
    assert result.code == 1 and f"ambiguous revision '{prefix}'" in result.err, result.err
    assert "Traceback" not in result.err


@pytest.mark.parametrize("revision", ["--output=/tmp/x", "-h", "", "HEAD\nmain"])
def test_a_revision_is_never_an_option(repo: Path, run_artver, tmp_path: Path, revision: str) -> None:
    target = tmp_path / "written-by-git"
    if revision.startswith("--output="):
        revision = f"--output={target}"
    with pytest.raises(GitError, match="invalid revision"):
        api.ls(rev=revision, repo=repo)
    result = run_artver(repo, "ls", f"--rev={revision}")
    assert result.code == 1 and "invalid revision" in result.err
    assert not target.exists()


def test_diff_head_merge_head_during_a_conflicted_merge(repo: Path, run_artver) -> None:
    """The workspace pointer holds conflict markers; diff of two revisions never reads it."""
    write(repo / "model.bin", "base")
    ok(run_artver(repo, "add", "model.bin"))
    commit_all(repo, "base")
    git(repo, "checkout", "-q", "-b", "theirs")
    write(repo / "model.bin", "their model")
    ok(run_artver(repo, "add", "model.bin"))
    commit_all(repo, "theirs")
    git(repo, "checkout", "-q", "main")
    write(repo / "model.bin", "our model")
    ok(run_artver(repo, "add", "model.bin"))
    commit_all(repo, "ours")
    merged = subprocess.run(["git", "merge", "theirs"], cwd=repo, capture_output=True, text=True, timeout=TIMEOUT)
    assert merged.returncode != 0 and "CONFLICT" in merged.stdout
    assert "<<<<<<<" in (repo / "model.bin.art").read_text()

    payload = as_json(run_artver(repo, "diff", "HEAD", "MERGE_HEAD", "--json"))
    assert (payload["old"], payload["new"]) == ("HEAD", "MERGE_HEAD")
    (change,) = payload["changes"]
    assert (change["path"], change["change"]) == ("model.bin", "modified")
    assert change["new_hash"] == _model_hash(repo, "MERGE_HEAD")
    text = ok(run_artver(repo, "diff", "HEAD", "MERGE_HEAD")).out
    assert "modified  model.bin" in text
    assert [entry.subject for entry in api.log("model.bin", repo=repo, rev="MERGE_HEAD")] == ["theirs", "base"]


def test_push_and_fetch_take_any_revision(story: Story, run_artver, tmp_path: Path) -> None:
    repo = story.root
    store = tmp_path / "store"
    store.mkdir()
    ok(run_artver(repo, "remote", "add", "origin", str(store), "--default"))
    pushed = as_json(run_artver(repo, "push", "--rev", "ORIG_HEAD", "--rev", "@{-1}", "--json"))
    assert pushed["ok"] and pushed["transferred"] >= 2
    hashes = {_model_hash(repo, "ORIG_HEAD")}
    extra = git(repo, "show", "ORIG_HEAD:extra.bin.art")
    hashes.add(next(line.split(": ", 1)[1] for line in extra.splitlines() if line.startswith("hash: ")))
    for hash_value in hashes:
        assert holds(store, hash_value)
    assert os.path.isdir(store)
