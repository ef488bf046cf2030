"""artver publish: the artifacts of one commit, as a ModelPack OCI artifact in a registry.

Order of work, so that nothing half-written is ever visible under the tag:

1. Everything that can be refused locally is checked first: the reference, the
   revision, the artifacts and their layer types, the credentials files.
2. The registry is asked whether the tag exists. If it points to another
   manifest, publish stops unless ``--force`` (if it already points to this
   very manifest, there is nothing to do).
3. Each layer whose sha256 is known (the digest index, or a sha256 repository)
   is looked up (HEAD) and skipped if present, or mounted from another
   repository of the same registry it was published to. The cache objects of
   the layers still to send must all be in the cache (else: fetch first), and
   are verified before they are read.
4. The missing blobs are uploaded, streamed from the cache, their sha256
   computed as they go; then the config blob.
5. The manifest is put under the tag, last. A kill or failure before this
   leaves at most blobs no tag refers to; the tag keeps what it pointed to.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from artver import file_lock, hashing, history, verification
from artver import pointer as pointer_module
from artver.artifacts import Tracked, artifact_of_argument, content_hash_of, entries_of, open_stats
from artver.errors import IntegrityError, ObjectMissingError, UsageError
from artver.history import snapshot
from artver.modelpack import (
    CONFIG_MEDIA_TYPE,
    BytesPart,
    Descriptor,
    LayerPlan,
    Part,
    PartsSource,
    config_bytes,
    file_parts,
    manifest_bytes,
    objects_of,
    plan_layer,
    tar_parts,
    timestamp,
)
from artver.oci import DEFAULT_CHUNK_SIZE, MAX_MANIFEST_BYTES, DigestMismatch, Registry
from artver.oci_credentials import find_credentials
from artver.oci_digests import DigestIndex
from artver.oci_reference import parse_reference
from artver.progress import NO_PROGRESS, Progress
from artver.repo import Repo
from artver.statcache import StatCache

MIN_CHUNK_SIZE = 64 * 1024
MAX_MOUNT_SOURCES = 8  # repositories asked to share a blob, at most, per publish
_SCP_LIKE = re.compile(r"[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^\s]+")


@dataclass(frozen=True)
class PublishedLayer:
    path: str
    kind: str
    media_type: str
    digest: str
    size: int
    action: str  # "uploaded" | "present" (already in the repository) | "mounted" (from another repository)


@dataclass(frozen=True)
class PublishResult:
    reference: str
    manifest: str  # digest of the manifest the tag now points to
    commit: str
    revision: str
    tag: str  # "created" | "unchanged" (already pointed here) | "moved" (--force)
    layers: tuple[PublishedLayer, ...]
    uploaded_bytes: int


def publish(
    repo: Repo,
    reference_text: str,
    paths: list[str] | None = None,
    revision: str | None = None,
    insecure: bool = False,
    force: bool = False,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: Progress = NO_PROGRESS,
    environ: Mapping[str, str] | None = None,
) -> PublishResult:
    reference = parse_reference(reference_text)
    if chunk_size < MIN_CHUNK_SIZE:
        raise UsageError(f"--chunk-size must be at least {MIN_CHUNK_SIZE // 1024} KiB")
    rev = revision or "HEAD"
    credentials = find_credentials(reference.registry, environ)
    with file_lock.locked(repo.lock_path, repo.lock_timeout):
        git = history.open_git(repo.root)
        commit = history.resolve(git, rev)
        commit_id = commit.id.decode("ascii")
        created = timestamp(commit.commit_time)
        source_url = public_url(_origin_url(git))
        items = _select(repo, snapshot(repo, rev, git), paths, rev)
        plans = [plan_layer(item, content_hash_of(item, repo), created) for item in items]
        with DigestIndex(repo.cache.root) as index, open_stats(repo) as stats:
            job = _Job(repo, reference.registry, reference.repository, rev, index, stats, progress)
            known = {plan.path: job.known_digest(plan) for plan in plans}
            sources = job.mount_sources(known)
            name = reference.repository.rsplit("/", 1)[-1]
            _check_manifest_size(plans, name, commit_id, created, source_url)
            with Registry(reference.api_host, reference.repository, credentials, insecure, sources, chunk_size=chunk_size) as registry:
                registry.ping()
                existing = registry.manifest_digest(reference.tag)
                if existing is not None and not force:
                    # Same manifest already there? Compute the digests not yet known (reading, not sending).
                    digests = [known[plan.path] or job.hash_locally(plan) for plan in plans]
                    _, _, manifest = _documents(plans, digests, name, commit_id, created, source_url)
                    ours = hashing.hash_bytes(manifest, "sha256")
                    if ours != existing:
                        raise UsageError(
                            f"{reference}: the tag already points to another manifest ({existing}); publish under "
                            f"a new tag, or add --force to move it"
                        )
                    layers = tuple(_published(plan, digest, "present") for plan, digest in zip(plans, digests))
                    return PublishResult(str(reference), ours, commit_id, rev, "unchanged", layers, 0)
                done = job.send_layers(registry, plans, known)
                digests = [(layer.digest, layer.size) for layer in done]
                config, config_descriptor, manifest = _documents(plans, digests, name, commit_id, created, source_url)
                if registry.blob_size(config_descriptor.digest) is None and not job.mount(registry, config_descriptor.digest):
                    registry.upload(PartsSource((BytesPart(config),)), config_descriptor.digest, "the config blob")
                index.record_place(config_descriptor.digest, reference.registry, reference.repository)
                digest = registry.put_manifest(reference.tag, manifest)
    state = "created" if existing is None else ("unchanged" if existing == digest else "moved")
    return PublishResult(str(reference), digest, commit_id, rev, state, tuple(done), job.uploaded)


def _published(plan: LayerPlan, digest: tuple[str, int], action: str) -> PublishedLayer:
    return PublishedLayer(plan.path, plan.kind, plan.media_type, digest[0], digest[1], action)


def _documents(
    plans: list[LayerPlan], digests: list[tuple[str, int]], name: str, commit: str, created: str, source: str | None
) -> tuple[bytes, Descriptor, bytes]:
    config = config_bytes(name, commit, created, source, [digest for digest, _ in digests])
    config_descriptor = Descriptor(CONFIG_MEDIA_TYPE, hashing.hash_bytes(config, "sha256"), len(config))
    layers = [Descriptor(plan.media_type, digest, size, plan.annotations) for plan, (digest, size) in zip(plans, digests)]
    return config, config_descriptor, manifest_bytes(config_descriptor, layers, commit, created, source)


def _check_manifest_size(plans: list[LayerPlan], name: str, commit: str, created: str, source: str | None) -> None:
    """Refuse before sending anything a manifest registries would refuse (digests have a fixed length)."""
    placeholder = ("sha256:" + "0" * 64, 10**15)
    _, _, manifest = _documents(plans, [placeholder] * len(plans), name, commit, created, source)
    if len(manifest) > MAX_MANIFEST_BYTES:
        raise UsageError(
            f"the manifest would be {len(manifest)} bytes, over the {MAX_MANIFEST_BYTES // (1024 * 1024)} MiB registries "
            f"accept; publish fewer artifacts at once, or shorten their descriptions and metadata"
        )


def _select(repo: Repo, pointers: dict[str, Tracked], paths: list[str] | None, rev: str) -> list[Tracked]:
    if not paths:
        if not pointers:
            raise UsageError(f"no artifacts are tracked at {rev}; nothing to publish")
        return [pointers[path] for path in sorted(pointers)]
    chosen: dict[str, Tracked] = {}
    for user_path in paths:
        wanted = artifact_of_argument(repo, user_path)
        matches = [path for path in pointers if wanted == "." or path == wanted or path.startswith(wanted + "/")]
        if not matches:
            raise UsageError(f"{user_path}: not a tracked artifact at {rev} (no {wanted}{pointer_module.SUFFIX} there)")
        chosen.update((path, pointers[path]) for path in matches)
    return [chosen[path] for path in sorted(chosen)]


def _origin_url(git: object) -> str | None:
    try:
        value = git.get_config().get((b"remote", b"origin"), b"url")  # type: ignore[attr-defined]  # dulwich's config stub lacks the tuple-section get
    except KeyError:
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else None


def public_url(url: str | None) -> str | None:
    """The Git repository's URL as it may be published: without credentials, query or fragment;
    None for a local path (it means nothing elsewhere, and may name a user's home)."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme in ("http", "https", "ssh", "git") and parts.hostname:
        host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        netloc = host + (f":{parts.port}" if parts.port else "")
        if parts.scheme in ("ssh", "git") and parts.username:
            netloc = f"{parts.username}@{netloc}"  # ssh://git@host/...: a login name, never a secret
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    if _SCP_LIKE.fullmatch(url):
        return url
    return None


class _Job:
    """The work of one publish: which digests are known, which objects to read, what was sent."""

    def __init__(self, repo: Repo, registry: str, repository: str, rev: str, index: DigestIndex, stats: StatCache,
                 progress: Progress) -> None:
        self.repo = repo
        self.registry = registry
        self.repository = repository
        self.rev = rev
        self.index = index
        self.stats = stats
        self.progress = progress
        self.uploaded = 0

    def known_digest(self, plan: LayerPlan) -> tuple[str, int] | None:
        """(sha256 digest, size) without reading the content, if it can be known."""
        pointer = plan.tracked.pointer
        if isinstance(pointer, pointer_module.FilePointer) and hashing.algorithm_of(plan.content_hash) == "sha256":
            return plan.content_hash, pointer.size  # a sha256 repository: the object hash is the digest
        return self.index.lookup(plan.index_key)

    def mount_sources(self, known: dict[str, tuple[str, int] | None]) -> tuple[str, ...]:
        found: list[str] = []
        for digest in known.values():
            if digest is not None:
                found += [place for place in self.index.places(digest[0], self.registry) if place != self.repository]
        return tuple(dict.fromkeys(found))[:MAX_MOUNT_SOURCES]

    def mount(self, registry: Registry, digest: str) -> bool:
        """Have the registry share a blob from a repository it was published to before; True if it did."""
        for place in self.index.places(digest, self.registry):
            if place != self.repository and place in registry.mount_sources and registry.mount(digest, place):
                self.index.record_place(digest, self.registry, self.repository)
                return True
        return False

    def parts(self, plan: LayerPlan) -> tuple[Part, ...]:
        """The layer's bytes, as parts; every object they read is in the cache and verified."""
        pointer = plan.tracked.pointer
        if isinstance(pointer, pointer_module.FilePointer):
            parts = file_parts(self.repo.cache.path_of(pointer.hash), pointer.size, pointer.hash)
        else:
            try:
                entries = entries_of(self.repo, pointer, plan.tracked.pointer_path)
            except ObjectMissingError:
                raise ObjectMissingError(
                    f"{plan.path}: its listing {hashing.short(plan.content_hash)} is not in the local cache; "
                    f"run 'artver fetch --rev {self.rev}' first"
                ) from None
            parts = tar_parts(plan.path, entries, self.repo.cache.path_of)
        self._check_objects(plan, objects_of(parts))
        return parts

    def _check_objects(self, plan: LayerPlan, objects: list[str]) -> None:
        present = self.repo.cache.present(objects)
        missing = [item for item in objects if item not in present]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise ObjectMissingError(
                f"{plan.path}: object {hashing.short(missing[0])}{more} is not in the local cache; "
                f"run 'artver fetch --rev {self.rev}' first"
            )
        verified = self.stats.verified_among(objects)
        for item in objects:
            try:
                intact = verification.check(self.repo, self.stats, item, verified)
            except FileNotFoundError:
                raise ObjectMissingError(f"{plan.path}: object {hashing.short(item)} left the cache while being checked") from None
            if intact is None:
                raise IntegrityError(
                    f"{plan.path}: cache object {hashing.short(item)} was corrupt and has been quarantined; "
                    f"run 'artver fetch --rev {self.rev}' to get it again"
                )

    def hash_locally(self, plan: LayerPlan) -> tuple[str, int]:
        source = PartsSource(self.parts(plan))
        hasher = hashing.new_hasher("sha256")
        reader = source.open_at(0)
        try:
            while data := reader.read(1024 * 1024):
                hasher.update(data)
        finally:
            reader.close()
        digest = f"sha256:{hasher.hexdigest()}"
        self.index.record(plan.index_key, digest, source.size)
        return digest, source.size

    def send_layers(self, registry: Registry, plans: list[LayerPlan], known: dict[str, tuple[str, int] | None]) -> list[PublishedLayer]:
        done: dict[str, PublishedLayer] = {}
        to_send: list[tuple[LayerPlan, tuple[str, int] | None]] = []
        for plan in plans:
            digest = known[plan.path]
            if digest is not None:
                if registry.blob_size(digest[0]) is not None:
                    done[plan.path] = _published(plan, digest, "present")
                    self.index.record_place(digest[0], self.registry, self.repository)
                    continue
                if self.mount(registry, digest[0]):
                    done[plan.path] = _published(plan, digest, "mounted")
                    continue
            to_send.append((plan, digest))
        sources = [(plan, digest, PartsSource(self.parts(plan))) for plan, digest in to_send]  # all checked first
        self.progress.start("Publishing", sum(source.size for _, _, source in sources))
        sent_by_key: dict[str, str] = {}  # two artifacts with the same content are one blob
        try:
            for plan, digest, source in sources:
                if plan.index_key in sent_by_key:
                    done[plan.path] = _published(plan, (sent_by_key[plan.index_key], source.size), "present")
                    continue
                sent = sent_by_key[plan.index_key] = self._upload(registry, plan, digest, source)
                done[plan.path] = _published(plan, (sent, source.size), "uploaded")
                self.uploaded += source.size
        finally:
            self.progress.finish()
        return [done[plan.path] for plan in plans]

    def _upload(self, registry: Registry, plan: LayerPlan, digest: tuple[str, int] | None, source: PartsSource) -> str:
        expected = digest[0] if digest is not None and digest[1] == source.size else None
        try:
            sent = registry.upload(source, expected, plan.path, self.progress)
        except DigestMismatch:
            if expected is None or plan.kind == "file" and hashing.algorithm_of(plan.content_hash) == "sha256":
                raise
            self.index.forget(plan.index_key)  # a stale remembered digest: compute it while sending instead
            sent = registry.upload(source, None, plan.path, self.progress)
        self.index.record(plan.index_key, sent, source.size)
        self.index.record_place(sent, self.registry, self.repository)
        return sent
