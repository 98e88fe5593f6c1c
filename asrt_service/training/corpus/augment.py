"""Augmentation: make clean TTS audio sound like many rooms, microphones and people.

All functions take and return a 1-D float32 waveform at 16 kHz (the package's
audio convention) and never touch labels. Length rules, relied on by tests and
by the list files: everything keeps the input length except
:func:`speed_perturb` (length / factor, like Kaldi's speed perturbation),
:func:`tempo_change` (the same length rule, pitch kept) and :func:`change_voice`
with a duration factor.

:func:`random_chain` draws one augmentation recipe per utterance from a seeded
generator, so a corpus is reproducible from its seed.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import subprocess
from collections.abc import Sequence

import numpy as np
import soxr
from scipy import signal

logger = logging.getLogger(__name__)

SR = 16000


def resample(x: np.ndarray, sr_in: int, sr_out: int = SR) -> np.ndarray:
    """Band-limited resampling (soxr, high quality); float32 out."""
    if sr_in == sr_out:
        return np.asarray(x, np.float32)
    return soxr.resample(np.asarray(x, np.float32), sr_in, sr_out, quality="HQ").astype(np.float32)


def speed_perturb(x: np.ndarray, factor: float) -> np.ndarray:
    """Play ``factor`` times faster (tempo and pitch together); length ~ len / factor."""
    if factor <= 0:
        raise ValueError(f"speed factor must be positive, got {factor}")
    if abs(factor - 1.0) < 1e-6:
        return x.astype(np.float32)
    # Pretend the audio was recorded at SR*factor and resample to SR.
    return resample(x, int(round(SR * factor)), SR)


def tempo_change(x: np.ndarray, factor: float) -> np.ndarray:
    """Speak ``factor`` times faster with pitch and timbre kept (sox ``tempo -s``, WSOLA); length ~ len / factor.

    A slow or fast speaker rather than a tape played at another speed
    (:func:`speed_perturb`).

    Raises:
        ValueError: factor not positive.
        RuntimeError: sox missing or failed.
    """
    if factor <= 0:
        raise ValueError(f"tempo factor must be positive, got {factor}")
    exe = shutil.which("sox")
    if exe is None:
        raise RuntimeError("sox is not installed (apt-get install sox)")
    raw = ["-t", "raw", "-e", "floating-point", "-b", "32", "-L", "-r", str(SR), "-c", "1"]
    done = subprocess.run(
        [exe, *raw, "-", *raw, "-", "tempo", "-s", str(factor)],
        input=np.asarray(x, "<f4").tobytes(),
        capture_output=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"sox tempo failed: {done.stderr.decode(errors='replace')[-300:]}")
    return np.frombuffer(done.stdout, "<f4").astype(np.float32)


def change_voice(
    x: np.ndarray,
    formant_ratio: float,
    pitch_median_hz: float,
    pitch_range: float = 1.0,
    duration: float = 1.0,
    sr: int = SR,
) -> np.ndarray:
    """Praat's "Change gender": move formants (vocal-tract length) and the pitch contour.

    Args:
        x: waveform at ``sr``.
        formant_ratio: >1 shortens the vocal tract (child/female-like), <1 lengthens it.
        pitch_median_hz: new median f0 (0 keeps the original).
        pitch_range: scale of f0 excursions around the median (tones survive).
        duration: time-stretch factor (1 keeps the length).
        sr: sample rate of ``x``.

    Returns:
        float32 waveform at ``sr``, length ~ ``len(x) * duration``.
    """
    import parselmouth
    from parselmouth.praat import call

    snd = parselmouth.Sound(np.asarray(x, np.float64), sampling_frequency=sr)
    out = call(snd, "Change gender", 75, 600, formant_ratio, pitch_median_hz, pitch_range, duration)
    y = out.values[0].astype(np.float32)
    if int(out.sampling_frequency) != sr:
        y = resample(y, int(out.sampling_frequency), sr)
    return y


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)) + 1e-12))


def coloured_noise(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Noise with power spectrum ~ 1/f**exponent (0 white, 1 pink, 2 brown)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / SR)
    f[0] = f[1] if n > 1 else 1.0
    spec *= f ** (-exponent / 2)
    y = np.fft.irfft(spec, n)
    return (y / (_rms(y) + 1e-12)).astype(np.float32)


def babble(n: int, pool: Sequence[np.ndarray], rng: np.random.Generator, talkers: int = 4) -> np.ndarray:
    """Several other utterances overlaid, each at a random offset, looped to ``n`` samples."""
    if not pool:
        return coloured_noise(n, 1.0, rng)
    out = np.zeros(n, np.float32)
    for _ in range(talkers):
        u = pool[int(rng.integers(len(pool)))]
        if len(u) == 0:
            continue
        reps = int(np.ceil((n + len(u)) / len(u)))
        loop = np.tile(u, reps)
        start = int(rng.integers(len(u)))
        seg = loop[start : start + n]
        out += seg / (_rms(seg) + 1e-6)
    return out / (_rms(out) + 1e-12)


def add_noise(x: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """Mix ``noise`` (same length) into ``x`` at the given speech-to-noise ratio."""
    if len(noise) != len(x):
        raise ValueError(f"noise has {len(noise)} samples, speech {len(x)}")
    scale = _rms(x) / (_rms(noise) * 10 ** (snr_db / 20))
    return (x + scale * noise).astype(np.float32)


def synthetic_rir(rt60: float, rng: np.random.Generator, direct_ratio_db: float = 0.0) -> np.ndarray:
    """A room impulse response: direct path, sparse early reflections, exponential tail.

    Args:
        rt60: reverberation time in seconds (60 dB decay).
        rng: random generator.
        direct_ratio_db: energy of the direct path over the reverberant tail.
    """
    n = int(SR * min(1.2 * rt60, 1.0)) + 1
    t = np.arange(n) / SR
    tail = rng.standard_normal(n) * np.exp(-6.908 * t / rt60)  # ln(1000) = 6.908: -60 dB at rt60
    # Low-pass the tail slightly: walls absorb high frequencies faster.
    b, a = signal.butter(2, 0.6)
    tail = signal.lfilter(b, a, tail)
    tail[: int(0.002 * SR)] = 0
    for _ in range(6):
        k = int(rng.integers(int(0.003 * SR), int(0.05 * SR)))
        if k < n:
            tail[k] += rng.uniform(-0.6, 0.6)
    tail /= np.sqrt(np.sum(tail**2)) + 1e-12
    h = tail * 10 ** (-direct_ratio_db / 20)
    h[0] += 1.0
    return (h / np.max(np.abs(h))).astype(np.float32)


def reverberate(x: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """Convolve with an impulse response; same length and RMS as the input."""
    y = signal.fftconvolve(x, rir)[: len(x)]
    return (y * (_rms(x) / (_rms(y) + 1e-12))).astype(np.float32)


def telephone(x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """Narrow-band telephone channel: 300-3400 Hz, 8 kHz, mu-law, back to 16 kHz."""
    y = resample(x, SR, 8000)
    sos = signal.butter(4, [300, 3400], btype="bandpass", fs=8000, output="sos")
    y = signal.sosfilt(sos, y)
    # G.711 mu-law companding: 8-bit quantisation noise shaped like a real line.
    mu = 255.0
    peak = max(float(np.max(np.abs(y))), 1e-6)
    c = np.sign(y / peak) * np.log1p(mu * np.abs(y / peak)) / np.log1p(mu)
    c = np.round(c * 127) / 127
    y = np.sign(c) * ((1 + mu) ** np.abs(c) - 1) / mu * peak
    return _fit(resample(y.astype(np.float32), 8000, SR), len(x))


def _fit(y: np.ndarray, n: int) -> np.ndarray:
    if len(y) >= n:
        return y[:n].astype(np.float32)
    return np.pad(y, (0, n - len(y))).astype(np.float32)


def codec_roundtrip(x: np.ndarray, codec: str, bitrate_kbps: int) -> np.ndarray:
    """Encode with ffmpeg (``mp3`` or ``opus``) and decode again; same length out.

    Raises:
        ValueError: unknown codec.
        RuntimeError: ffmpeg missing or failed.
    """
    fmt = {"mp3": ("libmp3lame", "mp3"), "opus": ("libopus", "ogg")}
    if codec not in fmt:
        raise ValueError(f"unknown codec {codec!r}; known: {sorted(fmt)}")
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise RuntimeError("ffmpeg is not installed (apt-get install ffmpeg)")
    enc, container = fmt[codec]
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()
    common = [exe, "-hide_banner", "-loglevel", "error", "-nostdin"]
    encoded = subprocess.run(
        [
            *common,
            "-f",
            "s16le",
            "-ar",
            str(SR),
            "-ac",
            "1",
            "-i",
            "pipe:0",
            "-c:a",
            enc,
            "-b:a",
            f"{bitrate_kbps}k",
            "-f",
            container,
            "pipe:1",
        ],
        input=pcm,
        capture_output=True,
    )
    if encoded.returncode != 0:
        raise RuntimeError(f"ffmpeg {codec} encode failed: {encoded.stderr.decode(errors='replace')[-300:]}")
    decoded = subprocess.run(
        [*common, "-f", container, "-i", "pipe:0", "-f", "s16le", "-ar", str(SR), "-ac", "1", "pipe:1"],
        input=encoded.stdout,
        capture_output=True,
    )
    if decoded.returncode != 0:
        raise RuntimeError(f"ffmpeg {codec} decode failed: {decoded.stderr.decode(errors='replace')[-300:]}")
    y = np.frombuffer(decoded.stdout, "<i2").astype(np.float32) / 32768
    return _fit(y, len(x))


def gain_clip(x: np.ndarray, gain_db: float, clip: float | None = None) -> np.ndarray:
    """Apply gain, then hard-clip at ``clip`` (full scale 1.0) if given."""
    y = x * 10 ** (gain_db / 20)
    if clip is not None:
        y = np.clip(y, -clip, clip)
    return y.astype(np.float32)


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of the random chain (recorded in the corpus card)."""

    p_clean: float = 0.15
    p_speed: float = 0.4
    speeds: tuple[float, ...] = (0.9, 0.95, 1.05, 1.1)
    p_reverb: float = 0.3
    rt60: tuple[float, float] = (0.15, 0.8)
    p_noise: float = 0.6
    snr_db: tuple[float, float] = (0.0, 30.0)
    p_babble: float = 0.3  # share of noisy utterances whose noise is babble
    p_telephone: float = 0.12
    p_codec: float = 0.2
    mp3_kbps: tuple[int, ...] = (24, 32, 48, 64)
    opus_kbps: tuple[int, ...] = (8, 12, 16, 24)
    gain_db: tuple[float, float] = (-18.0, 3.0)
    p_clip: float = 0.08


def random_chain(
    x: np.ndarray,
    rng: np.random.Generator,
    cfg: AugmentConfig = AugmentConfig(),
    babble_pool: Sequence[np.ndarray] = (),
) -> tuple[np.ndarray, str]:
    """Apply a random recipe drawn from ``cfg``.

    Returns:
        ``(augmented waveform, recipe string)``; the recipe (``"speed1.1+rev0.42+
        noise-pink12dB+mp3_32k+gain-6dB"``) goes into the corpus manifest.
    """
    steps = []
    # Draw every decision up front so the recipe does not depend on audio content.
    clean = rng.random() < cfg.p_clean
    speed = float(rng.choice(cfg.speeds)) if rng.random() < cfg.p_speed else 1.0
    rt60 = float(rng.uniform(*cfg.rt60)) if rng.random() < cfg.p_reverb else None
    noisy = rng.random() < cfg.p_noise
    snr = float(rng.uniform(*cfg.snr_db))
    noise_kind = "babble" if rng.random() < cfg.p_babble else str(rng.choice(["white", "pink", "brown"]))
    if noise_kind == "babble" and not babble_pool:
        noise_kind = "pink"  # no other utterances yet (first of a shard)
    tel = rng.random() < cfg.p_telephone
    codec = str(rng.choice(["mp3", "opus"])) if rng.random() < cfg.p_codec else None
    kbps = int(rng.choice(cfg.mp3_kbps if codec == "mp3" else cfg.opus_kbps))
    gain = float(rng.uniform(*cfg.gain_db))
    clip = float(rng.uniform(0.3, 0.7)) if rng.random() < cfg.p_clip else None

    y = x.astype(np.float32)
    if speed != 1.0:
        y = speed_perturb(y, speed)
        steps.append(f"speed{speed:g}")
    if clean:
        steps.append("clean")
    else:
        if rt60 is not None:
            y = reverberate(y, synthetic_rir(rt60, rng, direct_ratio_db=float(rng.uniform(-3, 6))))
            steps.append(f"rev{rt60:.2f}")
        if noisy:
            if noise_kind == "babble":
                noise = babble(len(y), babble_pool, rng, talkers=int(rng.integers(3, 7)))
            else:
                noise = coloured_noise(len(y), {"white": 0.0, "pink": 1.0, "brown": 2.0}[noise_kind], rng)
            y = add_noise(y, noise, snr)
            steps.append(f"noise-{noise_kind}{snr:.0f}dB")
        if tel:
            y = telephone(y)
            steps.append("tel8k")
        if codec is not None:
            y = codec_roundtrip(y, codec, kbps)
            steps.append(f"{codec}_{kbps}k")
    # Level: normalise to a random peak, then optional clipping.
    peak = float(np.max(np.abs(y))) + 1e-9
    y = y / peak * 0.9
    y = gain_clip(y, gain, clip)
    steps.append(f"gain{gain:.0f}dB" + (f"+clip{clip:.2f}" if clip is not None else ""))
    return np.clip(y, -1.0, 1.0).astype(np.float32), "+".join(steps)
