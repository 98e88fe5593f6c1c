"""REST API against a real waitress server on a loopback port (tiny seeded model).

ASRT routes must answer HTTP 200 with ASRT's envelope and status codes, whatever
the client sent; /v1 uses HTTP statuses. Every bad input in issue #3 item 8 is here.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time

import numpy as np
import pytest
import requests
import soundfile as sf

from conftest import pcm16, tone


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


@pytest.fixture(scope="module")
def url(tiny_servers):
    return tiny_servers[0]


def asrt_post(url, path, body=None, data=None, **kw):
    r = requests.post(url + path, json=body, data=data, timeout=30, **kw)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    payload = r.json()
    assert set(payload) == {"result", "status_code", "status_message"}
    return payload


def speech_body(samples: np.ndarray, rate=16000):
    return {"samples": b64(pcm16(samples)), "sample_rate": rate, "channels": 1, "byte_width": 2}


def test_get_root_serves_the_html_page(url):
    r = requests.get(url + "/", timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    assert "<form" in r.text and "/v1/recognize" in r.text and "/speech" in r.text


def test_post_root_is_ok(url):
    assert asrt_post(url, "/", {}) == {"result": "", "status_code": 200000, "status_message": "ok"}


def test_asrt_body_keys_are_sorted(url):
    r = requests.post(url + "/", timeout=10)
    assert r.text.index('"result"') < r.text.index('"status_code"') < r.text.index('"status_message"')


def test_speech_all_language_answer(url, tiny_recognizer):
    x = tone(2.0)
    sp = asrt_post(url, "/speech", speech_body(x))
    assert sp["status_code"] == 200000 and isinstance(sp["result"], list)
    assert sp["result"] == tiny_recognizer.speech(tiny_recognizer_audio(x))
    al = asrt_post(url, "/all", speech_body(x))
    assert al["status_code"] == 200000 and isinstance(al["result"], str)
    la = asrt_post(url, "/language", {"sequence_pinyin": ["ni3", "hao3", "shi4", "jie4"]})
    assert la == {"result": "你好世界", "status_code": 200000, "status_message": "language level"}


def tiny_recognizer_audio(x):
    from asrt_service.audio import Audio

    return Audio(x)


def test_unknown_path_is_400000(url):
    p = asrt_post(url, "/recognise", {})
    assert p["status_code"] == 400000 and "/recognise" in p["status_message"]


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ({"sample_rate": 16000, "channels": 1, "byte_width": 2}, 400001, "missing field 'samples'"),
        ({"samples": "AAAA", "channels": 1, "byte_width": 2}, 400001, "missing field 'sample_rate'"),
        ({"samples": "@@@@", "sample_rate": 16000, "channels": 1, "byte_width": 2}, 400001, "not valid base64"),
        ({"samples": 12, "sample_rate": 16000, "channels": 1, "byte_width": 2}, 400001, "must be a base64 string"),
        (
            {"samples": b64(b"\0" * 7), "sample_rate": 16000, "channels": 2, "byte_width": 2},
            400001,
            "not a whole number of frames",
        ),
        ({"samples": b64(b"\0" * 48), "sample_rate": 16000, "channels": 1, "byte_width": 3}, 400002, "byte_width 3"),
        (
            {"samples": b64(b"\0" * 48), "sample_rate": 16000, "channels": 9000, "byte_width": 2},
            400002,
            "channels 9000",
        ),
        ({"samples": b64(b"\0" * 48), "sample_rate": 0, "channels": 1, "byte_width": 2}, 400002, "sample_rate 0"),
        ({"samples": "", "sample_rate": 16000, "channels": 1, "byte_width": 2}, 400002, "empty"),
        ({"samples": "AAAA", "sample_rate": "16000", "channels": 1, "byte_width": 2}, 400001, "must be an integer"),
        ({"samples": "AAAA", "sample_rate": 16000.5, "channels": 1, "byte_width": 2}, 400001, "must be an integer"),
        ([1, 2, 3], 400001, "must be a JSON object"),
    ],
)
@pytest.mark.parametrize("route", ["/speech", "/all"])
def test_bad_audio_requests(url, route, body, code, message):
    p = asrt_post(url, route, body)
    assert p["status_code"] == code
    assert message in p["status_message"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "empty"),
        (b'{"samples": "AAAA", "sample_rate": NaN, "channels": 1, "byte_width": 2}', "NaN is not a valid JSON number"),
        (b'{"samples": "AAAA", "sample_rate": Infinity, "channels": 1, "byte_width": 2}', "Infinity"),
        (b"\xff\xfe\x00", "not UTF-8"),
    ],
)
def test_malformed_json(url, raw, message):
    p = asrt_post(url, "/all", data=raw, headers={"Content-Type": "application/json"})
    assert p["status_code"] == 400001 and message in p["status_message"]


def test_silence_gives_empty_result(url):
    p = asrt_post(url, "/all", speech_body(np.zeros(16000 * 3, np.float32)))
    assert p["status_code"] == 200000


def test_too_long_audio_is_400002(url):
    p = asrt_post(url, "/speech", speech_body(np.zeros(16000 * 61, np.float32) + 0.01))
    assert p["status_code"] == 400002 and "at most 60 s" in p["status_message"]


def test_enormous_body_is_400002_on_asrt_routes_and_413_on_v1(url):
    big = b"x" * (9 * 1024 * 1024)
    p = asrt_post(url, "/speech", data=big, headers={"Content-Type": "application/json"})
    assert p["status_code"] == 400002 and "8 MB" in p["status_message"]
    r = requests.post(url + "/v1/recognize", data=big, headers={"Content-Type": "audio/wav"}, timeout=30)
    assert r.status_code == 413 and "8 MB" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ({}, 400001, "missing field 'sequence_pinyin'"),
        ({"sequence_pinyin": "ni3 hao3"}, 400001, "must be a list"),
        ({"sequence_pinyin": ["ni3", 5]}, 400001, "list of strings"),
    ],
)
def test_bad_language_requests(url, body, code, message):
    p = asrt_post(url, "/language", body)
    assert p["status_code"] == code and message in p["status_message"]


def test_unknown_pinyin_is_reported_not_fatal(url):
    p = asrt_post(url, "/language", {"sequence_pinyin": ["ni3", "hao3", "xyz9", "shi4", "jie4"]})
    assert p["status_code"] == 200000
    assert p["result"] == "你好世界"
    assert "xyz9" in p["status_message"]


def test_empty_pinyin_list(url):
    assert asrt_post(url, "/language", {"sequence_pinyin": []})["result"] == ""


def test_whole_wav_file_in_samples_field(url):
    buf = io.BytesIO()
    sf.write(buf, tone(1.0, 300, 44100), 44100, format="WAV", subtype="PCM_16")
    p = asrt_post(url, "/speech", {"samples": b64(buf.getvalue())})
    assert p["status_code"] == 200000


# --- /v1 -----------------------------------------------------------------------


def wav_bytes(x, rate=16000, fmt="WAV"):
    buf = io.BytesIO()
    sf.write(buf, x, rate, format=fmt)
    return buf.getvalue()


def test_v1_recognize_multipart(url):
    r = requests.post(
        url + "/v1/recognize", files={"file": ("a.flac", wav_bytes(tone(2.0), 16000, "FLAC"))}, timeout=30
    )
    assert r.status_code == 200
    body = r.json()
    assert set(body) >= {"text", "pinyin", "segments", "duration_s", "model", "timings_ms"}
    assert body["duration_s"] == pytest.approx(2.0, abs=0.01) and body["model"] == "tiny"
    assert body["segments"][0]["start"] == 0.0


def test_v1_recognize_raw_body_and_json(url):
    r = requests.post(
        url + "/v1/recognize", data=wav_bytes(tone(1.0)), headers={"Content-Type": "audio/wav"}, timeout=30
    )
    assert r.status_code == 200
    r = requests.post(
        url + "/v1/recognize", json={"audio": base64.b64encode(wav_bytes(tone(1.0))).decode()}, timeout=30
    )
    assert r.status_code == 200
    r = requests.post(url + "/v1/speech", json=speech_body(tone(1.0)), timeout=30)
    assert r.status_code == 200 and isinstance(r.json()["pinyin"], list)


@pytest.mark.parametrize(
    ("kwargs", "status", "message"),
    [
        ({"data": b"not audio", "headers": {"Content-Type": "audio/wav"}}, 415, "could not decode"),
        ({"data": b"hello", "headers": {"Content-Type": "text/plain"}}, 415, "Content-Type"),
        ({"json": {"samples": "@@"}}, 400, "base64"),
        (
            {"json": {"samples": b64(b"\0" * 8), "sample_rate": 16000, "channels": 1, "byte_width": 3}},
            422,
            "byte_width 3",
        ),
    ],
)
def test_v1_errors_use_http_statuses(url, kwargs, status, message):
    r = requests.post(url + "/v1/recognize", timeout=30, **kwargs)
    assert r.status_code == status
    assert message in r.json()["error"]["message"]


def test_v1_language(url):
    r = requests.post(url + "/v1/language", json={"pinyin": ["ni3", "hao3"]}, timeout=10)
    assert r.json() == {"text": "你好", "unknown": []}
    assert requests.post(url + "/v1/language", json={"x": 1}, timeout=10).status_code == 400


def test_health_ready_models_openapi(url):
    assert requests.get(url + "/healthz", timeout=5).json()["status"] == "alive"
    assert requests.get(url + "/readyz", timeout=5).json() == {"status": "ready", "model": "tiny"}
    assert requests.get(url + "/v1/models", timeout=5).json()["models"][0]["name"] == "tiny"
    spec = requests.get(url + "/openapi.json", timeout=5).json()
    assert spec["openapi"].startswith("3.")
    for path in (
        "/",
        "/speech",
        "/all",
        "/language",
        "/v1/recognize",
        "/v1/speech",
        "/v1/language",
        "/healthz",
        "/readyz",
        "/v1/models",
    ):
        assert path in spec["paths"], path


def test_v1_unknown_route_is_404_json(url):
    r = requests.get(url + "/v1/nothing", timeout=5)
    assert r.status_code in (404, 405) and "error" in r.json()
    r = requests.post(url + "/v1/nothing", timeout=5)
    assert r.status_code == 404 and "unknown path" in r.json()["error"]["message"]


def test_request_id_is_echoed(url):
    r = requests.post(url + "/", headers={"X-Request-Id": "abc123"}, timeout=5)
    assert r.headers["X-Request-Id"] == "abc123"


def test_bad_requests_do_not_disturb_concurrent_good_ones(url):
    good = speech_body(tone(1.5))
    results, errors = [], []

    def worker(i):
        try:
            if i % 2:
                results.append(asrt_post(url, "/speech", good)["status_code"])
            else:
                errors.append(
                    asrt_post(url, "/speech", {"samples": "@@", "sample_rate": 1, "channels": 1, "byte_width": 2})[
                        "status_code"
                    ]
                )
        except Exception as exc:  # surfaced by the assertions below
            errors.append(repr(exc))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == [200000] * 8
    assert errors == [400001] * 8
    assert asrt_post(url, "/", {})["status_code"] == 200000


def test_openapi_document_is_committed_and_valid_json():
    from importlib import resources

    text = resources.files("asrt_service").joinpath("static/openapi.json").read_text(encoding="utf-8")
    assert json.loads(text)["info"]["title"]


def test_openapi_covers_every_flask_route(tiny_recognizer):
    from importlib import resources

    from asrt_service.config import Settings
    from asrt_service.http_app import create_app

    spec = json.loads(resources.files("asrt_service").joinpath("static/openapi.json").read_text(encoding="utf-8"))
    app = create_app(Settings(), tiny_recognizer)
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = rule.rule.replace("<path:level>", "{path}")
        assert path in spec["paths"], f"{rule.rule} missing from openapi.json"
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in spec["paths"][path], f"{method} {rule.rule} missing from openapi.json"


def test_v1_language_custom_words_per_request(url):
    base = requests.post(url + "/v1/language", json={"pinyin": ["tian1", "qi4"]}, timeout=10).json()["text"]
    assert base == "天气"
    r = requests.post(
        url + "/v1/language", json={"pinyin": ["tian1", "qi4"], "words": ["添器 tian1 qi4 1000"]}, timeout=10
    )
    assert r.json()["text"] == "添器"
    r = requests.post(
        url + "/v1/language",
        json={"pinyin": ["tian1", "qi4"], "words": [{"word": "添器", "pinyin": ["tian1", "qi4"], "weight": 1000}]},
        timeout=10,
    )
    assert r.json()["text"] == "添器"
    # the custom word was for that request only
    assert requests.post(url + "/v1/language", json={"pinyin": ["tian1", "qi4"]}, timeout=10).json()["text"] == "天气"


def test_v1_bad_custom_words(url):
    r = requests.post(url + "/v1/language", json={"pinyin": ["tian1"], "words": {"a": 1}}, timeout=10)
    assert r.status_code == 400 and "words" in r.json()["error"]["message"]
    r = requests.post(url + "/v1/language", json={"pinyin": ["tian1"], "words": ["添器 tian1 qi4 -3"]}, timeout=10)
    assert r.status_code == 400 and "positive" in r.json()["error"]["message"]


def test_v1_recognize_accepts_words_field(url):
    r = requests.post(
        url + "/v1/recognize",
        files={"file": ("a.wav", wav_bytes(tone(1.0)))},
        data={"words": "添器 tian1 qi4 5"},
        timeout=30,
    )
    assert r.status_code == 200


def test_stop_closes_keep_alive_connections_and_the_loop_thread(tiny_recognizer, monkeypatch):
    """Stopping REST must end waitress's loop even with a client connection left open,
    without an exception in the loop thread (closing sockets under its select())."""
    import http.client

    from asrt_service.cli.serve import start_http, stop_http
    from asrt_service.config import Settings

    errors, loop_threads = [], []
    default_hook = threading.excepthook

    def hook(args):
        # Only the loop threads started here count; any other thread's exception
        # (another test's, ending during this one) goes to the usual hook.
        if args.thread in loop_threads:
            errors.append(args.exc_value)
        else:
            default_hook(args)

    monkeypatch.setattr(threading, "excepthook", hook)
    for _ in range(3):
        server, thread, port = start_http(Settings(host="127.0.0.1"), tiny_recognizer, port=0)
        loop_threads.append(thread)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", "/readyz")
            assert conn.getresponse().read()  # keep-alive: the connection stays open
            stop_http(server, thread, timeout=5)
            assert not thread.is_alive()
        finally:
            conn.close()
    assert errors == []


def test_stop_ends_the_loop_even_if_it_cannot_be_woken(tiny_recognizer, monkeypatch):
    """A trigger that cannot be written (closed under us) must not make stopping raise
    or hang: the loop sees the stop flag at its next poll timeout and closes its sockets."""
    import errno
    import http.client

    from asrt_service.cli.serve import start_http, stop_http
    from asrt_service.config import Settings

    server, thread, port = start_http(Settings(host="127.0.0.1"), tiny_recognizer, port=0)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/readyz")
        assert conn.getresponse().read()

        def broken(*_):
            raise OSError(errno.EBADF, "Bad file descriptor")

        monkeypatch.setattr(server.trigger, "pull_trigger", broken)
        t0 = time.monotonic()
        stop_http(server, thread, timeout=5)
        assert not thread.is_alive() and time.monotonic() - t0 < 4
        assert server._map == {}  # every socket, the kept-alive one included, is closed
    finally:
        conn.close()
