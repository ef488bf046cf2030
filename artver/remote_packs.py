"""Packs in a remote: writing small objects into packs on push, reading members back.

Write ordering (docs/design.md, "Packs"): the format marker before the first pack;
each pack complete under its name before the index that lists it; the index before
any directory listing that vouches for its members (transfer.push uploads listings
last). A push killed anywhere leaves at most a pack no index lists, which nothing
trusts and ``gc --cloud`` deletes.

Reading: the wanted members are grouped into ranged reads (packs.spans); each member
is hashed with its own algorithm before it gets a cache name, and a member whose
bytes are wrong is read again alone before the pack is declared damaged, as whole
objects are (transfer._download_checked).
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from pathlib import Path

import xxhash

from artver import hashing, packs, remote_format
from artver.cache import Cache
from artver.errors import CacheError, IntegrityError, ObjectNotFoundError, RemoteError
from artver.fsutil import unlink_if_present
from artver.hashing import ByteCallback
from artver.packs import Location, Member, Span
from artver.remote_index import RemoteIndex
from artver.remotes.base import Storage, bool_setting
from artver.statcache import StatKey

DEFAULT_THRESHOLD = 1024 * 1024  # bytes: smaller objects are packed (docs/benchmarks.md, "Packs")
DEFAULT_PACK_SIZE = 32 * 1024 * 1024  # bytes a pack is filled to
MAX_INDEX_BYTES = 512 * 1024 * 1024  # an index object larger than this is refused, not downloaded
MAX_GAP = 256 * 1024  # unwanted bytes a ranged read may span to save a request
MAX_SPAN = 8 * 1024 * 1024  # bytes of one ranged read (held in memory while its members are checked)
CONSOLIDATE_AT = 32  # index objects; push merges them into one beyond this
READS = 3  # reads of a member whose bytes are wrong, at most, before giving up on it
REFRESH_ROUNDS = 3  # listings of index/ at most, when indexes vanish while they are read


@dataclass(frozen=True)
class PackSettings:
    enabled: bool
    threshold: int  # objects of 1 byte up to this size (exclusive) are packed
    pack_size: int

    def packs(self, size: int) -> bool:
        return self.enabled and 0 < size < self.threshold


def pack_settings(settings: Mapping[str, str], get_int: Callable[[str, int], int], url: str) -> PackSettings:
    """A remote's packing settings (``pack``, ``pack_threshold``, ``pack_size``), checked."""
    return PackSettings(
        enabled=bool_setting(settings, "pack", True, url),
        threshold=min(get_int("pack_threshold", DEFAULT_THRESHOLD), packs.MAX_MEMBER),
        pack_size=get_int("pack_size", DEFAULT_PACK_SIZE),
    )


class _IndexSink:
    """Where an index object downloads to: a temp file, hashed as it arrives, refused
    beyond MAX_INDEX_BYTES (a hostile remote must not fill the disk)."""

    def __init__(self, handle: object, where: str) -> None:
        self._handle = handle
        self._where = where
        self.hasher = xxhash.xxh3_128()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > MAX_INDEX_BYTES:
            raise RemoteError(f"{self._where} is larger than any index artver writes; it was not used")
        self.hasher.update(data)
        self._handle.write(data)  # type: ignore[attr-defined]  # a binary file object

    def rewind(self) -> None:
        self._handle.seek(0)  # type: ignore[attr-defined]
        self._handle.truncate()  # type: ignore[attr-defined]
        self.hasher = xxhash.xxh3_128()
        self.size = 0


class PackedRemote:
    """A remote's packs: its format version, its indexes (through their local copies),
    and the reading and writing of members. Opened once per command."""

    def __init__(self, storage: Storage, cache: Cache, index_folder: Path | None, settings: PackSettings) -> None:
        self.storage = storage
        self.cache = cache
        self.settings = settings
        self._index_folder = index_folder
        self._version: int | None = None
        self._refreshed = False

    @functools.cached_property
    def index(self) -> RemoteIndex:
        """The local copies of this remote's indexes, opened (and their folder created) on
        first use: a remote without packs never needs them."""
        return RemoteIndex(self._index_folder)

    @property
    def version(self) -> int:
        if self._version is None:
            self._version = remote_format.read_version(self.storage)
        return self._version

    def refresh(self) -> None:
        """Bring the local indexes up to the remote's (once per command): one
        listing of ``index/``, a download of each new index. A remote without packs costs
        the marker request only."""
        if self._refreshed:
            return
        self._refreshed = True
        if self.version < remote_format.PACKED:
            if self._index_folder is not None and self._index_folder.exists():  # e.g. a remote emptied and begun again
                self.index.remove_indexes(self.index.index_names())
            return
        # An index deleted between the listing and its download was merged into a new one by
        # another clone (consolidation writes the merged index first): list again to find it.
        for _ in range(REFRESH_ROUNDS):
            listed = set()
            for key, _ in self.storage.list(packs.INDEX_PREFIX):
                name = packs.name_in_key(key, packs.INDEX_PREFIX)
                if name is not None:
                    listed.add(name)
            known = self.index.index_names()
            vanished = [name for name in sorted(listed - known) if not self._load_index(name)]
            self.index.remove_indexes(known - listed)
            if not vanished:
                return
        raise RemoteError(f"{self.storage.url}: its indexes kept changing while they were read (other clones "
                          f"consolidating them); run the command again")

    def _load_index(self, name: str) -> bool:
        """Learn index ``name``; False if it is gone from the remote. It is downloaded into
        an unnamed temp file (no cache write: status --cloud works with a read-only cache),
        checked against its name, then validated a block at a time (packs.index_blocks) into
        its local copy."""
        key = packs.index_key(name)
        where = f"{self.storage.url}: index {key}"
        with tempfile.TemporaryFile() as handle:
            sink = _IndexSink(handle, where)
            try:
                self.storage.download(key, sink, hashing.ignore_bytes)
            except ObjectNotFoundError:
                return False
            if sink.hasher.hexdigest() != name:
                raise RemoteError(f"{where} is damaged (its content does not match its name); it was not used. "
                                  f"'artver verify -r' checks the remote")
            self.index.add_blocks(name, packs.index_blocks(handle, where))
        return True

    def locate(self, hashes: Sequence[str]) -> dict[str, Location]:
        """Which of ``hashes`` the remote's packs hold, and where (no request once refreshed)."""
        self.refresh()
        if self.version < remote_format.PACKED:
            return {}
        return self.index.locate(hashes)

    def places(self, hashes: Sequence[str]) -> dict[str, list[Location]]:
        """Every place the remote's indexes give for each of ``hashes`` (see RemoteIndex.places)."""
        self.refresh()
        if self.version < remote_format.PACKED:
            return {}
        return self.index.places(hashes)

    # -- writing ---------------------------------------------------------------------------

    def mark_packed(self) -> None:
        """Record format 3 in the remote before its first pack (a reader that finds no
        marker looks for no packs) and before its first index of format 2 (an artver that
        reads only index format 1 then stops at the marker, saying to upgrade)."""
        if self.version >= remote_format.NEWEST:
            return
        if self.storage.exists([remote_format.MARKER_KEY]):
            # A marker that says format 1 or 2: uploads never replace an object, so it goes
            # first, or the new marker would not be written. Meanwhile a reader finds no
            # marker and looks for no packs (docs/design.md, "Packs").
            self.storage.delete(remote_format.MARKER_KEY)
        self._upload_bytes(remote_format.MARKER_KEY, remote_format.marker_bytes(remote_format.NEWEST))
        self._version = remote_format.NEWEST

    def groups(self, objects: Sequence[tuple[str, int]]) -> list[list[tuple[str, int]]]:
        """``objects`` (in the order they should lie: by artifact path) cut into packs of
        about ``pack_size`` bytes."""
        result: list[list[tuple[str, int]]] = []
        current: list[tuple[str, int]] = []
        filled = 0
        for hash_value, size in objects:
            if current and filled + size > self.settings.pack_size:
                result.append(current)
                current, filled = [], 0
            current.append((hash_value, size))
            filled += size
        if current:
            result.append(current)
        return result

    def write_pack(self, group: Sequence[tuple[str, int]], on_bytes: ByteCallback) -> list[Member]:
        """Build one pack from cache objects, upload it, then its index; record the index
        locally. The members are returned once both are in the remote."""
        members = self.upload_pack(((hash_value, _read_cache_object(self.cache, hash_value, size))
                                     for hash_value, size in group), on_bytes)
        self.write_index(members)
        return members

    def upload_pack(self, entries: Iterable[tuple[str, bytes | memoryview]], on_bytes: ByteCallback) -> list[Member]:
        """Write ``entries`` (hash, verified bytes) into a new pack and upload it (no index)."""
        self.mark_packed()
        temp, fd = self.cache.create_temp()
        members: list[Member] = []
        try:
            try:
                hasher = xxhash.xxh3_128()
                offset = _write_all(fd, packs.PACK_HEADER, hasher, temp)
                for hash_value, data in entries:
                    members.append(Member(hash_value, Location("", offset, len(data))))
                    offset += _write_all(fd, data, hasher, temp)
            finally:
                os.close(fd)
            name = hasher.hexdigest()
            self.storage.upload(packs.pack_key(name), temp, on_bytes)
        finally:
            unlink_if_present(temp)
        return [Member(member.hash, Location(name, member.location.offset, member.location.length)) for member in members]

    def consolidate(self) -> int:
        """Merge the remote's index objects into one when there are more than
        CONSOLIDATE_AT: the merged index first, then the old ones are deleted (a kill in
        between leaves both, which list the same members). Returns how many were merged."""
        names = self.index.index_names()
        if len(names) <= CONSOLIDATE_AT:
            return 0
        merged = self.write_index(self.index.members())
        old = names - {merged}
        for name in sorted(old):
            self.storage.delete(packs.index_key(name))
        self.index.remove_indexes(old)
        return len(old)

    def write_index(self, members: Iterable[Member]) -> str:
        """Upload an index (format 2, after the marker that announces it) of ``members``,
        in any order, streamed through a temp file, and record it locally; return its name."""
        self.mark_packed()
        temp = self.cache.new_temp()
        try:
            hasher = xxhash.xxh3_128()
            with open(temp, "xb") as handle:
                for line in packs.index_lines(members):
                    hasher.update(line)
                    handle.write(line)
            name = hasher.hexdigest()
            self.storage.upload(packs.index_key(name), temp, hashing.ignore_bytes)
            with open(temp, "rb") as handle:
                self.index.add_blocks(name, packs.parse_index_blocks(handle, f"index {name}"))
        finally:
            unlink_if_present(temp)
        return name

    def _upload_bytes(self, key: str, data: bytes) -> None:
        temp = self.cache.new_temp()
        try:
            with open(temp, "xb") as handle:
                handle.write(data)
            self.storage.upload(key, temp, hashing.ignore_bytes)
        finally:
            unlink_if_present(temp)

    # -- reading ---------------------------------------------------------------------------

    def read_span(self, span: Span, on_bytes: ByteCallback) -> dict[str, bytes | memoryview | Exception]:
        """The verified bytes of each member of ``span``, or why a member could not be had. A
        member that cannot be had where the span says is looked for at its other places (an
        index may lie, or a pack be damaged, while another copy is intact). ObjectNotFoundError
        as a member's outcome: its pack is gone and no other place has it (it may be whole).
        Failures of the whole remote are raised."""
        try:
            data = self.storage.read_range(packs.pack_key(span.pack), span.offset, span.length)
        except ObjectNotFoundError as gone:
            return {member.hash: self._read_elsewhere(member, gone) for member in span.members}
        on_bytes(len(data))
        result: dict[str, bytes | memoryview | Exception] = {}
        # Members are views of the one buffer read, not copies: a span is held once, not twice.
        view = memoryview(data)
        for member in span.members:
            start = member.location.offset - span.offset
            piece = view[start:start + member.location.length]
            if _matches(piece, member):
                result[member.hash] = piece
            else:
                outcome = self._read_again(member, piece)
                result[member.hash] = self._read_elsewhere(member, outcome) if isinstance(outcome, Exception) else outcome
        return result

    def _read_elsewhere(self, member: Member, failure: Exception) -> bytes | Exception:
        """The member's verified bytes from another place an index gives for it (of the same
        length), or ``failure`` if none has them."""
        for location in self.places([member.hash]).get(member.hash, []):
            if location == member.location or location.length != member.location.length:
                continue
            try:
                data = bytes(self.storage.read_range(packs.pack_key(location.pack), location.offset, location.length))
            except ObjectNotFoundError:
                continue
            if _matches(data, Member(member.hash, location)):
                return data
        return failure

    def _read_again(self, member: Member, first: bytes | memoryview) -> bytes | Exception:
        """A member whose bytes were wrong, read alone again. Wrong bytes prove damage only
        when two reads bring the same ones and, for a short read, the store states the pack
        ends early: a response cut inside its headers can look like a complete, empty one."""
        location = member.location
        key = packs.pack_key(location.pack)
        where = f"{self.storage.url}: object {member.hash} in pack {key}"
        seen = [bytes(first)]
        for _ in range(READS - 1):
            again = bytes(self.storage.read_range(key, location.offset, location.length))
            if _matches(again, member):
                return again
            if again in seen:
                if len(again) == location.length:
                    return IntegrityError(f"{where} is corrupt; it was not used ('artver verify -r' lists the damage)")
                stated = self.storage.exists([key]).get(key)
                if stated is not None and stated < location.end:
                    return IntegrityError(f"{where} is cut short: the pack has {stated} bytes, the member ends at byte "
                                          f"{location.end}; it was not used ('artver verify -r' lists the damage)")
            seen.append(again)
        return RemoteError(f"{where} arrived damaged {len(seen)} times; gave up after {len(seen)} reads. The remote's "
                           f"copy may be intact: check the network, then run the command again")

    def install(self, cache: Cache, hash_value: str, data: bytes | memoryview) -> StatKey:
        """Give verified member bytes their name in ``cache`` (the one the fetch fills,
        which need not be the one this remote writes its temp files to)."""
        temp, fd = cache.create_temp()
        try:
            try:
                _write_all(fd, data, None, temp, "a download into the cache")
                stat = StatKey.of(os.fstat(fd))
            finally:
                os.close(fd)
            cache.install_trusted(temp, hash_value, read_only=True)
        except BaseException:
            unlink_if_present(temp)
            raise
        return stat


def _matches(data: bytes | memoryview, member: Member) -> bool:
    return len(data) == member.location.length and \
        hashing.hash_bytes(data, hashing.algorithm_of(member.hash)) == member.hash



def _read_cache_object(cache: Cache, hash_value: str, size: int) -> bytes:
    path = cache.path_of(hash_value)
    try:
        with open(path, "rb") as handle:
            data = handle.read(size + 1)
    except OSError as error:
        raise CacheError(f"cannot read cache object {path}: {(error.strerror or str(error)).lower()}") from None
    if len(data) != size:
        raise CacheError(f"cache object {path} has {len(data)} bytes, not {size}; run 'artver verify'")
    return data


def _write_all(fd: int, data: bytes | memoryview, hasher: xxhash.xxh3_128 | None, temp: str, what: str = "") -> int:
    if hasher is not None:
        hasher.update(data)
    view = memoryview(data)
    written = 0
    try:
        while written < len(view):
            written += os.write(fd, view[written:])
    except OSError as error:
        where = f"{what} ({temp})" if what else temp
        raise CacheError(f"cannot write {where}: {(error.strerror or str(error)).lower()}; free some space or fix "
                         f"the cache directory, then run the command again") from None
    return written



def open_packed(storage: Storage, cache: Cache, index_folder: Path | None, settings: PackSettings) -> PackedRemote:
    return PackedRemote(storage, cache, index_folder, settings)


READING_ONLY = PackSettings(enabled=False, threshold=0, pack_size=DEFAULT_PACK_SIZE)


def reading_packs(storage: Storage, cache: Cache) -> PackedRemote:
    """A remote's packs for reading into ``cache`` only, with what is learnt of its indexes
    kept in memory: for a remote that belongs to another repository (artver get/import)."""
    return PackedRemote(storage, cache, None, READING_ONLY)


REPACK_SHARE = 0.2  # a pack is rewritten once at least this share of its bytes is dead


@dataclass(frozen=True)
class RepackPlan:
    """What gc does to a packed remote, decided before anything changes."""

    dead: frozenset[str]  # objects no longer listed by any index afterwards
    keep: tuple[Member, ...]  # live members left where they are
    rewrite: tuple[Member, ...]  # live members copied into new packs
    drop_packs: frozenset[str]  # packs deleted at the end (rewritten, wholly dead, or listed by no index)
    old_indexes: frozenset[str]

    @property
    def changes(self) -> bool:
        return bool(self.dead or self.rewrite or self.drop_packs)


def plan_repack(packed: PackedRemote, live: Set[str], listed_packs: Mapping[str, int | None]) -> RepackPlan:
    """Which members die, which packs are rewritten (those with at least REPACK_SHARE of their
    bytes dead) and which are deleted. ``listed_packs``: the pack objects the remote has, with
    their sizes. An object held twice (two clones packed it at once) keeps one place."""
    packed.refresh()
    old_indexes = frozenset(packed.index.index_names()) if packed.version >= remote_format.PACKED else frozenset()
    by_pack = packs.group_by_pack(packed.index.members()) if old_indexes else {}
    seen: set[str] = set()
    dead: set[str] = set()
    keep: list[Member] = []
    rewrite: list[Member] = []
    drop: set[str] = {name for name in listed_packs if name not in by_pack}  # listed by no index: garbage
    for pack in sorted(by_pack):
        members = by_pack[pack]
        alive = []
        for member in members:
            if member.hash in live and member.hash not in seen:
                seen.add(member.hash)
                alive.append(member)
            elif member.hash not in live:
                dead.add(member.hash)
        size = listed_packs.get(pack) or max(member.location.end for member in members)
        dead_bytes = size - len(packs.PACK_HEADER) - sum(member.location.length for member in alive)
        if not alive:
            drop.add(pack)
        elif dead_bytes >= REPACK_SHARE * size:
            rewrite.extend(alive)
            drop.add(pack)
        else:
            keep.extend(alive)
    return RepackPlan(frozenset(dead - seen), tuple(keep), tuple(rewrite), frozenset(drop), old_indexes)


def repack(packed: PackedRemote, plan: RepackPlan, check: Callable[[], None]) -> None:
    """Carry out ``plan`` in the order that keeps every state a reader may see correct
    (docs/design.md, "Packs"): live members copied into new packs (read and verified
    first); one new index listing every live member; then the old indexes deleted; then
    the old packs. A kill anywhere leaves either the old indexes (listing packs that
    still exist) or the new one, plus at most packs no index lists, which the next gc
    deletes. The caller holds the remote's exclusive lock (no push runs meanwhile); ``check``
    raises if that lock may have been lost, and is called before each deletion."""
    if not plan.changes:
        return
    new_members: list[Member] = []
    start = 0
    for group in packed.groups([(member.hash, member.location.length) for member in plan.rewrite]):
        wanted = plan.rewrite[start:start + len(group)]  # groups() keeps the order and cuts it in runs
        start += len(group)
        new_members += packed.upload_pack(_verified_bytes(packed, wanted), hashing.ignore_bytes)
    merged = packed.write_index([*plan.keep, *new_members])
    for name in sorted(plan.old_indexes - {merged}):
        check()
        packed.storage.delete(packs.index_key(name))
    packed.index.remove_indexes(plan.old_indexes - {merged})
    for pack in sorted(plan.drop_packs - {member.location.pack for member in new_members}):
        check()
        packed.storage.delete(packs.pack_key(pack))


def _verified_bytes(packed: PackedRemote, members: Sequence[Member]) -> Iterable[tuple[str, bytes | memoryview]]:
    """The bytes of ``members`` read from their packs, each checked against its hash; a member
    that cannot be read intact stops the repack (IntegrityError or RemoteError) before any
    index changes."""
    for span in packs.spans(members, MAX_GAP, MAX_SPAN):
        outcomes = packed.read_span(span, hashing.ignore_bytes)
        for member in span.members:
            outcome = outcomes[member.hash]
            if isinstance(outcome, Exception):
                raise outcome
            yield member.hash, outcome
