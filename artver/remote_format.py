"""The remote's format version, recorded in a small marker object at its top.

Version 1 (no marker): every object whole under ``<algorithm>/<2 hex>/<rest>``.
Version 2: the same, plus pack and index objects (packs.py), every index in index
format 1 (members grouped by pack).
Version 3: the same, but indexes may also be in index format 2 (members sorted by
hash, so a clone looks them up without sorting them first); older indexes stay.

A remote is marked before its first pack is written, so a reader that finds no marker
knows there is nothing packed to look for, and marked 3 before its first index of
format 2, so an artver that knows only index format 1 stops at the marker with an
error that says to upgrade instead of at an index it cannot read. A reader that finds
a version it does not know stops the same way instead of misreading the remote.
"""

from __future__ import annotations

import re

from artver.errors import ObjectNotFoundError, RemoteError
from artver.remotes.base import Storage

MARKER_KEY = "artver-format"
PACKED = 2  # the first format with packs: a remote below it has none
SORTED_INDEXES = 3  # the first format whose indexes may be in index format 2
NEWEST = SORTED_INDEXES  # the newest format this artver reads, and the one it marks a remote with
WHOLE_OBJECTS = 1  # what a remote without a marker is
MARKER_MAX = 256  # bytes read of the marker: it is one short line
READS = 3  # reads of a marker that looks damaged, at most
_MARKER = re.compile(rb"artver remote format ([1-9][0-9]{0,5})\n")


def marker_bytes(version: int) -> bytes:
    return f"artver remote format {version}\n".encode()


def read_version(storage: Storage) -> int:
    """The remote's format version (one request). A version this artver does not know, or a
    damaged marker, is a RemoteError: guessing could misread or damage the remote."""
    seen: list[bytes] = []
    while True:
        try:
            data = bytes(storage.read_range(MARKER_KEY, 0, MARKER_MAX))
        except ObjectNotFoundError:
            return WHOLE_OBJECTS
        match = _MARKER.fullmatch(data)
        if match is not None:
            break
        # A response cut inside its headers looks like a complete, empty one: damage is
        # believed only when two reads agree.
        if data in seen:
            raise RemoteError(f"{storage.url}: its format marker '{MARKER_KEY}' is damaged; it should hold the line "
                              f"'artver remote format {NEWEST}' (restore it, then run the command again)")
        seen.append(data)
        if len(seen) == READS:
            raise RemoteError(f"{storage.url}: its format marker '{MARKER_KEY}' arrived damaged {READS} times; gave up "
                              f"after {READS} reads. Check the network, then run the command again")
    version = int(match.group(1))
    if version > NEWEST:
        raise RemoteError(f"{storage.url} is in remote format {version}, newer than this artver reads "
                          f"(format {NEWEST}); upgrade artver")
    return version
