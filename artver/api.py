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
    from dataclasses import replace

    from artver import listing
    from artver.artifacts import Part, Tracked, artifact_of_argument, entries_fetching_listing, not_in_directory
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
            entries = entries_fetching_listing(repository, pointer, tracked.pointer_path, remote)
            chosen = listing.under(entries, inner)  # the one rule for parts of a directory
            if len(chosen) == 1 and chosen[0].path == inner:
                return chosen[0].hash, chosen[0].size
            if chosen:
                raise UsageError(f"{path}: a folder inside the tracked directory {tracked.path}; name a file in it")
            raise UsageError(not_in_directory(replace(tracked, part=Part(inner)), entries, rev or ""))
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
    session = transfer.open_session(repository, remote, 1)
    storage = session.storage  # opens the backend: once
    key = transfer.key_of(hash_value)
    if session.chunked is not None and session.chunked.recipes_present([hash_value]):
        raise UsageError(f"{os.fspath(path)}: it is stored in {storage.url} as chunks (files of "
                         f"remote.NAME.chunk_threshold bytes or more are), so it has no URL of its own; read it with "
                         f"artver.api.open (which streams it with cache=False) or 'artver pull', or set "
                         f"'artver remote modify NAME chunk false' before pushing")
    if session.packed is not None and session.packed.locate([hash_value]):
        raise UsageError(f"{os.fspath(path)}: its object is stored inside a pack in {storage.url} (objects under "
                         f"remote.NAME.pack_threshold bytes are), so it has no URL of its own; read it with "
                         f"artver.api.open or 'artver pull', or set 'artver remote modify NAME pack false' before pushing")
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
    verified, and kept in the cache (``cache=False``: in a temp file, deleted on close;
    a file the remote holds as chunks is then streamed, seekable, without being put
    together on disk: each chunk is verified, and the whole file's hash once the stream is
    read through in order). The workspace is never touched.

    ``repo`` may also be a Git URL (https://, ssh://, git://, file://, host:path) of an
    artver repository that is not checked out: its pointer and committed remote settings
    are read at ``rev`` (default: its default branch), the object is fetched from its
    remote (``remote``: one of its remotes; default: its default one), verified, into a
    temp folder deleted on close (see docs/api.md).
    """
    from artver import transfer

    if mode not in ("r", "rb", "rt"):
        raise UsageError(f"mode {mode!r}: artifacts open read-only; use 'rb' or 'r'")
    if _is_source_url(repo):  # a repository that is not checked out: see get
        with _open_from_source(path, os.fspath(repo), rev, remote) as raw:
            if "b" in mode:
                yield raw
            else:
                with io.TextIOWrapper(raw, encoding=encoding) as text:
                    yield text
        return
    repository = _repo(repo)
    hash_value, size = _locate(repository, (_paths(repo, path) or [""])[0], rev, remote)
    temp: str | None = None
    if not repository.cache.has(hash_value):
        session = transfer.open_session(repository, remote, 1)
        if not cache and session.chunked is not None \
                and session.chunked.recipes_present([hash_value]):
            from artver.chunk_stream import ChunkedReader

            # A chunked file streams chunk range by chunk range: never put together on disk.
            with io.BufferedReader(ChunkedReader(session.chunked, hash_value, size), buffer_size=1024 * 1024) as raw:
                if "b" in mode:
                    yield raw
                else:
                    with io.TextIOWrapper(raw, encoding=encoding) as text:
                        yield text
            return
        if cache:
            transfer.download_verified(repository.cache, session.storage, hash_value, packed=session.packed,
                                       chunked=session.chunked)
        else:
            temp = transfer.download_to_temp(repository.cache, session.storage, hash_value, session.packed,
                                             session.chunked)
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


# --- Another repository: get, import, update (docs/handoff.md) --------------------------------

if TYPE_CHECKING:
    from artver.commands.get import GetResult
    from artver.commands.import_ import ImportResult
    from artver.commands.update import ImportCheck, UpdateResult

__all__ += ["get", "import_", "update", "check_updates", "ImportReport", "UpdateReport"]


def _is_source_url(repo: PathLike) -> bool:
    """Whether ``repo`` names a Git repository by URL (https://..., ssh://..., host:path), not
    a local directory: open/read then read it without a checkout (see get)."""
    from artver.imports import is_url

    return isinstance(repo, str) and is_url(repo)


def _optional_repo(cwd: Path) -> Repo | None:
    from artver.errors import NotARepositoryError

    try:
        return open_repo(cwd)
    except NotARepositoryError:
        return None


def get(source: str, path: str, out: PathLike | None = None, rev: str | None = None, cwd: PathLike = ".",
        jobs: int | None = None, progress: Progress = NO_PROGRESS) -> GetResult:
    """Like ``artver get``: copy ``path`` (an artifact, or a file inside a tracked directory) of
    the artver repository ``source`` (a Git URL or path) at ``rev`` (default: its default
    branch) to ``out`` (default: the path's last name, in ``cwd``), with no pointer. The
    source is never checked out; inside an artver repository the data also stays in its cache."""
    from artver.commands.get import get as run

    base = Path(cwd).resolve()
    return run(source, path, os.fspath(out) if out is not None else None, rev, base, _optional_repo(base), jobs, progress)


@dataclass(frozen=True)
class ImportReport:
    result: ImportResult
    checkout: CheckoutResult

    @property
    def ok(self) -> bool:
        return self.checkout.ok


def import_(source: str, path: str, out: PathLike | None = None, rev: str | None = None, repo: PathLike = ".",
            jobs: int | None = None, progress: Progress = NO_PROGRESS) -> ImportReport:
    """Like ``artver import``: fetch ``path`` of the artver repository ``source`` at ``rev``,
    write ``OUT.art`` with its provenance (source.* keys) and place the data (checkout);
    ``out`` is relative to ``repo``."""
    from artver import file_lock
    from artver.commands.checkout import checkout_unlocked
    from artver.commands.import_ import import_unlocked

    repository = _repo(repo)
    base = Path(repo).resolve()
    with file_lock.locked(repository.lock_path, repository.lock_timeout):
        result = import_unlocked(repository, source, path, os.fspath(out) if out is not None else None, rev, base,
                                 jobs, progress)
        placed = checkout_unlocked(repository, [str(repository.root / result.path)], False, progress)
    return ImportReport(result, placed)


@dataclass(frozen=True)
class UpdateReport:
    updates: tuple[UpdateResult, ...]
    diff: DiffResult  # old imports -> new ones, as 'artver diff' shows changes
    checkout: CheckoutResult

    @property
    def ok(self) -> bool:
        return self.checkout.ok


def update(paths: PathLike | Sequence[PathLike] | None = None, rev: str | None = None, repo: PathLike = ".",
           jobs: int | None = None, progress: Progress = NO_PROGRESS) -> UpdateReport:
    """Like ``artver update``: move imports (all of them by default) to the newest commit of
    their revision, or of ``rev``; place the new data; the changes as ``artver diff`` words them."""
    from artver import file_lock
    from artver.artifacts import Tracked
    from artver.commands.checkout import checkout_unlocked
    from artver.commands.diff import DiffResult, compare
    from artver.commands.update import update_unlocked

    repository = _repo(repo)
    with file_lock.locked(repository.lock_path, repository.lock_timeout):
        seen = update_unlocked(repository, _paths(repo, paths), rev, Path(repo).resolve(), jobs, progress)
        moved = [item for item in seen if item.result.changed]
        placed = checkout_unlocked(repository, [str(repository.root / item.result.path) for item in moved], False,
                                   progress) if moved else None
    from artver.commands.checkout import CheckoutResult as Placed

    before = {item.result.path: Tracked(item.result.path, item.result.pointer_path, item.old) for item in moved}
    after = {item.result.path: Tracked(item.result.path, item.result.pointer_path, item.new) for item in moved}
    changes = compare(repository, before, after)
    return UpdateReport(tuple(item.result for item in seen),
                        DiffResult("the imported commits", "the updated ones", tuple(changes)), placed or Placed())


def check_updates(paths: PathLike | Sequence[PathLike] | None = None, repo: PathLike = ".") -> list[ImportCheck]:
    """Like ``artver status --check-updates``: for each import, the commit its revision names
    in its source now (reads every source repository: needs the network)."""
    from artver.commands.update import check_updates as run

    return run(_repo(repo), _paths(repo, paths), Path(repo).resolve())


@contextlib.contextmanager
def _open_from_source(path: PathLike, source: str, rev: str | None, remote: str | None) -> Iterator[IO[bytes]]:
    """open(path, repo=URL): the object fetched, verified, into a temp cache deleted on close."""
    import shutil
    import tempfile

    from artver import hashing, imports
    from artver.cache import Cache
    from artver.pointer import FilePointer

    with imports.opened(source, Path.cwd()) as opened_source:
        commit = imports.resolve(opened_source, rev)
        located = imports.locate(opened_source, commit, rev, imports.normalized_path(os.fspath(path)))
        if not located.inner and not isinstance(located.pointer, FilePointer):
            raise UsageError(f"{os.fspath(path)}: is a tracked directory; name a file inside it ({os.fspath(path)}/FILE)")
        session = imports.open_remote(opened_source, commit, 1, NO_PROGRESS, remote)
        folder = tempfile.mkdtemp(prefix="artver-open-")
        try:
            cache = Cache(Path(folder), hashing.DEFAULT_ALGORITHM)
            entries, _ = imports.fetch_into(cache, located, session)
            hash_value = entries[0].hash if entries else located.pointer.hash if isinstance(located.pointer, FilePointer) else ""
            with builtins.open(cache.path_of(hash_value), "rb") as handle:
                yield handle
        finally:
            shutil.rmtree(folder, ignore_errors=True)
