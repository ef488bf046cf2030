#!/usr/bin/env python3
"""How long a clone takes to learn a large packed remote: an index of N members (default
1,000,000) checked against its name, validated and kept as a local index file for the first
time, then opened again and asked about 20,000 objects (10,000 present, 10,000 absent), as a
push or pull of a 20,000-file dataset does.

    .venv/bin/python scripts/bench_index.py [--members N] [--repeat 3] [--format 2|1]

Each step runs in a child process measured for wall time, CPU time and peak memory (RSS),
so the figures include nothing of the generator; each is run --repeat times and the
medians are printed with the load average (on a shared machine, compare CPU seconds). The index is built in the documented format
(docs/pointer-format.md; --format 1: the older format a clone converts), in packs of 10,000
members; data lives in a temp folder deleted at the end. No remote is involved: the download
of the index is not timed (it is one GET), its hashing is (a clone hashes it as it arrives).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
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
    import xxhash
    from artver import packs
    from artver.remote_index import RemoteIndex
    index_file, folder = Path(sys.argv[1]), Path(sys.argv[2])
    started, cpu_started = time.perf_counter(), time.process_time()
    with open(index_file, "rb") as handle, RemoteIndex(folder) as index:
        hasher = xxhash.xxh3_128()  # what the download does as the index arrives
        while piece := handle.read(1 << 20):
            hasher.update(piece)
        # what a clone does next (remote_packs.PackedRemote._load_index)
        index.add_blocks(hasher.hexdigest(), packs.index_blocks(handle, "bench index"))
    print(time.perf_counter() - started, time.process_time() - cpu_started,
          resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
""")

LOOKUP = textwrap.dedent("""
    import random, resource, sys, time
    from pathlib import Path
    from artver.remote_index import RemoteIndex
    folder, wanted = Path(sys.argv[1]), Path(sys.argv[2]).read_text().split()
    started, cpu_started = time.perf_counter(), time.process_time()
    with RemoteIndex(folder) as index:
        names = index.index_names()
        found = index.locate(wanted)
    assert len(found) == len(wanted) // 2, len(found)
    print(time.perf_counter() - started, time.process_time() - cpu_started,
          resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
""")


GENERATE = textwrap.dedent("""
    import random, sys
    index_file, count, version = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = random.Random(20261130)
    members = []  # (hash, pack, offset) of members 4096 bytes long, in packs of 10,000
    for pack in range(-(-count // 10_000)):
        name = f"{rng.getrandbits(128):032x}"
        for number in range(min(10_000, count - pack * 10_000)):
            members.append((f"xxh128:{rng.getrandbits(128):032x}", name, 14 + 4096 * number))
    packs = sorted({pack for _, pack, _ in members})
    with open(index_file, "wb") as out:  # as docs/pointer-format.md specifies
        if version == 1:
            out.write(b"artver pack index 1\\n")
            current = None
            for hash_value, pack, offset in sorted(members, key=lambda member: (member[1], member[2], member[0])):
                if pack != current:
                    out.write(f"pack {pack}\\n".encode())
                    current = pack
                out.write(f"{hash_value} {offset} 4096\\n".encode())
        else:
            numbers = {pack: number for number, pack in enumerate(packs)}
            out.write(b"artver pack index 2\\n")
            out.writelines(f"pack {pack}\\n".encode() for pack in packs)
            out.writelines(sorted(f"{hash_value} {numbers[pack]} {offset} 4096\\n".encode()
                                  for hash_value, pack, offset in members))
    print("\\n".join(hash_value for hash_value, _, _ in members[:10_000]))  # present ones, to look up
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
    parser.add_argument("--format", type=int, choices=(2, 1), default=2,
                        help="2: the index format artver writes; 1: the older one, converted at load")
    arguments = parser.parse_args()
    rng = random.Random(20261130)
    with tempfile.TemporaryDirectory(prefix="artver-bench-index-") as folder:
        index_file, local, wanted_file = Path(folder) / "index", Path(folder) / "remotes" / "x", Path(folder) / "wanted"
        # generated in a child: the parent's peak memory would be inherited by the steps' figures
        completed = subprocess.run([sys.executable, "-c", GENERATE, str(index_file), str(arguments.members),
                                    str(arguments.format)], capture_output=True, text=True, timeout=TIMEOUT)
        if completed.returncode != 0:
            raise SystemExit(f"bench_index: generating the index failed:\n{completed.stderr}")
        known = completed.stdout.split()
        wanted = known + [f"xxh128:{rng.getrandbits(128):032x}" for _ in range(10_000)]
        wanted_file.write_text("\n".join(wanted))
        size = index_file.stat().st_size
        loads, lookups = [], []
        load_before = os.getloadavg()[0]
        for _ in range(arguments.repeat):
            shutil.rmtree(local.parent, ignore_errors=True)
            loads.append(child(LOAD, str(index_file), str(local)))
            lookups.append(child(LOOKUP, str(local), str(wanted_file)))
        load_after = os.getloadavg()[0]
        kept = sum(path.stat().st_size for path in local.iterdir())
        print(f"index of {arguments.members:,} members ({size / 2**20:.1f} MiB of text), format {arguments.format}, "
              f"median of {arguments.repeat} (load average {load_before:.1f} before, {load_after:.1f} after):")
        print(f"  first load (hash, validate, keep the local file): {_median(loads, 0):.2f} s wall, "
              f"{_median(loads, 1):.2f} s CPU, peak RSS {_median(loads, 2):.0f} MiB (local file {kept / 2**20:.0f} MiB)")
        print(f"  a later command: open + locate 20,000 objects: {_median(lookups, 0):.3f} s wall, "
              f"{_median(lookups, 1):.3f} s CPU, peak RSS {_median(lookups, 2):.0f} MiB")
    return 0


def _median(runs: list[tuple[float, float, int]], field: int) -> float:
    return statistics.median(run[field] for run in runs)


if __name__ == "__main__":
    raise SystemExit(main())
