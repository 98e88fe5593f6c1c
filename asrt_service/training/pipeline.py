"""Training data: list files -> cached features -> augmented, length-bucketed batches.

Audio is decoded and turned into features once; each utterance's features are
kept as a float16 ``.npy`` under ``~/.cache/asrt-service/features/<kind>/``
(keyed by path, size, mtime and feature version), so epochs after the first
cost only the model. Batches are built by a numpy sampler that groups clips of
similar length (length bucketing: a batch is padded to its own longest clip,
rounded up to 64 frames, never to 16 s) and fills each batch up to a budget of
frames, then applies augmentation in numpy:

* SpecAugment: frequency and time masks;
* vocal-tract-length style warping of the mel axis and tempo change (time
  axis resampling), which give our few synthetic voices more spread;
* joining (optional): a share of the examples are chains of several clips
  (up to ``join_frames``), since synthetic clauses last ~2 s while people send
  sentences of 5-15 s (docs/TRAINING.md has what it did and did not buy).

On TensorFlow the sampler is wrapped in ``tf.data`` (``from_generator`` +
``prefetch``) so batches are prepared while the model trains; the sampler itself
is backend-free, so the same pipeline feeds Keras under JAX.

A batch is ``(x, y)``: ``x`` float32 (B, T, F, 1); ``y`` int32 (B, 1 + L) whose
column 0 is each clip's number of model output steps and the rest its syllable
ids padded with -1 (see ``train.packed_ctc_loss``).
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from .. import features
from ..config import cache_root
from ..vocab import Vocabulary
from .datalists import Utterance, find_list_pairs, read_corpus, read_labels_tsv

logger = logging.getLogger(__name__)

#: Caches and runs, as the process started (:func:`config.cache_root`; tests move it).
CACHE_ROOT = cache_root()
FEATURE_VERSION = 2  # bumped when a kind's definition changes (2: logmel80_norm boost cap 20 -> 30 dB)
PAD_FRAMES = 64
MAX_LABEL = 1 << 30


def read_audio(path: str | Path) -> np.ndarray:
    """Decode an audio file to float32 mono 16 kHz in [-1, 1].

    Any format soundfile reads (WAV, FLAC, OGG); other rates are resampled with
    soxr, channels are averaged.
    """
    import soundfile as sf

    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if rate != features.SAMPLE_RATE:
        import soxr

        mono = soxr.resample(mono, rate, features.SAMPLE_RATE).astype(np.float32)
    return np.ascontiguousarray(mono, dtype=np.float32)


def write_audio(path: str | Path, samples: np.ndarray) -> None:
    """Write float32 mono 16 kHz samples as a 16-bit WAV file, clipped to [-1, 1].

    Written beside ``path`` and renamed into place, so an interrupted run
    never leaves a half-written file that a rerun would take as finished.
    """
    import soundfile as sf

    path = Path(path)
    tmp = path.with_suffix(".tmp.wav")
    sf.write(str(tmp), np.clip(samples, -1.0, 1.0), features.SAMPLE_RATE, subtype="PCM_16")
    tmp.replace(path)


def load_source(spec: str | Path) -> list[Utterance]:
    """Utterances of one data source.

    Args:
        spec: one of
            * a ``*.wav.lst`` / ``*.wav.txt`` file (its ``*.syllable.txt`` beside it);
            * a folder with ``labels.tsv`` (``../shared/data`` layout; audio in
              ``audio/`` or ``wav/``);
            * a folder of ASRT list files (all ``<split>.wav.lst`` pairs in it);
            * a folder of audio files each with a ``.txt`` transcript beside it
              (pinyin, or hanzi converted with pypinyin).

    Raises:
        FileNotFoundError: nothing usable at ``spec``.
    """
    p = Path(spec)
    if p.is_file():
        name = p.name
        if ".wav." not in name:
            raise FileNotFoundError(f"{p}: expected a *.wav.lst or *.wav.txt list file")
        syl = p.with_name(name.rsplit(".wav.", 1)[0] + ".syllable.txt")
        if not syl.exists():
            raise FileNotFoundError(f"{p}: no syllable list {syl.name} beside it")
        return read_corpus(p, syl)
    if not p.is_dir():
        raise FileNotFoundError(f"data source not found: {p}")
    if (p / "labels.tsv").exists():
        audio_dir = p / "audio" if (p / "audio").is_dir() else p / "wav"
        return read_labels_tsv(p / "labels.tsv", audio_dir)
    pairs = find_list_pairs(p)
    if pairs:
        return [u for wav, syl in pairs for u in read_corpus(wav, syl)]
    out = read_transcript_folder(p)
    if not out:
        raise FileNotFoundError(f"{p}: no list files, labels.tsv or audio+.txt pairs")
    return out


def text_to_pinyin(text: str) -> tuple[str, ...]:
    """Transcript -> toneful syllables: kept as is if it is pinyin, else pypinyin of the hanzi."""
    from ..vocab import normalize_syllable

    tokens = text.split()
    if tokens and all(t.isascii() and t[-1:].isdigit() for t in tokens):
        return tuple(normalize_syllable(t) for t in tokens)
    from pypinyin import Style, lazy_pinyin

    hanzi = "".join(ch for ch in text if "\u4e00" <= ch <= "\u9fff")
    out = lazy_pinyin(hanzi, style=Style.TONE3, neutral_tone_with_five=True)
    return tuple(normalize_syllable(s) for s in out)


def read_transcript_folder(folder: str | Path) -> list[Utterance]:
    """Audio files (wav, flac, ogg) with a same-named ``.txt`` transcript beside each."""
    out = []
    for audio in sorted(Path(folder).iterdir()):
        if audio.suffix.lower() not in {".wav", ".flac", ".ogg"}:
            continue
        txt = audio.with_suffix(".txt")
        if txt.exists():
            out.append(Utterance(audio.stem, audio, text_to_pinyin(txt.read_text(encoding="utf-8"))))
    return out


def parse_source_arg(arg: str) -> tuple[str, int]:
    """``PATH`` or ``PATH@N`` (repeat the source N times per epoch: oversampling)."""
    if "@" in arg:
        path, _, rep = arg.rpartition("@")
        if rep.isdigit() and int(rep) >= 1:
            return path, int(rep)
    return arg, 1


def _cache_path(path: Path, kind: str, cache_dir: Path) -> Path:
    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{kind}|{FEATURE_VERSION}"
    digest = hashlib.sha1(key.encode()).hexdigest()
    return cache_dir / kind / digest[:2] / f"{digest}.npy"


def feature_cache_dir() -> Path:
    """Where cached features live (``<cache root>/features``, read at call time)."""
    return cache_root() / "features"


def cached_features(path: Path, kind: str, cache_dir: Path | None = None) -> np.ndarray:
    """Features of one file, computed once and kept as float16 on disk."""
    cache_dir = cache_dir or feature_cache_dir()
    cp = _cache_path(Path(path), kind, cache_dir)
    if cp.exists():
        try:
            return np.load(cp)
        except (OSError, ValueError):
            logger.warning("rebuilding unreadable cache file %s", cp)
    feats = features.extract(read_audio(path), kind).astype(np.float16)
    cp.parent.mkdir(parents=True, exist_ok=True)
    # A name of its own per writer: two runs computing the same clip at once
    # must not rename each other's half-written file.
    tmp = cp.with_name(f"{cp.stem}.{os.getpid()}.{threading.get_ident()}.tmp.npy")
    np.save(tmp, feats)
    tmp.replace(cp)
    return feats


@dataclasses.dataclass
class Example:
    """One training example in memory."""

    utt_id: str
    feats: np.ndarray  # float16 (T, F)
    labels: np.ndarray  # int32 (L,)
    speaker: str = ""  # "" = not known


def prepare_examples(
    utterances: Sequence[Utterance],
    vocab: Vocabulary,
    kind: str,
    time_stride: int = 8,
    max_frames: int = 1600,
    progress: bool = True,
    cache_dir: Path | None = None,
) -> list[Example]:
    """Load (or compute and cache) features and encode labels.

    Utterances are dropped (and counted in a log line) when a syllable is not
    in ``vocab``, the audio is unreadable, longer than ``max_frames``, or too
    short for CTC to emit its labels (steps < labels + repeated neighbours).
    """
    from tqdm import tqdm

    out: list[Example] = []
    dropped = {"oov": 0, "unreadable": 0, "too long": 0, "too short": 0, "empty": 0}
    for u in tqdm(utterances, desc=f"features ({kind})", unit="utt", disable=not progress, mininterval=2):
        if not u.pinyin:
            dropped["empty"] += 1
            continue
        if any(s not in vocab for s in u.pinyin):
            dropped["oov"] += 1
            continue
        try:
            feats = cached_features(u.path, kind, cache_dir)
        except Exception as exc:  # noqa: BLE001 - a corpus may hold a few broken files
            logger.debug("unreadable %s: %s", u.path, exc)
            dropped["unreadable"] += 1
            continue
        labels = np.asarray(vocab.encode(u.pinyin), dtype=np.int32)
        repeats = int(np.sum(labels[1:] == labels[:-1]))
        if len(feats) > max_frames:
            dropped["too long"] += 1
            continue
        if len(feats) // time_stride < len(labels) + repeats:
            dropped["too short"] += 1
            continue
        out.append(Example(u.utt_id, feats, labels, u.speaker))
    if any(dropped.values()):
        logger.warning("kept %d of %d utterances; dropped %s", len(out), len(utterances), dropped)
    return out


def non_speech_waveform(rng: np.random.Generator, seconds: float) -> tuple[np.ndarray, str]:
    """One clip with no speech in it, and what it is.

    Coloured noise (white to brown, random spectral slope) at -75..-25 dBFS,
    mains hum with harmonics under a little noise (at most -35 dBFS), or
    near-digital silence (-90 dBFS): the rooms, cables and gaps a service
    hears between and instead of speech.
    """
    from .corpus.augment import coloured_noise

    n = int(seconds * features.SAMPLE_RATE)
    level_db = float(rng.uniform(-75.0, -25.0))
    kind = str(rng.choice(["noise", "noise", "hum", "silence"]))
    if kind == "noise":
        x = coloured_noise(n, float(rng.uniform(0.0, 2.0)), rng)
    elif kind == "hum":
        t = np.arange(n) / features.SAMPLE_RATE
        mains = float(rng.choice([50.0, 60.0]))
        x = sum(rng.uniform(0.2, 1.0) * np.sin(2 * np.pi * mains * h * t + rng.uniform(0, 6.3)) for h in (1, 2, 3, 5))
        x = x / np.sqrt(np.mean(x**2)) + 0.1 * coloured_noise(n, 1.0, rng)
        level_db = min(level_db, -35.0)
    else:
        x = coloured_noise(n, 0.0, rng)
        level_db = -90.0
    return (x * 10 ** (level_db / 20)).astype(np.float32), kind


def non_speech_examples(count: int, kind: str, seed: int = 0) -> list[Example]:
    """``count`` training examples of non-speech (0.5-6 s) with empty labels.

    Taught that noise, hum and silence are all blank, a model stops
    emitting syllables for them (CTC with an empty label sequence).
    """
    rng = np.random.default_rng((seed, 3))
    out = []
    for i in range(count):
        wave, what = non_speech_waveform(rng, float(rng.uniform(0.5, 6.0)))
        out.append(
            Example(f"non-speech-{i}-{what}", features.extract(wave, kind).astype(np.float16), np.zeros(0, np.int32))
        )
    return out


@dataclasses.dataclass(frozen=True)
class Augment:
    """Augmentation settings (all applied per example, in numpy).

    Attributes:
        freq_masks / freq_width: SpecAugment frequency masks and their max width (bins).
        time_masks / time_ratio: time masks, each at most ``time_ratio`` of the clip.
        warp: mel-axis warp factor drawn from [1 - warp, 1 + warp].
        tempo_min / tempo_max: speaking-rate factor drawn uniformly from this
            range by stretching the time axis (0.7 = 70 % of the original
            rate: the example lasts 1 / 0.7 times as long); both 1 = off.
    """

    freq_masks: int = 2
    freq_width: int = 10
    time_masks: int = 2
    time_ratio: float = 0.05
    warp: float = 0.1
    tempo_min: float = 0.9
    tempo_max: float = 1.1


NO_AUGMENT = Augment(0, 0, 0, 0.0, 0.0, 1.0, 1.0)

#: Speaking-rate factors ``--tempo`` accepts.
TEMPO_LIMITS = (0.3, 2.0)


def check_tempo(tempo: Sequence[float]) -> tuple[float, float]:
    """``(low, high)`` speaking-rate factors, validated.

    Raises:
        ValueError: not two numbers with ``0.3 <= low <= high <= 2``.
    """
    try:
        lo, hi = (float(v) for v in tempo)
    except (TypeError, ValueError):
        raise ValueError(f"tempo must be two numbers LOW,HIGH, got {tempo!r}") from None
    if not TEMPO_LIMITS[0] <= lo <= hi <= TEMPO_LIMITS[1]:
        raise ValueError(
            f"tempo range must satisfy {TEMPO_LIMITS[0]} <= low <= high <= {TEMPO_LIMITS[1]}, got {lo},{hi}"
        )
    return lo, hi


#: ``--specaugment`` limits: masks of each kind, frequency-mask width (bins), time-mask share.
SPECAUGMENT_LIMITS = (20, 40, 0.2)


def check_specaugment(values: Sequence[float]) -> tuple[int, int, int, float]:
    """``(freq_masks, freq_width, time_masks, time_ratio)``, validated.

    Raises:
        ValueError: not four numbers, or outside ``0 <= masks <= 20``,
            ``0 <= freq_width <= 40`` bins, ``0 <= time_ratio <= 0.2``.
    """
    try:
        fm, fw, tm, tr = values
        out = (int(fm), int(fw), int(tm), float(tr))
    except (TypeError, ValueError):
        raise ValueError(
            f"specaugment must be four numbers FREQ_MASKS,FREQ_WIDTH,TIME_MASKS,TIME_RATIO, got {values!r}"
        ) from None
    if any(float(v) != int(float(v)) for v in (fm, fw, tm)):
        raise ValueError(f"specaugment mask counts and width must be whole numbers, got {values!r}")
    max_masks, max_width, max_ratio = SPECAUGMENT_LIMITS
    if not (0 <= out[0] <= max_masks and 0 <= out[2] <= max_masks):
        raise ValueError(f"specaugment mask counts must be 0..{max_masks}, got {out[0]} and {out[2]}")
    if not 0 <= out[1] <= max_width:
        raise ValueError(f"specaugment frequency-mask width must be 0..{max_width} bins, got {out[1]}")
    if not 0.0 <= out[3] <= max_ratio:
        raise ValueError(f"specaugment time-mask share must be in [0, {max_ratio}], got {out[3]}")
    return out


def augment_example(
    feats: np.ndarray, n_labels: int, aug: Augment, rng: np.random.Generator, time_stride: int = 8
) -> np.ndarray:
    """Augment one float32 (T, F) feature array; keeps enough steps for CTC."""
    x = feats.astype(np.float32)
    t, f = x.shape
    if aug.tempo_min != 1.0 or aug.tempo_max != 1.0:
        rate = rng.uniform(aug.tempo_min, aug.tempo_max)
        new_t = int(round(t / rate))
        if new_t // time_stride >= 2 * n_labels + 1:
            x = features.tempo_view(x, rate)
            t = new_t
    if aug.warp > 0:
        alpha = rng.uniform(1.0 - aug.warp, 1.0 + aug.warp)
        x = features.resample_axis(x, np.minimum(np.arange(f) * alpha, f - 1), axis=1)
    for _ in range(aug.freq_masks):
        w = int(rng.integers(0, aug.freq_width + 1))
        if w:
            s = int(rng.integers(0, f - w + 1))
            x[:, s : s + w] = 0.0
    for _ in range(aug.time_masks):
        w = int(rng.integers(0, int(aug.time_ratio * t) + 1))
        if w:
            s = int(rng.integers(0, t - w + 1))
            x[s : s + w] = 0.0
    return x


def pack_batch(
    feats: Sequence[np.ndarray], labels: Sequence[np.ndarray], time_stride: int = 8, pad_to: int = PAD_FRAMES
) -> tuple[np.ndarray, np.ndarray]:
    """Pad a list of examples into ``(x, y)`` (see module docstring)."""
    longest = max(len(f) for f in feats)
    frames = -(-longest // pad_to) * pad_to
    n_feat = feats[0].shape[1]
    x = np.zeros((len(feats), frames, n_feat, 1), np.float32)
    max_label = max(8, -(-max(len(lab) for lab in labels) // 8) * 8)  # room even if all are non-speech
    y = np.full((len(feats), 1 + max_label), -1, np.int32)
    for i, (f, lab) in enumerate(zip(feats, labels, strict=True)):
        x[i, : len(f), :, 0] = f
        y[i, 0] = len(f) // time_stride
        y[i, 1 : 1 + len(lab)] = lab
    return x, y


class BucketSampler:
    """Endless (or one-pass) iterator of length-bucketed, augmented batches.

    Examples are sorted by length within shuffled pools of ``pool`` batches'
    worth, cut into batches of at most ``batch_frames`` padded frames (and
    ``max_batch`` clips), and the batches shuffled, so each batch holds clips
    of similar length.

    Args:
        examples: training examples (repeat an example in the list to oversample).
        batch_frames: padded frames per batch (B x T budget).
        augment: augmentation, or ``NO_AUGMENT``.
        seed: RNG seed; the epoch number is mixed in.
        time_stride: model stride (for CTC lengths).
        max_batch: most clips per batch.
        join_frames: longest joined example (0 = never join clips).
        join_share: chance that an example starts a chain of clips; the chain
            grows to a length drawn from [join_frames / 2, join_frames].
        join_same_speaker: chain only clips of one speaker (``Example.speaker``),
            so a joined example sounds like one person talking on; clips
            whose speaker is not known are then never joined.
    """

    def __init__(
        self,
        examples: Sequence[Example],
        batch_frames: int = 6000,
        augment: Augment = Augment(),
        seed: int = 0,
        time_stride: int = 8,
        max_batch: int = 32,
        pool: int = 50,
        join_frames: int = 0,
        join_share: float = 0.0,
        join_same_speaker: bool = False,
    ) -> None:
        if not examples:
            raise ValueError("no training examples")
        self.examples = list(examples)
        self.lengths = np.array([len(e.feats) for e in self.examples])
        self.join_frames = join_frames
        self.join_share = join_share
        self.join_same_speaker = join_same_speaker
        self.batch_frames = batch_frames
        self.augment = augment
        self.seed = seed
        self.time_stride = time_stride
        self.max_batch = max_batch
        self.pool = pool

    def _ctc_steps_needed(self, item: Sequence[int]) -> int:
        labels = np.concatenate([self.examples[i].labels for i in item])
        return len(labels) + int(np.sum(labels[1:] == labels[:-1]))

    def epoch_items(self, epoch: int) -> list[tuple[int, ...]]:
        """The examples of one pass in random order: single clips and chains of clips."""
        rng = np.random.default_rng((self.seed, epoch, 2))
        order = [int(i) for i in rng.permutation(len(self.examples))]
        if self.join_frames <= 0 or self.join_share <= 0:
            return [(i,) for i in order]
        if self.join_same_speaker:
            return self._speaker_chains(order, rng)
        items: list[tuple[int, ...]] = []
        chain: list[int] = []
        chain_len = target = 0
        for i in order:
            n = int(self.lengths[i])
            if chain and not self._fits(chain, chain_len, i):
                items.append(tuple(chain))
                chain = []
            if chain:
                chain.append(i)
                chain_len += n
            elif n >= self.join_frames // 2 or rng.random() >= self.join_share:
                items.append((i,))
                continue
            else:
                chain, chain_len = [i], n
                target = int(rng.integers(self.join_frames // 2, self.join_frames + 1))
            if chain_len >= target:
                items.append(tuple(chain))
                chain = []
        if chain:
            items.append(tuple(chain))
        return items

    def _fits(self, chain: Sequence[int], chain_len: int, i: int) -> bool:
        n = chain_len + int(self.lengths[i])
        return n <= self.join_frames and n // self.time_stride >= self._ctc_steps_needed([*chain, i])

    def _speaker_chains(self, order: list[int], rng: np.random.Generator) -> list[tuple[int, ...]]:
        """Like the random chains, but each chain continues with the next clips of its first clip's speaker."""
        queues: dict[str, collections.deque[int]] = collections.defaultdict(collections.deque)
        for i in order:
            if self.examples[i].speaker:
                queues[self.examples[i].speaker].append(i)
        used = np.zeros(len(self.examples), bool)
        items: list[tuple[int, ...]] = []
        for i in order:
            if used[i]:
                continue
            used[i] = True
            n, speaker = int(self.lengths[i]), self.examples[i].speaker
            if not speaker or n >= self.join_frames // 2 or rng.random() >= self.join_share:
                items.append((i,))
                continue
            chain, chain_len = [i], n
            ids = {self.examples[i].utt_id}
            target = int(rng.integers(self.join_frames // 2, self.join_frames + 1))
            queue = queues[speaker]
            skipped = 0  # a clip repeated in the epoch (``@N``) is not joined to itself
            while chain_len < target and queue and skipped < 8:
                j = queue[0]
                if used[j]:
                    queue.popleft()
                elif self.examples[j].utt_id in ids:
                    queue.rotate(-1)
                    skipped += 1
                elif self._fits(chain, chain_len, j):
                    queue.popleft()
                    used[j] = True
                    chain.append(j)
                    chain_len += int(self.lengths[j])
                    ids.add(self.examples[j].utt_id)
                else:
                    break
            items.append(tuple(chain))
        return items

    def epoch_batches(self, epoch: int) -> list[list[tuple[int, ...]]]:
        """Batches (lists of items: tuples of example indices) of one pass, in training order."""
        rng = np.random.default_rng((self.seed, epoch))
        items = self.epoch_items(epoch)
        lengths = np.array([sum(int(self.lengths[i]) for i in item) for item in items])
        batches: list[list[tuple[int, ...]]] = []
        approx = max(1, self.batch_frames // max(1, int(lengths.mean())))
        chunk = self.pool * approx
        for start in range(0, len(items), chunk):
            part = np.arange(start, min(start + chunk, len(items)))
            part = part[np.argsort(lengths[part], kind="stable")]
            cur: list[tuple[int, ...]] = []
            longest = 0
            for k in part:
                t = -(-int(lengths[k]) // PAD_FRAMES) * PAD_FRAMES
                if cur and (max(longest, t) * (len(cur) + 1) > self.batch_frames or len(cur) >= self.max_batch):
                    batches.append(cur)
                    cur, longest = [], 0
                cur.append(items[k])
                longest = max(longest, t)
            if cur:
                batches.append(cur)
        rng.shuffle(batches)
        return batches

    def item_example(self, item: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """Features and labels of one item (a clip, or clips joined end to end)."""
        if len(item) == 1:
            e = self.examples[item[0]]
            return e.feats, e.labels
        exs = [self.examples[i] for i in item]
        return np.concatenate([e.feats for e in exs]), np.concatenate([e.labels for e in exs])

    def batches_per_epoch(self) -> int:
        return len(self.epoch_batches(0))

    def iterate(
        self, start_epoch: int = 0, repeat: bool = True, skip: int = 0
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Packed batches from ``start_epoch`` on, leaving out that epoch's first ``skip``
        (a run resumed mid-epoch; the rest get augmentation draws of their own)."""
        epoch = start_epoch
        while True:
            rng = np.random.default_rng((self.seed, epoch, 1, skip) if skip else (self.seed, epoch, 1))
            for batch in self.epoch_batches(epoch)[skip:]:
                pairs = [self.item_example(item) for item in batch]
                feats = [augment_example(f, len(lab), self.augment, rng, self.time_stride) for f, lab in pairs]
                yield pack_batch(feats, [lab for _, lab in pairs], self.time_stride)
            if not repeat:
                return
            epoch += 1
            skip = 0


def tf_dataset(sampler: BucketSampler, n_features: int, start_epoch: int = 0, repeat: bool = True, skip: int = 0):
    """Wrap a sampler in ``tf.data`` with prefetching (TensorFlow backend)."""
    import tensorflow as tf

    sig = (
        tf.TensorSpec((None, None, n_features, 1), tf.float32),
        tf.TensorSpec((None, None), tf.int32),
    )
    ds = tf.data.Dataset.from_generator(lambda: sampler.iterate(start_epoch, repeat, skip), output_signature=sig)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options).prefetch(4)
