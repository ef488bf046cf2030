"""artver config KEY [VALUE] [--local|--user] [--unset]: the settings that needed a hand-edited
file, with the checks 'remote modify' makes (docs/configuration.md, "Changing settings")."""

from __future__ import annotations

import configparser
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.cli import Result, assert_one_line_error


def _file(path: Path) -> dict[str, dict[str, str]]:
    parser = configparser.RawConfigParser()
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keep keys as written, like artver does
    parser.read(path)
    return {section: dict(parser.items(section)) for section in parser.sections()}


@pytest.fixture
def with_remote(repo: Path, tmp_path: Path, run_artver: Callable[..., Result]) -> Path:
    (tmp_path / "store").mkdir()
    assert run_artver(repo, "remote", "add", "o", "../store").code == 0
    assert run_artver(repo, "remote", "add", "sw", "../store").code == 0
    return repo


def test_set_and_print_core_remote(with_remote: Path, run_artver) -> None:
    repo = with_remote
    assert run_artver(repo, "config", "core.remote").out == "o\n"
    result = run_artver(repo, "config", "core.remote", "sw")
    assert result.code == 0 and "Set core.remote = sw in .artver/config." in result.out, result
    assert _file(repo / ".artver" / "config")["core"]["remote"] == "sw"
    assert run_artver(repo, "config", "core.remote").out == "sw\n"
    assert_one_line_error(run_artver(repo, "config", "core.remote", "nope"), "no remote named 'nope'")


def test_local_and_user_scopes(with_remote: Path, run_artver, tmp_path: Path) -> None:
    repo = with_remote
    assert run_artver(repo, "config", "cache.link", "hardlink", "--local").code == 0
    assert _file(repo / ".artver" / "config.local")["cache"]["link"] == "hardlink"
    assert "cache" not in _file(repo / ".artver" / "config")
    verbose = run_artver(repo, "-v", "config", "cache.link")
    assert verbose.out.splitlines()[0] == "hardlink" and "config.local" in verbose.out
    # cache.dir: never the committed file; --local or --user
    refused = assert_one_line_error(run_artver(repo, "config", "cache.dir", str(tmp_path / "c")), "--local", "--user")
    assert "never written to the committed config" in refused
    assert "cache" not in _file(repo / ".artver" / "config")
    assert run_artver(repo, "config", "cache.dir", str(tmp_path / "shared"), "--user").code == 0
    user_file = Path.home() / ".config" / "artver" / "config"
    assert _file(user_file) == {"cache": {"dir": str(tmp_path / "shared")}}
    assert run_artver(repo, "config", "cache.dir").out == f"{tmp_path / 'shared'}\n"
    assert_one_line_error(run_artver(repo, "config", "core.remote", "o", "--user"), "user config", "core.remote")
    # a committed value that a local one overrides: the message says so
    assert run_artver(repo, "config", "cache.link", "copy").code == 0
    shadowed = run_artver(repo, "config", "cache.link", "copy")
    assert "still hardlink" in shadowed.out and "overrides it" in shadowed.out
    assert run_artver(repo, "config", "cache.link", "--unset", "--local").code == 0
    assert run_artver(repo, "config", "cache.link").out == "copy\n"


def test_unset_prints_nothing_and_exits_1(repo: Path, run_artver) -> None:
    result = run_artver(repo, "config", "cache.link")
    assert result.code == 1 and result.out == ""
    assert "cache.link is not set (default: reflink,copy)" in result.err
    document = json.loads(run_artver(repo, "config", "core.lock_timeout", "--json").out)
    assert document["value"] is None and document["default"] == "10"


@pytest.mark.parametrize(("args", "needles"), [
    (("core.lock_timeout", "999999"), ("core.lock_timeout", "0 to 86400")),
    (("core.listing_inline_max", "1e3"), ("core.listing_inline_max", "whole number")),
    (("cache.link", "teleport"), ("cache.link", "reflink, copy, hardlink, symlink")),
    (("core.hash", "sha256"), ("core.hash", "cannot be changed", "artver init --hash")),
    (("foo.bar", "1"), ("unknown setting 'foo.bar'", "core.remote", "cache.dir", "remote.NAME.{")),
    (("remote.o.colour", "1"), ("unknown setting 'remote.o.colour'",)),
    (("remote.o.jobs", "0"), ("remote.o.jobs", "1 to 256")),
    (("remote.o.secret_access_key", "x"), ("secret", "--local")),
    (("remote.o.profile", "p"), ("never written to the committed config", "--local")),
    (("core.remote", "o", "--unset"), ("either a VALUE or --unset",)),
], ids=lambda value: "-".join(value) if isinstance(value, tuple) else value)
def test_bad_settings_are_refused_in_one_line_and_nothing_is_written(with_remote: Path, run_artver, args, needles) -> None:
    repo = with_remote
    before = {name: (repo / ".artver" / name).read_bytes() if (repo / ".artver" / name).exists() else None
              for name in ("config", "config.local")}
    assert_one_line_error(run_artver(repo, "config", *args), *needles)
    after = {name: (repo / ".artver" / name).read_bytes() if (repo / ".artver" / name).exists() else None
             for name in ("config", "config.local")}
    assert after == before


def test_remote_settings_go_through_remote_modify(with_remote: Path, run_artver) -> None:
    repo = with_remote
    assert run_artver(repo, "config", "remote.o.jobs", "8").code == 0
    assert _file(repo / ".artver" / "config")["remote.o"]["jobs"] == "8"
    assert run_artver(repo, "config", "remote.o.secret_access_key", "s3cr3t", "--local").code == 0
    shown = run_artver(repo, "config", "remote.o.secret_access_key")
    assert shown.out == "(set)\n" and "s3cr3t" not in shown.out + shown.err
    assert run_artver(repo, "config", "remote.o.jobs", "--unset").code == 0
    assert "jobs" not in _file(repo / ".artver" / "config")["remote.o"]
