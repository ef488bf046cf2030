"""-v on push, fetch and pull shows real detail (the remote and its endpoint, what was decided
per class of object, requests and phase times); -vv one line per request; without -v none
of it (issue 15, item 11)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.cli import Result
from tests.support.git import commit_all
from tests.support.remotes import make_remote


@pytest.fixture(params=[("local", True), ("s3", False)], ids=["local-packed", "s3-whole"])
def project(request: pytest.FixtureRequest, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
            run_artver: Callable[..., Result]) -> tuple[Path, str | None]:
    """A model and a three-file folder with a listing object, and a remote (small objects in
    packs, or every object whole); (root, endpoint)."""
    kind, packed = request.param
    remote = make_remote(kind, request, tmp_path, monkeypatch, packed=packed)
    assert run_artver(repo, "remote", "add", "o", remote.url, "--default").code == 0
    for key, value in remote.settings.items():
        assert run_artver(repo, "config", f"remote.o.{key}", value).code == 0
    assert run_artver(repo, "config", "core.listing_inline_max", "1").code == 0
    (repo / "m.bin").write_bytes(b"model" * 100)
    (repo / "d").mkdir()
    for index in range(3):
        (repo / "d" / f"f{index}").write_bytes(f"file {index}".encode())
    assert run_artver(repo, "add", "m.bin", "d").code == 0
    commit_all(repo, "data")
    return repo, remote.settings.get("endpoint_url")


def test_verbose_push_and_fetch_say_what_was_decided(project, run_artver) -> None:
    repo, endpoint = project
    quiet = run_artver(repo, "push")
    assert quiet.code == 0 and "needed" not in quiet.err and "request" not in quiet.err, quiet.err
    # (the objects are now in the remote: the next push decides to skip them all)
    verbose = run_artver(repo, "-v", "push")
    assert verbose.code == 0, verbose.err
    assert "artver: remote: remote 'o' (" in verbose.err
    if endpoint:
        assert f"endpoint {endpoint}" in verbose.err
    assert "5 object(s) needed: 5 already there, 0 uploaded, 0 failed" in verbose.err, verbose.err
    assert re.search(r"time: [0-9.]+ s in all; deciding what to upload", verbose.err)
    assert "request: " not in verbose.err

    for path in (repo / ".artver" / "cache").rglob("*"):
        if path.is_file():
            path.chmod(0o644)
            path.unlink()
    fetched = run_artver(repo, "-v", "fetch")
    assert fetched.code == 0, fetched.err
    assert "5 object(s) needed: 0 already there, 5 downloaded, 0 failed" in fetched.err, fetched.err
    assert "file objects: 4 needed, 4 downloaded" in fetched.err
    assert "directory listings: 1 needed, 1 downloaded" in fetched.err
    if endpoint:  # whole objects: one download each
        assert re.search(r"download: 5 request\(s\) in [0-9.]+ s", fetched.err), fetched.err
    else:  # the listing whole, the four files in one ranged read of their pack
        assert re.search(r"download: 1 request\(s\) in [0-9.]+ s", fetched.err), fetched.err
        assert re.search(r"read_range: [0-9]+ request\(s\) in [0-9.]+ s", fetched.err), fetched.err
    assert "Fetching from remote 'o'" in fetched.err


def test_very_verbose_shows_each_request(project, run_artver) -> None:
    repo, _ = project
    traced = run_artver(repo, "push", "-vv")
    assert traced.code == 0, traced.err
    uploads = [line for line in traced.err.splitlines() if line.startswith("artver: request: upload ")]
    if any("packs/" in line for line in uploads):  # marker, pack, its index, listing
        assert [line.split(" ")[3].split("/")[0] for line in uploads] == ["artver-format", "packs", "index", "xxh128"], uploads
    else:
        assert len(uploads) == 5, traced.err
    assert "uploaded" in traced.err and "file objects: 4 needed, 4 uploaded" in traced.err
