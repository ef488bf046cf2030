"""Download links (artver url, api.get_url(expires=...)) against the real storage servers:
the link is fetched with urllib, carrying no credentials of its own."""

from __future__ import annotations

import json
import os
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import artver.api as av
from artver.errors import ObjectNotFoundError, RemoteError, UsageError
from tests.support.cli import assert_one_line_error
from tests.support.git import commit_all, git
from tests.support.remotes import RemoteUnderTest, make_remote

MODEL = b"weights of version 1\n" * 500
MODEL_V2 = b"weights of version 2\n" * 700
LABELS = b"id,label\n1,cat\n"


def _configure(repo: Path, remote: RemoteUnderTest, settings: dict[str, str] | None = None) -> None:
    from artver.commands import remote as remote_commands
    from artver.repo import open_repo

    remote_commands.add(open_repo(repo), "origin", remote.url, default=True)
    for key, value in {**remote.settings, **(settings or {})}.items():
        remote_commands.modify(open_repo(repo), "origin", key, value, local=key == "credentials_path")


def _track(repo: Path, push: bool = True) -> None:
    """model.pt (v1, tagged, then v2) and a tracked directory data/ holding labels.csv."""
    (repo / "model.pt").write_bytes(MODEL)
    (repo / "data").mkdir()
    (repo / "data" / "labels.csv").write_bytes(LABELS)
    av.add(["model.pt", "data"], repo=repo)
    commit_all(repo, "version 1")
    git(repo, "tag", "v1")
    if push:
        av.push(repo=repo)
    (repo / "model.pt").write_bytes(MODEL_V2)
    av.add(["model.pt"], repo=repo)
    commit_all(repo, "version 2")
    if push:
        av.push(repo=repo)


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()  # type: ignore[no-any-return]


@pytest.fixture(params=["local", "s3"])
def remote(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RemoteUnderTest:
    return make_remote(request.param, request, tmp_path, monkeypatch, packed=False)


def test_link_downloads_the_artifact_without_credentials(repo: Path, remote: RemoteUnderTest,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    _configure(repo, remote)
    _track(repo)
    latest = av.get_url("model.pt", repo=repo, expires=600)
    old = av.get_url("model.pt", rev="v1", repo=repo, expires=600)
    inner = av.get_url("data/labels.csv", rev="v1", repo=repo, expires=600)
    if remote.kind == "s3":
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(latest).query)
        assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"] and query["X-Amz-Expires"] == ["600"]
        assert latest.startswith(remote.settings["endpoint_url"] + "/")  # the endpoint, path-style
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            monkeypatch.delenv(name)  # urllib never had them; make sure nothing else could use them
    else:
        assert latest.startswith("file:///")
    assert (_fetch(latest), _fetch(old), _fetch(inner)) == (MODEL_V2, MODEL, LABELS)


def test_storage_url_is_still_available(repo: Path, remote: RemoteUnderTest) -> None:
    _configure(repo, remote)
    _track(repo, push=False)  # no request is made: the object need not be there
    url = av.get_url("model.pt", repo=repo)
    assert url.startswith({"local": "/", "s3": "s3://"}[remote.kind])


def test_s3_refuses_a_tampered_or_unsigned_link(repo: Path, request: pytest.FixtureRequest, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The link works because of its signature (the bucket is not public): without it, or
    with another object's name under the same signature, the store answers 403."""
    remote = make_remote("s3", request, tmp_path, monkeypatch, packed=False)
    _configure(repo, remote)
    _track(repo)
    url = av.get_url("model.pt", repo=repo, expires=600)
    other = av.get_url("model.pt", rev="v1", repo=repo, expires=600)
    tampered = urllib.parse.urlsplit(url)._replace(path=urllib.parse.urlsplit(other).path).geturl()
    for bad in (url.split("?")[0], tampered):
        with pytest.raises(urllib.error.HTTPError) as refused:
            _fetch(bad)
        assert refused.value.code == 403


@pytest.mark.parametrize("seconds", [0, -5, 7 * 24 * 3600 + 1, True, 3.5])
def test_expiry_out_of_range_is_refused_before_any_request(repo: Path, seconds: Any) -> None:
    (repo / "model.pt").write_bytes(MODEL)
    av.add(["model.pt"], repo=repo)  # no remote configured: the check comes first
    with pytest.raises(UsageError, match="expires"):
        av.get_url("model.pt", repo=repo, expires=seconds)


def test_seven_days_is_the_longest_link(repo: Path, request: pytest.FixtureRequest, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    remote = make_remote("s3", request, tmp_path, monkeypatch, packed=False)
    _configure(repo, remote)
    _track(repo)
    url = av.get_url("model.pt", repo=repo, expires=7 * 24 * 3600)
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["X-Amz-Expires"] == ["604800"]
    assert _fetch(url) == MODEL_V2


def test_bad_paths_and_missing_objects(repo: Path, remote: RemoteUnderTest) -> None:
    _configure(repo, remote)
    _track(repo, push=False)
    with pytest.raises(ObjectNotFoundError, match=r"model\.pt: its object xxh128:\w+ is not in remote 'origin'.*artver push"):
        av.get_url("model.pt", repo=repo, expires=60)
    with pytest.raises(UsageError, match="is a tracked directory; name a file inside it"):
        av.get_url("data", repo=repo, expires=60)
    with pytest.raises(UsageError, match=r"data/missing\.csv: not in the tracked directory data at v1 \(it holds: labels\.csv\)"):
        av.get_url("data/missing.csv", rev="v1", repo=repo, expires=60)


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_a_packed_object_has_no_link_and_the_error_says_what_to_do(kind: str, repo: Path, request: pytest.FixtureRequest,
                                                                   tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A small object pushed into a pack has no key of its own: a clear refusal, not a dead link."""
    _configure(repo, make_remote(kind, request, tmp_path, monkeypatch))
    _track(repo)
    for expires in (None, 600):
        with pytest.raises(UsageError, match=r"model\.pt: its object is stored inside a pack .* artver\.api\.open"):
            av.get_url("model.pt", repo=repo, expires=expires)
    with av.open("model.pt", repo=repo) as handle:  # what the message suggests works
        assert handle.read() == MODEL_V2


def test_file_url_quotes_the_path(tmp_path: Path, repo: Path) -> None:
    root = tmp_path / "remote dir #1 %20?"
    root.mkdir()
    _configure(repo, RemoteUnderTest("local", str(root), {"pack": "false"}, None, None, None))  # type: ignore[arg-type]
    _track(repo)
    url = av.get_url("model.pt", repo=repo, expires=60)
    assert " " not in url and "#" not in url and "?" not in url
    assert _fetch(url) == MODEL_V2


# --- the command line -------------------------------------------------------------------------

def test_cli_prints_the_link_alone(repo: Path, request: pytest.FixtureRequest, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch, run_artver) -> None:  # type: ignore[no-untyped-def]
    remote = make_remote("s3", request, tmp_path, monkeypatch, packed=False)
    _configure(repo, remote)
    _track(repo)
    result = run_artver(repo, "-q", "url", "model.pt", "--rev", "v1", "--expires", "2h")
    assert result.code == 0 and result.err == ""
    assert result.out.endswith("\n") and result.out.count("\n") == 1
    url = result.out.strip()
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["X-Amz-Expires"] == ["7200"]
    assert _fetch(url) == MODEL
    shown = json.loads(run_artver(repo, "url", "model.pt", "--json").out)
    assert shown["path"] == "model.pt" and shown["expires_in"] == 3600 and shown["expires_at"]
    assert _fetch(shown["url"]) == MODEL_V2
    inner = json.loads(run_artver(repo / "data", "url", "labels.csv", "--rev", "v1", "--json").out)
    assert inner["path"] == "data/labels.csv" and inner["rev"] == "v1" and _fetch(inner["url"]) == LABELS
    plain = run_artver(repo, "url", "model.pt", "--storage-url")
    assert plain.code == 0 and plain.out.strip().startswith("s3://")
    stored = json.loads(run_artver(repo, "url", "model.pt", "--storage-url", "--json").out)
    assert stored["url"].startswith("s3://") and stored["expires_in"] is None and stored["expires_at"] is None


@pytest.mark.parametrize(("arguments", "needle"), [
    (["--expires", "8d"], "out of range"),
    (["--expires", "0"], "out of range"),
    (["--expires", "soon"], "expected a duration"),
    (["--expires", "1h", "--storage-url"], "exclude each other"),
])
def test_cli_bad_expiry_is_one_line(repo: Path, run_artver, arguments: list[str], needle: str) -> None:  # type: ignore[no-untyped-def]
    (repo / "model.pt").write_bytes(MODEL)
    av.add(["model.pt"], repo=repo)
    assert_one_line_error(run_artver(repo, "url", "model.pt", *arguments), "--expires", needle)


def test_cli_missing_object_is_one_line(repo: Path, tmp_path: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "remote"
    root.mkdir()
    _configure(repo, RemoteUnderTest("local", str(root), {"pack": "false"}, None, None, None))  # type: ignore[arg-type]
    _track(repo, push=False)
    result = run_artver(repo, "url", "model.pt")
    assert_one_line_error(result, "model.pt", "is not in remote 'origin'")
    assert result.out == ""


# --- Google Cloud Storage ---------------------------------------------------------------------

class _TokenHandler(BaseHTTPRequestHandler):
    """An OAuth token endpoint for the generated service account: the GCS client trades the
    signed assertion for an access token before its first request (fake-gcs-server accepts any)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = json.dumps({"access_token": "test-token", "expires_in": 3600, "token_type": "Bearer"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def token_endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TokenHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/token"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _service_account_key(path: Path, token_uri: str) -> Path:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.write_text(json.dumps({
        "type": "service_account", "project_id": "test", "private_key_id": "k1", "private_key": pem.decode(),
        "client_email": "links@test.iam.gserviceaccount.com", "client_id": "1", "token_uri": token_uri,
    }), encoding="utf-8")
    return path


def test_gcs_signed_link(repo: Path, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                         token_endpoint: str) -> None:
    remote = make_remote("gcs", request, tmp_path, monkeypatch, packed=False)
    key_file = _service_account_key(tmp_path / "key.json", token_endpoint)
    _configure(repo, remote, {"credentials_path": str(key_file)})
    _track(repo)
    url = av.get_url("data/labels.csv", rev="v1", repo=repo, expires=900)
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qs(parts.query)
    assert query["X-Goog-Algorithm"] == ["GOOG4-RSA-SHA256"] and query["X-Goog-Expires"] == ["900"]
    assert query["X-Goog-Credential"][0].startswith("links@test.iam.gserviceaccount.com/")
    assert query["X-Goog-SignedHeaders"] == ["host"] and len(query["X-Goog-Signature"][0]) == 512  # RSA-2048, hex
    bucket = remote.url.removeprefix("gs://").split("/")[0]
    assert parts.path.startswith(f"/{bucket}/models/xxh128/")
    assert url.startswith(os.environ["STORAGE_EMULATOR_HOST"].rstrip("/") + "/")  # the client's endpoint: the emulator
    # fake-gcs-server serves /BUCKET/OBJECT only under its "public host" name (by default
    # storage.googleapis.com) and never checks signatures (docs/testing.md): fetching the link
    # with that Host header proves it names the right object, not that the signature is valid.
    request_ = urllib.request.Request(url, headers={"Host": "storage.googleapis.com"})
    with urllib.request.urlopen(request_, timeout=30) as response:
        assert response.read() == LABELS


def test_gcs_credentials_that_cannot_sign(repo: Path, request: pytest.FixtureRequest, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    remote = make_remote("gcs", request, tmp_path, monkeypatch, packed=False)  # the emulator: anonymous credentials
    _configure(repo, remote)
    _track(repo)
    with pytest.raises(RemoteError, match=r"cannot sign download links; use a service-account key file "
                                          r"\('artver remote modify NAME credentials_path KEY\.json --local'\) "
                                          r"or service-account impersonation.*artver\.api\.open") as refused:
        av.get_url("model.pt", repo=repo, expires=60)
    assert "\n" not in str(refused.value)
