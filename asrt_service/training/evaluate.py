"""Evaluate an acoustic model (and optionally the language model) on labelled audio.

Sources are the same as for training (``pipeline.load_source``): ASRT list
files, a folder with ``labels.tsv`` (``../shared/data`` layout), or a folder of
audio files with ``.txt`` transcripts. Reported per source:

* ``ser``: toneful syllable error rate of greedy CTC decoding;
* ``ser_toneless``: the same with tone digits removed;
* with a language model (decoding the acoustic n-best as the servers do,
  ``lm_nbest`` candidates per syllable):

  * ``cer``: character error rate of its hanzi, where the source has hanzi
    references;
  * ``ser_lm`` / ``ser_lm_toneless``: syllable error rate of the pinyin
    reading of its hanzi (pypinyin, in context), for every source: what the
    language model corrects of the acoustic pinyin, also on sources that
    have no hanzi references. Characters the LM could not produce count as
    deletions.

Clips are decoded on their own length (no 16 s padding), batched by length.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..config import Settings
from ..recognizer import PieceResult, lm_text
from ..vocab import strip_tone
from . import pipeline
from .metrics import ErrorCount, hanzi_chars

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class EvalItem:
    """One labelled clip: reference pinyin and, where known, reference hanzi."""

    utt_id: str
    path: Path
    pinyin: tuple[str, ...]
    text: str | None = None
    speaker: str = ""


def _tsv_texts(tsv: Path) -> dict[str, str]:
    out = {}
    with tsv.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            text = row.get("hanzi") or row.get("text")
            if text:
                out[row["id"]] = text
    return out


def load_items(source: str | Path) -> list[EvalItem]:
    """Labelled clips of one source, with hanzi references where the source has them."""
    p = Path(source)
    utts = pipeline.load_source(p)
    texts: dict[str, str] = {}
    if p.is_dir() and (p / "labels.tsv").exists():
        texts = _tsv_texts(p / "labels.tsv")
    elif p.is_dir():
        for u in utts:
            txt = Path(u.path).with_suffix(".txt")
            if txt.exists():
                t = txt.read_text(encoding="utf-8").strip()
                if any("\u4e00" <= ch <= "\u9fff" for ch in t):
                    texts[u.utt_id] = t
    return [EvalItem(u.utt_id, Path(u.path), tuple(u.pinyin), texts.get(u.utt_id), u.speaker) for u in utts]


def sample_items(items: Sequence[EvalItem], n: int, seed: int = 0) -> list[EvalItem]:
    """``n`` of ``items`` drawn at random (the same ``n`` and ``seed`` draw the same clips), in list order.

    A training list is sorted by engine and voice, so its first ``n`` clips
    (``--limit``) are one voice; a seeded sample stands for the whole list.
    """
    if n < 1:
        raise ValueError(f"a sample needs at least one utterance, not {n}")
    if n >= len(items):
        return list(items)
    keep = set(random.Random(seed).sample(range(len(items)), n))
    return [item for i, item in enumerate(items) if i in keep]


def evaluate_items(
    model,
    items: Sequence[EvalItem],
    lm=None,
    batch_frames: int = 16000,
    keep_utterances: bool = True,
    lm_nbest: int = Settings.lm_nbest,
) -> dict[str, Any]:
    """Score ``model`` (an ``AcousticModel``) on ``items``.

    Args:
        model: the acoustic model.
        items: labelled clips.
        lm: optional language model (``PinyinLM``) for CER and ``ser_lm``.
        batch_frames: padded frames per inference batch.
        keep_utterances: include per-utterance reference / hypothesis in the report.
        lm_nbest: acoustic candidates per syllable given to the language model
            (0 or 1: the greedy pinyin only), as the servers' ``lm_nbest``.

    Returns:
        A JSON-ready dict with ``ser``, ``ser_toneless`` (and ``cer``) blocks
        (rate, errors, reference tokens, utterances, sentence accuracy), with a
        language model ``ser_lm`` and ``ser_lm_toneless`` too, audio seconds,
        model seconds and real-time factor.
    """
    feats = []
    audio_seconds = 0.0
    for it in items:
        wav = pipeline.read_audio(it.path)
        audio_seconds += len(wav) / 16000
        feats.append(model.features(wav))
    order = sorted(range(len(items)), key=lambda i: len(feats[i]))
    pieces: list[PieceResult] = [PieceResult(()) for _ in items]
    model_seconds = 0.0
    i = 0
    while i < len(order):
        j = i + 1
        while j < len(order) and len(feats[order[j]]) * (j - i + 1) <= batch_frames:
            j += 1
        idx = order[i:j]
        t0 = time.perf_counter()
        out = model.nbest_features([feats[k] for k in idx], k=lm_nbest if lm is not None else 1)
        model_seconds += time.perf_counter() - t0
        for k, alts in zip(idx, out, strict=True):
            pieces[k] = PieceResult.from_alternatives(alts)
        i = j
    report: dict[str, Any] = {
        "utterances": len(items),
        "audio_seconds": round(audio_seconds, 2),
        "model_seconds": round(model_seconds, 3),
        "rtf": round(model_seconds / audio_seconds, 5) if audio_seconds else None,
    }
    weight = getattr(model, "lm_acoustic_weight", None)
    report.update(
        score_pieces(items, pieces, lm=lm, lm_nbest=lm_nbest, keep_utterances=keep_utterances, acoustic_weight=weight)
    )
    return report


def score_pieces(
    items: Sequence[EvalItem],
    pieces: Sequence[PieceResult],
    lm=None,
    lm_nbest: int = Settings.lm_nbest,
    keep_utterances: bool = True,
    lm_seconds: list[float] | None = None,
    acoustic_weight: float | None = None,
) -> dict[str, Any]:
    """Error rates of acoustic output already computed (one :class:`PieceResult` per item).

    Returns the ``ser`` / ``ser_toneless`` (and with ``lm`` the ``ser_lm``,
    ``ser_lm_toneless``, ``cer``) blocks of :func:`evaluate_items`; with
    ``lm_seconds`` given, each utterance's language-model time is appended to it.
    ``acoustic_weight`` is the acoustic model's ``lm_acoustic_weight`` (the
    scale of its n-best log-probabilities in the language model), as the
    servers use it. Where the items name their speakers (THCHS30 / AISHELL-1 ids, our corpora's
    voices), ``by_speaker`` holds the same rates per speaker: how far apart the
    voices of one set are.
    """
    toneful, toneless, chars = ErrorCount(), ErrorCount(), ErrorCount()
    lm_toneful, lm_toneless = ErrorCount(), ErrorCount()
    by_speaker: dict[str, dict[str, ErrorCount]] = {}
    rows = []
    for it, piece in zip(items, pieces, strict=True):
        hyp = list(piece.pinyin)
        ref_toneless = [strip_tone(s) for s in it.pinyin]
        row: dict[str, Any] = {"id": it.utt_id, "ref": " ".join(it.pinyin), "hyp": " ".join(hyp)}
        row["errors"] = toneful.add(list(it.pinyin), hyp)
        row["errors_toneless"] = toneless.add(ref_toneless, [strip_tone(s) for s in hyp])
        if lm is not None:
            t0 = time.perf_counter()
            text = lm_text(lm, piece, lm_nbest, acoustic_weight=acoustic_weight)
            if lm_seconds is not None:
                lm_seconds.append(time.perf_counter() - t0)
            reading = list(pipeline.text_to_pinyin(text)) if text else []
            row["text_hyp"], row["hyp_lm"] = text, " ".join(reading)
            row["errors_lm"] = lm_toneful.add(list(it.pinyin), reading)
            row["errors_lm_toneless"] = lm_toneless.add(ref_toneless, [strip_tone(s) for s in reading])
            if it.text:
                row["text_ref"] = it.text
                row["char_errors"] = chars.add(hanzi_chars(it.text), hanzi_chars(text))
        if it.speaker:
            counts = by_speaker.setdefault(it.speaker, {})
            counts.setdefault("ser", ErrorCount()).add_errors(row["errors"], len(it.pinyin))
            counts.setdefault("ser_toneless", ErrorCount()).add_errors(row["errors_toneless"], len(it.pinyin))
            if lm is not None:
                counts.setdefault("ser_lm_toneless", ErrorCount()).add_errors(row["errors_lm_toneless"], len(it.pinyin))
        rows.append(row)
    report: dict[str, Any] = {"ser": toneful.to_dict(), "ser_toneless": toneless.to_dict()}
    if lm is not None:
        report["lm_nbest"] = lm_nbest
        if acoustic_weight is not None:
            report["lm_acoustic_weight"] = acoustic_weight
        report["ser_lm"] = lm_toneful.to_dict()
        report["ser_lm_toneless"] = lm_toneless.to_dict()
    if chars.utterances:
        report["cer"] = chars.to_dict()
    if by_speaker:
        report["by_speaker"] = {
            spk: {"utterances": c["ser"].utterances, **{k: v.to_dict()["rate"] for k, v in c.items()}}
            for spk, c in sorted(by_speaker.items())
        }
    if keep_utterances:
        report["per_utterance"] = rows
    return report


def load_lm(path: str | Path | None):
    """The pinyin->hanzi language model at ``path``, or None (with a log line) if unavailable."""
    if not path:
        return None
    try:
        from ..language_model import PinyinLM
    except ImportError as exc:
        logger.warning("language model not available (%s); CER skipped", exc)
        return None
    if not Path(path).exists():
        logger.warning("no language model at %s; CER skipped", path)
        return None
    return PinyinLM.load(path)


def summarize(report: dict[str, Any]) -> str:
    """One line: SER toneful / toneless (and CER)."""
    s = f"SER {100 * report['ser']['rate']:.1f}%  toneless {100 * report['ser_toneless']['rate']:.1f}%"
    if "ser_lm" in report:
        s += f"  after LM: SER {100 * report['ser_lm']['rate']:.1f}%  toneless {100 * report['ser_lm_toneless']['rate']:.1f}%"
    if "cer" in report:
        s += f"  CER {100 * report['cer']['rate']:.1f}%"
    return s + f"  ({report['utterances']} utts, {report['audio_seconds']:.0f} s, RTF {report['rtf']})"


def summarize_speaker(rates: dict[str, Any]) -> str:
    """One line of a ``by_speaker`` entry: SER toneful / toneless (and after the LM)."""
    s = f"SER {100 * rates['ser']:.1f}%  toneless {100 * rates['ser_toneless']:.1f}%"
    if "ser_lm_toneless" in rates:
        s += f"  after LM toneless {100 * rates['ser_lm_toneless']:.1f}%"
    return s + f"  ({rates['utterances']} utts)"
