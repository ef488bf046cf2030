"""The local copies of a remote's indexes (artver/remote_index.py): lookups by fences give
exactly what a scan of every line gives, a load is all or nothing even when killed, a
damaged local file is never used, and an unsorted (hostile) index can hide only its own
members."""

from __future__ import annotations

import io
import os
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from artver import packs, remote_index, sorted_lines
from artver.errors import RemoteError
from artver.packs import Location, Member
from artver.remote_index import RemoteIndex
from tests.support.index_v1 import index_v1_bytes

SUBPROCESS_TIMEOUT = 120
HEADER = len(packs.PACK_HEADER)


def random_hash(rng: random.Random) -> str:
    if rng.random() < 0.2:
        return f"sha256:{rng.getrandbits(256):064x}"
    return f"xxh128:{rng.getrandbits(128):032x}"


def members_of(count: int, seed: int, packs_of: int = 97) -> list[Member]:
    """``count`` members in packs of ``packs_of``; one hash at 300 places (its lines span
    several fences), a few at two or three."""
    rng = random.Random(seed)
    result = [Member(random_hash(rng), Location(f"{number // packs_of:032x}", HEADER + 100 * number, 100))
              for number in range(count)]
    repeated = result[count // 2].hash
    result += [Member(repeated, Location(f"{rng.getrandbits(128):032x}", HEADER + number, 7)) for number in range(300)]
    for member in result[:40]:
        result.append(Member(member.hash, Location(member.location.pack, member.location.offset + 1, 3)))
    return result


def brute_force(indexes: list[list[Member]], hashes: list[str]) -> dict[str, list[Location]]:
    """Every place of each hash, by a scan of every member of every index."""
    found: dict[str, set[Location]] = {}
    wanted = set(hashes)
    for members in indexes:
        for member in members:
            if member.hash in wanted:
                found.setdefault(member.hash, set()).add(member.location)
    return {hash_value: sorted(places, key=lambda place: (place.pack, place.offset, place.length))
            for hash_value, places in found.items()}


def probes(members: list[Member], data: bytes, rng: random.Random) -> list[str]:
    """Hashes to look up: every one at a fence, the first and last, a sample of the rest, and
    the hashes next to each of them (mostly absent: below, between and above the present ones)."""
    present = sorted({member.hash for member in members})
    wanted = {present[0], present[-1], *rng.sample(present, min(300, len(present)))}
    scanner = remote_index._Scanner()  # the hashes at the fences, as a lookup sees them
    scanner.feed(data)
    wanted |= {fence.decode() for fence in scanner.fence_hashes}
    for value in list(wanted):
        prefix, digits = value.split(":")
        number = int(digits, 16)
        for neighbour in (number - 1, number + 1):
            if 0 <= neighbour < 16 ** len(digits):
                wanted.add(f"{prefix}:{neighbour:0{len(digits)}x}")
    wanted |= {"xxh128:" + "0" * 32, "xxh128:" + "f" * 32, "sha256:" + "0" * 64, "sha256:" + "f" * 64}
    return sorted(wanted)


@pytest.fixture(params=["file", "memory"])
def folder(request: pytest.FixtureRequest, tmp_path: Path) -> Path | None:
    return tmp_path / "remotes" / "origin" if request.param == "file" else None


# An index is looked up hash by hash, or read whole when many of its members are wanted
# (remote_index._SCAN_FROM): both ways must find the same.
WAYS = {"lookup": float("inf"), "scan": 0.0}


@pytest.mark.parametrize("way", list(WAYS))
@pytest.mark.parametrize("fence_bytes", [64, 2048])
def test_lookups_find_exactly_what_a_scan_of_every_line_finds(folder: Path | None, fence_bytes: int, way: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(remote_index, "FENCE_BYTES", fence_bytes)
    monkeypatch.setattr(remote_index, "_SCAN_FROM", WAYS[way])
    rng = random.Random(fence_bytes)
    first, second = members_of(3000, seed=1), members_of(500, seed=2)
    second.append(Member(first[7].hash, Location("f" * 32, HEADER, 100)))  # one hash in both indexes
    data = [packs.index_bytes(first), packs.index_bytes(second)]
    with RemoteIndex(folder) as index:
        for name, content in zip(("a" * 32, "b" * 32), data):
            index.add_blocks(name, packs.index_blocks(io.BytesIO(content), "index", 1000))
        wanted = probes(first, data[0], rng) + probes(second, data[1], rng) + [first[1500].hash, first[7].hash]
        expected = brute_force([first, second], wanted)
        assert len(expected[first[1500].hash]) == 301 and len(expected[first[7].hash]) == 3
        assert len(wanted) > len(expected) > 100
        assert index.places(wanted) == expected
        assert index.locate(wanted) == {hash_value: places[0] for hash_value, places in expected.items()}
        # whole hashes only: not the start of a line, not a line, not nothing
        line = data[0].splitlines()[-1].decode()
        assert index.places([line, line.rsplit(" ", 1)[0], line[:20], "", first[0].hash + " "]) == {}
    if folder is not None:  # a later command opens the kept files and finds the same
        with RemoteIndex(folder) as index:
            assert index.index_names() == {"a" * 32, "b" * 32}
            assert index.places(wanted) == expected


def test_members_lists_each_place_once_pack_by_pack_in_offset_order(folder: Path | None,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sorted_lines, "RUN_LINES", 500)  # several sorted runs, merged
    first, second = members_of(2000, seed=3, packs_of=300), members_of(300, seed=4, packs_of=7)
    second += first[:100]  # the same places in two indexes (before consolidation deletes one)
    with RemoteIndex(folder) as index:
        index.add_index("a" * 32, first)
        index.add_index("b" * 32, reversed(second))
        listed = list(index.members())
    assert listed == sorted(set(first) | set(second),
                            key=lambda member: (member.location.pack, member.location.offset, member.hash,
                                                member.location.length))


def test_an_index_of_format_1_is_converted_and_found_alike(folder: Path | None) -> None:
    members = members_of(1000, seed=5)
    with RemoteIndex(folder) as index:
        index.add_blocks("a" * 32, packs.index_blocks(io.BytesIO(index_v1_bytes(members)), "index", 512))
        hashes = sorted({member.hash for member in members})
        assert index.places(hashes) == brute_force([members], hashes)
    if folder is not None:
        (kept,) = [path for path in folder.iterdir() if not path.name.startswith(".")]
        assert kept.read_bytes() == packs.index_bytes(members)
        assert kept.name == f"{'a' * 32}.{packs.name_of_bytes(kept.read_bytes())}"


def test_an_index_damaged_after_many_blocks_records_nothing(folder: Path | None) -> None:
    good = packs.index_bytes(members_of(3000, seed=6))
    with RemoteIndex(folder) as index:
        with pytest.raises(RemoteError, match=r"index b, line \d+, is damaged"):
            index.add_blocks("b" * 32, packs.index_blocks(io.BytesIO(good + b"garbage\n"), "index b", 4096))
        assert index.index_names() == set()
        assert index.places([good.decode().splitlines()[-1].split(" ")[0]]) == {}
        if folder is not None:
            assert list(folder.iterdir()) == []  # not even a temp file
        index.add_blocks("b" * 32, packs.index_blocks(io.BytesIO(good), "index b", 4096))
        assert index.index_names() == {"b" * 32}


KILLED_LOAD = """
import io, os, signal, sys
from pathlib import Path
from artver import packs
from artver.remote_index import RemoteIndex
kill_after, folder = int(sys.argv[1]), Path(sys.argv[2])
first, second = Path(sys.argv[3]).read_bytes(), Path(sys.argv[4]).read_bytes()

def killed(blocks):
    count = 0
    for block in blocks:
        if count == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
        count += 1
        yield block
    if count == kill_after:  # every block written, the file not yet renamed
        os.kill(os.getpid(), signal.SIGKILL)
    print(count)

with RemoteIndex(folder) as index:
    index.add_blocks("a" * 32, packs.index_blocks(io.BytesIO(first), "index a", 4096))
    index.add_blocks("b" * 32, killed(packs.index_blocks(io.BytesIO(second), "index b", 4096)))
"""


def test_a_load_killed_anywhere_leaves_the_index_unknown_or_known_whole(tmp_path: Path) -> None:
    """SIGKILL at points spread over the load of the second index (validating, writing, after
    the last block before the rename): the next command knows the first index whole, not the
    second, and loads it."""
    first_members, second_members = members_of(500, seed=7), members_of(20_000, seed=8)
    first, second = tmp_path / "a.index", tmp_path / "b.index"
    first.write_bytes(packs.index_bytes(first_members))
    second.write_bytes(packs.index_bytes(second_members))

    def run(kill_after: int, folder: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", KILLED_LOAD, str(kill_after), str(folder), str(first), str(second)],
                              capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT,
                              env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})

    whole = run(-1, tmp_path / "whole")
    assert whole.returncode == 0, whole.stderr
    blocks = int(whole.stdout)
    assert blocks > 100  # long enough to be cut at many points
    hashes = sorted({member.hash for member in second_members})
    for kill_after in (1, 2, blocks // 3, blocks // 2, blocks - 1, blocks):
        folder = tmp_path / f"killed-{kill_after}"
        killed = run(kill_after, folder)
        assert killed.returncode == -signal.SIGKILL, (kill_after, killed.stderr)
        assert any(path.name.startswith(remote_index.TEMP_PREFIX) for path in folder.iterdir()), kill_after
        with RemoteIndex(folder) as index:
            assert index.index_names() == {"a" * 32}, kill_after
            assert index.places(hashes[:50]) == {}
            index.add_blocks("b" * 32, packs.index_blocks(io.BytesIO(second.read_bytes()), "index b", 4096))
            assert index.index_names() == {"a" * 32, "b" * 32}
            assert index.places(hashes) == brute_force([second_members], hashes)


@pytest.mark.parametrize("damage", ["one-byte", "cut-short", "longer", "empty", "renamed"])
def test_a_damaged_local_file_is_deleted_not_used(damage: str, tmp_path: Path) -> None:
    """The content hash in a local file's name is checked when it is opened: a file that is
    not what was written gives no place at all (even one that would parse, with one digit of
    an offset changed), and is deleted so that the index is downloaded again."""
    folder = tmp_path / "remotes" / "origin"
    members = members_of(2000, seed=9)
    with RemoteIndex(folder) as index:
        index.add_index("a" * 32, members)
        index.add_index("b" * 32, members[:10])
    (local,) = folder.glob("a*")
    data = local.read_bytes()
    if damage == "one-byte":
        at = data.index(b" 1", len(data) // 2) + 2  # an offset's digit: still a valid index
        local.write_bytes(data[:at] + (b"3" if data[at:at + 1] != b"3" else b"4") + data[at + 1:])
    elif damage == "cut-short":
        local.write_bytes(data[:data.index(b"\n", len(data) // 2) + 1])
    elif damage == "longer":
        local.write_bytes(data + data.splitlines(keepends=True)[-1])
    elif damage == "empty":
        local.write_bytes(b"")
    else:
        local.rename(folder / f"{'a' * 32}.{'0' * 32}")
    with RemoteIndex(folder) as index:
        assert index.index_names() == {"b" * 32}
        assert index.places([members[999].hash]) == {}
        assert sorted(path.name[0] for path in folder.iterdir()) == ["b"]
        index.add_index("a" * 32, members)  # downloaded again
        assert index.places([members[999].hash]) == {members[999].hash: [members[999].location]}


@pytest.mark.parametrize("way", list(WAYS))
def test_a_hostile_unsorted_index_hides_only_its_own_members(folder: Path | None, way: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """An index whose member lines are in any order (its bytes match its name: nothing but
    order is wrong) is read as it stands. A lookup compares the whole hash of each line it
    returns, so it never gives a place of another hash; the members of honest indexes, even
    those the hostile one also claims, are all found at their places. (Read whole, the
    index hides nothing.)"""
    monkeypatch.setattr(remote_index, "FENCE_BYTES", 128)
    monkeypatch.setattr(remote_index, "_SCAN_FROM", WAYS[way])
    rng = random.Random(10)
    honest = members_of(2000, seed=11)
    claims = [Member(member.hash, Location("e" * 32, HEADER, 5)) for member in rng.sample(honest, 200)]
    own = [Member(random_hash(rng), Location("e" * 32, HEADER + number, 5)) for number in range(500)]
    lines = packs.index_bytes(claims + own).splitlines(keepends=True)
    body = lines[2:]
    rng.shuffle(body)
    hostile = b"".join(lines[:2] + body)
    with RemoteIndex(folder) as index:
        index.add_index("a" * 32, honest)
        index.add_blocks("0" * 32, packs.index_blocks(io.BytesIO(hostile), "index 0", 256))
        hashes = sorted({member.hash for member in honest + own})
        found = index.places(hashes)
        everything = brute_force([honest, claims, own], hashes)
        for hash_value, places in found.items():
            assert set(places) <= set(everything[hash_value])  # nothing but what some line says
        for member in honest:
            assert member.location in found[member.hash]  # an honest place is never hidden
        missed = [member for member in own if member.location not in found.get(member.hash, [])]
        assert bool(missed) == (way == "lookup")  # the shuffle did hide some of its own from lookups


def test_threads_share_one_index(tmp_path: Path) -> None:
    members = members_of(5000, seed=12)
    hashes = sorted({member.hash for member in members})
    expected = brute_force([members], hashes)
    results: list[bool] = []
    with RemoteIndex(tmp_path / "remotes" / "origin") as index:
        index.add_index("a" * 32, members)

        def look_up(seed: int) -> None:
            rng = random.Random(seed)
            for _ in range(20):
                sample = rng.sample(hashes, 100)
                results.append(index.places(sample) == {key: expected[key] for key in sample})

        threads = [threading.Thread(target=look_up, args=(number,)) for number in range(8)]
        for thread in threads:
            thread.start()
        index.add_index("b" * 32, members[:10])  # a change while they read
        for thread in threads:
            thread.join(timeout=SUBPROCESS_TIMEOUT)
    assert len(results) == 160 and all(results)


def test_removed_indexes_lose_their_files(tmp_path: Path) -> None:
    folder = tmp_path / "remotes" / "origin"
    members = members_of(100, seed=13)
    with RemoteIndex(folder) as index:
        index.add_index("a" * 32, members)
        index.add_index("b" * 32, members[:5])
        index.remove_indexes(["a" * 32, "c" * 32])
        assert index.index_names() == {"b" * 32}
        assert index.places([members[50].hash]) == {}
        assert index.places([members[1].hash]) == {members[1].hash: [members[1].location]}
    assert [path.name[0] for path in folder.iterdir()] == ["b"]
    assert (folder.parent / ".gitignore").read_text().splitlines()[-1] == "*"


def test_a_lookup_reads_little_even_in_a_hostile_index(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fences are places in the file: whatever the order of its lines, a lookup reads at
    most about two fences' worth (and the run of lines of its hash), never the whole index;
    and one hash listed thousands of times gives at most PLACES_PER_INDEX places."""
    sizes: list[int] = []

    def read_bytes(data: bytes, start: int, end: int) -> bytes:
        sizes.append(end - start)
        return data[start:end]

    monkeypatch.setattr(remote_index, "_read_bytes", read_bytes)
    monkeypatch.setattr(remote_index, "_SCAN_FROM", WAYS["lookup"])
    rng = random.Random(14)
    members = members_of(20_000, seed=15)
    lines = packs.index_bytes(members).splitlines(keepends=True)
    head = [line for line in lines if not line.startswith((b"xxh128:", b"sha256:"))]
    body = sorted(lines[len(head):], reverse=True)  # every line out of order
    repeated = f"xxh128:{'7' * 32}"
    many = sorted(f"{repeated} 0 {HEADER + number} 1\n".encode() for number in range(3 * remote_index.PLACES_PER_INDEX))
    with RemoteIndex(None) as index:
        index.add_blocks("0" * 32, packs.index_blocks(io.BytesIO(b"".join(head + body)), "index 0", 4096))
        index.add_blocks("1" * 32, packs.index_blocks(io.BytesIO(b"".join(head + many)), "index 1", 4096))
        wanted = rng.sample(sorted({member.hash for member in members}), 2000)
        sizes.clear()
        found = index.places(wanted)  # what is found is true
        assert all(set(places) <= set(brute_force([members], [hash_value])[hash_value])
                   for hash_value, places in found.items())
        bound = 2 * remote_index.FENCE_BYTES + 2 * packs.MAX_INDEX_LINE
        assert max(sizes) <= bound and sum(sizes) <= 2 * len(wanted) * bound
        assert len(index.places([repeated])[repeated]) == remote_index.PLACES_PER_INDEX
        monkeypatch.setattr(remote_index, "_SCAN_FROM", WAYS["scan"])  # read whole: the same bound
        assert len(index.places([repeated])[repeated]) == remote_index.PLACES_PER_INDEX


def test_temp_files_of_killed_loads_are_deleted_once_stale(tmp_path: Path) -> None:
    """A temp file is left only by a load that was killed; one a day old is deleted when the
    folder is next read, a recent one (maybe a load running in another process) is not."""
    folder = tmp_path / "remotes" / "origin"
    with RemoteIndex(folder) as index:
        index.add_index("a" * 32, members_of(10, seed=16))
    stale, recent = folder / f"{remote_index.TEMP_PREFIX}stale", folder / f"{remote_index.TEMP_PREFIX}recent"
    stale.write_bytes(b"artver pack index 2\n")
    recent.write_bytes(b"artver pack index 2\n")
    old = stale.stat().st_mtime - remote_index.STALE_TEMP_SECONDS - 60
    os.utime(stale, (old, old))
    with RemoteIndex(folder) as index:
        assert index.index_names() == {"a" * 32}
    assert not stale.exists() and recent.exists()


def test_an_index_dropped_without_close_closes_its_files(tmp_path: Path) -> None:
    """A PackedRemote is not closed by its users; a long-lived Python session calling
    artver.api again and again must not collect open files."""
    import gc

    folder = tmp_path / "remotes" / "origin"
    with RemoteIndex(folder) as index:
        for name in ("a", "b", "c"):
            index.add_index(name * 32, members_of(50, seed=17))
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(5):
        index = RemoteIndex(folder)
        assert index.index_names() == {"a" * 32, "b" * 32, "c" * 32}
        assert len(os.listdir("/proc/self/fd")) >= before + 3  # the three files, open
        del index
        gc.collect()
    assert len(os.listdir("/proc/self/fd")) == before
