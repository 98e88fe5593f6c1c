"""Acoustic model: shapes, ASRT-compatible weights, save/load, inference, CTC decoding."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from asrt_service import acoustic_model as am
from asrt_service.errors import ModelNotFound
from asrt_service.training import evaluate as ev
from asrt_service.training import metrics, pipeline
from asrt_service.vocab import Vocabulary, build_default_vocabulary, strip_tone

ASRT_FILTERS = (32, 32, 64, 64, 128, 128, 128, 128, 128, 128)


def _tiny_vocab(n: int = 31) -> Vocabulary:
    return Vocabulary(build_default_vocabulary().syllables[:n])


@pytest.mark.parametrize("frames", [8, 64, 203, 1600])
def test_dcnn_output_is_frames_over_stride(frames):
    spec = am.preset("dcnn_tiny", num_classes=32)
    model = am.build_model(spec)
    out = np.asarray(model(np.zeros((2, frames, 80, 1), np.float32)))
    assert out.shape == (2, frames // 8, 32)
    np.testing.assert_allclose(out.sum(-1), 1.0, rtol=1e-5)


def test_asrt251bn_layout_matches_protocol():
    model = am.build_model(am.preset("asrt251bn"))
    assert model.input_shape == (None, None, 200, 1)
    for i, filters in enumerate(ASRT_FILTERS):
        conv = model.get_layer(f"Conv{i}")
        in_ch = 1 if i == 0 else ASRT_FILTERS[i - 1]
        assert [tuple(w.shape) for w in conv.weights] == [(3, 3, in_ch, filters), (filters,)]
        assert model.get_layer(f"BN{i}").epsilon == pytest.approx(0.0002)
    assert tuple(model.get_layer("Dense0").kernel.shape) == (3200, 128)
    assert tuple(model.get_layer("Dense1").kernel.shape) == (128, 1428)
    out = np.asarray(model(np.zeros((1, 1600, 200, 1), np.float32)))
    assert out.shape == (1, 200, 1428)


def _write_asrt_h5(path, rng) -> dict[str, list[np.ndarray]]:
    """A SpeechModel251bn.model.h5 as Keras 2 ``save_weights`` writes it, random values."""
    arrays: dict[str, list[np.ndarray]] = {}
    names: list[str] = ["the_inputs"]
    in_ch = 1
    for i, filters in enumerate(ASRT_FILTERS):
        fan_in = 9 * in_ch
        arrays[f"Conv{i}"] = [
            (rng.standard_normal((3, 3, in_ch, filters)) * np.sqrt(2 / fan_in)).astype(np.float32),
            (rng.standard_normal(filters) * 0.1).astype(np.float32),
        ]
        arrays[f"BN{i}"] = [
            rng.uniform(0.5, 1.5, filters).astype(np.float32),  # gamma
            (rng.standard_normal(filters) * 0.1).astype(np.float32),  # beta
            (rng.standard_normal(filters) * 0.1).astype(np.float32),  # moving_mean
            rng.uniform(0.5, 2.0, filters).astype(np.float32),  # moving_variance
        ]
        names += [f"Conv{i}", f"BN{i}", f"activation_{i + 1}"]
        if i in (1, 3, 5):
            names.append(f"max_pooling2d_{i}")
        in_ch = filters
    arrays["Dense0"] = [
        (rng.standard_normal((3200, 128)) * np.sqrt(2 / 3200)).astype(np.float32),
        (rng.standard_normal(128) * 0.1).astype(np.float32),
    ]
    arrays["Dense1"] = [
        (rng.standard_normal((128, 1428)) * np.sqrt(1 / 128)).astype(np.float32),
        (rng.standard_normal(1428) * 0.1).astype(np.float32),
    ]
    names += ["Reshape0", "Dense0", "Dense1", "Activation0"]
    suffixes = {"Conv": ["kernel"], "BN": ["gamma", "beta", "moving_mean", "moving_variance"], "Dense": ["kernel"]}
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([n.encode() for n in names], dtype="S")
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.3.1"
        for n in names:
            g = f.create_group(n)
            if n not in arrays:
                g.attrs["weight_names"] = np.array([], dtype="S")
                continue
            kind = n.rstrip("0123456789")
            weight_names = [f"{n}/{s}:0" for s in suffixes[kind]] + ([f"{n}/bias:0"] if kind != "BN" else [])
            g.attrs["weight_names"] = np.array([w.encode() for w in weight_names], dtype="S")
            for w, arr in zip(weight_names, arrays[n], strict=True):
                g.create_dataset(w, data=arr)
    return arrays


def _conv_same(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    t, f, _ = x.shape
    xp = np.pad(x, ((1, 1), (1, 1), (0, 0)))
    out = np.zeros((t, f, kernel.shape[-1]), np.float64)
    for dt in range(3):
        for df in range(3):
            out += np.einsum("tfc,co->tfo", xp[dt : dt + t, df : df + f], kernel[dt, df])
    return out + bias


def _asrt_reference(x: np.ndarray, arrays) -> np.ndarray:
    """SpeechModel251BN's forward pass in numpy, from PROTOCOL.md."""
    h = x.astype(np.float64)
    for i in range(10):
        h = _conv_same(h, *arrays[f"Conv{i}"])
        gamma, beta, mean, var = arrays[f"BN{i}"]
        h = np.maximum(gamma * (h - mean) / np.sqrt(var + 0.0002) + beta, 0.0)
        if i in (1, 3, 5):
            t, f, c = h.shape
            h = h[: t // 2 * 2, : f // 2 * 2].reshape(t // 2, 2, f // 2, 2, c).max(axis=(1, 3))
    h = h.reshape(h.shape[0], -1)
    h = np.maximum(h @ arrays["Dense0"][0] + arrays["Dense0"][1], 0.0)
    logits = h @ arrays["Dense1"][0] + arrays["Dense1"][1]
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_loads_asrt_keras2_weights_file(tmp_path):
    rng = np.random.default_rng(251)
    weights = tmp_path / "SpeechModel251bn.model.h5"
    arrays = _write_asrt_h5(weights, rng)
    syllables = build_default_vocabulary().syllables[:1427]
    dict_txt = tmp_path / "dict.txt"
    dict_txt.write_text("".join(f"{s}\t字\n" for s in syllables), encoding="utf-8")

    model = am.AcousticModel.from_asrt(weights, dict_txt)

    assert model.spec.arch == "asrt251bn" and model.spec.feature == "asrt_spectrogram"
    assert model.vocab.syllables == syllables and model.vocab.blank == 1427
    for name, expected in arrays.items():
        got = model.model.get_layer(name).get_weights()
        for g, e in zip(got, expected, strict=True):
            np.testing.assert_array_equal(g, e)
    x = rng.standard_normal((2, 24, 200, 1)).astype(np.float32)
    probs = model.infer(x)
    assert probs.shape == (2, 3, 1428)
    for b in range(2):
        np.testing.assert_allclose(probs[b], _asrt_reference(x[b], arrays), rtol=2e-3, atol=2e-5)


def test_asrt_loader_names_the_bad_layer(tmp_path):
    rng = np.random.default_rng(0)
    weights = tmp_path / "w.h5"
    _write_asrt_h5(weights, rng)
    with h5py.File(weights, "a") as f:
        del f["Dense0"]["Dense0"]["kernel:0"]
        f["Dense0"].create_dataset("Dense0/kernel:0", data=np.zeros((100, 128), np.float32))
    dict_txt = tmp_path / "dict.txt"
    dict_txt.write_text("".join(f"{s}\t字\n" for s in build_default_vocabulary().syllables[:1427]), encoding="utf-8")
    with pytest.raises(ValueError, match="Dense0"):
        am.AcousticModel.from_asrt(weights, dict_txt)
    with pytest.raises(ModelNotFound):
        am.AcousticModel.from_asrt(tmp_path / "missing.h5", dict_txt)


def test_save_and_load_round_trip(tmp_path):
    vocab = _tiny_vocab()
    model = am.AcousticModel.create(am.preset("dcnn_tiny", vocab.num_classes), vocab, seed=3, name="tiny")
    x = np.random.default_rng(1).standard_normal((3, 120, 80, 1)).astype(np.float32)
    before = model.infer(x)
    model.save(tmp_path / "m", note="test")
    cfg = json.loads((tmp_path / "m" / "model.json").read_text())
    assert cfg["arch"] == "dcnn_fast" and cfg["feature"] == "logmel80_norm" and cfg["time_stride"] == 8
    loaded = am.AcousticModel.load(tmp_path / "m")
    assert loaded.spec == model.spec and loaded.vocab.syllables == vocab.syllables and loaded.name == "tiny"
    np.testing.assert_allclose(loaded.infer(x), before, rtol=1e-5, atol=1e-6)
    with pytest.raises(ModelNotFound):
        am.AcousticModel.load(tmp_path / "nothing")


def _one_hot_steps(tokens, num_classes=7):
    p = np.full((len(tokens), num_classes), 0.01, np.float32)
    p[np.arange(len(tokens)), tokens] = 1.0
    return p / p.sum(axis=1, keepdims=True)


def test_combine_views_aligns_every_view_on_the_slowest_one():
    """A clip whose output says token 2, then 5 (blank = 6), seen as it is (4 steps)
    and at half its rate (8 steps): the combination is on the 8-step grid and says 2, then 5."""
    as_is, half = _one_hot_steps([2, 2, 5, 5]), _one_hot_steps([2, 2, 2, 2, 5, 5, 5, 5])
    assert am.combine_views([as_is], [1.0], 8) is as_is
    out = am.combine_views([as_is, half], [1.0, 0.5], 8)
    assert out.shape == (8, 7) and out.dtype == np.float32
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    assert out.argmax(axis=1).tolist() == [2, 2, 2, 2, 5, 5, 5, 5]
    assert am.ctc_greedy(out) == [2, 5]
    # Views that disagree: the geometric mean keeps what both find likely.
    a = _one_hot_steps([1, 1])
    a[:, 3] = 0.4
    b = _one_hot_steps([4, 4])
    b[:, 3] = 0.4
    assert am.combine_views([a, b], [1.0, 0.9], 8).argmax(axis=1).tolist() == [3, 3]


def test_tempo_views_run_in_one_batch_and_round_trip_through_model_json(tmp_path):
    vocab = _tiny_vocab()
    model = am.AcousticModel.create(am.preset("dcnn_tiny", vocab.num_classes), vocab, seed=3, name="tiny")
    rng = np.random.default_rng(2)
    feats = [rng.standard_normal((n, 80)).astype(np.float32) for n in (100, 37)]
    plain, steps = model.batch_probs(feats)
    assert steps == [13, 5]  # ceil(frames / 8)
    padded = np.zeros((1, 104, 80, 1), np.float32)  # the batch: the longest clip, rounded up to the stride
    padded[0, :37, :, 0] = feats[1]
    np.testing.assert_allclose(plain[1], model.infer(padded)[0, :5], rtol=1e-4, atol=1e-5)
    model.tempo_views = (1.0, 0.8)
    viewed, steps = model.batch_probs(feats)
    assert steps == [16, 6]  # the 0.8 view: round(100 / 0.8) = 125 frames -> 16 steps
    for p in viewed:
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-4)
    model.save(tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "model.json").read_text())
    assert cfg["test_time_tempo"] == [1.0, 0.8]
    assert am.AcousticModel.load(tmp_path / "m").tempo_views == (1.0, 0.8)
    cfg["test_time_tempo"] = [1.0, 5.0]
    (tmp_path / "m" / "model.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelNotFound, match="test_time_tempo"):
        am.AcousticModel.load(tmp_path / "m")


def test_lm_acoustic_weight_comes_from_model_json_and_is_checked(tmp_path):
    vocab = _tiny_vocab()
    model = am.AcousticModel.create(am.preset("dcnn_tiny", vocab.num_classes), vocab, seed=3, name="tiny")
    assert model.lm_acoustic_weight == 1.0  # a model that names none: the language model's default scale
    model.save(tmp_path / "m", lm_acoustic_weight=2.0)
    loaded = am.AcousticModel.load(tmp_path / "m")
    assert loaded.lm_acoustic_weight == 2.0
    loaded.save(tmp_path / "again")  # kept on save
    assert json.loads((tmp_path / "again" / "model.json").read_text())["lm_acoustic_weight"] == 2.0
    for bad in (0, -1, "2", True, 1000):
        cfg = json.loads((tmp_path / "m" / "model.json").read_text())
        cfg["lm_acoustic_weight"] = bad
        (tmp_path / "m" / "model.json").write_text(json.dumps(cfg))
        with pytest.raises(ModelNotFound, match="lm_acoustic_weight"):
            am.AcousticModel.load(tmp_path / "m")


def test_average_of_models_is_the_mean_of_their_weights(tmp_path):
    from asrt_service.cli.average import main

    vocab = _tiny_vocab()
    spec = am.preset("dcnn_tiny", vocab.num_classes)
    a = am.AcousticModel.create(spec, vocab, seed=3, name="a")
    b = am.AcousticModel.create(spec, vocab, seed=4, name="b")
    soup = am.average_models([a, b], name="soup")
    for wa, wb, ws in zip(a.model.get_weights(), b.model.get_weights(), soup.model.get_weights(), strict=True):
        np.testing.assert_allclose(ws, (wa + wb) / 2, rtol=1e-6, atol=1e-7)
    same = am.average_models([a, a])
    x = np.random.default_rng(1).standard_normal((2, 96, 80, 1)).astype(np.float32)
    np.testing.assert_allclose(same.infer(x), a.infer(x), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="architecture"):
        am.average_models([a, am.AcousticModel.create(am.preset("dcnn_tiny", 22), _tiny_vocab(21))])
    other_vocab = Vocabulary(build_default_vocabulary().syllables[1:32])
    with pytest.raises(ValueError, match="vocabulary"):
        am.average_models([a, am.AcousticModel.create(spec, other_vocab)])
    with pytest.raises(ValueError, match="two"):
        am.average_models([a])
    # The command: two model directories in, one loadable model directory out.
    a.save(tmp_path / "a")
    b.save(tmp_path / "b")
    assert main([str(tmp_path / "ab"), str(tmp_path / "a"), str(tmp_path / "b"), "--name", "ab"]) == 0
    loaded = am.AcousticModel.load(tmp_path / "ab")
    assert loaded.name == "ab" and loaded.meta["averaged_from"] == [str(tmp_path / "a"), str(tmp_path / "b")]
    np.testing.assert_allclose(loaded.infer(x), soup.infer(x), rtol=1e-5, atol=1e-6)
    assert main([str(tmp_path / "ab"), str(tmp_path / "a"), str(tmp_path / "b")]) == 2  # exists already
    assert main([str(tmp_path / "c"), str(tmp_path / "a")]) == 2
    assert main([str(tmp_path / "c"), str(tmp_path / "a"), str(tmp_path / "nothing")]) == 2


def test_weights_stored_as_float16_load_back_close(tmp_path):
    import h5py

    from asrt_service.cli.average import main

    vocab = _tiny_vocab()
    a = am.AcousticModel.create(am.preset("dcnn_tiny", vocab.num_classes), vocab, seed=3, name="a")
    a.save(tmp_path / "a")
    a.save(tmp_path / "half", weights_dtype="float16")

    def stored(path):  # {dtype: bytes} of a weights file's arrays
        out = {}

        def add(_name, obj):
            if isinstance(obj, h5py.Dataset):
                out[obj.dtype] = out.get(obj.dtype, 0) + obj.nbytes

        with h5py.File(path) as f:
            f.visititems(add)
        return out

    full, half = (tmp_path / d / "weights.h5" for d in ("a", "half"))
    assert list(stored(half)) == [np.dtype("float16")]
    assert stored(half)[np.dtype("float16")] * 2 == stored(full)[np.dtype("float32")]
    x = np.random.default_rng(1).standard_normal((2, 96, 80, 1)).astype(np.float32)
    loaded = am.AcousticModel.load(tmp_path / "half")
    assert all(w.dtype == np.float32 for w in loaded.model.get_weights())
    np.testing.assert_allclose(loaded.infer(x), a.infer(x), rtol=0, atol=0.05)
    with pytest.raises(ValueError, match="float32, float16"):
        am.save_weights_h5(a.model, tmp_path / "x.h5", dtype="float64")
    # A weight float16 cannot hold is refused, and no file is left half-written.
    big = a.model.get_weights()
    big[0] = big[0] + 1e5
    a.model.set_weights(big)
    with pytest.raises(ValueError, match="beyond float16"):
        am.save_weights_h5(a.model, half, dtype="float16")
    assert sorted(p.name for p in half.parent.iterdir()) == ["model.json", "vocab.txt", "weights.h5"]
    assert am.AcousticModel.load(tmp_path / "half").model.get_weights()[0].max() < 1e3
    # The command converts one model directory (or averages several) into float16.
    assert main([str(tmp_path / "c"), str(tmp_path / "a"), "--float16", "--name", "c"]) == 0
    converted = am.AcousticModel.load(tmp_path / "c")
    assert converted.name == "c" and converted.meta["converted_from"] == str(tmp_path / "a")
    np.testing.assert_allclose(converted.infer(x), loaded.infer(x), rtol=0, atol=1e-6)
    assert main([str(tmp_path / "d"), str(tmp_path / "a"), str(tmp_path / "a"), "--float16"]) == 0
    assert list(stored(tmp_path / "d" / "weights.h5")) == [np.dtype("float16")]


def test_grown_model_computes_what_its_base_did():
    vocab = _tiny_vocab()
    base = am.AcousticModel.create(am.preset("dcnn_tiny", vocab.num_classes), vocab, seed=5)
    spec, grown = am.grow_blocks(base.model, base.spec, 3)
    assert spec.blocks == 3 and grown.get_layer("Block2Conv1") is not None
    assert grown.count_params() > base.model.count_params()
    x = np.random.default_rng(2).standard_normal((2, 240, 80, 1)).astype(np.float32)
    np.testing.assert_allclose(
        np.asarray(grown(x, training=False)), np.asarray(base.model(x, training=False)), rtol=1e-5, atol=1e-6
    )
    with pytest.raises(ValueError, match="more"):
        am.grow_blocks(base.model, base.spec, 1)
    with pytest.raises(ValueError, match="dcnn_fast"):
        am.grow_blocks(base.model, am.preset("asrt251bn"), 4)  # checked before any layer is touched


def test_grown_blocks_can_start_switched_on():
    """With a starting scale the new blocks change the output (training moves their
    convolutions at once) while every old layer keeps its weights."""
    vocab = _tiny_vocab()
    base = am.AcousticModel.create(am.preset("dcnn_tiny", vocab.num_classes), vocab, seed=5)
    _, grown = am.grow_blocks(base.model, base.spec, 3, scale=0.25)
    np.testing.assert_array_equal(np.asarray(grown.get_layer("Block2BN1").gamma), 0.25)
    for layer in base.model.layers:
        for a, b in zip(layer.get_weights(), grown.get_layer(layer.name).get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(2).standard_normal((2, 240, 80, 1)).astype(np.float32)
    assert not np.allclose(np.asarray(grown(x, training=False)), np.asarray(base.model(x, training=False)))
    with pytest.raises(ValueError, match="0-1"):
        am.grow_blocks(base.model, base.spec, 3, scale=2.0)


def test_widened_model_computes_what_its_base_did():
    """Every channel of the wider model copies one of the base's, with the weights
    reading it shared among the copies: the same output, and copies that differ
    in their outgoing weights (so training can tell them apart)."""
    vocab = _tiny_vocab()
    base = am.AcousticModel.create(am.preset("dcnn_tiny", vocab.num_classes), vocab, seed=5)
    spec, wide = am.widen_channels(base.model, base.spec, 80, seed=1)  # 32 -> 80: some channels get two copies
    assert spec.channels == 80 and wide.get_layer("Block0Conv1").pointwise_kernel.shape == (1, 80, 80)
    x = np.random.default_rng(2).standard_normal((2, 240, 80, 1)).astype(np.float32)
    np.testing.assert_allclose(
        np.asarray(wide(x, training=False)), np.asarray(base.model(x, training=False)), rtol=1e-5, atol=1e-6
    )
    # The first 32 stream channels are the base's own; each one's weights into the logits
    # are split among its copies, with shares that differ.
    old_kernel = base.model.get_layer("Logits").get_weights()[0]
    new_kernel = wide.get_layer("Logits").get_weights()[0]
    assert not np.allclose(new_kernel[:32], old_kernel)
    again = am.widen_channels(base.model, base.spec, 80, seed=1)[1]
    np.testing.assert_array_equal(again.get_layer("Logits").get_weights()[0], new_kernel)  # seeded
    with pytest.raises(ValueError, match="more"):
        am.widen_channels(base.model, base.spec, 32)
    with pytest.raises(ValueError, match="dcnn_fast"):
        am.widen_channels(base.model, am.preset("asrt251bn"), 512)


def test_refined_model_steps_twice_as_often_and_starts_as_its_base():
    vocab = _tiny_vocab()
    base = am.AcousticModel.create(am.preset("dcnn_tiny", vocab.num_classes), vocab, seed=5)
    spec, fine = am.refine_stride(base.model, base.spec, 4)
    assert spec.time_stride == 4 and fine.count_params() == base.model.count_params()
    assert fine.get_layer("Down").strides == (1,) and fine.get_layer("Block0Conv0").dilation_rate == (2,)
    x = np.random.default_rng(2).standard_normal((2, 240, 80, 1)).astype(np.float32)
    coarse, refined = np.asarray(base.model(x, training=False)), np.asarray(fine(x, training=False))
    assert coarse.shape[1] == 240 // 8 and refined.shape[1] == 240 // 4
    # Every other step is the base model's output (away from the clip's edges, where padding differs).
    np.testing.assert_allclose(refined[:, 1::2][:, 2:-2], coarse[:, 2:-2], rtol=1e-5, atol=1e-6)
    assert not np.allclose(refined[:, 0::2][:, 2:-2], coarse[:, 2:-2], atol=1e-3)  # the steps between are new
    with pytest.raises(ValueError, match="fewer"):
        am.refine_stride(fine, spec, 4)
    with pytest.raises(ValueError, match="dcnn_fast"):
        am.refine_stride(base.model, am.preset("asrt251bn"), 4)
    with pytest.raises(ValueError, match="asrt251bn reduces time by one of"):
        dataclasses.replace(am.preset("asrt251bn"), time_stride=4)
    with pytest.raises(ValueError, match="time_stride=2"):
        dataclasses.replace(spec, time_stride=2)


def test_infer_is_traced_once_for_all_shapes():
    vocab = _tiny_vocab()
    model = am.AcousticModel.create(am.preset("dcnn_tiny", vocab.num_classes), vocab)
    for batch, frames in [(1, 104), (4, 496), (16, 160), (2, 1600)]:
        out = model.infer(np.zeros((batch, frames, 80, 1), np.float32))
        assert out.shape == (batch, frames // 8, vocab.num_classes)
    assert model._compiled().experimental_get_tracing_count() == 1
    with pytest.raises(ValueError, match="expected"):
        model.infer(np.zeros((1, 100, 40, 1), np.float32))


def test_vocabulary_must_match_output_width():
    with pytest.raises(ValueError, match="classes"):
        am.AcousticModel.create(am.preset("dcnn_tiny", 32), _tiny_vocab(10))


def _onehot(ids, num_classes=5):
    return np.eye(num_classes)[ids]


def test_ctc_greedy_merges_repeats_and_drops_blanks():
    blank = 4
    probs = _onehot([blank, 1, 1, blank, 1, 2, 2, 3, blank, blank, 0])
    assert am.ctc_greedy(probs) == [1, 1, 2, 3, 0]
    assert am.ctc_greedy(probs, length=6) == [1, 1, 2]
    assert am.ctc_greedy(_onehot([blank] * 5)) == []


def test_ctc_topk_lists_alternatives_best_first():
    probs = np.array(
        [
            [0.05, 0.6, 0.3, 0.0, 0.05],
            [0.0, 0.5, 0.1, 0.3, 0.1],
            [0.0, 0.0, 0.0, 0.1, 0.9],
            [0.7, 0.0, 0.2, 0.0, 0.1],
        ]
    )
    alts = am.ctc_topk(probs, k=2)
    assert [a[0][0] for a in alts] == am.ctc_greedy(probs) == [1, 0]
    assert alts[0] == [(1, pytest.approx(0.6)), (2, pytest.approx(0.3))]
    assert alts[1] == [(0, pytest.approx(0.7)), (2, pytest.approx(0.2))]


# --- the shipped model ------------------------------------------------------------------

SHIPPED = Path(__file__).resolve().parents[1] / "models" / "zh_dcnn_v1"
SYNTH_CLIPS = Path(__file__).resolve().parent / "data" / "synth-heldout"
MARGIN = 0.02  # numeric differences between CPUs may flip a few near-ties


@pytest.fixture(scope="module")
def shipped():
    from conftest import _need

    _need(SHIPPED / "model.json", "shipped model")
    return am.AcousticModel.load(SHIPPED)


def _card(model, key):
    return model.meta["evaluation"][key]


def test_shipped_model_recognizes_held_out_synthetic_speech(shipped):
    items = ev.load_items(SYNTH_CLIPS)
    assert len(items) == 9
    report = ev.evaluate_items(shipped, items)
    claimed = _card(shipped, "tests/data/synth-heldout")
    assert report["ser"]["rate"] <= claimed["ser"] + MARGIN, report["per_utterance"]
    assert report["ser_toneless"]["rate"] <= claimed["ser_toneless"] + MARGIN


def test_shipped_model_recognizes_real_recordings(shipped, shared_data):
    items = ev.load_items(shared_data / "real-dev")
    assert len(items) == 17  # the Mandarin recordings; LJSpeech (English) is skipped
    report = ev.evaluate_items(shipped, items)
    claimed = _card(shipped, "real-dev")
    assert report["ser"]["rate"] <= claimed["ser"] + MARGIN, report["per_utterance"]
    assert report["ser_toneless"]["rate"] <= claimed["ser_toneless"] + MARGIN
    # And one recording on its own, as the service would see it.
    clip = next(i for i in items if i.utt_id == "thchs30_A2_0")
    hyp = shipped.recognize([pipeline.read_audio(clip.path)])[0]
    errors = metrics.edit_distance([strip_tone(s) for s in clip.pinyin], [strip_tone(s) for s in hyp])
    assert errors / len(clip.pinyin) <= claimed["thchs30_A2_0_ser_toneless"] + MARGIN, hyp


def test_shipped_models_read_real_recordings_better_with_the_acoustic_nbest(shipped, shared_data):
    """The language model choosing among 10 acoustic candidates per syllable (the
    servers' default) beats reading the greedy pinyin, and matches the model card."""
    from asrt_service.language_model import PinyinLM

    lm = PinyinLM.load(SHIPPED.parent / "lm")
    items = ev.load_items(shared_data / "real-dev")
    nbest = ev.evaluate_items(shipped, items, lm=lm, keep_utterances=False)
    greedy = ev.evaluate_items(shipped, items, lm=lm, lm_nbest=0, keep_utterances=False)
    claimed = _card(shipped, "real-dev")
    assert nbest["lm_nbest"] == 10
    assert nbest["cer"]["rate"] <= claimed["cer"] + MARGIN
    assert nbest["ser_lm_toneless"]["rate"] <= claimed["ser_lm_toneless"] + MARGIN
    assert nbest["cer"]["rate"] < greedy["cer"]["rate"] - 0.05
    assert nbest["ser_lm_toneless"]["rate"] < nbest["ser_toneless"]["rate"]
