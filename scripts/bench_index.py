#!/usr/bin/env python3
"""How long a clone takes to learn a large packed remote: an index of N members (default
1,000,000) loaded into the local database for the first time, then opened again and asked
about 20,000 objects, as a push or pull of a 20,000-file dataset does.

    .venv/bin/python scripts/bench_index.py [--members N] [--repeat 3] [--parser blocks|lines]

Each step runs in a child process measured for wall time, CPU time and peak memory (RSS),
so the figures include nothing of the generator; each is run --repeat times and the
medians are printed with the load average (on a shared machine, compare CPU seconds). The index is built in the documented format
(docs/pointer-format.md), in packs of 10,000 members; data lives in a temp folder deleted
at the end. No remote is involved: the download of the index is not timed (it is one GET).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 600  # seconds per step

LOAD = textwrap.dedent("""
    import resource, sys, time
    from pathlib import Path
    from artver import packs
    from artver.remote_index import RemoteIndex
    index_file, database = Path(sys.argv[1]), Path(sys.argv[2])
    started, cpu_started = time.perf_counter(), time.process_time()
    with open(index_file, "rb") as handle, RemoteIndex(database) as index:
        if sys.argv[3] == "blocks":  # what a clone does (remote_packs.PackedRemote._load_index)
            index.add_sections("0" * 32, packs.parse_index_sections(handle, "bench index"))
        else:  # the line-by-line parser, for comparison
            index.add_rows("0" * 32, packs.parse_index_rows(packs.bounded_lines(handle), "bench index"))
    print(time.perf_counter() - started, time.process_time() - cpu_started,
          resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
""")

LOOKUP = textwrap.dedent("""
    import random, resource, sys, time
    from pathlib import Path
    from artver.remote_index import RemoteIndex
    database, wanted = Path(sys.argv[1]), Path(sys.argv[2]).read_text().split()
    started, cpu_started = time.perf_counter(), time.process_time()
    with RemoteIndex(database) as index:
        names = index.index_names()
        found = index.locate(wanted)
    assert len(found) == len(wanted) // 2, len(found)
    print(time.perf_counter() - started, time.process_time() - cpu_started,
          resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
""")


def child(code: str, *args: str) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds and peak RSS (MiB) of one step."""
    completed = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True,
                               timeout=TIMEOUT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    if completed.returncode != 0:
        raise SystemExit(f"bench_index: a step failed:\n{completed.stderr}")
    seconds, cpu, rss = completed.stdout.split()
    return float(seconds), float(cpu), int(rss)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each step; medians are printed")
    parser.add_argument("--parser", choices=("blocks", "lines"), default="blocks",
                        help="blocks: what a clone does; lines: the line-by-line parser, for comparison")
    arguments = parser.parse_args()
    rng = random.Random(20261130)
    with tempfile.TemporaryDirectory(prefix="artver-bench-index-") as folder:
        index_file, database, wanted_file = Path(folder) / "index", Path(folder) / "remote.db", Path(folder) / "wanted"
        known: list[str] = []
        with open(index_file, "wb") as out:
            out.write(b"artver pack index 1\n")
            for pack in range(-(-arguments.members // 10_000)):
                out.write(f"pack {rng.getrandbits(128):032x}\n".encode())
                offset = 14
                for _ in range(min(10_000, arguments.members - pack * 10_000)):
                    hash_value = f"xxh128:{rng.getrandbits(128):032x}"
                    if len(known) < 10_000:
                        known.append(hash_value)
                    out.write(f"{hash_value} {offset} 4096\n".encode())
                    offset += 4096
        wanted = known + [f"xxh128:{rng.getrandbits(128):032x}" for _ in range(10_000)]
        wanted_file.write_text("\n".join(wanted))
        size = index_file.stat().st_size
        loads, lookups = [], []
        load_before = os.getloadavg()[0]
        for _ in range(arguments.repeat):
            for suffix in ("", "-journal"):
                Path(f"{database}{suffix}").unlink(missing_ok=True)
            loads.append(child(LOAD, str(index_file), str(database), arguments.parser))
            lookups.append(child(LOOKUP, str(database), str(wanted_file)))
        load_after = os.getloadavg()[0]
        print(f"index of {arguments.members:,} members ({size / 2**20:.1f} MiB of text), {arguments.parser} parser, "
              f"median of {arguments.repeat} (load average {load_before:.1f} before, {load_after:.1f} after):")
        print(f"  first load into the local database: {_median(loads, 0):.2f} s wall, {_median(loads, 1):.2f} s CPU, "
              f"peak RSS {_median(loads, 2):.0f} MiB (database {database.stat().st_size / 2**20:.0f} MiB)")
        print(f"  a later command: open + locate 20,000 objects: {_median(lookups, 0):.3f} s wall, "
              f"{_median(lookups, 1):.3f} s CPU, peak RSS {_median(lookups, 2):.0f} MiB")
    return 0


def _median(runs: list[tuple[float, float, int]], field: int) -> float:
    return statistics.median(run[field] for run in runs)


if __name__ == "__main__":
    raise SystemExit(main())
