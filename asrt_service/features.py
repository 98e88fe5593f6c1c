"""Acoustic features: waveform -> (frames, n_features) float32, numpy only.

Two kinds share one framing (400-sample / 25 ms windows, 160-sample / 10 ms hop,
``frames = 1 + (len - 400) // 160``), so every model's time stride means the
same thing in seconds:

* ``asrt_spectrogram`` reproduces ASRT's input exactly (PROTOCOL.md): samples
  at int16 scale, Hamming window, ``|FFT|`` bins 0..199, ``log(1 + x)``. Weights
  trained by ASRT only work on this.
* ``logmel80`` is our default: Hann window, 512-point power spectrum, 80
  triangular mel filters (20 Hz - 7.6 kHz), ``log`` with a floor at about
  -65 dBFS, then per-utterance mean subtraction per band. The floor keeps the
  digital silence of synthetic speech from looking unlike a real room's noise
  floor, and the mean subtraction removes channel gain and microphone colour,
  which is most of what differs between our synthetic training audio and real
  recordings.
* ``logmel80_norm`` is ``logmel80`` with two front-end steps that make it
  blind to how a recording was captured rather than what was said: each frame's
  DC offset is removed before the window (cheap sound cards add one; THCHS30's
  recordings sit at about -39 dBFS of DC), and the utterance's speech level
  (95th percentile of frame energy) is brought to -30 dBFS before the floor,
  with at most +30 dB of boost so that a clip of room noise is not raised
  far above where it was. Without it a recording 25 dB quieter than usual loses half
  its syllables to the floor (bench/front_end.py).

No TensorFlow here: the service extracts features in its request threads.
"""

from __future__ import annotations

import functools
import logging

import numpy as np

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
WINDOW = 400
HOP = 160

KINDS = ("asrt_spectrogram", "logmel80", "logmel80_norm")

_N_FEATURES = {"asrt_spectrogram": 200, "logmel80": 80, "logmel80_norm": 80}

# Power floor of the log-mel features: roughly white noise at -65 dBFS after
# the Hann window and mel filters (see module docstring).
_LOGMEL_FLOOR = 1e-4
# logmel80_norm: speech level (95th percentile of frame mean-square energy)
# is scaled to this, boosting by at most _MAX_BOOST_DB.
_LEVEL_DBFS = -30.0
_LEVEL_PERCENTILE = 95
_MAX_BOOST_DB = 30.0


def n_features(kind: str) -> int:
    """Feature width of ``kind``.

    Raises:
        ValueError: unknown kind.
    """
    try:
        return _N_FEATURES[kind]
    except KeyError:
        raise ValueError(f"unknown feature kind {kind!r}; expected one of {KINDS}") from None


def num_frames(num_samples: int) -> int:
    """Frames produced for ``num_samples`` samples (0 when shorter than one window)."""
    if num_samples < WINDOW:
        return 0
    return 1 + (num_samples - WINDOW) // HOP


def frame_signal(x: np.ndarray) -> np.ndarray:
    """Split a 1-D signal into overlapping frames.

    Args:
        x: 1-D array.

    Returns:
        Array (num_frames(len(x)), 400), a strided view (read only).
    """
    n = num_frames(len(x))
    if n == 0:
        return np.zeros((0, WINDOW), dtype=x.dtype)
    return np.lib.stride_tricks.sliding_window_view(x, WINDOW)[::HOP][:n]


@functools.cache
def _hamming() -> np.ndarray:
    # ASRT's window is the symmetric Hamming window 0.54 - 0.46 cos(2 pi n / (N - 1)).
    return np.hamming(WINDOW).astype(np.float64)


@functools.cache
def _hann() -> np.ndarray:
    return np.hanning(WINDOW + 2)[1:-1].astype(np.float32)


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + hz / 700.0)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


@functools.cache
def mel_filterbank(n_mels: int = 80, n_fft: int = 512, fmin: float = 20.0, fmax: float = 7600.0) -> np.ndarray:
    """Triangular mel filters (HTK mel scale), peak 1.

    Returns:
        float32 array (n_fft // 2 + 1, n_mels).
    """
    edges = _mel_to_hz(np.linspace(_hz_to_mel(np.float64(fmin)), _hz_to_mel(np.float64(fmax)), n_mels + 2))
    bins = np.fft.rfftfreq(n_fft, 1.0 / SAMPLE_RATE)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None, :] - lower) / (centre - lower)
    falling = (upper - bins[None, :]) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    return weights.T.astype(np.float32)


def _check_waveform(waveform: np.ndarray) -> np.ndarray:
    x = np.asarray(waveform)
    if x.ndim != 1:
        raise ValueError(f"waveform must be 1-D (mono), got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"waveform must be float in [-1, 1], got dtype {x.dtype}")
    if x.size and not np.all(np.isfinite(x)):
        raise ValueError("waveform contains NaN or infinite samples")
    return x


def asrt_spectrogram(waveform: np.ndarray) -> np.ndarray:
    """ASRT's spectrogram (PROTOCOL.md): float32 (frames, 200)."""
    x = _check_waveform(waveform).astype(np.float64) * 32768.0
    frames = frame_signal(x) * _hamming()
    mag = np.abs(np.fft.fft(frames, axis=1)[:, :200])
    return np.log1p(mag).astype(np.float32)


def _logmel(frames: np.ndarray, gain: float = 1.0) -> np.ndarray:
    if len(frames) == 0:
        return np.zeros((0, 80), dtype=np.float32)
    spec = np.fft.rfft(frames * _hann(), n=512, axis=1)
    power = (spec.real**2 + spec.imag**2).astype(np.float32)
    logmel = np.log(power @ mel_filterbank() * np.float32(gain) + _LOGMEL_FLOOR)
    logmel -= logmel.mean(axis=0, keepdims=True)
    return logmel.astype(np.float32)


def logmel80(waveform: np.ndarray) -> np.ndarray:
    """Our first features: float32 (frames, 80), per-utterance mean removed."""
    x = _check_waveform(waveform).astype(np.float32)
    return _logmel(frame_signal(x))


def level_gain(frames: np.ndarray) -> float:
    """Power gain that brings DC-free ``frames`` to the reference speech level.

    1.0 for digital silence; never more than ``_MAX_BOOST_DB`` of boost.
    """
    if len(frames) == 0:
        return 1.0
    level = float(np.percentile(np.mean(np.square(frames, dtype=np.float64), axis=1), _LEVEL_PERCENTILE))
    if level <= 1e-12:
        return 1.0
    return min(10.0 ** (_LEVEL_DBFS / 10.0) / level, 10.0 ** (_MAX_BOOST_DB / 10.0))


def logmel80_norm(waveform: np.ndarray) -> np.ndarray:
    """``logmel80`` after per-frame DC removal and speech-level normalisation."""
    x = _check_waveform(waveform).astype(np.float32)
    frames = frame_signal(x)
    frames = frames - frames.mean(axis=1, keepdims=True)
    return _logmel(frames, level_gain(frames))


def resample_axis(x: np.ndarray, positions: np.ndarray, axis: int) -> np.ndarray:
    """``x`` linearly interpolated at fractional ``positions`` along ``axis`` (clamped to its ends)."""
    n = x.shape[axis]
    lo = np.clip(np.floor(positions).astype(np.int64), 0, n - 1)
    hi = np.clip(lo + 1, 0, n - 1)
    w = (positions - lo).astype(np.float32)
    a, b = np.take(x, lo, axis=axis), np.take(x, hi, axis=axis)
    shape = [1] * x.ndim
    shape[axis] = -1
    w = w.reshape(shape)
    return a * (1.0 - w) + b * w


def tempo_view(feats: np.ndarray, rate: float) -> np.ndarray:
    """Features of the same speech at ``rate`` times its speaking rate (< 1: slower).

    The time axis is stretched to ``round(frames / rate)`` frames by linear
    interpolation between frames; the spectrum of each frame, and so pitch and
    timbre, stay as they are. The trainer's ``--tempo`` augmentation and the
    acoustic model's test-time tempo views both use this.

    Args:
        feats: float32 (frames, n_features).
        rate: speaking-rate factor, > 0.

    Returns:
        float32 (round(frames / rate), n_features); ``feats`` itself for rate 1.
    """
    t = feats.shape[0]
    new_t = int(round(t / rate))
    if rate == 1.0 or t < 2 or new_t == t:
        return feats
    return resample_axis(feats, np.linspace(0, t - 1, new_t), axis=0).astype(np.float32, copy=False)


def extract(waveform: np.ndarray, kind: str) -> np.ndarray:
    """Features of one waveform.

    Args:
        waveform: float32 mono 16 kHz samples in [-1, 1] (int16 full scale = 1).
        kind: one of ``KINDS``.

    Returns:
        float32 array (frames, n_features(kind)), ``frames = 1 + (len - 400) // 160``
        (0 frames for fewer than 400 samples).

    Raises:
        ValueError: unknown kind, or a waveform that is not 1-D float and finite.
    """
    if kind == "asrt_spectrogram":
        return asrt_spectrogram(waveform)
    if kind == "logmel80":
        return logmel80(waveform)
    if kind == "logmel80_norm":
        return logmel80_norm(waveform)
    raise ValueError(f"unknown feature kind {kind!r}; expected one of {KINDS}")
