"""Error rates: toneful and toneless syllable error rate, character error rate.

All three are edit distance (substitutions + insertions + deletions) summed
over a set, divided by the summed reference length, as ASRT and the speech
literature report them. Toneless SER compares syllables with tone digits
removed: it separates "heard the syllable" from "heard its tone", which
matters because gold transcripts mark tone sandhi inconsistently.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from ..vocab import strip_tone


def edit_distance(ref: Sequence[str], hyp: Sequence[str]) -> int:
    """Levenshtein distance between two token sequences."""
    if len(ref) < len(hyp):
        ref, hyp = hyp, ref
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i]
        for j, h in enumerate(hyp, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h)))
        prev = cur
    return prev[-1]


def hanzi_chars(text: str) -> list[str]:
    """Characters scored by CER: CJK ideographs, letters and digits (punctuation and spaces dropped)."""
    return [ch for ch in text if ("\u4e00" <= ch <= "\u9fff") or ch.isalnum()]


@dataclasses.dataclass
class ErrorCount:
    """Running edit-distance total over a set of utterances."""

    errors: int = 0
    ref_len: int = 0
    utterances: int = 0
    exact: int = 0

    def add(self, ref: Sequence[str], hyp: Sequence[str]) -> int:
        d = edit_distance(ref, hyp)
        self.errors += d
        self.ref_len += len(ref)
        self.utterances += 1
        self.exact += d == 0
        return d

    @property
    def rate(self) -> float:
        """errors / reference tokens (0.0 for an empty set)."""
        return self.errors / self.ref_len if self.ref_len else 0.0

    def to_dict(self) -> dict:
        return {
            "rate": round(self.rate, 4),
            "errors": self.errors,
            "ref_tokens": self.ref_len,
            "utterances": self.utterances,
            "sentence_accuracy": round(self.exact / self.utterances, 4) if self.utterances else 0.0,
        }


def syllable_error_rate(refs: Sequence[Sequence[str]], hyps: Sequence[Sequence[str]], toneless: bool = False) -> float:
    """Corpus-level SER over toneful (or, with ``toneless``, tone-stripped) syllables."""
    count = ErrorCount()
    for r, h in zip(refs, hyps, strict=True):
        if toneless:
            r, h = [strip_tone(s) for s in r], [strip_tone(s) for s in h]
        count.add(r, h)
    return count.rate


def character_error_rate(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Corpus-level CER over hanzi (punctuation and spaces ignored)."""
    count = ErrorCount()
    for r, h in zip(refs, hyps, strict=True):
        count.add(hanzi_chars(r), hanzi_chars(h))
    return count.rate
