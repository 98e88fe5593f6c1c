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
With a :class:`Journal`, each batch's acoustic output is kept as it is
computed, so an interrupted evaluation of a large set resumes where it stopped.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import logging
import os
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


def model_fingerprint(model) -> str:
    """A digest of an acoustic model's weights and test-time views: what its outputs depend on."""
    digest = hashlib.sha1(repr(tuple(model.tempo_views)).encode())
    for w in model.model.get_weights():
        digest.update(w.tobytes())
    return digest.hexdigest()


class Journal:
    """The acoustic output of one evaluation, clip by clip, as it is computed.

    A JSON-lines file: a header line naming what is evaluated (``key``: model
    fingerprint, tempo views, candidates per syllable, source, clips), then
    one line per clip with its n-best and its share of the model time. Run
    again with the same key, :func:`evaluate_items` takes the clips already
    there from it and decodes only the rest; a file whose header names
    another key is started over. :meth:`finish` deletes it.
    """

    def __init__(self, path: str | Path, key: dict[str, Any]) -> None:
        self.path = Path(path)
        self.key = key

    @classmethod
    def for_run(cls, root: str | Path, key: dict[str, Any]) -> Journal:
        """The journal of ``key`` under ``root`` (its name is a digest of the key)."""
        name = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
        return cls(Path(root) / f"{name}.jsonl", key)

    def load(self) -> dict[str, dict[str, Any]]:
        """Clip id -> ``{"piece": PieceResult, "audio_seconds", "model_seconds"}`` already journaled."""
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return {}
        if not lines or json.loads(lines[0]).get("key") != self.key:
            return {}
        done = {}
        for line in lines[1:]:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:  # the last line of a run stopped mid-write
                break
            alts = tuple(tuple((str(s), float(lp)) for s, lp in cands) for cands in row["alternatives"])
            piece = PieceResult.from_alternatives(alts) if alts else PieceResult(())
            done[row["id"]] = {
                "piece": piece,
                "audio_seconds": row["audio_seconds"],
                "model_seconds": row["model_seconds"],
            }
        return done

    def start(self, resumed: bool) -> None:
        """Begin the file with the header unless a run with this key is being resumed."""
        if not resumed:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps({"key": self.key}) + "\n", encoding="utf-8")

    def add(self, rows: Sequence[tuple[str, PieceResult, float, float]]) -> None:
        """Append ``(clip id, piece, audio seconds, model seconds)`` rows and flush them to disk."""
        with self.path.open("a", encoding="utf-8") as f:
            for utt, piece, audio_s, model_s in rows:
                alts = [[[s, lp] for s, lp in cands] for cands in piece.alternatives]
                rec = {"id": utt, "audio_seconds": audio_s, "model_seconds": model_s, "alternatives": alts}
                f.write(json.dumps(rec) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def finish(self) -> None:
        self.path.unlink(missing_ok=True)


def evaluate_items(
    model,
    items: Sequence[EvalItem],
    lm=None,
    batch_frames: int = 16000,
    keep_utterances: bool = True,
    lm_nbest: int = Settings.lm_nbest,
    progress: bool = False,
    journal: Journal | None = None,
    name: str = "",
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
        progress: tqdm bars (stderr) over feature extraction and the model.
        journal: keep each batch's acoustic output there and take the clips
            it already holds from it (an interrupted run resumes).
        name: the source's name on the progress bars.

    Returns:
        A JSON-ready dict with ``ser``, ``ser_toneless`` (and ``cer``) blocks
        (rate, errors, reference tokens, utterances, sentence accuracy), with a
        language model ``ser_lm`` and ``ser_lm_toneless`` too, audio seconds,
        model seconds and real-time factor.
    """
    from tqdm import tqdm

    k_best = lm_nbest if lm is not None else 1
    pieces: list[PieceResult] = [PieceResult(()) for _ in items]
    audio_s = [0.0] * len(items)
    model_seconds = 0.0
    done = journal.load() if journal is not None else {}
    if journal is not None:
        journal.start(resumed=bool(done))
        if done:
            logger.info(
                "%s: %d of %d clips already decoded (%s)", name or "source", len(done), len(items), journal.path
            )
    todo = []
    for i, it in enumerate(items):
        row = done.get(it.utt_id)
        if row is None:
            todo.append(i)
        else:
            pieces[i], audio_s[i] = row["piece"], row["audio_seconds"]
            model_seconds += row["model_seconds"]
    feats: dict[int, Any] = {}
    bar = dict(unit="clip", disable=not progress, leave=False, mininterval=2)
    for i in tqdm(todo, desc=f"{name} features".strip(), **bar):
        wav = pipeline.read_audio(items[i].path)
        audio_s[i] = len(wav) / 16000
        feats[i] = model.features(wav)
    order = sorted(todo, key=lambda i: len(feats[i]))
    with tqdm(total=len(order), desc=f"{name} acoustic model".strip(), **bar) as decoded:
        i = 0
        while i < len(order):
            j = i + 1
            while j < len(order) and len(feats[order[j]]) * (j - i + 1) <= batch_frames:
                j += 1
            idx = order[i:j]
            t0 = time.perf_counter()
            out = model.nbest_features([feats[k] for k in idx], k=k_best)
            spent = time.perf_counter() - t0
            model_seconds += spent
            for k, alts in zip(idx, out, strict=True):
                pieces[k] = PieceResult.from_alternatives(alts)
            if journal is not None:
                journal.add([(items[k].utt_id, pieces[k], audio_s[k], spent / len(idx)) for k in idx])
            decoded.update(len(idx))
            i = j
    audio_seconds = sum(audio_s)
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
    """The pinyin->hanzi language model at ``path``, or None where no path is given.

    Raises:
        ModelNotFound: a path is given and holds no language model.
    """
    if not path:
        return None
    from ..language_model import PinyinLM

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
