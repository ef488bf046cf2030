"""Cleanup deletes only what artver created: temp files of processes that are provably gone,
and quarantined objects -- never a user's file that merely looks like one, never a file in a
cache folder that is not artver's, never through a symlink (see artver/tempfiles.py)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from artver.tempfiles import OWNER_SUFFIX, TEMP_MARKER
from tests.support.files import write, xxh
from tests.support.git import SUBPROCESS_TIMEOUT, commit_all, git

WORKTREE = Path(__file__).resolve().parents[1]
TWO_DAYS_AGO = time.time() - 2 * 86400

# A process that creates temp files the way artver does (as this cache's owner), in the cache and
# beside each target given, prints its token, then dies (SIGKILL) or lives until stdin closes.
OWNER_SCRIPT = r"""
import os, signal, sys
from pathlib import Path
from artver.repo import open_repo
owner = open_repo(Path(sys.argv[1])).cache.temp_owner()
for target in sys.argv[3:]:
    with open(owner.temp_beside(target), "wb") as handle:
        handle.write(b"half-built")
with open(owner.cache_temp(), "wb") as handle:
    handle.write(b"half-downloaded")
print(owner.token, flush=True)
if sys.argv[2] == "die":
    os.kill(os.getpid(), signal.SIGKILL)
sys.stdin.read()
"""

# artver's own placement of one object, killed between building the temp file and renaming it.
KILLED_PLACEMENT_SCRIPT = r"""
import os, signal, sys
from pathlib import Path
from artver import workspace
from artver.repo import open_repo
repo = open_repo(Path(sys.argv[1]))
workspace._swap_in = lambda temp, target, owner: os.kill(os.getpid(), signal.SIGKILL)
workspace.materialize(repo.cache, sys.argv[2], sys.argv[3], False, repo.link_modes)
"""


def ok(result):  # type: ignore[no-untyped-def]
    assert result.code == 0, f"exit {result.code}\nstdout:\n{result.out}\nstderr:\n{result.err}"
    assert "Traceback" not in result.err
    return result


def python(*args: str, stdin: int | None = None) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(WORKTREE)}
    return subprocess.Popen([sys.executable, "-c", *args], stdin=stdin, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def killed_owner(repo: Path, *targets: Path) -> str:
    """Run OWNER_SCRIPT to its SIGKILL; the dead owner's token."""
    process = python(OWNER_SCRIPT, str(repo), "die", *map(str, targets))
    out, err = process.communicate(timeout=SUBPROCESS_TIMEOUT)
    assert process.returncode == -signal.SIGKILL, err
    return out.strip()


def temps_in(folder: Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if TEMP_MARKER in name)


def records_in(cache: Path) -> list[str]:
    return sorted(name for name in os.listdir(cache / "tmp") if name.endswith(OWNER_SUFFIX))


def entries_of_pointer(pointer: Path) -> list[str]:
    return sorted(line.split(" ", 3)[3] for line in pointer.read_text().splitlines() if line.startswith("xxh128:"))


def share_cache(repo: Path, cache: Path) -> None:
    with open(repo / ".artver" / "config.local", "a", encoding="utf-8") as handle:
        handle.write(f"[cache]\ndir = {cache}\n")


# ------------------------------------------------------------------ files that look like temp files


def test_user_files_that_look_like_temp_files_are_tracked_and_never_deleted(repo: Path, run_artver) -> None:
    lookalikes = {
        "notes.artver-tmp-1": b"my notes",
        ".a.txt.artver-tmp-0123456789ab": b"named like an old temp file",
        f"{TEMP_MARKER}{'0' * 32}-{'0' * 12}": b"named like a temp file of no artver process",
    }
    write(repo / "data" / "a.txt", b"a")
    for name, data in lookalikes.items():
        write(repo / "data" / name, data)
    write(repo / "m.bin", b"model")
    write(repo / ".m.bin.artver-tmp-0123456789ab", b"beside a tracked file")
    ok(run_artver(repo, "add", "data", "m.bin"))
    assert entries_of_pointer(repo / "data.art") == sorted(["a.txt", *lookalikes])
    ok(run_artver(repo, "status", "--check"))
    commit_all(repo, "data with odd names")

    (repo / "data" / "a.txt").unlink()
    (repo / "m.bin").unlink()
    ok(run_artver(repo, "checkout"))
    assert (repo / "data" / "a.txt").read_bytes() == b"a" and (repo / "m.bin").read_bytes() == b"model"
    for name, data in lookalikes.items():
        assert (repo / "data" / name).read_bytes() == data, name
    assert (repo / ".m.bin.artver-tmp-0123456789ab").read_bytes() == b"beside a tracked file"
    ok(run_artver(repo, "status", "--check"))


# ------------------------------------------------------------------ leftovers of killed processes


def test_a_killed_placement_leaves_temp_files_the_next_checkout_deletes(repo: Path, run_artver) -> None:
    write(repo / "data" / "a.txt", b"a" * 1000)
    write(repo / "data" / "sub" / "b.txt", b"b")
    ok(run_artver(repo, "add", "data"))
    commit_all(repo, "data")
    (repo / "data" / "a.txt").unlink()

    process = python(KILLED_PLACEMENT_SCRIPT, str(repo), xxh(b"a" * 1000), str(repo / "data" / "a.txt"))
    _, err = process.communicate(timeout=SUBPROCESS_TIMEOUT)
    assert process.returncode == -signal.SIGKILL, err
    (temp,) = temps_in(repo / "data")
    assert (repo / "data" / temp).read_bytes() == b"a" * 1000
    (record,) = [name for name in records_in(repo / ".artver" / "cache") if name[:32] in temp]

    ok(run_artver(repo, "checkout"))
    assert temps_in(repo / "data") == []
    assert record not in records_in(repo / ".artver" / "cache")
    assert (repo / "data" / "a.txt").read_bytes() == b"a" * 1000
    ok(run_artver(repo, "status", "--check"))


def test_temp_files_of_a_live_process_are_left_alone_until_it_is_gone(tmp_path: Path, repo: Path, run_artver) -> None:
    """Two clones share a cache; one has a writer at work. The other's cleanup must not touch
    that writer's files, in the cache or in its workspace; once it is killed, they go."""
    shared = tmp_path / "shared-cache"
    share_cache(repo, shared)
    write(repo / "data" / "a.txt", b"a")
    ok(run_artver(repo, "add", "data"))
    commit_all(repo, "data")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    share_cache(clone, shared)
    ok(run_artver(clone, "checkout"))

    writer = python(OWNER_SCRIPT, str(repo), "live", str(repo / "data" / "a.txt"), stdin=subprocess.PIPE)
    try:
        assert writer.stdout is not None
        token = writer.stdout.readline().strip()
        cache_temps = [name for name in os.listdir(shared / "tmp") if name.startswith(token + "-")]
        (workspace_temp,) = temps_in(repo / "data")
        assert len(cache_temps) == 1 and token in workspace_temp
        ok(run_artver(clone, "checkout"))
        ok(run_artver(clone, "gc", "--workspace", "--force"))
        assert [name for name in os.listdir(shared / "tmp") if name.startswith(token + "-")] == cache_temps
        assert temps_in(repo / "data") == [workspace_temp]
    finally:
        writer.kill()
        writer.communicate(timeout=SUBPROCESS_TIMEOUT)

    ok(run_artver(clone, "checkout"))  # the writer is gone: its files go, in both places
    assert [name for name in os.listdir(shared / "tmp") if name.startswith(token)] == []
    assert temps_in(repo / "data") == []
    assert (repo / "data" / "a.txt").read_bytes() == b"a"


def test_a_normal_exit_leaves_no_record(repo: Path) -> None:
    script = ("import sys; from pathlib import Path; from artver.repo import open_repo; "
              "open(open_repo(Path(sys.argv[1])).cache.temp_owner().cache_temp(), 'wb').close()")
    # The temp file stays (a bug of the caller's): so does the record, for the next cleanup.
    process = python(script, str(repo))
    assert process.wait(timeout=SUBPROCESS_TIMEOUT) == 0
    assert len(records_in(repo / ".artver" / "cache")) == 1
    clean = ("import os, sys; from pathlib import Path; from artver.repo import open_repo; "
             "temp = open_repo(Path(sys.argv[1])).cache.temp_owner().cache_temp(); open(temp, 'wb').close(); os.unlink(temp)")
    process = python(clean, str(repo))
    assert process.wait(timeout=SUBPROCESS_TIMEOUT) == 0
    assert len(records_in(repo / ".artver" / "cache")) == 1  # the first one's; the second left none


# ------------------------------------------------------------------ a cache folder with files that are not artver's


def test_cleanup_in_a_configured_cache_folder_deletes_only_artvers_own_files(tmp_path: Path, repo: Path, run_artver) -> None:
    somewhere = tmp_path / "some" / "where"
    share_cache(repo, somewhere)
    write(repo / "m.bin", b"model")
    ok(run_artver(repo, "add", "m.bin"))
    commit_all(repo, "model")

    dead_pid = _finished_pid()
    outside = write(tmp_path / "outside.txt", b"not artver's")
    strangers = {
        somewhere / "tmp" / f"{dead_pid}-0123456789abcdef": b"the old temp-name grammar",
        somewhere / "tmp" / "notes.txt": b"a user's file",
        somewhere / "tmp" / f"{'a' * 32}-{'b' * 16}": b"a temp-like name no owner record names",
        somewhere / "quarantine" / "notes.txt": b"a user's file",
    }
    for path, data in strangers.items():
        write(path, data)
    token = killed_owner(repo)  # a real dead owner, with one temp file in the cache
    (dead_temp,) = [name for name in os.listdir(somewhere / "tmp") if name.startswith(token + "-")]
    links = [somewhere / "tmp" / f"{token}-{'c' * 16}", somewhere / "quarantine" / f"xxh128-{'d' * 32}-{'e' * 8}"]
    for link in links:
        link.symlink_to(outside)
    quarantined = write(somewhere / "quarantine" / f"xxh128-{'f' * 32}-{'0' * 8}", b"a corrupt object")
    for path in [*strangers, *links, quarantined]:
        os.utime(path, (TWO_DAYS_AGO, TWO_DAYS_AGO), follow_symlinks=False)

    ok(run_artver(repo, "checkout"))
    write(repo / "n.bin", b"another")
    ok(run_artver(repo, "add", "n.bin"))
    ok(run_artver(repo, "gc", "--workspace", "--force"))

    for path, data in strangers.items():
        assert path.read_bytes() == data, path
    for link in links:
        assert link.is_symlink(), link
    assert outside.read_bytes() == b"not artver's"
    assert not (somewhere / "tmp" / dead_temp).exists() and not (somewhere / "tmp" / f"{token}{OWNER_SUFFIX}").exists()
    assert not quarantined.exists()  # artver's own, past the time it is kept for inspection


def _finished_pid() -> int:
    """The id of a process that has ended."""
    process = subprocess.Popen(["true"])
    process.wait(timeout=SUBPROCESS_TIMEOUT)
    return process.pid


def test_a_copied_cache_does_not_lead_cleanup_into_the_originals_folders(tmp_path: Path, repo: Path, run_artver) -> None:
    """cp -r of a cache copies a dead owner's record; its folders are the original's business."""
    original_cache = tmp_path / "cache-a"
    share_cache(repo, original_cache)
    write(repo / "data" / "a.txt", b"a")
    ok(run_artver(repo, "add", "data"))
    commit_all(repo, "data")
    token = killed_owner(repo, repo / "data" / "a.txt")
    (temp,) = temps_in(repo / "data")

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    copied_cache = tmp_path / "cache-b"
    shutil.copytree(original_cache, copied_cache, symlinks=True)
    share_cache(clone, copied_cache)
    ok(run_artver(clone, "checkout"))
    assert temps_in(repo / "data") == [temp]  # not the copy's to delete
    assert not (copied_cache / "tmp" / f"{token}{OWNER_SUFFIX}").exists()  # the copy itself is cleaned

    ok(run_artver(repo, "checkout"))  # the original record leads there
    assert temps_in(repo / "data") == []
