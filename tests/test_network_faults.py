"""artver push and pull through a fault-injecting proxy, against SeaweedFS (S3) and fake-gcs-server (GCS).

Under faults (resets, refusals, stalls, truncated responses, latency) a
command must either succeed or fail with a clear message (exit 1, no
traceback, and since every fault here is transient: only "gave up after N
attempts" failures). Nothing partial may be visible: every object in the
bucket, read directly (bypassing the proxy), hashes to its key; every object
in the clone's cache hashes to its name; every workspace file is absent or
exact. After healing the proxy the same command completes.

Two kinds of tests:

* random faults from a few seeds (``test_push_under_random_faults``,
  ``test_pull_under_random_faults``) with a 3 MB model and 30 small files;
* one precise fault each (``test_pull_recovers_from`` / ``test_push_recovers_from``):
  a response cut inside its headers, cut in its body, a stall past the timeout.
  With 8 retries and at most 3 such faults the command must succeed;
* a remote that refuses every connection: push must give up, clearly, within
  seconds (``test_unreachable_remote_fails_fast_and_clearly``).

artver runs as a subprocess here (with a timeout), so a hang is a failure
rather than a stuck test run. The faults are random but reproducible from the
seed given the same order of connections (artver's parallel transfers can
change that order; see tests/support/faultproxy.py). What the proxy did is attached
to each test's report (shown on failure, or with -rA).
"""

from __future__ import annotations

import dataclasses
import os
import random
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import xxhash

from tests.support.cli import Result, run_artver_process
from tests.support.faultproxy import FaultPlan, Proxy, ProxyStats
from tests.support.git import commit_all, git
from tests.support.remotes import gcs_client, s3_bucket, s3_client

KINDS = ["s3", "gcs"]
# The default run takes the first seed of each list; the others are marked slow (run with
# -m slow). More with e.g. ARTVER_FAULT_SEEDS=11,22,33,44 (each seed adds a push and a pull
# test per store).


def _seeds(variable: str, default: str) -> list[object]:
    seeds = [int(seed) for seed in os.environ.get(variable, default).split(",") if seed.strip()]
    return seeds[:1] + [pytest.param(seed, marks=pytest.mark.slow) for seed in seeds[1:]]


SEEDS = _seeds("ARTVER_FAULT_SEEDS", "11,22")
RUN_TIMEOUT = 60  # seconds for one artver command; more is a hang as far as these tests go
MODEL_SIZE = 3_000_000
SMALL_FILES = 30
PACKED_FILES = 200  # ~2 MB of small files: more than one pack of 1 MiB
RETRIES = "8"
TIMEOUT = "5"
OBJECT_KEY = re.compile(r"xxh128/([0-9a-f]{2})/([0-9a-f]{30})")
PACKED_KEY = re.compile(r"(packs|index)/([0-9a-f]{32})")

# Byte thresholds are log-uniform, so faults land in headers, small bodies and the 3 MB
# model alike. Uploads: resets cut request bodies; responses to PUT/HEAD are a few
# hundred bytes each, so truncation points there are small. Stalls stay well under
# the 5 s timeout (a stall past it is a separate test).
PUSH_FAULTS = FaultPlan(
    refuse=0.05,
    reset=0.25, reset_after=(0, MODEL_SIZE), reset_direction="up",
    stall=0.08, stall_after=(0, 200_000), stall_seconds=1.0,
    truncate=0.12, truncate_after=(0, 3_000),
    latency=0.001, spread="log",
    max_faults=12,
)
# Downloads: resets and truncations cut response bodies (and sometimes headers).
PULL_FAULTS = FaultPlan(
    refuse=0.05,
    reset=0.2, reset_after=(0, MODEL_SIZE), reset_direction="down",
    stall=0.08, stall_after=(0, 200_000), stall_seconds=1.0,
    truncate=0.15, truncate_after=(0, MODEL_SIZE),
    latency=0.001, spread="log",
    max_faults=12,
)

# Packs move the same bytes over very few connections (a connection carries many requests),
# so with the per-connection odds above a run could see no fault at all: nearly every
# connection gets one here.
PACKED_PUSH_FAULTS = dataclasses.replace(PUSH_FAULTS, refuse=0.1, reset=0.45, stall=0.1, truncate=0.3)
PACKED_PULL_FAULTS = dataclasses.replace(PULL_FAULTS, refuse=0.1, reset=0.45, stall=0.1, truncate=0.3)

# A pull from packs opens a connection or two: seeds whose first draws are faults (the
# same seeds always draw the same, so this is stable; "no fault fired" fails a seed that does not).
PACKED_SEEDS = _seeds("ARTVER_PACKED_FAULT_SEEDS", "12,23")

# One precise fault (a few times at most) at a time, with a small project.
SMALL_MODEL = 300_000
STALL_TIMEOUT = "1"  # remote timeout for the stall tests, so that they stay quick
PULL_CASES = {
    # The response stops 40 bytes in, inside its headers, with a clean FIN: to an HTTP
    # client it can look complete, with an empty body (no Content-Length was read).
    "response-cut-in-headers": FaultPlan(truncate=1.0, truncate_after=(40, 40), max_faults=3),
    # The response stops (clean FIN) 6000 bytes in, in the body, short of its Content-Length.
    "response-cut-in-body": FaultPlan(truncate=1.0, truncate_after=(6_000, 6_000), max_faults=2),
    # Nothing arrives for 2 s, longer than the remote's timeout (1 s here).
    "stall-past-timeout": FaultPlan(stall=1.0, stall_after=(0, 0), stall_direction="down", stall_seconds=2.0, max_faults=1),
}
PUSH_CASES = {
    # The response to the model's upload (the only request over 250 kB) is cut inside
    # its headers: the object is stored, the client cannot read the answer.
    "upload-response-cut-in-headers": FaultPlan(
        truncate=1.0, truncate_after=(40, 40), armed_after_up=250_000, max_faults=2
    ),
}
# (Uploads reset half-way are covered by the random tests: several per run.)


# ----------------------------------------------------------------------- fixtures
# (the proxies in front of the servers, s3_proxy and gcs_proxied, are in tests/support/server_fixtures.py)


@dataclass
class Target:
    """A fresh bucket behind the proxy, and direct (proxy-free) access to what it holds."""

    kind: str
    proxy: Proxy
    url: str  # the artver remote URL
    settings: dict[str, str]  # artver remote settings
    env: dict[str, str]  # for the artver process
    prefix: str
    list_all: Callable[[], list[str]]  # every key in the bucket, whatever its prefix
    get: Callable[[str], bytes]  # full key -> bytes
    put: Callable[[str, bytes], None]  # full key, bytes
    node: pytest.Item  # the running test, to attach what the faults did to its report


_buckets = iter(range(10**6))


@pytest.fixture(params=KINDS)
def target(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Target]:
    number = next(_buckets)
    if request.param == "s3":
        server = request.getfixturevalue("s3_server")
        proxy = request.getfixturevalue("s3_proxy")
        client = s3_client(server)  # straight to SeaweedFS
        bucket = s3_bucket(request, client, f"faults-{number}")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", server.access_key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", server.secret_key)
        monkeypatch.setenv("AWS_DEFAULT_REGION", server.region)
        prefix = "team/artifacts"

        def s3_list() -> list[str]:
            pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            return sorted(item["Key"] for page in pages for item in page.get("Contents", ()))

        made = Target(
            "s3", proxy, f"s3://{bucket}/{prefix}", {"endpoint_url": proxy.url}, {}, prefix,
            s3_list, lambda key: client.get_object(Bucket=bucket, Key=key)["Body"].read(),
            lambda key, data: client.put_object(Bucket=bucket, Key=key, Body=data), request.node,
        )
    else:
        server, proxy = request.getfixturevalue("gcs_proxied")
        client = gcs_client(server)  # api_endpoint = the server itself, not the proxy
        bucket_name = f"faults-{number}"
        bucket = client.create_bucket(bucket_name)
        prefix = "models"
        made = Target(
            "gcs", proxy, f"gs://{bucket_name}/{prefix}", {}, {"STORAGE_EMULATOR_HOST": proxy.url}, prefix,
            lambda: sorted(blob.name for blob in client.list_blobs(bucket_name)),
            # a fresh Blob has no media_link (which would point at the proxy, the -external-url)
            lambda key: bucket.blob(key).download_as_bytes(),
            lambda key, data: bucket.blob(key).upload_from_string(data), request.node,
        )
    proxy.heal()
    try:
        yield made
    finally:
        proxy.heal()


# ------------------------------------------------------------------------ helpers


def make_project(root: Path, seed: int, model_size: int = MODEL_SIZE, small_files: int = SMALL_FILES) -> dict[str, bytes]:
    rng = random.Random(seed)
    files = {"model.pt": rng.randbytes(model_size)}
    for index in range(small_files):
        files[f"data/part-{index:02d}.bin"] = rng.randbytes(rng.randint(100, 20_000))
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return files


def configure(run_artver: Callable[..., Result], root: Path, target: Target, timeout: str = TIMEOUT) -> None:
    steps = [("remote", "add", "origin", target.url, "--default")]
    steps += [("remote", "modify", "origin", key, value) for key, value in target.settings.items()]
    steps += [("remote", "modify", "origin", "retries", RETRIES), ("remote", "modify", "origin", "timeout", timeout)]
    for step in steps:
        result = run_artver(root, *step)
        assert result.code == 0, (step, result.err)


def tracked_repo(
    repo: Path, target: Target, seed: int, run_artver: Callable[..., Result], *,
    model_size: int = MODEL_SIZE, small_files: int = SMALL_FILES, timeout: str = TIMEOUT,
) -> dict[str, bytes]:
    files = make_project(repo, seed, model_size, small_files)
    result = run_artver(repo, "add", "model.pt", "data")
    assert result.code == 0, result.err
    configure(run_artver, repo, target, timeout)
    commit_all(repo, "model and data")
    return files


def store_directly(repo: Path, target: Target) -> None:
    """Put into the bucket what a push would store, bypassing the proxy (quicker than a push)."""
    for key in cache_keys(repo):
        target.put(f"{target.prefix}/{key}", (repo / ".artver" / "cache" / key).read_bytes())


def artver(cwd: Path, target: Target, *args: str, timeout: float = RUN_TIMEOUT) -> Result:
    started = time.monotonic()
    before = target.proxy.stats()
    try:
        result = run_artver_process(cwd, *args, env=target.env, timeout=timeout)
    except subprocess.TimeoutExpired as error:
        pytest.fail(
            f"'artver {' '.join(args)}' did not finish within {timeout:g} s against {target.kind} "
            f"(proxy meanwhile: {target.proxy.stats().since(before)}); stderr so far: {error.stderr!r}"
        )
    target.node.add_report_section("call", "timing", f"artver {' '.join(args)}: {time.monotonic() - started:.1f} s")
    return result


def under_faults(
    target: Target, plan: FaultPlan, seed: int, cwd: Path, *args: str, timeout: float = RUN_TIMEOUT
) -> tuple[Result, ProxyStats]:
    before = target.proxy.stats()
    started = time.monotonic()
    target.proxy.set_plan(plan, seed)
    try:
        result = artver(cwd, target, *args, timeout=timeout)
    finally:
        stats = target.proxy.stats().since(before)
        target.proxy.heal()
    target.node.add_report_section(
        "call", "fault proxy",
        f"{target.kind}: artver {' '.join(args)} under seed {seed}: exit {result.code} after "
        f"{time.monotonic() - started:.1f} s; {stats}\nstderr:\n{result.err}",
    )
    return result, stats


def assert_clean_outcome(result: Result, what: str) -> None:
    """Exit 0, or exit 1 with artver's own one-line messages, each failure a transient one retried to the end.

    Every fault the proxy injects is transient and the object store itself is
    sound, so the only right reason to fail is running out of retries; a
    failure reported as anything else (corruption, a parser message) is a
    misdiagnosis that also skipped the retries.
    """
    context = f"{what}: exit {result.code}\nstdout:\n{result.out}\nstderr:\n{result.err}"
    assert "Traceback" not in result.err and "Traceback" not in result.out, context
    assert "internal error" not in result.err, context
    assert result.code in (0, 1), context
    if result.code == 1:
        lines = result.err.strip().splitlines()
        assert lines, context
        for line in lines:
            assert line.startswith("artver: "), context
            assert len(line) < 600, context
        failures = [line for line in lines if "failed:" in line or "error:" in line]
        assert failures, context
        for line in failures:
            assert "gave up after" in line, f"a transient network fault was not retried, or was misreported:\n{context}"


def xxh128(data: bytes) -> str:
    return xxhash.xxh3_128(data).hexdigest()


def assert_remote_intact(target: Target) -> set[str]:
    """Every object in the bucket sits under the key its content hashes to (whole objects, packs,
    indexes), and every member an index lists is intact in its pack; returns the keys (without
    prefix) of the objects held, whole or packed, in the cache's layout."""
    before = target.proxy.stats()
    keys = set()
    contents: dict[str, bytes] = {}
    for full_key in target.list_all():
        assert full_key.startswith(target.prefix + "/"), f"stray object {full_key!r} in the bucket"
        key = full_key[len(target.prefix) + 1 :]
        data = target.get(full_key)
        if key == "artver-format":
            assert data == b"artver remote format 3\n", f"partial format marker: {data!r}"
            continue
        packed = PACKED_KEY.fullmatch(key)
        if packed:
            assert xxh128(data) == packed[2], f"partial or corrupt {key} visible under its final key ({len(data)} bytes)"
            contents[key] = data
            continue
        match = OBJECT_KEY.fullmatch(key)
        assert match, f"object {full_key!r} does not follow the layout <prefix>/xxh128/<2 hex>/<30 hex>"
        assert xxh128(data) == match[1] + match[2], (
            f"partial or corrupt object visible under its final key: {full_key} ({len(data)} bytes)"
        )
        keys.add(key)
    for key, data in contents.items():
        if not key.startswith("index/"):
            continue
        pack = b""
        listed: list[bytes] = []  # index format 2 names a pack by its place among the pack lines
        header, *lines = data.decode().splitlines()
        for line in lines:
            if line.startswith("pack "):
                assert f"packs/{line[5:]}" in contents, f"{key} lists a pack the remote lacks"
                pack = contents[f"packs/{line[5:]}"]
                listed.append(pack)
                continue
            if header == "artver pack index 2":
                hash_value, number, offset, length = line.split(" ")
                pack = listed[int(number)]
            else:
                hash_value, offset, length = line.split(" ")
            digest = hash_value.split(":")[1]
            assert xxh128(pack[int(offset):int(offset) + int(length)]) == digest, f"{key}: member {hash_value} is damaged"
            keys.add(f"xxh128/{digest[:2]}/{digest[2:]}")
    after = target.proxy.stats()
    # Requests are what matters: a response the proxy stalled earlier may still drain downstream.
    assert after.bytes_up == before.bytes_up, "the check went through the proxy"
    return keys


def cache_keys(root: Path) -> set[str]:
    cache = root / ".artver" / "cache"
    return {path.relative_to(cache).as_posix() for path in (cache / "xxh128").rglob("*") if path.is_file()}


def assert_cache_intact(root: Path) -> None:
    cache = root / ".artver" / "cache"
    for key in cache_keys(root):
        match = OBJECT_KEY.fullmatch(key)
        assert match, f"unexpected file in the cache: {key}"
        data = (cache / key).read_bytes()
        assert xxh128(data) == match[1] + match[2], f"cache file {key} ({len(data)} bytes) does not hash to its name"


def assert_workspace_clean(root: Path, files: dict[str, bytes]) -> list[str]:
    """Every workspace file is Git's, or one of ``files`` with exactly its bytes; returns the missing ones."""
    in_git = set(git(root, "ls-files", "-z").split("\0")) - {""}
    for path in root.rglob("*"):
        relative = path.relative_to(root).as_posix()
        if relative.split("/")[0] in (".git", ".artver") or not path.is_file() or relative in in_git:
            continue
        assert relative in files, f"unexpected file in the workspace (a temp file left behind?): {relative}"
        assert path.read_bytes() == files[relative], f"partial or wrong workspace file: {relative}"
    return sorted(name for name in files if not (root / name).exists())


def clone(source: Path, tmp_path: Path) -> Path:
    target = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(source), str(target))
    return target


def check_push(repo: Path, target: Target, result: Result, stats: ProxyStats, what: str, heal_anyway: bool = True) -> None:
    """After a push under faults: a clean outcome, nothing partial; after healing, everything there.

    With ``heal_anyway=False`` a push that succeeded under faults is not run again.
    """
    assert stats.faults_injected > 0, f"{what}: no fault fired, so the test proved nothing ({stats})"
    remote = assert_remote_intact(target)
    if result.code == 0:
        assert remote == cache_keys(repo), f"{what}: push said it succeeded but objects are missing"
    assert_clean_outcome(result, what)
    if result.code == 0 and not heal_anyway:
        return
    healed = artver(repo, target, "push")
    assert healed.code == 0, f"{what}: push after healing: {healed.err}"
    assert "Traceback" not in healed.err
    assert assert_remote_intact(target) == cache_keys(repo)


def check_pull(repo: Path, other: Path, target: Target, files: dict[str, bytes], result: Result, stats: ProxyStats,
               what: str, run_artver: Callable[..., Result], heal_anyway: bool = True) -> None:
    """After a pull under faults: a clean outcome, nothing partial; after healing, every byte in place.

    With ``heal_anyway=False`` a pull that succeeded under faults is not run again.
    """
    assert stats.faults_injected > 0, f"{what}: no fault fired, so the test proved nothing ({stats})"
    assert_cache_intact(other)
    missing = assert_workspace_clean(other, files)
    if result.code == 0:
        assert not missing, f"{what}: pull said it succeeded but {missing} are missing"
        assert run_artver(other, "status", "--check").code == 0, f"{what}: pull said it succeeded"
    assert_clean_outcome(result, what)
    if result.code == 0 and not heal_anyway:
        return
    healed = artver(other, target, "pull")
    assert healed.code == 0, f"{what}: pull after healing: {healed.err}"
    assert_cache_intact(other)
    assert assert_workspace_clean(other, files) == []
    assert cache_keys(other) == cache_keys(repo)
    assert run_artver(other, "status", "--check").code == 0


# -------------------------------------------------------------------------- tests


@pytest.mark.parametrize("seed", SEEDS)
def test_push_under_random_faults(repo: Path, target: Target, seed: int, run_artver: Callable[..., Result]) -> None:
    """Small files go up in packs of at most 1 MiB (several packs, then their indexes)."""
    tracked_repo(repo, target, seed, run_artver, small_files=PACKED_FILES)
    assert run_artver(repo, "remote", "modify", "origin", "pack_size", str(1024 * 1024)).code == 0
    result, stats = under_faults(target, PACKED_PUSH_FAULTS, seed, repo, "push")
    check_push(repo, target, result, stats, f"{target.kind} push under faults (seed {seed})")


@pytest.mark.parametrize("seed", SEEDS)
def test_push_of_whole_objects_under_random_faults(repo: Path, target: Target, seed: int, run_artver: Callable[..., Result]) -> None:
    tracked_repo(repo, target, seed, run_artver)
    assert run_artver(repo, "remote", "modify", "origin", "pack", "false").code == 0
    result, stats = under_faults(target, PUSH_FAULTS, seed, repo, "push")
    check_push(repo, target, result, stats, f"{target.kind} push of whole objects under faults (seed {seed})")


@pytest.mark.parametrize("seed", PACKED_SEEDS)
def test_pull_from_packs_under_random_faults(
    repo: Path, target: Target, seed: int, tmp_path: Path, run_artver: Callable[..., Result]
) -> None:
    """Ranged reads of packs cut, reset, stalled: every member verified or retried, never half-installed."""
    files = tracked_repo(repo, target, seed, run_artver, small_files=PACKED_FILES)
    pushed = artver(repo, target, "push")
    assert pushed.code == 0, pushed.err
    assert any(key.startswith("packs/") for key in assert_remote_intact(target) | {
        full[len(target.prefix) + 1:] for full in target.list_all()})
    other = clone(repo, tmp_path)
    result, stats = under_faults(target, PACKED_PULL_FAULTS, seed, other, "pull")
    check_pull(repo, other, target, files, result, stats, f"{target.kind} pull from packs under faults (seed {seed})",
               run_artver)


@pytest.mark.parametrize("seed", SEEDS)
def test_pull_under_random_faults(
    repo: Path, target: Target, seed: int, tmp_path: Path, run_artver: Callable[..., Result]
) -> None:
    files = tracked_repo(repo, target, seed, run_artver)
    store_directly(repo, target)
    other = clone(repo, tmp_path)
    result, stats = under_faults(target, PULL_FAULTS, seed, other, "pull")
    check_pull(repo, other, target, files, result, stats, f"{target.kind} pull under faults (seed {seed})", run_artver)


@pytest.mark.parametrize("case", sorted(PULL_CASES))
def test_pull_recovers_from(
    repo: Path, target: Target, case: str, tmp_path: Path, run_artver: Callable[..., Result]
) -> None:
    timeout = STALL_TIMEOUT if case.startswith("stall") else TIMEOUT
    files = tracked_repo(repo, target, 5, run_artver, model_size=SMALL_MODEL, small_files=4, timeout=timeout)
    store_directly(repo, target)
    other = clone(repo, tmp_path)
    result, stats = under_faults(target, PULL_CASES[case], 0, other, "pull")
    what = f"{target.kind} pull with {case} ({stats.faults_injected} faults, {RETRIES} retries)"
    check_pull(repo, other, target, files, result, stats, what, run_artver, heal_anyway=False)
    assert result.code == 0, f"{what}: exit {result.code}\n{result.err}"


@pytest.mark.parametrize("case", sorted(PUSH_CASES))
def test_push_recovers_from(repo: Path, target: Target, case: str, run_artver: Callable[..., Result]) -> None:
    tracked_repo(repo, target, 6, run_artver, model_size=SMALL_MODEL, small_files=4)
    result, stats = under_faults(target, PUSH_CASES[case], 0, repo, "push")
    what = f"{target.kind} push with {case} ({stats.faults_injected} faults, {RETRIES} retries)"
    check_push(repo, target, result, stats, what, heal_anyway=False)
    assert result.code == 0, f"{what}: exit {result.code}\n{result.err}"


DOWN_RETRIES = "2"
DOWN_LIMIT = 10.0  # seconds: a few attempts, each refused at once, plus at most a few seconds of backoff


def test_unreachable_remote_fails_fast_and_clearly(repo: Path, target: Target, run_artver: Callable[..., Result]) -> None:
    """Every connection refused: the 'retries' and 'timeout' settings must bound how long push tries."""
    tracked_repo(repo, target, 7, run_artver, model_size=1_000, small_files=1)
    assert run_artver(repo, "remote", "modify", "origin", "retries", DOWN_RETRIES).code == 0
    result, stats = under_faults(target, FaultPlan(refuse=1.0), 0, repo, "push", timeout=DOWN_LIMIT)
    what = f"{target.kind} push with every connection refused"
    assert stats.faults_injected > 0, f"{what}: no fault fired ({stats})"
    assert result.code == 1, f"{what}: exit {result.code}\n{result.err}"
    assert_clean_outcome(result, what)
    assert assert_remote_intact(target) == set()


def test_a_trickling_server_stops_pull_with_one_line_within_the_stated_bound(
    repo: Path, target: Target, tmp_path: Path, run_artver: Callable[..., Result]
) -> None:
    """A server that sends its headers, then a few bytes a second: no read ever times out, so
    only the low-speed rule ends each attempt, and the first object to run out of attempts
    stops the command. docs/remotes.md states the bound:
    (retries + 2) x (speed_time + 3 x timeout + 10) seconds."""
    retries, timeout, speed_time = 1, 1, 1
    bound = (retries + 2) * (speed_time + 3 * timeout + 10)
    tracked_repo(repo, target, 8, run_artver, model_size=SMALL_MODEL, small_files=4)
    store_directly(repo, target)
    other = clone(repo, tmp_path)
    for key, value in (("retries", retries), ("timeout", timeout), ("speed_time", speed_time), ("speed_limit", 20_000)):
        assert run_artver(other, "remote", "modify", "origin", key, str(value), "--local").code == 0
    plan = FaultPlan(drip=1.0, drip_after=(3_000, 3_000), drip_rate=4)
    started = time.monotonic()
    result, stats = under_faults(target, plan, 0, other, "pull", timeout=bound + 30)
    elapsed = time.monotonic() - started  # with the start of a Python process: an upper estimate
    what = f"{target.kind} pull from a trickling server"
    assert stats.faults.get("drip", 0) > 0, f"{what}: nothing trickled ({stats})"
    assert result.code == 1, f"{what}: exit {result.code}\n{result.err}"
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("artver: error: "), f"{what}:\n{result.err}"
    assert "speed_limit" in lines[0] and f"gave up after {retries + 1} attempts" in lines[0], lines[0]
    assert elapsed < bound, f"{what}: {elapsed:.1f} s, more than the stated {bound} s"
    assert_cache_intact(other)
