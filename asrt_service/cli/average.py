"""``asrt-service average``: average the weights of acoustic models fine-tuned from one start.

Example::

    asrt-service average /tmp/soup models/zh_dcnn_v1 ~/.cache/asrt-service/runs/zh_dcnn_v20/best

``--float16`` stores the weights at half the size (loading casts them back to
float32); with it, one model directory is enough: it is converted, not averaged.

The result is a complete model directory (``model.json``, ``vocab.txt``,
``weights.h5``) that the service, ``evaluate`` and ``train --init-from`` read;
its ``model.json`` names the models it was averaged from.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from .logs import setup_logging

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="asrt-service average",
        description="Average the weights of two or more model directories of one architecture, front end and "
        "vocabulary (cycles fine-tuned from the same weights) into a new model directory.",
    )
    p.add_argument("output", type=Path, help="new model directory (must not exist yet)")
    p.add_argument(
        "models", nargs="+", type=Path, help="model directories to average (two or more; one with --float16)"
    )
    p.add_argument("--name", default=None, help="model name in model.json (default: the first model's)")
    p.add_argument(
        "--float16",
        action="store_true",
        help="store the weights as float16 (half the file; loading casts back to float32); "
        "with this flag a single model directory is converted",
    )
    p.add_argument("--log-level", default="INFO")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level)
    if len(args.models) < (1 if args.float16 else 2):
        logger.error("give at least two model directories to average (one with --float16), got %d", len(args.models))
        return 2
    if args.output.exists():
        logger.error("%s already exists; averaging writes a new model directory", args.output)
        return 2
    from ..acoustic_model import AcousticModel, average_models
    from ..errors import ModelNotFound

    dtype = "float16" if args.float16 else "float32"
    try:
        models = [AcousticModel.load(d) for d in args.models]
        if len(models) == 1:
            out, meta = models[0], {"converted_from": str(args.models[0])}
            out.name = args.name or out.name
        else:
            out, meta = average_models(models, name=args.name or ""), {"averaged_from": [str(d) for d in args.models]}
        out.save(args.output, weights_dtype=dtype, **meta)
    except (ModelNotFound, ValueError) as exc:
        logger.error("%s", exc)
        return 2
    what = f"mean of {len(models)} models" if len(models) > 1 else "converted"
    print(f"{args.output}: {what} ({', '.join(str(d) for d in args.models)}), weights stored as {dtype}")
    return 0
