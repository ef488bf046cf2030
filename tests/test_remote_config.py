"""Remote configuration: names, URLs, defaults, secrets kept out of the committed config."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.git import commit_all, git
from tests.support.remotes import make_remote, stored_objects

FAKE_SECRET = "SECRETabc123DoNotLeak"


def test_add_list_default_remove(repo: Path, run_artver) -> None:
    assert run_artver(repo, "remote", "add", "first", str(repo.parent / "r1")).code == 0
    assert run_artver(repo, "remote", "add", "second", "s3://bucket/prefix").code == 0
    listing = run_artver(repo, "remote", "list").out
    assert "* first" in listing and "  second" in listing  # the first remote becomes the default
    assert run_artver(repo, "remote", "default", "second").code == 0
    assert "* second" in run_artver(repo, "remote", "list").out
    assert run_artver(repo, "remote", "remove", "second").code == 0
    assert "second" not in run_artver(repo, "remote", "list").out
    assert "remote" not in (repo / ".artver" / "config").read_text().split("[core]")[1].split("\n")[2:]


@pytest.mark.parametrize(
    "url, message",
    [
        ("ftp://host/path", "unsupported URL scheme 'ftp://'"),
        ("s3://", "has no bucket"),
        ("s3://KEY:SECRET@bucket/x", "credentials do not belong in the URL"),
        ("", "empty URL"),
    ],
)
def test_bad_urls_are_refused(repo: Path, run_artver, url: str, message: str) -> None:
    result = run_artver(repo, "remote", "add", "bad", url)
    assert result.code == 2 and message in result.err and "Traceback" not in result.err
    assert "bad" not in (repo / ".artver" / "config").read_text()


def test_duplicate_and_unknown_names(repo: Path, run_artver) -> None:
    run_artver(repo, "remote", "add", "origin", "/tmp/x")
    assert "already exists" in run_artver(repo, "remote", "add", "origin", "/tmp/y").err
    assert "no remote named 'nope'" in run_artver(repo, "remote", "remove", "nope").err
    assert "unknown setting" in run_artver(repo, "remote", "modify", "origin", "colour", "blue").err


def test_no_remote_configured_shows_the_command(repo: Path, run_artver) -> None:
    (repo / "m.bin").write_bytes(b"m")
    run_artver(repo, "add", "m.bin")
    result = run_artver(repo, "push")
    assert result.code == 2 and "artver remote add NAME URL --default" in result.err


def test_secrets_only_go_to_the_local_config(repo: Path, run_artver) -> None:
    run_artver(repo, "remote", "add", "origin", "s3://bucket/x")
    refused = run_artver(repo, "remote", "modify", "origin", "secret_access_key", FAKE_SECRET)
    assert refused.code == 2 and "--local" in refused.err and FAKE_SECRET not in refused.err
    assert FAKE_SECRET not in (repo / ".artver" / "config").read_text()
    assert run_artver(repo, "remote", "modify", "origin", "secret_access_key", FAKE_SECRET, "--local").code == 0
    assert FAKE_SECRET in (repo / ".artver" / "config.local").read_text()
    assert FAKE_SECRET not in (repo / ".artver" / "config").read_text()
    assert (repo / ".artver" / "config.local").stat().st_mode & 0o077 == 0
    listing = run_artver(repo, "remote", "list", "--json")
    assert FAKE_SECRET not in listing.out and "secret_access_key" in listing.out
    commit_all(repo, "config")
    assert "config.local" not in git(repo, "ls-files")


def test_a_secret_committed_by_hand_is_refused(repo: Path, run_artver) -> None:
    with open(repo / ".artver" / "config", "a") as handle:
        handle.write(f"[remote.origin]\nurl = s3://b/x\nsecret_access_key = {FAKE_SECRET}\n")
    result = run_artver(repo, "status")
    assert result.code == 2 and "config.local" in result.err and FAKE_SECRET not in result.err


def test_wrong_s3_credentials_are_a_clear_error_without_the_secret(repo: Path, request, tmp_path: Path, monkeypatch, run_artver) -> None:
    remote = make_remote("s3", request, tmp_path, monkeypatch)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET)
    run_artver(repo, "remote", "add", "origin", remote.url)
    run_artver(repo, "remote", "modify", "origin", "endpoint_url", remote.settings["endpoint_url"])
    (repo / "m.bin").write_bytes(b"model")
    run_artver(repo, "add", "m.bin")
    for command in (["push"], ["status", "--cloud"], ["push", "--json"], ["fetch"]):
        if command == ["fetch"]:
            shutil.rmtree(repo / ".artver" / "cache")  # so that fetch has something to ask the remote for
        result = run_artver(repo, *command)
        assert result.code == 1, command
        assert "credentials were rejected" in result.err and "origin" in result.err
        assert FAKE_SECRET not in result.err + result.out
        assert "Traceback" not in result.err


def test_unreachable_endpoint_is_retried_then_a_clear_error(repo: Path, monkeypatch, run_artver) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    run_artver(repo, "remote", "add", "origin", "s3://bucket/x")
    run_artver(repo, "remote", "modify", "origin", "endpoint_url", "http://127.0.0.1:9")  # discard port: refused
    run_artver(repo, "remote", "modify", "origin", "retries", "1")  # one retry: two attempts
    (repo / "m.bin").write_bytes(b"model")
    run_artver(repo, "add", "m.bin")
    result = run_artver(repo, "push")
    assert result.code == 1
    assert "cannot connect" in result.err and "gave up after 2 attempts" in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_environment_endpoint_works_with_no_artver_setting(repo: Path, request, tmp_path: Path, monkeypatch, run_artver) -> None:
    remote = make_remote("s3", request, tmp_path, monkeypatch)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", remote.settings["endpoint_url"])
    run_artver(repo, "remote", "add", "origin", remote.url)
    (repo / "m.bin").write_bytes(b"model")
    run_artver(repo, "add", "m.bin")
    result = run_artver(repo, "push")
    assert result.code == 0, result.err
    assert len(stored_objects(remote)) == 1


@pytest.mark.parametrize("url", ["s3://bucket/x", "gs://bucket/x"])
@pytest.mark.parametrize("value", ["abc", "0", "-5"])
def test_a_bad_timeout_edited_by_hand_is_a_clear_error(repo: Path, monkeypatch, run_artver, url: str, value: str) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    assert run_artver(repo, "remote", "add", "origin", url).code == 0
    assert run_artver(repo, "remote", "modify", "origin", "timeout", value).code != 0  # refused here...
    config = repo / ".artver" / "config"
    config.write_text(config.read_text() + f"timeout = {value}\n")  # ...so written by hand
    (repo / "m.bin").write_bytes(b"model")
    assert run_artver(repo, "add", "m.bin").code == 0
    result = run_artver(repo, "push")
    assert result.code == 1 and "Traceback" not in result.err
    assert f"timeout '{value}' must be a positive number of seconds" in result.err
    assert len(result.err.strip().splitlines()) == 1
