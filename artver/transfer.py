"""Moving objects between the cache and a remote: what to move, in parallel, with retries.

This layer knows the object layout (``<algorithm>/<2 hex>/<rest>``, the same as
the cache) and verification; it knows nothing about S3 or GCS (see remotes/).

Existence checks are batched: a few objects are checked one request each; for
many, the 2-hex folders they fall into are listed instead, unless the remote
is so large that listing would cost more requests than checking.

Downloads are hashed while they stream into a temp file in the cache and are
moved to their final name only if the hash matches, so a corrupt or tampered
object never enters the cache, and an interrupted download leaves nothing.
"""

from __future__ import annotations

import functools
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Sequence, TypeVar

from artver import hashing
from artver.cache import Cache
from artver.errors import ArtverError, IntegrityError, RemoteError, TransientRemoteError
from artver.fsutil import unlink_if_present
from artver.progress import NO_PROGRESS, Progress
from artver.remotes.base import Storage
from artver.statcache import StatKey

if TYPE_CHECKING:
    from artver.remotes import RemoteSpec
    from artver.repo import Repo

T = TypeVar("T")

PER_OBJECT_CHECK_LIMIT = 100  # up to this many objects, one existence request each
LIST_PAGE = 1000
DEFAULT_RETRIES = 5  # retries after the first attempt
BACKOFF_BASE = 0.25
BACKOFF_CAP = 10.0


def default_jobs(kind: str) -> int:
    """How many objects to move at once to a remote of this kind: 'disk' (a directory on a
    local filesystem), 'share' (a directory on a network filesystem) or 'cloud'.

    On a local disk each object costs CPU and kernel time, not waiting: more threads only
    contend for the GIL and the directories (pushing 20,000 small files took 2.6 s with one
    thread and 4-5.5 s with 2 to 8). Network storage is latency-bound, so there many
    requests in flight are what makes it fast."""
    if kind == "disk":
        return 1
    cpus = os.cpu_count() or 2
    return min(16, cpus * 4) if kind == "share" else min(32, max(8, cpus * 8))


def key_of(hash_value: str) -> str:
    algorithm, digest = hashing.split_hash(hash_value)
    return f"{algorithm}/{digest[:2]}/{digest[2:]}"


def hash_of_key(key: str) -> str | None:
    parts = key.split("/")
    if len(parts) != 3:
        return None
    value = f"{parts[0]}:{parts[1]}{parts[2]}"
    return value if hashing.is_valid_hash(value) else None


@dataclass(frozen=True)
class Failure:
    object: str
    error: str


@dataclass
class TransferSummary:
    remote: str
    transferred: int = 0
    bytes: int = 0
    skipped: int = 0  # already at the destination
    failed: list[Failure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = DEFAULT_RETRIES
    base: float = BACKOFF_BASE
    cap: float = BACKOFF_CAP


def with_retries(operation: Callable[[], T], policy: RetryPolicy, on_retry: Callable[[], None] | None = None) -> T:
    """Retry TransientRemoteError with exponential backoff and full jitter."""
    for attempt in range(1, policy.attempts + 1):
        try:
            return operation()
        except TransientRemoteError as error:
            if attempt >= policy.attempts:
                raise RemoteError(f"{error} (gave up after {policy.attempts} attempts)") from None
            if on_retry is not None:
                on_retry()
            time.sleep(random.uniform(0, min(policy.cap, policy.base * 2 ** attempt)))
    raise AssertionError("unreachable")


def _parallel(jobs: int, function: Callable[[T], None], items: Iterable[T]) -> None:
    items = list(items)
    if jobs <= 1 or len(items) <= 1:
        for item in items:
            function(item)
        return
    stop = threading.Event()

    def guarded(item: T) -> None:
        if not stop.is_set():
            function(item)

    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="artver-transfer")
    try:
        for future in [pool.submit(guarded, item) for item in items]:
            future.result()
    except KeyboardInterrupt:
        # Ctrl-C: start nothing new and do not wait; the transfers under way end at their own
        # pace (each is atomic) while the process exits.
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    except BaseException:
        stop.set()  # an error: start nothing new, but let no thread outlive this call
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def remote_sizes(storage: Storage, hashes: Sequence[str], jobs: int, policy: RetryPolicy) -> dict[str, int]:
    """Which of ``hashes`` the remote holds, with their sizes, in as few requests as sensible."""
    if not hashes:
        return {}
    keys = {key_of(hash_value): hash_value for hash_value in hashes}
    folders = sorted({key.rsplit("/", 1)[0] + "/" for key in keys})
    if len(keys) > PER_OBJECT_CHECK_LIMIT:
        # Sample one folder to estimate what listing all of them would cost.
        sample = with_retries(lambda: list(storage.list(folders[0])), policy)
        pages_per_folder = max(1, -(-len(sample) // LIST_PAGE))
        algorithms = {folder.split("/", 1)[0] for folder in folders}
        # Keys spread evenly over the 256 folders: the sample says how large the whole remote is.
        pages_for_all = max(1, -(-len(sample) * 256 // LIST_PAGE))
        if len(algorithms) == 1 and pages_for_all < len(folders) and pages_for_all <= len(keys) // 2:
            (algorithm,) = algorithms
            # The 16 ranges of first hex digit are listed side by side: each is a separate
            # chain of pages, so the round trips overlap instead of adding up.
            ranges = [f"{algorithm}/{digit}" for digit in "0123456789abcdef"] if jobs > 1 and pages_for_all > 1 \
                else [f"{algorithm}/"]
            found: dict[str, int] = {}
            lock = threading.Lock()

            def list_range(prefix: str) -> None:
                listed = with_retries(lambda: [(key, size) for key, size in storage.list(prefix) if key in keys], policy)
                with lock:
                    found.update(listed)

            _parallel(jobs, list_range, ranges)
            return {keys[key]: size for key, size in found.items()}
        if pages_per_folder * len(folders) <= len(keys) // 2:
            present: dict[str, int] = {key: size for key, size in sample if key in keys}
            lock = threading.Lock()

            def list_folder(folder: str) -> None:
                found = [(key, size) for key, size in with_retries(lambda: list(storage.list(folder)), policy) if key in keys]
                with lock:
                    present.update(found)

            _parallel(jobs, list_folder, folders[1:])
            return {keys[key]: size for key, size in present.items()}
    batches = [list(keys)[index : index + 20] for index in range(0, len(keys), 20)]
    found_keys: dict[str, int] = {}
    lock = threading.Lock()

    def check(batch: list[str]) -> None:
        result = with_retries(lambda: storage.exists(batch), policy)
        with lock:
            found_keys.update(result)

    _parallel(jobs, check, batches)
    return {keys[key]: size for key, size in found_keys.items()}


def remote_has(storage: Storage, hashes: Sequence[str], jobs: int, policy: RetryPolicy) -> set[str]:
    """Which of ``hashes`` the remote holds (whatever their size)."""
    return set(remote_sizes(storage, hashes, jobs, policy))


def _transfer_each(
    summary: TransferSummary,
    todo: list[str],
    sizes: dict[str, int],
    operation: Callable[[str], None],
    jobs: int,
    policy: RetryPolicy,
    progress: Progress,
    description: str,
) -> list[str]:
    """Run ``operation`` on every hash in parallel with retries; record each outcome in
    ``summary``. Returns the hashes that were transferred."""
    done: list[str] = []
    if not todo:
        return done
    progress.start(description, sum(sizes[hash_value] for hash_value in todo))
    lock = threading.Lock()

    def one(hash_value: str) -> None:
        try:
            with_retries(lambda: operation(hash_value), policy)
        except ArtverError as error:
            with lock:
                summary.failed.append(Failure(hash_value, str(error)))
            return
        with lock:
            summary.transferred += 1
            summary.bytes += sizes[hash_value]
            done.append(hash_value)

    try:
        _parallel(jobs, one, todo)
    finally:
        progress.finish()
    summary.failed.sort(key=lambda failure: failure.object)
    return done


def push(
    cache: Cache,
    storage: Storage,
    objects: dict[str, int],
    jobs: int,
    policy: RetryPolicy = RetryPolicy(),
    progress: Progress = NO_PROGRESS,
    validate: Callable[[list[str]], set[str]] | None = None,
    listings: dict[str, frozenset[str]] | None = None,
) -> TransferSummary:
    """Upload every object in ``objects`` (hash -> size) that the remote lacks.
    ``validate`` returns the hashes among those to upload whose cache object is corrupt.

    ``listings`` maps each directory listing object among ``objects`` to the file objects
    it lists. A listing is uploaded only after every one of its files is in the remote, so
    a listing found in the remote vouches for its files, which are then not checked one by
    one: a push with nothing new costs one request per large directory, not a listing of
    the whole remote (docs/design.md, "Write ordering")."""
    listings = listings or {}
    summary = TransferSummary(storage.url)
    in_cache = cache.present(objects)
    sizes = dict(objects)
    for hash_value in in_cache:
        if not sizes[hash_value]:  # listings are recorded without a size; the cache file knows it
            sizes[hash_value] = os.stat(cache.path_of(hash_value)).st_size
    known = {hash_value: listings[hash_value] for hash_value in listings if hash_value in objects}
    found = remote_sizes(storage, sorted(known), jobs, policy) if known else {}
    vouched: set[str] = set()
    for listing, files in known.items():
        if listing in found and found[listing] >= sizes[listing]:
            vouched.update(files)
    found.update(remote_sizes(storage, sorted(set(objects) - set(known) - vouched), jobs, policy))
    # An object shorter than it should be is what some stores keep of an interrupted upload
    # (SeaweedFS keeps a cut PUT as an empty object): it is replaced. Any other object under
    # its key is never overwritten ('artver verify -r' reports one that is corrupt).
    damaged = {hash_value for hash_value, size in found.items() if hash_value in in_cache and size < sizes[hash_value]}
    present = (set(found) - damaged) | (vouched & set(objects))
    summary.skipped = len(present)
    for hash_value in sorted(set(objects) - present - in_cache):
        summary.failed.append(Failure(hash_value, "not in the local cache, so it cannot be pushed"))

    def upload(hash_value: str) -> None:
        if hash_value in damaged:
            storage.delete(key_of(hash_value))
        storage.upload(key_of(hash_value), cache.path_of(hash_value), progress.advance)

    todo = sorted((set(objects) - present) & in_cache)
    corrupt = validate(todo) if validate is not None and todo else set()
    for hash_value in sorted(corrupt):
        summary.failed.append(Failure(hash_value, "the cache object is corrupt (now quarantined); run 'artver fetch' or re-add the data"))
    todo = [hash_value for hash_value in todo if hash_value not in corrupt]
    files_first = [hash_value for hash_value in todo if hash_value not in known]
    uploaded = set(_transfer_each(summary, files_first, sizes, upload, jobs, policy, progress, f"Pushing to {storage.url}"))
    in_remote = present | uploaded
    listings_last = []
    for listing in (hash_value for hash_value in todo if hash_value in known):
        missing = len(known[listing] - in_remote)
        if missing:
            summary.failed.append(Failure(listing, f"directory listing not uploaded: {missing} of its files are not in the "
                                                   f"remote (see the other failures); a rerun uploads it after them"))
        else:
            listings_last.append(listing)
    _transfer_each(summary, listings_last, sizes, upload, jobs, policy, progress, f"Pushing to {storage.url}")
    summary.failed.sort(key=lambda failure: failure.object)
    return summary


def fetch(
    cache: Cache,
    storage: Storage,
    objects: dict[str, int],
    jobs: int,
    policy: RetryPolicy = RetryPolicy(),
    progress: Progress = NO_PROGRESS,
    installed: list[tuple[str, StatKey]] | None = None,
) -> TransferSummary:
    """Download every object in ``objects`` that the cache lacks, verifying each one.
    The objects installed are appended to ``installed`` with the stat of their cache file."""
    summary = TransferSummary(storage.url)
    present = cache.present(objects)
    todo = sorted(hash_value for hash_value in objects if hash_value not in present)
    summary.skipped = len(objects) - len(todo)
    keys: dict[str, StatKey] = {}

    def download(hash_value: str) -> None:
        keys[hash_value] = download_verified(cache, storage, hash_value, progress, objects[hash_value] or None)

    done = _transfer_each(summary, todo, objects, download, jobs, policy, progress, f"Fetching from {storage.url}")
    if installed is not None:
        installed.extend((hash_value, keys[hash_value]) for hash_value in done)
    return summary


class _HashingWriter:
    """A sink for Storage.download: writes to a descriptor, hashing and counting as it goes."""

    def __init__(self, fd: int, algorithm: str) -> None:
        self._fd = fd
        self.hasher = hashing.new_hasher(algorithm)
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hasher.update(data)
        view = memoryview(data)
        written = 0
        while written < len(view):
            written += os.write(self._fd, view[written:])
        self.size += written
        return written


@dataclass(frozen=True)
class _Downloaded:
    temp: str  # a read-only temp file in the cache's temp folder
    size: int
    hash: str  # of what arrived
    stat: StatKey


def _download_once(cache: Cache, storage: Storage, hash_value: str, progress: Progress) -> _Downloaded:
    """Download into a new temp file, hashing as it streams (or, from a directory remote on
    the cache's filesystem, link the object under the temp name and hash it there)."""
    link_to = getattr(storage, "link_to", None)
    if link_to is not None:
        temp = cache.new_temp()
        if link_to(key_of(hash_value), temp):
            try:
                actual, size = hashing.hash_file(temp, hashing.algorithm_of(hash_value), progress.advance)
                stat = StatKey.of(os.stat(temp))
            except BaseException:
                unlink_if_present(temp)
                raise
            return _Downloaded(temp, size, actual, stat)
    temp, fd = cache.create_temp()
    try:
        try:
            sink = _HashingWriter(fd, hashing.algorithm_of(hash_value))
            storage.download(key_of(hash_value), sink, progress.advance)  # type: ignore[arg-type]
            stat = StatKey.of(os.fstat(fd))  # unchanged by the rename that installs it
        finally:
            os.close(fd)
    except BaseException:
        unlink_if_present(temp)
        raise
    return _Downloaded(temp, sink.size, f"{hashing.algorithm_of(hash_value)}:{sink.hasher.hexdigest()}", stat)



def _download_checked(cache: Cache, storage: Storage, hash_value: str, progress: Progress,
                      size: int | None = None) -> _Downloaded:
    """A temp file holding the object, only if its content matches its hash.

    A connection cut inside the response headers can look like a complete, shorter body, so
    one wrong result proves nothing: the object is downloaded again. The same wrong bytes
    twice mean the remote's copy is corrupt (IntegrityError); different ones, a flaky
    transfer (TransientRemoteError, retried by the caller)."""
    outcomes = []
    for _ in range(2):
        downloaded = _download_once(cache, storage, hash_value, progress)
        if downloaded.hash == hash_value:
            return downloaded
        unlink_if_present(downloaded.temp)
        outcomes.append((downloaded.size, downloaded.hash))
    (first_size, first_hash), second = outcomes
    short = f", {first_size} of {size} bytes" if size and first_size != size else ""
    if second == (first_size, first_hash):
        raise IntegrityError(
            f"{storage.url}: object {hash_value} is corrupt (its content hashes to {first_hash}{short}); "
            f"it was not used. Delete it from the remote, then 'artver push' from a clone that has it intact."
        )
    raise TransientRemoteError(
        f"{storage.url}: object {hash_value} arrived damaged twice ({first_size} and {second[0]} bytes of {size or '?'})"
    )


def download_verified(cache: Cache, storage: Storage, hash_value: str, progress: Progress = NO_PROGRESS,
                      size: int | None = None) -> StatKey:
    """Download one object and install it in the cache, only if it matches its hash;
    return the stat of the installed object (it was hashed on the way in)."""
    downloaded = _download_checked(cache, storage, hash_value, progress, size)
    try:
        cache.install_trusted(downloaded.temp, hash_value, read_only=True)
    except BaseException:
        unlink_if_present(downloaded.temp)
        raise
    return downloaded.stat


def download_to_temp(cache: Cache, storage: Storage, hash_value: str, policy: RetryPolicy) -> str:
    """A verified copy of the object in the cache's temp folder, not installed; the caller deletes it."""
    return with_retries(lambda: _download_checked(cache, storage, hash_value, NO_PROGRESS), policy).temp


def check_remote_object(cache: Cache, storage: Storage, hash_value: str, policy: RetryPolicy) -> str | None:
    """None if the remote holds the object intact, else 'missing' or 'corrupt'."""
    try:
        temp = download_to_temp(cache, storage, hash_value, policy)
    except IntegrityError:
        return "corrupt"
    except RemoteError as error:
        if "does not exist" in str(error):
            return "missing"
        raise
    unlink_if_present(temp)
    return None


@dataclass(frozen=True)
class Session:
    """A remote with the parallelism and retry policy to use with it. The storage is
    opened on first use, so a command that finds nothing to transfer does not pay for
    importing and setting up a cloud client."""

    url: str  # the remote, as messages name it
    jobs: int
    policy: RetryPolicy
    open_storage: Callable[[], Storage]

    @functools.cached_property
    def storage(self) -> Storage:
        return self.open_storage()


def open_session(repo: "Repo", remote: str | None, jobs: int | None) -> Session:
    from artver.remotes import open_storage, spec_of

    spec = spec_of(repo.config, remote, repo.root)
    section = f"remote.{spec.name}"
    if jobs is None:
        configured = repo.config.get(section, "jobs")
        jobs = default_jobs(_kind_of(spec)) if configured is None else repo.config.get_int(section, "jobs", 1)
    if jobs < 1:
        raise ArtverError(f"-j/--jobs must be at least 1, not {jobs}")
    policy = RetryPolicy(attempts=1 + max(0, repo.config.get_int(section, "retries", DEFAULT_RETRIES)))
    return Session(spec.describe(), jobs, policy, lambda: open_storage(spec, repo.config, jobs))


def _kind_of(spec: "RemoteSpec") -> str:
    if spec.scheme != "file":
        return "cloud"
    from artver.remotes.local import is_network_filesystem

    return "share" if is_network_filesystem(Path(spec.bucket)) else "disk"


def merge(first: TransferSummary, second: TransferSummary) -> TransferSummary:
    return TransferSummary(
        remote=first.remote,
        transferred=first.transferred + second.transferred,
        bytes=first.bytes + second.bytes,
        skipped=first.skipped + second.skipped,
        failed=sorted(first.failed + second.failed, key=lambda failure: failure.object),
    )
