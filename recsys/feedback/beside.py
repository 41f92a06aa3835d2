"""The off-policy estimate beside a replay.

A replay credits a policy with the hits its lists got on logged interactions, which favours
whatever the shop showed when they were logged (:data:`~recsys.feedback.replay.BIAS_NOTE`).
Beside it, :func:`ope_beside` estimates the same policy off-policy, the way a shop would
before switching it on: the *logging* policy's replay (the model's plain greedy lists) is the
feedback log, with its propensities, and the *target* is the exploring policy's full slot
distribution on the same user-day lists (every item it could have shown at each rank, with
its probability). IPS, SNIPS and DR (:func:`~recsys.feedback.ope.off_policy_estimates`) then
give its reward per shown slot with a standard error, a 95 % bootstrap interval over user-days,
the effective sample size and warnings (a deterministic log supports only the slots the
target shows exactly as logged; DR's reward model guesses the rest). The **cost** of
exploring is the logging policy's own hit rate per slot minus the estimate (positive: the
exploring policy is expected to get fewer hits per slot).

For a stochastic target (ε-greedy, Thompson) the reverse is estimated too: the greedy lists
evaluated on the exploring policy's own log, whose propensities support them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from recsys.feedback.arms import ArmRun
from recsys.feedback.logs import FeedbackLog, TargetLists
from recsys.feedback.ope import ESTIMATORS, off_policy_estimates

__all__ = ["ope_beside", "as_log", "as_target", "deterministic_target"]


def as_log(run: ArmRun) -> FeedbackLog:
    """An arm's replay as a feedback log keyed by user-day (its lists are one per user-day)."""
    return FeedbackLog(run.key, run.item, run.position, run.propensity,
                       run.reward.astype(np.float64), [])


def as_target(run: ArmRun) -> TargetLists:
    """An arm's slot distribution (kept with ``run_arm(..., keep_targets=True)``)."""
    t = run.targets
    if not t:
        raise ValueError("the run kept no slot distribution: replay it with keep_targets=True")
    return TargetLists(t["key"], t["item"], t["rank"], t["prob"])


def deterministic_target(run: ArmRun) -> TargetLists:
    """The lists an arm showed, each slot with probability 1 (greedy's distribution)."""
    return TargetLists(run.key, run.item, run.position, np.ones(len(run.key)))


def _hit_rate(run: ArmRun) -> float:
    return float(run.reward.mean()) if len(run.reward) else 0.0


def _estimate(log_run: ArmRun, target: TargetLists, estimators: Sequence[str], bootstrap: int,
              seed: int) -> dict[str, Any]:
    result = off_policy_estimates(as_log(log_run), target, estimators, bootstrap=bootstrap,
                                  seed=seed).to_dict()
    result["logging_policy"] = log_run.arm.name
    return result


def ope_beside(logging: ArmRun, target: ArmRun, *, estimators: Sequence[str] = ESTIMATORS,
               bootstrap: int = 200, seed: int = 0) -> dict[str, Any]:
    """The target arm's off-policy estimate on the logging arm's replay log, next to the
    target's own replay hit rate, with the cost of switching from the logging policy
    (``cost``: per estimator, the logging hit rate minus the estimate, and its interval), and
    for a stochastic target the reverse estimate (``greedy_on_target_log``). JSON-ready.

    Raises ``ValueError`` when the target run kept no slot distribution."""
    out = _estimate(logging, as_target(target), estimators, bootstrap, seed)
    logged = _hit_rate(logging)
    out["target_policy"] = target.arm.name
    out["replay_hit_rate"] = _hit_rate(target)
    out["logging_hit_rate"] = logged
    cost = {}
    for name, est in out["estimators"].items():
        lo, hi = est["ci95"]
        cost[name] = {"value": None if est["value"] is None else logged - est["value"],
                      "ci95": [None if hi is None else logged - hi,
                               None if lo is None else logged - lo]}
    out["cost"] = cost
    if not target.arm.deterministic and len(target.key):
        reverse = _estimate(target, deterministic_target(logging), estimators, bootstrap, seed)
        reverse["target_policy"] = logging.arm.name
        reverse["replay_hit_rate"] = logged
        out["greedy_on_target_log"] = reverse
    return out
