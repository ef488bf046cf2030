"""Configuration: ``.artver/config`` (committed), the user's config file, and ``.artver/config.local``.

All three are INI files read without interpolation, merged key by key; later ones win:

1. ``.artver/config``: committed, shared by the team, and so untrusted input: anyone who
   can open a pull request writes it. Its values are only ever parsed as data, never
   executed or passed to a shell, and it may not hold a setting that chooses where artver
   writes or deletes files outside the repository or which of the user's own credentials
   it uses (LOCAL_ONLY), nor a secret.
2. ``$XDG_CONFIG_HOME/artver/config`` (default ``~/.config/artver/config``): the user's own
   settings for every clone on this machine; only USER_KEYS.
3. ``.artver/config.local``: git-ignored settings of this clone, and the only home of secrets.

Every value remembers the file it came from (Origin), so a refusal names that file, and a
local-only setting is refused exactly when the committed file is where its value comes from.
"""

from __future__ import annotations

import configparser
import io
import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from artver.errors import ConfigError
from artver.fsutil import atomic_write_bytes

CONFIG_NAME = "config"
LOCAL_CONFIG_NAME = "config.local"

# Settings whose value is a credential: only ever in the git-ignored config.local.
SECRET_KEYS = frozenset({"access_key_id", "secret_access_key", "session_token"})
# Names that look like credentials: refused in the committed config even though no backend reads them.
_SECRET_LOOKING = SECRET_KEYS | {"token", "credentials_json", "password", "secret"}

# Every known key, so a typo is an error rather than a silently ignored setting.
KNOWN_KEYS: Mapping[str, frozenset[str]] = {
    "core": frozenset({"hash", "remote", "listing_inline_max", "lock_timeout"}),
    "cache": frozenset({"dir", "link"}),
    "remote": frozenset(
        {
            "url",
            "endpoint_url",
            "region",
            "profile",
            "project",
            "credentials_path",
            "jobs",
            "retries",
            "timeout",
            "link",
            "direct_requests",
            "speed_limit",
            "speed_time",
            "pack",
            "pack_threshold",
            "pack_size",
            "chunk",
            "chunk_threshold",
        }
    )
    | SECRET_KEYS,
}

# Settings the committed file may not decide, by section kind, with the reason shown to the user.
LOCAL_ONLY: Mapping[tuple[str, str], str] = {
    ("cache", "dir"): "it decides where artver writes and deletes files",
    ("remote", "profile"): "it chooses which of your AWS credentials artver uses",
    ("remote", "credentials_path"): "it chooses which key file on your machine artver reads",
}

# Settings the user's config file may hold: those that describe this machine, not a repository.
USER_KEYS = frozenset({("cache", "dir"), ("cache", "link"), ("core", "lock_timeout")})

# Settings whose value is a URL: one checked parse, wherever the value comes from.
URL_KEYS = frozenset({"url", "endpoint_url"})


@dataclass(frozen=True)
class WholeNumber:
    """A setting that is a whole number in [minimum, maximum], written in ASCII digits."""

    minimum: int
    maximum: int


NUMBERS: Mapping[tuple[str, str], WholeNumber] = {
    ("core", "listing_inline_max"): WholeNumber(0, 100_000),
    ("core", "lock_timeout"): WholeNumber(0, 86_400),
    ("remote", "jobs"): WholeNumber(1, 256),
    ("remote", "retries"): WholeNumber(0, 100),
    # Bytes. Below the threshold an object goes into a pack (0: none do); packs.MAX_MEMBER bounds it.
    ("remote", "pack_threshold"): WholeNumber(0, 64 * 1024 * 1024),
    ("remote", "pack_size"): WholeNumber(1024 * 1024, 1024 * 1024 * 1024),
    # Bytes: files of this size or more are chunked (remote_chunks.MIN_CHUNK_THRESHOLD is the floor).
    ("remote", "chunk_threshold"): WholeNumber(1024 * 1024, 1 << 50),
}

Scope = Literal["committed", "user", "local"]


@dataclass(frozen=True)
class Origin:
    """Where a value was read from."""

    scope: Scope
    path: Path


@dataclass(frozen=True)
class Config:
    """Merged view of the files: (section, key) -> value, and where each value came from.

    ``get`` and ``section`` are the checked reads every user of a setting goes through: they
    refuse a local-only setting whose value comes from the committed file. ``values`` is the
    raw merge, for showing settings (``remote list``), never for using them."""

    values: Mapping[tuple[str, str], str]
    origins: Mapping[tuple[str, str], Origin]
    user_path: Path | None = None  # the user's config file, named in messages

    def get(self, section: str, key: str, default: str | None = None) -> str | None:
        value = self.values.get((section, key))
        if value is None:
            return default
        self._refuse_committed_local_only(section, key)
        return value

    def get_int(self, section: str, key: str, default: int) -> int:
        raw = self.get(section, key)
        if raw is None:
            return default
        return whole_number(section, key, raw, self.where(section, key))

    def where(self, section: str, key: str) -> str:
        """The file a value came from, for messages."""
        origin = self.origins.get((section, key))
        return str(origin.path) if origin is not None else "config"

    def sections(self, prefix: str) -> list[str]:
        """Names of sections ``prefix.NAME`` (e.g. the remotes), sorted."""
        names = {section[len(prefix) + 1 :] for section, _ in self.values if section.startswith(prefix + ".")}
        return sorted(names)

    def section(self, name: str) -> dict[str, str]:
        """Every setting of a section, checked like ``get``: for using them."""
        for section, key in self.values:
            if section == name:
                self._refuse_committed_local_only(section, key)
        return self.raw_section(name)

    def raw_section(self, name: str) -> dict[str, str]:
        """Every setting of a section, unchecked: only for showing them."""
        return {key: value for (section, key), value in self.values.items() if section == name}

    def _refuse_committed_local_only(self, section: str, key: str) -> None:
        reason = LOCAL_ONLY.get((section.partition(".")[0], key))
        origin = self.origins.get((section, key))
        if reason is None or origin is None or origin.scope != "committed":
            return
        raise ConfigError(committed_local_only_message(origin.path, section, key, self.values[(section, key)], reason, self.user_path))


def committed_local_only_message(path: Path, section: str, key: str, value: str, reason: str, user_path: Path | None) -> str:
    kind, _, name = section.partition(".")
    shown = shlex.quote(value) if value.isprintable() else "VALUE"
    head = (
        f"{path}: {section}.{key} may not come from the committed config ({reason}, and anyone who can open "
        f"a pull request writes that file)"
    )
    if kind == "remote":
        return f"{head}; run 'artver remote modify {name} {key} {shown} --local' and delete the line from .artver/config"
    elsewhere = f" or to {user_path} (all your clones)" if user_path is not None else ""
    line = f"{key} = {value}" if value.isprintable() else key
    return f"{head}; move the line '{line}' of its [{section}] section to .artver/{LOCAL_CONFIG_NAME} (this clone){elsewhere}"


def whole_number(section: str, key: str, raw: str, where: str | None) -> int:
    """The one check of a whole-number setting, for 'remote modify' and for every use."""
    rule = NUMBERS.get((section.partition(".")[0], key), WholeNumber(0, 2**31 - 1))
    if raw.isascii() and raw.isdigit() and len(raw) <= 18 and rule.minimum <= int(raw) <= rule.maximum:
        return int(raw)
    shown = repr(raw[:40]) if raw.isprintable() else "(not printable)"
    prefix = f"{where}: " if where else ""
    raise ConfigError(f"{prefix}{section}.{key} = {shown} must be a whole number from {rule.minimum} to {rule.maximum}")


def user_config_path() -> Path | None:
    """``$XDG_CONFIG_HOME/artver/config``, else ``~/.config/artver/config``; None without a home."""
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    if os.path.isabs(xdg):
        return Path(xdg) / "artver" / CONFIG_NAME
    try:
        return Path.home() / ".config" / "artver" / CONFIG_NAME
    except RuntimeError:
        return None


def _parser() -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(default_section="\0none")
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # configparser's stub types optionxform as a method; assigning str keeps keys case-sensitive
    return parser


def _read(path: Path) -> configparser.RawConfigParser:
    parser = _parser()
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return parser
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read config ({error})") from None
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as error:
        first_line = str(error).splitlines()[0]
        raise ConfigError(f"{path}: invalid config ({first_line})") from None
    return parser


def load(artver_dir: Path, user_path: Path | None | Literal["default"] = "default") -> Config:
    """Read and merge the three files. Refuses what no file may hold (unknown keys, a secret
    in the committed file, a setting the user's file may not hold, a URL that is malformed or
    carries credentials) naming the file; local-only settings are refused when used (Config.get)."""
    user = user_config_path() if user_path == "default" else user_path
    values: dict[tuple[str, str], str] = {}
    origins: dict[tuple[str, str], Origin] = {}
    sources: list[tuple[Scope, Path]] = [("committed", artver_dir / CONFIG_NAME)]
    if user is not None:
        sources.append(("user", user))
    sources.append(("local", artver_dir / LOCAL_CONFIG_NAME))
    for scope, path in sources:
        parser = _read(path)
        for section in parser.sections():
            for key, value in parser.items(section):
                _check_source(scope, path, section, key, value)
                values[(section, key)] = value
                origins[(section, key)] = Origin(scope, path)
    return Config(values, origins, user)


def _check_source(scope: Scope, path: Path, section: str, key: str, value: str) -> None:
    kind = section.partition(".")[0]
    if scope == "committed" and key in _SECRET_LOOKING:
        raise ConfigError(
            f"{path}: secret setting {section}.{key} must not be in the committed config; delete the line from "
            f".artver/{CONFIG_NAME}, rotate the credential (it may be in Git history), and keep it in "
            f".artver/{LOCAL_CONFIG_NAME} with 'artver remote modify NAME {key} VALUE --local'"
        )
    try:
        check_key(section, key)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}; fix or remove it") from None
    if scope == "user" and (section, key) not in USER_KEYS:
        allowed = ", ".join(f"{s}.{k}" for s, k in sorted(USER_KEYS))
        raise ConfigError(
            f"{path}: {section}.{key} cannot be set in your user config, which holds only {allowed}; "
            f"set it in the repository's .artver/{CONFIG_NAME} or .artver/{LOCAL_CONFIG_NAME}"
        )
    if kind == "remote" and key in URL_KEYS:
        from artver.remotes import url_setting_problem  # the one checked parse of URL-valued settings

        problem = url_setting_problem(section.partition(".")[2], key, value)
        if problem is not None:
            raise ConfigError(f"{path}: {section}.{key}: {problem}; fix that line")


def check_key(section: str, key: str) -> None:
    kind, _, name = section.partition(".")
    known = KNOWN_KEYS.get(kind) if (kind == "remote") == bool(name) else None
    if known is None or key not in known:
        choices = ", ".join(sorted(known or ()))
        raise ConfigError(f"unknown setting {section}.{key}" + (f" (known: {choices})" if choices else ""))


def set_value(artver_dir: Path, section: str, key: str, value: str | None, local: bool) -> None:
    """Set (or with value None, remove) one key in the committed or the local file."""
    check_key(section, key)
    if value is not None and not local:
        if key in SECRET_KEYS:
            raise ConfigError(
                f"{section}.{key} is a secret and is never written to the committed config; add --local "
                f"to store it in .artver/{LOCAL_CONFIG_NAME}, which Git ignores"
            )
        reason = LOCAL_ONLY.get((section.partition(".")[0], key))
        if reason is not None:
            user = " (or --user, with 'artver config', for all your clones)" if (section, key) in USER_KEYS else ""
            raise ConfigError(
                f"{section}.{key} is never written to the committed config ({reason}); add --local "
                f"to store it in .artver/{LOCAL_CONFIG_NAME}, which Git ignores{user}"
            )
    path = artver_dir / (LOCAL_CONFIG_NAME if local else CONFIG_NAME)
    parser = _read(path)
    if value is None:
        if parser.has_section(section):
            parser.remove_option(section, key)
            if not parser.items(section):
                parser.remove_section(section)
    else:
        if not parser.has_section(section):
            parser.add_section(section)
        parser.set(section, key, value)
    _write(path, parser, mode=0o600 if local else 0o644)


def set_user_value(path: Path, section: str, key: str, value: str | None) -> None:
    """Set (or with value None, remove) one key in the user's config file (only USER_KEYS)."""
    check_key(section, key)
    if (section, key) not in USER_KEYS:
        allowed = ", ".join(f"{s}.{k}" for s, k in sorted(USER_KEYS))
        raise ConfigError(f"{section}.{key} cannot be set in your user config ({path}), which holds only {allowed}")
    parser = _read(path)
    if value is None:
        if not parser.has_section(section):
            return
        parser.remove_option(section, key)
        if not parser.items(section):
            parser.remove_section(section)
    else:
        if not parser.has_section(section):
            parser.add_section(section)
        parser.set(section, key, value)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write(path, parser, mode=0o644)


def remove_section(artver_dir: Path, section: str) -> bool:
    removed = False
    for name, mode in ((CONFIG_NAME, 0o644), (LOCAL_CONFIG_NAME, 0o600)):
        path = artver_dir / name
        parser = _read(path)
        if parser.remove_section(section):
            _write(path, parser, mode)
            removed = True
    return removed


def _write(path: Path, parser: configparser.RawConfigParser, mode: int) -> None:
    buffer = io.StringIO()
    parser.write(buffer)
    atomic_write_bytes(path, buffer.getvalue().encode("utf-8"), mode=mode)
