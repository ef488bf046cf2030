"""add records exactly the bytes it stored, and says whose fault a failure is.

The races are made deterministic with the progress callbacks ``add`` already takes:
``start`` runs after the scan and before the first read, ``advance`` in the reading
thread between two chunks of the same file, ``finish`` after the reads and before the
workspace file is linked to the cache. A test action run there happens at that exact
point of the read (each test asserts it ran mid-read), with no mocked storage.
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import stat as stat_module
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from artver import error_handler
from artver.commands.add import add
from artver.pointer import read_pointer
from artver.repo import open_repo
from tests.support.cli import assert_one_line_error
from tests.support.files import object_path, write, xxh
from tests.support.git import SUBPROCESS_TIMEOUT, commit_all, git

MiB = 1024 * 1024
CHANGED = "changed while being added; stop the process writing it, then add again"


class Hook:
    """A Progress that runs test actions at precise points of an add."""

    def __init__(
        self,
        on_start: Callable[[], None] | None = None,
        on_advance: Callable[[int], None] | None = None,
        on_finish: Callable[[], None] | None = None,
    ) -> None:
        self.on_start, self.on_advance, self.on_finish = on_start, on_advance, on_finish
        self.read = 0  # bytes reported so far, over all attempts
        self.lock = threading.Lock()

    def start(self, description: str, total: int | None, unit: str = "bytes") -> None:
        if self.on_start is not None:
            self.on_start()

    def advance(self, amount: int) -> None:
        with self.lock:
            self.read += amount
            if self.on_advance is not None:
                self.on_advance(self.read)

    def finish(self) -> None:
        if self.on_finish is not None:
            self.on_finish()


def add_with(root: Path, paths: list[str], hook: Hook, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Run add in-process as the CLI would (errors rendered by the CLI's handler): (exit code, stderr)."""
    capsys.readouterr()
    code = error_handler.run(lambda: add(open_repo(root), [str(root / path) for path in paths], progress=hook), False)
    return code, capsys.readouterr().err


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("artver: error: "), err
    assert "Traceback" not in err
    return lines[0]


def temps(root: Path) -> list[str]:
    """Temp files in the cache; not the owner record of the live test process itself
    (artver/tempfiles.py keeps it while the process lives, and deletes it at exit)."""
    folder = root / ".artver" / "cache" / "tmp"
    return sorted(name for name in os.listdir(folder) if not name.endswith(".owner")) if folder.is_dir() else []


def recorded_stat(root: Path, path: str) -> tuple[int, int, int, str] | None:
    """The stat database's row for a path: (inode, size, mtime_ns, hash)."""
    with sqlite3.connect(root / ".artver" / "state.db") as connection:
        row = connection.execute("SELECT ino, size, mtime_ns, hash FROM stat WHERE path = ?", (path,)).fetchone()
    return tuple(row) if row else None  # type: ignore[return-value]


def pattern(size: int, seed: int) -> bytes:
    block = bytes((seed + index) % 251 for index in range(4096))
    return (block * (size // len(block) + 1))[:size]


# ------------------------------------------------- a file that changes while add reads it


def test_a_file_truncated_while_add_reads_it_is_read_again_and_recorded_as_stored(repo: Path, run_artver, capsys) -> None:  # type: ignore[no-untyped-def]
    # The report's case: a big file cut short mid-read. The pointer used to carry the
    # size from before the read with the hash of bytes that never existed as one file.
    original = pattern(4 * MiB, 1)
    path = write(repo / "big.bin", original)
    truncated_at: list[int] = []

    def truncate_once(read: int) -> None:
        if not truncated_at:
            truncated_at.append(read)
            os.truncate(path, MiB + MiB // 2)

    code, err = add_with(repo, ["big.bin"], Hook(on_advance=truncate_once), capsys)
    assert code == 0, err
    assert truncated_at and 0 < truncated_at[0] < len(original)  # it did happen in the middle of the read
    final = original[: MiB + MiB // 2]
    pointer = read_pointer(repo / "big.bin.art", "big.bin.art")
    assert (pointer.size, pointer.hash) == (len(final), xxh(final))
    assert object_path(repo, xxh(final)).read_bytes() == final
    # The stat database holds the stat of the bytes that were hashed, not the one from before.
    now = os.stat(path)
    assert recorded_stat(repo, "big.bin") == (now.st_ino, now.st_size, now.st_mtime_ns, xxh(final))
    assert temps(repo) == []
    assert run_artver(repo, "status", "--check").code == 0


def test_a_file_extended_while_add_reads_it_is_read_again(repo: Path, run_artver, capsys) -> None:  # type: ignore[no-untyped-def]
    original = pattern(3 * MiB, 2)
    path = write(repo / "grow.bin", original)
    extra = pattern(MiB // 3, 9)
    appended: list[int] = []

    def append_once(read: int) -> None:
        if not appended:
            appended.append(read)
            with open(path, "ab") as handle:
                handle.write(extra)

    code, err = add_with(repo, ["grow.bin"], Hook(on_advance=append_once), capsys)
    assert code == 0, err
    assert appended and appended[0] < len(original)
    pointer = read_pointer(repo / "grow.bin.art", "grow.bin.art")
    assert (pointer.size, pointer.hash) == (len(original) + len(extra), xxh(original + extra))
    assert run_artver(repo, "status", "--check").code == 0


@pytest.mark.parametrize("same_size", [False, True], ids=["new-size", "same-size"])
def test_a_file_rewritten_in_place_during_every_read_is_refused_and_nothing_changes(repo: Path, run_artver, capsys, same_size: bool) -> None:  # type: ignore[no-untyped-def]
    # Bytes overwritten in place, size kept: only the stat taken after the read can tell.
    # add retries a bounded number of times, then refuses, leaving the old pointer and
    # .gitignore as they were. With the old size, add first hashes the file without storing
    # it (to avoid a copy if it is unchanged): that read must be just as careful.
    path = write(repo / "m.bin", pattern(2 * MiB, 3))
    assert run_artver(repo, "add", "m.bin").code == 0
    commit_all(repo, "v1")
    pointer_before = (repo / "m.bin.art").read_bytes()
    ignore_before = (repo / ".gitignore").read_bytes()
    write(path, pattern((2 if same_size else 3) * MiB, 4))
    rewrites: list[int] = []

    def rewrite(read: int) -> None:
        rewrites.append(read)
        with open(path, "r+b") as handle:
            handle.write(bytes([len(rewrites) % 256]) * 16)

    code, err = add_with(repo, ["m.bin"], Hook(on_advance=rewrite), capsys)
    line = one_error_line(err)
    assert code == 1 and line == f"artver: error: m.bin: {CHANGED}"
    assert rewrites  # the file really was written while it was read
    assert (repo / "m.bin.art").read_bytes() == pointer_before
    assert (repo / ".gitignore").read_bytes() == ignore_before
    assert temps(repo) == []
    assert git(repo, "status", "--porcelain") == ""
    # Once nobody writes to it, add succeeds.
    assert run_artver(repo, "add", "m.bin").code == 0
    assert read_pointer(repo / "m.bin.art", "m.bin.art").hash == xxh(path.read_bytes())


def test_a_file_growing_faster_than_add_reads_it_is_refused_not_read_forever(repo: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    # Like a log or a checkpoint still being written: every chunk read, two more arrive.
    # A read that went on to the end would never end (here: until the test stops feeding
    # it); add stops each attempt once more bytes came than the size it started with.
    path = write(repo / "log.bin", pattern(MiB, 10))
    limit = 256 * MiB
    appended = [0]

    def feed(read: int) -> None:
        if appended[0] < limit:
            with open(path, "ab") as handle:
                handle.write(bytes(2 * MiB))
            appended[0] += 2 * MiB

    hook = Hook(on_advance=feed)
    code, err = add_with(repo, ["log.bin"], hook, capsys)
    assert code == 1 and one_error_line(err) == f"artver: error: log.bin: {CHANGED}"
    # Each attempt stopped one chunk past the size it started with (1, 5 and 17 MiB here),
    # long before the feeder gave up.
    assert 0 < appended[0] < limit
    assert temps(repo) == []


def test_a_file_in_a_folder_truncated_mid_read_gets_the_size_and_hash_of_what_was_stored(repo: Path, run_artver, capsys) -> None:  # type: ignore[no-untyped-def]
    write(repo / "data" / "a.bin", b"small a")
    big = write(repo / "data" / "big.bin", pattern(4 * MiB, 5))
    write(repo / "data" / "c.bin", b"small c")
    done: list[int] = []

    def truncate_big(read: int) -> None:
        # Chunks of the small files are far smaller than a MiB: this fires in big.bin's read.
        if not done and read >= MiB:
            done.append(read)
            os.truncate(big, 100_000)

    code, err = add_with(repo, ["data"], Hook(on_advance=truncate_big), capsys)
    assert code == 0, err
    assert done
    entries = {entry.path: entry for entry in read_pointer(repo / "data.art", "data.art").content.entries}
    final = pattern(4 * MiB, 5)[:100_000]
    assert (entries["big.bin"].size, entries["big.bin"].hash) == (len(final), xxh(final))
    assert object_path(repo, xxh(final)).read_bytes() == final
    now = os.stat(big)
    assert recorded_stat(repo, "data/big.bin") == (now.st_ino, now.st_size, now.st_mtime_ns, xxh(final))
    assert run_artver(repo, "status", "--check").code == 0


def test_a_folder_whose_file_keeps_changing_is_refused_without_a_pointer(repo: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    write(repo / "data" / "a.bin", b"a")
    busy = write(repo / "data" / "busy.bin", pattern(2 * MiB, 6))

    def keep_writing(read: int) -> None:
        if read >= MiB // 2:
            with open(busy, "r+b") as handle:
                handle.write(os.urandom(8))

    code, err = add_with(repo, ["data"], Hook(on_advance=keep_writing), capsys)
    assert code == 1 and one_error_line(err) == f"artver: error: data/busy.bin: {CHANGED}"
    assert not (repo / "data.art").exists()
    assert not (repo / ".gitignore").exists() or "/data" not in (repo / ".gitignore").read_text()
    assert temps(repo) == []


def test_add_reads_a_file_only_once_its_last_change_is_older_than_a_timestamp_tick(repo: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    # A write within the same timestamp tick as the one before it leaves mtime and ctime
    # unchanged, so comparing the stat before and after a read proves nothing for a file
    # changed a moment ago. add therefore starts reading only once the file's ctime (which
    # no program can set back) is older than the stat database's racy window. The file is
    # changed right before the read (on_start), so without that wait the first chunk would
    # arrive within microseconds.
    from artver.statcache import racy_window

    path = write(repo / "fresh.bin", pattern(MiB, 7))
    changed_at: list[int] = []
    first_read: list[int] = []

    def change_now() -> None:
        os.chmod(path, 0o640)
        changed_at.append(os.stat(path).st_ctime_ns)

    def note(read: int) -> None:
        if not first_read:
            first_read.append(time.time_ns())

    code, err = add_with(repo, ["fresh.bin"], Hook(on_start=change_now, on_advance=note), capsys)
    assert code == 0, err
    assert changed_at and first_read
    assert first_read[0] >= changed_at[0] + racy_window(changed_at[0])


# ------------------------------------------------- replaced or deleted between scan and read


def _join_or_release(thread: threading.Thread, fifo: Path) -> None:
    """Wait for an add running in a thread; if it hangs on a FIFO, unblock it and fail."""
    thread.join(timeout=60)
    if thread.is_alive():
        descriptor = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(descriptor)
        thread.join(timeout=60)
        pytest.fail("add blocked opening a FIFO")


@pytest.mark.parametrize("inside_folder", [False, True], ids=["file", "folder"])
def test_a_file_replaced_by_a_fifo_before_the_read_is_refused_without_blocking(repo: Path, capsys, inside_folder: bool) -> None:  # type: ignore[no-untyped-def]
    target = repo / ("data/x.bin" if inside_folder else "x.bin")
    write(target, b"content")
    if inside_folder:
        write(repo / "data" / "y.bin", b"other")

    def swap() -> None:
        target.unlink()
        os.mkfifo(target)

    outcome: list[tuple[int, str]] = []
    thread = threading.Thread(
        target=lambda: outcome.append(add_with(repo, ["data" if inside_folder else "x.bin"], Hook(on_start=swap), capsys)),
        daemon=True,
    )
    thread.start()
    _join_or_release(thread, target)
    code, err = outcome[0]
    display = "data/x.bin" if inside_folder else "x.bin"
    line = one_error_line(err)
    assert code != 0 and line.startswith(f"artver: error: {display}: was replaced by a named pipe while being added")
    assert "cache" not in line
    assert not (repo / ("data.art" if inside_folder else "x.bin.art")).exists()


def test_a_file_replaced_by_a_symlink_before_the_read_is_refused_and_its_target_not_stored(repo: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    secret = write(tmp_path / "outside" / "secret.txt", b"not for the repository")
    write(repo / "data" / "a.bin", b"a")
    victim = write(repo / "data" / "b.bin", b"b")

    def swap() -> None:
        victim.unlink()
        victim.symlink_to(secret)

    code, err = add_with(repo, ["data"], Hook(on_start=swap), capsys)
    line = one_error_line(err)
    assert code != 0 and line.startswith("artver: error: data/b.bin: was replaced by a symlink while being added")
    assert not object_path(repo, xxh(secret.read_bytes())).exists()
    assert not (repo / "data.art").exists()


def test_a_file_replaced_by_a_folder_before_the_read_is_refused_naming_the_file(repo: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    target = write(repo / "m.bin", b"weights")

    def swap() -> None:
        target.unlink()
        (repo / "m.bin").mkdir()

    code, err = add_with(repo, ["m.bin"], Hook(on_start=swap), capsys)
    line = one_error_line(err)
    assert code != 0 and line.startswith("artver: error: m.bin: was replaced by a folder while being added")
    assert "cache" not in line


def test_a_file_deleted_before_the_read_is_reported_as_deleted_not_as_a_cache_failure(repo: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    write(repo / "data" / "a.bin", b"a")
    gone = write(repo / "data" / "gone.bin", b"soon deleted")
    code, err = add_with(repo, ["data"], Hook(on_start=gone.unlink), capsys)
    line = one_error_line(err)
    assert code != 0 and line == "artver: error: data/gone.bin: disappeared while being added (deleted or renamed); add again"
    assert not (repo / "data.art").exists()


def test_a_file_changed_after_its_read_is_not_replaced_by_a_link_to_the_old_content(
        repo: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    # With cache.link = hardlink, add replaces the workspace file by a link to the cache
    # object. A write landing after the read must not be thrown away by that link.
    # Links are used only by a process that file modes bind (not root, which gets copies:
    # see workspace.overrides_file_modes); the suite may run as root, so it plays one here.
    from artver import workspace

    monkeypatch.setattr(workspace, "overrides_file_modes", lambda: False)
    with open(repo / ".artver" / "config", "a", encoding="utf-8") as handle:
        handle.write("[cache]\nlink = hardlink,copy\n")
    path = write(repo / "m.bin", b"version 1")

    def edit() -> None:
        path.write_bytes(b"version 2, saved by an editor just after add read version 1")

    code, err = add_with(repo, ["m.bin"], Hook(on_finish=edit), capsys)
    assert code == 1 and one_error_line(err) == f"artver: error: m.bin: {CHANGED}"
    assert path.read_bytes() == b"version 2, saved by an editor just after add read version 1"
    assert not (repo / "m.bin.art").exists()


# ------------------------------------------------- special files inside a folder


@pytest.mark.parametrize("kind", ["fifo", "socket", "device"])
def test_a_special_file_inside_a_folder_is_refused_at_once(repo: Path, kind: str) -> None:
    from tests.support.cli import run_artver_process

    write(repo / "data" / "a.bin", b"a")
    special = repo / "data" / "special"
    if kind == "fifo":
        os.mkfifo(special)
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(special))
        server.close()
    else:
        if os.geteuid() != 0:
            pytest.skip("creating a device node needs root")
        os.mknod(special, stat_module.S_IFCHR | 0o600, os.makedev(1, 3))  # like /dev/null
    result = run_artver_process(repo, "add", "data", timeout=60)
    assert_one_line_error(result, "data/special: not a regular file (device, socket or pipe)")
    assert not (repo / "data.art").exists()


# ------------------------------------------------- whose fault: the source or the cache


def _run_limited(root: Path, args: list[str], prefix: list[str] | None = None,
                 preexec: Callable[[], None] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*(prefix or []), sys.executable, "-m", "artver", *args],
        cwd=root, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT, preexec_fn=preexec, check=False,
    )


def _without_root_bypass() -> list[str]:
    """A command prefix under which chmod 000 makes a file unreadable. Root ignores file
    permissions through CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH; setpriv drops both from
    the bounding set, so the artver process (still uid 0, still owner of the repository)
    is refused like any other user. As a normal user, no prefix is needed."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: no way to make a file unreadable to artver")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--"]


def test_an_unreadable_source_is_named_as_the_problem_not_the_cache(repo: Path) -> None:
    prefix = _without_root_bypass()
    secret = write(repo / "private.bin", b"mode 000")
    secret.chmod(0)
    completed = _run_limited(repo, ["add", "private.bin"], prefix)
    line = one_error_line(completed.stderr)
    assert completed.returncode == 1
    assert line == (
        "artver: error: private.bin: cannot read it (permission denied); "
        "give your user read access (e.g. chmod u+r private.bin), then add again"
    )
    assert not (repo / "private.bin.art").exists()
    assert temps(repo) == []


def test_a_source_failing_with_an_io_error_is_named_as_the_problem(repo: Path) -> None:
    # A real EIO from a read: /proc/PID/mem of another process is a regular file that fails
    # with EIO when read at offset 0 (an unmapped address). Bind-mounted (in a private mount
    # namespace, gone with the command) over a file of the repository, it is what add meets
    # on a failing disk. The helper process is started and stopped by the shell, by its id.
    unshare = shutil.which("unshare")
    if os.geteuid() != 0 or unshare is None:
        pytest.skip("needs root and unshare to bind-mount a failing file into the repository")
    probe = subprocess.run([unshare, "-m", "true"], capture_output=True, timeout=SUBPROCESS_TIMEOUT, check=False)
    if probe.returncode != 0:
        pytest.skip(f"no private mount namespace here: {probe.stderr.decode(errors='replace').strip()}")
    write(repo / "broken.bin", b"")
    script = (
        'sleep 60 & helper=$!; '
        'mount --bind /proc/$helper/mem broken.bin && "$0" -m artver add broken.bin; code=$?; '
        'kill $helper; exit $code'
    )
    completed = subprocess.run(
        [unshare, "-m", "sh", "-c", script, sys.executable],
        cwd=repo, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT, check=False,
    )
    line = one_error_line(completed.stderr)
    assert completed.returncode == 1
    assert line == (
        "artver: error: broken.bin: cannot read it (input/output error); "
        "check the file and the disk it is on, then add again"
    )
    assert not (repo / "broken.bin.art").exists()


def test_an_unwritable_cache_is_named_as_the_problem_not_the_source(repo: Path) -> None:
    prefix = _without_root_bypass()
    write(repo / "m.bin", b"readable weights")
    cache = repo / ".artver" / "cache"
    (cache / "tmp").mkdir(parents=True, exist_ok=True)
    for folder in (cache, cache / "tmp"):
        folder.chmod(0o555)
    try:
        completed = _run_limited(repo, ["add", "m.bin"], prefix)
    finally:
        for folder in (cache, cache / "tmp"):
            folder.chmod(0o755)
    line = one_error_line(completed.stderr)
    assert completed.returncode == 1
    assert line.startswith(f"artver: error: cannot store m.bin in the cache {cache}: permission denied (")
    assert "cache.dir" in line and "cannot read" not in line
    assert not (repo / "m.bin.art").exists()


def test_a_cache_write_failing_mid_copy_is_named_as_the_cache_and_leaves_nothing(repo: Path) -> None:
    # RLIMIT_FSIZE makes every write past the limit fail with EFBIG (Python ignores SIGXFSZ),
    # a real write failure on the cache side in the middle of a copy, without root or mounts.
    import resource

    write(repo / "big.bin", pattern(2 * MiB, 8))

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (MiB, MiB))

    completed = _run_limited(repo, ["add", "big.bin"], preexec=limit)
    line = one_error_line(completed.stderr)
    assert completed.returncode == 1
    cache = repo / ".artver" / "cache"
    assert line.startswith(f"artver: error: cannot store big.bin in the cache {cache}: file too large (")
    assert "cache.dir" in line and "cannot read" not in line
    assert not (repo / "big.bin.art").exists()
    assert temps(repo) == []


# ------------------------------------------------- ignore rules never edit tracked data


def ignored(root: Path, relative: str) -> bool:
    completed = subprocess.run(["git", "check-ignore", "-q", "--", relative], check=False, cwd=root, timeout=SUBPROCESS_TIMEOUT)
    assert completed.returncode in (0, 1)
    return completed.returncode == 0


@pytest.mark.parametrize("path", [".gitignore", "sub/.gitignore"])
def test_a_gitignore_is_never_tracked_nor_edited_by_add(repo: Path, run_artver, path: str) -> None:  # type: ignore[no-untyped-def]
    # Git reads .gitignore files itself: artver refuses to track one (a pointer could otherwise
    # make artver write one), and the refusal leaves the file exactly as it was.
    content = b"*.tmp\n# a .gitignore without a final newline"
    write(repo / path, content)
    before = (repo / ".gitignore").read_bytes() if (repo / ".gitignore").exists() and path != ".gitignore" else None
    result = run_artver(repo, "add", path)
    assert_one_line_error(result, f"{path}: Git reads .gitignore files itself, so artver never tracks one")
    assert (repo / path).read_bytes() == content
    assert not (repo / (path + ".art")).exists()
    if before is not None:
        assert (repo / ".gitignore").read_bytes() == before


def test_the_rule_for_a_neighbour_of_a_user_gitignore_goes_into_it_once(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    write(repo / "sub" / ".gitignore", b"*.log\n")
    write(repo / "sub" / "model.pt", b"weights")
    assert run_artver(repo, "add", "sub/model.pt").code == 0
    assert (repo / "sub" / ".gitignore").read_text().splitlines() == ["*.log", "/model.pt"]
    assert ignored(repo, "sub/model.pt") and not ignored(repo, "sub/model.pt.art")
    assert run_artver(repo, "remove", "sub/model.pt").code == 0
    assert (repo / "sub" / ".gitignore").read_text().splitlines() == ["*.log"]


def test_with_the_top_level_gitignore_tracked_add_refuses_instead_of_editing_it(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    # A pointer for .gitignore can come from a commit (written by hand, or by an older artver).
    from artver.pointer import file_pointer, write_pointer

    content = b"*.log\n"
    write(repo / ".gitignore", content)
    write_pointer(repo / ".gitignore.art", file_pointer(xxh(content), len(content)))
    write(repo / "model.pt", b"weights")
    result = run_artver(repo, "add", "model.pt")
    assert_one_line_error(result, "model.pt: the top-level .gitignore is tracked by artver", "artver remove .gitignore")
    assert (repo / ".gitignore").read_bytes() == content
    assert not (repo / "model.pt.art").exists()


def test_status_does_not_block_on_a_named_pipe_where_a_tracked_file_was(repo: Path, run_artver) -> None:  # type: ignore[no-untyped-def]
    # The same class outside add: every hash of a workspace file opens it without blocking.
    from tests.support.cli import run_artver_process

    write(repo / "m.bin", b"weights")
    assert run_artver(repo, "add", "m.bin").code == 0
    (repo / "m.bin").unlink()
    os.mkfifo(repo / "m.bin")
    result = run_artver_process(repo, "status", timeout=30)  # a blocked open would time out here
    assert_one_line_error(result, f"{repo / 'm.bin'}: not a regular file (a named pipe, folder or device is there)")
