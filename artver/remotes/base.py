"""The storage interface every remote backend implements, and nothing more.

A backend moves opaque blobs under keys relative to the remote's URL (the
layout ``<algorithm>/<2 hex>/<rest>`` is decided above, in transfer.py).
It knows nothing about pointers, hashes, retries or progress bars. It
translates its library's failures into RemoteError (final) or
TransientRemoteError (worth retrying); transfer.py does the retrying.
"""

from __future__ import annotations

import math
from typing import BinaryIO, Iterator, Mapping, Protocol, Sequence

from artver.errors import RemoteError
from artver.hashing import ByteCallback


class Storage(Protocol):
    url: str  # the remote's URL, for messages (never contains credentials)

    def exists(self, keys: Sequence[str]) -> dict[str, int]:
        """The keys present in the remote, with their sizes (one request per key)."""

    def list(self, prefix: str) -> Iterator[tuple[str, int]]:
        """Every key starting with ``prefix``, with its size (paginated by the backend)."""

    def upload(self, key: str, source: str, on_bytes: ByteCallback) -> None:
        """Store the file under ``key``. Never overwrites an existing key, and never
        leaves a partial object visible under ``key`` (failure leaves nothing there)."""

    def download(self, key: str, sink: BinaryIO, on_bytes: ByteCallback) -> None:
        """Write the object's bytes to ``sink``; raise RemoteError if it does not exist."""

    def delete(self, key: str) -> None:
        """Remove the key; a missing key is not an error."""

    def url_of(self, key: str) -> str:
        """Where the object lives, as a URL or path a person could use."""

# A backend whose objects are files on this machine may also offer
#     link_to(key: str, target: str) -> bool
# giving the object a second name (a hard link) instead of a copy; transfer.py then hashes
# it under that name like any download. False means: copy it with download().


def timeout_setting(settings: Mapping[str, str], url: str) -> float:
    """The remote's ``timeout`` (seconds per request) of a network backend, checked: the
    committed config may have been edited by hand."""
    raw = settings.get("timeout", "60")
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not (value > 0 and math.isfinite(value)):
        raise RemoteError(f"{url}: timeout {raw!r} must be a positive number of seconds (artver remote modify NAME timeout 60)")
    return value


def join_key(prefix: str, key: str) -> str:
    """The full object name under a bucket's prefix (no prefix: the key itself)."""
    return f"{prefix}/{key}" if prefix else key
