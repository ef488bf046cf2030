"""Index objects of format 1, as artver wrote them before format 2: for tests of remotes
that older clones wrote (artver itself no longer writes them). Written from the
specification in docs/pointer-format.md, not with artver's code."""

from __future__ import annotations

from collections.abc import Iterable

from artver.packs import Member

HEADER = b"artver pack index 1\n"


def index_v1_bytes(members: Iterable[Member]) -> bytes:
    """The format-1 index of ``members``: 'pack NAME' lines in name order, each followed by
    its members' 'HASH OFFSET LENGTH' lines in offset order (then hash)."""
    lines = [HEADER]
    pack = None
    for member in sorted(members, key=lambda each: (each.location.pack, each.location.offset, each.hash)):
        if member.location.pack != pack:
            pack = member.location.pack
            lines.append(f"pack {pack}\n".encode())
        lines.append(f"{member.hash} {member.location.offset} {member.location.length}\n".encode())
    return b"".join(lines)
