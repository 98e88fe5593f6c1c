"""Features: ASRT's spectrogram exactly as PROTOCOL.md states it, and our log-mel."""

from __future__ import annotations

import math

import numpy as np
import pytest

from asrt_service import features


def _tone(freq: float, seconds: float, amp: float = 0.3, rate: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * math.pi * freq * t)).astype(np.float32)


def _asrt_reference(wave: np.ndarray) -> np.ndarray:
    """PROTOCOL.md read literally, one frame at a time."""
    x = wave.astype(np.float64) * 32768.0
    n = np.arange(400)
    window = 0.54 - 0.46 * np.cos(2 * np.pi * n / 399)
    rows = []
    start = 0
    while start + 400 <= len(x):
        frame = x[start : start + 400] * window
        rows.append(np.log(1.0 + np.abs(np.fft.fft(frame))[:200]))
        start += 160
    return np.array(rows)


@pytest.mark.parametrize("num_samples", [400, 401, 559, 560, 16000, 48123])
def test_asrt_spectrogram_matches_protocol(num_samples):
    rng = np.random.default_rng(num_samples)
    wave = (rng.standard_normal(num_samples) * 0.1).astype(np.float32)
    got = features.extract(wave, "asrt_spectrogram")
    assert got.dtype == np.float32
    assert got.shape == (1 + (num_samples - 400) // 160, 200)
    np.testing.assert_allclose(got, _asrt_reference(wave), rtol=1e-5, atol=1e-4)


def test_asrt_spectrogram_uses_int16_scale():
    # A full-scale 1 kHz tone: bin 25 (1000 Hz / 40 Hz per bin) holds about
    # 32768 * 0.5 * sum(window) / 2 ~ 0.3 * 32768 * 54 in magnitude.
    feats = features.extract(_tone(1000, 0.5, amp=0.3), "asrt_spectrogram")
    peak = int(np.argmax(feats[5]))
    assert peak == 25
    assert feats[5, peak] == pytest.approx(math.log1p(0.3 * 32768 * np.hamming(400).sum() / 2), rel=0.02)


def test_logmel80_shape_mean_and_gain_invariance():
    rng = np.random.default_rng(0)
    wave = (_tone(440, 2.0) + 0.05 * rng.standard_normal(32000)).astype(np.float32)
    feats = features.extract(wave, "logmel80")
    assert feats.shape == (1 + (32000 - 400) // 160, 80)
    assert feats.dtype == np.float32
    np.testing.assert_allclose(feats.mean(axis=0), 0.0, atol=1e-4)
    quieter = features.extract(wave * 0.25, "logmel80")
    # Mean removal cancels gain; only the noise floor makes a small difference.
    assert np.abs(quieter - feats).mean() < 0.05


def _speechlike(seconds: float = 2.0) -> np.ndarray:
    """Bursts of tones between pauses, over a faint noise floor."""
    rng = np.random.default_rng(1)
    wave = 0.001 * rng.standard_normal(int(seconds * 16000))
    for i, start in enumerate(range(2000, len(wave) - 4000, 6000)):
        wave[start : start + 3200] += _tone(300 + 200 * i, 0.2, amp=0.3)
    return wave.astype(np.float32)


def test_logmel80_norm_ignores_dc_offset_and_recording_level():
    wave = _speechlike()
    feats = features.extract(wave, "logmel80_norm")
    assert feats.shape == features.extract(wave, "logmel80").shape
    np.testing.assert_allclose(feats.mean(axis=0), 0.0, atol=1e-4)
    # A DC offset (a cheap sound card) and a 26 dB quieter microphone change
    # logmel80 a lot and logmel80_norm hardly at all.
    for other in (wave + 0.02, wave * 0.05):
        assert np.abs(features.extract(other, "logmel80_norm") - feats).mean() < 0.01
        assert np.abs(features.extract(other, "logmel80") - features.extract(wave, "logmel80")).mean() > 0.05


def test_logmel80_norm_boosts_quiet_input_only_so_far():
    wave = _speechlike()  # speech level about -13 dBFS
    loud = features.extract(wave, "logmel80_norm")
    # 40 dB down needs 23 dB of boost: fully restored.
    assert np.abs(features.extract(wave * 0.01, "logmel80_norm") - loud).mean() < 1e-3
    # 60 dB down would need 43 dB; the 30 dB limit leaves it 13 dB below the
    # reference, so its pauses sink into the floor (a room's noise stays quiet).
    assert np.abs(features.extract(wave * 0.001, "logmel80_norm") - loud).mean() > 0.1
    silent = features.extract(np.zeros(16000, np.float32), "logmel80_norm")
    assert np.all(np.isfinite(silent)) and np.abs(silent).max() < 1e-4


def test_logmel80_tone_lands_in_the_right_band():
    # Silence then a tone: after mean removal the tone frames still peak in
    # the band whose filter is largest at 1 kHz.
    wave = np.concatenate([np.zeros(8000, np.float32), _tone(1000, 0.5, amp=0.5)])
    feats = features.extract(wave, "logmel80")
    filters = features.mel_filterbank()
    bin_1k = round(1000 / (16000 / 512))
    assert int(np.argmax(feats[-10])) == int(np.argmax(filters[bin_1k]))


@pytest.mark.parametrize("kind", features.KINDS)
def test_shorter_than_one_window_gives_zero_frames(kind):
    out = features.extract(np.zeros(399, np.float32), kind)
    assert out.shape == (0, features.n_features(kind))


@pytest.mark.parametrize(
    ("wave", "kind", "message"),
    [
        (np.zeros((2, 800), np.float32), "logmel80", "1-D"),
        (np.zeros(800, np.int16), "logmel80", "float"),
        (np.full(800, np.nan, np.float32), "asrt_spectrogram", "NaN"),
        (np.zeros(800, np.float32), "mfcc", "unknown feature kind"),
    ],
)
def test_rejects_bad_input_naming_the_problem(wave, kind, message):
    with pytest.raises(ValueError, match=message):
        features.extract(wave, kind)


def test_tempo_view_stretches_time_and_keeps_each_band():
    ramp = np.arange(100, dtype=np.float32)[:, None] * np.linspace(1, 2, 80, dtype=np.float32)[None, :]
    assert features.tempo_view(ramp, 1.0) is ramp
    slow = features.tempo_view(ramp, 0.8)
    assert slow.shape == (125, 80) and slow.dtype == np.float32
    # Linear interpolation in time: a ramp stays the same ramp, first and last frames kept.
    np.testing.assert_allclose(slow, np.linspace(0, 99, 125)[:, None] * ramp[1][None, :], rtol=1e-5, atol=1e-4)
    assert features.tempo_view(ramp, 1.25).shape == (80, 80)
    assert features.tempo_view(ramp[:1], 0.5).shape == (1, 80)  # one frame cannot be stretched
