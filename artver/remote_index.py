"""What a packed remote holds, learnt from its index objects and kept in a local database.

Index objects never change once written (their name is the hash of their bytes), so
the database only ever needs the names it has not seen: a refresh lists ``index/``
(one request per thousand indexes), downloads the new ones, checks each against its
name, parses it as untrusted input (packs.parse_index_sections) and records its members;
names no longer listed (consolidated or removed by gc) lose their rows. A lookup is
then a database query: no request, and memory that does not grow with the remote.

The database is only a cache of the remote: ``.artver/remotes/<id>.db`` (a folder that git-ignores itself), deleted and
rebuilt when damaged, replaced by one in memory where ``.artver`` cannot be written.
What it says is never trusted for content: every member read is checked against its
own hash (remote_packs.py).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from artver import cache_database, packs
from artver.packs import Location, Member

SCHEMA_VERSION = 3  # 3: members keyed by their index line (2 split it into columns)
_TABLES = (
    "CREATE TABLE IF NOT EXISTS indexes (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)",
    "CREATE TABLE IF NOT EXISTS packs (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)",
    # One row per member per index that lists it: two indexes may list the same member (a
    # consolidated index and the ones it replaces, until they are deleted). ``line`` is the
    # member's line of the index as it stands, '<hash> <offset> <length>', validated by
    # packs.parse_index_sections: keyed by it, the places of a hash are one range of keys
    # (the hash and a space), and loading an index splits nothing into columns (splitting
    # cost more than all the rest of a load but the sort).
    "CREATE TABLE IF NOT EXISTS members (line TEXT NOT NULL, idx INTEGER NOT NULL, pack INTEGER NOT NULL,"
    " PRIMARY KEY (line, idx)) WITHOUT ROWID",
    # No index on members(idx): it would make loading a large index much slower, and rows are
    # deleted by index only when indexes are merged or repacked, where one scan is cheap.
)
_JSON_FROM = 4096  # bytes of member lines (about 80 members) from which a section goes as JSON
_ROWS_AT_ONCE = 10_000  # member lines of short sections staged by one executemany
# Every place of each hash of a JSON array (?1): the member lines from '<hash> ' up to, not
# including, '<hash>!' (the column compares bytes, and '!' is the byte after ' ').
_PLACES = (
    "SELECT wanted.value, m.line, p.name FROM json_each(?1) AS wanted"
    " JOIN members m ON m.line >= wanted.value || ' ' AND m.line < wanted.value || '!'"
    " JOIN packs p ON p.id = m.pack"
)


@dataclass(frozen=True)
class _Staging:
    """The connection of a recording transaction, and the ids of the packs it has seen."""

    connection: sqlite3.Connection
    pack_ids: dict[str, int]

    def pack_id(self, pack: str) -> int:
        found = self.pack_ids.get(pack)
        if found is None:
            self.connection.execute("INSERT OR IGNORE INTO packs (name) VALUES (?)", (pack,))
            (found,) = self.connection.execute("SELECT id FROM packs WHERE name = ?", (pack,)).fetchone()
            self.pack_ids[pack] = found
        return found


def _stage_sections(staging: _Staging, sections: Iterable[packs.Section], in_sqlite: bool) -> None:
    """Put the member lines of ``sections`` into ``incoming``: a long section as one JSON
    array that SQLite makes rows of (json_each), where it can; short ones (packs of a few
    members, or an index that repeats a pack line before every member), or all of them
    with an SQLite built without JSON, row by row, a bounded batch at a time: a statement
    per section of one member would cost more than the line parser did."""
    connection = staging.connection
    rows: list[tuple[str, int]] = []
    for section in sections:
        pack = staging.pack_id(section.pack)
        if in_sqlite and len(section.lines) >= _JSON_FROM:
            connection.execute("INSERT INTO incoming (line, pack) SELECT value, ?2 FROM json_each(?1)",
                               (_json_strings(section.lines), pack))
            continue
        rows.extend((line, pack) for line in section.lines.decode().splitlines())
        if len(rows) >= _ROWS_AT_ONCE:
            connection.executemany("INSERT INTO incoming (line, pack) VALUES (?, ?)", rows)
            rows.clear()
    connection.executemany("INSERT INTO incoming (line, pack) VALUES (?, ?)", rows)


def _json_strings(lines: bytes) -> str:
    """The lines of a packs.Section as a JSON array of strings: they are validated ASCII
    without quotes or backslashes, so each line is a JSON string as it stands."""
    return '["' + lines[:-1].decode("ascii").replace("\n", '","') + '"]'


def _location(line: str, pack: str) -> tuple[str, Location]:
    hash_value, offset, length = line.split(" ")
    return hash_value, Location(pack, int(offset), int(length))


def _reads_json(connection: sqlite3.Connection) -> bool:
    try:
        connection.execute("SELECT count(*) FROM json_each('[]')").fetchone()
    except sqlite3.OperationalError:
        return False
    return True


class RemoteIndex:
    """The members of one remote's packs. Use as a context manager. Safe to share between
    threads: one lock orders every use of the connection."""

    def __init__(self, path: Path | None) -> None:
        self._database = cache_database.CacheDatabase(path, SCHEMA_VERSION, ("members", "packs", "indexes"), _TABLES,
                                                      "what this clone knows of its remotes' packs")
        self._lock = threading.RLock()

    def __enter__(self) -> RemoteIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._database.close()

    def index_names(self) -> set[str]:
        with self._lock, self._database.use() as connection:
            return {name for (name,) in connection.execute("SELECT name FROM indexes")}

    def add_index(self, name: str, members: Iterable[Member]) -> None:
        """Record index ``name`` with its members, all or nothing: ``members`` may raise
        half-way (a damaged index), and then nothing of it is recorded."""
        self.add_rows(name, ((member.hash, member.location.pack, member.location.offset, member.location.length)
                             for member in members))

    def add_rows(self, name: str, rows: Iterable[packs.Row]) -> None:
        """add_index, from (hash, pack, offset, length) rows (packs.parse_index_rows)."""
        with self._recording(name) as staging:
            if staging is not None:
                staging.connection.executemany(
                    "INSERT INTO incoming (line, pack) VALUES (?, ?)",
                    ((f"{hash_value} {offset} {length}", staging.pack_id(pack)) for hash_value, pack, offset, length in rows))

    def add_sections(self, name: str, sections: Iterable[packs.Section]) -> None:
        """add_index, from packs.parse_index_sections (the way to load a large index): the
        member lines of a section go to SQLite as one JSON array of strings and become rows
        there, with no Python object made per member. ``sections`` may raise half-way, and
        then nothing of the index is recorded."""
        with self._recording(name) as staging:
            if staging is not None:
                _stage_sections(staging, sections, _reads_json(staging.connection))

    @contextlib.contextmanager
    def _recording(self, name: str) -> Iterator[_Staging | None]:
        """One transaction that records index ``name`` from the rows put into the temp table
        ``incoming`` (None: the index is known already); rolled back if the body raises.
        Rows are staged, then inserted in key order: random inserts into the members B-tree
        are several times slower for a large index than one sorted pass."""
        with self._lock, self._database.use() as database, database as connection:
            cursor = connection.execute("INSERT OR IGNORE INTO indexes (name) VALUES (?)", (name,))
            if not cursor.rowcount:
                yield None
                return
            connection.execute("CREATE TEMP TABLE IF NOT EXISTS incoming (line TEXT, pack INTEGER)")
            connection.execute("DELETE FROM incoming")
            yield _Staging(connection, {})
            connection.execute("INSERT OR IGNORE INTO members SELECT line, ?, pack FROM incoming ORDER BY line",
                               (cursor.lastrowid,))
            connection.execute("DELETE FROM incoming")

    def remove_indexes(self, names: Iterable[str]) -> None:
        with self._lock, self._database.use() as database, database as connection:
            for name in names:
                row = connection.execute("SELECT id FROM indexes WHERE name = ?", (name,)).fetchone()
                if row is not None:
                    connection.execute("DELETE FROM members WHERE idx = ?", row)
                    connection.execute("DELETE FROM indexes WHERE id = ?", row)
            connection.execute("DELETE FROM packs WHERE id NOT IN (SELECT DISTINCT pack FROM members)")

    def locate(self, hashes: Sequence[str]) -> dict[str, Location]:
        """Where each of ``hashes`` that a pack holds lies (the first of its places if several)."""
        return {hash_value: places[0] for hash_value, places in self.places(hashes).items()}

    def places(self, hashes: Sequence[str]) -> dict[str, list[Location]]:
        """Every place the indexes give for each of ``hashes`` that a pack holds, each once.
        Several places are normal (two clones packed one object at once); one of them may
        also be a lie of a hostile or damaged index, which must not hide the others."""
        found: dict[str, list[Location]] = {}
        names: dict[str, str] = {}  # one string per pack, not one per member: a fetch may locate many thousands
        with self._lock, self._database.use() as connection:
            # each hash once, in key order: the B-tree is then walked forwards, not at random
            for wanted, line, pack in connection.execute(_PLACES, (json.dumps(sorted(set(hashes))),)):
                hash_value, offset, length = line.split(" ")
                if hash_value == wanted:  # not a line that only starts with it
                    found.setdefault(wanted, []).append(Location(names.setdefault(pack, pack), int(offset), int(length)))
        for hash_value, places in found.items():
            if len(places) > 1:  # the same place in two indexes is one place
                found[hash_value] = sorted(set(places), key=lambda place: (place.pack, place.offset, place.length))
        return found

    def members(self) -> Iterator[Member]:
        """Every member of every pack (each place once), pack by pack in offset order: the
        order of packs.index_bytes. Streamed, so memory does not grow with the remote; not
        for use while other threads change the database."""
        query = ("SELECT DISTINCT m.line, p.name FROM members m JOIN packs p ON p.id = m.pack"
                 " ORDER BY p.name, CAST(substr(m.line, instr(m.line, ' ') + 1) AS INTEGER), m.line")
        with self._database.use() as connection:
            with self._lock:
                cursor = connection.execute(query)
            for line, pack in cursor:
                yield Member(*_location(line, pack))




def database_path(artver_dir: Path, remote_identity: str) -> Path:
    """Where the database of the remote ``remote_identity`` (its URL and endpoint) lives."""
    return artver_dir / "remotes" / f"{packs.name_of_bytes(remote_identity.encode())}.db"
