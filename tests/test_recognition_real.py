"""The shipped model on real speech: any rate, channels, container and length give the same answer.

Acceptance for issue #3: the same recording as FLAC gives the same pinyin as the
16 kHz WAV; at 44.1 kHz stereo and 48 kHz int32 (resampled twice) within 10 % of
its syllables (today's weak model flips a syllable or two where resampling
moves a frame boundary: 2 of 31 at 44.1 kHz); lossy MP3/AAC within 15 %, Opus
at 48 kbit/s within 35 %, and none less accurate against the transcript. At
8 kHz everything above 4 kHz is gone: held to nearly the same accuracy against
the transcripts instead (all 17 recordings within 10 % of their syllables). 60 s of real utterances is recognized in full.
"""

from __future__ import annotations

import csv
import io
import subprocess

import numpy as np
import pytest
import soundfile as sf

from asrt_service.audio import Audio, decode_file, decode_pcm
from asrt_service.training import guards
from asrt_service.training.metrics import edit_distance
from conftest import REAL_CLIP, pcm16


@pytest.fixture(scope="module")
def reference(shipped_recognizer, real_samples):
    return shipped_recognizer.speech(Audio(real_samples))


@pytest.fixture(scope="module")
def gold_pinyin(shared_data):
    with (shared_data / "real-dev" / "labels.tsv").open(encoding="utf-8") as f:
        return {row["id"]: row["pinyin"].split() for row in csv.DictReader(f, delimiter="\t")}


@pytest.fixture(scope="module")
def gold(gold_pinyin):
    return gold_pinyin[REAL_CLIP]


def _ffmpeg(src, dst, *args):
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(src), *args, str(dst)], check=True)
    return dst


@pytest.mark.parametrize(
    ("name", "args", "max_diff"),
    [
        # lossless, resampled twice (16 -> 44.1/48 kHz by ffmpeg, back by soxr)
        ("44k_stereo.wav", ["-ar", "44100", "-ac", "2"], 0.1),
        ("48k_s32.wav", ["-ar", "48000", "-c:a", "pcm_s32le"], 0.1),
        ("same.flac", [], 0.0),
        # lossy codecs
        ("a.mp3", ["-b:a", "128k"], 0.15),
        ("a.m4a", ["-c:a", "aac", "-b:a", "128k"], 0.15),
        ("a.ogg", ["-c:a", "libopus", "-b:a", "48k"], 0.35),
    ],
)
def test_formats_and_rates_give_the_same_pinyin(
    shipped_recognizer, real_wav, tmp_path, reference, gold, name, args, max_diff
):
    converted = _ffmpeg(real_wav, tmp_path / name, *args)
    hyp = shipped_recognizer.speech(decode_file(converted.read_bytes()))
    limit = max(1, round(max_diff * len(reference))) if max_diff else 0
    assert edit_distance(reference, hyp) <= limit, (reference, hyp)
    # and never less accurate against the transcript than the 16 kHz WAV, beyond noise
    assert edit_distance(gold, hyp) <= edit_distance(gold, reference) + 0.1 * len(gold)


def test_8khz_is_nearly_as_accurate_as_16khz(shipped_recognizer, shared_data):
    # Above 4 kHz is gone: the model hears many syllables differently, so 8 kHz
    # is held to nearly the same accuracy against the transcripts, not the same
    # strings, over all 17 Mandarin recordings (one clip's 30 syllables swing by
    # a few errors between revisions). Toneless error at 16 / 8 kHz: revision 4
    # 47.0 % / 54.0 %, revision 5 47.9 % / 56.4 % (model card). The same count
    # is the narrow-band guard of bench/select.py.
    counts = guards.guard_counts(shipped_recognizer.speech, shared_data / "real-dev", ("recorded", "narrowband"))
    assert counts.syllables > 400
    assert counts.heard["narrowband"] >= 0.8 * counts.heard["recorded"], counts
    assert counts.narrowband_margin <= counts.narrowband_allowed, counts


def test_raw_pcm_stereo_44k_int32(shipped_recognizer, real_wav, tmp_path, reference):
    converted = _ffmpeg(real_wav, tmp_path / "x.wav", "-ar", "44100", "-ac", "2")
    x, rate = sf.read(converted, dtype="float32")
    data = (x * (2**31 - 1)).astype("<i4").tobytes()
    hyp = shipped_recognizer.speech(decode_pcm(data, rate, 2, 4))
    assert edit_distance(reference, hyp) <= max(1, round(0.1 * len(reference)))


def test_sixty_seconds_of_real_speech_is_recognized_in_full(shipped_recognizer, shared_data, gold_pinyin):
    wavs = sorted((shared_data / "real-dev" / "wav").glob("thchs30_*.wav"))
    clips, gold, one_by_one = [], [], 0
    total = 0.0
    for w in wavs:
        a = decode_file(w.read_bytes()).samples
        clips += [a, np.zeros(8000, np.float32)]
        gold += gold_pinyin[w.stem]
        one_by_one += edit_distance(gold_pinyin[w.stem], shipped_recognizer.speech(Audio(a)))
        total += len(a) / 16000 + 0.5
        if total >= 60:
            break
    long = np.concatenate(clips)
    assert len(long) / 16000 >= 60
    t = shipped_recognizer.recognize(Audio(long))
    assert len(t.segments) >= 4
    assert t.segments[-1].end == pytest.approx(len(long) / 16000)
    # In full: nothing dropped, and as accurate as recognizing each utterance on its own.
    assert len(t.pinyin) >= 0.8 * len(gold)
    assert edit_distance(gold, list(t.pinyin)) <= one_by_one + 0.05 * len(gold)
    assert len(t.text) >= 0.8 * len(gold)


def test_long_file_over_rest_v1(shipped_servers, shared_data):
    import requests

    a = np.concatenate(
        [
            decode_file(w.read_bytes()).samples
            for w in sorted((shared_data / "real-dev" / "wav").glob("thchs30_A2_*.wav"))[:3]
        ]
    )
    buf = io.BytesIO()
    sf.write(buf, a, 16000, format="FLAC")
    r = requests.post(shipped_servers[0] + "/v1/recognize", files={"file": ("long.flac", buf.getvalue())}, timeout=120)
    assert r.status_code == 200
    body = r.json()
    assert body["duration_s"] > 16 and len(body["segments"]) >= 2 and len(body["pinyin"]) > 30


def test_pcm16_roundtrip_equals_wav(shipped_recognizer, real_samples, reference):
    assert shipped_recognizer.speech(decode_pcm(pcm16(real_samples), 16000, 1, 2)) == reference


@pytest.mark.parametrize(
    ("name", "gain", "dc"),
    [("a microphone 30 dB quieter", 10 ** (-30 / 20), 0.0), ("a DC offset of 0.03", 1.0, 0.03)],
)
def test_quiet_microphones_and_dc_offset_give_the_same_pinyin(
    shipped_recognizer, real_samples, reference, gold, name, gain, dc
):
    # The shipped model's front end (logmel80_norm) removes each frame's DC and
    # brings the speech level to -30 dBFS; revision 2 (plain logmel80) lost
    # 8 of this clip's 30 syllables at -30 dB.
    x = np.clip(real_samples * np.float32(gain) + np.float32(dc), -1.0, 1.0).astype(np.float32)
    hyp = shipped_recognizer.speech(Audio(x))
    assert edit_distance(reference, hyp) <= max(1, round(0.1 * len(reference))), (name, reference, hyp)
    assert edit_distance(gold, hyp) <= edit_distance(gold, reference) + 0.1 * len(gold)


def test_slow_speakers_are_recognized_as_well_as_the_recorded_pace(shipped_recognizer, shared_data):
    # Revision 5 was trained with speaking rates down to 0.6x (docs/TRAINING.md,
    # "Speaking rate"): on real-dev slowed to 0.7x (sox WSOLA: pitch and timbre
    # kept) its toneless error is 45.8 % against 47.7 % as recorded; revision 4
    # (trained with +-10 %) went from 46.8 % to 54.0 % and fails this. The same
    # count is the slow-speaker guard of bench/select.py.
    counts = guards.guard_counts(shipped_recognizer.speech, shared_data / "real-dev", ("recorded", "slow"))
    assert counts.syllables > 400  # the 17 Mandarin recordings
    assert counts.slow_margin <= counts.slow_allowed, counts


def test_finals_use_the_models_tempo_views_and_stream_partials_one(shipped_recognizer, real_samples):
    """A request is decoded with every test-time tempo view of the shipped model;
    a streaming partial (``quick``) with the clip as it is only."""
    from asrt_service.recognizer import PieceResult

    acoustic = shipped_recognizer.acoustic
    assert len(acoustic.tempo_views) > 1 and acoustic.tempo_views[0] == 1.0
    feats = acoustic.features(real_samples)
    results = {}
    for quick, rates in ((False, None), (True, (1.0,))):
        got = shipped_recognizer.submit(real_samples, quick=quick).result(timeout=60)
        (probs,), (steps,) = acoustic.batch_probs([feats], quantum=64, rates=rates)
        want = PieceResult.from_alternatives(acoustic.alternatives(probs, steps, k=shipped_recognizer.nbest))
        assert got.pinyin == want.pinyin
        np.testing.assert_allclose(
            [lp for alts in got.alternatives for _, lp in alts],
            [lp for alts in want.alternatives for _, lp in alts],
            rtol=1e-4,
            atol=1e-4,
        )
        results[quick] = got
    assert results[False].alternatives != results[True].alternatives
