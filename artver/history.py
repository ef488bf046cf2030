"""Reading pointer files from Git history with dulwich.

Nothing here touches the working tree, the index or HEAD: pointers at any
revision are read straight from Git's object database. Revision names are
resolved by Git itself (``git rev-parse``), so every syntax Git accepts works.
Trees are walked once per tree id, so scanning every commit of a long history
reuses the work done for subtrees that did not change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dulwich.objects import Blob, Commit, Tag, Tree
from dulwich.repo import Repo as GitRepo

from artver import git as git_commands
from artver.errors import GitError

SUBMODULE_MODE = 0o160000
DIRECTORY_MODE = 0o040000


def open_git(root: Path) -> GitRepo:
    try:
        return GitRepo(str(root))
    except Exception as error:  # noqa: BLE001 - dulwich raises several types for a broken repository
        raise GitError(f"cannot read the Git repository at {root}: {error}") from None


def resolve(git: GitRepo, revision: str) -> Commit:
    """The commit a revision names, in any syntax Git itself accepts (see git.commit_id): Git
    resolves the name, dulwich reads the commit and its trees."""
    sha = git_commands.commit_id(Path(git.path), revision)
    try:
        commit = git[sha.encode("ascii")]
    except (KeyError, ValueError) as error:
        raise GitError(f"cannot read commit {sha[:12]} of revision '{revision}': {error}") from None
    if not isinstance(commit, Commit):
        raise GitError(f"revision '{revision}' names a {commit.type_name.decode()}, not a commit")
    return commit


def branch_commits(git: GitRepo) -> list[tuple[str, Commit]]:
    return _ref_commits(git, b"refs/heads/")


def tag_commits(git: GitRepo) -> list[tuple[str, Commit]]:
    return _ref_commits(git, b"refs/tags/")


def _ref_commits(git: GitRepo, prefix: bytes) -> list[tuple[str, Commit]]:
    found = []
    for ref in sorted(git.refs.keys()):
        if not ref.startswith(prefix):
            continue
        try:
            obj = git[git.refs[ref]]
            while isinstance(obj, Tag):
                obj = git[obj.object[1]]
        except KeyError:
            continue
        if isinstance(obj, Commit):
            found.append((ref[len(prefix):].decode("utf-8", "replace"), obj))
    return found


def all_commits(git: GitRepo) -> list[Commit]:
    """Every commit reachable from any branch, tag or HEAD."""
    heads = [commit.id for _, commit in branch_commits(git) + tag_commits(git)]
    try:
        heads.append(git.head())
    except KeyError:
        pass
    if not heads:
        return []
    return [entry.commit for entry in git.get_walker(include=list(dict.fromkeys(heads)))]


@dataclass
class PointerReader:
    """Finds pointer files in commits, remembering each tree it has walked."""

    git: GitRepo
    suffix: bytes
    _trees: dict[bytes, list[tuple[str, bytes]]] = field(default_factory=dict)

    def pointer_blobs(self, commit: Commit) -> list[tuple[str, bytes]]:
        """(repository-relative pointer path, blob id) for every pointer file in the commit."""
        return self._walk(commit.tree)

    def _walk(self, tree_id: bytes) -> list[tuple[str, bytes]]:
        cached = self._trees.get(tree_id)
        if cached is not None:
            return cached
        tree = self.git[tree_id]
        assert isinstance(tree, Tree)
        found: list[tuple[str, bytes]] = []
        for item in tree.iteritems():
            name = item.path.decode("utf-8", "surrogateescape")
            if item.mode == SUBMODULE_MODE:
                continue
            if item.mode & 0o170000 == DIRECTORY_MODE:
                found.extend((f"{name}/{path}", blob) for path, blob in self._walk(item.sha))
            elif item.path.endswith(self.suffix):
                found.append((name, item.sha))
        self._trees[tree_id] = found
        return found

    def read(self, blob_id: bytes) -> bytes:
        blob = self.git[blob_id]
        assert isinstance(blob, Blob)
        return blob.as_raw_string()

    def blob_at(self, commit: Commit, path: str) -> bytes | None:
        """The blob id of ``path`` in the commit, or None."""
        tree_id = commit.tree
        parts = path.encode("utf-8").split(b"/")
        for index, part in enumerate(parts):
            tree = self.git[tree_id]
            assert isinstance(tree, Tree)
            try:
                mode, sha = tree[part]
            except KeyError:
                return None
            if index == len(parts) - 1:
                return sha if mode & 0o170000 != DIRECTORY_MODE else None
            if mode & 0o170000 != DIRECTORY_MODE:
                return None
            tree_id = sha
        return None
