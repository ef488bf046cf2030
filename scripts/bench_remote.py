#!/usr/bin/env python3
"""Benchmark artver's remote transfers, diff and log against DVC, on this machine.

    .venv/bin/python scripts/bench_remote.py [--quick] [--only NAME] [--repeat N] [--json PATH]
                                             [--remotes local,s3] [--tools artver,dvc] [--keep]

artver runs with its default remote settings, so small objects go into packs since issue 10;
scripts/bench_packs.py measures packs against ``pack false`` and DVC (bytes and requests on the
wire, folder pull, gc, 200,000 files). Reuses scripts/bench.py (data generators and .bench/data, the measuring wrapper, the DVC venv,
tool set-up); that script is not modified. Phases (--only, repeatable or comma-separated):

  big-file    one 2 GiB file (--quick: 256 MiB)                        } push / pull against a
  many-files  20,000 files of 1-16 KiB (--quick: 2,000)                } local directory and S3
  diff        ``diff v1 v2`` of the 20,000-file dataset, 100 files changed (vs ``dvc diff``)
  log         ``artver log model.bin`` over 200 commits that each changed it (``git log`` of the
              pointer file as the floor; DVC has no such command)

Remotes (--remotes): ``local`` (a directory on the same filesystem) and ``s3`` (SeaweedFS
``weed mini`` on loopback, started by this script through tests/support/servers.py, stopped in a
finally). Both tools get the same two remotes, configured in the committed config of one source
repository per tool and workload (artver: remote add + endpoint_url; DVC: remote add +
endpointurl), AWS credentials in the environment.

Per workload, remote and repeat, for each tool in turn (tools interleaved per repeat, so slow drifts
in the load of this shared machine hit both alike):
  push         ``push -r R`` into an empty remote (directory re-created / S3 prefix emptied)
  push_noop    the same push again: nothing to upload
  pull         ``pull -r R`` in a fresh ``git clone`` of the source repository (empty cache);
               the result is checked (size and header of the big file; file count and the
               content of 100 files of the dataset)
  pull_noop    the same pull again: nothing to download or check out
Default repeats of a whole round: local directory artver 3, DVC 2; S3 artver 2, DVC 1 (each
round is a push into an empty remote and a pull into a fresh clone; the slow ones take ~100 s).
No-op runs are repeated up to the quick-operation repeat count (default 3) in the last round;
diff and log run 3 times after one untimed warm-up run.

Every timed command is one child process measured by bench.measure(): wall time, CPU time,
and peak RSS (max over the process tree) from GNU time. ``sync`` runs before each. Page cache
is warm (the data was just written), as in bench.py. Each tool first runs an untimed warm-up
push and pull against every remote (fills bytecode caches, creates the SeaweedFS volumes).
Generated data stays in .bench/data; repositories, remotes and the SeaweedFS directory live in
.bench/runs/remote-* and are deleted at the end (unless --keep).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

import bench  # noqa: E402  (scripts/bench.py: helpers only; its main() is not run)
from bench import BenchError, Measurement, Sample, Tool, Workload  # noqa: E402

RUNS_DIR = bench.RUNS_DIR
QUICK_REPEAT = 3  # no-op transfers, diff, log
# Full (non-quick) default repeats of a push+pull round, per (workload, remote, tool): chosen so
# that a full run takes about 25 minutes on a 2-core machine (the 20k-file S3 rounds take
# about 100 s per command for either tool).
TRANSFER_REPEATS = {
    ("many-files", "local", "artver"): 3,
    ("many-files", "local", "dvc"): 2,
    ("many-files", "s3", "artver"): 2,
    ("many-files", "s3", "dvc"): 1,
    ("big-file", "local", "artver"): 3,
    ("big-file", "local", "dvc"): 2,
    ("big-file", "s3", "artver"): 2,
    ("big-file", "s3", "dvc"): 1,
}
LOG_COMMITS = 200
LOG_COMMITS_QUICK = 40
S3_REGION = "us-east-1"
REMOTE_NAMES = ("local", "s3")
PHASES = ("big-file", "many-files", "diff", "log")

OP_LABELS = {
    "push": "push (empty remote)",
    "push_noop": "push again (no-op)",
    "pull": "pull (fresh clone, empty cache)",
    "pull_noop": "pull again (no-op)",
    "diff": "diff v1 v2 (100 files changed)",
    "log": "log model.bin",
}


def log(message: str) -> None:
    print(f"[bench-remote] {message}", flush=True)


# --------------------------------------------------------------------------- remotes


@dataclass
class RemoteSite:
    """One remote kind; ``url(tool, workload)`` is where that tool's repository pushes."""

    name: str
    run_dir: Path
    endpoint: str | None = None
    client: object = None  # boto3 S3 client (s3 only)
    artver_link: str = "copy"  # artver's remote.NAME.link for a directory remote (--artver-link)

    def bucket(self, tool: str) -> str:
        return f"bench-{tool}"

    def url(self, tool: str, workload: str) -> str:
        if self.name == "local":
            return str(self.run_dir / "remotes" / f"{tool}-{workload}")
        return f"s3://{self.bucket(tool)}/{workload}"

    def reset(self, tool: str, workload: str, defer: bool = False) -> None:
        """Make the remote empty (a fresh remote for the next push)."""
        if self.name == "local":
            path = Path(self.url(tool, workload))
            if path.exists():
                discard(path, self.run_dir / "trash" if defer else None)
            path.mkdir(parents=True)
            return
        bucket, prefix = self.bucket(tool), f"{workload}/"
        paginator = self.client.get_paginator("list_objects_v2")  # type: ignore[attr-defined]
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", ())]
            if keys:
                self.client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})  # type: ignore[attr-defined]
        left = self.client.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)  # type: ignore[attr-defined]
        if left.get("KeyCount"):
            raise BenchError(f"s3://{bucket}/{prefix} is not empty after deleting its objects")


def _rmtree(path: Path) -> None:
    # Remote and cache objects are read-only files in writable folders: rmtree copes.
    shutil.rmtree(path)


# Clones and directory remotes are not deleted between rounds but moved to a trash folder:
# trees of 20,000 files stay there until the run ends; 2 GiB trees (few inodes, much disk
# space) are deleted, untimed, after each remote's rounds, followed by a sync and a pause. On ext4 without a journal (as on the
# machine this was written on) the inode allocator skips inodes freed in the last 60 s (360 s
# while their inode-table block is still dirty), probing each one: creating 20,000 files right
# after deleting 20,000 costs several seconds of kernel time more than on a quiet filesystem;
# and deleting 4 GiB on a filesystem mounted with `discard` keeps the disk busy for seconds. So
# a round would pay for the previous round's clean-up, which was the other tool's.
# (It cannot help with what other processes on a shared machine delete.)
def discard(path: Path, trash: Path | None) -> None:
    """Delete `path` now, or move it into `trash` (deleted with the run folder) if given."""
    if trash is None:
        _rmtree(path)
        return
    trash.mkdir(exist_ok=True)
    os.rename(path, trash / f"{len(os.listdir(trash))}-{path.name}")


def empty_trash(trash: Path) -> None:
    """Delete what the rounds set aside, then let the disk settle before anything is timed."""
    if trash.exists():
        _rmtree(trash)
    os.sync()
    time.sleep(20)  # the disk is mounted with discard: freeing gigabytes keeps it busy a while


def s3_env(server, run_dir: Path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    # Empty AWS config files, so that nothing in ~/.aws changes what either tool does.
    empty = run_dir / "aws-empty-config"
    empty.write_text("")
    return {
        "AWS_ACCESS_KEY_ID": server.access_key,
        "AWS_SECRET_ACCESS_KEY": server.secret_key,
        "AWS_DEFAULT_REGION": S3_REGION,
        "AWS_CONFIG_FILE": str(empty),
        "AWS_SHARED_CREDENTIALS_FILE": str(empty),
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }


def tool_env(tool: Tool, extra: dict[str, str]) -> dict[str, str]:
    env = {key: value for key, value in tool.env.items() if not key.startswith("AWS_")}
    env.update(extra)
    return env


# --------------------------------------------------------------------------- per-tool commands


def stop_servers(relay, server, log_line: Callable[[str], None]) -> None:  # type: ignore[no-untyped-def]
    """Stop a run's counting relay and SeaweedFS, those that were started (each by its own
    stop, which ends the process by its id)."""
    if relay is not None:
        relay.stop()
    if server is not None:
        server.stop()
        log_line("SeaweedFS stopped")


def ratio_lines(results: dict, key_text: Callable[[tuple[str, ...]], str], key_width: int, name_width: int,
                ratio_width: int) -> list[str]:
    """One line per timed command and tool of a Runner's results: median wall and CPU, peak
    memory, the ratio to DVC's median wall time in the same run, and the samples."""
    lines = []
    for key, per_tool in results.items():
        dvc = per_tool.get("dvc")
        for name, m in per_tool.items():
            ratio = f"{m.median_s / dvc.median_s:.2f}x" if dvc and dvc.samples and name != "dvc" else ""
            samples = "/".join(f"{x.wall_s:.1f}" for x in m.samples)
            lines.append(f"  {key_text(key):{key_width}s} {name:{name_width}s} {m.median_s:8.2f}s cpu "
                         f"{m.median_cpu_s:7.2f}s {m.peak_mib:7.1f} MiB {ratio:>{ratio_width}s}  ({samples})")
    return lines


def remote_setup_argv(tool: Tool, site: RemoteSite, url: str) -> list[list[str]]:
    exe = str(tool.executable)
    if tool.name == "artver":
        argvs = [[exe, "remote", "add", site.name, url]]
        if site.endpoint:
            argvs.append([exe, "remote", "modify", site.name, "endpoint_url", site.endpoint])
        if site.name == "local" and site.artver_link != "copy":
            argvs.append([exe, "remote", "modify", site.name, "link", site.artver_link])
    else:
        argvs = [[exe, "remote", "add", site.name, url]]
        if site.endpoint:
            argvs.append([exe, "remote", "modify", site.name, "endpointurl", site.endpoint])
    return argvs


def push_argv(tool: Tool, remote: str) -> list[str]:
    return [str(tool.executable), "push", "-r", remote]


def pull_argv(tool: Tool, remote: str) -> list[str]:
    return [str(tool.executable), "pull", "-r", remote]


# Text each tool prints when a push / pull had nothing to do (checked so that a "no-op" figure
# really is one, and a real transfer is not mistaken for one).
NOOP_MARKERS = {"artver": ("up to date",), "dvc": ("up to date",)}


def after_clone(tool: Tool, clone: Path, timeout: float) -> None:
    if tool.name == "dvc":  # keep DVC's state database inside the clone (see bench.Dvc.init)
        bench.run([str(tool.executable), "config", "--local", "core.site_cache_dir",
                   str(clone / ".dvc" / "tmp" / "site")], clone, tool.env, timeout)


# --------------------------------------------------------------------------- a session


def process_cpu_s(pid: int | None) -> float | None:
    """User + system CPU seconds of one process so far (``weed mini`` is a single process)."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


@dataclass
class Runner:
    run_dir: Path
    timeout: float
    results: dict[tuple[str, str, str], dict[str, Measurement]] = field(default_factory=dict)
    # CPU seconds the S3 server (SeaweedFS) spent during each timed command, per key and tool.
    server_cpu: dict[tuple[str, str, str], dict[str, list[float]]] = field(default_factory=dict)
    server_pid: int | None = None

    def timed(self, key: tuple[str, str, str], tool_name: str, argv: list[str], cwd: Path,
              env: dict[str, str], expect: tuple[str, ...] = (), reject: tuple[str, ...] = (),
              warmup: bool = False) -> tuple[Sample, str]:
        os.sync()
        logfile = self.run_dir / f"{tool_name}.log"
        server_before = process_cpu_s(self.server_pid) if key[0] == "s3" else None
        sample, output = bench.measure(argv, cwd, env, self.timeout, logfile)
        server_after = process_cpu_s(self.server_pid) if server_before is not None else None
        server_s = server_after - server_before if server_before is not None and server_after is not None else None
        what = f"{tool_name} {'/'.join(key)}"
        if sample.rc != 0:
            raise BenchError(f"{what}: exit code {sample.rc}\n{output[-3000:]}")
        lowered = output.lower()
        for marker in expect:
            if marker.lower() not in lowered:
                raise BenchError(f"{what}: expected {marker!r} in the output, got:\n{output[-3000:]}")
        for marker in reject:
            if marker.lower() in lowered:
                raise BenchError(f"{what}: did not expect {marker!r} in the output, got:\n{output[-3000:]}")
        measurement = self.results.setdefault(key, {}).setdefault(tool_name, Measurement())
        (measurement.warmup if warmup else measurement.samples).append(sample)
        if server_s is not None and not warmup:
            self.server_cpu.setdefault(key, {}).setdefault(tool_name, []).append(server_s)
        server_text = f"  server cpu {server_s:6.2f}s" if server_s is not None else ""
        log(f"  {tool_name:6s} {'/'.join(key):40s} {sample.wall_s:8.3f}s  cpu {sample.cpu_s:7.2f}s  "
            f"{sample.peak_kib / 1024:6.1f} MiB{server_text}  load {os.getloadavg()[0]:.2f}"
            f"{'  (warm-up)' if warmup else ''}")
        return sample, output


def git(args: list[str], repo: Path, env: dict[str, str], timeout: float) -> str:
    return bench.run(["git", *args], repo, env, timeout)


def commit_all(repo: Path, env: dict[str, str], message: str, timeout: float) -> None:
    git(["add", "-A"], repo, env, timeout)
    git(["commit", "-q", "-m", message], repo, env, timeout)


def make_source_repo(tool: Tool, workload: Workload, sites: list[RemoteSite], run_dir: Path,
                     env: dict[str, str], timeout: float) -> Path:
    """A Git repository with the workload's version 1 added and both remotes configured (committed),
    tagged v1. Untimed."""
    repo = run_dir / f"src-{tool.name}-{workload.name}"
    if repo.exists():
        _rmtree(repo)
    repo.mkdir(parents=True)
    git(["init", "-q"], repo, env, timeout)
    tool.init(repo, timeout)
    workload.populate(repo, timeout)
    start = time.perf_counter()
    bench.run([str(tool.executable), "add", workload.target], repo, env, timeout)
    for site in sites:
        for argv in remote_setup_argv(tool, site, site.url(tool.name, workload.name)):
            bench.run(argv, repo, env, timeout)
    commit_all(repo, env, "v1", timeout)
    git(["tag", "v1"], repo, env, timeout)
    log(f"  {tool.name}: source repository for {workload.name} ready ({time.perf_counter() - start:.1f}s add)")
    return repo


def verify_pull(workload: Workload, clone: Path) -> None:
    workload.verify_v1(clone)  # big file: size + header; many files: the 100 files v2 changes
    if isinstance(workload, bench.ManyFiles):
        count = sum(len(files) for _, _, files in os.walk(clone / workload.target))
        wanted = workload.params["folders"] * workload.params["per_folder"]
        if count != wanted:
            raise BenchError(f"{workload.name}: {count} files after pull, expected {wanted}")
        rng = random.Random(7)
        for relative in rng.sample(workload.files(), 100):
            if (clone / workload.target / relative).read_bytes() != (workload._v1() / relative).read_bytes():
                raise BenchError(f"{workload.name}: {relative} differs after pull")


def transfer_round(r: Runner, tool: Tool, workload: Workload, site: RemoteSite, src: Path,
                   env: dict[str, str], noop_runs: int) -> None:
    key = lambda op: (site.name, workload.name, op)  # noqa: E731
    trash = r.run_dir / "trash"
    site.reset(tool.name, workload.name, defer=True)
    r.timed(key("push"), tool.name, push_argv(tool, site.name), src, env, reject=NOOP_MARKERS[tool.name])
    for _ in range(noop_runs):
        r.timed(key("push_noop"), tool.name, push_argv(tool, site.name), src, env, expect=NOOP_MARKERS[tool.name])
    clone = r.run_dir / f"clone-{tool.name}-{workload.name}"
    if clone.exists():
        discard(clone, trash)
    git(["clone", "-q", str(src), str(clone)], r.run_dir, env, r.timeout)
    try:
        after_clone(tool, clone, r.timeout)
        r.timed(key("pull"), tool.name, pull_argv(tool, site.name), clone, env)
        verify_pull(workload, clone)
        for _ in range(noop_runs):
            r.timed(key("pull_noop"), tool.name, pull_argv(tool, site.name), clone, env,
                    expect=NOOP_MARKERS[tool.name])
    finally:
        discard(clone, trash)


def warm_up_remotes(r: Runner, tool: Tool, sites: list[RemoteSite], env: dict[str, str]) -> None:
    """Untimed push + pull of a tiny dataset against every remote."""
    tool.warm_up(r.run_dir, r.timeout)  # bench.py's: add/status/checkout
    src = r.run_dir / f"warm-{tool.name}"
    clone = r.run_dir / f"warm-{tool.name}-clone"
    try:
        src.mkdir()
        git(["init", "-q"], src, env, r.timeout)
        tool.init(src, r.timeout)
        (src / "warm").mkdir()
        for index in range(50):
            (src / "warm" / f"f{index}.bin").write_bytes(random.Random(index).randbytes(2048))
        bench.run([str(tool.executable), "add", "warm"], src, env, r.timeout)
        for site in sites:
            for argv in remote_setup_argv(tool, site, site.url(tool.name, "warm-up")):
                bench.run(argv, src, env, r.timeout)
        commit_all(src, env, "warm", r.timeout)
        for site in sites:
            site.reset(tool.name, "warm-up")
            bench.run(push_argv(tool, site.name), src, env, r.timeout)
            git(["clone", "-q", str(src), str(clone)], r.run_dir, env, r.timeout)
            after_clone(tool, clone, r.timeout)
            bench.run(pull_argv(tool, site.name), clone, env, r.timeout)
            _rmtree(clone)
            site.reset(tool.name, "warm-up")
    finally:
        for path in (src, clone):
            if path.exists():
                _rmtree(path)


# --------------------------------------------------------------------------- phases


def phase_transfers(r: Runner, tools: dict[str, Tool], envs: dict[str, dict[str, str]], workload: Workload,
                    sites: list[RemoteSite], repeats_of: Callable[[str, str], dict[str, int]], quick_repeat: int,
                    keep_sources: dict[str, Path] | None = None) -> None:
    """Push/pull rounds; the source repositories are deleted at the end, or handed over in
    ``keep_sources`` (tool -> repo, at tag v1) for the diff phase."""
    workload.prepare()
    sources: dict[str, Path] = {}
    try:
        for tool in tools.values():
            sources[tool.name] = make_source_repo(tool, workload, sites, r.run_dir, envs[tool.name], r.timeout)
        for site in sites:
            repeats = repeats_of(workload.name, site.name)
            most = max(repeats[name] for name in tools)
            for attempt in range(most):
                for tool in tools.values():
                    count = repeats[tool.name]
                    if attempt >= count:
                        continue
                    last = attempt == count - 1
                    noop_runs = max(1, quick_repeat - (count - 1)) if last else 1
                    log(f"{workload.name} / {site.name}: {tool.name} round {attempt + 1}/{count} "
                        f"(load {os.getloadavg()[0]:.2f})")
                    transfer_round(r, tool, workload, site, sources[tool.name], envs[tool.name], noop_runs)
            for tool in tools.values():
                site.reset(tool.name, workload.name, defer=True)
            if not isinstance(workload, bench.ManyFiles):
                # Deleting 200,000 small files would make the next remote's rounds pay the
                # inode allocator's probing of freed inodes for minutes; they wait for the end.
                empty_trash(r.run_dir / "trash")
        if keep_sources is not None:
            keep_sources.update(sources)
            sources = {}
    finally:
        for path in sources.values():
            if path.exists():
                _rmtree(path)


def build_diff_repo(tool: Tool, workload: bench.ManyFiles, r: Runner, env: dict[str, str],
                    repo: Path | None) -> Path:
    """The 20,000-file dataset at tag v1 (``repo`` if the transfer phase left one), then 100
    files changed at tag v2 (untimed)."""
    if repo is None:
        workload.prepare()
        repo = r.run_dir / f"diff-{tool.name}"
        if repo.exists():
            _rmtree(repo)
        repo.mkdir(parents=True)
        git(["init", "-q"], repo, env, r.timeout)
        tool.init(repo, r.timeout)
        workload.populate(repo, r.timeout)
        bench.run([str(tool.executable), "add", workload.target], repo, env, r.timeout)
        commit_all(repo, env, "v1", r.timeout)
        git(["tag", "v1"], repo, env, r.timeout)
    workload.make_v2(repo, r.timeout)
    bench.settle()
    bench.run([str(tool.executable), "add", workload.target], repo, env, r.timeout)
    commit_all(repo, env, "v2", r.timeout)
    git(["tag", "v2"], repo, env, r.timeout)
    return repo


def phase_diff(r: Runner, tools: dict[str, Tool], envs: dict[str, dict[str, str]], workload: bench.ManyFiles,
               quick_repeat: int, sources: dict[str, Path]) -> None:
    changed = workload.changed_in_v2()
    for tool in tools.values():
        repo = build_diff_repo(tool, workload, r, envs[tool.name], sources.pop(tool.name, None))
        try:
            argv = [str(tool.executable), "diff", "v1", "v2"]
            key = ("-", workload.name, "diff")
            r.timed(key, tool.name, argv, repo, envs[tool.name], warmup=True)
            for _ in range(quick_repeat):
                _, output = r.timed(key, tool.name, argv, repo, envs[tool.name])
            # artver prints the count and the first 20 files (all with -v/--json); DVC lists all.
            missing = ([] if f"{len(changed)} modified" in output else ["(count)"]) if tool.name == "artver" \
                else [name for name in changed if name not in output]
            if missing:
                raise BenchError(f"{tool.name} diff: {len(missing)} of the {len(changed)} changed files not "
                                 f"in its output (e.g. {missing[0]}):\n{output[-2000:]}")
        finally:
            _rmtree(repo)


def phase_log(r: Runner, artver: Tool, env: dict[str, str], commits: int, quick_repeat: int) -> None:
    repo = r.run_dir / "log-artver"
    if repo.exists():
        _rmtree(repo)
    repo.mkdir(parents=True)
    exe = str(artver.executable)
    start = time.perf_counter()
    try:
        git(["init", "-q"], repo, env, r.timeout)
        artver.init(repo, r.timeout)
        rng = random.Random(bench.SEED + 9)
        for number in range(commits):
            (repo / "model.bin").write_bytes(rng.randbytes(64 * 1024))
            bench.run([exe, "add", "model.bin"], repo, env, r.timeout)
            commit_all(repo, env, f"model v{number}", r.timeout)
        log(f"  log repository: {commits} commits built in {time.perf_counter() - start:.1f}s")
        key = ("-", f"model x{commits}", "log")
        argv = [exe, "log", "model.bin"]
        r.timed(key, "artver", argv, repo, env, warmup=True)
        for _ in range(quick_repeat):
            _, output = r.timed(key, "artver", argv, repo, env)
        heads = git(["rev-list", "HEAD"], repo, env, r.timeout).split()
        shown = sum(1 for commit in heads if commit[:7] in output)
        if shown != commits:
            raise BenchError(f"artver log listed {shown} of {commits} commits:\n{output[-2000:]}")
        # The floor: git itself listing the commits that touched the pointer file.
        git_argv = ["git", "log", "--oneline", "--", "model.bin.art"]
        r.timed(key, "git log", git_argv, repo, env, warmup=True)
        for _ in range(quick_repeat):
            r.timed(key, "git log", git_argv, repo, env)
    finally:
        _rmtree(repo)


# --------------------------------------------------------------------------- report


@dataclass(frozen=True)
class Target:
    name: str
    key: tuple[str, str, str]
    kind: str  # "ratio" (artver/dvc <= limit) or "abs" (artver seconds < / <= limit)
    limit: float
    strict: bool = False  # "<" instead of "<="


def make_targets(workloads: dict[str, Workload], log_commits: int) -> list[Target]:
    many, big = "many-files", "big-file"
    targets = [
        Target("local dir: 20k-file push >= 3x faster than DVC", ("local", many, "push"), "ratio", 1 / 3),
        Target("local dir: 20k-file pull >= 3x faster than DVC", ("local", many, "pull"), "ratio", 1 / 3),
        Target("local dir: 2 GiB push >= 1.5x faster than DVC", ("local", big, "push"), "ratio", 1 / 1.5),
        Target("local dir: 2 GiB pull >= 1.5x faster than DVC", ("local", big, "pull"), "ratio", 1 / 1.5),
        Target("S3: 20k-file push >= 1.5x faster than DVC", ("s3", many, "push"), "ratio", 1 / 1.5),
        Target("S3: 20k-file pull >= 1.5x faster than DVC", ("s3", many, "pull"), "ratio", 1 / 1.5),
        Target("S3: 2 GiB push <= 1.0x DVC's time", ("s3", big, "push"), "ratio", 1.0),
        Target("S3: 2 GiB pull <= 1.0x DVC's time", ("s3", big, "pull"), "ratio", 1.0),
    ]
    for site in REMOTE_NAMES:
        for op in ("push_noop", "pull_noop"):
            targets.append(Target(f"{site}: no-op {op[:4]} of the 20k files < 1 s", (site, many, op), "abs", 1.0, True))
    targets.append(Target("diff v1 v2 (20k files, 100 changed) <= 0.5 s", ("-", many, "diff"), "abs", 0.5))
    targets.append(Target(f"log model.bin over {log_commits} commits <= 1 s", ("-", f"model x{log_commits}", "log"),
                          "abs", 1.0))
    if big in workloads:
        size = workloads[big].params["size"]
        if size != 2 * bench.GiB:  # --quick: say so in the names
            text = f"{size // bench.MiB} MiB"
            targets = [Target(t.name.replace("2 GiB", text), t.key, t.kind, t.limit, t.strict) for t in targets]
    if many in workloads:
        count = workloads[many].params["folders"] * workloads[many].params["per_folder"]
        if count != 20_000:
            targets = [Target(t.name.replace("20k", f"{count:,}"), t.key, t.kind, t.limit, t.strict) for t in targets]
    return targets


def check_target(target: Target, results: dict) -> tuple[bool | None, str]:
    per_tool = results.get(target.key, {})
    art = per_tool.get("artver")
    if art is None or not art.samples:
        return None, "not measured"
    if target.kind == "abs":
        ok = art.median_s < target.limit if target.strict else art.median_s <= target.limit
        extra = ""
        dvc = per_tool.get("dvc")
        if dvc is not None and dvc.samples:
            extra = f" (dvc {dvc.median_s:.3f}s)"
        return ok, f"{art.median_s:.3f}s ({'<' if target.strict else '<='} {target.limit:g} s){extra}"
    dvc = per_tool.get("dvc")
    if dvc is None or not dvc.samples:
        return None, f"artver {art.median_s:.2f}s, dvc not measured"
    ratio = art.median_s / dvc.median_s
    return ratio <= target.limit, (f"artver {art.median_s:.2f}s / dvc {dvc.median_s:.2f}s = {ratio:.2f}x "
                                   f"(<= {target.limit:.2f}; speed-up {1 / ratio:.2f}x)")


def check_memory(results: dict, limit_mib: float = 200.0) -> tuple[bool | None, str]:
    peaks = [(per_tool["artver"].peak_mib, "/".join(key)) for key, per_tool in results.items()
             if "artver" in per_tool and per_tool["artver"].samples]
    if not peaks:
        return None, "not measured"
    worst, where = max(peaks)
    return worst < limit_mib, f"max {worst:.1f} MiB ({where}) (< {limit_mib:g} MiB)"


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _median_of(values: list[float] | None) -> float | None:
    return statistics.median(values) if values else None


def table_rows(results: dict, server_cpu: dict) -> list[tuple[str, ...]]:
    header = ("remote", "workload", "operation", "n", "artver s", "dvc s", "artver/dvc", "artver cpu s",
              "dvc cpu s", "S3 server cpu s (artver/dvc)", "artver MiB", "dvc MiB", "note")
    rows = [header]
    for key, per_tool in results.items():
        site, workload, op = key
        art, dvc = per_tool.get("artver"), per_tool.get("dvc")
        art_s = art.median_s if art else None
        dvc_s = dvc.median_s if dvc else None
        ratio = art_s / dvc_s if art_s is not None and dvc_s else None
        note = ""
        if "git log" in per_tool:
            note = f"git log -- model.bin.art: {per_tool['git log'].median_s:.3f}s"
        if art and len(art.samples) > 1:
            note += ("; " if note else "") + "artver " + "/".join(f"{s.wall_s:.2f}" for s in art.samples)
        if dvc and len(dvc.samples) > 1:
            note += ("; " if note else "") + "dvc " + "/".join(f"{s.wall_s:.2f}" for s in dvc.samples)
        count = "/".join(str(len(m.samples)) for m in (art, dvc) if m)
        server = server_cpu.get(key, {})
        server_text = "" if not server else \
            f"{_fmt(_median_of(server.get('artver')), '.1f')} / {_fmt(_median_of(server.get('dvc')), '.1f')}"
        rows.append((site, workload, OP_LABELS.get(op, op), count, _fmt(art_s, ".3f"), _fmt(dvc_s, ".3f"),
                     _fmt(ratio, ".2f"), _fmt(art.median_cpu_s if art else None, ".2f"),
                     _fmt(dvc.median_cpu_s if dvc else None, ".2f"), server_text,
                     _fmt(art.peak_mib if art else None, ".1f"),
                     _fmt(dvc.peak_mib if dvc else None, ".1f"), note))
    return rows


def print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())
        if index == 0:
            print("  ".join("-" * width for width in widths))


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help=f"small data (256 MiB, 2,000 files, log over {LOG_COMMITS_QUICK} commits), 1 transfer repeat")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help=f"run only these phases ({', '.join(PHASES)}); repeatable or comma-separated")
    parser.add_argument("--remotes", default="local,s3", help="comma-separated remotes (default local,s3)")
    parser.add_argument("--tools", default="artver,dvc", help="comma-separated tools (default artver,dvc)")
    parser.add_argument("--repeat", type=int,
                        help=f"repeats of every measurement (default: {QUICK_REPEAT} for no-ops/diff/log; push+pull "
                             "rounds: local artver 3, dvc 2; S3 artver 2, dvc 1; --quick: 1)")
    parser.add_argument("--timeout", type=float, help="seconds per command (default 1200, 300 with --quick)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the raw figures as JSON")
    parser.add_argument("--keep", action="store_true", help="keep .bench/runs/remote-* (debugging)")
    parser.add_argument("--work-dir", type=Path, metavar="DIR",
                        help="where repositories, remotes and SeaweedFS live (default .bench/runs; e.g. another "
                             "filesystem); the generated data stays in .bench/data")
    parser.add_argument("--artver-link", choices=("copy", "hardlink"), default="copy",
                        help="artver's remote.local.link (default copy, artver's default; hardlink shares the "
                             "cache's inodes on one filesystem)")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target fails")
    args = parser.parse_args(argv)

    if args.repeat is not None and args.repeat < 1:
        parser.error("--repeat must be at least 1")
    quick_repeat = args.repeat or QUICK_REPEAT
    timeout = args.timeout or (300.0 if args.quick else 1200.0)
    only = [name for item in (args.only or []) for name in item.split(",") if name]
    for name in only:
        if name not in PHASES:
            parser.error(f"--only {name}: choose from {', '.join(PHASES)}")
    phases = [name for name in PHASES if not only or name in only]
    remote_names = [name for name in args.remotes.split(",") if name]
    for name in remote_names:
        if name not in REMOTE_NAMES:
            parser.error(f"--remotes {name}: choose from {', '.join(REMOTE_NAMES)}")
    tool_names = [name for name in args.tools.split(",") if name]
    for name in tool_names:
        if name not in bench.TOOL_FACTORIES:
            parser.error(f"--tools {name}: choose from {', '.join(bench.TOOL_FACTORIES)}")
    log_commits = LOG_COMMITS_QUICK if args.quick else LOG_COMMITS

    def transfer_repeats(workload: str, site: str) -> dict[str, int]:
        if args.repeat:
            return {name: args.repeat for name in tool_names}
        if args.quick:
            return {name: 1 for name in tool_names}
        return {name: TRANSFER_REPEATS.get((workload, site, name), 2) for name in tool_names}

    bench.BENCH_DIR.mkdir(exist_ok=True)
    tools = {name: bench.TOOL_FACTORIES[name]() for name in tool_names}
    info = bench.machine_info(tools)
    info["load_average_at_start"] = os.getloadavg()
    info["artver_local_link"] = args.artver_link
    workloads = bench.make_workloads(args.quick)
    runs_dir = (args.work_dir or RUNS_DIR).resolve()
    run_dir = runs_dir / f"remote-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    run_dir.mkdir(parents=True)
    try:
        lines = bench.run(["df", "-T", str(run_dir)], ROOT, timeout=60).splitlines()
        info["work_dir"] = f"{run_dir} ({lines[-1].split()[1]})"
    except (BenchError, IndexError):
        pass
    log(str(info))
    runner = Runner(run_dir, timeout)
    started = time.perf_counter()
    failures: list[str] = []
    phase_times: dict[str, float] = {}
    diff_sources: dict[str, Path] = {}  # the many-files source repos, reused by the diff phase
    server = None
    try:
        sites: list[RemoteSite] = []
        extra_env: dict[str, str] = {}
        needs_remote = any(p in phases for p in ("big-file", "many-files"))
        if needs_remote and "local" in remote_names:
            sites.append(RemoteSite("local", run_dir, artver_link=args.artver_link))
        if needs_remote and "s3" in remote_names:
            import boto3
            from botocore.config import Config as BotoConfig

            from tests.support.servers import start_seaweedfs

            server = start_seaweedfs(run_dir / "seaweedfs")
            log(f"SeaweedFS (pid {server.pid}) at {server.endpoint_url}")
            extra_env = s3_env(server, run_dir)
            client = boto3.client(
                "s3", endpoint_url=server.endpoint_url, aws_access_key_id=server.access_key,
                aws_secret_access_key=server.secret_key, region_name=S3_REGION,
                config=BotoConfig(s3={"addressing_style": "path"}),
            )
            runner.server_pid = server.pid
            site = RemoteSite("s3", run_dir, endpoint=server.endpoint_url, client=client)
            for name in tool_names:
                client.create_bucket(Bucket=site.bucket(name))
            sites.append(site)
        envs = {name: tool_env(tool, extra_env) for name, tool in tools.items()}

        if sites:
            for tool in tools.values():
                log(f"warm-up: {tool.name} add/status/checkout, push/pull to {', '.join(s.name for s in sites)}")
                warm_up_remotes(runner, tool, sites, envs[tool.name])
        for phase in phases:
            phase_start = time.perf_counter()
            log(f"=== {phase} ({phase_start - started:.0f}s elapsed, load {os.getloadavg()[0]:.2f})")
            try:
                if phase in ("big-file", "many-files"):
                    if sites:
                        keep = diff_sources if phase == "many-files" and "diff" in phases else None
                        phase_transfers(runner, tools, envs, workloads[phase], sites, transfer_repeats,
                                        quick_repeat, keep)
                elif phase == "diff":
                    try:
                        phase_diff(runner, tools, envs, workloads["many-files"], quick_repeat,  # type: ignore[arg-type]
                                   diff_sources)
                    finally:
                        for path in diff_sources.values():
                            shutil.rmtree(path, ignore_errors=True)
                elif phase == "log" and "artver" in tools:
                    phase_log(runner, tools["artver"], envs["artver"], log_commits, quick_repeat)
            except Exception as error:  # noqa: BLE001 - a benchmark reports any failure and goes on with the next phase
                failures.append(f"{phase}: {error}")
                log(f"{phase} FAILED: {error}")
            phase_times[phase] = time.perf_counter() - phase_start
    finally:
        if server is not None:
            try:
                server.stop()
            finally:
                for port in server.ports:  # stop() removes them too; make sure
                    for sock in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                        sock.unlink(missing_ok=True)
            log("SeaweedFS stopped")
        if not args.keep:
            bench.remove_run_dir(run_dir)

    info["load_average_at_end"] = os.getloadavg()
    total = time.perf_counter() - started
    results = runner.results
    print()
    print(f"Results: medians, wall seconds; peak RSS of the command's process tree (total {total:.0f}s)")
    print(f"Load average at start {tuple(round(x, 2) for x in info['load_average_at_start'])}, "
          f"at end {tuple(round(x, 2) for x in info['load_average_at_end'])} on {os.cpu_count()} cores")
    busy = max(info["load_average_at_start"][0], info["load_average_at_end"][0])
    if busy > 1.0:
        print(f"WARNING: load average {busy:.1f} on {os.cpu_count()} cores: other processes were running; "
              f"the figures are noisy (see the samples in the note column / --json)")
    print()
    rows = table_rows(results, runner.server_cpu)
    print_table(rows)
    print()
    print("Targets:")
    verdicts = []
    any_fail = False
    targets = make_targets(workloads, log_commits)
    checks = [(t.name, check_target(t, results)) for t in targets]
    checks.append(("artver peak memory < 200 MiB in every operation", check_memory(results)))
    for name, (ok, detail) in checks:
        verdict = "n/a " if ok is None else ("PASS" if ok else "FAIL")
        any_fail |= ok is False
        verdicts.append({"target": name, "result": verdict.strip(), "detail": detail})
        print(f"  {verdict}  {name}: {detail}")
    if failures:
        print("\nErrors:")
        for failure in failures:
            print(f"  {failure[:3000]}")
    if args.json:
        payload = {
            "machine": info,
            "quick": args.quick,
            "repeats": {"quick_ops": quick_repeat,
                        "transfers": {f"{name}/{site}": transfer_repeats(name, site)
                                      for name in ("big-file", "many-files") for site in remote_names}},
            "phase_seconds": phase_times,
            "total_seconds": total,
            "results": [
                {"remote": key[0], "workload": key[1], "op": key[2],
                 "tools": {tool: bench.measurement_json(m, server_cpu_s=runner.server_cpu.get(key, {}).get(tool))
                           for tool, m in per_tool.items()}}
                for key, per_tool in results.items()
            ],
            "targets": verdicts,
            "errors": failures,
        }
        bench.write_json(args.json, payload)
    return bench.exit_code(failures, args.strict and any_fail)


if __name__ == "__main__":
    sys.exit(main())
