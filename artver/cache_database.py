"""A local SQLite database that only caches what can be learnt again (a remote's indexes,
where chunks of cached files lie): one way to open one.

The rules: its folder git-ignores itself (machine-local state, even in a repository whose
.artver/.gitignore predates the folder); a database of another schema version, or one
that is no database any more, is started afresh; one this process cannot write is not
used at all (SQLite would open it read-only without a word and fail at the first write),
and neither is a folder it cannot create: the caller then gets one in memory, and the
command works, only learning again what it needs. ``synchronous=OFF``: a killed process
cannot damage it with the rollback journal; a crash of the machine can only cost what is
learnt again.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path


class CacheDatabase:
    """Such a database, opened for each use and closed after it (a long-lived Python session,
    a notebook calling artver.api again and again, must not collect open files); the one in
    memory, used where the file cannot be written, lives as long as this object."""

    def __init__(self, path: Path | None, schema_version: int, tables: Sequence[str], create: Sequence[str],
                 ignore_note: str) -> None:
        self._arguments = (schema_version, tables, create, ignore_note)
        first = connect(path, *self._arguments)
        self._path = path if path is not None and _is_file_database(first) else None
        self._memory: sqlite3.Connection | None = None
        if self._path is None:
            self._memory = first
        else:
            first.close()

    @contextlib.contextmanager
    def use(self) -> Iterator[sqlite3.Connection]:
        if self._memory is not None:
            yield self._memory
            return
        assert self._path is not None
        connection = connect(self._path, *self._arguments)
        if not _is_file_database(connection):  # it became unwritable meanwhile: what is learnt is lost
            self._memory = connection
            yield connection
            return
        try:
            yield connection
        finally:
            connection.close()

    def close(self) -> None:
        if self._memory is not None:
            self._memory.close()


def _is_file_database(connection: sqlite3.Connection) -> bool:
    return any(name == "main" and file for _, name, file in connection.execute("PRAGMA database_list"))


def connect(path: Path | None, schema_version: int, tables: Sequence[str], create: Sequence[str],
            ignore_note: str) -> sqlite3.Connection:
    """The database at ``path`` (``tables``: the names dropped when the schema version
    differs; ``create``: the statements that create them), or one in memory."""
    if path is not None:
        with contextlib.suppress(sqlite3.OperationalError, OSError):
            return _connect_writable(path, schema_version, tables, create, ignore_note)
    connection = sqlite3.connect(":memory:", check_same_thread=False)
    _create(connection, create)
    return connection


def _connect_writable(path: Path, schema_version: int, tables: Sequence[str], create: Sequence[str],
                      ignore_note: str) -> sqlite3.Connection:
    if not path.parent.is_dir():
        path.parent.mkdir()
        (path.parent / ".gitignore").write_text(f"# artver: {ignore_note}\n*\n")
    if path.exists() and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):
        raise PermissionError(errno.EACCES, "cannot write the database", str(path))
    for attempt in range(2):
        connection = sqlite3.connect(path, timeout=10.0, check_same_thread=False)
        try:
            if connection.execute("PRAGMA user_version").fetchone()[0] != schema_version:
                with connection:
                    for table in tables:
                        connection.execute(f"DROP TABLE IF EXISTS {table}")
                    connection.execute(f"PRAGMA user_version = {schema_version}")
            connection.execute("PRAGMA synchronous=OFF")
            _create(connection, create)
            return connection
        except sqlite3.OperationalError:
            connection.close()
            raise
        except sqlite3.DatabaseError:
            connection.close()
            if attempt:
                raise
            for suffix in ("", "-journal"):  # not a database any more: it is only a cache
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(str(path) + suffix)
    raise AssertionError("unreachable")


def _create(connection: sqlite3.Connection, create: Sequence[str]) -> None:
    with connection:
        for statement in create:
            connection.execute(statement)
