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
import dataclasses
import io
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from artver.errors import UsageError
from artver.progress import NO_PROGRESS, Progress
from artver.repo import Repo, open_repo
from artver.scope import Revisions
from artver.status_states import CloudState, State

if TYPE_CHECKING:  # the result types; each function imports its implementation when called, so that
    # 'import artver.api' (and every CLI command) loads only what it uses.
    from artver.commands.add import AddResult
    from artver.commands.check_large_files import LargeFile
    from artver.commands.checkout import CheckoutResult
    from artver.commands.config import Setting
    from artver.commands.diff import DiffResult
    from artver.commands.gc import GcResult
    from artver.commands.hook import HookResult
    from artver.commands.init import InitResult
    from artver.commands.log import DetachedHead, LogEntry
    from artver.commands.ls import ArtifactInfo
    from artver.commands.merge import DriverResult, Resolution
    from artver.commands.publish import PublishResult
    from artver.commands.remote import RemoteInfo
    from artver.commands.remove import RemoveResult
    from artver.commands.status import ArtifactStatus, CloudStatus
    from artver.commands.verify import VerifyResult
    from artver.hooks import HookChange
    from artver.transfer import TransferSummary

__all__ = [
    "open", "read", "get_url", "init", "add", "status", "cloud_status", "checkout", "remove", "push", "fetch",
    "pull", "diff", "diff_arguments", "log", "detached_head", "ls", "verify", "resolve", "publish", "gc",
    "remote_add", "remote_list", "remote_remove", "remote_default", "remote_modify", "config",
    "install_hooks", "uninstall_hooks", "hook", "merge_driver", "check_large_files", "parse_size", "work_tree", "artifact_path", "parse_duration", "parse_meta",
    "PullResult", "Revisions", "State", "CloudState",
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


def work_tree(repo: PathLike = ".") -> Path:
    """The root of the Git work tree containing ``repo``: what result paths are relative to."""
    from artver.git import find_work_tree

    return find_work_tree(Path(repo).resolve())


_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str, what: str = "expires") -> int:
    """A link's lifetime as seconds, from a whole number optionally followed by s, m, h or d
    (as ``artver url --expires`` takes it); refused (UsageError naming ``what``) outside what
    every backend can sign."""
    from artver.remotes.base import expiry_problem

    value = text.strip().lower()
    unit = value[-1:] if value[-1:] in _DURATION_UNITS else ""
    number = value[: len(value) - len(unit)]
    if not (number.isascii() and number.isdigit()) or len(number) > 9:
        raise UsageError(f"{what} {text!r}: expected a duration like 3600, 30m, 12h or 7d")
    seconds = int(number) * _DURATION_UNITS[unit]
    problem = expiry_problem(seconds)
    if problem is not None:
        raise UsageError(f"{what} {text}: {problem}")
    return seconds


def artifact_path(path: PathLike, repo: PathLike = ".") -> str:
    """``path`` (as a user typed it: an artifact, its pointer, or a file inside a tracked
    directory) relative to the work tree, as every ``--json`` result names paths."""
    from artver.artifacts import artifact_of_argument

    return artifact_of_argument(_repo(repo), str(Path(os.fspath(path)).absolute()))


def parse_meta(items: Iterable[str]) -> dict[str, str]:
    """``KEY=VALUE`` strings (as ``artver add --meta`` takes them) as a mapping for ``add``."""
    from artver.commands.add import parse_meta as run

    return dict(run(items))


def init(repo: PathLike = ".", hash: str | None = None, hooks: bool = False) -> InitResult:  # noqa: A002 - mirrors --hash
    """Like ``artver init``; ``hooks=True`` also installs the Git hooks (``--hooks``)."""
    from artver.commands.init import init as run

    return run(Path(repo).resolve(), hash, hooks)


def install_hooks(repo: PathLike = ".") -> list[HookChange]:
    """Like ``artver install-hooks``: the Git hooks, then the merge driver for pointer files."""
    from artver import hooks

    root = _repo(repo).root
    return hooks.install(root) + hooks.install_merge_driver(root)


def uninstall_hooks(repo: PathLike = ".") -> list[HookChange]:
    """Like ``artver uninstall-hooks``: what install_hooks added; other hooks stay."""
    from artver import hooks

    root = _repo(repo).root
    return hooks.uninstall(root) + hooks.uninstall_merge_driver(root)


def hook(name: str, arguments: Sequence[str] = (), stdin: str = "", repo: PathLike = ".") -> HookResult:
    """Run one Git hook's artver part, as the installed hooks do (``artver hook NAME ARGS``)."""
    from artver.commands import checkout, push
    from artver.commands.hook import Steps, run

    steps = Steps(
        checkout=lambda repository: checkout.checkout_unlocked(repository, None, False, NO_PROGRESS),
        remove_dropped=checkout.remove_dropped,
        push=lambda repository, items: push.push_items(repository, items, None, None),
    )
    return run(_repo(repo), name, list(arguments), stdin, steps)


def merge_driver(base: str, ours: str, theirs: str, marker_size: str, path: str) -> DriverResult:
    """Git's merge driver for pointer files: merges the three files Git names and writes the
    result over ``ours``. Git runs it in the work tree, which is the repository it uses."""
    from artver.commands.merge import run_driver

    return run_driver(base, ours, theirs, marker_size, path)


def parse_size(text: str) -> int:
    """Bytes of a size like ``"10MiB"``, ``"500KB"`` or ``"1048576"`` (as ``--max-size`` takes it)."""
    from artver.commands.check_large_files import parse_size as run

    return run(text)


def check_large_files(files: PathLike | Sequence[PathLike] | None = None, max_size: int | str = "10MiB",
                      repo: PathLike = ".") -> list[LargeFile]:
    """Like ``artver check-large-files``: the files (default: the staged ones) larger than
    ``max_size`` (bytes, or a size like ``"10MiB"``). Needs a Git work tree, not artver."""
    from artver.commands.check_large_files import check
    from artver.git import find_work_tree

    limit = parse_size(max_size) if isinstance(max_size, str) else max_size
    return check(find_work_tree(Path(repo).resolve()), _paths(repo, files), limit)


def remote_add(name: str, url: str, default: bool = False, local: bool = False, repo: PathLike = ".") -> RemoteInfo:
    """Like ``artver remote add``; a relative directory is relative to ``repo``, and stored
    relative to the repository root."""
    from artver.commands import remote

    repository = _repo(repo)
    return remote.add(repository, name, remote.stored_url(repository, url, Path(repo).resolve()), default, local)


def remote_list(repo: PathLike = ".") -> list[RemoteInfo]:
    from artver.commands import remote

    return remote.list_remotes(_repo(repo))


def remote_remove(name: str, repo: PathLike = ".") -> None:
    from artver.commands import remote

    remote.remove(_repo(repo), name)


def remote_default(name: str, local: bool = False, repo: PathLike = ".") -> None:
    from artver.commands import remote

    remote.set_default(_repo(repo), name, local)


def remote_modify(name: str, key: str, value: str | None, local: bool = False, repo: PathLike = ".") -> None:
    """Like ``artver remote modify``; ``value=None`` unsets the setting."""
    from artver.commands import remote

    remote.modify(_repo(repo), name, key, value, local)


def config(key: str, value: str | None = None, unset: bool = False, local: bool = False, user: bool = False,
           repo: PathLike = ".") -> Setting:
    """Like ``artver config KEY [VALUE]``: read a setting (no ``value``, no ``unset``), or set or
    unset it in .artver/config, .artver/config.local (``local``) or the user config (``user``),
    with the checks its use makes; returns the setting as it is afterwards. Remote settings and
    core.remote go through the remote command's checks (as 'remote modify' and 'remote default')."""
    from artver.commands import config as config_command
    from artver.commands import remote

    if value is not None and unset:
        raise UsageError("give either a VALUE or --unset, not both")
    if local and user:
        raise UsageError("--local and --user exclude each other")
    repository = _repo(repo)
    parsed = config_command.parse_key(key)
    if value is None and not unset:
        return config_command.get(repository, parsed)
    scope: config_command.Scope = "user" if user else "local" if local else "committed"
    config_command.check_scope(parsed, scope, repository)
    if parsed.remote is not None:
        remote.modify(repository, parsed.remote, parsed.name, value, local)
    elif (parsed.section, parsed.name) == ("core", "remote") and value is not None:
        remote.set_default(repository, value, local)
    else:
        config_command.write(repository, parsed, value, scope)
    changed = config_command.written_file(scope, repository)
    return dataclasses.replace(config_command.get(_repo(repo), parsed), action="unset" if unset else "set", changed=changed)


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


@dataclass(frozen=True)
class PullResult:
    fetch: TransferSummary
    checkout: CheckoutResult

    @property
    def ok(self) -> bool:
        return self.fetch.ok and self.checkout.ok


def pull(paths: PathLike | Sequence[PathLike] | None = None, repo: PathLike = ".", remote: str | None = None,
         jobs: int | None = None, force: bool = False, progress: Progress = NO_PROGRESS) -> PullResult:
    """fetch, then checkout (with checkout's safety rules), under one lock. Composed here, as
    command modules do not import each other."""
    from artver import file_lock
    from artver.commands.checkout import checkout_unlocked
    from artver.commands.fetch import fetch_unlocked

    repository = _repo(repo)
    selected = _paths(repo, paths)
    with file_lock.locked(repository.lock_path, repository.lock_timeout):
        summary = fetch_unlocked(repository, selected, remote, jobs, Revisions(), progress)
        result = checkout_unlocked(repository, selected, force, progress)
    return PullResult(summary, result)


def diff(a: str | None = None, b: str | None = None, paths: PathLike | Sequence[PathLike] | None = None,
         repo: PathLike = ".") -> DiffResult:
    """``a`` against ``b``; ``b`` None means the workspace pointers; ``a`` None means HEAD."""
    from artver.commands.diff import diff as run

    return run(_repo(repo), a, b, _paths(repo, paths))


def diff_arguments(arguments: Sequence[str], repo: PathLike = ".") -> DiffResult:
    """Like ``artver diff ARGS``: the first one or two arguments that name Git revisions are
    ``a`` and ``b``; the rest are paths."""
    from artver.commands.diff import diff as run
    from artver.history import split_revisions

    repository = _repo(repo)
    revisions, paths = split_revisions(repository, list(arguments))
    return run(repository, revisions[0] if revisions else None, revisions[1] if len(revisions) > 1 else None,
               _paths(repo, paths) if paths else None)


def log(path: PathLike, repo: PathLike = ".", limit: int | None = None, rev: str = "HEAD") -> list[LogEntry]:
    from artver.commands.log import log as run

    return run(_repo(repo), (_paths(repo, path) or [""])[0], limit, rev)


def detached_head(repo: PathLike = ".") -> DetachedHead | None:
    """Where HEAD is detached at a commit that branches went past (a log of HEAD ends there),
    or None; its ``hint(path)`` says how to see later commits."""
    from artver.commands.log import detached_head as run

    return run(work_tree(repo))


def resolve(paths: PathLike | Sequence[PathLike] | None = None, repo: PathLike = ".",
            side: str | None = None) -> list[Resolution]:
    """Like ``artver resolve``: merge conflicted pointers again entry by entry; with ``side``
    ("ours" or "theirs"), keep that side's version of what both branches changed."""
    from artver.commands.merge import resolve as run

    if side not in (None, "ours", "theirs"):
        raise UsageError(f"side {side!r}: expected 'ours', 'theirs' or None")
    return run(_repo(repo), _paths(repo, paths), side)  # type: ignore[arg-type]  # side is checked against 'ours'/'theirs' by the command itself


def ls(rev: str | None = None, repo: PathLike = ".") -> list[ArtifactInfo]:
    from artver.commands.ls import ls as run

    return run(_repo(repo), rev)


def verify(paths: PathLike | Sequence[PathLike] | None = None, repo: PathLike = ".", everything: bool = False,
           remote: str | None = None, jobs: int | None = None, progress: Progress = NO_PROGRESS) -> VerifyResult:
    """Re-hash cache objects the workspace references (all with ``everything``), and the remote's with ``remote``."""
    from artver.commands.verify import verify as run

    return run(_repo(repo), _paths(repo, paths), everything, remote, jobs, progress)


def gc(workspace: bool = False, revisions: Revisions = Revisions(), cloud: bool = False, remote: str | None = None,
       force: bool = False, dry_run: bool = False, confirm: Callable[[int, str], bool] | None = None,
       repo: PathLike = ".") -> GcResult:
    """Like ``artver gc``. With ``cloud``, remote objects are deleted only if ``confirm(count,
    remote_url)`` returns True (None: never, and UsageError says what would be deleted)."""
    from artver.commands.gc import gc as run

    approve = (lambda plan: confirm(len(plan.remote), plan.remote_url or "")) if confirm else (lambda _: False)
    return run(_repo(repo), workspace, revisions, cloud, remote, force, dry_run, approve)


def publish(reference: str, paths: PathLike | Sequence[PathLike] | None = None, rev: str | None = None,
            repo: PathLike = ".", insecure: bool = False, force: bool = False, chunk_size: int | str | None = None,
            progress: Progress = NO_PROGRESS) -> PublishResult:
    """Publish the artifacts of ``rev`` (default HEAD) to an OCI registry as a ModelPack artifact
    tagged ``reference`` (REGISTRY/REPO:TAG); see docs/handoff.md. ``chunk_size``: bytes, or a
    size like ``"16MiB"``."""
    from artver.commands.publish import publish as run
    from artver.fsutil import parse_size
    from artver.oci import DEFAULT_CHUNK_SIZE

    if isinstance(chunk_size, str):
        parsed = parse_size(chunk_size)
        if parsed is None:
            raise UsageError(f"--chunk-size {chunk_size!r}: expected a size like 64MiB or 16MB")
        chunk_size = parsed
    return run(_repo(repo), reference, _paths(repo, paths), rev, insecure, force, chunk_size or DEFAULT_CHUNK_SIZE, progress)


def _locate(repository: Repo, path: str, rev: str | None, remote: str | None) -> tuple[str, int]:
    """(object hash, size) of an artifact, or of a file inside a tracked directory, at ``rev``."""
    from artver.artifacts import Tracked, artifact_of_argument, entries_fetching_listing
    from artver.history import snapshot
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
) -> Iterator[IO]:
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
        return handle.read()
