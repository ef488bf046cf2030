"""Image references: ``REGISTRY/REPOSITORY:TAG``, parsed and checked before anything is sent.

The grammar is the one of the OCI distribution specification and of Docker's
reference parser: a registry host (with an optional port) that must be named
explicitly, a lowercase repository path, and a tag of at most 128 letters,
digits, ``_``, ``.`` and ``-`` that does not start with ``.`` or ``-``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from artver.errors import UsageError

_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{{1,5}})?")
MAX_REPOSITORY = 255
# Docker Hub is named docker.io in references but answers the API at another host.
_API_HOSTS = {"docker.io": "registry-1.docker.io", "index.docker.io": "registry-1.docker.io"}
EXAMPLE = "ghcr.io/team/model:v1"


@dataclass(frozen=True)
class Reference:
    registry: str  # host[:port], as written
    repository: str
    tag: str

    @property
    def api_host(self) -> str:
        """Where the registry's HTTP API answers."""
        return _API_HOSTS.get(self.registry, self.registry)

    def __str__(self) -> str:
        return f"{self.registry}/{self.repository}:{self.tag}"


def _shown(text: str) -> str:
    return repr(text[:200])


def parse_reference(text: str) -> Reference:
    """``REGISTRY/REPOSITORY:TAG``; a UsageError naming what is wrong otherwise."""
    if "@" in text:
        raise UsageError(f"{_shown(text)}: publish needs a tag, not a digest (REGISTRY/REPO:TAG, e.g. {EXAMPLE})")
    registry, slash, rest = text.partition("/")
    if not slash or not ("." in registry or ":" in registry or registry == "localhost"):
        raise UsageError(f"{_shown(text)}: name the registry too, as REGISTRY/REPO:TAG (e.g. {EXAMPLE})")
    if not _HOST.fullmatch(registry) or not _port_ok(registry):
        raise UsageError(f"{_shown(text)}: invalid registry host {_shown(registry)}")
    repository, colon, tag = rest.rpartition(":")
    if not colon:
        raise UsageError(f"{_shown(text)}: add a tag, as REGISTRY/REPO:TAG (e.g. {EXAMPLE})")
    if not _TAG.fullmatch(tag):
        raise UsageError(
            f"{_shown(text)}: invalid tag {_shown(tag)} (letters, digits, '_', '.' and '-', at most 128, "
            f"not starting with '.' or '-')"
        )
    if not _REPOSITORY.fullmatch(repository) or len(repository) > MAX_REPOSITORY:
        raise UsageError(
            f"{_shown(text)}: invalid repository name {_shown(repository)} (lowercase letters and digits, "
            f"separated by '.', '_', '__' or '-', path components separated by '/')"
        )
    return Reference(registry, repository, tag)


def _port_ok(host: str) -> bool:
    if host.startswith("["):
        port = host.rpartition("]")[2].lstrip(":")
    else:
        port = host.partition(":")[2]
    return not port or 0 < int(port) < 65536
