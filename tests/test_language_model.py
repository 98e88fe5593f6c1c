"""PinyinLM: decoding, robustness, linear time, custom words, streaming."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from asrt_service.errors import BadRequestFormat, ModelNotFound
from asrt_service.language_model import LMResult, PinyinLM, read_words_file

ROOT = Path(__file__).resolve().parents[1]
MODEL_DIR = ROOT / "models" / "lm"


@pytest.fixture(scope="module")
def lm() -> PinyinLM:
    return PinyinLM.load(MODEL_DIR)


@pytest.fixture()
def tiny() -> PinyinLM:
    return PinyinLM.from_words(
        [
            ("你好", "ni3 hao3", 50),
            ("你", "ni3", 100),
            ("好", "hao3", 80),
            ("世界", "shi4 jie4", 30),
            ("视界", "shi4 jie4", 1),
            ("是", "shi4", 200),
            ("事", "shi4", 40),
            ("界", "jie4", 5),
            ("借", "jie4", 10),
        ],
        bigrams=[("你好", "世界", 10), ("<s>", "你好", 20)],
    )


def test_loads_shipped_model_quickly():
    t = time.perf_counter()
    PinyinLM.load(MODEL_DIR)
    assert time.perf_counter() - t < 1.5  # "well under a second" on an idle machine; CI is shared


def test_missing_model_raises_model_not_found(tmp_path):
    with pytest.raises(ModelNotFound):
        PinyinLM.load(tmp_path / "nope")


@pytest.mark.parametrize(
    ("pinyin", "expected"),
    [
        # zai4: 在 (at) vs 再 (again)
        ("wo3 zai4 jia1 li3 kan4 shu1", "我在家里看书"),
        ("ming2 tian1 zai4 lai2", "明天再来"),
        ("qing3 ni3 zai4 shuo1 yi1 bian4", "请你再说一遍"),
        # de5 / de2: 的 vs 得 (readings as pypinyin gives them)
        ("wo3 de5 peng2 you3", "我的朋友"),
        ("ta1 shui4 de2 hen3 wan3", "他睡得很晚"),
        # zuo4: 做 vs 作 vs 坐, twice in a row
        ("wo3 men5 zuo4 zuo4 ye4", "我们做作业"),
        ("wo3 zuo4 fei1 ji1 qu4 shang4 hai3", "我坐飞机去上海"),
        # shi4: 是 / 事 / 市 / 试
        ("zhe4 jian4 shi4 qing2 hen3 zhong4 yao4", "这件事情很重要"),
        ("wo3 shi4 xue2 sheng1", "我是学生"),
        # na4 vs na3: 那 / 哪 by tone, and 哪里 as a word
        ("ni3 zai4 na3 li3 gong1 zuo4", "你在哪里工作"),
        ("na4 shi4 shen2 me5", "那是什么"),
        ("ni3 hao3 hen3 gao1 xing4 ren4 shi2 ni3", "你好很高兴认识你"),
        ("wo3 men5 qu4 bei3 jing1 lv3 you2", "我们去北京旅游"),
        # lv4 for lü, and ASRT's nue4 spelling of nüe4
        ("hong2 lv4 deng1", "红绿灯"),
        ("nue4 dai4", "虐待"),
    ],
)
def test_homophones_resolved_by_context(lm, pinyin, expected):
    assert lm.decode(pinyin.split()).text == expected


def test_empty_input(lm):
    assert lm.decode([]) == LMResult("", ())
    s = lm.stream()
    assert s.partial == "" and s.stable == "" and s.finish() == ""


@pytest.mark.parametrize(
    "bad",
    ["xyz3", "abc", "", "hao9", "ni3hao3", "123", "嗯", "q"],
)
def test_unknown_syllables_are_skipped_and_reported(lm, bad):
    res = lm.decode(["ni3", "hao3", bad, "shi4", "jie4"])
    assert res.text == "你好世界"
    assert res.unknown == (bad,)


def test_only_unknown_syllables(lm):
    assert lm.decode(["foo1", "bar2"]) == LMResult("", ("foo1", "bar2"))


def test_non_string_syllables_do_not_raise(lm):
    res = lm.decode(["ni3", None, "hao3", 5])  # type: ignore[list-item]
    assert res.text == "你好"
    assert len(res.unknown) == 2


def test_toneless_and_uppercase_syllables_are_accepted(lm):
    assert lm.decode(["NI3", "hao"]).text == "你好"
    assert lm.decode(["lü4", "se4"]).text == "绿色"


def test_wrong_tone_falls_back_to_toneless_match(lm):
    # zhong1 guo2 with a slipped tone on the second syllable
    assert lm.decode(["zhong1", "guo3", "ren2"]).text == "中国人"


def test_neighbouring_syllable_slip_is_tolerated(lm):
    # "zh" heard as "z": zong1 guo2 -> 中国
    assert lm.decode(["wo3", "ai4", "zong1", "guo2"]).text == "我爱中国"


def test_long_input_runs_in_linear_time(lm):
    base = "wo3 men5 zai4 xue2 xiao4 li3 xue2 xi2 zhong1 wen2 lao3 shi1 hen3 hao3".split()
    short = (base * 200)[:500]
    long = (base * 200)[:2000]
    lm.decode(short)  # warm caches
    t = time.perf_counter()
    lm.decode(short)
    t_short = time.perf_counter() - t
    t = time.perf_counter()
    res = lm.decode(long)
    t_long = time.perf_counter() - t
    assert len(res.text) == 2000
    # 4x the input: linear is ~4x; quadratic would be ~16x. Generous for a shared CI box.
    assert t_long < 9 * t_short + 0.05


def test_custom_words_change_the_output(tiny):
    assert tiny.decode(["ni3", "hao3", "shi4", "jie4"]).text == "你好世界"
    added = tiny.add_words([("视界", "shi4 jie4", 100.0)])
    assert added == 1
    assert tiny.decode(["ni3", "hao3", "shi4", "jie4"]).text == "你好视界"


def test_custom_words_on_shipped_model(lm):
    syls = "qing3 da3 kai1 yu3 que4".split()
    before = lm.decode(syls).text
    assert "语雀" not in before
    res = lm.decode(syls, extra_words=[("语雀", None, 10.0)])
    assert res.text == "请打开语雀"
    assert lm.decode(syls).text == before  # per-request words do not stick


def test_add_words_from_file(tmp_path):
    lm = PinyinLM.from_words([("是", "shi4", 10), ("世", "shi4", 5), ("界", "jie4", 5)])
    f = tmp_path / "words.txt"
    f.write_text("# domain words\n视界 shi4 jie4 5\n\n世界\n", encoding="utf-8")
    assert read_words_file(f) == [("视界", "shi4 jie4", 5.0), ("世界", None, 1.0)]
    assert lm.add_words_file(f) == 2
    assert lm.decode(["shi4", "jie4"]).text == "视界"


def test_example_custom_words_file_loads(lm):
    example = ROOT / "docs" / "examples" / "custom_words.txt"
    lm2 = PinyinLM.load(MODEL_DIR, user_words=example)
    assert lm2.decode("wo3 zai4 yong4 yun2 jing1 sao3 di4 ji1".split()).text == "我在用云鲸扫地机"


@pytest.mark.parametrize(
    "item",
    [("视界", "shi4", 1.0), ("", None, 1.0), ("视界", "shi4 jie9", 1.0), ("视界", None, -1.0), ("视界", None)],
)
def test_bad_custom_words_are_rejected_clearly(tiny, item):
    with pytest.raises(BadRequestFormat):
        tiny.add_words([item])
    assert tiny.decode(["shi4", "jie4"]).text == "世界"  # nothing half-added


def test_streaming_final_equals_batch(lm):
    text = (
        "zuo2 tian1 wo3 he2 peng2 you5 yi4 qi3 qu4 gong1 yuan2 san4 bu4 tian1 qi4 fei1 chang2 hao3 "
        "wo3 men5 hai2 zai4 hu2 bian1 chi1 le5 wu3 fan4 xyz1 ran2 hou4 zuo4 gong1 gong4 qi4 che1 hui2 jia1"
    ).split()
    s = lm.stream()
    stables = []
    for syl in text:
        s.feed(syl)
        stables.append(s.stable)
        assert s.partial.startswith(s.stable)
    final = s.finish()
    batch = lm.decode(text)
    assert final == batch.text
    assert s.unknown == batch.unknown == ("xyz1",)
    for a, b in zip(stables, stables[1:], strict=False):
        assert b.startswith(a)  # the stable prefix only grows
    assert all(final.startswith(p) for p in stables)
    assert len(stables[-1]) > 10  # and it does grow on long input


def test_nbest_lets_the_lm_pick_an_acoustic_alternative(lm):
    # The acoustic model is unsure between shu1 and su1 at the end.
    nbest = [
        [("wo3", -0.1)],
        [("xi3", -0.1)],
        [("huan5", -0.2), ("huan1", -2.0)],
        [("kan4", -0.1)],
        [("su1", -0.6), ("shu1", -0.9)],
    ]
    assert lm.decode([], nbest=nbest).text == "我喜欢看书"


def test_acoustic_weight_sets_how_far_the_text_may_overrule_the_acoustic_ranking(lm):
    # The acoustic model heard ma3 far likelier than zhong1; only the text says 中国人.
    nbest = [[("ma3", -0.05), ("zhong1", -3.0)], [("guo2", -0.01)], [("ren2", -0.01)]]
    assert lm.decode([], nbest=nbest).text == "中国人"  # default weight 1: cost 2.95 nats
    assert lm.decode([], nbest=nbest, acoustic_weight=2.0).text == "中国人"
    assert lm.decode([], nbest=nbest, acoustic_weight=5.0).text == "马国人"  # 14.75 nats: past nbest_max_cost
    stream = lm.stream(acoustic_weight=5.0)  # the servers' streaming path takes it too
    for alts in nbest:
        stream.feed_alternatives(alts)
    assert stream.finish() == "马国人"


def test_nbest_with_garbage_does_not_raise(lm):
    res = lm.decode([], nbest=[[("ni3", 0.0)], [], [("zzz9", -1.0)], [("hao3", float("nan")), ("hao3", -0.5)]])
    assert res.text == "你好"
    assert len(res.unknown) == 2


def test_decode_is_thread_safe(lm):
    cases = [
        ("wo3 men5 qu4 bei3 jing1 lv3 you2".split(), "我们去北京旅游"),
        ("ni3 hao3 hen3 gao1 xing4 ren4 shi2 ni3".split(), "你好很高兴认识你"),
    ]
    errors: list[str] = []

    def work(n: int) -> None:
        for k in range(30):
            syls, want = cases[(n + k) % 2]
            got = lm.decode(syls).text
            if got != want:
                errors.append(got)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_from_words_tiny_model(tiny):
    assert tiny.decode(["ni3", "hao3"]).text == "你好"
    assert tiny.decode(["shi4"]).text == "是"
    assert tiny.decode(["jie4"]).text == "借"


def test_build_lm_cli_from_user_text(tmp_path):
    from asrt_service.cli.build_lm import main

    text = tmp_path / "domain.txt"
    lines = ["今天我们去公园散步。", "公园里有很多人在散步，天气很好！", "我们明天还去公园。"]
    text.write_text("\n".join(lines * 20) + "\n", encoding="utf-8")
    out = tmp_path / "lm" / "pinyin_lm.npz"
    args = ["--no-builtin", "--text", str(text), "--out", str(out), "--cache-dir", str(tmp_path / "cache")]
    assert main(args) == 0
    lm = PinyinLM.load(out.parent)
    assert lm.decode("wo3 men5 qu4 gong1 yuan2 san4 bu4".split()).text == "我们去公园散步"
    # counts are cached per source, so a rerun resumes instead of recounting
    assert len(list((tmp_path / "cache").glob("counts-*.tsv.gz"))) == 1


def test_build_lm_cli_rejects_missing_text(tmp_path, capsys):
    from asrt_service.cli.build_lm import main

    missing = tmp_path / "nope.txt"
    assert main(["--no-builtin", "--text", str(missing), "--out", str(tmp_path / "x.npz")]) == 1
    assert "nope.txt" in capsys.readouterr().err
