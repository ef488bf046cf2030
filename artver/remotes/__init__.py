"""Remotes: parse a remote's URL and open the backend that serves it.

Backends are imported only when used, so commands that never touch a remote do
not pay for importing boto3 or google-cloud-storage.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import unquote, urlsplit

from artver.config import Config
from artver.errors import ConfigError, UsageError
from artver.remotes.base import Storage

SCHEMES = ("s3", "gs", "file")
LINK_CHOICES = ("copy", "hardlink")  # remote.NAME.link, for directory remotes; the first is the default


@dataclass(frozen=True)
class RemoteSpec:
    name: str
    url: str
    scheme: str  # s3, gs or file
    bucket: str  # s3/gs bucket; for file: the directory
    prefix: str  # key prefix inside the bucket, no leading/trailing '/'

    def describe(self) -> str:
        return f"remote '{self.name}' ({self.url})"


def parse_url(name: str, url: str, base: Path) -> RemoteSpec:
    """Accept s3://bucket/prefix, gs://bucket/prefix, file:///path, or a plain path (relative to ``base``)."""
    if not url:
        raise UsageError(f"remote '{name}': empty URL")
    parts = urlsplit(url)
    if len(parts.scheme) > 1:
        scheme = parts.scheme.lower()
        if scheme not in SCHEMES:
            raise UsageError(
                f"remote '{name}': unsupported URL scheme '{scheme}://'; use s3://BUCKET/PREFIX, gs://BUCKET/PREFIX, "
                f"file:///PATH or a directory path"
            )
        if parts.username or parts.password:
            raise UsageError(
                f"remote '{name}': credentials do not belong in the URL (it is committed); "
                f"use 'artver remote modify {name} KEY VALUE --local'"
            )
        if parts.query or parts.fragment:
            raise UsageError(f"remote '{name}': URL {url!r} must not have a query or fragment")
        if scheme == "file":
            if parts.netloc not in ("", "localhost"):
                raise UsageError(f"remote '{name}': file URLs must be file:///absolute/path")
            return RemoteSpec(name, url, "file", str(Path(unquote(parts.path))), "")
        if not parts.netloc:
            raise UsageError(f"remote '{name}': {url!r} has no bucket; use {scheme}://BUCKET/PREFIX")
        return RemoteSpec(name, url, scheme, parts.netloc, parts.path.strip("/"))
    directory = Path(os.path.expanduser(url))
    return RemoteSpec(name, url, "file", str(directory if directory.is_absolute() else base / directory), "")


def spec_of(config: Config, name: str | None, base: Path) -> RemoteSpec:
    """The named remote, or the default one."""
    chosen = name or config.get("core", "remote")
    if not chosen:
        known = config.sections("remote")
        if len(known) == 1:
            chosen = known[0]
        else:
            hint = " (or pick one with -r NAME)" if known else ""
            raise ConfigError(
                f"no default remote; add one with 'artver remote add NAME URL --default'{hint}"
            )
    url = config.get(f"remote.{chosen}", "url")
    if url is None:
        known = ", ".join(config.sections("remote")) or "none"
        raise ConfigError(f"no remote named '{chosen}' (configured: {known}); see 'artver remote list'")
    return parse_url(chosen, url, base)


def _may_share_inodes(config: Config, settings: dict[str, str]) -> bool:
    """Whether a directory remote on the cache's filesystem may hard-link objects to and
    from the cache (remote.NAME.link = hardlink; off by default, as the remote then stops
    being a second copy: damage to one name is damage to both). Never when the workspace
    itself shares the cache's inodes (cache.link hardlink or symlink): an in-place edit of a
    workspace file would then reach the remote."""
    if settings.get("link", LINK_CHOICES[0]) != "hardlink":
        return False
    from artver.workspace import parse_link_modes

    # As configured (privileged=False: root's copies do not undo the links other users' runs made).
    return not {"hardlink", "symlink"} & set(parse_link_modes(config.get("cache", "link"), privileged=False))


def open_storage(spec: RemoteSpec, config: Config, jobs: int, notify: Callable[[str], None] | None = None) -> Storage:
    """The backend serving the remote (it does not retry: see remotes/retry.py). ``notify``
    receives details only shown with -v, such as a slower request path being taken."""
    settings = config.section(f"remote.{spec.name}")
    if spec.scheme == "file":
        from artver.remotes.local import LocalStorage

        return LocalStorage(Path(spec.bucket), spec.describe(), share_inodes=_may_share_inodes(config, settings))
    if spec.scheme == "s3":
        from artver.remotes.s3 import S3Storage

        return S3Storage(spec.describe(), spec.bucket, spec.prefix, settings, jobs, notify)
    from artver.remotes.gcs import GcsStorage

    return GcsStorage(spec.describe(), spec.bucket, spec.prefix, settings)
