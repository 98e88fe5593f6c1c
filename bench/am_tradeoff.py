"""Architecture trade-off: ASRT's asrt251bn vs our dcnn_fast on this machine.

Measures, for each architecture, with the same Keras/TensorFlow CPU setup:

* parameters;
* training cost: seconds per training step on a batch of 8 clips x 5 s
  (random features and labels; forward + CTC + backward + AdamW update), given
  as minutes of compute per audio-hour per epoch;
* inference: median seconds for one 5 s clip (batch 1, on its real length) and
  for a batch of 16 x 5 s, as real-time factors.

Accuracy at equal training time comes from training runs (docs/TRAINING.md).
Prints a table and writes bench/results/am_tradeoff.json. Nothing is asserted.

    nice -n 10 .venv/bin/python bench/am_tradeoff.py --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path


def measure(arch: str, train_steps: int, infer_runs: int) -> dict:
    import keras
    import numpy as np

    from asrt_service import acoustic_model as am
    from asrt_service.training import train as tr
    from asrt_service.vocab import Vocabulary, build_default_vocabulary

    spec = am.preset(arch)
    vocab = Vocabulary(build_default_vocabulary().syllables[: spec.num_classes - 1]) if arch == "dcnn_fast" else None
    model = am.build_model(spec)
    logits = am.logits_model(model)
    logits.compile(optimizer=keras.optimizers.AdamW(1e-3), loss=tr.PackedCTCLoss.make(), jit_compile=False)
    rng = np.random.default_rng(0)
    frames = 500  # 5 s
    x = rng.standard_normal((8, frames, spec.n_features, 1)).astype(np.float32)
    y = np.full((8, 1 + 24), -1, np.int32)
    y[:, 0] = frames // 8
    y[:, 1:21] = rng.integers(0, spec.num_classes - 1, (8, 20))
    logits.train_on_batch(x, y)  # trace
    times = []
    for _ in range(train_steps):
        t0 = time.perf_counter()
        logits.train_on_batch(x, y)
        times.append(time.perf_counter() - t0)
    step = statistics.median(times)
    if vocab is None:
        vocab = Vocabulary([f"s{i}" for i in range(spec.num_classes - 1)])
    acoustic = am.AcousticModel(spec, vocab, model)
    one = x[:1]
    sixteen = np.repeat(x, 2, axis=0)
    acoustic.infer(one)
    acoustic.infer(sixteen)
    t_one, t_16 = [], []
    for _ in range(infer_runs):
        t0 = time.perf_counter()
        acoustic.infer(one)
        t_one.append(time.perf_counter() - t0)
    for _ in range(max(3, infer_runs // 5)):
        t0 = time.perf_counter()
        acoustic.infer(sixteen)
        t_16.append(time.perf_counter() - t0)
    return {
        "arch": arch,
        "feature": spec.feature,
        "params": int(model.count_params()),
        "train_step_s_8x5s": round(step, 4),
        "train_step_spread_s": [round(min(times), 4), round(max(times), 4)],
        "train_min_per_audio_hour_epoch": round(step * (3600 / 40) / 60, 2),
        "infer_5s_clip_ms": round(1000 * statistics.median(t_one), 2),
        "infer_5s_clip_rtf": round(statistics.median(t_one) / 5.0, 5),
        "infer_16x5s_batch_ms": round(1000 * statistics.median(t_16), 1),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--train-steps", type=int, default=8)
    p.add_argument("--infer-runs", type=int, default=30)
    p.add_argument("--archs", nargs="+", default=["dcnn_fast", "asrt251bn"])
    p.add_argument("--output", default=str(Path(__file__).parent / "results" / "am_tradeoff.json"))
    args = p.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    rows = [measure(a, args.train_steps, args.infer_runs) for a in args.archs]
    header = (
        f"{'arch':<11}{'params':>10}{'step 8x5s':>11}{'min/audio-h/epoch':>19}{'5 s clip':>10}{'RTF':>9}{'16x5s':>9}"
    )
    print(header)
    for r in rows:
        print(
            f"{r['arch']:<11}{r['params']:>10,}{r['train_step_s_8x5s']:>10.3f}s{r['train_min_per_audio_hour_epoch']:>19.2f}"
            f"{r['infer_5s_clip_ms']:>8.1f}ms{r['infer_5s_clip_rtf']:>9.4f}{r['infer_16x5s_batch_ms']:>7.0f}ms"
        )
    out = {
        "machine": {"cpus": os.cpu_count(), "threads": args.threads, "platform": platform.platform()},
        "note": "absolute times depend on the machine and on what else runs; compare the archs within one run",
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
        "results": rows,
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
