"""artver status: compare each tracked artifact's workspace data with its pointer."""

from __future__ import annotations

from dataclasses import dataclass

from artver import workspace
from artver.artifacts import (
    Hasher,
    Tracked,
    content_hash_of,
    entries_of,
    open_stats,
    part_as_artifact,
    select,
    selected_entries,
    walk_if_changed,
)
from artver.errors import ObjectMissingError
from artver.pointer import DirPointer, FilePointer, ListingRef
from artver.progress import NO_PROGRESS, Progress
from artver.repo import Repo
from artver.status_states import CloudState, State

OUTDATED_DETAIL = "another revision's data; this revision's is not in the cache: run 'artver pull'"


@dataclass(frozen=True)
class ArtifactStatus:
    path: str
    kind: str
    state: State
    added: tuple[str, ...] = ()
    modified: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    detail: str = ""
    outdated: tuple[str, ...] = ()  # a folder's files at another revision, or absent, for want of their object


def status(repo: Repo, paths: list[str] | None = None, progress: Progress = NO_PROGRESS) -> list[ArtifactStatus]:
    tracked = select(repo, paths)
    with open_stats(repo) as stats:
        hasher = Hasher(repo, stats, progress.advance)
        return [_status_of(repo, item, hasher) if item.part is None else _part_status(repo, item, hasher) for item in tracked]


def _part_status(repo: Repo, tracked: Tracked, hasher: Hasher) -> ArtifactStatus:
    """A file or folder inside a tracked directory, reported under its own path like an artifact."""
    try:
        entries = selected_entries(repo, tracked)
    except ObjectMissingError:
        state = State.MISSING if not (repo.root / tracked.selected_path).exists() else State.NOT_IN_CACHE
        return ArtifactStatus(tracked.selected_path, "dir", state, detail="its directory's listing is not in the cache")
    result = _status_of(repo, part_as_artifact(tracked, entries), hasher)
    if result.kind == "file" and result.state in (State.CLEAN, State.NOT_IN_CACHE):
        absolute = repo.root / tracked.selected_path
        if bool(absolute.stat().st_mode & 0o100) != entries[0].executable:
            return ArtifactStatus(result.path, "file", State.MODIFIED, detail="its executable bit differs")
    return result


def _status_of(repo: Repo, tracked: Tracked, hasher: Hasher) -> ArtifactStatus:
    absolute = repo.root / tracked.path
    pointer = tracked.pointer
    cache = repo.cache
    if isinstance(pointer, FilePointer):
        state = workspace.file_state(cache, hasher, tracked.path, absolute, pointer.hash, pointer.size)
        if state is State.MISSING:
            return ArtifactStatus(tracked.path, "file", state, detail="" if cache.has(pointer.hash) else "not in the cache either")
        if state is State.MODIFIED and absolute.is_dir():
            return ArtifactStatus(tracked.path, "file", state, detail="a folder is where the file should be")
        if state is State.OUTDATED:
            return ArtifactStatus(tracked.path, "file", state, detail=OUTDATED_DETAIL)
        return ArtifactStatus(tracked.path, "file", state)
    if absolute.is_dir() and not absolute.is_symlink():
        identity = content_hash_of(tracked, repo)
        changed = walk_if_changed(hasher.stats, absolute, tracked.path, identity)
        if changed is None:
            return ArtifactStatus(tracked.path, "dir", State.CLEAN)  # nothing below it changed since it was last clean
        present, signature = changed.files, changed.signature
    try:
        entries = entries_of(repo, pointer, tracked.pointer_path)
    except ObjectMissingError:
        if not absolute.exists():
            return ArtifactStatus(tracked.path, "dir", State.MISSING, detail="its listing is not in the cache")
        if not absolute.is_dir() or absolute.is_symlink():
            return ArtifactStatus(tracked.path, "dir", State.MODIFIED, detail="a file is where the folder should be")
        assert isinstance(pointer.content, ListingRef)  # an inline listing is never missing
        state = workspace.unlisted_folder_state(cache, hasher, tracked.path, present, pointer.content.hash,
                                                repo.algorithm)
        return ArtifactStatus(tracked.path, "dir", state, detail="its listing is not in the cache: run 'artver pull'")
    if not absolute.exists():
        hashes = {entry.hash for entry in entries}
        detail = "" if len(cache.present(hashes)) == len(hashes) else "not in the cache either"
        return ArtifactStatus(tracked.path, "dir", State.MISSING, detail=detail)
    if not absolute.is_dir():
        return ArtifactStatus(tracked.path, "dir", State.MODIFIED, detail="a file is where the folder should be")
    found = workspace.folder_state(cache, hasher, tracked.path, present, entries, hasher.stats.under(tracked.path))
    if found.state is not State.CLEAN:
        detail = OUTDATED_DETAIL if found.state is State.OUTDATED else ""
        return ArtifactStatus(tracked.path, "dir", found.state, found.added, found.modified, found.deleted, detail,
                              found.outdated)
    hasher.stats.record_directory(tracked.path, identity, signature)
    return ArtifactStatus(tracked.path, "dir", State.CLEAN)


@dataclass(frozen=True)
class CloudStatus:
    path: str
    kind: str
    state: CloudState
    objects: int
    missing: int
    detail: str = ""


def cloud_status(repo: Repo, paths: list[str] | None = None, remote: str | None = None, jobs: int | None = None) -> list[CloudStatus]:
    """Per artifact: is everything it needs in the remote? Reads listings, never data."""
    from artver import transfer
    from artver.artifacts import required_objects
    from artver.errors import ArtverError

    tracked = select(repo, paths)
    session = transfer.open_session(repo, remote, jobs)
    needs: list[tuple[Tracked, set[str], str]] = []
    everything: dict[str, int] = {}
    for item in tracked:
        detail = ""
        objects, unknown = required_objects(repo, [item])
        for listing_hash in unknown:
            try:
                transfer.download_verified(repo.cache, session.storage, listing_hash, packed=session.packed)
            except ArtverError as error:
                if transfer.stops_the_command(error):  # e.g. no such bucket: not "not in the remote"
                    raise
                detail = "its listing is not in the remote"
        if unknown and not detail:
            objects, _ = required_objects(repo, [item])
        needs.append((item, set(objects), detail))
        everything.update(objects)
    present = transfer.remote_has(session.storage, sorted(everything), session.jobs, session.packed, session.chunked,
                                  everything)
    results = []
    for item, needed, detail in needs:
        missing = len(needed - present)
        if not detail and _listing_of_part(item) in needed - present:
            detail = "its directory's listing goes up once the remote has all the directory's files"
        state = CloudState.IN_REMOTE if not missing and not detail else CloudState.NOT_IN_REMOTE if missing == len(needed) else CloudState.PARTLY_IN_REMOTE
        results.append(CloudStatus(item.selected_path, _kind(repo, item), state, len(needed), missing, detail))
    return results


def _kind(repo: Repo, item: Tracked) -> str:
    """The artifact's kind; for a part of a directory, the part's ("dir" while its listing is unknown)."""
    if item.part is None:
        return item.pointer.kind
    try:
        return part_as_artifact(item, selected_entries(repo, item)).pointer.kind
    except ObjectMissingError:
        return "dir"


def _listing_of_part(item: Tracked) -> str | None:
    """The listing object of the directory a part belongs to (None: not a part, or an inline listing)."""
    pointer = item.pointer
    if item.part is None or not isinstance(pointer, DirPointer) or not isinstance(pointer.content, ListingRef):
        return None
    return pointer.content.hash
