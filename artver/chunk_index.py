"""Where chunks of cached files lie, so that a new version is rebuilt from the old one.

The cache holds whole files (fast checkout, reflinks, hard links). For those that were
cut into chunks (pushed to, or pulled from, a remote that chunks), this database says
which chunk lies where: a fetch of v2 copies every chunk v1 already has from v1's
cache file instead of downloading it (remote_chunks.py). It is only a cache of what
chunking the files would say: ``.artver/chunks/chunks.db`` (a folder that git-ignores
itself), rebuilt by chunking the cached files again when lost, one in memory where
``.artver`` cannot be written. What it says is checked: a chunk copied from a local file
is hashed before it is used.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from artver import cache_database
from artver.chunking import ChunkRef

SCHEMA_VERSION = 1
_BATCH = 500
_TABLES = (
    "CREATE TABLE IF NOT EXISTS files (hash TEXT PRIMARY KEY) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS chunks (hash TEXT NOT NULL, file TEXT NOT NULL, offset INTEGER NOT NULL,"
    " length INTEGER NOT NULL, PRIMARY KEY (hash, file)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS chunks_by_file ON chunks (file)",
)


class ChunkIndex:
    """Chunks of cached files. Use as a context manager; safe to share between threads."""

    def __init__(self, path: Path | None) -> None:
        self._database = cache_database.CacheDatabase(path, SCHEMA_VERSION, ("chunks", "files"), _TABLES,
                                                  "where chunks of cached files lie")
        self._lock = threading.RLock()

    def __enter__(self) -> ChunkIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self._database.close()

    def files(self) -> set[str]:
        with self._lock:
            with self._database.use() as connection:
                return {hash_value for (hash_value,) in connection.execute("SELECT hash FROM files")}

    def record(self, file_hash: str, chunks: Iterable[ChunkRef]) -> None:
        """Record the chunks of the cached file ``file_hash`` (all or nothing). Rows go in
        sorted by chunk hash, the table's key: random-order inserts into its B-tree cost
        two to three times as much for a file of tens of thousands of chunks."""
        rows = sorted((chunk.hash, file_hash, chunk.offset, chunk.length) for chunk in chunks)
        with self._lock, self._database.use() as database, database as connection:
            connection.execute("DELETE FROM chunks WHERE file = ?", (file_hash,))
            connection.executemany("INSERT OR IGNORE INTO chunks VALUES (?, ?, ?, ?)", rows)
            connection.execute("INSERT OR IGNORE INTO files VALUES (?)", (file_hash,))

    def forget(self, file_hashes: Iterable[str]) -> None:
        with self._lock, self._database.use() as database, database as connection:
            for file_hash in file_hashes:
                connection.execute("DELETE FROM chunks WHERE file = ?", (file_hash,))
                connection.execute("DELETE FROM files WHERE hash = ?", (file_hash,))

    def locate(self, chunk_hashes: Sequence[str]) -> dict[str, list[tuple[str, int]]]:
        """For each chunk some cached file holds: the (file hash, offset) places."""
        found: dict[str, list[tuple[str, int]]] = {}
        with self._lock, self._database.use() as connection:
            for start in range(0, len(chunk_hashes), _BATCH):
                batch = list(chunk_hashes[start:start + _BATCH])
                marks = ",".join("?" * len(batch))
                for hash_value, file_hash, offset in connection.execute(
                        f"SELECT hash, file, offset FROM chunks WHERE hash IN ({marks})", batch):
                    found.setdefault(hash_value, []).append((file_hash, offset))
        return found


def database_path(artver_dir: Path) -> Path:
    return artver_dir / "chunks" / "chunks.db"
