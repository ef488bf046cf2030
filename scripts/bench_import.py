#!/usr/bin/env python3
"""Benchmark ``artver import`` against ``dvc import`` (issue 12), from a source repository whose
remote is SeaweedFS, on this machine.

    .venv/bin/python scripts/bench_import.py [--quick] [--repeat N] [--json PATH] [--keep]

Reuses scripts/bench.py (measuring wrapper, DVC venv, the 20,000-file dataset of .bench/data) and
scripts/bench_remote.py / bench_chunks.py (SeaweedFS environment, Runner, git and data helpers);
none of them is modified.

For each tool, one source repository (untimed): a 2 GiB random model ``model.bin`` (--quick:
256 MiB) and the 20,000-file dataset ``data`` (--quick: 2,000) added and committed, the
SeaweedFS remote configured as the default in the committed config, pushed; then the source's
cache and the data files of its workspace are deleted, so the data can only come from the
remote (the committed pointers stay). Each timed import runs in a fresh
Git repository (``init`` of the tool, empty cache):

  import model    ``artver import SRC model.bin`` / ``dvc import SRC model.bin``
  import dataset  ``artver import SRC data`` / ``dvc import SRC data``

The source is a local path (both tools then read its Git objects straight from disk: DVC clones
it, artver reads it without a checkout). Tools interleaved per repeat (order alternating); wall,
CPU and peak RSS per command as in bench.py; the result is checked (size of the model, file count
and 100 files of the dataset). The model is generated in .bench/data/chunks, repositories and
SeaweedFS live in .bench/runs/import-*: deleted at the end unless --keep (the dataset is
bench.py's, kept in .bench/data for reuse as bench.py does).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

import bench  # noqa: E402  (helpers only)
import bench_chunks  # noqa: E402  (helpers only)
import bench_remote  # noqa: E402  (helpers only)
from bench import BenchError, GiB, MiB, Tool  # noqa: E402


def log(message: str) -> None:
    print(f"[bench-import] {message}", flush=True)


def make_source(tool: Tool, run_dir: Path, model: Path, many: bench.ManyFiles, endpoint: str,
                env: dict[str, str], timeout: float) -> Path:
    src = run_dir / f"src-{tool.name}"
    src.mkdir(parents=True)
    bench_remote.git(["init", "-q"], src, env, timeout)
    tool.init(src, timeout)
    shutil.copy2(model, src / "model.bin")
    many.populate(src, timeout)  # -> src/data
    bench.settle()
    exe = str(tool.executable)
    bench.run([exe, "add", "model.bin"], src, env, timeout)
    bench.run([exe, "add", "data"], src, env, timeout)
    url = f"s3://bench-{tool.name}/import"
    if tool.name == "artver":
        bench.run([exe, "remote", "add", "-d", "s3", url], src, env, timeout)
        bench.run([exe, "remote", "modify", "s3", "endpoint_url", endpoint], src, env, timeout)
    else:
        bench.run([exe, "remote", "add", "-d", "s3", url], src, env, timeout)
        bench.run([exe, "remote", "modify", "s3", "endpointurl", endpoint], src, env, timeout)
    bench_remote.commit_all(src, env, "v1", timeout)
    start = time.perf_counter()
    bench.run(bench_remote.push_argv(tool, "s3"), src, env, timeout)
    log(f"{tool.name}: source pushed in {time.perf_counter() - start:.1f}s")
    # Only the remote may serve the imports: neither the source's cache nor its workspace
    # (dvc import of a local repository at its current commit reads the workspace's files when
    # they are there: 2 GiB "imported" with 0.2 s of SeaweedFS CPU before this was added).
    shutil.rmtree(src / (".artver/cache" if tool.name == "artver" else ".dvc/cache"))
    (src / "model.bin").unlink()
    shutil.rmtree(src / "data")
    return src


def consumer(tool: Tool, path: Path, env: dict[str, str], timeout: float) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    bench_remote.git(["init", "-q"], path, env, timeout)
    tool.init(path, timeout)
    return path


def check_dataset(many: bench.ManyFiles, root: Path) -> None:
    count = sum(len(files) for _, _, files in os.walk(root))
    wanted = many.params["folders"] * many.params["per_folder"]
    if count != wanted:
        raise BenchError(f"import dataset: {count} files, expected {wanted}")
    for relative in random.Random(7).sample(many.files(), 100):
        if (root / relative).read_bytes() != (many._v1() / relative).read_bytes():
            raise BenchError(f"import dataset: {relative} differs from the source")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="256 MiB model, 2,000 files, 1 repeat")
    parser.add_argument("--repeat", type=int, help="repeats (default 2; --quick 1)")
    parser.add_argument("--timeout", type=float, default=1200.0, help="seconds per command (default 1200)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the raw figures as JSON")
    parser.add_argument("--keep", action="store_true", help="keep .bench/runs/import-* and the model (debugging, reuse)")
    args = parser.parse_args(argv)
    repeats = args.repeat or (1 if args.quick else 2)

    import boto3
    from botocore.config import Config as BotoConfig

    from tests.support.servers import start_seaweedfs

    bench.BENCH_DIR.mkdir(exist_ok=True)
    tools = {"artver": bench.make_artver(), "dvc": bench.make_dvc()}
    info = bench.machine_info(tools)
    log(str(info))
    model = bench_chunks.make_new_file(256 * MiB if args.quick else 2 * GiB)
    many = bench.make_workloads(args.quick)["many-files"]
    assert isinstance(many, bench.ManyFiles)
    many.prepare()
    run_dir = bench.RUNS_DIR / f"import-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    run_dir.mkdir(parents=True)
    server = None
    errors: list[str] = []
    runner = bench_remote.Runner(run_dir, args.timeout)
    try:
        server = start_seaweedfs(run_dir / "seaweedfs")
        log(f"SeaweedFS (pid {server.pid}) at {server.endpoint_url}")
        runner.server_pid = server.pid
        extra = bench_remote.s3_env(server, run_dir)
        client = boto3.client("s3", endpoint_url=server.endpoint_url, aws_access_key_id=server.access_key,
                              aws_secret_access_key=server.secret_key, region_name=bench_remote.S3_REGION,
                              config=BotoConfig(s3={"addressing_style": "path"}))
        for name in tools:
            client.create_bucket(Bucket=f"bench-{name}")
        envs = {name: bench_remote.tool_env(tool, extra) for name, tool in tools.items()}
        site = bench_remote.RemoteSite("s3", run_dir, endpoint=server.endpoint_url, client=client)
        for tool in tools.values():  # untimed: bytecode caches, SeaweedFS volumes
            bench_remote.warm_up_remotes(runner, tool, [site], envs[tool.name])
        sources = {name: make_source(tool, run_dir, model, many, server.endpoint_url, envs[name], args.timeout)
                   for name, tool in tools.items()}
        order = list(tools.values())
        for attempt in range(repeats):
            for tool in order if attempt % 2 == 0 else order[::-1]:
                env, src = envs[tool.name], sources[tool.name]
                exe = str(tool.executable)
                try:
                    dst = consumer(tool, run_dir / f"use-{tool.name}", env, args.timeout)
                    runner.timed(("s3", "import", "model (2 GiB)" if not args.quick else "model"), tool.name,
                                 [exe, "import", str(src), "model.bin"], dst, env)
                    if (dst / "model.bin").stat().st_size != model.stat().st_size:
                        raise BenchError(f"{tool.name} import: model.bin has the wrong size")
                    shutil.rmtree(dst)
                    os.sync()
                    dst = consumer(tool, run_dir / f"use-{tool.name}", env, args.timeout)
                    runner.timed(("s3", "import", "dataset"), tool.name, [exe, "import", str(src), "data"], dst, env)
                    check_dataset(many, dst / "data")
                    shutil.rmtree(dst)
                except BenchError as error:
                    errors.append(f"{tool.name}: {error}")
                    log(f"FAILED: {error}")
    finally:
        bench_remote.stop_servers(None, server, log)
        if not args.keep:
            bench.remove_run_dir(run_dir)
            shutil.rmtree(bench_chunks.CHUNK_DATA, ignore_errors=True)  # the model; bench.py keeps its dataset
    info["load_average_at_end"] = os.getloadavg()
    print(f"\nimport from a SeaweedFS-backed source (medians of {repeats}); load at end {info['load_average_at_end']}")
    for line in bench_remote.ratio_lines(runner.results, lambda key: key[2], 16, 7, 6):
        print(line)
    for error in errors:
        print(f"ERROR {error[:3000]}")
    if args.json:
        bench.write_json(args.json, {
            "machine": info, "quick": args.quick, "repeats": repeats,
            "timed": [{"key": list(key), "tools": {n: bench.measurement_json(m) for n, m in per.items()}}
                      for key, per in runner.results.items()],
            "errors": errors})
    return 2 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
