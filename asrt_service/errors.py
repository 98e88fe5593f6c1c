"""Status codes and the exception hierarchy: the only place codes live.

ASRT clients read ``status_code``/``status_message`` envelopes; the versioned
``/v1`` API maps the same exceptions to HTTP statuses. Lower modules raise the
most specific subclass with a message naming the bad value; each transport
converts exceptions to its envelope at exactly one edge.
"""

from __future__ import annotations

import enum


class Status(enum.IntEnum):
    """ASRT's application status codes (shared by REST and gRPC)."""

    OK = 200000
    OK_PARTIAL = 206000
    CLIENT_ERROR = 400000
    BAD_FORMAT = 400001
    UNSUPPORTED_CONFIG = 400002
    SERVER_ERROR = 500000
    RUNTIME_ERROR = 500001


class AsrtError(Exception):
    """Base of every error this service reports to a client."""

    status: Status = Status.SERVER_ERROR
    http_status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ClientError(AsrtError):
    """The request is wrong; retrying it unchanged will fail again."""

    status = Status.CLIENT_ERROR
    http_status = 400


class NotFound(ClientError):
    """Unknown route or resource."""

    http_status = 404


class BadRequestFormat(ClientError):
    """Malformed request: bad JSON or base64, missing field, odd byte count."""

    status = Status.BAD_FORMAT
    http_status = 400


class UnsupportedAudioConfig(ClientError):
    """Well-formed audio we cannot take: byte width, channels, rate, length."""

    status = Status.UNSUPPORTED_CONFIG
    http_status = 422


class UnsupportedMediaType(UnsupportedAudioConfig):
    """An uploaded file whose container or codec cannot be decoded."""

    http_status = 415


class PayloadTooLarge(UnsupportedAudioConfig):
    """Request body or audio duration above the configured limit."""

    http_status = 413


class ServerError(AsrtError):
    """Something failed on our side."""

    status = Status.SERVER_ERROR
    http_status = 500


class InferenceError(ServerError):
    """Recognition itself failed (model or decoder error)."""

    status = Status.RUNTIME_ERROR


class Overloaded(ServerError):
    """The request queue is full; the client should retry later."""

    status = Status.SERVER_ERROR
    http_status = 503


class NotReady(ServerError):
    """The model is not loaded (yet)."""

    http_status = 503


class ModelNotFound(Exception):
    """Model files are missing at start-up (not a request error)."""
