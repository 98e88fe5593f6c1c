"""Shared fixtures: data paths, a tiny seeded recognizer, the shipped recognizer, live servers.

Tests on real recordings read ``../shared/data``; where that folder is absent
(a user's fresh clone) they skip, and CI sets ``ASRT_REQUIRE_SHARED_DATA=1`` to
turn the skip into a failure. The same goes for the shipped models.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from asrt_service.audio import SAMPLE_RATE, decode_file
from asrt_service.config import Settings

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ASRT_SHARED_DATA", REPO.parent / "shared" / "data"))
MODELS = REPO / "models"
REQUIRE = os.environ.get("ASRT_REQUIRE_SHARED_DATA") == "1"

#: The real THCHS30 recording the service tests use, and its gold pinyin.
REAL_CLIP = "thchs30_A2_0"


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        if REQUIRE:
            pytest.fail(f"{what} missing at {path} (ASRT_REQUIRE_SHARED_DATA=1)")
        pytest.skip(f"{what} not found at {path}")
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return _need(SHARED_DATA, "../shared/data")


@pytest.fixture(scope="session")
def real_wav(shared_data) -> Path:
    """A real 16 kHz mono int16 recording (THCHS30 speaker A2, ~9.8 s)."""
    return _need(shared_data / "real-dev" / "wav" / f"{REAL_CLIP}.wav", "real recording")


@pytest.fixture(scope="session")
def real_samples(real_wav) -> np.ndarray:
    return decode_file(real_wav.read_bytes()).samples


@pytest.fixture(scope="session")
def tiny_recognizer():
    """Same builders as production with a small spec, seeded random weights and a ten-word LM (plus single characters).

    It checks contracts and shapes in seconds; its pinyin is meaningless.
    """
    from asrt_service.acoustic_model import AcousticModel, preset
    from asrt_service.language_model import PinyinLM
    from asrt_service.recognizer import Recognizer
    from asrt_service.vocab import Vocabulary

    words = [
        ("你好", "ni3 hao3", 100),
        ("世界", "shi4 jie4", 80),
        ("我们", "wo3 men5", 90),
        ("今天", "jin1 tian1", 70),
        ("天气", "tian1 qi4", 60),
        ("很", "hen3", 90),
        ("好", "hao3", 90),
        ("北京", "bei3 jing1", 50),
        ("欢迎", "huan1 ying2", 40),
        ("你", "ni3", 100),
    ]
    # Like every real model, it can spell each syllable on its own too.
    chars = {
        "ni3": "你",
        "hao3": "好",
        "shi4": "是",
        "jie4": "界",
        "wo3": "我",
        "men5": "们",
        "jin1": "今",
        "tian1": "天",
        "qi4": "气",
        "hen3": "很",
        "bei3": "北",
        "jing1": "京",
        "huan1": "欢",
        "ying2": "迎",
    }
    words += [(c, p, 10) for p, c in chars.items()]
    syllables = sorted({s for _, p, _ in words for s in p.split()})
    vocab = Vocabulary(syllables)
    acoustic = AcousticModel.create(preset("dcnn_tiny", num_classes=vocab.num_classes), vocab, seed=7, name="tiny")
    rec = Recognizer(acoustic, PinyinLM.from_words(words), max_audio_seconds=120)
    yield rec
    rec.close()


@pytest.fixture(scope="session")
def shipped_recognizer():
    """The shipped default acoustic model + language model (what the service serves)."""
    from asrt_service.recognizer import Recognizer

    settings = Settings(
        model_dir=_need(MODELS / "zh_dcnn_v1" / "model.json", "shipped model").parent, lm_dir=MODELS / "lm"
    )
    rec = Recognizer.from_settings(settings)
    yield rec
    rec.close()


def start_servers(recognizer, **overrides):
    """Start waitress and gRPC on loopback ports picked by the OS; returns (http_url, grpc_target, stop)."""
    from asrt_service.cli.serve import start_http, stop_http
    from asrt_service.grpc_server import create_server

    settings = Settings(host="127.0.0.1", **overrides)
    http_server, thread, http_port = start_http(settings, recognizer, port=0)
    grpc_server, grpc_port = create_server(settings, recognizer, port=0)

    def stop():
        stop_http(http_server, thread)
        grpc_server.stop(grace=None)

    return f"http://127.0.0.1:{http_port}", f"127.0.0.1:{grpc_port}", stop


@pytest.fixture(scope="session")
def tiny_servers(tiny_recognizer):
    http_url, grpc_target, stop = start_servers(tiny_recognizer, max_body_mb=8.0, max_audio_seconds=60.0)
    yield http_url, grpc_target
    stop()


@pytest.fixture(scope="session")
def shipped_servers(shipped_recognizer):
    http_url, grpc_target, stop = start_servers(shipped_recognizer)
    yield http_url, grpc_target
    stop()


def pcm16(samples: np.ndarray) -> bytes:
    """float32 [-1, 1] -> little-endian int16 bytes."""
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


def tone(seconds: float, freq: float = 220.0, rate: int = SAMPLE_RATE, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
