"""The committed .artver/config is untrusted input: anyone who can open a pull request writes it.

Settings that choose where artver writes or deletes files, or which of the user's own
credentials it uses, are refused there and accepted only from .artver/config.local or the
user's config file. URL-valued settings never carry credentials, and no message shows them.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest

from artver import error_handler
from artver.errors import RemoteError
from tests.support.cli import Result
from tests.support.git import commit_all

SECRET = "SECRETabc123DoNotLeak"
DEAD_PID = 2_147_483_000  # above any pid_max: never a live process


def append(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text)


def one_line_error(result: Result, *parts: str) -> None:
    assert result.code == 2, (result.code, result.err)
    assert "Traceback" not in result.err and len(result.err.strip().splitlines()) == 1, result.err
    for part in parts:
        assert part in result.err, (part, result.err)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory outside the repository holding files that only look like artver's own."""
    place = tmp_path / "elsewhere"
    for folder in ("tmp", "quarantine"):
        (place / folder).mkdir(parents=True)
        victim = place / folder / f"{DEAD_PID}-victim"
        victim.write_text("not artver's")
        os.utime(victim, (0, 0))  # old enough for any age-based cleanup
    return place


def victims_intact(place: Path) -> bool:
    return all((place / folder / f"{DEAD_PID}-victim").read_text() == "not artver's" for folder in ("tmp", "quarantine"))


# --- cache.dir: a location outside the repository ---------------------------------------------


def test_committed_cache_dir_is_refused_and_deletes_nothing(repo: Path, run_artver, outside: Path) -> None:
    (repo / "m.bin").write_bytes(b"model")
    assert run_artver(repo, "add", "m.bin").code == 0
    commit_all(repo, "model")
    append(repo / ".artver" / "config", f"[cache]\ndir = {outside}\n")
    for command in (["checkout"], ["status"], ["gc", "--workspace", "--force"], ["add", "m.bin"]):
        result = run_artver(repo, *command)
        one_line_error(result, f"{repo / '.artver' / 'config'}: cache.dir", ".artver/config.local", f"dir = {outside}")
        assert victims_intact(outside), command
    # Commands that never use the cache still run, so the user can inspect and fix things.
    assert run_artver(repo, "ls").code == 0 and run_artver(repo, "remote", "list").code == 0


def test_cache_dir_from_config_local_wins_over_a_committed_one(repo: Path, run_artver, tmp_path: Path, outside: Path) -> None:
    shared = tmp_path / "shared-cache"
    append(repo / ".artver" / "config", f"[cache]\ndir = {outside}\n")  # a team's old, committed setting
    append(repo / ".artver" / "config.local", f"[cache]\ndir = {shared}\n")
    (repo / "m.bin").write_bytes(b"model")
    assert run_artver(repo, "add", "m.bin").code == 0
    assert run_artver(repo, "status").code == 0
    assert any(path.is_file() for path in (shared / "xxh128").rglob("*"))
    assert victims_intact(outside) and not (outside / "xxh128").exists()


def test_cache_dir_from_the_user_config(repo: Path, run_artver, tmp_path: Path, monkeypatch) -> None:
    shared = tmp_path / "machine-cache"
    user_config = tmp_path / "xdg" / "artver" / "config"
    user_config.parent.mkdir(parents=True)
    user_config.write_text(f"[cache]\ndir = {shared}\nlink = copy\n[core]\nlock_timeout = 30\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    (repo / "m.bin").write_bytes(b"model")
    assert run_artver(repo, "add", "m.bin").code == 0
    assert any(path.is_file() for path in (shared / "xxh128").rglob("*"))
    append(repo / ".artver" / "config", "[cache]\ndir = /elsewhere\n")
    assert run_artver(repo, "status").code == 0  # overridden by the user's own file: never used


@pytest.mark.parametrize(
    "text, part",
    [
        ("[core]\nhash = sha256\n", "core.hash"),
        ("[core]\nremote = origin\n", "core.remote"),
        ("[remote.origin]\nurl = s3://bucket/x\n", "remote.origin.url"),
        ("[remote.origin]\nsecret_access_key = x\n", "remote.origin.secret_access_key"),
    ],
)
def test_the_user_config_holds_only_machine_settings(repo: Path, run_artver, tmp_path: Path, monkeypatch, text: str, part: str) -> None:
    user_config = tmp_path / "xdg" / "artver" / "config"
    user_config.parent.mkdir(parents=True)
    user_config.write_text(text)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    one_line_error(run_artver(repo, "status"), str(user_config), part, "cache.dir, cache.link, core.lock_timeout")


def test_committed_cache_dir_message_points_to_the_user_config(repo: Path, run_artver, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    (repo / "m.bin").write_bytes(b"model")
    assert run_artver(repo, "add", "m.bin").code == 0
    append(repo / ".artver" / "config", "[cache]\ndir = ../team-cache\n")
    one_line_error(run_artver(repo, "status"), str(tmp_path / "xdg" / "artver" / "config"), "dir = ../team-cache")


# --- settings that choose which of the user's credentials are used ------------------------------


@pytest.mark.parametrize(
    "url, key, value",
    [
        ("s3://bucket/x", "profile", "production-admin"),
        ("gs://bucket/x", "credentials_path", "~/.config/gcloud/production.json"),
    ],
)
def test_committed_credential_choosers_are_refused(repo: Path, run_artver, url: str, key: str, value: str) -> None:
    assert run_artver(repo, "remote", "add", "origin", url).code == 0
    append(repo / ".artver" / "config", f"{key} = {value}\n")
    (repo / "m.bin").write_bytes(b"model")
    assert run_artver(repo, "add", "m.bin").code == 0
    fix = f"artver remote modify origin {key} {shlex.quote(value)} --local"
    for command in (["push"], ["status", "--cloud"]):
        one_line_error(run_artver(repo, *command), f"{repo / '.artver' / 'config'}: remote.origin.{key}", fix)
    # The fix the message names works while the committed line is still there.
    assert run_artver(repo, "remote", "modify", "origin", key, "mine", "--local").code == 0
    result = run_artver(repo, "push")
    assert result.code != 0 and "may not come from the committed" not in result.err  # now it is the local value's turn


@pytest.mark.parametrize("key", ["profile", "credentials_path", "access_key_id"])
def test_remote_modify_writes_local_only_settings_only_with_local(repo: Path, run_artver, key: str) -> None:
    assert run_artver(repo, "remote", "add", "origin", "s3://bucket/x").code == 0
    before = (repo / ".artver" / "config").read_text()
    result = run_artver(repo, "remote", "modify", "origin", key, "value")
    one_line_error(result, f"remote.origin.{key}", "--local")
    assert (repo / ".artver" / "config").read_text() == before
    assert run_artver(repo, "remote", "modify", "origin", key, "value", "--local").code == 0


def test_a_committed_secret_message_names_a_fix_that_works(repo: Path, run_artver) -> None:
    append(repo / ".artver" / "config", f"[remote.origin]\nurl = s3://b/x\nsecret_access_key = {SECRET}\n")
    result = run_artver(repo, "status")
    one_line_error(result, "delete the line", "rotate")
    assert SECRET not in result.err


# --- URL-valued settings: never credentials, checked wherever they come from --------------------


@pytest.mark.parametrize(
    "value",
    [
        f"http://KEY:{SECRET}@s3.example.com",
        f"https://{SECRET}@s3.example.com:8333",
        f"http://KEY:{SECRET}/x@s3.example.com",  # a '/' in the secret: not even a valid userinfo
        f"http://KEY:p@{SECRET}@s3.example.com",
    ],
)
@pytest.mark.parametrize("local", [False, True])
def test_endpoint_url_with_credentials_is_refused_by_remote_modify(repo: Path, run_artver, value: str, local: bool) -> None:
    assert run_artver(repo, "remote", "add", "origin", "s3://bucket/x").code == 0
    result = run_artver(repo, "remote", "modify", "origin", "endpoint_url", value, *(["--local"] if local else []))
    one_line_error(result, "remote 'origin'", "endpoint_url")
    assert SECRET not in result.err + result.out
    for name in ("config", "config.local"):
        path = repo / ".artver" / name
        assert not path.exists() or SECRET not in path.read_text()


@pytest.mark.parametrize("value", ["ftp://s3.example.com", "s3.example.com:8333", "http://", "http://host/x?token=1", "http://host:port"])
def test_endpoint_url_must_be_an_http_url(repo: Path, run_artver, value: str) -> None:
    assert run_artver(repo, "remote", "add", "origin", "s3://bucket/x").code == 0
    one_line_error(run_artver(repo, "remote", "modify", "origin", "endpoint_url", value), "endpoint_url")


@pytest.mark.parametrize("name", ["config", "config.local"])
@pytest.mark.parametrize(
    "key, value",
    [
        ("endpoint_url", f"http://KEY:{SECRET}@s3.example.com"),
        ("url", f"s3://KEY:{SECRET}@bucket/x"),
        ("url", f"s3://KEY:{SECRET}/x@bucket/x"),
    ],
)
def test_a_url_with_credentials_edited_by_hand_stops_every_command(repo: Path, run_artver, name: str, key: str, value: str) -> None:
    path = repo / ".artver" / name
    append(path, f"[remote.origin]\n{key} = {value}\n")
    for command in (["status"], ["remote", "list"], ["remote", "list", "--json"], ["push"], ["ls"]):
        result = run_artver(repo, *command)
        one_line_error(result, f"{path}: remote.origin.{key}")
        assert SECRET not in result.err + result.out, command


def test_a_bad_url_edited_by_hand_names_its_file(repo: Path, run_artver) -> None:
    append(repo / ".artver" / "config", "[remote.origin]\nurl = ftp://host/x\n")
    one_line_error(run_artver(repo, "status"), f"{repo / '.artver' / 'config'}: remote.origin.url", "unsupported URL scheme")


def test_redaction_of_urls_with_credentials() -> None:
    from artver.console import redact
    assert redact(f"cannot connect to http://KEY:{SECRET}@host:9/b/k (refused)") == "cannot connect to http://***@host:9/b/k (refused)"
    assert SECRET not in redact(f"'https://KEY:p@{SECRET}@host/x'")
    assert SECRET not in redact(f"see s3://KEY:{SECRET}/x@bucket/y")
    assert redact("s3://bucket/prefix and /a/b@c and user@example.com") == "s3://bucket/prefix and /a/b@c and user@example.com"


@pytest.mark.parametrize(
    "error",
    [
        RemoteError(f"remote 'origin': cannot connect to http://KEY:{SECRET}@host/"),
        OSError(13, "Permission denied", f"http://KEY:{SECRET}@host/x"),
        ValueError(f"Invalid endpoint: https://KEY:{SECRET}@host"),
    ],
)
def test_no_message_shows_a_url_with_credentials_whatever_raised_it(capsys, error: Exception) -> None:
    def fail() -> None:
        raise error

    code = error_handler.run(fail, verbose=False)
    err = capsys.readouterr().err
    assert code != 0 and SECRET not in err and "***@host" in err


def test_credentials_in_an_environment_endpoint_never_reach_the_output(repo: Path, run_artver, monkeypatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://KEY:{SECRET}@127.0.0.1:9")  # discard port: refused
    run_artver(repo, "remote", "add", "origin", "s3://bucket/x")
    run_artver(repo, "remote", "modify", "origin", "retries", "0")
    (repo / "m.bin").write_bytes(b"model")
    run_artver(repo, "add", "m.bin")
    for command in (["push"], ["push", "--json"]):
        result = run_artver(repo, *command)
        assert result.code == 1 and "Traceback" not in result.err
        assert SECRET not in result.err + result.out, command


# --- numbers: the same check at 'remote modify' and where the value is used ----------------------


BAD_NUMBERS = {
    "jobs": ["0", "-1", "abc", "+3", "1_0", "\u0663", "1e3", "100000", "9" * 5000],
    "retries": ["-1", "abc", "1.5", "\u0663", "100000"],
    "timeout": ["nan", "inf", "-inf", "0", "-5", "abc", "1e400"],
}


def number_cases(keys: tuple[str, ...]) -> list:  # type: ignore[type-arg]
    return [pytest.param(key, value, id=f"{key}-{value[:12]}") for key in keys for value in BAD_NUMBERS[key]]


@pytest.mark.parametrize("key, value", number_cases(("jobs", "retries", "timeout")))
def test_bad_numbers_are_refused_by_remote_modify(repo: Path, run_artver, key: str, value: str) -> None:
    assert run_artver(repo, "remote", "add", "origin", "s3://bucket/x").code == 0
    before = (repo / ".artver" / "config").read_text()
    one_line_error(run_artver(repo, "remote", "modify", "origin", key, "--", value), key)
    assert (repo / ".artver" / "config").read_text() == before


@pytest.mark.parametrize("key, value", number_cases(("jobs", "retries")))
def test_bad_numbers_edited_by_hand_are_refused_where_used(repo: Path, run_artver, monkeypatch, key: str, value: str) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    assert run_artver(repo, "remote", "add", "origin", "s3://bucket/x").code == 0
    append(repo / ".artver" / "config", f"{key} = {value}\n")
    (repo / "m.bin").write_bytes(b"model")
    assert run_artver(repo, "add", "m.bin").code == 0
    one_line_error(run_artver(repo, "push"), f"{repo / '.artver' / 'config'}: remote.origin.{key}", "whole number")


@pytest.mark.parametrize("key, value", [("lock_timeout", "-1"), ("lock_timeout", "\u0663"), ("listing_inline_max", "1e9"), ("lock_timeout", "99999999")])
def test_bad_core_numbers_are_refused(repo: Path, run_artver, key: str, value: str) -> None:
    append(repo / ".artver" / "config", f"{key} = {value}\n")  # the [core] section is the file's last
    one_line_error(run_artver(repo, "status"), f"{repo / '.artver' / 'config'}: core.{key}", "whole number")


@pytest.mark.parametrize("key, value", [("jobs", "64"), ("retries", "0"), ("timeout", "2.5")])
def test_good_numbers_are_accepted(repo: Path, run_artver, key: str, value: str) -> None:
    assert run_artver(repo, "remote", "add", "origin", "s3://bucket/x").code == 0
    assert run_artver(repo, "remote", "modify", "origin", key, value).code == 0


# --- a remote whose URL this revision's committed config lacks ---------------------------------


def test_a_remote_with_local_credentials_but_no_url_says_what_is_missing(repo: Path, run_artver) -> None:
    append(repo / ".artver" / "config.local", f"[core]\nremote = sw\n[remote.sw]\naccess_key_id = k\nsecret_access_key = {SECRET}\n")
    (repo / "m.bin").write_bytes(b"model")
    assert run_artver(repo, "add", "m.bin").code == 0
    for command in (["push"], ["push", "-r", "sw"], ["status", "--cloud"], ["remote", "default", "sw"]):
        result = run_artver(repo, *command)
        one_line_error(result, "remote 'sw' has no URL", ".artver/config.local", "artver remote add sw URL --local")
        assert "configured: sw" not in result.err and SECRET not in result.err
    # The command the message names works.
    assert run_artver(repo, "remote", "add", "sw", str(repo.parent / "store"), "--local").code == 0
    (repo.parent / "store").mkdir()
    assert run_artver(repo, "push").code == 0


def test_an_unknown_remote_is_still_named_as_unknown(repo: Path, run_artver) -> None:
    assert run_artver(repo, "remote", "add", "origin", "s3://bucket/x").code == 0
    one_line_error(run_artver(repo, "push", "-r", "nope"), "no remote named 'nope'", "configured: origin")


def test_warnings_and_json_are_redacted_too(capsys) -> None:
    from artver.console import Output

    Output().warn(f"failed: abc: cannot connect to http://KEY:{SECRET}@host/x")
    Output().json({"error": f"http://KEY:{SECRET}@host/x"})
    captured = capsys.readouterr()
    assert SECRET not in captured.out + captured.err and "http://***@host/x" in captured.err and "http://***@host/x" in captured.out
