"""Serve the REST API, the gRPC API, or both from one process and one model copy.

``asrserver_http.py`` and ``asrserver_grpc.py`` (ASRT's names and flags) serve
one protocol each; ``asrt-service serve`` serves both, which is what the Docker
image runs.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from ..config import Settings, add_arguments, apply_arguments
from ..errors import ModelNotFound
from .logs import setup_logging

logger = logging.getLogger(__name__)

MISSING_MODEL_HELP = """\
No acoustic model found at {path}.
asrt-service ships its default model in models/zh_dcnn_v1/ of the source tree and the Docker image.
Point the server at a model with --model-dir DIR (model.json + vocab.txt + weights),
or at ASRT weights with --asrt-weights SpeechModel251bn.model.h5 --asrt-dict dict.txt,
or train one: asrt-service train --help (see docs/TRAINING.md)."""


def load_recognizer(settings: Settings):
    """Load both models, or exit with a message saying how to get them."""
    from ..recognizer import Recognizer

    if settings.asrt_weights is None and not (settings.model_dir / "model.json").exists():
        raise ModelNotFound(MISSING_MODEL_HELP.format(path=settings.model_dir))
    if not settings.lm_dir.exists():
        raise ModelNotFound(
            f"No language model found at {settings.lm_dir}; pass --lm-dir or build one: asrt-service build-lm --help"
        )
    logger.info(
        "loading models (acoustic: %s, language: %s)", settings.asrt_weights or settings.model_dir, settings.lm_dir
    )
    return Recognizer.from_settings(settings)


def start_http(settings: Settings, recognizer, port: int | None = None):
    """Start waitress in a thread; returns (server, thread, bound port as an int)."""
    from waitress.server import create_server as create_waitress

    from ..http_app import create_app

    app = create_app(settings, recognizer)
    server = create_waitress(
        app,
        host=settings.host,
        port=settings.http_port if port is None else port,
        threads=settings.http_threads,
        # The app answers bodies over max_body_mb itself (ASRT routes need HTTP 200 +
        # 400002); waitress's own cap only stops bodies far beyond that from being buffered.
        max_request_body_size=int(2 * settings.max_body_mb * 1024 * 1024) + 65536,
        channel_timeout=60,
        ident="asrt-service",
    )
    thread = WaitressLoop(server)
    thread.start()
    # waitress reports the port as getnameinfo() gives it: a string
    return server, thread, int(server.effective_port)


class WaitressLoop(threading.Thread):
    """waitress's socket loop (what ``server.run`` does), but one that can be told to stop.

    It checks its stop flag between polls and, once told, closes every socket
    itself: closing them from another thread races its select() (EBADF in this
    thread), and ``server.close()`` alone leaves keep-alive connections open.
    """

    def __init__(self, server):
        super().__init__(name="waitress", daemon=True)
        self.server = server
        self.stopping = threading.Event()
        self._closing = threading.Lock()
        self._closed = False

    def run(self) -> None:
        from waitress import wasyncore

        adj, sockets = self.server.adj, self.server._map
        try:
            while sockets and not self.stopping.is_set():
                wasyncore.loop(timeout=adj.asyncore_loop_timeout, map=sockets, use_poll=adj.asyncore_use_poll, count=1)
        finally:
            with self._closing:
                self._closed = True
                wasyncore.close_all(sockets, ignore_all=True)

    def wake(self) -> None:
        """Cut the current poll short (else it ends within ``asyncore_loop_timeout``)."""
        with self._closing:  # never write to the trigger once closed: its fd number may be reused
            if self._closed:
                return
            try:
                self.server.trigger.pull_trigger()
            except OSError as exc:
                logger.debug("could not wake waitress's loop (%s); it stops at its next poll timeout", exc)


def stop_http(server, thread: WaitressLoop, timeout: float = 5.0) -> None:
    """Stop a server from :func:`start_http`: running requests finish, then every socket closes."""
    server.task_dispatcher.shutdown(timeout=timeout)
    thread.stopping.set()
    thread.wake()
    thread.join(timeout)
    if thread.is_alive():
        logger.warning("waitress did not stop within %.0f s", timeout)


def run(argv: list[str] | None, protocols: tuple[str, ...], prog: str | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog, description=f"asrt-service {' + '.join(protocols)} server")
    add_arguments(parser, protocols)
    args = parser.parse_args(argv)
    try:
        settings = apply_arguments(Settings.from_env(), args)
    except ValueError as exc:
        parser.error(str(exc))
    setup_logging(settings.log_level)
    try:
        recognizer = load_recognizer(settings)
    except ModelNotFound as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    stop = threading.Event()
    closers = []
    # gRPC first: once REST answers /readyz, both protocols are listening.
    if "grpc" in protocols:
        from ..grpc_server import create_server

        gserver, gport = create_server(settings, recognizer)
        closers.append(lambda: gserver.stop(grace=5).wait())
        logger.info("gRPC API listening on %s:%d", settings.host, gport)
    if "http" in protocols:
        server, thread, port = start_http(settings, recognizer)
        closers.append(lambda: stop_http(server, thread))
        logger.info("REST API listening on http://%s:%d", settings.host, port)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    logger.info("shutting down")
    for close in closers:
        close()
    recognizer.close()
    return 0


def main_http(argv: list[str] | None = None) -> int:
    return run(argv, ("http",), "asrserver_http.py")


def main_grpc(argv: list[str] | None = None) -> int:
    return run(argv, ("grpc",), "asrserver_grpc.py")


def main(argv: list[str] | None = None) -> int:
    return run(argv, ("http", "grpc"), "asrt-service serve")
