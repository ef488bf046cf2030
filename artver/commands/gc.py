"""artver gc: delete cache (and optionally remote) objects that no pointer in scope references.

The scope is explicit — the workspace and/or Git revisions — because what is
"unused" depends on which history you still care about. The workspace's
pointers are always in scope, so gc never deletes what the workspace needs.
Remote deletion is a separate, confirmed step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from artver import chunking, file_lock, hashing, listing, packs, remote_lock, threads, transfer
from artver.artifacts import required_objects
from artver.errors import UsageError
from artver.fsutil import unlink_if_present
from artver.remote_chunks import live_chunks
from artver.remote_packs import plan_repack, repack
from artver.remotes.base import DELETE_BATCH, Storage, deleting_many
from artver.repo import Repo
from artver.scope import Revisions, pointers_in_scope

QUARANTINE_KEEP = 3600.0  # seconds a corrupt object stays in cache/quarantine/ for inspection


@dataclass
class GcPlan:
    referenced: int
    local: list[tuple[str, int]] = field(default_factory=list)  # (hash, size) to delete from the cache
    remote: list[str] = field(default_factory=list)  # hashes to delete from the remote, whole or packed
    remote_url: str | None = None
    remote_whole: list[str] = field(default_factory=list)  # of ``remote``: those stored whole
    live: frozenset[str] = frozenset()  # every object in scope (what a repack keeps)

    @property
    def local_bytes(self) -> int:
        return sum(size for _, size in self.local)


@dataclass(frozen=True)
class GcResult:
    dry_run: bool
    referenced: int
    deleted: int
    bytes: int
    remote: str | None
    remote_deleted: tuple[str, ...]


def plan(repo: Repo, workspace: bool, revisions: Revisions, cloud: bool = False, remote: str | None = None,
         force: bool = False) -> GcPlan:
    if not workspace and not revisions.any:
        raise UsageError(
            "gc needs a scope: --workspace, --all-branches, --all-tags, --all-commits or --rev REV "
            "(objects referenced by none of them are deleted; the workspace is always kept)"
        )
    if repo.config.get("cache", "dir") and not force:
        raise UsageError(
            "the cache is shared (cache.dir is set): gc here could delete objects other clones need; "
            "add --force if that is what you want"
        )
    items = pointers_in_scope(repo, None, revisions, workspace=True)
    objects, unknown = required_objects(repo, items)
    if unknown:
        raise UsageError(
            f"the listing {hashing.short(unknown[0])} of a directory in scope is not in the cache, so gc cannot tell "
            f"which files it needs; run 'artver fetch' with the same scope first"
        )
    referenced = set(objects)
    result = GcPlan(referenced=len(referenced), live=frozenset(referenced))
    for hash_value, size in repo.cache.objects():
        if hash_value not in referenced:
            result.local.append((hash_value, size))
    if cloud:
        session = transfer.open_session(repo, remote, None)
        result.remote_url = session.url
        pack_sizes: dict[str, int | None] = {}
        recipes: set[str] = set()
        for key, stored_size in session.storage.list(""):
            remote_hash = transfer.hash_of_key(key)
            if remote_hash is not None and remote_hash not in referenced:
                result.remote_whole.append(remote_hash)
            name = packs.name_in_key(key, packs.PACKS_PREFIX)
            if name is not None:
                pack_sizes[name] = stored_size
            chunked_file = chunking.file_of_recipe_key(key)
            if chunked_file is not None:
                recipes.add(chunked_file)
        result.remote_whole.sort()
        dead_recipes = recipes - referenced
        dead_packed: frozenset[str] = frozenset()
        if session.chunked is not None and session.packed is not None:
            live = referenced | live_chunks(session.chunked, sorted(recipes & referenced))
            dead_packed = plan_repack(session.packed, live, pack_sizes).dead
        result.remote = sorted(set(result.remote_whole) | dead_recipes | dead_packed)
    return result


def gc(repo: Repo, workspace: bool, revisions: Revisions, cloud: bool = False, remote: str | None = None,
       force: bool = False, dry: bool = False, confirm: Callable[[GcPlan], bool] = lambda _: False) -> GcResult:
    """Plan and delete under one lock, so that nothing another artver process references
    between the plan and the deletion can be deleted. ``confirm`` approves remote deletion."""
    with file_lock.locked(repo.lock_path, repo.lock_timeout):
        gc_plan = plan(repo, workspace, revisions, cloud, remote, force)
        if dry:
            return dry_run(gc_plan)
        if gc_plan.remote and not confirm(gc_plan):
            raise UsageError(
                f"gc --cloud would delete {len(gc_plan.remote)} object(s) from {gc_plan.remote_url}; "
                f"nothing was deleted (confirm, or add --yes)"
            )
        return _apply(repo, gc_plan, remote)


def _apply(repo: Repo, gc_plan: GcPlan, remote: str | None = None) -> GcResult:
    """Delete what the plan lists; the caller holds the repository lock. Remote deletions run
    under the remote's exclusive lock (remote_lock.py), taken before anything is deleted, so
    that no push from any machine is under way meanwhile: such a push may have found an object
    present and be about to reference it. What happens to the packs is decided again under
    the lock: a pack that no index listed when the plan was made may have been a push's,
    finished since."""
    remote_phases = remote_deletion_order(repo, gc_plan.remote_whole)  # reads the cache: before it is pruned
    deleted_remote: set[str] = set()
    if gc_plan.remote_url is None:
        _prune_cache(repo, gc_plan)
    else:
        session = transfer.open_session(repo, remote, None)
        with remote_lock.exclusive_lock(session.storage, "gc --cloud") as lock:
            _prune_cache(repo, gc_plan)

            def delete(hash_value: str) -> None:
                lock.check()  # stop before deleting if the lock may have been taken over
                session.storage.delete(transfer.key_of(hash_value))
                deleted_remote.add(hash_value)

            # Recipes first: a recipe vouches for its chunks, which the repack may then drop.
            recipes = {chunking.file_of_recipe_key(key) for key, _ in session.storage.list(chunking.RECIPES_PREFIX)} - {None}
            for dead in sorted(recipe for recipe in recipes if recipe is not None and recipe not in gc_plan.live):
                lock.check()
                session.storage.delete(chunking.recipe_key(dead))
                deleted_remote.add(dead)
            deleter = deleting_many(session.storage)

            def delete_batch(batch: list[str]) -> None:
                assert deleter is not None
                lock.check()
                deleter.delete_many([transfer.key_of(hash_value) for hash_value in batch])
                deleted_remote.update(batch)

            for phase in remote_phases:
                if deleter is None:
                    threads.parallel(session.jobs, delete, phase)
                else:  # a thousand objects a request (S3 DeleteObjects)
                    threads.parallel(session.jobs, delete_batch,
                                     [phase[start:start + DELETE_BATCH] for start in range(0, len(phase), DELETE_BATCH)])
            if session.packed is not None and session.chunked is not None:
                live_recipes = sorted(recipe for recipe in recipes if recipe is not None and recipe in gc_plan.live)
                live = gc_plan.live | live_chunks(session.chunked, live_recipes)
                repack_plan = plan_repack(session.packed, live, _pack_sizes(session.storage))
                repack(session.packed, repack_plan, lock.check)
                deleted_remote |= repack_plan.dead
    return GcResult(False, gc_plan.referenced, len(gc_plan.local), gc_plan.local_bytes, gc_plan.remote_url,
                    tuple(sorted(deleted_remote)))


def _pack_sizes(storage: Storage) -> dict[str, int | None]:
    """The pack objects the remote holds, with their sizes."""
    sizes: dict[str, int | None] = {}
    for key, size in storage.list(packs.PACKS_PREFIX):
        name = packs.name_in_key(key, packs.PACKS_PREFIX)
        if name is not None:
            sizes[name] = size
    return sizes


def _prune_cache(repo: Repo, gc_plan: GcPlan) -> None:
    for hash_value, _ in gc_plan.local:
        unlink_if_present(repo.cache.path_of(hash_value))
    repo.cache.remove_stale_temps()
    repo.cache.remove_quarantined(QUARANTINE_KEEP)


def remote_deletion_order(repo: Repo, hashes: list[str]) -> list[list[str]]:
    """Remote objects to delete in two rounds: first those that may be directory listings,
    then the files known not to be. push trusts a listing in the remote to vouch for its
    files (it uploads a listing only after them), so a gc killed half-way must not leave a
    listing whose files are gone. An object is known to be a file when the local cache has
    it and it does not start like a listing."""
    maybe_listings: list[str] = []
    files: list[str] = []
    header = listing.LISTING_HEADER
    for hash_value in hashes:
        try:
            with open(repo.cache.path_of(hash_value), "rb") as handle:
                is_file = handle.read(len(header)) != header
        except FileNotFoundError:
            is_file = False
        (files if is_file else maybe_listings).append(hash_value)
    return [phase for phase in (maybe_listings, files) if phase]


def dry_run(gc_plan: GcPlan) -> GcResult:
    return GcResult(True, gc_plan.referenced, len(gc_plan.local), gc_plan.local_bytes, gc_plan.remote_url,
                    tuple(gc_plan.remote))
