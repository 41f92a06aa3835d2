"""One policy ("arm") replayed day by day on a :class:`~recsys.feedback.replay.PreparedReplay`.

The arms a simulation compares:

* ``greedy``: the model's own top-K (deterministic, propensity 1; the logging policy);
* ``boosted``: the model's top candidates re-ranked by the tail bonus
  (:mod:`recsys.rerank`, strength = the exploration weight; deterministic, propensity 1);
* ``epsilon``, ``thompson``, ``linucb``: the exploration policies of
  :mod:`recsys.feedback.policies`, learning online from what they showed and what hit.

:func:`run_arm` is vectorised over each day's users: the day's candidates come scored from
the prepared replay, so a run costs one policy call and a few array operations per day.
It returns the per-day rows (:data:`~recsys.feedback.replay.DAY_COLUMNS`), the feedback log
of every shown slot as arrays, and on request the arm's full slot distribution (every item it
could have shown at each rank of each user-day list, with its probability): what an
off-policy estimate of this arm on another arm's log needs
(:mod:`recsys.feedback.beside`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from recsys.cache import CountProgress
from recsys.data.dataset import Dataset
from recsys.feedback.items import item_content_vectors
from recsys.feedback.policies import ItemFeedback, PolicyConfig, explore
from recsys.feedback.prepare import DAY_COLUMNS, LOG_COLUMNS, PreparedReplay
from recsys.rerank import Candidates, RerankConfig, lists_from_candidates

__all__ = ["ArmName", "ARMS", "DETERMINISTIC", "Arm", "ArmRun", "run_arm"]

ArmName = Literal["greedy", "boosted", "epsilon", "thompson", "linucb"]
ARMS: tuple[str, ...] = get_args(ArmName)
#: Arms that draw nothing at random: replayed once, whatever the number of seeds (LinUCB's
#: seed only sets its content vectors' SVD).
DETERMINISTIC: frozenset[str] = frozenset({"greedy", "boosted", "linucb"})
#: The re-rank method behind the ``boosted`` arm.
BOOST_METHOD = "tail_bonus"


@dataclass(frozen=True)
class Arm:
    """A policy to replay: its name and the settings shared by every arm of a simulation."""

    name: str
    exploration: float = 0.1
    new_item_days: float | None = None
    prior: Literal["calibrated", "rank"] = "calibrated"
    draws: int = 100

    @classmethod
    def from_policy(cls, policy: PolicyConfig) -> Arm:
        return cls(policy.policy, policy.exploration, policy.new_item_days, policy.prior,
                   policy.draws)

    @property
    def deterministic(self) -> bool:
        return self.name in DETERMINISTIC or self.exploration == 0.0

    def policy(self, seed: int) -> PolicyConfig:
        """The exploration policy's config (``greedy`` for the boosted arm's plain lists)."""
        name = self.name if self.name != "boosted" else "greedy"
        return PolicyConfig(policy=name, exploration=self.exploration,
                            new_item_days=self.new_item_days, prior=self.prior,
                            draws=self.draws, seed=seed)

    def describe(self, seed: int) -> dict[str, Any]:
        """The arm's settings as written into summaries."""
        if self.name == "boosted":
            return {"policy": "boosted", "method": BOOST_METHOD, "strength": self.exploration,
                    "exploration": self.exploration, "new_item_days": self.new_item_days,
                    "seed": seed}
        return self.policy(seed).model_dump(mode="json")


@dataclass(eq=False)
class ArmRun:
    """One arm under one seed: per-day rows, the shown slots (catalog positions; ``key`` =
    ``user * days + day`` identifies the user-day list) and, when kept, the arm's slot
    distribution over the same keys (``t_key, t_item, t_rank, t_prob``)."""

    arm: Arm
    seed: int
    days: pd.DataFrame
    key: np.ndarray
    user: np.ndarray
    item: np.ndarray
    position: np.ndarray
    propensity: np.ndarray
    reward: np.ndarray
    day: np.ndarray
    targets: dict[str, np.ndarray] = field(default_factory=dict)

    def log_frame(self, train: Dataset) -> pd.DataFrame:
        """The feedback log (:data:`~recsys.feedback.replay.LOG_COLUMNS`, ids as text)."""
        return pd.DataFrame({
            "user_id": train.user_ids[self.user].astype(str),
            "item_id": train.item_ids[self.item].astype(str), "position": self.position,
            "propensity": self.propensity, "reward": self.reward, "day": self.day,
        })[list(LOG_COLUMNS)]


def _boosted(cands: Candidates, train: Dataset, k: int, c: int, strength: float
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tail-bonus lists of the model's own ``c`` candidates: items, propensity 1, and the
    (user row, slot, item) triples of the slot distribution."""
    own = Candidates(cands.users, cands.items[:, :c], cands.scores[:, :c])
    items = lists_from_candidates(own, train, k, steps=RerankConfig(
        method=BOOST_METHOD, strength=strength)).items
    if items.shape[1] < k:
        items = np.pad(items, ((0, 0), (0, k - items.shape[1])), constant_values=-1)
    return items, np.where(items >= 0, 1.0, np.nan), items


def run_arm(prepared: PreparedReplay, arm: Arm, seed: int = 0, *,
            progress: CountProgress | None = None, keep_targets: bool = False,
            check: Callable[[], None] | None = None) -> ArmRun:
    """Replay ``arm`` with ``seed`` (day ``d`` draws with ``seed + d``) on ``prepared``.

    ``check()`` is called before every day (a job raises there to cancel); ``progress(done,
    days)`` after it."""
    train, config = prepared.train, prepared.config
    n_items, k, n_days = train.n_items, config.k, config.days
    c = max(config.candidates, config.k)
    is_tail = np.asarray(train.is_tail, dtype=bool)
    shows, hits_per_item = np.zeros(n_items), np.zeros(n_items)
    discovered = np.zeros(n_items, dtype=bool)
    vectors = (item_content_vectors(train, seed=seed) if arm.name == "linucb" else None)
    popularity = np.asarray(train.popularity, dtype=np.float64)
    rows: list[dict[str, Any]] = []
    logs: list[tuple[np.ndarray, ...]] = []
    dist: list[tuple[np.ndarray, ...]] = []
    totals = np.zeros(4)
    for d, day in enumerate(prepared.days):
        if check is not None:
            check()
        cands = day.cands
        n_users = cands.n_users
        if n_users:
            if arm.name == "boosted":
                items, prop, _ = _boosted(cands, train, k, c, arm.exploration)
                marg = None
            else:
                extra: dict[str, Any] = {"targets": prepared.targets, "feedback": ItemFeedback(
                    shows.copy(), hits_per_item.copy())}
                if vectors is not None:
                    extra.update(vectors=vectors, exposure=popularity + shows)
                lists = explore(cands.users, cands.items, cands.scores, k, arm.policy(seed + d),
                                prior_mean=day.prior if arm.prior == "calibrated" else None,
                                **extra)
                items, prop, marg = lists.items, lists.propensity, lists.marginals
            shown = items >= 0
            rows_of = np.repeat(np.arange(n_users), k).reshape(items.shape)[shown]
            user = cands.users[rows_of]
            item = items[shown]
            hit = np.isin(user * n_items + item, day.truth)
            shows += np.bincount(item, minlength=n_items)
            hits_per_item += np.bincount(item[hit], minlength=n_items)
            tail_hit = hit & is_tail[item]
            fresh_items = np.unique(item[tail_hit])
            fresh = int((~discovered[fresh_items]).sum())
            discovered[fresh_items] = True
            key = user * n_days + d
            logs.append((key, user, item, np.tile(np.arange(1, k + 1), (n_users, 1))[shown],
                         prop[shown], hit.astype(np.int64)))
            if keep_targets:
                dist.append(_distribution(cands, items, marg, n_days, d))
            stats = (len(item), int(hit.sum()), int(tail_hit.sum()),
                     float(is_tail[item].mean()) if len(item) else 0.0, fresh)
        else:
            stats = (0, 0, 0, 0.0, 0)
        slots, n_hits, n_tail, exposure, fresh = stats
        regret = day.best_fixed - n_hits
        totals += (n_hits, n_tail, fresh, regret)
        rows.append({"day": d + 1, "date": (prepared.start + pd.Timedelta(days=d)).strftime(
            "%Y-%m-%d"), "users": n_users, "slots": slots, "hits": n_hits, "tail_hits": n_tail,
            "tail_exposure": exposure, "discovered_tail": fresh, "best_fixed_hits": day.best_fixed,
            "regret": regret, "cumulative_hits": int(totals[0]),
            "cumulative_tail_hits": int(totals[1]), "cumulative_discovered_tail": int(totals[2]),
            "cumulative_regret": int(totals[3])})
        if progress is not None:
            progress(d + 1, n_days)
    return _arm_run(arm, seed, pd.DataFrame(rows, columns=list(DAY_COLUMNS)), logs, dist)


def _distribution(cands: Candidates, items: np.ndarray, marg: np.ndarray | None, n_days: int,
                  d: int) -> tuple[np.ndarray, ...]:
    """(key, item, rank, probability) of every item the arm could show at each slot."""
    if marg is None:  # deterministic: the shown item, probability 1
        u, s = np.nonzero(items >= 0)
        picked, prob = items[u, s], np.ones(len(u))
    else:
        u, s, col = np.nonzero(marg > 0)
        picked, prob = cands.items[u, col], marg[u, s, col]
        keep = picked >= 0
        u, s, picked, prob = u[keep], s[keep], picked[keep], prob[keep]
    return cands.users[u] * n_days + d, picked, s + 1, prob


def _arm_run(arm: Arm, seed: int, frame: pd.DataFrame, logs: list[tuple[np.ndarray, ...]],
             dist: list[tuple[np.ndarray, ...]]) -> ArmRun:
    def cat(parts: list[tuple[np.ndarray, ...]], i: int, dtype: Any) -> np.ndarray:
        return (np.concatenate([p[i] for p in parts]).astype(dtype) if parts
                else np.zeros(0, dtype=dtype))

    n_days = len(frame)
    key = cat(logs, 0, np.int64)
    targets = ({"key": cat(dist, 0, np.int64), "item": cat(dist, 1, np.int64),
                "rank": cat(dist, 2, np.int64), "prob": cat(dist, 3, np.float64)}
               if dist else {})
    return ArmRun(arm, seed, frame, key, cat(logs, 1, np.int64), cat(logs, 2, np.int64),
                  cat(logs, 3, np.int64), cat(logs, 4, np.float64), cat(logs, 5, np.int64),
                  key % max(n_days, 1) + 1, targets)
