"""ASRT's own Python SDK (PyPI ``asrt-sdk``, unchanged) against our servers, with the shipped model.

The SDK is installed with ``--no-deps`` (its ``wave`` requirement no longer
builds) and needs the pure-Python protobuf runtime for its old generated stubs;
it runs in a subprocess so that setting does not leak into this process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from asrt_service.audio import Audio

SDK_SCRIPT = textwrap.dedent(
    """
    import json, sys, threading
    import asrt_sdk
    from asrt_sdk.utils import read_wav_datas
    http_host, http_port, grpc_host, grpc_port, wav = sys.argv[1:6]
    w = read_wav_datas(wav)
    out = {}
    http = asrt_sdk.get_speech_recognizer(http_host, http_port, "http")
    r = http.recognite_speech(w.str_data, w.sample_rate, w.channels, w.byte_width)
    out["http_speech"] = [r.status_code, r.result]
    r = http.recognite_language(r.result)
    out["http_language"] = [r.status_code, r.result]
    r = http.recognite(w.str_data, w.sample_rate, w.channels, w.byte_width)
    out["http_all"] = [r.status_code, r.result]
    out["http_file"] = [[x.status_code, x.result] for x in http.recognite_file(wav)]
    g = asrt_sdk.get_speech_recognizer(grpc_host, grpc_port, "grpc")
    r = g.recognite_speech(w.str_data, w.sample_rate, w.channels, w.byte_width)
    out["grpc_speech"] = [r.status_code, list(r.result_data)]
    r = g.recognite_language(list(r.result_data))
    out["grpc_language"] = [r.status_code, r.text_result]
    r = g.recognite(w.str_data, w.sample_rate, w.channels, w.byte_width)
    out["grpc_all"] = [r.status_code, r.text_result]
    out["grpc_file"] = [[x.status_code, x.text_result] for x in g.recognite_file(wav)]
    chunk = 16000 * 2 // 2  # 0.5 s chunks, as an SDK user streaming a recorder would
    def gen():
        for i in range(0, len(w.str_data), chunk):
            yield w.str_data[i:i + chunk], w.sample_rate, w.channels, w.byte_width
    replies = []
    g.recognite_stream(gen, 0.01, lambda rsp: replies.append([rsp.status_code, rsp.text_result]))
    out["grpc_stream"] = replies
    print(json.dumps(out, ensure_ascii=False))
    """
)


def _sdk_available() -> bool:
    probe = subprocess.run([sys.executable, "-c", "import asrt_sdk"], env=_sdk_env(), capture_output=True, check=False)
    return probe.returncode == 0


def _sdk_env():
    return {**os.environ, "PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION": "python"}


@pytest.fixture(scope="module")
def sdk_results(shipped_servers, real_wav):
    if not _sdk_available():
        if os.environ.get("ASRT_REQUIRE_SHARED_DATA") == "1":
            pytest.fail("asrt-sdk is not installed (pip install --no-deps asrt-sdk)")
        pytest.skip("asrt-sdk is not installed (pip install --no-deps asrt-sdk)")
    http_url, grpc_target = shipped_servers
    http_host, http_port = http_url.removeprefix("http://").split(":")
    grpc_host, grpc_port = grpc_target.split(":")
    done = subprocess.run(
        [sys.executable, "-c", SDK_SCRIPT, http_host, http_port, grpc_host, grpc_port, str(real_wav)],
        env=_sdk_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_sdk_gets_the_same_pinyin_over_rest_grpc_and_in_process(sdk_results, shipped_recognizer, real_samples):
    in_process = shipped_recognizer.speech(Audio(real_samples))
    assert len(in_process) >= 10, "the shipped model should hear a 10 s sentence"
    assert sdk_results["http_speech"] == [200000, in_process]
    assert sdk_results["grpc_speech"] == [200000, in_process]


def test_sdk_language_and_all(sdk_results, shipped_recognizer, real_samples):
    result = shipped_recognizer.recognize(Audio(real_samples))
    text = result.text
    assert len(text) >= 10
    # The SDK's language call sends the recognized pinyin only; "all" lets the
    # language model choose among the acoustic n-best, so the two may differ.
    from_pinyin = shipped_recognizer.language(list(result.pinyin)).text
    assert sdk_results["http_language"] == [200000, from_pinyin]
    assert sdk_results["grpc_language"] == [200000, from_pinyin]
    assert sdk_results["http_all"] == [200000, text]
    assert sdk_results["grpc_all"] == [200000, text]


def test_sdk_recognite_file_splits_into_10s_requests(sdk_results):
    for key in ("http_file", "grpc_file"):
        parts = sdk_results[key]
        assert parts and all(code == 200000 for code, _ in parts), parts
        assert len("".join(t for _, t in parts)) >= 10


def test_sdk_stream(sdk_results):
    replies = sdk_results["grpc_stream"]
    codes = [c for c, _ in replies]
    assert codes.count(206000) >= 5, codes
    assert codes[-1] == 200000
    final_text = "".join(t for c, t in replies if c == 200000)
    assert len(final_text) >= 8
