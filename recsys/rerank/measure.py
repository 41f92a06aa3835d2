"""Measure re-ranked lists on a split and sweep strengths into a trade-off frontier.

Every figure comes from :mod:`recsys.evaluation` on the same lists (accuracy on the held-out
items, APLT, ARP, coverage, Gini, novelty), plus the share of list slots per category and per
map cluster, so a boost is judged against the unboosted lists of the same candidates.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.data.dataset import Dataset
from recsys.evaluation import measure_lists
from recsys.rerank.candidates import Candidates, Reranked
from recsys.rerank.config import METHODS, RerankConfig
from recsys.rerank.context import RerankContext, item_categories
from recsys.rerank.engine import as_configs, rerank

__all__ = ["measure", "exposure", "exposure_table", "frontier", "best_within", "STRENGTHS"]

log = logging.getLogger(__name__)

#: Strengths a frontier is swept over by default.
STRENGTHS: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def _topk(lists: Reranked | np.ndarray) -> np.ndarray:
    return lists.items if isinstance(lists, Reranked) else np.asarray(lists)


def measure(lists: Reranked | np.ndarray, train: Dataset, test: sp.csr_matrix,
            users: np.ndarray) -> dict[str, float]:
    """Protocol metrics of ``lists`` (rows = ``users``) against held-out ``test`` pairs
    (:func:`recsys.evaluation.measure_lists`).

    Users without held-out items are left out of the accuracy means, as in the protocol.
    """
    return measure_lists(_topk(lists), train, test, users)


def _groups(train: Dataset, by: str, item_clusters: np.ndarray | None) -> np.ndarray | None:
    if by == "category":
        return item_categories(train)
    if by == "cluster":
        return None if item_clusters is None else np.asarray(item_clusters).astype(str)
    if by == "segment":
        return np.asarray(train.segment, dtype=object)
    raise ValueError(f"unknown exposure grouping '{by}' (category, cluster or segment)")


def exposure(lists: Reranked | np.ndarray, train: Dataset, by: str = "category",
             item_clusters: np.ndarray | None = None) -> pd.Series | None:
    """Share of all list slots per group (category, map cluster or head/mid/tail segment);
    ``None`` when the grouping is not available."""
    groups = _groups(train, by, item_clusters)
    if groups is None:
        return None
    topk = _topk(lists)
    listed = topk[topk >= 0]
    codes, names = pd.factorize(pd.Series(groups, dtype=object).fillna(""))
    counts = np.bincount(codes[listed], minlength=len(names)).astype(np.float64)
    share = counts / max(1.0, counts.sum())
    return pd.Series(share, index=pd.Index([str(n) for n in names], name=by), name="share")


def exposure_table(base: Reranked | np.ndarray, current: Reranked | np.ndarray, train: Dataset,
                   by: str = "category", item_clusters: np.ndarray | None = None,
                   top: int | None = 15) -> pd.DataFrame | None:
    """Baseline vs current slot share per group, with each group's catalog share and tail
    share, sorted by the largest change (``top`` groups)."""
    b = exposure(base, train, by, item_clusters)
    c = exposure(current, train, by, item_clusters)
    if b is None or c is None:
        return None
    groups = pd.Series(_groups(train, by, item_clusters), dtype=object).fillna("").astype(str)
    catalog = groups.value_counts(normalize=True)
    tail = pd.Series(np.asarray(train.is_tail)).groupby(groups.to_numpy()).mean()
    frame = pd.DataFrame({"baseline": b, "current": c}).fillna(0.0)
    frame["change"] = frame["current"] - frame["baseline"]
    frame["catalog share"] = catalog.reindex(frame.index).fillna(0.0)
    frame["tail share of items"] = tail.reindex(frame.index).fillna(0.0)
    frame = frame.loc[(frame["baseline"] > 0) | (frame["current"] > 0)]
    frame = frame.reindex(frame["change"].abs().sort_values(ascending=False).index)
    return (frame.head(top) if top else frame).rename_axis(by).reset_index()


def frontier(cands: Candidates, train: Dataset, test: sp.csr_matrix, *,
             methods: Iterable[str] = METHODS, strengths: Sequence[float] = STRENGTHS,
             k: int = 10, options: dict[str, dict] | None = None,
             context: RerankContext | None = None, skip_unavailable: bool = True
             ) -> pd.DataFrame:
    """Sweep each method over ``strengths`` and measure every point.

    ``options`` holds extra config fields per method (e.g. ``{"xquad": {"xquad_variant":
    "binary"}}``). Methods that cannot run on this data (calibration without categories, a
    cluster promotion without a map) are skipped with a log line when ``skip_unavailable``.
    ``context`` (clusters, item set, hit model) is shared by every point. Returns one row per
    (method, strength) with every protocol metric.
    """
    ctx = context.on(train) if context is not None else RerankContext(train)
    options = options or {}
    base = measure(cands.top(k), train, test, cands.users)
    rows = []
    for method in methods:
        for s in strengths:
            if s <= 0:
                rows.append({"method": method, "strength": 0.0, **base})
                continue
            try:
                cfg = RerankConfig(method=method, strength=float(s), **options.get(method, {}))
                result = rerank(cands, train, cfg, k, context=ctx)
            except ValueError as exc:
                if not skip_unavailable:
                    raise
                log.info("frontier: %s skipped (%s)", method, exc)
                break
            rows.append({"method": method, "strength": float(s),
                         **measure(result, train, test, cands.users)})
    return pd.DataFrame(rows)


def best_within(frame: pd.DataFrame, max_loss: float = 0.05, metric: str = "aplt"
                ) -> pd.DataFrame:
    """Per method, the point with the highest ``metric`` whose NDCG is at least
    (1 − ``max_loss``) × the unboosted NDCG (strength 0)."""
    out = []
    for _method, part in frame.groupby("method", sort=False):
        base = part.loc[part["strength"] == 0, "ndcg"]
        if base.empty:
            continue
        ok = part.loc[part["ndcg"] >= (1 - max_loss) * float(base.iloc[0])]
        out.append(ok.loc[ok[metric].idxmax()])
    return pd.DataFrame(out).reset_index(drop=True)


def configs_label(config) -> str:
    """Readable label of one config or a composition."""
    return " → ".join(c.label() for c in as_configs(config)) or "model"
