"""What a packed remote holds, learnt from its index objects and kept as local files.

Index objects never change once written (their name is the hash of their bytes), so a
clone only ever needs the ones it has not seen: a refresh lists ``index/`` (one request
per thousand indexes), downloads the new ones, checks each against its name, validates
it as untrusted input (packs.index_blocks) and keeps it as a local file in index format
2 (members sorted by hash; an index of format 1 is converted). Names no longer listed
(consolidated or removed by gc) lose their files.

A lookup needs no database: each local index, once opened, has a table of *fences* (the
hash and place of the first member line after every FENCE_BYTES bytes), so the lines of
a hash lie between two fences found by bisection; those few KiB are read (os.pread, not
mmap: pages a lookup touches would count in the process's memory) and searched for the
line that starts with the whole hash. Opening a local file reads it once, a MiB at a
time, to check it against the content hash in its name and to build the fences in the
same pass: cheap, and a file that is damaged, cut short or half written is never used
(it is deleted, and the index is downloaded again).

The files are only a cache of the remote: ``.artver/remotes/<id>/<index name>.<content
hash>`` (``.artver/remotes/`` git-ignores itself), each written under a temp name and
renamed, so a load that is killed leaves nothing half-known. Where the folder cannot be
written, indexes learnt now are kept in memory (those already there are still read).
What they say is never trusted for content: every member read is checked against its
own hash (remote_packs.py). Their order is not trusted either: a lookup compares the
whole hash of every line it returns, so an unsorted (hostile) index can only hide its
own members (docs/security.md).
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import os
import re
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import xxhash

from artver import packs, sorted_lines
from artver.packs import Location, Member

FENCE_BYTES = 2048  # a lookup reads about two of these (docs/benchmarks.md)
READ_BYTES = 1024 * 1024  # bytes read at once when a local index is opened
_RUN_BYTES = 16 * 1024  # bytes read at once while following the lines of one hash
# Places of one hash in one index, at most: an object is packed more than once only when
# clones push it at once, and consolidation keeps each place once; beyond this an index
# lies, and the rest of its lines for that hash are not read.
PLACES_PER_INDEX = 1000
TEMP_PREFIX = ".tmp-"
STALE_TEMP_SECONDS = 24 * 3600  # a temp file this old was left by a killed load, not one running now
_LOCAL_NAME = re.compile(r"([0-9a-f]{32})\.([0-9a-f]{32})")
_OFFSET_DIGITS = 13  # MAX_OFFSET has 13 digits: offsets padded to it sort as numbers
_TYPICAL_LINE_BYTES = 56  # an xxh128 member line of a pack of a few MiB
# An index is read whole for a question about this many of its members or more, rather than
# looked up hash by hash: a lookup costs a bisection, a read and a search (about the time
# to read twenty lines), and a fetch asks about every object of a folder at once.
_SCAN_FROM = 1 / 16


class _Damaged(Exception):
    """A local index file that is not what was written (checked at open)."""


@dataclass(frozen=True)
class _Opened:
    """One local index, checked and ready for lookups (immutable: shared between threads)."""

    name: str
    pack_count: int
    fence_hashes: list[bytes]  # the hash of the member line at each fence, in file order
    fence_starts: list[int]  # where that line starts
    body: int  # where the member lines start
    end: int  # the file's size
    read: Callable[[int, int], bytes]  # bytes start..end of the index
    pack_names: dict[int, str] = field(default_factory=dict)  # read when first needed

    def pack(self, number: int) -> str:
        """The name of pack ``number``: its line is the one at that place after the header
        (pack lines are all one length), read when first needed, not at open: an index
        may list many more packs than a command needs."""
        name = self.pack_names.get(number)
        if name is None:
            start = len(packs.INDEX_HEADER) + packs.PACK_LINE_BYTES * number + len(b"pack ")
            name = self.pack_names.setdefault(number, self.read(start, start + 32).decode("ascii"))
        return name

    def lookup(self, key: bytes) -> Iterator[tuple[str, int, int]]:
        """(pack, offset, length) of each line of hash ``key``, at most PLACES_PER_INDEX. In a
        sorted index the first of them starts between the last fence below ``key`` and the
        next fence, and the others follow it. The fences are places in the file, so what is
        read stays bounded even in an unsorted (hostile) index; there some lines may be
        missed, never a line of another hash returned."""
        first = bisect.bisect_left(self.fence_hashes, key)
        start = self.fence_starts[first - 1] if first else self.body
        stop = self.fence_starts[first] + packs.MAX_INDEX_LINE if first < len(self.fence_starts) else self.end
        if min(stop, self.end) <= start:
            return
        data = self.read(start, min(stop, self.end))
        wanted = key + b" "
        found = data.find(wanted)
        while found > 0 and data[found - 1] != 0x0A:  # not a line start (cannot be, in a valid index)
            found = data.find(wanted, found + 1)
        if found < 0:
            return
        position, chunk, at, count = start + found, data, found, 0
        while True:  # the run of lines of this hash, read on as it goes past what was read
            line_end = chunk.find(b"\n", at)
            if line_end < 0:
                if at == 0 or position >= self.end:
                    return  # a line longer than a read: not in a valid index
                chunk, at = self.read(position, min(self.end, position + _RUN_BYTES)), 0
                continue
            if not chunk.startswith(wanted, at):
                return
            _, number, offset, length = chunk[at:line_end].split(b" ")
            yield self.pack(int(number)), int(offset), int(length)
            count += 1
            if count == PLACES_PER_INDEX:
                return
            position += line_end + 1 - at
            at = line_end + 1

    def lines_about(self) -> int:
        """About how many member lines the index has (from its size)."""
        return (self.end - self.body) // _TYPICAL_LINE_BYTES

    def scan(self, wanted: Mapping[bytes, object]) -> Iterator[tuple[bytes, str, int, int]]:
        """(hash, pack, offset, length) of every line whose hash is in ``wanted``, at most
        PLACES_PER_INDEX per hash, from one read of the whole index: cheaper than a lookup
        per hash when many of the index's members are wanted."""
        seen: dict[bytes, int] = {}
        try:
            for line in self._member_lines():
                key = line[:line.find(b" ")]
                if key in wanted and seen.get(key, 0) < PLACES_PER_INDEX:
                    seen[key] = seen.get(key, 0) + 1
                    _, number, offset, length = line.split(b" ")
                    yield key, self.pack(int(number)), int(offset), int(length)
        except _Damaged:
            return  # a line longer than a read: not in a valid index (as lookup)

    def member_keys(self) -> Iterator[bytes]:
        """Every member line as a sort key '<pack> <offset, padded> <hash> <length>\\n'."""
        names: dict[bytes, bytes] = {}
        for line in self._member_lines():
            hash_value, number, offset, length = line.split(b" ")
            name = names.get(number) or names.setdefault(number, self.pack(int(number)).encode())
            yield b"%s %s %s %s\n" % (name, offset.rjust(_OFFSET_DIGITS, b"0"), hash_value, length)

    def _member_lines(self) -> Iterator[bytes]:
        """Every member line (without its newline), read a block at a time. _Damaged if a
        line is longer than a read (the file changed since it was checked at open)."""
        position = self.body
        while position < self.end:
            block = self.read(position, min(self.end, position + READ_BYTES))
            cut = block.rfind(b"\n") + 1
            if cut == 0:
                raise _Damaged(self.name)
            position += cut
            yield from block[:cut - 1].split(b"\n")


class _Scanner:
    """Reads a local index of format 2 once, in pieces: its content hash, pack names and
    fences. The file is checked against its name only at the end, so anything found before
    is suspect until then: a piece that breaks the format raises _Damaged."""

    def __init__(self) -> None:
        self.hasher = xxhash.xxh3_128()
        self._rest = b""
        self._base = 0  # where _rest starts in the file
        self._header = False
        self.pack_count = 0
        self.body: int | None = None
        self._target = 0  # the next fence: the first line starting at or after it
        self.fence_hashes: list[bytes] = []
        self.fence_starts: list[int] = []

    def feed(self, piece: bytes) -> None:
        self.hasher.update(piece)
        buffer = self._rest + piece if self._rest else piece
        cut = buffer.rfind(b"\n") + 1
        block, self._rest = buffer[:cut], buffer[cut:]
        base = self._base
        self._base += cut
        try:
            position = self._head(block, base) if self.body is None else 0
            if self.body is not None:
                self._fences(block, base, position)
        except (ValueError, UnicodeDecodeError):
            raise _Damaged() from None

    def _head(self, block: bytes, base: int) -> int:
        """The header and pack lines in ``block``; where the member lines start, if here."""
        position = 0
        if not block:
            return position
        if not self._header:
            if not block.startswith(packs.INDEX_HEADER):
                raise _Damaged()
            self._header = True
            position = len(packs.INDEX_HEADER)
        pack_lines = packs.PACK_LINES.match(block, position)
        assert pack_lines is not None  # the pattern matches the empty string
        self.pack_count += (pack_lines.end() - position) // packs.PACK_LINE_BYTES
        position = pack_lines.end()
        if position < len(block):
            self.body = self._target = base + position
        return position

    def _fences(self, block: bytes, base: int, position: int) -> None:
        end = base + len(block)
        while self._target < end:
            before = self._target - 1 - base
            start = 0 if before < position else block.index(b"\n", before) + 1
            start = max(start, position)
            if start >= len(block):
                return  # the line starts in the next piece
            self.fence_hashes.append(block[start:block.index(b" ", start)])
            self.fence_starts.append(base + start)
            self._target = base + start + FENCE_BYTES

    def finish(self, name: str, content: str, read: Callable[[int, int], bytes]) -> _Opened:
        if self._rest or not self._header or self.hasher.hexdigest() != content:
            raise _Damaged(name)
        body = self._base if self.body is None else self.body
        return _Opened(name, self.pack_count, self.fence_hashes, self.fence_starts, body, self._base, read)


def _read_file(fd: int, start: int, end: int) -> bytes:
    return os.pread(fd, end - start, start)


def _read_bytes(data: bytes, start: int, end: int) -> bytes:
    return data[start:end]


class RemoteIndex:
    """The members of one remote's packs. Use as a context manager. Safe to share between
    threads: one lock orders changes; lookups read opened indexes, which never change."""

    def __init__(self, folder: Path | None) -> None:
        self._folder = folder
        self._writable = folder is not None and _prepare(folder)
        self._lock = threading.RLock()
        self._opened: dict[str, _Opened] = {}
        self._files: dict[str, Path] = {}  # the local file of each opened index kept on disk
        self._fds: list[int] = []  # closed by close(), not before: a lookup may still be reading
        # Also closed when this object is dropped without close() (a PackedRemote is not
        # closed by its users): a long-lived Python session must not collect open files.
        weakref.finalize(self, _close_fds, self._fds)
        self._scanned = False

    def __enter__(self) -> RemoteIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            _close_fds(self._fds)
            self._opened.clear()
            self._files.clear()
            self._scanned = False

    def _indexes(self) -> dict[str, _Opened]:
        """Every known index, opened: on first use, each local file is checked (a damaged
        one is deleted, so it is unknown and downloaded again)."""
        with self._lock:
            if not self._scanned:
                self._scanned = True
                if self._folder is not None and self._folder.is_dir():
                    self._open_folder(self._folder)
            return dict(self._opened)

    def _open_folder(self, folder: Path) -> None:
        for entry in sorted(os.scandir(folder), key=lambda each: each.name):
            match = _LOCAL_NAME.fullmatch(entry.name)
            if match is None:
                if entry.name.startswith(TEMP_PREFIX) and self._writable:
                    with contextlib.suppress(OSError):
                        if entry.stat().st_mtime < time.time() - STALE_TEMP_SECONDS:
                            os.unlink(entry.path)
                continue
            name, content = match[1], match[2]
            if name in self._opened:
                continue
            try:
                fd = os.open(entry.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            except OSError:
                continue
            try:
                opened = _open_fd(fd, name, content)
            except (_Damaged, OSError):
                os.close(fd)
                if self._writable:
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)
                continue
            self._fds.append(fd)
            self._opened[name] = opened
            self._files[name] = Path(entry.path)

    def index_names(self) -> set[str]:
        return set(self._indexes())

    def add_index(self, name: str, members: Iterable[Member]) -> None:
        """Record index ``name`` listing ``members`` (in any order)."""
        self.add_blocks(name, packs.index_lines(members))

    def add_blocks(self, name: str, blocks: Iterable[bytes]) -> None:
        """Record index ``name`` from its bytes in format 2 (packs.index_blocks), all or
        nothing: ``blocks`` may raise half-way (a damaged index), and then nothing of it is
        recorded; a process killed meanwhile leaves at most a temp file. Where the file
        cannot be written (read-only folder, full disk), the index is kept in memory."""
        if name in self._indexes():
            return
        with self._lock:
            if name in self._opened:
                return
            scanner = _Scanner()
            local = _LocalFile.create(self._folder) if self._writable and self._folder is not None else None
            in_memory: list[bytes] = []
            try:
                for block in blocks:
                    scanner.feed(block)
                    if local is not None and not local.write(block):
                        in_memory = [local.written()]
                        local.discard()
                        local = None
                    if local is None:
                        in_memory.append(block)
                content = scanner.hasher.hexdigest()
                if local is not None:
                    assert self._folder is not None
                    final = self._folder / f"{name}.{content}"
                    if local.keep_as(final):
                        self._fds.append(local.fd)
                        self._opened[name] = scanner.finish(name, content, functools.partial(_read_file, local.fd))
                        self._files[name] = final
                        return
                    in_memory = [local.written()]
                    local.discard()
                    local = None
            except BaseException:
                if local is not None:
                    local.discard()
                raise
            data = b"".join(in_memory)
            self._opened[name] = scanner.finish(name, content, functools.partial(_read_bytes, data))

    def remove_indexes(self, names: Iterable[str]) -> None:
        known = self._indexes()
        with self._lock:
            for name in names:
                if name in known:
                    del self._opened[name]
                    path = self._files.pop(name, None)
                    if path is not None and self._writable:
                        with contextlib.suppress(OSError):
                            os.unlink(path)

    def locate(self, hashes: Sequence[str]) -> dict[str, Location]:
        """Where each of ``hashes`` that a pack holds lies (the first of its places if several)."""
        return {hash_value: places[0] for hash_value, places in self.places(hashes).items()}

    def places(self, hashes: Sequence[str]) -> dict[str, list[Location]]:
        """Every place the indexes give for each of ``hashes`` that a pack holds, each once.
        Several places are normal (two clones packed one object at once); one of them may
        also be a lie of a hostile or damaged index, which must not hide the others."""
        known = self._indexes()
        wanted = {hash_value.encode(): hash_value for hash_value in sorted(set(hashes))
                  if hash_value and " " not in hash_value and "\n" not in hash_value}
        found: dict[str, list[Location]] = {}
        for name in sorted(known):
            index = known[name]
            if len(wanted) >= index.lines_about() * _SCAN_FROM:
                lines = index.scan(wanted)
            else:
                lines = ((key, *place) for key in wanted for place in index.lookup(key))
            for key, pack, offset, length in lines:
                found.setdefault(wanted[key], []).append(Location(pack, offset, length))
        for hash_value, places in found.items():
            if len(places) > 1:  # the same place in two indexes is one place
                found[hash_value] = sorted(set(places), key=lambda place: (place.pack, place.offset, place.length))
        return found

    def members(self) -> Iterator[Member]:
        """Every member of every pack (each place once), pack by pack in offset order (then
        hash). Memory stays bounded: the lines are sorted in runs (sorted_lines)."""
        indexes = list(self._indexes().values())
        keys = (key for index in indexes for key in index.member_keys())
        pack: str | None = None
        for line in sorted_lines.sorted_unique(keys):
            pack_bytes, offset, hash_value, length = line.split(b" ")
            if pack is None or pack_bytes.decode() != pack:
                pack = pack_bytes.decode()
            yield Member(hash_value.decode(), Location(pack, int(offset), int(length)))


@dataclass
class _LocalFile:
    """A local index being written: a temp file in the folder, renamed once complete."""

    fd: int
    temp: str
    size: int = 0

    @staticmethod
    def create(folder: Path) -> _LocalFile | None:
        try:
            fd, temp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=folder)
        except OSError:
            return None
        return _LocalFile(fd, temp)

    def write(self, data: bytes) -> bool:
        """False if it could not be written (a full disk): the caller keeps it in memory."""
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self.fd, view):]
        except OSError:
            return False
        self.size += len(data)
        return True

    def written(self) -> bytes:
        """The bytes written so far, read back."""
        return os.pread(self.fd, self.size, 0) if self.size else b""

    def keep_as(self, final: Path) -> bool:
        try:
            os.replace(self.temp, final)
        except OSError:
            return False
        return True

    def discard(self) -> None:
        os.close(self.fd)
        with contextlib.suppress(OSError):
            os.unlink(self.temp)


def _close_fds(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)
    fds.clear()


def _open_fd(fd: int, name: str, content: str) -> _Opened:
    scanner = _Scanner()
    position = 0
    while piece := os.pread(fd, READ_BYTES, position):
        scanner.feed(piece)
        position += len(piece)
    return scanner.finish(name, content, functools.partial(_read_file, fd))


def _prepare(folder: Path) -> bool:
    """Make ``folder`` (and its parent, which git-ignores itself); True if it can be written.
    The database an older artver kept for the remote (``<folder>.db``) is deleted."""
    try:
        if not folder.parent.is_dir():
            folder.parent.mkdir()
            (folder.parent / ".gitignore").write_text("# artver: what this clone knows of its remotes' packs\n*\n")
        folder.mkdir(exist_ok=True)
        for suffix in (".db", ".db-journal"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{folder}{suffix}")
    except OSError:
        return False
    return os.access(folder, os.W_OK | os.X_OK)


def database_path(artver_dir: Path, remote_identity: str) -> Path:
    """The folder of the local indexes of the remote ``remote_identity`` (its URL and
    endpoint). (Named as when it was a database, for its callers.)"""
    return artver_dir / "remotes" / packs.name_of_bytes(remote_identity.encode())
