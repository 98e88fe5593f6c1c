"""The toneful pinyin vocabulary: softmax index <-> syllable.

A model's output order is part of the model, so every model directory carries
its own vocabulary file. Two formats are read: ours (one syllable per line) and
ASRT's ``dict.txt`` (``pinyin<TAB>hanzi candidates``; line i is softmax index i).
The CTC blank is always the last index, ``len(vocab)``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

_SYLLABLE_RE = re.compile(r"^([a-z]+?)([1-5])$")


def normalize_syllable(text: str) -> str:
    """Canonical toneful spelling: lower case, ``ü``/``u:`` -> ``v``, neutral tone 5.

    A syllable without a tone digit is returned without one; callers decide
    whether that is acceptable.
    """
    s = text.strip().lower().replace("ü", "v").replace("u:", "v")
    # ASRT and some corpora spell nüe/lüe as "nue"/"lue"; both mean the same sound.
    if s.startswith(("nue", "lue")):
        s = s[0] + "v" + s[2:]
    return s


def split_tone(syllable: str) -> tuple[str, int | None]:
    """``"hao3"`` -> ``("hao", 3)``; ``"hao"`` -> ``("hao", None)``."""
    m = _SYLLABLE_RE.match(syllable)
    if m:
        return m.group(1), int(m.group(2))
    return syllable, None


def strip_tone(syllable: str) -> str:
    """``"hao3"`` -> ``"hao"``."""
    return split_tone(syllable)[0]


class Vocabulary:
    """An ordered list of toneful syllables; the blank follows the last one.

    Args:
        syllables: syllables in softmax order.
    """

    def __init__(self, syllables: Sequence[str]) -> None:
        self.syllables: tuple[str, ...] = tuple(syllables)
        # ASRT's dict.txt repeats a few syllables; the first line wins, as in ASRT.
        self._index: dict[str, int] = {}
        for i, s in enumerate(self.syllables):
            self._index.setdefault(s, i)

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        """Read ours (one per line) or ASRT's dict.txt (first tab field)."""
        out = []
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            field = line.split("\t", 1)[0].strip()
            if field:
                out.append(field)
        return cls(out)

    def save(self, path: str | Path) -> None:
        Path(path).write_text("\n".join(self.syllables) + "\n", encoding="utf-8")

    def __len__(self) -> int:
        return len(self.syllables)

    def __contains__(self, syllable: object) -> bool:
        return syllable in self._index

    @property
    def blank(self) -> int:
        """Index of the CTC blank (one past the last syllable)."""
        return len(self.syllables)

    @property
    def num_classes(self) -> int:
        """Softmax width: syllables plus the blank."""
        return len(self.syllables) + 1

    def index(self, syllable: str) -> int:
        """Softmax index of ``syllable``; raises KeyError if absent."""
        return self._index[syllable]

    def encode(self, syllables: Iterable[str]) -> list[int]:
        return [self._index[s] for s in syllables]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.syllables[i] for i in ids if 0 <= i < len(self.syllables)]


def build_default_vocabulary() -> Vocabulary:
    """Our own syllable inventory, derived from pypinyin's character readings.

    Every base syllable pypinyin knows, in all five tones (5 = neutral). The
    full grid also covers tone-sandhi spellings that corpora use (``bang2``),
    which dictionary readings alone miss. Used when training a new model; a
    trained model always reads the vocabulary saved beside its weights.
    """
    from pypinyin import Style
    from pypinyin.pinyin_dict import pinyin_dict
    from pypinyin.style import convert

    found: set[str] = set()
    for readings in pinyin_dict.values():
        for reading in readings.split(","):
            s = normalize_syllable(convert(reading, Style.TONE3, strict=True))
            if not re.fullmatch(r"[a-z]+[1-5]?", s):
                continue
            base, tone = split_tone(s)
            if base in {"m", "n", "ng", "hm", "hng"}:
                continue
            found.add(base)
    return Vocabulary([f"{base}{tone}" for base in sorted(found) for tone in range(1, 6)])
