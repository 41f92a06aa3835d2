"""What every replayed policy shares: the time split, the fitted model and each day's
candidates (:func:`prepare_replay`), computed once for any number of policies and seeds.

The model is fitted once on everything before the last ``days`` days (a global time cut-off,
:func:`recsys.data.splits.split_dataset` with method ``time``). Each replayed day keeps the
candidates of the users active that day (the model's best ``C`` unseen items, then its best
``C`` tail / new items), the day's new pairs and the hits of that day's best fixed list
(:func:`~recsys.feedback.regret.best_fixed_hits`); with a Thompson policy on the calibrated
prior, the hit model's prior means too.

With ``update_model`` (the default) the loop closes as it would in the shop: after each day, a
copy of the model folds that day's interactions in (:meth:`~recsys.models.base.Recommender.
update`: fold-in, no retrain) and the next day's candidates come from it, so what customers
took yesterday is out of today's lists and their histories count. The day's interactions are
the logged ones, the same for every policy, so the candidates are still shared by all policies
and seeds. Models that cannot be updated online (blends) keep their first fit, and say so.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from recsys.data.dataset import Dataset
from recsys.data.splits import Split, SplitConfig, split_dataset
from recsys.feedback.items import exploration_targets
from recsys.feedback.policies import PolicyConfig
from recsys.feedback.pools import calibration_model, prior_means, with_target_candidates
from recsys.feedback.regret import best_fixed_hits
from recsys.rerank import Candidates, candidates_from_model

__all__ = ["ReplayConfig", "ReplayDay", "PreparedReplay", "replay_split", "prepare_replay",
           "DAY_COLUMNS", "LOG_COLUMNS"]

DAY_COLUMNS: tuple[str, ...] = (
    "day", "date", "users", "slots", "hits", "tail_hits", "tail_exposure", "discovered_tail",
    "best_fixed_hits", "regret", "cumulative_hits", "cumulative_tail_hits",
    "cumulative_discovered_tail", "cumulative_regret")
LOG_COLUMNS: tuple[str, ...] = ("user_id", "item_id", "position", "propensity", "reward", "day")
class ReplayConfig(BaseModel):
    """How long and how wide the replay is."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    days: int = Field(14, ge=1, le=366, description="Days at the end of the data replayed.")
    k: int = Field(10, ge=1, le=500, description="List length K.")
    candidates: int = Field(100, ge=1, le=5000, description="Model candidates per user (and "
                            "as many tail / new items) the policy chooses from.")
    update_model: bool = Field(True, description="Fold each replayed day's interactions into "
                               "the model (an online update, as the shop would) before the next "
                               "day's lists; off: the model stays as fitted before the days.")


@dataclass(frozen=True, eq=False)
class ReplayDay:
    """One replayed day: its active users' candidates (the model's best ``C`` unseen items,
    then its best ``C`` tail / new items), the day's new pairs as ``user * n_items + item``
    keys, Thompson's calibrated prior means of the candidates (``None`` without a hit model)
    and the hits of the best fixed list of that day."""

    cands: Candidates
    truth: np.ndarray
    prior: np.ndarray | None
    best_fixed: int


@dataclass(frozen=True, eq=False)
class PreparedReplay:
    """What every policy's replay shares: the fitted model, the train part, the first
    replayed day, the exploration targets and every day's candidates."""

    model: Any
    train: Dataset
    start: pd.Timestamp
    config: ReplayConfig
    new_item_days: float | None
    targets: np.ndarray
    days: list[ReplayDay]
    hit_model: Any
    fit_s: float
    prepare_s: float
    #: Whether each day's candidates came from the model updated with the days before.
    updated: bool = False

    @property
    def has_prior(self) -> bool:
        """Whether Thompson's calibrated prior (the hit model) was learned."""
        return self.hit_model is not None


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


def _day_pool(model: Any, train: Dataset, users: np.ndarray, c: int, targets: np.ndarray,
              hit_model: Any) -> tuple[Candidates, np.ndarray | None]:
    """The candidates (best ``c`` unseen, then best ``c`` targets) of every customer active on
    some replayed day, scored once, for a replay whose model is not updated between the days
    (``update_model`` off, or a model that cannot update): it then excludes the same training
    items every day, so a customer's candidates are the same on every day they come back;
    each day takes its customers' rows. Also their prior means (``None`` without a hit model). A replay that
    updates the model scores each day afresh instead."""
    pool = candidates_from_model(model, train, users, c, exclude=train.known)
    pool = with_target_candidates(model, train, pool, c, targets, train.known, None)
    return pool, prior_means(hit_model, pool, train) if len(users) else None


def _no_candidates(model: Any, train: Dataset, c: int, targets: np.ndarray) -> Candidates:
    """The candidates of a day without customers (no rows, the columns of a day with some)."""
    empty = candidates_from_model(model, train, np.zeros(0, dtype=np.int64), c,
                                  exclude=train.known)
    return with_target_candidates(model, train, empty, c, targets, train.known, None)


def prepare_replay(model: Any, dataset: Dataset, config: ReplayConfig | None = None, *,
                   new_item_days: float | None = None, thompson_prior: bool = False,
                   device: str | None = "cpu", fit: bool = True,
                   step: Callable[[str], None] | None = None) -> PreparedReplay:
    """Fit ``model`` before the last ``config.days`` days (unless ``fit`` is False: it was
    fitted on that part already) and score every replayed customer's candidates once (a
    customer active on several days is scored once, see :func:`_day_pool`); with
    ``thompson_prior`` also learn Thompson's calibrated prior (the hit model, on an inner split
    of the train part). ``step(message)`` is called before each stage (a job's cancel hook).

    Raises ``ValueError`` without timestamps or without data before the replayed days."""
    config = config or ReplayConfig()
    say = step or (lambda _m: None)
    split, start = replay_split(dataset, config.days)
    train = split.train
    t0 = time.perf_counter()
    if fit:
        say("fitting the model before the replayed days")
        model.fit(train, device=device)
    fit_s = time.perf_counter() - t0
    hit_model = None
    if thompson_prior:
        say("learning Thompson's prior on an inner split")
        hit_model = calibration_model(model, train, PolicyConfig(policy="thompson"),
                                      device=device, c=config.candidates)
    targets = exploration_targets(train, new_item_days)
    pairs = split.test_pairs
    day = _day_of(pairs, start)
    n_items = train.n_items
    best = best_fixed_hits(day, pairs["item"].to_numpy(np.int64), config.days, n_items, config.k)
    c = max(config.candidates, config.k)
    users_of = pairs["user"].to_numpy(np.int64)
    live = _online_copy(model) if config.update_model else None
    if live is None:
        say(f"scoring the candidates of the customers of {config.days} days")
        pool, prior_pool = _day_pool(model, train, np.unique(users_of), c, targets, hit_model)
    days = []
    for d in range(config.days):
        say(f"candidates of day {d + 1} of {config.days}")
        today = pairs.loc[day == d]
        users = np.unique(today["user"].to_numpy(np.int64))
        if not len(users):
            cands, prior = _no_candidates(model, train, c, targets), None
        elif live is not None:  # the model as updated with the days before: score today
            cands = candidates_from_model(live, train, users, c, exclude=live.exclusion)
            cands = with_target_candidates(live, train, cands, c, targets, live.exclusion, None)
            prior = prior_means(hit_model, cands, train)
        else:
            rows = np.searchsorted(pool.users, users)
            cands = pool.take(rows)
            prior = prior_pool[rows] if prior_pool is not None else None
        day_users = today["user"].to_numpy(np.int64)
        day_items = today["item"].to_numpy(np.int64)
        days.append(ReplayDay(cands, np.sort(day_users * n_items + day_items), prior,
                              int(best[d])))
        if live is not None and len(today) and d + 1 < config.days:
            new = sp.csr_matrix((np.ones(len(today), np.float32), (day_users, day_items)),
                                shape=live.seen_.shape)
            live.update(new, events=(day_users, day_items))
    return PreparedReplay(model, train, start, config, new_item_days, targets, days, hit_model,
                          fit_s, time.perf_counter() - t0, updated=live is not None)


def _online_copy(model: Any) -> Any | None:
    """A copy of ``model`` to update day by day (the fitted one stays as it is, for the next
    replay), or ``None`` when the model cannot be updated online."""
    target = getattr(model, "inner_", None) or model
    if not getattr(target, "updatable", False) or not hasattr(model, "update"):
        return None
    return copy.deepcopy(model)
