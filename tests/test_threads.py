"""artver.threads.parallel: every item once, and the first failure stops what has not started."""

from __future__ import annotations

import threading

import pytest

from artver import threads


def test_every_item_is_done_once() -> None:
    done: list[int] = []
    lock = threading.Lock()

    def record(number: int) -> None:
        with lock:
            done.append(number)

    threads.parallel(4, record, range(500))
    assert sorted(done) == list(range(500))


def test_the_first_failure_is_raised_and_stops_what_has_not_started() -> None:
    started = threading.Event()
    release = threading.Event()
    ran: list[int] = []

    def fail_first(number: int) -> None:
        ran.append(number)
        if number == 0:
            started.set()
            raise ValueError("first")
        release.wait(5)  # the others wait until the failure is known

    def unblock() -> None:
        started.wait(5)
        release.set()

    helper = threading.Thread(target=unblock)
    helper.start()
    with pytest.raises(ValueError, match="first"):
        threads.parallel(2, fail_first, range(1000))
    helper.join(5)
    assert len(ran) < 1000
