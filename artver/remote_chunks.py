"""Large files in a remote as chunks in packs plus a recipe: only new chunks move.

Push (write ordering, docs/design.md "Chunks"): the cached file is cut into chunks
(chunking.py); chunks the remote's packs already hold are not sent; the others go into
new packs, uploaded while the rest of the file is still being cut, each pack before its
index; the recipe goes up last, once every pack has its index, so a recipe in the
remote vouches for every chunk it lists (as a directory listing does for its files).

Fetch: the recipe is read as untrusted input (chunking.parse_recipe); every chunk a
cached file already holds (chunk_index.py) is copied from it, the others are read from
their packs by coalesced ranged reads (in the order of the file); each chunk is hashed
before it is written, and the rebuilt file is hashed whole before it gets its cache name
(read back as its written prefix grows, so the hash follows the reads: _InOrderHash).
A file is rebuilt in a temp file of its full size, written at each chunk's offset:
memory stays bounded by the reads in flight, whatever the file's size.
"""

from __future__ import annotations

import heapq
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from artver import chunking, hashing, packs, remote_format
from artver.cache import Cache
from artver.chunk_index import ChunkIndex
from artver.chunking import ChunkRef
from artver.errors import CacheError, IntegrityError, ObjectNotFoundError, RemoteError
from artver.fsutil import unlink_if_present
from artver.hashing import ByteCallback
from artver.packs import Member
from artver.remote_packs import MAX_GAP, MAX_SPAN, PackedRemote
from artver.remotes.base import Storage, bool_setting
from artver.statcache import StatKey
from artver.threads import parallel

DEFAULT_CHUNK_THRESHOLD = 16 * 1024 * 1024  # bytes: larger files are chunked (docs/benchmarks.md, "Chunks")
MIN_CHUNK_THRESHOLD = 1024 * 1024  # the smallest threshold a remote may set; readers look for recipes from here
PACK_JOBS = 4  # packs of one file built and uploaded at once
# A pack of one file's chunks is filled to this many times pack_size (96 MiB by default). A
# large file's chunks are written, and mostly read, together; and at the default such a pack
# goes to S3 as a multipart upload streamed from its file, without the whole-object MD5 a
# single PUT needs: a 512 MiB new file pushed in 2.4 times less extra time than with 32 MiB
# packs (measured: docs/benchmarks.md, "Chunks").
CHUNK_PACK_FACTOR = 3
LOOKUP_BATCH = 1024  # chunk hashes looked up in the remote's indexes at once while a file is cut
READ_PIECE = 4 * 1024 * 1024  # bytes of consecutive chunks read at once into a pack (memory: one per pack job)
READ_JOBS = 4  # ranged reads of one file at once (each holds up to MAX_SPAN bytes a few times over: memory)
T = TypeVar("T")


@dataclass(frozen=True)
class ChunkSettings:
    enabled: bool
    threshold: int

    def chunks(self, size: int | None) -> bool:
        return self.enabled and size is not None and size >= self.threshold


def chunk_settings(settings: Mapping[str, str], get_int: Callable[[str, int], int], url: str) -> ChunkSettings:
    return ChunkSettings(bool_setting(settings, "chunk", True, url),
                         max(MIN_CHUNK_THRESHOLD, get_int("chunk_threshold", DEFAULT_CHUNK_THRESHOLD)))


def may_be_chunked(size: int | None) -> bool:
    """Whether a file of this size may have a recipe in a remote, whatever this clone's own
    settings (another clone may have pushed it). An unknown size (None) may be anything; 0
    is what directory listings are recorded with, and they are never chunked."""
    return size is None or size >= MIN_CHUNK_THRESHOLD


@dataclass
class Moved:
    """What moving one chunked file did: bytes sent or received, and bytes that did not
    have to move (chunks the other side already had)."""

    transferred: int = 0
    deduplicated: int = 0


@dataclass
class _Recipe:
    chunks: list[ChunkRef]
    places: dict[str, list[int]] = field(default_factory=dict)  # chunk hash -> offsets in the file
    lengths: dict[str, int] = field(default_factory=dict)  # chunk hash -> its length

    def __post_init__(self) -> None:
        for chunk in self.chunks:
            self.places.setdefault(chunk.hash, []).append(chunk.offset)
            self.lengths[chunk.hash] = chunk.length


class ChunkedRemote:
    """A packed remote's chunked files: recipes, and the chunks they list."""

    def __init__(self, packed: PackedRemote, index: ChunkIndex, settings: ChunkSettings) -> None:
        self.packed = packed
        self.index = index
        self.settings = settings

    @property
    def storage(self) -> Storage:
        return self.packed.storage

    def recipes_present(self, file_hashes: Sequence[str]) -> set[str]:
        """Which of the files have a recipe in the remote (one request each; a remote
        without the packed format has none)."""
        if not file_hashes or self.packed.version < remote_format.PACKED:
            return set()
        keys = {chunking.recipe_key(file_hash): file_hash for file_hash in file_hashes}
        found: set[str] = set()
        lock = threading.Lock()
        batches = [list(keys)[start:start + 20] for start in range(0, len(keys), 20)]

        def check(batch: list[str]) -> None:
            present = self.storage.exists(batch)
            with lock:
                found.update(keys[key] for key in present)

        parallel(READ_JOBS, check, batches)
        return found

    # -- push ---------------------------------------------------------------------------------

    def push_file(self, cache: Cache, file_hash: str, size: int, on_bytes: ByteCallback) -> Moved:
        """Upload the chunks of the cached file that the remote lacks, then its recipe.

        One read cuts the file; its new chunks are packed and uploaded while the rest is
        still being cut (a pack is handed to an upload as soon as it is full), up to
        PACK_JOBS packs at once, each pack before its index. The recipe goes up only
        once every pack has its index in the remote: a push killed anywhere leaves at
        most packs and indexes of chunks no recipe lists (docs/design.md, "Chunks")."""
        path = cache.path_of(file_hash)
        algorithm = hashing.algorithm_of(file_hash)
        self.packed.mark_packed()
        self.packed.refresh()
        moved = Moved()
        refs: list[ChunkRef] = []
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as error:
            raise CacheError(f"cannot read cache object {path}: {(error.strerror or str(error)).lower()}") from None
        try:
            if os.fstat(fd).st_size != size:
                raise CacheError(f"cache object {path} is not {size} bytes long; run 'artver verify'")
            with _PackUploads(self.packed, path, CHUNK_PACK_FACTOR * self.packed.settings.pack_size,
                              on_bytes, moved) as uploads:
                seen: set[str] = set()
                batch: list[ChunkRef] = []
                for ref in _cut(fd, path, algorithm):
                    refs.append(ref)
                    batch.append(ref)
                    if len(batch) >= LOOKUP_BATCH:
                        self._pack_new(batch, seen, uploads, moved, on_bytes)
                        batch = []
                self._pack_new(batch, seen, uploads, moved, on_bytes)
                if sum(ref.length for ref in refs) != size:
                    raise CacheError(f"cache object {path} is not {size} bytes long; run 'artver verify'")
                uploads.flush()
                self.index.record(file_hash, refs)  # while the last packs go up
        finally:
            os.close(fd)
        self._upload_recipe(cache, file_hash, size, refs)
        return moved

    def _pack_new(self, batch: list[ChunkRef], seen: set[str], uploads: _PackUploads, moved: Moved,
                  on_bytes: ByteCallback) -> None:
        """Hand the chunks of ``batch`` that neither the remote's packs nor an earlier part of
        the file hold to ``uploads``; count the others as deduplicated."""
        held = self.packed.locate(sorted({ref.hash for ref in batch} - seen)) if batch else {}
        for ref in batch:
            if ref.hash in held or ref.hash in seen:
                moved.deduplicated += ref.length
                on_bytes(ref.length)
                continue
            seen.add(ref.hash)
            uploads.add(ref)

    def _upload_recipe(self, cache: Cache, file_hash: str, size: int, refs: list[ChunkRef]) -> None:
        temp = cache.new_temp()
        try:
            with open(temp, "xb") as handle:
                for line in chunking.recipe_lines(size, refs):
                    handle.write(line)
            self.storage.upload(chunking.recipe_key(file_hash), temp, hashing.ignore_bytes)
        finally:
            unlink_if_present(temp)

    # -- fetch --------------------------------------------------------------------------------

    def recipe_size(self, file_hash: str) -> int:
        """The file size a recipe states (for a caller that does not know it); checked again
        against the chunks when the recipe is parsed."""
        key = chunking.recipe_key(file_hash)
        head = self.storage.read_range(key, 0, 200)
        lines = head.split(b"\n")
        if len(lines) < 2 or lines[0] + b"\n" != chunking.RECIPE_HEADER or not lines[1].startswith(b"size "):
            raise RemoteError(f"{self.storage.url}: recipe {key} is damaged; it was not used")
        fields = lines[1].split(b" ")
        if len(fields) < 2 or not fields[1].isdigit() or len(fields[1]) > 16:
            raise RemoteError(f"{self.storage.url}: recipe {key} is damaged; it was not used")
        return int(fields[1])

    def read_recipe(self, file_hash: str, size: int) -> list[ChunkRef]:
        key = chunking.recipe_key(file_hash)
        where = f"{self.storage.url}: recipe {key}"
        sink = _BoundedSink(chunking.max_recipe_bytes(size), where)
        self.storage.download(key, sink, hashing.ignore_bytes)
        return chunking.parse_recipe(sink.lines(), file_hash, size, where)

    def fetch_file(self, cache: Cache, file_hash: str, size: int, on_bytes: ByteCallback,
                   use_local: bool = True, install: bool = True) -> tuple[str, StatKey, Moved]:
        """Rebuild the file from its recipe into a temp file of the cache, verified whole;
        install it (or, with ``install=False``, return the temp file's path for the caller
        to delete). Chunks the cache's files hold are copied from them (``use_local``)."""
        recipe = _Recipe(self.read_recipe(file_hash, size))
        moved = Moved()
        temp, fd = cache.create_temp()
        try:
            try:
                os.ftruncate(fd, size)
                wanted = set(recipe.places)
                with _InOrderHash(temp, size, hashing.algorithm_of(file_hash)) as whole:
                    if use_local:
                        copied = self._copy_local(cache, fd, recipe, wanted, temp, whole)
                        moved.deduplicated += sum(len(recipe.places[hash_value]) * recipe.lengths[hash_value]
                                                  for hash_value in copied)
                        on_bytes(moved.deduplicated)
                        wanted -= copied
                    moved.transferred += self._read_remote(fd, recipe, wanted, temp, on_bytes, whole)
                    actual = whole.finish()
                stat = StatKey.of(os.fstat(fd))
            finally:
                os.close(fd)
            if actual != file_hash:
                raise IntegrityError(f"{self.storage.url}: the file {file_hash} rebuilt from its recipe hashes to "
                                     f"{actual}; it was not used ('artver verify -r' checks the remote)")
            if not install:
                return temp, stat, moved
            cache.install_trusted(temp, file_hash, read_only=True)
        except BaseException:
            unlink_if_present(temp)
            raise
        self.index.record(file_hash, recipe.chunks)
        return cache.path_of(file_hash), stat, moved

    def _copy_local(self, cache: Cache, fd: int, recipe: _Recipe, wanted: set[str], temp: str,
                    whole: _InOrderHash) -> set[str]:
        """Write into ``fd`` every wanted chunk a cached file holds (checked against its hash);
        the chunks copied."""
        copied: set[str] = set()
        if not self.index.files():
            self.reindex(cache)
        places = self.index.locate(sorted(wanted))
        sources: dict[str, int] = {}
        try:
            for hash_value, candidates in places.items():
                length = recipe.lengths[hash_value]
                for file_hash, offset in candidates:
                    source = sources.get(file_hash)
                    if source is None:
                        try:
                            source = os.open(cache.path_of(file_hash), os.O_RDONLY | os.O_CLOEXEC)
                        except FileNotFoundError:
                            continue  # deleted by gc since it was recorded
                        sources[file_hash] = source
                    data = os.pread(source, length, offset)
                    if len(data) == length and hashing.hash_bytes(data, hashing.algorithm_of(hash_value)) == hash_value:
                        for target in recipe.places[hash_value]:
                            _pwrite_all(fd, data, target, temp)
                            whole.written(target, length)
                        copied.add(hash_value)
                        break
        finally:
            for source in sources.values():
                os.close(source)
        return copied

    def reindex(self, cache: Cache) -> int:
        """Chunk every cached file of ``chunk_threshold`` bytes or more into the index (it was
        lost, or never written: a clone whose cache predates chunking). One read of each;
        returns how many files were indexed."""
        indexed = 0
        for file_hash, size in cache.objects():
            if size < max(self.settings.threshold, MIN_CHUNK_THRESHOLD):
                continue
            try:
                with open(cache.path_of(file_hash), "rb") as handle:
                    refs = [ref for ref, _ in chunking.chunks_of(handle, hashing.algorithm_of(file_hash))]
            except OSError:
                continue  # deleted meanwhile: nothing to copy from
            self.index.record(file_hash, refs)
            indexed += 1
        return indexed

    def _read_remote(self, fd: int, recipe: _Recipe, wanted: set[str], temp: str, on_bytes: ByteCallback,
                     whole: _InOrderHash) -> int:
        located = self.packed.locate(sorted(wanted))
        missing = wanted - set(located)
        if missing:
            raise ObjectNotFoundError(f"{self.storage.url}: {len(missing)} chunk(s) of this file are in no pack "
                                      f"(e.g. {sorted(missing)[0]}); push it again from a clone that has it")
        members = [Member(hash_value, location) for hash_value, location in located.items()
                   if location.length == recipe.lengths[hash_value]]
        if len(members) != len(located):
            raise RemoteError(f"{self.storage.url}: an index states a length for a chunk that its recipe does not; "
                              f"'artver verify -r' checks the remote")
        total = 0
        lock = threading.Lock()

        def read(span: packs.Span) -> None:
            nonlocal total
            outcomes = self.packed.read_span(span, on_bytes)
            for hash_value, outcome in outcomes.items():
                if isinstance(outcome, Exception):
                    raise outcome
                for target in recipe.places[hash_value]:
                    _pwrite_all(fd, outcome, target, temp)
                    whole.written(target, len(outcome))
            with lock:
                total += span.length

        # In the order of the file, so that the whole-file hash follows close behind the reads.
        spans = sorted(packs.spans(members, MAX_GAP, MAX_SPAN),
                       key=lambda span: min(recipe.places[member.hash][0] for member in span.members))
        parallel(READ_JOBS, read, spans)
        return total


class _BoundedSink:
    """A recipe download: in memory, refused beyond what a recipe of the file can be."""

    def __init__(self, limit: int, where: str) -> None:
        self._limit = limit
        self._where = where
        self._parts: list[bytes] = []
        self._size = 0

    def write(self, data: bytes) -> None:
        self._size += len(data)
        if self._size > self._limit:
            raise RemoteError(f"{self._where} is larger than the recipe of this file can be; it was not used")
        self._parts.append(bytes(data))

    def rewind(self) -> None:
        self._parts.clear()
        self._size = 0

    def lines(self) -> Iterator[bytes]:
        return iter(b"".join(self._parts).splitlines(keepends=True))


class _PackUploads:
    """The packs of one file's new chunks, uploaded while the file is still being cut: a
    pack is handed to a worker as soon as it is full, PACK_JOBS at once, each pack
    uploaded before its index. Leaving the block normally waits for every upload and
    raises the first failure; leaving it by an exception starts no more (KeyboardInterrupt:
    without waiting, as threads.parallel does). Each upload reads the file through a
    descriptor of its own, so none outlives a descriptor it depends on."""

    def __init__(self, packed: PackedRemote, path: str, pack_size: int, on_bytes: ByteCallback, moved: Moved) -> None:
        self._packed = packed
        self._path = path
        self._pack_size = pack_size
        self._on_bytes = on_bytes
        self._moved = moved
        self._group: list[ChunkRef] = []
        self._filled = 0
        self._futures: list[Future[None]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=PACK_JOBS, thread_name_prefix="artver-pack")

    def __enter__(self) -> _PackUploads:
        return self

    def add(self, ref: ChunkRef) -> None:
        if self._group and self._filled + ref.length > self._pack_size:
            self._submit()
        self._group.append(ref)
        self._filled += ref.length

    def flush(self) -> None:
        if self._group:
            self._submit()

    def _submit(self) -> None:
        for future in self._futures:  # a failed upload stops the cut: no point reading on
            if future.done() and future.exception() is not None:
                future.result()
        group, self._group, self._filled = self._group, [], 0
        self._futures.append(self._pool.submit(self._upload, group))

    def _upload(self, group: list[ChunkRef]) -> None:
        if self._stop.is_set():
            return
        try:
            fd = os.open(self._path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as error:
            raise CacheError(f"cannot read cache object {self._path}: {(error.strerror or str(error)).lower()}") from None
        try:
            members = self._packed.upload_pack(_read_chunks(fd, group, self._path), self._on_bytes)
        finally:
            os.close(fd)
        self._packed.write_index(members)
        with self._lock:
            self._moved.transferred += sum(ref.length for ref in group)

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is None:
            try:
                for future in self._futures:
                    future.result()
            except BaseException:
                self._stop.set()
                self._pool.shutdown(wait=True, cancel_futures=True)
                raise
            self._pool.shutdown(wait=True)
            return
        self._stop.set()
        self._pool.shutdown(wait=not issubclass(kind, KeyboardInterrupt), cancel_futures=True)


def _cut(fd: int, path: str, algorithm: str) -> Iterator[ChunkRef]:
    """The chunks of the file open as ``fd``, in order (one streaming read)."""
    try:
        with open(fd, "rb", buffering=0, closefd=False) as handle:
            for ref, _ in chunking.chunks_of(handle, algorithm):
                yield ref
    except OSError as error:
        raise CacheError(f"cannot read cache object {path}: {(error.strerror or str(error)).lower()}") from None


def _read_chunks(fd: int, group: list[ChunkRef], path: str) -> Iterator[tuple[str, memoryview]]:
    """Each chunk of ``group`` (in file order) with its bytes; consecutive chunks are read
    together, up to READ_PIECE bytes at a time, into one buffer reused for every read (a
    fresh allocation per read would cost a page fault per 4 KiB read). A chunk's bytes are
    valid until the next one is asked for: the caller writes each before it asks again."""
    buffer = memoryview(bytearray(max(READ_PIECE, max((ref.length for ref in group), default=0))))
    start = 0
    while start < len(group):
        first = group[start]
        end = start + 1
        while end < len(group) and group[end].offset == group[end - 1].end and group[end].end - first.offset <= len(buffer):
            end += 1
        length = group[end - 1].end - first.offset
        if os.preadv(fd, [buffer[:length]], first.offset) != length:
            raise CacheError(f"cache object {path} changed while it was pushed; run 'artver verify'")
        for ref in group[start:end]:
            yield ref.hash, buffer[ref.offset - first.offset:ref.end - first.offset]
        start = end


def _pwrite_all(fd: int, data: bytes | memoryview, offset: int, temp: str) -> None:
    view = memoryview(data)
    written = 0
    try:
        while written < len(view):
            written += os.pwrite(fd, view[written:], offset + written)
    except OSError as error:
        raise _download_error(temp, (error.strerror or str(error)).lower()) from None


def _download_error(temp: str, reason: str) -> CacheError:
    """A rebuild's temp file could not be written or read back: a local problem."""
    return CacheError(f"cannot write a download into the cache ({temp}): {reason}; "
                      f"free some space or fix the cache directory, then run the command again")


class _InOrderHash:
    """The hash of a file written out of order (chunks at their offsets, by several
    threads), taken while it is written: each region is read back from the file and
    hashed once it and everything before it have been written, so the hashing overlaps
    the downloads instead of being a pass of its own at the end. What is hashed is what
    the file holds on disk (read back through a descriptor of its own), and ``finish``
    hashes whatever is left to the last byte: every byte is hashed once, in order, after
    it was written, whatever the order of the writes. Each region must be written once
    (a recipe places each chunk at its own offset)."""

    def __init__(self, path: str, size: int, algorithm: str) -> None:
        self._path = path
        self._size = size
        self._algorithm = algorithm
        self._hasher = hashing.new_hasher(algorithm)
        self._pending: list[tuple[int, int]] = []  # heap of written (start, end) beyond the prefix
        self._written = 0  # bytes written from the start, without a gap
        self._hashed = 0
        self._lock = threading.Lock()  # guards _pending and _written
        self._hashing = threading.Lock()  # one thread hashes at a time, in order
        self._buffer = bytearray(hashing.CHUNK_SIZE)
        try:
            self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as error:
            raise _download_error(path, (error.strerror or str(error)).lower()) from None

    def __enter__(self) -> _InOrderHash:
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self._fd)

    def written(self, offset: int, length: int) -> None:
        with self._lock:
            heapq.heappush(self._pending, (offset, offset + length))
            while self._pending and self._pending[0][0] <= self._written:
                self._written = max(self._written, heapq.heappop(self._pending)[1])
        if self._hashing.acquire(blocking=False):  # else the thread hashing now goes on (or finish does)
            try:
                while True:
                    with self._lock:
                        end = self._written
                    if end <= self._hashed:
                        break
                    self._hash_to(end)
            finally:
                self._hashing.release()

    def finish(self) -> str:
        with self._hashing:
            self._hash_to(self._size)
        return f"{self._algorithm}:{self._hasher.hexdigest()}"

    def _hash_to(self, end: int) -> None:
        view = memoryview(self._buffer)
        try:
            while self._hashed < end:
                count = os.preadv(self._fd, [view[:min(len(view), end - self._hashed)]], self._hashed)
                if count == 0:
                    raise _download_error(self._path, "it was cut short while it was written")
                self._hasher.update(view[:count])
                self._hashed += count
        except OSError as error:
            raise _download_error(self._path, (error.strerror or str(error)).lower()) from None




def reading_chunks(packed: PackedRemote) -> ChunkedRemote:
    """Chunked files of another repository's remote, read with what is learnt kept in memory
    (artver get/import)."""
    return ChunkedRemote(packed, ChunkIndex(None), ChunkSettings(enabled=False, threshold=DEFAULT_CHUNK_THRESHOLD))


def live_chunks(chunked: ChunkedRemote, file_hashes: Sequence[str]) -> frozenset[str]:
    """Every chunk the recipes of these files list (what gc must keep for them). A recipe
    that cannot be read stops gc: deleting chunks it might list would lose the file."""
    live: set[str] = set()
    for file_hash in file_hashes:
        live.update(chunk.hash for chunk in chunked.read_recipe(file_hash, chunked.recipe_size(file_hash)))
    return frozenset(live)
