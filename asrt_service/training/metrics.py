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
        """Count one utterance; returns its edit distance."""
        return self.add_errors(edit_distance(ref, hyp), len(ref))

    def add_errors(self, errors: int, ref_len: int) -> int:
        """Count one utterance whose edit distance is already known."""
        self.errors += errors
        self.ref_len += ref_len
        self.utterances += 1
        self.exact += errors == 0
        return errors

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


def paired_bootstrap(
    errors_a: Sequence[int],
    errors_b: Sequence[int],
    ref_lengths: Sequence[int],
    draws: int = 10000,
    seed: int = 0,
    level: float = 0.95,
) -> dict:
    """How sure is "B differs from A"? A paired bootstrap over utterances.

    Both systems were scored on the same utterances (``errors_a[i]`` and
    ``errors_b[i]`` are edit distances against a reference of length
    ``ref_lengths[i]``). Utterances are redrawn with replacement ``draws``
    times and the error-rate difference B - A recomputed on each draw.

    Returns:
        ``{"a", "b", "diff", "low", "high", "utterances"}``: the two rates, the
        difference and its ``level`` interval, as fractions (0.012 = 1.2
        points). An interval that excludes 0 says the difference is more than
        the luck of which utterances the set happens to hold.

    Raises:
        ValueError: the three sequences differ in length, are empty, or
            the references are empty.
    """
    import numpy as np

    ea, eb, n = (np.asarray(v, dtype=np.float64) for v in (errors_a, errors_b, ref_lengths))
    if not (len(ea) == len(eb) == len(n)) or len(n) == 0:
        raise ValueError("paired_bootstrap needs the same, non-empty set of utterances for A and B")
    if n.sum() <= 0:
        raise ValueError("paired_bootstrap: the references are empty")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(n), (draws, len(n)))
    total = np.maximum(n[idx].sum(axis=1), 1.0)
    diffs = (eb[idx].sum(axis=1) - ea[idx].sum(axis=1)) / total
    tail = 100 * (1 - level) / 2
    return {
        "a": float(ea.sum() / n.sum()),
        "b": float(eb.sum() / n.sum()),
        "diff": float((eb.sum() - ea.sum()) / n.sum()),
        "low": float(np.percentile(diffs, tail)),
        "high": float(np.percentile(diffs, 100 - tail)),
        "utterances": len(n),
    }


#: Report metric -> per-utterance error field (``evaluate``'s rows), for :func:`compare_reports`.
METRICS = {
    "ser": "errors",
    "ser_toneless": "errors_toneless",
    "ser_lm": "errors_lm",
    "ser_lm_toneless": "errors_lm_toneless",
    "cer": "char_errors",
}


def _rows(report: dict, path: str) -> dict[str, dict[str, dict]]:
    out = {}
    for source, result in report.get("sources", {}).items():
        rows = result.get("per_utterance")
        if rows:
            out[source] = {row["id"]: row for row in rows}
    if not out:
        raise ValueError(f"{path}: no per-utterance rows (run evaluate without --brief)")
    return out


def _ref_length(row: dict, field: str) -> int:
    if field == "char_errors":
        return len(hanzi_chars(row.get("text_ref", "")))
    return len(row["ref"].split())


def compare_reports(
    a: dict, b: dict, draws: int = 10000, level: float = 0.95, names: tuple[str, str] = ("A", "B")
) -> dict:
    """``{source: {metric: paired_bootstrap result}}`` over the utterances both reports scored."""
    rows_a, rows_b = _rows(a, names[0]), _rows(b, names[1])
    out: dict[str, dict] = {}
    for source in rows_a.keys() & rows_b.keys():
        ids = [i for i in rows_a[source] if i in rows_b[source]]
        if not ids:
            continue
        out[source] = {}
        pairs = [(rows_a[source][i], rows_b[source][i]) for i in ids]
        for metric, field in METRICS.items():
            if not all(field in ra and field in rb for ra, rb in pairs):
                continue
            lengths = [_ref_length(ra, field) for ra, _ in pairs]
            out[source][metric] = paired_bootstrap(
                [ra[field] for ra, _ in pairs], [rb[field] for _, rb in pairs], lengths, draws=draws, level=level
            )
    if not out:
        raise ValueError(f"{names[0]} and {names[1]} share no scored utterances")
    return out
