"""artver publish against a real registry (the CNCF distribution registry, Debian's docker-registry),
checked with a client artver did not write (skopeo) and with a counting relay between the two."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import xxhash

from artver.oci_digests import FILE_NAME as DIGEST_INDEX
from tests.support.cli import Result, assert_one_line_error
from tests.support.files import object_path, write
from tests.support.git import SUBPROCESS_TIMEOUT, commit_all, git
from tests.support.registry import (
    RegistryServer,
    Relay,
    assert_every_tag_complete,
    registry_request,
    require,
    self_signed,
    start_registry,
    start_relay,
    start_token_service,
    tags,
)

SKOPEO_TIMEOUT = 120
USER, PASSWORD = "ada", "correct horse battery staple"

MODEL_V1 = os.urandom(300_000)
MODEL_V2 = os.urandom(310_000)
DATASET = {
    "train/part-1.bin": os.urandom(70_000),
    "train/part-2.bin": os.urandom(1_000),
    "test/labels.csv": b"id,label\n1,cat\n2,dog\n",
    "empty.txt": b"",
    "run.sh": b"#!/bin/sh\necho hello\n",
    "ünïcode/名前.txt": b"non-ASCII names need PAX headers\n",
    "deep/" + "/".join(["a-rather-long-folder-name"] * 5) + "/file.bin": os.urandom(600),
}
EXECUTABLE = {"run.sh"}


# ------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    server = start_registry(tmp_path_factory.mktemp("registry"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def relay(registry: RegistryServer) -> Iterator[Relay]:
    started = start_relay(registry.host)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def project(repo: Path, run_artver: Callable[..., Result]) -> Path:
    """A repository whose commit tagged v1 has a model file and a dataset folder (HEAD has a newer model)."""
    write(repo / "models" / "model.bin", MODEL_V1)
    for name, data in DATASET.items():
        write(repo / "data" / name, data)
    (repo / "data" / "run.sh").chmod(0o755)
    assert run_artver(repo, "add", "models/model.bin", "--desc", "first model", "--meta", "accuracy=0.91").code == 0
    assert run_artver(repo, "add", "data", "--meta", "modelpack.type=dataset").code == 0
    commit_all(repo, "model and data")
    git(repo, "tag", "v1")
    write(repo / "models" / "model.bin", MODEL_V2)
    assert run_artver(repo, "add", "models/model.bin").code == 0
    commit_all(repo, "second model")
    return repo


def unique(prefix: str = "team") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}/model"


def skopeo(*args: str) -> subprocess.CompletedProcess[str]:
    binary = require("skopeo", "skopeo")
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=SKOPEO_TIMEOUT)


def copy_to_layout(registry: RegistryServer, repository: str, tag: str, target: Path, *extra: str) -> dict[str, object]:
    """skopeo copy to an OCI layout, then check every blob there against its digest; the manifest."""
    tls = "--src-tls-verify=false" if registry.scheme == "http" else f"--src-cert-dir={registry.certificate.parent}"  # type: ignore[union-attr]
    done = skopeo("copy", "--insecure-policy", tls, *extra, f"docker://{registry.host}/{repository}:{tag}", f"oci:{target}:{tag}")
    assert done.returncode == 0, done.stderr
    index = json.loads((target / "index.json").read_text())
    (entry,) = [item for item in index["manifests"] if item["annotations"]["org.opencontainers.image.ref.name"] == tag]
    manifest = json.loads(blob(target, entry["digest"]))
    for descriptor in [manifest["config"], *manifest["layers"]]:
        assert len(blob(target, descriptor["digest"])) == descriptor["size"]
    return manifest


def blob(layout: Path, digest: str) -> bytes:
    data = (layout / "blobs" / "sha256" / digest.split(":")[1]).read_bytes()
    assert "sha256:" + hashlib.sha256(data).hexdigest() == digest, f"blob {digest} does not hash to its name"
    return data


def tar_members(data: bytes) -> tuple[dict[str, bytes], dict[str, int]]:
    files, modes = {}, {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
        for member in archive.getmembers():
            modes[member.name] = member.mode
            assert member.uid == member.gid == member.mtime == 0 and not member.uname
            if member.isfile():
                extracted = archive.extractfile(member)
                assert extracted is not None
                files[member.name] = extracted.read()
    return files, modes


def by_path(manifest: dict[str, object]) -> dict[str, dict[str, object]]:
    return {layer["annotations"]["org.cncf.model.filepath"]: layer for layer in manifest["layers"]}  # type: ignore[index,union-attr]


def publish(run_artver: Callable[..., Result], repo: Path, *args: str) -> Result:
    return run_artver(repo, "publish", *args)


# ------------------------------------------------------------------------------- publish and verify


def test_publish_a_file_and_a_directory_at_a_revision(
    project: Path, registry: RegistryServer, relay: Relay, run_artver: Callable[..., Result], tmp_path: Path
) -> None:
    repository = unique()
    commit = git(project, "rev-parse", "v1").strip()
    result = publish(run_artver, project, f"{relay.host}/{repository}:v1", "--rev", "v1", "--insecure", "--chunk-size", "64KiB")
    assert result.code == 0, result.err
    assert f"Published 2 artifacts of {commit[:8]} (v1)" in result.out
    assert len(relay.requests("PATCH", "/blobs/uploads/")) > 2  # the 300 KB model went in several chunks

    manifest = copy_to_layout(registry, repository, "v1", tmp_path / "layout")
    layout = tmp_path / "layout"
    assert manifest["artifactType"] == "application/vnd.cncf.model.manifest.v1+json"
    assert manifest["annotations"]["org.opencontainers.image.revision"] == commit  # type: ignore[index]
    layers = by_path(manifest)
    assert sorted(layers) == ["data", "models/model.bin"]

    model = layers["models/model.bin"]
    assert model["mediaType"] == "application/vnd.cncf.model.weight.v1.raw"
    assert blob(layout, model["digest"]) == MODEL_V1  # type: ignore[arg-type]  # the v1 bytes, not HEAD's
    assert model["annotations"]["dev.artver.desc"] == "first model"  # type: ignore[index]
    assert model["annotations"]["dev.artver.meta.accuracy"] == "0.91"  # type: ignore[index]
    assert model["annotations"]["dev.artver.hash"] == "xxh128:" + xxhash.xxh3_128_hexdigest(MODEL_V1)  # type: ignore[index]

    data = layers["data"]
    assert data["mediaType"] == "application/vnd.cncf.model.dataset.v1.tar"
    files, modes = tar_members(blob(layout, data["digest"]))  # type: ignore[arg-type]
    assert files == {f"data/{name}": content for name, content in DATASET.items()}
    assert all(modes[f"data/{name}"] == (0o755 if name in EXECUTABLE else 0o644) for name in DATASET)
    assert modes["data"] == modes["data/train"] == 0o755

    config = json.loads(blob(layout, manifest["config"]["digest"]))  # type: ignore[index]
    assert config["modelfs"] == {"type": "layers", "diffIds": [layer["digest"] for layer in manifest["layers"]]}  # type: ignore[union-attr]
    assert config["descriptor"]["revision"] == commit
    assert assert_every_tag_complete(registry, repository) == 1


def test_publish_selected_paths_of_head(project: Path, registry: RegistryServer, run_artver: Callable[..., Result], tmp_path: Path) -> None:
    repository = unique()
    result = publish(run_artver, project, "models/model.bin.art", f"{registry.host}/{repository}:head", "--insecure")
    assert result.code == 0, result.err
    manifest = copy_to_layout(registry, repository, "head", tmp_path / "layout")
    (layer,) = manifest["layers"]  # type: ignore[misc]
    assert blob(tmp_path / "layout", layer["digest"]) == MODEL_V2


def test_second_publish_sends_no_blob(project: Path, registry: RegistryServer, relay: Relay, run_artver: Callable[..., Result]) -> None:
    repository = unique()
    first = publish(run_artver, project, f"{relay.host}/{repository}:v1", "--rev", "v1", "--insecure")
    assert first.code == 0, first.err
    assert relay.blob_body_bytes() >= len(MODEL_V1) + sum(map(len, DATASET.values()))

    relay.reset()
    again = publish(run_artver, project, f"{relay.host}/{repository}:v1", "--rev", "v1", "--insecure")
    assert again.code == 0, again.err
    assert "nothing to send" in again.out
    assert relay.requests(contains="/blobs/") == [] and relay.requests("PUT") == []

    relay.reset()
    other_tag = publish(run_artver, project, f"{relay.host}/{repository}:release", "--rev", "v1", "--insecure")
    assert other_tag.code == 0, other_tag.err
    assert relay.blob_body_bytes() == 0 and relay.requests("POST") == []
    assert [r.path for r in relay.requests("PUT")] == [f"/v2/{repository}/manifests/release"]

    relay.reset()
    elsewhere = unique("other")
    mounted = publish(run_artver, project, f"{relay.host}/{elsewhere}:v1", "--rev", "v1", "--insecure")
    assert mounted.code == 0, mounted.err
    assert relay.blob_body_bytes() == 0
    assert len(relay.requests("POST", "mount=")) == 3  # two layers and the config, mounted from the first repository
    assert assert_every_tag_complete(registry, elsewhere) == 1


def test_a_new_commit_sends_only_the_changed_artifact(project: Path, relay: Relay, run_artver: Callable[..., Result]) -> None:
    repository = unique()
    assert publish(run_artver, project, f"{relay.host}/{repository}:v1", "--rev", "v1", "--insecure").code == 0
    relay.reset()
    result = publish(run_artver, project, f"{relay.host}/{repository}:v2", "--insecure")
    assert result.code == 0, result.err
    config_bytes = sum(r.body_bytes for r in relay.requests("PUT", "/blobs/uploads/"))
    assert len(MODEL_V2) <= relay.blob_body_bytes() <= len(MODEL_V2) + config_bytes
    assert "present" in next(line for line in result.out.splitlines() if " data " in line)


def test_sha256_repository_needs_no_remembered_digest(tmp_path: Path, registry: RegistryServer, relay: Relay,
                                                      run_artver: Callable[..., Result]) -> None:
    root = tmp_path / "sha"
    root.mkdir()
    git(root, "init", "-q")
    assert run_artver(root, "init", "--hash", "sha256").code == 0
    write(root / "model.bin", MODEL_V1)
    assert run_artver(root, "add", "model.bin").code == 0
    commit_all(root, "model")
    repository = unique()
    assert publish(run_artver, root, f"{relay.host}/{repository}:a", "--insecure").code == 0
    (root / ".artver" / "cache" / DIGEST_INDEX).unlink()
    relay.reset()
    assert publish(run_artver, root, f"{relay.host}/{repository}:b", "--insecure").code == 0
    assert relay.blob_body_bytes() == 0  # the object hash is the digest: HEAD, present


def test_a_stale_remembered_digest_is_forgotten_and_the_blob_sent(project: Path, registry: RegistryServer,
                                                                    run_artver: Callable[..., Result], tmp_path: Path) -> None:
    import sqlite3

    repository = unique()
    assert publish(run_artver, project, f"{registry.host}/{repository}:v1", "--rev", "v1", "--insecure").code == 0
    database = sqlite3.connect(project / ".artver" / "cache" / DIGEST_INDEX)
    with database:
        database.execute("UPDATE blobs SET digest = ? WHERE key LIKE 'xxh128:%'", ("sha256:" + "1" * 64,))
    database.close()
    elsewhere = unique("stale")
    result = publish(run_artver, project, f"{registry.host}/{elsewhere}:v1", "--rev", "v1", "--insecure")
    assert result.code == 0, result.err
    manifest = copy_to_layout(registry, elsewhere, "v1", tmp_path / "layout")
    assert blob(tmp_path / "layout", by_path(manifest)["models/model.bin"]["digest"]) == MODEL_V1  # type: ignore[arg-type]


def test_memory_stays_bounded_for_a_large_blob(repo: Path, registry: RegistryServer, run_artver: Callable[..., Result]) -> None:
    block = os.urandom(1024 * 1024)
    size_mib = 192
    with open(repo / "big.bin", "wb") as handle:
        for _ in range(size_mib):
            handle.write(block)
    assert run_artver(repo, "add", "big.bin").code == 0
    commit_all(repo, "big")
    # A child's ru_maxrss starts at the RSS of the process it was forked from (this test run, hundreds of
    # MiB by now), exec or not: so a small wrapper forks artver and reports the ru_maxrss of its own child.
    wrapper = (
        "import os, sys\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    try:\n"
        "        os.execv(sys.executable, [sys.executable, '-m', 'artver', *sys.argv[1:]])\n"
        "    finally:\n"
        "        os._exit(127)\n"
        "_, status, usage = os.wait4(pid, 0)\n"
        "print(usage.ru_maxrss)\n"
        "sys.exit(os.waitstatus_to_exitcode(status))\n"
    )
    done = subprocess.run([sys.executable, "-c", wrapper, "publish", f"{registry.host}/{unique()}:big", "--insecure"],
                          cwd=repo, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT)
    assert done.returncode == 0, done.stderr
    peak_mib = int(done.stdout.strip().splitlines()[-1]) / 1024
    assert peak_mib < size_mib / 2, f"peak RSS {peak_mib:.0f} MiB while publishing a {size_mib} MiB file"


# ------------------------------------------------------------------------------------------ auth, TLS


def docker_config(auth: tuple[str, str], registry: str) -> None:
    """What 'docker login' writes, in the test's (isolated) home directory."""
    encoded = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    write(Path.home() / ".docker" / "config.json", json.dumps({"auths": {registry: {"auth": encoded}}}))


@pytest.fixture(scope="module")
def htpasswd_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    directory = tmp_path_factory.mktemp("htpasswd-registry")
    htpasswd = directory / "htpasswd"
    made = subprocess.run([require("htpasswd", "apache2-utils"), "-B", "-b", "-c", str(htpasswd), USER, PASSWORD],
                          capture_output=True, timeout=SUBPROCESS_TIMEOUT)
    assert made.returncode == 0, made.stderr
    server = start_registry(directory, htpasswd=htpasswd)
    try:
        yield server
    finally:
        server.stop()


def test_htpasswd_registry_refuses_bad_credentials_and_accepts_docker_login(
    project: Path, htpasswd_registry: RegistryServer, run_artver: Callable[..., Result], tmp_path: Path
) -> None:
    repository = unique()
    target = f"{htpasswd_registry.host}/{repository}:v1"
    nobody = publish(run_artver, project, target, "--insecure")
    assert_one_line_error(nobody, "requires a login", f"docker login {htpasswd_registry.host}")

    docker_config((USER, "wrong password"), htpasswd_registry.host)
    refused = publish(run_artver, project, target, "--insecure")
    line = assert_one_line_error(refused, "refused the credentials from", "config.json")
    assert "wrong password" not in line
    assert tags(htpasswd_registry, repository, (USER, PASSWORD)) == []  # nothing half-written

    docker_config((USER, PASSWORD), htpasswd_registry.host)
    accepted = publish(run_artver, project, target, "--insecure")
    assert accepted.code == 0, accepted.err
    manifest = copy_to_layout(htpasswd_registry, repository, "v1", tmp_path / "layout", f"--src-creds={USER}:{PASSWORD}")
    assert blob(tmp_path / "layout", by_path(manifest)["models/model.bin"]["digest"]) == MODEL_V2  # type: ignore[arg-type]


def test_token_auth_with_credentials_from_the_environment(
    project: Path, tmp_path: Path, run_artver: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = start_token_service(tmp_path, USER, PASSWORD)
    server = start_registry(tmp_path / "registry", token=tokens)
    try:
        repository = unique()
        target = f"{server.host}/{repository}:v1"
        anonymous = publish(run_artver, project, target, "--insecure")
        assert_one_line_error(anonymous, "requires a login")

        monkeypatch.setenv("ARTVER_REGISTRY_USERNAME", USER)
        monkeypatch.setenv("ARTVER_REGISTRY_PASSWORD", "not it")
        refused = publish(run_artver, project, target, "--insecure")
        assert_one_line_error(refused, "refused the credentials from ARTVER_REGISTRY_USERNAME/ARTVER_REGISTRY_PASSWORD")

        monkeypatch.setenv("ARTVER_REGISTRY_PASSWORD", PASSWORD)
        accepted = publish(run_artver, project, target, "--insecure")
        assert accepted.code == 0, accepted.err
        assert [f"repository:{repository}:pull,push"] in [query.get("scope") for query in tokens.requests]
        inspected = skopeo("inspect", "--raw", "--tls-verify=false", f"--creds={USER}:{PASSWORD}", f"docker://{target}")
        assert inspected.returncode == 0, inspected.stderr
        assert json.loads(inspected.stdout)["artifactType"] == "application/vnd.cncf.model.manifest.v1+json"
    finally:
        server.stop()
        tokens.stop()


def test_tls_registry_needs_its_certificate_trusted(
    project: Path, tmp_path: Path, run_artver: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    certificate, key = self_signed(tmp_path)
    server = start_registry(tmp_path / "registry", tls=(certificate, key))
    try:
        target = f"{server.host}/{unique()}:v1"
        untrusted = publish(run_artver, project, target)
        assert_one_line_error(untrusted, "TLS failed (certificate verify failed)", "SSL_CERT_FILE")
        monkeypatch.setenv("SSL_CERT_FILE", str(certificate))
        trusted = publish(run_artver, project, target)
        assert trusted.code == 0, trusted.err
        plain = publish(run_artver, project, target, "--insecure")
        assert_one_line_error(plain, "it may want HTTPS (drop --insecure)")
    finally:
        server.stop()


def test_https_to_a_plain_http_registry_suggests_insecure(project: Path, registry: RegistryServer, run_artver: Callable[..., Result]) -> None:
    result = publish(run_artver, project, f"{registry.host}/{unique()}:v1")
    assert_one_line_error(result, "TLS failed", "--insecure")


# ------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("reference", "needle"),
    [
        ("REGISTRY/team/model:bad/tag", "invalid tag 'bad/tag'"),
        ("REGISTRY/team/model:-leading-dash", "invalid tag"),
        ("REGISTRY/team/model:" + "x" * 129, "invalid tag"),
        ("REGISTRY/team/model:tag with space", "invalid tag"),
        ("REGISTRY/Team/Model:v1", "invalid repository name"),
        ("REGISTRY/team//model:v1", "invalid repository name"),
        ("REGISTRY/team/model", "add a tag"),
        ("REGISTRY/team/model@sha256:" + "0" * 64, "needs a tag"),
        ("team/model:v1", "name the registry"),
    ],
)
def test_invalid_reference_is_refused_before_any_request(
    project: Path, relay: Relay, run_artver: Callable[..., Result], reference: str, needle: str
) -> None:
    result = publish(run_artver, project, reference.replace("REGISTRY", relay.host), "--insecure")
    assert result.code == 2
    assert_one_line_error(result, needle)
    assert relay.requests() == []


def test_bad_selection_and_layer_type(project: Path, relay: Relay, run_artver: Callable[..., Result]) -> None:
    target = f"{relay.host}/{unique()}:v1"
    assert_one_line_error(publish(run_artver, project, "nothing-here", target, "--insecure"), "nothing-here: not a tracked artifact at HEAD")
    assert_one_line_error(publish(run_artver, project, target, "--rev", "no-such-rev", "--insecure"), "unknown revision 'no-such-rev'")
    assert_one_line_error(publish(run_artver, project, "--insecure"), "Missing argument '[PATH...] REGISTRY/REPO:TAG'")
    assert_one_line_error(publish(run_artver, project, target, "--chunk-size", "1KiB", "--insecure"), "--chunk-size must be at least")
    assert run_artver(project, "add", "models/model.bin", "--meta", "modelpack.type=weights").code == 0
    commit_all(project, "a layer type that does not exist")
    assert_one_line_error(publish(run_artver, project, target, "--insecure"), "meta.modelpack.type is 'weights'", "weight.config")
    assert relay.requests() == []


def test_objects_missing_from_the_cache_stop_before_any_upload(project: Path, registry: RegistryServer, relay: Relay,
                                                               run_artver: Callable[..., Result]) -> None:
    repository = unique()
    hash_value = "xxh128:" + xxhash.xxh3_128_hexdigest(DATASET["train/part-1.bin"])
    object_path(project, hash_value).unlink()
    result = publish(run_artver, project, f"{relay.host}/{repository}:v1", "--rev", "v1", "--insecure")
    assert_one_line_error(result, "data: object xxh128:", "is not in the local cache; run 'artver fetch --rev v1' first")
    assert relay.requests(contains="/blobs/uploads/") == []
    assert tags(registry, repository) == []


def test_a_corrupt_cache_object_is_quarantined_not_published(project: Path, registry: RegistryServer, relay: Relay,
                                                            run_artver: Callable[..., Result]) -> None:
    repository = unique()
    path = object_path(project, "xxh128:" + xxhash.xxh3_128_hexdigest(MODEL_V1))
    path.chmod(0o644)
    path.write_bytes(b"rotten" + MODEL_V1[6:])
    result = publish(run_artver, project, f"{relay.host}/{repository}:v1", "--rev", "v1", "--insecure")
    assert_one_line_error(result, "was corrupt and has been quarantined", "artver fetch --rev v1")
    assert not path.exists()
    assert relay.requests(contains="/blobs/uploads/") == [] and tags(registry, repository) == []


def test_an_existing_tag_is_moved_only_with_force(project: Path, registry: RegistryServer, run_artver: Callable[..., Result]) -> None:
    repository = unique()
    target = f"{registry.host}/{repository}:stable"
    assert publish(run_artver, project, target, "--rev", "v1", "--insecure").code == 0
    before = registry_request(registry, "HEAD", f"/v2/{repository}/manifests/stable", {"Accept": "application/vnd.oci.image.manifest.v1+json"})
    refused = publish(run_artver, project, target, "--insecure")
    assert_one_line_error(refused, "the tag already points to another manifest", "--force")
    after = registry_request(registry, "HEAD", f"/v2/{repository}/manifests/stable", {"Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert before[1]["Docker-Content-Digest"] == after[1]["Docker-Content-Digest"]
    moved = publish(run_artver, project, target, "--insecure", "--force")
    assert moved.code == 0 and "(tag moved)" in moved.out, moved.err


# ------------------------------------------------------------------------------------------ kills and failures


def test_kill_mid_upload_leaves_no_tag_to_missing_blobs(project: Path, registry: RegistryServer, tmp_path: Path) -> None:
    repository = unique()
    first = subprocess.run([sys.executable, "-m", "artver", "publish", f"{registry.host}/{repository}:stable", "--rev", "v1",
                            "--insecure"], cwd=project, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT)
    assert first.returncode == 0, first.stderr
    before = registry_request(registry, "HEAD", f"/v2/{repository}/manifests/stable", {"Accept": "application/vnd.oci.image.manifest.v1+json"})

    held = start_relay(registry.host, hold_after=len(MODEL_V2) // 2)
    try:
        for tag, extra in (("stable", ["--force"]), ("next", [])):
            held.reset()
            held.held.clear()
            process = subprocess.Popen(
                [sys.executable, "-m", "artver", "publish", f"{held.host}/{repository}:{tag}", "--insecure",
                 "--chunk-size", "64KiB", *extra],
                cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            try:
                assert held.held.wait(timeout=SUBPROCESS_TIMEOUT), "the upload never got half-way"
                os.kill(process.pid, signal.SIGKILL)
            finally:
                process.wait(timeout=SUBPROCESS_TIMEOUT)
            assert process.returncode == -signal.SIGKILL
    finally:
        held.stop()
    after = registry_request(registry, "HEAD", f"/v2/{repository}/manifests/stable", {"Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert after[1]["Docker-Content-Digest"] == before[1]["Docker-Content-Digest"]  # still the complete v1
    assert tags(registry, repository) == ["stable"]
    assert assert_every_tag_complete(registry, repository) == 1

    again = subprocess.run([sys.executable, "-m", "artver", "publish", f"{registry.host}/{repository}:next", "--insecure"],
                           cwd=project, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT)
    assert again.returncode == 0, again.stderr
    manifest = copy_to_layout(registry, repository, "next", tmp_path / "layout")
    assert blob(tmp_path / "layout", by_path(manifest)["models/model.bin"]["digest"]) == MODEL_V2  # type: ignore[arg-type]


def test_a_refused_upload_leaves_no_tag(project: Path, registry: RegistryServer, run_artver: Callable[..., Result]) -> None:
    repository = unique()

    def refuse_commits_of_blobs(method: str, path: str) -> int | None:
        return 400 if method == "PUT" and "/blobs/uploads/" in path else None

    failing = start_relay(registry.host, fail=refuse_commits_of_blobs)
    try:
        result = publish(run_artver, project, f"{failing.host}/{repository}:v1", "--insecure")
    finally:
        failing.stop()
    assert_one_line_error(result, "upload", "HTTP 400 INJECTED")
    assert failing.requests("PUT", "/manifests/") == []
    assert tags(registry, repository) == []


def test_the_git_remote_url_is_published_without_its_credentials(
    project: Path, registry: RegistryServer, run_artver: Callable[..., Result]
) -> None:
    git(project, "remote", "add", "origin", "https://ada:ghp_secret@git.example.com/team/models.git?x=1")
    repository = unique()
    assert publish(run_artver, project, f"{registry.host}/{repository}:v1", "--insecure").code == 0
    inspected = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{registry.host}/{repository}:v1")
    assert inspected.returncode == 0, inspected.stderr
    assert "ghp_secret" not in inspected.stdout
    annotations = json.loads(inspected.stdout)["annotations"]
    assert annotations["org.opencontainers.image.source"] == "https://git.example.com/team/models.git"


# ------------------------------------------------------------------------------------------ units


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ghcr.io/team/model:v1", ("ghcr.io", "team/model", "v1")),
        ("localhost:5000/a/b/c:1.0_rc-1", ("localhost:5000", "a/b/c", "1.0_rc-1")),
        ("127.0.0.1:5000/model:latest", ("127.0.0.1:5000", "model", "latest")),
        ("registry.example.com/a__b/c-d.e:T", ("registry.example.com", "a__b/c-d.e", "T")),
        ("[::1]:5000/model:v1", ("[::1]:5000", "model", "v1")),
    ],
)
def test_references_that_parse(text: str, expected: tuple[str, str, str]) -> None:
    from artver.oci_reference import parse_reference

    parsed = parse_reference(text)
    assert (parsed.registry, parsed.repository, parsed.tag) == expected
    assert str(parsed) == text


def test_docker_hub_answers_at_its_api_host() -> None:
    from artver.oci_reference import parse_reference

    assert parse_reference("docker.io/ada/model:v1").api_host == "registry-1.docker.io"


@pytest.mark.parametrize("text", ["host:99999/model:v1", "bad_host.example/model:v1", "host.example/model:", "host.example/-model:v1"])
def test_references_that_do_not(text: str) -> None:
    from artver.errors import UsageError
    from artver.oci_reference import parse_reference

    with pytest.raises(UsageError):
        parse_reference(text)


def test_credentials_sources_and_their_refusals(tmp_path: Path) -> None:
    from artver.errors import ConfigError
    from artver.oci_credentials import find_credentials

    def config(document: object, name: str = "config.json") -> Path:
        return write(tmp_path / name, json.dumps(document))

    encoded = base64.b64encode(b"ada:s3cret:with:colons").decode()
    config({"auths": {"https://reg.example:5000/v1/": {"auth": encoded}}})
    env = {"DOCKER_CONFIG": str(tmp_path)}
    found = find_credentials("reg.example:5000", env)
    assert found is not None and (found.username, found.password) == ("ada", "s3cret:with:colons")
    assert "s3cret" not in repr(found)
    assert find_credentials("other.example", env) is None

    hub = base64.b64encode(b"hubuser:pw").decode()
    config({"auths": {"https://index.docker.io/v1/": {"auth": hub}}})
    assert find_credentials("docker.io", env).username == "hubuser"  # type: ignore[union-attr]

    podman = config({"auths": {"reg.example:5000": {"username": "bob", "password": "pw2"}}}, "auth.json")
    assert find_credentials("reg.example:5000", {**env, "REGISTRY_AUTH_FILE": str(podman)}).username == "bob"  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="REGISTRY_AUTH_FILE names"):
        find_credentials("reg.example:5000", {**env, "REGISTRY_AUTH_FILE": str(tmp_path / "absent.json")})

    both = {**env, "ARTVER_REGISTRY_USERNAME": "ci", "ARTVER_REGISTRY_PASSWORD": "token"}
    assert find_credentials("reg.example:5000", both).source == "ARTVER_REGISTRY_USERNAME/ARTVER_REGISTRY_PASSWORD"  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="set both"):
        find_credentials("reg.example:5000", {**env, "ARTVER_REGISTRY_USERNAME": "ci"})

    config({"auths": {"reg.example:5000": {}}, "credsStore": "desktop"})
    with pytest.raises(ConfigError, match="docker-credential-desktop', which artver does not run"):
        find_credentials("reg.example:5000", env)
    config({"credHelpers": {"reg.example:5000": "ecr-login"}})
    with pytest.raises(ConfigError, match="docker-credential-ecr-login"):
        find_credentials("reg.example:5000", env)
    config({"auths": {"reg.example:5000": {"auth": "not base64!"}}})
    with pytest.raises(ConfigError, match="not base64") as refused:
        find_credentials("reg.example:5000", env)
    assert "not base64!" not in str(refused.value)
    write(tmp_path / "config.json", "{broken")
    with pytest.raises(ConfigError, match="not valid JSON"):
        find_credentials("reg.example:5000", env)


@pytest.mark.parametrize(
    ("url", "public"),
    [
        ("https://ada:token@github.com/team/repo.git", "https://github.com/team/repo.git"),
        ("https://github.com/team/repo?private=1#x", "https://github.com/team/repo"),
        ("ssh://git@host.example:2222/team/repo.git", "ssh://git@host.example:2222/team/repo.git"),
        ("git@github.com:team/repo.git", "git@github.com:team/repo.git"),
        ("/home/ada/repos/project.git", None),
        ("file:///srv/git/project.git", None),
        (None, None),
    ],
)
def test_public_url(url: str | None, public: str | None) -> None:
    from artver.commands.publish import public_url

    assert public_url(url) == public


@pytest.mark.parametrize("name", ["a", "x" * 99, "x" * 100, "x" * 101, "dir/" + "y" * 120, "ünï/名前", "a b/c"])
@pytest.mark.parametrize("folder", [False, True])
@pytest.mark.parametrize("size", [0, 1, 8**11 - 1, 8**11])
def test_tar_header_length_without_building_it_matches_the_header(name: str, folder: bool, size: int) -> None:
    from artver.modelpack import HeaderPart

    part = HeaderPart(name, 0 if folder else size, 0o755, folder)
    assert part.length == len(part.bytes())
    parsed = tarfile.TarInfo.frombuf(part.bytes()[:512], "utf-8", "strict") if part.length == 512 else None
    if parsed is not None:
        assert parsed.name.rstrip("/") == name and parsed.size == part.size


def test_server_text_in_messages_is_cut_and_flattened() -> None:
    from artver.oci import error_detail, parse_challenge

    assert error_detail(json.dumps({"errors": [{"code": "DENIED", "message": "no\nway\x1b[31m" + "x" * 500}]}).encode()) \
        .startswith("DENIED: no way [31m")
    assert len(error_detail(json.dumps({"errors": [{"code": "X", "message": "y" * 999}]}).encode())) == 200
    assert error_detail(b"<html>not json</html>") == ""
    challenge = parse_challenge(['Basic realm="r"', 'Bearer realm="https://auth.example/token",service="reg",scope="repository:a:pull"'])
    assert challenge is not None and challenge.scheme == "bearer"
    assert (challenge.get("realm"), challenge.get("service")) == ("https://auth.example/token", "reg")
    assert parse_challenge(["Negotiate abc"]) is None


def test_two_artifacts_with_the_same_bytes_are_one_blob(repo: Path, registry: RegistryServer, relay: Relay,
                                                        run_artver: Callable[..., Result], tmp_path: Path) -> None:
    write(repo / "a.bin", MODEL_V1)
    write(repo / "b.bin", MODEL_V1)
    assert run_artver(repo, "add", "a.bin", "b.bin").code == 0
    commit_all(repo, "twins")
    repository = unique()
    result = publish(run_artver, repo, f"{relay.host}/{repository}:v1", "--insecure")
    assert result.code == 0, result.err
    assert len(MODEL_V1) <= relay.blob_body_bytes() < 2 * len(MODEL_V1)
    manifest = copy_to_layout(registry, repository, "v1", tmp_path / "layout")
    digests = {layer["digest"] for layer in manifest["layers"]}  # type: ignore[union-attr]
    assert len(manifest["layers"]) == 2 and len(digests) == 1  # type: ignore[arg-type]
    assert blob(tmp_path / "layout", digests.pop()) == MODEL_V1


def test_the_python_api_returns_what_the_cli_prints(project: Path, registry: RegistryServer) -> None:
    import artver.api as av

    repository = unique()
    result = av.publish(f"{registry.host}/{repository}:v1", paths=["models/model.bin"], rev="v1", repo=project, insecure=True)
    assert (result.tag, result.revision, result.commit) == ("created", "v1", git(project, "rev-parse", "v1").strip())
    (layer,) = result.layers
    assert (layer.path, layer.kind, layer.action, layer.size) == ("models/model.bin", "file", "uploaded", len(MODEL_V1))
    assert layer.digest == "sha256:" + hashlib.sha256(MODEL_V1).hexdigest()
    assert result.uploaded_bytes == len(MODEL_V1)
    again = av.publish(f"{registry.host}/{repository}:v1", paths=["models/model.bin"], rev="v1", repo=project, insecure=True)
    assert (again.tag, again.manifest, again.uploaded_bytes) == ("unchanged", result.manifest, 0)
