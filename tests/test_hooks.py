"""artver's Git hooks, run by real 'git' commands in temp repositories, and the pre-commit framework hooks.

Every hooked Git command runs with PATH=/usr/bin:/bin, so the hooks must find artver
through the interpreter that 'artver install-hooks' recorded, not through PATH.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from artver.hooks import BEGIN, CHAINED_SUFFIX, END, HOOKS
from artver.transfer import key_of
from tests.support.cli import Result
from tests.support.files import write
from tests.support.git import commit_all, git
from tests.support.remotes import holds

HOOK_TIMEOUT = 60  # a hook that loops would hang; this turns that into a failure
BARE_PATH = "/usr/bin:/bin"
MAIN_REPO = Path(__file__).resolve().parents[1]


def hooked_git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run git (and so its hooks) with a PATH that does not contain the venv."""
    env = {**os.environ, "PATH": BARE_PATH}
    for key in list(env):
        if key.startswith("ARTVER_IN_"):
            del env[key]
    completed = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=HOOK_TIMEOUT)
    if check:
        assert completed.returncode == 0, f"git {' '.join(args)} failed ({completed.returncode}):\n{completed.stdout}\n{completed.stderr}"
    return completed


def ok(result: Result) -> Result:
    assert result.code == 0, f"exit {result.code}\nstdout:\n{result.out}\nstderr:\n{result.err}"
    return result


def hooks_dir(root: Path) -> Path:
    return root / ".git" / "hooks"


def user_hook(root: Path, hook: str, marker: Path, *, reads_stdin: bool = False) -> bytes:
    """A hook of the user's own that appends one line per run to ``marker``; returns its bytes."""
    lines = ["#!/bin/sh", "# the user's own hook"]
    if reads_stdin:
        lines.append("cat >/dev/null")
    lines.append(f'echo "{hook} $*" >> "{marker}"')
    content = ("\n".join(lines) + "\n").encode()
    path = hooks_dir(root) / hook
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    path.chmod(0o755)
    return content


def marker_lines(marker: Path) -> list[str]:
    return marker.read_text().splitlines() if marker.exists() else []


def snapshot(directory: Path) -> dict[str, tuple[bytes, int]]:
    return {path.name: (path.read_bytes(), stat.S_IMODE(path.stat().st_mode)) for path in sorted(directory.iterdir()) if path.is_file()}


def add_and_commit(run_artver: Callable[..., Result], root: Path, message: str, *paths: str) -> str:
    ok(run_artver(root, "add", *paths))
    return commit_all(root, message)


def hooked_commit(root: Path, message: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    hooked_git(root, "add", "-A")
    return hooked_git(root, "commit", "-q", "-m", message, check=check)


def install(run_artver: Callable[..., Result], root: Path) -> Result:
    result = ok(run_artver(root, "install-hooks"))
    for hook in HOOKS:
        assert os.access(hooks_dir(root) / hook, os.X_OK), hook
    return result


def test_the_venv_is_not_on_the_hooks_path() -> None:
    assert shutil.which("artver", path=BARE_PATH) is None
    assert Path(sys.executable).parent != Path("/usr/bin")


# ---------------------------------------------------------------- install / uninstall


def test_install_chains_the_users_existing_hooks_and_both_run(repo: Path, run_artver, tmp_path: Path) -> None:
    write(repo / "model.bin", b"v1")
    add_and_commit(run_artver, repo, "model v1", "model.bin")
    git(repo, "checkout", "-q", "-b", "feature")
    write(repo / "model.bin", b"v2 on feature")
    add_and_commit(run_artver, repo, "model v2", "model.bin")
    git(repo, "checkout", "-q", "main")
    ok(run_artver(repo, "checkout"))
    assert (repo / "model.bin").read_bytes() == b"v1"

    marker = tmp_path / "marker.txt"
    originals = {hook: user_hook(repo, hook, marker) for hook in ("post-checkout", "pre-commit")}
    result = install(run_artver, repo)
    for hook in ("post-checkout", "pre-commit"):
        assert f"chained   {hook} (your existing hook is kept as {hook}{CHAINED_SUFFIX} and still runs)" in result.out
        assert (hooks_dir(repo) / (hook + CHAINED_SUFFIX)).read_bytes() == originals[hook]
        assert BEGIN in (hooks_dir(repo) / hook).read_text()
    for hook in ("post-merge", "pre-push"):
        assert f"installed {hook}" in result.out

    started = time.monotonic()
    hooked_git(repo, "checkout", "-q", "feature")
    assert (repo / "model.bin").read_bytes() == b"v2 on feature", "artver's post-checkout did not run"
    assert [line.split()[0] for line in marker_lines(marker)] == ["post-checkout"]
    assert marker_lines(marker)[0].endswith(" 1")  # the user's hook got git's arguments

    write(repo / "model.bin", b"v3")
    ok(run_artver(repo, "add", "model.bin"))
    hooked_commit(repo, "model v3")
    assert [line.split()[0] for line in marker_lines(marker)] == ["post-checkout", "pre-commit"]
    assert time.monotonic() - started < HOOK_TIMEOUT

    # artver's pre-commit ran as well: a bad pointer is refused even though the user's hook says yes.
    write(repo / "model.bin", b"v4")
    ok(run_artver(repo, "add", "model.bin"))
    write(repo / "model.bin", b"v4 edited after add")
    refused = hooked_commit(repo, "should fail", check=False)
    assert refused.returncode != 0
    assert "model.bin" in refused.stderr


def test_install_twice_changes_nothing_and_no_hook_recurses(repo: Path, run_artver, tmp_path: Path) -> None:
    marker = tmp_path / "marker.txt"
    store = tmp_path / "store"
    store.mkdir()
    ok(run_artver(repo, "remote", "add", "origin", str(store), "--default"))
    bare = tmp_path / "bare.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(repo, "remote", "add", "origin", str(bare))
    write(repo / "model.bin", b"model")
    add_and_commit(run_artver, repo, "model", "model.bin")
    for hook in HOOKS:
        user_hook(repo, hook, marker, reads_stdin=hook == "pre-push")

    first = install(run_artver, repo)
    assert first.out.count("chained") == len(HOOKS)
    before = snapshot(hooks_dir(repo))
    second = install(run_artver, repo)
    assert second.lines == [f"unchanged {hook}" for hook in HOOKS] + ["unchanged merge-driver", "unchanged .gitattributes"]
    assert snapshot(hooks_dir(repo)) == before, "a second install-hooks changed the hook files"
    third = install(run_artver, repo)
    assert snapshot(hooks_dir(repo)) == before and third.lines == second.lines

    hooked_git(repo, "checkout", "-q", "-b", "other")
    assert marker_lines(marker) == [f"post-checkout {git(repo, 'rev-parse', 'HEAD').strip()} {git(repo, 'rev-parse', 'HEAD').strip()} 1"]
    write(repo / "model.bin", b"model 2")
    ok(run_artver(repo, "add", "model.bin"))
    hooked_commit(repo, "model 2")
    hooked_git(repo, "checkout", "-q", "main")
    hooked_git(repo, "merge", "-q", "other")
    hooked_git(repo, "push", "-q", "origin", "main")
    kinds = [line.split()[0] for line in marker_lines(marker)]
    assert kinds == ["post-checkout", "pre-commit", "post-checkout", "post-merge", "pre-push"], kinds
    assert (repo / "model.bin").read_bytes() == b"model 2"


def test_reinstall_keeps_the_users_edits_outside_the_block(repo: Path, run_artver, tmp_path: Path) -> None:
    marker = tmp_path / "marker.txt"
    install(run_artver, repo)
    path = hooks_dir(repo) / "post-checkout"
    text = path.read_text()
    assert text.startswith("#!/bin/sh\n" + BEGIN)
    edited = text.replace("#!/bin/sh\n", f'#!/bin/sh\necho before >> "{marker}"\n', 1) + f'echo after >> "{marker}"\n'
    path.write_text(edited)

    result = install(run_artver, repo)
    assert "unchanged post-checkout" in result.out
    assert path.read_text() == edited

    # An older artver wrote a different block (another interpreter path): it is updated in place.
    stale = edited.replace(sys.executable, "/old/venv/bin/python")
    assert stale != edited
    path.write_text(stale)
    result = install(run_artver, repo)
    assert "updated   post-checkout" in result.out
    assert path.read_text() == edited
    assert not (hooks_dir(repo) / ("post-checkout" + CHAINED_SUFFIX)).exists()

    hooked_git(repo, "checkout", "-q", "-b", "other")
    assert marker_lines(marker) == ["before", "after"]


def test_a_hand_made_loop_still_terminates(repo: Path, run_artver, tmp_path: Path) -> None:
    """Copying the hook over <hook>.pre-artver makes it chain to itself; the guard variable stops that."""
    marker = tmp_path / "marker.txt"
    install(run_artver, repo)
    for hook in ("post-checkout", "pre-commit"):
        path = hooks_dir(repo) / hook
        path.write_text(path.read_text() + f'echo "{hook}" >> "{marker}"\n')
        shutil.copy2(path, hooks_dir(repo) / (hook + CHAINED_SUFFIX))
    write(repo / "model.bin", b"m")
    ok(run_artver(repo, "add", "model.bin"))

    started = time.monotonic()
    hooked_git(repo, "checkout", "-q", "-b", "loop")
    hooked_commit(repo, "through the loop")
    assert time.monotonic() - started < HOOK_TIMEOUT
    # Each file's own line runs once: the hook's, and its copy's (whose artver block is skipped).
    assert marker_lines(marker) == ["post-checkout", "post-checkout", "pre-commit", "pre-commit"]
    assert "unchanged post-checkout" in ok(run_artver(repo, "install-hooks")).out


def test_uninstall_restores_the_users_hooks_byte_identically(repo: Path, run_artver, tmp_path: Path) -> None:
    marker = tmp_path / "marker.txt"
    hook_path = hooks_dir(repo) / "post-checkout"
    original = f'#!/bin/sh\n# caf\u00e9 \u2713 my hook\necho "mine $*" >> "{marker}"\nexit 0'.encode()  # no final newline
    hook_path.write_bytes(original)
    hook_path.chmod(0o750)
    samples_before = {name: data for name, data in snapshot(hooks_dir(repo)).items() if name.endswith(".sample")}

    install(run_artver, repo)
    assert hook_path.read_bytes() != original
    result = ok(run_artver(repo, "uninstall-hooks"))
    assert "restored  post-checkout" in result.out
    for hook in ("post-merge", "pre-push", "pre-commit"):
        assert f"removed   {hook}" in result.out
        assert not (hooks_dir(repo) / hook).exists()
    assert hook_path.read_bytes() == original
    assert stat.S_IMODE(hook_path.stat().st_mode) == 0o750
    assert not list(hooks_dir(repo).glob("*" + CHAINED_SUFFIX))
    assert {name: data for name, data in snapshot(hooks_dir(repo)).items() if name.endswith(".sample")} == samples_before

    assert "No artver hooks were installed." in ok(run_artver(repo, "uninstall-hooks")).out
    hooked_git(repo, "checkout", "-q", "-b", "after")
    assert [line.split()[0] for line in marker_lines(marker)] == ["mine"]


def test_uninstall_keeps_lines_the_user_added_to_a_hook_that_had_none(repo: Path, run_artver, tmp_path: Path) -> None:
    marker = tmp_path / "marker.txt"
    install(run_artver, repo)
    path = hooks_dir(repo) / "pre-commit"
    path.write_text(path.read_text() + f'echo added-later >> "{marker}"\n')
    ok(run_artver(repo, "uninstall-hooks"))
    assert path.read_text() == f'#!/bin/sh\necho added-later >> "{marker}"\n'
    assert BEGIN not in path.read_text() and END not in path.read_text()
    hooked_git(repo, "commit", "-q", "--allow-empty", "-m", "empty")
    assert marker_lines(marker) == ["added-later"]


def test_uninstall_after_user_edits_still_runs_the_users_original_hook(repo: Path, run_artver, tmp_path: Path) -> None:
    """Chained original hook + lines the user added later: after uninstall both must still run."""
    marker = tmp_path / "marker.txt"
    user_hook(repo, "post-checkout", marker)
    install(run_artver, repo)
    path = hooks_dir(repo) / "post-checkout"
    path.write_text(path.read_text() + f'echo added-later >> "{marker}"\n')
    ok(run_artver(repo, "uninstall-hooks"))
    assert BEGIN not in path.read_text()
    hooked_git(repo, "checkout", "-q", "-b", "after")
    ran = [line.split()[0] for line in marker_lines(marker)]
    assert "added-later" in ran
    assert "post-checkout" in ran, (
        "the user's original hook (moved to post-checkout.pre-artver by install-hooks) no longer runs after "
        f"uninstall-hooks; hooks dir: {sorted(p.name for p in hooks_dir(repo).iterdir() if not p.name.endswith('.sample'))}"
    )


# ---------------------------------------------------------------- post-checkout, post-merge


def test_post_checkout_brings_each_branchs_data(repo: Path, run_artver) -> None:
    write(repo / "model.bin", b"model on main")
    write(repo / "data/a.txt", "a main\n")
    write(repo / "data/b.txt", "b main\n")
    add_and_commit(run_artver, repo, "main data", "model.bin", "data")
    install(run_artver, repo)

    hooked_git(repo, "checkout", "-q", "-b", "feature")
    write(repo / "model.bin", b"model on feature")
    write(repo / "data/a.txt", "a feature\n")
    (repo / "data/b.txt").unlink()
    write(repo / "data/sub/c.txt", "c feature\n")
    write(repo / "only-feature.bin", b"only here")
    ok(run_artver(repo, "add", "model.bin", "data", "only-feature.bin"))
    hooked_commit(repo, "feature data")

    def files_under(folder: Path) -> dict[str, bytes]:
        return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}

    hooked_git(repo, "checkout", "-q", "main")
    assert (repo / "model.bin").read_bytes() == b"model on main"
    assert files_under(repo / "data") == {"a.txt": b"a main\n", "b.txt": b"b main\n"}
    assert not (repo / "only-feature.bin").exists(), "data of an artifact main does not track was left behind"
    assert git(repo, "status", "--porcelain") == ""
    assert ok(run_artver(repo, "status", "--check"))

    hooked_git(repo, "checkout", "-q", "feature")
    assert (repo / "model.bin").read_bytes() == b"model on feature"
    assert files_under(repo / "data") == {"a.txt": b"a feature\n", "sub/c.txt": b"c feature\n"}
    assert (repo / "only-feature.bin").read_bytes() == b"only here"

    # Content that is saved nowhere is never deleted by a branch switch.
    write(repo / "only-feature.bin", b"edited, not added")
    switched = hooked_git(repo, "checkout", "-q", "main")
    assert (repo / "only-feature.bin").read_bytes() == b"edited, not added"
    assert "saved nowhere" in switched.stderr and "only-feature.bin" in switched.stderr
    assert (repo / "model.bin").read_bytes() == b"model on main"

    # A checkout of files (not of a branch) leaves the data alone.
    (repo / "model.bin").write_bytes(b"local edit")
    hooked_git(repo, "checkout", "--", ".gitignore")
    assert (repo / "model.bin").read_bytes() == b"local edit"


def test_post_merge_checks_out_the_merged_data(repo: Path, run_artver) -> None:
    write(repo / "model.bin", b"model 1")
    write(repo / "data/a.txt", "a1\n")
    add_and_commit(run_artver, repo, "base", "model.bin", "data")
    install(run_artver, repo)

    hooked_git(repo, "checkout", "-q", "-b", "feature")
    write(repo / "model.bin", b"model 2")
    write(repo / "new.bin", b"new")
    ok(run_artver(repo, "add", "model.bin", "new.bin"))
    hooked_commit(repo, "feature")
    hooked_git(repo, "checkout", "-q", "-b", "other", "main")
    write(repo / "data/a.txt", "a2\n")
    write(repo / "data/b.txt", "b2\n")
    ok(run_artver(repo, "add", "data"))
    hooked_commit(repo, "other")
    hooked_git(repo, "checkout", "-q", "main")
    assert (repo / "model.bin").read_bytes() == b"model 1" and not (repo / "new.bin").exists()

    hooked_git(repo, "merge", "-q", "feature")  # fast-forward
    assert (repo / "model.bin").read_bytes() == b"model 2"
    assert (repo / "new.bin").read_bytes() == b"new"
    hooked_git(repo, "merge", "-q", "--no-ff", "-m", "merge other", "other")  # a real merge commit
    assert (repo / "data/a.txt").read_text() == "a2\n" and (repo / "data/b.txt").read_text() == "b2\n"
    assert (repo / "model.bin").read_bytes() == b"model 2"
    ok(run_artver(repo, "status", "--check"))


def test_switching_to_a_branch_that_keeps_the_folder_in_git_leaves_gits_files(repo: Path, run_artver) -> None:
    """A folder tracked by artver on main is committed directly to Git on 'migrated'. The
    files 'git checkout migrated' writes are Git's: the hook must not remove them as data of
    an artifact the new commit no longer tracks, even though the cache holds their content."""
    write(repo / "data/a.txt", "a\n")
    write(repo / "data/sub/b.txt", "b\n")
    write(repo / "model.bin", b"model")
    add_and_commit(run_artver, repo, "data and model with artver", "data", "model.bin")
    install(run_artver, repo)
    hooked_git(repo, "checkout", "-q", "-b", "migrated")
    ok(run_artver(repo, "remove", "data"))  # its pointer and .gitignore line go; the files stay
    hooked_commit(repo, "data moves into Git")
    assert {"data/a.txt", "data/sub/b.txt"} <= set(git(repo, "ls-files").split())

    for _ in range(2):
        hooked_git(repo, "checkout", "-q", "main")  # Git takes its files away, artver puts its own
        assert (repo / "data/a.txt").read_text() == "a\n" and (repo / "data.art").exists()
        assert git(repo, "status", "--porcelain") == ""
        switched = hooked_git(repo, "checkout", "-q", "migrated")
        assert (repo / "data/a.txt").read_text() == "a\n", switched.stderr
        assert (repo / "data/sub/b.txt").read_text() == "b\n"
        assert git(repo, "status", "--porcelain") == ""
        assert (repo / "model.bin").read_bytes() == b"model"


def test_post_checkout_never_deletes_through_a_symlinked_parent(repo: Path, run_artver, tmp_path: Path) -> None:
    """The new commit replaced the folder holding a dropped artifact by a symlink out of the
    work tree: the data of the dropped artifact is not followed there."""
    outside = tmp_path / "outside"
    write(outside / "data/a.txt", "a\n")
    write(repo / "x/data/a.txt", "a\n")
    previous = add_and_commit(run_artver, repo, "x/data with artver", "x/data")
    git(repo, "rm", "-r", "-q", "x")
    shutil.rmtree(repo / "x")
    (repo / "x").symlink_to(outside)
    current = commit_all(repo, "x is now a symlink")
    ok(run_artver(repo, "hook", "post-checkout", previous, current, "1"))
    assert (outside / "data/a.txt").read_text() == "a\n"


# ---------------------------------------------------------------- pre-push


def _push_setup(repo: Path, run_artver, tmp_path: Path, store: Path) -> Path:
    ok(run_artver(repo, "remote", "add", "origin", str(store), "--default"))
    bare = tmp_path / "bare.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(repo, "remote", "add", "origin", str(bare))
    return bare


def _file_hash(repo: Path) -> str:
    for line in (repo / "model.bin.art").read_text().splitlines():
        if line.startswith("hash: "):
            return line[len("hash: "):]
    raise AssertionError("no hash in model.bin.art")


def _bare_has(bare: Path, ref: str) -> str | None:
    completed = subprocess.run(["git", "--git-dir", str(bare), "rev-parse", "--verify", "-q", ref],
                               capture_output=True, text=True, timeout=HOOK_TIMEOUT)
    return completed.stdout.strip() if completed.returncode == 0 else None


def test_pre_push_uploads_the_artifacts_of_every_pushed_commit(repo: Path, run_artver, tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    bare = _push_setup(repo, run_artver, tmp_path, store)
    install(run_artver, repo)
    hashes = []
    for version in (1, 2):
        write(repo / "model.bin", f"model {version}".encode())
        ok(run_artver(repo, "add", "model.bin"))
        hooked_commit(repo, f"model {version}")
        hashes.append(_file_hash(repo))
    pushed = hooked_git(repo, "push", "origin", "main")
    assert "artver: pushed 2 object(s)" in pushed.stderr
    for hash_value in hashes:  # hashes[0] is only in a commit below the tip
        assert holds(store, hash_value), hash_value
    assert _bare_has(bare, "refs/heads/main") == git(repo, "rev-parse", "HEAD").strip()

    # An update of the branch: only the new commits' objects (again not only the tip's).
    for version in (3, 4):
        write(repo / "model.bin", f"model {version}".encode())
        ok(run_artver(repo, "add", "model.bin"))
        hooked_commit(repo, f"model {version}")
        hashes.append(_file_hash(repo))
    pushed = hooked_git(repo, "push", "origin", "main")
    assert "artver: pushed 2 object(s)" in pushed.stderr
    assert all(holds(store, hash_value) for hash_value in hashes)

    # A new branch whose commits the remote has partly seen.
    hooked_git(repo, "checkout", "-q", "-b", "topic")
    write(repo / "model.bin", b"model 5")
    ok(run_artver(repo, "add", "model.bin"))
    hooked_commit(repo, "model 5")
    hooked_git(repo, "push", "origin", "topic")
    assert holds(store, _file_hash(repo))
    assert _bare_has(bare, "refs/heads/topic") == git(repo, "rev-parse", "HEAD").strip()


def test_pre_push_failure_stops_the_git_push(repo: Path, run_artver, tmp_path: Path) -> None:
    store = tmp_path / "store-that-does-not-exist"
    bare = _push_setup(repo, run_artver, tmp_path, store)
    install(run_artver, repo)
    write(repo / "model.bin", b"model")
    ok(run_artver(repo, "add", "model.bin"))
    hooked_commit(repo, "model")

    refused = hooked_git(repo, "push", "origin", "main", check=False)
    assert refused.returncode != 0
    assert "artver" in refused.stderr and "does not exist" in refused.stderr
    assert "stopped" in refused.stderr
    assert _bare_has(bare, "refs/heads/main") is None, "the commit reached the Git remote without its data"
    assert _bare_has(bare, git(repo, "rev-parse", "HEAD").strip() + "^{commit}") is None

    store.mkdir()
    hooked_git(repo, "push", "origin", "main")
    assert _bare_has(bare, "refs/heads/main") == git(repo, "rev-parse", "HEAD").strip()
    assert holds(store, _file_hash(repo))


def test_pre_push_with_a_misconfigured_remote_url_stops_the_push(repo: Path, run_artver, tmp_path: Path) -> None:
    bare = _push_setup(repo, run_artver, tmp_path, tmp_path / "store")
    install(run_artver, repo)
    write(repo / "model.bin", b"model")
    ok(run_artver(repo, "add", "model.bin"))
    hooked_commit(repo, "model")
    config = repo / ".artver" / "config"  # e.g. a teammate committed a broken remote URL (now every
    text = config.read_text()  # command refuses it, so it is broken only after the commit)
    assert f"url = {tmp_path / 'store'}" in text
    config.write_text(text.replace(f"url = {tmp_path / 'store'}", "url = nosuchscheme://bucket/x"))
    refused = hooked_git(repo, "push", "origin", "main", check=False)
    assert refused.returncode != 0 and "artver" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert _bare_has(bare, "refs/heads/main") is None


# ---------------------------------------------------------------- pre-commit


def test_pre_commit_refuses_a_pointer_that_does_not_match_the_data(repo: Path, run_artver) -> None:
    install(run_artver, repo)
    head = git(repo, "rev-parse", "HEAD").strip()
    write(repo / "model.bin", b"as added")
    ok(run_artver(repo, "add", "model.bin"))
    hooked_git(repo, "add", "model.bin.art", ".gitignore")
    write(repo / "model.bin", b"edited after artver add")
    refused = hooked_git(repo, "commit", "-q", "-m", "bad", check=False)
    assert refused.returncode != 0
    assert "artver: model.bin:" in refused.stderr
    assert "artver add model.bin" in refused.stderr and "git add model.bin.art" in refused.stderr
    assert git(repo, "rev-parse", "HEAD").strip() == head

    ok(run_artver(repo, "add", "model.bin"))
    hooked_git(repo, "add", "model.bin.art")
    hooked_git(repo, "commit", "-q", "-m", "good")
    assert git(repo, "rev-parse", "HEAD").strip() != head


def test_pre_commit_refuses_a_directory_that_does_not_match(repo: Path, run_artver) -> None:
    install(run_artver, repo)
    write(repo / "data/a.txt", "a")
    ok(run_artver(repo, "add", "data"))
    write(repo / "data/extra.txt", "added after artver add")
    hooked_git(repo, "add", "-A")
    refused = hooked_git(repo, "commit", "-q", "-m", "bad", check=False)
    assert refused.returncode != 0
    assert "artver: data:" in refused.stderr and "artver add data" in refused.stderr
    (repo / "data/extra.txt").unlink()
    hooked_git(repo, "commit", "-q", "-m", "good")


def test_pre_commit_refuses_a_pointer_whose_object_is_not_in_the_cache(repo: Path, run_artver) -> None:
    install(run_artver, repo)
    write(repo / "model.bin", b"cached then lost")
    ok(run_artver(repo, "add", "model.bin"))
    hooked_git(repo, "add", "-A")
    cached = repo / ".artver" / "cache" / key_of(_file_hash(repo))
    assert cached.is_file()
    cached.unlink()
    refused = hooked_git(repo, "commit", "-q", "-m", "bad", check=False)
    assert refused.returncode != 0
    assert "model.bin" in refused.stderr and "not in the cache" in refused.stderr
    assert "artver add model.bin" in refused.stderr
    ok(run_artver(repo, "add", "model.bin"))  # stores it again
    assert cached.is_file()
    hooked_git(repo, "commit", "-q", "-m", "good")


def test_pre_commit_ignores_commits_without_pointers(repo: Path, run_artver) -> None:
    install(run_artver, repo)
    write(repo / "README.txt", "hello")
    hooked_commit(repo, "docs")
    assert git(repo, "log", "-1", "--format=%s").strip() == "docs"


# ---------------------------------------------------------------- the pre-commit framework


@pytest.fixture(scope="session")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One pre-commit cache per test session, so artver's hook environment is built once."""
    return tmp_path_factory.mktemp("pre-commit-home")


def run_pre_commit(root: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    executable = Path(sys.executable).parent / "pre-commit"
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), "PRE_COMMIT_COLOR": "never"}
    return subprocess.run([str(executable), *args], cwd=root, env=env, capture_output=True, text=True, timeout=600)


def test_pre_commit_framework_hooks(repo: Path, run_artver, pre_commit_home: Path) -> None:
    """.pre-commit-hooks.yaml of this repository, installed by pre-commit from the committed HEAD."""
    if not (Path(sys.executable).parent / "pre-commit").exists():
        pytest.fail("pre-commit is not installed in the venv")
    revision = subprocess.run(["git", "rev-parse", "HEAD"], cwd=MAIN_REPO, capture_output=True, text=True,
                              timeout=HOOK_TIMEOUT, check=True).stdout.strip()
    committed = subprocess.run(["git", "cat-file", "-e", f"{revision}:.pre-commit-hooks.yaml"], cwd=MAIN_REPO,
                               capture_output=True, timeout=HOOK_TIMEOUT)
    assert committed.returncode == 0, ".pre-commit-hooks.yaml is not committed"

    def config(extra: str = "") -> str:
        return (
            f"repos:\n  - repo: {MAIN_REPO}\n    rev: {revision}\n    hooks:\n"
            f"      - id: artver-pointers\n      - id: artver-large-files\n{extra}"
        )

    (repo / ".pre-commit-config.yaml").write_text(config())
    (repo / "strict.yaml").write_text(config("        args: [--max-size=1MiB]\n"))
    commit_all(repo, "pre-commit configs")

    # artver-large-files: a 20 MiB staged file is refused, naming it and the command to use.
    write(repo / "big.bin", os.urandom(1024) * (20 * 1024))
    git(repo, "add", "big.bin")
    result = run_pre_commit(repo, pre_commit_home, "run", "artver-large-files")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "big.bin is 20.0 MiB" in result.stdout and "artver add big.bin" in result.stdout
    git(repo, "rm", "-q", "--cached", "big.bin")
    (repo / "big.bin").unlink()

    write(repo / "small.txt", "small")
    write(repo / "medium.bin", os.urandom(2 * 1024 * 1024))
    git(repo, "add", "small.txt", "medium.bin")
    result = run_pre_commit(repo, pre_commit_home, "run", "artver-large-files")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Passed" in result.stdout
    # --max-size from the hook's args.
    result = run_pre_commit(repo, pre_commit_home, "run", "-c", "strict.yaml", "artver-large-files")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "medium.bin is 2.0 MiB, over the 1.0 MiB limit" in result.stdout
    assert "small.txt" not in result.stdout
    git(repo, "rm", "-q", "--cached", "medium.bin")
    (repo / "medium.bin").unlink()

    # artver-pointers: a staged pointer that does not match the data is refused, a good one passes.
    write(repo / "model.bin", b"as added")
    ok(run_artver(repo, "add", "model.bin"))
    git(repo, "add", "model.bin.art", ".gitignore")
    write(repo / "model.bin", b"changed after add")
    result = run_pre_commit(repo, pre_commit_home, "run", "artver-pointers")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "model.bin" in result.stdout and "artver add model.bin" in result.stdout
    ok(run_artver(repo, "add", "model.bin"))
    git(repo, "add", "model.bin.art")
    result = run_pre_commit(repo, pre_commit_home, "run", "artver-pointers")
    assert result.returncode == 0, result.stdout + result.stderr

    # Installed as the Git pre-commit hook, for a real 'git commit'.
    result = run_pre_commit(repo, pre_commit_home, "install")
    assert result.returncode == 0, result.stdout + result.stderr
    env = {**os.environ, "PRE_COMMIT_HOME": str(pre_commit_home), "PATH": BARE_PATH}
    committed = subprocess.run(["git", "commit", "-q", "-m", "model"], cwd=repo, env=env, capture_output=True,
                               text=True, timeout=600)
    assert committed.returncode == 0, committed.stdout + committed.stderr
    write(repo / "big.bin", os.urandom(11 * 1024 * 1024))
    git(repo, "add", "big.bin")
    refused = subprocess.run(["git", "commit", "-q", "-m", "big"], cwd=repo, env=env, capture_output=True,
                             text=True, timeout=600)
    assert refused.returncode != 0
    assert "big.bin" in refused.stdout + refused.stderr
    assert git(repo, "log", "-1", "--format=%s").strip() == "model"


# ---------------------------------------------------------------- artver and pre-commit, in every order


def _framework_config(marker: Path) -> str:
    """A pre-commit configuration with one local hook (no download): it appends 'framework' to ``marker``."""
    return (
        "repos:\n  - repo: local\n    hooks:\n      - id: marker\n        name: marker\n"
        f"        entry: sh -c 'echo framework >> {marker}'\n"
        "        language: system\n        always_run: true\n        pass_filenames: false\n"
    )


def _block_files(root: Path, hook: str = "") -> list[str]:
    """The hook files (of ``hook``, or all) that hold artver's block."""
    return sorted(
        path.name for path in hooks_dir(root).iterdir()
        if path.name.startswith(hook) and path.is_file() and BEGIN in path.read_text(errors="replace")
    )


@pytest.mark.parametrize("uninstall_order", ["artver-first", "pre-commit-first"])
@pytest.mark.parametrize("install_order", ["artver-first", "pre-commit-first"])
@pytest.mark.parametrize("users_hook", [True, False], ids=["users-hook", "no-users-hook"])
def test_artver_and_the_pre_commit_framework_install_and_uninstall_in_any_order(
    repo: Path, run_artver, tmp_path: Path, pre_commit_home: Path, monkeypatch: pytest.MonkeyPatch,
    users_hook: bool, install_order: str, uninstall_order: str,
) -> None:
    monkeypatch.setenv("PRE_COMMIT_HOME", str(pre_commit_home))
    marker = tmp_path / "marker.txt"
    (repo / ".pre-commit-config.yaml").write_text(_framework_config(marker))
    commit_all(repo, "pre-commit config")
    original = user_hook(repo, "pre-commit", marker) if users_hook else None

    def pre_commit(*args: str) -> None:
        result = run_pre_commit(repo, pre_commit_home, *args)
        assert result.returncode == 0, result.stdout + result.stderr

    installs = {"artver": lambda: install(run_artver, repo), "pre-commit": lambda: pre_commit("install")}
    uninstalls = {"artver": lambda: ok(run_artver(repo, "uninstall-hooks")), "pre-commit": lambda: pre_commit("uninstall")}
    first, second = ("artver", "pre-commit") if install_order == "artver-first" else ("pre-commit", "artver")
    installs[first]()
    installs[second]()
    assert len(_block_files(repo, "pre-commit")) == 1
    layout = snapshot(hooks_dir(repo))
    again = install(run_artver, repo)  # a second install-hooks finds its block wherever it is
    assert "unchanged pre-commit" in again.out
    pre_commit("install")  # and pre-commit finds its own script: nothing moves, nothing is lost
    assert snapshot(hooks_dir(repo)) == layout

    # All three run on a commit: artver's check refuses data that does not match its pointer ...
    write(repo / "model.bin", b"as added")
    ok(run_artver(repo, "add", "model.bin"))
    write(repo / "model.bin", b"edited after add")
    refused = hooked_commit(repo, "refused", check=False)
    assert refused.returncode != 0 and "artver: model.bin:" in refused.stderr, refused.stderr
    # ... and lets a good one through, after the user's hook and the framework's ran once each.
    ok(run_artver(repo, "add", "model.bin"))
    marker.unlink(missing_ok=True)
    hooked_commit(repo, "good")
    assert sorted(line.split()[0] for line in marker_lines(marker)) == sorted(
        ["framework"] + (["pre-commit"] if users_hook else [])
    )

    first, second = ("artver", "pre-commit") if uninstall_order == "artver-first" else ("pre-commit", "artver")
    uninstalls[first]()
    uninstalls[second]()
    assert _block_files(repo) == [], "artver's block was left in a hook file"
    assert "No artver hooks were installed." in ok(run_artver(repo, "uninstall-hooks")).out
    assert not list(hooks_dir(repo).glob("*" + CHAINED_SUFFIX)) and not list(hooks_dir(repo).glob("*.legacy"))
    hook = hooks_dir(repo) / "pre-commit"
    if original is not None:
        assert hook.read_bytes() == original
    else:
        assert not hook.exists()

    # Neither artver nor the framework runs any more; the user's hook still does.
    write(repo / "model.bin", b"v2")
    ok(run_artver(repo, "add", "model.bin"))
    write(repo / "model.bin", b"v2 edited after add")
    marker.unlink(missing_ok=True)
    hooked_commit(repo, "unchecked")
    assert marker_lines(marker) == (["pre-commit "] if users_hook else [])


def test_uninstall_finds_the_block_pre_commit_moved_to_legacy(repo: Path, run_artver, tmp_path: Path,
                                                              pre_commit_home: Path) -> None:
    """The issue's order: user hook, then artver install-hooks, then pre-commit install."""
    marker = tmp_path / "marker.txt"
    (repo / ".pre-commit-config.yaml").write_text(_framework_config(marker))
    commit_all(repo, "pre-commit config")
    original = user_hook(repo, "pre-commit", marker)
    install(run_artver, repo)
    assert run_pre_commit(repo, pre_commit_home, "install").returncode == 0
    assert _block_files(repo, "pre-commit") == ["pre-commit.legacy"]

    result = ok(run_artver(repo, "uninstall-hooks"))
    assert "restored  pre-commit (artver's part of pre-commit.legacy)" in result.out
    assert _block_files(repo) == []
    assert (hooks_dir(repo) / "pre-commit.legacy").read_bytes() == original  # where pre-commit runs it
    assert "No artver hooks were installed." in ok(run_artver(repo, "uninstall-hooks")).out
