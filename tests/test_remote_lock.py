"""Remote locks (artver/remote_lock.py) against a directory remote, SeaweedFS and fake-gcs-server.

Staleness is judged by the store's own write times, so a lock becomes stale only as the
store's clock moves: on a directory remote a test ages a lock object by setting its mtime; on
S3 and GCS it waits out a stale time of one second (the stores state whole seconds). Every
takeover test first shows the same lock refusing an acquirer (a negative control), then checks
that the stale object is gone and the new holder's is there.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from artver.errors import RemoteLockedError, RemoteLockLostError
from artver.remote_lock import (
    MAX_BODY,
    MUTEX_KEY,
    acquire_exclusive,
    acquire_shared,
    exclusive_lock,
    parse_body,
    shared_lock,
)
from artver.remotes.base import Storage
from artver.remotes.retry import RetryingStorage, RetryPolicy
from tests.support.remotes import gcs_client, holds, s3_bucket, s3_client

KINDS = ["directory", "s3", "gcs"]
WORKTREE = Path(__file__).resolve().parent.parent
CHILD_TIMEOUT = 60.0
SHORT_STALE = 1.0  # seconds: a stale time the stores' clocks pass in a test
STORE_RESOLUTION = 1.0  # S3 states write times in whole seconds

_numbers = itertools.count()


@dataclass
class Remote:
    kind: str
    make: Callable[[], Storage]  # a new client of the same remote (as another process would have)
    keys: Callable[[], list[str]]  # every key under locks/, read bypassing artver
    put_raw: Callable[[str, bytes], None]
    age: Callable[[str, float], bool]  # make an object older by this many seconds, where the store allows
    child_setup: str  # Python lines that make ``storage`` in a child process
    env: dict[str, str]


def _retrying(storage: Storage) -> Storage:
    return RetryingStorage(storage, RetryPolicy(attempts=3))


@pytest.fixture(params=KINDS)
def remote(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Remote:
    kind = request.param
    number = next(_numbers)
    if kind == "directory":
        from artver.remotes.local import LocalStorage

        root = tmp_path / f"remote-{number}"
        root.mkdir()

        def put_local(key: str, data: bytes) -> None:
            (root / key).parent.mkdir(parents=True, exist_ok=True)
            (root / key).write_bytes(data)

        def age(key: str, seconds: float) -> bool:
            stat = os.stat(root / key)
            os.utime(root / key, (stat.st_atime - seconds, stat.st_mtime - seconds))
            return True

        return Remote(kind, lambda: _retrying(LocalStorage(root, f"remote 'origin' ({root})")),
                      lambda: sorted(p.relative_to(root).as_posix() for p in (root / "locks").rglob("*") if p.is_file())
                      if (root / "locks").exists() else [], put_local, age,
                      f"from artver.remotes.local import LocalStorage\n"
                      f"inner = LocalStorage(Path({str(root)!r}), 'remote child')", {})
    if kind == "s3":
        from artver.remotes.s3 import S3Storage

        server = request.getfixturevalue("s3_server")
        client = s3_client(server)
        bucket = s3_bucket(request, client, f"locks-{number}")
        env = {"AWS_ACCESS_KEY_ID": server.access_key, "AWS_SECRET_ACCESS_KEY": server.secret_key,
               "AWS_DEFAULT_REGION": server.region}
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        prefix = "team"
        settings = {"endpoint_url": server.endpoint_url, "timeout": "10"}

        def s3_keys() -> list[str]:
            pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/locks/")
            return sorted(item["Key"][len(prefix) + 1 :] for page in pages for item in page.get("Contents", ()))

        return Remote(kind, lambda: _retrying(S3Storage(f"remote 'origin' (s3://{bucket}/{prefix})", bucket, prefix, settings, 2)),
                      s3_keys, lambda key, data: client.put_object(Bucket=bucket, Key=f"{prefix}/{key}", Body=data),
                      lambda key, seconds: False,
                      f"from artver.remotes.s3 import S3Storage\n"
                      f"inner = S3Storage('remote child', {bucket!r}, {prefix!r}, {settings!r}, 2)", env)
    from artver.remotes.gcs import GcsStorage

    server = request.getfixturevalue("gcs_server")
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", server.endpoint)
    client = gcs_client(server)
    bucket_name = f"locks-{number}"
    bucket = client.create_bucket(bucket_name)
    prefix = "models"
    return Remote(kind, lambda: _retrying(GcsStorage(f"remote 'origin' (gs://{bucket_name}/{prefix})", bucket_name, prefix,
                                                     {"timeout": "10"})),
                  lambda: sorted(blob.name[len(prefix) + 1 :] for blob in client.list_blobs(bucket_name, prefix=f"{prefix}/locks/")),
                  lambda key, data: bucket.blob(f"{prefix}/{key}").upload_from_string(data),
                  lambda key, seconds: False,
                  f"from artver.remotes.gcs import GcsStorage\n"
                  f"inner = GcsStorage('remote child', {bucket_name!r}, {prefix!r}, {{'timeout': '10'}})",
                  {"STORAGE_EMULATOR_HOST": server.endpoint})


def make_stale(remote: Remote, keys: list[str]) -> float:
    """Make the lock objects ``keys`` stale for an acquirer with the stale time returned."""
    if all(remote.age(key, 3600) for key in keys):
        return 60.0  # aged by an hour: stale for a one-minute stale time
    time.sleep(SHORT_STALE + STORE_RESOLUTION + 0.1)  # the store's clock must pass them
    return SHORT_STALE


# ------------------------------------------------------------------------- sharing rules


def test_shared_locks_are_held_together_and_released(remote: Remote) -> None:
    first = acquire_shared(remote.make(), "push")
    second = acquire_shared(remote.make(), "push")
    assert remote.keys() == sorted([first.key, second.key])
    assert first.key.startswith("locks/shared-") and first.key != second.key
    first.release()
    second.release()
    second.release()  # twice is harmless
    assert remote.keys() == []


def test_an_exclusive_lock_refuses_a_shared_one_and_says_who_holds_it(remote: Remote) -> None:
    held = acquire_exclusive(remote.make(), "gc --cloud")
    keys = remote.keys()
    assert keys == sorted([MUTEX_KEY, held.key])
    with pytest.raises(RemoteLockedError) as caught:
        acquire_shared(remote.make(), "push")
    message = str(caught.value)
    assert "\n" not in message
    assert "'gc --cloud' (exclusive lock)" in message and f"pid {os.getpid()}" in message
    assert held.key in message and "goes stale at" in message
    assert remote.keys() == keys  # the refused acquirer left nothing behind
    held.release()
    assert remote.keys() == []
    acquire_shared(remote.make(), "push").release()  # free again


def test_a_shared_lock_refuses_an_exclusive_one(remote: Remote) -> None:
    held = acquire_shared(remote.make(), "push")
    with pytest.raises(RemoteLockedError, match=r"'push' \(shared lock\)"):
        acquire_exclusive(remote.make(), "gc --cloud")
    assert remote.keys() == [held.key]  # nor the refused one's mutex
    held.release()
    acquire_exclusive(remote.make(), "gc --cloud").release()
    assert remote.keys() == []


def test_an_exclusive_lock_refuses_another_and_keeps_its_mutex(remote: Remote) -> None:
    held = acquire_exclusive(remote.make(), "gc --cloud")
    keys = remote.keys()
    with pytest.raises(RemoteLockedError, match="exclusive lock"):
        acquire_exclusive(remote.make(), "gc --cloud")
    assert remote.keys() == keys
    held.release()
    assert remote.keys() == []


# ------------------------------------------------------------------------- staleness


def test_a_stale_shared_lock_is_taken_over(remote: Remote) -> None:
    dead = acquire_shared(remote.make(), "push")  # a push killed: never released
    with pytest.raises(RemoteLockedError):
        acquire_exclusive(remote.make(), "gc --cloud", stale_after=60)
    stale_after = make_stale(remote, [dead.key])
    taker = acquire_exclusive(remote.make(), "gc --cloud", stale_after=stale_after)
    assert dead.key not in remote.keys()  # removed by the taker
    assert remote.keys() == sorted([MUTEX_KEY, taker.key])
    taker.release()


def test_a_stale_exclusive_lock_is_taken_over_by_an_exclusive_and_by_a_shared_one(remote: Remote) -> None:
    dead = acquire_exclusive(remote.make(), "gc --cloud")  # a gc killed: its mutex and liveness object stay
    with pytest.raises(RemoteLockedError):
        acquire_exclusive(remote.make(), "gc --cloud", stale_after=60)
    with pytest.raises(RemoteLockedError):
        acquire_shared(remote.make(), "push", stale_after=60)
    stale_after = make_stale(remote, [MUTEX_KEY, dead.key])
    taker = acquire_exclusive(remote.make(), "gc --cloud", stale_after=stale_after)
    assert remote.keys() == sorted([MUTEX_KEY, taker.key])  # the dead one's objects are gone
    assert parse_body(taker.storage.read_range(MUTEX_KEY, 0, MAX_BODY)).token == taker.token  # type: ignore[union-attr]
    taker.release()
    dead_again = acquire_exclusive(remote.make(), "gc --cloud")
    stale_after = make_stale(remote, [MUTEX_KEY, dead_again.key])
    pusher = acquire_shared(remote.make(), "push", stale_after=stale_after)
    assert dead_again.key not in remote.keys()
    pusher.release()


def test_a_refreshed_lock_is_not_stale(tmp_path: Path) -> None:
    """A refresh writes the next liveness object, then deletes the previous one, so an old
    lock that is refreshed is live again. (A directory remote: its write times can be set.)"""
    from artver.remotes.local import LocalStorage

    storage = LocalStorage(tmp_path, "remote 'origin'")
    held = acquire_shared(storage, "push")
    first = held.key
    os.utime(tmp_path / first, (time.time() - 3600, time.time() - 3600))
    held.refresh()
    assert held.key.endswith("-00000001") and sorted(p.name for p in (tmp_path / "locks").iterdir()) == [
        held.key.removeprefix("locks/")]
    with pytest.raises(RemoteLockedError):
        acquire_exclusive(storage, "gc --cloud", stale_after=60)
    os.utime(tmp_path / held.key, (time.time() - 3600, time.time() - 3600))  # the control: unrefreshed, it is stale
    acquire_exclusive(storage, "gc --cloud", stale_after=60).release()
    assert not (tmp_path / held.key).exists()


def test_a_lock_taken_over_is_noticed_at_its_next_refresh(remote: Remote) -> None:
    held = acquire_exclusive(remote.make(), "gc --cloud")
    remote.make().delete(held.key)  # what a taker does to a stale lock
    with pytest.raises(RemoteLockLostError, match="removed by another process"):
        held.refresh()
    with pytest.raises(RemoteLockLostError):
        held.check()
    held.release()


def test_the_context_manager_refreshes_in_the_background_and_releases(remote: Remote) -> None:
    stale_after = 6.0  # a refresh every 2 s; check() refuses after 3 s without one
    with exclusive_lock(remote.make(), "gc --cloud", stale_after=stale_after) as lock:
        first = lock.key
        deadline = time.monotonic() + 20
        while lock.key == first and time.monotonic() < deadline:
            time.sleep(0.1)
        assert lock.key != first, "no refresh happened"
        lock.check()
        keys = remote.keys()
        assert first not in keys and lock.key in keys and MUTEX_KEY in keys
    assert remote.keys() == []
    with pytest.raises(ZeroDivisionError), shared_lock(remote.make(), "push"):
        1 / 0  # noqa: B018 - an exception in the block
    assert remote.keys() == []


def test_check_refuses_once_the_lock_may_be_stale(tmp_path: Path) -> None:
    from artver.remotes.local import LocalStorage

    lock = acquire_exclusive(LocalStorage(tmp_path, "remote 'origin'"), "gc --cloud", stale_after=4)
    lock.check()  # fresh
    time.sleep(2.2)  # more than half of stale_after
    with pytest.raises(RemoteLockLostError, match="last refreshed"):
        lock.check()
    lock.refresh()
    lock.check()
    lock.release()


class FailingDeletes:
    """A storage whose deletions fail (everything else passes through)."""

    def __init__(self, inner: Storage) -> None:
        self.inner = inner
        self.url = inner.url

    def unwrap(self) -> Storage:
        return self.inner

    def delete(self, key: str) -> None:
        from artver.errors import RemoteError

        raise RemoteError(f"{self.url}: cannot delete {key}")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_release_that_fails_does_not_hide_the_error_that_ended_the_lock(tmp_path: Path) -> None:
    from artver.remotes.local import LocalStorage

    local = LocalStorage(tmp_path, "remote 'origin'")
    failing: Any = FailingDeletes(local)
    with pytest.raises(ZeroDivisionError), shared_lock(failing, "push"):
        1 / 0  # noqa: B018 - the error the block ends with
    leftover = [key for key, _ in local.list("locks/")]
    assert len(leftover) == 1  # the lock whose release failed: it goes stale
    local.delete(leftover[0])
    held = acquire_exclusive(local, "gc --cloud")
    with pytest.raises(RemoteLockedError):
        acquire_shared(failing, "push")  # refused: its own object cannot be deleted, the refusal is reported
    held.release()


# ------------------------------------------------------------------------- hostile input

TOKEN = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize("body", [
    b"\xff\xfe not even text",
    b"{" * 100_000,  # deep nesting (and longer than MAX_BODY)
    b"[]",
    json.dumps({"format": 1, "kind": "exclusive", "operation": "gc", "host": "h", "pid": -1, "created": 0,
                "token": TOKEN}).encode(),
    json.dumps({"format": 1, "kind": "exclusive", "operation": "gc", "host": "h", "pid": 1, "created": "NaN",
                "token": TOKEN}).encode(),
    json.dumps({"format": 2, "kind": "exclusive", "operation": "gc", "host": "h", "pid": 1, "created": 0,
                "token": TOKEN}).encode(),
    b'{"format": 1, "kind": "exclusive", "operation": "gc", "host": "h", "pid": 1, "created": 1e999, "token": "x"}',
    b" " * (MAX_BODY + 1),
])
def test_parse_body_refuses_malformed_bodies(body: bytes) -> None:
    assert parse_body(body) is None


def test_hostile_lock_bodies_are_shown_safely(remote: Remote) -> None:
    hostile = json.dumps({"format": 1, "kind": "exclusive", "operation": "gc\x1b[31m\nrm -rf", "host": "evil\r\nhost",
                          "pid": 7, "created": 1e12, "token": TOKEN}).encode()
    remote.put_raw(f"locks/exclusive-{TOKEN}-00000000", hostile)
    with pytest.raises(RemoteLockedError) as caught:
        acquire_shared(remote.make(), "push")
    message = str(caught.value)
    assert "\n" not in message and "\r" not in message and "\x1b" not in message
    assert "evil??host" in message and "gc?[31m?rm -rf" in message
    remote.put_raw(f"locks/exclusive-{TOKEN}-00000000", b"\x00" * (MAX_BODY * 4))
    with pytest.raises(RemoteLockedError, match="unreadable lock object locks/exclusive-"):
        acquire_shared(remote.make(), "push")


def test_an_object_artver_does_not_name_counts_as_held_until_stale_and_is_never_deleted(remote: Remote) -> None:
    unknown = "locks/not-artvers/lock"
    remote.put_raw(unknown, b"whatever")
    with pytest.raises(RemoteLockedError, match=f"unreadable lock object {unknown}.*delete that object"):
        acquire_exclusive(remote.make(), "gc --cloud")
    with pytest.raises(RemoteLockedError, match=unknown):
        acquire_shared(remote.make(), "push")
    assert remote.keys() == [unknown]
    stale_after = make_stale(remote, [unknown])
    acquire_exclusive(remote.make(), "gc --cloud", stale_after=stale_after).release()
    acquire_shared(remote.make(), "push", stale_after=stale_after).release()
    assert remote.keys() == [unknown]


# ------------------------------------------------------------------------- processes

CHILD = """
import os, sys, time
from pathlib import Path
from artver.errors import RemoteLockedError
from artver.remote_lock import acquire_exclusive, acquire_shared
from artver.remotes.retry import RetryingStorage, RetryPolicy
{setup}
storage = RetryingStorage(inner, RetryPolicy(attempts=3))
go, release, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
deadline = time.monotonic() + 30
while not go.exists():
    if time.monotonic() > deadline:
        sys.exit("never told to go")
    time.sleep(0.005)
def answer(text):  # whole or not at all: the parent reads it as soon as it exists
    out.with_suffix(".partial").write_text(text)
    os.replace(out.with_suffix(".partial"), out)
try:
    lock = (acquire_exclusive if sys.argv[4] == "exclusive" else acquire_shared)(storage, sys.argv[4])
except RemoteLockedError as error:
    answer("refused " + str(error))
    sys.exit(0)
answer("won")
while not release.exists():
    if time.monotonic() > deadline:
        sys.exit("never told to release")
    time.sleep(0.01)
lock.release()
"""


@dataclass
class Racer:
    process: subprocess.Popen[str]
    out: Path


@pytest.fixture
def racers() -> Iterator[list[Racer]]:
    started: list[Racer] = []
    yield started
    for racer in started:
        if racer.process.poll() is None:
            racer.process.kill()
        racer.process.wait(timeout=CHILD_TIMEOUT)


def race(remote: Remote, tmp_path: Path, racers: list[Racer], kinds: list[str]) -> list[str]:
    """Start one process per kind, let them acquire at one moment, and return what each got
    while all still hold what they won."""
    go, release = tmp_path / f"go-{next(_numbers)}", tmp_path / f"release-{next(_numbers)}"
    script = CHILD.format(setup=remote.child_setup)
    env = {**os.environ, **remote.env, "PYTHONPATH": str(WORKTREE)}
    ours = []
    for kind in kinds:
        out = tmp_path / f"out-{next(_numbers)}"
        process = subprocess.Popen([sys.executable, "-c", script, str(go), str(release), str(out), kind], cwd=WORKTREE,
                                   env=env, text=True, stderr=subprocess.PIPE)
        racers.append(Racer(process, out))
        ours.append(racers[-1])
    time.sleep(1.5)  # the children import and set up; they only wait for the go file once ready
    go.touch()
    deadline = time.monotonic() + CHILD_TIMEOUT
    while not all(racer.out.exists() for racer in ours):
        for racer in ours:
            if racer.process.poll() not in (None, 0):
                pytest.fail(f"a racer failed: {racer.process.stderr.read() if racer.process.stderr else ''}")
        assert time.monotonic() < deadline, "the racers did not answer in time"
        time.sleep(0.02)
    outcomes = [racer.out.read_text() for racer in ours]
    release.touch()
    for racer in ours:
        racer.process.wait(timeout=CHILD_TIMEOUT)
        assert racer.process.returncode == 0, racer.process.stderr.read() if racer.process.stderr else ""
    return outcomes


def test_of_two_processes_racing_for_the_exclusive_lock_exactly_one_wins(remote: Remote, tmp_path: Path,
                                                                       racers: list[Racer]) -> None:
    for _ in range(3):
        outcomes = race(remote, tmp_path, racers, ["exclusive", "exclusive"])
        assert sorted(outcome.split(" ", 1)[0] for outcome in outcomes) == ["refused", "won"], outcomes
        assert remote.keys() == []  # the winner released, the loser left nothing


def test_an_exclusive_and_a_shared_process_never_both_win(remote: Remote, tmp_path: Path, racers: list[Racer]) -> None:
    for _ in range(3):
        outcomes = race(remote, tmp_path, racers, ["exclusive", "shared"])
        assert outcomes.count("won") <= 1, outcomes
        assert remote.keys() == []


def test_ctrl_c_releases_the_lock_and_a_kill_leaves_one_that_goes_stale(tmp_path: Path) -> None:
    root = tmp_path / "remote"
    root.mkdir()
    script = f"""
import sys, time
from pathlib import Path
from artver.remote_lock import exclusive_lock
from artver.remotes.local import LocalStorage
with exclusive_lock(LocalStorage(Path({str(root)!r}), "remote"), "gc --cloud"):
    print("held", flush=True)
    time.sleep(60)
"""
    outcomes = []
    for sig in (signal.SIGINT, signal.SIGKILL):
        child = subprocess.Popen([sys.executable, "-c", script], cwd=WORKTREE, env={**os.environ, "PYTHONPATH": str(WORKTREE)},
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert child.stdout is not None and child.stdout.readline() == "held\n"
            assert len(list((root / "locks").iterdir())) == 2  # the mutex and the liveness object
            child.send_signal(sig)
            child.wait(timeout=CHILD_TIMEOUT)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait(timeout=CHILD_TIMEOUT)
        outcomes.append(sorted(path.name for path in (root / "locks").iterdir()))
    assert outcomes[0] == []  # Ctrl-C: released
    assert len(outcomes[1]) == 2  # killed: left behind...
    for name in outcomes[1]:
        path = root / "locks" / name
        os.utime(path, (path.stat().st_atime - 3600, path.stat().st_mtime - 3600))
    from artver.remotes.local import LocalStorage

    acquire_exclusive(LocalStorage(root, "remote"), "gc --cloud", stale_after=60).release()  # ...and goes stale
    assert list((root / "locks").iterdir()) == []


# ------------------------------------------------------------------------- gc --cloud


def test_gc_cloud_deletes_nothing_while_a_push_holds_the_remote(repo: Path, run_artver: Callable[..., Any],
                                                                tmp_path: Path) -> None:
    """gc --cloud takes the exclusive lock before it deletes anything, locally or remotely; a
    push of another machine holding a shared lock makes it stop with one line, nothing deleted."""
    from artver.remotes.local import LocalStorage
    from tests.support.files import write, xxh
    from tests.support.git import commit_all

    store = tmp_path / "store"
    store.mkdir()
    assert run_artver(repo, "remote", "add", "origin", str(store), "--default").code == 0
    for version in (b"model v1", b"model v2"):
        write(repo / "model.bin", version)
        assert run_artver(repo, "add", "model.bin").code == 0
        commit_all(repo, version.decode())
        assert run_artver(repo, "push").code == 0
    old = xxh(b"model v1").split(":", 1)[1]
    cached = sorted(p.relative_to(repo).as_posix() for p in (repo / ".artver" / "cache").rglob("*") if p.is_file())
    assert any(old[2:] in name for name in cached)  # the old version is in the cache, to be pruned
    push = acquire_shared(LocalStorage(store, "remote 'origin'"), "push")
    gc = subprocess.run([sys.executable, "-m", "artver", "gc", "--workspace", "--cloud", "--yes"], cwd=repo,
                        capture_output=True, text=True, timeout=CHILD_TIMEOUT, stdin=subprocess.DEVNULL,
                        env={**os.environ, "PYTHONPATH": str(WORKTREE)})
    assert gc.returncode == 1, gc.stderr
    assert f"is locked by 'push' (shared lock) on {socket.gethostname()}, pid {os.getpid()}" in gc.stderr
    assert len(gc.stderr.strip().splitlines()) == 1 and "Traceback" not in gc.stderr
    assert holds(store, f"xxh128:{old}")
    assert sorted(p.relative_to(repo).as_posix() for p in (repo / ".artver" / "cache").rglob("*") if p.is_file()) == cached
    assert sorted(p.name for p in (store / "locks").iterdir()) == [push.key.removeprefix("locks/")]
    push.release()
    assert run_artver(repo, "gc", "--workspace", "--cloud", "--yes").code == 0
    assert not holds(store, f"xxh128:{old}")
    assert list((store / "locks").iterdir()) == []
