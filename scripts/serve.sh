#!/usr/bin/env bash
# Quick start: set up and serve REST on :20001 and gRPC on :20002 with the shipped model.
# Extra arguments go to `asrt-service serve` (see --help), e.g. --listen 127.0.0.1
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/asrt-service serve "$@"
