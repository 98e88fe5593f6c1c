"""gRPC API: ASRT's ``AsrtGrpcService`` plus the standard health and reflection services.

Unary errors travel in ``status_code``/``status_message`` as ASRT does (its
clients never look at gRPC status codes). A stream that hits an error yields
one final error envelope and stops. The conversion lives in :func:`_asrt_errors`.
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from . import wire
from .audio import check_duration
from .errors import Status
from .proto import asrt_pb2, asrt_pb2_grpc

logger = logging.getLogger(__name__)

SERVICE_NAME = asrt_pb2.DESCRIPTOR.services_by_name["AsrtGrpcService"].full_name
#: Largest gRPC message: 16 s of int16 stereo at 48 kHz is 3 MB; allow whole files.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


def _asrt_errors(response_type):
    """Turn any exception in a unary handler into an ASRT error envelope."""

    def wrap(method):
        @functools.wraps(method)
        def handler(self, request, context):
            t0 = time.perf_counter()
            rid = _request_id(context)
            status = int(Status.OK)
            try:
                response = method(self, request, context)
                status = response.status_code
                return response
            except Exception as exc:
                status, message = wire.error_status(exc)
                return response_type(status_code=status, status_message=message)
            finally:
                logger.info(
                    "grpc %s rid=%s latency=%.1fms status=%d",
                    method.__name__,
                    rid,
                    (time.perf_counter() - t0) * 1000,
                    status,
                )

        return handler

    return wrap


def _request_id(context) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == "x-request-id":
            return value
    return uuid.uuid4().hex[:12]


class AsrtServicer(asrt_pb2_grpc.AsrtGrpcServiceServicer):
    """ASRT's four methods on top of one shared recognizer."""

    def __init__(self, recognizer, max_audio_seconds: float) -> None:
        self.recognizer = recognizer
        self.max_audio_seconds = max_audio_seconds

    def _audio(self, request):
        audio = wire.audio_from_wavdata(request.wav_data)
        check_duration(audio, self.max_audio_seconds)
        return audio

    @_asrt_errors(asrt_pb2.SpeechResponse)
    def Speech(self, request, context):  # noqa: N802 (gRPC method names)
        return wire.speech_response(self.recognizer.speech(self._audio(request)), "speech level")

    @_asrt_errors(asrt_pb2.TextResponse)
    def Language(self, request, context):  # noqa: N802
        result = self.recognizer.language(list(request.pinyins))
        return wire.text_response(result.text, Status.OK, wire.language_message(result.unknown))

    @_asrt_errors(asrt_pb2.TextResponse)
    def All(self, request, context):  # noqa: N802
        return wire.text_response(self.recognizer.recognize(self._audio(request)).text, Status.OK, "all level")

    def Stream(self, request_iterator, context):  # noqa: N802
        """Partial text (206000) after every chunk, final text (200000) per sentence and at the end."""
        rid = _request_id(context)
        t0 = time.perf_counter()
        session = self.recognizer.stream()
        chunks = 0
        status = int(Status.OK)
        try:
            for request in request_iterator:
                chunks += 1
                samples, rate = wire.stream_chunk(request.wav_data)
                for update in session.feed(samples, rate):
                    code = Status.OK if update.final else Status.OK_PARTIAL
                    yield wire.text_response(update.text, code, "ok" if update.final else "partial")
            yield wire.text_response(session.finish().text, Status.OK, "end of stream")
        except Exception as exc:
            status, message = wire.error_status(exc)
            if context.is_active():
                yield wire.text_response("", status, message)
        finally:
            logger.info(
                "grpc Stream rid=%s chunks=%d audio=%.2fs latency=%.1fms status=%s active=%s",
                rid,
                chunks,
                session.received_seconds,
                (time.perf_counter() - t0) * 1000,
                status,
                context.is_active(),
            )


def create_server(settings, recognizer, port: int | None = None, host: str | None = None):
    """Build and start a gRPC server; ``port=0`` picks a free port.

    Returns:
        ``(server, bound_port)``.
    """
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=settings.grpc_workers, thread_name_prefix="grpc"),
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ],
        maximum_concurrent_rpcs=settings.grpc_workers * 4,
    )
    asrt_pb2_grpc.add_AsrtGrpcServiceServicer_to_server(AsrtServicer(recognizer, settings.max_audio_seconds), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection((SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    bound = server.add_insecure_port(f"{host or settings.host}:{settings.grpc_port if port is None else port}")
    if bound == 0:
        raise OSError(f"cannot listen on {host or settings.host}:{settings.grpc_port if port is None else port}")
    server.start()
    serving = health_pb2.HealthCheckResponse.SERVING
    health_servicer.set("", serving)
    health_servicer.set(SERVICE_NAME, serving)
    return server, bound
