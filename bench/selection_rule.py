"""Judge candidate acoustic models against the shipped one by the selection rule.

The rule (models/zh_dcnn_v1/HISTORY.md, "Selection rule from v32 on", fixed
before any of today's candidates was trained): a candidate may replace the
shipped model when

1. its dev mean (toneful SER of synth-v1/heldout and real-train/heldout) is at
   most 0.5 points above the shipped model's;
2. it reads one of the two held-out-voice sets (synth-v1/heldout, the unseen
   Kokoro voice synth-kokoro/heldout) better, the 95 % paired-bootstrap
   interval of the toneless difference leaving out zero, and the other no
   more than 0.5 points worse (toneful);
3. it passes both real-speech guards (asrt_service.training.guards: real-dev
   slowed to 0.7x at most 3 % of its syllables worse than as recorded, 8 kHz
   at most 10 %), which are also tests of the suite;

and among the candidates that pass, the lowest mean toneful SER of the three
sets wins. real-dev and synth-syl/heldout (random syllables) are scored and
reported, never chosen on. Every model is read as the shipped one is served
(its tempo views and LM acoustic weight) unless ``--own-settings``.

Side by side in one run: a table per model and set (toneful / toneless SER,
toneless after the LM), the guards, each condition and the verdict; the JSON
(``--output``) holds every number: each model's evaluation block in
model.json's form, its guard counts and its verdict.

Usage: python bench/selection_rule.py [--baseline DIR] NAME=DIR [NAME=DIR ...] [--output PATH]
The sets are the cache's (scripts/rebuild_corpora.sh rebuilds them on a fresh machine).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from asrt_service.acoustic_model import AcousticModel  # noqa: E402
from asrt_service.config import cache_root  # noqa: E402
from asrt_service.language_model import PinyinLM  # noqa: E402
from asrt_service.recognizer import Recognizer  # noqa: E402
from asrt_service.training import evaluate as ev  # noqa: E402
from asrt_service.training import guards  # noqa: E402
from asrt_service.training.selection import (  # noqa: E402
    REAL_DEV,
    REAL_TRAIN,
    SYLLABLES,
    SYNTH,
    UNSEEN,
    choose,
    judge,
    rate,
    three_set_mean,
)


def default_sets(shared: Path) -> dict[str, tuple[str, Path]]:
    cache = cache_root()
    return {
        SYNTH: ("synth-v1/heldout", cache / "corpus/synth-v1/heldout.wav.lst"),
        REAL_TRAIN: ("real-train/heldout", cache / "lists/real-train/heldout.wav.lst"),
        UNSEEN: ("synth-kokoro/heldout (unseen voice)", cache / "corpus/synth-kokoro/heldout.wav.lst"),
        SYLLABLES: ("synth-syl/heldout (random syllables)", cache / "corpus/synth-syl/heldout.wav.lst"),
        REAL_DEV: ("real-dev", shared / "data/real-dev"),
    }


def score_model(model: AcousticModel, sets: dict, lm) -> dict:
    """Every set (with per-utterance rows, for the bootstrap) and the guards, for one model."""
    out = {"sources": {}, "seconds": {}}
    for role, (label, path) in sets.items():
        t0 = time.perf_counter()
        out["sources"][role] = ev.evaluate_items(model, ev.load_items(path), lm=lm)
        out["seconds"][role] = round(time.perf_counter() - t0, 1)
        print(f"  {label}: {ev.summarize(out['sources'][role])}", flush=True)
    recognizer = Recognizer(model, None)
    try:
        out["guards"] = guards.guard_counts(recognizer.speech, sets[REAL_DEV][1]).to_json()
    finally:
        recognizer.close()
    return out


def evaluation_block(report: dict, sets: dict) -> dict:
    """A model's numbers in model.json's ``evaluation`` form (rates rounded as there)."""
    block = {}
    for role, (label, _) in sets.items():
        r = report["sources"][role]
        entry = {
            "ser": round(r["ser"]["rate"], 4),
            "ser_toneless": round(r["ser_toneless"]["rate"], 4),
            "utterances": r["utterances"],
            "audio_seconds": r["audio_seconds"],
            "rtf": r["rtf"],
        }
        for key in ("ser_lm", "ser_lm_toneless", "cer"):
            if key in r:
                entry[key] = round(r[key]["rate"], 4)
        block[label] = entry
    return block


def parse_candidate(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not sep or not name or not Path(path, "model.json").is_file():
        raise argparse.ArgumentTypeError(f"expected NAME=MODEL_DIR with a model.json, got {text!r}")
    return name, Path(path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("candidates", nargs="+", type=parse_candidate, metavar="NAME=DIR")
    ap.add_argument("--baseline", type=Path, default=ROOT / "models" / "zh_dcnn_v1", help="the shipped model")
    ap.add_argument("--lm", type=Path, default=ROOT / "models" / "lm")
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared", help="../shared (real-dev)")
    ap.add_argument(
        "--own-settings",
        action="store_true",
        help="read each candidate with its own model.json's tempo views and LM weight, not the baseline's",
    )
    ap.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "selection_rule.json")
    args = ap.parse_args()

    sets = default_sets(args.shared)
    missing = [str(path) for _, path in sets.values() if not path.exists()]
    if missing:
        print("missing sets (scripts/rebuild_corpora.sh makes them):\n  " + "\n  ".join(missing), file=sys.stderr)
        return 2
    lm = PinyinLM.load(args.lm)
    base_model = AcousticModel.load(args.baseline)
    views, weight = base_model.tempo_views, base_model.lm_acoustic_weight
    models = {"baseline": (args.baseline, base_model)}
    for name, path in args.candidates:
        model = AcousticModel.load(path)
        if not args.own_settings:
            model.tempo_views, model.lm_acoustic_weight = views, weight
        models[name] = (path, model)

    reports = {}
    for name, (path, model) in models.items():
        print(f"{name} ({path}; tempo views {','.join(map(str, model.tempo_views))}, "
              f"LM weight {model.lm_acoustic_weight})", flush=True)  # fmt: skip
        reports[name] = score_model(model, sets, lm)

    roles = list(sets)
    print()
    print(f"{'model':<16} " + " ".join(f"{sets[r][0].split(' ')[0]:>24}" for r in roles) + f" {'3-set mean':>11}")
    for name, rep in reports.items():
        cells = [
            f"{100 * rate(rep, r):5.1f}/{100 * rate(rep, r, 'ser_toneless'):4.1f}/"
            f"{100 * rate(rep, r, 'ser_lm_toneless'):4.1f}"
            for r in roles
        ]
        print(f"{name:<16} " + " ".join(f"{c:>24}" for c in cells) + f" {100 * three_set_mean(rep):10.2f}%")
    print("(each set: toneful / toneless SER / toneless after the LM, %)")
    print()
    print(f"{'model':<16} {'as recorded':>11} {'0.7x':>12} {'8 kHz':>12}  (toneless errors of real-dev's Mandarin)")
    for name, rep in reports.items():
        g = rep["guards"]
        e = g["errors_toneless"]
        print(f"{name:<16} {e['recorded']:>11} {e['slow']:>4} ({g['slow_margin']:+d}/{g['slow_allowed']:.1f}) "
              f"{e['narrowband']:>4} ({g['narrowband_margin']:+d}/{g['narrowband_allowed']:.1f})"
              f"{'' if g['passed'] else '  FAILS a guard'}")  # fmt: skip

    verdicts = {name: judge(reports["baseline"], rep) for name, rep in reports.items() if name != "baseline"}
    print()
    for name, v in verdicts.items():
        b = v["toneless_bootstrap"]
        print(
            f"{name}: condition 1 {'pass' if v['condition_1'] else 'FAIL'} (dev mean {100 * v['dev_mean']:.2f} %, "
            f"at most {100 * v['dev_mean_bound']:.2f}); condition 2 {'pass' if v['condition_2'] else 'FAIL'} "
            f"(toneless synth-v1 {100 * b[SYNTH]['diff']:+.1f} [{100 * b[SYNTH]['low']:+.1f}, "
            f"{100 * b[SYNTH]['high']:+.1f}], unseen {100 * b[UNSEEN]['diff']:+.1f} [{100 * b[UNSEEN]['low']:+.1f}, "
            f"{100 * b[UNSEEN]['high']:+.1f}]; toneful {100 * v['toneful_diff'][SYNTH]:+.1f} / "
            f"{100 * v['toneful_diff'][UNSEEN]:+.1f}); guards {'pass' if v['guards'] else 'FAIL'}"
        )
    winner = choose(reports, verdicts)
    print(
        f"verdict: {winner} (three-set mean {100 * three_set_mean(reports[winner]):.2f} % against the baseline's "
        f"{100 * three_set_mean(reports['baseline']):.2f} %), if it also passes the test suite"
        if winner
        else "verdict: no candidate passes; keep the baseline"
    )

    results = {
        "rule": "models/zh_dcnn_v1/HISTORY.md, 'Selection rule from v32 on'",
        "machine": platform.platform(),
        "baseline": str(args.baseline),
        "tempo_views": list(views) if not args.own_settings else "each model's own",
        "lm_acoustic_weight": weight if not args.own_settings else "each model's own",
        "sets": {role: str(path) for role, (_, path) in sets.items()},
        "models": {
            name: {
                "path": str(models[name][0]),
                "three_set_mean": three_set_mean(rep),
                "guards": rep["guards"],
                "evaluation": evaluation_block(rep, sets),
                "seconds": rep["seconds"],
                **({"verdict": verdicts[name]} if name in verdicts else {}),
            }
            for name, rep in reports.items()
        },
        "winner": winner,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
