"""verify -r of a packed remote reads every index and pack in full, also those that hold
nothing in scope; a reader copes with indexes merged away while it reads them."""

from __future__ import annotations

from pathlib import Path

from artver.remote_packs import CONSOLIDATE_AT
from tests.support.git import commit_all
from tests.support.remotes import directory_remote, stored_objects


def _pushed(repo: Path, run_artver, names: range, folder: str = "data") -> Path:  # type: ignore[no-untyped-def]
    store = repo.parent / "store"
    if not store.exists():
        store.mkdir()
        assert run_artver(repo, "remote", "add", "origin", str(store), "--default").code == 0
    (repo / folder).mkdir(exist_ok=True)
    for number in names:
        (repo / folder / f"f{number}.txt").write_text(f"content {number}\n")
    assert run_artver(repo, "add", folder).code == 0
    commit_all(repo, f"{folder} {names}")
    result = run_artver(repo, "push")
    assert result.code == 0, result.err
    return store


def test_verify_r_reports_a_damaged_pack_that_holds_nothing_in_scope(repo: Path, run_artver) -> None:
    store = _pushed(repo, run_artver, range(20), "old")
    old_pack = next(iter({where.key for where in stored_objects(directory_remote(store)).values() if where.packed}))
    assert run_artver(repo, "remove", "old").code == 0  # the old folder leaves the workspace's scope
    commit_all(repo, "drop old")
    _pushed(repo, run_artver, range(5), "new")
    assert run_artver(repo, "verify", "-r", "origin").code == 0
    path = store / old_pack
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    result = run_artver(repo, "verify", "-r", "origin")
    assert result.code == 1
    assert f"remote object {old_pack} is corrupt" in result.err
    assert "a damaged pack: delete it and every index/ object whose text names it" in result.err


def test_verify_r_reports_a_damaged_index(repo: Path, run_artver) -> None:
    store = _pushed(repo, run_artver, range(10))
    (index,) = [path for path in (store / "index").iterdir()]
    index.chmod(0o644)
    data = index.read_bytes()
    header = data.index(b"\n") + 1
    index.write_bytes(data[:header] + b"\n" + data[header:])
    result = run_artver(repo, "verify", "-r", "origin")
    assert result.code == 1
    assert f"remote object index/{index.name} is corrupt" in result.err


def test_verify_r_reports_an_index_out_of_order(repo: Path, run_artver) -> None:
    """An index of format 2 whose member lines are not sorted is read (a reader does not
    check the order: it can only hide the index's own members), and verify -r reports it."""
    import xxhash

    store = _pushed(repo, run_artver, range(10))
    (index,) = [path for path in (store / "index").iterdir()]
    lines = index.read_bytes().splitlines(keepends=True)
    members = [line for line in lines if not line.startswith((b"artver ", b"pack "))]
    assert len(members) == 10 and members == sorted(members)
    shuffled = b"".join(lines[:len(lines) - 10]) + b"".join(reversed(members))
    (store / "index" / xxhash.xxh3_128_hexdigest(shuffled)).write_bytes(shuffled)
    result = run_artver(repo, "verify", "-r", "origin")
    assert result.code == 1
    assert f"remote object index/{xxhash.xxh3_128_hexdigest(shuffled)} is out of order" in result.err
    assert f"index/{index.name}" not in result.err


def test_a_reader_finds_members_of_indexes_merged_after_it_listed_them(repo: Path, run_artver, tmp_path: Path,
                                                                         monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Consolidation by another clone deletes the indexes a reader has just listed: the reader
    lists again and finds the merged one, instead of calling the objects missing."""
    from artver import remote_packs

    store = _pushed(repo, run_artver, range(3))
    for round_number in range(CONSOLIDATE_AT + 3):
        _pushed(repo, run_artver, range(100 + round_number, 101 + round_number), f"more{round_number}")
    names_before = {path.name for path in (store / "index").iterdir()}
    assert 2 <= len(names_before) <= CONSOLIDATE_AT  # consolidated once, then more pushes
    merged_once = False
    original = remote_packs.PackedRemote._load_index

    def load_after_a_merge_elsewhere(self, name: str) -> bool:  # type: ignore[no-untyped-def]
        nonlocal merged_once
        if not merged_once:  # another clone merges every index between our listing and our downloads
            merged_once = True
            indexes = sorted((store / "index").iterdir())
            import xxhash

            from artver import packs

            text = packs.index_bytes(member for path in indexes
                                     for member in packs.parse_index(path.read_bytes().splitlines(keepends=True), "i"))
            merged_name = xxhash.xxh3_128_hexdigest(text)
            (store / "index" / merged_name).write_bytes(text)
            for path in indexes:
                if path.name != merged_name:
                    path.unlink()
        return original(self, name)

    monkeypatch.setattr(remote_packs.PackedRemote, "_load_index", load_after_a_merge_elsewhere)
    clone = tmp_path / "clone"
    from tests.support.git import git

    git(tmp_path, "clone", "-q", str(repo), str(clone))
    result = run_artver(clone, "pull")
    assert result.code == 0, result.err
    assert (clone / "data" / "f2.txt").read_text() == "content 2\n"
    assert merged_once
