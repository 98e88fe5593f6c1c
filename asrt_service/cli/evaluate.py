"""``asrt-service evaluate``: syllable / character error rates of a model, as JSON.

A large set takes a while: progress bars show it, and the acoustic output is
journaled clip by clip under ``<cache>/evaluate/`` (``config.cache_root``), so
the same command run again after an interruption decodes only the clips not
yet done. The journals are deleted once the report is written.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
from pathlib import Path

from ..config import Settings, cache_root, parse_tempo_views
from .logs import setup_logging

logger = logging.getLogger(__name__)

REPO_MODELS = Path(__file__).resolve().parents[2] / "models"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="asrt-service evaluate",
        description="Toneful and toneless syllable error rate (greedy CTC) and, with a language model, "
        "the syllable error rate of its reading and its character error rate, per data source.",
    )
    p.add_argument(
        "sources",
        nargs="+",
        help="*.wav.lst list files, folders of list files, folders with labels.tsv, or folders of audio + .txt",
    )
    p.add_argument("--model", default=str(REPO_MODELS / "zh_dcnn_v1"), help="model directory (default %(default)s)")
    p.add_argument("--asrt-weights", default=None, help="evaluate an ASRT SpeechModel251bn.model.h5 instead")
    p.add_argument("--asrt-dict", default=None, help="ASRT dict.txt for --asrt-weights")
    p.add_argument(
        "--lm", default=None, help="language model directory for CER (e.g. models/lm); omitted = acoustic model only"
    )
    p.add_argument(
        "--lm-nbest",
        type=int,
        default=Settings.lm_nbest,
        help="acoustic candidates per syllable given to the language model, as the servers' "
        "--lm-nbest (0 = greedy pinyin only; default %(default)s)",
    )
    p.add_argument(
        "--tempo-views",
        default=None,
        help="test-time tempo views, e.g. 1 (the clip alone) or 1,0.9,0.8; default: the model's own",
    )
    pick = p.add_mutually_exclusive_group()
    pick.add_argument("--limit", type=int, default=None, help="at most this many utterances per source: the first ones")
    pick.add_argument(
        "--sample",
        type=int,
        default=None,
        help="this many utterances per source, drawn at random with --seed (e.g. a slice of a training list)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of --sample's draw (default %(default)s)")
    p.add_argument("--output", "-o", default=None, help="write the JSON report here (default: stdout)")
    p.add_argument("--brief", action="store_true", help="leave per-utterance rows out of the report")
    p.add_argument(
        "--by-speaker",
        action="store_true",
        help="also log each speaker's rates (the report always has them, as by_speaker, where speakers are known)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--log-level", default="INFO")
    return p


def open_models(args):
    """The acoustic model the flags name (``--tempo-views`` applied) and the ``--lm`` language model (or None).

    Raises:
        ModelNotFound: files missing, for either model.
        ValueError: bad ``--tempo-views``.
    """
    from ..acoustic_model import AcousticModel
    from ..training.evaluate import load_lm

    model = AcousticModel.open(args.model, args.asrt_weights or None, args.asrt_dict or None)
    if args.tempo_views:
        model.tempo_views = parse_tempo_views(args.tempo_views)
    return model, load_lm(args.lm)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.sample is not None and args.sample < 1:
        parser.error(f"--sample needs at least one utterance, not {args.sample}")
    setup_logging(args.log_level)
    from ..errors import ModelNotFound
    from ..training import evaluate as ev

    try:
        model, lm = open_models(args)
    except (ModelNotFound, ValueError) as exc:
        logger.error("%s", exc)
        return 2
    fingerprint = ev.model_fingerprint(model)
    journals = []
    report = {"model": model.name, "arch": model.spec.arch, "tempo_views": list(model.tempo_views), "sources": {}}
    if args.sample is not None:
        report["sample"] = {"utterances_per_source": args.sample, "seed": args.seed}
    for source in args.sources:
        try:
            items = ev.load_items(source)
        except FileNotFoundError as exc:
            logger.error("%s", exc)
            return 2
        if args.limit:
            items = items[: args.limit]
        elif args.sample is not None:
            items = ev.sample_items(items, args.sample, args.seed)
        if not items:
            logger.error("%s: no labelled utterances", source)
            return 2
        key = {
            "model": fingerprint,
            "source": str(Path(source).resolve()),
            "clips": hashlib.sha1("\n".join(it.utt_id for it in items).encode()).hexdigest(),
            "k": args.lm_nbest if lm is not None else 1,
        }
        journal = ev.Journal.for_run(cache_root() / "evaluate", key)
        journals.append(journal)
        result = ev.evaluate_items(
            model,
            items,
            lm=lm,
            keep_utterances=not args.brief,
            lm_nbest=args.lm_nbest,
            progress=not args.no_progress,
            journal=journal,
            name=Path(source).name,
        )
        logger.info("%s: %s", source, ev.summarize(result))
        if args.by_speaker:
            for speaker, rates in result.get("by_speaker", {}).items():
                logger.info("  %-28s %s", speaker, ev.summarize_speaker(rates))
        report["sources"][source] = result
    text = json.dumps(report, indent=2, ensure_ascii=False)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
    else:
        sys.stdout.write(text + "\n")
    for journal in journals:
        journal.finish()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
