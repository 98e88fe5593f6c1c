"""Does recognition survive how a recording was made, and how fast its speaker talks?

Real microphones differ from our training audio in level (a laptop microphone
far from the mouth is 20-40 dB below a headset) and in DC offset (cheap sound
cards; THCHS30's recordings carry about -39 dBFS of it), and real speakers
talk at their own pace (our synthetic voices are about 1.5x as fast as
real-train's speakers; docs/TRAINING.md). This bench plays every clip of each
source at several input levels, with a DC offset and at other speaking rates,
through each model + front end given, and reports greedy acoustic syllable
error rates:

- ``SER`` / ``toneless``: edit distance over toneful / toneless syllables
  divided by the reference syllables (``evaluate``'s metrics);
- conditions: ``+10 dB`` .. ``-40 dB`` gain (clipped to [-1, 1]),
  ``dc 0.02`` (a constant 0.02 added, about -34 dBFS), and ``rate 0.7`` ..
  ``rate 1.2``: the speech slowed down or sped up with sox's ``tempo -s``
  (WSOLA: pitch and timbre kept; 0.7 = 70 % of the recorded rate, a slow
  speaker), a different stretch from the one training applies to features;
- ``non-speech syl/min``: syllables emitted per minute of audio with no speech
  in it (60 clips of coloured noise, mains hum and near-silence at -90..-25
  dBFS from ``pipeline.non_speech_waveform``, drawn with a seed training never
  uses): 0 is right.

A model is ``LABEL=MODEL_DIR`` (its own features) or
``LABEL=MODEL_DIR:KIND`` (the same weights read through another front end of
the same width: no retraining). Default: the shipped model through its own
front end (``logmel80_norm``) and through plain ``logmel80``. The committed
results compare revision 7 (shipped) with revision 6 (its files: ``git show
ac55f6b:models/zh_dcnn_v1/weights.h5`` etc. into a folder), as the model card
reports them.
Nothing is asserted; results go to bench/results/front_end.json.

Usage: python bench/front_end.py [--model LABEL=DIR[:KIND] ...] [--limit N] [SOURCE ...]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from asrt_service import features  # noqa: E402
from asrt_service.acoustic_model import AcousticModel  # noqa: E402
from asrt_service.config import cache_root  # noqa: E402
from asrt_service.training import evaluate as ev  # noqa: E402
from asrt_service.training import pipeline  # noqa: E402
from asrt_service.training.corpus import augment  # noqa: E402
from asrt_service.training.metrics import syllable_error_rate  # noqa: E402

CACHE = cache_root()


def level(gain_db: float, dc: float = 0.0) -> Callable[[np.ndarray], np.ndarray]:
    def play(wave: np.ndarray) -> np.ndarray:
        return np.clip(wave * np.float32(10 ** (gain_db / 20)) + np.float32(dc), -1.0, 1.0).astype(np.float32)

    return play


def rate(factor: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda wave: augment.tempo_change(wave, factor)


CONDITIONS = {"+10 dB": level(10.0), "0 dB": level(0.0), "-10 dB": level(-10.0), "-25 dB": level(-25.0),
              "-40 dB": level(-40.0), "dc 0.02": level(0.0, 0.02),
              "rate 0.7": rate(0.7), "rate 0.85": rate(0.85), "rate 1.2": rate(1.2)}  # fmt: skip


def default_sources() -> list[str]:
    out = [str(ROOT.parent / "shared" / "data" / "real-dev")]
    for rel in ("lists/real-train/heldout.wav.lst", "corpus/synth-v1/heldout.wav.lst"):
        if (CACHE / rel).exists():
            out.append(str(CACHE / rel))
    return out


def parse_model(arg: str) -> tuple[str, str, str | None]:
    label, _, rest = arg.partition("=")
    if not rest:
        raise SystemExit(f"--model wants LABEL=MODEL_DIR[:KIND], got {arg!r}")
    path, _, kind = rest.partition(":")
    return label, path, kind or None


def short_name(source: str) -> str:
    p = Path(source)
    return p.name if p.is_dir() else f"{p.parent.name}/{p.name.split('.')[0]}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sources", nargs="*")
    ap.add_argument("--model", action="append", default=[], metavar="LABEL=DIR[:KIND]")
    ap.add_argument("--limit", type=int, default=150, help="clips per source (first N; default %(default)s)")
    ap.add_argument("--output", default=str(ROOT / "bench" / "results" / "front_end.json"))
    args = ap.parse_args()
    shipped = str(ROOT / "models" / "zh_dcnn_v1")
    specs = [parse_model(m) for m in args.model] or [
        ("shipped", shipped, None),
        ("shipped through logmel80", shipped, "logmel80"),
    ]
    loaded: dict[str, AcousticModel] = {}
    sources = args.sources or default_sources()
    clips = {}
    for source in sources:
        items = [it for it in ev.load_items(source) if it.pinyin][: args.limit]
        clips[short_name(source)] = [(it, pipeline.read_audio(it.path)) for it in items]
    played = {}  # (condition, source) -> waveforms, the same for every model
    results = {"machine": platform.platform(), "limit": args.limit, "models": {}, "rows": []}
    names = list(clips)
    print(f"{'model':<28} {'input':<9} " + " ".join(f"{n[:22]:>22}" for n in names))
    for label, path, kind in specs:
        if path not in loaded:  # one load per model folder, however many front ends read it
            loaded[path] = AcousticModel.load(path)
        model = loaded[path]
        kind = kind or model.spec.feature
        results["models"][label] = {"model": path, "feature": kind}
        for cond, play in CONDITIONS.items():
            row = {"model": label, "input": cond}
            cells = []
            for name, pairs in clips.items():
                if (cond, name) not in played:
                    played[cond, name] = [play(wave) for _, wave in pairs]
                refs = [list(item.pinyin) for item, _ in pairs]
                hyps = [model.recognize_features([features.extract(x, kind)])[0] for x in played[cond, name]]
                ser, toneless = syllable_error_rate(refs, hyps), syllable_error_rate(refs, hyps, toneless=True)
                row[name] = {"ser": round(ser, 4), "ser_toneless": round(toneless, 4), "clips": len(pairs)}
                cells.append(f"{100 * ser:10.1f} / {100 * toneless:5.1f} %")
            results["rows"].append(row)
            print(f"{label[:28]:<28} {cond:<9} " + " ".join(f"{c:>22}" for c in cells), flush=True)
    rng = np.random.default_rng(20261124)
    quiet = [pipeline.non_speech_waveform(rng, float(rng.uniform(1.0, 5.0)))[0] for _ in range(60)]
    minutes = sum(len(q) for q in quiet) / features.SAMPLE_RATE / 60
    print(f"\n{'model':<28} non-speech syllables per minute ({minutes:.1f} min of noise, hum, near-silence)")
    results["non_speech"] = {"minutes": round(minutes, 2)}
    for label, path, kind in specs:
        model, kind = loaded[path], results["models"][label]["feature"]
        emitted = sum(len(model.recognize_features([features.extract(q, kind)])[0]) for q in quiet)
        results["non_speech"][label] = round(emitted / minutes, 2)
        print(f"{label[:28]:<28} {emitted / minutes:6.1f}")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    print(f"(SER / toneless SER, greedy pinyin; first {args.limit} clips per source) -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
