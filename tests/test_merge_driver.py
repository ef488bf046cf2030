"""The merge driver for pointer files and 'artver resolve', with real git merge, rebase,
cherry-pick and pull; and the three-way merge of listings on its own."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from artver import hashing, listing
from artver import merge as merging
from artver import pointer as pointer_module
from artver.errors import PointerConflictError, PointerError
from artver.listing import Entry
from artver.pointer import DirPointer, InlineListing, ListingRef, Pointer
from tests.support.cli import Result
from tests.support.files import object_path, write, xxh
from tests.support.git import commit_all, git

TIMEOUT = 120


def ok(result: Result) -> Result:
    assert result.code == 0, f"exit {result.code}\nstdout:\n{result.out}\nstderr:\n{result.err}"
    return result


def git_may_fail(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT)


def files_under(folder: Path) -> dict[str, str]:
    return {path.relative_to(folder).as_posix(): path.read_text() for path in sorted(folder.rglob("*")) if path.is_file()}


def entry(path: str, content: str, executable: bool = False) -> Entry:
    return Entry(path, xxh(content.encode()), len(content.encode()), executable)


# ---------------------------------------------------------------- the three-way merge on its own


def test_entries_merge_by_path() -> None:
    base = (entry("a", "a"), entry("b", "b"), entry("c", "c"), entry("d", "d"))
    ours = (entry("a", "a"), entry("b", "b ours"), entry("c", "c"), entry("d", "d"), entry("e", "new ours"))
    theirs = (entry("a", "a"), entry("b", "b"), entry("c", "c theirs"), entry("f", "new theirs"))  # d deleted
    picked_ours, picked_theirs, conflicts = merging.merge_entries(base, ours, theirs)
    assert conflicts == ()
    assert picked_ours == picked_theirs == (
        entry("a", "a"), entry("b", "b ours"), entry("c", "c theirs"), entry("e", "new ours"), entry("f", "new theirs"),
    )


@pytest.mark.parametrize(
    ("ours", "theirs", "conflict"),
    [
        ((entry("a", "ours"),), (entry("a", "theirs"),), True),  # both modified, differently
        ((entry("a", "same"),), (entry("a", "same"),), False),  # both made the same change
        ((), (entry("a", "theirs"),), True),  # deleted on one side, modified on the other
        ((), (), False),  # deleted on both
        ((entry("a", "a", executable=True),), (entry("a", "a"),), False),  # only ours made it executable
        ((entry("a", "a", executable=True),), (entry("a", "theirs"),), True),  # mode vs content
    ],
)
def test_one_path_changed_on_both_sides(ours: tuple[Entry, ...], theirs: tuple[Entry, ...], conflict: bool) -> None:
    base = (entry("a", "a"),)
    picked_ours, picked_theirs, conflicts = merging.merge_entries(base, ours, theirs)
    assert conflicts == (("a",) if conflict else ())
    if conflict:
        assert (picked_ours, picked_theirs) == (ours, theirs)
    else:
        assert picked_ours == picked_theirs


def test_without_a_known_base_every_difference_conflicts() -> None:
    ours = (entry("a", "a"), entry("b", "ours"), entry("only-ours", "x"))
    theirs = (entry("a", "a"), entry("b", "theirs"))
    assert merging.merge_entries(None, ours, theirs)[2] == ("b", "only-ours")
    # With a base known to be empty (both sides added the folder) a path one side added is kept.
    picked, _, conflicts = merging.merge_entries((), ours, theirs)
    assert conflicts == ("b",) and "only-ours" in {item.path for item in picked}


def test_a_file_on_one_side_and_a_folder_on_the_other_conflict_without_a_broken_listing() -> None:
    base = (entry("x", "x"), entry("y", "y"))
    ours = (entry("x/inner", "now a folder"), entry("y", "y"))  # x became a folder
    theirs = (entry("x", "x changed"), entry("y", "y"), entry("z", "z"))
    picked_ours, picked_theirs, conflicts = merging.merge_entries(base, ours, theirs)
    assert conflicts == ("x",)  # theirs changed the file x, ours replaced it by a folder
    for picked in (picked_ours, picked_theirs):
        listing.check_entries(picked, "merged")  # neither has 'x' both as a file and as a folder
        assert entry("z", "z") in picked
    assert entry("x/inner", "now a folder") in picked_ours and entry("x", "x changed") in picked_theirs


def _inline(*entries: Entry, desc: str | None = None, meta: tuple[tuple[str, str], ...] = ()) -> DirPointer:
    return DirPointer(InlineListing(tuple(sorted(entries))), desc=desc, meta=meta)


def _merge(base: merging.Base, ours: Pointer, theirs: Pointer) -> merging.Outcome:
    def load(pointer: DirPointer) -> tuple[Entry, ...]:
        assert isinstance(pointer.content, InlineListing)
        return pointer.content.entries

    return merging.merge(base, ours, theirs, "xxh128", load, pointer_module.dir_pointer)


def test_description_and_metadata_merge_key_by_key() -> None:
    base = _inline(entry("a", "a"), desc="old", meta=(("owner", "ada"), ("stage", "dev")))
    ours = _inline(entry("a", "a"), desc="new", meta=(("owner", "ada"), ("stage", "prod")))
    theirs = _inline(entry("a", "a2"), desc="old", meta=(("owner", "bob"), ("stage", "dev"), ("team", "ml")))
    outcome = _merge(base, ours, theirs)
    assert outcome == merging.Merged(_inline(entry("a", "a2"), desc="new", meta=(("owner", "bob"), ("stage", "prod"), ("team", "ml"))))
    clash = _merge(base, ours, _inline(entry("a", "a"), desc="other", meta=base.meta))
    assert isinstance(clash, merging.Conflicted) and clash.fields == (merging.DESC,) and clash.paths == ()
    assert (clash.ours.desc, clash.theirs.desc) == ("new", "other")


def test_files_changed_on_both_sides_conflict_but_one_sided_changes_merge() -> None:
    def file(content: str, desc: str | None = None) -> Pointer:
        return pointer_module.file_pointer(xxh(content.encode()), len(content)).with_user_data(desc, ())

    base, ours, theirs = file("base"), file("ours"), file("theirs", desc="theirs")
    outcome = _merge(base, ours, theirs)
    assert isinstance(outcome, merging.Conflicted) and outcome.fields == (merging.CONTENT,)
    assert (outcome.ours.hash, outcome.theirs.hash) == (ours.hash, theirs.hash)
    assert outcome.ours.desc == outcome.theirs.desc == "theirs"  # the one-sided description change is kept
    assert _merge(base, file("base"), theirs) == merging.Merged(file("theirs", desc="theirs"))
    assert _merge(base, file("base", desc="d"), file("theirs")) == merging.Merged(file("theirs", desc="d"))
    # A file that became a folder on one side, and changed on the other.
    outcome = _merge(base, _inline(entry("a", "a")), theirs)
    assert isinstance(outcome, merging.Conflicted) and outcome.fields == (merging.CONTENT,)
    assert "a file on one side, a folder on the other" in merging.summary("model", outcome)


def test_conflict_form_is_refused_by_the_parser_and_splits_back_into_both_sides() -> None:
    ours = _inline(entry("a", "ours"), entry("b", "b"))
    theirs = _inline(entry("a", "theirs"), entry("b", "b"))
    conflict = _merge(_inline(entry("a", "a"), entry("b", "b")), ours, theirs)
    assert isinstance(conflict, merging.Conflicted)
    data = merging.conflict_bytes(conflict, merging.summary("data", conflict))
    with pytest.raises(PointerConflictError, match=r"data.art: unresolved merge conflict.*'artver resolve data'"):
        pointer_module.parse_pointer(data, "data.art")
    sides = merging.sides_of_conflict(data)
    assert sides is not None
    assert [pointer_module.parse_pointer(side, "side") for side in sides] == [ours, theirs]


def test_sides_of_a_conflict_left_by_gits_text_merge() -> None:
    text = (
        b"artver-pointer: 1\nkind: dir\nentries:\n"
        b"<<<<<<< HEAD\nxxh128:" + b"1" * 32 + b" 1 - a\n"
        b"||||||| base\nxxh128:" + b"0" * 32 + b" 1 - a\n"
        b"=======\nxxh128:" + b"2" * 32 + b" 1 - a\n"
        b">>>>>>> feature\nxxh128:" + b"3" * 32 + b" 1 - b\nend\n"
    )
    with pytest.raises(PointerConflictError):
        pointer_module.parse_pointer(text, "data.art")
    sides = merging.sides_of_conflict(text)
    assert sides is not None
    ours, theirs = (pointer_module.parse_pointer(side, "side") for side in sides)
    assert [item.hash[-1] for item in ours.content.entries] == ["1", "3"]
    assert [item.hash[-1] for item in theirs.content.entries] == ["2", "3"]
    assert merging.sides_of_conflict(b"<<<<<<< HEAD\nno end\n") is None
    assert merging.sides_of_conflict(b"artver-pointer: 1\n") is None


# ---------------------------------------------------------------- with real Git


def _branches(repo: Path, run_artver: Callable[..., Result], change_ours: Callable[[], None],
              change_theirs: Callable[[], None], paths: tuple[str, ...] = ("data",)) -> None:
    """'theirs' branch from main with change_theirs, then main with change_ours (checked out)."""
    git(repo, "checkout", "-q", "-b", "theirs")
    change_theirs()
    ok(run_artver(repo, "add", *paths))
    commit_all(repo, "theirs")
    git(repo, "checkout", "-q", "main")
    ok(run_artver(repo, "checkout"))
    change_ours()
    ok(run_artver(repo, "add", *paths))
    commit_all(repo, "ours")


def _dataset(repo: Path, run_artver: Callable[..., Result], names: str = "abcdef") -> None:
    for name in names:
        write(repo / "data" / f"{name}.txt", f"{name} base\n")
    ok(run_artver(repo, "add", "data"))
    commit_all(repo, "base data")


def test_init_sets_up_the_driver(repo: Path) -> None:
    assert (repo / ".gitattributes").read_text() == "*.art merge=artver\n"
    assert git(repo, "check-attr", "merge", "--", "x/y.art").strip() == "x/y.art: merge: artver"
    driver = git(repo, "config", "--get", "merge.artver.driver").strip()
    assert f"{sys.executable} -m artver merge-driver -- %O %A %B %L %P" in driver
    assert git(repo, "config", "--get", "merge.artver.recursive").strip() == "binary"
    assert git(repo, "status", "--porcelain") == ""  # the fixture committed .gitattributes with .artver


def test_adjacent_files_changed_on_two_branches_merge_cleanly(repo: Path, run_artver) -> None:
    _dataset(repo, run_artver)

    def ours() -> None:
        write(repo / "data/c.txt", "c ours\n")
        (repo / "data/e.txt").unlink()

    def theirs() -> None:
        write(repo / "data/b.txt", "b theirs\n")
        write(repo / "data/d.txt", "d theirs\n")
        write(repo / "data/new/g.txt", "g theirs\n")

    _branches(repo, run_artver, ours, theirs)
    merged = git_may_fail(repo, "merge", "--no-edit", "theirs")
    assert merged.returncode == 0, merged.stdout + merged.stderr
    ok(run_artver(repo, "checkout"))
    assert files_under(repo / "data") == {
        "a.txt": "a base\n", "b.txt": "b theirs\n", "c.txt": "c ours\n", "d.txt": "d theirs\n", "f.txt": "f base\n",
        "new/g.txt": "g theirs\n",
    }
    ok(run_artver(repo, "status", "--check"))
    assert len(git(repo, "log", "--format=%H", "-1", "--merges")) > 0


def test_a_large_folders_listing_objects_merge_entry_by_entry(repo: Path, run_artver, tmp_path: Path) -> None:
    """Listing objects in the cache and in the remote: theirs is fetched, the merged one written."""
    (tmp_path / "store").mkdir()
    ok(run_artver(repo, "remote", "add", "origin", str(tmp_path / "store"), "--default"))
    config = repo / ".artver" / "config"
    assert "[core]\n" in config.read_text()
    config.write_text(config.read_text().replace("[core]\n", "[core]\nlisting_inline_max = 3\n"))
    commit_all(repo, "small inline limit")
    _dataset(repo, run_artver)
    assert "listing: " in (repo / "data.art").read_text()
    _branches(repo, run_artver, lambda: write(repo / "data/c.txt", "c ours\n"),
              lambda: write(repo / "data/b.txt", "b theirs\n"))
    theirs_listing = git(repo, "show", "theirs:data.art").split("listing: ")[1].split("\n")[0]
    ok(run_artver(repo, "push", "--rev", "theirs"))
    object_path(repo, theirs_listing).unlink()  # as if 'theirs' came from another clone

    merged = git_may_fail(repo, "merge", "--no-edit", "theirs")
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert object_path(repo, theirs_listing).is_file(), "their listing was not fetched"
    pointer = pointer_module.read_pointer(repo / "data.art", "data.art")
    assert isinstance(pointer, DirPointer) and isinstance(pointer.content, ListingRef)
    assert object_path(repo, pointer.content.hash).is_file()
    entries = listing.from_object_bytes(object_path(repo, pointer.content.hash).read_bytes(), "merged")
    assert {item.path: item.hash for item in entries}["b.txt"] == xxh(b"b theirs\n")
    assert {item.path: item.hash for item in entries}["c.txt"] == xxh(b"c ours\n")
    assert pointer.content.count == 6
    ok(run_artver(repo, "checkout"))
    assert (repo / "data/b.txt").read_text() == "b theirs\n" and (repo / "data/c.txt").read_text() == "c ours\n"


def test_the_same_file_changed_on_both_branches_conflicts_and_resolves_either_way(repo: Path, run_artver) -> None:
    _dataset(repo, run_artver)

    def ours() -> None:
        write(repo / "data/a.txt", "a ours\n")
        write(repo / "data/c.txt", "c ours\n")

    def theirs() -> None:
        write(repo / "data/a.txt", "a theirs\n")
        write(repo / "data/d.txt", "d theirs\n")

    _branches(repo, run_artver, ours, theirs)
    merged = git_may_fail(repo, "merge", "--no-edit", "theirs")
    assert merged.returncode == 1 and "CONFLICT" in merged.stdout
    assert "artver: data.art: both branches changed data/a.txt; every other change of both branches is merged." in merged.stderr
    assert "'artver resolve --ours data' or 'artver resolve --theirs data'" in merged.stderr
    assert git(repo, "diff", "--name-only", "--diff-filter=U").split() == ["data.art"]

    # Every command that reads the pointer explains, and 'add' does not record one side.
    for command in (("status",), ("add", "data"), ("checkout",)):
        result = run_artver(repo, *command)
        assert result.code == 1, command
        assert "data.art: unresolved merge conflict" in result.err and "artver resolve data" in result.err, result.err
    assert "<<<<<<< ours" in (repo / "data.art").read_text()

    still = run_artver(repo, "resolve", "data")
    assert still.code == 1 and "conflict  data: both branches changed data/a.txt" in still.out
    result = ok(run_artver(repo, "resolve", "--theirs", "data"))
    assert "theirs    data: both branches changed data/a.txt" in result.out and "git add data.art" in result.out
    git(repo, "add", "data.art")
    git(repo, "commit", "-q", "--no-edit")
    ok(run_artver(repo, "checkout"))
    assert files_under(repo / "data") == {
        "a.txt": "a theirs\n", "b.txt": "b base\n", "c.txt": "c ours\n", "d.txt": "d theirs\n", "e.txt": "e base\n",
        "f.txt": "f base\n",
    }

    # --ours, through 'git checkout -m' (which runs the driver again) after a second conflict.
    git(repo, "checkout", "-q", "-b", "again", "HEAD~1")
    ok(run_artver(repo, "checkout"))
    write(repo / "data/a.txt", "a again\n")
    ok(run_artver(repo, "add", "data"))
    commit_all(repo, "again")
    git(repo, "checkout", "-q", "main")
    ok(run_artver(repo, "checkout"))
    assert git_may_fail(repo, "merge", "--no-edit", "again").returncode == 1
    ok(run_artver(repo, "resolve", "--ours"))  # every conflicted pointer
    assert pointer_module.read_pointer(repo / "data.art", "data.art").content.entries[0] == entry("a.txt", "a theirs\n")  # type: ignore[union-attr]


def test_file_pointers_changed_on_both_branches(repo: Path, run_artver) -> None:
    write(repo / "model.bin", "base")
    ok(run_artver(repo, "add", "model.bin"))
    commit_all(repo, "model")
    _branches(repo, run_artver, lambda: write(repo / "model.bin", "ours"),
              lambda: write(repo / "model.bin", "theirs"), ("model.bin",))
    merged = git_may_fail(repo, "merge", "--no-edit", "theirs")
    assert merged.returncode == 1
    assert "model.bin.art: both branches changed the file model.bin. Keep one side with 'artver resolve --ours model.bin'" in merged.stderr
    result = run_artver(repo, "resolve")
    assert result.code == 1 and "conflict  model.bin: both branches changed the file model.bin" in result.out
    ok(run_artver(repo, "resolve", "--theirs", "model.bin.art"))
    assert pointer_module.read_pointer(repo / "model.bin.art", "p").hash == xxh(b"theirs")
    ok(run_artver(repo, "resolve", "--ours", "model.bin"))  # still unmerged in the index: choose again
    assert pointer_module.read_pointer(repo / "model.bin.art", "p").hash == xxh(b"ours")


@pytest.mark.parametrize("how", ["rebase", "cherry-pick", "pull", "pull-rebase"])
def test_rebase_cherry_pick_and_pull_use_the_driver(repo: Path, run_artver, tmp_path: Path, how: str) -> None:
    _dataset(repo, run_artver)
    clone = tmp_path / "clone"
    if how.startswith("pull"):
        git(tmp_path, "clone", "-q", str(repo), str(clone))
        ok(run_artver(clone, "init"))  # a clone defines the driver in its own .git/config
        write(clone / "data/b.txt", "b in the clone\n")
        for name in "abcdef":
            if name != "b":
                write(clone / "data" / f"{name}.txt", f"{name} base\n")
        ok(run_artver(clone, "add", "data"))
        commit_all(clone, "clone changes b")
        # The clone's cache lacks nothing: inline listing; main changes the neighbour c.
        write(repo / "data/c.txt", "c on main\n")
        ok(run_artver(repo, "add", "data"))
        commit_all(repo, "main changes c")
        args = ["pull", "--no-edit", "-q"] + (["--rebase"] if how == "pull-rebase" else ["--no-rebase"])
        pulled = git_may_fail(clone, *args, "origin", "main")
        assert pulled.returncode == 0, pulled.stdout + pulled.stderr
        entries = {item.path: item.hash for item in pointer_module.read_pointer(clone / "data.art", "x").content.entries}
        assert entries["b.txt"] == xxh(b"b in the clone\n") and entries["c.txt"] == xxh(b"c on main\n")
        return
    _branches(repo, run_artver, lambda: write(repo / "data/c.txt", "c ours\n"),
              lambda: write(repo / "data/b.txt", "b theirs\n"))
    if how == "rebase":
        git(repo, "checkout", "-q", "theirs")
        done = git_may_fail(repo, "rebase", "main")
    else:
        done = git_may_fail(repo, "cherry-pick", "theirs")
    assert done.returncode == 0, done.stdout + done.stderr
    ok(run_artver(repo, "checkout"))
    assert (repo / "data/b.txt").read_text() == "b theirs\n" and (repo / "data/c.txt").read_text() == "c ours\n"


def test_without_the_driver_git_merges_as_text_and_resolve_merges_entry_by_entry(repo: Path, run_artver) -> None:
    """A clone that never ran 'artver init' or 'install-hooks': the committed .gitattributes names
    a driver Git does not know, so Git uses its text merge; nothing is lost."""
    _dataset(repo, run_artver)
    assert "removed   merge-driver" in ok(run_artver(repo, "uninstall-hooks")).out
    assert (repo / ".gitattributes").read_text() == "*.art merge=artver\n"  # committed, kept for other clones
    _branches(repo, run_artver, lambda: write(repo / "data/c.txt", "c ours\n"),
              lambda: write(repo / "data/b.txt", "b theirs\n"))
    merged = git_may_fail(repo, "merge", "--no-edit", "theirs")
    assert merged.returncode == 1 and "artver" not in merged.stderr  # adjacent lines: a text conflict
    text = (repo / "data.art").read_text()
    assert "<<<<<<< HEAD" in text
    result = run_artver(repo, "status")
    assert result.code == 1 and "unresolved merge conflict" in result.err

    result = ok(run_artver(repo, "resolve"))
    assert "merged    data: every change of both branches" in result.out
    git(repo, "add", "data.art")
    git(repo, "commit", "-q", "--no-edit")
    ok(run_artver(repo, "checkout"))
    assert (repo / "data/b.txt").read_text() == "b theirs\n" and (repo / "data/c.txt").read_text() == "c ours\n"
    assert "installed merge-driver" in ok(run_artver(repo, "install-hooks")).out


def test_both_branches_add_the_same_folder(repo: Path, run_artver) -> None:
    """No common version: Git gives the driver an empty base."""
    git(repo, "checkout", "-q", "-b", "theirs")
    write(repo / "data/shared.txt", "same\n")
    write(repo / "data/theirs.txt", "theirs\n")
    ok(run_artver(repo, "add", "data"))
    commit_all(repo, "theirs adds data")
    git(repo, "checkout", "-q", "main")
    ok(run_artver(repo, "checkout"))
    (repo / "data/theirs.txt").unlink()
    write(repo / "data/ours.txt", "ours\n")
    ok(run_artver(repo, "add", "data"))
    commit_all(repo, "ours adds data")
    merged = git_may_fail(repo, "merge", "--no-edit", "theirs")
    assert merged.returncode == 0, merged.stdout + merged.stderr
    entries = pointer_module.read_pointer(repo / "data.art", "x").content.entries
    assert [item.path for item in entries] == ["ours.txt", "shared.txt", "theirs.txt"]


def test_deleted_on_one_branch_changed_on_the_other(repo: Path, run_artver) -> None:
    write(repo / "model.bin", "base")
    ok(run_artver(repo, "add", "model.bin"))
    commit_all(repo, "model")
    git(repo, "checkout", "-q", "-b", "theirs")
    ok(run_artver(repo, "remove", "model.bin"))
    commit_all(repo, "theirs stops tracking it")
    git(repo, "checkout", "-q", "main")
    write(repo / "model.bin", "ours")
    ok(run_artver(repo, "add", "model.bin"))
    commit_all(repo, "ours changes it")
    assert git_may_fail(repo, "merge", "--no-edit", "theirs").returncode == 1
    result = run_artver(repo, "resolve", "model.bin")
    assert result.code == 1 and "their branch deleted it, the other changed it" in result.out
    result = ok(run_artver(repo, "resolve", "--theirs", "model.bin"))
    assert "deleted   model.bin.art" in result.out and "git add -A model.bin.art" in result.out
    assert not (repo / "model.bin.art").exists()
    ok(run_artver(repo, "resolve", "--ours", "model.bin"))
    assert pointer_module.read_pointer(repo / "model.bin.art", "x").hash == xxh(b"ours")


def test_resolve_refuses_what_is_not_in_conflict_or_was_resolved_by_hand(repo: Path, run_artver) -> None:
    result = run_artver(repo, "resolve")
    assert result.code == 2 and "no pointer file is in conflict" in result.err
    _dataset(repo, run_artver)
    result = run_artver(repo, "resolve", "data")
    assert result.code == 2 and "data.art: not in conflict" in result.err
    _branches(repo, run_artver, lambda: write(repo / "data/a.txt", "ours\n"), lambda: write(repo / "data/a.txt", "theirs\n"))
    assert git_may_fail(repo, "merge", "--no-edit", "theirs").returncode == 1
    ours_line = next(line for line in git(repo, "show", "HEAD:data.art").splitlines() if line.endswith(" a.txt"))
    hand_made = git(repo, "show", "HEAD:data.art").replace(ours_line, f"{xxh(b'by hand')} 7 - a.txt")
    (repo / "data.art").write_text(hand_made)
    result = run_artver(repo, "resolve", "--theirs", "data")
    assert result.code == 2 and "may have been resolved by hand" in result.err
    assert (repo / "data.art").read_text() == hand_made
    assert run_artver(repo, "resolve", "--ours", "--theirs").code == 2


# ---------------------------------------------------------------- the driver and untrusted input


def _drive(repo: Path, base: bytes, ours: bytes, theirs: bytes, path: str = "data.art") -> tuple[int, bytes, str]:
    files = []
    for name, data in (("base", base), ("ours", ours), ("theirs", theirs)):
        files.append(write(repo / f".merge_file_{name}", data))
    completed = subprocess.run([sys.executable, "-m", "artver", "merge-driver", "--", *map(str, files), "7", path],
                               cwd=repo, capture_output=True, text=True, timeout=TIMEOUT)
    return completed.returncode, files[1].read_bytes(), completed.stderr


def test_the_driver_treats_its_inputs_as_untrusted(repo: Path, tmp_path: Path) -> None:
    good = pointer_module.format_pointer(_inline(entry("a", "a")))
    other = pointer_module.format_pointer(_inline(entry("a", "a"), entry("b", "b")))
    # Not a pointer (a shell line, binary junk): both versions kept between markers; nothing runs.
    planted = tmp_path / "planted"
    hostile = f"$(touch {planted})\n`touch {planted}`\n".encode()
    code, result, err = _drive(repo, good, good, hostile)
    assert code == 1 and not planted.exists()
    assert result.startswith(b"<<<<<<< ours\n" + good) and hostile in result
    assert "cannot merge it entry by entry" in err and "Traceback" not in err
    # A listing path that would leave the folder.
    escape = good.replace(b" - a\n", b" - ../../outside\n")
    code, result, err = _drive(repo, good, good, escape)
    assert code == 1 and b"../../outside" in result and "'..'" in err
    # An unreadable common version: differences conflict instead of being guessed.
    code, result, _ = _drive(repo, b"<<<<<<< junk\n", good, other)
    assert code == 1 and b"<<<<<<< ours" in result
    # A pointer path outside the repository's rules.
    code, _, err = _drive(repo, good, good, other, path=".git/x.art")
    assert code == 1 and ".git" in err
    # A clean merge writes the result (the same bytes 'artver add' would).
    code, result, err = _drive(repo, good, good, other)
    assert (code, result, err) == (0, other, "")
    assert not [name for name in os.listdir(repo) if ".artver-tmp-" in name]


def test_pointer_files_are_recognised_as_conflicted_only_by_markers() -> None:
    with pytest.raises(PointerError) as caught:
        pointer_module.parse_pointer(b"artver-pointer: 1\nkind: file\n=======\nend\n", "x.art")
    assert isinstance(caught.value, PointerConflictError)
    message = str(caught.value)
    assert "x.art: unresolved merge conflict" in message and "'artver resolve x'" in message
    staged = pointer_module.conflict_message("staged x.art")
    assert "'artver resolve PATH'" in staged
    assert hashing.is_valid_hash(xxh(b"x"))


def test_resolve_from_the_python_api(repo: Path, run_artver) -> None:
    from artver import api
    from artver.errors import UsageError

    _dataset(repo, run_artver)
    _branches(repo, run_artver, lambda: write(repo / "data/a.txt", "ours\n"), lambda: write(repo / "data/a.txt", "theirs\n"))
    assert git_may_fail(repo, "merge", "--no-edit", "theirs").returncode == 1
    with pytest.raises(UsageError, match="side 'mine'"):
        api.resolve(repo=repo, side="mine")
    (still,) = api.resolve(repo=repo)
    assert (still.action, still.paths, still.fields) == ("conflict", ("a.txt",), ())
    (done,) = api.resolve("data", repo=repo, side="ours")
    assert (done.path, done.pointer_path, done.action) == ("data", "data.art", "ours")
    assert done.detail == "both branches changed data/a.txt; every other change of both branches is merged"
