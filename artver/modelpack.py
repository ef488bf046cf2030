"""Artifacts of one commit as a CNCF ModelPack OCI artifact: layers, config and manifest.

The format (modelpack/model-spec, docs/spec.md and docs/config.md) is an OCI
image manifest with ``artifactType`` ``application/vnd.cncf.model.manifest.v1+json``,
a config blob of type ``application/vnd.cncf.model.config.v1+json`` and one
layer per artifact:

* a tracked **file** is a *raw* layer (``application/vnd.cncf.model.<type>.v1.raw``):
  the blob is the file's bytes, unchanged, so its digest is the file's sha256;
* a tracked **directory** is an uncompressed *tar* layer
  (``application/vnd.cncf.model.<type>.v1.tar``) holding its files under the
  artifact's repository path.

``<type>`` is ``weight`` unless the pointer's metadata says otherwise
(``artver add --meta modelpack.type=dataset``: one of weight, weight.config,
doc, code, dataset). Every layer carries ``org.cncf.model.filepath`` (the
artifact's repository path; KitOps reads ModelPack artifacts through it) and
the pointer's hash, description and metadata as ``dev.artver.*`` annotations;
the manifest carries the commit, the Git repository's URL and the commit
time as ``org.opencontainers.image.*`` annotations. The config's
``additionalProperties`` are closed by the spec's schema, so artver's own data
is only in annotations.

Everything is derived from the commit: no clock, no user or machine name, so
the same commit published again gives the same manifest digest. Tar layers
follow the spec's reproducibility guidance (entries in lexicographic order,
mode 0644/0755, uid/gid 0, mtime 0, no user or group names, PAX headers only
where a name or size needs them).
"""

from __future__ import annotations

import bisect
import json
import posixpath
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from artver import hashing
from artver.artifacts import Tracked
from artver.errors import CacheError, IntegrityError, PointerError
from artver.listing import Entry
from artver.pointer import FilePointer, Kind

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
ARTIFACT_TYPE = "application/vnd.cncf.model.manifest.v1+json"
CONFIG_MEDIA_TYPE = "application/vnd.cncf.model.config.v1+json"
LAYER_TYPES = ("weight", "weight.config", "doc", "code", "dataset")
DEFAULT_LAYER_TYPE = "weight"
TYPE_META_KEY = "modelpack.type"
FILEPATH = "org.cncf.model.filepath"
FILE_METADATA = "org.cncf.model.file.metadata+json"
ARTVER = "dev.artver."  # namespace of artver's own annotations
TAR_LAYOUT = 1  # bump when the bytes of a directory's tar change, so remembered digests are not reused
TAR_BLOCK = 512
_TAR_TRAILER = b"\0" * (2 * TAR_BLOCK)
_REGULAR_TYPEFLAG = ord("0")


@dataclass(frozen=True)
class BytesPart:
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)

    def bytes(self) -> bytes:
        return self.data


@dataclass(frozen=True)
class HeaderPart:
    """A tar header, built when read: a directory of a million files must not hold them all."""

    name: str
    size: int  # of the member's content (0 for a folder)
    mode: int
    folder: bool

    def bytes(self) -> bytes:
        info = tarfile.TarInfo(self.name)
        info.size, info.mode, info.mtime = self.size, self.mode, 0
        info.type = tarfile.DIRTYPE if self.folder else tarfile.REGTYPE
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info.tobuf(format=tarfile.PAX_FORMAT, encoding="utf-8", errors="strict")

    @property
    def length(self) -> int:
        shown = self.name + ("/" if self.folder else "")
        if shown.isascii() and len(shown) <= 100 and self.size < 8**11:
            return TAR_BLOCK  # a plain ustar header: no PAX record needed
        return len(self.bytes())


@dataclass(frozen=True)
class FilePart:
    path: str  # the cache object's file
    size: int
    object: str  # its hash


Part = BytesPart | HeaderPart | FilePart


def part_size(part: Part) -> int:
    return part.length if isinstance(part, HeaderPart) else part.size


class PartsSource:
    """A blob made of parts, readable from any offset (implements oci.BlobSource)."""

    def __init__(self, parts: tuple[Part, ...]) -> None:
        self.parts = parts
        self.starts: list[int] = []
        total = 0
        for part in parts:
            self.starts.append(total)
            total += part_size(part)
        self.size = total

    def open_at(self, offset: int) -> PartsReader:
        return PartsReader(self, offset)


class PartsReader:
    def __init__(self, source: PartsSource, offset: int) -> None:
        self.source = source
        self.index = max(0, bisect.bisect_right(source.starts, offset) - 1)
        self.within = offset - source.starts[self.index] if source.parts else 0
        self.handle: object = None  # the open cache object of the current part, if it is a file

    def read(self, amount: int) -> bytes:
        parts = self.source.parts
        while self.index < len(parts):
            part = parts[self.index]
            size = part_size(part)
            if self.within >= size:
                self._next()
                continue
            count = min(amount, size - self.within)
            if isinstance(part, FilePart):
                data = self._file(part).read(count)
                if not data:
                    raise IntegrityError(
                        f"cache object {hashing.short(part.object)} is shorter than its size ({part.size} bytes); "
                        f"run 'artver verify'"
                    )
            else:
                data = part.bytes()[self.within : self.within + count]
            self.within += len(data)
            return data
        return b""

    def _file(self, part: FilePart):
        if self.handle is None:
            try:
                handle = open(part.path, "rb", buffering=0)  # noqa: SIM115 - closed in _next/close
            except FileNotFoundError:
                raise CacheError(f"cache object {hashing.short(part.object)} disappeared while being read") from None
            handle.seek(self.within)
            self.handle = handle
        return self.handle

    def _next(self) -> None:
        self.close()
        self.index += 1
        self.within = 0

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()  # type: ignore[attr-defined]  # the handle is a file object or None until opened; closed only once opened
            self.handle = None


@dataclass(frozen=True)
class LayerPlan:
    """One artifact as a layer, before its bytes are read."""

    path: str
    kind: Kind
    media_type: str
    content_hash: str  # the pointer's hash, or the directory's identity
    index_key: str  # what the digest index knows this blob by
    annotations: tuple[tuple[str, str], ...]
    tracked: Tracked


def layer_type(tracked: Tracked) -> str:
    value = dict(tracked.pointer.meta).get(TYPE_META_KEY, DEFAULT_LAYER_TYPE)
    if value not in LAYER_TYPES:
        raise PointerError(
            f"{tracked.pointer_path}: meta.{TYPE_META_KEY} is {value[:40]!r}; use one of {', '.join(LAYER_TYPES)}"
        )
    return value


def plan_layer(tracked: Tracked, content_hash: str, created: str) -> LayerPlan:
    pointer = tracked.pointer
    kind = layer_type(tracked)
    annotations: list[tuple[str, str]] = [(FILEPATH, tracked.path)]
    if isinstance(pointer, FilePointer):
        media_type = f"application/vnd.cncf.model.{kind}.v1.raw"
        index_key = content_hash
        metadata = {
            "name": posixpath.basename(tracked.path), "mode": 0o644, "uid": 0, "gid": 0,
            "size": pointer.size, "mtime": created, "typeflag": _REGULAR_TYPEFLAG,
        }
        annotations.append((FILE_METADATA, json.dumps(metadata, separators=(",", ":"))))
    else:
        media_type = f"application/vnd.cncf.model.{kind}.v1.tar"
        index_key = f"tar{TAR_LAYOUT}:{content_hash}"
    annotations.append((ARTVER + "hash", content_hash))
    if pointer.desc is not None:
        annotations.append((ARTVER + "desc", pointer.desc))
    annotations += [(f"{ARTVER}meta.{key}", value) for key, value in pointer.meta]
    return LayerPlan(tracked.path, pointer.kind, media_type, content_hash, index_key, tuple(annotations), tracked)


def file_parts(path: str, size: int, hash_value: str) -> tuple[Part, ...]:
    return (FilePart(path, size, hash_value),)


def tar_parts(root: str, entries: Iterable[Entry], object_path: object) -> tuple[Part, ...]:
    """The tar of a directory: its files under ``root/``, with a header for every folder.
    ``object_path`` maps an object hash to its cache file (Cache.path_of)."""
    parts: list[Part] = []
    folders: set[str] = set()

    def folder(name: str) -> None:
        missing = []
        while name and name not in folders:
            missing.append(name)
            folders.add(name)
            name = posixpath.dirname(name)
        parts.extend(HeaderPart(item, 0, 0o755, True) for item in reversed(missing))

    folder(root)
    for entry in entries:
        name = f"{root}/{entry.path}"
        folder(posixpath.dirname(name))
        parts.append(HeaderPart(name, entry.size, 0o755 if entry.executable else 0o644, False))
        if entry.size:
            parts.append(FilePart(object_path(entry.hash), entry.size, entry.hash))  # type: ignore[operator]  # object_path is set for every plan that has directory entries
            padding = -entry.size % TAR_BLOCK
            if padding:
                parts.append(BytesPart(b"\0" * padding))
    parts.append(BytesPart(_TAR_TRAILER))
    return tuple(parts)


def objects_of(parts: Iterable[Part]) -> list[str]:
    return list(dict.fromkeys(part.object for part in parts if isinstance(part, FilePart)))


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    annotations: tuple[tuple[str, str], ...] = ()

    def document(self) -> dict[str, object]:
        found: dict[str, object] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.annotations:
            found["annotations"] = dict(self.annotations)
        return found


def timestamp(seconds: int) -> str:
    """RFC 3339, UTC, whole seconds: how commit times appear in configs and annotations."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def config_bytes(name: str, commit: str, created: str, source: str | None, diff_ids: list[str]) -> bytes:
    descriptor: dict[str, object] = {"createdAt": created, "name": name, "revision": commit}
    if source:
        descriptor["sourceURL"] = source
    document = {"descriptor": descriptor, "config": {}, "modelfs": {"type": "layers", "diffIds": diff_ids}}
    return _canonical(document)


def manifest_bytes(config: Descriptor, layers: list[Descriptor], commit: str, created: str, source: str | None) -> bytes:
    annotations = {"org.opencontainers.image.created": created, "org.opencontainers.image.revision": commit}
    if source:
        annotations["org.opencontainers.image.source"] = source
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": ARTIFACT_TYPE,
        "config": config.document(),
        "layers": [layer.document() for layer in layers],
        "annotations": annotations,
    }
    return _canonical(document)


def _canonical(document: object) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
