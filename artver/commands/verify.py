"""artver verify: re-hash cache objects (and, with a remote, the remote's copies)."""

from __future__ import annotations

import errno
import os
import threading
from dataclasses import dataclass, field

from artver import file_lock, hashing, remote_format, threads, transfer
from artver.artifacts import open_stats, select, selected_entries
from artver.errors import ArtverError, ObjectMissingError
from artver.pack_verification import check_packs
from artver.pointer import FilePointer, ListingRef
from artver.progress import NO_PROGRESS, Progress
from artver.repo import Repo


@dataclass(frozen=True)
class ObjectProblem:
    object: str
    where: str  # cache | remote
    problem: str  # corrupt | missing
    artifacts: tuple[str, ...]


@dataclass
class VerifyResult:
    checked: int = 0
    remote_checked: int = 0
    remote: str | None = None
    problems: list[ObjectProblem] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def repair(self) -> list[str]:
        """The commands that repair what was found."""
        hints = []
        if any(problem.where == "cache" and problem.problem == "corrupt" and problem.object not in self.quarantined
               for problem in self.problems):
            hints.append("artver verify  (where .artver is writable: quarantines the corrupt objects this run could not move)")
        if any(problem.where == "cache" for problem in self.problems):
            hints.append("artver fetch   (downloads the quarantined or missing objects again)")
        if any(problem.where == "remote" and problem.problem == "missing" for problem in self.problems):
            hints.append("artver push    (uploads what the remote lacks, from a clone that has it)")
        if any(problem.where == "remote" and problem.object.startswith(("packs/", "index/")) for problem in self.problems):
            hints.append("a damaged pack: delete it and every index/ object whose text names it (a damaged index: delete "
                         "it), then 'artver push' from a clone that has the objects: they are packed anew")
        if any(problem.where == "remote" and problem.problem == "corrupt" for problem in self.problems):
            hints.append("delete the corrupt remote objects listed above, then 'artver push' from a clone that has them intact")
        return hints


def verify(repo: Repo, paths: list[str] | None = None, everything: bool = False, remote: str | None = None,
           jobs: int | None = None, progress: Progress = NO_PROGRESS) -> VerifyResult:
    result = VerifyResult()
    users: dict[str, list[str]] = {}
    for tracked in select(repo, paths):
        pointer = tracked.pointer
        if isinstance(pointer, FilePointer):
            users.setdefault(pointer.hash, []).append(tracked.path)
            continue
        if isinstance(pointer.content, ListingRef):
            users.setdefault(pointer.content.hash, []).append(tracked.path)
        try:
            for entry in selected_entries(repo, tracked):  # a part of a directory: only its files
                users.setdefault(entry.hash, []).append(f"{tracked.path}/{entry.path}")
        except ObjectMissingError:
            continue
    objects = set(users)
    if everything:
        objects.update(hash_value for hash_value, _ in repo.cache.objects())
    with file_lock.locked(repo.lock_path, repo.lock_timeout), open_stats(repo) as stats:
        present = sorted(hash_value for hash_value in objects if repo.cache.has(hash_value))
        progress.start("Verifying the cache", sum(os.stat(repo.cache.path_of(h)).st_size for h in present))
        for hash_value in present:
            actual, _ = hashing.hash_file(repo.cache.path_of(hash_value), hashing.algorithm_of(hash_value), progress.advance)
            result.checked += 1
            if actual != hash_value:
                try:
                    repo.cache.quarantine(hash_value)
                    result.quarantined.append(hash_value)
                except OSError as error:
                    if error.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
                        raise
                    # A cache this process cannot write (mounted read-only): reported, left in place.
                stats.forget_verified(hash_value)
                result.problems.append(ObjectProblem(hash_value, "cache", "corrupt", tuple(users.get(hash_value, ()))))
        progress.finish()
    for hash_value in sorted(objects - set(present)):
        if hash_value in users:
            result.problems.append(ObjectProblem(hash_value, "cache", "missing", tuple(users[hash_value])))
    if remote is not None:
        _verify_remote(repo, result, sorted(objects), users, remote, jobs, progress)
    result.problems.sort(key=lambda problem: (problem.where, problem.object))
    return result


def _verify_remote(repo: Repo, result: VerifyResult, objects: list[str], users: dict[str, list[str]],
                   remote: str, jobs: int | None, progress: Progress) -> None:
    session = transfer.open_session(repo, remote or None, jobs, progress.note)
    result.remote = session.url
    lock = threading.Lock()
    errors: list[ArtverError] = []

    def check(hash_value: str) -> None:
        try:
            problem = transfer.check_remote_object(repo.cache, session.storage, hash_value, session.packed,
                                                   session.chunked)
        except ArtverError as error:
            if transfer.stops_the_command(error):  # no such bucket or directory: not "every object missing"
                raise
            with lock:
                errors.append(error)
            return
        with lock:
            result.remote_checked += 1
            if problem is not None:
                result.problems.append(ObjectProblem(hash_value, "remote", problem, tuple(users.get(hash_value, ()))))

    threads.parallel(session.jobs, check, objects)
    if errors:
        raise errors[0]
    if session.packed is not None and session.packed.version >= remote_format.PACKED:
        # Every index and every pack in full, also those holding nothing in scope.
        checked, found = check_packs(session.packed, progress.advance)
        result.remote_checked += checked
        reported = {(problem.object, problem.where) for problem in result.problems}
        for problem in found:
            if (problem.object, "remote") not in reported:
                result.problems.append(ObjectProblem(problem.object, "remote", problem.problem,
                                                     tuple(users.get(problem.object, ()))))
