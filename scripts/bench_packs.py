#!/usr/bin/env python3
"""Benchmark artver's packed remotes (issue 10's figures) against DVC and against artver itself
with ``pack false``, on this machine.

    .venv/bin/python scripts/bench_packs.py [--quick] [--only NAME] [--tools artver,dvc]
                                            [--json PATH] [--big-tools artver] [--keep]

Reuses scripts/bench.py (data generator, the measuring wrapper, the DVC venv) and
scripts/bench_remote.py (remotes, SeaweedFS set-up, the timed-command runner). Phases (--only,
repeatable or comma-separated):

  transfers  20,000 files of 1-16 KiB in 20 folders of 1,000 (--quick: 2,000 in 10 of 200):
             push / push again / pull into a fresh clone / pull again, to a directory remote and
             to SeaweedFS, for three variants in turn: ``artver`` (default settings: packs),
             ``artver-nopack`` (the same artver with ``remote.NAME.pack false``: one object per
             file, the format before packs, i.e. the "before" reference measured in this run)
             and ``dvc``.
  folder     in a fresh clone, pull one folder (``data/d007``: 1,000 files) from the S3 remote
             the transfers phase filled, through a counting relay: bytes on the wire both ways
             and HTTP requests by kind, per variant (``dvc pull data/d007`` for DVC).
  gc         in each source repository, delete half the folders (10,000 files), commit, then
             ``artver gc --workspace --cloud --yes`` / ``dvc gc --workspace --cloud --force``
             through the relay: time, requests, and the remote's object count and bytes before
             and after.
  big        200,000 files of 1-16 KiB (200 folders of 1,000; --quick: 20,000), S3 only,
             artver only unless --big-tools says otherwise (DVC moves ~200 files/s to S3 here,
             so ~20 minutes per direction): push, push again, pull into a fresh clone, pull again.
  sweep      pack_size 8 / 32 / 64 MiB and pack_threshold 256 KiB / 1 MiB / 4 MiB on the 20,000
             files, push + pull, S3 and directory (artver only).

The counting relay (``CountingRelay`` below) is a TCP relay on 127.0.0.1 between the client and
SeaweedFS: it counts the bytes it forwards each way and parses the client's HTTP/1.1 requests
(request line, headers, Content-Length or chunked bodies) to count them by method. Timed
transfers (transfers, big, sweep) go to SeaweedFS directly; folder and gc go through the relay
(a second remote name, ``s3relay``, with the same URL and the relay as endpoint), which adds a
little latency to every request for both tools alike.

Every command is one child process measured by bench.measure() (wall, CPU and peak RSS of its
process tree), with a timeout; SeaweedFS and the relay are stopped in a finally. Repositories,
remotes and the SeaweedFS directory live in .bench/runs/packs-* and are deleted at the end
(unless --keep); the generated data stays in .bench/data.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

import bench  # noqa: E402
import bench_remote as br  # noqa: E402
from bench import BenchError, Tool  # noqa: E402

PHASES = ("transfers", "folder", "gc", "big", "sweep")
VARIANTS = ("artver", "artver-nopack", "dvc")
FOLDER = "d007"
NOOP_RUNS = 2
# Push + pull rounds per (remote, variant) in a full run: the fast ones are repeated (medians);
# DVC's 20,000-file S3 round takes about 200 s and runs once.
ROUNDS = {("local", "artver"): 3, ("local", "artver-nopack"): 3, ("local", "dvc"): 1,
          ("s3", "artver"): 3, ("s3", "artver-nopack"): 1, ("s3", "dvc"): 1}


def log(message: str) -> None:
    print(f"[bench-packs] {message}", flush=True)


# --------------------------------------------------------------------------- counting relay


class RequestParser:
    """Counts the HTTP/1.1 requests in one connection's client-to-server byte stream.

    Bodies are skipped by Content-Length or by chunked framing, so bytes inside a body are
    never mistaken for a request line. Only header blocks are buffered.
    """

    def __init__(self, counts: dict[str, int], lock: threading.Lock) -> None:
        self.counts, self.lock = counts, lock
        self.buffer = bytearray()
        self.body_left = 0
        self.chunked = False  # inside a chunked body, between chunks
        self.trailers = False  # after the last chunk: skip trailer lines up to a blank one
        self.broken = False

    def feed(self, data: bytes) -> None:
        if self.broken:
            return
        self.buffer += data
        while self.buffer:
            if self.body_left:
                take = min(self.body_left, len(self.buffer))
                del self.buffer[:take]
                self.body_left -= take
                continue
            end = self.buffer.find(b"\r\n")
            if end < 0:
                if len(self.buffer) > 1 << 20:
                    self.broken = True  # not HTTP as expected: stop counting rather than guess
                    self.counts["unparsed"] = self.counts.get("unparsed", 0) + 1
                return
            if self.trailers:
                line = bytes(self.buffer[:end])
                del self.buffer[:end + 2]
                if not line:
                    self.trailers = False
                continue
            if self.chunked:
                line = bytes(self.buffer[:end]).split(b";")[0].strip()
                del self.buffer[:end + 2]
                if not line:
                    continue  # the CRLF after a chunk's data
                size = int(line, 16)
                if size == 0:
                    self.chunked, self.trailers = False, True
                else:
                    self.body_left = size + 2
                continue
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = bytes(self.buffer[:head_end]).decode("latin-1").split("\r\n")
            del self.buffer[:head_end + 4]
            method, target = (head[0].split(" ") + ["", ""])[:2]
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            kind = method
            if method == "GET" and ("list-type" in target or "prefix=" in target or target.rstrip("/").count("/") <= 1):
                kind = "LIST"
            elif method == "GET" and "range" in headers:
                kind = "GET-range"
            elif method == "POST" and "delete" in target:
                kind = "DELETE-batch"
            with self.lock:
                self.counts[kind] = self.counts.get(kind, 0) + 1
            if "chunked" in headers.get("transfer-encoding", "").lower():
                self.chunked = True
            else:
                self.body_left = int(headers.get("content-length", "0") or 0)


class CountingRelay:
    """A loopback TCP relay to ``target`` that counts bytes each way and requests by kind."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.lock = threading.Lock()
        self.bytes = {"up": 0, "down": 0}
        self.requests: dict[str, int] = {}
        self.connections = 0
        self.stopping = threading.Event()
        self.sockets: set[socket.socket] = set()
        self.threads: list[threading.Thread] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        acceptor = threading.Thread(target=self._accept, daemon=True)
        acceptor.start()
        self.threads.append(acceptor)

    def snapshot(self) -> dict:
        with self.lock:
            return {"up": self.bytes["up"], "down": self.bytes["down"], "requests": dict(self.requests),
                    "connections": self.connections}

    @staticmethod
    def since(after: dict, before: dict) -> dict:
        kinds = set(after["requests"]) | set(before["requests"])
        requests = {k: after["requests"].get(k, 0) - before["requests"].get(k, 0) for k in sorted(kinds)}
        return {"up": after["up"] - before["up"], "down": after["down"] - before["down"],
                "requests": {k: v for k, v in requests.items() if v},
                "connections": after["connections"] - before["connections"]}

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                server = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            for sock in (client, server):
                sock.settimeout(None)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.connections += 1
                self.sockets.update((client, server))
            parser = RequestParser(self.requests, self.lock)
            for source, sink, direction, feed in ((client, server, "up", parser.feed), (server, client, "down", None)):
                thread = threading.Thread(target=self._pump, args=(source, sink, direction, feed), daemon=True)
                thread.start()
                self.threads.append(thread)

    def _pump(self, source: socket.socket, sink: socket.socket, direction: str, feed) -> None:  # type: ignore[no-untyped-def]
        try:
            while True:
                data = source.recv(256 * 1024)
                if not data:
                    break
                with self.lock:
                    self.bytes[direction] += len(data)
                if feed is not None:
                    feed(data)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            try:
                sink.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def stop(self) -> None:
        self.stopping.set()
        self.listener.close()
        with self.lock:
            sockets = list(self.sockets)
        for sock in sockets:
            try:
                sock.close()
            except OSError:
                pass
        for thread in self.threads:
            thread.join(timeout=2)


# --------------------------------------------------------------------------- set-up


@dataclass
class Env:
    runner: br.Runner
    tools: dict[str, Tool]  # variant -> tool (artver and artver-nopack share the executable)
    envs: dict[str, dict[str, str]]
    sites: dict[str, br.RemoteSite]
    relay: CountingRelay | None
    quick: bool
    records: list[dict] = field(default_factory=list)

    def record(self, phase: str, variant: str, what: str, sample: bench.Sample, **extra: object) -> dict:
        row = {"phase": phase, "variant": variant, "what": what, "wall_s": round(sample.wall_s, 3),
               "cpu_s": round(sample.cpu_s, 2), "peak_mib": round(sample.peak_kib / 1024, 1), **extra}
        self.records.append(row)
        return row


def remote_name(variant: str, site: str) -> str:
    return site if variant != "artver-nopack" else f"{site}-nopack"


def site_url(site: br.RemoteSite, variant: str, workload: str) -> str:
    return site.url(variant, workload)


def setup_remotes(e: Env, variant: str, repo: Path, workload: str, extra: dict[str, str] | None = None) -> None:
    tool, env = e.tools[variant], e.envs[variant]
    exe = str(tool.executable)
    for site in e.sites.values():
        names = [(remote_name(variant, site.name), site.endpoint)]
        if site.name == "s3" and e.relay is not None:
            names.append((remote_name(variant, "s3relay"), e.relay.endpoint))
        for name, endpoint in names:
            bench.run([exe, "remote", "add", name, site_url(site, variant, workload)], repo, env, e.runner.timeout)
            if endpoint:
                key = "endpoint_url" if tool.name == "artver" else "endpointurl"
                bench.run([exe, "remote", "modify", name, key, endpoint], repo, env, e.runner.timeout)
            if variant == "artver-nopack":
                bench.run([exe, "remote", "modify", name, "pack", "false"], repo, env, e.runner.timeout)
            for key, value in (extra or {}).items():
                bench.run([exe, "remote", "modify", name, key, value], repo, env, e.runner.timeout)


def make_source(e: Env, variant: str, workload: bench.ManyFiles, extra: dict[str, str] | None = None,
                suffix: str = "") -> Path:
    tool, env, timeout = e.tools[variant], e.envs[variant], e.runner.timeout
    repo = e.runner.run_dir / f"src-{variant}-{workload.name}{suffix}"
    if repo.exists():
        br._rmtree(repo)
    repo.mkdir(parents=True)
    br.git(["init", "-q"], repo, env, timeout)
    tool.init(repo, timeout)
    workload.populate(repo, timeout)
    start = time.perf_counter()
    bench.run([str(tool.executable), "add", workload.target], repo, env, timeout)
    setup_remotes(e, variant, repo, workload.name + suffix, extra)
    br.commit_all(repo, env, "v1", timeout)
    br.git(["tag", "v1"], repo, env, timeout)
    log(f"  {variant}: source repository for {workload.name}{suffix} ready ({time.perf_counter() - start:.1f}s add)")
    return repo


def reset_remote(e: Env, variant: str, site: str, workload: str) -> None:
    e.sites[site].reset(variant, workload, defer=True)


def clone(e: Env, variant: str, src: Path, name: str) -> Path:
    path = e.runner.run_dir / name
    if path.exists():
        br.discard(path, e.runner.run_dir / "trash")
    env, timeout = e.envs[variant], e.runner.timeout
    br.git(["clone", "-q", str(src), str(path)], e.runner.run_dir, env, timeout)
    br.after_clone(e.tools[variant], path, timeout)
    return path


def remote_contents(e: Env, variant: str, workload: str) -> dict:
    """Objects and bytes under the variant's S3 prefix, by kind (packs/, index/, other)."""
    site = e.sites["s3"]
    bucket, prefix = site.bucket(variant), f"{workload}/"
    out: dict[str, list[int]] = {}
    paginator = site.client.get_paginator("list_objects_v2")  # type: ignore[attr-defined]
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", ()):
            rest = item["Key"][len(prefix):]
            kind = rest.split("/")[0] if rest.startswith(("packs/", "index/")) else "other"
            entry = out.setdefault(kind, [0, 0])
            entry[0] += 1
            entry[1] += item["Size"]
    return {kind: {"objects": n, "bytes": b} for kind, (n, b) in sorted(out.items())}


def folder_bytes(workload: bench.ManyFiles, folder: str) -> tuple[int, int]:
    files = [p for p in (workload._v1() / folder).iterdir() if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


# --------------------------------------------------------------------------- phases


def transfer_round(e: Env, variant: str, site: str, src: Path, workload: bench.ManyFiles, phase: str,
                   label: str | None = None, noop_runs: int = NOOP_RUNS, wl_name: str | None = None) -> None:
    tool, env = e.tools[variant], e.envs[variant]
    label = label or variant
    marker = br.NOOP_MARKERS[tool.name]
    remote = remote_name(variant, site)
    key = lambda op: (site, wl_name or workload.name, op)  # noqa: E731
    reset_remote(e, variant, site, wl_name or workload.name)
    sample, _ = e.runner.timed(key("push"), label, br.push_argv(tool, remote), src, env, reject=marker)
    e.record(phase, label, f"{site} push", sample)
    for _ in range(noop_runs):
        sample, _ = e.runner.timed(key("push_noop"), label, br.push_argv(tool, remote), src, env, expect=marker)
        e.record(phase, label, f"{site} push_noop", sample)
    path = clone(e, variant, src, f"clone-{label}")
    try:
        sample, _ = e.runner.timed(key("pull"), label, br.pull_argv(tool, remote), path, env)
        e.record(phase, label, f"{site} pull", sample)
        br.verify_pull(workload, path)
        for _ in range(noop_runs):
            sample, _ = e.runner.timed(key("pull_noop"), label, br.pull_argv(tool, remote), path, env, expect=marker)
            e.record(phase, label, f"{site} pull_noop", sample)
    finally:
        br.discard(path, e.runner.run_dir / "trash")


def phase_transfers(e: Env, workload: bench.ManyFiles, sources: dict[str, Path]) -> None:
    for variant in e.tools:
        if variant not in sources:
            sources[variant] = make_source(e, variant, workload)
    for site in e.sites:
        rounds = {variant: 1 if e.quick else ROUNDS.get((site, variant), 1) for variant in e.tools}
        for attempt in range(max(rounds.values())):
            for variant in e.tools:  # interleaved, so that drifts in the machine's load hit all alike
                if attempt >= rounds[variant]:
                    continue
                last = attempt == rounds[variant] - 1
                log(f"transfers / {site}: {variant} round {attempt + 1}/{rounds[variant]} "
                    f"(load {os.getloadavg()[0]:.2f})")
                transfer_round(e, variant, site, sources[variant], workload, "transfers",
                               noop_runs=NOOP_RUNS if last else 0)
    # The S3 remotes stay filled for the folder and gc phases; the directory remotes go.
    for variant in e.tools:
        if "local" in e.sites:
            reset_remote(e, variant, "local", workload.name)


def ensure_pushed(e: Env, variant: str, src: Path, workload: bench.ManyFiles) -> None:
    """The S3 remote holds v1 (pushed, untimed, if the transfers phase did not run)."""
    tool, env = e.tools[variant], e.envs[variant]
    bench.run(br.push_argv(tool, remote_name(variant, "s3")), src, env, e.runner.timeout)


def phase_folder(e: Env, workload: bench.ManyFiles, sources: dict[str, Path]) -> None:
    assert e.relay is not None
    count, size = folder_bytes(workload, FOLDER)
    target = f"{workload.target}/{FOLDER}"
    for variant in e.tools:
        tool, env = e.tools[variant], e.envs[variant]
        if variant not in sources:
            sources[variant] = make_source(e, variant, workload)
        ensure_pushed(e, variant, sources[variant], workload)
        path = clone(e, variant, sources[variant], f"folder-{variant}")
        try:
            before = e.relay.snapshot()
            argv = [str(tool.executable), "pull", "-r", remote_name(variant, "s3relay"), target]
            sample, output = e.runner.timed(("s3relay", workload.name, f"pull {target}"), variant, argv, path, env)
            wire = CountingRelay.since(e.relay.snapshot(), before)
            got = sorted(p.name for p in (path / target).iterdir()) if (path / target).is_dir() else []
            if len(got) != count:
                raise BenchError(f"{variant} pull {target}: {len(got)} files, expected {count}\n{output[-2000:]}")
            for name in got[:: max(1, count // 50)]:
                if (path / target / name).read_bytes() != (workload._v1() / FOLDER / name).read_bytes():
                    raise BenchError(f"{variant} pull {target}: {name} differs")
            others = sum(len(files) for root, _, files in os.walk(path / workload.target)
                         if not root.startswith(str(path / target)))
            contents = remote_contents(e, variant, workload.name)
            meta = sum(v["bytes"] for k, v in contents.items() if k in ("index", "other"))
            row = e.record("folder", variant, f"pull {target}", sample, folder_files=count, folder_bytes=size,
                           other_files_checked_out=others, wire=wire, remote=contents,
                           down_over_folder=round(wire["down"] / size, 2),
                           index_and_whole_objects_bytes=meta)
            log(f"  {variant}: {wire['down']:,} bytes down ({row['down_over_folder']}x the folder's "
                f"{size:,}), {wire['up']:,} up, requests {wire['requests']}, {others} files outside the folder")
        finally:
            br.discard(path, e.runner.run_dir / "trash")


def phase_gc(e: Env, workload: bench.ManyFiles, sources: dict[str, Path]) -> None:
    assert e.relay is not None
    half = workload.params["folders"] // 2
    for variant in e.tools:
        tool, env, timeout = e.tools[variant], e.envs[variant], e.runner.timeout
        if variant not in sources:
            sources[variant] = make_source(e, variant, workload)
        src = sources[variant]
        ensure_pushed(e, variant, src, workload)
        for folder in range(half):
            shutil.rmtree(src / workload.target / f"d{folder:03d}")
        bench.run([str(tool.executable), "add", workload.target], src, env, timeout)
        br.commit_all(src, env, "half deleted", timeout)
        bench.run(br.push_argv(tool, remote_name(variant, "s3")), src, env, timeout)  # the new listing
        before_remote = remote_contents(e, variant, workload.name)
        remote = remote_name(variant, "s3relay")
        argv = ([str(tool.executable), "gc", "--workspace", "--cloud", "--yes", "-r", remote] if tool.name == "artver"
                else [str(tool.executable), "gc", "--workspace", "--cloud", "--force", "-r", remote])
        before = e.relay.snapshot()
        sample, output = e.runner.timed(("s3relay", workload.name, "gc --cloud"), variant, argv, src, env)
        wire = CountingRelay.since(e.relay.snapshot(), before)
        after_remote = remote_contents(e, variant, workload.name)
        e.record("gc", variant, "gc --cloud (half dead)", sample, wire=wire, remote_before=before_remote,
                 remote_after=after_remote, output_tail=output[-400:])
        log(f"  {variant}: gc {sample.wall_s:.2f}s, requests {wire['requests']}, {wire['down']:,} down / "
            f"{wire['up']:,} up; remote {before_remote} -> {after_remote}")
        # The remote still serves the live half: pull it into a fresh clone and compare.
        path = clone(e, variant, src, f"gc-check-{variant}")
        try:
            bench.run(br.pull_argv(tool, remote_name(variant, "s3")), path, env, timeout)
            for folder in range(half, workload.params["folders"]):
                name = f"d{folder:03d}/f0000.bin"
                if (path / workload.target / name).read_bytes() != (workload._v1() / name).read_bytes():
                    raise BenchError(f"{variant}: {name} differs after gc")
            if tool.name == "artver":
                bench.run([str(tool.executable), "verify", "-r", remote_name(variant, "s3")], path, env, timeout)
        finally:
            br.discard(path, e.runner.run_dir / "trash")


def phase_big(e: Env, workload: bench.ManyFiles, variants: list[str]) -> None:
    workload.prepare()
    for variant in variants:
        src = make_source(e, variant, workload)
        try:
            transfer_round(e, variant, "s3", src, workload, "big")
            if e.tools[variant].name == "artver":
                # Evidence for what bounds the pull's peak memory: the parallel ranged reads.
                tool, env = e.tools[variant], e.envs[variant]
                path = clone(e, variant, src, f"clone-j2-{variant}")
                try:
                    argv = br.pull_argv(tool, remote_name(variant, "s3")) + ["-j", "2"]
                    sample, _ = e.runner.timed(("s3", workload.name, "pull -j 2"), variant, argv, path, env)
                    e.record("big", variant, "s3 pull -j 2", sample)
                    br.verify_pull(workload, path)
                finally:
                    br.discard(path, e.runner.run_dir / "trash")
        finally:
            reset_remote(e, variant, "s3", workload.name)
            br.discard(src, e.runner.run_dir / "trash")


SWEEP = (("pack_size", "8388608"), ("pack_size", "67108864"), ("pack_threshold", "262144"),
         ("pack_threshold", "4194304"))


def phase_sweep(e: Env, workload: bench.ManyFiles, sources: dict[str, Path]) -> None:
    for key, value in SWEEP:
        label = f"artver {key}={int(value) // 1024 // 1024 or int(value) // 1024}{'MiB' if int(value) >= 1 << 20 else 'KiB'}"
        suffix = f"-{key}-{value}"
        src = make_source(e, "artver", workload, {key: value}, suffix=suffix)
        try:
            for site in e.sites:
                transfer_round(e, "artver", site, src, workload, "sweep", label=label, noop_runs=0,
                               wl_name=workload.name + suffix)
                reset_remote(e, "artver", site, workload.name + suffix)
        finally:
            br.discard(src, e.runner.run_dir / "trash")


# --------------------------------------------------------------------------- report


def summarize(records: list[dict]) -> list[str]:
    lines = []
    by: dict[tuple[str, str, str], list[dict]] = {}
    for row in records:
        by.setdefault((row["phase"], row["what"], row["variant"]), []).append(row)

    def med(rows: list[dict], name: str) -> float:
        values = sorted(r[name] for r in rows)
        return values[len(values) // 2]

    lines.append(f"{'phase':10s} {'operation':28s} {'variant':26s} {'n':>2s} {'wall s':>8s} {'cpu s':>7s} {'MiB':>6s}  vs dvc")
    for (phase, what, variant), rows in by.items():
        dvc = by.get((phase if phase != "sweep" else "transfers", what, "dvc"))
        ratio = ""
        if dvc and variant != "dvc":
            ratio = f"{med(dvc, 'wall_s') / max(med(rows, 'wall_s'), 1e-9):.1f}x faster"
        lines.append(f"{phase:10s} {what:28s} {variant:26s} {len(rows):2d} {med(rows, 'wall_s'):8.2f} "
                     f"{med(rows, 'cpu_s'):7.2f} {max(r['peak_mib'] for r in rows):6.1f}  {ratio}")
        extra = rows[-1]
        if "wire" in extra:
            wire = extra["wire"]
            text = f"    wire: {wire['down']:,} B down, {wire['up']:,} B up, {wire['connections']} connections, requests {wire['requests']}"
            if "folder_bytes" in extra:
                text += (f"; folder {extra['folder_files']} files {extra['folder_bytes']:,} B -> down/folder "
                         f"{extra['down_over_folder']}x; index+whole objects in remote {extra['index_and_whole_objects_bytes']:,} B;"
                         f" files outside the folder checked out: {extra['other_files_checked_out']}")
            lines.append(text)
        if "remote_before" in extra:
            lines.append(f"    remote before {extra['remote_before']} after {extra['remote_after']}")
    return lines


def _median(records: list[dict], phase: str, what: str, variant: str) -> float | None:
    values = sorted(r["wall_s"] for r in records if (r["phase"], r["what"], r["variant"]) == (phase, what, variant))
    return values[len(values) // 2] if values else None


def targets(records: list[dict]) -> list[tuple[str, bool | None, str]]:
    """Issue 10's benchmark targets, judged on this run's figures (PASS/FAIL/n/a, detail)."""
    out: list[tuple[str, bool | None, str]] = []
    for op in ("push", "pull"):
        art, dvc = _median(records, "transfers", f"s3 {op}", "artver"), _median(records, "transfers", f"s3 {op}", "dvc")
        out.append((f"S3: many-file {op} >= 10x faster than DVC", None if art is None or dvc is None else dvc / art >= 10,
                    "not measured" if art is None or dvc is None else f"dvc {dvc:.2f}s / artver {art:.2f}s = {dvc / art:.1f}x"))
    for op in ("push", "pull"):
        art = _median(records, "transfers", f"local {op}", "artver")
        old = _median(records, "transfers", f"local {op}", "artver-nopack")
        out.append((f"directory: many-file {op} no slower than before packs (pack false)",
                    None if art is None or old is None else art <= old,
                    "not measured" if art is None or old is None else f"packs {art:.2f}s vs pack false {old:.2f}s = {art / old:.2f}x"))
    for what, limit in (("s3 push", 60.0), ("s3 pull", 60.0), ("s3 push_noop", 1.0)):
        art = _median(records, "big", what, "artver")
        out.append((f"big: {what} < {limit:g} s", None if art is None else art < limit,
                    "not measured" if art is None else f"{art:.2f}s"))
    for row in records:
        if row["phase"] == "folder" and row["variant"] == "artver":
            allowed = 3 * row["folder_bytes"] + row["index_and_whole_objects_bytes"]
            out.append(("folder pull: bytes down <= 3x folder + index + listing", row["wire"]["down"] <= allowed,
                        f"{row['wire']['down']:,} B down vs {allowed:,} B allowed (folder {row['folder_bytes']:,} B, "
                        f"index + whole objects {row['index_and_whole_objects_bytes']:,} B)"))
    peaks = [(r["peak_mib"], f"{r['phase']} {r['what']}") for r in records if r["variant"].startswith("artver")]
    if peaks:
        worst, where = max(peaks)
        out.append(("artver peak memory < 200 MiB everywhere", worst < 200, f"max {worst:.1f} MiB ({where})"))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2,000 / 20,000 files instead of 20,000 / 200,000")
    parser.add_argument("--only", action="append", metavar="NAME", help=f"phases ({', '.join(PHASES)})")
    parser.add_argument("--skip", action="append", metavar="NAME", help="phases not to run")
    parser.add_argument("--tools", default=",".join(VARIANTS), help=f"variants (default {','.join(VARIANTS)})")
    parser.add_argument("--big-tools", default="artver", help="variants for the big phase (default artver)")
    parser.add_argument("--remotes", default="local,s3", help="remotes for transfers/sweep (default local,s3)")
    parser.add_argument("--timeout", type=float, help="seconds per command (default 1800, 300 with --quick)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the raw figures as JSON")
    parser.add_argument("--keep", action="store_true", help="keep .bench/runs/packs-*")
    args = parser.parse_args(argv)
    only = [n for item in (args.only or []) for n in item.split(",") if n]
    skip = [n for item in (args.skip or []) for n in item.split(",") if n]
    for name in only + skip:
        if name not in PHASES:
            parser.error(f"unknown phase {name}: choose from {', '.join(PHASES)}")
    phases = [p for p in PHASES if (not only or p in only) and p not in skip]
    variants = [v for v in args.tools.split(",") if v]
    big_variants = [v for v in args.big_tools.split(",") if v]
    for v in variants + big_variants:
        if v not in VARIANTS:
            parser.error(f"unknown variant {v}: choose from {', '.join(VARIANTS)}")
    timeout = args.timeout or (300.0 if args.quick else 1800.0)

    bench.BENCH_DIR.mkdir(exist_ok=True)
    base = {"artver": bench.make_artver()}
    if "dvc" in variants + big_variants:
        base["dvc"] = bench.make_dvc()
    tools = {v: base["dvc" if v == "dvc" else "artver"] for v in dict.fromkeys(variants + big_variants)}
    info = bench.machine_info(base)
    info["load_average_at_start"] = os.getloadavg()
    if args.quick:
        many = bench.ManyFiles("packs-many", "2,000 files (10 x 200)", "data", True,
                               {"folders": 10, "per_folder": 200, "changed": 100})
        big = bench.ManyFiles("packs-big", "20,000 files (20 x 1,000)", "data", True,
                              {"folders": 20, "per_folder": 1000, "changed": 100})
    else:
        many = bench.ManyFiles("packs-many", "20,000 files (20 x 1,000)", "data", False,
                               {"folders": 20, "per_folder": 1000, "changed": 100})
        big = bench.ManyFiles("packs-big", "200,000 files (200 x 1,000)", "data", False,
                              {"folders": 200, "per_folder": 1000, "changed": 100})
    run_dir = (bench.RUNS_DIR / f"packs-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}").resolve()
    run_dir.mkdir(parents=True)
    log(str(info))
    runner = br.Runner(run_dir, timeout)
    server = relay = None
    failures: list[str] = []
    started = time.perf_counter()
    e: Env | None = None
    try:
        import boto3
        from botocore.config import Config as BotoConfig

        from tests.support.servers import start_seaweedfs

        server = start_seaweedfs(run_dir / "seaweedfs")
        runner.server_pid = server.pid
        log(f"SeaweedFS (pid {server.pid}) at {server.endpoint_url}")
        host_port = server.endpoint_url.split("//", 1)[1].rstrip("/")
        host, port = host_port.rsplit(":", 1)
        relay = CountingRelay((host, int(port)))
        client = boto3.client("s3", endpoint_url=server.endpoint_url, aws_access_key_id=server.access_key,
                              aws_secret_access_key=server.secret_key, region_name=br.S3_REGION,
                              config=BotoConfig(s3={"addressing_style": "path"}))
        sites = {}
        if "local" in args.remotes.split(","):
            sites["local"] = br.RemoteSite("local", run_dir)
        sites["s3"] = br.RemoteSite("s3", run_dir, endpoint=server.endpoint_url, client=client)
        for variant in tools:
            client.create_bucket(Bucket=sites["s3"].bucket(variant))
        extra_env = br.s3_env(server, run_dir)
        envs = {v: br.tool_env(t, extra_env) for v, t in tools.items()}
        e = Env(runner, {v: tools[v] for v in variants}, envs, sites, relay, args.quick)
        for tool in base.values():
            log(f"warm-up: {tool.name}")
            br.warm_up_remotes(runner, tool, list(sites.values()), envs[tool.name if tool.name in envs else "artver"])
        sources: dict[str, Path] = {}
        if any(p in phases for p in ("transfers", "folder", "gc", "sweep")):
            many.prepare()
        for phase in phases:
            log(f"=== {phase} ({time.perf_counter() - started:.0f}s elapsed, load {os.getloadavg()[0]:.2f})")
            try:
                if phase == "transfers":
                    phase_transfers(e, many, sources)
                elif phase == "folder":
                    phase_folder(e, many, sources)
                elif phase == "gc":
                    phase_gc(e, many, sources)
                    for path in sources.values():
                        br.discard(path, run_dir / "trash")
                    sources.clear()
                elif phase == "big":
                    big_env = Env(runner, {v: tools[v] for v in big_variants}, envs, {"s3": sites["s3"]}, relay,
                                  args.quick, e.records)
                    phase_big(big_env, big, big_variants)
                elif phase == "sweep":
                    sweep_env = Env(runner, {"artver": tools["artver"]}, envs, sites, None, args.quick, e.records)
                    phase_sweep(sweep_env, many, sources)
            except Exception as error:  # noqa: BLE001 - report and go on with the next phase
                failures.append(f"{phase}: {error}")
                log(f"{phase} FAILED: {error}")
    finally:
        br.stop_servers(relay, server, log)
        if not args.keep:
            bench.remove_run_dir(run_dir)
    info["load_average_at_end"] = os.getloadavg()
    records = e.records if e is not None else []
    print()
    print(f"Results (median wall s; peak RSS of the command's process tree; total {time.perf_counter() - started:.0f}s)")
    print(f"Load average at start {info['load_average_at_start']}, at end {info['load_average_at_end']}")
    for line in summarize(records):
        print(line)
    verdicts = targets(records)
    print("\nTargets:")
    for name, ok, detail in verdicts:
        print(f"  {'n/a ' if ok is None else 'PASS' if ok else 'FAIL'}  {name}: {detail}")
    if failures:
        print("\nErrors:")
        for failure in failures:
            print(f"  {failure[:3000]}")
    if args.json:
        bench.write_json(args.json, {"machine": info, "quick": args.quick, "records": records, "errors": failures,
                                     "targets": [{"target": n, "ok": ok, "detail": d} for n, ok, d in verdicts]})
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
