"""HDBSCAN clusters of items, on the 2-D map or on the (reduced) embedding.

Noise stays its own group (label ``-1``). Clusters are renumbered by size (0 = largest, ties by
their first item), so the same input always gives the same labels.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np

from recsys.maps._numba import prepare_numba
from recsys.maps.project import _unit, pca

__all__ = ["NOISE", "AUTO_MIN_SAMPLES_CAP", "auto_min_cluster_size", "cluster_points",
           "relabel_by_size"]

log = logging.getLogger(__name__)

NOISE = -1


#: ``min_samples`` when not given: the smallest cluster size, at most this. Core distances
#: to the 500th neighbour cost HDBSCAN three times as long at 100,000 items and merge niches.
AUTO_MIN_SAMPLES_CAP = 50


def auto_min_cluster_size(n: int) -> int:
    """About 0.5 % of the items, between 5 and 500 (small enough to see niches)."""
    return int(np.clip(round(n * 0.005), 5, 500))


def relabel_by_size(labels: np.ndarray) -> np.ndarray:
    """Clusters renumbered 0, 1, … from the largest; noise stays ``-1``."""
    labels = np.asarray(labels, dtype=np.int64)
    out = np.full(len(labels), NOISE, dtype=np.int64)
    kept = labels >= 0
    if not kept.any():
        return out
    values, first, counts = np.unique(labels[kept], return_index=True, return_counts=True)
    order = np.lexsort((first, -counts))
    mapping = np.empty(values.max() + 1, dtype=np.int64)
    mapping[values[order]] = np.arange(len(values))
    out[kept] = mapping[labels[kept]]
    return out


def cluster_points(x: np.ndarray, *, min_cluster_size: int = 0, min_samples: int | None = None,
                   reduce_dims: int = 0, metric: str = "euclidean", seed: int = 0) -> np.ndarray:
    """HDBSCAN labels (``-1`` = noise) for the rows of ``x``.

    ``min_cluster_size`` 0 picks :func:`auto_min_cluster_size`; ``min_samples`` ``None`` is
    the cluster size capped at :data:`AUTO_MIN_SAMPLES_CAP`. ``reduce_dims`` > 0 first reduces
    ``x`` by PCA (HDBSCAN is slow and loses contrast in many dimensions); ``metric="cosine"``
    clusters unit-normalised rows. Fewer items than a cluster needs give all noise.
    """
    x = np.asarray(x, dtype=np.float32)
    n = len(x)
    size = min_cluster_size or auto_min_cluster_size(n)
    size = max(2, int(size))
    if n < max(size, 3):
        return np.full(n, NOISE, dtype=np.int64)
    if metric == "cosine":
        x = _unit(x).astype(np.float32)
    if reduce_dims and x.shape[1] > reduce_dims:
        x = pca(x, reduce_dims, seed)
    prepare_numba()
    import hdbscan

    samples = min(int(min_samples) if min_samples else min(size, AUTO_MIN_SAMPLES_CAP), n - 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=FutureWarning)
        warnings.simplefilter("ignore", category=RuntimeWarning)
        model = hdbscan.HDBSCAN(min_cluster_size=size, min_samples=samples,
                                cluster_selection_method="eom", core_dist_n_jobs=1,
                                algorithm="best")
        labels = model.fit_predict(np.asarray(x, dtype=np.float64))
    labels = relabel_by_size(labels)
    log.info("HDBSCAN: %d clusters, %d noise items of %d (min size %d)", labels.max() + 1,
             int((labels < 0).sum()), n, size)
    return labels
