#!/usr/bin/env python3
"""Benchmark artver against DVC on the same data, on this machine (warm page cache).

    .venv/bin/python scripts/bench.py [--quick] [--only WORKLOAD] [--repeat N] [--json PATH]

Workloads (see WORKLOADS):
  big-file    one 2 GiB file (--quick: 256 MiB)
  many-files  20,000 files of 1-16 KiB in 100 folders x 200 files (--quick: 2,000 in 20 x 100)

Operations (see OPERATIONS), each tool in its own fresh Git repository:
  add                    ``add`` into a fresh repository and cache (a fresh repo per repeat)
  status_clean           ``status`` with nothing changed (after one untimed warm-up run)
  status_changed         ``status`` after one file changed (big-file: last 4 KiB rewritten;
                         many-files: one small file rewritten, same size)
  checkout               ``git checkout`` v2 -> v1, then the timed ``checkout`` (big-file: the whole
                         file differs; many-files: 100 files differ)
  status_after_checkout  ``status`` run right after that checkout
  checkout_cold          the same checkout v2 -> v1 with the page cache dropped first (needs root to
                         write /proc/sys/vm/drop_caches; skipped otherwise). big-file: replacing a
                         large workspace file whose old content is in the cache, read from disk.
and the baseline ``cp`` of the 2 GiB file within the same filesystem, timed right before each add.

Every timed command runs in its own child process; wall time is time.perf_counter() around
it and peak memory is the ru_maxrss that os.wait4() reports for that child, taken by a small
wrapper process (see measure()); it is the maximum over the command and the descendants it
waited for (e.g. git), not their sum. ``sync`` runs (untimed) before each
timed command so it does not pay for an earlier command's write-back. Data files are copied
into each repository with their mtime preserved (cp -p/-a) and the script waits SETTLE_S
seconds where a tool would otherwise see files modified within the last 2 s ("racy"
timestamps: artver re-hashes those).

Generated data and the DVC venv are kept under .bench/ for reuse; the repositories are
deleted at the end. Adding a workload or an operation means adding a Workload to WORKLOADS
or an Operation to OPERATIONS (remote push/pull can be added the same way, with a Tool
method for the command and a setup step for the remote).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / ".bench"
DATA_DIR = BENCH_DIR / "data"
RUNS_DIR = BENCH_DIR / "runs"
DVC_VENV = BENCH_DIR / "dvc-venv"
DVC_REQUIREMENTS = ("dvc==3.67.1", "dvc-s3")
ARTVER_BIN = ROOT / ".venv" / "bin" / "artver"

SEED = 20240601
MiB = 1024 * 1024
GiB = 1024 * MiB
SETTLE_S = 2.1  # artver's stat database ignores files modified less than 2 s ago
SETUP_TIMEOUT = 1800  # seconds, for untimed helper commands and the DVC install

GIT_ENV = {
    "GIT_AUTHOR_NAME": "artver bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "artver bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


class BenchError(Exception):
    pass


# --------------------------------------------------------------------------- running commands


@dataclass
class Sample:
    wall_s: float
    peak_kib: int
    rc: int
    cpu_s: float = 0.0  # user + system CPU time of the command's process tree (less sensitive to other load)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


# Peak memory. os.wait4() gives the rusage of one child only (unlike getrusage(RUSAGE_CHILDREN),
# a maximum over all children so far), but on Linux a child's ru_maxrss starts at the RSS of the
# process it was forked (or vforked) from: a command started straight from this script would
# report at least this script's own RSS (over 100 MiB after generating data). So the command is
# started by a small wrapper that forks it and reports the ru_maxrss from its own os.wait4():
# GNU time (-f %M, about 1 MiB itself) if installed, else a minimal Python (about 10 MiB, which
# then is the floor of every figure).
GNU_TIME = "/usr/bin/time"
PY_WRAPPER = (
    "import os,sys\n"
    "pid=os.fork()\n"
    "if pid==0:\n"
    "    try: os.execvp(sys.argv[2],sys.argv[2:])\n"
    "    finally: os._exit(127)\n"
    "_,st,ru=os.wait4(pid,0)\n"
    "open(sys.argv[1],'w').write(f'{ru.ru_maxrss} {ru.ru_utime} {ru.ru_stime}')\n"
    "sys.exit(os.waitstatus_to_exitcode(st))\n"
)


def _wrapped(argv: list[str], rss_file: Path) -> list[str]:
    if os.access(GNU_TIME, os.X_OK):
        return [GNU_TIME, "-f", "%M %U %S", "-o", str(rss_file), *argv]
    return [sys.executable, "-S", "-c", PY_WRAPPER, str(rss_file), *argv]


def measure(argv: list[str], cwd: Path, env: dict[str, str], timeout: float, log: Path) -> tuple[Sample, str]:
    """Run argv once as a child; return (wall time + peak RSS of argv's process tree, its output)."""
    out_path = log.with_suffix(".last")
    rss_path = log.with_suffix(".rss")
    rss_path.unlink(missing_ok=True)
    timed_out = threading.Event()
    reaped = False
    lock = threading.Lock()
    with open(out_path, "wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            _wrapped(argv, rss_path), cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,  # own process group: a timeout ends all of it
        )

        def on_timeout() -> None:
            with lock:
                if not reaped:
                    timed_out.set()
                    _kill_group(proc.pid)

        timer = threading.Timer(timeout, on_timeout)
        timer.start()
        try:
            _, status, _ = os.wait4(proc.pid, 0)
            with lock:
                reaped = True
        except BaseException:
            with lock:
                _kill_group(proc.pid)
                proc.wait()
                reaped = True
            raise
        finally:
            timer.cancel()
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    output = out_path.read_text("utf-8", "replace")
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(f"$ (cd {cwd} && {' '.join(argv)})  # {wall:.3f}s rc={proc.returncode}\n{output}\n")
    if timed_out.is_set():
        raise BenchError(f"timed out after {timeout:.0f}s: {' '.join(argv)} (in {cwd})")
    try:  # GNU time puts a status line first on failure: the figures are on the last line
        rss, user, system = rss_path.read_text().strip().splitlines()[-1].split()
        peak_kib, cpu = int(rss), float(user) + float(system)
    except (OSError, ValueError, IndexError):
        raise BenchError(f"no peak memory figure for {' '.join(argv)}") from None
    return Sample(wall, peak_kib, proc.returncode, cpu), output


def run(argv: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = SETUP_TIMEOUT) -> str:
    """An untimed helper command; raises BenchError on failure."""
    try:
        done = subprocess.run(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"timed out after {timeout:.0f}s: {' '.join(argv)} (in {cwd})") from None
    if done.returncode != 0:
        raise BenchError(
            f"failed (rc={done.returncode}): {' '.join(argv)} (in {cwd})\n"
            + (done.stdout + done.stderr).decode("utf-8", "replace")[-3000:]
        )
    return done.stdout.decode("utf-8", "replace")


def settle() -> None:
    time.sleep(SETTLE_S)


# --------------------------------------------------------------------------- tools


@dataclass(frozen=True)
class Tool:
    """How to drive one tool. Remote push/pull would be two more argv methods here."""

    name: str
    executable: Path
    env: dict[str, str]
    clean_marker: str  # text its status prints when nothing changed
    changed_marker: str  # text its status prints when something changed

    def init(self, repo: Path, timeout: float) -> None:
        raise NotImplementedError

    def add(self, target: str) -> list[str]:
        return [str(self.executable), "add", target]

    def status(self) -> list[str]:
        return [str(self.executable), "status"]

    def checkout(self) -> list[str]:
        return [str(self.executable), "checkout"]

    def warm_up(self, scratch: Path, timeout: float) -> None:
        """Run every benchmarked command once, untimed, in a throwaway repo (fills the bytecode
        cache and the OS caches for the tool's own files)."""
        repo = scratch / f"warm-up-{self.name}"
        repo.mkdir(parents=True)
        try:
            run(["git", "init", "-q"], repo, self.env, timeout)
            self.init(repo, timeout)
            (repo / "data").mkdir()
            (repo / "data" / "file.bin").write_bytes(b"warm-up\n")
            for argv in (self.add("data"), self.status(), self.checkout()):
                run(argv, repo, self.env, timeout)
        finally:
            shutil.rmtree(repo, ignore_errors=True)

    def version(self) -> str:
        return run([str(self.executable), "--version"], ROOT, self.env, 120).strip().splitlines()[-1]


class Artver(Tool):
    def init(self, repo: Path, timeout: float) -> None:
        run([str(self.executable), "init"], repo, self.env, timeout)


class Dvc(Tool):
    def init(self, repo: Path, timeout: float) -> None:
        exe = str(self.executable)
        run([exe, "init", "-q"], repo, self.env, timeout)
        run([exe, "config", "core.analytics", "false"], repo, self.env, timeout)
        run([exe, "config", "core.check_update", "false"], repo, self.env, timeout)
        # Keep DVC's state database inside the repo (default /var/tmp/dvc) so cleanup removes it.
        run([exe, "config", "--local", "core.site_cache_dir", str(repo / ".dvc" / "tmp" / "site")], repo, self.env, timeout)


def base_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("GIT_", "DVC_", "ARTVER_"))}
    env.update(GIT_ENV)
    env["DVC_NO_ANALYTICS"] = "1"
    # Both tools run from compiled bytecode, as after a normal pip install: artver is installed
    # editable here, and with PYTHONDONTWRITEBYTECODE set (as on this machine) every artver run
    # would compile its modules from source (~50 ms). The .pyc files go under .bench/, not into
    # the source tree; Tool.warm_up() fills them before anything is timed.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(BENCH_DIR / "pycache")
    return env


def make_artver() -> Tool:
    if not ARTVER_BIN.exists():
        raise BenchError(f"{ARTVER_BIN} not found: create the project venv first (scripts/test.sh does)")
    return Artver("artver", ARTVER_BIN, base_env(), clean_marker="clean", changed_marker="modified")


def make_dvc() -> Tool:
    exe = DVC_VENV / "bin" / "dvc"
    if not exe.exists():
        print(f"[bench] installing {' '.join(DVC_REQUIREMENTS)} into {DVC_VENV} (once) ...", flush=True)
        run([sys.executable, "-m", "venv", str(DVC_VENV)], ROOT)
        run([str(DVC_VENV / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", *DVC_REQUIREMENTS], ROOT)
    return Dvc("dvc", exe, base_env(), clean_marker="up to date", changed_marker="modified")


TOOL_FACTORIES: dict[str, Callable[[], Tool]] = {"artver": make_artver, "dvc": make_dvc}


# --------------------------------------------------------------------------- data


def _write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    temp = path.with_name(path.name + ".partial")
    if temp.is_dir():
        shutil.rmtree(temp)
    elif temp.exists():
        temp.unlink()
    write(temp)
    os.replace(temp, path)


def generate_big(path: Path, size: int, seed: int, block_size: int) -> None:
    """size bytes: one random block of block_size, rotated by a per-block offset and stamped
    with (seed, block number), so no two blocks are equal at any alignment."""
    base = random.Random(seed).randbytes(block_size)
    view = memoryview(base)

    def write(temp: Path) -> None:
        with open(temp, "wb") as handle:
            for index in range(size // block_size):
                offset = (index * 1_000_003) % (block_size - 16)
                handle.write(struct.pack("<QQ", seed, index))
                handle.write(view[offset + 16:])
                handle.write(view[16:offset + 16])
    _write_atomically(path, write)


def small_file_bytes(rng: random.Random, pool: memoryview, name: str) -> bytes:
    size = rng.randint(1024, 16 * 1024)
    header = f"{name}\n".encode()
    start = rng.randrange(0, len(pool) - size)
    return header + bytes(pool[start:start + size - len(header)])


def generate_many(root: Path, folders: int, per_folder: int, seed: int) -> None:
    rng = random.Random(seed)
    pool = memoryview(rng.randbytes(32 * MiB))

    def write(temp: Path) -> None:
        for folder in range(folders):
            directory = temp / f"d{folder:03d}"
            directory.mkdir(parents=True)
            for number in range(per_folder):
                name = f"f{number:04d}.bin"
                (directory / name).write_bytes(small_file_bytes(rng, pool, f"{directory.name}/{name}"))
    _write_atomically(root, write)


# --------------------------------------------------------------------------- workloads


@dataclass
class Workload:
    """One data set and how to change it. ``target`` is the name tracked in each repo."""

    name: str
    description: str
    target: str
    quick: bool
    params: dict

    def data_dir(self) -> Path:
        return DATA_DIR / f"{self.name}{'-quick' if self.quick else ''}"

    def prepare(self) -> None:  # generate the data once (kept for reuse)
        raise NotImplementedError

    def populate(self, repo: Path, timeout: float) -> None:  # copy version 1 into a repo
        raise NotImplementedError

    def make_v2(self, repo: Path, timeout: float) -> None:
        raise NotImplementedError

    def modify_one(self, repo: Path, attempt: int) -> None:
        raise NotImplementedError

    def restore_one(self, repo: Path) -> None:
        raise NotImplementedError

    def verify_v1(self, repo: Path) -> None:
        raise NotImplementedError

    def total_bytes(self) -> int:
        raise NotImplementedError


class BigFile(Workload):
    def _paths(self) -> tuple[Path, Path]:
        return self.data_dir() / "v1.bin", self.data_dir() / "v2.bin"

    def total_bytes(self) -> int:
        return self.params["size"]

    def prepare(self) -> None:
        stamp = self.data_dir() / "params.json"
        wanted = json.dumps({**self.params, "seed": SEED, "format": 1}, sort_keys=True)
        v1, v2 = self._paths()
        if stamp.exists() and stamp.read_text() == wanted and v1.exists() and v2.exists():
            return
        self.data_dir().mkdir(parents=True, exist_ok=True)
        stamp.unlink(missing_ok=True)
        start = time.perf_counter()
        for path, seed in ((v1, SEED), (v2, SEED + 1)):
            generate_big(path, self.params["size"], seed, self.params["block"])
        stamp.write_text(wanted)
        print(f"[bench] generated {self.name} data in {time.perf_counter() - start:.1f}s", flush=True)

    def populate(self, repo: Path, timeout: float) -> None:
        run(["cp", "-p", str(self._paths()[0]), str(repo / self.target)], repo, timeout=timeout)

    def make_v2(self, repo: Path, timeout: float) -> None:
        (repo / self.target).unlink()
        run(["cp", "-p", str(self._paths()[1]), str(repo / self.target)], repo, timeout=timeout)

    def modify_one(self, repo: Path, attempt: int) -> None:
        path = repo / self.target
        with open(path, "r+b") as handle:
            handle.seek(-4096, os.SEEK_END)
            handle.write(random.Random(SEED * 31 + attempt).randbytes(4096))

    def restore_one(self, repo: Path) -> None:
        with open(self._paths()[0], "rb") as source:
            source.seek(-4096, os.SEEK_END)
            original = source.read()
        with open(repo / self.target, "r+b") as handle:
            handle.seek(-4096, os.SEEK_END)
            handle.write(original)

    def verify_v1(self, repo: Path) -> None:
        with open(repo / self.target, "rb") as handle:
            seed, _ = struct.unpack("<QQ", handle.read(16))
        if seed != SEED or (repo / self.target).stat().st_size != self.params["size"]:
            raise BenchError(f"{self.name}: workspace is not version 1 after checkout")


class ManyFiles(Workload):
    @property
    def modified_one(self) -> str:  # the file status_changed rewrites: the middle one
        return f"d{self.params['folders'] // 2:03d}/f{self.params['per_folder'] // 2:04d}.bin"

    def _v1(self) -> Path:
        return self.data_dir() / "v1"

    def total_bytes(self) -> int:
        return sum(path.stat().st_size for path in self._v1().rglob("*") if path.is_file())

    def files(self) -> list[str]:
        return [
            f"d{folder:03d}/f{number:04d}.bin"
            for folder in range(self.params["folders"])
            for number in range(self.params["per_folder"])
        ]

    def changed_in_v2(self) -> list[str]:
        return sorted(random.Random(SEED + 2).sample(self.files(), self.params["changed"]))

    def prepare(self) -> None:
        stamp = self.data_dir() / "params.json"
        wanted = json.dumps({**self.params, "seed": SEED, "format": 1}, sort_keys=True)
        if stamp.exists() and stamp.read_text() == wanted and self._v1().is_dir():
            return
        self.data_dir().mkdir(parents=True, exist_ok=True)
        stamp.unlink(missing_ok=True)
        if self._v1().exists():
            shutil.rmtree(self._v1())
        start = time.perf_counter()
        generate_many(self._v1(), self.params["folders"], self.params["per_folder"], SEED)
        stamp.write_text(wanted)
        print(f"[bench] generated {self.name} data in {time.perf_counter() - start:.1f}s", flush=True)

    def populate(self, repo: Path, timeout: float) -> None:
        run(["cp", "-a", str(self._v1()), str(repo / self.target)], repo, timeout=timeout)

    def make_v2(self, repo: Path, timeout: float) -> None:
        rng = random.Random(SEED + 3)
        pool = memoryview(rng.randbytes(4 * MiB))
        for relative in self.changed_in_v2():
            path = repo / self.target / relative
            path.unlink()
            path.write_bytes(small_file_bytes(rng, pool, f"v2 {relative}"))

    def modify_one(self, repo: Path, attempt: int) -> None:
        data = bytearray((self._v1() / self.modified_one).read_bytes())
        data[len(data) // 2] ^= (attempt % 255) + 1  # same size, different content each attempt
        (repo / self.target / self.modified_one).write_bytes(bytes(data))

    def restore_one(self, repo: Path) -> None:
        (repo / self.target / self.modified_one).write_bytes((self._v1() / self.modified_one).read_bytes())

    def verify_v1(self, repo: Path) -> None:
        for relative in self.changed_in_v2():
            if (repo / self.target / relative).read_bytes() != (self._v1() / relative).read_bytes():
                raise BenchError(f"{self.name}: {relative} is not version 1 after checkout")


def make_workloads(quick: bool) -> dict[str, Workload]:
    if quick:
        big = {"size": 256 * MiB, "block": 16 * MiB}
        many = {"folders": 20, "per_folder": 100, "changed": 100}
    else:
        big = {"size": 2 * GiB, "block": 64 * MiB}
        many = {"folders": 100, "per_folder": 200, "changed": 100}
    size_text = f"{big['size'] // GiB} GiB" if big["size"] >= GiB else f"{big['size'] // MiB} MiB"
    count = many["folders"] * many["per_folder"]
    return {
        "big-file": BigFile("big-file", f"one {size_text} file", "big.bin", quick, big),
        "many-files": ManyFiles(
            "many-files", f"{count:,} files of 1-16 KiB ({many['folders']} folders x {many['per_folder']})",
            "data", quick, many,
        ),
    }


# --------------------------------------------------------------------------- one tool on one workload


@dataclass
class Measurement:
    samples: list[Sample] = field(default_factory=list)
    warmup: list[Sample] = field(default_factory=list)

    @property
    def median_s(self) -> float | None:
        return statistics.median(s.wall_s for s in self.samples) if self.samples else None

    @property
    def median_cpu_s(self) -> float | None:
        return statistics.median(s.cpu_s for s in self.samples) if self.samples else None

    @property
    def min_s(self) -> float | None:
        return min(s.wall_s for s in self.samples) if self.samples else None

    @property
    def peak_mib(self) -> float | None:
        return max(s.peak_kib for s in self.samples + self.warmup) / 1024 if self.samples else None


@dataclass
class Session:
    """One tool, one workload, one Git repository (replaced for each add repeat)."""

    tool: Tool
    workload: Workload
    run_dir: Path
    repeat: int
    timeout: float
    results: dict[str, Measurement] = field(default_factory=dict)
    repo: Path | None = None
    commits: dict[str, str] = field(default_factory=dict)

    @property
    def log(self) -> Path:
        return self.run_dir / f"{self.tool.name}-{self.workload.name}.log"

    def new_repo(self, label: str) -> Path:
        if self.repo is not None and self.repo.exists():
            shutil.rmtree(self.repo)
        repo = self.run_dir / f"{self.tool.name}-{self.workload.name}-{label}"
        repo.mkdir(parents=True)
        self.git(["init", "-q"], repo)
        self.repo = repo
        return repo

    def git(self, args: list[str], repo: Path | None = None) -> str:
        return run(["git", *args], repo or self.repo, self.tool.env, self.timeout)

    def commit(self, label: str) -> str:
        self.git(["add", "-A"])
        self.git(["commit", "-q", "-m", label])
        self.commits[label] = self.git(["rev-parse", "HEAD"]).strip()
        return self.commits[label]

    def timed(self, op: str, argv: list[str], expect: str | None = None, warmup: bool = False) -> Sample:
        assert self.repo is not None
        os.sync()
        sample, output = measure(argv, self.repo, self.tool.env, self.timeout, self.log)
        if sample.rc != 0:
            raise BenchError(f"{self.tool.name} {op}: exit code {sample.rc}\n{output[-3000:]}")
        if expect is not None and expect not in output:
            raise BenchError(f"{self.tool.name} {op}: expected {expect!r} in the output, got:\n{output[-3000:]}")
        measurement = self.results.setdefault(op, Measurement())
        (measurement.warmup if warmup else measurement.samples).append(sample)
        return sample

    def untimed(self, argv: list[str], expect: str | None = None) -> str:
        assert self.repo is not None
        output = run(argv, self.repo, self.tool.env, self.timeout)
        if expect is not None and expect not in output:
            raise BenchError(f"{self.tool.name}: expected {expect!r} from {' '.join(argv)}, got:\n{output[-3000:]}")
        return output

    def learn(self) -> None:
        """Let the tool record the current workspace (as a user's earlier status would)."""
        settle()
        self.untimed(self.tool.status(), self.tool.clean_marker)


# Operations. Each runs in order on the session's repository and leaves it at version 1,
# clean and known to the tool. To add remote benchmarks later: an Operation that sets up a
# remote (local dir, SeaweedFS) and times push and pull (e.g. pull into a fresh clone).


def op_add(s: Session) -> None:
    for attempt in range(s.repeat):
        repo = s.new_repo(f"add{attempt}")
        s.workload.populate(repo, s.timeout)
        s.tool.init(repo, s.timeout)
        if isinstance(s.workload, BigFile):
            # The baseline, taken right before each add so that both see the same machine state
            # (this matters on a shared machine): cp of the same file within the same filesystem.
            copy = repo / ".cp-baseline.bin"
            s.timed("cp", ["cp", str(repo / s.workload.target), str(copy)])
            copy.unlink()
        s.timed("add", s.tool.add(s.workload.target))
    s.commit("v1")


def op_status_clean(s: Session) -> None:
    s.timed("status_clean", s.tool.status(), s.tool.clean_marker, warmup=True)
    for _ in range(s.repeat):
        s.timed("status_clean", s.tool.status(), s.tool.clean_marker)


def op_status_changed(s: Session) -> None:
    assert s.repo is not None
    for attempt in range(s.repeat):
        s.workload.modify_one(s.repo, attempt)
        s.timed("status_changed", s.tool.status(), s.tool.changed_marker)
    s.workload.restore_one(s.repo)
    s.learn()


def op_checkout(s: Session) -> None:
    assert s.repo is not None
    s.workload.make_v2(s.repo, s.timeout)
    settle()
    s.untimed(s.tool.add(s.workload.target))
    s.commit("v2")
    s.learn()
    for _ in range(s.repeat):
        s.git(["checkout", "-q", s.commits["v1"]])
        s.timed("checkout", s.tool.checkout())
        s.timed("status_after_checkout", s.tool.status(), s.tool.clean_marker)
        s.workload.verify_v1(s.repo)
        back_to_v2(s)
    s.git(["checkout", "-q", s.commits["v1"]])
    s.untimed(s.tool.checkout())


def back_to_v2(s: Session) -> None:
    s.learn()
    s.git(["checkout", "-q", s.commits["v2"]])
    s.untimed(s.tool.checkout())
    s.learn()


DROP_CACHES = Path("/proc/sys/vm/drop_caches")


def drop_page_cache() -> bool:
    """Write back and drop the page cache, dentries and inodes (root only); False if refused."""
    os.sync()
    try:
        DROP_CACHES.write_text("3\n")
    except OSError:
        return False
    return True


def op_checkout_cold(s: Session) -> None:
    """checkout v2 -> v1 as op_checkout (which made v2), every file read from the disk."""
    assert s.repo is not None
    if not drop_page_cache():
        print(f"[bench] checkout_cold skipped: cannot write {DROP_CACHES} (run as root)", flush=True)
        return
    back_to_v2(s)
    for _ in range(s.repeat):
        s.git(["checkout", "-q", s.commits["v1"]])
        drop_page_cache()
        s.timed("checkout_cold", s.tool.checkout())
        s.workload.verify_v1(s.repo)
        back_to_v2(s)
    s.git(["checkout", "-q", s.commits["v1"]])
    s.untimed(s.tool.checkout())


@dataclass(frozen=True)
class Operation:
    name: str
    label: str
    run: Callable[[Session], None]
    produces: tuple[str, ...]


OPERATIONS = (
    Operation("add", "add (fresh repo + cache)", op_add, ("add",)),
    Operation("status_clean", "status, nothing changed", op_status_clean, ("status_clean",)),
    Operation("status_changed", "status, one file changed", op_status_changed, ("status_changed",)),
    Operation(
        "checkout", "checkout after git checkout v2->v1", op_checkout, ("checkout", "status_after_checkout")
    ),
    Operation("checkout_cold", "checkout v2->v1, page cache dropped", op_checkout_cold, ("checkout_cold",)),
)
LABELS = {
    "add": "add (fresh repo + cache)",
    "status_clean": "status, nothing changed",
    "status_changed": "status, one file changed",
    "checkout": "checkout v2->v1",
    "status_after_checkout": "status right after checkout",
    "checkout_cold": "checkout v2->v1, cold page cache",
    "cp": "cp (baseline)",
}


# --------------------------------------------------------------------------- report


@dataclass(frozen=True)
class Target:
    name: str
    check: Callable[[dict], tuple[bool | None, str]]


def _median(results: dict, workload: str, op: str, tool: str) -> float | None:
    measurement = results.get(workload, {}).get(op, {}).get(tool)
    return measurement.median_s if measurement else None


def _target_add(results: dict) -> tuple[bool | None, str]:
    art, dvc = (_median(results, "big-file", "add", t) for t in ("artver", "dvc"))
    cp = _median(results, "big-file", "cp", "cp")
    if art is None or cp is None:
        return None, "not measured"
    ok = art <= 1.2 * cp and (dvc is None or art <= 0.5 * dvc)
    dvc_text = f"{art / dvc:.2f}x dvc add (<= 0.5)" if dvc else "dvc not measured"
    art_cpu = results["big-file"]["add"]["artver"].median_cpu_s
    cp_cpu = results["big-file"]["cp"]["cp"].median_cpu_s
    cpu_text = f"; CPU time {art_cpu:.2f}s = {art_cpu / cp_cpu:.2f}x cp's" if cp_cpu else ""
    return ok, f"{art:.2f}s = {art / cp:.2f}x cp (<= 1.2), {dvc_text}{cpu_text}"


def _target_status(results: dict) -> tuple[bool | None, str]:
    art, dvc = (_median(results, "many-files", "status_clean", t) for t in ("artver", "dvc"))
    if art is None:
        return None, "not measured"
    ok = art <= 0.3 and (dvc is None or art <= 0.2 * dvc)
    dvc_text = f"{art / dvc:.2f}x dvc status (<= 0.2)" if dvc else "dvc not measured"
    return ok, f"{art:.3f}s (<= 0.3 s), {dvc_text}"


def _target_memory(results: dict) -> tuple[bool | None, str]:
    peaks = [
        (per_tool["artver"].peak_mib, f"{workload}/{op}")
        for workload, ops in results.items()
        for op, per_tool in ops.items()
        if "artver" in per_tool and per_tool["artver"].samples
    ]
    if not peaks:
        return None, "not measured"
    worst, where = max(peaks)
    return worst < 100, f"max {worst:.1f} MiB ({where}) (< 100 MiB)"


TARGETS = (
    Target("add 2 GiB <= 1.2x cp and <= 0.5x dvc add", _target_add),
    Target("status (nothing changed, 20k files) <= 0.3 s and <= 0.2x dvc", _target_status),
    Target("artver peak memory < 100 MiB in every operation", _target_memory),
)


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(results: dict, workloads: dict[str, Workload]) -> None:
    header = ("workload", "operation", "artver s", "dvc s", "artver/dvc", "artver cpu s", "dvc cpu s",
              "artver MiB", "dvc MiB", "note")
    rows = [header]
    for name, ops in results.items():
        for op, per_tool in ops.items():
            if op == "cp":
                continue
            art, dvc = per_tool.get("artver"), per_tool.get("dvc")
            art_s, dvc_s = (m.median_s if m else None for m in (art, dvc))
            art_cpu, dvc_cpu = (m.median_cpu_s if m else None for m in (art, dvc))
            ratio = art_s / dvc_s if art_s is not None and dvc_s else None
            note = ""
            if op == "add" and "cp" in ops and art_s is not None:
                cp_s, cp_cpu = ops["cp"]["cp"].median_s, ops["cp"]["cp"].median_cpu_s
                note = f"cp {cp_s:.2f}s (cpu {cp_cpu:.2f}s); artver/cp {art_s / cp_s:.2f}"
                if dvc_s:
                    note += f", dvc/cp {dvc_s / cp_s:.2f}"
            rows.append((
                workloads[name].description, LABELS.get(op, op), _fmt(art_s, ".3f"), _fmt(dvc_s, ".3f"),
                _fmt(ratio, ".2f"), _fmt(art_cpu, ".2f"), _fmt(dvc_cpu, ".2f"), _fmt(art.peak_mib if art else None, ".1f"),
                _fmt(dvc.peak_mib if dvc else None, ".1f"), note,
            ))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(header))]
    for index, row in enumerate(rows):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())
        if index == 0:
            print("  ".join("-" * width for width in widths))


def machine_info(tools: dict[str, Tool]) -> dict:
    info: dict = {"nproc": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version()}
    try:
        meminfo = Path("/proc/meminfo").read_text().split("\n")[0].split()
        info["ram_gib"] = round(int(meminfo[1]) / 1024 / 1024, 1)
    except (OSError, IndexError, ValueError):
        pass
    try:
        lines = run(["df", "-T", str(BENCH_DIR)], ROOT, timeout=60).splitlines()
        info["filesystem"] = lines[-1].split()[1]
    except (BenchError, IndexError):
        pass
    for name, tool in tools.items():
        try:
            info[f"{name}_version"] = tool.version()
        except BenchError:
            info[f"{name}_version"] = "?"
    info["artver_python"] = run([str(ROOT / ".venv" / "bin" / "python"), "--version"], ROOT, timeout=60).strip()
    info["git"] = run(["git", "--version"], ROOT, timeout=60).strip()
    try:  # the artver code measured: HEAD, and whether the work tree had changes
        head = run(["git", "rev-parse", "--short", "HEAD"], ROOT, timeout=60).strip()
        dirty = run(["git", "status", "--porcelain", "--", "artver"], ROOT, timeout=60).strip()
        info["artver_commit"] = head + ("+uncommitted changes" if dirty else "")
    except BenchError:
        pass
    try:
        info["load_average_at_start"] = os.getloadavg()
    except OSError:
        pass
    return info


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small data (256 MiB, 2,000 files), 1 repeat")
    parser.add_argument("--only", action="append", metavar="WORKLOAD",
                        help="run only this workload (big-file, many-files); repeatable or comma-separated")
    parser.add_argument("--tools", default="artver,dvc", help="comma-separated tools (default artver,dvc)")
    parser.add_argument("--repeat", type=int, help="repeats per operation (default 3, 1 with --quick)")
    parser.add_argument("--timeout", type=float, help="seconds per command (default 1200, 300 with --quick)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the raw figures as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the repositories under .bench/runs/ (debugging)")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target fails")
    args = parser.parse_args(argv)

    repeat = args.repeat or (1 if args.quick else 3)
    timeout = args.timeout or (300.0 if args.quick else 1200.0)
    if repeat < 1:
        parser.error("--repeat must be at least 1")
    workloads = make_workloads(args.quick)
    only = [name for item in (args.only or []) for name in item.split(",") if name]
    for name in only:
        if name not in workloads:
            parser.error(f"--only {name}: choose from {', '.join(workloads)}")
    selected = {name: wl for name, wl in workloads.items() if not only or name in only}
    tool_names = [name for name in args.tools.split(",") if name]
    for name in tool_names:
        if name not in TOOL_FACTORIES:
            parser.error(f"--tools {name}: choose from {', '.join(TOOL_FACTORIES)}")

    BENCH_DIR.mkdir(exist_ok=True)
    tools = {name: TOOL_FACTORIES[name]() for name in tool_names}
    info = machine_info(tools)
    print(f"[bench] {info}", flush=True)
    run_dir = RUNS_DIR / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    run_dir.mkdir(parents=True)
    results: dict[str, dict[str, dict[str, Measurement]]] = {}
    started = time.perf_counter()
    failed = False
    try:
        for name, workload in selected.items():
            workload.prepare()
            per_op: dict[str, dict[str, Measurement]] = {}
            results[name] = per_op
            for tool in tools.values():
                tool.warm_up(run_dir, timeout)
                session = Session(tool, workload, run_dir, repeat, timeout)
                try:
                    for operation in OPERATIONS:
                        print(f"[bench] {name}: {tool.name} {operation.name} "
                              f"({time.perf_counter() - started:.0f}s elapsed)", flush=True)
                        operation.run(session)
                except Exception as error:  # noqa: BLE001 - a benchmark reports any failure and goes on with the next tool
                    failed = True
                    print(f"[bench] {name}: {tool.name} FAILED: {error}\n  (log: {session.log})", flush=True)
                finally:
                    for op, measurement in session.results.items():
                        if op == "cp":  # one baseline, pooled over the sessions
                            pooled = per_op.setdefault(op, {}).setdefault("cp", Measurement())
                            pooled.samples.extend(measurement.samples)
                        else:
                            per_op.setdefault(op, {})[tool.name] = measurement
                    if session.repo is not None and session.repo.exists() and not args.keep:
                        shutil.rmtree(session.repo)
    finally:
        if not args.keep:
            remove_run_dir(run_dir)

    # Put the operations in a fixed order for the table.
    order = ["add", "cp", "status_clean", "status_changed", "checkout", "status_after_checkout", "checkout_cold"]
    for name in results:
        results[name] = dict(sorted(results[name].items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99))

    try:
        info["load_average_at_end"] = os.getloadavg()
    except OSError:
        pass
    print()
    print(f"Results: median of {repeat} run(s), warm page cache except checkout_cold, wall seconds and peak RSS "
          f"(total {time.perf_counter() - started:.0f}s)")
    busy = max(info.get("load_average_at_start", (0,))[0], info.get("load_average_at_end", (0,))[0])
    if busy > 1.5:
        print(f"WARNING: load average {busy:.1f} on {os.cpu_count()} cores: other processes were running; "
              f"the figures are noisy (see the samples in --json)")
    print()
    print_table(results, selected)
    print()
    print("Targets:")
    any_fail = False
    verdicts = []
    for target in TARGETS:
        ok, detail = target.check(results)
        verdict = "n/a " if ok is None else ("PASS" if ok else "FAIL")
        any_fail |= ok is False
        verdicts.append({"target": target.name, "result": verdict.strip(), "detail": detail})
        print(f"  {verdict}  {target.name}: {detail}")

    if args.json:
        payload = {
            "machine": info,
            "quick": args.quick,
            "repeat": repeat,
            "seed": SEED,
            "workloads": {
                name: {"description": wl.description, "params": wl.params, "bytes": wl.total_bytes()}
                for name, wl in selected.items()
            },
            "results": {
                name: {op: {tool: measurement_json(m) for tool, m in per_tool.items()} for op, per_tool in ops.items()}
                for name, ops in results.items()
            },
            "targets": verdicts,
            "errors": failed,
        }
        write_json(args.json, payload)
    return exit_code(failed, args.strict and any_fail)


def remove_run_dir(run_dir: Path) -> None:
    """Delete a run's folder, and the folder of runs if that leaves it empty."""
    shutil.rmtree(run_dir, ignore_errors=True)
    try:
        run_dir.parent.rmdir()
    except OSError:
        pass


def measurement_json(m: Measurement, **extra: object) -> dict:
    """A measurement with its derived figures, for --json (shared with bench_remote.py)."""
    return asdict(m) | {"median_s": m.median_s, "min_s": m.min_s, "median_cpu_s": m.median_cpu_s,
                        "peak_mib": m.peak_mib} | extra


def write_json(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nRaw figures written to {path}")


def exit_code(errors: list, target_failed: bool) -> int:
    """2 if a command failed, 1 if a target failed under --strict, else 0."""
    if errors:
        return 2
    return 1 if target_failed else 0


if __name__ == "__main__":
    sys.exit(main())
