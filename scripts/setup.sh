#!/usr/bin/env bash
# Set up everything asrt-service needs on a fresh Debian/Ubuntu machine (idempotent):
# system tools (ffmpeg, sox, espeak-ng, libsndfile) and a virtualenv in .venv with the
# package installed in editable mode. Usage: scripts/setup.sh [--test]
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for tool in ffmpeg sox espeak-ng; do command -v "$tool" >/dev/null 2>&1 || need_apt+=("$tool"); done
if [ ${#need_apt[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "installing system packages: ${need_apt[*]} libsndfile1"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" libsndfile1 >/dev/null
  else
    echo "please install: ${need_apt[*]}" >&2
  fi
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
if [ "${1:-}" = "--test" ]; then
  .venv/bin/pip install -q -e '.[test]'
  # ASRT's own SDK, unchanged; its 'wave' requirement no longer builds (the stdlib has wave).
  .venv/bin/pip install -q --no-deps asrt-sdk==1.2.0
else
  .venv/bin/pip install -q -e .
fi
