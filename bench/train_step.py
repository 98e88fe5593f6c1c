"""How long one training step takes, with each CTC loss implementation.

The trainer's CTC loss (``acoustic_model.ctc_loss``) hands TensorFlow's C++
CTC kernel the labels as a sparse tensor. ``keras.ops.ctc_loss`` (and
``tf.nn.ctc_loss`` with dense labels, which it calls) computes the same loss
with a graph of small ops instead, which on a CPU is slower than the model
it trains. This bench times a whole training step (forward, CTC, backward,
AdamW update: ``train_on_batch`` on the shipped model's logits) for batches
of the shapes the trainer's bucketing makes (6000 padded frames: many short
clips or a few long ones, real-train's clips joined end to end as
``--join-frames`` joins them), with each loss, side by side in one process,
and compares the two losses on the same logits.

``keras.ops.ctc_loss`` with dense labels also stops at about 707 nats an
example: a clip the model reads badly (a model early in training, 100 or
more output steps) gets that number instead of its loss, and no gradient.
Run with ``--random`` (random features instead of speech) to see it.

Nothing is asserted; results go to bench/results/train_step.json.

Usage: python bench/train_step.py [--model DIR] [--repeats N] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import keras  # noqa: E402

from asrt_service import acoustic_model as am  # noqa: E402
from asrt_service.training import pipeline  # noqa: E402
from asrt_service.training import train as tr  # noqa: E402

#: (clips, frames): 6000 padded frames a batch, as ``--batch-frames`` defaults.
SHAPES = ((20, 300), (10, 600), (5, 1200))
#: Syllables per second of speech in our corpora, about (``--random`` labels).
SYLLABLES_PER_SECOND = 4.5
REAL_TRAIN = ROOT.parent / "shared" / "data" / "real-train"


def random_batch(spec: am.ModelSpec, clips: int, frames: int, rng: np.random.Generator):
    feats = [rng.standard_normal((frames, spec.n_features)).astype(np.float32) for _ in range(clips)]
    n = int(frames / 100 * SYLLABLES_PER_SECOND)
    labels = [rng.integers(0, spec.num_classes - 1, n).astype(np.int32) for _ in range(clips)]
    return pipeline.pack_batch(feats, labels, spec.time_stride)


def speech_batch(examples: list[pipeline.Example], clips: int, frames: int, time_stride: int):
    """``clips`` examples of at most ``frames`` frames, each real-train clips joined end to end."""
    pool = iter([e for e in examples if len(e.feats) <= frames])
    feats, labels = [], []
    for _ in range(clips):
        joined: list[pipeline.Example] = []
        length = 0
        for e in pool:
            length += len(e.feats)
            if length > frames:
                break
            joined.append(e)
        feats.append(np.concatenate([j.feats for j in joined]).astype(np.float32))
        labels.append(np.concatenate([j.labels for j in joined]))
    return pipeline.pack_batch(feats, labels, time_stride)


def time_steps(model: keras.Model, x, y, repeats: int) -> float:
    for _ in range(2):
        model.train_on_batch(x, y)
    start = time.perf_counter()
    for _ in range(repeats):
        model.train_on_batch(x, y)
    return (time.perf_counter() - start) / repeats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=str(ROOT / "models" / "zh_dcnn_v1"))
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--threads", type=int, default=None, help="TensorFlow CPU threads (default: all cores)")
    ap.add_argument("--random", action="store_true", help="random features and labels instead of real-train's speech")
    ap.add_argument("-o", "--out", default=str(ROOT / "bench" / "results" / "train_step.json"))
    args = ap.parse_args()
    tr.configure_threads(args.threads)

    shipped = am.AcousticModel.load(args.model)
    losses = {"keras.ops (dense labels)": am.ctc_loss_keras_ops, "ours (sparse labels, C++ kernel)": am.ctc_loss}
    rng = np.random.default_rng(0)
    if not args.random:
        utterances = pipeline.load_source(REAL_TRAIN)
        rng.shuffle(utterances)
        examples = pipeline.prepare_examples(utterances[:400], shipped.vocab, shipped.spec.feature, progress=False)
    rows = []
    for clips, frames in SHAPES:
        if args.random:
            x, y = random_batch(shipped.spec, clips, frames, rng)
        else:
            x, y = speech_batch(examples, clips, frames, shipped.spec.time_stride)
        row = {"clips": clips, "frames": frames, "ms": {}, "loss": {}}
        for name, ctc in losses.items():
            model = am.build_model(shipped.spec)
            model.set_weights(shipped.model.get_weights())
            logits = am.logits_model(model)
            row["loss"][name] = float(tr.PackedCTCLoss.make(ctc)(y, logits(x, training=False)))
            logits.compile(optimizer=keras.optimizers.AdamW(1e-5), loss=tr.PackedCTCLoss.make(ctc), jit_compile=False)
            row["ms"][name] = round(1000 * time_steps(logits, x, y, args.repeats), 1)
        rows.append(row)

    names = list(losses)
    print(f"{'batch':>12} | " + " | ".join(f"{n:>32}" for n in names) + " | speed-up | loss diff")
    for r in rows:
        ms = [r["ms"][n] for n in names]
        diff = abs(r["loss"][names[0]] - r["loss"][names[1]])
        cells = " | ".join(f"{m:>29.0f} ms" for m in ms)
        print(f"{r['clips']:>3} x {r['frames']:>5} | {cells} | {ms[0] / ms[1]:>7.2f}x | {diff:.4f}")
    result = {
        "model": args.model,
        "machine": {"cpu": platform.processor() or platform.machine(), "threads": args.threads},
        "backend": keras.backend.backend(),
        "input": "random features" if args.random else f"{REAL_TRAIN} clips joined",
        "repeats": args.repeats,
        "rows": rows,
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
