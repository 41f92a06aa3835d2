"""Thompson sampling over per-item Beta posteriors, with Monte-Carlo slot probabilities.

Each candidate of a user has a Beta posterior on its hit rate: the prior mean is the model's
calibrated score for that user and item (so an item nobody has been shown yet starts from
what the model, or its content path, guesses); as the exploration weight grows the prior means
are pulled toward the user's average candidate and the prior's weight (in pseudo-hits, so its
relative spread does not depend on how rare hits are) shrinks; the item's own feedback (times
shown, hits) is added on top. A list is the top-K of one joint draw from the posteriors. The
probability of each candidate at each slot has no closed form: it is the share of ``draws``
seeded draws that put it there, and the list actually shown is the first of those draws (so
its propensities are never zero).
"""

from __future__ import annotations

import numpy as np

__all__ = ["beta_parameters", "prior_strength", "thompson_draws", "rank_prior", "tempered_prior",
           "PSEUDO_HITS"]

#: Prior weight, in pseudo-hits, at exploration weight 0 (:func:`prior_strength`); chosen on
#: an inner replay of Online Retail (the days before the replayed ones; bench_feedback.py).
PSEUDO_HITS = 100.0
#: Default prior mean of each user's best candidate (:func:`rank_prior`).
TOP_PRIOR = 0.1
#: Prior means are kept inside (EPS, 1 - EPS) so both Beta parameters stay positive.
EPS = 1e-4


def prior_strength(exploration: float, most: float | None = None) -> float:
    """Pseudo-hits behind each prior: ``most^(1 - w)``, from :data:`PSEUDO_HITS` (``most``) at
    weight 0 (trust the model) down to 1 at weight 1. A prior worth ``H`` hits has a relative
    spread of about ``1 / sqrt(H)`` whatever the hit rate's scale, and observed feedback
    outweighs it once an item has earned about ``H`` hits."""
    return float((PSEUDO_HITS if most is None else most) ** (1.0 - exploration))


def rank_prior(n_users: int, n_cols: int) -> np.ndarray:
    """(U, C) default prior mean when no calibrated probability is given:
    ``TOP_PRIOR / sqrt(rank + 1)`` for candidate rank 0, 1, … (a scale-free calibration of any
    model's ordering: the best candidate a 10 % hit chance, the 100th 1 %)."""
    return np.broadcast_to(TOP_PRIOR / np.sqrt(np.arange(n_cols) + 1.0),
                           (n_users, n_cols)).copy()


def tempered_prior(mean: np.ndarray, valid: np.ndarray, exploration: float) -> np.ndarray:
    """Prior means pulled toward each user's average candidate as the weight grows:
    ``mean^(1-w) · mean_avg^w`` (geometric), so weight 1 starts every candidate from the same
    guess and weight 0 keeps the model's."""
    m = np.clip(np.asarray(mean, dtype=np.float64), EPS, 1.0 - EPS)
    logs = np.where(valid, np.log(m), 0.0)
    avg = logs.sum(axis=1, keepdims=True) / np.maximum(valid.sum(axis=1, keepdims=True), 1)
    return np.exp((1.0 - exploration) * logs + exploration * avg)


def beta_parameters(prior_mean: np.ndarray, strength: float, shows: np.ndarray | None = None,
                    hits: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(alpha, beta)`` of each candidate's posterior: the prior is ``strength`` pseudo-hits
    in ``strength / mean`` pseudo-shows (mean ``mean``), plus observed ``hits`` and
    ``shows - hits`` (arrays shaped like ``prior_mean``)."""
    m = np.clip(np.asarray(prior_mean, dtype=np.float64), EPS, 1.0 - EPS)
    alpha = np.full_like(m, strength)
    beta = strength * (1.0 - m) / m
    if shows is not None:
        h = np.zeros_like(m) if hits is None else np.asarray(hits, dtype=np.float64)
        alpha = alpha + h
        beta = beta + np.maximum(np.asarray(shows, dtype=np.float64) - h, 0.0)
    return alpha, beta


def thompson_draws(alpha: np.ndarray, beta: np.ndarray, valid: np.ndarray, k: int, draws: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``(shown, marginals)``: the (U, K) candidate columns of the first draw (``-1`` where a
    user has fewer than K candidates) and the (U, K, C) share of ``draws`` draws that put each
    column at each slot."""
    n_users, n_cols = alpha.shape
    kk = min(k, n_cols)
    base = (np.arange(n_users)[:, None] * k + np.arange(kk)[None, :]) * n_cols  # (U, kk)
    shown = np.full((n_users, k), -1, dtype=np.int64)
    filled = np.arange(kk)[None, :] < valid.sum(axis=1)[:, None]
    tops = np.empty((draws, n_users, kk), dtype=np.int32)
    for d in range(draws):
        theta = np.where(valid, rng.beta(alpha, beta), -np.inf)
        top = np.argpartition(-theta, kk - 1, axis=1)[:, :kk] if kk < n_cols else \
            np.tile(np.arange(n_cols), (n_users, 1))
        order = np.argsort(-np.take_along_axis(theta, top, axis=1), axis=1, kind="stable")
        tops[d] = np.take_along_axis(top, order, axis=1)
        if d == 0:
            shown[:, :kk] = np.where(filled, tops[0], -1)
    keys = (base[None, :, :] + tops)[np.broadcast_to(filled, tops.shape)]
    counts = np.bincount(keys, minlength=n_users * k * n_cols)
    marginals = counts.reshape(n_users, k, n_cols).astype(np.float64) / max(draws, 1)
    return shown, marginals
