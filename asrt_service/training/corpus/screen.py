"""Screen a corpus's voices with a trained acoustic model.

Some synthetic voices do not say what their label says (ttskit's Yina, or a
new ttskit speaker whose vector lands where the synthesizer mumbles). A model
trained on other voices recognizes such a voice far worse than the rest, and
consistently across its presets and clauses: that is the signal. Screening
scores a sample of every base voice's training clips (greedy CTC, toneful
SER), and voices above a threshold are excluded from the lists (recorded in
``corpus.json``, as ``build-corpus --exclude-voice`` does).
"""

from __future__ import annotations

import collections
import dataclasses
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import pipeline
from ..metrics import ErrorCount
from . import builder, voices

_PRESET_TAGS = frozenset(p.tag for p in voices.PRESETS if p != voices.IDENTITY)


def base_voice(voice_id: str) -> str:
    """``ttskitnew-132-m1`` -> ``ttskitnew-132``; a voice without a preset stays as it is."""
    head, _, tag = voice_id.rpartition("-")
    return head if head and tag in _PRESET_TAGS else voice_id


@dataclasses.dataclass
class VoiceScore:
    """One base voice's screening result."""

    voice: str
    clips: int
    ser: float
    excluded: bool

    def to_dict(self) -> dict[str, Any]:
        return {"voice": self.voice, "clips": self.clips, "ser": round(self.ser, 4), "excluded": self.excluded}


def screen(
    root: Path,
    model,
    max_ser: float = 0.6,
    clips_per_voice: int = 12,
    engine: str | None = None,
    seed: int = 0,
    on_progress: Callable[[int], None] | None = None,
) -> list[VoiceScore]:
    """Score each base voice of the corpus at ``root`` and say which to exclude.

    Args:
        root: corpus folder.
        model: an ``AcousticModel``.
        max_ser: voices whose toneful SER over their sampled clips is above this are excluded.
        clips_per_voice: training clips sampled per base voice (all if it has fewer).
        engine: only this engine's voices (all engines if None).
        seed: sampling seed.
        on_progress: called with the number of clips just scored.

    Returns:
        One score per base voice, worst first (voices excluded by an earlier
        screening are scored again; those of ``--exclude-voice`` are not).
        Nothing is written: see :func:`apply`.
    """
    if not 0.0 < max_ser <= 1.0:
        raise ValueError(f"max_ser must be in (0, 1], got {max_ser}")
    if clips_per_voice < 1:
        raise ValueError(f"clips_per_voice must be at least 1, got {clips_per_voice}")
    manual = manual_exclusions(root)
    by_voice: dict[str, list[builder.Row]] = collections.defaultdict(list)
    for eng, rows in builder.read_manifests(root).items():
        if engine is None or eng == engine:
            for r in rows:
                if r.split == "train" and not builder.voice_matches(r.voice, manual):
                    by_voice[base_voice(r.voice)].append(r)
    if not by_voice:
        raise ValueError(f"no training clips to screen in {root}" + (f" for engine {engine!r}" if engine else ""))
    rng = random.Random(seed)
    out = []
    for voice in sorted(by_voice):
        rows = by_voice[voice]
        sample = rng.sample(rows, min(clips_per_voice, len(rows)))
        feats = [model.features(pipeline.read_audio(root / r.path)) for r in sample]
        hyps = model.recognize_features(feats)
        count = ErrorCount()
        for r, hyp in zip(sample, hyps, strict=True):
            count.add(r.pinyin, hyp)
        if on_progress:
            on_progress(len(sample))
        out.append(VoiceScore(voice, len(sample), count.rate, count.rate > max_ser))
    return sorted(out, key=lambda s: -s.ser)


def _screened_out(root: Path) -> set[str]:
    """The voices the corpus's last screening excluded (none if it was never screened)."""
    path = root / "screen.json"
    return {v["voice"] for v in json.loads(path.read_text())["voices"] if v["excluded"]} if path.exists() else set()


def manual_exclusions(root: Path) -> list[str]:
    """The corpus's excluded voices that ``--exclude-voice`` made, not a screening."""
    screened = _screened_out(root)
    return [v for v in builder.excluded_voices(root) if v not in screened]


def apply(root: Path, scores: list[VoiceScore], model_name: str, max_ser: float) -> dict[str, float]:
    """Exclude the voices ``scores`` marks, and keep the scores in ``screen.json``.

    A new screening replaces the previous one (another model or threshold):
    the voices only the previous screening excluded come back; exclusions
    made with ``--exclude-voice`` stay.

    Returns:
        Hours per split after the exclusion.
    """
    manual = manual_exclusions(root)  # read before screen.json is replaced
    report = {"model": model_name, "max_ser": max_ser, "voices": [s.to_dict() for s in scores]}
    (root / "screen.json").write_text(json.dumps(report, indent=1))
    return builder.set_excluded_voices(root, [*manual, *(s.voice for s in scores if s.excluded)])
