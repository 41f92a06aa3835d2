"""Replay simulation: a policy shows its lists day by day on a time-ordered data set.

The model is fitted once on everything before the last ``days`` days (a global time cut-off,
:func:`recsys.data.splits.split_dataset` with method ``time``). Then, day by day, every user
who buys (or rates) something that day gets the policy's K-item list from the model's
candidates; a listed item the user takes up that day for the first time is a hit. The policy
learns online from what it showed and what hit (Thompson sampling's Beta posteriors, LinUCB's
exposure); the model itself is not refitted. Per day: users, slots shown, hits, tail hits,
tail exposure (tail share of the shown slots), tail items *discovered* (a first hit for a
tail item during the replay) and the regret against the best fixed list
(:func:`~recsys.feedback.regret.best_fixed_hits`), with running totals; and the feedback log
of every shown slot with its propensity, so the replay of one policy can be evaluated
off-policy for another.

The expensive part is shared: :func:`prepare_replay` fits the model, scores every day's
candidates and (for Thompson sampling) learns the calibrated prior once;
:func:`~recsys.feedback.arms.run_arm` then replays any number of policies and seeds on it
(:mod:`recsys.feedback.simulation` compares them).

Replay on logged data is biased toward the logging policy: the interactions that reveal the
rewards happened under whatever the shop showed at the time, so items the shop never showed
rarely appear as hits, and a policy that explores them is under-credited. The summary says so;
:mod:`recsys.feedback.ope` gives the off-policy estimate beside it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pandas as pd

from recsys.cache import CountProgress
from recsys.data.dataset import Dataset
from recsys.feedback.arms import Arm, run_arm
from recsys.feedback.policies import PolicyConfig
from recsys.feedback.prepare import (
    DAY_COLUMNS,
    LOG_COLUMNS,
    PreparedReplay,
    ReplayConfig,
    ReplayDay,
    prepare_replay,
    replay_split,
)

__all__ = ["ReplayConfig", "ReplayResult", "ReplayDay", "PreparedReplay", "replay",
           "replay_split", "prepare_replay", "replay_summary", "DAY_COLUMNS", "LOG_COLUMNS",
           "BIAS_NOTE"]

BIAS_NOTE = ("Replay on logged data is biased toward the logging policy: the interactions that "
             "reveal rewards happened under what the shop showed at the time, so items it never "
             "showed rarely hit and exploring policies are under-credited. Read it beside an "
             "off-policy estimate (python -m recsys ope) on a log with propensities.")


@dataclass(frozen=True, eq=False)
class ReplayResult:
    """Per-day rows (:data:`DAY_COLUMNS`), the summary (JSON-ready) and the feedback log of
    every shown slot (:data:`LOG_COLUMNS`: what ``python -m recsys ope`` reads, plus ``day``)."""

    days: pd.DataFrame
    summary: dict[str, Any]
    log: pd.DataFrame


def replay(model: Any, dataset: Dataset, policy: PolicyConfig, config: ReplayConfig | None = None,
           *, device: str = "cpu", progress: CountProgress | None = None) -> ReplayResult:
    """Fit ``model`` before the last ``config.days`` days, then replay ``policy`` day by day
    (one seed; :func:`recsys.feedback.simulation.simulate` compares policies over seeds).

    Raises ``ValueError`` without timestamps or without data before the replayed days."""
    t0 = time.perf_counter()
    prepared = prepare_replay(model, dataset, config, new_item_days=policy.new_item_days,
                              thompson_prior=policy.policy == "thompson"
                              and policy.prior == "calibrated", device=device)
    arm = Arm.from_policy(policy)
    run = run_arm(prepared, arm, policy.seed, progress=progress)
    summary = replay_summary(run.days, prepared, arm.describe(policy.seed),
                             time.perf_counter() - t0)
    return ReplayResult(run.days, summary, run.log_frame(prepared.train))


def replay_summary(frame: pd.DataFrame, prepared: PreparedReplay, policy: dict[str, Any],
                   seconds: float) -> dict[str, Any]:
    """Totals of one replay's per-day rows, with its settings and :data:`BIAS_NOTE`."""
    slots = int(frame["slots"].sum())
    tail_slots = float((frame["tail_exposure"] * frame["slots"]).sum())
    model = prepared.model
    return {
        "model": getattr(model, "name", type(model).__name__),
        "policy": policy,
        "replay": prepared.config.model_dump(mode="json"),
        "train_until": prepared.start.strftime("%Y-%m-%d"),
        "train_pairs": prepared.train.n_pairs,
        "user_days": int(frame["users"].sum()),
        "slots": slots,
        "hits": int(frame["hits"].sum()),
        "tail_hits": int(frame["tail_hits"].sum()),
        "tail_items_discovered": int(frame["discovered_tail"].sum()),
        "tail_exposure": tail_slots / slots if slots else 0.0,
        "hit_rate_per_slot": float(frame["hits"].sum() / slots) if slots else 0.0,
        "best_fixed_hits": int(frame["best_fixed_hits"].sum()),
        "regret": int(frame["regret"].sum()),
        "model_refitted": False,
        "model_updated_online": prepared.updated,
        "fit_s": round(prepared.fit_s, 3),
        "seconds": round(seconds, 3),
        "note": BIAS_NOTE,
    }
