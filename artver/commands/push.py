"""artver push: upload the objects the selected pointers reference and the remote lacks."""

from __future__ import annotations

import os
from collections.abc import Callable

from artver import file_lock, listing, remote_lock, transfer, transfer_report, verification
from artver.artifacts import Tracked, listing_members, open_stats, partly_selected_listings, required_objects
from artver.pointer import DirPointer, ListingRef
from artver.progress import NO_PROGRESS, Progress
from artver.remotes.base import Storage
from artver.repo import Repo
from artver.scope import Revisions, pointers_in_scope
from artver.transfer import Failure, TransferSummary


def push(
    repo: Repo,
    paths: list[str] | None = None,
    remote: str | None = None,
    jobs: int | None = None,
    revisions: Revisions = Revisions(),
    progress: Progress = NO_PROGRESS,
) -> TransferSummary:
    with file_lock.locked(repo.lock_path, repo.lock_timeout):
        return push_items(repo, pointers_in_scope(repo, paths, revisions), remote, jobs, progress)


def push_items(
    repo: Repo, items: list[Tracked], remote: str | None, jobs: int | None, progress: Progress = NO_PROGRESS
) -> TransferSummary:
    session = transfer.open_session(repo, remote, jobs, progress.note)
    report = transfer_report.Watch.of(repo, session, progress)
    storage = report.storage if report is not None else session.storage
    # A shared lock in the remote from the first existence check to the last upload: gc
    # --cloud (which takes the exclusive one) cannot delete or repack what this push finds
    # present and then references (docs/design.md, "Remote locks").
    with open_stats(repo) as stats, remote_lock.shared_lock(session.storage, "push"):
        items, vouched_listings, vouched = _drop_vouched(repo, storage, items, session.jobs)
        objects, unknown_listings = required_objects(repo, items)
        partial = partly_selected_listings(repo, items)
        for listing in partial:
            objects.pop(listing, None)  # not on the strength of a part's files: see _complete_listings
        listings = listing_members(repo, items)
        # What the push needs of the listings is in hand: their parsed entries (all of a
        # directory's paths) need not stay in memory while it uploads.
        repo.parsed_listings.clear()

        def corrupt(hashes: list[str]) -> set[str]:
            # Never upload an object whose content no longer matches its name.
            return verification.corrupt_among(repo, stats, hashes)

        summary = transfer.push(repo.cache, storage, objects, session.jobs, report.clock if report else progress,
                                corrupt, listings, session.packed_over(storage), session.chunked_over(storage))
        summary.skipped += len(vouched - objects.keys())
        if partial and summary.ok:
            summary = transfer.merge(summary, _complete_listings(repo, session, partial, progress, corrupt))
    for listing in unknown_listings:
        summary.failed.append(Failure(listing, "directory listing not in the local cache; run 'artver fetch' first"))
    if report is not None:
        needed = objects | dict.fromkeys(vouched - objects.keys(), 0)
        report.done("uploaded", "deciding what to upload", needed, set(listings) | set(unknown_listings) | vouched_listings,
                    summary)
    return summary


def _drop_vouched(repo: Repo, storage: Storage, items: list[Tracked],
                  jobs: int) -> tuple[list[Tracked], set[str], set[str]]:
    """The items less the directories whose listing object the remote already holds; those
    listings; and the objects those directories consist of (listings included: for the
    count of objects already there). A listing
    goes to a remote only after every file it lists (docs/design.md, "Write ordering"), so
    such a directory has nothing to push, and its listing need not even be parsed: a push
    with nothing new costs one request per large directory, whatever its number of files."""
    cached = {item.pointer.content.hash for item in items
              if isinstance(item.pointer, DirPointer) and isinstance(item.pointer.content, ListingRef)
              and repo.cache.has(item.pointer.content.hash)}
    if not cached:
        return items, set(), set()
    found = transfer.remote_sizes(storage, sorted(cached), jobs)
    vouched = {listing_hash for listing_hash in cached
               if transfer.vouches(found.get(listing_hash), os.stat(repo.cache.path_of(listing_hash)).st_size)}
    if not vouched:
        return items, set(), set()
    kept = [item for item in items
            if not (isinstance(item.pointer, DirPointer) and isinstance(item.pointer.content, ListingRef)
                    and item.pointer.content.hash in vouched)]
    objects = set(vouched)
    for listing_hash in vouched:
        objects |= listing.hashes_named(repo.cache.read_bytes(listing_hash, "listing"))
    return kept, vouched, objects


def _complete_listings(repo: Repo, session: transfer.Session, partial: dict[str, frozenset[str]], progress: Progress,
                       corrupt: Callable[[list[str]], set[str]]) -> TransferSummary:
    """Upload the listing of a directory pushed in part once the remote holds every file it
    lists (the last part pushed completes it); a listing in the remote vouches for its files."""
    lacking = sorted(set(partial) - transfer.remote_has(session.storage, sorted(partial), session.jobs, session.packed))
    complete = [listing for listing in lacking
                if transfer.remote_has(session.storage, sorted(partial[listing]), session.jobs, session.packed) == partial[listing]]
    summary = transfer.push(repo.cache, session.storage, dict.fromkeys(complete, 0), session.jobs, progress, corrupt,
                            packed=session.packed)
    summary.skipped += len(partial) - len(lacking)
    return summary
