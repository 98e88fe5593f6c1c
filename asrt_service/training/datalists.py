"""ASRT list files: the one dataset format that synthetic and real corpora share.

A corpus is a pair of text files. ``<split>.wav.lst`` (or ``.wav.txt``) holds
``utt_id path`` lines, the path relative to a dataset root; ``<split>.syllable.txt``
holds ``utt_id pinyin pinyin ...``. THCHS30, ST-CMDS, AISHELL-1, Primewords,
aidatatang_200zh and MagicData ship in this layout, and our corpus builder
writes it, so real and synthetic data are interchangeable for training.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..vocab import normalize_syllable

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Utterance:
    """One labelled recording.

    Attributes:
        utt_id: identifier shared by the two list files.
        path: absolute path of the audio file (any format soundfile reads).
        pinyin: toneful syllables, normalised (``lv4``, neutral tone 5).
        speaker: who speaks (a corpus voice id such as ``ttskit-Aiyue-f2``, an
            AISHELL-1 speaker ``S0150``, a THCHS30 speaker ``A2``), or ``""``
            when the source does not say.
    """

    utt_id: str
    path: Path
    pinyin: tuple[str, ...]
    speaker: str = ""


# The optional prefixes are ../shared/data's ids (aishell1_BAC009S0002W0122, thchs30_A2_0).
_SPEAKER_IDS = (
    re.compile(r"^(?:aishell1_)?BAC\d{3}(S\d{4})W\d{4}$"),  # AISHELL-1: BAC009S0150W0001
    re.compile(r"^(?:thchs30_)?([A-D]\d{1,2})_\d+$"),  # THCHS30: A2_0
)


def speaker_from_id(utt_id: str) -> str:
    """The speaker in an AISHELL-1 or THCHS30 utterance id, else ``""``."""
    for pattern in _SPEAKER_IDS:
        m = pattern.match(utt_id)
        if m:
            return m.group(1)
    return ""


def corpus_voices(corpus_dir: str | Path) -> dict[str, str]:
    """``utt_id -> voice`` from the shard manifests of a corpus we built (``shards/*.tsv``); empty if none."""
    root = Path(corpus_dir)
    if not (root / "shards").is_dir():
        return {}
    from .corpus.builder import read_manifests  # the manifest format's owner; imported only for our corpora

    return {row.utt_id: row.voice for rows in read_manifests(root).values() for row in rows}


def _read_pairs(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2:
            raise ValueError(f"{path}:{n}: expected 'utt_id value', got {line!r}")
        out[parts[0]] = parts[1]
    return out


def read_corpus(wav_list: str | Path, syllable_list: str | Path, root: str | Path | None = None) -> list[Utterance]:
    """Join a wav list and a syllable list on utt_id.

    Args:
        wav_list: ``*.wav.lst`` / ``*.wav.txt`` file.
        syllable_list: ``*.syllable.txt`` file.
        root: directory the audio paths are relative to; defaults to the wav
            list's directory. Absolute paths are kept as they are.

    Returns:
        Utterances in wav-list order; ids missing from either file are skipped
        (and counted in a log line).
    """
    wav_list, syllable_list = Path(wav_list), Path(syllable_list)
    base = Path(root) if root is not None else wav_list.parent
    wavs = _read_pairs(wav_list)
    labels = _read_pairs(syllable_list)
    voices = corpus_voices(wav_list.parent)
    out = []
    for utt_id, rel in wavs.items():
        if utt_id not in labels:
            continue
        p = Path(rel)
        out.append(
            Utterance(
                utt_id,
                p if p.is_absolute() else base / p,
                tuple(normalize_syllable(s) for s in labels[utt_id].split()),
                voices.get(utt_id) or speaker_from_id(utt_id),
            )
        )
    missing = len(wavs) + len(labels) - 2 * len(out)
    if missing:
        logger.warning("%s: %d ids present in only one of the two lists", wav_list, missing)
    return out


def write_corpus(utterances: Iterable[Utterance], wav_list: str | Path, syllable_list: str | Path) -> int:
    """Write the two list files; paths are written relative to the wav list's folder.

    Returns:
        Number of utterances written.
    """
    wav_list, syllable_list = Path(wav_list), Path(syllable_list)
    base = wav_list.parent.resolve()
    n = 0
    with wav_list.open("w", encoding="utf-8") as fw, syllable_list.open("w", encoding="utf-8") as fs:
        for u in utterances:
            p = Path(u.path).resolve()
            try:
                rel = p.relative_to(base)
            except ValueError:
                rel = p
            fw.write(f"{u.utt_id} {rel.as_posix()}\n")
            fs.write(f"{u.utt_id} {' '.join(u.pinyin)}\n")
            n += 1
    return n


def find_list_pairs(directory: str | Path) -> list[tuple[Path, Path]]:
    """All ``(wav list, syllable list)`` pairs in a folder, matched by split name."""
    d = Path(directory)
    pairs = []
    for wav in sorted([*d.glob("*.wav.lst"), *d.glob("*.wav.txt")]):
        split = wav.name.rsplit(".wav.", 1)[0]
        syl = d / f"{split}.syllable.txt"
        if syl.exists():
            pairs.append((wav, syl))
    return pairs


def read_labels_tsv(
    tsv: str | Path, audio_dir: str | Path, suffixes: Sequence[str] = (".wav", ".flac")
) -> list[Utterance]:
    """Read a ``labels.tsv`` with ``id`` and ``pinyin`` columns (``../shared/data`` layout).

    Rows whose language column is not ``zh`` (if present) or whose audio is
    missing are skipped.
    """
    audio_dir = Path(audio_dir)
    out = []
    with Path(tsv).open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row.get("lang", "zh") != "zh" or not row.get("pinyin"):
                continue
            for suffix in suffixes:
                p = audio_dir / f"{row['id']}{suffix}"
                if p.exists():
                    pinyin = tuple(normalize_syllable(s) for s in row["pinyin"].split())
                    out.append(Utterance(row["id"], p, pinyin, row.get("speaker") or speaker_from_id(row["id"])))
                    break
    return out
