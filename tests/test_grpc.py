"""gRPC API against a real server on a loopback port (tiny seeded model)."""

from __future__ import annotations

import threading
import time

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from asrt_service.audio import Audio
from asrt_service.proto import asrt_pb2, asrt_pb2_grpc
from conftest import pcm16, tone


@pytest.fixture(scope="module")
def stub(tiny_servers):
    channel = grpc.insecure_channel(tiny_servers[1])
    yield asrt_pb2_grpc.AsrtGrpcServiceStub(channel)
    channel.close()


def req(samples: bytes, rate=16000, channels=1, width=2):
    return asrt_pb2.SpeechRequest(
        wav_data=asrt_pb2.WavData(samples=samples, sample_rate=rate, channels=channels, byte_width=width)
    )


def test_speech_matches_in_process(stub, tiny_recognizer):
    x = tone(2.0)
    r = stub.Speech(req(pcm16(x)))
    assert r.status_code == 200000
    assert list(r.result_data) == tiny_recognizer.speech(Audio(x))


def test_all_and_language(stub):
    assert stub.All(req(pcm16(tone(1.0)))).status_code == 200000
    r = stub.Language(asrt_pb2.LanguageRequest(pinyins=["jin1", "tian1", "tian1", "qi4", "hen3", "hao3"]))
    assert (r.status_code, r.text_result) == (200000, "今天天气很好")


@pytest.mark.parametrize(
    ("request_", "code", "message"),
    [
        (req(b"\0" * 7, channels=2), 400001, "not a whole number of frames"),
        (req(b"\0" * 48, width=3), 400002, "byte_width 3"),
        (req(b"\0" * 48, width=0), 400002, "byte_width 0"),
        (req(b"\0" * 48, channels=0), 400002, "channels 0"),
        (req(b"\0" * 48, rate=0), 400002, "sample_rate 0"),
        (req(b""), 400002, "empty"),
        (asrt_pb2.SpeechRequest(), 400002, "byte_width 0"),
        (req(pcm16(np.zeros(16000 * 61, np.float32))), 400002, "at most 60 s"),
        (req(b"RIFF" + b"\x11" * 100), 400002, "could not decode"),
    ],
)
@pytest.mark.parametrize("method", ["Speech", "All"])
def test_bad_audio_gets_asrt_codes(stub, method, request_, code, message):
    r = getattr(stub, method)(request_)
    assert r.status_code == code
    assert message in r.status_message


def test_unknown_pinyin_is_reported(stub):
    r = stub.Language(asrt_pb2.LanguageRequest(pinyins=["ni3", "hao3", "qqq7"]))
    assert r.status_code == 200000 and r.text_result == "你好" and "qqq7" in r.status_message


def test_silence(stub):
    r = stub.All(req(pcm16(np.zeros(32000, np.float32))))
    assert r.status_code == 200000


def chunks_of(x: np.ndarray, seconds: float, rate=16000):
    step = int(seconds * rate)
    for i in range(0, len(x), step):
        yield req(pcm16(x[i : i + step]), rate=rate)


def test_stream_partials_then_finals(stub):
    # two "sentences" separated by a 1 s pause
    x = np.concatenate([tone(1.5, 200), np.zeros(16000, np.float32), tone(1.5, 300), np.zeros(4000, np.float32)])
    replies = list(stub.Stream(chunks_of(x, 0.25)))
    codes = [r.status_code for r in replies]
    assert set(codes) <= {200000, 206000}
    assert codes.count(206000) >= 8
    assert codes[-1] == 200000
    # one final for the first sentence at its pause, and one when the client half-closes
    assert codes.count(200000) >= 2


def test_stream_accepts_44k_stereo_chunks(stub):
    x = tone(1.0, 250, 44100)
    stereo = np.stack([x, x], axis=1).reshape(-1)

    def gen():
        step = 4410 * 2
        for i in range(0, len(stereo), step):
            yield req(pcm16(stereo[i : i + step]), rate=44100, channels=2)

    replies = list(stub.Stream(gen()))
    assert replies[-1].status_code == 200000


def test_stream_bad_chunk_ends_with_error_envelope(stub):
    def gen():
        yield req(pcm16(tone(0.5)))
        yield req(b"\0" * 3, width=2)

    replies = list(stub.Stream(gen()))
    assert replies[-1].status_code == 400001
    assert "whole number of frames" in replies[-1].status_message


def test_client_disconnect_mid_stream_does_not_hurt_server(stub):
    stop = threading.Event()

    def endless():
        while not stop.is_set():
            time.sleep(0.05)
            yield req(pcm16(tone(0.1)))

    call = stub.Stream(endless())
    first = next(call)
    assert first.status_code == 206000
    call.cancel()
    stop.set()
    with pytest.raises(grpc.RpcError) as info:
        for _ in call:
            pass
    assert info.value.code() == grpc.StatusCode.CANCELLED
    assert stub.Speech(req(pcm16(tone(1.0)))).status_code == 200000


def test_health_and_reflection(tiny_servers):
    channel = grpc.insecure_channel(tiny_servers[1])
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "asrt.AsrtGrpcService"):
        assert (
            health.Check(health_pb2.HealthCheckRequest(service=service)).status
            == health_pb2.HealthCheckResponse.SERVING
        )
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    refl = reflection_pb2_grpc.ServerReflectionStub(channel)
    answer = next(refl.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
    names = {s.name for s in answer.list_services_response.service}
    assert "asrt.AsrtGrpcService" in names
    channel.close()


def test_concurrent_unary_calls_are_batched(stub, tiny_recognizer):
    x = tone(3.0)
    results = []

    def call():
        results.append(stub.Speech(req(pcm16(x))).status_code)

    threads = [threading.Thread(target=call) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == [200000] * 12
