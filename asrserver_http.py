#!/usr/bin/env python3
"""ASRT-compatible REST server (default 0.0.0.0:20001). Flags: --listen, --port; see --help."""

from asrt_service.cli.serve import main_http

if __name__ == "__main__":
    raise SystemExit(main_http())
