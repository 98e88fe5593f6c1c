"""The .proto is ASRT's wire contract, and the committed stubs are generated from it."""

from __future__ import annotations

from asrt_service.cli import build_proto
from asrt_service.proto import asrt_pb2


def test_committed_stubs_are_fresh():
    assert build_proto.main(["--check"]) == 0, "run: python -m asrt_service.cli.build_proto"


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
