"""The request loop every TTS worker runs (the worker side of ``engines.WorkerEngine``).

Standard library only: it is imported by the worker scripts inside their own
environments (``sys.path[0]`` is this folder when a worker runs as a script).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any


def parse_blend(mix: str) -> list[tuple[str, float]]:
    """``"Aiyue:0.58+Xiaoyun:0.42"`` -> ``[("Aiyue", 0.58), ("Xiaoyun", 0.42)]``: a blend of an engine's voices.

    ``engines.blend_voices`` writes these strings into ``params["mix"]``; the
    ttskit and kokoro workers read them with this function.
    """
    out = []
    for part in mix.split("+"):
        name, _, weight = part.partition(":")
        out.append((name, float(weight)))
    return out


def serve(
    sample_rate: int,
    voices: list[list[Any]],
    phonemes: Callable[[dict], list[str]],
    write_audio: Callable[[dict], None],
) -> int:
    """Say hello, then answer one JSON request per stdin line until stdin closes.

    Args:
        sample_rate: the rate of the audio the worker writes.
        voices: ``[voice_id, speaker, params]`` for each voice it offers.
        phonemes: request -> the engine's own symbols (``{"phonemes_only": true}`` requests).
        write_audio: synthesizes the request and writes it to ``req["out"]``.

    A failing request is answered ``{"ok": false, "error": ...}`` and the loop
    goes on: one bad clause must not end a corpus build.
    """
    print(json.dumps({"ready": True, "sample_rate": sample_rate, "voices": voices}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            if req.get("phonemes_only"):
                ans = {"ok": True, "phonemes": phonemes(req)}
            else:
                write_audio(req)
                ans = {"ok": True}
        except Exception as e:  # report and keep serving
            ans = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        print(json.dumps(ans), flush=True)
    return 0
