"""The one in-process recognition engine shared by the REST and gRPC servers.

Audio -> features -> acoustic model -> CTC decoding -> pinyin -> language
model -> text. ASRT pads every clip to 16 s and runs one request at a time; we
run each clip on its real length (rounded up to the model's time stride) and
batch concurrent requests: callers compute features on their own threads and
queue them, and one worker thread owns the model, taking whatever is queued
(waiting a few milliseconds for more) and running it as one padded batch.

Threading rule: every public method is safe to call from any number of threads.
Only the worker thread touches the acoustic model; the language model is
read-only during decoding.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future

import numpy as np

from . import audio as audio_mod
from . import features
from .audio import SAMPLE_RATE, Audio
from .config import Settings, parse_tempo_views
from .errors import BadRequestFormat, InferenceError, NotReady, Overloaded

logger = logging.getLogger(__name__)

#: Time steps are padded to a multiple of this many frames, so the compiled
#: model sees few distinct shapes (0.64 s granularity at a 10 ms hop).
PAD_QUANTUM_FRAMES = 64


@dataclasses.dataclass(frozen=True)
class Segment:
    """One piece of a transcript, cut at a pause.

    Attributes:
        start: seconds from the start of the audio.
        end: seconds from the start of the audio.
        text: hanzi.
        pinyin: toneful syllables.
    """

    start: float
    end: float
    text: str
    pinyin: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Transcript:
    """Result of :meth:`Recognizer.recognize`.

    Attributes:
        text: hanzi for the whole audio.
        pinyin: toneful syllables for the whole audio.
        segments: the pieces the audio was cut into, in order.
        duration_s: audio length in seconds.
        model: acoustic model name.
        timings: seconds spent per stage (``decode``, ``acoustic``, ``language``, ``total``).
    """

    text: str
    pinyin: tuple[str, ...]
    segments: tuple[Segment, ...]
    duration_s: float
    model: str
    timings: dict[str, float] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class LanguageResult:
    """Result of :meth:`Recognizer.language`: text plus syllables the LM did not know."""

    text: str
    unknown: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class PieceResult:
    """Acoustic model output for one piece of audio.

    Attributes:
        pinyin: greedy CTC syllables.
        alternatives: per syllable, the model's best ``(syllable, log-prob)``
            candidates, greedy one first (n-best input for the language model).
    """

    pinyin: tuple[str, ...]
    alternatives: tuple[tuple[tuple[str, float], ...], ...] = ()

    @classmethod
    def from_alternatives(cls, alternatives) -> PieceResult:
        """From ``AcousticModel.alternatives`` output: the first candidates spell the greedy pinyin."""
        return cls(tuple(cands[0][0] for cands in alternatives), alternatives)


_EMPTY = PieceResult(())


def lm_text(lm, piece: PieceResult, nbest: int, extra_words=None, acoustic_weight: float | None = None) -> str:
    """Hanzi for one piece: the language model picks among the acoustic n-best.

    With ``nbest`` > 1 every syllable position offers the language model the
    acoustic model's ``nbest`` best candidates, scored by their log-probability,
    so a likely word can win over a slightly likelier wrong syllable; with 0 or
    1 it reads the greedy pinyin only (tone and neighbouring-syllable
    variations still apply). ``acoustic_weight`` scales the candidates'
    log-probabilities (the acoustic model's ``lm_acoustic_weight``; ``None``:
    the language model's default). Shared by the servers, ``evaluate`` and
    ``predict``.
    """
    if not piece.pinyin:
        return ""
    if nbest > 1 and piece.alternatives:
        alts = [a[:nbest] for a in piece.alternatives]
        return lm.decode(list(piece.pinyin), nbest=alts, extra_words=extra_words, acoustic_weight=acoustic_weight).text
    return lm.decode(list(piece.pinyin), extra_words=extra_words).text


@dataclasses.dataclass
class _Job:
    feats: np.ndarray  # (frames, n_features) float32
    future: Future
    quick: bool = False  # one tempo view (streaming partials), not the model's set


class Recognizer:
    """Loads nothing itself: give it a loaded acoustic model and language model.

    Args:
        acoustic: an ``acoustic_model.AcousticModel``.
        lm: a ``language_model.PinyinLM``.
        max_batch: most clips per model call.
        batch_wait_ms: how long the worker waits for more clips after the first.
        queue_size: clips waiting before :class:`Overloaded` is raised.
        max_audio_seconds: longest audio accepted by :meth:`load_audio` callers.
        stream_pause_ms: pause that ends a sentence in :meth:`stream`.
        pad_to_window: pad every clip to the full model window, as ASRT does
            (benchmark baseline only).
        nbest: acoustic alternatives per syllable given to the language model
            (0 or 1: the greedy pinyin only; default ``Settings.lm_nbest``).
    """

    def __init__(
        self,
        acoustic,
        lm,
        *,
        max_batch: int = 16,
        batch_wait_ms: float = 5.0,
        queue_size: int = 256,
        max_audio_seconds: float = 600.0,
        stream_pause_ms: float = 500.0,
        pad_to_window: bool = False,
        nbest: int = Settings.lm_nbest,
    ) -> None:
        self.nbest = nbest
        self.acoustic = acoustic
        self.lm = lm
        self.spec = acoustic.spec
        self.model_name = getattr(acoustic, "name", None) or self.spec.arch
        self.lm_acoustic_weight = getattr(acoustic, "lm_acoustic_weight", None)
        self.max_batch = max_batch
        self.batch_wait = batch_wait_ms / 1000.0
        self.max_audio_seconds = max_audio_seconds
        self.stream_pause_frames = int(stream_pause_ms / 10)
        self.min_batch_frames = self.spec.window_frames if pad_to_window else 0
        # The model window: the longest piece one forward pass sees (16 s for ASRT).
        self.window_seconds = self.spec.window_frames * 0.01
        self._queue: queue.Queue[_Job | None] = queue.Queue(maxsize=queue_size)
        self._preparing = 0  # requests computing features, about to queue
        self._count_lock = threading.Lock()
        self._ready = threading.Event()
        self._worker = threading.Thread(target=self._run, name="acoustic-batcher", daemon=True)
        self._worker.start()
        self._warm_up()
        self._ready.set()

    @classmethod
    def from_settings(cls, settings) -> Recognizer:
        """Load the models named in ``settings`` and build the engine."""
        from .acoustic_model import AcousticModel
        from .language_model import PinyinLM

        acoustic = AcousticModel.open(settings.model_dir, settings.asrt_weights, settings.asrt_dict)
        if settings.tempo_views:
            acoustic.tempo_views = parse_tempo_views(settings.tempo_views)
        lm = PinyinLM.load(settings.lm_dir)
        if settings.user_words:
            lm.add_words_file(settings.user_words)
        return cls(
            acoustic,
            lm,
            max_batch=settings.max_batch,
            batch_wait_ms=settings.batch_wait_ms,
            queue_size=settings.queue_size,
            max_audio_seconds=settings.max_audio_seconds,
            stream_pause_ms=settings.stream_pause_ms,
            pad_to_window=settings.pad_to_window,
            nbest=settings.lm_nbest,
        )

    @property
    def ready(self) -> bool:
        return self._ready.is_set() and self._worker.is_alive()

    def close(self) -> None:
        """Stop the worker thread (pending requests still finish)."""
        self._queue.put(None)
        self._worker.join(timeout=10)

    # --- public API ---------------------------------------------------------

    def speech(self, audio: Audio) -> list[str]:
        """Audio -> toneful pinyin syllables."""
        per_piece, _, _ = self._acoustic(audio)
        return [s for piece in per_piece for s in piece.pinyin]

    def language(self, pinyins: Sequence[str], extra_words=None) -> LanguageResult:
        """Toneful pinyin -> hanzi; unknown syllables are skipped and reported.

        Raises:
            BadRequestFormat: ``pinyins`` is not a list of strings.
        """
        if isinstance(pinyins, (str, bytes)) or not all(isinstance(p, str) for p in pinyins):
            raise BadRequestFormat('the pinyin sequence must be a list of strings such as ["ni3", "hao3"]')
        result = self.lm.decode(list(pinyins), extra_words=extra_words)
        return LanguageResult(result.text, tuple(result.unknown))

    def recognize(self, audio: Audio, extra_words=None) -> Transcript:
        """Audio -> :class:`Transcript` (text, pinyin, segments cut at pauses).

        Args:
            audio: decoded audio.
            extra_words: custom words for this request, ``(word, pinyin | None, weight)``.
        """
        t0 = time.perf_counter()
        per_piece, pieces, timings = self._acoustic(audio)
        t1 = time.perf_counter()
        segments = [
            Segment(start / SAMPLE_RATE, end / SAMPLE_RATE, self.text_for(piece, extra_words), piece.pinyin)
            for (start, end), piece in zip(pieces, per_piece, strict=True)
        ]
        timings["language"] = time.perf_counter() - t1
        timings["total"] = time.perf_counter() - t0
        return Transcript(
            text="".join(s.text for s in segments),
            pinyin=tuple(s for seg in segments for s in seg.pinyin),
            segments=tuple(segments),
            duration_s=audio.duration_s,
            model=self.model_name,
            timings=timings,
        )

    def text_for(self, piece: PieceResult, extra_words=None) -> str:
        """Hanzi for one piece's acoustic output (n-best when configured)."""
        return lm_text(self.lm, piece, self.nbest, extra_words, self.lm_acoustic_weight)

    def stream(self) -> StreamSession:
        """A stateful streaming decoder (one per client stream)."""
        return StreamSession(self)

    # --- acoustic path ------------------------------------------------------

    def _acoustic(self, audio: Audio):
        """Split at pauses, queue every piece, gather pinyin in order.

        Returns:
            ([PieceResult per piece], [(start, end) sample offsets per piece], timings).
        """
        audio_mod.check_duration(audio, self.max_audio_seconds)
        t0 = time.perf_counter()
        pieces = audio_mod.split_at_pauses(audio.samples, self.window_seconds)
        futures = [self.submit(audio.samples[s:e]) for s, e in pieces]
        per_piece = [f.result() for f in futures]
        return per_piece, pieces, {"acoustic": time.perf_counter() - t0}

    def submit(self, samples: np.ndarray, quick: bool = False) -> Future:
        """Queue one piece (at most the model window) for the batcher.

        Args:
            samples: float32 mono 16 kHz.
            quick: run the clip as it is only, not with every test-time tempo
                view of the model: for streaming partials, which are re-decoded
                after every chunk and replaced by the final result.

        Returns:
            A future resolving to the piece's :class:`PieceResult`.

        Raises:
            Overloaded: the queue is full.
            NotReady: the worker has stopped.
        """
        fut: Future = Future()
        with self._count_lock:
            self._preparing += 1
        try:
            feats = features.extract(samples, self.spec.feature)
            if feats.shape[0] and self._worker.is_alive():
                self._queue.put_nowait(_Job(feats, fut, quick))
                return fut
        except queue.Full:
            raise Overloaded("the server is busy (request queue full); retry shortly") from None
        finally:
            with self._count_lock:
                self._preparing -= 1
        if feats.shape[0] == 0:  # shorter than one 25 ms frame
            fut.set_result(_EMPTY)
            return fut
        raise NotReady("the recognition worker is not running")

    def _warm_up(self) -> None:
        """One forward pass so the first user request does not pay for tracing."""
        self.submit(np.zeros(SAMPLE_RATE, np.float32)).result(timeout=300)

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            jobs = [job]
            # Wait for more only while other requests are still computing their
            # features: a lone request runs at once, a burst is batched.
            deadline = time.monotonic() + self.batch_wait
            while len(jobs) < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    if self._preparing == 0 or time.monotonic() >= deadline:
                        break
                    time.sleep(0.0005)
                    continue
                if nxt is None:
                    self._queue.put(None)
                    break
                jobs.append(nxt)
            self._run_batch(jobs)

    def _run_batch(self, jobs: list[_Job]) -> None:
        try:
            for quick in (False, True):
                group = [j for j in jobs if j.quick == quick]
                if not group:
                    continue
                probs, steps = self.acoustic.batch_probs(
                    [j.feats for j in group],
                    min_frames=self.min_batch_frames,
                    quantum=PAD_QUANTUM_FRAMES,
                    rates=(1.0,) if quick else None,
                )
                for j, p, n in zip(group, probs, steps, strict=True):
                    j.future.set_result(PieceResult.from_alternatives(self.acoustic.alternatives(p, n, k=self.nbest)))
        except Exception as exc:  # a model failure fails this batch, never the worker
            logger.exception("acoustic model failed on a batch of %d", len(jobs))
            for j in jobs:
                if not j.future.done():
                    j.future.set_exception(InferenceError("the acoustic model failed on this audio"))
            del exc


@dataclasses.dataclass(frozen=True)
class StreamUpdate:
    """What a stream reports after a chunk: partial text, or a finished sentence."""

    text: str
    final: bool
    pinyin: tuple[str, ...] = ()


class StreamSession:
    """Streaming recognition for one client.

    The session keeps the audio of the sentence in progress. After every chunk
    it re-decodes that whole sentence (the acoustic model sees the context,
    not the chunk alone; one tempo view, as partials are re-done every chunk)
    and reports partial text; when the audio ends in a
    pause of at least ``stream_pause_ms`` after speech, the sentence is final
    and a new one starts after the pause. A sentence that outgrows the model
    window is cut at its best pause.
    """

    def __init__(self, recognizer: Recognizer) -> None:
        self.r = recognizer
        self._resampler = audio_mod.StreamResampler()
        self._sentence = np.zeros(0, np.float32)
        self._total_samples = 0
        self._lm_stream = None
        self._lm_fed: list[str] = []
        self.finished_text: list[str] = []

    @property
    def received_seconds(self) -> float:
        return self._total_samples / SAMPLE_RATE

    def feed(self, samples: np.ndarray, rate: int) -> list[StreamUpdate]:
        """Add a chunk of float32 mono audio at ``rate``; returns the updates it causes."""
        chunk = self._resampler.push(samples, rate)
        self._total_samples += len(chunk)
        audio_mod.check_seconds(self._total_samples / SAMPLE_RATE, self.r.max_audio_seconds)
        self._sentence = np.concatenate([self._sentence, chunk])
        updates: list[StreamUpdate] = []
        window = int(self.r.window_seconds * SAMPLE_RATE)
        while len(self._sentence) > window:
            (_, cut), *_ = audio_mod.split_at_pauses(self._sentence, self.r.window_seconds)
            updates.append(self._finalize(self._sentence[:cut]))
            self._sentence = self._sentence[cut:]
        speech, pause = audio_mod.pause_profile(self._sentence)
        if speech >= audio_mod.MIN_SPEECH_FRAMES and pause >= self.r.stream_pause_frames:
            updates.append(self._finalize(self._sentence))
            self._sentence = np.zeros(0, np.float32)
            return updates
        updates.append(self._partial(speech >= audio_mod.MIN_SPEECH_FRAMES))
        return updates

    def finish(self) -> StreamUpdate:
        """The client is done: final text of the sentence in progress (may be empty)."""
        self._sentence = np.concatenate([self._sentence, self._resampler.flush()])
        update = self._finalize(self._sentence)
        self._sentence = np.zeros(0, np.float32)
        return update

    def _decode(self, samples: np.ndarray) -> PieceResult:
        if len(samples) == 0 or not audio_mod.has_speech(samples):
            return _EMPTY
        return self.r.submit(samples).result()

    def _partial(self, speech: bool) -> StreamUpdate:
        piece = self.r.submit(self._sentence, quick=True).result() if speech else _EMPTY
        pinyin = list(piece.pinyin)
        # Feed the incremental LM only what is new; if the acoustic model
        # revised earlier syllables with more context, start the LM over.
        if self._lm_stream is None or pinyin[: len(self._lm_fed)] != self._lm_fed:
            self._lm_stream = self.r.lm.stream(acoustic_weight=self.r.lm_acoustic_weight)
            self._lm_fed = []
        nbest = self.r.nbest
        for i in range(len(self._lm_fed), len(pinyin)):
            if nbest > 1 and piece.alternatives:
                self._lm_stream.feed_alternatives(piece.alternatives[i][:nbest])
            else:
                self._lm_stream.feed(pinyin[i])
            self._lm_fed.append(pinyin[i])
        return StreamUpdate(self._lm_stream.partial, final=False, pinyin=tuple(pinyin))

    def _finalize(self, samples: np.ndarray) -> StreamUpdate:
        piece = self._decode(samples)
        text = self.r.text_for(piece)
        self._lm_stream, self._lm_fed = None, []
        if text:
            self.finished_text.append(text)
        return StreamUpdate(text, final=True, pinyin=piece.pinyin)
