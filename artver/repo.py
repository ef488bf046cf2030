"""Finding an artver repository and the places inside it."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from artver import config as config_module
from artver import git, hashing
from artver.cache import Cache
from artver.config import Config
from artver.errors import ConfigError, NotARepositoryError
from artver.listing import Entry
from artver.workspace import parse_link_modes

ARTVER_DIR = ".artver"
DEFAULT_INLINE_MAX = 10_000


@dataclass(frozen=True)
class Repo:
    """A repository and its configuration. Derived settings are computed once (cached_property),
    so code that asks for ``repo.cache`` per file does not resolve paths per file."""

    root: Path
    config: Config

    @property
    def artver_dir(self) -> Path:
        return self.root / ARTVER_DIR

    @functools.cached_property
    def algorithm(self) -> str:
        value = self.config.get("core", "hash", hashing.DEFAULT_ALGORITHM) or hashing.DEFAULT_ALGORITHM
        if value not in hashing.ALGORITHMS:
            where = self.config.where("core", "hash")
            raise ConfigError(f"{where}: core.hash = {value!r}; expected one of {', '.join(hashing.ALGORITHMS)}")
        return value

    @functools.cached_property
    def cache(self) -> Cache:
        # cache.dir is local-only: Config.get refuses a value from the committed file, which
        # would otherwise decide where artver writes and deletes files outside the repository.
        configured = self.config.get("cache", "dir")
        root = (self.root / Path(configured).expanduser()) if configured else self.artver_dir / "cache"
        return Cache(root.resolve(), self.algorithm)

    @functools.cached_property
    def parsed_listings(self) -> dict[str, tuple[Entry, ...]]:
        """Listing objects parsed during this command, by hash: pull reads a 20,000-entry
        listing for fetch and again for checkout. Content-addressed, so never stale."""
        return {}

    @functools.cached_property
    def link_modes(self) -> tuple[str, ...]:
        return parse_link_modes(self.config.get("cache", "link"))

    @functools.cached_property
    def inline_max(self) -> int:
        return self.config.get_int("core", "listing_inline_max", DEFAULT_INLINE_MAX)

    @property
    def lock_path(self) -> Path:
        return self.artver_dir / "lock"

    @functools.cached_property
    def lock_timeout(self) -> float:
        return float(self.config.get_int("core", "lock_timeout", 10))

    @property
    def state_db(self) -> Path:
        return self.artver_dir / "state.db"

    def relative(self, path: Path) -> str:
        """Repository-relative POSIX path of an absolute path inside the work tree."""
        return path.relative_to(self.root).as_posix()


def open_repo(start: Path | None = None) -> Repo:
    root = git.find_work_tree(start or Path.cwd())
    if not (root / ARTVER_DIR / config_module.CONFIG_NAME).is_file():
        raise NotARepositoryError(f"artver is not initialised in {root}; run 'artver init' there first")
    repo = Repo(root, config_module.load(root / ARTVER_DIR))
    # Validate every setting now, so a bad value stops a command before it changes anything.
    _ = (repo.algorithm, repo.link_modes, repo.inline_max, repo.lock_timeout)
    return repo
