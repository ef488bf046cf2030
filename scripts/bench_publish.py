#!/usr/bin/env python3
"""Benchmark ``artver publish`` of a 2 GiB model to a local OCI registry, against skopeo.

    .venv/bin/python scripts/bench_publish.py [--quick] [--repeat N] [--json PATH] [--keep]

The registry is the CNCF distribution registry (Debian's ``docker-registry``), started on
loopback by this script through tests/support/registry.py with filesystem storage under
.bench/runs/, plain HTTP. The model is scripts/bench.py's big-file v1 (2 GiB; --quick: 256 MiB),
tracked in a fresh repository and committed. Operations, each a child process measured by
bench.measure() (wall time, CPU time of the process tree, peak RSS), plus the CPU time the
registry process used meanwhile (from /proc; the two share the machine's cores):

  publish          ``artver publish`` into an empty registry with an empty digest index: every
                   byte read from the cache, sha256 computed while it is sent (chunked upload)
  publish_known    the same into an empty registry, digests remembered from an earlier publish:
                   the registry checks the digest, artver does not hash
  publish_again    ``artver publish`` of the same commit to the same tag: nothing to send
  publish_new_tag  the same commit to another tag: one HEAD per blob, one manifest PUT
  skopeo_copy      the physical reference: ``skopeo copy`` of the very blobs and manifest artver
                   published, from an OCI layout on the same disk (written by ``skopeo copy``
                   from the registry, untimed) into an empty registry

"An empty registry" is a registry restarted on wiped storage before that run. Reuses
scripts/bench.py for the data, the measuring wrapper and the environment (not modified).
Everything but the generated data is deleted at the end unless --keep.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

import bench  # noqa: E402  (scripts/bench.py: helpers only; its main() is not run)
from bench import BenchError, Measurement  # noqa: E402

from tests.support.registry import RegistryServer, require, start_registry  # noqa: E402

TIMEOUT = 1800.0
OPERATIONS = {
    "publish": "artver publish, empty registry, digests unknown",
    "publish_known": "artver publish, empty registry, digests remembered",
    "publish_again": "artver publish again, same tag (no-op)",
    "publish_new_tag": "artver publish, same commit, new tag",
    "skopeo_copy": "skopeo copy oci-layout -> empty registry",
}


def log(message: str) -> None:
    print(f"[bench-publish] {message}", flush=True)


def artver_argv() -> list[str]:
    if bench.ARTVER_BIN.exists():
        return [str(bench.ARTVER_BIN)]
    return [sys.executable, "-m", "artver"]  # a worktree without its own venv: this interpreter, ROOT first on the path


class Registry:
    """A registry that can be emptied (restarted on wiped storage) between runs."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.server: RegistryServer | None = None

    def fresh(self) -> str:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory.mkdir(parents=True)
        self.server = start_registry(self.directory)
        return self.server.host

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the registry process has used so far."""
        assert self.server is not None
        fields = Path(f"/proc/{self.server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="256 MiB instead of 2 GiB")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the run folder")
    args = parser.parse_args(argv)

    skopeo = require("skopeo", "skopeo")
    workload = bench.make_workloads(args.quick)["big-file"]
    workload.prepare()
    model = workload.data_dir() / "v1.bin"
    run_dir = bench.RUNS_DIR / f"publish-{os.getpid()}"
    repo, layout, log_file = run_dir / "repo", run_dir / "layout", run_dir / "commands.log"
    repo.mkdir(parents=True)
    env = bench.base_env()
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    artver = artver_argv()
    registry = Registry(run_dir / "registry")
    results = {name: Measurement() for name in OPERATIONS}
    registry_cpu: dict[str, list[float]] = {name: [] for name in OPERATIONS}
    index = repo / ".artver" / "cache" / "oci-digests.db"

    def timed(name: str, command: list[str]) -> None:
        bench.run(["sync"], ROOT)
        before = registry.cpu_seconds()
        sample, output = bench.measure(command, repo, env, TIMEOUT, log_file)
        if sample.rc != 0:
            raise BenchError(f"{name} failed:\n{output[-2000:]}")
        results[name].samples.append(sample)
        registry_cpu[name].append(registry.cpu_seconds() - before)
        log(f"{name}: {sample.wall_s:.2f}s wall, {sample.cpu_s:.2f}s CPU, registry {registry_cpu[name][-1]:.2f}s CPU, "
            f"{sample.peak_kib / 1024:.0f} MiB peak, load {os.getloadavg()[0]:.1f}")

    try:
        bench.run(["git", "init", "-q"], repo, env)
        bench.run([*artver, "init"], repo, env)
        bench.run(["cp", "-p", str(model), str(repo / "model.bin")], repo)
        bench.settle()
        bench.run([*artver, "add", "model.bin"], repo, env, TIMEOUT)
        bench.run(["git", "add", "-A"], repo, env)
        bench.run(["git", "commit", "-qm", "model"], repo, env)
        host = registry.fresh()
        bench.run([*artver, "publish", f"{host}/warm/up:v0", "--insecure"], repo, env, TIMEOUT)  # untimed warm-up
        bench.run([skopeo, "copy", "--insecure-policy", "--src-tls-verify=false", f"docker://{host}/warm/up:v0",
                   f"oci:{layout}:v1"], ROOT, env, TIMEOUT)
        for round_number in range(1, args.repeat + 1):
            log(f"round {round_number} of {args.repeat}")
            index.unlink(missing_ok=True)
            host = registry.fresh()
            timed("publish", [*artver, "publish", f"{host}/bench/model:v1", "--insecure"])
            timed("publish_again", [*artver, "publish", f"{host}/bench/model:v1", "--insecure"])
            timed("publish_new_tag", [*artver, "publish", f"{host}/bench/model:v{round_number + 1}", "--insecure"])
            host = registry.fresh()
            timed("publish_known", [*artver, "publish", f"{host}/bench/model:v1", "--insecure"])
            host = registry.fresh()
            timed("skopeo_copy", [skopeo, "copy", "--insecure-policy", "--dest-tls-verify=false", f"oci:{layout}:v1",
                                  f"docker://{host}/bench/model:v1"])
    finally:
        registry.stop()
        if not args.keep:
            bench.remove_run_dir(run_dir)

    size = workload.total_bytes()
    print(f"\nartver publish of one {size // bench.MiB} MiB file to a local registry ({args.repeat} runs each)\n")
    print("| operation | median wall | min wall | MiB/s (median) | client CPU | registry CPU | client peak RSS |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, label in OPERATIONS.items():
        m = results[name]
        rate = size / bench.MiB / m.median_s if m.median_s and name in ("publish", "publish_known", "skopeo_copy") else None
        print(f"| {label} | {m.median_s:.2f} s | {m.min_s:.2f} s | {f'{rate:.0f}' if rate else '-'} | "
              f"{m.median_cpu_s:.2f} s | {statistics.median(registry_cpu[name]):.2f} s | {m.peak_mib:.0f} MiB |")
    if args.json:
        machine = {"nproc": os.cpu_count(), "load_average_at_end": os.getloadavg(),
                   "registry": bench.run([require("docker-registry", "docker-registry"), "--version"], ROOT).strip(),
                   "skopeo": bench.run([skopeo, "--version"], ROOT).strip()}
        payload = {"size": size, "repeat": args.repeat, "machine": machine,
                   "results": {name: bench.measurement_json(m, registry_cpu_s=registry_cpu[name]) for name, m in results.items()},
                   "medians": {name: statistics.median(s.wall_s for s in m.samples) for name, m in results.items()}}
        bench.write_json(args.json, payload)
    return 0


if __name__ == "__main__":
    started = time.perf_counter()
    try:
        code = main()
    except BenchError as error:
        print(f"[bench-publish] error: {error}", file=sys.stderr)
        code = 2
    log(f"done in {time.perf_counter() - started:.0f}s")
    sys.exit(code)
