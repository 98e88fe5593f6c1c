"""Protocol types <-> recognizer types, shared by the REST and gRPC servers.

Both servers speak in the protobuf messages of ``protos/asrt.proto``: the REST
server validates its JSON into a ``WavData`` message and from there on takes
the same path as gRPC. Errors become ASRT envelopes here too, so the status
codes and messages are the same on both transports.
"""

from __future__ import annotations

import base64
import binascii
import logging

import numpy as np

from . import audio as audio_mod
from .audio import Audio
from .errors import AsrtError, BadRequestFormat, Status
from .language_model import parse_word_line
from .proto import asrt_pb2

logger = logging.getLogger(__name__)


def wavdata_from_json(body: object) -> asrt_pb2.WavData:
    """Validate an ASRT REST body (``samples`` as URL-safe base64 + 3 ints) into ``WavData``.

    Raises:
        BadRequestFormat: not an object, a field missing or of the wrong type,
            or ``samples`` not valid base64.
    """
    if not isinstance(body, dict):
        raise BadRequestFormat("the request body must be a JSON object with samples, sample_rate, channels, byte_width")
    if "samples" not in body:
        raise BadRequestFormat("missing field 'samples' (base64-encoded PCM or audio file)")
    samples = body["samples"]
    if not isinstance(samples, str):
        raise BadRequestFormat("field 'samples' must be a base64 string")
    data = decode_base64(samples)
    fields = {}
    for name in ("sample_rate", "channels", "byte_width"):
        value = body.get(name)
        if value is None:
            if audio_mod.looks_like_file(data):
                continue  # a whole file carries its own format
            raise BadRequestFormat(f"missing field '{name}'")
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadRequestFormat(f"field '{name}' must be an integer, got {value!r}")
        if not -(2**31) <= value < 2**31:
            raise BadRequestFormat(f"field '{name}' is out of range: {value}")
        fields[name] = value
    return asrt_pb2.WavData(samples=data, **fields)


def decode_base64(text: str) -> bytes:
    """Strict base64: URL-safe (ASRT's SDK) or standard alphabet, padding optional."""
    cleaned = "".join(text.split())
    try:
        cleaned = cleaned.replace("-", "+").replace("_", "/")
        return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise BadRequestFormat("field 'samples' is not valid base64") from None


def audio_from_wavdata(wav: asrt_pb2.WavData) -> Audio:
    """Decode a ``WavData`` message (raw PCM, or a whole file in ``samples``)."""
    return audio_mod.decode_request(wav.samples, wav.sample_rate, wav.channels, wav.byte_width)


def stream_chunk(wav: asrt_pb2.WavData) -> tuple[np.ndarray, int]:
    """One streamed chunk as (float32 mono samples, their rate), not yet resampled.

    The stream's own resampler converts to 16 kHz with state carried across
    chunks; a chunk holding a whole file is decoded (and resampled) alone.
    """
    if audio_mod.looks_like_file(wav.samples):
        return audio_mod.decode_file(wav.samples).samples, audio_mod.SAMPLE_RATE
    mono, rate, _ = audio_mod.pcm_to_mono(wav.samples, wav.sample_rate, wav.channels, wav.byte_width)
    return mono, rate


def parse_words(value: object) -> list[tuple[str, str | None, float]] | None:
    """Per-request custom words for the language model.

    Accepts a list whose items are ``"word [pinyin ...] [weight]"`` strings or
    ``{"word", "pinyin", "weight"}`` objects, or one string of such lines.

    Raises:
        BadRequestFormat: anything else.
    """
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        value = [line for line in value.splitlines() if line.strip()]
    if not isinstance(value, list):
        raise BadRequestFormat("'words' must be a list of words (strings or {word, pinyin, weight} objects)")
    out = []
    for item in value:
        if isinstance(item, dict):
            word, pinyin, weight = item.get("word"), item.get("pinyin"), item.get("weight", 1.0)
            if isinstance(pinyin, list):
                pinyin = " ".join(pinyin)
        elif isinstance(item, str) and item.strip():
            word, pinyin, weight = parse_word_line(item)
        else:
            raise BadRequestFormat(f"custom word must be a string or an object, got {item!r}")
        out.append((word, pinyin, weight))
    return out


def error_status(exc: BaseException) -> tuple[int, str]:
    """ASRT (status_code, status_message) for any exception; unexpected ones are logged."""
    if isinstance(exc, AsrtError):
        return int(exc.status), exc.message
    logger.error("unexpected error", exc_info=exc)
    return int(Status.RUNTIME_ERROR), "internal error while running recognition"


def speech_response(pinyin, message: str = "") -> asrt_pb2.SpeechResponse:
    return asrt_pb2.SpeechResponse(status_code=Status.OK, status_message=message, result_data=list(pinyin))


def text_response(text: str, status: int = Status.OK, message: str = "") -> asrt_pb2.TextResponse:
    return asrt_pb2.TextResponse(status_code=int(status), status_message=message, text_result=text)


def language_message(unknown) -> str:
    """Status message for a language result: says which syllables were skipped."""
    if not unknown:
        return "ok"
    return (
        "ok; skipped syllables that are not toneful pinyin: "
        + " ".join(unknown[:20])
        + (" ..." if len(unknown) > 20 else "")
    )
