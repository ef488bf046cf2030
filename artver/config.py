"""Configuration: ``.artver/config`` (committed) overlaid by ``.artver/config.local``.

Both are INI files read without interpolation. The committed file is treated as
untrusted input: values are only ever parsed as data, never executed or passed
to a shell. Secret settings may only live in the git-ignored local file.
"""

from __future__ import annotations

import configparser
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

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
        }
    )
    | SECRET_KEYS,
}


@dataclass(frozen=True)
class Config:
    """Merged view of both files: (section, key) -> value; local wins."""

    values: Mapping[tuple[str, str], str]

    def get(self, section: str, key: str, default: str | None = None) -> str | None:
        return self.values.get((section, key), default)

    def get_int(self, section: str, key: str, default: int) -> int:
        raw = self.get(section, key)
        if raw is None:
            return default
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"config: {section}.{key} = {raw!r} must be a whole number") from None

    def sections(self, prefix: str) -> list[str]:
        """Names of sections ``prefix.NAME`` (e.g. the remotes), sorted."""
        names = {section[len(prefix) + 1 :] for section, _ in self.values if section.startswith(prefix + ".")}
        return sorted(names)

    def section(self, name: str) -> dict[str, str]:
        return {key: value for (section, key), value in self.values.items() if section == name}


def _parser() -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(default_section="\0none")
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    return parser


def _read(path: Path) -> configparser.RawConfigParser:
    parser = _parser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return parser
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read config ({error})") from None
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as error:
        first_line = str(error).splitlines()[0]
        raise ConfigError(f"{path}: invalid config ({first_line})") from None
    return parser


def load(artver_dir: Path) -> Config:
    values: dict[tuple[str, str], str] = {}
    committed = _read(artver_dir / CONFIG_NAME)
    for section in committed.sections():
        for key, value in committed.items(section):
            if key in _SECRET_LOOKING:
                raise ConfigError(
                    f"{artver_dir / CONFIG_NAME}: secret setting {section}.{key} must not be in the committed "
                    f"config; move it to .artver/{LOCAL_CONFIG_NAME} (artver remote modify ... --local)"
                )
            values[(section, key)] = value
    local = _read(artver_dir / LOCAL_CONFIG_NAME)
    for section in local.sections():
        for key, value in local.items(section):
            values[(section, key)] = value
    for section, key in values:
        try:
            check_key(section, key)
        except ConfigError as error:
            raise ConfigError(f"{artver_dir}/config(.local): {error}; fix or remove it") from None
    return Config(values)


def check_key(section: str, key: str) -> None:
    kind, _, name = section.partition(".")
    known = KNOWN_KEYS.get(kind) if (kind == "remote") == bool(name) else None
    if known is None or key not in known:
        choices = ", ".join(sorted(known or ()))
        raise ConfigError(f"unknown setting {section}.{key}" + (f" (known: {choices})" if choices else ""))


def set_value(artver_dir: Path, section: str, key: str, value: str | None, local: bool) -> None:
    """Set (or with value None, remove) one key in the committed or the local file."""
    check_key(section, key)
    if value is not None and key in SECRET_KEYS and not local:
        raise ConfigError(
            f"{section}.{key} is a secret and is never written to the committed config; add --local "
            f"to store it in .artver/{LOCAL_CONFIG_NAME}, which Git ignores"
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
