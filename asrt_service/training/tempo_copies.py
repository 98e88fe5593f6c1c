"""Slower, faster or narrow-band copies of a data source's recordings (training sources).

``train --tempo`` changes the speaking rate of every example on the fly, but
it does so on log-mel frames: slowing a clip down interpolates between frames,
which smears a syllable's onset where a slow speaker holds the vowel instead.
This writes copies of each recording re-timed in the waveform, with pitch and
timbre kept (sox ``tempo -s``, WSOLA: :func:`corpus.augment.tempo_change`),
as 16 kHz mono WAV files plus ASRT list files, so the result is one more
source for ``train``. With ``sample_rate`` every copy is also passed through
that rate and back to 16 kHz (soxr, as the service resamples an 8 kHz
upload), so real speakers are heard as a phone line or an 8 kHz file leaves
them: nothing above half that rate. Nothing is written twice: a rerun
reuses finished files.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from .. import features
from .corpus.augment import resample, tempo_change
from .datalists import Utterance, write_corpus
from .pipeline import TEMPO_LIMITS, load_source, read_audio, write_audio

logger = logging.getLogger(__name__)

#: ``--sample-rate`` limits (Hz): below 4 kHz little speech is left; 16 kHz is the model's own rate.
SAMPLE_RATE_LIMITS = (4000, 15999)


def check_factors(factors: Sequence[float]) -> tuple[float, ...]:
    """Speaking-rate factors, each within ``TEMPO_LIMITS`` and none repeated.

    Raises:
        ValueError: out of range, or repeated.
    """
    factors = tuple(float(f) for f in factors)
    lo, hi = TEMPO_LIMITS
    bad = [f for f in factors if not lo <= f <= hi]
    if bad:
        raise ValueError(f"tempo factors must be within {lo}-{hi}, got {bad}")
    if len(set(factors)) != len(factors):
        raise ValueError(f"tempo factors repeat: {list(factors)}")
    return factors


def parse_factors(text: str) -> tuple[float, ...]:
    """``"0.65,0.8"`` -> ``(0.65, 0.8)``, checked by :func:`check_factors`.

    Raises:
        ValueError: not numbers, out of range, or repeated.
    """
    try:
        factors = [float(v) for v in text.split(",")]
    except ValueError:
        raise ValueError(f"factors must be numbers separated by commas, got {text!r}") from None
    return check_factors(factors)


def check_sample_rate(rate: int) -> int:
    """A narrow-band rate within ``SAMPLE_RATE_LIMITS``.

    Raises:
        ValueError: out of range.
    """
    lo, hi = SAMPLE_RATE_LIMITS
    if not lo <= rate <= hi:
        raise ValueError(f"sample rate must be {lo}-{hi} Hz (below the model's 16 kHz), got {rate}")
    return rate


def tempo_copies(
    source: str | Path,
    out_dir: str | Path,
    factors: Sequence[float],
    split: str = "train",
    sample_rate: int | None = None,
) -> list[Utterance]:
    """Write one copy of every recording of ``source`` at each tempo factor.

    Args:
        source: anything ``pipeline.load_source`` reads.
        out_dir: output folder: ``wav/*.wav`` and ``<split>.wav.lst`` /
            ``<split>.syllable.txt``.
        factors: speaking-rate factors (0.7 = 30 % slower); a factor of 1
            copies the recording unchanged.
        split: list-file name.
        sample_rate: also pass each copy through this rate and back
            (e.g. 8000); ``None`` keeps the full band.

    Returns:
        The copies, ids ``<id>~t<factor>`` (``~t<factor>~<rate>hz`` with a
        sample rate), grouped by factor in ``factors`` order.
    """
    factors = check_factors(factors)
    if sample_rate is not None:
        check_sample_rate(sample_rate)
    band = f"~{sample_rate}hz" if sample_rate else ""
    from tqdm import tqdm

    utts = load_source(source)
    out = Path(out_dir)
    (out / "wav").mkdir(parents=True, exist_ok=True)
    by_factor: dict[float, list[Utterance]] = {f: [] for f in factors}
    for u in tqdm(utts, desc="tempo copies", unit="rec"):
        source_audio = None  # read once per recording, and only if a copy is missing
        for factor in factors:
            utt_id = f"{u.utt_id}~t{factor:g}{band}"
            path = out / "wav" / f"{utt_id}.wav"
            if not path.exists():
                if source_audio is None:
                    source_audio = read_audio(u.path)
                audio = tempo_change(source_audio, factor) if factor != 1.0 else source_audio
                if sample_rate:
                    audio = resample(
                        resample(audio, features.SAMPLE_RATE, sample_rate), sample_rate, features.SAMPLE_RATE
                    )
                write_audio(path, audio)
            by_factor[factor].append(Utterance(utt_id, path, u.pinyin, u.speaker))
    copies = [c for f in factors for c in by_factor[f]]
    write_corpus(copies, out / f"{split}.wav.lst", out / f"{split}.syllable.txt")
    logger.info(
        "%d copies of %d recordings at tempo %s%s -> %s",
        len(copies),
        len(utts),
        factors,
        f" through {sample_rate} Hz" if sample_rate else "",
        out,
    )
    return copies


def main(argv: Sequence[str] | None = None) -> int:
    from ..cli.logs import setup_logging

    p = argparse.ArgumentParser(
        prog="asrt-service tempo-copies",
        description="Copies of a data source's recordings at other speaking rates (pitch kept) and, with "
        "--sample-rate, through a narrower band (WAV + ASRT list files).",
    )
    p.add_argument("source", help="a *.wav.lst file, a folder with labels.tsv, or a folder of list files")
    p.add_argument("out_dir", type=Path, help="output folder")
    p.add_argument(
        "--factors",
        type=parse_factors,
        required=True,
        help="speaking-rate factors separated by commas, e.g. 0.65,0.8 (below 1 is slower)",
    )
    p.add_argument(
        "--sample-rate",
        type=int,
        default=None,
        metavar="HZ",
        help="also pass every copy through this rate and back to 16 kHz, e.g. 8000 (narrow-band speech)",
    )
    p.add_argument("--split", default="train", help="list-file name (default %(default)s)")
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)
    setup_logging(args.log_level)
    try:
        tempo_copies(args.source, args.out_dir, args.factors, args.split, args.sample_rate)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        logger.error("%s", exc)
        return 2
    return 0
