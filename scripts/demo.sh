#!/usr/bin/env bash
# The main job of artver, end to end, on a fresh machine (Python >= 3.11 and git):
# install into ./.venv, version a model and a dataset in a temporary Git repository,
# go back in history and get the old bytes, then hand everything over to a second
# clone through a local-directory remote. No cloud account needed.
set -euo pipefail
cd "$(dirname "$0")/.."
PROJECT=$(pwd)
PYTHON=${PYTHON:-python3}

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

step "Install artver into $PROJECT/.venv"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
export PATH="$PROJECT/.venv/bin:$PATH"
artver --version

WORK=$(mktemp -d "${TMPDIR:-/tmp}/artver-demo.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export GIT_AUTHOR_NAME="Demo Scientist" GIT_AUTHOR_EMAIL="scientist@example.invalid"
export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME" GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL"

step "A Git repository with a model and a dataset ($WORK/project)"
mkdir "$WORK/project" && cd "$WORK/project"
run git init -q -b main
run artver init
head -c 20000000 /dev/urandom > model.pt
mkdir -p data/train data/test
for i in 1 2 3; do head -c 100000 /dev/urandom > "data/train/part-$i.bin"; done
echo "id,label" > data/test/labels.csv
run artver add model.pt data --desc "demo model and data"
run git add -A
run git commit -q -m "First model and dataset"
cp model.pt "$WORK/model-v1.pt"

step "Retrain: a new model version"
head -c 20000000 /dev/urandom > model.pt
run artver status
run artver add model.pt
run git commit -q -am "Second model"

step "Back to the first commit: the workspace gets the first model again"
run git checkout -q HEAD~1
run artver checkout
run cmp model.pt "$WORK/model-v1.pt"
echo "model.pt is byte-identical to the first version"
run git checkout -q main
run artver checkout

step "Hand over through a local-directory remote"
mkdir "$WORK/remote"
run artver remote add origin "$WORK/remote" --default
run git add .artver/config && git commit -q -m "Add artifact remote"
run artver push
run artver push

step "A colleague clones the repository and pulls the data"
cd "$WORK"
run git clone -q "$WORK/project" colleague
cd colleague
run artver pull
run cmp model.pt "$WORK/project/model.pt"
run diff -r data "$WORK/project/data"
echo "The clone's model and dataset are byte-identical to the original."
run artver status
step "Done"
