"""Sorting more lines than should be held in memory at once: an external merge sort.

Writing an index of a million members, or listing every member of a remote pack by pack,
sorts lines by their bytes. Up to RUN_LINES lines are sorted in memory; beyond that each
sorted run goes to an unnamed temp file and the runs are merged, so memory stays bounded
by the run, not by the number of lines.
"""

from __future__ import annotations

import heapq
import tempfile
from collections.abc import Iterable, Iterator
from typing import BinaryIO

RUN_LINES = 200_000  # lines sorted in memory at once (of about 80 bytes each)


def sorted_unique(lines: Iterable[bytes], run_lines: int = RUN_LINES) -> Iterator[bytes]:
    """``lines`` (each ending in ``\\n``) in byte order, each distinct line once."""
    runs: list[BinaryIO] = []
    try:
        batch: list[bytes] = []
        for line in lines:
            batch.append(line)
            if len(batch) >= run_lines:
                runs.append(_spill(batch))
                batch = []
        batch.sort()
        if runs:
            runs.append(_spill(batch))
            batch = []
            ordered: Iterable[bytes] = heapq.merge(*runs)
        else:
            ordered = batch
        previous = None
        for line in ordered:
            if line != previous:
                yield line
                previous = line
    finally:
        for run in runs:
            run.close()


def _spill(batch: list[bytes]) -> BinaryIO:
    """``batch`` sorted into an unnamed temp file, rewound for reading line by line."""
    batch.sort()
    run = tempfile.TemporaryFile()
    try:
        run.writelines(batch)
        run.seek(0)
    except BaseException:
        run.close()
        raise
    return run
