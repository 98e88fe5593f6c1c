"""Logging set-up for command-line entry points (the only place handlers are configured)."""

from __future__ import annotations

import logging
import os


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=getattr(logging, str(level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # TensorFlow's C++ start-up chatter is not ours to show at INFO.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
