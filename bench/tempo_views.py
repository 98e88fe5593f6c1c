"""Test-time tempo views: accuracy and cost of each set of views, side by side.

The acoustic model can run every clip several times, slowed down by
stretching its feature frames in time (``features.tempo_view``), and average
the views' CTC posteriors on the slowest view's time grid
(``acoustic_model.combine_views``). Per source and set of views, in one run on
the same features:

- ``SER`` / ``toneless``: greedy acoustic syllable error rate;
- ``LM toneless`` / ``CER``: after the language model (n-best 10, as the
  servers decode), where ``--lm`` is given (the default);
- ``ms`` per clip: median wall time of one lone clip through
  ``AcousticModel.batch_probs`` (the servers' path for a single request) on
  a 3 s, 5 s and 16 s piece of real speech, over ``--repeats`` runs.

Default sources: ../shared/data/real-dev, and where they exist the dev sets of
the training cache (``synth-v1/heldout``, ``real-train/heldout``), which are
the ones to choose views on; real-dev is scored, never chosen on.
Nothing is asserted; results go to bench/results/tempo_views.json.

Usage: python bench/tempo_views.py [--model models/zh_dcnn_v1] [--no-lm] [SOURCE ...]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lm_nbest import default_sources  # noqa: E402  (bench/ is on the path: same default sources)

from asrt_service.acoustic_model import AcousticModel  # noqa: E402
from asrt_service.training import evaluate as ev  # noqa: E402
from asrt_service.training import pipeline  # noqa: E402

VIEW_SETS = {
    "1 (one view)": (1.0,),
    "1, 0.9, 0.8": (1.0, 0.9, 0.8),
    "0.95, 0.85, 0.75": (0.95, 0.85, 0.75),
    "1 .. 0.8 (5)": (1.0, 0.95, 0.9, 0.85, 0.8),
    "1.05 .. 0.8 (6)": (1.05, 1.0, 0.95, 0.9, 0.85, 0.8),
    "1 .. 0.7 (7)": (1.0, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7),
}
SHARED = ROOT.parent / "shared" / "data"


def latency_ms(model: AcousticModel, repeats: int) -> dict[str, float]:
    """Median milliseconds of one lone clip through ``batch_probs`` per clip length."""
    wavs = sorted((SHARED / "real-dev" / "wav").glob("thchs30_*.wav"))
    speech = np.concatenate([pipeline.read_audio(w) for w in wavs])
    out = {}
    for seconds in (3, 5, 16):
        feats = model.features(speech[: seconds * 16000])
        model.batch_probs([feats])  # warm-up: shapes seen once
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            model.batch_probs([feats])
            times.append(time.perf_counter() - t0)
        out[f"{seconds}s"] = round(1000 * statistics.median(times), 1)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sources", nargs="*")
    ap.add_argument("--model", default=str(ROOT / "models" / "zh_dcnn_v1"))
    ap.add_argument("--lm", default=str(ROOT / "models" / "lm"))
    ap.add_argument("--no-lm", action="store_true", help="acoustic error rates only")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--output", default=str(ROOT / "bench" / "results" / "tempo_views.json"))
    args = ap.parse_args()
    model = AcousticModel.load(args.model)
    shipped = model.tempo_views
    lm = None if args.no_lm else ev.load_lm(args.lm)
    sources = args.sources or default_sources()
    loaded = {s: ev.load_items(s) for s in sources}
    results = {
        "model": args.model,
        "model_tempo_views": list(shipped),
        "machine": platform.platform(),
        "view_sets": {},
    }
    for name, rates in VIEW_SETS.items():
        model.tempo_views = rates
        row = {"rates": list(rates), "latency_ms": latency_ms(model, args.repeats), "sources": {}}
        for source, items in loaded.items():
            r = ev.evaluate_items(model, items, lm=lm, keep_utterances=False)
            cell = {"ser": r["ser"]["rate"], "ser_toneless": r["ser_toneless"]["rate"], "rtf": r["rtf"]}
            if lm is not None:
                cell["ser_lm_toneless"] = r["ser_lm_toneless"]["rate"]
                if "cer" in r:
                    cell["cer"] = r["cer"]["rate"]
            row["sources"][source] = cell
        results["view_sets"][name] = row
    model.tempo_views = shipped

    def pct(v):
        return f"{100 * v:6.1f}" if v is not None else "     -"

    print(f"model {args.model}, its own views: {', '.join(f'{r:g}' for r in shipped)}")
    print(f"{'views':<18} {'3 s ms':>7} {'5 s ms':>7} {'16 s ms':>8}")
    for name, row in results["view_sets"].items():
        lat = row["latency_ms"]
        print(f"{name:<18} {lat['3s']:>7} {lat['5s']:>7} {lat['16s']:>8}")
    for source in sources:
        print(f"\n{source}  ({len(loaded[source])} clips)")
        print(f"{'views':<18} {'SER':>6} {'toneless':>9} {'LM toneless':>12} {'CER':>6}")
        for name, row in results["view_sets"].items():
            c = row["sources"][source]
            print(
                f"{name:<18} {pct(c['ser'])} {pct(c['ser_toneless']):>9} "
                f"{pct(c.get('ser_lm_toneless')):>12} {pct(c.get('cer'))}"
            )
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\nwrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
