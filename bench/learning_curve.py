"""Accuracy of every shipped revision of zh_dcnn_v1 against the training time behind it.

Each revision's weights are taken from git (the commit that shipped it) and
scored in one run, on this machine, on today's sets: the synthetic held-out
voices (synth-v1/heldout, all clips and the undegraded ones), the unseen
Kokoro voice (synth-kokoro/heldout) and the real speakers of real-dev. Every
revision is read twice: with one view (the weights alone) and as it was
served (its own model.json's tempo views). The x axis is
``total_train_minutes_incl_init`` of each revision's model.json: the CPU
minutes of every training cycle behind its weights.

The table is the answer to "how fast does more training on this machine buy
accuracy". A straight line through log SER (as served) against log
minutes, a power law, the usual shape of such curves, is fitted to all
revisions from 1 and to the last few, and extrapolated to the issue's 10 %
synthetic target: a rough guide, printed as such.

Greedy acoustic SER only (no language model). Nothing is asserted; results
go to bench/results/learning_curve.json.

Usage: python bench/learning_curve.py [--fit-last 6] [--output PATH]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from by_condition import read_recipes, split_report  # noqa: E402  (bench/ is on the path)

from asrt_service.acoustic_model import AcousticModel  # noqa: E402
from asrt_service.config import cache_root  # noqa: E402
from asrt_service.training import evaluate as ev  # noqa: E402
from asrt_service.training.corpus import builder  # noqa: E402

#: revision -> the commit that shipped it (git log -- models/zh_dcnn_v1/weights.h5 and model.json)
REVISIONS = {
    "interim": "e227c2e",
    "1": "5bf61ba",
    "2": "d74d19c",
    "3": "12d4bc7",
    "4": "14b19f6",
    "5": "bb30f12",
    "6": "ac55f6b",
    "7": "1f5f746",
    "8": "3ca7c89",
    "9": "66623e8",
    "10": "5460fb9",
    "11": "a273fd9",
    "12": "9571eff",
    "13": "0da8afa",
    "14": "39218d3",
    "15": "2413d30",
}
MODEL_FILES = ("model.json", "vocab.txt", "weights.h5")
TARGET = 0.10


def checkout(commit: str, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    for name in MODEL_FILES:
        blob = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{commit}:models/zh_dcnn_v1/{name}"], capture_output=True, check=True
        ).stdout
        (into / name).write_bytes(blob)
    return into


def minutes_behind(meta: dict) -> float:
    training = meta.get("training", {})
    return float(training.get("total_train_minutes_incl_init", training.get("train_minutes", 0.0)))


def power_law_fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least squares of log y = a + b log x; returns (a, b)."""
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    b = sum((x - mx) * (y - my) for x, y in zip(lx, ly, strict=True)) / sum((x - mx) ** 2 for x in lx)
    return my - b * mx, b


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared", help="../shared (real-dev)")
    ap.add_argument("--fit-last", type=int, default=6, help="revisions the power law is fitted to (default 6)")
    ap.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "learning_curve.json")
    args = ap.parse_args()

    cache = cache_root()
    synth = cache / "corpus/synth-v1/heldout.wav.lst"
    sets = {
        "synth-v1/heldout": synth,
        "synth-kokoro/heldout": cache / "corpus/synth-kokoro/heldout.wav.lst",
        "real-dev": args.shared / "data/real-dev",
    }
    missing = [str(p) for p in sets.values() if not p.exists()]
    if missing:
        print("missing sets (scripts/rebuild_corpora.sh makes them):\n  " + "\n  ".join(missing), file=sys.stderr)
        return 2
    items = {name: ev.load_items(path) for name, path in sets.items()}
    recipes = read_recipes(builder.corpus_root("synth-v1"), "heldout")

    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for rev, commit in REVISIONS.items():
            model_dir = checkout(commit, Path(tmp) / rev)
            model = AcousticModel.load(model_dir)
            served = tuple(model.tempo_views)
            row = {"commit": commit, "minutes": minutes_behind(model.meta), "served_views": list(served), "reads": {}}
            for label, views in (("one view", (1.0,)), ("as served", served)):
                if label == "as served" and served == (1.0,):
                    row["reads"][label] = row["reads"]["one view"]
                    continue
                model.tempo_views = views
                t0 = time.perf_counter()
                read = {}
                for name, its in items.items():
                    report = ev.evaluate_items(model, its)
                    read[name] = {"ser": report["ser"]["rate"], "ser_toneless": report["ser_toneless"]["rate"]}
                    if name == "synth-v1/heldout":
                        report = {"sources": {str(synth): report}}
                        clean = split_report(report, recipes, "synth-v1/heldout.wav.lst")["undegraded"]
                        read["synth-v1/heldout undegraded"] = {k: clean[k] for k in ("ser", "ser_toneless")}
                read["seconds"] = round(time.perf_counter() - t0, 1)
                row["reads"][label] = read
            rows[rev] = row
            s, o = row["reads"]["as served"], row["reads"]["one view"]
            print(
                f"revision {rev:>7} ({commit}, {row['minutes']:6.1f} min): synth-v1 {100 * o['synth-v1/heldout']['ser']:5.1f}"
                f" / {100 * s['synth-v1/heldout']['ser']:5.1f} served, real-dev toneless"
                f" {100 * o['real-dev']['ser_toneless']:5.1f} / {100 * s['real-dev']['ser_toneless']:5.1f}",
                flush=True,
            )

    cols = ("synth-v1/heldout", "synth-v1/heldout undegraded", "synth-kokoro/heldout", "real-dev")
    print()
    print("toneful SER % (real-dev: toneless), one view / as served")
    print(f"{'revision':>9} {'minutes':>8} {'views':>6} " + " ".join(f"{c[:24]:>24}" for c in cols))
    key = {"real-dev": "ser_toneless"}
    for rev, row in rows.items():
        o, s = row["reads"]["one view"], row["reads"]["as served"]
        cells = [f"{100 * o[c][key.get(c, 'ser')]:5.1f} / {100 * s[c][key.get(c, 'ser')]:5.1f}" for c in cols]
        print(f"{rev:>9} {row['minutes']:>8.1f} {len(row['served_views']):>6} " + " ".join(f"{c:>24}" for c in cells))

    fits = {}
    print()
    ordered = [(rev, row) for rev, row in rows.items() if rev != "interim"]
    for window in (ordered, ordered[-args.fit_last :]):
        xs = [row["minutes"] for _, row in window]
        span = f"revisions {window[0][0]}-{window[-1][0]}"
        for name in ("synth-v1/heldout", "synth-v1/heldout undegraded"):
            ys = [row["reads"]["as served"][name]["ser"] for _, row in window]
            a, b = power_law_fit(xs, ys)
            need = math.exp((math.log(TARGET) - a) / b) if b < 0 else math.inf
            fits[f"{name}, {span}"] = {"log_intercept": a, "exponent": b, "minutes_to_10pct": need}
            print(
                f"{name} as served, {span}: SER ~ minutes^{b:.3f}; 10 % at about {need:,.0f} CPU minutes"
                f" ({need / 60 / 24:,.0f} days) on this recipe (a rough extrapolation)"
            )

    results = {
        "machine": platform.platform(),
        "sets": {name: str(path) for name, path in sets.items()},
        "revisions": rows,
        "power_law": fits,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
