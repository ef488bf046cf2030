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
from collections.abc import Sequence
from pathlib import Path


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
