"""A read-only, seekable file object over a chunked file in a remote: api.open(cache=False).

The file is never put together on disk: each read fetches the chunks it covers (and a
few after them, in one ranged read of their pack), each checked against its own hash.
What the chunk hashes cannot prove is that the recipe lists the right chunks; that is
proved only by the whole file's hash, so a stream read from its first byte to its last
in order is hashed as it goes and raises IntegrityError at the end if the file is not
the one named. A reader that seeks trusts the recipe (docs/api.md says so).
"""

from __future__ import annotations

import bisect
import io

from artver import hashing, packs
from artver.chunking import ChunkRef
from artver.errors import IntegrityError, ObjectNotFoundError
from artver.packs import Member
from artver.remote_chunks import ChunkedRemote
from artver.remote_packs import MAX_GAP, MAX_SPAN

READ_AHEAD = 8  # chunks fetched with the one a read needs, in one ranged read where they lie together


class ChunkedReader(io.RawIOBase):
    def __init__(self, chunked: ChunkedRemote, file_hash: str, size: int) -> None:
        super().__init__()
        self._chunked = chunked
        self._file_hash = file_hash
        self._size = size
        self._chunks: list[ChunkRef] = chunked.read_recipe(file_hash, size)
        self._starts = [chunk.offset for chunk in self._chunks]
        self._position = 0
        self._held: dict[int, bytes | memoryview] = {}  # chunk number -> verified bytes (the last read's)
        self._hasher = hashing.new_hasher(hashing.algorithm_of(file_hash))
        self._hashed = 0  # bytes hashed in order from the start; -1 once a seek broke the order

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        target = base + offset
        if target < 0:
            raise ValueError(f"negative seek position {target}")
        self._position = target
        return target

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._position >= self._size or not len(buffer):
            return 0
        number = bisect.bisect_right(self._starts, self._position) - 1
        data = self._chunk(number)
        start = self._position - self._chunks[number].offset
        piece = data[start:start + len(buffer)]
        buffer[:len(piece)] = piece
        if self._hashed == self._position:
            self._hasher.update(piece)
            self._hashed += len(piece)
            if self._hashed == self._size:
                actual = f"{hashing.algorithm_of(self._file_hash)}:{self._hasher.hexdigest()}"
                if actual != self._file_hash:
                    raise IntegrityError(f"{self._chunked.storage.url}: the file {self._file_hash} streamed from its "
                                         f"recipe hashes to {actual}; 'artver verify -r' checks the remote")
        elif self._hashed != self._position:
            self._hashed = -1  # read out of order: the whole-file check cannot be made
        self._position += len(piece)
        return len(piece)

    def _chunk(self, number: int) -> bytes | memoryview:
        if number not in self._held:
            wanted = self._chunks[number:number + READ_AHEAD]
            located = self._chunked.packed.locate(sorted({chunk.hash for chunk in wanted}))
            missing = [chunk.hash for chunk in wanted if chunk.hash not in located]
            if missing:
                raise ObjectNotFoundError(f"{self._chunked.storage.url}: chunk {missing[0]} of {self._file_hash} "
                                          f"is in no pack")
            members = [Member(hash_value, location) for hash_value, location in located.items()]
            got: dict[str, bytes | memoryview] = {}
            for span in packs.spans(members, MAX_GAP, MAX_SPAN):
                for hash_value, outcome in self._chunked.packed.read_span(span, hashing.ignore_bytes).items():
                    if isinstance(outcome, Exception):
                        raise outcome
                    got[hash_value] = outcome
            self._held = {number + index: got[chunk.hash] for index, chunk in enumerate(wanted)}
        return self._held[number]

