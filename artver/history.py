"""Reading pointer files from Git history with dulwich, and naming revisions.

Nothing here touches the working tree, the index or HEAD: pointers at any
revision are read straight from Git's object database. Revision names are
resolved by Git itself (``git rev-parse``), so every syntax Git accepts works.
Trees are walked once per tree id, so scanning every commit of a long history
reuses the work done for subtrees that did not change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dulwich.objects import Blob, Commit, Tag, Tree
from dulwich.repo import Repo as GitRepo

from artver import git as git_commands
from artver import pointer as pointer_module
from artver.artifacts import Tracked, workspace_pointers
from artver.errors import ArtverError, GitError
from artver.paths import check_artifact_path
from artver.repo import Repo

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


def pointers_at(reader: PointerReader, commit: Commit, label: str,
                accept: Callable[[str, bytes], bool] = lambda artifact, blob_id: True) -> list[Tracked]:
    """The pointers in a commit: the one place that turns a committed pointer into a Tracked, so
    every reader checks its path and parses it as the untrusted input it is. Messages name each
    pointer ``LABEL:PATH``. ``accept(artifact, blob_id)`` chooses which to read (reading and
    parsing is the expensive part, e.g. for --all-commits)."""
    found = []
    for path, blob_id in reader.pointer_blobs(commit):
        artifact = path[: -len(pointer_module.SUFFIX)]
        if not accept(artifact, blob_id):
            continue
        where = f"{label}:{path}"
        check_artifact_path(artifact, where)
        found.append(Tracked(artifact, where, pointer_module.parse_pointer(reader.read(blob_id), where)))
    return found


def snapshot(repo: Repo, revision: str | None, git: GitRepo | None = None) -> dict[str, Tracked]:
    """Pointers at a revision by artifact path, or in the workspace when revision is None."""
    if revision is None:
        return workspace_pointers(repo)
    git_repo = git or open_git(repo.root)
    reader = PointerReader(git_repo, pointer_module.SUFFIX.encode())
    return {tracked.path: tracked for tracked in pointers_at(reader, resolve(git_repo, revision), revision)}


def split_revisions(repo: Repo, arguments: list[str]) -> tuple[list[str], list[str]]:
    """The first one or two arguments that name Git revisions are revisions; the rest are paths."""
    revisions: list[str] = []
    git = open_git(repo.root)
    for argument in arguments[:2]:
        try:
            resolve(git, argument)
        except ArtverError:
            break
        revisions.append(argument)
    return revisions, arguments[len(revisions):]
