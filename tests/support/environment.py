"""The isolated environment every test and every artver process under test runs in:
no developer Git config, AWS profile or Google credentials, a throw-away HOME."""

from __future__ import annotations

import os
from pathlib import Path

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Ada Tester",
    "GIT_AUTHOR_EMAIL": "ada@example.invalid",
    "GIT_COMMITTER_NAME": "Ada Tester",
    "GIT_COMMITTER_EMAIL": "ada@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}
HIDDEN_PREFIXES = ("AWS_", "GOOGLE_", "STORAGE_EMULATOR", "CLOUDSDK_")  # credentials and endpoints of the developer
FIXED_ENV = {"AWS_EC2_METADATA_DISABLED": "true"}  # never ask an instance-metadata service for credentials
HOME_GITCONFIG = "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n"


def prepare_home(home: Path) -> None:
    """A HOME whose only configuration is a Git config with fixed defaults."""
    home.mkdir(parents=True, exist_ok=True)
    (home / ".gitconfig").write_text(HOME_GITCONFIG)


def isolated_env(home: Path) -> dict[str, str]:
    """A whole environment for processes started outside a test function (module-scoped
    set-up, where the per-test isolation fixture is not in effect): the current one
    without the hidden variables, with GIT_ENV and ``home`` as HOME."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(HIDDEN_PREFIXES)}
    env.pop("XDG_CONFIG_HOME", None)  # artver's user config: under the temporary HOME
    env.update(GIT_ENV)
    env.update(FIXED_ENV)
    env["HOME"] = str(home)
    prepare_home(home)
    return env
