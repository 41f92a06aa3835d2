"""Replay simulation: a policy shows its lists day by day on a time-ordered data set.

The model is fitted once on everything before the last ``days`` days (a global time cut-off,
:func:`recsys.data.splits.split_dataset` with method ``time``). Then, day by day, every user
who buys (or rates) something that day gets the policy's K-item list from the model's
candidates; a listed item the user takes up that day for the first time is a hit. The policy
learns online from what it showed and what hit (Thompson sampling's Beta posteriors, LinUCB's
exposure); the model itself is not refitted. Per day: users, slots shown, hits, tail hits,
tail exposure (tail share of the shown slots) and tail items *discovered* (a first hit for a
tail item during the replay), with running totals; and the feedback log of every shown slot
with its propensity, so the replay of one policy can be evaluated off-policy for another.

Replay on logged data is biased toward the logging policy: the interactions that reveal the
rewards happened under whatever the shop showed at the time, so items the shop never showed
rarely appear as hits, and a policy that explores them is under-credited. The summary says so;
:mod:`recsys.feedback.ope` gives the off-policy estimate beside it when a feedback log with
propensities exists.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from recsys.cache import CountProgress
from recsys.data.dataset import Dataset
from recsys.data.splits import Split, SplitConfig, split_dataset
from recsys.feedback.policies import ItemFeedback, PolicyConfig, explore
from recsys.feedback.pools import (
    calibration_model,
    policy_inputs,
    prior_means,
    with_target_candidates,
)
from recsys.rerank import candidates_from_model

__all__ = ["ReplayConfig", "ReplayResult", "replay", "replay_split", "DAY_COLUMNS", "LOG_COLUMNS",
           "BIAS_NOTE"]

log = logging.getLogger(__name__)

DAY_COLUMNS: tuple[str, ...] = (
    "day", "date", "users", "slots", "hits", "tail_hits", "tail_exposure", "discovered_tail",
    "cumulative_hits", "cumulative_tail_hits", "cumulative_discovered_tail")
LOG_COLUMNS: tuple[str, ...] = ("user_id", "item_id", "position", "propensity", "reward", "day")
BIAS_NOTE = ("Replay on logged data is biased toward the logging policy: the interactions that "
             "reveal rewards happened under what the shop showed at the time, so items it never "
             "showed rarely hit and exploring policies are under-credited. Read it beside an "
             "off-policy estimate (python -m recsys ope) on a log with propensities.")


class ReplayConfig(BaseModel):
    """How long and how wide the replay is."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    days: int = Field(14, ge=1, le=366, description="Days at the end of the data replayed.")
    k: int = Field(10, ge=1, le=500, description="List length K.")
    candidates: int = Field(100, ge=1, le=5000, description="Model candidates per user (and "
                            "as many tail / new items) the policy chooses from.")


@dataclass(frozen=True, eq=False)
class ReplayResult:
    """Per-day rows (:data:`DAY_COLUMNS`), the summary (JSON-ready) and the feedback log of
    every shown slot (:data:`LOG_COLUMNS`: what ``python -m recsys ope`` reads, plus ``day``)."""

    days: pd.DataFrame
    summary: dict[str, Any]
    log: pd.DataFrame


def replay_split(dataset: Dataset, days: int) -> tuple[Split, pd.Timestamp]:
    """The train part (before the first replayed day, midnight) and the held-out pairs."""
    if not dataset.has_timestamps:
        raise ValueError("a replay needs timestamps: map a date column (e.g. --columns "
                         "timestamp=InvoiceDate)")
    stamps = pd.to_datetime(dataset.interactions["timestamp"])
    start = stamps.max().normalize() - pd.Timedelta(days=days - 1)
    if not (stamps < start).any():
        raise ValueError(f"nothing is left to train on before the last {days} days "
                         f"(the data starts {stamps.min():%Y-%m-%d}); replay fewer days")
    return split_dataset(dataset, SplitConfig(method="time", cutoff=start.to_pydatetime())), start


def _day_of(pairs: pd.DataFrame, start: pd.Timestamp) -> np.ndarray:
    ts = pd.to_datetime(pairs["timestamp"]).dt.normalize()
    return ((ts - start) // pd.Timedelta(days=1)).to_numpy(dtype=np.int64)


def replay(model: Any, dataset: Dataset, policy: PolicyConfig, config: ReplayConfig | None = None,
           *, device: str = "cpu", progress: CountProgress | None = None) -> ReplayResult:
    """Fit ``model`` before the last ``config.days`` days, then replay ``policy`` day by day.

    Raises ``ValueError`` without timestamps or without data before the replayed days."""
    config = config or ReplayConfig()
    split, start = replay_split(dataset, config.days)
    train = split.train
    t0 = time.perf_counter()
    model.fit(train, device=device)
    fit_s = time.perf_counter() - t0  # the hit model (Thompson's calibrated prior) comes after
    pairs = split.test_pairs
    day = _day_of(pairs, start)
    n_items = train.n_items
    is_tail = np.asarray(train.is_tail, dtype=bool)
    inputs = policy_inputs(train, policy)
    hit_model = calibration_model(model, train, policy, device=device)
    shows, hits_per_item = np.zeros(n_items), np.zeros(n_items)
    discovered = np.zeros(n_items, dtype=bool)
    rows, logs, totals = [], [], np.zeros(3)
    for d in range(config.days):
        today = pairs.loc[day == d]
        users = np.unique(today["user"].to_numpy())
        stats = _replay_day(model, train, users, today, policy.model_copy(
            update={"seed": policy.seed + d}), config, inputs, shows, hits_per_item, is_tail,
            hit_model)
        new_tail = stats.pop("hit_items")
        logs.append(stats.pop("log").assign(day=d + 1))
        fresh = new_tail & ~discovered
        discovered |= new_tail
        totals += (stats["hits"], stats["tail_hits"], int(fresh.sum()))
        rows.append({"day": d + 1, "date": (start + pd.Timedelta(days=d)).strftime("%Y-%m-%d"),
                     **stats, "discovered_tail": int(fresh.sum()),
                     "cumulative_hits": int(totals[0]), "cumulative_tail_hits": int(totals[1]),
                     "cumulative_discovered_tail": int(totals[2])})
        if progress is not None:
            progress(d + 1, config.days)
    frame = pd.DataFrame(rows, columns=list(DAY_COLUMNS))
    log_frame = pd.concat(logs, ignore_index=True)[list(LOG_COLUMNS)]
    return ReplayResult(frame, _summary(frame, model, train, policy, config, start, fit_s,
                                        time.perf_counter() - t0), log_frame)


def _replay_day(model: Any, train: Dataset, users: np.ndarray, today: pd.DataFrame,
                policy: PolicyConfig, config: ReplayConfig, inputs: dict[str, Any],
                shows: np.ndarray, hits: np.ndarray, is_tail: np.ndarray,
                hit_model: Any = None) -> dict[str, Any]:
    """One day: lists for today's users, hits against today's new pairs, the policy's feedback
    (``shows`` and ``hits`` updated in place)."""
    n_items = train.n_items
    if not len(users):
        return {"users": 0, "slots": 0, "hits": 0, "tail_hits": 0, "tail_exposure": 0.0,
                "hit_items": np.zeros(n_items, dtype=bool),
                "log": pd.DataFrame(columns=list(LOG_COLUMNS[:-1]))}
    c = max(config.candidates, config.k)
    cands = candidates_from_model(model, train, users, c, exclude=train.known)
    if policy.policy != "greedy":
        cands = with_target_candidates(model, train, cands, c, inputs["targets"], train.known,
                                       None)
    feedback = ItemFeedback(shows.copy(), hits.copy())
    extra = dict(inputs, feedback=feedback)
    if policy.policy == "linucb":
        extra["exposure"] = np.asarray(train.popularity, dtype=np.float64) + shows
    lists = explore(cands.users, cands.items, cands.scores, config.k, policy,
                    prior_mean=prior_means(hit_model, cands, train), **extra)
    shown = lists.items >= 0
    user_rows = np.repeat(cands.users, config.k).reshape(lists.items.shape)[shown]
    items = lists.items[shown]
    truth = today["user"].to_numpy(np.int64) * n_items + today["item"].to_numpy(np.int64)
    hit = np.isin(user_rows * n_items + items, truth)
    shows += np.bincount(items, minlength=n_items)
    hits += np.bincount(items[hit], minlength=n_items)
    hit_items = np.zeros(n_items, dtype=bool)
    hit_items[items[hit & is_tail[items]]] = True
    log = pd.DataFrame({"user_id": train.user_ids[user_rows].astype(str),
                        "item_id": train.item_ids[items].astype(str),
                        "position": np.tile(np.arange(1, config.k + 1),
                                            (len(cands.users), 1))[shown],
                        "propensity": lists.propensity[shown], "reward": hit.astype(np.int64)})
    return {"users": len(users), "slots": int(shown.sum()), "hits": int(hit.sum()),
            "tail_hits": int((hit & is_tail[items]).sum()),
            "tail_exposure": float(is_tail[items].mean()) if len(items) else 0.0,
            "hit_items": hit_items, "log": log}


def _summary(frame: pd.DataFrame, model: Any, train: Dataset, policy: PolicyConfig,
             config: ReplayConfig, start: pd.Timestamp, fit_s: float, seconds: float
             ) -> dict[str, Any]:
    slots = int(frame["slots"].sum())
    tail_slots = float((frame["tail_exposure"] * frame["slots"]).sum())
    return {
        "model": getattr(model, "name", type(model).__name__),
        "policy": policy.model_dump(mode="json"),
        "replay": config.model_dump(mode="json"),
        "train_until": start.strftime("%Y-%m-%d"),
        "train_pairs": train.n_pairs,
        "user_days": int(frame["users"].sum()),
        "slots": slots,
        "hits": int(frame["hits"].sum()),
        "tail_hits": int(frame["tail_hits"].sum()),
        "tail_items_discovered": int(frame["discovered_tail"].sum()),
        "tail_exposure": tail_slots / slots if slots else 0.0,
        "hit_rate_per_slot": float(frame["hits"].sum() / slots) if slots else 0.0,
        "model_refitted": False,
        "fit_s": round(fit_s, 3),
        "seconds": round(seconds, 3),
        "note": BIAS_NOTE,
    }
