"""What artver remembers about blobs it has published: sha256 digests and where they went.

A registry names blobs by sha256, artver's objects by their own hash (XXH3-128
by default). Computing a blob's sha256 means reading all of it, so the digest
computed while a blob was uploaded is remembered here, keyed by what the blob
was made from: a file's object hash, or for a directory's tar layer the
directory's identity and the tar layout version. The next publish of the same
content knows the digest at once: it asks the registry (HEAD) and sends nothing
if the blob is there. Where a blob was pushed (registry, repository) is kept
too, so that publishing to another repository of the same registry can mount it.

An entry is written only after the registry accepted the blob under that
digest (it checks the bytes), from bytes read out of a verified cache object.
The database lives in the cache directory (shared by clones that share the
cache), is SQLite (safe against kills and concurrent writers), and is only an
optimisation: a damaged one is discarded, and a wrong digest can only make the
registry refuse an upload, after which the entry is forgotten.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

FILE_NAME = "oci-digests.db"
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS blobs (key TEXT PRIMARY KEY, digest TEXT NOT NULL, size INTEGER NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS places (digest TEXT NOT NULL, registry TEXT NOT NULL, repository TEXT NOT NULL,"
    " PRIMARY KEY (digest, registry, repository)) WITHOUT ROWID",
)


class DigestIndex:
    """One SQLite connection; use as a context manager."""

    def __init__(self, cache_root: Path) -> None:
        self._connection = _open(cache_root / FILE_NAME)

    def __enter__(self) -> DigestIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self._connection.close()

    def lookup(self, key: str) -> tuple[str, int] | None:
        """(digest, size) remembered for ``key``; None if unknown (or the row is not sane)."""
        try:
            row = self._connection.execute("SELECT digest, size FROM blobs WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error:
            return None
        if row is None or not isinstance(row[0], str) or not _DIGEST.fullmatch(row[0]):
            return None
        if not isinstance(row[1], int) or row[1] < 0:
            return None
        return row[0], row[1]

    def record(self, key: str, digest: str, size: int) -> None:
        self._write("INSERT OR REPLACE INTO blobs (key, digest, size) VALUES (?, ?, ?)", (key, digest, size))

    def forget(self, key: str) -> None:
        self._write("DELETE FROM blobs WHERE key = ?", (key,))

    def record_place(self, digest: str, registry: str, repository: str) -> None:
        self._write("INSERT OR IGNORE INTO places (digest, registry, repository) VALUES (?, ?, ?)", (digest, registry, repository))

    def places(self, digest: str, registry: str) -> list[str]:
        """Repositories of ``registry`` this blob was pushed to."""
        try:
            rows = self._connection.execute(
                "SELECT repository FROM places WHERE digest = ? AND registry = ? ORDER BY repository", (digest, registry)
            ).fetchall()
        except sqlite3.Error:
            return []
        return [row[0] for row in rows if isinstance(row[0], str)]

    def _write(self, statement: str, values: tuple[object, ...]) -> None:
        try:
            with self._connection:
                self._connection.execute(statement, values)
        except sqlite3.Error:
            pass  # an optimisation only: a read-only or busy database just means more work next time


def _open(path: Path) -> sqlite3.Connection:
    for attempt in (1, 2):
        connection: sqlite3.Connection | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(path, timeout=10.0)
            connection.execute("PRAGMA journal_mode=WAL")
            for statement in _SCHEMA:
                connection.execute(statement)
            return connection
        except sqlite3.OperationalError:
            if connection is not None:
                connection.close()
            break  # cannot open or write it here (permissions, busy): not a reason to delete it
        except sqlite3.DatabaseError:
            if attempt == 2:
                break
            if connection is not None:
                connection.close()
            for suffix in ("", "-wal", "-shm"):  # not a database any more: it is only a cache, start afresh
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        except OSError:
            break
    memory = sqlite3.connect(":memory:")  # remember for this run only
    for statement in _SCHEMA:
        memory.execute(statement)
    return memory
