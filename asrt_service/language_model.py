"""Pinyin -> hanzi: a word-lattice search over a bigram language model.

ASRT turns toneful pinyin into text with a character bigram and a narrow beam,
and gets many homophones wrong. This module searches a lattice of *words*:
every run of 1..7 input syllables that spells a dictionary word (in any tone,
and with the acoustic model's usual slips) is an edge, scored by a word
bigram model with backoff plus penalties for the tones and syllables it had
to change. A Viterbi beam over "last word" states keeps the search linear in
the input length, and the same code serves batch decoding and streaming.

The model file (``models/lm/pinyin_lm.npz``, built by ``asrt-service
build-lm``) is a plain numpy archive of arrays; nothing in it is executed on
load. See docs/LANGUAGE_MODEL.md for the format and for custom vocabulary.

Thread safety: a loaded model is read-only while decoding. Lazily filled
look-up caches only ever gain immutable values, or are dropped whole when
they grow large (a race computes a value twice, never a wrong one). ``add_words`` swaps in a new custom-word table
under a lock; a decode already running keeps the table it started with.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import math
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from .errors import BadRequestFormat, ModelNotFound
from .vocab import normalize_syllable, split_tone

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
#: Longest word (in syllables) the lattice has edges for.
MAX_WORD_SYLLABLES = 7
#: File name of the model inside a model directory such as ``models/lm/``.
DEFAULT_MODEL_FILE = "pinyin_lm.npz"

_BASE_BITS = 9  # 420 toneless syllables fit in 9 bits; 7 of them in one int64 key
_BASE_MASK = (1 << _BASE_BITS) - 1
_PAIR = 1 << 22  # bigram key = prev * _PAIR + next (room for 4 M word ids)
_NEG = -1e30
_EMPTY = np.zeros((4, 0))
_CACHE_LIMIT = 200_000  # cached candidate arrays before the cache is dropped

# Syllable slips an acoustic model (or a speaker) typically makes: initials
# and finals that differ only in retroflexion, nasal place or n/l.
_INITIAL_SWAPS = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("n", "l"), ("f", "h"), ("r", "l"))
_FINAL_SWAPS = (("ing", "in"), ("eng", "en"), ("ang", "an"), ("iang", "ian"), ("uang", "uan"))


def key_of_bases(bases: Sequence[int]) -> int:
    """Lattice key of a run of toneless syllable ids (exact for up to 7)."""
    key = 0
    for i, b in enumerate(bases):
        key |= (b + 1) << (_BASE_BITS * i)
    return key


@dataclasses.dataclass(frozen=True)
class LMResult:
    """Decoded text and the input syllables that could not be used.

    Attributes:
        text: the best hanzi string ("" for empty input).
        unknown: input syllables that were skipped (malformed, not a Mandarin
            syllable, or with no word for them), in input order.
    """

    text: str
    unknown: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class DecodeOptions:
    """Search knobs (log-probabilities are natural logs).

    Attributes:
        beam: states kept per input position.
        tone_penalty: cost of reading a syllable with another tone.
        neutral_penalty: cost when one of the two tones is the neutral 5
            (acoustic models and speakers often disagree on it).
        neighbour_penalty: cost of a neighbouring syllable (zh/z, n/l, in/ing...).
        neighbours: whether neighbouring syllables are tried at all.
        same_tone_candidates: single characters tried per syllable in the
            heard tone.
        other_tone_candidates: single characters tried per other tone.
        acoustic_weight: scale of the acoustic log-probabilities in n-best input.
        nbest_max_cost: n-best alternatives costlier than this are ignored.
        word_penalty: cost per word (positive favours fewer, longer words).
    """

    beam: int = 8
    tone_penalty: float = 4.5
    neutral_penalty: float = 3.0
    neighbour_penalty: float = 7.0
    neighbours: bool = True
    same_tone_candidates: int = 20
    other_tone_candidates: int = 3
    acoustic_weight: float = 1.0
    nbest_max_cost: float = 12.0
    word_penalty: float = 2.0


# An entry is one (word, reading): (word_id, tones, emit, unigram, backoff).
_Entry = tuple[int, tuple[int, ...], float, float, float]


@dataclasses.dataclass(frozen=True)
class _CustomTable:
    """Custom words: immutable; replaced whole by ``add_words``."""

    first_id: int
    words: tuple[str, ...] = ()
    groups: dict = dataclasses.field(default_factory=dict)  # key -> tuple[_Entry, ...]


def parse_word_line(line: str) -> tuple[str, str | None, float]:
    """``"视界 shi4 jie4 20"`` -> ``("视界", "shi4 jie4", 20.0)``; pinyin and weight are optional."""
    parts = line.split()
    weight = 1.0
    if len(parts) > 1:
        try:
            weight = float(parts[-1])
            parts = parts[:-1]
        except ValueError:
            pass
    return parts[0], " ".join(parts[1:]) or None, weight


def read_words_file(path: str | Path) -> list[tuple[str, str | None, float]]:
    """Read a custom-vocabulary file.

    One word a line: ``word [pinyin syllables ...] [weight]``, separated by
    spaces or tabs; ``#`` starts a comment. Examples::

        语音识别
        视界 shi4 jie4 20
        鸿蒙 5

    Raises:
        FileNotFoundError: the file does not exist.
        BadRequestFormat: a line cannot be parsed (names file and line).
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"custom words file not found: {p}")
    out = []
    for n, raw in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        word, pinyin, weight = parse_word_line(line)
        out.append((word, pinyin, weight))
        if weight <= 0:
            raise BadRequestFormat(f"{p}:{n}: weight must be positive, got {weight}")
    return out


class PinyinLM:
    """Toneful pinyin -> hanzi decoder over a word bigram model.

    Build with :meth:`load` (a model file) or :meth:`from_words` (a tiny
    in-memory model for tests). Decoding is thread-safe.
    """

    def __init__(self, arrays: dict[str, np.ndarray], options: DecodeOptions | None = None) -> None:
        self.options = options or DecodeOptions()
        meta = json.loads(bytes(arrays["meta"]).decode("utf-8"))
        if meta.get("format") != FORMAT_VERSION:
            raise ValueError(f"language model format {meta.get('format')} != {FORMAT_VERSION}")
        self.meta = meta
        self._syllables: list[str] = meta["syllables"]
        bases: list[str] = meta["bases"]
        base_id = {b: i for i, b in enumerate(bases)}
        # toneful (or toneless) spelling -> (base id, tone or 0)
        self._syl: dict[str, tuple[int, int]] = {}
        for s in self._syllables:
            b, t = split_tone(s)
            self._syl[s] = (base_id[b], t or 0)
        for b, i in base_id.items():
            self._syl.setdefault(b, (i, 0))
        self._bases = bases
        self._neighbours = self._neighbour_table(bases, base_id)

        self._words: list[str] = bytes(arrays["words"]).decode("utf-8").split("\n")
        self._uni = arrays["uni"].astype(np.float64)
        self._bow = arrays["bow"].astype(np.float64)
        n_vocab = len(self._words)
        if n_vocab >= _PAIR:
            raise ValueError(f"too many words for the bigram key: {n_vocab}")
        off = arrays["bg_off"].astype(np.int64)
        prev = np.repeat(np.arange(n_vocab, dtype=np.int64), np.diff(off))
        self._bg_keys = prev * _PAIR + arrays["bg_next"].astype(np.int64)
        self._bg_lp = arrays["bg_lp"].astype(np.float64)
        if len(self._bg_keys) == 0:  # keep searchsorted/indexing valid
            self._bg_keys = np.array([-1], np.int64)
            self._bg_lp = np.array([0.0])

        keys = arrays["lex_keys"].astype(np.uint64)
        self._lex_start = arrays["lex_start"].astype(np.int64)
        self._lex_word = arrays["lex_word"]
        self._lex_emit = arrays["lex_emit"].astype(np.float64)
        self._lex_syls = arrays["lex_syls"]
        # Entries of one key all have the key's length; syllable offsets follow.
        klen = np.zeros(len(keys), np.int64)
        for i in range(MAX_WORD_SYLLABLES):
            klen += ((keys >> np.uint64(_BASE_BITS * i)) & np.uint64(_BASE_MASK)) != 0
        ent_len = np.repeat(klen, np.diff(self._lex_start))
        self._lex_soff = np.concatenate([[0], np.cumsum(ent_len)])
        self._lex_keys = keys
        self._key_len = klen
        self._prefixes: np.ndarray | None = None
        self._lex_index: dict[int, int] = dict(zip(keys.tolist(), range(len(keys)), strict=True))
        self._tone_of_syl = np.array([split_tone(s)[1] or 0 for s in self._syllables], np.int64)
        self._vec_ids: dict[tuple[float, ...], int] = {}
        self._vecs: list[tuple[float, ...]] = []
        self._cand_cache: dict[tuple[int, tuple[int, ...]], np.ndarray] = {}
        self._alt_cache: dict[tuple[int, int], list[tuple[int, int]]] = {}
        # A "common word": custom words of weight 1 are as likely as this.
        # (the 1000th most frequent; in a tiny model, its median word).
        if n_vocab > 1002:
            self._ref_logp = float(self._uni[1002])
        else:
            self._ref_logp = float(np.median(self._uni[2:])) if n_vocab > 2 else -8.0
        self._custom = _CustomTable(first_id=n_vocab)
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ loading

    @classmethod
    def load(
        cls,
        path: str | Path,
        user_words: str | Path | None = None,
        options: DecodeOptions | None = None,
    ) -> PinyinLM:
        """Load a model file, or the ``pinyin_lm.npz`` inside a directory.

        Args:
            path: model file or directory (e.g. ``models/lm``).
            user_words: optional custom-vocabulary file (see :func:`read_words_file`).
            options: search knobs.

        Raises:
            ModelNotFound: the file is missing.
        """
        p = Path(path)
        if p.is_dir():
            p = p / DEFAULT_MODEL_FILE
        if not p.is_file():
            raise ModelNotFound(f"language model not found: {p}")
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        lm = cls(arrays, options)
        if user_words is not None:
            lm.add_words_file(user_words)
        logger.info("language model %s: %d words, %d bigrams", p, len(lm._words), len(lm._bg_keys))
        return lm

    @classmethod
    def from_words(
        cls,
        items: Iterable[tuple[str, str | None, float]],
        bigrams: Iterable[tuple[str, str, float]] = (),
        options: DecodeOptions | None = None,
    ) -> PinyinLM:
        """A small in-memory model from ``(word, pinyin | None, count)`` items.

        Args:
            items: words with an optional reading (``"ni3 hao3"``; None asks
                pypinyin) and a count.
            bigrams: optional ``(word1, word2, count)`` pairs.
            options: search knobs.

        Raises:
            BadRequestFormat: an item's reading is unusable.
        """
        syllables = list(_default_syllables())
        bases = sorted({split_tone(s)[0] for s in syllables})
        base_id = {b: i for i, b in enumerate(bases)}
        syl_id = {s: i for i, s in enumerate(syllables)}
        counts: dict[tuple[str, tuple[str, ...]], float] = {}
        for word, pinyin, count in items:
            syls = _reading(word, pinyin)
            counts[(word, syls)] = counts.get((word, syls), 0.0) + float(count)
        word_count: dict[str, float] = {}
        for (w, _), c in counts.items():
            word_count[w] = word_count.get(w, 0.0) + c
        total = sum(word_count.values()) or 1.0
        order = sorted(word_count, key=lambda w: (-word_count[w], w))
        words = ["<s>", "</s>"] + order
        wid = {w: i for i, w in enumerate(words)}
        uni = np.array([-99.0, math.log(0.05)] + [math.log(word_count[w] / total * 0.95) for w in order])
        rows: dict[int, list[tuple[int, int, float]]] = {}
        for (w, syls), c in counts.items():
            key = key_of_bases([base_id[split_tone(s)[0]] for s in syls])
            rows.setdefault(key, []).append((wid[w], tuple(syl_id[s] for s in syls), math.log(c / word_count[w])))
        lex_keys, lex_start, lex_word, lex_emit, lex_syls = [], [], [], [], []
        for key in sorted(rows):
            lex_keys.append(key)
            lex_start.append(len(lex_word))
            for w, syls, emit in sorted(rows[key], key=lambda r: -(uni[r[0]] + r[2])):
                lex_word.append(w)
                lex_emit.append(emit)
                lex_syls.extend(syls)
        lex_start.append(len(lex_word))
        # Bigrams: absolute discounting (D = 0.5) over the given pairs.
        pairs = [(wid[a], wid[b], float(n)) for a, b, n in bigrams if a in wid and b in wid]
        ctx: dict[int, list[tuple[int, float]]] = {}
        for a, b, n in pairs:
            ctx.setdefault(a, []).append((b, n))
        bow = np.zeros(len(words))
        bg = []
        for a, nexts in ctx.items():
            c = sum(n for _, n in nexts)
            gamma = 0.5 * len(nexts) / c
            bow[a] = math.log(gamma)
            for b, n in nexts:
                bg.append((a, b, math.log(max(n - 0.5, 0) / c + gamma * math.exp(uni[b]))))
        bg.sort()
        bg_off = np.zeros(len(words) + 1, np.int64)
        for a, _, _ in bg:
            bg_off[a + 1] += 1
        meta = {"format": FORMAT_VERSION, "syllables": syllables, "bases": bases, "n_words": len(words)}
        arrays = {
            "meta": np.frombuffer(json.dumps(meta).encode(), np.uint8),
            "words": np.frombuffer("\n".join(words).encode("utf-8"), np.uint8),
            "uni": uni,
            "bow": bow,
            "bg_off": np.cumsum(bg_off),
            "bg_next": np.array([b for _, b, _ in bg], np.int32),
            "bg_lp": np.array([p for _, _, p in bg]),
            "lex_keys": np.array(lex_keys, np.uint64),
            "lex_start": np.array(lex_start, np.int64),
            "lex_word": np.array(lex_word, np.int32),
            "lex_emit": np.array(lex_emit),
            "lex_syls": np.array(lex_syls, np.int16),
        }
        return cls(arrays, options)

    # ------------------------------------------------------------ custom words

    def add_words(self, items: Iterable[tuple[str, str | None, float]]) -> int:
        """Add custom words (or boost existing ones) without rebuilding.

        Args:
            items: ``(word, pinyin | None, weight)``. ``pinyin`` is
                space-separated toneful syllables, one per character (None:
                pypinyin reads the word). ``weight`` scales the word's
                probability relative to a common word: 1 is as likely as a
                common word, 10 strongly preferred, 0.1 rare.

        Returns:
            The number of words added.

        Raises:
            BadRequestFormat: an item's word, reading or weight is unusable
                (nothing is added then).
        """
        with self._lock:
            table = self._custom
            new = self._custom_table(items, table)
            self._custom = new
            return len(new.words) - len(table.words)

    def add_words_file(self, path: str | Path) -> int:
        """:meth:`add_words` from a file in :func:`read_words_file` format."""
        return self.add_words(read_words_file(path))

    def _custom_table(self, items: Iterable[tuple[str, str | None, float]], base: _CustomTable) -> _CustomTable:
        words = list(base.words)
        groups = {k: list(v) for k, v in base.groups.items()}
        for item in items:
            try:
                word, pinyin, weight = item
            except (TypeError, ValueError):
                raise BadRequestFormat(f"custom word must be (word, pinyin or None, weight), got {item!r}") from None
            if not isinstance(word, str) or not word.strip():
                raise BadRequestFormat(f"custom word must be a non-empty string, got {word!r}")
            try:
                weight = float(weight)
            except (TypeError, ValueError):
                raise BadRequestFormat(f"weight of custom word {word!r} is not a number: {weight!r}") from None
            if not weight > 0:
                raise BadRequestFormat(f"weight of custom word {word!r} must be positive, got {weight}")
            syls = _reading(word, pinyin)
            ids = []
            for s in syls:
                if s not in self._syl or split_tone(s)[1] is None:
                    raise BadRequestFormat(f"custom word {word!r}: {s!r} is not a toneful syllable")
                ids.append(self._syl[s])
            if len(ids) > MAX_WORD_SYLLABLES:
                raise BadRequestFormat(f"custom word {word!r} is longer than {MAX_WORD_SYLLABLES} syllables")
            key = key_of_bases([b for b, _ in ids])
            wid = base.first_id + len(words)
            words.append(word)
            entry = (wid, tuple(t for _, t in ids), 0.0, self._ref_logp + math.log(weight), 0.0)
            groups.setdefault(key, []).append(entry)
        return _CustomTable(
            first_id=base.first_id,
            words=tuple(words),
            groups={k: tuple(sorted(v, key=lambda e: -e[3])) for k, v in groups.items()},
        )

    # ----------------------------------------------------------------- decoding

    def decode(
        self,
        pinyins: Sequence[str],
        nbest: Sequence[Sequence[tuple[str, float]]] | None = None,
        extra_words: Iterable[tuple[str, str | None, float]] | None = None,
        acoustic_weight: float | None = None,
    ) -> LMResult:
        """Best hanzi text for a syllable sequence.

        Args:
            pinyins: toneful syllables (``"ni3"``, ``"lv4"``, ``"nue4"``); a
                syllable without a tone digit matches every tone.
            nbest: optional acoustic alternatives, one list of
                ``(syllable, log-prob)`` per position (CTC top-k). When given,
                its length wins over ``pinyins`` (which may be empty).
            extra_words: custom words for this request only, as in
                :meth:`add_words`.
            acoustic_weight: scale of ``nbest``'s log-probabilities for this
                call (default ``options.acoustic_weight``); the acoustic
                model's own, as its model.json's ``lm_acoustic_weight`` says.

        Returns:
            The text and the syllables that were skipped. Never raises on
            bad syllables.

        Raises:
            BadRequestFormat: ``extra_words`` holds an unusable item.
        """
        stream = self.stream(extra_words=extra_words, acoustic_weight=acoustic_weight)
        n = len(nbest) if nbest is not None else len(pinyins)
        for i in range(n):
            if nbest is not None:
                stream.feed_alternatives(nbest[i])
            else:
                stream.feed(pinyins[i])
        text = stream.finish()
        return LMResult(text, stream.unknown)

    def stream(
        self,
        extra_words: Iterable[tuple[str, str | None, float]] | None = None,
        acoustic_weight: float | None = None,
    ) -> LMStream:
        """An incremental decoder: feed syllables one at a time (arguments as for :meth:`decode`)."""
        custom = self._custom
        if extra_words:
            custom = self._custom_table(extra_words, custom)
        return LMStream(self, custom, acoustic_weight)

    # --------------------------------------------------------------- internals

    @staticmethod
    def _neighbour_table(bases: list[str], base_id: dict[str, int]) -> dict[int, tuple[int, ...]]:
        """Toneless syllables one typical slip away (initial or final swapped)."""
        initials = sorted({a for pair in _INITIAL_SWAPS for a in pair}, key=len, reverse=True)
        out: dict[int, tuple[int, ...]] = {}
        for b, i in base_id.items():
            ini = next((x for x in initials if b.startswith(x)), "")
            fin = b[len(ini) :]
            found = set()
            for x, y in _INITIAL_SWAPS:
                for a, c in ((x, y), (y, x)):
                    if ini == a and c + fin in base_id:
                        found.add(base_id[c + fin])
            for x, y in _FINAL_SWAPS:
                for a, c in ((x, y), (y, x)):
                    if b.endswith(a):
                        alt = b[: len(b) - len(a)] + c
                        if alt in base_id:
                            found.add(base_id[alt])
            found.discard(i)
            out[i] = tuple(sorted(found))
        return out

    def _key_prefixes(self) -> np.ndarray:
        """Sorted proper prefixes of every multi-syllable lexicon key (built on first use)."""
        pref = self._prefixes
        if pref is None:
            keys = self._lex_keys
            parts = []
            for n in range(1, MAX_WORD_SYLLABLES):
                longer = keys[self._key_len > n]
                parts.append(longer & np.uint64((1 << (_BASE_BITS * n)) - 1))
            pref = np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.uint64)
            if len(pref) == 0:
                pref = np.zeros(1, np.uint64)  # key 0 is never a real prefix
            self._prefixes = pref
        return pref

    def _vec_id(self, vec: tuple[float, ...]) -> int:
        """Intern a tone-cost vector (candidate arrays are cached per vector)."""
        vid = self._vec_ids.get(vec)
        if vid is None:
            with self._lock:
                vid = self._vec_ids.setdefault(vec, len(self._vecs))
                if vid == len(self._vecs):
                    self._vecs.append(vec)
        return vid

    def _entries(self, key: int) -> tuple[_Entry, ...] | None:
        """Lexicon entries of a key (model words only), best first."""
        idx = self._lex_index.get(key)
        if idx is None:
            return None
        a, b = int(self._lex_start[idx]), int(self._lex_start[idx + 1])
        words = self._lex_word[a:b].tolist()
        emits = self._lex_emit[a:b].tolist()
        sa, sb = int(self._lex_soff[a]), int(self._lex_soff[b])
        tones = self._tone_of_syl[self._lex_syls[sa:sb].astype(np.int64)].tolist()
        span = (sb - sa) // (b - a)
        uni = self._uni[words].tolist()
        bow = self._bow[words].tolist()
        return tuple(
            (w, tuple(tones[k * span : (k + 1) * span]), e, u, bw)
            for k, (w, e, u, bw) in enumerate(zip(words, emits, uni, bow, strict=True))
        )

    def _candidate_array(self, entries: Iterable[_Entry], vecs: Sequence[tuple[float, ...]]) -> np.ndarray:
        """Rows (word, unigram, backoff, emission score) of the entries a span may take.

        Single syllables keep only the most likely characters of each tone
        (more in the heard tone): a wrong tone is usually a common word.
        """
        o = self.options
        rows: list[tuple[float, float, float, float]] = []
        if len(vecs) == 1:
            vec = vecs[0]
            taken = [0] * 6
            for w, tones, e, u, bw in entries:
                t = tones[0]
                c = vec[t]
                if c == math.inf:
                    continue
                lim = o.same_tone_candidates if c == 0.0 else o.other_tone_candidates
                if taken[t] >= lim:
                    continue
                taken[t] += 1
                rows.append((w, u, bw, e - c))
        else:
            for w, tones, e, u, bw in entries:
                c = 0.0
                for vec, t in zip(vecs, tones, strict=True):
                    c += vec[t]
                if c != math.inf:
                    rows.append((w, u, bw, e - c))
        if not rows:
            return _EMPTY
        arr = np.array(rows, np.float64).T.copy()
        if o.word_penalty:
            arr[3] -= o.word_penalty
        return arr

    def _candidates(self, key: int, vids: tuple[int, ...]) -> np.ndarray:
        """Cached :meth:`_candidate_array` for a model key and interned tone-cost vectors."""
        ck = (key, vids)
        arr = self._cand_cache.get(ck)
        if arr is None:
            entries = self._entries(key)
            arr = _EMPTY if entries is None else self._candidate_array(entries, [self._vecs[v] for v in vids])
            if len(self._cand_cache) > _CACHE_LIMIT:
                self._cand_cache.clear()
            self._cand_cache[ck] = arr
        return arr


@functools.lru_cache(maxsize=1)
def _default_syllables() -> tuple[str, ...]:
    """The default syllable inventory (pypinyin-derived; built once per process)."""
    from .vocab import build_default_vocabulary

    return build_default_vocabulary().syllables


def _reading(word: str, pinyin: str | Sequence[str] | None) -> tuple[str, ...]:
    """Normalised syllables of a word's reading (pypinyin when not given)."""
    if pinyin is None:
        from pypinyin import Style, lazy_pinyin

        syls = [normalize_syllable(s) for s in lazy_pinyin(word, style=Style.TONE3, neutral_tone_with_five=True)]
    else:
        parts = pinyin.split() if isinstance(pinyin, str) else list(pinyin)
        syls = [normalize_syllable(s) for s in parts]
    if len(syls) != len(word):
        raise BadRequestFormat(
            f"custom word {word!r} has {len(word)} characters but its reading {' '.join(syls)!r} "
            f"has {len(syls)} syllables"
        )
    return tuple(syls)


class LMStream:
    """Incremental decoding: ``feed`` syllables, read ``partial``/``stable``, ``finish``.

    ``finish()`` returns exactly what :meth:`PinyinLM.decode` returns for
    the same syllables (decode is implemented with this class). Not
    thread-safe itself; use one stream per client stream.
    """

    def __init__(self, lm: PinyinLM, custom: _CustomTable, acoustic_weight: float | None = None) -> None:
        self._lm = lm
        self._custom = custom
        self._o = lm.options
        self._acoustic_weight = self._o.acoustic_weight if acoustic_weight is None else float(acoustic_weight)
        self._K = self._o.beam
        # Per position: alternatives [(base id, interned tone-cost vector id)], best first.
        self._alts: list[list[tuple[int, int]]] = []
        # Per position: (base id + 1) and vector id of the best alternative (0, -1 if none).
        self._b0: list[int] = []
        self._v0: list[int] = []
        self._unknown: list[str] = []
        cap = 64
        beam = self._K
        self._sw = np.zeros((cap, beam), np.int64)  # state word (for the LM)
        self._ss = np.full((cap, beam), _NEG)  # score
        self._ssb = np.full((cap, beam), _NEG)  # score + backoff weight of the state word
        self._bp = np.zeros((cap, beam), np.int64)  # back pointer: start position
        self._bk = np.zeros((cap, beam), np.int64)  # back pointer: state index there
        self._out = np.full((cap, beam), -1, np.int64)  # word emitted on the edge (-1: none)
        self._ss[0, 0] = 0.0  # <s> (word id 0)
        self._ssb[0, 0] = 0.0
        self._n = 0
        self._stable_pos = 0
        self._stable_text = ""
        self._finished: str | None = None

    # ------------------------------------------------------------------ input

    @property
    def unknown(self) -> tuple[str, ...]:
        """Syllables skipped so far."""
        return tuple(self._unknown)

    def feed(self, syllable: str) -> None:
        """Add one toneful syllable (bad ones are skipped and reported)."""
        raw = syllable if isinstance(syllable, str) else repr(syllable)
        bt = self._lm._syl.get(normalize_syllable(raw))
        if bt is None:
            self._push([], raw)
            return
        alts = self._lm._alt_cache.get(bt)
        if alts is None:
            alts = self._lm._alt_cache[bt] = self._alternatives([(bt[0], bt[1], 0.0)])
        self._push(alts, raw)

    def feed_alternatives(self, alternatives: Sequence[tuple[str, float]]) -> None:
        """Add one position given as acoustic alternatives ``[(syllable, log-prob), ...]``."""
        parsed = []
        raw = ""
        for item in alternatives or ():
            try:
                syl, lp = item
                lp = float(lp)
            except (TypeError, ValueError):
                continue
            if not isinstance(syl, str) or not math.isfinite(lp):
                continue
            raw = raw or syl
            bt = self._lm._syl.get(normalize_syllable(syl))
            if bt is not None:
                parsed.append((bt[0], bt[1], lp))
        if not parsed:
            self._push([], raw or "?")
            return
        best = max(lp for _, _, lp in parsed)
        o = self._o
        # Quantised so that the cached candidate arrays are shared between requests.
        cand = [(b, t, round((best - lp) * self._acoustic_weight * 4) / 4) for b, t, lp in parsed]
        self._push(self._alternatives([c for c in cand if c[2] <= o.nbest_max_cost]), raw)

    def _alternatives(self, heard: list[tuple[int, int, float]]) -> list[tuple[int, int]]:
        """Per-base tone-cost vectors for one position (index = tone, 0 unused)."""
        o = self._o
        table: dict[int, list[float]] = {}

        def add(base: int, tone: int, cost: float) -> None:
            vec = table.setdefault(base, [math.inf] * 6)
            for t in range(1, 6):
                if tone == 0 or t == tone:
                    c = cost
                elif t == 5 or tone == 5:
                    c = cost + o.neutral_penalty
                else:
                    c = cost + o.tone_penalty
                if c < vec[t]:
                    vec[t] = c

        for b, t, c in heard:
            add(b, t, c)
        if o.neighbours:
            for b, t, c in heard:
                for nb in self._lm._neighbours.get(b, ()):
                    if nb not in table or min(table[nb]) > c:
                        add(nb, t, c + o.neighbour_penalty)
        ranked = sorted(table.items(), key=lambda kv: min(kv[1][1:]))
        return [(b, self._lm._vec_id(tuple([0.0] + v[1:]))) for b, v in ranked]

    def _grow(self) -> None:
        cap = self._sw.shape[0] * 2
        for name, fill in (("_sw", 0), ("_ss", _NEG), ("_ssb", _NEG), ("_bp", 0), ("_bk", 0), ("_out", -1)):
            old = getattr(self, name)
            new = np.full((cap, old.shape[1]), fill, old.dtype)
            new[: old.shape[0]] = old
            setattr(self, name, new)

    def _push(self, alts: list[tuple[int, int]], raw: str) -> None:
        if self._finished is not None:
            raise RuntimeError("stream already finished")
        p = self._n  # index of this syllable
        self._alts.append(alts)
        self._b0.append(alts[0][0] + 1 if alts else 0)
        self._v0.append(alts[0][1] if alts else -1)
        self._n = j = p + 1
        if j >= self._sw.shape[0]:
            self._grow()
        if not self._step(j):
            # Nothing ends here: skip this syllable, carrying the states over.
            self._sw[j], self._ss[j], self._ssb[j] = self._sw[j - 1], self._ss[j - 1], self._ssb[j - 1]
            self._bp[j] = j - 1
            self._bk[j] = np.arange(self._K)
            self._out[j] = -1
            self._unknown.append(raw)

    def _step(self, j: int) -> bool:
        """Fill the beam at position j (after j syllables). False if nothing ends there."""
        lm = self._lm
        lex = lm._lex_index
        custom = self._custom.groups
        parts: list[np.ndarray] = []
        starts: list[int] = []
        lens: list[int] = []
        custom_parts: list[tuple[int, int]] = []  # (first row, rows) of custom words
        alts_all = self._alts
        b0 = self._b0
        key = 0
        for span in range(1, min(MAX_WORD_SYLLABLES, j) + 1):
            i = j - span
            if not b0[i]:
                break
            key = b0[i] | (key << _BASE_BITS)  # exact key of syllables i..j-1
            spans = [(key, None)] if (key in lex or key in custom) else []
            if span <= 4:
                # One syllable swapped for one of its alternatives (tone kept in its vector).
                vids = tuple(self._v0[i:j])
                for k in range(span):
                    alts = alts_all[i + k]
                    if len(alts) < 2:
                        continue
                    shift = _BASE_BITS * k
                    base_key = key ^ ((alts[0][0] + 1) << shift)
                    for b, v in alts[1:]:
                        k2 = base_key | ((b + 1) << shift)
                        if k2 in lex or k2 in custom:
                            spans.append((k2, vids[:k] + (v,) + vids[k + 1 :]))
            for k2, sv in spans:
                vids = sv if sv is not None else tuple(self._v0[i:j])
                if k2 in lex:
                    arr = lm._candidates(k2, vids)
                    if arr.shape[1]:
                        parts.append(arr)
                        starts.append(i)
                        lens.append(arr.shape[1])
                entries = custom.get(k2) if custom else None
                if entries:
                    arr = lm._candidate_array(entries, [lm._vecs[v] for v in vids])
                    if arr.shape[1]:
                        custom_parts.append((sum(lens), arr.shape[1]))
                        parts.append(arr)
                        starts.append(i)
                        lens.append(arr.shape[1])
        if not parts:
            return False
        if len(parts) > 1:
            cand = np.concatenate(parts, axis=1)
            st = np.repeat(starts, lens)
        else:
            cand = parts[0]
            st = np.full(lens[0], starts[0])
        w = cand[0].astype(np.int64)
        bgk = lm._bg_keys
        keys = self._sw[st] * _PAIR
        keys += w[:, None]  # (C, beam): the candidate after every previous state
        idx = np.searchsorted(bgk, keys)
        np.minimum(idx, len(bgk) - 1, out=idx)
        hit = bgk[idx] == keys
        score = self._ssb[st]  # backoff: score + backoff weight + unigram
        for a, n in custom_parts:
            # Custom words are context-free: their weight is not scaled by the
            # previous word's backoff weight, so a user's word can win there too.
            score[a : a + n] = self._ss[st[a : a + n]]
        score += cand[1][:, None]
        big = self._ss[st]
        big += lm._bg_lp[idx]
        np.copyto(score, big, where=hit)
        kbest = score.argmax(1)
        best = score.max(1)
        best += cand[3]
        beam = self._K
        order = np.argsort(-best, kind="stable").tolist()
        seen: set[int] = set()
        sel: list[int] = []
        wl = w.tolist()
        bl = best.tolist()
        for c in order:
            if bl[c] <= _NEG / 2:
                break
            if wl[c] in seen:
                continue
            seen.add(wl[c])
            sel.append(c)
            if len(sel) == beam:
                break
        if not sel:
            return False
        n = len(sel)
        sa = np.array(sel)
        self._sw[j, :n] = w[sa]
        self._ss[j, :n] = best[sa]
        self._ss[j, n:] = _NEG
        self._ssb[j] = self._ss[j]
        self._ssb[j, :n] += cand[2][sa]
        self._bp[j, :n] = st[sa]
        self._bk[j, :n] = kbest[sa]
        self._out[j, :n] = w[sa]
        return True

    # ----------------------------------------------------------------- output

    def _word(self, wid: int) -> str:
        lm = self._lm
        if wid < len(lm._words):
            return lm._words[wid]
        return self._custom.words[wid - self._custom.first_id]

    def _trace(self, pos: int, k: int, stop_pos: int) -> str:
        """Text on the back-pointer path from (pos, k) back to position stop_pos."""
        parts = []
        while pos > stop_pos:
            wid = int(self._out[pos, k])
            if wid >= 0:
                parts.append(self._word(wid))
            pos, k = int(self._bp[pos, k]), int(self._bk[pos, k])
        return "".join(reversed(parts))

    def _can_extend(self, p: int) -> bool:
        """Whether some word starting at position p could still take more syllables.

        True if the syllables from p to the end, read as the search reads
        them (exact, or with one swapped for an alternative when the word
        would be short enough for that), begin a longer lexicon or custom word.
        """
        j = self._n
        m = j - p
        if m >= MAX_WORD_SYLLABLES:
            return False
        alts_all = self._alts
        if not all(self._b0[p:j]):
            return False
        key = 0
        for q in range(j - 1, p - 1, -1):
            key = self._b0[q] | (key << _BASE_BITS)
        keys = [key]
        if m < 4:  # a word of up to 4 syllables may have one swapped syllable
            for k in range(m):
                alts = alts_all[p + k]
                shift = _BASE_BITS * k
                base_key = key ^ ((alts[0][0] + 1) << shift)
                keys.extend(base_key | ((b + 1) << shift) for b, _ in alts[1:])
        lm = self._lm
        prefixes = lm._key_prefixes()
        idx = np.searchsorted(prefixes, np.array(keys, np.uint64))
        idx = np.minimum(idx, len(prefixes) - 1)
        if bool((prefixes[idx] == np.array(keys, np.uint64)).any()):
            return True
        if self._custom.groups:
            mask = (1 << (_BASE_BITS * m)) - 1
            longer = [ck for ck in self._custom.groups if ck >> (_BASE_BITS * m)]
            return any((ck & mask) == k2 for ck in longer for k2 in keys)
        return False

    def _update_stable(self) -> None:
        """Advance the stable prefix to the common ancestor of every live state.

        Words still to come start at the last position or at an earlier one
        whose syllables since then begin a longer word (``_can_extend``), so
        the final path runs through a state there; whatever all those states
        share cannot change.
        """
        j = self._n
        lo = max(0, j - MAX_WORD_SYLLABLES + 1)
        positions = [p for p in range(lo, j) if p >= self._stable_pos and self._can_extend(p)] + [j]
        nodes = {(p, k) for p in positions for k in range(self._K) if self._ss[p, k] > _NEG / 2}
        while len(nodes) > 1:
            top = max(p for p, _ in nodes)
            if top <= self._stable_pos:
                return
            nodes = {(int(self._bp[p, k]), int(self._bk[p, k])) if p == top else (p, k) for p, k in nodes}
        (p, k) = next(iter(nodes))
        if p > self._stable_pos:
            self._stable_text += self._trace(p, k, self._stable_pos)
            self._stable_pos = p

    @property
    def stable(self) -> str:
        """Prefix of the text that no later syllable can change."""
        if self._finished is not None:
            return self._finished
        self._update_stable()
        return self._stable_text

    @property
    def partial(self) -> str:
        """Best text for the syllables fed so far."""
        if self._finished is not None:
            return self._finished
        self._update_stable()
        j = self._n
        k = int(self._ss[j].argmax())
        return self._stable_text + self._trace(j, k, self._stable_pos)

    def finish(self) -> str:
        """Close the input (adds the end-of-sentence model) and return the final text."""
        if self._finished is not None:
            return self._finished
        lm = self._lm
        j = self._n
        keys = self._sw[j] * _PAIR + 1  # </s> is word id 1
        idx = np.minimum(np.searchsorted(lm._bg_keys, keys), len(lm._bg_keys) - 1)
        hit = lm._bg_keys[idx] == keys
        end = np.where(hit, lm._bg_lp[idx] + self._ss[j], self._ssb[j] + lm._uni[1])
        k = int(end.argmax())
        self._finished = self._stable_text + self._trace(j, k, self._stable_pos)
        return self._finished
