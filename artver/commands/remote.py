"""artver remote add|list|remove|default|modify: where pushed objects go."""

from __future__ import annotations

import re
from dataclasses import dataclass

from artver import config
from artver.errors import ConfigError, UsageError
from artver.remotes import LINK_CHOICES, parse_url
from artver.remotes.base import TRANSFER_SETTINGS, check_transfer_setting
from artver.repo import Repo

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class RemoteInfo:
    name: str
    url: str
    default: bool
    settings: dict[str, str]  # non-secret settings; secrets are shown only by name
    secrets: tuple[str, ...]


def _check_name(name: str) -> str:
    if not _NAME.match(name):
        raise UsageError(f"remote name {name!r}: use letters, digits, '.', '_' or '-' (at most 64)")
    return name


def _section(name: str) -> str:
    return f"remote.{name}"


def _require(repo: Repo, name: str) -> None:
    if repo.config.get(_section(name), "url") is None:
        known = ", ".join(repo.config.sections("remote")) or "none"
        raise UsageError(f"no remote named '{name}' (configured: {known})")


def add(repo: Repo, name: str, url: str, default: bool = False, local: bool = False) -> RemoteInfo:
    _check_name(name)
    if repo.config.get(_section(name), "url") is not None:
        raise UsageError(f"remote '{name}' already exists; change it with 'artver remote modify {name} url URL'")
    parse_url(name, url, repo.root)
    config.set_value(repo.artver_dir, _section(name), "url", url, local=local)
    if default or not repo.config.get("core", "remote"):
        config.set_value(repo.artver_dir, "core", "remote", name, local=local)
    return _info(_reload(repo), name)


def _reload(repo: Repo) -> Repo:
    return Repo(repo.root, config.load(repo.artver_dir))


def _info(repo: Repo, name: str) -> RemoteInfo:
    section = repo.config.section(_section(name))
    return RemoteInfo(
        name=name,
        url=section.get("url", ""),
        default=repo.config.get("core", "remote") == name,
        settings={key: value for key, value in sorted(section.items()) if key not in config.SECRET_KEYS},
        secrets=tuple(sorted(key for key in section if key in config.SECRET_KEYS)),
    )


def list_remotes(repo: Repo) -> list[RemoteInfo]:
    return [_info(repo, name) for name in repo.config.sections("remote")]


def remove(repo: Repo, name: str) -> None:
    _require(repo, name)
    config.remove_section(repo.artver_dir, _section(name))
    if repo.config.get("core", "remote") == name:
        for local in (False, True):
            config.set_value(repo.artver_dir, "core", "remote", None, local=local)


def set_default(repo: Repo, name: str, local: bool = False) -> None:
    _require(repo, name)
    config.set_value(repo.artver_dir, "core", "remote", name, local=local)


def modify(repo: Repo, name: str, key: str, value: str | None, local: bool = False) -> None:
    _require(repo, name)
    config.check_key(_section(name), key)
    if key == "url" and value is not None:
        parse_url(name, value, repo.root)
    if value is not None and key == "jobs" and not (value.isascii() and value.isdigit() and int(value) >= 1):
        raise ConfigError(f"remote.{name}.jobs must be a whole number of at least 1, not {value!r}")
    if value is not None and key == "link" and value not in LINK_CHOICES:
        raise ConfigError(f"remote.{name}.link must be one of {', '.join(LINK_CHOICES)}, not {value!r}")
    if value is not None and key == "retries" and not (value.isascii() and value.isdigit()):
        raise ConfigError(f"remote.{name}.retries must be a whole number, not {value!r}")
    if value is not None and key in TRANSFER_SETTINGS:
        check_transfer_setting(name, key, value)
    if value is not None and key == "timeout":
        try:
            if float(value) <= 0:
                raise ValueError
        except ValueError:
            raise ConfigError(f"remote.{name}.timeout must be a positive number of seconds, not {value!r}") from None
    config.set_value(repo.artver_dir, _section(name), key, value, local=local)
