"""Checking that cache objects still hold what their names say.

An object is hashed when it is written (add) or downloaded (fetch), and its
stat is recorded as verified. Before a cache object is copied into a workspace
or opened through the API, its stat is compared with that record; if the
record is missing or the stat changed, the object is hashed again. A corrupt
object is moved to ``<cache>/quarantine/`` so it can never be used, and
``artver fetch`` gets it back from the remote.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from artver import hashing
from artver.errors import IntegrityError
from artver.repo import Repo
from artver.statcache import StatCache, StatKey


def check(repo: Repo, stats: StatCache, hash_value: str, verified: dict[str, StatKey] | None = None) -> StatKey | None:
    """The object's stat if the cached object is intact (hashing it only when needed);
    None if it was corrupt (it is quarantined). FileNotFoundError if it is not in the cache."""
    path = repo.cache.path_of(hash_value)
    key = StatKey.of(os.stat(path))
    known = (verified if verified is not None else stats.verified_among([hash_value])).get(hash_value)
    if known == key:
        return key
    actual, _ = hashing.hash_file(path, hashing.algorithm_of(hash_value))
    if actual != hash_value:
        repo.cache.quarantine(hash_value)
        stats.forget_verified(hash_value)
        return None
    stats.mark_verified([(hash_value, key)])
    if verified is not None:
        verified[hash_value] = key
    return key


CHECK_BATCH = 20_000  # objects whose verification records are read at a time


def corrupt_among(repo: Repo, stats: StatCache, hashes: Sequence[str]) -> set[str]:
    """Which of ``hashes`` no longer hold what their names say (check: quarantined), reading
    the verification records a batch at a time: memory bounded by the batch, not by the
    number of objects (a push of millions of files checks every one)."""
    corrupt: set[str] = set()
    for start in range(0, len(hashes), CHECK_BATCH):
        batch = hashes[start:start + CHECK_BATCH]
        verified = stats.verified_among(batch)
        corrupt.update(hash_value for hash_value in batch if not check(repo, stats, hash_value, verified))
    return corrupt


def mark(repo: Repo, stats: StatCache, hashes: list[str]) -> None:
    """Record objects that were just hashed while being written or downloaded."""
    items = []
    for hash_value in hashes:
        try:
            items.append((hash_value, StatKey.of(os.stat(repo.cache.path_of(hash_value)))))
        except FileNotFoundError:
            continue
    stats.mark_verified(items)


def verify_cached(repo: Repo, hash_value: str) -> None:
    """Raise IntegrityError if a cached object is corrupt (it is quarantined)."""
    with StatCache(repo.state_db) as stats:
        if not check(repo, stats, hash_value):
            raise IntegrityError(
                f"cache object {hashing.short(hash_value)} was corrupt and has been quarantined; "
                f"run 'artver fetch' to get it again from the remote"
            )
