"""Remotes: parse a remote's URL and open the backend that serves it.

Backends are imported only when used, so commands that never touch a remote do
not pay for importing boto3 or google-cloud-storage.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from artver.config import Config
from artver.errors import ConfigError, UsageError
from artver.remote_label import RemoteLabel
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

    def describe(self) -> RemoteLabel:
        return RemoteLabel(self.name, self.url)


_BUCKET = re.compile(r"[A-Za-z0-9._-]{1,255}")  # S3 (legacy names too) and GCS bucket names: never ':' or '@'
_CREDENTIALS = "credentials do not belong in the URL (it is committed); use 'artver remote modify {name} KEY VALUE --local'"


def _printable(value: str) -> bool:
    return value.isprintable() and not any(character.isspace() for character in value)


def is_directory(url: str) -> bool:
    """Whether a remote URL is a directory path rather than SCHEME://... (a one-letter scheme
    is a Windows drive letter)."""
    return len(urlsplit(url).scheme) <= 1


def _url_problem(name: str, url: str) -> str | tuple[str, str, str]:
    """(scheme, bucket or directory, prefix) of a remote URL, or what is wrong with it. A
    problem never quotes a part of the URL that could be a credential."""
    if not url:
        return "empty URL"
    if not url.isprintable():
        return "the URL contains a control character"
    parts = urlsplit(url)
    if is_directory(url):
        return "file", os.path.expanduser(url), ""
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        return (
            f"unsupported URL scheme '{scheme}://'; use s3://BUCKET/PREFIX, gs://BUCKET/PREFIX, "
            f"file:///PATH or a directory path"
        )
    if "@" in parts.netloc or (scheme != "file" and ":" in parts.netloc):
        return _CREDENTIALS.format(name=name)
    if parts.query or parts.fragment:
        return "the URL must not have a query (?...) or a fragment (#...)"
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            return "file URLs must be file:///absolute/path"
        return "file", unquote(parts.path), ""
    if not parts.netloc:
        return f"{url!r} has no bucket; use {scheme}://BUCKET/PREFIX"
    if not _BUCKET.fullmatch(parts.netloc):
        return f"the bucket name in {scheme}://BUCKET/PREFIX may contain only letters, digits, '.', '-' and '_'"
    return scheme, parts.netloc, parts.path.strip("/")


def _endpoint_problem(name: str, value: str) -> str | None:
    """What is wrong with an S3 ``endpoint_url``, or None; never quotes the value."""
    if not value:
        return None  # the same as unset: boto3's own endpoint
    if "@" in value:
        return (
            f"credentials do not belong in endpoint_url; keep them in the environment or "
            f"use 'artver remote modify {name} access_key_id ... --local'"
        )
    if not _printable(value):
        return "endpoint_url contains a space or a control character"
    parts = urlsplit(value)
    example = "e.g. https://s3.example.com:8333"
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return f"endpoint_url must be an http:// or https:// URL with a host, {example}"
    try:
        _ = parts.port  # raises ValueError unless the port is a number from 0 to 65535
    except ValueError:
        return f"endpoint_url has an invalid port, {example}"
    if parts.query or parts.fragment:
        return "endpoint_url must not have a query (?...) or a fragment (#...)"
    return None


def url_setting_problem(name: str, key: str, value: str) -> str | None:
    """The one checked parse of a URL-valued remote setting (config.URL_KEYS), used by
    'remote add/modify' and by every command that reads a hand-edited config."""
    if key == "url":
        parsed = _url_problem(name, value)
        return parsed if isinstance(parsed, str) else None
    if key == "endpoint_url":
        return _endpoint_problem(name, value)
    return None


def check_url_setting(name: str, key: str, value: str) -> None:
    problem = url_setting_problem(name, key, value)
    if problem is not None:
        raise UsageError(f"remote '{name}': {problem}")


def parse_url(name: str, url: str, base: Path) -> RemoteSpec:
    """Accept s3://bucket/prefix, gs://bucket/prefix, file:///path, or a plain path (relative to ``base``)."""
    parsed = _url_problem(name, url)
    if isinstance(parsed, str):
        raise UsageError(f"remote '{name}': {parsed}")
    scheme, where, prefix = parsed
    if scheme == "file":
        directory = Path(where)
        return RemoteSpec(name, url, "file", str(directory if directory.is_absolute() else base / directory), "")
    return RemoteSpec(name, url, scheme, where, prefix)


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
        raise ConfigError(missing_remote_message(config, chosen))
    return parse_url(chosen, url, base)


def missing_remote_message(config: Config, name: str) -> str:
    """Why remote ``name`` cannot be used: unknown, or known only by settings without a URL
    (a clone whose config.local has its credentials, at a revision whose committed config
    predates the remote)."""
    section = f"remote.{name}"
    settings = config.raw_section(section)
    if settings:
        files = " and ".join(sorted({config.where(section, key) for key in settings}))
        return (
            f"remote '{name}' has no URL: {files} sets its {', '.join(sorted(settings))} but no config file "
            f"sets its url (the committed .artver/config of this revision may predate the remote); add it for "
            f"this clone with 'artver remote add {name} URL --local', or check out a revision that has it"
        )
    complete = [known for known in config.sections("remote") if config.values.get((f"remote.{known}", "url"))]
    return f"no remote named '{name}' (configured: {', '.join(complete) or 'none'}); see 'artver remote list'"


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
