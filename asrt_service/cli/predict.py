"""``asrt-service predict``: the acoustic model's pinyin for audio files (no server)."""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys

from ..config import Settings
from .evaluate import REPO_MODELS, open_models
from .logs import setup_logging

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="asrt-service predict",
        description="Greedy CTC pinyin (and optionally hanzi: the language model reads the acoustic n-best) for audio files.",
    )
    p.add_argument("files", nargs="+", help="audio files (WAV, FLAC, OGG; any rate, mixed down to mono)")
    p.add_argument("--model", default=str(REPO_MODELS / "zh_dcnn_v1"), help="model directory (default %(default)s)")
    p.add_argument("--asrt-weights", default=None, help="use an ASRT SpeechModel251bn.model.h5 instead")
    p.add_argument("--asrt-dict", default=None, help="ASRT dict.txt for --asrt-weights")
    p.add_argument("--lm", default=None, help="language model directory: also print hanzi")
    p.add_argument(
        "--lm-nbest",
        type=int,
        default=Settings.lm_nbest,
        help="acoustic candidates per syllable the language model chooses from, as the servers' "
        "--lm-nbest (0 = greedy pinyin only; default %(default)s)",
    )
    p.add_argument(
        "--tempo-views",
        default=None,
        help="test-time tempo views, e.g. 1 (the clip alone) or 1,0.9,0.8; default: the model's own",
    )
    p.add_argument("--topk", type=int, default=0, help="also give K alternatives per syllable (JSON output)")
    p.add_argument("--json", action="store_true", help="one JSON object per file")
    p.add_argument("--log-level", default="WARNING")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level)
    from ..errors import ModelNotFound
    from ..recognizer import PieceResult, lm_text
    from ..training.pipeline import read_audio

    try:
        model, lm = open_models(args)
    except (ModelNotFound, ValueError) as exc:
        logger.error("%s", exc)
        return 2
    status = 0
    for path in args.files:
        try:
            wav = read_audio(path)
        except Exception as exc:  # noqa: BLE001 - report and go on with the other files
            sys.stderr.write(f"{path}: cannot read audio: {exc}\n")
            status = 1
            continue
        (alts,) = model.nbest_features([model.features(wav)], k=max(args.topk, args.lm_nbest, 1))
        piece = PieceResult.from_alternatives(alts)
        pinyin = list(piece.pinyin)
        text = lm_text(lm, piece, args.lm_nbest, acoustic_weight=model.lm_acoustic_weight) if lm is not None else None
        if args.json:
            out = {"file": path, "seconds": round(len(wav) / 16000, 3), "pinyin": pinyin}
            if text is not None:
                out["text"] = text
            if args.topk:
                out["alternatives"] = [
                    [[syl, round(math.exp(lp), 4)] for syl, lp in cands[: args.topk]] for cands in alts
                ]
            sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        else:
            line = f"{path}\t{' '.join(pinyin)}"
            sys.stdout.write(line + (f"\t{text}" if text is not None else "") + "\n")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
