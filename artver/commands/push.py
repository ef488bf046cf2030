"""artver push: upload the objects the selected pointers reference and the remote lacks."""

from __future__ import annotations

from collections.abc import Callable

from artver import file_lock, remote_lock, transfer, transfer_report, verification
from artver.artifacts import Tracked, listing_members, open_stats, partly_selected_listings, required_objects
from artver.progress import NO_PROGRESS, Progress
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
    objects, unknown_listings = required_objects(repo, items)
    partial = partly_selected_listings(repo, items)
    for listing in partial:
        objects.pop(listing, None)  # not on the strength of a part's files: see _complete_listings
    session = transfer.open_session(repo, remote, jobs, progress.note)
    report = transfer_report.Watch.of(repo, session, progress)
    listings = listing_members(repo, items)
    storage = report.storage if report is not None else session.storage
    # A shared lock in the remote from the first existence check to the last upload: gc
    # --cloud (which takes the exclusive one) cannot delete or repack what this push finds
    # present and then references (docs/design.md, "Remote locks").
    with open_stats(repo) as stats, remote_lock.shared_lock(session.storage, "push"):

        def corrupt(hashes: list[str]) -> set[str]:
            # Never upload an object whose content no longer matches its name.
            verified = stats.verified_objects()
            return {hash_value for hash_value in hashes if not verification.check(repo, stats, hash_value, verified)}

        summary = transfer.push(repo.cache, storage, objects, session.jobs, report.clock if report else progress,
                                corrupt, listings, session.packed_over(storage), session.chunked_over(storage))
        if partial and summary.ok:
            summary = transfer.merge(summary, _complete_listings(repo, session, partial, progress, corrupt))
    for listing in unknown_listings:
        summary.failed.append(Failure(listing, "directory listing not in the local cache; run 'artver fetch' first"))
    if report is not None:
        report.done("uploaded", "deciding what to upload", objects, set(listings) | set(unknown_listings), summary)
    return summary


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
