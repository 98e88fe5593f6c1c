"""How much the language model should trust the acoustic n-best (``DecodeOptions.acoustic_weight``).

With n-best input (the servers' default, 10 candidates per syllable) the LM
adds each candidate's acoustic cost, ``(best log-prob - its log-prob)``
scaled by ``acoustic_weight``, to the text's cost. A larger weight trusts
the acoustic ranking more; a smaller one lets the text overrule it. How
sharp the acoustic posteriors are depends on the acoustic model (an average
of models that drifted apart is flatter), so the weight is chosen per
shipped model, on the dev sets, as the lowest mean toneless SER after the
LM of ``synth-v1/heldout`` and ``real-train/heldout``; real-dev is printed
and never chosen on.

Each model runs once per clip (five tempo views where its model.json says
so, one clip per call as the servers do); the LM then decodes the same
n-best once per weight. Side by side in one run, per model, source and
weight: SER / toneless of the pinyin reading of the LM's hanzi, and CER
where the source has hanzi. Nothing is asserted; results go to
bench/results/lm_acoustic_weight.json.

Usage: python bench/lm_acoustic_weight.py [--model DIR ...] [--weights 0.5,1,1.5,2,3] [SOURCE ...]
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from lm_nbest import default_sources, lone_clip_pieces, score, write_results  # noqa: E402

from asrt_service.acoustic_model import AcousticModel  # noqa: E402
from asrt_service.config import Settings  # noqa: E402
from asrt_service.language_model import PinyinLM  # noqa: E402
from asrt_service.training import evaluate as ev  # noqa: E402

DEV_SETS = ("synth-v1/heldout.wav.lst", "real-train/heldout.wav.lst")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sources", nargs="*")
    ap.add_argument("--model", action="append", help="model directory (repeat to compare; default the shipped one)")
    ap.add_argument("--lm", default=str(ROOT / "models" / "lm"))
    ap.add_argument("--weights", default="0.5,1,1.5,2,3", help="acoustic weights to try, comma-separated")
    ap.add_argument("--output", default=str(ROOT / "bench" / "results" / "lm_acoustic_weight.json"))
    args = ap.parse_args()
    weights = [float(w) for w in args.weights.split(",")]
    lm = PinyinLM.load(args.lm)
    sources = args.sources or default_sources()
    results = {"lm": args.lm, "lm_nbest": Settings.lm_nbest, "machine": platform.platform(), "models": {}}
    print(f"{'model':<22} {'source':<30} {'weight':>6} {'SER':>7} {'toneless':>9} {'CER':>7}")
    for mdir in args.model or [str(ROOT / "models" / "zh_dcnn_v1")]:
        model = AcousticModel.load(mdir)
        per_source = {}
        for source in sources:
            items = ev.load_items(source)
            pieces = lone_clip_pieces(model, items, Settings.lm_nbest)
            name = "/".join(Path(source).parts[-2:])
            rows = {}
            for w in weights:
                row = rows[str(w)] = score(items, pieces, lm, Settings.lm_nbest, w)
                cer = f"{100 * row['cer']:.1f}%" if "cer" in row else "-"
                print(f"{Path(mdir).name:<22} {name:<30} {w:>6} {100 * row['ser']:>6.1f}% "
                      f"{100 * row['ser_toneless']:>8.1f}% {cer:>7}")  # fmt: skip
            per_source[name] = {"utterances": len(items), "rows": rows}
        dev = [s for s in DEV_SETS if s in per_source]
        chosen = None
        if len(dev) == len(DEV_SETS):
            mean = {str(w): sum(per_source[s]["rows"][str(w)]["ser_toneless"] for s in dev) / len(dev) for w in weights}
            chosen = min(mean, key=mean.get)
            print(f"{Path(mdir).name}: dev-set mean toneless after the LM "
                  + ", ".join(f"{w}: {100 * m:.2f}%" for w, m in mean.items()) + f"; lowest at {chosen}")  # fmt: skip
        results["models"][mdir] = {
            "lm_acoustic_weight_in_model_json": model.lm_acoustic_weight,
            "sources": per_source,
            "lowest_dev_mean_at": chosen,
        }
    write_results(results, args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
