#!/usr/bin/env python3
"""ASRT-compatible gRPC server (default 0.0.0.0:20002). Flags: --listen, --port; see --help."""

from asrt_service.cli.serve import main_grpc

if __name__ == "__main__":
    raise SystemExit(main_grpc())
