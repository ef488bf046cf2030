"""Moving objects between the cache and a remote: what to move, in parallel, with retries.

This layer knows the object layout (``<algorithm>/<2 hex>/<rest>``, the same as
the cache) and verification; it knows nothing about S3 or GCS (see remotes/).

Every Storage this module is given retries by itself (remotes/retry.py): nothing here
retries a remote operation.

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
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from artver import hashing
from artver.cache import Cache
from artver.errors import (
    AccessDeniedError,
    ArtverError,
    CacheError,
    ContainerNotFoundError,
    IntegrityError,
    ObjectMissingError,
    ObjectNotFoundError,
    RemoteError,
    RemoteGaveUpError,
)
from artver.fsutil import unlink_if_present
from artver.progress import NO_PROGRESS, Progress
from artver.remotes.base import Size, Storage, hard_linking
from artver.remotes.retry import DEFAULT_RETRIES, RetryingStorage, RetryPolicy
from artver.statcache import StatKey

if TYPE_CHECKING:
    from artver.remotes import RemoteSpec
    from artver.repo import Repo

T = TypeVar("T")

PER_OBJECT_CHECK_LIMIT = 100  # up to this many objects, one existence request each
LIST_PAGE = 1000


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


def stops_the_command(error: ArtverError) -> bool:
    """Whether a failure concerns the whole remote or cache rather than one object: then
    the other objects would fail the same way, and the command stops with this one line.
    Access denied counts as such: with missing or rejected credentials, or a policy that
    refuses the bucket, every object fails alike (and S3 answers 403 for a missing key to a
    caller who may not list the bucket, so a per-object 403 proves nothing either)."""
    if isinstance(error, (ContainerNotFoundError, RemoteGaveUpError, AccessDeniedError)):
        return True
    return isinstance(error, CacheError) and not isinstance(error, ObjectMissingError)


def parallel(jobs: int, function: Callable[[T], None], items: Iterable[T]) -> None:
    """Call ``function`` on every item, ``jobs`` at a time. The first exception stops
    the others from starting and is raised once those under way have ended."""
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


def remote_sizes(storage: Storage, hashes: Sequence[str], jobs: int) -> dict[str, Size]:
    """Which of ``hashes`` the remote holds, with their sizes, in as few requests as sensible."""
    if not hashes:
        return {}
    keys = {key_of(hash_value): hash_value for hash_value in hashes}
    folders = sorted({key.rsplit("/", 1)[0] + "/" for key in keys})
    if len(keys) > PER_OBJECT_CHECK_LIMIT:
        # Sample one folder to estimate what listing all of them would cost.
        sample = list(storage.list(folders[0]))
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
            found: dict[str, Size] = {}
            lock = threading.Lock()

            def list_range(prefix: str) -> None:
                listed = [(key, size) for key, size in storage.list(prefix) if key in keys]
                with lock:
                    found.update(listed)

            parallel(jobs, list_range, ranges)
            return {keys[key]: size for key, size in found.items()}
        if pages_per_folder * len(folders) <= len(keys) // 2:
            present: dict[str, Size] = {key: size for key, size in sample if key in keys}
            lock = threading.Lock()

            def list_folder(folder: str) -> None:
                found = [(key, size) for key, size in storage.list(folder) if key in keys]
                with lock:
                    present.update(found)

            parallel(jobs, list_folder, folders[1:])
            return {keys[key]: size for key, size in present.items()}
    batches = [list(keys)[index : index + 20] for index in range(0, len(keys), 20)]
    found_keys: dict[str, Size] = {}
    lock = threading.Lock()

    def check(batch: list[str]) -> None:
        result = storage.exists(batch)
        with lock:
            found_keys.update(result)

    parallel(jobs, check, batches)
    return {keys[key]: size for key, size in found_keys.items()}


def remote_has(storage: Storage, hashes: Sequence[str], jobs: int) -> set[str]:
    """Which of ``hashes`` the remote holds (whatever their size)."""
    return set(remote_sizes(storage, hashes, jobs))


def _transfer_each(
    summary: TransferSummary,
    todo: list[str],
    sizes: dict[str, int],
    operation: Callable[[str], None],
    jobs: int,
    progress: Progress,
    description: str,
) -> list[str]:
    """Run ``operation`` on every hash in parallel; record each outcome in ``summary``.
    Returns the hashes that were transferred. A failure of the whole remote or cache
    (see stops_the_command) is raised instead of being recorded."""
    done: list[str] = []
    if not todo:
        return done
    progress.start(description, sum(sizes[hash_value] for hash_value in todo))
    lock = threading.Lock()

    def one(hash_value: str) -> None:
        try:
            operation(hash_value)
        except ArtverError as error:
            if stops_the_command(error):
                raise
            with lock:
                summary.failed.append(Failure(hash_value, str(error)))
            return
        with lock:
            summary.transferred += 1
            summary.bytes += sizes[hash_value]
            done.append(hash_value)

    try:
        parallel(jobs, one, todo)
    finally:
        progress.finish()
    summary.failed.sort(key=lambda failure: failure.object)
    return done


def push(
    cache: Cache,
    storage: Storage,
    objects: dict[str, int],
    jobs: int,
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
    found = remote_sizes(storage, sorted(known), jobs) if known else {}
    vouched: set[str] = set()
    for listing, files in known.items():
        stated = found.get(listing)
        if stated is not None and stated >= sizes[listing]:  # an unknown size vouches for nothing
            vouched.update(files)
    found.update(remote_sizes(storage, sorted(set(objects) - set(known) - vouched), jobs))
    # An object the store states to be shorter than it should be is what some stores keep of
    # an interrupted upload (SeaweedFS keeps a cut PUT as an empty object): it is replaced.
    # An object of unknown size is left alone, like any other object under its key ('artver
    # verify -r' reports one that is corrupt): a remote object is deleted only on the store's
    # own word that it is short.
    damaged = {hash_value for hash_value, size in found.items()
               if hash_value in in_cache and size is not None and size < sizes[hash_value]}
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
    uploaded = set(_transfer_each(summary, files_first, sizes, upload, jobs, progress, f"Pushing to {storage.url}"))
    in_remote = present | uploaded
    listings_last = []
    for listing in (hash_value for hash_value in todo if hash_value in known):
        missing = len(known[listing] - in_remote)
        if missing:
            summary.failed.append(Failure(listing, f"directory listing not uploaded: {missing} of its files are not in the "
                                                   f"remote (see the other failures); a rerun uploads it after them"))
        else:
            listings_last.append(listing)
    _transfer_each(summary, listings_last, sizes, upload, jobs, progress, f"Pushing to {storage.url}")
    summary.failed.sort(key=lambda failure: failure.object)
    return summary


def fetch(
    cache: Cache,
    storage: Storage,
    objects: dict[str, int],
    jobs: int,
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

    done = _transfer_each(summary, todo, objects, download, jobs, progress, f"Fetching from {storage.url}")
    if installed is not None:
        installed.extend((hash_value, keys[hash_value]) for hash_value in done)
    return summary


class _HashingWriter:
    """The Sink of a download into the cache: writes to a temp file's descriptor, hashing
    and counting as it goes. A failure to write is the cache's (a full disk), not the
    remote's: it is raised as CacheError naming the cache, which no backend translates."""

    def __init__(self, fd: int, temp: str, algorithm: str) -> None:
        self._fd = fd
        self._temp = temp
        self._algorithm = algorithm
        self.hasher = hashing.new_hasher(algorithm)
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hasher.update(data)
        view = memoryview(data)
        written = 0
        try:
            while written < len(view):
                written += os.write(self._fd, view[written:])
        except OSError as error:
            raise CacheError(f"cannot write a download into the cache ({self._temp}): "
                             f"{(error.strerror or str(error)).lower()}; free some space or fix the cache "
                             f"directory, then run the command again") from None
        self.size += written
        return written

    def rewind(self) -> None:
        os.ftruncate(self._fd, 0)
        os.lseek(self._fd, 0, os.SEEK_SET)
        self.hasher = hashing.new_hasher(self._algorithm)
        self.size = 0


@dataclass(frozen=True)
class _Downloaded:
    temp: str  # a read-only temp file in the cache's temp folder
    size: int
    hash: str  # of what arrived
    stat: StatKey


def _download_once(cache: Cache, storage: Storage, hash_value: str, progress: Progress) -> _Downloaded:
    """Download into a new temp file, hashing as it streams (or, from a directory remote on
    the cache's filesystem, link the object under the temp name and hash it there)."""
    linking = hard_linking(storage)
    if linking is not None:
        temp = cache.new_temp()
        if linking.link_to(key_of(hash_value), temp):
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
            sink = _HashingWriter(fd, temp, hashing.algorithm_of(hash_value))
            storage.download(key_of(hash_value), sink, progress.advance)
            stat = StatKey.of(os.fstat(fd))  # unchanged by the rename that installs it
        finally:
            os.close(fd)
    except BaseException:
        unlink_if_present(temp)
        raise
    return _Downloaded(temp, sink.size, f"{hashing.algorithm_of(hash_value)}:{sink.hasher.hexdigest()}", stat)



MISMATCH_DOWNLOADS = 3  # downloads of one object whose bytes do not match its hash, at most


def _download_checked(cache: Cache, storage: Storage, hash_value: str, progress: Progress,
                      size: int | None = None) -> _Downloaded:
    """A temp file holding the object, only if its content matches its hash.

    A connection cut inside the response headers can look like a complete, shorter body, so
    wrong bytes prove nothing by themselves: the object is downloaded again. The remote's
    copy is declared damaged (IntegrityError) only when two downloads bring the same bytes
    and the store itself states the object has that many bytes; an object that may be
    intact is never called corrupt. After MISMATCH_DOWNLOADS wrong downloads that prove
    nothing, this object fails (RemoteError) and the others go on."""
    outcomes: list[tuple[int, str]] = []
    for _ in range(MISMATCH_DOWNLOADS):
        downloaded = _download_once(cache, storage, hash_value, progress)
        if downloaded.hash == hash_value:
            return downloaded
        unlink_if_present(downloaded.temp)
        outcome = (downloaded.size, downloaded.hash)
        if outcome in outcomes:
            _raise_if_damaged(storage, hash_value, outcome, size)
        outcomes.append(outcome)
    received = ", ".join(str(received_size) for received_size, _ in outcomes)
    raise RemoteError(
        f"{storage.url}: object {hash_value} arrived damaged {len(outcomes)} times ({received} bytes of "
        f"{size if size else 'an unknown size'}); it was not used. The remote's copy may be intact: check "
        f"the network, then run the command again"
    )


def _raise_if_damaged(storage: Storage, hash_value: str, outcome: tuple[int, str], size: int | None) -> None:
    """Two downloads brought the same wrong bytes: raise IntegrityError if the store states the
    object has exactly that length (else a cut connection may explain it: return)."""
    received, actual = outcome
    key = key_of(hash_value)
    if storage.exists([key]).get(key) != received:
        return
    if size and received < size:
        raise IntegrityError(
            f"{storage.url}: object {hash_value} is corrupt: the remote has only {received} of its {size} bytes "
            f"(what an interrupted upload leaves); it was not used. 'artver push' from a clone that has it replaces it."
        )
    raise IntegrityError(
        f"{storage.url}: object {hash_value} is corrupt (its content hashes to {actual}); "
        f"it was not used. Delete it from the remote, then 'artver push' from a clone that has it intact."
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


def download_to_temp(cache: Cache, storage: Storage, hash_value: str) -> str:
    """A verified copy of the object in the cache's temp folder, not installed; the caller deletes it."""
    return _download_checked(cache, storage, hash_value, NO_PROGRESS).temp


def check_remote_object(cache: Cache, storage: Storage, hash_value: str) -> str | None:
    """None if the remote holds the object intact, else 'missing' or 'corrupt'. A missing
    bucket or directory is not a missing object: ContainerNotFoundError is raised."""
    try:
        temp = download_to_temp(cache, storage, hash_value)
    except IntegrityError:
        return "corrupt"
    except ObjectNotFoundError:
        return "missing"
    unlink_if_present(temp)
    return None


@dataclass(frozen=True)
class Session:
    """A remote with the parallelism and retry policy to use with it. The storage is
    opened on first use, so a command that finds nothing to transfer does not pay for
    importing and setting up a cloud client; it retries by the policy by itself."""

    url: str  # the remote, as messages name it
    jobs: int
    policy: RetryPolicy
    open_storage: Callable[[], Storage]
    notify: Callable[[str], None] | None = None  # details for -v (see Progress.note)

    @functools.cached_property
    def storage(self) -> Storage:
        return RetryingStorage(self.open_storage(), self.policy, self.notify)


def open_session(repo: Repo, remote: str | None, jobs: int | None,
                 notify: Callable[[str], None] | None = None) -> Session:
    from artver.remotes import open_storage, spec_of

    spec = spec_of(repo.config, remote, repo.root)
    section = f"remote.{spec.name}"
    if jobs is None:
        configured = repo.config.get(section, "jobs")
        jobs = default_jobs(_kind_of(spec)) if configured is None else repo.config.get_int(section, "jobs", 1)
    if jobs < 1:
        raise ArtverError(f"-j/--jobs must be at least 1, not {jobs}")
    policy = RetryPolicy.from_retries(repo.config.get_int(section, "retries", DEFAULT_RETRIES))
    return Session(spec.describe(), jobs, policy, lambda: open_storage(spec, repo.config, jobs, notify), notify)


def _kind_of(spec: RemoteSpec) -> str:
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
