#!/usr/bin/env python3
"""Benchmark chunk-level dedup (issue 11) against DVC, to SeaweedFS, in one run.

    .venv/bin/python scripts/bench_chunks.py [--quick] [--only NAME] [--repeat N] [--json PATH] [--keep]

Reuses scripts/bench.py (measuring wrapper, DVC venv, tool set-up) and scripts/bench_remote.py
(SeaweedFS environment, Runner, git helpers); neither is modified. Phases (--only, comma-separated):

  edit      a 512 MiB model v1 pushed; v2 = v1 with 32 scattered 256 KiB overwrites, an 8 MiB
            insertion at 100 MiB and 4 MiB cut from the end. Bytes ON THE WIRE (a counting
            relay between the tool and SeaweedFS: tests/support/faultproxy.py with no faults)
            sent by ``push`` of v2, and received by ``pull`` of v2 in a clone that pulled v1.
  new-file  ``push`` of a new 2 GiB random file into an empty remote prefix, then ``pull`` into a
            fresh clone: wall, CPU, peak RSS; artver (chunked, the default), artver with
            ``chunk false`` (whole objects) and DVC. Straight to SeaweedFS (no relay: a Python
            relay would cost CPU on this 2-core machine while the tools are timed).
  jsonl     a JSONL file grown day by day (10 versions, +2% of rows each), each version added,
            committed and pushed through the relay; then the bytes stored in the bucket (sum of
            the object sizes under the tool's prefix) against the sum of the file sizes.
  threshold chunk_threshold 8 / 16 / 32 MiB: push of three files of 12, 24 and 48 MiB, then of
            their v2 (8 scattered 256 KiB overwrites, 1 MiB inserted): time, and bytes sent.

--quick scales the data down (64 MiB model with proportional edits, 256 MiB new file, 20 MiB
JSONL start) and uses chunk_threshold 16 MiB still (every file is above it).
Tools are interleaved within every repeat (order alternating), so drift in the machine's load
hits both alike. Data lives in .bench/data/chunks, repositories and the SeaweedFS directory in
.bench/runs/chunks-*; both are deleted at the end unless --keep.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import random
import shutil
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

import bench  # noqa: E402  (helpers only)
import bench_remote  # noqa: E402  (helpers only)
from bench import BenchError, GiB, MiB, Tool  # noqa: E402

PHASES = ("edit", "new-file", "jsonl", "threshold")
CHUNK_DATA = bench.DATA_DIR / "chunks"
PIECE = 16 * MiB  # generation writes random data in pieces of this size


def log(message: str) -> None:
    print(f"[bench-chunks] {message}", flush=True)


# --------------------------------------------------------------------------- data


def write_random(handle, size: int, rng: random.Random) -> None:  # type: ignore[no-untyped-def]
    """size fresh random bytes: no two 64 KiB stretches alike anywhere (unlike bench.py's rotated
    blocks, which content-defined chunking would find again and deduplicate within the file)."""
    left = size
    while left:
        step = min(PIECE, left)
        handle.write(rng.randbytes(step))
        left -= step


def ensure(path: Path, params: dict, make) -> Path:  # type: ignore[no-untyped-def]
    """Generate `path` with make(temp_path) unless it exists with the same params (--keep)."""
    stamp = path.with_name(path.name + ".params")
    wanted = json.dumps(params, sort_keys=True)
    if path.exists() and stamp.exists() and stamp.read_text() == wanted:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp.unlink(missing_ok=True)
    start = time.perf_counter()
    bench._write_atomically(path, make)
    stamp.write_text(wanted)
    log(f"generated {path.name} ({path.stat().st_size / MiB:.0f} MiB) in {time.perf_counter() - start:.1f}s")
    return path


@dataclass(frozen=True)
class EditSpec:
    size: int
    overwrites: int
    overwrite_size: int
    insert_at: int
    insert_size: int
    cut: int
    seed_offset: int = 0  # files of different specs must not share bytes (they would dedup)

    def describe(self) -> str:
        return (f"{self.size // MiB} MiB; v2: {self.overwrites} x {self.overwrite_size // 1024} KiB overwrites, "
                f"{self.insert_size // MiB} MiB inserted at {self.insert_at // MiB} MiB, "
                f"{self.cut // MiB} MiB cut from the end")


def edit_spec(quick: bool) -> EditSpec:
    if quick:  # 1/8 of the full scenario
        return EditSpec(64 * MiB, 32, 256 * 1024, 12 * MiB, 1 * MiB, MiB // 2)
    return EditSpec(512 * MiB, 32, 256 * 1024, 100 * MiB, 8 * MiB, 4 * MiB)


def make_edit_pair(spec: EditSpec) -> tuple[Path, Path]:
    params = {**spec.__dict__, "seed": bench.SEED, "format": 1}
    tag = f"{spec.size // MiB}m-{spec.seed_offset}"

    def make_v1(temp: Path) -> None:
        with open(temp, "wb") as handle:
            write_random(handle, spec.size, random.Random(bench.SEED + 100 + spec.seed_offset))

    v1 = ensure(CHUNK_DATA / f"model-{tag}-v1.bin", params, make_v1)

    def make_v2(temp: Path) -> None:
        rng = random.Random(bench.SEED + 200 + spec.seed_offset)
        data = bytearray(v1.read_bytes())
        slots = spec.size // spec.overwrites
        for index in range(spec.overwrites):  # one overwrite at a random place in each 1/32 of the file
            offset = index * slots + rng.randrange(0, slots - spec.overwrite_size)
            data[offset:offset + spec.overwrite_size] = rng.randbytes(spec.overwrite_size)
        data[spec.insert_at:spec.insert_at] = rng.randbytes(spec.insert_size)
        del data[len(data) - spec.cut:]
        temp.write_bytes(data)

    v2 = ensure(CHUNK_DATA / f"model-{tag}-v2.bin", params, make_v2)
    return v1, v2


def make_new_file(size: int) -> Path:
    def make(temp: Path) -> None:
        with open(temp, "wb") as handle:
            write_random(handle, size, random.Random(bench.SEED + 5))
    return ensure(CHUNK_DATA / f"new-{size // MiB}m.bin", {"size": size, "seed": bench.SEED + 5}, make)


def jsonl_row(rng: random.Random, day: int, number: int) -> bytes:
    words = " ".join(rng.choice(JSONL_WORDS) for _ in range(rng.randint(4, 14)))
    return (f'{{"day": {day}, "id": {number}, "user": "u{rng.randrange(10**6):06d}", '
            f'"score": {rng.random():.6f}, "text": "{words}"}}\n').encode()


JSONL_WORDS = ("alpha", "beta", "gamma", "delta", "model", "train", "eval", "loss", "token", "layer",
               "batch", "epoch", "weight", "sample", "label", "query", "answer", "image", "audio", "text")


def make_jsonl(start: int, versions: int, growth: float) -> tuple[Path, list[int]]:
    """The last version's file, and the byte length of every version (each a prefix of the last,
    cut at a row boundary: version k+1 = version k + rows of one more day, >= growth x its size)."""
    path = CHUNK_DATA / f"days-{start // MiB}m.jsonl"
    params = {"start": start, "versions": versions, "growth": growth, "seed": bench.SEED, "format": 1}
    lengths_file = path.with_name(path.name + ".lengths")

    def make(temp: Path) -> None:
        rng = random.Random(bench.SEED + 7)
        lengths: list[int] = []
        written, number, target = 0, 0, start
        with open(temp, "wb") as handle:
            for day in range(versions):
                rows = []
                while written < target:
                    row = jsonl_row(rng, day, number)
                    rows.append(row)
                    written += len(row)
                    number += 1
                handle.write(b"".join(rows))
                lengths.append(written)
                target = int(written * (1 + growth))
        lengths_file.write_text(json.dumps(lengths))

    ensure(path, params, make)
    return path, json.loads(lengths_file.read_text())


def copy_prefix(source: Path, length: int, target: Path) -> None:
    with open(source, "rb") as src, open(target, "wb") as dst:
        left = length
        while left:
            block = src.read(min(PIECE, left))
            if not block:
                raise BenchError(f"{source} is shorter than {length} bytes")
            dst.write(block)
            left -= len(block)


# --------------------------------------------------------------------------- session


@dataclass(frozen=True)
class Variant:
    """One tool with its remote settings: artver (chunked), artver-whole (chunk false), dvc."""

    name: str
    tool: Tool
    artver_settings: tuple[tuple[str, str], ...] = ()

    @property
    def bucket(self) -> str:
        return f"bench-{self.tool.name}"


@dataclass
class Session:
    run_dir: Path
    timeout: float
    runner: bench_remote.Runner
    env: dict[str, dict[str, str]]  # per tool name
    client: object  # boto3 S3 client, straight to the server
    endpoint: str  # SeaweedFS
    relay: object  # faultproxy.Proxy
    figures: dict = field(default_factory=dict)
    serial: int = 0

    def fresh_prefix(self, what: str) -> str:
        self.serial += 1
        return f"{what}-{self.serial}"

    def stats(self) -> tuple[int, int]:
        stats = self.relay.stats()  # type: ignore[attr-defined]
        return stats.bytes_up, stats.bytes_down

    def stored_bytes(self, bucket: str, prefix: str) -> tuple[int, int]:
        """(sum of object sizes, object count) under prefix/."""
        total = count = 0
        paginator = self.client.get_paginator("list_objects_v2")  # type: ignore[attr-defined]
        for page in paginator.paginate(Bucket=bucket, Prefix=f"{prefix}/"):
            for item in page.get("Contents", ()):
                total += item["Size"]
                count += 1
        return total, count

    def drop_prefix(self, bucket: str, prefix: str) -> None:
        paginator = self.client.get_paginator("list_objects_v2")  # type: ignore[attr-defined]
        for page in paginator.paginate(Bucket=bucket, Prefix=f"{prefix}/"):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", ())]
            if keys:
                self.client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})  # type: ignore[attr-defined]


def add_remote(s: Session, v: Variant, repo: Path, name: str, prefix: str, via_relay: bool) -> None:
    exe = str(v.tool.executable)
    env = s.env[v.tool.name]
    endpoint = s.relay.url if via_relay else s.endpoint  # type: ignore[attr-defined]
    url = f"s3://{v.bucket}/{prefix}"
    if v.tool.name == "artver":
        bench.run([exe, "remote", "add", "-d", name, url], repo, env, s.timeout)
        bench.run([exe, "remote", "modify", name, "endpoint_url", endpoint], repo, env, s.timeout)
        for key, value in v.artver_settings:
            bench.run([exe, "remote", "modify", name, key, value], repo, env, s.timeout)
    else:
        bench.run([exe, "remote", "add", "-d", "-f", name, url], repo, env, s.timeout)
        bench.run([exe, "remote", "modify", name, "endpointurl", endpoint], repo, env, s.timeout)


def new_repo(s: Session, v: Variant, path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    bench_remote.git(["init", "-q"], path, s.env[v.tool.name], s.timeout)
    v.tool.init(path, s.timeout)
    return path


def track(s: Session, v: Variant, repo: Path, target: str, message: str) -> None:
    bench.settle()
    bench.run([str(v.tool.executable), "add", target], repo, s.env[v.tool.name], s.timeout)
    bench_remote.commit_all(repo, s.env[v.tool.name], message, s.timeout)


def clone(s: Session, v: Variant, src: Path, path: Path, rev: str | None = None) -> Path:
    if path.exists():
        shutil.rmtree(path)
    bench_remote.git(["clone", "-q", str(src), str(path)], s.run_dir, s.env[v.tool.name], s.timeout)
    if rev:
        bench_remote.git(["checkout", "-q", rev], path, s.env[v.tool.name], s.timeout)
    bench_remote.after_clone(v.tool, path, s.timeout)
    return path


def timed(s: Session, key: tuple[str, str, str], v: Variant, argv: list[str], cwd: Path) -> tuple[bench.Sample, int, int]:
    """A timed command; also the relay's bytes up/down during it."""
    up0, down0 = s.stats()
    sample, _ = s.runner.timed(key, v.name, argv, cwd, s.env[v.tool.name])
    up1, down1 = s.stats()
    return sample, up1 - up0, down1 - down0


def record(s: Session, phase: str, item: str, variant: str, value: object) -> None:
    s.figures.setdefault(phase, {}).setdefault(item, {}).setdefault(variant, []).append(value)


# --------------------------------------------------------------------------- phases


def phase_edit(s: Session, variants: list[Variant], repeats: int, quick: bool) -> None:
    spec = edit_spec(quick)
    v1, v2 = make_edit_pair(spec)
    s.figures["edit_spec"] = {"description": spec.describe(), "v1_bytes": v1.stat().st_size,
                              "v2_bytes": v2.stat().st_size}
    log(f"edit: {spec.describe()}")
    for attempt in range(repeats):
        for v in variants if attempt % 2 == 0 else variants[::-1]:
            env = s.env[v.tool.name]
            src = new_repo(s, v, s.run_dir / f"edit-{v.name}")
            prefix = s.fresh_prefix("edit")
            shutil.copy2(v1, src / "model.bin")
            add_remote(s, v, src, "s3", prefix, via_relay=True)
            track(s, v, src, "model.bin", "v1")
            bench_remote.git(["tag", "v1"], src, env, s.timeout)
            sample, up, down = timed(s, ("s3", "edit", "push v1"), v, bench_remote.push_argv(v.tool, "s3"), src)
            record(s, "edit", "push v1 up", v.name, up)
            (src / "model.bin").unlink()
            shutil.copy2(v2, src / "model.bin")
            track(s, v, src, "model.bin", "v2")
            sample, sent, down = timed(s, ("s3", "edit", "push v2"), v, bench_remote.push_argv(v.tool, "s3"), src)
            record(s, "edit", "push v2 up", v.name, sent)
            record(s, "edit", "push v2 down", v.name, down)
            dst = clone(s, v, src, s.run_dir / f"edit-{v.name}-clone", rev="v1")
            bench.run(bench_remote.pull_argv(v.tool, "s3"), dst, env, s.timeout)  # v1 into the clone's cache
            bench_remote.git(["checkout", "-q", "-"], dst, env, s.timeout)  # back to the branch: v2
            sample, up, received = timed(s, ("s3", "edit", "pull v2 (clone has v1)"), v,
                                         bench_remote.pull_argv(v.tool, "s3"), dst)
            record(s, "edit", "pull v2 down", v.name, received)
            record(s, "edit", "pull v2 up", v.name, up)
            if not filecmp.cmp(dst / "model.bin", v2, shallow=False):
                raise BenchError(f"edit: {v.name}: the clone's model.bin is not v2 after pull")
            log(f"  {v.name}: push v2 sent {sent / MiB:.1f} MiB, pull v2 received {received / MiB:.1f} MiB")
            shutil.rmtree(src)
            shutil.rmtree(dst)
            s.drop_prefix(v.bucket, prefix)


def phase_new_file(s: Session, variants: list[Variant], repeats: int, quick: bool) -> None:
    data = make_new_file(256 * MiB if quick else 2 * GiB)
    size = data.stat().st_size
    s.figures["new_file_bytes"] = size
    sources: dict[str, Path] = {}
    try:
        for v in variants:
            src = new_repo(s, v, s.run_dir / f"new-{v.name}")
            shutil.copy2(data, src / "big.bin")
            track(s, v, src, "big.bin", "v1")
            sources[v.name] = src
        for attempt in range(repeats):
            for v in variants if attempt % 2 == 0 else variants[::-1]:
                env, src = s.env[v.tool.name], sources[v.name]
                # A new remote (name and prefix) per round: an empty remote that no local index
                # database of the tool has seen.
                remote, prefix = f"r{attempt}", s.fresh_prefix("new")
                add_remote(s, v, src, remote, prefix, via_relay=False)
                bench_remote.commit_all(src, env, f"remote {remote}", s.timeout)
                sample, _, _ = timed(s, ("s3", "new-file", "push"), v, bench_remote.push_argv(v.tool, remote), src)
                stored, count = s.stored_bytes(v.bucket, prefix)
                record(s, "new-file", "stored", v.name, [stored, count])
                dst = clone(s, v, src, s.run_dir / f"new-{v.name}-clone")
                timed(s, ("s3", "new-file", "pull"), v, bench_remote.pull_argv(v.tool, remote), dst)
                if (dst / "big.bin").stat().st_size != size:
                    raise BenchError(f"new-file: {v.name}: big.bin has the wrong size after pull")
                shutil.rmtree(dst)
                s.drop_prefix(v.bucket, prefix)
                os.sync()
    finally:
        for path in sources.values():
            shutil.rmtree(path, ignore_errors=True)


def phase_jsonl(s: Session, variants: list[Variant], quick: bool) -> None:
    start = 20 * MiB if quick else 100 * MiB
    data, lengths = make_jsonl(start, 10, 0.02)
    s.figures["jsonl_lengths"] = lengths
    for v in variants:
        env = s.env[v.tool.name]
        src = new_repo(s, v, s.run_dir / f"jsonl-{v.name}")
        prefix = s.fresh_prefix("jsonl")
        add_remote(s, v, src, "s3", prefix, via_relay=True)
        bench_remote.commit_all(src, env, "remote", s.timeout)
        try:
            for day, length in enumerate(lengths):
                copy_prefix(data, length, src / "days.jsonl")
                track(s, v, src, "days.jsonl", f"day {day}")
                sample, up, _ = timed(s, ("s3", "jsonl", "push"), v, bench_remote.push_argv(v.tool, "s3"), src)
                record(s, "jsonl", "push up", v.name, up)
            stored, count = s.stored_bytes(v.bucket, prefix)
            s.figures.setdefault("jsonl", {}).setdefault("stored", {})[v.name] = [stored, count]
            log(f"  {v.name}: {stored / MiB:.1f} MiB in {count} objects for {sum(lengths) / MiB:.1f} MiB of versions")
        finally:
            shutil.rmtree(src, ignore_errors=True)
            s.drop_prefix(v.bucket, prefix)


def phase_threshold(s: Session, artver: Tool, quick: bool) -> None:
    """Per chunk_threshold: push v1 of three files of 12, 24 and 48 MiB (time), then v2 of each
    (8 scattered 256 KiB overwrites and 1 MiB inserted) and the bytes that push sends."""
    specs = [EditSpec(size * MiB, 8, 256 * 1024, size * MiB // 4, MiB, 0, size) for size in (12, 24, 48)]
    pairs = [make_edit_pair(spec) for spec in specs]
    s.figures["threshold_files"] = [[v1.stat().st_size, v2.stat().st_size] for v1, v2 in pairs]
    for threshold in (8, 16, 32):
        v = Variant(f"artver-{threshold}m", artver, (("chunk_threshold", str(threshold * MiB)),))
        src = new_repo(s, v, s.run_dir / f"thr-{threshold}")
        prefix = s.fresh_prefix("thr")
        try:
            add_remote(s, v, src, "s3", prefix, via_relay=True)
            (src / "m").mkdir()
            for index, (v1, _) in enumerate(pairs):
                shutil.copy2(v1, src / "m" / f"f{index}.bin")
            track(s, v, src, "m", "v1")
            _, up, _ = timed(s, ("s3", "threshold", "push v1"), v, bench_remote.push_argv(artver, "s3"), src)
            record(s, "threshold", "push v1 up", v.name, up)
            for index, (_, v2) in enumerate(pairs):
                (src / "m" / f"f{index}.bin").unlink()
                shutil.copy2(v2, src / "m" / f"f{index}.bin")
            track(s, v, src, "m", "v2")
            _, up, _ = timed(s, ("s3", "threshold", "push v2"), v, bench_remote.push_argv(artver, "s3"), src)
            record(s, "threshold", "push v2 up", v.name, up)
        finally:
            shutil.rmtree(src, ignore_errors=True)
            s.drop_prefix(v.bucket, prefix)


# --------------------------------------------------------------------------- report


def med(values: list) -> float:
    return statistics.median(values)


def report(s: Session) -> None:
    f, results = s.figures, s.runner.results
    if "edit" in f:
        e, spec = f["edit"], f["edit_spec"]
        print(f"\nedit ({spec['description']}); bytes on the wire, medians of {len(e['push v2 up'].get('dvc', e['push v2 up'].get('artver', [])))} runs")
        print(f"  {'tool':8s} {'push v1 sent':>14s} {'push v2 sent':>14s} {'% of v2':>8s} {'pull v2 received':>17s} {'% of v2':>8s}  samples push/pull MiB")
        for name in e["push v2 up"]:
            p1, p2, pl = med(e["push v1 up"][name]), med(e["push v2 up"][name]), med(e["pull v2 down"][name])
            samples = "/".join(f"{x / MiB:.1f}" for x in e["push v2 up"][name]) + " ; " + \
                "/".join(f"{x / MiB:.1f}" for x in e["pull v2 down"][name])
            print(f"  {name:8s} {p1 / MiB:11.1f} MiB {p2 / MiB:11.1f} MiB {100 * p2 / spec['v2_bytes']:7.1f}% "
                  f"{pl / MiB:14.1f} MiB {100 * pl / spec['v2_bytes']:7.1f}%  {samples}")
    print("\nTimed commands (medians): wall s, cpu s, peak MiB; ratio to DVC's wall time")
    for line in bench_remote.ratio_lines(results, lambda key: "/".join(key[1:]), 34, 13, 7):
        print(line)
    if "new-file" in f:
        for name, values in f["new-file"]["stored"].items():
            print(f"  new-file stored by {name}: {values[-1][0] / MiB:.1f} MiB in {values[-1][1]} objects")
    if "jsonl" in f:
        total = sum(f["jsonl_lengths"])
        print(f"\njsonl: 10 versions {f['jsonl_lengths'][0] / MiB:.1f} -> {f['jsonl_lengths'][-1] / MiB:.1f} MiB; "
              f"sum of file sizes {total / MiB:.1f} MiB")
        for name, (stored, count) in f["jsonl"]["stored"].items():
            sent = sum(f["jsonl"]["push up"][name])
            print(f"  {name:8s} stored {stored / MiB:8.1f} MiB ({100 * stored / total:5.1f}% of the sum) in {count} "
                  f"objects; pushes sent {sent / MiB:.1f} MiB on the wire")
    if "threshold" in f:
        v2_total = sum(v2 for _, v2 in f["threshold_files"])
        print(f"\nthreshold: files of 12, 24, 48 MiB; v2 of all three: {v2_total / MiB:.1f} MiB")
        for name, values in f["threshold"]["push v2 up"].items():
            print(f"  {name:12s} push v1 sent {f['threshold']['push v1 up'][name][0] / MiB:.2f} MiB, "
                  f"push v2 sent {values[0] / MiB:.2f} MiB ({100 * values[0] / v2_total:.1f}%)")


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small data (see above), 1 repeat")
    parser.add_argument("--only", action="append", metavar="NAME", help=f"phases: {', '.join(PHASES)}")
    parser.add_argument("--repeat", type=int, help="repeats of edit and new-file (default 2; --quick 1)")
    parser.add_argument("--timeout", type=float, default=1200.0, help="seconds per command (default 1200)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the raw figures as JSON")
    parser.add_argument("--keep", action="store_true", help="keep .bench/runs/chunks-* and the data (debugging, reuse)")
    args = parser.parse_args(argv)
    only = [name for item in (args.only or []) for name in item.split(",") if name]
    for name in only:
        if name not in PHASES:
            parser.error(f"--only {name}: choose from {', '.join(PHASES)}")
    phases = [name for name in PHASES if not only or name in only]
    repeats = args.repeat or (1 if args.quick else 2)

    import boto3
    from botocore.config import Config as BotoConfig

    from tests.support.faultproxy import start_proxy
    from tests.support.servers import start_seaweedfs

    bench.BENCH_DIR.mkdir(exist_ok=True)
    tools = {"artver": bench.make_artver(), "dvc": bench.make_dvc()}
    info = bench.machine_info(tools)
    run_dir = bench.RUNS_DIR / f"chunks-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    run_dir.mkdir(parents=True)
    log(str(info))
    server = relay = None
    errors: list[str] = []
    session = None
    try:
        server = start_seaweedfs(run_dir / "seaweedfs")
        port = int(server.endpoint_url.rsplit(":", 1)[1].strip("/"))
        relay = start_proxy("127.0.0.1", port, max_connections=256)
        log(f"SeaweedFS (pid {server.pid}) at {server.endpoint_url}; counting relay at {relay.url}")
        extra = bench_remote.s3_env(server, run_dir)
        client = boto3.client("s3", endpoint_url=server.endpoint_url, aws_access_key_id=server.access_key,
                              aws_secret_access_key=server.secret_key, region_name=bench_remote.S3_REGION,
                              config=BotoConfig(s3={"addressing_style": "path"}))
        for name in tools:
            client.create_bucket(Bucket=f"bench-{name}")
        runner = bench_remote.Runner(run_dir, args.timeout)
        runner.server_pid = server.pid
        envs = {name: bench_remote.tool_env(tool, extra) for name, tool in tools.items()}
        session = Session(run_dir, args.timeout, runner, envs, client, server.endpoint_url, relay)
        artver = Variant("artver", tools["artver"])
        whole = Variant("artver-whole", tools["artver"], (("chunk", "false"),))
        dvc = Variant("dvc", tools["dvc"])
        for v in (artver, dvc):  # untimed: bytecode caches, SeaweedFS volumes
            site = bench_remote.RemoteSite("s3", run_dir, endpoint=server.endpoint_url, client=client)
            bench_remote.warm_up_remotes(runner, v.tool, [site], envs[v.tool.name])
        for phase in phases:
            log(f"=== {phase} (load {os.getloadavg()[0]:.2f})")
            try:
                if phase == "edit":
                    phase_edit(session, [artver, dvc], repeats, args.quick)
                elif phase == "new-file":
                    phase_new_file(session, [artver, whole, dvc], repeats, args.quick)
                elif phase == "jsonl":
                    phase_jsonl(session, [artver, dvc], args.quick)
                elif phase == "threshold":
                    phase_threshold(session, tools["artver"], args.quick)
            except Exception as error:  # noqa: BLE001 - report and go on with the next phase
                errors.append(f"{phase}: {error}")
                log(f"{phase} FAILED: {error}")
    finally:
        bench_remote.stop_servers(relay, server, log)
        if not args.keep:
            bench.remove_run_dir(run_dir)
            shutil.rmtree(CHUNK_DATA, ignore_errors=True)  # gigabytes; regenerated in seconds
    info["load_average_at_end"] = os.getloadavg()
    log(f"load average at end {info['load_average_at_end']}")
    if session is not None:
        report(session)
    for error in errors:
        print(f"ERROR {error[:3000]}")
    if args.json and session is not None:
        bench.write_json(args.json, {
            "machine": info, "quick": args.quick, "repeats": repeats, "figures": session.figures,
            "timed": [{"key": list(key), "tools": {n: bench.measurement_json(m) for n, m in per.items()}}
                      for key, per in session.runner.results.items()],
            "errors": errors})
    return 2 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
