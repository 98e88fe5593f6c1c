"""``asrt-service predict``: the acoustic model's pinyin for audio files (no server)."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from .evaluate import REPO_MODELS, load_model
from .logs import setup_logging

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="asrt-service predict",
        description="Greedy CTC pinyin (and optionally hanzi via the language model) for audio files.",
    )
    p.add_argument("files", nargs="+", help="audio files (WAV, FLAC, OGG; any rate, mixed down to mono)")
    p.add_argument("--model", default=str(REPO_MODELS / "zh_dcnn_v1"), help="model directory (default %(default)s)")
    p.add_argument("--asrt-weights", default=None, help="use an ASRT SpeechModel251bn.model.h5 instead")
    p.add_argument("--asrt-dict", default=None, help="ASRT dict.txt for --asrt-weights")
    p.add_argument("--lm", default=None, help="language model directory: also print hanzi")
    p.add_argument("--topk", type=int, default=0, help="also give K alternatives per syllable (JSON output)")
    p.add_argument("--json", action="store_true", help="one JSON object per file")
    p.add_argument("--log-level", default="WARNING")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level)
    from ..acoustic_model import ctc_greedy, ctc_topk
    from ..errors import ModelNotFound
    from ..training.evaluate import load_lm
    from ..training.pipeline import read_audio

    try:
        model = load_model(args)
    except (ModelNotFound, ValueError) as exc:
        logger.error("%s", exc)
        return 2
    lm = load_lm(args.lm)
    status = 0
    stride = model.spec.time_stride
    for path in args.files:
        try:
            wav = read_audio(path)
        except Exception as exc:  # noqa: BLE001 - report and go on with the other files
            sys.stderr.write(f"{path}: cannot read audio: {exc}\n")
            status = 1
            continue
        feats = model.features(wav)
        frames = -(-max(len(feats), stride) // stride) * stride
        batch = feats[None, :, :, None]
        if frames > len(feats):
            import numpy as np

            batch = np.pad(batch, ((0, 0), (0, frames - len(feats)), (0, 0), (0, 0)))
        probs = model.infer(batch)[0]
        steps = len(feats) // stride
        pinyin = model.vocab.decode(ctc_greedy(probs, steps))
        text = lm.decode(pinyin).text if lm is not None else None
        if args.json:
            out = {"file": path, "seconds": round(len(wav) / 16000, 3), "pinyin": pinyin}
            if text is not None:
                out["text"] = text
            if args.topk:
                out["alternatives"] = [
                    [[model.vocab.syllables[c], round(p, 4)] for c, p in alts]
                    for alts in ctc_topk(probs, steps, args.topk)
                ]
            sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        else:
            line = f"{path}\t{' '.join(pinyin)}"
            sys.stdout.write(line + (f"\t{text}" if text is not None else "") + "\n")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
