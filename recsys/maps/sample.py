"""Which items a map of a very large catalog is drawn from: every tail-cluster item, and a
stratified sample of the rest.

UMAP and t-SNE cost grows faster than the catalog, and a chart of 400,000 points is not
readable anyway, so above :attr:`~recsys.maps.MapConfig.max_items` the layout, the clusters and
their figures are computed on a sample. The map exists to show the tail clusters, so the
sample must not thin them out; but the real clusters are found only *after* the layout. The
order is therefore:

1. item vectors for every item (linear in the catalog, cached);
2. a cheap coarse clustering of every item: PCA to ``cluster_dims`` dimensions, then
   mini-batch k-means with about one cluster per 500 items (seconds at 400,000 items, where
   UMAP would take many minutes); each coarse cluster is judged with the map's own tail-cluster
   rule (tail share and exposure thresholds);
3. every item of a coarse tail cluster is kept, and every item asked for (``keep``, e.g. a
   saved item set); when the tail clusters alone exceed the cap (a catalog where nearly
   everything is tail), whole clusters are kept least exposed first up to 80 % of it;
4. the rest of the budget is filled by seeded stratified sampling over the popularity segments
   (head / mid / far tail), in proportion to what is left of each, so the sample keeps the
   catalog's segment mix;
5. the expensive layout, HDBSCAN and the cluster figures run on the sample only.

Cluster figures (item share, exposure) are then those of the items on the map; since the tail
neighbourhoods are kept whole, they read somewhat less exposed than on the whole catalog.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from recsys.maps.project import _unit, pca
from recsys.maps.stats import tail_cluster_rule, tail_figures

__all__ = ["ItemSample", "sample_items", "coarse_tail_items", "coarse_tail_clusters",
           "ITEMS_PER_COARSE_CLUSTER", "TAIL_SHARE_WHEN_CUT"]

log = logging.getLogger(__name__)

#: Items per coarse cluster of step 2 (between 20 and 2,000 clusters).
ITEMS_PER_COARSE_CLUSTER = 500
#: When the coarse tail clusters do not all fit, the share of the cap they may fill (whole,
#: least exposed first); the rest shows the catalog around them.
TAIL_SHARE_WHEN_CUT = 0.8


@dataclass(frozen=True)
class ItemSample:
    """Item positions a map is drawn from (sorted), out of ``total``."""

    index: np.ndarray
    total: int
    tail_cluster_items: int
    tail_clusters: int
    kept_asked: int = 0
    tail_cut: bool = False
    tail_clusters_found: int = 0

    @property
    def size(self) -> int:
        return len(self.index)

    @property
    def sampled(self) -> bool:
        return self.size < self.total

    def describe(self) -> str:
        """``showing 100,000 of 412,000 items: every tail-cluster item kept (…)``."""
        if not self.sampled:
            return f"showing all {self.total:,} items"
        if self.tail_cut:
            kept = (f"every item of the {self.tail_clusters:,} least exposed of the "
                    f"{self.tail_clusters_found:,} tail clusters of a first coarse clustering "
                    f"({self.tail_cluster_items:,} items; all of them would not fit)")
        else:
            kept = (f"every item of the {self.tail_clusters:,} tail clusters of a first coarse "
                    f"clustering kept ({self.tail_cluster_items:,} items)")
        asked = f", {self.kept_asked:,} items asked for" if self.kept_asked else ""
        return (f"showing {self.size:,} of {self.total:,} items: {kept}{asked}, the rest a "
                "seeded sample stratified over head, mid and far tail")

    def as_dict(self) -> dict[str, object]:
        """JSON-safe figures for ``frame.attrs``."""
        return {"shown": self.size, "total": self.total,
                "tail_cluster_items": self.tail_cluster_items,
                "tail_clusters": self.tail_clusters, "kept_asked": self.kept_asked,
                "tail_cut": self.tail_cut, "tail_clusters_found": self.tail_clusters_found,
                "note": self.describe()}


def coarse_tail_items(vectors: np.ndarray, popularity: np.ndarray, is_tail: np.ndarray, *,
                      dims: int = 10, metric: str = "cosine", seed: int = 0,
                      tail_share_threshold: float = 0.8, max_exposure: float = 0.5
                      ) -> tuple[np.ndarray, int]:
    """Boolean per item: is it in a tail cluster of a coarse k-means clustering of every item
    (steps 2 and 3 of the module docstring)? Also returns the number of such clusters."""
    labels, order = coarse_tail_clusters(vectors, popularity, is_tail, dims=dims, metric=metric,
                                         seed=seed, tail_share_threshold=tail_share_threshold,
                                         max_exposure=max_exposure)
    return np.isin(labels, order), len(order)


def coarse_tail_clusters(vectors: np.ndarray, popularity: np.ndarray, is_tail: np.ndarray, *,
                         dims: int = 10, metric: str = "cosine", seed: int = 0,
                         tail_share_threshold: float = 0.8, max_exposure: float = 0.5
                         ) -> tuple[np.ndarray, np.ndarray]:
    """The coarse k-means cluster of every item, and the coarse tail clusters, least exposed
    first (the order in which they are kept whole when they do not all fit)."""
    from sklearn.cluster import MiniBatchKMeans

    x = np.asarray(vectors, dtype=np.float32)
    n = len(x)
    if metric == "cosine":
        x = _unit(x).astype(np.float32)
    if x.shape[1] > dims:
        x = pca(x, dims, seed)
    k = int(np.clip(n // ITEMS_PER_COARSE_CLUSTER, 20, 2000))
    k = min(k, n)
    km = MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=1, batch_size=4096,
                         max_iter=20, max_no_improvement=5)
    labels = km.fit_predict(x)
    fig = tail_figures(labels, k, popularity, is_tail)
    share, exposure = fig.tail_share, fig.exposure
    flagged = (fig.size > 0) & tail_cluster_rule(share, exposure,
                                                 tail_share_threshold=tail_share_threshold,
                                                 max_exposure=max_exposure)
    log.info("coarse clustering of %d items: %d clusters, %d tail clusters", n, k,
             int(flagged.sum()))
    ids = np.flatnonzero(flagged)
    return labels, ids[np.lexsort((ids, -share[ids], exposure[ids]))]


def _stratified(pool: np.ndarray, segment: np.ndarray, budget: int,
                rng: np.random.Generator) -> np.ndarray:
    """``budget`` items of ``pool``, each segment in proportion to its count (largest
    remainders round), drawn without replacement."""
    if budget <= 0 or not len(pool):
        return np.zeros(0, dtype=np.int64)
    if budget >= len(pool):
        return pool
    names, codes = np.unique(segment[pool], return_inverse=True)
    counts = np.bincount(codes, minlength=len(names))
    exact = counts * budget / len(pool)
    quota = np.floor(exact).astype(np.int64)
    extra = budget - int(quota.sum())
    quota[np.argsort(-(exact - quota), kind="stable")[:extra]] += 1
    chosen = [rng.choice(pool[codes == g], size=int(min(quota[g], counts[g])), replace=False)
              for g in range(len(names))]
    return np.concatenate(chosen).astype(np.int64)


def sample_items(vectors: np.ndarray, popularity: np.ndarray, is_tail: np.ndarray,
                 segment: np.ndarray, cap: int, *, seed: int = 0, keep: np.ndarray | None = None,
                 dims: int = 10, metric: str = "cosine", tail_share_threshold: float = 0.8,
                 max_exposure: float = 0.5) -> ItemSample:
    """At most ``cap`` item positions to draw a map from (all when the catalog fits): every
    coarse tail-cluster item, every ``keep`` position, the rest stratified over ``segment``.
    Same inputs and seed → same sample."""
    n = len(vectors)
    if n <= cap:
        return ItemSample(np.arange(n, dtype=np.int64), n, 0, 0)
    rng = np.random.default_rng(seed)
    labels, tail_clusters = coarse_tail_clusters(
        vectors, popularity, is_tail, dims=dims, metric=metric, seed=seed,
        tail_share_threshold=tail_share_threshold, max_exposure=max_exposure)
    chosen = np.zeros(n, dtype=bool)
    if keep is not None and len(keep):
        pos = np.asarray(keep, dtype=np.int64)
        chosen[np.flatnonzero(np.isin(np.arange(n), pos))[:cap]] = True
    n_asked = int(chosen.sum())
    # Whole tail clusters, least exposed first; when they do not all fit, at most
    # TAIL_SHARE_WHEN_CUT of the cap goes to them, so the map keeps its context.
    sizes = np.bincount(labels[~chosen], minlength=int(labels.max()) + 1)[tail_clusters]
    room = cap - n_asked
    cut = int(sizes.sum()) > room
    if cut:
        room = int(room * TAIL_SHARE_WHEN_CUT)
    whole = tail_clusters[np.cumsum(sizes) <= room]
    chosen |= np.isin(labels, whole)
    in_tail = int(chosen.sum()) - n_asked
    rest = np.flatnonzero(~chosen)
    chosen[_stratified(rest, np.asarray(segment).astype(str), cap - int(chosen.sum()), rng)] = True
    index = np.flatnonzero(chosen).astype(np.int64)
    log.info("map sample: %d of %d items (%d in %d of %d coarse tail clusters, %d asked for)",
             len(index), n, in_tail, len(whole), len(tail_clusters), n_asked)
    return ItemSample(index, n, in_tail, len(whole), kept_asked=n_asked, tail_cut=cut,
                      tail_clusters_found=len(tail_clusters))
