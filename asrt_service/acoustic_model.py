"""The acoustic model: features -> per-step syllable probabilities (DCNN + CTC).

One builder makes every architecture from a frozen ``ModelSpec``:

* ``asrt251bn`` is ASRT's SpeechModel251BN exactly (PROTOCOL.md), built for
  variable length, so that weights a user trained with ASRT load by layer name
  (``AcousticModel.from_asrt``).
* ``dcnn_fast`` is our default: two strided 2-D convolutions over 80 log-mel
  bands, a strided separable 1-D convolution, then residual dilated separable
  1-D convolutions; 8x time reduction like ASRT (or 4x: ``time_stride``),
  but about 1/15 of the compute (see docs/TRAINING.md for the measured
  trade-off).

The model is written with Keras 3 layers and ``keras.ops`` only, so the same
code trains under the JAX backend. It outputs softmax probabilities; training
uses the logits (``logits_model``) because CTC wants log-probabilities and
``log(softmax)`` in float32 underflows. The CTC blank is the last index.

Weights are stored in the Keras-2 ``save_weights`` HDF5 layout (root attribute
``layer_names``, one group per layer with attribute ``weight_names``), written and
read with h5py by layer name. That is the layout of ASRT's
``SpeechModel251bn.model.h5``, so one loader serves both our models and ASRT's.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
from keras import layers, ops  # noqa: E402

from . import features  # noqa: E402
from .config import parse_tempo_views  # noqa: E402
from .errors import ModelNotFound  # noqa: E402
from .vocab import Vocabulary  # noqa: E402

logger = logging.getLogger(__name__)

ARCHS = ("asrt251bn", "dcnn_fast")

# ASRT's SpeechModel251BN (PROTOCOL.md): filters of Conv0..Conv9, and the
# convolutions after which a 2x2 max pooling halves time and frequency.
_ASRT_FILTERS = (32, 32, 64, 64, 128, 128, 128, 128, 128, 128)
_ASRT_POOL_AFTER = (1, 3, 5)
_ASRT_BN_EPSILON = 0.0002


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild a model's graph (not its weights).

    Attributes:
        arch: ``asrt251bn`` or ``dcnn_fast``.
        feature: feature kind (``features.KINDS``) the model reads.
        n_features: feature width (200 for ``asrt_spectrogram``, 80 for ``logmel80``).
        num_classes: softmax width, syllables + 1 (blank = last index).
        time_stride: input frames per output step: 8 (both architectures; 80
            ms per step at the 10 ms hop) or, for ``dcnn_fast``, 4 (40 ms: the
            ``Down`` convolution keeps every step and the residual blocks'
            dilations double, so the receptive field stays the same in seconds).
        window_frames: the longest input one call is meant for (1600 = 16 s);
            longer audio is split by the caller.
        channels: ``dcnn_fast`` width of the 1-D part.
        blocks: ``dcnn_fast`` residual blocks; dilations cycle 1, 2, 4.
        kernel_size: ``dcnn_fast`` 1-D kernel size.
        stem_filters: ``dcnn_fast`` filters of the two strided 2-D convolutions.
        dropout: ``dcnn_fast`` dropout inside residual blocks (training only).
        bn_momentum: ``dcnn_fast`` batch-norm moving-average momentum (the tiny
            test spec uses a fast one so a few steps give usable statistics).
    """

    arch: str
    feature: str
    n_features: int
    num_classes: int
    time_stride: int = 8
    window_frames: int = 1600
    channels: int = 256
    blocks: int = 6
    kernel_size: int = 5
    stem_filters: int = 32
    dropout: float = 0.1
    bn_momentum: float = 0.99

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"unknown architecture {self.arch!r}; expected one of {ARCHS}")
        if features.n_features(self.feature) != self.n_features:
            raise ValueError(
                f"feature {self.feature!r} has {features.n_features(self.feature)} features, spec says {self.n_features}"
            )
        strides = (4, 8) if self.arch == "dcnn_fast" else (8,)
        if self.time_stride not in strides:
            raise ValueError(f"{self.arch} reduces time by one of {strides}, not time_stride={self.time_stride}")
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be at least 2 (one syllable + blank), got {self.num_classes}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelSpec:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def preset(name: str, num_classes: int | None = None) -> ModelSpec:
    """Named specs.

    Args:
        name: ``asrt251bn`` (ASRT's layout: 1428 classes unless given),
            ``dcnn_fast`` (our default: 2101 classes = default vocabulary + blank
            unless given) or ``dcnn_tiny`` (for tests).
        num_classes: override the softmax width (vocabulary size + 1).
    """
    if name == "asrt251bn":
        return ModelSpec("asrt251bn", "asrt_spectrogram", 200, num_classes or 1428)
    if name == "dcnn_fast":
        return ModelSpec("dcnn_fast", "logmel80_norm", 80, num_classes or 2101)
    if name == "dcnn_tiny":
        return ModelSpec(
            "dcnn_fast",
            "logmel80_norm",
            80,
            num_classes or 32,
            channels=32,
            blocks=1,
            kernel_size=3,
            stem_filters=4,
            bn_momentum=0.8,
        )
    raise ValueError(f"unknown model preset {name!r}; expected asrt251bn, dcnn_fast or dcnn_tiny")


class CropTime(layers.Layer):
    """Trim the time axis to ``input_frames // stride`` steps.

    Strided 'same' convolutions give ``ceil(T / stride)`` steps; the contract is
    ``T // stride`` (as ASRT's 'valid' pooling gives), so both architectures
    agree on how many steps a clip has.
    """

    def __init__(self, stride: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stride = stride

    def call(self, x, reference):
        steps = ops.shape(reference)[1] // self.stride
        return x[:, :steps]

    def compute_output_shape(self, x_shape, reference_shape):
        steps = None if reference_shape[1] is None else reference_shape[1] // self.stride
        return (x_shape[0], steps, *x_shape[2:])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "stride": self.stride}


def _build_asrt251bn(spec: ModelSpec, inputs):
    x = inputs
    for i, filters in enumerate(_ASRT_FILTERS):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=True, kernel_initializer="he_normal", name=f"Conv{i}")(x)
        x = layers.BatchNormalization(epsilon=_ASRT_BN_EPSILON, name=f"BN{i}")(x)
        x = layers.ReLU(name=f"ReLU{i}")(x)
        if i in _ASRT_POOL_AFTER:
            x = layers.MaxPooling2D(pool_size=2, padding="valid", name=f"Pool{i}")(x)
    freq = spec.n_features // 8
    x = layers.Reshape((-1, freq * _ASRT_FILTERS[-1]), name="Reshape0")(x)
    x = layers.Dense(128, activation="relu", kernel_initializer="he_normal", name="Dense0")(x)
    return layers.Dense(spec.num_classes, kernel_initializer="he_normal", name="Dense1")(x)


def _build_dcnn_fast(spec: ModelSpec, inputs):
    x = inputs
    for i in range(2):
        x = layers.Conv2D(spec.stem_filters, 3, strides=2, padding="same", use_bias=False, name=f"Stem{i}")(x)
        x = layers.BatchNormalization(momentum=spec.bn_momentum, name=f"StemBN{i}")(x)
        x = layers.ReLU(name=f"StemReLU{i}")(x)
    freq = math.ceil(math.ceil(spec.n_features / 2) / 2)  # two 'same' stride-2 convolutions
    x = layers.Reshape((-1, freq * spec.stem_filters), name="Flatten")(x)
    down_stride = spec.time_stride // 4  # the stem has reduced time 4x already
    dilation_scale = 8 // spec.time_stride
    x = layers.SeparableConv1D(
        spec.channels, spec.kernel_size, strides=down_stride, padding="same", use_bias=False, name="Down"
    )(x)
    x = layers.BatchNormalization(momentum=spec.bn_momentum, name="DownBN")(x)
    x = layers.ReLU(name="DownReLU")(x)
    for b in range(spec.blocks):
        skip = x
        dilation = (1, 2, 4)[b % 3] * dilation_scale
        for j in range(2):
            x = layers.SeparableConv1D(
                spec.channels,
                spec.kernel_size,
                dilation_rate=dilation,
                padding="same",
                use_bias=False,
                name=f"Block{b}Conv{j}",
            )(x)
            x = layers.BatchNormalization(momentum=spec.bn_momentum, name=f"Block{b}BN{j}")(x)
            if j == 0:
                x = layers.ReLU(name=f"Block{b}ReLU{j}")(x)
        x = layers.Dropout(spec.dropout, name=f"Block{b}Drop")(x)
        x = layers.Add(name=f"Block{b}Add")([skip, x])
        x = layers.ReLU(name=f"Block{b}Out")(x)
    x = CropTime(spec.time_stride, name="Crop")(x, inputs)
    return layers.Dense(spec.num_classes, name="Logits")(x)


def build_model(spec: ModelSpec) -> keras.Model:
    """Build the graph for ``spec`` (random weights).

    Returns:
        A model mapping float32 ``(batch, frames, n_features, 1)`` (frames unknown)
        to softmax probabilities ``(batch, frames // time_stride, num_classes)``.
        Its layer ``Probs`` is the softmax; ``logits_model(model)`` returns the
        same graph ending before it, for CTC training.
    """
    inputs = keras.Input(shape=(None, spec.n_features, 1), name="features")
    if spec.arch == "asrt251bn":
        logits = _build_asrt251bn(spec, inputs)
    else:
        logits = _build_dcnn_fast(spec, inputs)
    probs = layers.Softmax(axis=-1, name="Probs")(logits)
    return keras.Model(inputs, probs, name=spec.arch)


def logits_model(model: keras.Model) -> keras.Model:
    """The same layers as ``model`` (shared weights), ending at the logits."""
    logits = model.get_layer("Probs").input
    return keras.Model(model.inputs[0], logits, name=f"{model.name}_logits")


def ctc_loss(labels, label_lengths, logits, logit_lengths):
    """Per-example CTC loss: the one place the backend's CTC is called.

    Args:
        labels: int (batch, max_label) syllable ids, padding anything valid.
        label_lengths: int (batch,) true label lengths.
        logits: float (batch, steps, num_classes) pre-softmax scores.
        logit_lengths: int (batch,) valid steps per example.

    Returns:
        float32 (batch,) negative log-likelihoods. The blank is the last class.

    On TensorFlow the labels go to TF's C++ CTC kernel as a sparse tensor:
    with dense labels ``tf.nn.ctc_loss`` (and so ``keras.ops.ctc_loss``) runs
    a graph of small ops on the CPU that took 58 % of a training step, the
    kernel about 1/13 of that for the same loss and gradient
    (docs/TRAINING.md, "Training speed"). Other backends use
    ``ctc_loss_keras_ops``.
    """
    if keras.backend.backend() == "tensorflow":
        return _ctc_loss_tf_sparse(labels, label_lengths, logits, logit_lengths)
    return ctc_loss_keras_ops(labels, label_lengths, logits, logit_lengths)


def ctc_loss_keras_ops(labels, label_lengths, logits, logit_lengths):
    """``ctc_loss`` through ``keras.ops.ctc_loss`` (dense labels), on any backend.

    What the trainer uses off TensorFlow; on TensorFlow it is the slower
    path that ``bench/train_step.py`` compares with the kernel.
    """
    num_classes = ops.shape(logits)[-1]
    return ops.ctc_loss(
        ops.cast(labels, "int32"),
        ops.cast(logits, "float32"),
        ops.cast(label_lengths, "int32"),
        ops.cast(logit_lengths, "int32"),
        mask_index=num_classes - 1,
    )


def _ctc_loss_tf_sparse(labels, label_lengths, logits, logit_lengths):
    import tensorflow as tf

    labels = tf.cast(labels, tf.int32)
    label_lengths = tf.cast(label_lengths, tf.int32)
    logit_lengths = tf.cast(logit_lengths, tf.int32)
    logits = tf.cast(logits, tf.float32)
    # The kernel refuses an empty label sequence, so a non-speech example
    # (no labels) gets one dummy label there and its true loss, all blanks,
    # from the log-softmax: -sum over its steps of log P(blank).
    empty = label_lengths == 0
    lengths = tf.where(empty, 1, label_lengths)
    where = tf.where(tf.sequence_mask(lengths, tf.shape(labels)[1]))
    values = tf.where(tf.gather(empty, where[:, 0]), 0, tf.gather_nd(labels, where))
    sparse = tf.SparseTensor(where, values, tf.cast(tf.shape(labels), tf.int64))
    # The v1 op takes the last class as the blank, as our models do. An
    # example whose labels cannot fit its steps gets loss 0 (and no gradient)
    # instead of stopping the run; the data pipeline keeps such examples out.
    loss = tf.compat.v1.nn.ctc_loss(
        sparse, logits, logit_lengths, time_major=False, ignore_longer_outputs_than_inputs=True
    )
    blank = tf.nn.log_softmax(logits)[:, :, -1]
    steps = tf.sequence_mask(logit_lengths, tf.shape(logits)[1], dtype=tf.float32)
    return tf.where(empty, -tf.reduce_sum(blank * steps, axis=1), loss)


def ctc_greedy(probs: np.ndarray, length: int | None = None) -> list[int]:
    """Best-path CTC decoding of one clip.

    Args:
        probs: (steps, num_classes) probabilities or logits; blank = last class.
        length: valid steps (default all).

    Returns:
        Class ids with repeats merged and blanks removed.
    """
    probs = np.asarray(probs)
    best = probs[: probs.shape[0] if length is None else length].argmax(axis=-1)
    blank = probs.shape[-1] - 1
    out: list[int] = []
    prev = -1
    for c in best.tolist():
        if c != prev and c != blank:
            out.append(c)
        prev = c
    return out


#: Per syllable, its ``(syllable, log-probability)`` candidates, best first.
Alternatives = tuple[tuple[tuple[str, float], ...], ...]


def ctc_topk(probs: np.ndarray, length: int | None = None, k: int = 5) -> list[list[tuple[int, float]]]:
    """Alternatives for each syllable of the greedy path, for n-best LM decoding.

    Each greedy token spans a run of steps; for that run every non-blank class
    gets its highest probability over the run's steps, and the ``k`` best are
    returned, best first (the greedy token is always first).

    Args:
        probs: (steps, num_classes) softmax probabilities; blank = last class.
        length: valid steps (default all).
        k: alternatives per syllable.

    Returns:
        One list per greedy token of ``(class id, probability)`` pairs.
    """
    probs = np.asarray(probs, dtype=np.float32)
    probs = probs[: probs.shape[0] if length is None else length]
    blank = probs.shape[-1] - 1
    best = probs.argmax(axis=-1)
    out: list[list[tuple[int, float]]] = []
    t = 0
    n = len(best)
    while t < n:
        c = int(best[t])
        end = t + 1
        while end < n and best[end] == c:
            end += 1
        if c != blank:
            seg = probs[t:end, :blank].max(axis=0)
            seg[c] = max(seg[c], 1.0) + 1.0  # keep the greedy token first
            top = np.argsort(-seg)[:k]
            alts = [(int(i), float(probs[t:end, i].max())) for i in top]
            out.append(alts)
        t = end
    return out


# --- weights in the Keras-2 HDF5 layout --------------------------------------------------


def _weighted_layers(model: keras.Model) -> dict[str, keras.layers.Layer]:
    return {layer.name: layer for layer in model.layers if layer.weights}


def _copy_weights_by_name(source: keras.Model, target: keras.Model) -> None:
    """Give each of ``target``'s weighted layers the weights of ``source``'s layer of that name, if it has one."""
    old = _weighted_layers(source)
    for name, layer in _weighted_layers(target).items():
        if name in old:
            layer.set_weights(old[name].get_weights())


WEIGHT_DTYPES = ("float32", "float16")


def save_weights_h5(model: keras.Model, path: str | Path, dtype: str = "float32") -> None:
    """Write ``model``'s weights in Keras-2 ``save_weights`` layout (atomic replace).

    ``dtype`` is how the values are stored: ``float16`` halves the file, and
    ``load_weights_h5`` casts them back to the model's float32 (a relative
    rounding of at most 2**-11 per weight).
    """
    if dtype not in WEIGHT_DTYPES:
        raise ValueError(f"weights are stored as one of {', '.join(WEIGHT_DTYPES)}, not {dtype!r}")
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        _write_weights(model, tmp, dtype)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def _write_weights(model: keras.Model, path: Path, dtype: str) -> None:
    with h5py.File(path, "w") as f:
        named = _weighted_layers(model)
        f.attrs["layer_names"] = np.array([n.encode() for n in named], dtype="S")
        f.attrs["backend"] = np.bytes_(keras.backend.backend())
        f.attrs["keras_version"] = np.bytes_(keras.__version__)
        for lname, layer in named.items():
            g = f.create_group(lname)
            names = [f"{lname}/{w.name}:0" for w in layer.weights]
            g.attrs["weight_names"] = np.array([n.encode() for n in names], dtype="S")
            for n, w in zip(names, layer.weights, strict=True):
                g.create_dataset(n, data=_stored(np.asarray(keras.ops.convert_to_numpy(w.value)), dtype, n))


def _stored(value: np.ndarray, dtype: str, name: str) -> np.ndarray:
    """``value`` as stored in a weights file of ``dtype``: float arrays cast, others kept."""
    if value.dtype.kind != "f" or value.dtype == np.dtype(dtype):
        return value
    limit = float(np.finfo(dtype).max)
    if np.abs(value).max(initial=0.0) > limit:
        raise ValueError(f"weight {name} has values beyond {dtype}'s range (+-{limit:g}); store it as float32")
    return value.astype(dtype)


def _decode(s: Any) -> str:
    return s.decode("utf-8") if isinstance(s, bytes | np.bytes_) else str(s)


def read_weights_h5(path: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """Read a Keras-2 layout weights file: ``{layer: {weight: array}}``.

    Weight names ``Conv0/kernel:0`` give layer ``Conv0`` and weight ``kernel``;
    a model nested in another (ASRT's training model) just adds path levels.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelNotFound(f"weights file not found: {path}")
    out: dict[str, dict[str, np.ndarray]] = {}
    with h5py.File(path, "r") as f:
        if "layer_names" not in f.attrs:
            raise ValueError(f"{path}: not a Keras-2 save_weights file (no 'layer_names' attribute)")
        for lname in (_decode(n) for n in f.attrs["layer_names"]):
            g = f[lname]
            for wname in (_decode(n) for n in g.attrs.get("weight_names", [])):
                parts = wname.split("/")
                owner = parts[-2] if len(parts) >= 2 else lname
                var = parts[-1].split(":")[0]
                out.setdefault(owner, {})[var] = np.asarray(g[wname])
    return out


def load_weights_h5(model: keras.Model, path: str | Path) -> None:
    """Set every weighted layer of ``model`` from a Keras-2 layout file, by layer name.

    Raises:
        ModelNotFound: no such file.
        ValueError: a layer or weight is missing, or a shape differs (names the layer).
    """
    stored = read_weights_h5(path)
    for lname, layer in _weighted_layers(model).items():
        if lname not in stored:
            raise ValueError(f"{path}: no weights for layer {lname!r} (file has {sorted(stored)[:12]}...)")
        values = []
        for w in layer.weights:
            if w.name not in stored[lname]:
                raise ValueError(f"{path}: layer {lname!r} lacks weight {w.name!r}")
            arr = stored[lname][w.name]
            if tuple(arr.shape) != tuple(w.shape):
                raise ValueError(
                    f"{path}: layer {lname!r} weight {w.name!r} has shape {arr.shape}, model needs {tuple(w.shape)}"
                )
            values.append(arr)
        layer.set_weights(values)


def check_grow_scale(scale: float) -> float:
    """``scale`` if it can start grown blocks (``grow_blocks``): within 0-1, else ValueError."""
    if not 0.0 <= scale <= 1.0:
        raise ValueError(f"the grown blocks' starting scale (grow_scale) must be within 0-1, not {scale}")
    return scale


def grow_blocks(base: keras.Model, spec: ModelSpec, blocks: int, scale: float = 0.0) -> tuple[ModelSpec, keras.Model]:
    """A ``dcnn_fast`` model with more residual blocks that computes what ``base`` does.

    Every layer of ``base`` keeps its weights (matched by name); the new blocks
    go after the last one, and the scale of each new block's last batch norm
    starts at ``scale``. At zero (the default) a new block adds nothing and
    passes its (non-negative, post-ReLU) input through unchanged until training
    moves that scale; deeper models can so continue from a trained one instead
    of starting from scratch. At fine-tuning learning rates a zero scale barely
    moves (HISTORY.md, v41), so a small non-zero one (0.25 made revision 12)
    starts the new blocks switched on while the model still computes nearly
    what ``base`` does.

    Args:
        base: a model built by ``build_model(spec)``, with its weights.
        spec: its spec (``dcnn_fast`` family).
        blocks: residual blocks in the new model; more than ``spec.blocks``.
        scale: the new blocks' last batch-norm scale (gamma) at the start.

    Returns:
        The new spec and the new model.

    Raises:
        ValueError: not a ``dcnn_fast`` spec, or ``blocks`` does not add any.
    """
    if spec.arch != "dcnn_fast":
        raise ValueError(f"only dcnn_fast models can grow blocks, not {spec.arch}")
    if blocks <= spec.blocks:
        raise ValueError(f"the model already has {spec.blocks} blocks; growing needs more, not {blocks}")
    check_grow_scale(scale)
    grown_spec = dataclasses.replace(spec, blocks=blocks)
    grown = build_model(grown_spec)
    _copy_weights_by_name(base, grown)
    for b in range(spec.blocks, blocks):
        bn = grown.get_layer(f"Block{b}BN1")
        bn.gamma.assign(np.full(bn.gamma.shape, scale, np.float32))
    return grown_spec, grown


def _replicas(old: int, new: int, rng: np.random.Generator) -> np.ndarray:
    """Which old channel each of ``new`` channels copies: all ``old`` once, then random extra copies."""
    extra = rng.choice(old, new - old, replace=new - old > old)
    return np.concatenate([np.arange(old), extra])


def _split_rows(kernel: np.ndarray, source: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``kernel``'s input rows (axis -2) for replicated inputs, with each row's weights split among its copies.

    Copy ``i`` of input channel ``c`` gets ``kernel[..., c, :]`` times a random
    share; the shares of the copies of one channel sum to one for every output,
    so the layer computes what it did on the replicated input. Unequal shares
    give the copies different gradients, so training can tell them apart.
    """
    share = rng.uniform(0.5, 1.5, (len(source), kernel.shape[-1]))
    total = np.zeros((int(source.max()) + 1, kernel.shape[-1]))
    np.add.at(total, source, share)
    return (kernel[..., source, :] * (share / total[source])).astype(kernel.dtype)


def widen_channels(base: keras.Model, spec: ModelSpec, channels: int, seed: int = 0) -> tuple[ModelSpec, keras.Model]:
    """A wider ``dcnn_fast`` model (more channels in its 1-D part) that computes what ``base`` does.

    Function-preserving widening (Net2WiderNet, Chen et al. 2016): every new
    channel of the residual stream, and of each block's inner layer, copies an
    old one (its producer's output column, depthwise filter and batch norm),
    and the layers that read a copied channel split its weights among the
    copies (``_split_rows``). The stem is unchanged. The wider model so starts
    as the trained one and can be fine-tuned instead of trained from scratch.

    Args:
        base: a model built by ``build_model(spec)``, with its weights.
        spec: its spec (``dcnn_fast`` family).
        channels: the new width; more than ``spec.channels``.
        seed: which channels are copied and how their weights are shared.

    Returns:
        The new spec and the new model.

    Raises:
        ValueError: not a ``dcnn_fast`` spec, or ``channels`` is not wider.
    """
    if spec.arch != "dcnn_fast":
        raise ValueError(f"only dcnn_fast models can be widened, not {spec.arch}")
    if channels <= spec.channels:
        raise ValueError(f"the model already has {spec.channels} channels; widening needs more, not {channels}")
    rng = np.random.default_rng(seed)
    wide_spec = dataclasses.replace(spec, channels=channels)
    wide = build_model(wide_spec)
    old = _weighted_layers(base)
    for name in ("Stem0", "StemBN0", "Stem1", "StemBN1"):
        wide.get_layer(name).set_weights(old[name].get_weights())

    def produce(name: str, stream_in: np.ndarray | None, out: np.ndarray) -> None:
        """A separable convolution reading ``stream_in`` copies (None: unchanged input), writing ``out`` copies."""
        depthwise, pointwise = old[name].get_weights()
        if stream_in is not None:
            depthwise = depthwise[:, stream_in]
            pointwise = _split_rows(pointwise, stream_in, rng)
        wide.get_layer(name).set_weights([depthwise, pointwise[..., out]])

    def copy_bn(name: str, out: np.ndarray) -> None:
        wide.get_layer(name).set_weights([w[out] for w in old[name].get_weights()])

    stream = _replicas(spec.channels, channels, rng)
    produce("Down", None, stream)
    copy_bn("DownBN", stream)
    for b in range(spec.blocks):
        inner = _replicas(spec.channels, channels, rng)
        produce(f"Block{b}Conv0", stream, inner)
        copy_bn(f"Block{b}BN0", inner)
        produce(f"Block{b}Conv1", inner, stream)
        copy_bn(f"Block{b}BN1", stream)
    kernel, bias = old["Logits"].get_weights()
    wide.get_layer("Logits").set_weights([_split_rows(kernel, stream, rng), bias])
    return wide_spec, wide


def refine_stride(base: keras.Model, spec: ModelSpec, time_stride: int) -> tuple[ModelSpec, keras.Model]:
    """A ``dcnn_fast`` model with a finer output step that starts from ``base``'s weights.

    Going from 8 to 4 input frames per step removes the ``Down`` convolution's
    stride and doubles every residual block's dilation. The new model's weights
    are ``base``'s unchanged (same shapes, matched by name), and it computes
    what ``base`` computes at twice the rate: every other output step is
    ``base``'s output, the steps between are ``base``'s output for the input
    shifted by half a step (up to the clip's edges), so a trained 8x model is a
    working 4x model before any fine-tuning.

    Args:
        base: a model built by ``build_model(spec)``, with its weights.
        spec: its spec (``dcnn_fast`` family).
        time_stride: the new input frames per output step, finer than ``spec``'s.

    Returns:
        The new spec and the new model.

    Raises:
        ValueError: not a ``dcnn_fast`` spec, or ``time_stride`` is not finer.
    """
    if spec.arch != "dcnn_fast":
        raise ValueError(f"only dcnn_fast models can refine their time stride, not {spec.arch}")
    if time_stride >= spec.time_stride:
        raise ValueError(
            f"the model already steps every {spec.time_stride} frames; refining needs fewer, not {time_stride}"
        )
    fine_spec = dataclasses.replace(spec, time_stride=time_stride)
    fine = build_model(fine_spec)
    _copy_weights_by_name(base, fine)  # every layer: the same names and shapes
    return fine_spec, fine


# --- the served model -----------------------------------------------------------------


def combine_views(probs: Sequence[np.ndarray], rates: Sequence[float], time_stride: int) -> np.ndarray:
    """One clip's CTC posteriors from several tempo views of it, as one.

    View ``v`` is the clip at ``rates[v]`` times its speaking rate
    (``features.tempo_view``), so its output step ``j`` sits at
    ``(j + 1/2) * time_stride * rates[v]`` frames of the original clip. Every
    view is interpolated onto the step times of the slowest view (the most
    steps: the finest time grid), and the views' log-probabilities are averaged
    (a geometric mean), then renormalised per step.

    Args:
        probs: per view, float32 (steps_v, num_classes) probabilities.
        rates: each view's speaking-rate factor.
        time_stride: input frames per output step.

    Returns:
        float32 (steps of the slowest view, num_classes) probabilities.
    """
    if len(probs) == 1:
        return probs[0]
    fine = int(np.argmin(rates))
    n = len(probs[fine])
    if n == 0:
        return probs[fine]
    t = (np.arange(n) + 0.5) * time_stride * rates[fine]
    total = np.zeros_like(probs[fine], dtype=np.float32)
    for p, rate in zip(probs, rates, strict=True):
        if len(p) == 0:
            return probs[fine]
        pos = np.clip(t / (time_stride * rate) - 0.5, 0, len(p) - 1)
        total += np.log(features.resample_axis(p, pos, axis=0) + 1e-8)
    total /= len(probs)
    total -= total.max(axis=1, keepdims=True)
    out = np.exp(total)
    return (out / out.sum(axis=1, keepdims=True)).astype(np.float32)


def inference_function(model: keras.Model, n_features: int) -> Callable:
    """``model`` in inference mode as one function of (batch, frames, n_features, 1) input.

    Under TensorFlow a ``tf.function`` with ``None`` batch and length, traced
    once for every shape; under other backends the model's own call.
    """
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        sig = [tf.TensorSpec((None, None, n_features, 1), tf.float32)]
        return tf.function(lambda x: model(x, training=False), input_signature=sig)
    return lambda x: model(x, training=False)


def average_models(models: Sequence[AcousticModel], name: str = "") -> AcousticModel:
    """A model whose every weight is the mean of ``models``' (a "weight soup").

    For models fine-tuned from one starting point (cycles from the same
    weights), whose weights stay close enough that their mean is a model too;
    batch-norm statistics are averaged like the rest. The models must share
    the architecture, features and vocabulary.
    """
    if len(models) < 2:
        raise ValueError(f"averaging needs at least two models, got {len(models)}")
    first = models[0]
    for m in models[1:]:
        if m.spec != first.spec:
            raise ValueError(f"model {m.name!r} has another architecture or front end than {first.name!r}")
        if m.vocab.syllables != first.vocab.syllables:
            raise ValueError(f"model {m.name!r} has another vocabulary than {first.name!r}")
    weights = [m.model.get_weights() for m in models]
    mean = [np.mean([w[i] for w in weights], axis=0).astype(weights[0][i].dtype) for i in range(len(weights[0]))]
    model = build_model(first.spec)
    model.set_weights(mean)
    return AcousticModel(first.spec, first.vocab, model, name=name or first.name, tempo_views=first.tempo_views)


def check_lm_acoustic_weight(value: Any) -> float:
    """model.json's ``lm_acoustic_weight`` as a float; ValueError unless a number in (0, 100]."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 100:
        raise ValueError(f"lm_acoustic_weight must be a number in (0, 100], got {value!r}")
    return float(value)


class AcousticModel:
    """A built model, its spec and vocabulary, and a compiled inference function.

    ``infer`` is compiled once for any batch size and length (TensorFlow
    ``tf.function`` with ``None`` dimensions), so serving mixed lengths never
    retraces. Thread-compatible: callers serialise calls to ``infer``.

    Args:
        spec: the architecture.
        vocab: output vocabulary; ``len(vocab) + 1 == spec.num_classes``.
        model: a model built by ``build_model(spec)``.
        name: model name (for logs and model.json).
        meta: extra model.json fields kept on save.
        tempo_views: speaking-rate factors of the test-time tempo views that
            every recognition averages (:func:`combine_views`); ``(1.0,)``, the
            clip alone, unless model.json's ``test_time_tempo`` names others.

    Test-time tempo views: each clip is also run slowed down (its feature
    frames stretched in time, ``features.tempo_view``) and the views' outputs
    are averaged. zh_dcnn_v1 serves three views (1, 0.9, 0.8): our synthetic
    voices talk faster than people, and the slowed views read the
    model's own training rate better, at about twice the acoustic time per
    clip (models/zh_dcnn_v1/MODEL_CARD.md, bench/tempo_views.py).
    """

    def __init__(
        self,
        spec: ModelSpec,
        vocab: Vocabulary,
        model: keras.Model,
        name: str = "",
        meta: dict | None = None,
        tempo_views: Sequence[float] = (1.0,),
    ) -> None:
        if vocab.num_classes != spec.num_classes:
            raise ValueError(
                f"vocabulary has {len(vocab)} syllables (+ blank = {vocab.num_classes}), model has {spec.num_classes} classes"
            )
        self.spec = spec
        self.vocab = vocab
        self.model = model
        self.name = name or spec.arch
        self.meta = dict(meta or {})
        self.tempo_views = parse_tempo_views(tempo_views)
        # Scale of this model's n-best log-probabilities in the language model
        # (its posteriors' sharpness is its own; bench/lm_acoustic_weight.py).
        self.lm_acoustic_weight = check_lm_acoustic_weight(self.meta.get("lm_acoustic_weight", 1.0))
        self._infer_fn = None
        self._lock = threading.Lock()

    @classmethod
    def create(cls, spec: ModelSpec, vocab: Vocabulary, seed: int = 0, name: str = "") -> AcousticModel:
        """A randomly initialised model (test fixtures and the start of training)."""
        keras.utils.set_random_seed(seed)
        return cls(spec, vocab, build_model(spec), name=name)

    @classmethod
    def load(cls, model_dir: str | Path) -> AcousticModel:
        """Load ``model.json`` + vocabulary + weights from a model directory.

        Raises:
            ModelNotFound: the directory or one of its files is missing.
        """
        model_dir = Path(model_dir)
        cfg_path = model_dir / "model.json"
        if not cfg_path.is_file():
            raise ModelNotFound(f"no model.json in {model_dir}")
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
        vocab_path = model_dir / cfg.get("vocab", "vocab.txt")
        if not vocab_path.is_file():
            raise ModelNotFound(f"vocabulary file not found: {vocab_path}")
        vocab = Vocabulary.load(vocab_path)
        spec_fields = cfg.get("spec", {})
        base = {
            "arch": cfg["arch"],
            "feature": cfg["feature"],
            "n_features": cfg["n_features"],
            "num_classes": cfg.get("num_classes", vocab.num_classes),
            "time_stride": cfg.get("time_stride", 8),
            "window_frames": cfg.get("window_frames", 1600),
        }
        spec = ModelSpec.from_dict({**spec_fields, **base})
        model = build_model(spec)
        load_weights_h5(model, model_dir / cfg.get("weights", "weights.h5"))
        meta = {k: v for k, v in cfg.items() if k not in {*base, "spec", "vocab", "weights", "name", "test_time_tempo"}}
        try:
            tempo_views = parse_tempo_views(cfg.get("test_time_tempo", [1.0]))
        except ValueError as exc:
            raise ModelNotFound(f"{cfg_path}: test_time_tempo: {exc}") from None
        try:
            weight = check_lm_acoustic_weight(cfg.get("lm_acoustic_weight", 1.0))
        except ValueError as exc:
            raise ModelNotFound(f"{cfg_path}: {exc}") from None
        logger.info(
            "loaded acoustic model %s (%s) from %s, tempo views %s, LM acoustic weight %g",
            cfg.get("name", spec.arch),
            spec.arch,
            model_dir,
            ",".join(f"{r:g}" for r in tempo_views),
            weight,
        )
        return cls(spec, vocab, model, name=cfg.get("name", spec.arch), meta=meta, tempo_views=tempo_views)

    @classmethod
    def open(
        cls, model_dir: str | Path, asrt_weights: str | Path | None = None, asrt_dict: str | Path | None = None
    ) -> AcousticModel:
        """Our model directory, or ASRT weights + dict.txt when ``asrt_weights`` is given.

        Raises:
            ModelNotFound: files missing, or ASRT weights without their dict.txt.
        """
        if asrt_weights is None:
            return cls.load(model_dir)
        if asrt_dict is None:
            raise ModelNotFound(
                "--asrt-weights needs --asrt-dict (the dict.txt of the ASRT checkout the weights came from)"
            )
        return cls.from_asrt(asrt_weights, asrt_dict)

    @classmethod
    def from_asrt(cls, weights_h5: str | Path, dict_txt: str | Path) -> AcousticModel:
        """Load weights trained by ASRT (``SpeechModel251bn.model.h5`` + its ``dict.txt``)."""
        if not Path(dict_txt).is_file():
            raise ModelNotFound(f"ASRT dict.txt not found: {dict_txt}")
        vocab = Vocabulary.load(dict_txt)
        spec = preset("asrt251bn", num_classes=vocab.num_classes)
        model = build_model(spec)
        load_weights_h5(model, weights_h5)
        return cls(spec, vocab, model, name="asrt251bn", meta={"source": str(weights_h5)})

    def save(self, model_dir: str | Path, weights_dtype: str = "float32", **meta: Any) -> None:
        """Write model.json, vocab.txt and weights.h5 (values stored as ``weights_dtype``) into ``model_dir``."""
        model_dir = Path(model_dir)
        model_dir.mkdir(parents=True, exist_ok=True)
        self.meta.update(meta)
        save_weights_h5(self.model, model_dir / "weights.h5", dtype=weights_dtype)
        self.vocab.save(model_dir / "vocab.txt")
        cfg = {
            "name": self.name,
            "arch": self.spec.arch,
            "feature": self.spec.feature,
            "n_features": self.spec.n_features,
            "num_classes": self.spec.num_classes,
            "time_stride": self.spec.time_stride,
            "window_frames": self.spec.window_frames,
            "vocab": "vocab.txt",
            "weights": "weights.h5",
            "spec": self.spec.to_dict(),
            **({"test_time_tempo": list(self.tempo_views)} if self.tempo_views != (1.0,) else {}),
            **self.meta,
        }
        tmp = model_dir / "model.json.tmp"
        tmp.write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, model_dir / "model.json")

    def _compiled(self):
        with self._lock:
            if self._infer_fn is None:
                self._infer_fn = inference_function(self.model, self.spec.n_features)
            return self._infer_fn

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Run the model.

        Args:
            batch: float32 (B, T, n_features, 1), zero-padded to a common T.

        Returns:
            float32 (B, T // time_stride, num_classes) probabilities.
        """
        batch = np.asarray(batch, dtype=np.float32)
        if batch.ndim != 4 or batch.shape[2] != self.spec.n_features or batch.shape[3] != 1:
            raise ValueError(f"expected (batch, frames, {self.spec.n_features}, 1), got {batch.shape}")
        if batch.shape[1] < self.spec.time_stride:
            return np.zeros((batch.shape[0], 0, self.spec.num_classes), dtype=np.float32)
        out = self._compiled()(batch)
        return np.asarray(keras.ops.convert_to_numpy(out), dtype=np.float32)

    def features(self, waveform: np.ndarray) -> np.ndarray:
        """This model's features of one waveform: float32 (frames, n_features)."""
        return features.extract(waveform, self.spec.feature)

    def alternatives(self, probs: np.ndarray, steps: int | None = None, k: int = 1) -> Alternatives:
        """One clip's CTC output as syllables with their ``k`` best candidates.

        Args:
            probs: (steps, num_classes) probabilities from :meth:`infer`.
            steps: valid output steps (default all).
            k: candidates per syllable (at least 1).

        Returns:
            Per syllable of the greedy path, ``(syllable, natural-log probability)``
            pairs, best first; the first syllables spell the greedy pinyin.
        """
        syllables = self.vocab.syllables
        return tuple(
            tuple((syllables[c], float(np.log(max(p, 1e-12)))) for c, p in token)
            for token in ctc_topk(probs, steps, k=max(k, 1))
        )

    def batch_probs(
        self,
        feats: Sequence[np.ndarray],
        min_frames: int = 0,
        quantum: int = 1,
        rates: Sequence[float] | None = None,
    ) -> tuple[list[np.ndarray], list[int]]:
        """Run a batch of clips with every tempo view, padded together in one call.

        Args:
            feats: per clip, float32 (frames, n_features).
            min_frames: pad the batch to at least this many frames.
            quantum: pad the batch's length up to a multiple of this (and of the
                time stride), so that few distinct shapes reach the model.
            rates: tempo views for this call instead of ``tempo_views``.

        Returns:
            (per clip, (steps, num_classes) probabilities with the views
            combined; per clip, its steps at the clip's own rate).
        """
        rates = self.tempo_views if rates is None else tuple(rates)
        stride = self.spec.time_stride
        views = [features.tempo_view(f, r) for f in feats for r in rates]
        step = max(quantum, stride)
        longest = max(max(len(v) for v in views), min_frames, stride)
        longest = -(-longest // step) * step
        batch = np.zeros((len(views), longest, self.spec.n_features, 1), np.float32)
        for i, v in enumerate(views):
            batch[i, : len(v), :, 0] = v
        probs = self.infer(batch)
        out, steps = [], []
        for i in range(len(feats)):
            rows = range(i * len(rates), (i + 1) * len(rates))
            per_view = [probs[k, : -(-len(views[k]) // stride)] for k in rows]
            out.append(combine_views(per_view, rates, stride))
            steps.append(len(out[-1]))
        return out, steps

    def recognize_features(self, feats: Sequence[np.ndarray]) -> list[list[str]]:
        """Greedy pinyin for a batch of feature arrays (padded together here)."""
        if not feats:
            return []
        probs, steps = self.batch_probs(feats)
        return [self.vocab.decode(ctc_greedy(p, n)) for p, n in zip(probs, steps, strict=True)]

    def nbest_features(self, feats: Sequence[np.ndarray], k: int) -> list[Alternatives]:
        """:meth:`alternatives` for a batch of feature arrays (padded together here)."""
        if not feats:
            return []
        probs, steps = self.batch_probs(feats)
        return [self.alternatives(p, n, k) for p, n in zip(probs, steps, strict=True)]

    def recognize(self, waveforms: Sequence[np.ndarray]) -> list[list[str]]:
        """Greedy pinyin for a batch of float32 16 kHz waveforms (each <= window)."""
        return self.recognize_features([self.features(w) for w in waveforms])
