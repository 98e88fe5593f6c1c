"""Regenerate the gRPC stubs in asrt_service/proto/ from protos/asrt.proto.

Run ``python -m asrt_service.cli.build_proto`` after editing the .proto; a test
fails when the committed stubs differ from what this produces.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROTO = ROOT / "protos" / "asrt.proto"
OUT = ROOT / "asrt_service" / "proto"


def generate(out_dir: Path) -> list[Path]:
    """Run grpcio-tools' protoc on protos/asrt.proto into ``out_dir``.

    The generated ``asrt_pb2_grpc.py`` imports ``asrt_pb2`` as a top-level
    module; it is rewritten to a package-relative import so the stubs work
    from inside ``asrt_service.proto``.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    # protoc runs in its own process: in-process it can crash a host that has
    # already loaded other protobuf/C++ extension modules.
    args = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{PROTO.parent}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        str(PROTO),
    ]
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"protoc failed on {PROTO}: {done.stderr.strip()}")
    grpc_file = out_dir / "asrt_pb2_grpc.py"
    text = grpc_file.read_text(encoding="utf-8")
    grpc_file.write_text(
        re.sub(r"^import asrt_pb2 as", "from . import asrt_pb2 as", text, flags=re.M), encoding="utf-8"
    )
    return sorted(out_dir.glob("asrt_pb2*"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed stubs are stale")
    args = parser.parse_args(argv)
    if not args.check:
        generate(OUT)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        stale = [p.name for p in generate(Path(tmp)) if p.read_bytes() != (OUT / p.name).read_bytes()]
    if stale:
        sys.stderr.write(f"stale generated stubs: {', '.join(stale)}; run python -m asrt_service.cli.build_proto\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
