"""artver's Python API, for notebooks and applications.

Every function takes ``repo``: any directory inside the Git work tree (default:
the current directory). Relative paths are relative to ``repo``. Results are
the dataclasses the CLI prints; errors are exceptions from ``artver.errors``,
whose messages are fit to show a user. The CLI is built on these functions.

    import artver.api as av
    with av.open("models/model.pt", rev="v1.0") as handle:
        state = torch.load(handle)
"""

from __future__ import annotations

import builtins
import contextlib
import io
import os
from pathlib import Path
from typing import IO, TYPE_CHECKING, Iterator, Mapping, Sequence

from artver.errors import UsageError
from artver.progress import NO_PROGRESS, Progress
from artver.repo import Repo, open_repo
from artver.scope import Revisions

if TYPE_CHECKING:  # the result types; each function imports its implementation when called, so that
    # 'import artver.api' (and every CLI command) loads only what it uses.
    from artver.commands.add import AddResult
    from artver.commands.checkout import CheckoutResult
    from artver.commands.diff import DiffResult
    from artver.commands.init import InitResult
    from artver.commands.log import LogEntry
    from artver.commands.ls import ArtifactInfo
    from artver.commands.merge import Resolution
    from artver.commands.publish import PublishResult
    from artver.commands.pull import PullResult
    from artver.commands.remove import RemoveResult
    from artver.commands.status import ArtifactStatus, CloudStatus
    from artver.commands.verify import VerifyResult
    from artver.transfer import TransferSummary

__all__ = [
    "open", "read", "get_url", "init", "add", "status", "cloud_status", "checkout", "remove", "push", "fetch",
    "pull", "diff", "log", "ls", "verify", "resolve", "publish",
]

PathLike = str | os.PathLike[str]


def _repo(repo: PathLike) -> Repo:
    return open_repo(Path(repo).resolve())


def _paths(repo: PathLike, paths: PathLike | Sequence[PathLike] | None) -> list[str] | None:
    """Paths relative to ``repo`` made absolute, so the core sees what the caller meant."""
    if paths is None:
        return None
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    base = Path(repo).resolve()
    if base == Path.cwd().resolve():
        return [os.fspath(item) for item in items]  # as the caller wrote them, for messages that name them
    return [str(base / item) for item in items]


def init(repo: PathLike = ".", hash: str | None = None) -> InitResult:  # noqa: A002 - mirrors --hash
    from artver.commands.init import init as run

    return run(Path(repo).resolve(), hash)


def add(paths: PathLike | Sequence[PathLike], repo: PathLike = ".", desc: str | None = None,
        meta: Mapping[str, str] | None = None, progress: Progress = NO_PROGRESS) -> list[AddResult]:
    from artver.commands.add import add as run
    from artver.pointer import check_meta_key

    pairs = tuple((check_meta_key(key, "meta"), str(value)) for key, value in (meta or {}).items())
    return run(_repo(repo), _paths(repo, paths) or [], desc, pairs, progress)


def status(paths: PathLike | Sequence[PathLike] | None = None, repo: PathLike = ".",
           progress: Progress = NO_PROGRESS) -> list[ArtifactStatus]:
    from artver.commands.status import status as run

    return run(_repo(repo), _paths(repo, paths), progress)


def cloud_status(paths: PathLike | Sequence[PathLike] | None = None, repo: PathLike = ".", remote: str | None = None,
                 jobs: int | None = None) -> list[CloudStatus]:
    from artver.commands.status import cloud_status as run

    return run(_repo(repo), _paths(repo, paths), remote, jobs)


def checkout(paths: PathLike | Sequence[PathLike] | None = None, repo: PathLike = ".", force: bool = False,
             progress: Progress = NO_PROGRESS) -> CheckoutResult:
    from artver.commands.checkout import checkout as run

    return run(_repo(repo), _paths(repo, paths), force, progress)


def remove(paths: PathLike | Sequence[PathLike], repo: PathLike = ".") -> list[RemoveResult]:
    from artver.commands.remove import remove as run

    return run(_repo(repo), _paths(repo, paths) or [])


def push(paths: PathLike | Sequence[PathLike] | None = None, repo: PathLike = ".", remote: str | None = None,
         jobs: int | None = None, revisions: Revisions = Revisions(), progress: Progress = NO_PROGRESS) -> TransferSummary:
    from artver.commands.push import push as run

    return run(_repo(repo), _paths(repo, paths), remote, jobs, revisions, progress)


def fetch(paths: PathLike | Sequence[PathLike] | None = None, repo: PathLike = ".", remote: str | None = None,
          jobs: int | None = None, revisions: Revisions = Revisions(), progress: Progress = NO_PROGRESS) -> TransferSummary:
    from artver.commands.fetch import fetch as run

    return run(_repo(repo), _paths(repo, paths), remote, jobs, revisions, progress)


def pull(paths: PathLike | Sequence[PathLike] | None = None, repo: PathLike = ".", remote: str | None = None,
         jobs: int | None = None, force: bool = False, progress: Progress = NO_PROGRESS) -> PullResult:
    from artver.commands.pull import pull as run

    return run(_repo(repo), _paths(repo, paths), remote, jobs, force, progress)


def diff(a: str | None = None, b: str | None = None, paths: PathLike | Sequence[PathLike] | None = None,
         repo: PathLike = ".") -> DiffResult:
    """``a`` against ``b``; ``b`` None means the workspace pointers; ``a`` None means HEAD."""
    from artver.commands.diff import diff as run

    return run(_repo(repo), a, b, _paths(repo, paths))


def log(path: PathLike, repo: PathLike = ".", limit: int | None = None, rev: str = "HEAD") -> list[LogEntry]:
    from artver.commands.log import log as run

    return run(_repo(repo), (_paths(repo, path) or [""])[0], limit, rev)


def resolve(paths: PathLike | Sequence[PathLike] | None = None, repo: PathLike = ".",
            side: str | None = None) -> list[Resolution]:
    """Like ``artver resolve``: merge conflicted pointers again entry by entry; with ``side``
    ("ours" or "theirs"), keep that side's version of what both branches changed."""
    from artver.commands.merge import resolve as run

    if side not in (None, "ours", "theirs"):
        raise UsageError(f"side {side!r}: expected 'ours', 'theirs' or None")
    return run(_repo(repo), _paths(repo, paths), side)  # type: ignore[arg-type]


def ls(rev: str | None = None, repo: PathLike = ".") -> list[ArtifactInfo]:
    from artver.commands.ls import ls as run

    return run(_repo(repo), rev)


def verify(paths: PathLike | Sequence[PathLike] | None = None, repo: PathLike = ".", everything: bool = False,
           remote: str | None = None, jobs: int | None = None, progress: Progress = NO_PROGRESS) -> "VerifyResult":
    """Re-hash cache objects the workspace references (all with ``everything``), and the remote's with ``remote``."""
    from artver.commands.verify import verify as run

    return run(_repo(repo), _paths(repo, paths), everything, remote, jobs, progress)


def publish(reference: str, paths: PathLike | Sequence[PathLike] | None = None, rev: str | None = None,
            repo: PathLike = ".", insecure: bool = False, force: bool = False, chunk_size: int | None = None,
            progress: Progress = NO_PROGRESS) -> PublishResult:
    """Publish the artifacts of ``rev`` (default HEAD) to an OCI registry as a ModelPack artifact
    tagged ``reference`` (REGISTRY/REPO:TAG); see docs/handoff.md."""
    from artver.commands.publish import publish as run
    from artver.oci import DEFAULT_CHUNK_SIZE

    return run(_repo(repo), reference, _paths(repo, paths), rev, insecure, force, chunk_size or DEFAULT_CHUNK_SIZE, progress)


def _locate(repository: Repo, path: str, rev: str | None, remote: str | None) -> tuple[str, int]:
    """(object hash, size) of an artifact, or of a file inside a tracked directory, at ``rev``."""
    from artver.artifacts import Tracked, artifact_of_argument, entries_fetching_listing
    from artver.commands.diff import snapshot
    from artver.pointer import DirPointer, FilePointer

    target = artifact_of_argument(repository, path)
    pointers: dict[str, Tracked] = snapshot(repository, rev)
    parts = target.split("/")
    for index in range(len(parts), 0, -1):
        tracked = pointers.get("/".join(parts[:index]))
        if tracked is None:
            continue
        inner = "/".join(parts[index:])
        pointer = tracked.pointer
        if not inner:
            if not isinstance(pointer, FilePointer):
                raise UsageError(f"{path}: is a tracked directory; name a file inside it ({path}/FILE)")
            return pointer.hash, pointer.size
        if isinstance(pointer, DirPointer):
            for entry in entries_fetching_listing(repository, pointer, tracked.pointer_path, remote):
                if entry.path == inner:
                    return entry.hash, entry.size
        break
    where = f" at {rev}" if rev else ""
    raise UsageError(f"{path}: not a tracked artifact, nor a file inside one{where}")


def get_url(path: PathLike, rev: str | None = None, repo: PathLike = ".", remote: str | None = None,
            expires: int | None = None) -> str:
    """Where the artifact's blob (or that of a file inside a tracked directory) lives at ``rev``.

    ``expires=None`` (the default): the storage URL, s3://…, gs://… or a directory path,
    for tools holding their own credentials; no request is made, so the object may be absent.
    ``expires=SECONDS`` (1 to 604800, i.e. 7 days): a download link plain ``curl`` can fetch,
    an S3 presigned URL, a GCS V4 signed URL or a ``file://`` URL, once the remote confirms
    the object is there. A link is a bearer token: whoever has it can download the object
    until it expires (docs/security.md).
    """
    from artver import transfer
    from artver.errors import ObjectNotFoundError, RemoteError
    from artver.remotes.base import expiry_problem, presigning

    if expires is not None and (problem := expiry_problem(expires)) is not None:
        raise UsageError(f"expires: {problem}")
    repository = _repo(repo)
    hash_value, _ = _locate(repository, (_paths(repo, path) or [""])[0], rev, remote)
    storage = transfer.open_session(repository, remote, 1).storage  # opens the backend: once
    key = transfer.key_of(hash_value)
    if expires is None:
        return storage.url_of(key)
    signer = presigning(storage)
    if signer is None:
        raise RemoteError(f"{storage.url}: this kind of remote cannot make download links; "
                          f"use get_url without expires for its storage URL")
    if key not in storage.exists([key]):  # the one existence check: a link must not 404
        where = f" at {rev}" if rev else ""
        raise ObjectNotFoundError(f"{os.fspath(path)}{where}: its object {hash_value} is not in {storage.url}; "
                                  f"push it first ('artver push')")
    return signer.presigned_url(key, expires)


@contextlib.contextmanager
def open(  # noqa: A001 - deliberately mirrors builtins.open
    path: PathLike,
    rev: str | None = None,
    repo: PathLike = ".",
    remote: str | None = None,
    mode: str = "rb",
    encoding: str | None = None,
    cache: bool = True,
) -> Iterator[IO]:  # type: ignore[type-arg]
    """A read-only file object for an artifact (or a file in a tracked directory) at any revision.

    Served from the cache when present (verified), else downloaded from the remote,
    verified, and kept in the cache (``cache=False``: in a temp file, deleted on close).
    The workspace is never touched.
    """
    from artver import transfer

    if mode not in ("r", "rb", "rt"):
        raise UsageError(f"mode {mode!r}: artifacts open read-only; use 'rb' or 'r'")
    repository = _repo(repo)
    hash_value, _ = _locate(repository, (_paths(repo, path) or [""])[0], rev, remote)
    temp: str | None = None
    if not repository.cache.has(hash_value):
        session = transfer.open_session(repository, remote, 1)
        if cache:
            transfer.download_verified(repository.cache, session.storage, hash_value)
        else:
            temp = transfer.download_to_temp(repository.cache, session.storage, hash_value)
    source = temp or repository.cache.path_of(hash_value)
    try:
        if temp is None:
            from artver.verification import verify_cached

            verify_cached(repository, hash_value)
        handle = builtins.open(source, "rb")
        try:
            if "b" in mode:
                yield handle
            else:
                with io.TextIOWrapper(handle, encoding=encoding) as text:
                    yield text
        finally:
            handle.close()
    finally:
        if temp is not None:
            os.unlink(temp)


def read(path: PathLike, rev: str | None = None, repo: PathLike = ".", remote: str | None = None,
         mode: str = "rb", encoding: str | None = None) -> bytes | str:
    """The whole content of an artifact at ``rev`` (see ``open``)."""
    with open(path, rev=rev, repo=repo, remote=remote, mode=mode, encoding=encoding) as handle:
        return handle.read()  # type: ignore[no-any-return]
