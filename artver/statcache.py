"""The stat database: which content a workspace file had when artver last hashed it.

Keyed by repository-relative path with (inode, size, mtime_ns). If all three
still match, the file is not read again. SQLite gives crash safety for free; the
database is only a cache, so a damaged one is rebuilt rather than trusted.

Racy files (Git's "racy clean" rule): a file modified again within the same
timestamp tick keeps its mtime. So each entry also stores when it was recorded,
and is trusted only if the file's mtime is older than that by more than the
timestamp granularity: then any later write would have given a later mtime.
An untrusted entry just means the file is hashed once more, and recorded again.
"""

from __future__ import annotations

import os
import sqlite3
import time
import urllib.parse
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple, Protocol

FINE_WINDOW_NS = 50_000_000  # > one kernel tick: the clock file timestamps come from is coarse
COARSE_WINDOW_NS = 2_000_000_000  # filesystems with whole-second (or 2 s) timestamps
SCHEMA_VERSION = 2
_PENDING_LIMIT = 10_000  # stat records held before they are written
_LOOKUP_BATCH = 500  # hashes per query
_SCHEMA_VERIFIED = (
    "CREATE TABLE IF NOT EXISTS verified ("
    " hash TEXT PRIMARY KEY, ino INTEGER NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL) WITHOUT ROWID"
)
_SCHEMA_DIRS = (
    "CREATE TABLE IF NOT EXISTS dirs (path TEXT PRIMARY KEY, identity TEXT NOT NULL, signature TEXT NOT NULL) WITHOUT ROWID"
)
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS stat ("
    " path TEXT PRIMARY KEY, ino INTEGER NOT NULL, size INTEGER NOT NULL,"
    " mtime_ns INTEGER NOT NULL, hash TEXT NOT NULL, recorded_ns INTEGER NOT NULL) WITHOUT ROWID"
)


def racy_window(mtime_ns: int) -> int:
    """How much older than a record a file's mtime must be for the record to be trusted.
    A whole-second mtime suggests a filesystem with coarse timestamps."""
    return COARSE_WINDOW_NS if mtime_ns % 1_000_000_000 == 0 else FINE_WINDOW_NS


def trusted(mtime_ns: int, recorded_ns: int) -> bool:
    return mtime_ns + racy_window(mtime_ns) <= recorded_ns


class StatFields(Protocol):
    """The fields of a stat that artver keeps: an ``os.stat_result`` or a FileStat."""

    @property
    def st_dev(self) -> int: ...
    @property
    def st_ino(self) -> int: ...
    @property
    def st_size(self) -> int: ...
    @property
    def st_mtime_ns(self) -> int: ...
    @property
    def st_mode(self) -> int: ...


class FileStat(NamedTuple):
    """The fields of an ``os.stat_result`` that artver uses, kept per file of a walked folder.
    An ``os.stat_result`` holds every field twice over (seconds and nanoseconds) and takes
    several times the memory: a folder of millions of files is walked into a list of these."""

    st_dev: int
    st_ino: int
    st_size: int
    st_mtime_ns: int
    st_mode: int

    @classmethod
    def of(cls, stat: StatFields) -> FileStat:
        return cls(stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_mode)


class StatKey(NamedTuple):
    """What must be unchanged for a recorded hash to be trusted (a tuple: one per file, fast)."""

    ino: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, stat: StatFields) -> StatKey:
        return cls(stat.st_ino, stat.st_size, stat.st_mtime_ns)


class StatCache:
    """A thin wrapper over one SQLite connection; use as a context manager."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._connection = _connect(path)
        self._pending: dict[str, tuple[StatKey, str]] = {}

    def __enter__(self) -> StatCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def under(self, prefix: str) -> RowsInOrder:
        """Trusted entries for ``prefix`` itself and for paths below ``prefix/``, read from the
        database as they are asked for (see RowsInOrder)."""
        return RowsInOrder(self, prefix)

    def trusted_entry(self, path: str) -> tuple[StatKey, str] | None:
        """The trusted entry of one path, if any."""
        rows = self._rows("SELECT path, ino, size, mtime_ns, hash, recorded_ns FROM stat WHERE path = ?", (path,))
        return _entry(rows[0]) if rows else None

    def lookup(self, path: str, key: StatKey) -> str | None:
        entry = self.trusted_entry(path)
        return entry[1] if entry is not None and entry[0] == key else None

    def _rows(self, query: str, parameters: tuple[str, ...]) -> list[tuple]:
        try:
            return self._connection.execute(query, parameters).fetchall()
        except sqlite3.DatabaseError:
            return []  # unreadable (a database read as it is, changed underneath): nothing is trusted

    def record(self, path: str, key: StatKey, hash_value: str) -> None:
        self._pending[path] = (key, hash_value)
        if len(self._pending) >= _PENDING_LIMIT:
            self.flush()  # a checkout of millions of files must not hold a record of each

    def directory_matches(self, path: str, identity: str, signature: str) -> bool:
        """True if the folder had exactly this stat signature when it last matched ``identity``."""
        rows = self._rows("SELECT identity, signature FROM dirs WHERE path = ?", (path,))
        return bool(rows) and rows[0][0] == identity and rows[0][1] == signature

    def record_directory(self, path: str, identity: str, signature: str | None) -> None:
        try:
            with self._connection:
                if signature is None:
                    self._connection.execute("DELETE FROM dirs WHERE path = ?", (path,))
                else:
                    self._connection.execute("INSERT OR REPLACE INTO dirs VALUES (?, ?, ?)", (path, identity, signature))
        except sqlite3.OperationalError:
            pass

    def verified_among(self, hashes: Iterable[str]) -> dict[str, StatKey]:
        """Which of these cache objects were checked, with the stat they had then (memory
        bounded by the question, not by the cache)."""
        wanted = sorted(set(hashes))
        found: dict[str, StatKey] = {}
        for start in range(0, len(wanted), _LOOKUP_BATCH):
            batch = tuple(wanted[start:start + _LOOKUP_BATCH])
            rows = self._rows(f"SELECT hash, ino, size, mtime_ns FROM verified WHERE hash IN ({','.join('?' * len(batch))})",
                              batch)
            found.update((hash_value, StatKey(ino, size, mtime)) for hash_value, ino, size, mtime in rows)
        return found

    def mark_verified(self, items: Iterable[tuple[str, StatKey]]) -> None:
        rows = [(hash_value, key.ino, key.size, key.mtime_ns) for hash_value, key in items]
        try:
            with self._connection:
                self._connection.executemany("INSERT OR REPLACE INTO verified VALUES (?, ?, ?, ?)", rows)
        except sqlite3.OperationalError:
            pass  # only an optimisation: the object is checked again next time

    def forget_verified(self, hash_value: str) -> None:
        try:
            with self._connection:
                self._connection.execute("DELETE FROM verified WHERE hash = ?", (hash_value,))
        except sqlite3.OperationalError:
            pass

    def flush(self) -> None:
        if not self._pending:
            return
        recorded = time.time_ns()
        rows: Iterable[tuple[str, int, int, int, str, int]] = (
            (path, key.ino, key.size, key.mtime_ns, hash_value, recorded)
            for path, (key, hash_value) in self._pending.items()
        )
        try:
            with self._connection:
                self._connection.executemany("INSERT OR REPLACE INTO stat VALUES (?, ?, ?, ?, ?, ?)", rows)
        except sqlite3.OperationalError:
            pass  # busy or read-only: the entries are an optimisation, the next run hashes again
        self._pending.clear()

    def close(self) -> None:
        self.flush()
        self._connection.close()


class RowsInOrder:
    """The trusted stat entries of the paths below a prefix, read a page at a time in path
    order: asked in ascending order (walks and listings are sorted) each page is read once;
    asked out of order, reading starts again from the path asked (a few times; after that,
    each path is looked up alone). Memory is one page, whatever the size of the folder:
    a dict of every entry of a folder of millions of files took hundreds of MiB."""

    def __init__(self, stats: StatCache, prefix: str) -> None:
        self._stats = stats
        self._prefix = prefix
        self._below = prefix + "/"
        self._end = prefix + "0"  # '0' is the character after '/'
        self._page: list[tuple] = []
        self._index = 0
        self._more = True  # rows may follow the page
        self._last: str | None = None
        self._restarts = 0

    def get(self, path: str) -> tuple[StatKey, str] | None:
        if not path.startswith(self._below):
            return self._stats.trusted_entry(path) if path == self._prefix else None
        if self._last is not None and path < self._last:
            self._restarts += 1
            if self._restarts > _MAX_RESTARTS:
                return self._stats.trusted_entry(path)
            self._read_from(path)
        self._last = path
        while True:
            page, index = self._page, self._index
            while index < len(page) and page[index][0] < path:
                index += 1
            self._index = index
            if index < len(page):
                return _entry(page[index]) if page[index][0] == path else None
            if not self._more:
                return None
            self._read_from(path)  # every row of the page is before ``path``: read on from it

    def _read_from(self, path: str) -> None:
        self._page = self._stats._rows(
            f"SELECT path, ino, size, mtime_ns, hash, recorded_ns FROM stat WHERE path >= ? AND path < ?"
            f" ORDER BY path LIMIT {_PAGE}", (path, self._end))
        self._index = 0
        self._more = len(self._page) == _PAGE


_PAGE = 4096  # stat rows read at once by RowsInOrder
_MAX_RESTARTS = 16


def _entry(row: tuple) -> tuple[StatKey, str] | None:
    _, ino, size, mtime, hash_value, recorded = row
    return (StatKey(ino, size, mtime), hash_value) if trusted(mtime, recorded) else None


def directory_signature(files: Iterable[tuple[str, StatFields]]) -> str | None:
    """A digest of every file's name, inode, size, mtime and exec bit below a tracked folder;
    None if any file is too recent to trust (see ``trusted``). The files may come in any
    order (a walk as it finds them): the digest is the count and the sum of one hash per
    file, so it needs neither the list of files nor their order."""
    import xxhash

    now = time.time_ns()
    total = count = 0
    for relative, stat in files:
        mtime = stat.st_mtime_ns
        if mtime + (COARSE_WINDOW_NS if mtime % 1_000_000_000 == 0 else FINE_WINDOW_NS) > now:
            return None
        line = f"{relative}\0{stat.st_ino}\0{stat.st_size}\0{mtime}\0{stat.st_mode & 0o100}"
        total += xxhash.xxh3_128_intdigest(line.encode("utf-8", "surrogateescape"))
        count += 1
    return f"{count}:{total % (1 << 128):032x}"


def _connect(path: Path) -> sqlite3.Connection:
    """The database, opened for writing if possible. Where it cannot be written (a read-only
    ``.artver``, e.g. a CI cache mounted read-only, or another user's clone) it is read as it
    is, and without it an empty in-memory one is used: every file is then hashed again, and
    nothing is recorded. Either way the command works; the database is only an optimisation."""
    try:
        return _connect_writable(path)
    except (sqlite3.OperationalError, OSError):
        pass  # read-only file, folder or filesystem; or locked by a writer for longer than the timeout
    reader = _connect_read_only(path)
    if reader is not None:
        return reader
    connection = sqlite3.connect(":memory:")
    _create_tables(connection)
    return connection


def _connect_writable(path: Path) -> sqlite3.Connection:
    for attempt in range(2):
        try:
            connection = sqlite3.connect(path, timeout=5.0)
            try:
                if connection.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                    with connection:  # an older layout: it is only a cache, so start it afresh
                        for table in ("stat", "verified", "dirs"):
                            connection.execute(f"DROP TABLE IF EXISTS {table}")
                        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=NORMAL")
                _create_tables(connection)
            except sqlite3.DatabaseError:
                connection.close()
                raise
            return connection
        except sqlite3.OperationalError:
            raise  # cannot write it (read-only, busy): not damage, so never deleted
        except sqlite3.DatabaseError:
            if attempt:
                raise
            # Not a database any more (disk damage, a stray write): it is only a cache, start afresh.
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
    raise AssertionError("unreachable")


def _connect_read_only(path: Path) -> sqlite3.Connection | None:
    """The existing database opened read-only, or None. Through its shared-memory file it sees
    a live writer's changes; with none (SQLite cannot create one in a read-only folder) it is
    opened as immutable, which only this folder being unwritable for us allows. Rows are safe
    to read even so: each one is trusted only while the file still has the stat it records."""
    if not path.is_file():
        return None
    uri = "file:" + urllib.parse.quote(str(path.resolve())) + "?mode=ro"
    candidates = [uri] + ([uri + "&immutable=1"] if not os.access(path.parent, os.W_OK) else [])
    for candidate in candidates:
        try:
            connection = sqlite3.connect(candidate, uri=True, timeout=5.0)
        except sqlite3.DatabaseError:
            continue
        try:
            if connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
                for table in ("stat", "verified", "dirs"):
                    connection.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchall()
                return connection
        except sqlite3.DatabaseError:
            pass
        connection.close()
    return None


def _create_tables(connection: sqlite3.Connection) -> None:
    connection.execute(_SCHEMA)
    connection.execute(_SCHEMA_VERIFIED)
    connection.execute(_SCHEMA_DIRS)
