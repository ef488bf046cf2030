"""The bad-input corpus: every bad input gives a one-line error naming the culprit, a
non-zero exit, no traceback, and loses nothing."""

from __future__ import annotations

import hashlib
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import Result, assert_one_line_error, run_artver_process
from tests.support.git import SUBPROCESS_TIMEOUT, commit_all, git
from tests.support.remotes import directory_remote, tamper

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
    from tests.support.remotes import make_remote

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
    tamper(directory_remote(remote), f"sha256:{digest}", lambda data: b"substituted weights".ljust(len(data)))
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


# ---------------------------------------------------------------- hostile text: printed, never obeyed

HOSTILE_TEXT = (
    "\x1b]0;owned\x07\x1b[2J\x1b[1;32mALL GOOD\x1b[0m\r"  # window title, clear screen, colour, carriage return
    "\u202eexe.gpj\u202c \x9b31m \x7f\u2028next\nartver: all artifacts clean\u0085"  # bidi override, C1 CSI, DEL, separators
)
NEVER_RAW = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")


def hostile_pointer(kind: str = "file") -> bytes:
    from artver.hashing import hash_bytes
    from artver.listing import Entry
    from artver.pointer import Pointer, dir_pointer, file_pointer, format_pointer

    data = b"good data" * 100  # good.bin's content, in the cache
    base: Pointer
    if kind == "file":
        base = file_pointer(hash_bytes(data, "xxh128"), len(data))
    else:
        base = dir_pointer((Entry("a.bin", hash_bytes(data, "xxh128"), len(data)),))
    return format_pointer(base.with_user_data(HOSTILE_TEXT, (("owner", HOSTILE_TEXT), ("note", "line one\nline two"))))


def assert_inert(result: Result) -> None:
    """Nothing raw that a terminal would obey, no traceback, no internal error."""
    assert result.code != 3 and "Traceback" not in result.err, result
    assert not NEVER_RAW.search(result.out.replace("\n", "")), ascii(result.out)
    assert not NEVER_RAW.search(result.err.replace("\n", "")), ascii(result.err)


@pytest.fixture
def hostile_text_project(project: Path, run_artver) -> Path:
    """good.bin's pointer rewritten with escape sequences, bidi controls and newlines in desc and meta,
    committed with a hostile subject and author, then changed again in the workspace."""
    (project / "good.bin.art").write_bytes(hostile_pointer())
    (project / "tree.art").write_bytes(hostile_pointer("dir"))
    git(project, "add", "-A")
    git(project, "-c", f"user.name=Mallory{HOSTILE_TEXT}", "commit", "-q", "-m", f"fix{HOSTILE_TEXT}",
        f"--author=Mallory{HOSTILE_TEXT.replace(chr(10), ' ')} <m@x>")
    return project


def test_hostile_desc_and_meta_are_escaped_by_ls(hostile_text_project: Path, run_artver) -> None:
    result = run_artver(hostile_text_project, "ls")
    assert_inert(result)
    assert result.code == 0 and len(result.out.splitlines()) == 2  # one line per artifact: no injected lines
    assert "\\x1b]0;owned\\x07\\x1b[2J" in result.out and "\\u202eexe.gpj" in result.out
    assert "line one\\nline two" in result.out and "\\nartver: all artifacts clean" in result.out


@pytest.mark.parametrize(
    "command",
    [["ls"], ["ls", "--rev", "HEAD"], ["status"], ["diff", "HEAD~1"], ["diff", "HEAD~1", "HEAD"], ["log", "good.bin"],
     ["log", "tree/a.bin"], ["-v", "status"], ["push"], ["verify"], ["checkout"], ["remote", "list"]],
)
def test_hostile_text_is_inert_in_every_human_output(hostile_text_project: Path, run_artver, command: list[str]) -> None:
    config = hostile_text_project / ".artver" / "config"
    config.write_text(config.read_text() + f"\tregion = eu{HOSTILE_TEXT.replace(chr(10), '').replace(chr(13), '')}\n")
    assert_inert(run_artver(hostile_text_project, *command))


@pytest.mark.parametrize("command", [["ls"], ["ls", "--rev", "HEAD"], ["status"], ["diff", "HEAD~1"], ["log", "tree"], ["remote", "list"]])
def test_hostile_text_keeps_json_valid_and_exact(hostile_text_project: Path, run_artver, command: list[str]) -> None:
    result = run_artver(hostile_text_project, *command, "--json")
    assert_inert(result)
    document = json.loads(result.out)
    text = json.dumps(document, ensure_ascii=False)
    if command[0] == "ls":
        (item,) = [entry for entry in document if entry["path"] == "good.bin"]
        assert item["desc"] == HOSTILE_TEXT and item["meta"] == {"note": "line one\nline two", "owner": HOSTILE_TEXT}
    if command[0] == "log":
        assert document[0]["subject"].startswith("fix\x1b]0;owned\x07\x1b[2J")
        assert document[0]["author"].startswith("Mallory\x1b]0;owned\x07")
    assert text  # parsed; values compared above carry the very same characters


def test_hostile_commit_subject_and_author_are_escaped_by_log(hostile_text_project: Path, run_artver) -> None:
    result = run_artver(hostile_text_project, "log", "tree")
    assert_inert(result)
    assert "Mallory\\x1b]0;owned\\x07" in result.out and "fix\\x1b]0;owned" in result.out
    assert len(result.out.splitlines()) == 2  # one commit: its line and its change line


def test_hostile_pointer_file_name_is_escaped_in_errors(project: Path, run_artver) -> None:
    name = "\x1b[2J\x1b]0;owned\x07evil"
    shutil.copyfile(CORPUS / "dotdot.art", project / f"{name}.art")
    result = run_artver(project, "status")
    assert_inert(result)
    line = one_line_error(result, "contains a control character")
    assert "\\x1b[2J\\x1b]0;owned\\x07evil.art" in line


def test_output_in_a_non_utf8_locale_escapes_instead_of_failing(hostile_text_project: Path) -> None:
    pointer = hostile_text_project / "good.bin.art"
    pointer.write_bytes(pointer.read_bytes().replace(b'desc: "', 'desc: "日本語 '.encode()))
    for command in (["ls"], ["ls", "--json"], ["log", "tree"]):
        result = run_artver_process(hostile_text_project, *command, env={"PYTHONIOENCODING": "ascii"})
        assert_inert(result)
        assert result.code == 0, result.err
    assert "\\u65e5\\u672c\\u8a9e" in run_artver_process(hostile_text_project, "ls", env={"PYTHONIOENCODING": "ascii"}).out
    document = json.loads(run_artver_process(hostile_text_project, "ls", "--json", env={"PYTHONIOENCODING": "ascii"}).out)
    assert any(item["desc"].startswith("日本語 \x1b]0;owned") for item in document)


def test_add_refuses_a_description_that_is_not_valid_unicode(project: Path) -> None:
    (project / "m.bin").write_bytes(b"m")
    completed = subprocess.run(
        [sys.executable, "-m", "artver", "add", "m.bin", "--desc", os.fsdecode(b"caf\xe9")],
        cwd=project, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT, errors="backslashreplace",
    )
    one_line_error(Result(completed.returncode, completed.stdout, completed.stderr), "description", "not valid Unicode")
    assert not (project / "m.bin.art").exists()


@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")  # rich renders in a thread
def test_progress_bar_shows_names_that_look_like_markup_or_escapes(monkeypatch, capsys) -> None:
    """rich read '[/b]' in a path as a closing tag and raised MarkupError in the middle of an add."""
    from artver.console import DelayedBar

    monkeypatch.setenv("ARTVER_PROGRESS_DELAY", "0")
    bar = DelayedBar()
    bar.start("Adding data/a[/b] \x1b]0;owned\x07", 10)
    bar.advance(5)
    bar.finish()
    assert "\x1b]0;owned" not in capsys.readouterr().err


def test_names_with_a_final_newline_are_refused(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    """Every name checked by a pattern is checked whole: '$' also matches before a final
    newline, which would have let 'origin\\n' into the config and 'k\\n' into a pointer."""
    from artver import api
    from artver.errors import ArtverError

    (repo / "m.bin").write_bytes(b"weights")
    with pytest.raises(ArtverError, match="invalid metadata key"):
        api.add("m.bin", repo=repo, meta={"accuracy\n": "0.9"})
    assert not (repo / "m.bin.art").exists()
    assert run_artver(repo, "remote", "add", "origin\n", str(repo.parent / "remote")).code == 2
    assert run_artver(repo, "remote", "add", "o", "s3://bucket\n/prefix").code == 2
    assert "origin" not in (repo / ".artver" / "config").read_text()


@pytest.mark.parametrize("command", [("pull",), ("fetch",), ("push",), ("status", "--cloud"), ("verify", "-r", "origin")])
def test_rejected_credentials_stop_every_command_with_one_line(
        repo: Path, request, tmp_path: Path, monkeypatch, run_artver, command: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    """A wrong secret fails every object alike: one line, at once, not one line per object
    (pull used to print 'Fetched 0 objects, ... 2006 failed' and then every path)."""
    from tests.support.remotes import make_remote

    remote = make_remote("s3", request, tmp_path, monkeypatch)
    run_artver(repo, "remote", "add", "origin", remote.url)
    run_artver(repo, "remote", "modify", "origin", "endpoint_url", remote.settings["endpoint_url"])
    for index in range(30):
        (repo / "data").mkdir(exist_ok=True)
        (repo / "data" / f"{index}.bin").write_bytes(f"file {index}".encode())
    assert run_artver(repo, "add", "data").code == 0
    if command[0] != "push":
        assert run_artver(repo, "push").code == 0
        shutil.rmtree(repo / ".artver" / "cache")
        shutil.rmtree(repo / "data")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    result = run_artver(repo, *command)
    assert result.code != 0
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    assert "credentials were rejected" in lines[0] and "not-the-secret" not in result.err + result.out


@pytest.mark.parametrize(("setting", "needle"), [
    ("pack = banana", "pack 'banana' must be true or false"),
    ("pack_threshold = -1", "remote.origin.pack_threshold = '-1' must be a whole number"),
    ("pack_size = 99999999999999", "remote.origin.pack_size = '99999999999999' must be a whole number"),
    ("chunk = 2", "chunk '2' must be true or false"),
    ("chunk_threshold = 5", "remote.origin.chunk_threshold = '5' must be a whole number"),
])
def test_hostile_pack_and_chunk_settings_in_the_committed_config(repo: Path, run_artver, setting: str, needle: str) -> None:
    """A pull request can set the packing and chunking of a remote in .artver/config: a value
    out of range is refused in one line before anything reaches the remote."""
    (repo / "model.bin").write_bytes(b"weights" * 1000)
    assert run_artver(repo, "add", "model.bin").code == 0
    store = repo.parent / "store"
    store.mkdir()
    (repo / ".artver" / "config").write_text(
        f"[core]\nhash = xxh128\nremote = origin\n\n[remote.origin]\nurl = {store}\n{setting}\n")
    one_line_error(run_artver(repo, "push"), needle)
    assert list(store.iterdir()) == []


def test_a_hostile_listing_the_remote_already_holds(repo: Path, tmp_path: Path, run_artver) -> None:
    """A committed pointer names a listing object that writes into .git; the remote holds it
    (pushed by whoever committed it). push finds the directory vouched for by that listing and,
    since it does not parse listings the remote holds, has nothing to do; pull and checkout
    parse it before anything is written, and refuse it in one line naming the pointer."""
    from artver import hashing, listing, pointer
    from artver.repo import open_repo

    remote = tmp_path / "remote"
    remote.mkdir()
    assert run_artver(repo, "remote", "add", "o", str(remote), "--default").code == 0
    opened = open_repo(repo)
    file_hash = opened.cache.add_bytes(b"[core]\n\tfsmonitor = evil\n")
    data = listing.LISTING_HEADER + f"{file_hash} 25 - .git/config\n".encode()
    listing_hash = opened.cache.add_bytes(data)
    assert listing_hash == hashing.hash_bytes(data, "xxh128")
    (repo / "data.art").write_bytes(pointer.format_pointer(pointer.DirPointer(pointer.ListingRef(listing_hash, 1, 25))))
    commit_all(repo, "hostile listing")
    for hash_value in (file_hash, listing_hash):  # what the committer's push would have left in the remote
        algorithm, _, digest = hash_value.partition(":")
        target = remote / algorithm / digest[:2] / digest[2:]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(opened.cache.path_of(hash_value), target)

    pushed = run_artver(repo, "push")
    assert pushed.code == 0, pushed.err
    assert "Everything is up to date" in pushed.out
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    for command in (["pull"], ["checkout"]):
        assert_one_line_error(run_artver(clone, *command), "data.art")
        assert not (clone / "data").exists()
    assert not (clone / ".git" / "config").read_text().count("fsmonitor")
