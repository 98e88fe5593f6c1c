"""Regenerate the gRPC stubs in asrt_service/proto/ from protos/asrt.proto.

Run ``python -m asrt_service.cli.build_proto`` after editing the .proto; a test
fails when the committed stubs differ from what this produces. The version
stamps of the generator (grpcio-tools' ``GRPC_GENERATED_VERSION`` and the
protobuf gencode version) are left out of that comparison: a new grpcio-tools
release is not a change to the .proto. They are the oldest grpcio and protobuf
the stubs import under, so pyproject.toml's floors must not be lower
(:func:`stub_versions`, checked by a test).
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


_GRPC_STAMP = re.compile(r"^GRPC_GENERATED_VERSION = '([0-9.]+)'", re.M)
_PROTOBUF_STAMP = re.compile(r"^# Protobuf Python Version: ([0-9.]+)$", re.M)
_PROTOBUF_CHECK = re.compile(
    r"(ValidateProtobufRuntimeVersion\(\s*_runtime_version\.Domain\.PUBLIC,)\s*\d+,\s*\d+,\s*\d+,"
)


def without_version_stamps(text: str) -> str:
    """Generated code with the generator's version numbers replaced by a placeholder."""
    text = _GRPC_STAMP.sub("GRPC_GENERATED_VERSION = '<version>'", text)
    text = _PROTOBUF_STAMP.sub("# Protobuf Python Version: <version>", text)
    return _PROTOBUF_CHECK.sub(r"\1 <version>,", text)


def stub_versions(out_dir: Path = OUT) -> dict[str, tuple[int, ...]]:
    """The oldest ``grpcio`` and ``protobuf`` the stubs in ``out_dir`` accept, from their version checks."""
    grpc_m = _GRPC_STAMP.search((out_dir / "asrt_pb2_grpc.py").read_text(encoding="utf-8"))
    pb_m = _PROTOBUF_STAMP.search((out_dir / "asrt_pb2.py").read_text(encoding="utf-8"))
    if not grpc_m or not pb_m:
        raise ValueError(f"no generator version stamp in the stubs of {out_dir}")
    return {name: tuple(int(x) for x in m.group(1).split(".")) for name, m in (("grpcio", grpc_m), ("protobuf", pb_m))}


def _is_stale(fresh: Path, committed: Path) -> bool:
    if not committed.exists():
        return True
    a, b = (without_version_stamps(p.read_text(encoding="utf-8")) for p in (fresh, committed))
    return a != b


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed stubs are stale")
    args = parser.parse_args(argv)
    if not args.check:
        generate(OUT)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        stale = [p.name for p in generate(Path(tmp)) if _is_stale(p, OUT / p.name)]
    if stale:
        sys.stderr.write(f"stale generated stubs: {', '.join(stale)}; run python -m asrt_service.cli.build_proto\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
