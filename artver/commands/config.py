"""artver config KEY [VALUE]: read or change one setting without editing a config file.

KEY is ``core.KEY``, ``cache.KEY`` or ``remote.NAME.KEY``. A value gets the checks it gets
where it is used, before anything is written, and goes to one of three files
(artver.config): the committed ``.artver/config`` (the default), ``.artver/config.local``
(``local``) or the user's config file (``user``). The committed file never takes a secret
nor a setting that chooses files or credentials outside the repository (config.LOCAL_ONLY).
Remote settings and ``core.remote`` are checked and written by the remote command, which
api.py composes with this one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from artver import config, hashing
from artver.errors import ConfigError, UsageError
from artver.repo import DEFAULT_INLINE_MAX, Repo
from artver.workspace import DEFAULT_LINK, parse_link_modes

Scope = Literal["committed", "local", "user"]

# What an unset setting means (remote settings: see docs/remotes.md).
DEFAULTS: dict[tuple[str, str], str] = {
    ("core", "hash"): hashing.DEFAULT_ALGORITHM,
    ("core", "listing_inline_max"): str(DEFAULT_INLINE_MAX),
    ("core", "lock_timeout"): "10",
    ("cache", "dir"): ".artver/cache",
    ("cache", "link"): ",".join(DEFAULT_LINK),
}
# Settings shown but never written here, with the reason.
READ_ONLY: dict[tuple[str, str], str] = {
    ("core", "hash"): "it is chosen once, by 'artver init --hash': every stored object and pointer is named by it",
}


@dataclass(frozen=True)
class Key:
    """A parsed KEY: its section (``core``, ``cache`` or ``remote.NAME``) and name."""

    section: str
    name: str

    @property
    def remote(self) -> str | None:
        """The remote's name, for ``remote.NAME.KEY``."""
        kind, _, remote = self.section.partition(".")
        return remote if kind == "remote" else None

    def __str__(self) -> str:
        return f"{self.section}.{self.name}"


@dataclass(frozen=True)
class Setting:
    key: str
    value: str | None  # the value in effect; None if unset; a secret is shown as "(set)"
    origin: str | None  # the file it comes from
    default: str | None  # what an unset value means, where artver has one
    action: str | None = None  # after a change: "set" or "unset"
    changed: str | None = None  # after a change: the file written


def known_keys() -> str:
    """Every key, for messages: the core and cache ones in full, a remote's as remote.NAME.{...}."""
    plain = [f"{section}.{key}" for section in ("core", "cache") for key in sorted(config.KNOWN_KEYS[section])]
    remote = ", ".join(sorted(config.KNOWN_KEYS["remote"]))
    return ", ".join(plain) + f", remote.NAME.{{{remote}}}"


def parse_key(text: str) -> Key:
    """``core.remote``, ``cache.dir``, ``remote.origin.jobs``; anything else is refused in one line."""
    kind, _, rest = text.partition(".")
    if kind == "remote":
        name, _, key = rest.rpartition(".")
        section = f"remote.{name}"
    else:
        section, key = kind, rest
    if not key or not section or section.endswith("."):
        raise UsageError(f"unknown setting {text!r}; known: {known_keys()}")
    try:
        config.check_key(section, key)
    except ConfigError:
        raise UsageError(f"unknown setting {text!r}; known: {known_keys()}") from None
    return Key(section, key)


def get(repo: Repo, key: Key) -> Setting:
    """The value in effect, checked as every use checks it (a local-only setting that comes
    from the committed file is refused, naming the file)."""
    value = repo.config.get(key.section, key.name)
    origin = repo.config.origins.get((key.section, key.name))
    if value is not None and key.name in config.SECRET_KEYS:
        value = "(set)"  # secrets are never printed
    return Setting(str(key), value, str(origin.path) if origin is not None else None,
                   DEFAULTS.get((key.section.partition(".")[0], key.name)))


def check_scope(key: Key, scope: Scope, repo: Repo) -> None:
    """Refuse, before anything is written, a setting the chosen file may not hold."""
    kind = key.section.partition(".")[0]
    reason = READ_ONLY.get((kind, key.name))
    if reason is not None:
        raise UsageError(f"{key} cannot be changed ({reason})")
    if scope == "user" and (key.section, key.name) not in config.USER_KEYS:
        allowed = ", ".join(f"{section}.{name}" for section, name in sorted(config.USER_KEYS))
        raise UsageError(f"{key} cannot be set in your user config, which holds only {allowed}; "
                         f"drop --user to set it in .artver/config (or add --local for this clone only)")
    if scope == "user" and repo.config.user_path is None:
        raise UsageError("--user: there is no user config file (no home directory); use --local")


def check_value(key: Key, value: str) -> None:
    """The checks a core or cache value gets where it is used (remote settings: commands.remote)."""
    if not value.isprintable() or not value:
        raise ConfigError(f"{key}: the value must be non-empty and printable")
    if (key.section, key.name) in config.NUMBERS:
        config.whole_number(key.section, key.name, value, None)
    elif (key.section, key.name) == ("cache", "link"):
        parse_link_modes(value, privileged=False)


def write(repo: Repo, key: Key, value: str | None, scope: Scope) -> None:
    """Set (or with None, remove) a core or cache setting in the file ``scope`` names."""
    if value is not None:
        check_value(key, value)
    if scope == "user":
        path = repo.config.user_path
        assert path is not None  # check_scope refused a missing user config
        config.set_user_value(path, key.section, key.name, value)
        return
    config.set_value(repo.artver_dir, key.section, key.name, value, local=scope == "local")


def written_file(scope: Scope, repo: Repo) -> str:
    """The file a change in ``scope`` goes to, as messages name it."""
    if scope == "user":
        return str(repo.config.user_path)
    return f".artver/{config.LOCAL_CONFIG_NAME if scope == 'local' else config.CONFIG_NAME}"
