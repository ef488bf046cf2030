"""What each Git hook does (installed by 'artver install-hooks', run as 'artver hook NAME ...').

post-checkout  after a branch switch: check out the new commit's artifacts, and remove the
               data of artifacts the new commit no longer tracks (only where it is saved,
               and never a path Git tracks: the new commit may hold that folder in Git).
post-merge     after 'git merge' / 'git pull': check out.
pre-push       push the artifacts of the commits being pushed, so a pointer never reaches
               the Git remote without its data; a failure stops the Git push.
pre-commit     refuse a commit whose staged pointers do not match the workspace data or
               whose objects are not in the cache.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from artver import file_lock, git, hashing, workspace
from artver import pointer as pointer_module
from artver.artifacts import Hasher, Tracked, open_stats, walk_directory
from artver.errors import ArtverError, UsageError
from artver.listing import Entry
from artver.repo import Repo
from artver.status_states import State

if TYPE_CHECKING:
    from artver.transfer import TransferSummary

ZERO = "0" * 40


@dataclass
class HookResult:
    ok: bool = True
    messages: list[str] = field(default_factory=list)


class CheckoutOutcome(Protocol):
    updated: list[str]
    removed: list[str]
    unsaved: list[str]
    missing: list[str]
    git_tracked: list[str]
    outdated: list[str]


@dataclass(frozen=True)
class Steps:
    """What the hooks run of other commands, for a caller that holds the repository lock.
    artver.api passes them in, so that no command module imports another."""

    checkout: Callable[[Repo], CheckoutOutcome]  # every workspace pointer, without --force
    remove_dropped: Callable[[Repo, list[str], Hasher], tuple[list[str], list[str]]]  # (removed, kept)
    push: Callable[[Repo, list[Tracked]], TransferSummary]  # to the default remote


def run(repo: Repo, name: str, arguments: list[str], stdin: str, steps: Steps) -> HookResult:
    if name == "post-checkout":
        return post_checkout(repo, arguments, steps)
    if name == "post-merge":
        return _checkout(repo, HookResult(), steps)
    if name == "pre-push":
        return pre_push(repo, arguments, stdin, steps)
    if name == "pre-commit":
        return pre_commit(repo)
    raise UsageError(f"unknown hook {name!r}; artver provides post-checkout, post-merge, pre-push, pre-commit")


def _checkout(repo: Repo, result: HookResult, steps: Steps) -> HookResult:
    with file_lock.locked(repo.lock_path, repo.lock_timeout):
        outcome = steps.checkout(repo)
    if outcome.updated or outcome.removed:
        result.messages.append(f"artver: checked out {len(outcome.updated)} file(s), removed {len(outcome.removed)}")
    if outcome.unsaved:
        result.messages.append(
            f"artver: left {len(outcome.unsaved)} path(s) untouched because their content is saved nowhere: "
            + ", ".join(outcome.unsaved[:5]) + (" ..." if len(outcome.unsaved) > 5 else "")
            + " (artver add keeps them; artver checkout --force discards them)"
        )
    if outcome.missing:
        result.messages.append(
            f"artver: {len(outcome.missing)} file(s) are not in the cache; run 'artver pull' to get them"
        )
    if outcome.outdated:
        result.messages.append(
            f"artver: {len(outcome.outdated)} path(s) stayed at another revision because this revision's data is not in the cache: "
            + ", ".join(outcome.outdated[:5]) + (" ..." if len(outcome.outdated) > 5 else "")
            + " (run 'artver pull'; 'artver add' would record the other revision's data)"
        )
    if outcome.git_tracked:
        result.messages.append(
            f"artver: left {len(outcome.git_tracked)} path(s) untouched because Git tracks them: "
            + ", ".join(outcome.git_tracked[:5]) + (" ..." if len(outcome.git_tracked) > 5 else "")
            + " (a path belongs to Git or to an artver pointer, not both; 'artver checkout --force' lets the pointer win)"
        )
    return result


def post_checkout(repo: Repo, arguments: list[str], steps: Steps) -> HookResult:
    result = HookResult()
    if len(arguments) < 3 or arguments[2] != "1":
        return result  # a checkout of files, not of a branch: nothing to do
    previous = arguments[0]
    if previous != ZERO:
        from artver.history import snapshot

        try:
            before = set(snapshot(repo, previous))
        except ArtverError:
            before = set()
        now = {path[: -len(pointer_module.SUFFIX)] for path in git.pointer_files(repo.root, pointer_module.SUFFIX)
               if (repo.root / path).is_file()}
        dropped = sorted(before - now)
        if dropped:
            with file_lock.locked(repo.lock_path, repo.lock_timeout), open_stats(repo) as stats:
                repo.cache.remove_stale_temps()  # before the walk: a killed checkout's temp files are not data
                removed, kept = steps.remove_dropped(repo, dropped, Hasher(repo, stats))
            if removed:
                result.messages.append(f"artver: removed data of {len(removed)} file(s) no longer tracked here")
            if kept:
                result.messages.append(f"artver: kept {len(kept)} untracked file(s) whose content is saved nowhere: {', '.join(kept[:5])}")
    return _checkout(repo, result, steps)


def pre_push(repo: Repo, arguments: list[str], stdin: str, steps: Steps) -> HookResult:
    from artver.scope import Revisions, pointers_in_scope

    result = HookResult()
    remote_name = arguments[0] if arguments else "origin"
    commits: list[str] = []
    for line in stdin.splitlines():
        fields = line.split()
        if len(fields) != 4 or fields[1] == ZERO:
            continue  # malformed, or a deletion: nothing to upload
        local_sha, remote_sha = fields[1], fields[3]
        if remote_sha != ZERO and _known(repo, remote_sha):
            listed = git.run(repo.root, "rev-list", f"{remote_sha}..{local_sha}")
        else:
            listed = git.run(repo.root, "rev-list", local_sha, "--not", f"--remotes={remote_name}")
        commits.extend(listed.decode().split())
    commits = list(dict.fromkeys(commits))
    if not commits:
        return result
    items = pointers_in_scope(repo, None, Revisions(revs=tuple(commits)), workspace=False)
    if not items:
        return result
    try:
        with file_lock.locked(repo.lock_path, repo.lock_timeout):
            summary = steps.push(repo, items)
    except ArtverError as error:
        result.ok = False
        result.messages.append(f"artver: pre-push: {error}")
        result.messages.append(
            "artver: the Git push was stopped so that no pointer reaches the remote without its data "
            "(fix it and push again; 'git push --no-verify' skips this check)"
        )
        return result
    if summary.transferred:
        result.messages.append(f"artver: pushed {summary.transferred} object(s) to {summary.remote}")
    if summary.failed:
        result.ok = False
        for failure in summary.failed[:10]:
            result.messages.append(f"artver: pre-push: {hashing.short(failure.object)}: {failure.error}")
        result.messages.append(
            f"artver: {len(summary.failed)} object(s) could not be pushed; the Git push was stopped so that no pointer "
            f"reaches the remote without its data (fix it and push again; 'git push --no-verify' skips this check)"
        )
    return result


def _known(repo: Repo, sha: str) -> bool:
    try:
        git.run(repo.root, "cat-file", "-e", f"{sha}^{{commit}}")
        return True
    except ArtverError:
        return False


def pre_commit(repo: Repo) -> HookResult:
    result = HookResult()
    staged = git.run(repo.root, "diff", "--cached", "--name-only", "-z", "--diff-filter=ACMR", "--", f":(glob)**/*{pointer_module.SUFFIX}")
    paths = [item for item in staged.decode("utf-8", "surrogateescape").split("\0") if item]
    if not paths:
        return result
    with open_stats(repo) as stats:
        hasher = Hasher(repo, stats)
        for path in paths:
            data = git.run(repo.root, "show", f":{path}")
            artifact = path[: -len(pointer_module.SUFFIX)]
            try:
                tracked = Tracked(artifact, path, pointer_module.parse_pointer(data, f"staged {path}"))
                problem = _staged_problem(repo, tracked, hasher)
            except ArtverError as error:
                problem = str(error)
            if problem:
                result.ok = False
                result.messages.append(f"artver: {artifact}: {problem}")
    if not result.ok:
        result.messages.append("artver: commit refused: the staged pointers must match the data (or run 'git commit --no-verify')")
    return result


def _staged_problem(repo: Repo, tracked: Tracked, hasher: Hasher) -> str:
    from artver.artifacts import entries_of

    cache = repo.cache
    absolute = repo.root / tracked.path
    fix = f"run 'artver add {tracked.path}' and 'git add {tracked.pointer_path}'"
    pointer = tracked.pointer
    if isinstance(pointer, pointer_module.FilePointer):
        state = workspace.file_state(cache, hasher, tracked.path, absolute, pointer.hash, pointer.size)
        if state is State.OUTDATED:
            return (f"the workspace holds another revision's data, and this pointer's object {hashing.short(pointer.hash)} "
                    f"is not in the cache; run 'artver pull {tracked.path}' ('artver add' would record the other revision's data)")
        if not cache.has(pointer.hash):
            return f"its object {hashing.short(pointer.hash)} is not in the cache; {fix}"
        if state is State.MODIFIED and absolute.is_file():
            return f"the workspace data differs from the staged pointer; {fix}"
        return ""
    folder = absolute.is_dir() and not absolute.is_symlink()
    outdated = (f"the folder holds another revision's data, and this pointer's {{what}} not in the cache; run "
                f"'artver pull {tracked.path}' ('artver add' would record the other revision's data)")
    if isinstance(pointer.content, pointer_module.ListingRef) and not cache.has(pointer.content.hash):
        if folder and workspace.unlisted_folder_state(cache, hasher, tracked.path, walk_directory(absolute, tracked.path),
                                                      pointer.content.hash, repo.algorithm) is State.OUTDATED:
            return outdated.format(what="listing is")
        return f"its listing is not in the cache; {fix}"
    entries: tuple[Entry, ...] = entries_of(repo, pointer, tracked.pointer_path)
    missing = [entry.path for entry in entries if not cache.has(entry.hash)]
    if missing:
        if folder and workspace.folder_state(cache, hasher, tracked.path, walk_directory(absolute, tracked.path),
                                             entries).state is State.OUTDATED:
            return outdated.format(what=f"objects of {len(missing)} file(s) are") + f" (e.g. {missing[0]})"
        return f"{len(missing)} file(s) are not in the cache (e.g. {missing[0]}); {fix}"
    if absolute.is_dir():
        present = {item.relative: item for item in walk_directory(absolute, tracked.path)}
        listed = {entry.path: entry for entry in entries}
        if set(present) != set(listed) or any(
            hasher.hash(f"{tracked.path}/{path}", present[path].absolute, present[path].stat) != entry.hash
            for path, entry in listed.items()
        ):
            return f"the workspace folder differs from the staged pointer; {fix}"
    return ""
