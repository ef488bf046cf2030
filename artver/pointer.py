"""Pointer files: the small text file ``PATH.art`` committed to Git for each artifact.

The format is specified in docs/pointer-format.md; this module is its only
reader and writer. Writing is deterministic (same artifact, same bytes) and
reading is strict: anything not exactly in the format is refused with an error
naming the file, because a pointer may come from anyone who can push to Git.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, TypeVar

from artver import hashing, listing
from artver.errors import PointerConflictError, PointerError
from artver.fsutil import atomic_write_bytes
from artver.listing import Entry
from artver.paths import check_artifact_path

SUFFIX = ".art"
VERSION = 1
MAGIC = "artver-pointer"
MAX_POINTER_BYTES = 16 * 1024 * 1024
_META_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")  # fullmatch: "$" would accept a final newline
_DECIMAL = re.compile(r"[0-9]{1,19}")
_HEADER_KEYS = ("kind", "hash", "size", "listing", "count", "desc")
# Provenance of an imported artifact (see Source); all absent in a pointer written by 'add'.
SOURCE_REPO, SOURCE_REV, SOURCE_COMMIT, SOURCE_PATH = "source.repo", "source.rev", "source.commit", "source.path"
_SOURCE_KEYS = (SOURCE_REPO, SOURCE_REV, SOURCE_COMMIT, SOURCE_PATH)
MAX_SOURCE_REPO_CHARS = 2048
MAX_SOURCE_REV_CHARS = 256
_GIT_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")  # SHA-1 or SHA-256 object names
_SOURCE_SCHEMES = ("https", "http", "ssh", "git", "file", "git+ssh", "ssh+git")
_URL_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
_SCP_LIKE = re.compile(r"[^/:]+:")  # git's [user@]host:path form: a colon before any slash

Kind = Literal["file", "dir"]


@dataclass(frozen=True)
class InlineListing:
    """A directory's entries written in the pointer itself (small directories)."""

    entries: tuple[Entry, ...]

    @property
    def count(self) -> int:
        return len(self.entries)

    @property
    def size(self) -> int:
        return listing.total_size(self.entries)


@dataclass(frozen=True)
class ListingRef:
    """A directory's entries kept in a listing object (large directories): the object's hash,
    and the number of files and their total size as the pointer states them."""

    hash: str
    count: int
    size: int


DirContent = InlineListing | ListingRef
UserMeta = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Source:
    """Where an imported artifact comes from ('artver import'): the source Git repository
    (a URL or an absolute path), the revision asked for (None: its default branch), the
    commit that revision named when the data was imported, and the artifact's path there.
    Untrusted like every pointer field: each is checked by the parser (check_source)."""

    repo: str
    rev: str | None
    commit: str
    path: str


@dataclass(frozen=True)
class FilePointer:
    """A file artifact: the hash and size of its one object."""

    hash: str
    size: int
    desc: str | None = None
    meta: UserMeta = field(default=())
    source: Source | None = None

    @property
    def kind(self) -> Literal["file"]:
        return "file"

    def with_user_data(self, desc: str | None, meta: UserMeta) -> FilePointer:
        return _with_user_data(self, desc, meta)


@dataclass(frozen=True)
class DirPointer:
    """A directory artifact: its listing, inline or as a listing object."""

    content: DirContent
    desc: str | None = None
    meta: UserMeta = field(default=())
    source: Source | None = None

    @property
    def kind(self) -> Literal["dir"]:
        return "dir"

    def with_user_data(self, desc: str | None, meta: UserMeta) -> DirPointer:
        return _with_user_data(self, desc, meta)


Pointer = FilePointer | DirPointer
_AnyPointer = TypeVar("_AnyPointer", FilePointer, DirPointer)


def _with_user_data(pointer: _AnyPointer, desc: str | None, meta: UserMeta) -> _AnyPointer:
    if desc is not None:
        check_text(desc, "description")
    for key, value in meta:
        check_text(value, f"metadata {key!r}")
    return replace(pointer, desc=desc, meta=tuple(sorted(meta)))


def file_pointer(hash_value: str, size: int) -> FilePointer:
    return FilePointer(hash_value, size)


def dir_pointer(entries: tuple[Entry, ...], listing_hash: str | None = None) -> DirPointer:
    """A directory pointer: inline entries, or when ``listing_hash`` is given, a reference to
    that listing object (which must hold exactly ``entries``), with their count and total size."""
    if listing_hash is None:
        return DirPointer(InlineListing(entries))
    return DirPointer(ListingRef(listing_hash, len(entries), listing.total_size(entries)))


def artifact_path_of(pointer_path: Path) -> Path:
    return pointer_path.with_name(pointer_path.name[: -len(SUFFIX)])


def pointer_path_of(artifact_path: Path) -> Path:
    return artifact_path.with_name(artifact_path.name + SUFFIX)


def check_meta_key(key: str, where: str) -> str:
    if not _META_KEY.fullmatch(key):
        raise PointerError(
            f"{where}: invalid metadata key {key[:120]!r} (use letters, digits, '_', '.', '-'; at most 100 characters)"
        )
    return key


def format_pointer(pointer: Pointer) -> bytes:
    lines = [f"{MAGIC}: {VERSION}", f"kind: {pointer.kind}"]
    entries: tuple[Entry, ...] | None = None
    match pointer:
        case FilePointer(hash=hash_value, size=size):
            lines += [f"hash: {hash_value}", f"size: {size}"]
        case DirPointer(content=ListingRef(hash=listing_hash, count=count, size=size)):
            lines += [f"listing: {listing_hash}", f"count: {count}", f"size: {size}"]
        case DirPointer(content=InlineListing(entries=entries)):
            pass
    if pointer.source is not None:
        lines += _source_lines(pointer.source)
    if pointer.desc is not None:
        lines.append(f"desc: {json.dumps(pointer.desc, ensure_ascii=False)}")
    for key, value in sorted(pointer.meta):
        lines.append(f"meta.{key}: {json.dumps(value, ensure_ascii=False)}")
    if entries is not None:
        lines.append("entries:")
        lines += [listing.format_entry(entry) for entry in entries]
    lines.append("end")
    return ("\n".join(lines) + "\n").encode("utf-8")


def parse_pointer(data: bytes, where: str) -> Pointer:
    if len(data) > MAX_POINTER_BYTES:
        raise PointerError(f"{where}: {len(data)} bytes is too large to be an artver pointer file")
    if not data:
        raise PointerError(f"{where}: empty file, not an artver pointer (restore it with 'git checkout -- {where}')")
    if b"\0" in data:
        raise PointerError(f"{where}: binary content, not an artver pointer file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise PointerError(f"{where}: not UTF-8 text, not an artver pointer file") from None
    lines = text.split("\n")
    if has_conflict_markers(lines):
        raise PointerConflictError(conflict_message(where))
    first = lines[0]
    if not first.startswith(f"{MAGIC}: "):
        raise PointerError(f"{where}: not an artver pointer file (first line must be '{MAGIC}: {VERSION}')")
    version = first[len(MAGIC) + 2 :]
    if version != str(VERSION):
        raise PointerError(
            f"{where}: unsupported pointer version {version[:20]!r}; this artver reads version {VERSION} "
            f"(upgrade artver if the file was written by a newer one)"
        )
    if lines[-1] != "" or len(lines) < 3 or lines[-2] != "end":
        raise PointerError(f"{where}: truncated pointer file (it must end with a line 'end')")
    body = lines[1:-2]
    header: dict[str, str] = {}
    meta: dict[str, str] = {}
    entry_lines: list[str] | None = None
    for number, line in enumerate(body, start=2):
        if entry_lines is not None:
            entry_lines.append(line)
            continue
        if line == "entries:":
            entry_lines = []
            continue
        key, separator, value = line.partition(": ")
        if not separator:
            raise PointerError(f"{where}:{number}: malformed line {line[:120]!r} (expected 'key: value')")
        if key.startswith("meta."):
            name = check_meta_key(key[5:], f"{where}:{number}")
            if name in meta:
                raise PointerError(f"{where}:{number}: duplicate metadata key {name!r}")
            meta[name] = _parse_json_string(value, f"{where}:{number}")
            continue
        if key not in _HEADER_KEYS and key not in _SOURCE_KEYS:
            raise PointerError(f"{where}:{number}: unknown key {key[:60]!r}")
        if key in header:
            raise PointerError(f"{where}:{number}: duplicate key {key!r}")
        header[key] = value
    return _build(header, meta, entry_lines, where)


CONFLICT_MARKERS = ("<<<<<<<", "|||||||", "=======", ">>>>>>>")  # Git's, at any conflict-marker-size >= 7


def has_conflict_markers(lines: list[str]) -> bool:
    """Whether a merge left Git's conflict markers in these lines. No line of a pointer can
    start like that: header lines start with a key, listing lines with a hash."""
    return any(line.startswith(CONFLICT_MARKERS) for line in lines)


def conflict_message(where: str) -> str:
    # ``where`` is a pointer path in the workspace, or names a revision or the index ("REV:path",
    # "staged path"): only the first is what 'artver resolve' takes.
    plain = where.endswith(SUFFIX) and ":" not in where and " " not in where
    artifact = where[: -len(SUFFIX)] if plain else "PATH"
    return (
        f"{where}: unresolved merge conflict (the file holds Git's conflict markers); merge it with "
        f"'artver resolve {artifact}', or keep one side with 'artver resolve --ours {artifact}' (or --theirs), "
        f"then 'git add' the pointer"
    )


# Exactly one JSON string literal (RFC 8259), checked before json.loads sees the text: a value
# such as 100,000 nested brackets must be refused here, not by a RecursionError in the decoder.
_JSON_STRING = re.compile(r'"(?:[^"\\\x00-\x1f]++|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*+"')  # possessive: linear time


def _parse_json_string(value: str, where: str) -> str:
    if not _JSON_STRING.fullmatch(value):
        raise PointerError(f"{where}: value {value[:60]!r} must be a JSON string in double quotes")
    return check_text(json.loads(value), where)


def check_text(value: str, where: str) -> str:
    """A description or metadata value must be valid Unicode: a lone surrogate (which JSON's
    \\ud800 escape can produce) cannot be written as UTF-8, printed or stored."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        around = value[max(error.start - 20, 0) : error.end + 20]
        raise PointerError(
            f"{where}: text {around!r} is not valid Unicode text (a lone surrogate, or bytes that are not UTF-8)"
        ) from None
    return value


def _parse_size(value: str | None, key: str, where: str) -> int:
    if value is None:
        raise PointerError(f"{where}: missing '{key}'")
    if not _DECIMAL.fullmatch(value):
        raise PointerError(f"{where}: invalid {key} {value[:40]!r} (expected a whole number)")
    return int(value)


def _parse_hash(value: str | None, key: str, where: str) -> str:
    if value is None:
        raise PointerError(f"{where}: missing '{key}'")
    if not hashing.is_valid_hash(value):
        raise PointerError(f"{where}: invalid {key} {value[:80]!r} (expected 'xxh128:<32 hex>' or 'sha256:<64 hex>')")
    return value


def _build(header: dict[str, str], meta: dict[str, str], entry_lines: list[str] | None, where: str) -> Pointer:
    kind = header.get("kind")
    desc = _parse_json_string(header["desc"], where) if "desc" in header else None
    meta_items = tuple(sorted(meta.items()))
    source = _parse_source(header, where)

    def refuse_keys(*keys: str) -> None:
        for key in keys:
            if key in header:
                raise PointerError(f"{where}: key '{key}' does not belong in a {kind} pointer")

    if kind == "file":
        refuse_keys("listing", "count")
        if entry_lines is not None:
            raise PointerError(f"{where}: a file pointer has no 'entries:' section")
        return FilePointer(
            hash=_parse_hash(header.get("hash"), "hash", where),
            size=_parse_size(header.get("size"), "size", where),
            desc=desc,
            meta=meta_items,
            source=source,
        )
    if kind == "dir":
        refuse_keys("hash")
        if "listing" in header:
            if entry_lines is not None:
                raise PointerError(f"{where}: a pointer has either 'listing:' or 'entries:', not both")
            reference = ListingRef(
                hash=_parse_hash(header["listing"], "listing", where),
                count=_parse_size(header.get("count"), "count", where),
                size=_parse_size(header.get("size"), "size", where),
            )
            return DirPointer(reference, desc=desc, meta=meta_items, source=source)
        refuse_keys("count", "size")
        if entry_lines is None:
            raise PointerError(f"{where}: a dir pointer needs 'entries:' or 'listing:'")
        return DirPointer(InlineListing(listing.parse_lines(entry_lines, where)), desc=desc, meta=meta_items,
                          source=source)
    if kind is None:
        raise PointerError(f"{where}: missing 'kind'")
    raise PointerError(f"{where}: unknown kind {kind[:20]!r} (expected 'file' or 'dir')")


def _source_lines(source: Source) -> list[str]:
    check_source(source, "source")
    lines = [f"{SOURCE_REPO}: {json.dumps(source.repo, ensure_ascii=False)}"]
    if source.rev is not None:
        lines.append(f"{SOURCE_REV}: {json.dumps(source.rev, ensure_ascii=False)}")
    lines += [f"{SOURCE_COMMIT}: {source.commit}", f"{SOURCE_PATH}: {json.dumps(source.path, ensure_ascii=False)}"]
    return lines


def _parse_source(header: dict[str, str], where: str) -> Source | None:
    present = [key for key in _SOURCE_KEYS if key in header]
    if not present:
        return None
    for key in (SOURCE_REPO, SOURCE_COMMIT, SOURCE_PATH):
        if key not in header:
            raise PointerError(f"{where}: '{present[0]}' without '{key}' (an imported artifact's pointer names "
                               f"its source repository, commit and path)")
    rev = header.get(SOURCE_REV)
    source = Source(
        repo=_parse_json_string(header[SOURCE_REPO], where),
        rev=None if rev is None else _parse_json_string(rev, where),
        commit=header[SOURCE_COMMIT],
        path=_parse_json_string(header[SOURCE_PATH], where),
    )
    check_source(source, where)
    return source


def check_source(source: Source, where: str) -> Source:
    """Refuse provenance that could not have come from 'artver import', or that would make
    'artver update' run Git on something other than a repository: every field is later
    handed to Git (as arguments, never through a shell)."""
    check_source_repo(source.repo, f"{where}: {SOURCE_REPO}")
    if source.rev is not None:
        check_source_rev(source.rev, f"{where}: {SOURCE_REV}")
    if not _GIT_COMMIT.fullmatch(source.commit):
        raise PointerError(f"{where}: invalid {SOURCE_COMMIT} {source.commit[:80]!r} (expected a full Git commit "
                           f"id: 40 or 64 lowercase hex digits)")
    check_artifact_path(source.path, f"{where}: {SOURCE_PATH}")
    return source


def check_source_rev(rev: str, where: str) -> str:
    if not rev or len(rev) > MAX_SOURCE_REV_CHARS or rev.startswith("-") or not rev.isprintable():
        raise PointerError(f"{where}: invalid revision {rev[:80]!r} (a branch, tag or commit of at most "
                           f"{MAX_SOURCE_REV_CHARS} printable characters, not starting with '-')")
    return rev


def check_source_repo(repo: str, where: str) -> str:
    """A source repository is an absolute path, a URL with a scheme Git serves itself
    (https, http, ssh, git, file), or the scp-like ``[user@]host:path``. Refused: Git's
    ``transport::address`` form and unknown schemes (they run a remote helper program),
    anything starting with '-' (an option to Git), control characters, and a password
    in the URL (it would be committed)."""
    if not repo or len(repo) > MAX_SOURCE_REPO_CHARS or not repo.isprintable():
        raise PointerError(f"{where}: invalid repository {repo[:80]!r} (a Git URL or an absolute path of at most "
                           f"{MAX_SOURCE_REPO_CHARS} printable characters)")
    if repo.startswith("-"):
        raise PointerError(f"{where}: repository {repo[:80]!r} starts with '-'")
    if repo.startswith("/"):
        return repo
    if "::" in repo.split("/", 1)[0]:
        raise PointerError(f"{where}: repository {repo[:80]!r} uses Git's 'transport::address' form, which runs a "
                           f"helper program; use an https://, ssh:// or git:// URL or a path")
    scheme = _URL_SCHEME.match(repo)
    if scheme is not None:
        if scheme.group(1).lower() not in _SOURCE_SCHEMES:
            raise PointerError(f"{where}: unsupported repository URL scheme '{scheme.group(1)}://' "
                               f"(use {', '.join(name + '://' for name in _SOURCE_SCHEMES[:4])} or file://)")
        authority = repo[scheme.end():].split("/", 1)[0]
        if ":" in authority.rpartition("@")[0]:
            raise PointerError(f"{where}: the repository URL holds a password, which would be committed; "
                               f"remove it and let Git's credential helper supply it")
        return repo
    if _SCP_LIKE.match(repo):
        return repo
    raise PointerError(f"{where}: repository {repo[:80]!r} is neither a URL nor an absolute path")


def read_pointer(path: Path, where: str) -> Pointer:
    try:
        size = path.stat().st_size
        if size > MAX_POINTER_BYTES:
            raise PointerError(f"{where}: {size} bytes is too large to be an artver pointer file")
        data = path.read_bytes()
    except PointerError:
        raise
    except IsADirectoryError:
        raise PointerError(f"{where}: is a directory, not an artver pointer file") from None
    except OSError as error:
        raise PointerError(f"{where}: cannot read pointer file ({error.strerror})") from None
    return parse_pointer(data, where)


def write_pointer(path: Path, pointer: Pointer) -> bool:
    """Write atomically; return False (and touch nothing) if the file already says the same."""
    data = format_pointer(pointer)
    try:
        if path.read_bytes() == data:
            return False
    except OSError:
        pass
    atomic_write_bytes(path, data)
    return True
