"""ttskit worker: multi-speaker Mellotron + MelGAN (24 named speakers), driven by our pinyin.

A request's ``params["mix"]`` (``"Aiyue:0.6+Xiaoyun:0.4"``) speaks with the
weighted sum of those speakers' input vectors instead (engine ``ttskitmix``),
and ``params["vector"]`` (32 numbers) with that speaker input (``ttskitnew``).

Runs inside ``~/.cache/asrt-service/envs/ttskit`` (CPU torch, librosa 0.9.2,
numpy<1.24) with ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` (the bundled models are
whole pickled modules). ttskit's own front end reads hanzi with its own
pinyin conversion (it reads 银行 as "yin2 xing2"), so this worker feeds the
label pinyin to phkit's pinyin path instead. Protocol: see
``asrt_service.training.corpus.engines.WorkerEngine``.
"""

from __future__ import annotations

import os
import sys

# Speakers whose output is broken (noise / no speech) in this model release.
BROKEN = {"Xiaowei"}


def main() -> int:
    os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    import numpy as np
    import soundfile as sf
    import torch
    from worker_protocol import parse_blend, serve  # this folder is sys.path[0] when a worker runs as a script

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    from phkit.chinese import pinyin2ph_dict, sequence_to_text
    from phkit.chinese import text_to_sequence as phkit_sequence
    from ttskit import sdk_api
    from ttskit.melgan import inference as melgan
    from ttskit.mellotron import inference as mellotron
    from ttskit.resource import _speaker_dict

    loader = sdk_api.load_models(**sdk_api._global_mspk_kwargs)
    # Stop decoding only when the gate is sure; speak() cuts at the first likely stop.
    mellotron._model.decoder.gate_threshold = 0.9
    sr = int(sdk_api._stft.sampling_rate)
    speakers = [name for _, name in sorted(_speaker_dict.items()) if name not in BROKEN]

    def speaker_vector(speaker: str, mix: str | None, vector: list[float] | None = None):
        """The model's speaker input: a named speaker, a blend "A:0.6+B:0.4" of named speakers, or 32 numbers."""
        if vector is not None:
            if len(vector) != 32:
                raise ValueError(f"a speaker vector has 32 numbers, got {len(vector)}")
            return torch.FloatTensor([vector])
        if not mix:
            return loader.get_speaker(speaker)
        parts = parse_blend(mix)
        unknown = [name for name, _ in parts if name not in speakers]
        if unknown:
            raise ValueError(f"unknown speakers in blend {mix!r}: {unknown}")
        return sum(w * loader.get_speaker(name) for name, w in parts)

    def speak(pinyin: list[str], speaker: str, mix: str | None = None, vector: list[float] | None = None) -> np.ndarray:
        bad = [p for p in pinyin if p not in pinyin2ph_dict]
        if bad:
            raise ValueError(f"syllables not in phkit's table: {bad}")
        # A final "." as in the training transcripts: it lets the stop gate fire.
        seq = phkit_sequence(" ".join(pinyin) + " .", cleaner_names="pinyin")
        text = torch.LongTensor(seq)[None]
        spk = speaker_vector(speaker, mix, vector)
        _, mels, gates, align = mellotron.generate_mel(text, 0, spk, None)
        gate = gates.cpu().numpy()[0].reshape(-1)
        # The stop gate sometimes fires early, cutting the clause short (the
        # label would then name syllables never spoken). The decoder runs with
        # a stricter stop threshold (see below); here the cut is the first gate
        # above 0.5 after ~100 ms per syllable (86 frames/s), faster than anyone reads.
        min_frames = min(9 * len(pinyin), gate.shape[0] - 1)
        later = np.nonzero(gate[min_frames:] > 0.5)[0]
        end = min_frames + int(later[0]) + 1 if len(later) else gate.shape[0]
        # Attention at the cut must have reached the end of the text, else words are missing.
        att = align.cpu().numpy()[0]  # (text symbols, frames)
        reached = int(np.argmax(att[:, end - 1]))
        if reached < att.shape[0] - 6:
            raise ValueError(f"attention stopped at symbol {reached} of {att.shape[0]}: clause cut short")
        wav = melgan.generate_wave(mel=mels[:, :, :end])
        return wav.squeeze(0).cpu().numpy().astype(np.float32)

    def phonemes(req: dict) -> list[str]:
        seq = phkit_sequence(" ".join(req["pinyin"]) + " .", cleaner_names="pinyin")
        return sequence_to_text(seq).split()

    def write_audio(req: dict) -> None:
        params = req.get("params") or {}
        if req["speaker"] not in speakers and "vector" not in params:
            raise ValueError(f"unknown speaker {req['speaker']!r}")
        audio = speak(req["pinyin"], req["speaker"], params.get("mix"), params.get("vector"))
        sf.write(req["out"], audio, sr, subtype="FLOAT")

    return serve(sr, [[f"ttskit-{s}", s, {}] for s in speakers], phonemes, write_audio)


if __name__ == "__main__":
    sys.exit(main())
