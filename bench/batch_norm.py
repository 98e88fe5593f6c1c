"""Batch-norm statistics measured again at test time, side by side with the stored ones.

The shipped model's batch norms normalise with the running statistics training
left (an exponential average of batch statistics, taken under SpecAugment,
tempo stretch, joining and batch padding; for a weight average, the mean of
its members' averages). Two cheap ideas change only those statistics:

- **recalibrated** on real speech (``--calib``, default real-train's training
  split): every batch norm's mean and variance set to those of its input over
  ``--clips`` clips, one clip at a time (no padding), layer after layer in
  graph order so that each layer sees the recalibrated layers before it. With
  ``clean`` the clips are as recorded, each at the model's tempo views; with
  ``augmented`` each gets the training augmentation once (SpecAugment masks,
  ±10 % mel warp, a speaking rate from 0.6-1.15x, as revision 5 onwards was
  trained). A shift towards real recordings' statistics (AdaBN).
- **per utterance**: the same measurement on the clip itself (its tempo views),
  blended with the stored statistics by ``BLEND`` (1 = the clip's own): a
  speaker and channel adaptation per request, at 15 forward passes a clip.

Per source and candidate: greedy ``SER`` and ``toneless``, and with ``--lm``
the language model's toneless reading and CER (n-best 10, as the servers
decode). Choose on the dev sets (``synth-v1/heldout``, ``real-train/heldout``);
real-dev is scored, never chosen on. Nothing is asserted; results go to
bench/results/batch_norm.json.

Usage: python bench/batch_norm.py [--model models/zh_dcnn_v1] [--calib SOURCE[@N] ...]
           [--clips 600] [--blend 1,0.5] [--lm models/lm] [SOURCE ...]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lm_nbest import default_sources  # noqa: E402  (bench/ is on the path: same default sources)
from model_ensemble import score_candidates  # noqa: E402  (same scoring and table)

from asrt_service import features  # noqa: E402
from asrt_service.acoustic_model import AcousticModel, inference_function  # noqa: E402
from asrt_service.config import cache_root  # noqa: E402
from asrt_service.training import evaluate as ev  # noqa: E402
from asrt_service.training import pipeline  # noqa: E402

REAL_TRAIN = cache_root() / "lists/real-train/train.wav.lst"


def recalibrate(am: AcousticModel, clips: Sequence[np.ndarray], blend: float = 1.0) -> dict[str, float]:
    """Set ``am``'s batch-norm statistics to those its inputs have over ``clips`` (in place).

    Layer by layer in graph order, each layer's input computed in inference
    mode with the layers before it already changed, one clip per call.

    Args:
        am: the model; its weights change.
        clips: float32 (frames, n_features) feature arrays.
        blend: weight of the measured statistics against the stored ones.

    Returns:
        Per layer, the mean absolute change of its mean in units of the new standard deviation.
    """
    shifts = {}
    for bn in (layer for layer in am.model.layers if isinstance(layer, keras.layers.BatchNormalization)):
        fn = inference_function(keras.Model(am.model.inputs, bn.input), am.spec.n_features)
        total = sq = 0.0
        count = 0
        for clip in clips:
            x = np.asarray(keras.ops.convert_to_numpy(fn(clip[None, :, :, None])), np.float64)
            x = x.reshape(-1, x.shape[-1])
            total = total + x.sum(axis=0)
            sq = sq + (x * x).sum(axis=0)
            count += len(x)
        mean = total / count
        var = np.maximum(sq / count - mean * mean, 0.0)
        old_mean = np.asarray(keras.ops.convert_to_numpy(bn.moving_mean.value), np.float64)
        old_var = np.asarray(keras.ops.convert_to_numpy(bn.moving_variance.value), np.float64)
        shifts[bn.name] = float(np.mean(np.abs(old_mean - mean) / np.sqrt(var + bn.epsilon)))
        bn.moving_mean.assign((blend * mean + (1 - blend) * old_mean).astype(np.float32))
        bn.moving_variance.assign((blend * var + (1 - blend) * old_var).astype(np.float32))
    return shifts


def calibration_clips(am: AcousticModel, sources: Sequence[str], n: int, augmented: bool, seed: int = 0):
    """``n`` clips drawn from ``sources`` (``PATH@N`` weights a source), as feature arrays."""
    pool = []
    for arg in sources:
        path, repeat = pipeline.parse_source_arg(arg)
        pool += [(u.path, len(u.pinyin)) for u in pipeline.load_source(path)] * repeat
    rng = np.random.default_rng(seed)
    aug = pipeline.Augment(tempo_min=0.6, tempo_max=1.15)
    clips = []
    for i in rng.permutation(len(pool))[:n]:
        path, n_labels = pool[i]
        feats = am.features(pipeline.read_audio(path))
        if augmented:
            clips.append(pipeline.augment_example(feats, n_labels, aug, rng, am.spec.time_stride))
        else:
            clips += [features.tempo_view(feats, r) for r in am.tempo_views]
    return [c for c in clips if len(c) >= am.spec.time_stride]


class PerUtterance:
    """The model with each clip's batch norms recalibrated on that clip (blended with the stored ones)."""

    def __init__(self, am: AcousticModel, blend: float) -> None:
        self.am = am
        self.blend = blend
        self.stored = am.model.get_weights()

    def features(self, waveform: np.ndarray) -> np.ndarray:
        return self.am.features(waveform)

    def nbest_features(self, feats: Sequence[np.ndarray], k: int):
        out = []
        for f in feats:
            self.am.model.set_weights(self.stored)
            views = [features.tempo_view(f, r) for r in self.am.tempo_views]
            views = [v for v in views if len(v) >= self.am.spec.time_stride]
            if views:
                recalibrate(self.am, views, self.blend)
            out += self.am.nbest_features([f], k)
        self.am.model.set_weights(self.stored)
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sources", nargs="*", help="labelled sources (default: the dev sets and real-dev)")
    ap.add_argument("--model", default=str(ROOT / "models/zh_dcnn_v1"))
    ap.add_argument("--calib", action="append", help=f"calibration speech, SOURCE[@N] (default {REAL_TRAIN})")
    ap.add_argument("--clips", type=int, default=600, help="calibration clips drawn (default 600)")
    ap.add_argument("--blend", default="1,0.5", help="per-utterance blends to score ('' for none)")
    ap.add_argument("--lm", default=None, help="language model directory (CER and its toneless reading)")
    ap.add_argument("--output", default=str(ROOT / "bench/results/batch_norm.json"))
    args = ap.parse_args()
    calib = args.calib or [str(REAL_TRAIN)]
    candidates = [("stored statistics", AcousticModel.load(args.model))]
    for mode in ("clean", "augmented"):
        am = AcousticModel.load(args.model)
        clips = calibration_clips(am, calib, args.clips, augmented=mode == "augmented")
        shifts = recalibrate(am, clips)
        print(f"recalibrated ({mode}) on {len(clips)} clips: mean shift {np.mean(list(shifts.values())):.3f} sd")
        candidates.append((f"recalibrated, {mode}", am))
    for blend in (float(b) for b in args.blend.split(",") if b):
        candidates.append((f"per utterance, blend {blend:g}", PerUtterance(AcousticModel.load(args.model), blend)))
    lm = ev.load_lm(args.lm)
    rows = score_candidates(candidates, args.sources or [str(s) for s in default_sources()], lm)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"machine": platform.node(), "model": args.model, "calib": calib, "clips": args.clips}
    out.write_text(json.dumps({**meta, "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
