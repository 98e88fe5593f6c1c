"""Held-out synthetic error rates by recording condition, for one or more models side by side.

A synthetic corpus's held-out clips go through the same random degradations
as its training clips (docs/CORPUS.md, "Augmentation"): reverb, noise and
babble at 0-30 dB SNR, an 8 kHz telephone band, MP3/Opus, clipping. The
corpus manifests record each clip's recipe, so an ``asrt-service evaluate``
report (which keeps every utterance's errors) can be split by it:

- ``undegraded``: no reverb, noise, telephone band, codec or clipping
  (speed and gain changes allowed): the voice and the text alone;
- one row per degradation (a clip with several counts in each of them);
- ``all``: the whole held-out list, as ``evaluate`` reports it.

``--split train`` splits a report on the corpus's training list the same
way (``asrt-service evaluate --sample 900 .../train.wav.lst``: a seeded
random slice, un-augmented), which shows how well a model fits the clips it
trained on, condition by condition, next to how it reads new ones.

Each cell is the toneful / toneless syllable error rate of the greedy
acoustic output. Give several reports (``LABEL=REPORT.json``) to compare
models on the same clips. Nothing is asserted; results go to
bench/results/by_condition.json (by_condition_train.json for ``--split train``).

Usage: python bench/by_condition.py [--corpus synth-v1] [--split heldout|train] LABEL=REPORT.json [...]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from asrt_service.training.corpus import builder  # noqa: E402

#: recipe step prefix -> condition row (noise is split by its SNR below)
STEP_CONDITIONS = {"rev": "reverb", "tel": "telephone 8 kHz", "mp3": "codec", "opus": "codec", "clip": "clipping"}
NOISE_SPLIT_DB = 10


def conditions(recipe: str) -> set[str]:
    """The degradations of one recipe string (``rev0.51+noise-pink3dB+tel8k+gain-2dB``)."""
    found = set()
    for step in recipe.split("+"):
        if step.startswith("noise"):
            snr = float(re.search(r"(-?[\d.]+)dB$", step).group(1))
            found.add(
                f"noise < {NOISE_SPLIT_DB} dB SNR" if snr < NOISE_SPLIT_DB else f"noise >= {NOISE_SPLIT_DB} dB SNR"
            )
        else:
            found.update(cond for prefix, cond in STEP_CONDITIONS.items() if step.startswith(prefix))
    return found


def read_recipes(corpus: Path, split: str) -> dict[str, str]:
    """Each clip of one list of a corpus (``heldout`` or ``train``) -> its degradation recipe."""
    return {
        row.utt_id: row.recipe for rows in builder.read_manifests(corpus).values() for row in rows if row.split == split
    }


def split_report(report: dict, recipes: dict[str, str], list_suffix: str) -> dict[str, dict[str, float]]:
    """Per condition: clips, syllables, toneful and toneless error rates, from one evaluate report."""
    sources = [s for name, s in report["sources"].items() if name.endswith(list_suffix)]
    if len(sources) != 1:
        raise SystemExit(f"the report has {len(sources)} sources ending in {list_suffix!r}; it needs exactly one")
    counts: dict[str, list[int]] = {}
    for utt in sources[0]["per_utterance"]:
        if utt["id"] not in recipes:
            raise SystemExit(f"{utt['id']}: not a clip of this corpus's {list_suffix}")
        conds = conditions(recipes[utt["id"]])
        rows = ["all", *(sorted(conds) if conds else ["undegraded"])]
        for row in rows:
            c = counts.setdefault(row, [0, 0, 0, 0])
            c[0] += 1
            c[1] += len(utt["ref"].split())
            c[2] += utt["errors"]
            c[3] += utt["errors_toneless"]
    return {
        row: {"clips": c[0], "syllables": c[1], "ser": c[2] / c[1], "ser_toneless": c[3] / c[1]}
        for row, c in counts.items()
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("reports", nargs="+", metavar="LABEL=REPORT.json", help="asrt-service evaluate -o reports")
    ap.add_argument("--corpus", default="synth-v1", help="corpus name or folder (default %(default)s)")
    ap.add_argument(
        "--split",
        choices=("heldout", "train"),
        default="heldout",
        help="which list of the corpus (default %(default)s)",
    )
    ap.add_argument("--output", default=None, help="JSON results (default bench/results/by_condition[_train].json)")
    args = ap.parse_args()
    corpus = builder.corpus_root(args.corpus)
    recipes = read_recipes(corpus, args.split)
    list_suffix = f"{corpus.name}/{args.split}.wav.lst"
    results = {"corpus": str(corpus), "split": args.split, "models": {}}
    for item in args.reports:
        label, sep, path = item.partition("=")
        if not sep:
            ap.error(f"{item!r}: give LABEL=REPORT.json")
        results["models"][label] = split_report(json.loads(Path(path).read_text()), recipes, list_suffix)

    first = next(iter(results["models"].values()))
    order = ["all", "undegraded", *sorted(r for r in first if r not in ("all", "undegraded"))]
    labels = list(results["models"])
    print(f"{corpus.name}/{args.split} by condition: toneful / toneless SER, %")
    print(f"{'condition':<22} {'clips':>6} {'syll.':>6}  " + "  ".join(f"{lab:>15}" for lab in labels))
    for row in order:
        if row not in first:
            continue
        cells = []
        for lab in labels:
            r = results["models"][lab].get(row)
            cells.append(f"{100 * r['ser']:6.1f} / {100 * r['ser_toneless']:5.1f}" if r else f"{'-':>15}")
        print(f"{row:<22} {first[row]['clips']:>6} {first[row]['syllables']:>6}  " + "  ".join(cells))
    output = Path(
        args.output or ROOT / "bench" / "results" / f"by_condition{'' if args.split == 'heldout' else '_train'}.json"
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
