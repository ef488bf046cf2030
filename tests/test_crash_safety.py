"""Crash safety: real artver processes killed (SIGKILL) or interrupted (SIGINT, Ctrl-C)
at many moments of add, push, fetch, pull, checkout and gc --workspace.

docs/design.md promises that "a process killed at any instant leaves either the old
state or the new one, never a mix that artver would trust". For every kill point
this module checks, right after the kill:

* every pointer file parses (none is truncated) and says either nothing new or
  exactly what an uninterrupted run writes; a pointer never references an object
  the cache lacks;
* every cache object (and, for push, every object of the remote under its final
  name) holds the content its name says;
* every workspace file is absent or byte-identical to a version it may have
  (checkout/pull: the old or the new one; a file both versions have is never absent);
* the stat database passes ``PRAGMA integrity_check``;
* the repository lock is free (the next command does not wait for it);

then it runs the same command again and checks that it exits 0 and finishes the
job (workspace, cache, remote as after an uninterrupted run, no temp file left in
the work tree) and that ``artver verify --all`` (push: ``verify --all -r origin``)
finds nothing wrong.

Kill points are spread over the command's measured duration (the duration of an
uninterrupted run of the same scenario is measured once per module), plus
event-triggered ones that land while the large file is half-copied. A run the
signal did not reach (the command finished first) is not checked: it is run
again with the kill point moved inside that run's duration, and the test fails
if no run of four is reached (see signal_until_it_lands).

Default (CI) run: two kill points per command, SIGINT at a few moments, one S3
push kill. The slow variant: 5 time-spread kill points per command (30 in
all) and SIGINT at 3 moments of every command; those tests carry
``@pytest.mark.slow``; the default run (and CI) deselects them, and
``./scripts/test.sh -m slow`` runs them.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import xxhash

from artver.errors import PointerError
from artver.pointer import read_pointer
from artver.transfer import default_jobs
from artver.workspace import LARGE_REPLACE
from tests.support.environment import isolated_env
from tests.support.files import ALGO, TEMP_MARKER, MiB, hash_file, object_files, store_object_path, xxh
from tests.support.git import git
from tests.support.processes import PROCESS_TIMEOUT, Processes, kill_group, run_artver_to_end
from tests.support.remotes import make_remote, s3_client, stored_objects

BIG_SIZE = 150 * MiB
SMALL_COUNT = 300


# --------------------------------------------------------------------------- data


def _big_bytes(seed: int) -> bytes:
    """BIG_SIZE pseudo-random bytes (rotations of a random 1 MiB block: cheap, no two MiB alike)."""
    import random

    block = random.Random(seed).randbytes(MiB)
    return b"".join(block[index * 4099 % MiB :] + block[: index * 4099 % MiB] for index in range(BIG_SIZE // MiB))


@dataclass(frozen=True)
class Version:
    name: str
    root: Path  # holds data/... and big.bin, as they appear in the work tree
    files: dict[str, str]  # repo-relative path -> hash

    @property
    def objects(self) -> frozenset[str]:
        return frozenset(self.files.values())


@dataclass(frozen=True)
class Dataset:
    v1: Version
    v2: Version

    def version(self, name: str) -> Version:
        return {"v1": self.v1, "v2": self.v2}[name]


def _write(root: Path, relative: str, data: bytes) -> str:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return xxh(data)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dataset]:
    """v1: 300 small files under data/ plus big.bin; v2: 225 of them changed, 25 removed,
    25 added, and a different big.bin. Generated once per module from fixed seeds."""
    import random

    rng = random.Random(20240611)
    base = tmp_path_factory.mktemp("crash-data")
    small = [f"data/part{index % 6}/f{index:03d}.bin" for index in range(SMALL_COUNT)]
    v1: dict[str, str] = {}
    v2: dict[str, str] = {}
    for index, relative in enumerate(small):
        content = rng.randbytes(rng.randint(200, 20_000))
        v1[relative] = _write(base / "v1", relative, content)
        if index % 12 == 1:
            continue  # removed in v2
        if index % 6 == 0:
            v2[relative] = _write(base / "v2", relative, content)  # unchanged
        else:
            v2[relative] = _write(base / "v2", relative, rng.randbytes(rng.randint(200, 20_000)))
    for index in range(25):
        relative = f"data/new/g{index:02d}.bin"
        v2[relative] = _write(base / "v2", relative, rng.randbytes(rng.randint(200, 20_000)))
    v1["big.bin"] = _write(base / "v1", "big.bin", _big_bytes(1))
    v2["big.bin"] = _write(base / "v2", "big.bin", _big_bytes(2))
    yield Dataset(Version("v1", base / "v1", v1), Version("v2", base / "v2", v2))
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(autouse=True)
def _remove_world(tmp_path: Path) -> Iterator[None]:
    """Each test's world holds hundreds of MB. Autouse, so it is set up before the ``processes``
    fixture and torn down after it: every process is dead before its files go."""
    yield
    shutil.rmtree(tmp_path / "world", ignore_errors=True)


# --------------------------------------------------------------------------- template


@dataclass(frozen=True)
class Template:
    repo: Path  # tags: init (artver initialised), v1, v2 (pointers of each version); cache holds v1+v2
    remote: Path  # v1+v2 objects
    pointers: dict[str, dict[str, bytes]]  # tag -> pointer file -> bytes
    gitignore: bytes  # the .gitignore add writes for data and big.bin
    measured: dict[str, tuple[float, float]]  # scenario -> (duration, seconds to the lock) of uninterrupted runs


def place_version(version: Version, repo: Path, copy: bool) -> None:
    for relative in version.files:
        target = repo / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if copy:
            shutil.copyfile(version.root / relative, target)
        else:
            os.link(version.root / relative, target)


def _timed_run(repo: Path, env: dict[str, str], *args: str) -> tuple[float, float]:
    """Run artver uninterrupted; return (duration, seconds until it held the lock)."""
    lock = repo / ".artver" / "lock"
    start = time.monotonic()
    child = subprocess.Popen([sys.executable, "-m", "artver", *args], cwd=repo, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    locked_at = None
    try:
        while child.poll() is None and time.monotonic() - start < PROCESS_TIMEOUT:
            if locked_at is None:
                try:
                    if lock.read_text().strip() == str(child.pid):
                        locked_at = time.monotonic() - start
                except (FileNotFoundError, UnicodeDecodeError):
                    pass
            time.sleep(0.002)
    finally:
        if child.poll() is None:
            kill_group(child)
        _, err = child.communicate(timeout=30)
    duration = time.monotonic() - start
    assert child.returncode == 0, f"artver {' '.join(args)} failed in the template: {err.decode()}"
    return duration, locked_at if locked_at is not None else duration / 2


@pytest.fixture(scope="module")
def template(dataset: Dataset, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Template]:
    base = tmp_path_factory.mktemp("crash-template")
    env = isolated_env(base / "home")
    repo, remote = base / "repo", base / "remote"
    repo.mkdir()
    remote.mkdir()

    def run(*args: str) -> None:
        result = run_artver_to_end(repo, *args, env=env)
        assert result.code == 0, f"template: artver {' '.join(args)}: {result.err}"

    git(repo, "init", "-q", env=env)
    run("init")
    run("remote", "add", "origin", "../remote", "--default")  # relative: each world copies repo/ and remote/
    # Every object whole: the worlds are built by linking objects under their keys. Kills during
    # packed and chunked transfers are tested in test_packs.py and test_chunks.py.
    run("remote", "modify", "origin", "pack", "false")
    run("remote", "modify", "origin", "chunk", "false")
    git(repo, "add", "-A", env=env)
    git(repo, "commit", "-q", "-m", "artver init", env=env)
    git(repo, "tag", "init", env=env)
    measured: dict[str, tuple[float, float]] = {}
    pointers: dict[str, dict[str, bytes]] = {}
    for version in (dataset.v1, dataset.v2):
        shutil.rmtree(repo / "data", ignore_errors=True)
        (repo / "big.bin").unlink(missing_ok=True)
        place_version(version, repo, copy=False)
        timing = _timed_run(repo, env, "add", "data", "big.bin")
        if version.name == "v1":
            measured["add"] = timing  # the very scenario of the add kill tests
        git(repo, "add", "-A", env=env)
        git(repo, "commit", "-q", "-m", version.name, env=env)
        git(repo, "tag", version.name, env=env)
        timing = _timed_run(repo, env, "push")
        if version.name == "v1":
            measured["push"] = timing  # v1 objects into an empty remote: the push scenario
        pointers[version.name] = {name: (repo / name).read_bytes() for name in ("data.art", "big.bin.art")}
    gitignore = (repo / ".gitignore").read_bytes()
    assert sorted(gitignore.decode().splitlines()) == ["/big.bin", "/data"]
    for version in (dataset.v1, dataset.v2):
        assert b"entries:" in pointers[version.name]["data.art"]  # inline listing: no listing object
        for hash_value in version.objects:
            assert store_object_path(repo / ".artver" / "cache", hash_value).is_file()
            assert store_object_path(remote, hash_value).is_file()
    pointers["init"] = {}
    yield Template(repo, remote, pointers, gitignore, measured)
    shutil.rmtree(base, ignore_errors=True)


# --------------------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class Scenario:
    name: str
    args: tuple[str, ...]
    rev: str  # the template tag checked out
    workspace: str | None  # version placed in the work tree
    copy_workspace: bool  # copy (the command may replace these files) or hardlink (read only)
    cache: tuple[str, ...]  # versions whose objects are in the cache
    remote: tuple[str, ...]  # versions whose objects are in the remote
    done: str  # text of the normal final output (stdout)


SCENARIOS = {
    scenario.name: scenario
    for scenario in (
        Scenario("add", ("add", "data", "big.bin"), "init", "v1", False, (), (), "To record this in Git"),
        Scenario("push", ("push",), "v1", "v1", False, ("v1",), (), "Pushed"),
        Scenario("fetch", ("fetch",), "v1", None, False, (), ("v1",), "Fetched"),
        Scenario("pull", ("pull",), "v2", "v1", True, ("v1",), ("v1", "v2"), "Checked out"),
        Scenario("checkout", ("checkout",), "v2", "v1", True, ("v1", "v2"), (), "Checked out"),
        Scenario("gc", ("gc", "--workspace"), "v2", "v2", False, ("v1", "v2"), (), "Deleted"),
    )
}


@dataclass(frozen=True)
class World:
    scenario: Scenario
    root: Path
    repo: Path
    remote: Path

    @property
    def cache(self) -> Path:
        return self.repo / ".artver" / "cache"


def build_world(base: Path, template: Template, dataset: Dataset, scenario: Scenario) -> World:
    """A fresh repository + directory remote in the scenario's starting state. Cache and
    remote objects are hardlinks to the template's (artver never writes an object in place)."""
    repo, remote = base / "repo", base / "remote"
    shutil.copytree(template.repo / ".git", repo / ".git", symlinks=True)
    git(repo, "reset", "-q", "--hard", scenario.rev)
    (repo / ".artver" / "config.local").write_text("[core]\nlock_timeout = 1\n")  # a stale lock would fail fast
    for name in scenario.cache:
        for hash_value in dataset.version(name).objects:
            target = store_object_path(repo / ".artver" / "cache", hash_value)
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                os.link(store_object_path(template.repo / ".artver" / "cache", hash_value), target)
    remote.mkdir()
    for name in scenario.remote:
        for hash_value in dataset.version(name).objects:
            target = store_object_path(remote, hash_value)
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                os.link(store_object_path(template.remote, hash_value), target)
    if scenario.workspace is not None:
        place_version(dataset.version(scenario.workspace), repo, scenario.copy_workspace)
    return World(scenario, base, repo, remote)


@pytest.fixture(scope="module")
def durations(template: Template, dataset: Dataset,
              tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], tuple[float, float]]:
    """(duration, seconds to the lock) of an uninterrupted run of each scenario, measured once."""
    measured = dict(template.measured)
    env = isolated_env(tmp_path_factory.mktemp("calibration-home"))

    def get(name: str) -> tuple[float, float]:
        if name not in measured:
            world = build_world(tmp_path_factory.mktemp(f"calibrate-{name}"), template, dataset, SCENARIOS[name])
            measured[name] = _timed_run(world.repo, env, *SCENARIOS[name].args)
            shutil.rmtree(world.root, ignore_errors=True)
        return measured[name]

    return get


# --------------------------------------------------------------------------- checks


def scan_work_tree(repo: Path) -> tuple[dict[str, Path], dict[str, int]]:
    """(files, temp files with their sizes) of the work tree, outside .git and .artver."""
    files: dict[str, Path] = {}
    temps: dict[str, int] = {}
    for directory, dirnames, filenames in os.walk(repo):
        if Path(directory) == repo:
            dirnames[:] = [name for name in dirnames if name not in (".git", ".artver")]
        for name in filenames:
            path = Path(directory) / name
            relative = path.relative_to(repo).as_posix()
            if TEMP_MARKER in name:
                temps[relative] = path.lstat().st_size
            else:
                files[relative] = path
    return files, temps


def state_db_problem(repo: Path, scratch: Path) -> str | None:
    """Check a copy of the stat database (and its WAL), so the check changes nothing artver sees."""
    database = repo / ".artver" / "state.db"
    if not database.exists():
        return None
    scratch.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        source = Path(str(database) + suffix)
        if source.exists():
            shutil.copyfile(source, scratch / f"state.db{suffix}")
    try:
        connection = sqlite3.connect(scratch / "state.db")
        try:
            rows = connection.execute("PRAGMA integrity_check").fetchall()
            connection.execute("SELECT count(*) FROM sqlite_master").fetchall()
        finally:
            connection.close()
    except sqlite3.DatabaseError as error:
        return f"stat database does not open: {error}"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return None if rows == [("ok",)] else f"stat database integrity_check: {rows[:5]}"


def lock_is_free(repo: Path) -> bool:
    path = repo / ".artver" / "lock"
    if not path.exists():
        return True
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    finally:
        os.close(fd)


def pointer_objects(version: Version, pointer_file: str) -> set[str]:
    if pointer_file == "big.bin.art":
        return {version.files["big.bin"]}
    return {hash_value for relative, hash_value in version.files.items() if relative.startswith("data/")}


def check_world(world: World, template: Template, dataset: Dataset, final: bool) -> list[str]:
    """Every guarantee of docs/design.md that can be observed from outside; returns the problems."""
    scenario = world.scenario
    problems: list[str] = []
    files, temps = scan_work_tree(world.repo)

    # Pointer files: each parses; after add, each is exactly the uninterrupted result
    # and references only objects the cache has; other commands never change them.
    cache_objects = object_files(world.cache)
    expected_pointers = template.pointers["v1" if scenario.name == "add" else scenario.rev]
    for relative in sorted(name for name in files if name.endswith(".art")):
        try:
            read_pointer(files[relative], relative)
        except PointerError as error:
            problems.append(f"pointer {relative} does not parse: {error}")
            continue
        data = files[relative].read_bytes()
        if expected_pointers.get(relative) != data:
            problems.append(f"pointer {relative} differs from what an uninterrupted run leaves ({len(data)} bytes)")
        elif scenario.name == "add":
            lacking = pointer_objects(dataset.v1, relative) - set(cache_objects)
            if lacking:
                problems.append(f"pointer {relative} written before its {len(lacking)} object(s) were in the cache")
    present_pointers = {name for name in files if name.endswith(".art")}
    if (final or scenario.name != "add") and present_pointers != set(expected_pointers):
        problems.append(f"pointer files {sorted(present_pointers)}, expected {sorted(expected_pointers)}")
    if scenario.name == "add":
        lines = (world.repo / ".gitignore").read_bytes().decode().split("\n") if ".gitignore" in files else [""]
        if lines[-1] != "" or len(set(lines[:-1])) != len(lines[:-1]) or not set(lines[:-1]) <= {"/data", "/big.bin"}:
            problems.append(f".gitignore is damaged: {lines!r}")
        if final and set(lines[:-1]) != {"/data", "/big.bin"}:
            problems.append(f".gitignore lacks a line: {lines!r}")

    # Cache: every object under its final name holds what its name says.
    for hash_value, path in sorted(cache_objects.items()):
        actual = hash_file(path)
        if actual != hash_value:
            problems.append(f"cache object {hash_value} is corrupt ({path.stat().st_size} bytes, hashes to {actual})")
    initial_cache = set().union(*(dataset.version(name).objects for name in scenario.cache))
    if scenario.name == "gc":
        lacking = dataset.v2.objects - set(cache_objects)
        if lacking:
            problems.append(f"gc deleted {len(lacking)} object(s) the workspace pointers reference")
        if final and set(cache_objects) != dataset.v2.objects:
            problems.append(f"after gc the cache holds {len(set(cache_objects) - dataset.v2.objects)} unreferenced object(s)")
    else:
        lost = initial_cache - set(cache_objects)
        if lost:
            problems.append(f"{len(lost)} cache object(s) disappeared")
        if final:
            wanted = {"add": dataset.v1, "push": dataset.v1, "fetch": dataset.v1, "pull": dataset.v2,
                      "checkout": dataset.v2}[scenario.name].objects
            lacking = wanted - set(cache_objects)
            if lacking:
                problems.append(f"the cache lacks {len(lacking)} object(s) after the rerun")

    # Remote (a directory): every object under its final name is intact.
    remote_objects = object_files(world.remote)
    for hash_value, path in sorted(remote_objects.items()):
        actual = hash_file(path)
        if actual != hash_value:
            problems.append(f"remote object {hash_value} is visible but corrupt ({path.stat().st_size} bytes)")
    if scenario.name == "push" and final and not dataset.v1.objects <= set(remote_objects):
        problems.append(f"the remote lacks {len(dataset.v1.objects - set(remote_objects))} object(s) after the rerun")

    # Workspace: every data file absent or byte-identical to a version it may have.
    data_files = {name: path for name, path in files.items() if name == "big.bin" or name.startswith("data/")}
    if scenario.name in ("pull", "checkout"):
        old, new = dataset.v1.files, dataset.v2.files
        if final:
            problems += _compare_exact(data_files, new, "v2")
        else:
            for relative in sorted(set(data_files) - set(old) - set(new)):
                problems.append(f"workspace has an unexpected file {relative}")
            for relative in sorted(set(old) | set(new)):
                allowed = {version[relative] for version in (old, new) if relative in version}
                if relative not in data_files:
                    # A large file whose content is in the cache is deleted before its
                    # replacement is written (design.md, "Write ordering" 3): a kill in between
                    # leaves it missing, and the rerun places it.
                    freed_first = (relative in old and old[relative] in cache_objects
                                   and (dataset.v1.root / relative).stat().st_size >= LARGE_REPLACE)
                    if relative in old and relative in new and not freed_first:
                        problems.append(f"workspace file {relative} vanished (it is in both versions)")
                    continue
                actual = hash_file(data_files[relative])
                if actual not in allowed:
                    size = data_files[relative].stat().st_size
                    problems.append(f"workspace file {relative} holds neither version ({size} bytes)")
    else:
        expected = dataset.version(scenario.workspace).files if scenario.workspace else {}
        problems += _compare_exact(data_files, expected, scenario.workspace or "nothing")
    if final and temps:
        untracked = set(git(world.repo, "ls-files", "-z", "--others", "--exclude-standard").split("\0"))
        listing = ", ".join(f"{name} ({size} bytes{', untracked in git status' if name in untracked else ''})"
                            for name, size in sorted(temps.items())[:5])
        problems.append(f"temp file(s) left in the work tree after the rerun: {listing}")

    # Stat database and lock.
    problem = state_db_problem(world.repo, world.root / "statedb-copy")
    if problem:
        problems.append(problem)
    if not lock_is_free(world.repo):
        problems.append("the repository lock is still held")
    return problems


def _compare_exact(actual: dict[str, Path], expected: dict[str, str], label: str) -> list[str]:
    problems = []
    for relative in sorted(set(actual) - set(expected)):
        problems.append(f"workspace has an unexpected file {relative}")
    for relative in sorted(set(expected) - set(actual)):
        problems.append(f"workspace file {relative} is missing")
    for relative in sorted(set(expected) & set(actual)):
        if hash_file(actual[relative]) != expected[relative]:
            size = actual[relative].stat().st_size
            problems.append(f"workspace file {relative} is not byte-identical to {label} ({size} bytes)")
    return problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else [])


def verify_args(scenario: Scenario) -> tuple[str, ...]:
    return ("verify", "--all", "-r", "origin") if scenario.name == "push" else ("verify", "--all")


def finish_and_check(world: World, template: Template, dataset: Dataset, context: str, run_artver,  # type: ignore[no-untyped-def]
                     report: list[str] | None = None) -> None:
    """After a kill: the state is consistent; the same command then completes; verify is clean.
    Problems right after the kill do not stop the rerun: the report says whether it repaired them."""
    report = list(report or [])
    problems = check_world(world, template, dataset, final=False)
    if problems:
        report += ["right after the kill:"] + problems
    rerun = run_artver_to_end(world.repo, *world.scenario.args)
    if rerun.code != 0 or "Traceback" in rerun.err:
        report += [f"the rerun of 'artver {' '.join(world.scenario.args)}' exited {rerun.code}: {rerun.err.strip()}"]
    else:
        problems = check_world(world, template, dataset, final=True)
        if problems:
            report += ["after the rerun:"] + problems
        verified = run_artver(world.repo, *verify_args(world.scenario))  # in-process: the same code, no start-up
        if verified.code != 0 or "all intact" not in verified.out:
            report += [f"then 'artver {' '.join(verify_args(world.scenario))}' exited {verified.code}: "
                       f"{verified.out.strip()} {verified.err.strip()}"]
    assert not report, f"{context}:\n  " + "\n  ".join(report)


# --------------------------------------------------------------------------- kill points


Trigger = Callable[[World, float, int], bool]  # (world, seconds since start, pid) -> signal now?


def at_seconds(seconds: float) -> Trigger:
    return lambda world, elapsed, pid: elapsed >= seconds


def _temp_at_least(folder: Path, size: int, any_name: bool = False, prefix: str = "") -> bool:
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return False
    for entry in entries:
        if (any_name or TEMP_MARKER in entry.name) and entry.name.startswith(prefix):
            try:
                if entry.stat(follow_symlinks=False).st_size >= size:
                    return True
            except FileNotFoundError:
                continue
    return False


def _writing_at_least(pid: int, folder: Path, size: int) -> bool:
    """Does the process hold open a file being written in ``folder`` (a temp name, or an unnamed
    O_TMPFILE inode, shown as '#<inode> (deleted)') that has reached ``size`` bytes?"""
    prefix = f"{folder}/"
    try:
        descriptors = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for descriptor in descriptors:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{descriptor}")
            if not target.startswith(prefix):
                continue
            name = target[len(prefix):]
            if "/" in name or not (folder.name == "tmp" or TEMP_MARKER in name or name.endswith("(deleted)")):
                continue
            if os.stat(f"/proc/{pid}/fd/{descriptor}").st_size >= size:
                return True
        except OSError:
            continue
    return False


def big_half_copied(dataset: Dataset) -> Trigger:
    """Fires while the large file is being written under a temp name (a third of it written)."""
    third = BIG_SIZE // 3

    def trigger(world: World, elapsed: float, pid: int) -> bool:
        name = world.scenario.name
        if name in ("add", "fetch"):
            folder = world.cache / "tmp"
        elif name == "push":
            folder = store_object_path(world.remote, dataset.v1.files["big.bin"]).parent
        else:
            folder = world.repo
        return _writing_at_least(pid, folder, third) or _temp_at_least(
            folder, third, any_name=name in ("add", "fetch"), prefix="" if name in ("add", "fetch", "push") else ".big.bin")

    return trigger


@dataclass(frozen=True)
class Outcome:
    code: int
    fired_at: float | None  # seconds after start the signal was sent; None: the process finished first
    out: str
    err: str
    seconds: float  # from start to exit
    exit_after_signal: float | None = None


def run_until(processes: Processes, world: World, trigger: Trigger, sig: int, python_flags: tuple[str, ...] = (),
              after_signal: Callable[[World], None] | None = None) -> Outcome:
    """Run the scenario's command and send ``sig`` to its group when ``trigger`` says;
    ``after_signal`` looks at the world right after the signal was sent."""
    running = processes.start(world.repo, *world.scenario.args, python_flags=python_flags)
    fired_at = None
    signalled = 0.0
    while running.process.poll() is None:
        elapsed = time.monotonic() - running.started
        if elapsed > PROCESS_TIMEOUT:
            break
        if trigger(world, elapsed, running.process.pid):
            fired_at = elapsed
            signalled = time.monotonic()
            kill_group(running.process, sig)
            if after_signal is not None:
                after_signal(world)
            break
        time.sleep(0.002)
    code = processes.wait(running)
    seconds = time.monotonic() - running.started
    out, err = running.output()
    exit_after = time.monotonic() - signalled if fired_at is not None else None
    return Outcome(code, fired_at, out, err, seconds, exit_after)


def signal_landed(outcome: Outcome, sig: int) -> bool:
    """Did the signal reach the command while it ran? Not if it was never sent (the command
    finished before its kill point), nor if the command exited 0 anyway: a signal sent between
    the harness's last look and the command's exit reaches a process that has already finished.
    SIGKILL landed only if it is what ended the process."""
    if outcome.fired_at is None:
        return False
    if sig == signal.SIGKILL:
        return outcome.code == -signal.SIGKILL
    return outcome.code != 0


KILL_ATTEMPTS = 4
TriggerFor = Callable[[float | None], Trigger]  # the trigger of one run, given how long the previous run took (None: first run)


def signal_until_it_lands(processes: Processes, new_world: Callable[[], World], trigger_for: TriggerFor, sig: int,
                          context: str, after_signal: Callable[[World], None] | None = None) -> tuple[World, Outcome, int]:
    """Run the command in a fresh world and signal it when the trigger says; if the signal did
    not land (see signal_landed), a test of that run would check a state nothing interrupted, so
    run again with the trigger made for the duration that run showed, up to KILL_ATTEMPTS runs,
    then fail saying why. Returns the world and outcome of the run that was signalled and how
    many runs before it finished first."""
    misses: list[str] = []
    observed: float | None = None
    for _ in range(KILL_ATTEMPTS):
        world = new_world()
        outcome = run_until(processes, world, trigger_for(observed), sig, after_signal=after_signal)
        if signal_landed(outcome, sig):
            return world, outcome, len(misses)
        sent = "never sent" if outcome.fired_at is None else f"sent at {outcome.fired_at:.2f}s, after it had finished"
        stderr = f" ({outcome.err.strip()[-300:]!r})" if outcome.code != 0 else ""
        misses.append(f"exited {outcome.code} after {outcome.seconds:.2f}s{stderr}, signal {sent}")
        observed = outcome.seconds
    pytest.fail(f"{context}: the signal never reached the running command in {KILL_ATTEMPTS} runs, so nothing "
                f"was tested: " + "; ".join(misses))


def at_fraction(fraction: float, measured: float) -> TriggerFor:
    """A kill at ``fraction`` of the command's duration: the measured one, or that of the previous
    run if shorter (that run finished before its kill point, so each retry comes earlier)."""
    return lambda observed: at_seconds(fraction * (measured if observed is None else min(measured, observed)))


def describe(scenario: Scenario, how: str, outcome: Outcome, duration: float, missed: int = 0) -> str:
    when = f"{outcome.fired_at:.2f}s" if outcome.fired_at is not None else "never (the command finished first)"
    retried = f" (after {missed} run(s) that finished before the signal)" if missed else ""
    return f"[{scenario.name}: kill point {how}; signal sent at {when}{retried}; uninterrupted run ~{duration:.2f}s]"


# --------------------------------------------------------------------------- SIGKILL tests


def fresh_world(tmp_path: Path, template: Template, dataset: Dataset, scenario: Scenario) -> Callable[[], World]:
    """Builds the scenario's world in tmp_path/world, replacing the one a previous run used."""
    def build() -> World:
        shutil.rmtree(tmp_path / "world", ignore_errors=True)
        return build_world(tmp_path / "world", template, dataset, scenario)

    return build


def _kill_test(scenario_name: str, how: str, trigger_for: TriggerFor, tmp_path: Path, template: Template,
               dataset: Dataset, processes: Processes, duration: float, run_artver) -> None:  # type: ignore[no-untyped-def]
    scenario = SCENARIOS[scenario_name]
    world, outcome, missed = signal_until_it_lands(processes, fresh_world(tmp_path, template, dataset, scenario),
                                                   trigger_for, signal.SIGKILL, f"[{scenario.name}: kill point {how}]")
    finish_and_check(world, template, dataset, describe(scenario, how, outcome, duration, missed), run_artver)


DEFAULT_KILLS = [
    ("add", "1/2"), ("add", "big-file-half-copied"),
    ("push", "1/2"), ("push", "big-file-half-copied"),
    ("fetch", "1/2"), ("fetch", "big-file-half-copied"),
    ("pull", "1/3"), ("pull", "big-file-half-copied"),
    ("checkout", "1/2"), ("checkout", "big-file-half-copied"),
    ("gc", "1/3"), ("gc", "2/3"),
]


@pytest.mark.parametrize(("scenario_name", "point"), DEFAULT_KILLS)
def test_sigkill_leaves_a_consistent_state(scenario_name: str, point: str, tmp_path: Path, template: Template,
                                           dataset: Dataset, durations, processes: Processes, run_artver) -> None:  # type: ignore[no-untyped-def]
    duration, _ = durations(scenario_name)
    trigger_for: TriggerFor
    if point == "big-file-half-copied":
        trigger_for = lambda observed: big_half_copied(dataset)  # noqa: E731 - an event, whatever the duration
    else:
        numerator, denominator = (int(part) for part in point.split("/"))
        trigger_for = at_fraction(numerator / denominator, duration)
    _kill_test(scenario_name, point, trigger_for, tmp_path, template, dataset, processes, duration, run_artver)


SLOW_POINTS = 6  # kill at k/6 of the duration, k = 1..5: 5 per command, 30 in all


@pytest.mark.parametrize("k", range(1, SLOW_POINTS))
@pytest.mark.parametrize("scenario_name", list(SCENARIOS))
@pytest.mark.slow
def test_sigkill_at_many_moments(scenario_name: str, k: int, tmp_path: Path, template: Template, dataset: Dataset,
                                 durations, processes: Processes, run_artver) -> None:  # type: ignore[no-untyped-def]
    duration, _ = durations(scenario_name)
    _kill_test(scenario_name, f"{k}/{SLOW_POINTS}", at_fraction(k / SLOW_POINTS, duration), tmp_path, template,
               dataset, processes, duration, run_artver)


# --------------------------------------------------------------------------- S3


def test_sigkill_during_s3_multipart_push_leaves_no_partial_object(
    request: pytest.FixtureRequest, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    processes: Processes, run_artver,  # type: ignore[no-untyped-def]
) -> None:
    """push to S3 (SeaweedFS) killed while the large file's multipart upload is under way and
    small objects go up in parallel single PUTs. Its own smaller data set: 300 small files and a
    72 MiB file (over artver's 64 MiB multipart threshold) whose hash sorts first, so that its
    upload (push goes in hash order, 32 at a time) starts while most small PUTs are still to come."""
    import random

    rng = random.Random(99)
    objects: set[str] = set()
    for index in range(SMALL_COUNT):
        objects.add(_write(repo, f"data/f{index:03d}.bin", rng.randbytes(rng.randint(200, 20_000))))
    block = bytearray(rng.randbytes(MiB))
    while True:
        big = b"".join(bytes(block[i * 4099:] + block[: i * 4099]) for i in range(72))
        if xxh(big)[7] in "01":
            break
        block[0] = (block[0] + 1) % 256
    objects.add(_write(repo, "big.bin", big))
    del big
    assert run_artver(repo, "add", "data", "big.bin").code == 0
    remote = make_remote("s3", request, tmp_path, monkeypatch, packed=False)  # the multipart upload of whole objects
    client = s3_client(request.getfixturevalue("s3_server"))
    bucket, _, prefix = remote.url[len("s3://"):].partition("/")
    # chunk = false: this is about the multipart upload of one large object stored whole.
    settings = "".join(f"{key} = {value}\n" for key, value in {**remote.settings, "chunk": "false"}.items())
    (repo / ".artver" / "config.local").write_text(
        f"[core]\nlock_timeout = 1\n\n[remote.origin]\nurl = {remote.url}\n{settings}"
    )
    scenario = Scenario("push-s3", ("push",), "", None, False, (), (), "Pushed")
    world = World(scenario, tmp_path, repo, tmp_path / "no-directory-remote")
    big_hash = read_pointer(repo / "big.bin.art", "big.bin.art").hash
    assert big_hash is not None
    big_key = f"{ALGO}/{big_hash[7:9]}/{big_hash[9:]}"
    seen_upload: list[float] = []

    def trigger(world: World, elapsed: float, pid: int) -> bool:
        # Kill a moment after the large file's multipart upload has begun (some parts sent, none completed).
        if not seen_upload:
            uploads = client.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", [])
            if any(upload["Key"].endswith(big_key) for upload in uploads):
                seen_upload.append(elapsed)
            else:
                time.sleep(0.02)
            return False
        return elapsed >= seen_upload[0] + 0.3

    outcome = run_until(processes, world, trigger, signal.SIGKILL)
    context = f"[push to S3 killed 0.3s after the multipart upload of big.bin began; signal at {outcome.fired_at}]"
    assert outcome.fired_at is not None, f"{context}: the push finished before any multipart upload was seen"
    assert signal_landed(outcome, signal.SIGKILL), f"{context}: the push had finished (exit {outcome.code}) when the kill was sent"

    def check_remote(final: bool) -> list[str]:
        from concurrent.futures import ThreadPoolExecutor

        keys = remote.keys()
        problems = []
        if final:  # contents: 'verify -r origin' below downloads and hashes every object
            held = set(stored_objects(remote))  # whole or packed
            lacking = {hash_value for hash_value in objects if hash_value not in held}
            if lacking:
                problems.append(f"S3 lacks {len(lacking)} object(s) after the rerun")
            return problems

        def check(key: str) -> str | None:
            if key.startswith("locks/"):
                return None  # a killed push's lock object: it goes stale
            data = remote.get_raw(key)
            if key == "artver-format":
                return None if data == b"artver remote format 3\n" else f"the format marker is partial: {data!r}"
            if key.startswith(("packs/", "index/")):  # the small files, packed: named by their content
                name = key.split("/", 1)[1]
                ok = xxhash.xxh3_128(data).hexdigest() == name
                return None if ok else f"S3 object {key} is visible but its {len(data)} bytes do not hash to its name"
            algorithm, first, rest = key.split("/")
            if algorithm != ALGO or xxhash.xxh3_128(data).hexdigest() != first + rest:
                return f"S3 object {key} is visible but its {len(data)} bytes do not hash to its key"
            return None

        with ThreadPoolExecutor(8) as pool:
            # the killed push's lock object stays until it is stale: not an object
            problems = [problem for problem in pool.map(check, [key for key in keys if not key.startswith("locks/")])
                        if problem]
        return problems

    report: list[str] = []
    problems = check_remote(final=False)
    if not lock_is_free(world.repo):
        problems.append("the repository lock is still held")
    if problems:
        report += ["right after the kill:"] + problems
    rerun = run_artver_to_end(world.repo, "push")
    if rerun.code != 0 or "Traceback" in rerun.err:
        report.append(f"the rerun of 'artver push' exited {rerun.code}: {rerun.err.strip()}")
    else:
        report += check_remote(final=True)
        verified = run_artver(world.repo, "verify", "--all", "-r", "origin")
        if verified.code != 0 or "all intact" not in verified.out:
            lines = (verified.out + verified.err).strip().splitlines()
            report.append(f"after a successful rerun ({rerun.out.strip()}), 'artver verify --all -r origin' "
                          f"exited {verified.code}: " + " / ".join(lines[:4]) + (" ..." if len(lines) > 4 else ""))
    assert not report, f"{context}:\n  " + "\n  ".join(report)


# --------------------------------------------------------------------------- SIGINT (Ctrl-C)

INTERRUPTED = "artver: interrupted"


def _interrupt_test(scenario_name: str, point: str, tmp_path: Path, template: Template, dataset: Dataset,
                    durations, processes: Processes, run_artver) -> None:  # type: ignore[no-untyped-def]
    """Ctrl-C (SIGINT to the process group, as a terminal sends it) once the command holds
    its lock: at a fraction of its measured working time, or (point 'transfer-under-way')
    as soon as 30 objects have been transferred."""
    scenario = SCENARIOS[scenario_name]
    duration, locked_at = durations(scenario_name)
    working = max(duration - locked_at, 0.05)
    holders: list[list[float]] = []  # per run: when it was seen holding the lock

    def trigger_for(observed: float | None) -> Trigger:
        work = working
        if observed is not None:  # the previous run finished before its moment: aim inside the work it showed
            previous = holders[-1][0] if holders and holders[-1] else observed / 2
            work = min(working, max(observed - previous, 0.01))
        holder: list[float] = []
        holders.append(holder)
        initial: list[int] = []

        def trigger(world: World, elapsed: float, pid: int) -> bool:
            if not initial:
                initial.append(len(transferred(world)))
            if not holder:
                try:
                    if (world.repo / ".artver" / "lock").read_text().strip() == str(pid):
                        holder.append(elapsed)
                except (FileNotFoundError, UnicodeDecodeError):
                    pass
                return False
            if point == "transfer-under-way":
                count = len(transferred(world)) - initial[0]
                return count >= 30
            return elapsed >= holder[0] + float(point) * work

        return trigger

    moment = "once 30 objects were transferred" if point == "transfer-under-way" else f"at {point} of the work after the lock"
    how = f"SIGINT {moment}"
    delivered: list[int] = []  # objects there right after the signal was sent, per run (the last one is kept)
    world, outcome, missed = signal_until_it_lands(
        processes, fresh_world(tmp_path, template, dataset, scenario), trigger_for, signal.SIGINT,
        f"[{scenario.name}: {how}]", after_signal=lambda signalled: delivered.append(len(transferred(signalled))))
    context = describe(scenario, how, outcome, duration, missed)
    problems = check_interrupt_outcome(outcome, scenario)
    if delivered and outcome.code != 0 and scenario.name in ("push", "fetch", "pull"):
        # Ctrl-C should stop a transfer: the uploads/downloads in flight may end, no new one may
        # start. Counted from right after the signal was sent: objects that arrived while the
        # harness was still deciding to send it are not the command's to stop.
        after = len(transferred(world)) - delivered[-1]
        jobs = max(2, default_jobs("disk"))
        # The harness counts by polling, so objects finishing while the signal is delivered also
        # count: allow two batches. Before the fix, almost every queued object still arrived.
        if after > 2 * jobs:
            problems.append(f"Ctrl-C did not stop the transfer: {after} more object(s) arrived after the signal "
                            f"(at most {2 * jobs} were in flight or finishing), then it exited {outcome.code} "
                            f"{outcome.exit_after_signal or 0:.2f}s after the signal")
    finish_and_check(world, template, dataset, context, run_artver, problems)


def transferred(world: World) -> set[str]:
    """Objects a transfer command has delivered so far (remote for push, cache otherwise)."""
    return set(object_files(world.remote if world.scenario.name == "push" else world.cache))


def check_interrupt_outcome(outcome: Outcome, scenario: Scenario) -> list[str]:
    """Exit 130 with one line on stderr, or 0 if the command had finished; never a traceback."""
    err = "\n".join(line for line in outcome.err.splitlines() if not line.startswith("import time:"))
    lines = [line for line in err.splitlines() if line.strip()]
    how = f"exit {outcome.code}, {outcome.exit_after_signal or 0:.2f}s after the signal"
    if "Traceback" in err or "Exception ignored" in err:
        return [f"Ctrl-C printed a traceback ({how}):\n{err[-2500:]}"]
    if outcome.code == -signal.SIGINT and scenario.done in outcome.out and not lines:
        # It had finished and printed its result; the signal landed while the interpreter
        # was exiting, and Python then dies of SIGINT (a shell shows 130 for both).
        return []
    if outcome.code not in (0, 130):
        return [f"expected exit 130 (or 0 if it had finished), got {how}; stderr: {err!r}"]
    if outcome.code == 130 and not (len(lines) == 1 and lines[0].startswith(INTERRUPTED)):
        return [f"expected one line on stderr ({how}), got {err!r}"]
    if outcome.code == 0 and lines:
        return [f"finished but printed on stderr ({how}): {err!r}"]
    return []


DEFAULT_INTERRUPTS = [("push", "transfer-under-way"), ("pull", "0.7")]


@pytest.mark.parametrize(("scenario_name", "point"), DEFAULT_INTERRUPTS)
def test_ctrl_c_is_clean(scenario_name: str, point: str, tmp_path: Path, template: Template, dataset: Dataset,
                         durations, processes: Processes, run_artver) -> None:  # type: ignore[no-untyped-def]
    _interrupt_test(scenario_name, point, tmp_path, template, dataset, durations, processes, run_artver)


@pytest.mark.parametrize("point", ["0.2", "0.5", "0.8"])
@pytest.mark.parametrize("scenario_name", list(SCENARIOS))
@pytest.mark.slow
def test_ctrl_c_at_many_moments(scenario_name: str, point: str, tmp_path: Path, template: Template,
                                dataset: Dataset, durations, processes: Processes, run_artver) -> None:  # type: ignore[no-untyped-def]
    _interrupt_test(scenario_name, point, tmp_path, template, dataset, durations, processes, run_artver)


def test_ctrl_c_during_start_up_is_clean(tmp_path: Path, template: Template, dataset: Dataset,
                                         processes: Processes, run_artver) -> None:  # type: ignore[no-untyped-def]
    """Ctrl-C while Python is still importing artver's command-line modules (the first
    fraction of a second of every command): no traceback, exit 130."""
    scenario = SCENARIOS["add"]
    world = build_world(tmp_path / "world", template, dataset, scenario)
    running = processes.start(world.repo, *scenario.args, python_flags=("-X", "importtime"), stderr_pipe=True)
    assert running.process.stderr is not None
    collected: list[bytes] = []
    fired = False
    # -X importtime prints a line as each module finishes importing; the first typer submodule is done well
    # before typer and artver.cli are (both imported by 'from artver.cli import main').
    for line in iter(running.process.stderr.readline, b""):
        collected.append(line)
        if re.search(rb"\|\s+typer\.", line):
            kill_group(running.process, signal.SIGINT)
            fired = True
            break
    signalled = time.monotonic()
    try:
        _, rest = running.process.communicate(timeout=PROCESS_TIMEOUT)
    except subprocess.TimeoutExpired:
        kill_group(running.process)
        pytest.fail("add did not finish after Ctrl-C")
    err = b"".join(collected) + (rest or b"")
    outcome = Outcome(running.process.returncode, 0.0 if fired else None, running.out_path.read_text(),
                      err.decode(errors="replace"), time.monotonic() - running.started, time.monotonic() - signalled)
    assert fired, "never saw typer being imported"
    assert signal_landed(outcome, signal.SIGINT), f"SIGINT sent during start-up, yet add exited {outcome.code}"
    context = "[add: SIGINT during start-up, while 'import typer' runs]"
    finish_and_check(world, template, dataset, context, run_artver, check_interrupt_outcome(outcome, scenario))


# --------------------------------------------------------------------------- the harness itself

QUICK = Scenario("version", ("--version",), "", None, False, (), (), "artver")  # a command done in a blink


def _exited(pid: int) -> bool:
    """Has the process exited (a zombie its parent has not reaped yet, or gone)?"""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def test_a_signal_sent_after_the_command_finished_is_not_a_kill(tmp_path: Path, processes: Processes) -> None:
    """The race a kill point can lose: the trigger fires while the command is still listed as
    running, but the command exits before the signal is sent. Such a run tested nothing, so
    the harness must not hand it to the checks (which would pass on a finished command)."""
    world = World(QUICK, tmp_path, tmp_path, tmp_path)

    def once_exited(world: World, elapsed: float, pid: int) -> bool:
        deadline = time.monotonic() + PROCESS_TIMEOUT
        while not _exited(pid) and time.monotonic() < deadline:
            time.sleep(0.002)
        return True

    with pytest.raises(pytest.fail.Exception, match="never reached the running command"):
        signal_until_it_lands(processes, lambda: world, lambda observed: once_exited, signal.SIGKILL, "[quick]")


def test_a_kill_point_later_than_the_command_is_retried_earlier(tmp_path: Path, processes: Processes) -> None:
    """A time-based kill point past the end of the run (the machine was faster than when the
    duration was measured) is moved inside the duration the run showed, until the kill lands."""
    world = World(QUICK, tmp_path, tmp_path, tmp_path)
    _, outcome, missed = signal_until_it_lands(processes, lambda: world, at_fraction(0.5, PROCESS_TIMEOUT / 4),
                                               signal.SIGKILL, "[quick]")
    assert missed >= 1, "the first run was killed at a moment far past its end"
    assert outcome.code == -signal.SIGKILL and outcome.fired_at is not None
