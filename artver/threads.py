"""Running work on a few threads: where artver waits on the network (requests), not on
Python, threads overlap the waits.

The first exception stops new work from starting and is raised once the work under way
has ended, so no thread outlives the call. Ctrl-C starts nothing new and does not wait:
each piece of work is atomic (a temp file renamed into place), so what is under way ends
at its own pace while the process exits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def parallel(jobs: int, function: Callable[[T], None], items: Iterable[T]) -> None:
    """Call ``function`` on every item, ``jobs`` at a time."""
    items = list(items)
    if jobs <= 1 or len(items) <= 1:
        for item in items:
            function(item)
        return
    stop = threading.Event()

    def guarded(item: T) -> None:
        if not stop.is_set():
            function(item)

    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="artver-transfer")
    try:
        for future in [pool.submit(guarded, item) for item in items]:
            future.result()
    except BaseException as error:
        stop.set()
        pool.shutdown(wait=not isinstance(error, KeyboardInterrupt), cancel_futures=True)
        raise
    pool.shutdown(wait=True)
