#!/usr/bin/env bash
# Install everything the tests need into ./.venv and run the whole suite.
# Extra arguments go to pytest (e.g. ./scripts/test.sh -k remote -x).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

# The publish tests need a real OCI registry (CNCF distribution), skopeo to check what artver
# pushed, and htpasswd to make a bcrypt password file. Debian/Ubuntu packages; apt runs only when
# one of them is missing, as root or through sudo without a password prompt (CI has no tty).
missing=()
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
command -v htpasswd >/dev/null 2>&1 || missing+=(apache2-utils)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
        as_root=()
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        as_root=(sudo -n)
    else
        echo "scripts/test.sh: please install ${missing[*]} (apt-get install ${missing[*]}) and run again" >&2
        exit 1
    fi
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
    # On a machine with systemd the package starts a registry service on port 5000; the tests start
    # their own registry, so stop the one this install just started.
    if [[ " ${missing[*]} " == *" docker-registry "* ]] && command -v systemctl >/dev/null 2>&1 \
        && systemctl is-active --quiet docker-registry 2>/dev/null; then
        "${as_root[@]}" systemctl disable --now docker-registry || true
    fi
fi

if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
# The checks that keep the code as docs/design.md describes it (rules in pyproject.toml).
echo "ruff check artver tests scripts" && .venv/bin/ruff check --quiet artver tests scripts
echo "mypy (artver/)" && .venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
