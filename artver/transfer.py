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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from artver import hashing, packs
from artver.cache import Cache
from artver.chunk_index import ChunkIndex
from artver.chunk_index import database_path as chunk_database_path
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
from artver.packs import Location, Member
from artver.progress import NO_PROGRESS, Progress
from artver.remote_chunks import ChunkedRemote, Moved, chunk_settings, may_be_chunked
from artver.remote_index import database_path
from artver.remote_packs import PackedRemote, open_packed, pack_settings
from artver.remotes.base import Size, Storage, hard_linking
from artver.remotes.retry import DEFAULT_RETRIES, RetryingStorage, RetryPolicy
from artver.statcache import StatKey
from artver.threads import parallel

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
    deduplicated: int = 0  # bytes of chunked files that did not move: the other side had those chunks

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


def remote_has(storage: Storage, hashes: Sequence[str], jobs: int, packed: PackedRemote | None = None,
               chunked: ChunkedRemote | None = None, sizes: dict[str, int] | None = None) -> set[str]:
    """Which of ``hashes`` the remote holds (whatever their size), in its packs, whole, or
    (for those ``sizes`` says are large) as a recipe."""
    in_packs = set(packed.locate(hashes)) if packed is not None and hashes else set()
    found = in_packs | set(remote_sizes(storage, [hash_value for hash_value in hashes if hash_value not in in_packs], jobs))
    if chunked is not None and sizes is not None:
        large = [hash_value for hash_value in hashes if hash_value not in found and may_be_chunked(sizes.get(hash_value) or 0)]
        found |= chunked.recipes_present(large)
    return found


def _transfer_each(
    summary: TransferSummary,
    todo: list[str],
    sizes: dict[str, int],
    operation: Callable[[str], None],
    jobs: int,
    progress: Progress,
    description: str | None,
) -> list[str]:
    """Run ``operation`` on every hash in parallel; record each outcome in ``summary``.
    Returns the hashes that were transferred. A failure of the whole remote or cache
    (see stops_the_command) is raised instead of being recorded. With a ``description``,
    a progress bar of its own; without, the bar the caller started advances."""
    done: list[str] = []
    if not todo:
        return done
    if description is not None:
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
        if description is not None:
            progress.finish()
    summary.failed.sort(key=lambda failure: failure.object)
    return done


def vouches(stated: Size, local_size: int) -> bool:
    """Whether a listing the remote holds, of the size the store states, vouches for its files
    (it went up after all of them): it must be there whole. An unknown size vouches for nothing."""
    return stated is not None and stated >= local_size


def push(
    cache: Cache,
    storage: Storage,
    objects: dict[str, int],
    jobs: int,
    progress: Progress = NO_PROGRESS,
    validate: Callable[[list[str]], set[str]] | None = None,
    listings: dict[str, frozenset[str]] | None = None,
    packed: PackedRemote | None = None,
    chunked: ChunkedRemote | None = None,
) -> TransferSummary:
    """Upload every object in ``objects`` (hash -> size) that the remote lacks.
    ``objects`` comes in artifact-path order: that is the order of members in packs, so
    one folder is one contiguous range of a pack.
    ``validate`` returns the hashes among those to upload whose cache object is corrupt.

    ``listings`` maps each directory listing object among ``objects`` to the file objects
    it lists. A listing is uploaded only after every one of its files is in the remote, so
    a listing found in the remote vouches for its files, which are then not checked one by
    one: a push with nothing new costs one request per large directory, not a listing of
    the whole remote (docs/design.md, "Write ordering").

    With ``packed`` (a remote that may hold packs), objects its packs hold are known
    without a request, and small objects go up in packs (remote_packs.py). With
    ``chunked``, large files go up as the chunks the remote lacks plus a recipe
    (remote_chunks.py); a file whose recipe is there counts as present."""
    listings = listings or {}
    summary = TransferSummary(storage.url)
    in_cache = cache.present(objects)
    # Listings are recorded without a size; the cache file knows it. Filled in ``objects``
    # itself (the caller's map, now with better sizes), not in a copy of it: a push may name
    # millions of objects.
    sizes = objects
    for hash_value in in_cache:
        if not sizes[hash_value]:
            sizes[hash_value] = os.stat(cache.path_of(hash_value)).st_size
    known = {hash_value: listings[hash_value] for hash_value in listings if hash_value in objects}
    found = remote_sizes(storage, sorted(known), jobs) if known else {}
    vouched: set[str] = set()
    for listing, files in known.items():
        if vouches(found.get(listing), sizes[listing]):
            vouched.update(files)
    # Lists and comprehensions rather than set algebra over ``objects``: a push may name
    # millions of objects, and every temporary set of them costs tens of MiB.
    unvouched = sorted(hash_value for hash_value in objects if hash_value not in known and hash_value not in vouched)
    in_packs = set(packed.locate(unvouched)) if packed is not None and unvouched else set()
    found.update(remote_sizes(storage, [hash_value for hash_value in unvouched if hash_value not in in_packs], jobs))
    unseen = [hash_value for hash_value in unvouched
              if hash_value not in in_packs and hash_value not in found and may_be_chunked(sizes[hash_value])]
    del unvouched
    in_recipes = chunked.recipes_present(unseen) if chunked is not None and unseen else set()
    # An object the store states to be shorter than it should be is what some stores keep of
    # an interrupted upload (SeaweedFS keeps a cut PUT as an empty object): it is replaced.
    # An object of unknown size is left alone, like any other object under its key ('artver
    # verify -r' reports one that is corrupt): a remote object is deleted only on the store's
    # own word that it is short.
    damaged = {hash_value for hash_value, size in found.items()
               if hash_value in in_cache and size is not None and size < sizes[hash_value]}
    present = {hash_value for hash_value in found if hash_value not in damaged}
    present.update(hash_value for hash_value in vouched if hash_value in objects)
    present |= in_packs
    present |= in_recipes
    del in_packs
    summary.skipped = len(present)
    for hash_value in sorted(hash_value for hash_value in objects if hash_value not in present and hash_value not in in_cache):
        summary.failed.append(Failure(hash_value, "not in the local cache, so it cannot be pushed"))

    def upload(hash_value: str) -> None:
        if hash_value in damaged:
            storage.delete(key_of(hash_value))
        storage.upload(key_of(hash_value), cache.path_of(hash_value), progress.advance)

    todo = sorted(hash_value for hash_value in objects if hash_value not in present and hash_value in in_cache)
    del in_cache  # sets of every object are dropped as soon as they are used: tens of MiB each
    corrupt = validate(todo) if validate is not None and todo else set()
    for hash_value in sorted(corrupt):
        summary.failed.append(Failure(hash_value, "the cache object is corrupt (now quarantined); run 'artver fetch' or re-add the data"))
    todo = [hash_value for hash_value in todo if hash_value not in corrupt]
    files_first = [hash_value for hash_value in todo if hash_value not in known]
    to_pack: list[str] = []
    if packed is not None:
        packable = {hash_value for hash_value in files_first if packed.settings.packs(sizes[hash_value])}
        to_pack = [hash_value for hash_value in objects if hash_value in packable]  # artifact-path order
        files_first = [hash_value for hash_value in files_first if hash_value not in packable]
        del packable
    to_chunk: list[str] = []
    if chunked is not None:
        chunkable = {hash_value for hash_value in files_first if chunked.settings.chunks(sizes[hash_value])}
        to_chunk = [hash_value for hash_value in objects if hash_value in chunkable]
        files_first = [hash_value for hash_value in files_first if hash_value not in chunkable]
    uploaded: set[str] = set()
    if to_pack and packed is not None:
        uploaded |= _push_packs(summary, packed, to_pack, sizes, jobs, progress)
    if to_chunk and chunked is not None:
        uploaded |= _push_chunked(summary, cache, chunked, to_chunk, sizes, progress)
    uploaded |= set(_transfer_each(summary, files_first, sizes, upload, jobs, progress, f"Pushing to {storage.url}"))
    listings_last = []
    for listing in (hash_value for hash_value in todo if hash_value in known):
        missing = sum(1 for hash_value in known[listing] if hash_value not in present and hash_value not in uploaded)
        if missing:
            summary.failed.append(Failure(listing, f"directory listing not uploaded: {missing} of its files are not in the "
                                                   f"remote (see the other failures); a rerun uploads it after them"))
        else:
            listings_last.append(listing)
    _transfer_each(summary, listings_last, sizes, upload, jobs, progress, f"Pushing to {storage.url}")
    if packed is not None and (to_pack or to_chunk):
        packed.consolidate()
    summary.failed.sort(key=lambda failure: failure.object)
    return summary


def _push_packs(summary: TransferSummary, packed: PackedRemote, to_pack: list[str], sizes: dict[str, int],
                jobs: int, progress: Progress) -> set[str]:
    """Upload ``to_pack`` (in path order) in packs, each pack then its index, several
    packs at once. A pack that fails fails its members, which the next push packs again
    (a pack no index lists is garbage that gc deletes)."""
    packed.mark_packed()
    groups = packed.groups([(hash_value, sizes[hash_value]) for hash_value in to_pack])
    done: set[str] = set()
    lock = threading.Lock()
    progress.start(f"Pushing to {packed.storage.url}", sum(sizes[hash_value] for hash_value in to_pack))

    def one(group: list[tuple[str, int]]) -> None:
        try:
            packed.write_pack(group, progress.advance)
        except ArtverError as error:
            if stops_the_command(error):
                raise
            with lock:
                summary.failed.extend(Failure(hash_value, str(error)) for hash_value, _ in group)
            return
        with lock:
            summary.transferred += len(group)
            summary.bytes += sum(size for _, size in group)
            done.update(hash_value for hash_value, _ in group)

    try:
        parallel(min(jobs, PACK_JOBS), one, groups)
    finally:
        progress.finish()
    return done


PACK_JOBS = 4  # packs built and uploaded at once: each is a temp file of pack_size in the cache


def _push_chunked(summary: TransferSummary, cache: Cache, chunked: ChunkedRemote, to_chunk: list[str],
                  sizes: dict[str, int], progress: Progress) -> set[str]:
    """Upload each large file as the chunks the remote lacks plus its recipe."""
    def push_one(hash_value: str) -> Moved:
        return chunked.push_file(cache, hash_value, sizes[hash_value], progress.advance)

    return set(_each_chunked(summary, to_chunk, sizes, f"Pushing to {chunked.storage.url}", progress, push_one))


def _each_chunked(summary: TransferSummary, files: list[str], sizes: dict[str, int], description: str | None,
                  progress: Progress, move: Callable[[str], Moved]) -> list[str]:
    """Move each chunked file with ``move``, one at a time (each file's packs or reads several
    at once); record each outcome in ``summary``; return the files moved. ``description``:
    as for _transfer_each."""
    done: list[str] = []
    if description is not None:
        progress.start(description, sum(sizes[hash_value] for hash_value in files))
    try:
        for hash_value in files:
            try:
                moved = move(hash_value)
            except ArtverError as error:
                if stops_the_command(error):
                    raise
                summary.failed.append(Failure(hash_value, str(error)))
                continue
            summary.transferred += 1
            summary.bytes += moved.transferred
            summary.deduplicated += moved.deduplicated
            done.append(hash_value)
    finally:
        if description is not None:
            progress.finish()
    return done


def fetch(
    cache: Cache,
    storage: Storage,
    objects: dict[str, int],
    jobs: int,
    progress: Progress = NO_PROGRESS,
    on_installed: Callable[[list[tuple[str, StatKey]]], None] | None = None,
    packed: PackedRemote | None = None,
    chunked: ChunkedRemote | None = None,
) -> TransferSummary:
    """Download every object in ``objects`` that the cache lacks, verifying each one.
    The objects installed are handed to ``on_installed`` with the stat of their cache file,
    a batch at a time (and not kept here: a pull of millions of files records them as it goes).
    With ``packed``, objects its packs hold are read as ranges of their packs (members
    close together in one request); the others, and members of a pack that is gone, are
    downloaded whole. With ``chunked``, a large file the remote holds as a recipe is rebuilt
    from the chunks the cache's files hold and those read from packs."""
    summary = TransferSummary(storage.url)
    present = cache.present(objects)
    # In artifact-path order (the order of ``objects``): the members of one folder lie
    # together in packs, so each batch below reads few, long ranges.
    todo = [hash_value for hash_value in objects if hash_value not in present]
    summary.skipped = len(objects) - len(todo)
    keys: dict[str, StatKey] = {}

    def download(hash_value: str) -> None:
        keys[hash_value] = download_verified(cache, storage, hash_value, progress, objects[hash_value] or None)

    def deliver(hashes: list[str]) -> None:
        items = [(hash_value, keys.pop(hash_value)) for hash_value in hashes]
        if on_installed is not None and items:
            on_installed(items)

    whole: list[str] = []
    if not todo:
        return summary
    progress.start(f"Fetching from {storage.url}", sum(objects[hash_value] for hash_value in todo))
    try:
        # Located and read a batch at a time: what the indexes say of each object is held
        # for one batch, so memory does not grow with the number of objects.
        for start in range(0, len(todo), FETCH_BATCH):
            batch = todo[start:start + FETCH_BATCH]
            located = _packed_locations(packed, batch, objects)
            if located and packed is not None:
                deliver(_fetch_members(cache, summary, packed, located, keys, jobs, progress, download))
            whole += (hash_value for hash_value in batch if hash_value not in located)
            del located
        whole.sort()
        large = [hash_value for hash_value in whole if may_be_chunked(objects[hash_value])]
        recipes = chunked.recipes_present(large) if chunked is not None and large else set()
        if recipes and chunked is not None:
            deliver(_fetch_chunked(summary, cache, chunked, [hash_value for hash_value in whole if hash_value in recipes],
                                   objects, keys, progress))
            whole = [hash_value for hash_value in whole if hash_value not in recipes]
        deliver(_transfer_each(summary, whole, objects, download, jobs, progress, None))
    finally:
        progress.finish()
    summary.failed.sort(key=lambda failure: failure.object)
    return summary


def _packed_locations(packed: PackedRemote | None, todo: list[str], objects: dict[str, int]) -> dict[str, Location]:
    """Where the packs hold the wanted objects; a place whose length is not the object's
    known size is a lie of an index, not used: another place is (one index's lie must not hide
    another's truth), or the object is looked for whole."""
    if packed is None or not todo:
        return {}
    located: dict[str, Location] = {}
    for hash_value, places in packed.places(todo).items():
        fitting = [place for place in places if not objects.get(hash_value) or objects[hash_value] == place.length]
        if fitting:
            located[hash_value] = fitting[0]
    return located


FETCH_BATCH = 20_000  # objects located in the indexes and read at a time (see fetch)
READ_JOBS = 4  # ranged reads at once, each held in memory once (its members are views of it) until installed
# Bytes of one ranged read of small members: half the span a read may have elsewhere. Four such
# reads in flight are most of a large pull's memory after the listing; a read of a few MiB
# already costs far more in transfer than in its request.
FETCH_SPAN = 4 * 1024 * 1024


def _fetch_chunked(summary: TransferSummary, cache: Cache, chunked: ChunkedRemote, files: list[str],
                   objects: dict[str, int], keys: dict[str, StatKey], progress: Progress) -> list[str]:
    """Rebuild each file from its recipe."""
    def fetch_one(hash_value: str) -> Moved:
        _, keys[hash_value], moved = chunked.fetch_file(cache, hash_value, objects[hash_value], progress.advance)
        return moved

    return _each_chunked(summary, files, objects, None, progress, fetch_one)


def _fetch_members(cache: Cache, summary: TransferSummary, packed: PackedRemote, located: dict[str, Location],
                   keys: dict[str, StatKey], jobs: int, progress: Progress,
                   download_whole: Callable[[str], None]) -> list[str]:
    """Read the located members by coalesced ranged reads, several at once, install each
    verified member; record each outcome in ``summary``; return the hashes installed."""
    from artver.remote_packs import MAX_GAP

    members = [Member(hash_value, location) for hash_value, location in located.items()]
    done: list[str] = []
    lock = threading.Lock()

    def record(hash_value: str, outcome: StatKey | ArtverError) -> None:
        with lock:
            if isinstance(outcome, ArtverError):
                summary.failed.append(Failure(hash_value, str(outcome)))
            else:
                keys[hash_value] = outcome
                summary.transferred += 1
                summary.bytes += located[hash_value].length
                done.append(hash_value)

    def whole(hash_value: str) -> None:
        try:
            download_whole(hash_value)
        except ArtverError as error:
            if stops_the_command(error):
                raise
            if isinstance(error, ObjectNotFoundError):
                error = ObjectNotFoundError(f"{packed.storage.url}: object {hash_value} is missing: its pack "
                                            f"{packs.pack_key(located[hash_value].pack)} is gone and it is not stored whole")
            record(hash_value, error)
            return
        record(hash_value, keys[hash_value])

    def one(span: packs.Span) -> None:
        try:
            outcomes = packed.read_span(span, progress.advance)
        except ObjectNotFoundError:
            for member in span.members:  # the pack is gone (repacked by another clone's gc?): whole objects
                whole(member.hash)
            return
        except ArtverError as error:
            if stops_the_command(error):
                raise
            for member in span.members:
                record(member.hash, error)
            return
        for hash_value, outcome in outcomes.items():
            if isinstance(outcome, (bytes, memoryview)):
                record(hash_value, packed.install(cache, hash_value, outcome))
            elif isinstance(outcome, ObjectNotFoundError):
                whole(hash_value)  # its pack is gone and no other pack has it
            else:
                record(hash_value, outcome if isinstance(outcome, ArtverError) else RemoteError(str(outcome)))

    parallel(min(jobs, READ_JOBS), one, packs.spans(members, MAX_GAP, FETCH_SPAN))
    return done


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
                      size: int | None = None, packed: PackedRemote | None = None,
                      chunked: ChunkedRemote | None = None) -> StatKey:
    """Download one object and install it in the cache, only if it matches its hash;
    return the stat of the installed object (it was hashed on the way in). With
    ``packed``, an object a pack holds is read as its range of the pack; with ``chunked``,
    a file held as a recipe is rebuilt from its chunks."""
    member = _packed_member(packed, hash_value, size)
    if member is not None and packed is not None:
        try:
            return packed.install(cache, hash_value, _read_member(packed, member, progress))
        except ObjectNotFoundError:
            pass  # its pack is gone (repacked meanwhile?): it may be stored whole
    recipe_size = _recipe_size(chunked, hash_value, size)
    if recipe_size is not None and chunked is not None:
        return chunked.fetch_file(cache, hash_value, recipe_size, progress.advance)[1]
    downloaded = _download_checked(cache, storage, hash_value, progress, size)
    try:
        cache.install_trusted(downloaded.temp, hash_value, read_only=True)
    except BaseException:
        unlink_if_present(downloaded.temp)
        raise
    return downloaded.stat


def _recipe_size(chunked: ChunkedRemote | None, hash_value: str, size: int | None) -> int | None:
    """The size of the file if the remote holds it as a recipe (its size is then needed: the
    caller's, or the one the recipe states), else None."""
    if chunked is None or not may_be_chunked(size) or not chunked.recipes_present([hash_value]):
        return None
    return size if size is not None else chunked.recipe_size(hash_value)


def _packed_member(packed: PackedRemote | None, hash_value: str, size: int | None) -> Member | None:
    located = _packed_locations(packed, [hash_value], {hash_value: size or 0})
    return Member(hash_value, located[hash_value]) if hash_value in located else None


def _read_member(packed: PackedRemote, member: Member, progress: Progress = NO_PROGRESS) -> bytes:
    """The verified bytes of one packed object; IntegrityError or RemoteError if they
    cannot be had; ObjectNotFoundError if its pack is gone."""
    location = member.location
    span = packs.Span(location.pack, location.offset, location.length, (member,))
    outcome = packed.read_span(span, progress.advance)[member.hash]
    if isinstance(outcome, Exception):
        raise outcome
    return bytes(outcome)


def download_to_temp(cache: Cache, storage: Storage, hash_value: str, packed: PackedRemote | None = None,
                     chunked: ChunkedRemote | None = None) -> str:
    """A verified copy of the object in the cache's temp folder, not installed; the caller deletes it."""
    recipe_size = _recipe_size(chunked, hash_value, None)
    if recipe_size is not None and chunked is not None:
        return chunked.fetch_file(cache, hash_value, recipe_size, hashing.ignore_bytes, install=False)[0]
    member = _packed_member(packed, hash_value, None)
    if member is not None and packed is not None:
        try:
            data = _read_member(packed, member)
        except ObjectNotFoundError:  # its pack is gone: it may be stored whole
            return _download_checked(cache, storage, hash_value, NO_PROGRESS).temp
        temp = cache.new_temp()
        try:
            with open(temp, "xb") as handle:
                handle.write(data)
        except BaseException:
            unlink_if_present(temp)
            raise
        return temp
    return _download_checked(cache, storage, hash_value, NO_PROGRESS).temp


def check_remote_object(cache: Cache, storage: Storage, hash_value: str, packed: PackedRemote | None = None,
                        chunked: ChunkedRemote | None = None) -> str | None:
    """None if the remote holds the object intact, else 'missing' or 'corrupt'. A missing
    bucket or directory is not a missing object: ContainerNotFoundError is raised. A
    packed object is checked in its pack; if its pack is gone, it may still be whole. An
    object not stored whole may be a chunked file: rebuilt from the remote's chunks alone
    (never from local copies) and hashed whole."""
    member = _packed_member(packed, hash_value, None)
    if member is not None and packed is not None:
        try:
            _read_member(packed, member)
            return None
        except IntegrityError:
            return "corrupt"
        except ObjectNotFoundError:
            pass
    try:
        temp = download_to_temp(cache, storage, hash_value)
    except IntegrityError:
        return "corrupt"
    except ObjectNotFoundError:
        recipe_size = _recipe_size(chunked, hash_value, None)
        if recipe_size is None or chunked is None:
            return "missing"
        try:
            temp = chunked.fetch_file(cache, hash_value, recipe_size, hashing.ignore_bytes, use_local=False, install=False)[0]
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
    open_packed: Callable[[Storage], PackedRemote] | None = None
    open_chunked: Callable[[PackedRemote], ChunkedRemote] | None = None

    @functools.cached_property
    def storage(self) -> Storage:
        return RetryingStorage(self.open_storage(), self.policy, self.notify)

    @functools.cached_property
    def packed(self) -> PackedRemote | None:
        """The remote's packs (its format marker is read and its indexes refreshed on first
        use of them), or None for a Session opened without them."""
        return self.open_packed(self.storage) if self.open_packed is not None else None

    @functools.cached_property
    def chunked(self) -> ChunkedRemote | None:
        """The remote's chunked files (through the session's packs), or None."""
        packed = self.packed
        return self.open_chunked(packed) if packed is not None and self.open_chunked is not None else None

    def chunked_over(self, storage: Storage) -> ChunkedRemote | None:
        """As packed_over, for chunked files."""
        packed = self.packed_over(storage)
        if packed is None or self.open_chunked is None:
            return None
        return self.chunked if packed is self.packed else self.open_chunked(packed)

    def packed_over(self, storage: Storage) -> PackedRemote | None:
        """The remote's packs read and written through ``storage``: the session's own, or a
        wrapper of it (such as the one -v counts requests with)."""
        if storage is self.storage or self.open_packed is None:
            return self.packed
        return self.open_packed(storage)


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
    settings = pack_settings(repo.config.section(section), lambda key, default: repo.config.get_int(section, key, default),
                             spec.describe())
    identity = f"{spec.scheme}://{spec.bucket}/{spec.prefix} {repo.config.get(section, 'endpoint_url') or ''}"
    database = database_path(repo.artver_dir, identity)

    def packed(storage: Storage) -> PackedRemote:
        return open_packed(storage, repo.cache, database, settings)

    chunking = chunk_settings(repo.config.section(section), lambda key, default: repo.config.get_int(section, key, default),
                              spec.describe())

    def chunked(packed_remote: PackedRemote) -> ChunkedRemote:
        return ChunkedRemote(packed_remote, ChunkIndex(chunk_database_path(repo.artver_dir)), chunking)

    return Session(spec.describe(), jobs, policy, lambda: open_storage(spec, repo.config, jobs, notify), notify, packed,
                   chunked)


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
        deduplicated=first.deduplicated + second.deduplicated,
    )

