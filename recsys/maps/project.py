"""From item vectors to a 2-D map: PCA (instant preview), UMAP or t-SNE, all seeded.

Pure functions: arrays in, new ``float32`` arrays out, explicit ``seed``, progress through an
optional ``progress(fraction, message)`` callback. umap-learn and openTSNE are imported on first
use, after :func:`recsys.maps._numba.prepare_numba` has set up the persistent numba cache.

UMAP gets its neighbour graph from :mod:`.neighbours`: exact blocked matrix products up to
``exact_up_to`` items (20,000 by default; faster on a few thousand items than compiling and
running pynndescent), an inverted-file approximate search above it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from recsys.cache import Progress, noop_progress
from recsys.maps._numba import import_umap, prepare_numba
from recsys.maps.neighbours import EXACT_NEIGHBOURS_UP_TO, METRICS, _unit, knn_graph, neighbour_graph

__all__ = ["Progress", "ProjectionOptions", "pca", "knn_graph", "umap_layout", "tsne_layout", "project",
           "PROJECTION_METHODS", "METRICS"]

log = logging.getLogger(__name__)

PROJECTION_METHODS: tuple[str, ...] = ("umap", "tsne", "pca")


def pca(x: np.ndarray, dims: int, seed: int = 0) -> np.ndarray:
    """The first ``dims`` principal components (deterministic signs); ``x`` when narrower."""
    from sklearn.decomposition import PCA
    from threadpoolctl import threadpool_limits

    x = np.asarray(x, dtype=np.float32)
    n, d = x.shape
    k = min(dims, d, n)
    if k >= d or n < 2:
        return x.copy()
    solver = "full" if d <= 64 or n <= 500 else "randomized"
    with threadpool_limits(limits=1, user_api="blas"):
        out = PCA(n_components=k, svd_solver=solver, random_state=seed).fit_transform(x)
    return out.astype(np.float32)


def umap_layout(x: np.ndarray, *, n_neighbors: int = 15, min_dist: float = 0.1,
                metric: str = "cosine", n_epochs: int = 200, seed: int = 0,
                exact_up_to: int = EXACT_NEIGHBOURS_UP_TO,
                device: str | None = None,
                progress: Progress | None = None) -> np.ndarray:
    """UMAP of the rows of ``x`` to 2-D, seeded (same input + seed ⇒ same map).

    Neighbours are exact up to ``exact_up_to`` rows and approximate above (see
    :mod:`.neighbours`). The layout starts from PCA: umap-learn's default spectral start runs an
    eigen-solver whose result changes from process to process on graphs in several pieces (as
    text maps of real catalogs are), and it takes ~30 s alone at 100,000 items, for clusters
    that come out the same. The layout runs in one thread: umap-learn's parallel
    layout updates points from several threads at once, so its result changes from run to run,
    and a fixed seed must give a fixed map (about 0.3 s per epoch at 100,000 items on this
    hardware; fewer ``n_epochs`` trade detail for time).
    """
    progress = progress or noop_progress
    n = len(x)
    if n < 4:
        return _pad2(pca(x, 2, seed))
    k = max(2, min(n_neighbors, n - 1))
    prepare_numba()
    progress(0.0, "finding nearest neighbours")
    idx, dist, exact = neighbour_graph(x, k, metric, seed=seed, exact_up_to=exact_up_to,
                                       device=device, progress=lambda f, m: progress(0.4 * f, m))
    progress(0.4, "loading UMAP (compiled once, then cached)")
    import warnings

    umap = import_umap()
    init = "random" if n <= k + 2 else "pca"
    progress(0.45, f"laying out the UMAP map ({init} start, {n_epochs} epochs)")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*precomputed_knn.*")
        warnings.filterwarnings("ignore", message=".*n_jobs value.*")
        warnings.filterwarnings("ignore", message=".*disconnected.*")
        warnings.filterwarnings("ignore", category=UserWarning, module="umap")
        reducer = umap.UMAP(n_neighbors=k, min_dist=min_dist, metric=metric, n_epochs=n_epochs,
                            random_state=seed, n_jobs=1, low_memory=True,
                            precomputed_knn=(idx, dist, None), init=init)
        out = reducer.fit_transform(np.asarray(x, dtype=np.float32))
    progress(1.0, "UMAP done" if exact else "UMAP done (approximate neighbours)")
    return np.asarray(out, dtype=np.float32)


def tsne_layout(x: np.ndarray, *, perplexity: float = 30.0, metric: str = "cosine",
                n_iter: int = 500, seed: int = 0, progress: Progress | None = None) -> np.ndarray:
    """openTSNE t-SNE of the rows of ``x`` to 2-D (PCA start, one thread: reproducible)."""
    progress = progress or noop_progress
    n = len(x)
    if n < 6:
        return _pad2(pca(x, 2, seed))
    prepare_numba()
    from openTSNE import TSNE

    perplexity = float(min(perplexity, max(1.0, (n - 1) / 3.0)))
    early = min(250, n_iter // 2)
    total = early + n_iter

    every, calls = 25, [0]

    def callback(iteration: int, error: float, embedding: object) -> bool:
        calls[0] += 1  # openTSNE restarts the count after early exaggeration
        done = min(total, calls[0] * every)
        progress(done / total, f"t-SNE iteration {done}/{total}")
        return False

    progress(0.0, "t-SNE affinities")
    tsne = TSNE(n_components=2, perplexity=perplexity, metric=metric, n_jobs=1, random_state=seed,
                initialization="pca", early_exaggeration_iter=early, n_iter=n_iter,
                neighbors="exact" if n <= 2_000 else "auto", callbacks=callback,
                callbacks_every_iters=every, verbose=False)
    out = np.asarray(tsne.fit(np.asarray(x, dtype=np.float32)), dtype=np.float32)
    progress(1.0, "t-SNE done")
    return out


def _pad2(x: np.ndarray) -> np.ndarray:
    """At least two columns (a one-item or one-dimensional input maps to a line)."""
    out = np.zeros((len(x), 2), dtype=np.float32)
    out[:, : min(2, x.shape[1] if x.ndim == 2 else 0)] = x[:, :2]
    return out


@dataclass(frozen=True)
class ProjectionOptions:
    """Layout settings of :func:`project` (each applies to the methods named)."""

    seed: int = 0
    n_neighbors: int = 15  # UMAP
    min_dist: float = 0.1  # UMAP
    perplexity: float = 30.0  # t-SNE
    metric: str = "cosine"  # all (PCA: cosine = rows scaled to unit length first)
    n_epochs: int = 200  # UMAP
    exact_up_to: int = EXACT_NEIGHBOURS_UP_TO  # UMAP: exact neighbours up to this many rows


def project(x: np.ndarray, method: Literal["umap", "tsne", "pca"] = "umap",
            options: ProjectionOptions | None = None, *, device: str | None = None,
            progress: Progress | None = None, **settings: Any) -> np.ndarray:
    """2-D coordinates (``n × 2``, ``float32``) of the rows of ``x`` by ``method``.

    Settings come from ``options`` (defaults when omitted); keyword ``settings`` (any field of
    :class:`ProjectionOptions`, e.g. ``seed=3, n_epochs=100``) override them.
    """
    if method not in PROJECTION_METHODS:
        raise ValueError(f"Unknown projection '{method}'; use one of "
                         f"{', '.join(PROJECTION_METHODS)}.")
    opts = replace(options or ProjectionOptions(), **settings)
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError("nothing to project: the input has no rows")
    if method == "pca":
        out = _pad2(pca(_unit(x) if opts.metric == "cosine" else x, 2, opts.seed))
        (progress or noop_progress)(1.0, "PCA done")
        return out
    if method == "umap":
        return umap_layout(x, n_neighbors=opts.n_neighbors, min_dist=opts.min_dist,
                           metric=opts.metric, n_epochs=opts.n_epochs, seed=opts.seed,
                           exact_up_to=opts.exact_up_to, device=device, progress=progress)
    return tsne_layout(x, perplexity=opts.perplexity, metric=opts.metric, seed=opts.seed,
                       progress=progress)
