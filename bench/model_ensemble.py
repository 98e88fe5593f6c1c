"""Posterior ensembles of acoustic models, and frame-shift views, side by side.

Two test-time ideas beyond the tempo views (``bench/tempo_views.py``), each scored
on the same clips as the model alone:

- **ensemble**: several model directories (same vocabulary and time stride) each
  run with their own tempo views; their combined CTC posteriors are averaged
  again in the log domain (a geometric mean) and decoded greedily, as one model;
- **shift views**: every tempo view is also run with ``s`` frames of silence in
  front (``--shifts 0,4``: half the 8-frame output step), so each output step
  sees the clip at another phase; all views are interpolated onto the slowest
  view's grid and combined like the tempo views.

Per source and candidate: greedy acoustic ``SER`` and ``toneless``, and with
``--lm`` the language model's toneless reading and CER (n-best 10, as the
servers decode). Choose on the dev sets of the training cache
(``synth-v1/heldout``, ``real-train/heldout``); real-dev is scored, never
chosen on. Nothing is asserted; results go to bench/results/model_ensemble.json.

Earlier revisions of the shipped model are checked out as model directories with
``git show <commit>:models/zh_dcnn_v1/<file>`` (the model card names the commits).

Usage: python bench/model_ensemble.py --member models/zh_dcnn_v1 --member /tmp/rev6 \
           [--member ...] [--shifts 0,4] [--lm models/lm] [SOURCE ...]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lm_nbest import default_sources  # noqa: E402  (bench/ is on the path: same default sources)

from asrt_service import features  # noqa: E402
from asrt_service.acoustic_model import AcousticModel  # noqa: E402
from asrt_service.training import evaluate as ev  # noqa: E402


def view_probs(model: AcousticModel, feats: np.ndarray, shifts: Sequence[int]) -> np.ndarray:
    """One clip's mean log-posteriors over every (tempo view x shift), on the slowest view's grid.

    ``acoustic_model.combine_views`` with a frame shift per view; without shifts
    the ensemble calls ``AcousticModel.batch_probs`` instead.
    """
    stride = model.spec.time_stride
    rates = model.tempo_views
    views, meta = [], []
    for rate in rates:
        tv = features.tempo_view(feats, rate)
        for s in shifts:
            views.append(np.concatenate([np.zeros((s, feats.shape[1]), np.float32), tv]) if s else tv)
            meta.append((rate, s))
    longest = -(-max(len(v) for v in views) // stride) * stride
    batch = np.zeros((len(views), longest, feats.shape[1], 1), np.float32)
    for i, v in enumerate(views):
        batch[i, : len(v), :, 0] = v
    probs = model.infer(batch)
    slowest = min(rates)
    n = -(-len(features.tempo_view(feats, slowest)) // stride)
    t = (np.arange(n) + 0.5) * stride * slowest
    total = np.zeros((n, probs.shape[2]), np.float64)
    for i, (rate, s) in enumerate(meta):
        p = probs[i, : -(-len(views[i]) // stride)]
        if len(p) == 0:
            return np.zeros((0, probs.shape[2]), np.float32)
        pos = np.clip((t / rate + s) / stride - 0.5, 0, len(p) - 1)
        total += np.log(features.resample_axis(p, pos, axis=0) + 1e-8)
    return total / len(meta)


class Ensemble:
    """The slice of ``AcousticModel`` that ``evaluate_items`` uses, over several models.

    ``features`` passes the waveform through, so that members with different
    front ends each compute their own.
    """

    def __init__(self, members: Sequence[AcousticModel], shifts: Sequence[int]) -> None:
        stride = {m.spec.time_stride for m in members}
        if len(stride) != 1 or len({tuple(m.vocab.syllables) for m in members}) != 1:
            raise SystemExit("ensemble members need one vocabulary and one time stride")
        self.members = list(members)
        self.shifts = tuple(shifts)
        self.name = " + ".join(m.name for m in members)

    def features(self, waveform: np.ndarray) -> np.ndarray:
        return np.asarray(waveform, dtype=np.float32)

    def nbest_features(self, waveforms: Sequence[np.ndarray], k: int):
        out = []
        for w in waveforms:
            if self.shifts == (0,):  # the servers' own path: tempo views combined by batch_probs
                logs = [np.log(m.batch_probs([m.features(w)])[0][0] + 1e-8) for m in self.members]
            else:
                logs = [view_probs(m, m.features(w), self.shifts) for m in self.members]
            n = min(len(x) for x in logs)
            total = np.mean([x[:n] for x in logs], axis=0)
            total -= total.max(axis=1, keepdims=True) if n else 0
            p = np.exp(total)
            p /= p.sum(axis=1, keepdims=True) if n else 1
            out.append(self.members[0].alternatives(p.astype(np.float32), n, k))
        return out


def score_candidates(candidates: Sequence[tuple[str, object]], sources: Sequence[str], lm=None) -> list[dict]:
    """Score each ``(label, model)`` on each source as ``evaluate`` does, one clip per batch; print a row each.

    A model is anything with ``features`` and ``nbest_features`` (an
    ``AcousticModel``, an ``Ensemble``). Rows hold greedy ``ser`` and
    ``ser_toneless``, and with ``lm`` its toneless reading and CER.
    """
    rows = []
    for src in sources:
        items = ev.load_items(src)
        for label, model in candidates:
            r = ev.evaluate_items(model, items, lm=lm, batch_frames=1, keep_utterances=False)
            row = {
                "source": src,
                "candidate": label,
                "utterances": len(items),
                "ser": r["ser"]["rate"],
                "ser_toneless": r["ser_toneless"]["rate"],
            }
            if lm is not None:
                row["ser_lm_toneless"] = r["ser_lm_toneless"]["rate"]
                row["cer"] = r["cer"]["rate"] if "cer" in r else None
            rows.append(row)
            print(
                f"{Path(src).name:24s} {label:40s} "
                + "  ".join(
                    f"{k} {v * 100:5.1f} %"
                    for k, v in row.items()
                    if k not in {"source", "candidate", "utterances"} and v is not None
                ),
                flush=True,
            )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--member", action="append", required=True, help="model directory (repeat; the first alone is the baseline)"
    )
    ap.add_argument("--views", default="1,0.95,0.9,0.85,0.8", help="tempo views of every member")
    ap.add_argument("--shifts", default="", help="frame shifts to compare with the baseline, e.g. 0,4")
    ap.add_argument("--lm", default=None, help="language model directory (e.g. models/lm)")
    ap.add_argument("--output", default=str(ROOT / "bench/results/model_ensemble.json"))
    ap.add_argument("sources", nargs="*")
    args = ap.parse_args()
    rates = tuple(float(x) for x in args.views.split(","))
    members = []
    for d in args.member:
        m = AcousticModel.load(d)
        m.tempo_views = rates
        members.append(m)
    candidates = [(f"{Path(args.member[0]).name} alone", Ensemble(members[:1], (0,)))]
    for i in range(1, len(members)):
        candidates.append((f"+ {args.member[i]}", Ensemble([members[0], members[i]], (0,))))
    if len(members) > 2:
        candidates.append(("all members", Ensemble(members, (0,))))
    if args.shifts:
        shifts = tuple(int(s) for s in args.shifts.split(","))
        candidates.append((f"{Path(args.member[0]).name}, shifts {args.shifts}", Ensemble(members[:1], shifts)))
    lm = ev.load_lm(args.lm)
    rows = score_candidates(candidates, args.sources or [str(s) for s in default_sources()], lm)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": platform.node(), "views": list(rates), "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
