"""The low-speed rule: a transfer that moves too few bytes for too long is given up.

A server that sends its headers and then stalls is caught by the per-read ``timeout``;
one that trickles (a byte a second) is not, and without this rule kept a command
running for hours with no output. Like curl's ``--speed-limit``/``--speed-time``: a
transfer that moves fewer than ``speed_limit`` bytes per second, on average, over
``speed_time`` seconds fails with TransientRemoteError (and is retried like any cut
connection). ``speed_limit`` 0 turns the rule off.

The meter counts what a transfer moves and is checked whenever bytes move (by the
transfer's own read loop) or, where a library reads in fixed blocks and would block
inside a read, by a watchdog (remotes/gcs.py).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from artver.errors import RemoteError, TransientRemoteError

DEFAULT_SPEED_LIMIT = "1024"  # bytes per second
DEFAULT_SPEED_TIME = "30"  # seconds


@dataclass(frozen=True)
class LowSpeedRule:
    limit: float  # bytes per second; 0: no rule
    seconds: float  # the window the average is taken over

    def meter(self, what: str, clock: Callable[[], float] = time.monotonic) -> SpeedMeter:
        return SpeedMeter(self, what, clock)


def low_speed_rule(settings: Mapping[str, str], url: str) -> LowSpeedRule:
    """The remote's ``speed_limit`` and ``speed_time``, checked (the committed config may
    have been edited by hand)."""
    raw_limit = settings.get("speed_limit", DEFAULT_SPEED_LIMIT)
    try:
        limit = float(raw_limit)
    except ValueError:
        limit = math.nan
    if not (math.isfinite(limit) and limit >= 0):
        raise RemoteError(f"{url}: speed_limit {raw_limit!r} must be a number of bytes per second, 0 or more "
                          f"(artver remote modify NAME speed_limit {DEFAULT_SPEED_LIMIT})")
    from artver.remotes.base import positive_seconds

    return LowSpeedRule(limit, positive_seconds(settings, "speed_time", DEFAULT_SPEED_TIME, url))


class SpeedMeter:
    """The bytes one transfer moved (from any thread, as parts of a multipart upload do).
    ``moved`` and ``check`` raise TransientRemoteError once a whole window of
    ``rule.seconds`` has gone by with fewer than ``rule.limit`` bytes per second on
    average; from then on ``error`` holds it, so that a caller whose library wrapped the
    exception can still say what happened."""

    def __init__(self, rule: LowSpeedRule, what: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._rule = rule
        self._what = what
        self._clock = clock
        self._lock = threading.Lock()
        self._window_start = clock()
        self._window_bytes = 0
        self.error: TransientRemoteError | None = None

    def moved(self, count: int) -> None:
        with self._lock:
            self._window_bytes += count
        self.check()

    def check(self) -> None:
        if self.error is not None:
            raise self.error
        if self._rule.limit <= 0:
            return
        with self._lock:
            now = self._clock()
            elapsed = now - self._window_start
            if elapsed < self._rule.seconds:
                return
            if self._window_bytes >= self._rule.limit * elapsed:
                self._window_start, self._window_bytes = now, 0  # fast enough: a new window
                return
            self.error = TransientRemoteError(
                f"{self._what}: only {self._window_bytes} bytes moved in {elapsed:.0f} s, slower than the remote's "
                f"speed_limit of {self._rule.limit:g} bytes/s over speed_time {self._rule.seconds:g} s"
            )
        raise self.error
