"""The .proto is ASRT's wire contract, and the committed stubs are generated from it."""

from __future__ import annotations

import re
import sys

import pytest

from asrt_service.cli import build_proto
from asrt_service.proto import asrt_pb2

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 has no tomllib
    tomllib = pytest.importorskip("tomli")


def test_committed_stubs_are_fresh():
    assert build_proto.main(["--check"]) == 0, "run: python -m asrt_service.cli.build_proto"


def test_freshness_ignores_the_generators_version_stamps_but_not_the_code(tmp_path):
    fresh = build_proto.generate(tmp_path / "fresh")
    for p in fresh:
        text = p.read_text(encoding="utf-8")
        bumped = re.sub(r"'\d+\.\d+\.\d+'", "'9.99.9'", text)  # another grpcio-tools release
        bumped = re.sub(r"Python Version: [0-9.]+", "Python Version: 99.0.0", bumped)
        bumped = re.sub(r"PUBLIC,\s*\d+,\s*\d+,\s*\d+,", "PUBLIC,\n    99,\n    0,\n    0,", bumped)
        (tmp_path / p.name).write_text(bumped, encoding="utf-8")
        assert not build_proto._is_stale(p, tmp_path / p.name), p.name
    grpc_stub = tmp_path / "asrt_pb2_grpc.py"
    grpc_stub.write_text(grpc_stub.read_text(encoding="utf-8").replace("/asrt.AsrtGrpcService/All", "/asrt.X/All"))
    assert build_proto._is_stale(tmp_path / "fresh" / "asrt_pb2_grpc.py", grpc_stub)
    assert build_proto.stub_versions(tmp_path) == {"grpcio": (9, 99, 9), "protobuf": (99, 0, 0)}


def test_dependency_floors_are_at_least_the_stubs_runtime_versions():
    deps = tomllib.loads((build_proto.ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    floors = {}
    for dep in deps:
        m = re.fullmatch(r"([a-z-]+)>=([0-9.]+)", dep)
        if m:
            floors[m.group(1)] = tuple(int(x) for x in m.group(2).split("."))
    for name, needed in build_proto.stub_versions().items():
        assert floors[name] >= needed, f"pyproject.toml: {name}>= must be at least {'.'.join(map(str, needed))}"


def test_wire_contract_matches_asrt():
    d = asrt_pb2.DESCRIPTOR
    assert d.package == "asrt"
    expected = {
        "WavData": {
            "samples": (1, "bytes"),
            "sample_rate": (2, "int32"),
            "channels": (3, "int32"),
            "byte_width": (4, "int32"),
        },
        "SpeechRequest": {"wav_data": (1, "message")},
        "SpeechResponse": {"status_code": (1, "int32"), "status_message": (2, "string"), "result_data": (3, "string")},
        "LanguageRequest": {"pinyins": (1, "string")},
        "TextResponse": {"status_code": (1, "int32"), "status_message": (2, "string"), "text_result": (3, "string")},
    }
    names = {9: "string", 12: "bytes", 5: "int32", 11: "message"}
    for msg, fields in expected.items():
        got = {f.name: (f.number, names[f.type]) for f in d.message_types_by_name[msg].fields}
        assert got == fields, msg
    svc = d.services_by_name["AsrtGrpcService"]
    methods = {m.name: (m.input_type.name, m.output_type.name) for m in svc.methods}
    assert methods == {
        "Speech": ("SpeechRequest", "SpeechResponse"),
        "Language": ("LanguageRequest", "TextResponse"),
        "All": ("SpeechRequest", "TextResponse"),
        "Stream": ("SpeechRequest", "TextResponse"),
    }
