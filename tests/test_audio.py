"""Audio decoding, validation, resampling and pause splitting (no model needed)."""

from __future__ import annotations

import io
import subprocess

import numpy as np
import pytest
import soundfile as sf

from asrt_service import audio
from asrt_service.errors import BadRequestFormat, PayloadTooLarge, UnsupportedAudioConfig, UnsupportedMediaType
from conftest import pcm16, tone


def test_int16_mono_roundtrip():
    x = tone(0.5)
    a = audio.decode_pcm(pcm16(x), 16000, 1, 2)
    assert a.samples.dtype == np.float32
    assert np.max(np.abs(a.samples - x)) < 1e-3
    assert a.duration_s == pytest.approx(0.5)


def test_int32_stereo_is_averaged():
    left, right = tone(0.2, 300), tone(0.2, 500)
    frames = np.stack([left, right], axis=1)
    data = (frames * (2**31 - 1)).astype("<i4").tobytes()
    a = audio.decode_pcm(data, 16000, 2, 4)
    assert np.max(np.abs(a.samples - (left + right) / 2)) < 1e-4


@pytest.mark.parametrize("width", [0, 1, 3, 5, 8])
def test_rejects_unsupported_byte_width(width):
    with pytest.raises(UnsupportedAudioConfig, match=f"byte_width {width}"):
        audio.decode_pcm(b"\0" * 48, 16000, 1, width)


@pytest.mark.parametrize("channels", [0, -1, 33])
def test_rejects_bad_channel_count(channels):
    with pytest.raises(UnsupportedAudioConfig, match=f"channels {channels}"):
        audio.decode_pcm(b"\0" * 48, 16000, channels, 2)


@pytest.mark.parametrize("rate", [0, -16000, 500, 10_000_000])
def test_rejects_bad_sample_rate(rate):
    with pytest.raises(UnsupportedAudioConfig, match=f"sample_rate {rate}"):
        audio.decode_pcm(b"\0" * 48, rate, 1, 2)


def test_rejects_byte_count_not_whole_frames():
    with pytest.raises(BadRequestFormat, match="7 bytes .* 4 bytes per frame"):
        audio.decode_pcm(b"\0" * 7, 16000, 2, 2)


def test_rejects_empty_samples():
    with pytest.raises(UnsupportedAudioConfig, match="empty"):
        audio.decode_pcm(b"", 16000, 1, 2)


@pytest.mark.parametrize("value", [16000.0, "16000", True, None, float("nan")])
def test_rejects_non_integer_fields(value):
    with pytest.raises(BadRequestFormat, match="sample_rate must be an integer"):
        audio.decode_pcm(b"\0\0", value, 1, 2)


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_resampling_preserves_a_tone(rate):
    x = tone(1.0, 440, rate)
    a = audio.decode_pcm(pcm16(x), rate, 1, 2)
    assert len(a.samples) == pytest.approx(16000, abs=2)
    spectrum = np.abs(np.fft.rfft(a.samples[1000:-1000]))
    peak_hz = np.argmax(spectrum) * 16000 / len(a.samples[1000:-1000])
    assert peak_hz == pytest.approx(440, abs=3)


def _encode(x: np.ndarray, rate: int, fmt: str, subtype: str | None = None) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("fmt", "subtype"),
    [
        ("WAV", "PCM_U8"),
        ("WAV", "PCM_16"),
        ("WAV", "PCM_24"),
        ("WAV", "PCM_32"),
        ("WAV", "FLOAT"),
        ("WAV", "DOUBLE"),
        ("FLAC", "PCM_16"),
        ("OGG", "VORBIS"),
        ("OGG", "OPUS"),
        ("MP3", None),
    ],
)
def test_decodes_whole_files(fmt, subtype):
    x = tone(1.0, 440, 48000 if subtype == "OPUS" else 22050)
    data = _encode(x, 48000 if subtype == "OPUS" else 22050, fmt, subtype)
    assert audio.looks_like_file(data)
    a = audio.decode_file(data)
    assert a.duration_s == pytest.approx(1.0, abs=0.08)
    assert 0.15 < np.max(np.abs(a.samples)) < 0.45


def test_decodes_m4a_through_ffmpeg(tmp_path):
    wav = tmp_path / "x.wav"
    sf.write(wav, tone(1.0, 440, 44100), 44100)
    m4a = tmp_path / "x.m4a"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(wav), "-c:a", "aac", str(m4a)], check=True)
    a = audio.decode_file(m4a.read_bytes())
    assert a.duration_s == pytest.approx(1.0, abs=0.1)


def test_float_wav_with_nan_is_rejected():
    x = tone(0.2)
    x[100] = np.nan
    with pytest.raises(UnsupportedAudioConfig, match="NaN or infinite"):
        audio.decode_file(_encode(x, 16000, "WAV", "FLOAT"))


def test_truncated_or_garbage_file_is_rejected():
    data = _encode(tone(0.5), 16000, "FLAC", "PCM_16")
    with pytest.raises(UnsupportedMediaType, match="could not decode"):
        audio.decode_file(data[:30])
    with pytest.raises(UnsupportedMediaType):
        audio.decode_file(b"RIFF" + b"\x13" * 200)


def test_decode_request_sniffs_files_and_needs_fields_for_pcm():
    wav = _encode(tone(0.5), 8000, "WAV", "PCM_16")
    assert audio.decode_request(wav).source_rate == 8000
    with pytest.raises(BadRequestFormat, match="sample_rate, channels"):
        audio.decode_request(pcm16(tone(0.1)), None, None, 2)


def test_check_duration_limit():
    a = audio.Audio(np.zeros(16000 * 3, np.float32))
    audio.check_duration(a, 3.0)
    with pytest.raises(PayloadTooLarge, match="3.0 s long; .* at most 2 s"):
        audio.check_duration(a, 2.0)


def _speechlike(seconds: float, rng) -> np.ndarray:
    """Bursts of modulated noise: 'words' with no silence inside."""
    n = int(seconds * 16000)
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * np.arange(n) / 16000) ** 2
    return (0.2 * env * rng.standard_normal(n)).astype(np.float32)


def test_split_cuts_inside_pauses():
    rng = np.random.default_rng(0)
    parts, pauses = [], []
    for seconds in (5.0, 6.0, 4.0, 7.0, 5.0):
        parts.append(_speechlike(seconds, rng))
        start = sum(len(p) for p in parts)
        parts.append(np.zeros(8000, np.float32))
        pauses.append((start, start + 8000))
    x = np.concatenate(parts)
    pieces = audio.split_at_pauses(x, 16.0)
    assert pieces[0][0] == 0 and pieces[-1][1] == len(x)
    assert all(e - s <= 16 * 16000 for s, e in pieces)
    for (_, end), (start, _) in zip(pieces, pieces[1:], strict=False):
        assert end == start
        assert any(a <= end <= b for a, b in pauses), f"cut at {end / 16000:.2f}s is not inside a pause"


def test_split_without_pauses_still_bounds_length():
    x = _speechlike(40.0, np.random.default_rng(1))
    pieces = audio.split_at_pauses(x, 16.0)
    assert len(pieces) >= 3
    assert all(0 < e - s <= 16 * 16000 for s, e in pieces)


def test_stream_resampler_matches_one_shot():
    x = tone(2.0, 300, 44100)
    rs = audio.StreamResampler()
    out = np.concatenate([rs.push(x[i : i + 4410], 44100) for i in range(0, len(x), 4410)] + [rs.flush()])
    ref = audio.to_16k(x, 44100)
    assert abs(len(out) - len(ref)) <= 2
    n = min(len(out), len(ref)) - 200
    assert np.max(np.abs(out[200:n] - ref[200:n])) < 1e-3


def test_pause_detection():
    x = np.concatenate([tone(1.0), np.zeros(8000, np.float32)])
    assert audio.has_speech(x)
    assert audio.trailing_pause_frames(x) == pytest.approx(50, abs=2)
    assert not audio.has_speech(np.zeros(16000, np.float32))
