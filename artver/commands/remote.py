"""artver remote add|list|remove|default|modify: where pushed objects go."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from artver import config
from artver.errors import ConfigError, RemoteError, UsageError
from artver.remotes import LINK_CHOICES, check_url_setting, is_directory, missing_remote_message, parse_url
from artver.remotes.base import TRANSFER_SETTINGS, check_transfer_setting, timeout_setting
from artver.repo import Repo

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # fullmatch: "$" would accept a final newline


@dataclass(frozen=True)
class RemoteInfo:
    name: str
    url: str
    default: bool
    settings: dict[str, str]  # non-secret settings; secrets are shown only by name
    secrets: tuple[str, ...]


def _check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise UsageError(f"remote name {name!r}: use letters, digits, '.', '_' or '-' (at most 64)")
    return name


def _section(name: str) -> str:
    return f"remote.{name}"


def _require(repo: Repo, name: str, url: bool = True) -> None:
    """The remote must exist: have a URL, or (with ``url`` False) at least one setting."""
    section = _section(name)
    if repo.config.values.get((section, "url")) is None and (url or not repo.config.raw_section(section)):
        raise UsageError(missing_remote_message(repo.config, name))


def stored_url(repo: Repo, url: str, typed_in: Path) -> str:
    """A remote URL as 'remote add' stores it: a relative directory, typed relative to
    ``typed_in``, becomes relative to the repository root, which is what it is read against."""
    if url and is_directory(url) and not os.path.isabs(os.path.expanduser(url)):
        return os.path.relpath(os.path.join(typed_in, url), repo.root)
    return url


def add(repo: Repo, name: str, url: str, default: bool = False, local: bool = False) -> RemoteInfo:
    _check_name(name)
    if repo.config.values.get((_section(name), "url")) is not None:
        raise UsageError(f"remote '{name}' already exists; change it with 'artver remote modify {name} url URL'")
    parse_url(name, url, repo.root)
    config.set_value(repo.artver_dir, _section(name), "url", url, local=local)
    if default or not repo.config.get("core", "remote"):
        config.set_value(repo.artver_dir, "core", "remote", name, local=local)
    return _info(_reload(repo), name)


def _reload(repo: Repo) -> Repo:
    return Repo(repo.root, config.load(repo.artver_dir))


def _info(repo: Repo, name: str) -> RemoteInfo:
    section = repo.config.raw_section(_section(name))  # shown, not used: a refused setting is still listed
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
    _require(repo, name, url=False)
    config.remove_section(repo.artver_dir, _section(name))
    if repo.config.get("core", "remote") == name:
        for local in (False, True):
            config.set_value(repo.artver_dir, "core", "remote", None, local=local)


def set_default(repo: Repo, name: str, local: bool = False) -> None:
    _require(repo, name)
    config.set_value(repo.artver_dir, "core", "remote", name, local=local)


def modify(repo: Repo, name: str, key: str, value: str | None, local: bool = False) -> None:
    _require(repo, name, url=False)
    section = _section(name)
    config.check_key(section, key)
    if value is not None:
        check_value(name, key, value, repo)
    config.set_value(repo.artver_dir, section, key, value, local=local)


def check_value(name: str, key: str, value: str, repo: Repo) -> None:
    """The checks a value gets where it is used, run before it is written."""
    section = _section(name)
    if key == "url":
        parse_url(name, value, repo.root)
    elif key in config.URL_KEYS:
        check_url_setting(name, key, value)
    elif (section.partition(".")[0], key) in config.NUMBERS:
        config.whole_number(section, key, value, None)
    elif key in TRANSFER_SETTINGS:
        check_transfer_setting(name, key, value)
    elif key == "timeout":
        try:
            timeout_setting({"timeout": value}, f"remote '{name}'")
        except RemoteError as error:
            raise ConfigError(str(error)) from None
    elif key == "link" and value not in LINK_CHOICES:
        raise ConfigError(f"remote.{name}.link must be one of {', '.join(LINK_CHOICES)}, not {value!r}")
