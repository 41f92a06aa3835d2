"""Exploration policies on top of any model's candidate lists, with the propensity of every
shown slot.

A policy turns each user's top-C candidates (:class:`~recsys.rerank.Candidates`: the model's
best unseen items, best first) into a list of K items and, for each slot, the probability
that the policy shows that item at that position for that user (the *propensity* an
off-policy estimate needs, :mod:`recsys.feedback.ope`). One ``exploration`` weight from 0 to
1 drives every policy (0 is the model's own list, in the spirit of Amazon Personalize's
``explorationWeight``):

* ``greedy``: the model's top-K; propensity 1.
* ``epsilon``: each slot reserved for a tail / new item with probability ε = weight
  (:mod:`~recsys.feedback.epsilon`); exact propensities.
* ``thompson``: top-K of a draw from per-item Beta posteriors whose prior mean is the
  model's calibrated score (``prior_mean``; by default a calibration of the model's ranking,
  :func:`~recsys.feedback.thompson.rank_prior`), flattened and given less weight as the weight
  rises
  (:mod:`~recsys.feedback.thompson`); Monte-Carlo propensities over ``draws`` seeded draws.
* ``linucb``: the model's score (scaled 0–1 per user) plus ``weight ×`` the LinUCB
  uncertainty ``sqrt(xᵀA⁻¹x)`` of the item's content vector, ``A = λI + Σ shows·x xᵀ`` (items
  in rarely shown content directions get the bonus); deterministic, propensity 1.

Every call is vectorised over users, seeded and reproducible: the same candidates, settings
and seed give the same lists and propensities.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from recsys.feedback.epsilon import epsilon_marginals, epsilon_sample
from recsys.feedback.thompson import (
    beta_parameters,
    prior_strength,
    rank_prior,
    tempered_prior,
    thompson_draws,
)

__all__ = ["PolicyName", "POLICIES", "PolicyConfig", "ExploredLists", "ItemFeedback",
           "explore", "linucb_bonus", "list_ids"]

PolicyName = Literal["greedy", "epsilon", "thompson", "linucb"]
POLICIES: tuple[str, ...] = get_args(PolicyName)
#: Ridge of LinUCB's design matrix (shows of a direction before its bonus halves, roughly).
LINUCB_RIDGE = 1.0


class PolicyConfig(BaseModel):
    """How a policy explores; written into export manifests as given."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    policy: PolicyName = Field("greedy", description="greedy, epsilon, thompson or linucb.")
    exploration: float = Field(0.1, ge=0.0, le=1.0, description="Exploration weight: 0 = the "
                               "model's own lists, 1 = explore as much as the policy can.")
    new_item_days: float | None = Field(None, ge=0.0, description="Item-age cut-off: items "
                                        "launched or first seen within this many days of the "
                                        "data's end count as new (explored like tail items).")
    prior: Literal["calibrated", "rank"] = Field("calibrated", description="Thompson's prior "
                                                 "means: hit probabilities from the hit model "
                                                 "(fitted on an inner split), or from the "
                                                 "candidate's rank alone.")
    draws: int = Field(100, ge=1, le=10_000, description="Monte-Carlo draws behind Thompson "
                       "sampling's propensities.")
    seed: int = Field(0, ge=0, description="Seed of every random choice.")


@dataclass(frozen=True, eq=False)
class ItemFeedback:
    """What the shop reported back per item (catalog positions): times shown and hits."""

    shows: np.ndarray
    hits: np.ndarray


@dataclass(frozen=True, eq=False)
class ExploredLists:
    """One list per user: ``items`` (U, K) item positions (``-1`` = empty slot), ``cols`` the
    candidate columns they came from, ``propensity`` (U, K) and ``marginals`` (U, K, C): the
    probability of each candidate column at each slot (the shown item's is its propensity);
    ``exact`` is False where they are Monte-Carlo shares of ``draws`` draws."""

    users: np.ndarray
    items: np.ndarray
    cols: np.ndarray
    propensity: np.ndarray
    marginals: np.ndarray
    exact: bool
    draws: int = 0


def _greedy_marginals(cols: np.ndarray, n_cols: int) -> np.ndarray:
    out = np.zeros((*cols.shape, n_cols))
    u, s = np.nonzero(cols >= 0)
    out[u, s, cols[u, s]] = 1.0
    return out


def _top_cols(key: np.ndarray, valid: np.ndarray, k: int) -> np.ndarray:
    """(U, K) columns of the K largest ``key`` values per row (``-1`` past the valid ones)."""
    key = np.where(valid, key, -np.inf)
    order = np.argsort(-key, axis=1, kind="stable")[:, :k]
    cols = np.where(np.take_along_axis(valid, order, axis=1), order, -1)
    if cols.shape[1] < k:
        cols = np.pad(cols, ((0, 0), (0, k - cols.shape[1])), constant_values=-1)
    return cols


def linucb_bonus(vectors: np.ndarray, shows: np.ndarray, ridge: float = LINUCB_RIDGE
                 ) -> np.ndarray:
    """Per item ``sqrt(xᵀ A⁻¹ x)`` with ``A = ridge·I + Σ_i shows_i x_i x_iᵀ`` (item content
    vectors ``x``): large for items in content directions that have rarely been shown."""
    x = np.asarray(vectors, dtype=np.float64)
    w = np.asarray(shows, dtype=np.float64)
    a = ridge * np.eye(x.shape[1]) + (x * w[:, None]).T @ x
    solved = np.linalg.solve(a, x.T).T
    return np.sqrt(np.maximum((solved * x).sum(axis=1), 0.0))


def _scaled_scores(scores: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Scores scaled to 0–1 within each user's candidates (1 = the user's best)."""
    s = np.where(valid, scores, np.nan)
    low = np.nanmin(np.where(valid.any(axis=1, keepdims=True), s, 0.0), axis=1, keepdims=True)
    high = np.nanmax(np.where(valid.any(axis=1, keepdims=True), s, 0.0), axis=1, keepdims=True)
    span = np.where(high > low, high - low, 1.0)
    return np.where(valid, (np.nan_to_num(s) - low) / span, 0.0)


def explore(users: np.ndarray, items: np.ndarray, scores: np.ndarray, k: int,
            config: PolicyConfig, *, targets: np.ndarray | None = None,
            prior_mean: np.ndarray | None = None, feedback: ItemFeedback | None = None,
            vectors: np.ndarray | None = None, exposure: np.ndarray | None = None
            ) -> ExploredLists:
    """The policy's lists for candidate ``items`` / ``scores`` (U, C), best first, ``-1`` padded.

    ``targets`` (per catalog item, bool): what ε-greedy explores (tail or new; required for
    ``epsilon``). ``prior_mean`` (U, C): Thompson's calibrated hit probabilities (default
    :func:`~recsys.feedback.thompson.rank_prior`); ``feedback``: per-item shows and hits added to
    its posteriors. ``vectors`` (items × d) and ``exposure`` (shows per item; default the
    feedback's shows): LinUCB's content vectors and design-matrix weights (required for
    ``linucb``). Raises ``ValueError`` when a policy's inputs are missing.
    """
    items = np.asarray(items, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    valid = items >= 0
    n_users, n_cols = items.shape
    rng = np.random.default_rng(config.seed)
    w = config.exploration
    greedy = _top_cols(-np.arange(n_cols, dtype=np.float64)[None, :].repeat(n_users, 0),
                       valid, k)
    exact, draws = True, 0
    if config.policy == "greedy" or w == 0.0:
        cols, marg = greedy, _greedy_marginals(greedy, n_cols)
    elif config.policy == "epsilon":
        if targets is None:
            raise ValueError("the epsilon policy needs the exploration targets (tail / new items)")
        in_greedy = np.zeros_like(valid)
        g_u, g_s = np.nonzero(greedy >= 0)
        in_greedy[g_u, greedy[g_u, g_s]] = True
        pool = valid & np.asarray(targets, dtype=bool)[np.maximum(items, 0)] & ~in_greedy
        marg = epsilon_marginals(greedy, pool, k, w)
        cols = epsilon_sample(greedy, pool, k, w, rng)
    elif config.policy == "thompson":
        mean = rank_prior(n_users, n_cols) if prior_mean is None else np.asarray(prior_mean)
        safe = np.maximum(items, 0)
        shows = hits = None
        if feedback is not None:
            shows, hits = feedback.shows[safe], feedback.hits[safe]
        alpha, beta = beta_parameters(tempered_prior(mean, valid, w), prior_strength(w), shows,
                                      hits)
        cols, marg = thompson_draws(alpha, beta, valid, k, config.draws, rng)
        exact, draws = False, config.draws
    elif config.policy == "linucb":
        if vectors is None:
            raise ValueError("the linucb policy needs item content vectors")
        shown = exposure if exposure is not None else (
            feedback.shows if feedback is not None else np.zeros(len(vectors)))
        bonus = linucb_bonus(vectors, shown)[np.maximum(items, 0)]
        top = np.max(np.where(valid, bonus, 0.0), axis=1, keepdims=True)
        bonus = bonus / np.where(top > 0, top, 1.0)
        cols = _top_cols(_scaled_scores(scores, valid) + w * bonus, valid, k)
        marg = _greedy_marginals(cols, n_cols)
    else:  # pragma: no cover - the config's Literal rules it out
        raise ValueError(f"unknown policy {config.policy!r}")
    return _result(users, items, cols, marg, exact, draws)


def _result(users: np.ndarray, items: np.ndarray, cols: np.ndarray, marg: np.ndarray,
            exact: bool, draws: int) -> ExploredLists:
    shown = cols >= 0
    safe = np.maximum(cols, 0)
    picked = np.where(shown, np.take_along_axis(items, safe, axis=1), -1)
    u = np.arange(len(cols))[:, None]
    s = np.arange(cols.shape[1])[None, :]
    prop = np.where(shown, marg[u, s, safe], np.nan)
    return ExploredLists(np.asarray(users, dtype=np.int64), picked, cols, prop, marg, exact,
                         draws)


def list_ids(user_ids: np.ndarray, config: PolicyConfig, salt: str = "") -> np.ndarray:
    """A stable id per (user, policy settings) list: the first 16 hex digits of a SHA-256 over
    the settings, ``salt`` (e.g. the dataset fingerprint) and the user id."""
    prefix = f"{config.model_dump_json()}|{salt}|".encode()
    return np.array([hashlib.sha256(prefix + str(u).encode()).hexdigest()[:16]
                     for u in user_ids], dtype=object)
