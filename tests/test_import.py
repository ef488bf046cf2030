"""artver get / import / update / status --check-updates: artifacts of another artver repository.

Every test builds a real source repository (Git, artver, a directory or S3 remote the data
was pushed to) and reads it from another directory, as the application team's repository
reads the data-science one. The source is never checked out by artver: its workspace is
deleted before artver reads it, so only its Git objects and its remote can serve the data.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

import artver.api as av
from artver import pointer as pointer_module
from artver.errors import PointerError
from tests.support.cli import Result, assert_one_line_error
from tests.support.git import commit_all, git
from tests.support.remotes import RemoteUnderTest, make_remote

MODEL_V1 = b"weights v1 " * 5000
MODEL_V2 = b"weights v2 (retrained) " * 5000
ROWS = {"a.csv": b"x,y\n1,2\n", "b.csv": b"x,y\n3,4\n"}
NEW_ROWS = {"c.csv": b"x,y\n5,6\n"}

Run = Callable[..., Result]


@dataclass(frozen=True)
class SourceRepo:
    path: Path  # the Git repository (its work tree is emptied: artver must not need it)
    v1: str  # commit ids
    v2: str
    remote: RemoteUnderTest


def _write(folder: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)


def make_source(tmp_path: Path, run_artver: Run, remote: RemoteUnderTest, name: str = "ds") -> SourceRepo:
    """v1 (tagged): models/classifier.pt and data/ (2 files); v2 on main: a new model and a third file."""
    root = tmp_path / name
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    assert run_artver(root, "init").code == 0
    assert run_artver(root, "remote", "add", "origin", remote.url, "--default").code == 0
    for key, value in remote.settings.items():
        assert run_artver(root, "remote", "modify", "origin", key, value).code == 0
    _write(root, {"models/classifier.pt": MODEL_V1, **{f"data/{k}": v for k, v in ROWS.items()}})
    added = run_artver(root, "add", "models/classifier.pt", "data", "--desc", "trained on March data")
    assert added.code == 0, added.err
    v1 = commit_all(root, "v1")
    git(root, "tag", "v1")
    assert run_artver(root, "push").code == 0
    _write(root, {"models/classifier.pt": MODEL_V2, **{f"data/{k}": v for k, v in NEW_ROWS.items()}})
    assert run_artver(root, "add", "models/classifier.pt", "data").code == 0
    v2 = commit_all(root, "v2")
    assert run_artver(root, "push").code == 0
    _empty_work_tree(root)
    return SourceRepo(root, v1, v2, remote)


def _empty_work_tree(root: Path) -> None:
    """Delete the source's workspace and cache: what artver reads must come from Git and the remote."""
    for item in root.iterdir():
        if item.name != ".git":
            shutil.rmtree(item) if item.is_dir() else item.unlink()


def add_commit(source: SourceRepo, run_artver: Run, files: dict[str, bytes], message: str) -> str:
    """A new commit on the source's main branch (its workspace restored, changed, emptied again)."""
    root = source.path
    git(root, "checkout", "-q", "--", ".")
    assert run_artver(root, "pull").code == 0
    _write(root, files)
    assert run_artver(root, "add", *sorted({name.split("/")[0] if name.startswith("data/") else name for name in files})).code == 0
    commit = commit_all(root, message)
    assert run_artver(root, "push").code == 0
    _empty_work_tree(root)
    return commit


@pytest.fixture
def source(tmp_path: Path, run_artver: Run, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> SourceRepo:
    return make_source(tmp_path, run_artver, make_remote("local", request, tmp_path, monkeypatch))


def _no_trace_of(repo: Path, name: str) -> None:
    assert not (repo / name).exists() and not (repo / f"{name}.art").exists()
    assert not (repo / ".gitignore").exists() or f"/{name}" not in (repo / ".gitignore").read_text()


# --- import: provenance, files and directories ----------------------------------------------


def test_import_records_provenance_and_places_the_file(repo: Path, source: SourceRepo, run_artver: Run) -> None:
    result = run_artver(repo, "import", str(source.path), "models/classifier.pt", "--rev", "v1")
    assert result.code == 0, result.err
    assert "Imported models/classifier.pt from" in result.out and "at v1 (" + source.v1[:8] in result.out
    assert (repo / "classifier.pt").read_bytes() == MODEL_V1
    parsed = pointer_module.read_pointer(repo / "classifier.pt.art", "classifier.pt.art")
    assert parsed.source == pointer_module.Source(str(source.path), "v1", source.v1, "models/classifier.pt")
    assert parsed.desc == "trained on March data"  # the source pointer's description travels with it
    text = (repo / "classifier.pt.art").read_text()
    assert f'source.repo: "{source.path}"\nsource.rev: "v1"\nsource.commit: {source.v1}\n' in text
    # Round trip: what is written parses back to the same pointer and formats to the same bytes.
    assert pointer_module.format_pointer(pointer_module.parse_pointer(text.encode(), "p")) == text.encode()
    assert "/classifier.pt" in (repo / ".gitignore").read_text().splitlines()
    assert run_artver(repo, "status", "--check").code == 0
    # The import is an ordinary artifact for every other command.
    commit_all(repo, "import the classifier")
    assert run_artver(repo, "ls").code == 0


def test_import_a_directory_and_update_shows_the_diff(repo: Path, source: SourceRepo, run_artver: Run) -> None:
    assert run_artver(repo, "import", str(source.path), "data", "--rev", "v1", "-o", "inputs/data").code == 0
    assert sorted(p.name for p in (repo / "inputs" / "data").iterdir()) == ["a.csv", "b.csv"]
    commit_all(repo, "import data v1")
    updated = run_artver(repo, "update", "inputs/data", "--rev", "main")
    assert updated.code == 0, updated.err
    assert f"inputs/data: updated from v1 ({source.v1[:8]}) to main ({source.v2[:8]})" in updated.out
    assert "modified  inputs/data" in updated.out and "    + c.csv" in updated.out, updated.out
    assert (repo / "inputs" / "data" / "c.csv").read_bytes() == NEW_ROWS["c.csv"]
    parsed = pointer_module.read_pointer(repo / "inputs/data.art", "inputs/data.art")
    assert parsed.source is not None and (parsed.source.rev, parsed.source.commit) == ("main", source.v2)
    # The same change, as 'artver diff' words it between the two commits of this repository.
    commit_all(repo, "update data")
    assert "    + c.csv" in run_artver(repo, "diff", "HEAD~1", "HEAD").out
    again = run_artver(repo, "update")
    assert again.code == 0 and "inputs/data: up to date" in again.out
    assert not git(repo, "status", "--porcelain")  # nothing rewritten


def test_status_check_updates_and_update_follow_the_branch(repo: Path, source: SourceRepo, run_artver: Run) -> None:
    assert run_artver(repo, "import", str(source.path), "models/classifier.pt", "--rev", "main").code == 0
    commit_all(repo, "import")
    offline = run_artver(repo, "status")
    assert offline.code == 0 and "behind" not in offline.out  # without the flag, status reads no source
    current = run_artver(repo, "status", "--check-updates", "--check")
    assert current.code == 0 and "classifier.pt: up to date" in current.out, current.out
    v3 = add_commit(source, run_artver, {"models/classifier.pt": b"v3 " * 10}, "v3")
    behind = run_artver(repo, "status", "--check-updates", "--check")
    assert behind.code == 1
    assert f"classifier.pt: behind its source: imported {source.v2[:8]}, main is now at {v3[:8]}" in behind.out
    updated = run_artver(repo, "update")
    assert updated.code == 0 and "modified  classifier.pt" in updated.out, updated.out
    assert (repo / "classifier.pt").read_bytes() == b"v3 " * 10
    assert run_artver(repo, "status", "--check-updates", "--check").code == 0


def test_update_with_nothing_imported_and_of_a_plain_artifact(repo: Path, run_artver: Run) -> None:
    assert run_artver(repo, "update").out.strip() == "No imported artifacts to update."
    (repo / "own.bin").write_bytes(b"mine")
    assert run_artver(repo, "add", "own.bin").code == 0
    assert_one_line_error(run_artver(repo, "update", "own.bin"), "own.bin: not an imported artifact")


# --- get and the API --------------------------------------------------------------------------


def test_get_outside_any_repository_writes_only_the_output(tmp_path: Path, source: SourceRepo, run_artver: Run) -> None:
    place = tmp_path / "notebook"
    place.mkdir()
    result = run_artver(place, "get", str(source.path), "data", "--rev", "v1")
    assert result.code == 0, result.err
    assert {p.name: p.read_bytes() for p in (place / "data").iterdir()} == ROWS
    got = run_artver(place, "get", f"file://{source.path}", "models/classifier.pt", "-o", "model.pt")
    assert got.code == 0, got.err
    assert (place / "model.pt").read_bytes() == MODEL_V2
    assert sorted(p.name for p in place.iterdir()) == ["data", "model.pt"]  # no pointer, no cache left behind
    assert_one_line_error(run_artver(place, "get", str(source.path), "data"), "data: already exists")


def test_get_a_file_inside_a_tracked_directory_into_a_repository_cache(repo: Path, source: SourceRepo) -> None:
    result = av.get(str(source.path), "data/b.csv", out="b.csv", rev="v1", cwd=repo)
    assert (result.kind, result.commit) == ("file", source.v1)
    assert (repo / "b.csv").read_bytes() == ROWS["b.csv"]
    cache = repo / ".artver" / "cache"
    assert any(path.is_file() for path in (cache / "xxh128").rglob("*"))  # a later import reuses it
    assert not (repo / "b.csv.art").exists()


def test_api_open_and_read_a_repository_that_is_not_checked_out(source: SourceRepo) -> None:
    url = f"file://{source.path}"
    assert av.read("models/classifier.pt", repo=url, rev="v1") == MODEL_V1
    assert av.read("models/classifier.pt", repo=url) == MODEL_V2
    with av.open("data/c.csv", repo=url, mode="r") as handle:
        assert handle.read() == NEW_ROWS["c.csv"].decode()


# --- through S3, credentials from the environment -------------------------------------------


def test_import_and_get_from_a_source_with_an_s3_remote(tmp_path: Path, repo: Path, run_artver: Run,
                                                       request: pytest.FixtureRequest,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    remote = make_remote("s3", request, tmp_path, monkeypatch)  # sets AWS_ACCESS_KEY_ID/... in the environment
    source = make_source(tmp_path, run_artver, remote, "s3-source")
    committed = (source.path / ".git").exists() and git(source.path, "show", "HEAD:.artver/config")
    assert "endpoint_url" in committed and "secret" not in committed  # the credentials are nowhere in the source
    result = run_artver(repo, "import", f"file://{source.path}", "models/classifier.pt", "--rev", "v1")
    assert result.code == 0, result.err
    assert (repo / "classifier.pt").read_bytes() == MODEL_V1
    assert av.read("data/a.csv", repo=f"file://{source.path}") == ROWS["a.csv"]
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    refused = run_artver(repo, "get", str(source.path), "data", "-o", "nodata")
    assert_one_line_error(refused, "no credentials found")
    assert not (repo / "nodata").exists()


# --- push copies imported data into this repository's own remote ----------------------------


def test_push_copies_imports_so_a_clone_needs_no_access_to_the_source(tmp_path: Path, repo: Path, source: SourceRepo,
                                                                     run_artver: Run) -> None:
    own = tmp_path / "app-store"
    own.mkdir()
    assert run_artver(repo, "remote", "add", "origin", str(own), "--default").code == 0
    assert run_artver(repo, "import", str(source.path), "data").code == 0
    commit_all(repo, "import data")
    pushed = run_artver(repo, "push")
    assert pushed.code == 0 and "Pushed 3 objects" in pushed.out, pushed.out
    shutil.rmtree(source.remote.url)  # the data-science remote is gone (or unreachable at deploy time)
    clone = tmp_path / "deploy"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    assert run_artver(clone, "pull").code == 0
    assert {p.name: p.read_bytes() for p in (clone / "data").iterdir()} == {**ROWS, **NEW_ROWS}


# --- bad input: one line, non-zero, nothing half-written --------------------------------------


def test_bad_sources_revisions_and_paths(tmp_path: Path, repo: Path, source: SourceRepo, run_artver: Run) -> None:
    (tmp_path / "not-a-repository").mkdir()
    cases = [
        (("import", str(tmp_path / "nowhere"), "data"), "no such file or folder"),
        (("import", f"file://{tmp_path}/nowhere", "data"), "no such file or folder"),
        (("import", str(tmp_path / "not-a-repository"), "data"), "cannot read it"),
        (("import", str(source.path), "data", "--rev", "v9"), "unknown revision 'v9'"),
        (("import", str(source.path), "models/other.pt"), "models/other.pt: not a tracked artifact"),
        (("import", str(source.path), "data/zzz.csv"), "no such file in the tracked directory data"),
        (("import", str(source.path), "data", "--rev", "--upload-pack=touch x"), "invalid revision"),
        (("import", "ext::sh -c touch% /tmp/pwned", "data"), "transport::address"),
        (("get", str(source.path), "../escape", "-o", "x"), "'..' component"),
    ]
    for args, needle in cases:
        assert_one_line_error(run_artver(repo, *args), needle)
        _no_trace_of(repo, "data")
        _no_trace_of(repo, "other.pt")
    assert not git(repo, "status", "--porcelain")


def test_source_without_a_remote_or_with_an_unreachable_one(tmp_path: Path, repo: Path, run_artver: Run,
                                                            source: SourceRepo) -> None:
    bare = tmp_path / "no-remote"
    bare.mkdir()
    git(bare, "init", "-q")
    assert run_artver(bare, "init").code == 0
    (bare / "m.bin").write_bytes(b"m")
    assert run_artver(bare, "add", "m.bin").code == 0
    commit_all(bare, "no remote")
    assert_one_line_error(run_artver(repo, "import", str(bare), "m.bin"), "no default remote")
    not_artver = tmp_path / "plain-git"
    not_artver.mkdir()
    git(not_artver, "init", "-q")
    (not_artver / "f").write_text("f")
    commit_all(not_artver, "plain")
    assert_one_line_error(run_artver(repo, "import", str(not_artver), "f"), "not a tracked artifact")
    shutil.rmtree(source.remote.url)  # the source's remote is gone
    assert_one_line_error(run_artver(repo, "import", str(source.path), "data"), "does not exist")
    _no_trace_of(repo, "data")
    _no_trace_of(repo, "m.bin")
    assert not git(repo, "status", "--porcelain")


def test_a_missing_object_leaves_no_pointer(repo: Path, source: SourceRepo, run_artver: Run) -> None:
    store = Path(source.remote.url)
    victim = next(path for path in sorted(store.rglob("*")) if path.is_file() and path.stat().st_size < 100)
    victim.chmod(0o644)
    victim.unlink()  # one file of data/ (small objects) is missing from the source's remote
    failed = run_artver(repo, "import", str(source.path), "data")
    assert_one_line_error(failed, "cannot fetch")
    _no_trace_of(repo, "data")


def test_import_refuses_to_overwrite_what_is_here(repo: Path, source: SourceRepo, run_artver: Run) -> None:
    (repo / "data").mkdir()
    (repo / "data" / "mine.txt").write_text("mine")
    assert_one_line_error(run_artver(repo, "import", str(source.path), "data"), "data: already exists in the workspace")
    assert (repo / "data" / "mine.txt").read_text() == "mine"
    assert run_artver(repo, "import", str(source.path), "data", "-o", "d").code == 0
    again = run_artver(repo, "import", str(source.path), "data", "-o", "d")
    assert_one_line_error(again, "d: already tracked", "artver update d")


# --- the source's committed config is untrusted input -------------------------------------------


def _commit_source_config(source: SourceRepo, text: str, run_artver: Run | None = None,
                          modify: tuple[str, ...] = ()) -> None:
    """Commit a change to the source's .artver/config: ``text`` appended, and/or one
    'artver remote modify' run there."""
    root = source.path
    git(root, "checkout", "-q", "--", ".")
    if modify and run_artver is not None:
        assert run_artver(root, "remote", "modify", *modify).code == 0
    config = root / ".artver" / "config"
    config.write_text(config.read_text().replace("[remote.origin]\n", "[remote.origin]\n" + text, 1))
    git(root, "commit", "-q", "-am", "config change")
    _empty_work_tree(root)


def test_hostile_source_config_cannot_choose_a_cache_or_link_into_ours(tmp_path: Path, repo: Path, source: SourceRepo,
                                                                     run_artver: Run) -> None:
    elsewhere = tmp_path / "somebody-elses-folder"
    elsewhere.mkdir()
    _commit_source_config(source, "", run_artver, ("origin", "link", "hardlink"))
    config = source.path / ".artver" / "config"
    git(source.path, "checkout", "-q", "--", ".")
    config.write_text(config.read_text() + f"[cache]\ndir = {elsewhere}\nlink = copy\n")
    git(source.path, "commit", "-q", "-am", "a committed cache.dir")
    _empty_work_tree(source.path)
    config = git(source.path, "show", "HEAD:.artver/config")
    assert "link = hardlink" in config and f"dir = {elsewhere}" in config
    assert run_artver(repo, "import", str(source.path), "models/classifier.pt").code == 0
    assert not any(elsewhere.iterdir())  # the source's cache.dir is not ours
    cached = next(path for path in (repo / ".artver" / "cache" / "xxh128").rglob("*") if path.is_file()
                  and path.stat().st_size == len(MODEL_V2))
    assert cached.stat().st_nlink == 1  # a copy: the source's link settings do not reach this cache


@pytest.mark.parametrize(("text", "needle"), [
    ("secret_access_key = not-a-hex-secret\n", "must not be in the committed config"),
    ("jobs = 1\n[remote.evil]\nurl = s3://user:pw@bucket/x\n[remote.other]\n", "credentials do not belong in the URL"),
    ("endpoint_url = http://user:pw@127.0.0.1:9/\n", "credentials do not belong in endpoint_url"),
    ("profile = admin\n", "may not come from the committed config"),
    ("credentials_path = /root/key.json\n", "may not come from the committed config"),
])
def test_hostile_source_config_is_refused(repo: Path, source: SourceRepo, run_artver: Run, text: str,
                                          needle: str) -> None:
    _commit_source_config(source, text)
    line = assert_one_line_error(run_artver(repo, "import", str(source.path), "data"), needle)
    # (a secret value that cannot occur in the commit hashes the message names)
    assert "pw@" not in line and "not-a-hex-secret" not in line
    _no_trace_of(repo, "data")


# --- pointer format: provenance keys are checked like every other key ----------------------------


GOOD = (b"artver-pointer: 1\nkind: file\nhash: xxh128:97d667241845400f55c89e39ceb89e80\nsize: 5\n"
        b'source.repo: "https://example.com/ds.git"\nsource.rev: "v1"\n'
        b"source.commit: 0123456789abcdef0123456789abcdef01234567\nsource.path: \"models/m.pt\"\nend\n")


def test_provenance_round_trip_and_rev_is_optional() -> None:
    parsed = pointer_module.parse_pointer(GOOD, "p")
    assert parsed.source == pointer_module.Source("https://example.com/ds.git", "v1", "0123456789abcdef0123456789abcdef01234567", "models/m.pt")
    assert pointer_module.format_pointer(parsed) == GOOD
    without_rev = GOOD.replace(b'source.rev: "v1"\n', b"")
    assert pointer_module.parse_pointer(without_rev, "p").source.rev is None  # type: ignore[union-attr]
    plain = GOOD.split(b"source.repo")[0] + b"end\n"
    assert pointer_module.format_pointer(pointer_module.parse_pointer(plain, "p")) == plain


@pytest.mark.parametrize(("old", "new", "needle"), [
    (b'"https://example.com/ds.git"', b'"ext::sh -c evil"', "transport::address"),
    (b'"https://example.com/ds.git"', b'"--upload-pack=evil"', "starts with '-'"),
    (b'"https://example.com/ds.git"', b'"foo://example.com/x"', "unsupported repository URL scheme"),
    (b'"https://example.com/ds.git"', b'"https://u:pw@example.com/x"', "holds a password"),
    (b'"https://example.com/ds.git"', b'"relative/path"', "neither a URL nor an absolute path"),
    (b"0123456789abcdef0123456789abcdef01234567", b"0123", "full Git commit id"),
    (b'"models/m.pt"', b'"../../etc/passwd"', "'..' component"),
    (b'"v1"', b'"-x"', "invalid revision"),
    (b'source.path: "models/m.pt"\n', b"", "without 'source.path'"),
    (b"source.rev", b"source.other", "unknown key 'source.other'"),
])
def test_bad_provenance_is_refused(old: bytes, new: bytes, needle: str) -> None:
    with pytest.raises(PointerError) as refused:
        pointer_module.parse_pointer(GOOD.replace(old, new, 1), "x.art")
    assert needle in str(refused.value)


def test_update_is_all_or_nothing(repo: Path, source: SourceRepo, run_artver: Run) -> None:
    """One import that cannot be updated (its artifact is gone from the source's newest
    commit) leaves the other, updatable one as it was too."""
    assert run_artver(repo, "import", str(source.path), "models/classifier.pt", "--rev", "v1").code == 0
    assert run_artver(repo, "import", str(source.path), "data", "--rev", "v1").code == 0
    commit_all(repo, "imports at v1")
    root = source.path
    git(root, "checkout", "-q", "--", ".")
    git(root, "rm", "-q", "data.art")
    git(root, "commit", "-q", "-m", "drop data")
    _empty_work_tree(root)
    failed = run_artver(repo, "update", "--rev", "main")
    assert_one_line_error(failed, "data: not a tracked artifact")
    assert not git(repo, "status", "--porcelain")  # classifier.pt.art was not moved either
    assert (repo / "classifier.pt").read_bytes() == MODEL_V1


def test_import_from_a_git_hook_environment(repo: Path, source: SourceRepo, run_artver: Run,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Git hooks run with GIT_DIR (and often GIT_INDEX_FILE) set to the repository being
    worked on: the source's private clone must not be taken for that repository."""
    monkeypatch.setenv("GIT_DIR", str(repo / ".git"))
    monkeypatch.setenv("GIT_INDEX_FILE", str(repo / ".git" / "index"))
    result = run_artver(repo, "import", str(source.path), "models/classifier.pt", "--rev", "v1")
    assert result.code == 0, result.err
    parsed = pointer_module.read_pointer(repo / "classifier.pt.art", "classifier.pt.art")
    assert parsed.source is not None and parsed.source.commit == source.v1


def test_import_a_file_inside_a_tracked_directory_and_update_it(repo: Path, source: SourceRepo, run_artver: Run) -> None:
    assert run_artver(repo, "import", str(source.path), "data/a.csv", "--rev", "v1", "-o", "a.csv").code == 0
    parsed = pointer_module.read_pointer(repo / "a.csv.art", "a.csv.art")
    assert parsed.kind == "file" and parsed.source is not None and parsed.source.path == "data/a.csv"
    assert (repo / "a.csv").read_bytes() == ROWS["a.csv"]
    commit_all(repo, "one file of the dataset")
    updated = run_artver(repo, "update", "a.csv", "--rev", "main")
    assert updated.code == 0 and "a.csv: updated from v1" in updated.out  # a new commit, the same bytes
    assert "Artifact changes" not in updated.out


def test_a_relative_directory_remote_is_relative_to_a_local_source(tmp_path: Path, repo: Path, run_artver: Run) -> None:
    root = tmp_path / "ds-relative"
    root.mkdir()
    (tmp_path / "ds-store").mkdir()
    git(root, "init", "-q", "-b", "main")
    assert run_artver(root, "init").code == 0
    assert run_artver(root, "remote", "add", "origin", "../ds-store", "--default").code == 0
    assert "url = ../ds-store" in (root / ".artver" / "config").read_text()
    (root / "m.bin").write_bytes(MODEL_V1)
    assert run_artver(root, "add", "m.bin").code == 0
    commit_all(root, "model")
    assert run_artver(root, "push").code == 0
    _empty_work_tree(root)
    assert run_artver(repo, "import", str(root), "m.bin").code == 0
    assert (repo / "m.bin").read_bytes() == MODEL_V1
    assert run_artver(repo, "get", f"file://{root}", "m.bin", "-o", "copy.bin").code == 0
    assert (repo / "copy.bin").read_bytes() == MODEL_V1
