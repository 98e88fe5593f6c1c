"""The two real-speech guards a new acoustic model must pass before it ships.

real-dev's 17 Mandarin recordings (491 syllables) are read three ways by a
:class:`~asrt_service.recognizer.Recognizer` as the service runs it (the
model's own tempo views): as recorded, slowed to 0.7x (sox WSOLA: pitch and
timbre kept, a slow speaker), and through 8 kHz and back (a phone line). The
toneless errors against the transcripts may rise by at most 3 % of the
syllables when slowed and 10 % at 8 kHz (models/zh_dcnn_v1/HISTORY.md,
"Selection rule from v32 on"; the same checks are tests in
tests/test_recognition_real.py, so a model that fails them turns CI red).
"""

from __future__ import annotations

import csv
import dataclasses
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from ..audio import Audio, decode_file
from ..vocab import strip_tone
from .corpus.augment import tempo_change
from .metrics import edit_distance

#: Speaking rate of the slow-speaker guard, and the extra errors each guard allows
#: (fractions of the reference syllables).
SLOW_FACTOR = 0.7
SLOW_ALLOWANCE = 0.03
NARROWBAND_RATE = 8000
NARROWBAND_ALLOWANCE = 0.10


def mandarin_recordings(real_dev: str | Path) -> Iterator[tuple[Path, list[str]]]:
    """real-dev's Mandarin recordings (THCHS30 and AISHELL-1) as ``(wav, toneless gold pinyin)``."""
    real_dev = Path(real_dev)
    with (real_dev / "labels.tsv").open(encoding="utf-8") as f:
        gold = {row["id"]: row["pinyin"].split() for row in csv.DictReader(f, delimiter="\t")}
    for wav in sorted((real_dev / "wav").glob("*.wav")):
        if wav.stem.startswith(("thchs30_", "aishell1_")):
            yield wav, [strip_tone(s) for s in gold[wav.stem]]


def narrowband(wav: Path, rate: int = NARROWBAND_RATE) -> Audio:
    """The recording as an ``rate`` Hz file would reach the service (ffmpeg, then the service's decoder)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"{wav.stem}-{rate}.wav"
        subprocess.run(
            ["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), "-ar", str(rate), str(out)],
            check=True,
        )
        return decode_file(out.read_bytes())


@dataclasses.dataclass(frozen=True)
class GuardCounts:
    """Toneless errors (and syllables heard) over the recordings, per condition."""

    syllables: int
    errors: dict[str, int]
    heard: dict[str, int]

    @property
    def slow_margin(self) -> int:
        return self.errors["slow"] - self.errors["recorded"]

    @property
    def narrowband_margin(self) -> int:
        return self.errors["narrowband"] - self.errors["recorded"]

    @property
    def slow_allowed(self) -> float:
        return SLOW_ALLOWANCE * self.syllables

    @property
    def narrowband_allowed(self) -> float:
        return NARROWBAND_ALLOWANCE * self.syllables

    @property
    def passed(self) -> bool:
        return self.slow_margin <= self.slow_allowed and self.narrowband_margin <= self.narrowband_allowed

    def to_json(self) -> dict:
        return {
            "syllables": self.syllables,
            "errors_toneless": dict(self.errors),
            "heard": dict(self.heard),
            "slow_margin": self.slow_margin,
            "slow_allowed": round(self.slow_allowed, 2),
            "narrowband_margin": self.narrowband_margin,
            "narrowband_allowed": round(self.narrowband_allowed, 2),
            "passed": self.passed,
        }


def guard_counts(
    speech: Callable[[Audio], list[str]],
    real_dev: str | Path,
    conditions: tuple[str, ...] = ("recorded", "slow", "narrowband"),
) -> GuardCounts:
    """Read every Mandarin recording of ``real_dev`` under each condition with ``speech``
    (audio -> toneful pinyin, e.g. ``Recognizer.speech``) and count toneless errors."""
    errors = dict.fromkeys(conditions, 0)
    heard = dict.fromkeys(conditions, 0)
    total = 0
    for wav, gold in mandarin_recordings(real_dev):
        total += len(gold)
        recorded = decode_file(wav.read_bytes())
        for cond in conditions:
            if cond == "recorded":
                audio = recorded
            elif cond == "slow":
                audio = Audio(tempo_change(recorded.samples, SLOW_FACTOR))
            elif cond == "narrowband":
                audio = narrowband(wav)
            else:
                raise ValueError(f"unknown guard condition {cond!r} (recorded, slow, narrowband)")
            hyp = speech(audio)
            errors[cond] += edit_distance(gold, [strip_tone(s) for s in hyp])
            heard[cond] += len(hyp)
    if total == 0:
        raise ValueError(f"{real_dev}: no Mandarin recordings (thchs30_*, aishell1_*) under wav/")
    return GuardCounts(total, errors, heard)
