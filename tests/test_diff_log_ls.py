"""artver diff, log and ls against real Git histories: tags, branches, merges, renames, deletions."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from artver.fsutil import human_size
from artver.hashing import short
from tests.support.cli import Result
from tests.support.files import write
from tests.support.git import git

TIMEOUT = 60

ALICE, BOB, CAROL = "Alice Able", "Bob Baker", "Carol Cole"
DATES = {
    1: "2024-03-01T10:00:00+01:00",
    2: "2024-03-02T11:30:00-05:00",
    3: "2024-03-03T09:15:00+00:00",
    4: "2024-03-04T16:45:00+02:00",
    5: "2024-03-05T08:05:00+00:00",
}

DIFF_KEYS = {"old", "new", "changes"}
CHANGE_KEYS = {
    "path", "change", "kind", "old_path", "old_hash", "new_hash", "old_size", "new_size",
    "files_added", "files_deleted", "files_modified", "files", "detail",
}
FILE_CHANGE_KEYS = {"path", "change", "old_hash", "new_hash", "old_size", "new_size"}
LOG_KEYS = {"commit", "short", "date", "author", "subject", "change", "path", "old_path", "hash", "size"}
LS_KEYS = {"path", "kind", "size", "files", "hash", "desc", "meta"}


def commit_as(cwd: Path, message: str, author: str, date: str, *paths: str) -> str:
    """Stage (everything, or ``paths``) and commit with a given author and date; return the SHA."""
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": author,
        "GIT_AUTHOR_EMAIL": author.split()[0].lower() + "@example.invalid",
        "GIT_AUTHOR_DATE": date,
        "GIT_COMMITTER_DATE": date,
    }
    for args in (["add", "-A", *paths], ["commit", "-q", "-m", message]):
        completed = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT)
        assert completed.returncode == 0, completed.stderr
    return git(cwd, "rev-parse", "HEAD").strip()


def ok(result: Result) -> Result:
    assert result.code == 0, f"exit {result.code}\nstdout:\n{result.out}\nstderr:\n{result.err}"
    return result


def as_json(result: Result) -> object:
    return json.loads(ok(result).out)


@dataclass
class History:
    root: Path
    sha: dict[int, str] = field(default_factory=dict)
    # (artifact, commit number) -> content hash (a file's hash, a directory's listing hash)
    hashes: dict[tuple[str, int], str] = field(default_factory=dict)
    sizes: dict[tuple[str, int], int] = field(default_factory=dict)
    files: dict[tuple[str, int], dict[str, str]] = field(default_factory=dict)  # dir -> {file: hash}


MODEL_1 = bytes(range(256)) * 4  # 1024 B
MODEL_2 = bytes(reversed(range(256))) * 8  # 2048 B
EXTRA = b"0123456789"


_TEMPLATES: dict[str, History] = {}


@pytest.fixture
def history(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, run_artver: Callable[..., Result]) -> History:
    """A private copy of one history, built once per session (see build_history)."""
    if "main" not in _TEMPLATES:
        base = tmp_path_factory.mktemp("history-template") / "repo"
        base.mkdir()
        git(base, "init", "-q")
        ok(run_artver(base, "init"))
        commit_as(base, "init artver", ALICE, "2024-02-29T12:00:00+00:00")
        _TEMPLATES["main"] = build_history(base, run_artver)
    template = _TEMPLATES["main"]
    root = tmp_path / "repo"
    shutil.copytree(template.root, root, symlinks=True)
    return dataclasses.replace(template, root=root)


def build_history(repo: Path, run_artver: Callable[..., Result]) -> History:
    """Five commits on main after the initial one:

    c1 (Alice, tag v1)  add model.bin (desc, meta) and data/{a,b,c}.txt
    c2 (Bob)            model.bin changed; data: b.txt modified, c.txt deleted, d.txt added
    c3 (Carol, tag v3)  add extra.bin (annotated tag)
    c4 (Alice)          rename model.bin -> weights.bin (git mv of the pointer)
    c5 (Bob)            stop tracking extra.bin (artver remove)
    """
    h = History(repo)

    def record(number: int) -> None:
        for item in as_json(run_artver(repo, "ls", "--json")):
            h.hashes[(item["path"], number)] = item["hash"]
            h.sizes[(item["path"], number)] = item["size"]
        h.files[("data", number)] = {
            entry.split(" ", 3)[3]: entry.split(" ", 1)[0]
            for entry in (repo / "data.art").read_text().splitlines()
            if entry.startswith("xxh128:")
        }

    write(repo / "model.bin", MODEL_1)
    write(repo / "data/a.txt", "alpha\n")
    write(repo / "data/b.txt", "beta\n")
    write(repo / "data/c.txt", "gamma\n")
    ok(run_artver(repo, "add", "model.bin", "--desc", "the model", "--meta", "stage=dev", "--meta", "owner=ml"))
    ok(run_artver(repo, "add", "data", "--desc", "training data"))
    h.sha[1] = commit_as(repo, "add model and data", ALICE, DATES[1])
    git(repo, "tag", "v1")
    record(1)

    write(repo / "model.bin", MODEL_2)
    write(repo / "data/b.txt", "beta, revised\n")
    (repo / "data/c.txt").unlink()
    write(repo / "data/d.txt", "delta\n")
    ok(run_artver(repo, "add", "model.bin", "data"))
    h.sha[2] = commit_as(repo, "retrain model\n\nlonger body that is not the subject", BOB, DATES[2])
    record(2)

    write(repo / "extra.bin", EXTRA)
    ok(run_artver(repo, "add", "extra.bin"))
    h.sha[3] = commit_as(repo, "add extra", CAROL, DATES[3])
    git(repo, "tag", "-a", "v3", "-m", "release 3")
    record(3)

    git(repo, "mv", "model.bin.art", "weights.bin.art")
    (repo / "model.bin").rename(repo / "weights.bin")
    gitignore = repo / ".gitignore"
    gitignore.write_text(gitignore.read_text().replace("/model.bin\n", "/weights.bin\n"))
    assert "/weights.bin" in gitignore.read_text()
    h.sha[4] = commit_as(repo, "rename model to weights", ALICE, DATES[4])
    record(4)

    ok(run_artver(repo, "remove", "extra.bin"))
    (repo / "extra.bin").unlink()
    h.sha[5] = commit_as(repo, "drop extra", BOB, DATES[5], "extra.bin.art", ".gitignore")
    record(5)
    assert git(repo, "status", "--porcelain") == ""
    return h


def changes_by_path(payload: dict) -> dict[str, dict]:
    return {change["path"]: change for change in payload["changes"]}


# ---------------------------------------------------------------- diff


def test_diff_no_revision_is_head_against_workspace_pointers(history: History, run_artver) -> None:
    repo = history.root
    result = ok(run_artver(repo, "diff"))
    assert "No artifact changes between HEAD and workspace" in result.out

    write(repo / "weights.bin", b"new weights" * 300)
    write(repo / "fresh.bin", b"fresh")
    ok(run_artver(repo, "add", "weights.bin", "fresh.bin"))
    new_hash = as_json(run_artver(repo, "ls", "--json"))
    new_weights = next(item for item in new_hash if item["path"] == "weights.bin")

    result = ok(run_artver(repo, "diff"))
    assert "Artifact changes from HEAD to workspace:" in result.out
    weights_line = next(line for line in result.lines if "weights.bin" in line)
    assert weights_line.startswith("modified")
    assert f"{human_size(len(MODEL_2))} -> {human_size(3300)}" in weights_line
    assert f"{short(history.hashes[('weights.bin', 4)])} -> {short(new_weights['hash'])}" in weights_line
    fresh_line = next(line for line in result.lines if "fresh.bin" in line)
    assert fresh_line.startswith("added")
    assert "- -> 5 B" in fresh_line

    payload = as_json(run_artver(repo, "diff", "--json"))
    assert payload["old"] == "HEAD" and payload["new"] == "workspace"
    assert set(changes_by_path(payload)) == {"weights.bin", "fresh.bin"}


def test_diff_two_revisions_lists_added_deleted_modified_and_directory_files(history: History, run_artver) -> None:
    repo = history.root
    result = ok(run_artver(repo, "diff", "v1", "v3"))
    assert "Artifact changes from v1 to v3:" in result.out
    lines = result.lines
    model = next(line for line in lines if "model.bin" in line)
    assert model.split()[0] == "modified"
    assert f"{human_size(len(MODEL_1))} -> {human_size(len(MODEL_2))}" in model
    assert f"{short(history.hashes[('model.bin', 1)])} -> {short(history.hashes[('model.bin', 3)])}" in model
    extra = next(line for line in lines if "extra.bin" in line)
    assert extra.split()[0] == "added"
    assert f"- -> {human_size(len(EXTRA))}" in extra
    assert f"- -> {short(history.hashes[('extra.bin', 3)])}" in extra
    data = next(index for index, line in enumerate(lines) if line.split()[:2] == ["modified", "data"])
    assert short(history.hashes[("data", 1)]) in lines[data] and short(history.hashes[("data", 3)]) in lines[data]
    assert lines[data + 1].strip() == "1 added, 1 deleted, 1 modified"
    assert [line.strip() for line in lines[data + 2 : data + 5]] == ["~ b.txt", "- c.txt", "+ d.txt"]

    payload = as_json(run_artver(repo, "diff", "v1", "v3", "--json"))
    assert set(payload) == DIFF_KEYS
    assert (payload["old"], payload["new"]) == ("v1", "v3")
    by_path = changes_by_path(payload)
    assert set(by_path) == {"data", "extra.bin", "model.bin"}
    for change in payload["changes"]:
        assert set(change) == CHANGE_KEYS
    assert [change["path"] for change in payload["changes"]] == sorted(by_path)
    assert by_path["extra.bin"] | {"files": None} == {
        "path": "extra.bin", "change": "added", "kind": "file", "old_path": None, "old_hash": None,
        "new_hash": history.hashes[("extra.bin", 3)], "old_size": None, "new_size": len(EXTRA),
        "files_added": 0, "files_deleted": 0, "files_modified": 0, "files": None, "detail": "",
    }
    assert by_path["model.bin"]["change"] == "modified"
    assert (by_path["model.bin"]["old_size"], by_path["model.bin"]["new_size"]) == (len(MODEL_1), len(MODEL_2))
    data_change = by_path["data"]
    assert data_change["kind"] == "dir" and data_change["change"] == "modified"
    assert (data_change["files_added"], data_change["files_deleted"], data_change["files_modified"]) == (1, 1, 1)
    assert (data_change["old_size"], data_change["new_size"]) == (history.sizes[("data", 1)], history.sizes[("data", 3)])
    files = {item["path"]: item for item in data_change["files"]}
    for item in data_change["files"]:
        assert set(item) == FILE_CHANGE_KEYS
    old_files, new_files = history.files[("data", 1)], history.files[("data", 3)]
    assert files == {
        "b.txt": {"path": "b.txt", "change": "modified", "old_hash": old_files["b.txt"], "new_hash": new_files["b.txt"],
                  "old_size": 5, "new_size": 14},
        "c.txt": {"path": "c.txt", "change": "deleted", "old_hash": old_files["c.txt"], "new_hash": None,
                  "old_size": 6, "new_size": None},
        "d.txt": {"path": "d.txt", "change": "added", "old_hash": None, "new_hash": new_files["d.txt"],
                  "old_size": None, "new_size": 6},
    }


def test_diff_shows_a_rename_and_a_deletion(history: History, run_artver) -> None:
    repo = history.root
    result = ok(run_artver(repo, "diff", history.sha[3], history.sha[4]))
    (line,) = [line for line in result.lines if "->" in line and "weights" in line]
    assert line.split()[0] == "renamed"
    assert "model.bin -> weights.bin" in line
    same = short(history.hashes[("weights.bin", 4)])
    assert f"{same} -> {same}" in line
    payload = as_json(run_artver(repo, "diff", history.sha[3], history.sha[4], "--json"))
    (change,) = payload["changes"]
    assert (change["change"], change["path"], change["old_path"]) == ("renamed", "weights.bin", "model.bin")
    assert change["old_hash"] == change["new_hash"] == history.hashes[("weights.bin", 4)]

    payload = as_json(run_artver(repo, "diff", "HEAD~1", "HEAD", "--json"))
    (change,) = payload["changes"]
    assert change["change"] == "deleted" and change["path"] == "extra.bin"
    assert change["old_hash"] == history.hashes[("extra.bin", 3)] and change["new_hash"] is None
    assert change["old_size"] == len(EXTRA) and change["new_size"] is None
    text = ok(run_artver(repo, "diff", "HEAD~1", "HEAD")).out
    assert f"deleted  extra.bin  {human_size(len(EXTRA))} -> -  {short(history.hashes[('extra.bin', 3)])} -> -" in text

    # A whole directory appearing: its file count is given.
    payload = as_json(run_artver(repo, "diff", "HEAD~5", "v1", "--json"))
    data = changes_by_path(payload)["data"]
    assert data["change"] == "added" and data["files_added"] == 3


def test_diff_accepts_every_form_of_revision(history: History, run_artver) -> None:
    repo = history.root
    git(repo, "branch", "at-two", history.sha[2])
    expected = as_json(run_artver(repo, "diff", history.sha[1], history.sha[2], "--json"))["changes"]
    assert {change["path"] for change in expected} == {"model.bin", "data"}
    forms = [
        ("v1", "at-two"),  # tag and branch
        (history.sha[1], history.sha[2]),  # full SHAs
        ("HEAD~4", "HEAD~3"),
        ("main~4", "main^^^"),
        ("v1", "v3^"),  # an annotated tag, and a parent of it
    ]
    for old, new in forms:
        payload = as_json(run_artver(repo, "diff", old, new, "--json"))
        assert (payload["old"], payload["new"]) == (old, new)
        assert payload["changes"] == expected, (old, new)
    # main^ against the workspace: the last commit dropped extra.bin.
    payload = as_json(run_artver(repo, "diff", "main^", "--json"))
    assert (payload["old"], payload["new"]) == ("main^", "workspace")
    assert [(c["change"], c["path"]) for c in payload["changes"]] == [("deleted", "extra.bin")]


def test_diff_one_revision_is_that_revision_against_the_workspace(history: History, run_artver) -> None:
    repo = history.root
    payload = as_json(run_artver(repo, "diff", "v1", "--json"))
    assert (payload["old"], payload["new"]) == ("v1", "workspace")
    by_path = changes_by_path(payload)
    # model.bin (v1 content) became weights.bin with other content: not a rename, an add and a delete.
    assert {path: change["change"] for path, change in by_path.items()} == {
        "data": "modified", "model.bin": "deleted", "weights.bin": "added",
    }
    # Same content under a new name is a rename, even against the workspace.
    payload = as_json(run_artver(repo, "diff", "v3", "--json"))
    assert {c["path"]: (c["change"], c["old_path"]) for c in payload["changes"]} == {
        "weights.bin": ("renamed", "model.bin"), "extra.bin": ("deleted", None),
    }


def test_short_shas_are_revisions_for_diff_and_ls(history: History, run_artver) -> None:
    """'git log --oneline' shows 7-character SHAs; artver shows 8. Both must work as revisions."""
    repo = history.root
    expected = as_json(run_artver(repo, "diff", history.sha[1], history.sha[2], "--json"))["changes"]
    for old, new in ((history.sha[1][:7], history.sha[2][:7]), (history.sha[1][:8], history.sha[2][:12])):
        payload = as_json(run_artver(repo, "diff", old, new, "--json"))
        assert (payload["old"], payload["new"]) == (old, new), "short SHAs were not taken as revisions"
        assert payload["changes"] == expected
    items = as_json(run_artver(repo, "ls", "--rev", history.sha[3][:8], "--json"))
    assert [item["path"] for item in items] == ["data", "extra.bin", "model.bin"]


def test_diff_path_filter(history: History, run_artver) -> None:
    repo = history.root
    for path in ("data", "data.art", "data/"):
        payload = as_json(run_artver(repo, "diff", "v1", "v3", path, "--json"))
        assert [change["path"] for change in payload["changes"]] == ["data"], path
    payload = as_json(run_artver(repo, "diff", "v1", "v3", "extra.bin", "model.bin", "--json"))
    assert [change["path"] for change in payload["changes"]] == ["extra.bin", "model.bin"]
    # One revision plus a path.
    payload = as_json(run_artver(repo, "diff", "v3", "extra.bin", "--json"))
    assert [(c["change"], c["path"]) for c in payload["changes"]] == [("deleted", "extra.bin")]
    # From a subdirectory, paths are relative to it.
    payload = as_json(run_artver(repo / "data", "diff", "v1", "v3", ".", "--json"))
    assert [change["path"] for change in payload["changes"]] == ["data"]
    result = ok(run_artver(repo, "diff", "v1", "v3", "data"))
    assert "model.bin" not in result.out and "extra.bin" not in result.out


@pytest.mark.parametrize(
    "arguments",
    [
        ("no-such-rev",),
        ("HEAD~50",),
        ("v1", "no-such-rev"),
        ("no-such-rev", "HEAD"),
    ],
    ids=["unknown-name", "beyond-history", "bad-second", "bad-first"],
)
def test_diff_with_a_bad_revision_fails_clearly(history: History, run_artver, arguments: tuple[str, ...]) -> None:
    bad = next(argument for argument in arguments if argument not in ("v1", "HEAD"))
    result = run_artver(history.root, "diff", *arguments)
    assert result.code != 0, (
        f"'artver diff {' '.join(arguments)}' succeeded silently; stdout: {result.out!r}"
    )
    assert bad in result.err
    assert "Traceback" not in result.err + result.out
    assert "internal error" not in result.err


def test_diff_with_an_unknown_path_fails_clearly_without_traceback(history: History) -> None:
    from tests.support.cli import run_artver_process

    result = run_artver_process(history.root, "diff", "v1", "v3", "missing-artifact", timeout=TIMEOUT)
    assert result.code != 0
    assert "missing-artifact" in result.err
    assert "Traceback" not in result.err


def test_diff_of_a_large_directory_fetches_only_its_listings_from_the_remote(repo: Path, run_artver, tmp_path: Path) -> None:
    config = repo / ".artver" / "config"
    config.write_text(config.read_text().rstrip("\n") + "\nlisting_inline_max = 3\n")
    remote = tmp_path / "remote"
    remote.mkdir()
    ok(run_artver(repo, "remote", "add", "origin", str(remote), "--default"))
    for index in range(6):
        write(repo / f"big/part-{index}.bin", f"part {index}\n" * (index + 1))
    ok(run_artver(repo, "add", "big"))
    assert "listing:" in (repo / "big.art").read_text()
    commit_as(repo, "big v1", ALICE, DATES[1])
    write(repo / "big/part-0.bin", b"changed\n")
    (repo / "big/part-5.bin").unlink()
    write(repo / "big/sub/new.bin", b"new\n")
    ok(run_artver(repo, "add", "big"))
    commit_as(repo, "big v2", BOB, DATES[2])
    ok(run_artver(repo, "push", "--all-commits"))
    listings = set()
    for revision in ("HEAD~1", "HEAD"):
        (item,) = as_json(run_artver(repo, "ls", "--rev", revision, "--json"))
        listings.add(item["hash"])

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    cache = clone / ".artver" / "cache"

    def cached() -> set[str]:
        if not cache.exists():
            return set()
        return {
            f"{path.parent.parent.name}:{path.parent.name}{path.name}"
            for path in cache.rglob("*") if path.is_file() and path.parent.parent.parent == cache
        }

    assert cached() == set()
    payload = as_json(run_artver(clone, "diff", "HEAD~1", "HEAD", "--json"))
    (change,) = payload["changes"]
    assert change["detail"] == ""
    assert (change["files_added"], change["files_deleted"], change["files_modified"]) == (1, 1, 1)
    assert {(item["change"], item["path"]) for item in change["files"]} == {
        ("modified", "part-0.bin"), ("deleted", "part-5.bin"), ("added", "sub/new.bin"),
    }
    assert cached() == listings, "diff must fetch the two listings and no data"
    assert not (clone / "big").exists()
    text = ok(run_artver(clone, "diff", "HEAD~1", "HEAD")).out
    assert "~ part-0.bin" in text and "- part-5.bin" in text and "+ sub/new.bin" in text


def test_diff_of_a_large_directory_without_remote_says_why_files_are_missing(repo: Path, run_artver, tmp_path: Path) -> None:
    config = repo / ".artver" / "config"
    config.write_text(config.read_text().rstrip("\n") + "\nlisting_inline_max = 1\n")
    write(repo / "big/a", b"a")
    write(repo / "big/b", b"b")
    ok(run_artver(repo, "add", "big"))
    commit_as(repo, "v1", ALICE, DATES[1])
    write(repo / "big/a", b"aa")
    ok(run_artver(repo, "add", "big"))
    commit_as(repo, "v2", ALICE, DATES[2])
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    result = run_artver(clone, "diff", "HEAD~1", "HEAD")
    assert result.code == 0, result.err
    assert "modified" in result.out and "big" in result.out
    assert "file list unavailable" in result.out and "remote" in result.out


# ---------------------------------------------------------------- log


def test_log_of_a_file_artifact_is_newest_first_with_who_when_why_what(history: History, run_artver) -> None:
    repo = history.root
    result = ok(run_artver(repo, "log", "weights.bin"))
    lines = result.lines
    assert len(lines) == 6  # three commits, two lines each
    expected = [
        (4, "2024-03-04 16:45", ALICE, "rename model to weights", f"renamed from model.bin  {human_size(len(MODEL_2))}  {short(history.hashes[('weights.bin', 4)])}"),
        (2, "2024-03-02 11:30", BOB, "retrain model", f"modified  {human_size(len(MODEL_2))}  {short(history.hashes[('model.bin', 2)])}"),
        (1, "2024-03-01 10:00", ALICE, "add model and data", f"added  {human_size(len(MODEL_1))}  {short(history.hashes[('model.bin', 1)])}"),
    ]
    for index, (number, date, author, subject, what) in enumerate(expected):
        head, detail = lines[2 * index], lines[2 * index + 1]
        assert head == f"{history.sha[number][:8]}  {date}  {author}  {subject}"
        assert detail.strip() == what

    entries = as_json(run_artver(repo, "log", "weights.bin", "--json"))
    assert [entry["commit"] for entry in entries] == [history.sha[4], history.sha[2], history.sha[1]]
    for entry in entries:
        assert set(entry) == LOG_KEYS
        assert entry["short"] == entry["commit"][:8]
    assert entries[0] | {"commit": None, "short": None} == {
        "commit": None, "short": None, "date": DATES[4], "author": f"{ALICE} <alice@example.invalid>",
        "subject": "rename model to weights", "change": "renamed", "path": "weights.bin", "old_path": "model.bin",
        "hash": history.hashes[("weights.bin", 4)], "size": len(MODEL_2),
    }
    assert [(entry["change"], entry["path"], entry["old_path"]) for entry in entries[1:]] == [
        ("modified", "model.bin", None), ("added", "model.bin", None),
    ]
    assert entries[1]["date"] == DATES[2] and entries[1]["author"].startswith(BOB)
    assert entries[1]["subject"] == "retrain model"


def test_log_rev_on_the_command_line(history: History, run_artver) -> None:
    repo = history.root
    entries = as_json(run_artver(repo, "log", "model.bin", "--rev", "v3", "--json"))
    assert [(entry["commit"], entry["change"]) for entry in entries] == [(history.sha[2], "modified"), (history.sha[1], "added")]
    from artver import api

    assert [entry.commit for entry in api.log("model.bin", repo=repo, rev="v3")] == [history.sha[2], history.sha[1]]
    text = ok(run_artver(repo, "log", "data/c.txt", "--rev", "v1", "-n", "1")).out
    assert text.splitlines()[0].startswith(history.sha[1][:8])
    assert "detached" not in text
    result = run_artver(repo, "log", "model.bin", "--rev", "no-such-rev")
    assert result.code == 1 and "unknown revision 'no-such-rev'" in result.err


def test_log_with_head_detached_at_an_old_tag_says_how_to_see_later_history(history: History, run_artver) -> None:
    repo = history.root
    git(repo, "checkout", "-q", "v1")
    ok(run_artver(repo, "checkout"))
    result = ok(run_artver(repo, "log", "model.bin"))
    assert result.lines[0].startswith(history.sha[1][:8]) and len(result.lines) == 3
    assert result.lines[-1] == (
        "HEAD is detached at v1, so later commits are not shown; see them with 'artver log model.bin --rev main'"
    )
    later = as_json(run_artver(repo, "log", "model.bin", "--rev", "main", "--json"))
    # main renamed model.bin in c4: from model.bin's side that is where it ends.
    assert [(entry["commit"], entry["change"]) for entry in later] == [
        (history.sha[4], "deleted"), (history.sha[2], "modified"), (history.sha[1], "added"),
    ]
    assert as_json(run_artver(repo, "log", "model.bin", "--json")) == later[2:]  # JSON stays a plain list

    # An artifact that only later commits track: the error says where to look.
    result = run_artver(repo, "log", "extra.bin")
    assert result.code == 2
    assert "extra.bin: not a tracked artifact in the history of HEAD" in result.err
    assert "'artver log extra.bin --rev main'" in result.err
    assert len(as_json(run_artver(repo, "log", "extra.bin", "--rev", "main", "--json"))) == 2

    # Detached at a commit without a tag: its short SHA; on a branch, or at the tip: no hint.
    git(repo, "checkout", "-q", history.sha[2])
    assert f"HEAD is detached at {history.sha[2][:8]}," in ok(run_artver(repo, "log", "model.bin")).out
    git(repo, "checkout", "-q", "main")
    assert "detached" not in ok(run_artver(repo, "log", "weights.bin")).out
    git(repo, "checkout", "-q", "--detach", "main")
    assert "detached" not in ok(run_artver(repo, "log", "weights.bin")).out


def test_log_is_newest_first_when_commits_share_a_timestamp(tmp_path: Path, run_artver) -> None:
    """Scripted histories commit several times a second; date order alone put a side branch's
    parents before the main line's newer commits. Every date is fixed, so the SHAs, and
    therefore any tie-breaking among equal dates, are the same on every run."""
    same = "2024-03-01T10:00:00+00:00"
    repo = tmp_path / "same-second"
    repo.mkdir()
    git(repo, "init", "-q")
    ok(run_artver(repo, "init"))
    commit_as(repo, "init", ALICE, same)
    shas = []
    sides = {0: "side-a", 1: "side-b", 3: "side-c"}
    for number in range(6):
        write(repo / "model.bin", f"model {number}")
        ok(run_artver(repo, "add", "model.bin"))
        shas.append(commit_as(repo, f"model {number}", ALICE, same))
        if number in sides:
            git(repo, "checkout", "-q", "-b", sides[number])
            write(repo / sides[number] / "other.bin", "other")  # its own folder: its own .gitignore
            ok(run_artver(repo, "add", f"{sides[number]}/other.bin"))
            commit_as(repo, f"{sides[number]}/other.bin on a side branch", BOB, same)
            git(repo, "checkout", "-q", "main")
            ok(run_artver(repo, "checkout"))
    for side in sides.values():
        merged = subprocess.run(["git", "merge", "-q", "--no-edit", side], cwd=repo, capture_output=True, text=True,
                                timeout=TIMEOUT, env={**os.environ, "GIT_AUTHOR_DATE": same, "GIT_COMMITTER_DATE": same})
        assert merged.returncode == 0, merged.stderr
    entries = as_json(run_artver(repo, "log", "model.bin", "--json"))
    assert [entry["commit"] for entry in entries] == shas[::-1]


def test_log_max_count_and_pointer_argument(history: History, run_artver) -> None:
    repo = history.root
    for flag in ("-n", "--max-count"):
        entries = as_json(run_artver(repo, "log", "weights.bin", flag, "1", "--json"))
        assert [entry["commit"] for entry in entries] == [history.sha[4]]
    entries = as_json(run_artver(repo, "log", "weights.bin.art", "-n", "2", "--json"))
    assert [entry["commit"] for entry in entries] == [history.sha[4], history.sha[2]]
    result = ok(run_artver(repo, "log", "-n", "1", "weights.bin"))
    assert len(result.lines) == 2
    bad = run_artver(repo, "log", "weights.bin", "-n", "0")
    assert bad.code != 0 and "Traceback" not in bad.err


def test_log_of_a_file_inside_a_tracked_directory(history: History, run_artver) -> None:
    repo = history.root
    expectations = {
        "data/a.txt": [(1, "added")],
        "data/b.txt": [(2, "modified"), (1, "added")],
        "data/c.txt": [(2, "deleted"), (1, "added")],
        "data/d.txt": [(2, "added")],
        "data": [(2, "modified"), (1, "added")],
    }
    for path, expected in expectations.items():
        entries = as_json(run_artver(repo, "log", path, "--json"))
        assert [(entry["commit"], entry["change"]) for entry in entries] == [
            (history.sha[number], change) for number, change in expected
        ], path
        assert all(entry["path"] == path for entry in entries), path
    b_entries = as_json(run_artver(repo, "log", "data/b.txt", "--json"))
    assert b_entries[0]["hash"] == history.files[("data", 2)]["b.txt"] and b_entries[0]["size"] == 14
    assert b_entries[1]["hash"] == history.files[("data", 1)]["b.txt"] and b_entries[1]["size"] == 5
    c_entries = as_json(run_artver(repo, "log", "data/c.txt", "--json"))
    assert c_entries[0]["hash"] is None and c_entries[0]["size"] is None
    text = ok(run_artver(repo, "log", "data/c.txt")).out
    assert "deleted" in text and BOB in text
    # From inside the directory.
    entries = as_json(run_artver(repo / "data", "log", "b.txt", "--json"))
    assert [entry["commit"] for entry in entries] == [history.sha[2], history.sha[1]]


def test_log_of_a_deleted_artifact(history: History, run_artver) -> None:
    entries = as_json(run_artver(history.root, "log", "extra.bin", "--json"))
    assert [(entry["commit"], entry["change"]) for entry in entries] == [(history.sha[5], "deleted"), (history.sha[3], "added")]
    assert entries[1]["author"].startswith(CAROL) and entries[1]["size"] == len(EXTRA)


def test_log_of_an_untracked_path_fails_clearly(history: History, run_artver) -> None:
    repo = history.root
    write(repo / "notes.txt", "not an artifact")
    for path in ("notes.txt", "nowhere.bin"):
        result = run_artver(repo, "log", path)
        assert result.code != 0, (path, result.out)
        assert path in result.err and "not a tracked artifact" in result.err
        assert "Traceback" not in result.err


def test_log_of_a_file_never_in_a_tracked_directory_fails_clearly(history: History, run_artver) -> None:
    """data/ is tracked, but data/never.txt was never one of its files: that is not an empty history."""
    result = run_artver(history.root, "log", "data/never.txt")
    assert result.code != 0, f"exit 0 with {result.out!r}"
    assert "data/never.txt" in result.err and "Traceback" not in result.err


def test_log_skips_a_merge_that_only_brings_a_branch_change(repo: Path, run_artver) -> None:
    write(repo / "model.bin", b"v1")
    write(repo / "other.bin", b"o1")
    ok(run_artver(repo, "add", "model.bin", "other.bin"))
    base = commit_as(repo, "base", ALICE, DATES[1])
    git(repo, "checkout", "-q", "-b", "feature")
    write(repo / "model.bin", b"v2 from the branch")
    ok(run_artver(repo, "add", "model.bin"))
    branch_commit = commit_as(repo, "improve model on a branch", BOB, DATES[2])
    git(repo, "checkout", "-q", "main")
    ok(run_artver(repo, "checkout"))
    write(repo / "other.bin", b"o2")
    ok(run_artver(repo, "add", "other.bin"))
    main_commit = commit_as(repo, "other on main", CAROL, DATES[3])
    env_merge = subprocess.run(
        ["git", "merge", "--no-ff", "-q", "-m", "merge feature", "feature"],
        cwd=repo, capture_output=True, text=True, timeout=TIMEOUT,
    )
    assert env_merge.returncode == 0, env_merge.stderr
    merge = git(repo, "rev-parse", "HEAD").strip()

    model = as_json(run_artver(repo, "log", "model.bin", "--json"))
    assert [(entry["commit"], entry["change"]) for entry in model] == [(branch_commit, "modified"), (base, "added")]
    other = as_json(run_artver(repo, "log", "other.bin", "--json"))
    assert [(entry["commit"], entry["change"]) for entry in other] == [(main_commit, "modified"), (base, "added")]
    assert merge not in {entry["commit"] for entry in model + other}

    # diff across the merge: only the branch's change reaches main.
    payload = as_json(run_artver(repo, "diff", main_commit, "HEAD", "--json"))
    assert [change["path"] for change in payload["changes"]] == ["model.bin"]
    payload = as_json(run_artver(repo, "diff", "feature", "main", "--json"))
    assert [change["path"] for change in payload["changes"]] == ["other.bin"]


def test_log_before_any_commit_and_of_an_uncommitted_artifact(tmp_path: Path, run_artver) -> None:
    root = tmp_path / "fresh"
    root.mkdir()
    git(root, "init", "-q")
    ok(run_artver(root, "init"))
    write(root / "x.bin", b"x")
    ok(run_artver(root, "add", "x.bin"))
    result = ok(run_artver(root, "log", "x.bin"))
    assert "No commits change x.bin yet" in result.out
    assert as_json(run_artver(root, "log", "x.bin", "--json")) == []


# ---------------------------------------------------------------- ls


def test_ls_lists_path_kind_size_files_desc_and_meta(history: History, run_artver) -> None:
    repo = history.root
    result = ok(run_artver(repo, "ls"))
    assert [line.split() for line in result.lines] == [
        ["data", "dir", "3", "files", *human_size(history.sizes[("data", 5)]).split(), short(history.hashes[("data", 5)]),
         "training", "data"],
        ["weights.bin", "file", *human_size(len(MODEL_2)).split(), short(history.hashes[("weights.bin", 5)]),
         "the", "model", "owner=ml", "stage=dev"],
    ]
    hash_column = {line.index("xxh128:") for line in result.lines}
    assert len(hash_column) == 1  # the columns are aligned
    items = as_json(run_artver(repo, "ls", "--json"))
    for item in items:
        assert set(item) == LS_KEYS
    assert items == [
        {"path": "data", "kind": "dir", "size": 6 + 14 + 6, "files": 3, "hash": history.hashes[("data", 5)],
         "desc": "training data", "meta": {}},
        {"path": "weights.bin", "kind": "file", "size": len(MODEL_2), "files": 1,
         "hash": history.hashes[("weights.bin", 5)], "desc": "the model", "meta": {"stage": "dev", "owner": "ml"}},
    ]


def test_ls_at_a_revision(history: History, run_artver) -> None:
    repo = history.root
    items = as_json(run_artver(repo, "ls", "--rev", "v1", "--json"))
    assert [(item["path"], item["kind"], item["size"], item["files"]) for item in items] == [
        ("data", "dir", 6 + 5 + 6, 3), ("model.bin", "file", len(MODEL_1), 1),
    ]
    assert items[1]["meta"] == {"stage": "dev", "owner": "ml"} and items[1]["desc"] == "the model"
    for revision in ("v3", history.sha[3], "HEAD~2", "main~2"):
        items = as_json(run_artver(repo, "ls", "--rev", revision, "--json"))
        assert [item["path"] for item in items] == ["data", "extra.bin", "model.bin"], revision
    text = ok(run_artver(repo, "ls", "--rev", "HEAD~5")).out
    assert "No artifacts are tracked at HEAD~5." in text
    # A pointer added but not committed shows in the workspace listing only.
    write(repo / "new.bin", b"n")
    ok(run_artver(repo, "add", "new.bin", "--meta", "k=v"))
    assert "new.bin" in ok(run_artver(repo, "ls")).out
    assert "new.bin" not in ok(run_artver(repo, "ls", "--rev", "HEAD")).out


def test_ls_with_a_bad_revision_fails_clearly(history: History, run_artver) -> None:
    result = run_artver(history.root, "ls", "--rev", "no-such-rev")
    assert result.code != 0
    assert "no-such-rev" in result.err and "unknown revision" in result.err
    assert "Traceback" not in result.err


def test_ls_in_an_empty_repository(repo: Path, run_artver) -> None:
    assert "No artifacts are tracked here yet." in ok(run_artver(repo, "ls")).out
    assert as_json(run_artver(repo, "ls", "--json")) == []
