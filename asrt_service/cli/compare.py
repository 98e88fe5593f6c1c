"""``asrt-service compare``: is model B better than model A? Paired bootstrap over two evaluate reports."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from ..training.metrics import compare_reports
from .logs import setup_logging

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="asrt-service compare",
        description="Compare two `asrt-service evaluate` reports (without --brief) utterance by utterance: "
        "each error rate of A and B, the difference B - A and its paired-bootstrap interval, per source.",
    )
    p.add_argument("a", help="report of the baseline (A)")
    p.add_argument("b", help="report of the candidate (B)")
    p.add_argument("--draws", type=int, default=10000, help="bootstrap draws (default %(default)s)")
    p.add_argument("--level", type=float, default=0.95, help="interval coverage (default %(default)s)")
    p.add_argument("--output", "-o", default=None, help="also write the comparison as JSON here")
    p.add_argument("--log-level", default="INFO")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level)
    if args.draws < 100 or not 0.5 <= args.level < 1:
        logger.error("--draws must be at least 100 and --level in [0.5, 1)")
        return 2
    try:
        reports = [json.loads(Path(p).read_text(encoding="utf-8")) for p in (args.a, args.b)]
        result = compare_reports(*reports, draws=args.draws, level=args.level, names=(args.a, args.b))
    except (OSError, ValueError, KeyError) as exc:
        logger.error("%s", exc)
        return 2
    pct = int(round(100 * args.level))
    lines = [f"{'source':<32} {'metric':<16} {'A':>7} {'B':>7} {'B - A':>7}  {pct} % interval  (n)"]
    for source in sorted(result):
        for metric, r in result[source].items():
            lines.append(
                f"{'/'.join(Path(source).parts[-2:]):<32} {metric:<16} {100 * r['a']:6.1f}% {100 * r['b']:6.1f}% "
                f"{100 * r['diff']:+7.1f}  [{100 * r['low']:+.1f}, {100 * r['high']:+.1f}]  ({r['utterances']})"
            )
    sys.stdout.write("\n".join(lines) + "\n")
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
