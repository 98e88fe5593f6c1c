"""Settings: one frozen dataclass, read from defaults <- ASRT_* env vars <- CLI flags.

Nothing here parses argv at import or reads files relative to the working
directory; entry points call :func:`Settings.from_env` and
:func:`add_arguments`/:func:`apply_arguments` explicitly.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent


def _default_models_dir() -> Path:
    """``models/`` of a source checkout or the Docker image; else where ``pip install`` put it."""
    checkout = PACKAGE_ROOT.parent / "models"
    installed = Path(sys.prefix) / "share" / "asrt-service" / "models"
    return installed if not checkout.is_dir() and installed.is_dir() else checkout


#: Shipped models: the default acoustic model and the language model.
DEFAULT_MODELS_DIR = _default_models_dir()

#: Environment variables that move :func:`cache_root`, the first one set wins
#: (``ASRT_CACHE_DIR`` is the corpus builder's earlier name for the same folder).
CACHE_ENV = ("ASRT_SERVICE_CACHE", "ASRT_CACHE_DIR")


def cache_root() -> Path:
    """Where everything generated lives: corpora, TTS engine environments, list files,
    feature caches, training runs and language-model counts (``~/.cache/asrt-service``
    unless ``ASRT_SERVICE_CACHE`` says otherwise). Read at call time."""
    for name in CACHE_ENV:
        if os.environ.get(name):
            return Path(os.environ[name]).expanduser()
    return Path.home() / ".cache" / "asrt-service"


@dataclasses.dataclass(frozen=True)
class Settings:
    """Service configuration.

    Attributes:
        model_dir: acoustic model directory (model.json + vocab + weights).
        asrt_weights: optional ASRT ``SpeechModel251bn.model.h5``; loaded with
            ``asrt_dict`` instead of ``model_dir`` when set.
        asrt_dict: ASRT's ``dict.txt`` for ``asrt_weights``.
        lm_dir: language model directory.
        user_words: optional custom vocabulary file for the language model.
        host: listen address for both servers.
        http_port: REST port (ASRT: 20001).
        grpc_port: gRPC port (ASRT: 20002).
        max_audio_seconds: longest audio accepted in one request.
        max_body_mb: largest HTTP request body accepted.
        max_batch: most clips the acoustic model runs together.
        batch_wait_ms: how long the batcher waits for more requests.
        queue_size: requests waiting for the model before new ones get 503.
        http_threads: waitress worker threads.
        grpc_workers: gRPC thread-pool size (also bounds concurrent streams).
        stream_pause_ms: silence that ends a sentence in gRPC streaming.
        lm_nbest: acoustic alternatives per syllable passed to the language
            model (0 or 1 = greedy pinyin only). The default 10 cuts the
            character error rate on real-dev from 68 % to 57 % for about 10 ms
            of language-model time per sentence (models/zh_dcnn_v1/MODEL_CARD.md).
        pad_to_window: pad every clip to the model window (16 s) as ASRT does;
            only for benchmarking against ASRT-style serving (with max_batch 1).
        tempo_views: speaking-rate factors of the test-time tempo views the
            acoustic model averages, comma-separated (``"1"``: the clip alone,
            fastest); empty = the model's own (model.json ``test_time_tempo``;
            zh_dcnn_v1: 1, 0.95, 0.9, 0.85, 0.8).
        log_level: logging level name.
    """

    model_dir: Path = DEFAULT_MODELS_DIR / "zh_dcnn_v1"
    asrt_weights: Path | None = None
    asrt_dict: Path | None = None
    lm_dir: Path = DEFAULT_MODELS_DIR / "lm"
    user_words: Path | None = None
    host: str = "0.0.0.0"
    http_port: int = 20001
    grpc_port: int = 20002
    max_audio_seconds: float = 600.0
    max_body_mb: float = 64.0
    max_batch: int = 16
    batch_wait_ms: float = 5.0
    queue_size: int = 256
    http_threads: int = 16
    grpc_workers: int = 32
    stream_pause_ms: float = 500.0
    lm_nbest: int = 10
    pad_to_window: bool = False
    tempo_views: str = ""
    log_level: str = "INFO"

    def __post_init__(self) -> None:
        if self.tempo_views:
            parse_tempo_views(self.tempo_views)  # raises ValueError naming the bad value

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Defaults overridden by ``ASRT_<FIELD>`` variables (e.g. ``ASRT_HTTP_PORT``)."""
        env = os.environ if environ is None else environ
        values = {}
        for f in dataclasses.fields(cls):
            raw = env.get(f"ASRT_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            values[f.name] = _convert(f.name, raw)
        return cls(**values)

    def replace(self, **changes: object) -> Settings:
        return dataclasses.replace(self, **changes)


#: Test-time tempo views: at most this many, each rate within these bounds.
TEMPO_VIEW_LIMITS = (0.5, 2.0)
MAX_TEMPO_VIEWS = 8


def parse_tempo_views(value: str | Sequence[float]) -> tuple[float, ...]:
    """Speaking-rate factors of test-time tempo views, from ``"1,0.9,0.8"`` or a list.

    Raises:
        ValueError: not numbers, none, too many, a repeat, or a rate outside
            ``TEMPO_VIEW_LIMITS``.
    """
    items = value.split(",") if isinstance(value, str) else list(value)
    try:
        rates = tuple(float(v) for v in items)
    except (TypeError, ValueError):
        raise ValueError(f"tempo views must be numbers such as 1,0.9,0.8, got {value!r}") from None
    lo, hi = TEMPO_VIEW_LIMITS
    if not 1 <= len(rates) <= MAX_TEMPO_VIEWS:
        raise ValueError(f"tempo views: give 1 to {MAX_TEMPO_VIEWS} rates, got {len(rates)}")
    if len(set(rates)) != len(rates):
        raise ValueError(f"tempo views repeat a rate: {value!r}")
    bad = [r for r in rates if not lo <= r <= hi]
    if bad:
        raise ValueError(f"tempo view rates must be within [{lo}, {hi}], got {bad[0]}")
    return rates


def _convert(name: str, raw: str) -> object:
    kind = {f.name: f.type for f in dataclasses.fields(Settings)}[name]
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            if raw.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError(raw)
            return raw.lower() in ("1", "true", "yes", "on")
        if "Path" in str(kind):
            return Path(raw).expanduser()
    except ValueError as exc:
        raise ValueError(f"ASRT_{name.upper()}={raw!r} is not a valid {kind}") from exc
    if name == "tempo_views":
        try:
            parse_tempo_views(raw)
        except ValueError as exc:
            raise ValueError(f"ASRT_TEMPO_VIEWS={raw!r}: {exc}") from None
    return raw


#: CLI flag -> Settings field. ASRT's servers take --listen and --port.
_FLAGS = {
    "--model-dir": "model_dir",
    "--asrt-weights": "asrt_weights",
    "--asrt-dict": "asrt_dict",
    "--lm-dir": "lm_dir",
    "--user-words": "user_words",
    "--listen": "host",
    "--max-audio-seconds": "max_audio_seconds",
    "--max-body-mb": "max_body_mb",
    "--max-batch": "max_batch",
    "--batch-wait-ms": "batch_wait_ms",
    "--queue-size": "queue_size",
    "--log-level": "log_level",
    "--lm-nbest": "lm_nbest",
    "--pad-to-window": "pad_to_window",
    "--tempo-views": "tempo_views",
}


def add_arguments(parser: argparse.ArgumentParser, ports: tuple[str, ...] = ("http", "grpc")) -> None:
    """Add the settings flags; each defaults to None so env/defaults show through."""
    kinds = {f.name: f.type for f in dataclasses.fields(Settings)}
    for flag, name in _FLAGS.items():
        if kinds[name] == "bool":
            parser.add_argument(
                flag, dest=name, action="store_const", const="true", default=None, help=f"(env ASRT_{name.upper()}=1)"
            )
        else:
            parser.add_argument(flag, dest=name, default=None, help=f"(env ASRT_{name.upper()})")
    if ports == ("http",):
        parser.add_argument(
            "--port", dest="http_port", default=None, help="REST port (env ASRT_HTTP_PORT, default 20001)"
        )
    elif ports == ("grpc",):
        parser.add_argument(
            "--port", dest="grpc_port", default=None, help="gRPC port (env ASRT_GRPC_PORT, default 20002)"
        )
    else:
        parser.add_argument(
            "--http-port", dest="http_port", default=None, help="REST port (env ASRT_HTTP_PORT, default 20001)"
        )
        parser.add_argument(
            "--grpc-port", dest="grpc_port", default=None, help="gRPC port (env ASRT_GRPC_PORT, default 20002)"
        )


def apply_arguments(settings: Settings, args: argparse.Namespace) -> Settings:
    """Overlay the flags the user gave on ``settings``."""
    changes = {}
    for f in dataclasses.fields(Settings):
        value = getattr(args, f.name, None)
        if value is not None:
            changes[f.name] = _convert(f.name, str(value))
    return settings.replace(**changes)
