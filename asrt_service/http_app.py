"""REST API: ASRT's routes, byte for byte, plus a versioned ``/v1`` API.

ASRT routes (``/``, ``/speech``, ``/all``, ``/language``, any other POST path)
always answer HTTP 200 with ASRT's envelope ``{result, status_code,
status_message}`` (keys sorted), because ASRT's SDK raises on any other HTTP
status. The ``/v1`` routes use proper HTTP statuses with a JSON error body.
Errors are converted in exactly one place, :func:`_handle_error`.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from importlib import resources

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from . import __version__, wire
from .audio import Audio, check_duration, decode_file
from .config import Settings
from .errors import AsrtError, BadRequestFormat, NotFound, NotReady, PayloadTooLarge, Status, UnsupportedMediaType

logger = logging.getLogger(__name__)

ASRT_MESSAGES = {"speech": "speech level", "all": "all level", "language": "language level"}


def create_app(settings: Settings, recognizer) -> Flask:
    """Build the Flask app around a loaded :class:`~asrt_service.recognizer.Recognizer`.

    Args:
        settings: service settings (body limit, audio limit).
        recognizer: the shared engine; ``None`` serves only health routes and
            answers recognition requests with "not ready".
    """
    app = Flask("asrt_service")
    app.config["MAX_CONTENT_LENGTH"] = int(settings.max_body_mb * 1024 * 1024)
    app.json.sort_keys = True
    app.json.ensure_ascii = False

    def engine():
        if recognizer is None or not recognizer.ready:
            raise NotReady("the model is still loading; retry shortly")
        return recognizer

    def load_audio(wav) -> Audio:
        audio = wire.audio_from_wavdata(wav)
        check_duration(audio, settings.max_audio_seconds)
        g.audio_s = audio.duration_s
        return audio

    @app.before_request
    def _start() -> None:
        g.t0 = time.perf_counter()
        g.rid = request.headers.get("X-Request-Id") or uuid.uuid4().hex[:12]
        g.audio_s = 0.0
        g.status = int(Status.OK)

    @app.after_request
    def _finish(resp: Response) -> Response:
        resp.headers["X-Request-Id"] = g.get("rid", "")
        logger.info(
            "http %s %s rid=%s audio=%.2fs latency=%.1fms http=%d status=%d",
            request.method,
            request.path,
            g.get("rid"),
            g.get("audio_s", 0.0),
            (time.perf_counter() - g.get("t0", time.perf_counter())) * 1000,
            resp.status_code,
            g.get("status", 0),
        )
        return resp

    # --- ASRT routes ---------------------------------------------------------

    @app.get("/")
    def index() -> Response:
        page = resources.files("asrt_service").joinpath("static/index.html").read_text(encoding="utf-8")
        return Response(page, mimetype="text/html; charset=utf-8")

    @app.post("/")
    def index_post() -> Response:
        return asrt_envelope("", Status.OK, "ok")

    @app.post("/<path:level>")
    def asrt_level(level: str) -> Response:
        if level == "speech":
            pinyin = engine().speech(load_audio(wire.wavdata_from_json(json_body())))
            return asrt_envelope(pinyin, Status.OK, ASRT_MESSAGES[level])
        if level == "all":
            transcript = engine().recognize(load_audio(wire.wavdata_from_json(json_body())))
            return asrt_envelope(transcript.text, Status.OK, ASRT_MESSAGES[level])
        if level == "language":
            body = json_body()
            if not isinstance(body, dict) or "sequence_pinyin" not in body:
                raise BadRequestFormat(
                    'missing field \'sequence_pinyin\' (a list of toneful pinyin such as ["ni3", "hao3"])'
                )
            seq = body["sequence_pinyin"]
            if not isinstance(seq, list):
                raise BadRequestFormat("field 'sequence_pinyin' must be a list of strings")
            result = engine().language(seq)
            msg = ASRT_MESSAGES[level] if not result.unknown else wire.language_message(result.unknown)
            return asrt_envelope(result.text, Status.OK, msg)
        raise NotFound(f"unknown path /{level}: ASRT routes are /speech, /all and /language (see GET / and /v1)")

    # --- health --------------------------------------------------------------

    @app.get("/healthz")
    def healthz():
        return {"status": "alive", "version": __version__}

    @app.get("/readyz")
    def readyz():
        ok = recognizer is not None and recognizer.ready
        body = {"status": "ready" if ok else "loading", "model": getattr(recognizer, "model_name", None)}
        return (body, 200 if ok else 503)

    @app.get("/openapi.json")
    def openapi():
        text = resources.files("asrt_service").joinpath("static/openapi.json").read_text(encoding="utf-8")
        return Response(text, mimetype="application/json")

    # --- /v1 ------------------------------------------------------------------

    @app.post("/v1/recognize")
    def v1_recognize():
        audio = v1_audio()
        check_duration(audio, settings.max_audio_seconds)
        g.audio_s = audio.duration_s
        t = engine().recognize(audio, extra_words=v1_words())
        return {
            "text": t.text,
            "pinyin": list(t.pinyin),
            "segments": [
                {"start": round(s.start, 3), "end": round(s.end, 3), "text": s.text, "pinyin": list(s.pinyin)}
                for s in t.segments
            ],
            "duration_s": round(t.duration_s, 3),
            "model": t.model,
            "timings_ms": {k: round(v * 1000, 2) for k, v in t.timings.items()},
        }

    @app.post("/v1/speech")
    def v1_speech():
        audio = v1_audio()
        check_duration(audio, settings.max_audio_seconds)
        g.audio_s = audio.duration_s
        return {"pinyin": engine().speech(audio), "duration_s": round(audio.duration_s, 3)}

    @app.post("/v1/language")
    def v1_language():
        body = json_body()
        seq = body.get("pinyin") if isinstance(body, dict) else None
        if not isinstance(seq, list):
            raise BadRequestFormat('expected a JSON object {"pinyin": ["ni3", "hao3"]}')
        result = engine().language(seq, extra_words=wire.parse_words(body.get("words")))
        return {"text": result.text, "unknown": list(result.unknown)}

    @app.get("/v1/models")
    def v1_models():
        if recognizer is None:
            return {"models": []}
        spec = recognizer.spec
        return {
            "models": [
                {
                    "name": recognizer.model_name,
                    "arch": spec.arch,
                    "feature": spec.feature,
                    "vocabulary_size": len(recognizer.acoustic.vocab),
                    "window_seconds": recognizer.window_seconds,
                    "max_audio_seconds": recognizer.max_audio_seconds,
                }
            ]
        }

    def v1_words():
        """Custom words for this request: form field or JSON field ``words``."""
        if request.files or request.form:
            raw = request.form.get("words")
            if raw and raw.lstrip().startswith("["):
                try:
                    raw = json.loads(raw)
                except json.JSONDecodeError:
                    raise BadRequestFormat("form field 'words' is not valid JSON") from None
            return wire.parse_words(raw)
        if request.is_json:
            body = json_body()
            return wire.parse_words(body.get("words")) if isinstance(body, dict) else None
        return wire.parse_words(request.args.get("words"))

    def v1_audio() -> Audio:
        """A multipart upload (field ``file``), a raw audio body, or ASRT-style JSON."""
        if request.files:
            upload = request.files.get("file") or next(iter(request.files.values()))
            return decode_file(upload.read())
        ctype = (request.mimetype or "").lower()
        if ctype.startswith("audio/") or ctype == "application/octet-stream":
            return decode_file(request.get_data())
        if ctype in ("", "application/json") or ctype.endswith("+json"):
            body = json_body()
            if isinstance(body, dict) and "audio" in body and "samples" not in body:
                if not isinstance(body["audio"], str):
                    raise BadRequestFormat("field 'audio' must be a base64 string holding an audio file")
                return decode_file(wire.decode_base64(body["audio"]))
            return wire.audio_from_wavdata(wire.wavdata_from_json(body))
        raise UnsupportedMediaType(f"unsupported Content-Type {ctype!r}: send multipart/form-data, audio/*, or JSON")

    # --- the one error edge -------------------------------------------------------

    @app.errorhandler(Exception)
    def _handle_error(exc: Exception):
        if isinstance(exc, RequestEntityTooLarge):
            exc = PayloadTooLarge(f"request body is larger than the {settings.max_body_mb:g} MB limit")
        elif isinstance(exc, HTTPException):
            if request.path.startswith("/v1") or request.method != "POST":
                g.status = exc.code or 500
                return {"error": {"code": exc.code, "status": exc.name, "message": exc.description}}, exc.code
            exc = NotFound(exc.description or exc.name)
        status, message = wire.error_status(exc)
        g.status = status
        if request.path.startswith("/v1"):
            http = exc.http_status if isinstance(exc, AsrtError) else 500
            return {"error": {"code": http, "status_code": status, "message": message}}, http
        return asrt_envelope("", status, message)

    return app


def json_body() -> object:
    """The request body as JSON, parsed once per request; NaN/Infinity and malformed JSON are format errors."""
    if "json_body" not in g:
        g.json_body = _parse_json_body()
    return g.json_body


def _parse_json_body() -> object:
    raw = request.get_data(cache=True)
    if not raw:
        raise BadRequestFormat("the request body is empty; expected JSON")
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise BadRequestFormat("the request body is not UTF-8 JSON") from None
    except json.JSONDecodeError as exc:
        raise BadRequestFormat(
            f"the request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None


def _reject_constant(name: str):
    raise BadRequestFormat(f"{name} is not a valid JSON number")


def asrt_envelope(result, status: int, message: str) -> Response:
    """ASRT's response: HTTP 200, keys sorted, ``application/json``."""
    g.status = int(status)
    body = json.dumps({"result": result, "status_code": int(status), "status_message": message}, sort_keys=True)
    return Response(body, status=200, mimetype="application/json")
