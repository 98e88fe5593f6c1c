"""Join consecutive clips of a data source into long recordings (a long-utterance test set).

Synthetic corpora are made of clauses of about 2 s, but people send whole
sentences of 5-15 s, and a model trained and scored on short clips alone hides
how it copes with long input. This joins every ``per`` consecutive utterances
of a source (in list order, which keeps one speaker together in THCHS30,
AISHELL-1 and our corpora's held-out lists) with ``gap`` seconds of silence,
and writes 16 kHz mono WAV files plus ASRT list files, so the result is one
more source for ``evaluate`` or ``train --dev/--monitor``.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .. import features
from .datalists import Utterance, write_corpus
from .pipeline import load_source, read_audio, write_audio

logger = logging.getLogger(__name__)


def join_source(
    source: str | Path, out_dir: str | Path, per: int = 5, gap: float = 0.25, split: str = "joined"
) -> list[Utterance]:
    """Write joined recordings of ``source`` to ``out_dir``.

    Args:
        source: anything ``pipeline.load_source`` reads.
        out_dir: output folder: ``wav/*.wav`` and ``<split>.wav.lst`` /
            ``<split>.syllable.txt``.
        per: clips per joined recording; a last, shorter group is kept when it
            has at least two clips.
        gap: silence between clips, in seconds.
        split: list-file name.

    Returns:
        The joined utterances (ids ``<first id>+<n>``).
    """
    if per < 2:
        raise ValueError(f"per must be at least 2, got {per}")
    if not 0 <= gap <= 5:
        raise ValueError(f"gap must be within 0-5 s, got {gap}")
    from tqdm import tqdm

    utts = load_source(source)
    out = Path(out_dir)
    (out / "wav").mkdir(parents=True, exist_ok=True)
    silence = np.zeros(int(round(gap * features.SAMPLE_RATE)), np.float32)
    joined: list[Utterance] = []
    groups = [utts[i : i + per] for i in range(0, len(utts), per)]
    for group in tqdm([g for g in groups if len(g) >= 2], desc="joining", unit="rec"):
        utt_id = f"{group[0].utt_id}+{len(group)}"
        path = out / "wav" / f"{utt_id}.wav"
        if not path.exists():
            parts: list[np.ndarray] = []
            for u in group:
                parts += [read_audio(u.path), silence]
            write_audio(path, np.concatenate(parts[:-1]))
        joined.append(Utterance(utt_id, path, tuple(s for u in group for s in u.pinyin)))
    write_corpus(joined, out / f"{split}.wav.lst", out / f"{split}.syllable.txt")
    logger.info("%d recordings of %d clips each from %d clips -> %s", len(joined), per, len(utts), out)
    return joined


def main(argv: Sequence[str] | None = None) -> int:
    from ..cli.logs import setup_logging

    p = argparse.ArgumentParser(
        prog="asrt-service join-clips",
        description="Join consecutive clips of a data source into long recordings (WAV + ASRT list files).",
    )
    p.add_argument("source", help="a *.wav.lst file, a folder with labels.tsv, or a folder of list files")
    p.add_argument("out_dir", type=Path, help="output folder")
    p.add_argument("--per", type=int, default=5, help="clips per recording (default %(default)s)")
    p.add_argument("--gap", type=float, default=0.25, help="seconds of silence between clips (default %(default)s)")
    p.add_argument("--split", default="joined", help="list-file name (default %(default)s)")
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)
    setup_logging(args.log_level)
    try:
        join_source(args.source, args.out_dir, args.per, args.gap, args.split)
    except (FileNotFoundError, ValueError) as exc:
        logger.error("%s", exc)
        return 2
    return 0
