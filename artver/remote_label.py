"""How results name a remote.

Results (a transfer summary, gc, verify) have always held the remote as the text people
read, ``remote 'NAME' (URL)``, and messages are built from it. A RemoteLabel is that very
string, so every message and every caller of the Python API that treats it as a ``str``
keeps working, and it also carries the name and URL apart, which the JSON output gives
scripts as ``{"name": ..., "url": ...}`` (see console.to_jsonable and docs/json.md).
The URL is the configured one, which config checks never hold credentials; JSON output is
redacted as a whole anyway (console.redact).
"""

from __future__ import annotations


class RemoteLabel(str):
    """``remote 'NAME' (URL)``, with ``name`` and ``url`` (immutable, like the str it is)."""

    __slots__ = ("name", "url")
    name: str
    url: str

    def __new__(cls, name: str, url: str) -> RemoteLabel:
        label = super().__new__(cls, f"remote '{name}' ({url})")
        object.__setattr__(label, "name", name)
        object.__setattr__(label, "url", url)
        return label

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError(f"RemoteLabel is immutable; cannot set {key}")

    def __reduce__(self) -> tuple[type[RemoteLabel], tuple[str, str]]:
        return RemoteLabel, (self.name, self.url)

    def as_json(self) -> dict[str, str]:
        return {"name": self.name, "url": self.url}
