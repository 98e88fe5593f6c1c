"""The selection rule a new acoustic model must pass to replace the shipped one.

models/zh_dcnn_v1/HISTORY.md, "Selection rule from v32 on" (fixed before the
candidates it judges were trained): a candidate may replace the shipped model when

1. its dev mean (toneful SER of synth-v1/heldout and real-train/heldout) is at
   most 0.5 points above the shipped model's;
2. it reads one of the two held-out-voice sets (synth-v1/heldout, the unseen
   voice) better, the 95 % paired-bootstrap interval of the toneless
   difference leaving out zero, and the other no more than 0.5 points worse
   (toneful);
3. it passes both real-speech guards (:mod:`.guards`);

and the passing candidate with the lowest mean toneful SER of the three sets
wins. Reports are ``{"sources": {role: evaluate_items() result with
per_utterance rows}, "guards": GuardCounts.to_json()}``, keyed by the roles below.
``bench/selection_rule.py`` scores the models and applies this.
"""

from __future__ import annotations

from .metrics import compare_reports

#: The rule's margins (fractions): condition 1's and condition 2's "no more than 0.5 points worse".
DEV_MARGIN = 0.005
OTHER_SET_MARGIN = 0.005

#: Set roles: the first three are the rule's, the other two reported only.
SYNTH, REAL_TRAIN, UNSEEN, SYLLABLES, REAL_DEV = "synth", "real_train", "unseen", "syllables", "real_dev"


def rate(report: dict, role: str, metric: str = "ser") -> float:
    return report["sources"][role][metric]["rate"]


def judge(base: dict, cand: dict) -> dict:
    """The rule's three conditions for one candidate against the baseline."""
    dev = {n: (rate(r, SYNTH) + rate(r, REAL_TRAIN)) / 2 for n, r in (("base", base), ("cand", cand))}
    boot = compare_reports(
        {"sources": {k: base["sources"][k] for k in (SYNTH, UNSEEN)}},
        {"sources": {k: cand["sources"][k] for k in (SYNTH, UNSEEN)}},
    )
    better = {role: boot[role]["ser_toneless"]["high"] < 0 for role in (SYNTH, UNSEEN)}
    worse = {role: rate(cand, role) - rate(base, role) for role in (SYNTH, UNSEEN)}
    level = {role: worse[role] <= OTHER_SET_MARGIN for role in (SYNTH, UNSEEN)}
    cond1 = dev["cand"] <= dev["base"] + DEV_MARGIN
    cond2 = (better[SYNTH] and level[UNSEEN]) or (better[UNSEEN] and level[SYNTH])
    return {
        "dev_mean": dev["cand"],
        "dev_mean_bound": dev["base"] + DEV_MARGIN,
        "condition_1": cond1,
        "toneless_bootstrap": {role: boot[role]["ser_toneless"] for role in (SYNTH, UNSEEN)},
        "toneful_diff": worse,
        "condition_2": cond2,
        "guards": cand["guards"]["passed"],
        "passed": cond1 and cond2 and cand["guards"]["passed"],
    }


def three_set_mean(report: dict) -> float:
    return sum(rate(report, role) for role in (SYNTH, REAL_TRAIN, UNSEEN)) / 3


def choose(reports: dict[str, dict], verdicts: dict[str, dict]) -> str | None:
    """The passing candidate with the lowest three-set mean, or None (keep the shipped model)."""
    passing = [name for name, v in verdicts.items() if v["passed"]]
    return min(passing, key=lambda name: three_set_mean(reports[name])) if passing else None
