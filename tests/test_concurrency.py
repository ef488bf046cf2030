"""Concurrency: real artver processes working at the same time on one repository,
on one remote, and on one cache directory shared by two clones (cache.dir).

After every race: nothing is corrupt (``artver verify --all`` is clean in every
clone), no update is lost (every artifact's pointer is present and names exactly
its data, the workspace holds exactly the pointers' data), and each process
either waited and succeeded or failed with one clear line on stderr.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from artver import file_lock
from artver.pointer import read_pointer
from tests.support.environment import isolated_env
from tests.support.files import MiB, hash_file, object_files, object_path, xxh
from tests.support.git import commit_all, git
from tests.support.processes import Processes, Running, run_artver_to_end, wait_for_lock_holder
from tests.support.remotes import chunked_files, directory_remote, stored_objects

LOCK_MESSAGE = "another artver process"


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Payload:
    root: Path
    files: dict[str, str]  # path relative to the work tree -> hash

    def expected(self, artifact: str) -> dict[str, str]:
        """What the artifact's pointer must say: {'' : hash} for a file, {entry path: hash} for a folder."""
        if artifact in self.files:
            return {"": self.files[artifact]}
        return {path[len(artifact) + 1 :]: value for path, value in self.files.items() if path.startswith(artifact + "/")}

    def place(self, repo: Path, *artifacts: str, as_name: dict[str, str] | None = None) -> None:
        """Hardlink the artifacts into the work tree (add only reads them)."""
        for artifact in artifacts:
            target_name = (as_name or {}).get(artifact, artifact)
            for path in self.files:
                if path == artifact or path.startswith(artifact + "/"):
                    target = repo / (target_name + path[len(artifact) :])
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.link(self.root / path, target)


@pytest.fixture(scope="module")
def payload(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Payload]:
    import random

    rng = random.Random(7)
    root = tmp_path_factory.mktemp("concurrency-data")
    files: dict[str, str] = {}

    def put(relative: str, data: bytes) -> None:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        files[relative] = xxh(data)

    def big(size: int) -> bytes:
        block = rng.randbytes(MiB)
        return b"".join(block[index * 7919 % MiB :] + block[: index * 7919 % MiB] for index in range(size // MiB))

    put("a.bin", big(16 * MiB))
    put("b.bin", big(16 * MiB))
    put("big.bin", big(150 * MiB))
    for folder in ("dir_a", "dir_b", "dir_c"):
        for index in range(100):
            put(f"{folder}/sub{index % 4}/f{index:03d}.bin", rng.randbytes(rng.randint(100, 10_000)))
    yield Payload(root, files)
    shutil.rmtree(root, ignore_errors=True)


# --------------------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def _remove_large_files(tmp_path: Path) -> Iterator[None]:
    yield
    for child in tmp_path.iterdir():  # each test leaves hundreds of MB of caches and clones
        if child.is_dir() and child.name != "logs":
            shutil.rmtree(child, ignore_errors=True)


def check_pointers(repo: Path, payload: Payload, *artifacts: str, names: dict[str, str] | None = None) -> list[str]:
    problems = []
    for artifact in artifacts:
        name = (names or {}).get(artifact, artifact)
        path = repo / f"{name}.art"
        if not path.exists():
            problems.append(f"{repo.name}: pointer {name}.art is missing (a lost update)")
            continue
        pointer = read_pointer(path, f"{name}.art")
        if pointer.kind == "file":
            said = {"": pointer.hash}
        else:
            said = {entry.path: entry.hash for entry in pointer.content.entries}
        if said != payload.expected(artifact):
            problems.append(f"{repo.name}: pointer {name}.art does not name the data that was added")
    return problems


def check_workspace(repo: Path, payload: Payload, *artifacts: str) -> list[str]:
    problems = []
    for artifact in artifacts:
        for relative, value in payload.expected(artifact).items():
            path = repo / artifact / relative if relative else repo / artifact
            if not path.is_file():
                problems.append(f"{repo.name}: workspace file {path.relative_to(repo)} is missing")
            elif hash_file(path) != value:
                problems.append(f"{repo.name}: workspace file {path.relative_to(repo)} has the wrong content")
    return problems


def check_verify(run_artver, repo: Path, *extra: str) -> list[str]:  # type: ignore[no-untyped-def]
    """artver verify --all, in-process (the same code as the command, without a start-up)."""
    result = run_artver(repo, "verify", "--all", *extra)
    if result.code != 0 or "all intact" not in result.out:
        return [f"{repo.name}: artver verify --all {' '.join(extra)} exited {result.code}: {result.out}{result.err}"]
    return []


def check_remote(remote: Path, payload: Payload) -> list[str]:
    problems = []
    store = directory_remote(remote)
    found = stored_objects(store)  # whole and packed
    for value, where in found.items():
        data = store.get_raw(where.key)
        if where.length is not None:
            data = data[where.offset:where.offset + where.length]
        if xxh(data) != value:
            problems.append(f"remote object {value} is corrupt")
    rebuilt = chunked_files(store)  # large files, as chunks plus a recipe
    for value, data in rebuilt.items():
        if xxh(data) != value:
            problems.append(f"chunked file {value} does not rebuild to its hash")
    lacking = set(payload.files.values()) - set(found) - set(rebuilt)
    if lacking:
        problems.append(f"the remote lacks {len(lacking)} object(s)")
    return problems


def finished_cleanly(label: str, running: Running, processes: Processes) -> bool:
    """True if the process succeeded; False if it failed only because the other one held
    the lock, with one clear line; anything else fails the test."""
    code = processes.wait(running)
    out, err = running.output()
    assert "Traceback" not in err, f"{label}: printed a traceback:\n{err}"
    if code == 0:
        return True
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 1 and len(lines) == 1 and LOCK_MESSAGE in lines[0], (
        f"{label}: exited {code}; expected success or one line saying another process holds the lock:\n{err}"
    )
    return False


def set_config(repo: Path, text: str, local: bool = True) -> None:
    path = repo / ".artver" / ("config.local" if local else "config")
    existing = path.read_text() if path.exists() else ""
    path.write_text(existing + ("\n" if existing and not existing.endswith("\n") else "") + text)


@pytest.fixture(scope="module")
def origin_template(payload: Payload, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """repo/ with a.bin, dir_a, b.bin, dir_b added, committed and pushed to remote/ (URL '../remote')."""
    base = tmp_path_factory.mktemp("concurrency-origin")
    env = isolated_env(base / "home")
    repo, remote = base / "repo", base / "remote"
    repo.mkdir()
    remote.mkdir()
    git(repo, "init", "-q", env=env)
    payload.place(repo, "a.bin", "dir_a", "b.bin", "dir_b")
    for args in (("init",), ("remote", "add", "origin", "../remote", "--default"),
                 ("add", "a.bin", "dir_a", "b.bin", "dir_b"), ("push",)):
        result = run_artver_to_end(repo, *args, env=env)
        assert result.code == 0, result.err
    git(repo, "add", "-A", env=env)
    git(repo, "commit", "-q", "-m", "artifacts", env=env)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def _link_or_copy(source: str, target: str) -> None:
    """Share (hardlink) what artver never writes in place: cache and remote objects, and large
    data files of the work tree. Copy the rest (Git's files, the config, the stat database)."""
    inside_state = "/.git/" in source or "/.artver/" in source
    if "/.artver/cache/" in source or "/remote/" in source or (not inside_state and os.path.getsize(source) >= 64 * 1024):
        os.link(source, target)
    else:
        shutil.copy2(source, target)


@pytest.fixture
def origin(origin_template: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A private copy of the origin template: (repository, its directory remote)."""
    for name in ("repo", "remote"):
        shutil.copytree(origin_template / name, tmp_path / name, symlinks=True, copy_function=_link_or_copy)
    return tmp_path / "repo", tmp_path / "remote"


def clone(origin_repo: Path, target: Path) -> Path:
    git(origin_repo.parent, "clone", "-q", str(origin_repo), str(target))
    return target


# --------------------------------------------------------------------------- one repository


@pytest.mark.parametrize("same_paths", [False, True], ids=["different-paths", "same-paths"])
def test_two_adds_at_once(repo: Path, payload: Payload, processes: Processes, run_artver, same_paths: bool) -> None:
    payload.place(repo, "a.bin", "dir_a", "b.bin", "dir_b")
    first = ("add", "a.bin", "dir_a")
    second = first if same_paths else ("add", "b.bin", "dir_b")
    runs = [processes.start(repo, *first), processes.start(repo, *second)]
    for label, running, args in zip(("first", "second"), runs, (first, second)):
        if not finished_cleanly(f"{label} add", running, processes):
            retry = run_artver_to_end(repo, *args)
            assert retry.code == 0, retry.err
    artifacts = ("a.bin", "dir_a") if same_paths else ("a.bin", "dir_a", "b.bin", "dir_b")
    problems = check_pointers(repo, payload, *artifacts) + check_verify(run_artver, repo)
    lines = (repo / ".gitignore").read_text().splitlines()
    if sorted(lines) != sorted(f"/{artifact}" for artifact in artifacts):
        problems.append(f".gitignore is {lines!r}")
    assert not problems, "\n".join(problems)


def test_second_add_fails_with_one_line_when_the_lock_stays_busy(
    repo: Path, payload: Payload, processes: Processes, run_artver
) -> None:
    """With ``lock_timeout = 1``, an add that finds another add holding the lock longer gives up
    with one line naming the holder, changes nothing, and works when run again. (The first add
    is frozen with SIGSTOP while it holds the lock, so the wait is certain to time out.)"""
    set_config(repo, "[core]\nlock_timeout = 1\n")
    payload.place(repo, "big.bin", "a.bin")
    first = processes.start(repo, "add", "big.bin")
    assert wait_for_lock_holder(repo, first) is not None, "the first add finished before it was seen holding the lock"
    os.kill(first.process.pid, signal.SIGSTOP)
    try:
        second = processes.start(repo, "add", "a.bin")
        assert not finished_cleanly("second add", second, processes), "the second add got a lock that was held"
        _, err = second.output()
        assert f"pid {first.process.pid}" in err and "waited 1s" in err, err
        assert not (repo / "a.bin.art").exists()
    finally:
        os.kill(first.process.pid, signal.SIGCONT)
    assert finished_cleanly("first add", first, processes)
    retry = run_artver_to_end(repo, "add", "a.bin")
    assert retry.code == 0, retry.err
    problems = check_pointers(repo, payload, "big.bin", "a.bin") + check_verify(run_artver, repo)
    assert not problems, "\n".join(problems)


def test_two_pushes_at_once_from_one_repository(origin: tuple[Path, Path], payload: Payload,
                                                processes: Processes, run_artver) -> None:
    repo, remote = origin
    payload_small = Payload(payload.root, {k: v for k, v in payload.files.items() if not k.startswith(("big", "dir_c"))})
    runs = [processes.start(repo, "push"), processes.start(repo, "push")]
    for index, running in enumerate(runs):
        if not finished_cleanly(f"push {index}", running, processes):
            assert run_artver_to_end(repo, "push").code == 0
    problems = check_remote(remote, payload_small) + check_verify(run_artver, repo, "-r", "origin")
    assert not problems, "\n".join(problems)


def test_two_pushes_at_once_from_two_clones_to_one_remote(origin: tuple[Path, Path], tmp_path: Path,
                                                          payload: Payload, processes: Processes, run_artver) -> None:
    """No repository lock is shared here: both upload the same objects into one directory at once."""
    repo, remote = origin
    other = clone(repo, tmp_path / "other")
    for value, path in object_files(repo / ".artver" / "cache").items():
        target = object_path(other, value)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(path, target)
    runs = [processes.start(repo, "push"), processes.start(other, "push")]
    for index, running in enumerate(runs):
        assert finished_cleanly(f"push {index}", running, processes)
    payload_small = Payload(payload.root, {k: v for k, v in payload.files.items() if not k.startswith(("big", "dir_c"))})
    problems = check_remote(remote, payload_small)
    for work_tree in (repo, other):
        problems += check_verify(run_artver, work_tree, "-r", "origin")
    assert not problems, "\n".join(problems)


def test_two_pulls_at_once_in_one_clone(origin: tuple[Path, Path], tmp_path: Path, payload: Payload,
                                        processes: Processes, run_artver) -> None:
    repo, _ = origin
    other = clone(repo, tmp_path / "other")
    runs = [processes.start(other, "pull"), processes.start(other, "pull")]
    for index, running in enumerate(runs):
        if not finished_cleanly(f"pull {index}", running, processes):
            assert run_artver_to_end(other, "pull").code == 0
    problems = check_workspace(other, payload, "a.bin", "dir_a", "b.bin", "dir_b") + check_verify(run_artver, other)
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- a cache shared by two clones


@pytest.mark.parametrize("race", ["add-and-pull", "add-same-content", "pull-and-pull"])
def test_two_clones_sharing_one_cache(origin: tuple[Path, Path], tmp_path: Path, payload: Payload,
                                      processes: Processes, run_artver, race: str) -> None:
    """Clones with ``[cache] dir = <one absolute path>``: their repository locks are separate,
    so their writes into the shared cache really overlap."""
    repo, _ = origin
    shared = tmp_path / "shared-cache"
    clones = [clone(repo, tmp_path / "first"), clone(repo, tmp_path / "second")]
    for work_tree in clones:
        set_config(work_tree, f"[cache]\ndir = {shared}\n")  # a location outside the clone: config.local only
    if race == "add-and-pull":
        payload.place(clones[0], "big.bin", "dir_c")
        runs = [processes.start(clones[0], "add", "big.bin", "dir_c"), processes.start(clones[1], "pull")]
    elif race == "add-same-content":
        for work_tree in clones:
            payload.place(work_tree, "big.bin", "dir_c")
        runs = [processes.start(work_tree, "add", "big.bin", "dir_c") for work_tree in clones]
    else:
        runs = [processes.start(work_tree, "pull") for work_tree in clones]
    for index, running in enumerate(runs):
        assert finished_cleanly(f"{race} process {index}", running, processes)
    problems: list[str] = []
    if race == "add-and-pull":
        problems += check_pointers(clones[0], payload, "big.bin", "dir_c")
        problems += check_workspace(clones[1], payload, "a.bin", "dir_a", "b.bin", "dir_b")
    elif race == "add-same-content":
        for work_tree in clones:
            problems += check_pointers(work_tree, payload, "big.bin", "dir_c")
    else:
        for work_tree in clones:
            problems += check_workspace(work_tree, payload, "a.bin", "dir_a", "b.bin", "dir_b")
    for work_tree in clones:
        # add-same-content: neither clone pulled a.bin & co, so verify what they added (and all the cache)
        problems += check_verify(run_artver, work_tree, *(("big.bin", "dir_c") if race == "add-same-content" else ()))
    for work_tree in clones:  # the setting took effect: everything went to the shared cache
        assert not (work_tree / ".artver" / "cache").exists()
    assert object_files(shared)
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- gc racing add


def _sleeping_in_lock_wait(pid: int) -> bool:
    """True while the process sleeps in file_lock's retry loop (time.sleep -> clock_nanosleep).
    Before that, gc only runs Python and git (read/poll/wait4), never sleeps."""
    try:
        syscall = Path(f"/proc/{pid}/syscall").read_text().split()
    except OSError:
        syscall = []
    if syscall:
        return syscall[0] in {"230", "35"} if os.uname().machine == "x86_64" else syscall[0] in {"115", "101"}
    try:
        return "nanosleep" in Path(f"/proc/{pid}/wchan").read_text()
    except OSError:
        pytest.skip("cannot see what the process is doing (/proc/PID/syscall and wchan unreadable)")


def test_gc_planned_before_a_concurrent_add_keeps_what_the_add_references(
    repo: Path, payload: Payload, processes: Processes, run_artver
) -> None:
    """gc decides what is unreferenced, then deletes it under the lock. An add that runs in
    between (re-tracking content whose object is unreferenced, so add finds it in the cache)
    must not end with a pointer whose object gc deleted."""
    set_config(repo, "[core]\nlock_timeout = 60\n")
    payload.place(repo, "a.bin", "b.bin")
    assert run_artver(repo, "add", "a.bin", "b.bin").code == 0
    commit_all(repo, "a and b")
    assert run_artver(repo, "remove", "b.bin").code == 0  # b.bin's object is now unreferenced; its data stays
    with file_lock.locked(repo / ".artver" / "lock", timeout=5):
        gc = processes.start(repo, "gc", "--workspace")
        deadline = time.monotonic() + 90
        while not _sleeping_in_lock_wait(gc.process.pid):
            assert gc.process.poll() is None, f"gc exited early: {gc.output()}"
            assert time.monotonic() < deadline, "gc never reached the lock"
            time.sleep(0.01)
        os.kill(gc.process.pid, signal.SIGSTOP)  # it has planned; hold it just before it takes the lock
    try:
        added = run_artver(repo, "add", "b.bin")  # the user re-tracks b.bin meanwhile
        assert added.code == 0, added.err
    finally:
        os.kill(gc.process.pid, signal.SIGCONT)
    assert finished_cleanly("gc", gc, processes)
    problems = check_pointers(repo, payload, "a.bin", "b.bin")
    result = run_artver(repo, "verify")
    if result.code != 0:
        problems.append(f"after gc, artver verify exited {result.code}: {result.out.strip()} {result.err.strip()}")
    assert not problems, "\n".join(problems)
