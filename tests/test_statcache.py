"""The stat database's ordered reader (statcache.RowsInOrder) against a plain lookup."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from artver import statcache
from artver.statcache import StatCache, StatKey

_NAMES = st.text(st.sampled_from("ab/0.-é"), min_size=1, max_size=6)


@settings(max_examples=60, deadline=None)
@given(recorded=st.dictionaries(_NAMES, st.booleans(), max_size=40), asked=st.lists(_NAMES, max_size=60),
       page=st.integers(1, 5))
def test_rows_read_in_order_answer_as_a_lookup_of_each_path_would(tmp_path_factory: pytest.TempPathFactory,
                                                                  recorded: dict[str, bool], asked: list[str],
                                                                  page: int) -> None:
    # Whatever the order of the questions (ascending, restarting, at random), the paged reader
    # gives each path's trusted entry, or None, exactly as a lookup of that path alone.
    folder = tmp_path_factory.mktemp("stats")
    original = statcache._PAGE
    statcache._PAGE = page  # pages of a few rows: every question meets a page boundary
    try:
        with StatCache(Path(folder) / "state.db") as stats:
            for name, trusted in recorded.items():
                # An mtime far in the past is trusted; one in the future is too recent to trust.
                mtime = 1_000_000_000 if trusted else 2**62
                stats.record(f"data/{name}", StatKey(len(name), 7, mtime), f"xxh128:{len(name):032x}")
            stats.record("data", StatKey(1, 1, 1_000_000_000), "xxh128:" + "f" * 32)
            stats.record("datb/x", StatKey(1, 1, 1_000_000_000), "xxh128:" + "e" * 32)  # outside the prefix
            stats.flush()
            rows = stats.under("data")
            for path in [*sorted(f"data/{name}" for name in asked), *(f"data/{name}" for name in asked),
                         "data", "datb/x", "data/"]:
                expected = stats.trusted_entry(path) if path == "data" or path.startswith("data/") else None
                assert rows.get(path) == expected, path
    finally:
        statcache._PAGE = original
