"""The bad-input corpus: every bad input gives a one-line error naming the culprit, a
non-zero exit, no traceback, and loses nothing."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import SUBPROCESS_TIMEOUT, Result, commit_all, git, run_artver_process

CORPUS = Path(__file__).parent / "corpus" / "pointers"
EXPECTED: dict[str, str] = json.loads((CORPUS / "expected.json").read_text())


def one_line_error(result: Result, *needles: str) -> str:
    assert result.code not in (0, 3), result
    assert "Traceback" not in result.err + result.out, result.err
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def snapshot(root: Path) -> dict[str, str]:
    """Every file under root (outside .git) with a digest of its bytes."""
    found = {}
    for path in sorted(root.rglob("*")):
        if ".git" in path.relative_to(root).parts or not path.is_file() or path.name.startswith("state.db") or path.name == "lock":
            continue
        found[path.relative_to(root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


@pytest.fixture
def project(repo: Path, run_artver) -> Path:
    """A repository with one good artifact committed, and a local remote."""
    (repo / "good.bin").write_bytes(b"good data" * 100)
    assert run_artver(repo, "add", "good.bin").code == 0
    remote = repo.parent / "remote"
    remote.mkdir()
    assert run_artver(repo, "remote", "add", "origin", str(remote)).code == 0
    commit_all(repo, "good artifact")
    assert run_artver(repo, "push").code == 0
    return repo


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("command", [["status"], ["checkout"], ["checkout", "--force"], ["push"], ["pull"], ["ls"], ["diff"], ["verify"]])
def test_corpus_pointer(project: Path, run_artver, name: str, command: list[str]) -> None:
    shutil.copyfile(CORPUS / name, project / "model.pt.art")
    (project / "model.pt").write_bytes(b"the user's unsaved model")
    before = snapshot(project)
    result = run_artver(project, *command)
    one_line_error(result, "model.pt.art", EXPECTED[name])
    assert snapshot(project) == before


def test_corpus_pointer_committed_in_history(project: Path, run_artver) -> None:
    shutil.copyfile(CORPUS / "dotdot.art", project / "model.pt.art")
    commit_all(project, "hostile pointer")
    (project / "model.pt.art").unlink()
    commit_all(project, "removed again")
    for command in (["push", "--all-commits"], ["fetch", "--rev", "HEAD~1"], ["diff", "HEAD~1", "HEAD"], ["ls", "--rev", "HEAD~1"]):
        one_line_error(run_artver(project, *command), "model.pt.art", "'..' component")


def test_huge_pointer_is_refused_without_reading_it(project: Path, run_artver) -> None:
    with open(project / "model.pt.art", "wb") as handle:
        handle.write(b"artver-pointer: 1\n")
        handle.truncate(50 * 1024 * 1024)
    one_line_error(run_artver(project, "status"), "model.pt.art", "too large")


def test_full_disk_during_add_leaves_nothing_half_written(project: Path) -> None:
    (project / "big.bin").write_bytes(os.urandom(4 * 1024 * 1024))
    before = snapshot(project)

    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024 * 1024, 1024 * 1024))

    completed = subprocess.run(
        [sys.executable, "-m", "artver", "add", "big.bin"], cwd=project, capture_output=True, text=True,
        timeout=SUBPROCESS_TIMEOUT, preexec_fn=limit_file_size,
    )
    result = Result(completed.returncode, completed.stdout, completed.stderr)
    one_line_error(result, "big.bin")
    assert snapshot(project) == before  # no pointer, no .gitignore change, no partial object
    # No temp file; only the temp-owner record of this test process (see artver/tempfiles.py).
    assert [path.name for path in (project / ".artver" / "cache" / "tmp").iterdir() if not path.name.endswith(".owner")] == []
    retry = run_artver_process(project, "add", "big.bin")
    assert retry.code == 0, retry.err


def test_file_names_a_pointer_cannot_hold(project: Path, run_artver) -> None:
    data = project / "data"
    data.mkdir()
    (data / "fine.csv").write_bytes(b"1")
    os.close(os.open(os.fsencode(data) + b"/caf\xe9.csv", os.O_CREAT | os.O_WRONLY, 0o644))
    one_line_error(run_artver(project, "add", "data"), "not valid UTF-8")
    assert not (project / "data.art").exists()
    long_name = "m" * 252
    (project / long_name).write_bytes(b"x")
    one_line_error(run_artver(project, "add", long_name), "too long")
    fine_long = "n" * 251
    (project / fine_long).write_bytes(b"x")
    assert run_artver(project, "add", fine_long).code == 0


def test_unknown_remote_scheme_in_a_hand_edited_config(project: Path, run_artver) -> None:
    config = project / ".artver" / "config"
    config.write_text(config.read_text().replace("url = ", "url = ftp://"), encoding="utf-8")
    one_line_error(run_artver(project, "push"), "unsupported URL scheme 'ftp://'")


def test_missing_credentials(repo: Path, request, tmp_path: Path, monkeypatch, run_artver) -> None:
    from tests.remote_helpers import make_remote

    remote = make_remote("s3", request, tmp_path, monkeypatch)
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(key)
    run_artver(repo, "remote", "add", "origin", remote.url)
    run_artver(repo, "remote", "modify", "origin", "endpoint_url", remote.settings["endpoint_url"])
    (repo / "m.bin").write_bytes(b"m")
    run_artver(repo, "add", "m.bin")
    one_line_error(run_artver(repo, "push"), "origin", "no credentials found", "AWS_ACCESS_KEY_ID")


@pytest.fixture
def unprivileged_repo() -> Iterator[Path]:
    """A repository owned by 'nobody', outside root's private temp dir, for permission tests."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        raise AssertionError("these tests expect to run as root with setpriv available (as on CI)")
    base = Path(tempfile.mkdtemp(prefix="artver-perm-", dir="/tmp"))
    os.chmod(base, 0o755)
    root = base / "repo"
    root.mkdir()
    yield root
    shutil.rmtree(base, ignore_errors=True)


def as_nobody(cwd: Path, *args: str) -> Result:
    env = {"PATH": os.environ["PATH"], "HOME": str(cwd.parent), "GIT_AUTHOR_NAME": "n", "GIT_AUTHOR_EMAIL": "n@x",
           "GIT_COMMITTER_NAME": "n", "GIT_COMMITTER_EMAIL": "n@x", "GIT_CONFIG_NOSYSTEM": "1"}
    completed = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *args],
        cwd=cwd, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT, env=env,
    )
    return Result(completed.returncode, completed.stdout, completed.stderr)


def test_permission_denied_cache_and_workspace(unprivileged_repo: Path) -> None:
    root = unprivileged_repo
    shutil.chown(root.parent, 65534, 65534)
    shutil.chown(root, 65534, 65534)
    python = [sys.executable, "-m", "artver"]
    assert as_nobody(root, "git", "init", "-q").code == 0
    assert as_nobody(root, *python, "init").code == 0
    assert as_nobody(root, "sh", "-c", "echo model > m.bin && mkdir data && echo a > data/a").code == 0
    assert as_nobody(root, *python, "add", "m.bin").code == 0
    cache = root / ".artver" / "cache"
    folders = [cache, *(path for path in cache.rglob("*") if path.is_dir())]
    for folder in folders:
        os.chmod(folder, 0o555)
    try:
        result = as_nobody(root, *python, "add", "data")
        one_line_error(result, "data", "ermission denied")
        assert not (root / "data.art").exists()
    finally:
        for folder in folders:
            os.chmod(folder, 0o755)
    assert as_nobody(root, *python, "add", "data").code == 0
    shutil.rmtree(root / "data")
    os.chmod(root, 0o555)
    try:
        result = as_nobody(root, *python, "checkout")
        assert result.code not in (0, 3) and "Traceback" not in result.err
        assert "ermission denied" in result.err and "data" in result.err
    finally:
        os.chmod(root, 0o755)
    assert as_nobody(root, *python, "checkout").code == 0
    assert (root / "data" / "a").read_text() == "a\n"


def test_sha256_repository_detects_a_tampered_remote_object(tmp_path: Path, run_artver) -> None:
    root = tmp_path / "secure"
    root.mkdir()
    git(root, "init", "-q")
    assert run_artver(root, "init", "--hash", "sha256").code == 0
    model = b"audited model weights" * 1000
    (root / "model.pt").write_bytes(model)
    assert run_artver(root, "add", "model.pt").code == 0
    assert "hash: sha256:" + hashlib.sha256(model).hexdigest() in (root / "model.pt.art").read_text()
    remote = tmp_path / "remote"
    remote.mkdir()
    run_artver(root, "remote", "add", "origin", str(remote))
    commit_all(root, "model")
    assert run_artver(root, "push").code == 0
    digest = hashlib.sha256(model).hexdigest()
    stored = remote / "sha256" / digest[:2] / digest[2:]
    stored.chmod(0o644)
    stored.write_bytes(b"substituted weights")
    verified = run_artver(root, "verify", "-r", "origin")
    assert verified.code == 1 and f"remote object sha256:{digest} is corrupt" in verified.err
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(root), str(clone))
    result = run_artver(clone, "pull")
    assert result.code == 1 and "corrupt" in result.err and digest[:8] in result.err
    assert not (clone / "model.pt").exists()


def test_secrets_never_appear_in_output_logs_or_json(repo: Path, run_artver, monkeypatch) -> None:
    secret = "TopSecretValue-0123456789"
    run_artver(repo, "remote", "add", "origin", "s3://bucket/prefix")
    run_artver(repo, "remote", "modify", "origin", "endpoint_url", "http://127.0.0.1:9")
    run_artver(repo, "remote", "modify", "origin", "retries", "1")
    run_artver(repo, "remote", "modify", "origin", "access_key_id", "AKIAFAKE", "--local")
    run_artver(repo, "remote", "modify", "origin", "secret_access_key", secret, "--local")
    (repo / "m.bin").write_bytes(b"m")
    run_artver(repo, "add", "m.bin")
    outputs = []
    for command in (["push"], ["-v", "push"], ["push", "--json"], ["status", "--cloud", "--json"], ["remote", "list"],
                    ["remote", "list", "--json"], ["-v", "verify", "-r", "origin"]):
        result = run_artver(repo, *command)
        outputs.append(result.out + result.err)
    assert all(secret not in text for text in outputs)
    assert secret not in (repo / ".artver" / "config").read_text()
