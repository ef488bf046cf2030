"""Reading an artifact out of another artver repository (the source) without a workspace of it.

'artver get', 'artver import', 'artver update' and ``api.open(path, repo=URL)`` share this
module. The source is any Git URL or local path. It is never checked out: a private bare,
blob-less clone in a temp folder (deleted afterwards) answers which commit a revision names,
and yields exactly two blobs of that commit: the artifact's pointer and the committed
``.artver/config``. Every Git process has a timeout, runs without a terminal prompt and
never through a shell.

Everything read from the source is untrusted input, as in a repository of one's own: the
pointer is parsed strictly; the committed config is loaded with config.py's rules (no
secrets, no URL with credentials, no profile or credentials_path in use) and, on top, its
``cache`` settings and every remote's ``link`` are dropped, because they describe the
source's own clones, never this machine's cache. Credentials for the source's remote come
from the usual chains (environment, instance roles, default profiles) only.

Objects are fetched with transfer.fetch into the destination cache, verified against their
hash on the way in, so what a hostile remote sends never enters the cache.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from artver import config as config_module
from artver import hashing, listing, transfer
from artver import pointer as pointer_module
from artver.cache import Cache
from artver.config import Config
from artver.errors import ConfigError, GitError, PointerError, RemoteError, UsageError
from artver.listing import Entry
from artver.paths import check_artifact_path
from artver.pointer import DirPointer, FilePointer, InlineListing, ListingRef, Pointer, Source
from artver.progress import NO_PROGRESS, Progress
from artver.remote_chunks import reading_chunks
from artver.remote_packs import PackedRemote, reading_packs
from artver.repo import Repo
from artver.statcache import StatKey

CLONE_TIMEOUT = 600  # a blob-less clone of a large history over a slow link, at most
READ_TIMEOUT = 120
MAX_CONFIG_BYTES = 1024 * 1024
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_SCP_LIKE = re.compile(r"[^/:]+:")
# What 'git rev-parse --local-env-vars' lists: each would redirect a Git process to another
# repository, object store or index than the private clone.
_REPOSITORY_ENV = frozenset({
    "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_CONFIG", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT",
    "GIT_OBJECT_DIRECTORY", "GIT_DIR", "GIT_WORK_TREE", "GIT_IMPLICIT_WORK_TREE", "GIT_GRAFT_FILE",
    "GIT_INDEX_FILE", "GIT_NO_REPLACE_OBJECTS", "GIT_REPLACE_REF_BASE", "GIT_PREFIX", "GIT_INTERNAL_SUPER_PREFIX",
    "GIT_SHALLOW_FILE",
    "GIT_COMMON_DIR",
})


@dataclass(frozen=True)
class SourceRepo:
    """An opened source: how the user named it, how it is recorded (a URL as given, a local
    path made absolute), the private bare clone, and the folder relative directory remotes
    of its config are relative to (its work tree; None for a source that is not local)."""

    shown: str
    url: str
    clone: Path
    base: Path | None


@dataclass(frozen=True)
class Located:
    """An artifact of the source at a commit: its path and parsed pointer, and the path of
    a file inside it when the caller named one (``inner``, '' for the artifact itself)."""

    commit: str
    rev: str | None
    path: str
    inner: str
    pointer: Pointer

    @property
    def where(self) -> str:
        return f"{self.commit[:12]}:{self.path}{pointer_module.SUFFIX}"

    def source(self, url: str) -> Source:
        return Source(url, self.rev, self.commit, self.path)


def is_url(text: str) -> bool:
    """Whether ``text`` names a Git repository by URL (scheme://... or scp-like host:path)
    rather than by a local path."""
    return not _is_local(text)


def _is_local(text: str) -> bool:
    return not _SCHEME.match(text) and not (_SCP_LIKE.match(text) and not os.path.exists(text))


def recorded_url(text: str, cwd: Path) -> str:
    """The source repository as a pointer records it: a local path absolute (a relative one
    would depend on the directory the command ran in), a URL as given; refused as the
    pointer parser refuses it (see pointer.check_source_repo)."""
    if not text:
        raise UsageError("SOURCE_REPO is empty; give a Git URL or the path of a repository")
    value = str((cwd / text).resolve()) if _is_local(text) and not text.startswith("-") else text
    try:
        return pointer_module.check_source_repo(value, "SOURCE_REPO")
    except PointerError as error:
        raise UsageError(str(error)) from None


def _git(cwd: Path, args: list[str], timeout: float, what: str) -> subprocess.CompletedProcess[bytes]:
    """One git process: no terminal prompt (a private repository without credentials fails
    instead of waiting for a password), no stdin, the 'ext' and 'fd' transports off, and
    none of the variables that point Git at another repository (set when artver runs in a
    Git hook): the process works on the private clone in ``cwd`` only."""
    env = {key: value for key, value in os.environ.items() if key not in _REPOSITORY_ENV}
    env.update({"GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0", "GCM_INTERACTIVE": "never"})
    try:
        return subprocess.run(
            ["git", "-c", "protocol.ext.allow=never", "-c", "protocol.fd.allow=never", *args],
            cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, env=env,
        )
    except FileNotFoundError:
        raise GitError("the 'git' command was not found; install Git and try again") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"{what} did not finish within {timeout}s") from None


def _last_line(completed: subprocess.CompletedProcess[bytes]) -> str:
    lines = [line.strip() for line in completed.stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("fatal:")]
    return (errors or lines or [f"exit code {completed.returncode}"])[-1]


def local_path_of(url: str) -> Path | None:
    """The folder of a source on this machine (an absolute path or a file:// URL), else None."""
    if url.startswith("/"):
        return Path(url)
    if url[:7].lower() == "file://":
        parts = urlsplit(url)
        if parts.netloc in ("", "localhost") and parts.path.startswith("/"):
            return Path(unquote(parts.path))
    return None


@contextlib.contextmanager
def opened(text: str, cwd: Path) -> Iterator[SourceRepo]:
    """A private bare clone of the source for the duration of the block (deleted after)."""
    url = recorded_url(text, cwd)
    base = local_path_of(url)
    if base is not None and not base.exists():
        raise UsageError(f"source repository {text}: no such file or folder")
    workdir = Path(tempfile.mkdtemp(prefix="artver-source-"))
    try:
        clone = workdir / "clone.git"
        # --filter: only the two blobs read later are downloaded (Git ignores it for a local
        # path, which it clones with hard links instead).
        completed = _git(workdir, ["clone", "--bare", "--quiet", "--filter=blob:none", "--", url, str(clone)],
                         CLONE_TIMEOUT, f"cloning {text}")
        if completed.returncode != 0:
            raise GitError(f"source repository {text}: cannot read it ({_last_line(completed)}); "
                           f"check the URL or path and your access to it")
        yield SourceRepo(text, url, clone, base)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def resolve(source: SourceRepo, rev: str | None) -> str:
    """The full id of the commit ``rev`` names in the source (None: its default branch)."""
    name = rev if rev is not None else "HEAD"
    if rev is not None:
        try:
            pointer_module.check_source_rev(rev, "--rev")
        except PointerError as error:
            raise UsageError(str(error)) from None
    peeled = name if name.startswith(":/") else name + "^{commit}"
    completed = _git(source.clone, ["rev-parse", "--verify", "--quiet", "--end-of-options", peeled],
                     READ_TIMEOUT, f"resolving '{name}' in {source.shown}")
    if completed.returncode != 0:
        if rev is None:
            raise GitError(f"source repository {source.shown}: it has no commits (or no default branch); "
                           f"name a revision with --rev")
        raise GitError(f"source repository {source.shown}: unknown revision '{rev}' (try a branch, tag or commit SHA "
                       f"of that repository; 'git ls-remote {source.url}' lists them)")
    return completed.stdout.decode("ascii", "replace").strip()


def _tree_entries(source: SourceRepo, commit: str, paths: list[str]) -> dict[str, tuple[str, str]]:
    """path -> (type, object id) of those of ``paths`` the commit has (no blob is read)."""
    completed = _git(source.clone, ["ls-tree", "-z", "--full-tree", commit, "--", *paths], READ_TIMEOUT,
                     f"reading the tree of {commit[:12]} in {source.shown}")
    if completed.returncode != 0:
        raise GitError(f"source repository {source.shown}: cannot read commit {commit[:12]} ({_last_line(completed)})")
    found = {}
    for record in completed.stdout.split(b"\0"):
        if not record:
            continue
        info, _, name = record.partition(b"\t")
        _mode, kind, object_id = info.decode("ascii", "replace").split(" ")
        found[os.fsdecode(name)] = (kind, object_id)
    return found


def _read_blob(source: SourceRepo, object_id: str, limit: int, what: str) -> bytes:
    size = _git(source.clone, ["cat-file", "-s", object_id], READ_TIMEOUT, f"reading {what}")
    if size.returncode != 0:
        raise GitError(f"source repository {source.shown}: cannot read {what} ({_last_line(size)})")
    if int(size.stdout.strip() or b"0") > limit:
        raise PointerError(f"{what}: larger than {limit} bytes; not an artver file")
    completed = _git(source.clone, ["cat-file", "blob", object_id], READ_TIMEOUT, f"reading {what}")
    if completed.returncode != 0:
        raise GitError(f"source repository {source.shown}: cannot read {what} ({_last_line(completed)})")
    return completed.stdout


def normalized_path(path: str) -> str:
    """PATH as the user typed it (the artifact, its pointer, './x', 'x/'): the artifact path."""
    value = path.strip()
    while value.startswith("./"):
        value = value[2:]
    value = value.rstrip("/")
    if value.endswith(pointer_module.SUFFIX) and value != pointer_module.SUFFIX:
        value = value[: -len(pointer_module.SUFFIX)]
    try:
        return check_artifact_path(value, "PATH")
    except PointerError as error:
        raise UsageError(str(error)) from None


def locate(source: SourceRepo, commit: str, rev: str | None, path: str) -> Located:
    """The artifact at ``path`` in the commit, or the tracked directory holding the file
    ``path``: one tree read for every candidate pointer."""
    parts = path.split("/")
    candidates = ["/".join(parts[:index]) + pointer_module.SUFFIX for index in range(len(parts), 0, -1)]
    found = _tree_entries(source, commit, candidates)
    shown = f"{rev}" if rev is not None else f"{commit[:12]} (the default branch)"
    for candidate in candidates:
        kind_and_id = found.get(candidate)
        if kind_and_id is None or kind_and_id[0] != "blob":
            continue
        artifact = candidate[: -len(pointer_module.SUFFIX)]
        inner = path[len(artifact) + 1:] if path != artifact else ""
        where = f"{source.shown}@{commit[:12]}:{candidate}"
        parsed = pointer_module.parse_pointer(_read_blob(source, kind_and_id[1], pointer_module.MAX_POINTER_BYTES, where), where)
        if inner and not isinstance(parsed, DirPointer):
            break
        return Located(commit, rev, artifact, inner, parsed)
    raise UsageError(f"{path}: not a tracked artifact of {source.shown} at {shown} (no {path}{pointer_module.SUFFIX}); "
                     f"'artver ls --rev REV' in that repository lists them")


def source_config(source: SourceRepo, commit: str) -> Config:
    """The source's committed .artver/config at the commit, loaded with config.py's rules for
    a committed file, minus what only describes the source's own clones (module docstring)."""
    config_path = ".artver/" + config_module.CONFIG_NAME
    found = _tree_entries(source, commit, [config_path])
    if config_path not in found:
        raise UsageError(f"source repository {source.shown}: not an artver repository at {commit[:12]} "
                         f"(no {config_path})")
    data = _read_blob(source, found[config_path][1], MAX_CONFIG_BYTES, f"{source.shown}@{commit[:12]}:{config_path}")
    with tempfile.TemporaryDirectory(prefix="artver-source-config-") as folder:
        artver_dir = Path(folder) / ".artver"
        artver_dir.mkdir()
        (artver_dir / config_module.CONFIG_NAME).write_bytes(data)
        try:
            loaded = config_module.load(artver_dir, user_path=None)
        except ConfigError as error:
            shown_path = str(artver_dir / config_module.CONFIG_NAME)
            raise ConfigError(str(error).replace(shown_path, f"{source.shown}@{commit[:12]}:{config_path}")) from None
    label = Path(f"{source.shown}@{commit[:12]}:{config_path}")
    kept = {key: value for key, value in loaded.values.items()
            if key[0] != "cache" and not (key[0].startswith("remote.") and key[1] == "link")}
    origins = {key: config_module.Origin("committed", label) for key in kept}
    return Config(kept, origins, None)


def open_remote(source: SourceRepo, commit: str, jobs: int | None, progress: Progress = NO_PROGRESS,
                remote: str | None = None) -> transfer.Session:
    """A session on the source's remote (``remote``, else its default one), as its committed
    config at ``commit`` names it."""
    from artver.remotes import spec_of

    config = source_config(source, commit)
    base = source.base if source.base is not None else source.clone
    try:
        spec = spec_of(config, remote, base)
    except ConfigError as error:
        raise ConfigError(f"source repository {source.shown}: {error}") from None
    if spec.scheme == "file" and source.base is None and not os.path.isabs(os.path.expanduser(config.get(f"remote.{spec.name}", "url") or "")):
        raise ConfigError(f"source repository {source.shown}: its remote '{spec.name}' is a relative directory, "
                          f"which only means something in a clone of it; use a local clone as SOURCE_REPO instead")
    # No packs through this session's own database: it would live in the source's .artver.
    # Readers of the source's packs are made per destination cache (reading_packs).
    return dataclasses.replace(transfer.open_session(Repo(base, config), spec.name, jobs, progress.note), open_packed=None)


def _raise_failures(summary: transfer.TransferSummary) -> None:
    if summary.failed:
        first = summary.failed[0]
        more = f" (and {len(summary.failed) - 1} more)" if len(summary.failed) > 1 else ""
        raise RemoteError(f"{summary.remote}: cannot fetch {hashing.short(first.object)}{more}: {first.error}")


def source_packs(cache: Cache, session: transfer.Session) -> PackedRemote:
    """The packs of the source's remote, read into ``cache`` with what is learnt of its
    indexes kept in memory (nothing is written into the source repository)."""
    return reading_packs(session.storage, cache)


def entries_of(cache: Cache, pointer: DirPointer, session: transfer.Session, where: str,
               packed: PackedRemote | None = None) -> tuple[Entry, ...]:
    content = pointer.content
    if isinstance(content, InlineListing):
        return content.entries
    packed = packed if packed is not None else source_packs(cache, session)
    _raise_failures(transfer.fetch(cache, session.storage, {content.hash: 0}, 1, packed=packed))
    return listing.from_object_bytes(cache.read_bytes(content.hash, where), f"{where} (listing {hashing.short(content.hash)})")


def fetch_into(cache: Cache, located: Located, session: transfer.Session, progress: Progress = NO_PROGRESS,
               ) -> tuple[tuple[Entry, ...] | None, list[tuple[str, StatKey]]]:
    """Fetch, verified, every object the located artifact (or the one file inside it) needs
    into ``cache``: the entries of a directory (None for a file), and the objects installed
    with their stat (hashed on the way in). Raises on the first object that cannot be had:
    nothing may refer to data that is not in the cache."""
    pointer = located.pointer
    entries: tuple[Entry, ...] | None = None
    packed = source_packs(cache, session)
    if isinstance(pointer, FilePointer):
        objects = {pointer.hash: pointer.size}
    else:
        entries = entries_of(cache, pointer, session, located.where, packed)
        if located.inner:
            chosen = [entry for entry in entries if entry.path == located.inner]
            if not chosen:
                raise UsageError(f"{located.path}/{located.inner}: no such file in the tracked directory {located.path} "
                                 f"at {located.commit[:12]}")
            entries = tuple(chosen)
        objects = {entry.hash: entry.size for entry in entries}
    installed: list[tuple[str, StatKey]] = []
    _raise_failures(transfer.fetch(cache, session.storage, objects, session.jobs, progress, installed.extend, packed,
                                   reading_chunks(packed)))
    return entries, installed


def imported_pointer(located: Located, entries: tuple[Entry, ...] | None, url: str) -> Pointer:
    """The pointer 'artver import' writes: the source's own pointer (content, description,
    metadata) with its provenance; for a file inside a tracked directory, a file pointer."""
    pointer = located.pointer
    full_path = f"{located.path}/{located.inner}" if located.inner else located.path
    source = Source(url, located.rev, located.commit, full_path)
    if located.inner:
        assert entries is not None and len(entries) == 1
        return FilePointer(entries[0].hash, entries[0].size, source=source)
    if isinstance(pointer, FilePointer):
        return FilePointer(pointer.hash, pointer.size, pointer.desc, pointer.meta, source)
    return DirPointer(pointer.content, pointer.desc, pointer.meta, source)


def hashes_of(pointer: Pointer, entries: tuple[Entry, ...] | None) -> list[str]:
    found = [pointer.hash] if isinstance(pointer, FilePointer) else []
    if isinstance(pointer, DirPointer) and isinstance(pointer.content, ListingRef):
        found.append(pointer.content.hash)
    return found + [entry.hash for entry in entries or ()]


def check_algorithm(repo: Repo, pointer: Pointer, entries: tuple[Entry, ...] | None, shown: str) -> None:
    """An import's hashes must be of this repository's algorithm: status, add and checkout
    compare workspace files by it."""
    for hash_value in hashes_of(pointer, entries):
        algorithm = hashing.algorithm_of(hash_value)
        if algorithm != repo.algorithm:
            raise UsageError(f"{shown}: the source hashes with {algorithm}, this repository with {repo.algorithm}; "
                             f"use 'artver get' to copy the data without a pointer")
