#!/usr/bin/env bash
# Quick start: set up and run the lint and the test suite (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python -m asrt_service.cli.build_proto --check
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
