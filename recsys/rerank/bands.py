"""Held-out figures of lists with their 95 % confidence bands, and paired deltas.

What-if and Compare measure lists on a sample of evaluation users
(:func:`recsys.sampling.sample_users`); :func:`banded_figures` gives each protocol metric of
one set of lists with its band, :func:`banded_deltas` the change against a baseline's lists of
the *same* users with the band of the paired per-user differences, and :func:`banded_table`
both for several named sets of lists (one row per list and metric). The band of a per-user
mean is the normal approximation; coverage and Gini, which are not means over users, get a
seeded bootstrap (see :mod:`recsys.sampling`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.data.dataset import Dataset
from recsys.evaluation import catalog_metrics, measure_lists
from recsys.rerank.candidates import Reranked, candidates_from_model
from recsys.rerank.config import RERANK_POOL
from recsys.rerank.context import RerankContext
from recsys.rerank.pipeline import Steps, active_steps, lists_from_candidates
from recsys.sampling import Band, bootstrap_bands, mean_band, paired_band

__all__ = ["MeasuredLists", "measure_banded", "banded_figures", "banded_deltas", "banded_pair",
           "banded_table", "held_out_comparison", "PER_USER_METRICS", "CATALOG_METRICS"]

#: Metrics that are means of per-user figures (normal-approximation bands).
PER_USER_METRICS: tuple[str, ...] = ("ndcg", "recall", "hitrate", "map", "aplt", "arp",
                                     "novelty")
#: Metrics of the whole set of lists (bootstrap bands).
CATALOG_METRICS: tuple[str, ...] = ("coverage", "gini")
#: Bootstrap resamples for coverage and Gini: enough for a 95 % band to a few per cent of its
#: width, cheap enough for a slider move (about 1 ms each on 20,000 lists of 10).
RESAMPLES = 30


@dataclass(frozen=True)
class MeasuredLists:
    """The protocol summary of some lists, their per-user figures and the measured rows of the
    lists (users with held-out items, in the order of ``per_user``)."""

    summary: dict[str, float]
    per_user: pd.DataFrame
    topk: np.ndarray
    n_items: int


def measure_banded(lists: Reranked | np.ndarray, train: Dataset, test: sp.csr_matrix,
                   users: np.ndarray) -> MeasuredLists:
    """:func:`recsys.evaluation.measure_lists` keeping what the bands need."""
    topk = lists.items if isinstance(lists, Reranked) else np.asarray(lists)
    users = np.asarray(users, dtype=np.int64)
    summary, frame = measure_lists(topk, train, test, users, per_user=True)
    has_test = np.diff(sp.csr_matrix(test).indptr)[users] > 0
    return MeasuredLists(summary, frame, topk[has_test], train.n_items)


def _catalog(topk: np.ndarray, n_items: int, rows: np.ndarray) -> dict[str, float]:
    out = catalog_metrics(topk[rows], n_items)
    return {name: float(out[name]) for name in CATALOG_METRICS}


def _per_user_bands(measured: MeasuredLists) -> dict[str, Band]:
    return {name: mean_band(measured.per_user[name].to_numpy()) for name in PER_USER_METRICS}


def _per_user_deltas(current: MeasuredLists, baseline: MeasuredLists) -> dict[str, Band]:
    if len(current.per_user) != len(baseline.per_user):
        raise ValueError("deltas need the lists of the same users "
                         f"({len(current.per_user):,} vs {len(baseline.per_user):,})")
    return {name: paired_band(current.per_user[name].to_numpy(),
                              baseline.per_user[name].to_numpy()) for name in PER_USER_METRICS}


def banded_figures(measured: MeasuredLists, *, seed: int = 0) -> dict[str, Band]:
    """Every protocol metric with its 95 % band over the measured users."""
    out = _per_user_bands(measured)
    out.update(bootstrap_bands(len(measured.topk),
                               lambda rows: _catalog(measured.topk, measured.n_items, rows),
                               resamples=RESAMPLES, seed=seed))
    return out


def banded_deltas(current: MeasuredLists, baseline: MeasuredLists, *, seed: int = 0
                  ) -> dict[str, Band]:
    """``current − baseline`` of every metric, banded on the same users: the mean of the
    per-user differences, and for coverage / Gini a bootstrap that resamples the same users in
    both sets of lists."""
    return banded_pair(current, baseline, seed=seed)[1]


def banded_pair(current: MeasuredLists, baseline: MeasuredLists, *, seed: int = 0
                ) -> tuple[dict[str, Band], dict[str, Band]]:
    """:func:`banded_figures` of ``current`` and :func:`banded_deltas` against ``baseline`` in
    one bootstrap (what a What-if slider move needs, a third less work than both apart)."""
    out, deltas = _per_user_bands(current), _per_user_deltas(current, baseline)

    def both(rows: np.ndarray) -> dict[str, float]:
        now = _catalog(current.topk, current.n_items, rows)
        before = _catalog(baseline.topk, baseline.n_items, rows)
        return {**now, **{f"change {name}": now[name] - before[name] for name in now}}

    boot = bootstrap_bands(len(current.topk), both, resamples=RESAMPLES, seed=seed)
    for name in CATALOG_METRICS:
        out[name], deltas[name] = boot[name], boot[f"change {name}"]
    return out, deltas


def banded_table(lists: Mapping[str, Reranked | np.ndarray], train: Dataset,
                 test: sp.csr_matrix, users: np.ndarray, *, baseline: str | None = None,
                 metrics: tuple[str, ...] = ("ndcg", "recall", "aplt", "coverage"),
                 seed: int = 0) -> pd.DataFrame:
    """One row per (list, metric): ``list, metric, value, low, high`` and, against the
    ``baseline`` list (the first by default), ``delta, delta_low, delta_high`` from paired
    per-user differences (empty on the baseline's own rows). Every list must hold the rows of
    ``users``, so all are measured on the same users."""
    if not lists:
        return pd.DataFrame(columns=["list", "metric", "value", "low", "high", "delta",
                                     "delta_low", "delta_high"])
    baseline = baseline if baseline is not None else next(iter(lists))
    measured = {name: measure_banded(items, train, test, users) for name, items in lists.items()}
    base = measured[baseline]
    rows = []
    for name, m in measured.items():
        bands, deltas = (banded_pair(m, base, seed=seed) if name != baseline
                         else (banded_figures(m, seed=seed), {}))
        for metric in metrics:
            b, d = bands[metric], deltas.get(metric)
            rows.append({"list": name, "metric": metric, "value": b.value, "low": b.low,
                         "high": b.high, "delta": d.value if d else np.nan,
                         "delta_low": d.low if d else np.nan,
                         "delta_high": d.high if d else np.nan})
    return pd.DataFrame(rows)


def held_out_comparison(models: Mapping[str, Any], train: Dataset, test: sp.csr_matrix,
                        users: np.ndarray, k: int, *, steps: Steps = None,
                        context: RerankContext | None = None, seed: int = 0,
                        metrics: tuple[str, ...] = ("ndcg", "recall", "aplt", "coverage")
                        ) -> pd.DataFrame:
    """:func:`banded_table` of each model's top-``k`` lists for ``users`` (a sample of the
    evaluation users) and, with ``steps``, each model's re-ranked variant (named ``"<model> +
    <steps>"``); every delta is against the first model, on the same users."""
    lists: dict[str, Reranked] = {}
    label = " → ".join(c.label() for c in active_steps(steps))
    for name, model in models.items():  # scored once: both lists come from one candidate pool
        cands = candidates_from_model(model, train, users, c=max(RERANK_POOL, k))
        lists[name] = lists_from_candidates(cands, train, k)
        if label:
            lists[f"{name} + {label}"] = lists_from_candidates(cands, train, k, steps=steps,
                                                               context=context)
    return banded_table(lists, train, test, users, metrics=metrics, seed=seed)
