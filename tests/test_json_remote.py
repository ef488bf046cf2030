"""JSON `remote` fields are {"name", "url"} objects; the old human string stays one release
as the deprecated `remote_text` (docs/json.md, "Changes to the contract")."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from artver import api
from artver.console import Output
from artver.remote_label import RemoteLabel
from tests.support.cli import Result
from tests.support.git import commit_all

REMOTE = {"name": "o", "url": "../remote"}
TEXT = "remote 'o' (../remote)"


@pytest.fixture
def pushed(repo: Path, tmp_path: Path, run_artver: Callable[..., Result]) -> Path:
    (tmp_path / "remote").mkdir()
    assert run_artver(repo, "remote", "add", "o", "../remote", "--default").code == 0
    (repo / "m.bin").write_bytes(b"model")
    assert run_artver(repo, "add", "m.bin").code == 0
    commit_all(repo, "m")
    return repo


def _json(run_artver: Callable[..., Result], repo: Path, *args: str) -> dict:
    result = run_artver(repo, *args, "--json")
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_every_remote_field_is_a_name_and_url_object(pushed: Path, run_artver) -> None:
    push = _json(run_artver, pushed, "push")
    assert push["remote"] == REMOTE and push["remote_text"] == TEXT
    fetch = _json(run_artver, pushed, "fetch")
    assert fetch["remote"] == REMOTE and fetch["remote_text"] == TEXT
    pull = _json(run_artver, pushed, "pull")
    assert pull["fetch"]["remote"] == REMOTE and pull["fetch"]["remote_text"] == TEXT
    verify = _json(run_artver, pushed, "verify", "-r", "o")
    assert verify["remote"] == REMOTE and verify["remote_text"] == TEXT
    gc = _json(run_artver, pushed, "gc", "-w", "--cloud", "--dry-run")
    assert gc["remote"] == REMOTE and gc["remote_text"] == TEXT
    local_gc = _json(run_artver, pushed, "gc", "-w")
    assert local_gc["remote"] is None and local_gc["remote_text"] is None


def test_the_human_output_and_the_api_keep_the_text(pushed: Path, run_artver) -> None:
    assert TEXT in run_artver(pushed, "push").out
    summary = api.push(repo=pushed)
    assert summary.remote == TEXT and isinstance(summary.remote, str)
    assert isinstance(summary.remote, RemoteLabel) and (summary.remote.name, summary.remote.url) == ("o", "../remote")


def test_credentials_never_reach_the_json(capsys: pytest.CaptureFixture[str]) -> None:
    """Config refuses a URL with credentials; the JSON is redacted as a whole anyway."""
    from dataclasses import dataclass

    @dataclass
    class Result_:
        remote: RemoteLabel

    Output().json(Result_(RemoteLabel("o", "s3://AKIA:secret@host/bucket")))
    out = capsys.readouterr().out
    assert "secret" not in out and "AKIA" not in out
    document = json.load(io.StringIO(out))
    assert document["remote"]["name"] == "o" and "***@host/bucket" in document["remote"]["url"]
