"""Where registry credentials come from: the environment, or the files ``docker login`` writes.

Looked up in this order, the first that has an entry for the registry wins:

1. ``ARTVER_REGISTRY_USERNAME`` and ``ARTVER_REGISTRY_PASSWORD`` (both, for any
   registry: the way CI passes a token);
2. the file named by ``REGISTRY_AUTH_FILE`` (the containers tools' variable:
   podman, skopeo, buildah);
3. ``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``;
4. ``$XDG_RUNTIME_DIR/containers/auth.json`` (where podman and skopeo log in).

The files share one format: ``{"auths": {"HOST": {"auth": base64("user:password")}}}``
(or ``"username"`` and ``"password"``). Credential helpers (``credsStore``,
``credHelpers``) are programs; artver does not run them, and says so.
Secrets never appear in messages or reprs; only where they came from does.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from artver.errors import ConfigError

USERNAME_VARIABLE = "ARTVER_REGISTRY_USERNAME"
PASSWORD_VARIABLE = "ARTVER_REGISTRY_PASSWORD"
MAX_AUTH_FILE_BYTES = 4 * 1024 * 1024
_DOCKER_HUB_KEYS = {"docker.io", "index.docker.io", "registry-1.docker.io"}
WHERE_LOOKED = (
    f"{USERNAME_VARIABLE}/{PASSWORD_VARIABLE}, REGISTRY_AUTH_FILE, the Docker config (~/.docker/config.json) "
    f"or the containers auth file"
)


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)
    source: str  # where they came from, for messages


def find_credentials(registry: str, environ: Mapping[str, str] | None = None) -> Credentials | None:
    """The credentials for ``registry`` (host[:port] as in the reference), or None."""
    env = os.environ if environ is None else environ
    username, password = env.get(USERNAME_VARIABLE), env.get(PASSWORD_VARIABLE)
    if username or password:
        if not (username and password):
            raise ConfigError(f"set both {USERNAME_VARIABLE} and {PASSWORD_VARIABLE}, or neither")
        return Credentials(username, password, f"{USERNAME_VARIABLE}/{PASSWORD_VARIABLE}")
    for path, required in _auth_files(env):
        found = _from_file(path, registry, required)
        if found is not None:
            return found
    return None


def _auth_files(env: Mapping[str, str]) -> list[tuple[Path, bool]]:
    files: list[tuple[Path, bool]] = []
    if env.get("REGISTRY_AUTH_FILE"):
        files.append((Path(env["REGISTRY_AUTH_FILE"]).expanduser(), True))
    docker_dir = Path(env["DOCKER_CONFIG"]).expanduser() if env.get("DOCKER_CONFIG") else Path.home() / ".docker"
    files.append((docker_dir / "config.json", False))
    if env.get("XDG_RUNTIME_DIR"):
        files.append((Path(env["XDG_RUNTIME_DIR"]) / "containers" / "auth.json", False))
    return files


def _host_of_key(key: str) -> str:
    """An ``auths`` key as host[:port]: keys may carry a scheme and a path (https://index.docker.io/v1/)."""
    host = key.split("://", 1)[-1].split("/", 1)[0].lower()
    return "docker.io" if host in _DOCKER_HUB_KEYS else host


def _from_file(path: Path, registry: str, required: bool) -> Credentials | None:
    try:
        if path.stat().st_size > MAX_AUTH_FILE_BYTES:
            raise ConfigError(f"{path}: too large to be a registry auth file")
        document = json.loads(path.read_bytes())
    except FileNotFoundError:
        if required:
            raise ConfigError(f"REGISTRY_AUTH_FILE names {path}, which does not exist") from None
        return None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read registry auth file ({error.strerror})") from None
    except ValueError:
        raise ConfigError(f"{path}: not valid JSON; fix it or log in again (docker login)") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: not a registry auth file (expected a JSON object)")
    wanted = _host_of_key(registry)
    auths = document.get("auths")
    entry = None
    if isinstance(auths, dict):
        entry = next((value for key, value in auths.items() if isinstance(key, str) and _host_of_key(key) == wanted), None)
    if isinstance(entry, dict):
        found = _from_entry(entry, path, registry)
        if found is not None:
            return found
    # A helper named for this registry, or the default store when `docker login` left an empty entry
    # (it does when the secret went to the store).
    helpers = document.get("credHelpers")
    helper: object = helpers.get(registry) if isinstance(helpers, dict) else None
    if not helper and entry is not None:
        helper = document.get("credsStore")
    if isinstance(helper, str) and helper:
        raise ConfigError(
            f"{path}: the credentials for {registry} are kept by the credential helper "
            f"'docker-credential-{helper[:40]}', which artver does not run; set {USERNAME_VARIABLE} and "
            f"{PASSWORD_VARIABLE} instead"
        )
    return None


def _from_entry(entry: dict[str, object], path: Path, registry: str) -> Credentials | None:
    encoded = entry.get("auth")
    if isinstance(encoded, str) and encoded:
        try:
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        username, colon, password = decoded.partition(":")
        if not colon or not username:
            raise ConfigError(f"{path}: the 'auth' entry for {registry} is not base64 of 'user:password'; log in again")
        return Credentials(username, password, str(path))
    plain_user, plain_password = entry.get("username"), entry.get("password")
    if isinstance(plain_user, str) and isinstance(plain_password, str) and plain_user:
        return Credentials(plain_user, plain_password, str(path))
    if entry.get("identitytoken"):
        raise ConfigError(
            f"{path}: the login for {registry} is an identity token, which artver does not use; set "
            f"{USERNAME_VARIABLE} and {PASSWORD_VARIABLE} instead"
        )
    return None
