"""artver init: prepare a Git work tree for artifacts."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from artver import config, git, hashing, hooks
from artver.errors import UsageError
from artver.fsutil import atomic_write_bytes
from artver.hooks import HookChange
from artver.repo import ARTVER_DIR

ARTVER_GITIGNORE = """\
# Machine-local state of artver: never commit these.
/cache/
/tmp/
/state.db
/state.db-*
/lock
/config.local
"""


@dataclass(frozen=True)
class InitResult:
    root: Path
    created: bool
    algorithm: str
    merge_driver: tuple[HookChange, ...] = ()  # the merge driver for pointer files (artver/hooks.py)
    hooks: tuple[HookChange, ...] = ()  # the Git hooks, with --hooks


def init(start: Path, algorithm: str | None = None, with_hooks: bool = False) -> InitResult:
    result = _init(start, algorithm)
    return replace(result, hooks=tuple(hooks.install(result.root))) if with_hooks else result


def _init(start: Path, algorithm: str | None) -> InitResult:
    if algorithm is not None and algorithm not in hashing.ALGORITHMS:
        raise UsageError(f"--hash {algorithm}: unknown algorithm; choose one of {', '.join(hashing.ALGORITHMS)}")
    root = git.find_work_tree(start)
    artver_dir = root / ARTVER_DIR
    config_path = artver_dir / config.CONFIG_NAME
    if config_path.is_file():
        existing = config.load(artver_dir).get("core", "hash", hashing.DEFAULT_ALGORITHM) or hashing.DEFAULT_ALGORITHM
        if algorithm is not None and algorithm != existing:
            raise UsageError(
                f"{root} already uses {existing}; the hash algorithm is chosen once per repository and cannot change"
            )
        _ensure_gitignore(artver_dir)
        return InitResult(root, created=False, algorithm=existing, merge_driver=tuple(hooks.install_merge_driver(root)))
    artver_dir.mkdir(exist_ok=True)
    _ensure_gitignore(artver_dir)
    config.set_value(artver_dir, "core", "hash", algorithm or hashing.DEFAULT_ALGORITHM, local=False)
    return InitResult(root, created=True, algorithm=algorithm or hashing.DEFAULT_ALGORITHM,
                      merge_driver=tuple(hooks.install_merge_driver(root)))


def _ensure_gitignore(artver_dir: Path) -> None:
    path = artver_dir / ".gitignore"
    if not path.exists():
        atomic_write_bytes(path, ARTVER_GITIGNORE.encode())
