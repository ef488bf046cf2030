"""Transfer planning over a real directory remote, observed through a delegating wrapper."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from artver import hashing, transfer
from artver.cache import Cache
from artver.errors import RemoteGaveUpError, TransientRemoteError
from artver.remotes.base import Sink
from artver.remotes.local import LocalStorage
from artver.remotes.retry import RetryingStorage
from artver.transfer import RetryPolicy

FAST = RetryPolicy(attempts=4, base=0.001, cap=0.002)


class Observed:
    """Counts the calls that reach a real storage; optionally fails the first few transiently."""

    def __init__(self, inner: LocalStorage, transient_failures: int = 0) -> None:
        self.inner = inner
        self.url = inner.url
        self.calls: dict[str, int] = {}
        self.uploaded: list[str] = []  # keys, in the order their uploads began
        self.failures_left = transient_failures

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1
        if self.failures_left > 0 and name in ("upload", "download"):
            self.failures_left -= 1
            raise TransientRemoteError(f"{self.url}: connection reset (injected)")

    def exists(self, keys: Sequence[str]) -> dict[str, int | None]:
        self._count("exists")
        return self.inner.exists(keys)

    def list(self, prefix: str) -> Iterator[tuple[str, int | None]]:
        self._count("list")
        return self.inner.list(prefix)

    def upload(self, key: str, source: str, on_bytes: Any) -> None:
        self._count("upload")
        self.uploaded.append(key)
        self.inner.upload(key, source, on_bytes)

    def download(self, key: str, sink: Sink, on_bytes: Any) -> None:
        self._count("download")
        self.inner.download(key, sink, on_bytes)

    def read_range(self, key: str, offset: int, length: int) -> bytes:
        self._count("read_range")
        return self.inner.read_range(key, offset, length)

    def delete(self, key: str) -> None:
        self.inner.delete(key)

    def url_of(self, key: str) -> str:
        return self.inner.url_of(key)


def filled_cache(tmp_path: Path, count: int) -> tuple[Cache, dict[str, int]]:
    cache = Cache(tmp_path / "cache", "xxh128")
    objects = {}
    for index in range(count):
        hash_value = cache.add_bytes(f"object {index}".encode())
        objects[hash_value] = len(f"object {index}")
    return cache, objects


def remote(tmp_path: Path, name: str = "remote") -> LocalStorage:
    root = tmp_path / name
    root.mkdir()
    return LocalStorage(root, f"remote '{name}'")


def test_few_objects_are_checked_one_by_one(tmp_path: Path) -> None:
    cache, objects = filled_cache(tmp_path, 30)
    storage = Observed(remote(tmp_path))
    assert transfer.remote_has(storage, sorted(objects), 4) == set()
    assert storage.calls.get("list", 0) == 0 and storage.calls["exists"] >= 1


def test_many_objects_in_a_small_remote_are_found_by_listing(tmp_path: Path) -> None:
    cache, objects = filled_cache(tmp_path, 600)
    storage = Observed(remote(tmp_path))
    half = sorted(objects)[:300]
    transfer.push(cache, storage.inner, {h: objects[h] for h in half}, 4)
    assert transfer.remote_has(storage, sorted(objects), 4) == set(half)
    assert storage.calls.get("exists", 0) == 0 and 0 < storage.calls["list"] <= 256


def test_a_huge_remote_is_not_listed_for_a_few_hundred_objects(tmp_path: Path) -> None:
    cache, objects = filled_cache(tmp_path, 150)
    root = tmp_path / "huge"
    # A remote far larger than what we ask about: the folder the planner samples holds 1,100
    # objects (more than a listing page), so it expects ~1,100 in each of the 256 folders.
    sampled = root / min(transfer.key_of(hash_value).rsplit("/", 1)[0] for hash_value in objects)
    sampled.mkdir(parents=True)
    for index in range(1100):
        (sampled / f"{index:030x}").touch()
    storage = Observed(LocalStorage(root, "remote 'huge'"))
    assert transfer.remote_has(storage, sorted(objects), 4) == set()
    assert storage.calls["list"] == 1  # the sample that showed listing would cost more
    assert storage.calls["exists"] >= 1


def test_transient_failures_are_retried_then_succeed(tmp_path: Path) -> None:
    cache, objects = filled_cache(tmp_path, 5)
    observed = Observed(remote(tmp_path), transient_failures=3)
    storage = RetryingStorage(observed, FAST)
    summary = transfer.push(cache, storage, objects, 1)
    assert summary.ok and summary.transferred == 5
    other = Cache(tmp_path / "other-cache", "xxh128")
    observed.failures_left = 3
    fetched = transfer.fetch(other, storage, objects, 1)
    assert fetched.ok and fetched.transferred == 5
    assert all(other.has(hash_value) for hash_value in objects)


def test_persistent_transient_failure_stops_the_command_with_a_clear_error(tmp_path: Path) -> None:
    cache, objects = filled_cache(tmp_path, 5)
    observed = Observed(remote(tmp_path), transient_failures=100)
    with pytest.raises(RemoteGaveUpError, match="gave up after 4 attempts"):
        transfer.push(cache, RetryingStorage(observed, FAST), objects, 1)
    # The first object used up its attempts; the others were not tried one by one.
    assert observed.calls["upload"] == 4
    assert all(p.is_dir() for p in (tmp_path / "remote").rglob("*"))


def test_keys_round_trip() -> None:
    value = hashing.hash_bytes(b"x", "sha256")
    assert transfer.hash_of_key(transfer.key_of(value)) == value
    assert transfer.hash_of_key("xxh128/zz/not-hex") is None
    assert transfer.hash_of_key("tmp/whatever") is None


def test_directory_remote_leaves_no_temp_files_and_never_replaces(tmp_path: Path) -> None:
    cache, objects = filled_cache(tmp_path, 3)
    storage = remote(tmp_path)
    transfer.push(cache, storage, objects, 2)
    first = sorted(objects)[0]
    target = tmp_path / "remote" / transfer.key_of(first)
    os.chmod(target, 0o644)
    target.write_bytes(b"already there")
    storage.upload(transfer.key_of(first), cache.path_of(first), lambda count: None)
    assert target.read_bytes() == b"already there"
    assert not [p for p in (tmp_path / "remote").rglob("*") if "artver-tmp" in p.name]


def test_a_wrong_size_object_left_by_an_interrupted_upload_is_replaced(tmp_path: Path) -> None:
    cache, objects = filled_cache(tmp_path, 3)
    storage = remote(tmp_path)
    first = sorted(objects)[0]
    target = tmp_path / "remote" / transfer.key_of(first)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"")  # what some stores keep of a PUT whose connection was cut
    summary = transfer.push(cache, storage, objects, 2)
    assert summary.ok and summary.transferred == 3 and summary.skipped == 0
    assert target.read_bytes() == Path(cache.path_of(first)).read_bytes()


MOUNTINFO = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
40 27 0:45 / /mnt/team\\040share rw,relatime shared:5 - nfs4 server:/export rw,vers=4.2
41 40 0:46 / /mnt/team\\040share/scratch rw,relatime - tmpfs tmpfs rw
42 27 0:47 / /mnt/box rw - fuse.sshfs user@host:/data rw
43 27 8:17 / /mnt/usb rw - fuseblk /dev/sdb1 rw
"""


@pytest.mark.parametrize(("path", "kind", "network"), [
    ("/srv/remote", "ext4", False),
    ("/mnt/team share/artifacts", "nfs4", True),  # the mount point has an escaped space
    ("/mnt/team share/scratch/x", "tmpfs", False),  # the innermost mount wins
    ("/mnt/team sharex", "ext4", False),  # a name that only starts like a mount point
    ("/mnt/box/objects", "fuse.sshfs", True),
    ("/mnt/usb/objects", "fuseblk", False),
])
def test_the_filesystem_of_a_directory_remote_decides_its_parallelism(path: str, kind: str, network: bool) -> None:
    from artver.remotes.local import filesystem_type, is_network_filesystem

    assert filesystem_type(Path(path), MOUNTINFO) == kind
    assert is_network_filesystem(Path(path), MOUNTINFO) is network
    assert transfer.default_jobs("disk") == 1 and transfer.default_jobs("share") > 1 and transfer.default_jobs("cloud") >= 8


def test_directory_remote_lists_by_any_key_prefix(tmp_path: Path) -> None:
    cache, objects = filled_cache(tmp_path, 40)
    storage = remote(tmp_path)
    for hash_value in objects:
        storage.upload(transfer.key_of(hash_value), cache.path_of(hash_value), lambda count: None)
    every = dict(storage.list(""))
    assert sorted(every) == sorted(transfer.key_of(hash_value) for hash_value in objects)
    by_digit = {}
    for digit in "0123456789abcdef":
        listed = dict(storage.list(f"xxh128/{digit}"))
        assert all(key.startswith(f"xxh128/{digit}") for key in listed)
        by_digit.update(listed)
    assert by_digit == every == dict(storage.list("xxh128/"))


def cache_with_listing(tmp_path: Path, files: int) -> tuple[Cache, dict[str, int], str, frozenset[str]]:
    """A cache holding ``files`` file objects and a listing object that lists them."""
    from artver.listing import Entry, to_object_bytes

    cache, objects = filled_cache(tmp_path, files)
    entries = [Entry(f"f{index:04d}", hash_value, size) for index, (hash_value, size) in enumerate(sorted(objects.items()))]
    listing_hash = cache.add_bytes(to_object_bytes(entries))
    return cache, objects, listing_hash, frozenset(objects)


def test_a_listing_goes_up_last_and_then_vouches_for_its_files(tmp_path: Path) -> None:
    cache, objects, listing_hash, members = cache_with_listing(tmp_path, 300)
    storage = Observed(remote(tmp_path))
    everything = {**objects, listing_hash: 0}
    summary = transfer.push(cache, storage, everything, 4, listings={listing_hash: members})
    assert summary.ok and summary.transferred == 301
    assert storage.uploaded[-1] == transfer.key_of(listing_hash)  # after every file it lists
    storage.calls.clear()
    again = transfer.push(cache, storage, everything, 4, listings={listing_hash: members})
    assert again.ok and again.transferred == 0 and again.skipped == 301
    # One existence check (the listing), no listing of the remote, no per-file checks.
    assert storage.calls == {"exists": 1}, storage.calls


def test_a_listing_is_not_uploaded_while_any_of_its_files_is_missing(tmp_path: Path) -> None:
    cache, objects, listing_hash, members = cache_with_listing(tmp_path, 120)
    lost = sorted(objects)[7]
    content = Path(cache.path_of(lost)).read_bytes()
    os.unlink(cache.path_of(lost))  # neither in the cache nor in the remote: it cannot be pushed
    storage = Observed(remote(tmp_path))
    everything = {**objects, listing_hash: 0}
    summary = transfer.push(cache, storage, everything, 4, listings={listing_hash: members})
    failed = {failure.object: failure.error for failure in summary.failed}
    assert set(failed) == {lost, listing_hash}
    assert "1 of its files are not in the remote" in failed[listing_hash]
    assert transfer.key_of(listing_hash) not in dict(storage.inner.list(""))
    cache.add_bytes(content)  # the file is back (e.g. fetched or re-added): a rerun finishes the job
    summary = transfer.push(cache, storage, everything, 4, listings={listing_hash: members})
    assert summary.ok and summary.transferred == 2 and summary.skipped == 119
    assert storage.uploaded[-1] == transfer.key_of(listing_hash)


def test_an_object_missing_locally_but_present_in_the_remote_is_not_a_failure(tmp_path: Path) -> None:
    cache, objects = filled_cache(tmp_path, 3)
    storage = remote(tmp_path)
    assert transfer.push(cache, storage, objects, 1).ok
    gone = sorted(objects)[0]
    os.unlink(cache.path_of(gone))
    summary = transfer.push(cache, storage, objects, 1)
    assert summary.ok and summary.skipped == 3


def test_gc_deletes_possible_listings_from_the_remote_before_known_files(repo: Path) -> None:
    from artver.commands.gc import remote_deletion_order
    from artver.listing import Entry, to_object_bytes
    from artver.repo import open_repo

    opened = open_repo(repo)
    file_hash = opened.cache.add_bytes(b"a file")
    listing_hash = opened.cache.add_bytes(to_object_bytes([Entry("a", file_hash, 6)]))
    unknown = "xxh128:" + "0" * 32  # not in this cache: it may be a listing
    assert remote_deletion_order(opened, sorted([file_hash, listing_hash, unknown])) == [
        sorted([listing_hash, unknown]), [file_hash],
    ]
    assert remote_deletion_order(opened, [file_hash]) == [[file_hash]]


class Scripted:
    """A storage whose operations fail as scripted: each call pops the next outcome."""

    url = "remote 'scripted'"

    def __init__(self, *outcomes: BaseException | None) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    def _next(self) -> None:
        self.calls += 1
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome

    def exists(self, keys: Sequence[str]) -> dict[str, int | None]:
        self._next()
        return {}

    def download(self, key: str, sink: Sink, on_bytes: Any) -> None:
        sink.write(b"partial")
        self._next()
        sink.write(b"-whole")


def test_the_attempts_rule_is_one_rule() -> None:
    from artver.remotes.retry import DEFAULT_RETRIES

    assert RetryPolicy().attempts == RetryPolicy.from_retries(DEFAULT_RETRIES).attempts == 1 + DEFAULT_RETRIES
    assert RetryPolicy.from_retries(0).attempts == 1 and RetryPolicy.from_retries(-3).attempts == 1
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)


@pytest.mark.parametrize("retries", [0, 2])
def test_a_transient_failure_is_tried_exactly_attempts_times(retries: int) -> None:
    inner = Scripted(*[TransientRemoteError("reset")] * 10)
    waits: list[float] = []
    storage = RetryingStorage(inner, RetryPolicy.from_retries(retries), sleep=waits.append)  # type: ignore[arg-type]
    with pytest.raises(RemoteGaveUpError, match=f"reset \\(gave up after {retries + 1} attempts\\)"):
        storage.exists(["k"])
    assert inner.calls == retries + 1 and len(waits) == retries
    assert all(0 <= wait <= min(10.0, 0.25 * 2 ** (number + 1)) for number, wait in enumerate(waits))


def test_final_errors_are_not_retried_and_do_not_stop_the_storage() -> None:
    from artver.errors import ObjectNotFoundError

    inner = Scripted(ObjectNotFoundError("no such key"), None)
    storage = RetryingStorage(inner, FAST)  # type: ignore[arg-type]
    with pytest.raises(ObjectNotFoundError):
        storage.exists(["k"])
    assert storage.exists(["k"]) == {} and inner.calls == 2


def test_once_an_operation_gives_up_every_later_one_fails_at_once() -> None:
    inner = Scripted(*[TransientRemoteError("stalled")] * 4)
    notes: list[str] = []
    storage = RetryingStorage(inner, FAST, notes.append)  # type: ignore[arg-type]
    with pytest.raises(RemoteGaveUpError):
        storage.exists(["a"])
    with pytest.raises(RemoteGaveUpError, match="stalled \\(gave up after 4 attempts\\)"):
        storage.exists(["b"])
    assert inner.calls == 4  # the second call never reached the store
    assert len(notes) == 3 and "retrying an existence check (attempt 2 of 4)" in notes[0]


def test_a_retried_download_rewinds_its_sink() -> None:
    from tests.support.remotes import BytesSink

    sink = BytesSink()
    storage = RetryingStorage(Scripted(TransientRemoteError("cut"), None), FAST)  # type: ignore[arg-type]
    storage.download("k", sink, lambda count: None)
    assert sink.getvalue() == b"partial-whole"


def test_an_optional_ability_is_found_through_wrappers(tmp_path: Path) -> None:
    from artver.remotes.base import hard_linking

    local = remote(tmp_path)
    assert hard_linking(RetryingStorage(local, FAST)) is local
    assert hard_linking(RetryingStorage(Scripted(), FAST)) is None  # type: ignore[arg-type]


class ShortBodies:
    """A real directory remote whose downloads keep arriving short: what a connection cut
    inside the response headers looks like to an HTTP client (a complete, shorter body),
    while the store states the object's true size."""

    def __init__(self, inner: LocalStorage, keep: int) -> None:
        self.inner, self.url, self.keep = inner, inner.url, keep

    def exists(self, keys: Sequence[str]) -> dict[str, int | None]:
        return self.inner.exists(keys)

    def download(self, key: str, sink: Sink, on_bytes: Any) -> None:
        data = Path(self.inner.url_of(key)).read_bytes()[: self.keep]
        sink.write(data)
        on_bytes(len(data))


def test_the_same_short_answer_twice_is_not_called_corrupt(tmp_path: Path) -> None:
    """Regression: two identical short downloads were declared 'corrupt ... Delete it from the
    remote', although the remote's copy was intact (the store states its full size)."""
    from artver.errors import IntegrityError, RemoteError

    cache, objects = filled_cache(tmp_path, 1)
    storage = remote(tmp_path)
    transfer.push(cache, storage, objects, 1)
    (hash_value,) = objects
    other = Cache(tmp_path / "other-cache", "xxh128")
    with pytest.raises(RemoteError, match="arrived damaged 3 times .* may be intact") as raised:
        transfer.download_verified(other, ShortBodies(storage, keep=3), hash_value)  # type: ignore[arg-type]
    assert not isinstance(raised.value, IntegrityError) and "Delete" not in str(raised.value)
    assert not other.has(hash_value)
    assert [path.name for path in other.temp_dir.iterdir() if not path.name.endswith(".owner")] == []  # only the live owner record
    summary = transfer.fetch(other, ShortBodies(storage, keep=3), objects, 1)  # type: ignore[arg-type]
    assert [failure.object for failure in summary.failed] == [hash_value]  # one object's failure, not the command's


def test_a_remote_object_is_corrupt_only_when_the_store_states_what_arrived(tmp_path: Path) -> None:
    from artver.errors import IntegrityError

    data = os.urandom(5_000)
    cache = Cache(tmp_path / "cache", "xxh128")
    hash_value = cache.add_bytes(data)
    storage = remote(tmp_path)
    stored = tmp_path / "remote" / transfer.key_of(hash_value)
    stored.parent.mkdir(parents=True)
    other = Cache(tmp_path / "other-cache", "xxh128")
    stored.write_bytes(b"x" * len(data))  # the full length, other bytes: bit rot or tampering
    with pytest.raises(IntegrityError, match="is corrupt .*Delete it from the remote"):
        transfer.download_verified(other, storage, hash_value, size=len(data))
    stored.write_bytes(data[:1000])  # short, and the store says so: what an interrupted upload leaves
    with pytest.raises(IntegrityError, match="only 1000 of its 5000 bytes.*'artver push' from a clone that has it replaces it"):
        transfer.download_verified(other, storage, hash_value, size=len(data))


def test_a_full_cache_disk_during_a_download_is_reported_as_the_cache_s_problem(repo: Path, tmp_path: Path,
                                                                                  run_artver: Any) -> None:
    """Regression: a failure to write the cache was reported as the remote's ('remote
    'origin': no space left on device') for every object."""
    import resource
    import signal
    import subprocess
    import sys

    from tests.support.git import commit_all, git

    remote_dir = tmp_path / "remote"
    remote_dir.mkdir()
    (repo / "model.pt").write_bytes(os.urandom(400_000))
    assert run_artver(repo, "add", "model.pt").code == 0
    assert run_artver(repo, "remote", "add", "origin", str(remote_dir), "--default").code == 0
    commit_all(repo, "model")
    assert run_artver(repo, "push").code == 0
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))

    def small_files_only() -> None:  # in the child: files beyond 100 kB cannot be written (as on a full disk)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))

    completed = subprocess.run([sys.executable, "-m", "artver", "fetch"], cwd=clone, capture_output=True, text=True,
                               timeout=120, preexec_fn=small_files_only, env={**os.environ})
    lines = completed.stderr.strip().splitlines()
    assert completed.returncode == 1 and len(lines) == 1, completed.stderr
    assert lines[0].startswith("artver: error: cannot write a download into the cache (") and "cache" in lines[0], lines[0]
    assert "remote 'origin'" not in lines[0], lines[0]


def test_a_no_op_push_does_not_parse_the_listing_of_a_directory_the_remote_holds(
        repo: Path, tmp_path: Path, run_artver: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # A listing in the remote vouches for its files: a push with nothing new must cost one
    # request per directory, not a parse of a listing of millions of lines.
    from artver import listing
    from tests.support.git import commit_all

    remote = tmp_path / "remote"
    remote.mkdir()
    assert run_artver(repo, "remote", "add", "o", str(remote), "--default").code == 0
    assert run_artver(repo, "config", "core.listing_inline_max", "1").code == 0
    (repo / "d").mkdir()
    for name, content in (("a", b"same"), ("b", b"same"), ("c", b"other")):
        (repo / "d" / name).write_bytes(content)
    assert run_artver(repo, "add", "d").code == 0
    commit_all(repo, "d")
    assert run_artver(repo, "push").code == 0

    def refuse(data: bytes, where: str) -> None:
        raise AssertionError(f"{where} was parsed")

    monkeypatch.setattr(listing, "from_object_bytes", refuse)
    again = run_artver(repo, "push")
    assert again.code == 0, again.err
    assert "Everything is up to date: 3 objects" in again.out  # the listing and two distinct files
