"""artver fetch: download into the cache the objects the selected pointers reference."""

from __future__ import annotations

from artver import file_lock, transfer, transfer_report
from artver.artifacts import listing_members, open_stats, required_objects
from artver.progress import NO_PROGRESS, Progress
from artver.repo import Repo
from artver.scope import Revisions, pointers_in_scope
from artver.transfer import TransferSummary


def fetch(
    repo: Repo,
    paths: list[str] | None = None,
    remote: str | None = None,
    jobs: int | None = None,
    revisions: Revisions = Revisions(),
    progress: Progress = NO_PROGRESS,
) -> TransferSummary:
    with file_lock.locked(repo.lock_path, repo.lock_timeout):
        return fetch_unlocked(repo, paths, remote, jobs, revisions, progress)


def fetch_unlocked(
    repo: Repo,
    paths: list[str] | None,
    remote: str | None,
    jobs: int | None,
    revisions: Revisions,
    progress: Progress,
) -> TransferSummary:
    items = pointers_in_scope(repo, paths, revisions)
    repo.cache.remove_stale_temps()
    session = transfer.open_session(repo, remote, jobs, progress.note)
    report = transfer_report.Watch.of(repo, session, progress)
    storage = report.storage if report is not None else session.storage
    objects, unknown_listings = required_objects(repo, items)
    needed = dict(objects) if report is not None else {}  # only for the report: a copy of millions of entries
    summary = transfer.TransferSummary(session.url)
    if not unknown_listings and len(repo.cache.present(objects)) == len(objects):
        summary.skipped = len(objects)
        if report is not None:
            report.done("downloaded", "deciding what to download", needed, set(listing_members(repo, items)), summary)
        return summary  # everything is here: the remote is not even opened
    if unknown_listings:
        # Listings first: only they say which file objects a large directory needs.
        summary = transfer.fetch(repo.cache, storage, dict.fromkeys(unknown_listings, 0), session.jobs,
                                 packed=session.packed_over(storage))
        objects, _ = required_objects(repo, items)
        for listing in unknown_listings:
            objects.pop(listing, None)
        if report is not None:
            needed.update(objects)
    # The parsed listings (every path of each directory) are not needed while the objects
    # move: dropped, they are not held beside the reads in flight. A pull's checkout parses
    # them again, which costs a fraction of what the transfer does.
    repo.parsed_listings.clear()
    with open_stats(repo) as stats:
        # Hashed while downloading: recorded as verified, a batch at a time, not read again.
        summary = transfer.merge(
            summary,
            transfer.fetch(repo.cache, storage, objects, session.jobs, report.clock if report else progress,
                           stats.mark_verified, session.packed_over(storage), session.chunked_over(storage)),
        )
    if report is not None:
        listings = set(listing_members(repo, items)) | set(unknown_listings)
        report.done("downloaded", "deciding what to download", needed, listings, summary)
    return summary
