"""``asrt-service compare``: is model B better than model A? Paired bootstrap over two evaluate reports."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from .logs import setup_logging

logger = logging.getLogger(__name__)

#: report metric -> per-utterance error field (``evaluate``'s rows).
METRICS = {
    "ser": "errors",
    "ser_toneless": "errors_toneless",
    "ser_lm": "errors_lm",
    "ser_lm_toneless": "errors_lm_toneless",
    "cer": "char_errors",
}


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


def _rows(report: dict, path: str) -> dict[str, dict[str, dict]]:
    out = {}
    for source, result in report.get("sources", {}).items():
        rows = result.get("per_utterance")
        if rows:
            out[source] = {row["id"]: row for row in rows}
    if not out:
        raise ValueError(f"{path}: no per-utterance rows (run evaluate without --brief)")
    return out


def _ref_length(row: dict, field: str) -> int:
    if field == "char_errors":
        from ..training.metrics import hanzi_chars

        return len(hanzi_chars(row.get("text_ref", "")))
    return len(row["ref"].split())


def compare(a: dict, b: dict, draws: int = 10000, level: float = 0.95, names: tuple[str, str] = ("A", "B")) -> dict:
    """``{source: {metric: paired_bootstrap result}}`` over the utterances both reports scored."""
    from ..training.metrics import paired_bootstrap

    rows_a, rows_b = _rows(a, names[0]), _rows(b, names[1])
    out: dict[str, dict] = {}
    for source in rows_a.keys() & rows_b.keys():
        ids = [i for i in rows_a[source] if i in rows_b[source]]
        if not ids:
            continue
        out[source] = {}
        pairs = [(rows_a[source][i], rows_b[source][i]) for i in ids]
        for metric, field in METRICS.items():
            if not all(field in ra and field in rb for ra, rb in pairs):
                continue
            lengths = [_ref_length(ra, field) for ra, _ in pairs]
            out[source][metric] = paired_bootstrap(
                [ra[field] for ra, _ in pairs], [rb[field] for _, rb in pairs], lengths, draws=draws, level=level
            )
    if not out:
        raise ValueError(f"{names[0]} and {names[1]} share no scored utterances")
    return out


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level)
    if args.draws < 100 or not 0.5 <= args.level < 1:
        logger.error("--draws must be at least 100 and --level in [0.5, 1)")
        return 2
    try:
        reports = [json.loads(Path(p).read_text(encoding="utf-8")) for p in (args.a, args.b)]
        result = compare(*reports, draws=args.draws, level=args.level, names=(args.a, args.b))
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
