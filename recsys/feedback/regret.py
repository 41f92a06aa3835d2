"""Regret against the best fixed list, and bootstrap bands over seeds, for replays.

**Regret.** On replayed day ``d`` every active user is shown a K-item list and a hit is a
listed item the user takes up that day for the first time. The *best fixed list* of day ``d``
is the single K-item list that, shown to every active user of that day, would have got the
most hits in hindsight: since a fixed list's hits are the sum over its items of the users who
took the item up that day, it is the day's K most-taken items, and its hits are the sum of
their counts (:func:`best_fixed_hits`). The policy's **regret** on day ``d`` is those hits
minus the policy's own hits that day; **cumulative regret** is its running sum. A
personalised policy can beat the best fixed list (negative regret); what matters when
comparing policies is the difference between their regret curves, which is the difference of
their hits, measured against a yardstick that does not depend on any policy.

**Bands.** A stochastic policy is replayed under several seeds; :func:`seed_bands` gives, per
day, the mean over seeds and a 95 % percentile bootstrap interval of that mean (seeds drawn
with replacement). One seed, or a deterministic policy (greedy, the boosted re-rank), gives a
zero-width band.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["best_fixed_hits", "seed_bands", "band_frame", "BAND_METRICS", "BOOTSTRAP"]

#: Per-day figures that get a band over seeds (cumulative unless named otherwise).
BAND_METRICS: tuple[str, ...] = ("cumulative_hits", "cumulative_tail_hits",
                                 "cumulative_discovered_tail", "tail_exposure",
                                 "cumulative_regret")
#: Bootstrap resamples of the seeds behind each band.
BOOTSTRAP = 1000


def best_fixed_hits(day: np.ndarray, item: np.ndarray, days: int, n_items: int, k: int
                    ) -> np.ndarray:
    """(days,) hits of each day's best fixed K-list: the sum of the K largest per-item counts
    of that day's new (user, item) pairs (``day`` 0-based, one entry per pair; pairs outside
    ``0 … days-1`` are ignored). Vectorised and proportional to the pairs, not to days ×
    items: the distinct (day, item) counts, sorted by day and count, the first K of each day."""
    day = np.asarray(day, dtype=np.int64)
    item = np.asarray(item, dtype=np.int64)
    keep = (day >= 0) & (day < days)
    k = min(int(k), n_items)
    if k <= 0 or not keep.any():
        return np.zeros(days, dtype=np.int64)
    keys, counts = np.unique(day[keep] * n_items + item[keep], return_counts=True)
    which = keys // n_items
    order = np.lexsort((-counts, which))                 # by day, most taken first
    which, counts = which[order], counts[order]
    first = np.searchsorted(which, which, side="left")   # where each day's run starts
    top = (np.arange(len(which)) - first) < k
    return np.bincount(which[top], weights=counts[top], minlength=days).astype(np.int64)


def seed_bands(values: np.ndarray, *, bootstrap: int = BOOTSTRAP, seed: int = 0
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(mean, lo, hi)`` per column of ``values`` (seeds × days): the mean over seeds and the
    2.5 / 97.5 % quantiles of the bootstrap distribution of that mean (all resamples at once:
    a (B, S) index into the seeds). With one seed, or seeds that agree, ``lo == mean == hi``."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2 or not len(v):
        raise ValueError("seed_bands needs a (seeds, days) array with at least one seed")
    mean = v.mean(axis=0)
    if len(v) == 1 or np.all(v == v[0]):
        return mean, mean.copy(), mean.copy()
    idx = np.random.default_rng(seed).integers(0, len(v), size=(bootstrap, len(v)))
    means = v[idx].mean(axis=1)  # (B, days)
    lo, hi = np.quantile(means, [0.025, 0.975], axis=0)
    return mean, np.minimum(lo, mean), np.maximum(hi, mean)


def band_frame(per_seed: dict[str, list[pd.DataFrame]], *, bootstrap: int = BOOTSTRAP,
               seed: int = 0) -> pd.DataFrame:
    """One row per (policy, day): ``day``, ``date``, ``policy``, ``seeds`` and for each of
    :data:`BAND_METRICS` its mean over seeds with ``_lo`` / ``_hi`` bounds (95 % bootstrap)."""
    parts = []
    for name, frames in per_seed.items():
        first = frames[0]
        out = pd.DataFrame({"policy": name, "day": first["day"].to_numpy(),
                            "date": first["date"].to_numpy(), "seeds": len(frames)})
        for metric in BAND_METRICS:
            mean, lo, hi = seed_bands(np.stack([f[metric].to_numpy(np.float64) for f in frames]),
                                      bootstrap=bootstrap, seed=seed)
            out[metric], out[f"{metric}_lo"], out[f"{metric}_hi"] = mean, lo, hi
        parts.append(out)
    return pd.concat(parts, ignore_index=True)
