"""Audio input: raw PCM or whole files -> float32 mono 16 kHz, validated.

Clients send either ASRT's raw PCM (bytes + sample rate, channels, byte width)
or a whole file (WAV of any PCM/float width, FLAC, MP3, OGG/Opus, M4A, ...).
Everything becomes a 1-D float32 array in [-1, 1] at 16 kHz: channels are
averaged, other rates go through soxr's band-limited resampler. Long audio is
cut at pauses into model-sized pieces by :func:`split_at_pauses`.
"""

from __future__ import annotations

import dataclasses
import io
import logging

import numpy as np

from .errors import BadRequestFormat, PayloadTooLarge, UnsupportedAudioConfig, UnsupportedMediaType

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
#: Raw PCM widths ASRT defines: 2 = int16, 4 = int32, little-endian.
PCM_DTYPES = {2: np.dtype("<i2"), 4: np.dtype("<i4")}
MIN_RATE, MAX_RATE = 1000, 384000
MAX_CHANNELS = 32

# Leading bytes of containers we decode as files instead of raw PCM.
_MAGIC = (b"RIFF", b"RF64", b"fLaC", b"OggS", b"ID3", b"FORM", b"caff", b".snd")


@dataclasses.dataclass(frozen=True)
class Audio:
    """Decoded audio ready for feature extraction.

    Attributes:
        samples: float32 (n,) mono, 16 kHz, in [-1, 1].
        source_rate: the sample rate the client sent.
        source_channels: channel count the client sent.
    """

    samples: np.ndarray
    source_rate: int = SAMPLE_RATE
    source_channels: int = 1

    @property
    def duration_s(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def looks_like_file(data: bytes) -> bool:
    """True when ``data`` starts like an audio container rather than raw PCM."""
    head = data[:12]
    if head.startswith(_MAGIC):
        return True
    if len(head) >= 8 and head[4:8] == b"ftyp":  # MP4 / M4A
        return True
    # MPEG audio frame sync (MP3 without ID3 tag): 11 set bits, layer != 0.
    return len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0 and (head[1] & 0x06) != 0


def _check_int(name: str, value: object) -> int:
    # bool is an int subclass; NaN/inf arrive as floats from lenient JSON.
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise BadRequestFormat(f"{name} must be an integer, got {value!r}")
    return int(value)


def decode_pcm(data: bytes, sample_rate: object, channels: object, byte_width: object) -> Audio:
    """Decode ASRT's raw interleaved PCM to 16 kHz mono (see :func:`pcm_to_mono`)."""
    mono, rate, nch = pcm_to_mono(data, sample_rate, channels, byte_width)
    return Audio(to_16k(mono, rate), rate, nch)


def pcm_to_mono(data: bytes, sample_rate: object, channels: object, byte_width: object) -> tuple[np.ndarray, int, int]:
    """Validate and convert raw interleaved PCM to float32 mono at its own rate.

    Args:
        data: interleaved little-endian samples, no header.
        sample_rate: Hz (any rate from 1 kHz to 384 kHz; resampled to 16 kHz).
        channels: interleaved channel count (averaged to mono).
        byte_width: 2 (int16) or 4 (int32).

    Returns:
        ``(samples, sample_rate, channels)``: float32 (n,) in [-1, 1].

    Raises:
        BadRequestFormat: non-integer fields, or a byte count that is not a
            whole number of frames.
        UnsupportedAudioConfig: width, channel count or rate we cannot take,
            or no samples at all.
    """
    rate = _check_int("sample_rate", sample_rate)
    nch = _check_int("channels", channels)
    width = _check_int("byte_width", byte_width)
    if width not in PCM_DTYPES:
        raise UnsupportedAudioConfig(
            f"byte_width {width} is not supported: raw PCM must be 2 (int16) or 4 (int32) bytes per sample; "
            "send other formats as a whole WAV/FLAC file"
        )
    if not 1 <= nch <= MAX_CHANNELS:
        raise UnsupportedAudioConfig(f"channels {nch} is not supported: use 1 to {MAX_CHANNELS}")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise UnsupportedAudioConfig(f"sample_rate {rate} Hz is not supported: use {MIN_RATE} to {MAX_RATE} Hz")
    if len(data) == 0:
        raise UnsupportedAudioConfig("the audio is empty (0 bytes of samples)")
    frame = width * nch
    if len(data) % frame:
        raise BadRequestFormat(
            f"{len(data)} bytes of samples is not a whole number of frames "
            f"(byte_width {width} x channels {nch} = {frame} bytes per frame)"
        )
    ints = np.frombuffer(data, dtype=PCM_DTYPES[width]).reshape(-1, nch)
    scale = float(2 ** (8 * width - 1))
    mono = ints.astype(np.float32).mean(axis=1) / scale if nch > 1 else ints[:, 0].astype(np.float32) / scale
    return mono, rate, nch


def decode_file(data: bytes) -> Audio:
    """Decode a whole audio file (WAV/FLAC/OGG/MP3 via libsndfile, else FFmpeg).

    Raises:
        UnsupportedMediaType: the bytes are no audio file we can decode.
        UnsupportedAudioConfig: it decodes to no samples, or to NaN/inf values.
    """
    if not data:
        raise UnsupportedAudioConfig("the audio file is empty (0 bytes)")
    try:
        samples, rate = _decode_soundfile(data)
    except Exception as sf_error:  # libsndfile says nothing useful about what it lacks
        try:
            samples, rate = _decode_ffmpeg(data)
        except Exception as av_error:
            logger.debug("soundfile: %s; ffmpeg: %s", sf_error, av_error)
            raise UnsupportedMediaType(
                "could not decode the audio file: it is not WAV, FLAC, MP3, OGG/Opus, M4A or another format "
                "FFmpeg reads (is it truncated?)"
            ) from None
    if samples.size == 0:
        raise UnsupportedAudioConfig("the audio file contains no samples")
    if not np.all(np.isfinite(samples)):
        raise UnsupportedAudioConfig("the audio file contains NaN or infinite sample values")
    nch = samples.shape[1] if samples.ndim == 2 else 1
    mono = samples.mean(axis=1) if samples.ndim == 2 else samples
    return Audio(to_16k(mono.astype(np.float32), int(rate)), int(rate), nch)


def _decode_soundfile(data: bytes) -> tuple[np.ndarray, int]:
    import soundfile

    samples, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return samples, rate


def _decode_ffmpeg(data: bytes) -> tuple[np.ndarray, int]:
    import av

    chunks = []
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = next(s for s in container.streams if s.type == "audio")
        rate = stream.rate or stream.codec_context.sample_rate
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    return samples[:, None], int(rate)


def decode_request(
    data: bytes, sample_rate: object = None, channels: object = None, byte_width: object = None
) -> Audio:
    """Decode what an ASRT client sent: raw PCM, or a whole file if it looks like one.

    A whole file carries its own format, so the three fields are then ignored.
    """
    if looks_like_file(data):
        return decode_file(data)
    if sample_rate is None or channels is None or byte_width is None:
        missing = [
            n
            for n, v in (("sample_rate", sample_rate), ("channels", channels), ("byte_width", byte_width))
            if v is None
        ]
        raise BadRequestFormat(f"raw PCM samples need {', '.join(missing)}")
    return decode_pcm(data, sample_rate, channels, byte_width)


def to_16k(samples: np.ndarray, rate: int) -> np.ndarray:
    """Resample float32 mono audio to 16 kHz (soxr, band-limited, high quality)."""
    samples = np.ascontiguousarray(samples, dtype=np.float32)
    if rate == SAMPLE_RATE or samples.size == 0:
        return samples
    import soxr

    return soxr.resample(samples, rate, SAMPLE_RATE, quality="HQ").astype(np.float32, copy=False)


def check_duration(audio: Audio, max_seconds: float) -> None:
    """Raise :class:`PayloadTooLarge` when ``audio`` is longer than ``max_seconds``."""
    check_seconds(audio.duration_s, max_seconds)


def check_seconds(seconds: float, max_seconds: float) -> None:
    """Raise :class:`PayloadTooLarge` when ``seconds`` of audio exceed ``max_seconds``."""
    if seconds > max_seconds:
        raise PayloadTooLarge(
            f"audio is {seconds:.1f} s long; this server accepts at most {max_seconds:g} s per request "
            "(use gRPC streaming for longer audio)"
        )


class StreamResampler:
    """Chunk-by-chunk conversion to 16 kHz mono that keeps filter state across chunks.

    Resampling each streamed chunk on its own would click at every boundary;
    soxr's stream resampler carries the filter history. A change of rate or
    channel count mid-stream flushes and starts a new resampler.
    """

    def __init__(self) -> None:
        self._rate: int | None = None
        self._stream = None

    def push(self, audio_pcm: np.ndarray, rate: int) -> np.ndarray:
        """Feed float32 mono samples at ``rate``; returns what is ready at 16 kHz."""
        out = []
        if rate != self._rate:
            out.append(self.flush())
            self._rate = rate
            if rate != SAMPLE_RATE:
                import soxr

                self._stream = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ")
        if self._stream is None:
            out.append(audio_pcm.astype(np.float32, copy=False))
        else:
            out.append(self._stream.resample_chunk(audio_pcm.astype(np.float32, copy=False)))
        return np.concatenate(out) if len(out) > 1 else out[0]

    def flush(self) -> np.ndarray:
        """Return the resampler's remaining output (end of stream or rate change)."""
        if self._stream is None:
            return np.zeros(0, np.float32)
        tail = self._stream.resample_chunk(np.zeros(0, np.float32), last=True)
        self._stream = None
        return tail


# --- pauses -----------------------------------------------------------------

FRAME = 160  # 10 ms at 16 kHz


def frame_energy_db(samples: np.ndarray) -> np.ndarray:
    """Per-10-ms RMS level in dBFS, float32 (n // 160,)."""
    n = len(samples) // FRAME
    if n == 0:
        return np.zeros(0, np.float32)
    frames = samples[: n * FRAME].reshape(n, FRAME).astype(np.float64)
    rms = np.sqrt(np.mean(frames * frames, axis=1) + 1e-12)
    return (20.0 * np.log10(rms)).astype(np.float32)


def silence_mask(db: np.ndarray, floor_db: float = -45.0, below_peak_db: float = 30.0) -> np.ndarray:
    """Frames that count as pause: below ``floor_db`` or far below the loudest frame."""
    if db.size == 0:
        return np.zeros(0, bool)
    threshold = max(floor_db, float(np.percentile(db, 98)) - below_peak_db)
    return db < threshold


def split_at_pauses(samples: np.ndarray, max_seconds: float, min_seconds: float | None = None) -> list[tuple[int, int]]:
    """Cut audio into pieces of at most ``max_seconds``, at the quietest places.

    Each piece longer than the limit is cut inside the window
    ``[min_seconds, max_seconds]`` from its start, at the centre of the longest
    run of pause frames there (or, if there is no pause, the quietest 200 ms),
    so words are not cut in half where a pause exists.

    Args:
        samples: float32 mono 16 kHz.
        max_seconds: longest piece.
        min_seconds: earliest cut inside a piece (default: half of max).

    Returns:
        ``(start, end)`` sample offsets covering the whole input, in order.
    """
    max_len = int(max_seconds * SAMPLE_RATE)
    if len(samples) <= max_len:
        return [(0, len(samples))]
    min_len = int((min_seconds if min_seconds is not None else max_seconds / 2) * SAMPLE_RATE)
    db = frame_energy_db(samples)
    quiet = silence_mask(db)
    # 200 ms moving average of level, for audio with no real pause.
    smooth = np.convolve(db, np.ones(20) / 20, mode="same") if db.size else db
    pieces = []
    start = 0
    while len(samples) - start > max_len:
        lo, hi = (start + min_len) // FRAME, (start + max_len) // FRAME
        cut_frame = _longest_pause_centre(quiet[lo:hi])
        if cut_frame is None:
            cut_frame = int(np.argmin(smooth[lo:hi]))
        cut = (lo + cut_frame) * FRAME
        pieces.append((start, cut))
        start = cut
    pieces.append((start, len(samples)))
    return pieces


def _longest_pause_centre(quiet: np.ndarray, min_frames: int = 5) -> int | None:
    best, best_len, run_start = None, 0, None
    for i, q in enumerate(np.append(quiet, False)):
        if q and run_start is None:
            run_start = i
        elif not q and run_start is not None:
            if i - run_start > best_len:
                best, best_len = (run_start + i) // 2, i - run_start
            run_start = None
    return best if best_len >= min_frames else None


#: Frames above the pause level that make a stretch of audio count as speech.
MIN_SPEECH_FRAMES = 10


def pause_profile(samples: np.ndarray) -> tuple[int, int]:
    """``(speech frames, pause frames at the end)`` of ``samples``, from one energy pass."""
    quiet = silence_mask(frame_energy_db(samples))
    speech = int((~quiet).sum())
    trailing = int(quiet.size) if speech == 0 else int(np.argmax(~quiet[::-1]))
    return speech, trailing


def trailing_pause_frames(samples: np.ndarray) -> int:
    """Number of pause frames at the end of ``samples`` (for streaming end-of-sentence)."""
    return pause_profile(samples)[1]


def has_speech(samples: np.ndarray, min_frames: int = MIN_SPEECH_FRAMES) -> bool:
    """True when ``samples`` hold at least ``min_frames`` frames above the pause level."""
    return pause_profile(samples)[0] >= min_frames
