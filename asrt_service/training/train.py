"""Train an acoustic model with CTC: Keras ``fit`` plus our own checkpointing.

A run lives in a folder (default ``~/.cache/asrt-service/runs/<name>/``):

```
run.json        the configuration the run was started with
ckpt/           last checkpoint: weights.h5, optimizer.npz, state.json
best/           model directory of the best dev result so far (servable as is)
tb/             TensorBoard logs (loss, learning rate, dev error rates)
train.log       one line per epoch
```

Checkpoints are written every ``checkpoint_minutes`` and at every epoch end,
always to a fresh folder that then replaces ``ckpt/`` (a crash never leaves a
half-written checkpoint). ``resume`` reloads weights, optimizer state, step
and epoch counters, early-stopping state and the original configuration
(training data lists are re-read, so data added since is picked up). A run
interrupted mid-epoch goes on after the last checkpointed step of that epoch:
an epoch's batches and their order are a function of the seed and the epoch
number, so the rest of the epoch is the batches not yet trained on (with
fresh augmentation draws), and each epoch still sees every example once.
SIGTERM / Ctrl-C stop after the current step with a checkpoint;
``max_minutes`` / ``max_steps`` end an invocation the same way.

The model is trained on its logits (``acoustic_model.logits_model``); the loss
gets ``y`` packed as in ``pipeline``: column 0 = output steps, then labels
padded with -1. That keeps ``fit`` backend-neutral (no TensorFlow-only train
step), so the same loop runs under JAX.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import math
import os
import shutil
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import acoustic_model as am
from .. import features
from ..vocab import Vocabulary, build_default_vocabulary, strip_tone
from . import pipeline
from .metrics import ErrorCount

logger = logging.getLogger(__name__)

RUNS_ROOT = pipeline.CACHE_ROOT / "runs"
DEFAULT_EPOCHS = 30  # a new run's passes over the data when none are asked for


@dataclasses.dataclass
class TrainConfig:
    """Everything a run needs; saved as run.json so ``resume`` restores it.

    Attributes:
        train: data sources (``pipeline.load_source``), each optionally ``PATH@N``
            to repeat it N times per epoch.
        dev: sources for early stopping and best-model selection (never the
            test sets you report).
        monitor: sources scored after every epoch for the log only (learning
            curves on a test set); never used for selection or stopping.
        run_dir: run folder.
        preset: model preset (``acoustic_model.preset``) for a new model.
        init_from: model directory whose weights start the run (fine-tuning);
            its vocabulary and spec are used.
        grow_blocks: with ``init_from``, first deepen that model to this many
            residual blocks, the new ones starting as the identity
            (``acoustic_model.grow_blocks``); 0 keeps its depth.
        grow_scale: the new blocks' last batch-norm scale at the start: 0
            starts them as the identity, 0.25 (revision 12) switched on.
        widen_channels: with ``init_from``, first widen that model's 1-D part
            to this many channels, starting as the same function
            (``acoustic_model.widen_channels``, seeded by ``seed``); 0 keeps
            its width.
        time_stride: input frames per output step instead of the preset's or
            the init model's: 4 gives ``dcnn_fast`` a 40 ms step; an init model
            with 8 is refined to it with its weights
            (``acoustic_model.refine_stride``). 0 keeps the step.
        feature: feature kind (``features.KINDS``) instead of the preset's or,
            with ``init_from``, the init model's; it must have the same width
            (e.g. ``logmel80`` -> ``logmel80_norm``: the weights carry over and
            the run adapts them to the new front end).
        vocab: vocabulary file for a new model (default: our 2100 syllables).
        epochs: passes over the training data (None: ``DEFAULT_EPOCHS`` for a
            new run; a resumed run keeps its own count unless given one anew).
        batch_frames: padded frames per batch.
        lr, warmup_steps, min_lr_ratio: peak learning rate, linear warm-up,
            cosine decay to ``min_lr_ratio * lr`` at the last planned step.
        total_steps: planned steps for the schedule (default: epochs x steps/epoch
            at the start of the run; kept on resume).
        checkpoint_minutes: checkpoint interval.
        patience: epochs without dev improvement before stopping (0 = never stop).
        max_minutes: stop (with a checkpoint) after this much training time in
            this invocation (a resumed run gets the budget anew).
        max_steps: stop (with a checkpoint) after this many steps in this
            invocation (0 = no limit; a resumed run gets the budget anew).
        augment: SpecAugment + warping on.
        warp: with ``augment``, the mel-axis warp range (factor drawn from
            ``[1 - warp, 1 + warp]``: a vocal-tract-length change).
        tempo: with ``augment``, the speaking-rate range ``(low, high)``
            (``pipeline.Augment``): each example is stretched in time by a
            factor drawn from it. Our synthetic voices speak about 1.5x as fast
            as real speakers (docs/TRAINING.md), so a low end well below 1
            shows the model synthetic speech at real speakers' rates.
        specaugment: with ``augment``, SpecAugment's ``(freq_masks,
            freq_width, time_masks, time_ratio)``: that many frequency masks
            of up to ``freq_width`` mel bins and time masks of up to
            ``time_ratio`` of the example each (``pipeline.Augment``).
        dev_max: at most this many dev utterances per source.
        seed: RNG seed (init, shuffling, augmentation).
        distribute: None, ``mirrored`` (all local GPUs) or ``multiworker``
            (TF_CONFIG cluster; see docs/TRAINING.md).
        weight_decay: AdamW weight decay.
        non_speech: share of non-speech examples (noise, hum, silence with
            empty labels; ``pipeline.non_speech_examples``) added to the
            training examples, e.g. 0.03; 0 adds none.
        join_frames / join_share: join clips end to end into examples of up to
            ``join_frames`` frames, starting a chain at ``join_share`` of the
            examples (``pipeline.BucketSampler``); 0 turns joining off.
        join_same_speaker: chain only clips of one speaker (corpus voice, or
            the speaker in AISHELL-1 / THCHS30 ids); clips of unknown speaker
            are then not joined.
    """

    train: list[str]
    dev: list[str] = dataclasses.field(default_factory=list)
    monitor: list[str] = dataclasses.field(default_factory=list)
    run_dir: str = str(RUNS_ROOT / "default")
    preset: str = "dcnn_fast"
    init_from: str | None = None
    grow_blocks: int = 0
    grow_scale: float = 0.0
    widen_channels: int = 0
    time_stride: int = 0
    feature: str | None = None
    vocab: str | None = None
    epochs: int | None = None
    batch_frames: int = 6000
    lr: float = 2e-3
    warmup_steps: int = 300
    min_lr_ratio: float = 0.02
    total_steps: int | None = None
    checkpoint_minutes: float = 5.0
    patience: int = 6
    max_minutes: float | None = None
    max_steps: int = 0
    augment: bool = True
    warp: float = pipeline.Augment.warp
    tempo: tuple[float, float] = (pipeline.Augment.tempo_min, pipeline.Augment.tempo_max)
    specaugment: tuple[int, int, int, float] = (
        pipeline.Augment.freq_masks,
        pipeline.Augment.freq_width,
        pipeline.Augment.time_masks,
        pipeline.Augment.time_ratio,
    )
    dev_max: int = 300
    seed: int = 0
    distribute: str | None = None
    weight_decay: float = 1e-5
    join_frames: int = 0
    join_share: float = 0.5
    join_same_speaker: bool = False
    non_speech: float = 0.0

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        d = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def _keras():
    import keras

    return keras


class PackedCTCLoss:
    """Factory for the Keras loss on packed targets (see module docstring)."""

    @staticmethod
    def make(ctc: Callable = am.ctc_loss):
        """``ctc``: the per-example CTC function (``am.ctc_loss``'s signature); benches pass another."""
        keras = _keras()
        ops = keras.ops

        class _Loss(keras.losses.Loss):
            def __init__(self) -> None:
                super().__init__(name="ctc")

            def call(self, y_true, y_pred):
                y = ops.cast(y_true, "int32")
                steps = ops.minimum(y[:, 0], ops.shape(y_pred)[1])
                labels = y[:, 1:]
                valid = labels >= 0
                lengths = ops.sum(ops.cast(valid, "int32"), axis=1)
                labels = ops.where(valid, labels, ops.zeros_like(labels))
                return ctc(labels, lengths, y_pred, steps)

        return _Loss()


def make_schedule(peak: float, warmup: int, total: int, min_ratio: float):
    """Linear warm-up then cosine decay, as a Keras LearningRateSchedule."""
    keras = _keras()
    ops = keras.ops

    class _Schedule(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            step = ops.cast(step, "float32")
            warm = ops.minimum(1.0, (step + 1.0) / float(max(1, warmup)))
            progress = ops.clip((step - warmup) / float(max(1, total - warmup)), 0.0, 1.0)
            cosine = min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + ops.cos(math.pi * progress))
            return peak * warm * cosine

        def get_config(self) -> dict[str, Any]:
            return {"peak": peak, "warmup": warmup, "total": total, "min_ratio": min_ratio}

    return _Schedule()


def recognize_examples(
    model, examples: Sequence[pipeline.Example], time_stride: int, batch_frames: int = 16000
) -> list[list[int]]:
    """Greedy CTC ids for examples, batched by length (no augmentation)."""
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].feats))
    out: list[list[int]] = [[] for _ in examples]
    i = 0
    while i < len(order):
        j = i + 1
        while j < len(order) and len(examples[order[j]].feats) * (j - i + 1) <= batch_frames:
            j += 1
        idx = order[i:j]
        x, _ = pipeline.pack_batch(
            [examples[k].feats.astype(np.float32) for k in idx], [examples[k].labels for k in idx], time_stride
        )
        probs = np.asarray(model(x, training=False))
        for row, k in enumerate(idx):
            out[k] = am.ctc_greedy(probs[row], len(examples[k].feats) // time_stride)
        i = j
    return out


def mean_ctc_loss(model, examples: Sequence[pipeline.Example], time_stride: int) -> float:
    """Average per-utterance CTC loss of ``model`` (the softmax model) on ``examples``, no augmentation."""
    keras = _keras()
    logits = am.logits_model(model)
    x, y = pipeline.pack_batch(
        [e.feats.astype(np.float32) for e in examples], [e.labels for e in examples], time_stride
    )
    loss = PackedCTCLoss.make()(y, logits(x, training=False))
    return float(keras.ops.convert_to_numpy(loss))


def score_examples(model, examples, vocab: Vocabulary, time_stride: int) -> dict[str, float]:
    """Toneful and toneless SER of ``model`` on ``examples``."""
    hyps = recognize_examples(model, examples, time_stride)
    toneful, toneless = ErrorCount(), ErrorCount()
    for e, h in zip(examples, hyps, strict=True):
        ref, hyp = vocab.decode(e.labels.tolist()), vocab.decode(h)
        toneful.add(ref, hyp)
        toneless.add([strip_tone(s) for s in ref], [strip_tone(s) for s in hyp])
    return {"ser": toneful.rate, "ser_toneless": toneless.rate}


class _RunState:
    def __init__(self, d: dict[str, Any] | None = None) -> None:
        d = d or {}
        self.epoch: int = d.get("epoch", 0)
        self.global_step: int = d.get("global_step", 0)
        self.epoch_step: int = d.get("epoch_step", 0)  # steps done of the unfinished epoch ``epoch``
        self.best: float = d.get("best", math.inf)
        self.best_epoch: int = d.get("best_epoch", -1)
        self.bad_epochs: int = d.get("bad_epochs", 0)
        self.train_seconds: float = d.get("train_seconds", 0.0)
        self.total_steps: int = d.get("total_steps", 0)
        self.history: list[dict] = d.get("history", [])

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def _write_checkpoint(run_dir: Path, acoustic: am.AcousticModel, optimizer, state: _RunState) -> None:
    """Write ``ckpt/``: a complete model directory (so a run resumes without its
    ``--init-from`` folder, and a checkpoint can be served or evaluated as it is)
    plus the optimizer state and counters."""
    new, cur, old = run_dir / "ckpt.new", run_dir / "ckpt", run_dir / "ckpt.old"
    shutil.rmtree(new, ignore_errors=True)
    new.mkdir(parents=True)
    acoustic.save(new, checkpoint={"epoch": state.epoch, "step": state.global_step})
    opt_vars = {f"v{i}": np.asarray(v.value) for i, v in enumerate(optimizer.variables)}
    np.savez(new / "optimizer.npz", **opt_vars)
    (new / "state.json").write_text(json.dumps(state.to_dict(), indent=1), encoding="utf-8")
    shutil.rmtree(old, ignore_errors=True)
    if cur.exists():
        cur.rename(old)
    new.rename(cur)
    shutil.rmtree(old, ignore_errors=True)


def _find_checkpoint(run_dir: Path) -> Path | None:
    for name in ("ckpt", "ckpt.old"):
        p = run_dir / name
        if (p / "state.json").exists() and (p / "weights.h5").exists():
            return p
    return None


def _restore_optimizer(optimizer, trainable, path: Path) -> None:
    optimizer.build(trainable)
    stored = np.load(path)
    if len(stored.files) != len(optimizer.variables):
        raise ValueError(f"{path}: {len(stored.files)} optimizer variables, optimizer has {len(optimizer.variables)}")
    for i, v in enumerate(optimizer.variables):
        v.assign(stored[f"v{i}"])


def _strategy(name: str | None):
    if not name:
        return None
    import tensorflow as tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown --distribute {name!r}; expected mirrored or multiworker")


def _source_name(path: str) -> str:
    p = Path(path)
    if p.is_file():
        return f"{p.parent.name}/{p.name.split('.')[0]}"
    return p.name


def load_sources(specs: Sequence[str]) -> list:
    """Utterances of several ``PATH[@N]`` sources (repeated N times)."""
    out = []
    for arg in specs:
        path, rep = pipeline.parse_source_arg(arg)
        utts = pipeline.load_source(path)
        logger.info("source %s: %d utterances x %d", path, len(utts), rep)
        out.extend(utts * rep)
    return out


def with_feature(spec: am.ModelSpec, kind: str) -> am.ModelSpec:
    """``spec`` reading ``kind`` features instead.

    Raises:
        ValueError: unknown kind, or one of another width than the model's input.
    """
    width = features.n_features(kind)
    if width != spec.n_features:
        raise ValueError(f"{kind} has {width} features per frame; the model reads {spec.n_features}")
    return dataclasses.replace(spec, feature=kind)


def train(config: TrainConfig, resume: bool = False, progress: bool = True) -> dict[str, Any]:
    """Run (or resume) training.

    Args:
        config: the run's configuration (ignored in favour of the stored
            run.json when resuming, except ``epochs``, ``max_minutes`` and
            ``train`` / ``dev`` if given anew).
        resume: continue from ``run_dir/ckpt``.
        progress: show a tqdm bar.

    Returns:
        Summary dict: epochs, steps, best dev SER, paths.
    """
    keras = _keras()
    if config.grow_blocks and not config.init_from:
        raise ValueError("grow_blocks deepens a trained model: give init_from too")
    if config.grow_scale and not config.grow_blocks:
        raise ValueError("grow_scale is the starting scale of grown blocks: give grow_blocks too")
    if config.widen_channels and not config.init_from:
        raise ValueError("widen_channels widens a trained model: give init_from too")
    am.check_grow_scale(config.grow_scale)  # before the init model loads or the run folder is made
    if config.distribute and keras.backend.backend() != "tensorflow":
        raise ValueError(
            f"--distribute is tf.distribute: it needs KERAS_BACKEND=tensorflow, not {keras.backend.backend()}"
        )
    if not 0.0 <= config.warp < 0.5:
        raise ValueError(f"warp must be in [0, 0.5), got {config.warp}")
    if config.max_steps < 0:
        raise ValueError(f"max_steps must be 0 (no limit) or more, got {config.max_steps}")
    tempo_min, tempo_max = pipeline.check_tempo(config.tempo)
    freq_masks, freq_width, time_masks, time_ratio = pipeline.check_specaugment(config.specaugment)
    run_dir = Path(config.run_dir).expanduser()
    run_dir.mkdir(parents=True, exist_ok=True)
    state = _RunState()
    requested_total = config.total_steps
    ckpt = _find_checkpoint(run_dir) if resume else None
    if resume and ckpt is None:
        raise FileNotFoundError(f"--resume: no checkpoint in {run_dir}")
    if ckpt is not None:
        state = _RunState(json.loads((ckpt / "state.json").read_text(encoding="utf-8")))
        stored = TrainConfig.from_json((run_dir / "run.json").read_text(encoding="utf-8"))
        config = dataclasses.replace(
            stored,
            run_dir=str(run_dir),  # the run folder may have been moved or copied
            epochs=config.epochs or stored.epochs,  # a resume extends a run only when asked to
            max_minutes=config.max_minutes,
            max_steps=config.max_steps,
            train=config.train or stored.train,
            dev=config.dev or stored.dev,
            monitor=config.monitor or stored.monitor,
            total_steps=config.total_steps or stored.total_steps,
        )
        logger.info(
            "resuming %s at epoch %d of %s (%d of its steps done), step %d",
            run_dir,
            state.epoch + 1,
            config.epochs,
            state.epoch_step,
            state.global_step,
        )
    if config.epochs is None:
        config = dataclasses.replace(config, epochs=DEFAULT_EPOCHS)
    (run_dir / "run.json").write_text(config.to_json(), encoding="utf-8")

    # Model and vocabulary: a resumed run takes them from its checkpoint (or, for
    # checkpoints written before checkpoints were model directories, from best/).
    source = None
    if ckpt is not None:
        source = next((d for d in (ckpt, run_dir / "best") if (d / "model.json").is_file()), None)
    if source is None and config.init_from:
        source = Path(config.init_from).expanduser()
    if source is not None:
        base = am.AcousticModel.load(source)
        spec, vocab = base.spec, base.vocab
        initial = base.model
        if ckpt is None and config.grow_blocks:
            keras.utils.set_random_seed(config.seed)  # the new blocks' initial weights follow --seed
            spec, initial = am.grow_blocks(base.model, spec, config.grow_blocks, config.grow_scale)
            logger.info(
                "grew %s from %d to %d residual blocks (new blocks' scale %g)",
                source,
                base.spec.blocks,
                spec.blocks,
                config.grow_scale,
            )
        if ckpt is None and config.widen_channels:
            old_channels = spec.channels
            spec, initial = am.widen_channels(initial, spec, config.widen_channels, config.seed)
            logger.info("widened %s from %d to %d channels", source, old_channels, spec.channels)
        if ckpt is None and config.time_stride and config.time_stride != spec.time_stride:
            old_stride = spec.time_stride
            spec, initial = am.refine_stride(initial, spec, config.time_stride)
            logger.info("refined %s from %d to %d frames per output step", source, old_stride, spec.time_stride)
    else:
        vocab = Vocabulary.load(config.vocab) if config.vocab else build_default_vocabulary()
        spec = am.preset(config.preset, num_classes=vocab.num_classes)
        if config.time_stride:
            spec = dataclasses.replace(spec, time_stride=config.time_stride)
        base = None
    if ckpt is None and config.feature and config.feature != spec.feature:
        spec = with_feature(spec, config.feature)
        logger.info("features: %s", spec.feature)

    # Data.
    train_utts = load_sources(config.train)
    examples = pipeline.prepare_examples(
        train_utts, vocab, spec.feature, spec.time_stride, spec.window_frames, progress
    )
    dev_sets: dict[str, list[pipeline.Example]] = {}
    monitor_sets: dict[str, list[pipeline.Example]] = {}
    for args, sets in ((config.dev, dev_sets), (config.monitor, monitor_sets)):
        for arg in args:
            path, _ = pipeline.parse_source_arg(arg)
            utts = pipeline.load_source(path)[: config.dev_max]
            sets[_source_name(path)] = pipeline.prepare_examples(
                utts, vocab, spec.feature, spec.time_stride, spec.window_frames, progress=False
            )
    if config.non_speech > 0:
        extra = pipeline.non_speech_examples(round(config.non_speech * len(examples)), spec.feature, config.seed)
        logger.info("added %d non-speech examples (noise, hum, silence; empty labels)", len(extra))
        examples += extra
    hours = sum(len(e.feats) for e in examples) / 100 / 3600
    aug = (
        pipeline.Augment(
            freq_masks=freq_masks,
            freq_width=freq_width,
            time_masks=time_masks,
            time_ratio=time_ratio,
            warp=config.warp,
            tempo_min=tempo_min,
            tempo_max=tempo_max,
        )
        if config.augment
        else pipeline.NO_AUGMENT
    )
    sampler = pipeline.BucketSampler(
        examples,
        config.batch_frames,
        aug,
        seed=config.seed,
        time_stride=spec.time_stride,
        join_frames=min(config.join_frames, spec.window_frames),
        join_share=config.join_share,
        join_same_speaker=config.join_same_speaker,
    )
    steps_per_epoch = sampler.batches_per_epoch()
    if requested_total:  # also on resume: the schedule may be re-planned
        state.total_steps = requested_total
    elif not state.total_steps:
        state.total_steps = config.total_steps or steps_per_epoch * config.epochs
    logger.info(
        "training on %d utterances (%.2f h incl. repeats), %d steps/epoch, %d planned steps, Keras backend %s",
        len(examples),
        hours,
        steps_per_epoch,
        state.total_steps,
        keras.backend.backend(),
    )

    strategy = _strategy(config.distribute)
    scope = strategy.scope() if strategy else _NullScope()
    with scope:
        keras.utils.set_random_seed(config.seed)
        model = am.build_model(spec)
        if ckpt is not None and source != ckpt:  # an older checkpoint: weights only, spec from best/
            am.load_weights_h5(model, ckpt / "weights.h5")
        elif base is not None:  # the checkpoint, the init model, or the init model grown or widened
            model.set_weights(initial.get_weights())
        train_model = am.logits_model(model)
        optimizer = keras.optimizers.AdamW(
            learning_rate=make_schedule(config.lr, config.warmup_steps, state.total_steps, config.min_lr_ratio),
            weight_decay=config.weight_decay,
            global_clipnorm=5.0,
        )
        if ckpt is not None:
            _restore_optimizer(optimizer, train_model.trainable_variables, ckpt / "optimizer.npz")
        train_model.compile(optimizer=optimizer, loss=PackedCTCLoss.make(), jit_compile=False)

    def data(epoch: int, skip: int = 0):
        if keras.backend.backend() == "tensorflow":
            return pipeline.tf_dataset(sampler, spec.n_features, start_epoch=epoch, skip=skip)
        return sampler.iterate(epoch, skip=skip)

    if state.epoch_step >= steps_per_epoch:  # the data lists shrank since: start the epoch over
        state.epoch_step = 0
    callbacks = [
        _Progress(state, steps_per_epoch, config.epochs, progress),
        _Checkpointer(
            run_dir, model, optimizer, state, config, spec, vocab, dev_sets, hours, monitor_sets, steps_per_epoch
        ),
    ]
    if keras.backend.backend() == "tensorflow":
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(run_dir / "tb"), update_freq=50))
    if state.epoch >= config.epochs:
        logger.info("nothing to do: %d of %d epochs done", state.epoch, config.epochs)
    else:
        fit = functools.partial(train_model.fit, callbacks=callbacks, shuffle=False, verbose=0)  # the sampler shuffles
        with _StopOnSignal(train_model):
            stopped = False
            if state.epoch_step:  # the rest of an interrupted epoch, then the epochs after it
                logger.info("epoch %d goes on at step %d of %d", state.epoch + 1, state.epoch_step, steps_per_epoch)
                fit(
                    data(state.epoch, state.epoch_step),
                    epochs=state.epoch + 1,
                    initial_epoch=state.epoch,
                    steps_per_epoch=steps_per_epoch - state.epoch_step,
                )
                stopped = bool(train_model.stop_training)  # a signal, a budget or early stopping
            if not stopped and state.epoch < config.epochs:
                fit(data(state.epoch), epochs=config.epochs, initial_epoch=state.epoch, steps_per_epoch=steps_per_epoch)
    return {
        "run_dir": str(run_dir),
        "epochs": state.epoch,
        "steps": state.global_step,
        "best_dev": state.best if math.isfinite(state.best) else None,
        "best_epoch": state.best_epoch,
        "train_minutes": round(state.train_seconds / 60, 1),
        "history": state.history,
    }


class _NullScope:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _StopOnSignal:
    """SIGTERM / SIGINT ask ``fit`` to stop after the current step (then checkpoint)."""

    def __init__(self, model) -> None:
        self.model = model
        self.previous: dict[int, Any] = {}

    def _handler(self, signum, frame) -> None:
        logger.warning("signal %d: stopping after this step", signum)
        self.model.stop_training = True

    def __enter__(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self.previous[sig] = signal.signal(sig, self._handler)
            except ValueError:  # not the main thread
                pass
        return self

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        return False


def _callback_base():
    return _keras().callbacks.Callback


class _Progress(_callback_base()):
    """tqdm bar over all planned steps, with smoothed loss, learning rate and ETA."""

    def __init__(self, state: _RunState, steps_per_epoch: int, epochs: int, enabled: bool) -> None:
        super().__init__()
        self.state = state
        self.steps_per_epoch = steps_per_epoch
        self.total = steps_per_epoch * epochs
        self.enabled = enabled
        self.bar = None
        self.ema: float | None = None

    def on_train_begin(self, logs=None):
        from tqdm import tqdm

        done = self.steps_per_epoch * self.state.epoch + self.state.epoch_step
        if self.bar is not None:  # a resumed run fits twice: the rest of its epoch, then the epochs after it
            self.bar.close()
        self.bar = tqdm(total=self.total, initial=done, unit="step", disable=not self.enabled, mininterval=5)

    def on_train_batch_end(self, batch, logs=None):
        loss = float((logs or {}).get("loss", float("nan")))
        # Keras reports the running mean over the epoch; keep our own smoother view.
        self.ema = loss if self.ema is None else 0.9 * self.ema + 0.1 * loss
        self.bar.update(1)
        if batch % 10 == 0:
            self.bar.set_postfix(loss=f"{self.ema:.2f}", epoch=self.state.epoch + 1, refresh=False)

    def on_train_end(self, logs=None):
        self.bar.close()


class _Checkpointer(_callback_base()):
    """Time-based and end-of-epoch checkpoints, dev evaluation, best model, early stopping."""

    def __init__(
        self, run_dir, model, optimizer, state, config, spec, vocab, dev_sets, hours, monitor_sets, steps_per_epoch
    ) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.steps_per_epoch = steps_per_epoch
        self.served = model
        self.optimizer = optimizer
        self.state = state
        self.config = config
        self.spec = spec
        self.vocab = vocab
        self.dev_sets = dev_sets
        self.monitor_sets = monitor_sets
        self.hours = hours
        self.last_save = time.monotonic()
        self.last_tick = time.monotonic()
        self.session_start = state.train_seconds  # --max-minutes counts this invocation only
        self.session_first_step = state.global_step  # and so does --max-steps

    def _acoustic(self) -> am.AcousticModel:
        return am.AcousticModel(self.spec, self.vocab, self.served, name=self.run_dir.name)

    def _tick(self) -> None:
        now = time.monotonic()
        self.state.train_seconds += now - self.last_tick
        self.last_tick = now

    def on_train_begin(self, logs=None):
        self.last_tick = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        self.state.global_step += 1
        self.state.epoch_step += 1
        self._tick()
        session = self.state.train_seconds - self.session_start
        if self.config.max_minutes and session > 60 * self.config.max_minutes:
            logger.info("time budget of %.0f min reached", self.config.max_minutes)
            self.model.stop_training = True
        if self.config.max_steps and self.state.global_step - self.session_first_step >= self.config.max_steps:
            logger.info("step budget of %d reached", self.config.max_steps)
            self.model.stop_training = True
        if time.monotonic() - self.last_save > 60 * self.config.checkpoint_minutes:
            _write_checkpoint(self.run_dir, self._acoustic(), self.optimizer, self.state)
            self.last_save = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        self._tick()
        logs = logs if logs is not None else {}
        # stopped before the epoch's last batch (a budget or a signal stopping at it leaves the epoch whole)
        interrupted = self.state.epoch_step < self.steps_per_epoch
        record: dict[str, Any] = {
            "epoch": epoch + 1,
            "step": self.state.global_step,
            "loss": round(float(logs.get("loss", float("nan"))), 4),
            "train_minutes": round(self.state.train_seconds / 60, 2),
            "complete": not interrupted,
        }
        scores = {}
        for name, exs in self.dev_sets.items():
            if exs:
                s = score_examples(self.served, exs, self.vocab, self.spec.time_stride)
                scores[name] = s
                record[f"dev_{name}_ser"] = round(s["ser"], 4)
                record[f"dev_{name}_ser_toneless"] = round(s["ser_toneless"], 4)
                logs[f"dev_{name}_ser"] = s["ser"]
                logs[f"dev_{name}_ser_toneless"] = s["ser_toneless"]
        for name, exs in self.monitor_sets.items():
            if exs:
                s = score_examples(self.served, exs, self.vocab, self.spec.time_stride)
                record[f"monitor_{name}_ser"] = round(s["ser"], 4)
                record[f"monitor_{name}_ser_toneless"] = round(s["ser_toneless"], 4)
                logs[f"monitor_{name}_ser"] = s["ser"]
                logs[f"monitor_{name}_ser_toneless"] = s["ser_toneless"]
        if not interrupted:
            self.state.epoch = epoch + 1
            self.state.epoch_step = 0
        self.state.history.append(record)
        with (self.run_dir / "train.log").open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        logger.info("epoch %d: %s", epoch + 1, record)
        metric = float(np.mean([s["ser"] for s in scores.values()])) if scores else float(logs.get("loss", math.inf))
        if metric < self.state.best:
            self.state.best = metric
            self.state.best_epoch = epoch + 1
            self.state.bad_epochs = 0
            self._acoustic().save(
                self.run_dir / "best.new",
                training={
                    "epoch": epoch + 1,
                    "step": self.state.global_step,
                    "train_minutes": round(self.state.train_seconds / 60, 1),
                    "train_hours_audio": round(self.hours, 2),
                    "dev": {k: {m: round(v, 4) for m, v in s.items()} for k, s in scores.items()},
                    "train_sources": self.config.train,
                    "backend": _keras().backend.backend(),
                },
            )
            shutil.rmtree(self.run_dir / "best", ignore_errors=True)
            (self.run_dir / "best.new").rename(self.run_dir / "best")
        elif not interrupted:
            self.state.bad_epochs += 1
            if self.config.patience and self.state.bad_epochs >= self.config.patience:
                logger.info("early stop: no dev improvement for %d epochs", self.state.bad_epochs)
                self.model.stop_training = True
        _write_checkpoint(self.run_dir, self._acoustic(), self.optimizer, self.state)
        self.last_save = time.monotonic()


def configure_threads(threads: int | None) -> None:
    """Cap TensorFlow's CPU threads (call before TensorFlow runs anything)."""
    if not threads:
        return
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    try:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except (ImportError, RuntimeError) as exc:
        logger.debug("could not set thread counts: %s", exc)
