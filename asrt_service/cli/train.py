"""``asrt-service train``: train or resume an acoustic model (see docs/TRAINING.md)."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from .logs import setup_logging

logger = logging.getLogger(__name__)


def _comma_numbers(check_name: str):
    """An argparse type: ``"a,b,..."`` through ``training.pipeline.<check_name>`` (its ValueError -> usage error)."""

    def parse(text: str):
        from ..training import pipeline

        try:
            return getattr(pipeline, check_name)(text.split(","))
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = check_name.removeprefix("check_")  # argparse names the type in its messages
    return parse


def build_parser() -> argparse.ArgumentParser:
    from ..training.train import DEFAULT_EPOCHS, RUNS_ROOT, TrainConfig

    d = TrainConfig(train=[])
    p = argparse.ArgumentParser(
        prog="asrt-service train",
        description="Train a DCNN+CTC acoustic model on ASRT list files (synthetic and/or real speech).",
        epilog="Resume an interrupted run: asrt-service train --run NAME --resume",
    )
    p.add_argument(
        "--train",
        action="append",
        default=[],
        metavar="SOURCE[@N]",
        help="training data: a *.wav.lst file, a folder of list files, a folder with labels.tsv, "
        "or a folder of audio+.txt; @N repeats it N times per epoch (repeatable)",
    )
    p.add_argument(
        "--dev", action="append", default=[], metavar="SOURCE", help="dev data for early stopping / best model"
    )
    p.add_argument(
        "--monitor",
        action="append",
        default=[],
        metavar="SOURCE",
        help="data scored after every epoch for the log only (never used for selection)",
    )
    p.add_argument("--run", default="default", help=f"run name (folder under {RUNS_ROOT}) or a path")
    p.add_argument("--resume", action="store_true", help="continue the run from its last checkpoint")
    p.add_argument("--arch", default=d.preset, help="model preset: dcnn_fast (default), asrt251bn, dcnn_tiny")
    p.add_argument("--init-from", default=None, metavar="MODEL_DIR", help="start from a trained model (fine-tune)")
    p.add_argument(
        "--grow-blocks",
        type=int,
        default=0,
        metavar="N",
        help="with --init-from: deepen that model to N residual blocks, the new ones starting as the identity",
    )
    p.add_argument(
        "--grow-scale",
        type=float,
        default=0.0,
        metavar="G",
        help="with --grow-blocks: the new blocks' last batch-norm scale at the start, 0-1 (default 0, the identity; "
        "at fine-tuning rates 0 barely moves, revision 12 used 0.25)",
    )
    p.add_argument(
        "--widen-channels",
        type=int,
        default=0,
        metavar="N",
        help="with --init-from: widen that model's 1-D part to N channels, starting as the same function "
        "(copied channels, their weights shared; seeded by --seed)",
    )
    p.add_argument(
        "--time-stride",
        type=int,
        choices=(4, 8),
        default=0,
        metavar="N",
        help="input frames (10 ms) per output step: 8 (the presets) or 4 (dcnn_fast only); "
        "with --init-from an 8x model is refined to 4x with its weights",
    )
    p.add_argument(
        "--feature",
        default=None,
        metavar="KIND",
        help="feature kind instead of the preset's or the --init-from model's (same width), e.g. logmel80_norm",
    )
    p.add_argument("--vocab", default=None, help="vocabulary file for a new model (default: our 2100 syllables)")
    p.add_argument(
        "--epochs",
        type=int,
        default=None,
        help=f"passes over the training data (default {DEFAULT_EPOCHS}; with --resume, the run's own "
        "unless given: a larger number extends it)",
    )
    p.add_argument(
        "--batch-frames", type=int, default=d.batch_frames, help="padded frames per batch (default %(default)s)"
    )
    p.add_argument("--lr", type=float, default=d.lr, help="peak learning rate (default %(default)s)")
    p.add_argument("--warmup-steps", type=int, default=d.warmup_steps)
    p.add_argument(
        "--total-steps", type=int, default=None, help="steps the LR schedule plans for (default epochs x steps/epoch)"
    )
    p.add_argument("--checkpoint-minutes", type=float, default=d.checkpoint_minutes)
    p.add_argument(
        "--patience", type=int, default=d.patience, help="epochs without dev improvement before stopping (0 = off)"
    )
    p.add_argument(
        "--max-minutes", type=float, default=None, help="stop with a checkpoint after this much training time"
    )
    p.add_argument(
        "--max-steps", type=int, default=0, help="stop with a checkpoint after this many steps (--resume goes on)"
    )
    p.add_argument("--no-augment", action="store_true", help="turn off SpecAugment and warping")
    p.add_argument(
        "--warp",
        type=float,
        default=d.warp,
        help="mel-axis warp range, a vocal-tract-length change: factor in [1-W, 1+W] (default %(default)s)",
    )
    p.add_argument(
        "--specaugment",
        type=_comma_numbers("check_specaugment"),
        default=d.specaugment,
        metavar="FM,FW,TM,TR",
        help="SpecAugment: FM frequency masks of up to FW mel bins, TM time masks of up to TR of the "
        "example each (default " + ",".join(str(v) for v in d.specaugment) + ")",
    )
    p.add_argument(
        "--tempo",
        type=_comma_numbers("check_tempo"),
        default=d.tempo,
        metavar="LOW,HIGH",
        help="speaking-rate range of the time-stretch augmentation, e.g. 0.6,1.15 (0.6: speech at 0.6 times "
        "its original rate, lasting 1/0.6 as long; default " + ",".join(str(v) for v in d.tempo) + ")",
    )
    p.add_argument(
        "--join-frames",
        type=int,
        default=d.join_frames,
        help="join short clips end to end into training examples of up to this many 10 ms frames, "
        "e.g. 1200 (default %(default)s = off; see docs/TRAINING.md)",
    )
    p.add_argument(
        "--join-share",
        type=float,
        default=d.join_share,
        help="chance that an example starts a chain of joined clips (default %(default)s)",
    )
    p.add_argument(
        "--join-same-speaker",
        action="store_true",
        help="join only clips of one speaker (our corpora's voices, AISHELL-1 / THCHS30 speaker ids), so a "
        "joined example sounds like one person talking on; clips of unknown speaker are not joined",
    )
    p.add_argument(
        "--non-speech",
        type=float,
        default=d.non_speech,
        metavar="SHARE",
        help="add this share of non-speech examples (noise, mains hum, silence; empty labels) so the model "
        "learns to stay silent on them, e.g. 0.04 (default %(default)s)",
    )
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--threads", type=int, default=None, help="TensorFlow CPU threads")
    p.add_argument(
        "--distribute",
        choices=["mirrored", "multiworker"],
        default=None,
        help="tf.distribute strategy: mirrored (local GPUs) or multiworker (reads TF_CONFIG)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar (log lines only)")
    p.add_argument("--log-level", default="INFO")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level)
    from ..training import train as tr

    tr.configure_threads(args.threads)
    run_dir = Path(args.run).expanduser()
    if not (run_dir.is_absolute() or args.run.startswith(".")):
        run_dir = tr.RUNS_ROOT / args.run
    if not args.train and not args.resume:
        logger.error("give at least one --train source (or --resume a run)")
        return 2
    config = tr.TrainConfig(
        train=args.train,
        dev=args.dev,
        monitor=args.monitor,
        run_dir=str(run_dir),
        preset=args.arch,
        init_from=args.init_from,
        grow_blocks=args.grow_blocks,
        grow_scale=args.grow_scale,
        widen_channels=args.widen_channels,
        time_stride=args.time_stride,
        feature=args.feature,
        vocab=args.vocab,
        epochs=args.epochs,
        batch_frames=args.batch_frames,
        lr=args.lr,
        warmup_steps=args.warmup_steps,
        total_steps=args.total_steps,
        checkpoint_minutes=args.checkpoint_minutes,
        patience=args.patience,
        max_minutes=args.max_minutes,
        max_steps=args.max_steps,
        augment=not args.no_augment,
        warp=args.warp,
        tempo=args.tempo,
        specaugment=args.specaugment,
        non_speech=args.non_speech,
        seed=args.seed,
        distribute=args.distribute,
        join_frames=args.join_frames,
        join_share=args.join_share,
        join_same_speaker=args.join_same_speaker,
    )
    try:
        summary = tr.train(config, resume=args.resume, progress=not args.no_progress)
    except (FileNotFoundError, ValueError) as exc:
        logger.error("%s", exc)
        return 2
    summary.pop("history", None)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
