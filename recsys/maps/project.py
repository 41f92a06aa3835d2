"""From item vectors to a 2-D map: PCA (instant preview), UMAP or t-SNE, all seeded.

Pure functions: arrays in, new ``float32`` arrays out, explicit ``seed``, progress through an
optional ``progress(fraction, message)`` callback. umap-learn and openTSNE are imported on first
use, after :func:`recsys.maps._numba.prepare_numba` has set up the persistent numba cache.

UMAP gets its neighbour graph from :func:`knn_graph`: exact, blocked matrix products (on a GPU
through torch when one is present), which is faster on a few thousand items than compiling and
running approximate search, and still fine at 100,000 items on the vectors reduced by PCA.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal

import numpy as np

from ._numba import enable_umap_caching, prepare_numba

__all__ = ["Progress", "pca", "knn_graph", "umap_layout", "tsne_layout", "project",
           "PROJECTION_METHODS", "METRICS"]

log = logging.getLogger(__name__)

#: ``progress(fraction in [0, 1], message)``.
Progress = Callable[[float, str], None]
PROJECTION_METHODS: tuple[str, ...] = ("umap", "tsne", "pca")
METRICS: tuple[str, ...] = ("cosine", "euclidean")
_BLOCK_VALUES = 50_000_000  # similarity values per block (200 MB of float32)


def _noop(fraction: float, message: str) -> None:
    return None


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


def _unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def knn_graph(x: np.ndarray, k: int, metric: str = "cosine", *, device: str | None = None,
              progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``k`` nearest neighbours of every row, itself first: (indices, distances).

    ``cosine`` distance is ``1 - cos``; ``euclidean`` the L2 distance. Rows are compared in
    blocks, so memory stays near 200 MB whatever the number of items. Ties break by index.
    """
    if metric not in METRICS:
        raise ValueError(f"Unknown metric '{metric}'; use one of {', '.join(METRICS)}.")
    progress = progress or _noop
    x = np.ascontiguousarray(x, dtype=np.float32)
    n = len(x)
    k = min(k, n)
    if metric == "cosine":
        x = _unit(x).astype(np.float32)
    sq = np.einsum("ij,ij->i", x, x)
    block = max(64, min(n, _BLOCK_VALUES // max(n, 1)))
    idx = np.empty((n, k), dtype=np.int32)
    dist = np.empty((n, k), dtype=np.float32)
    torch_dev = _torch_device(device) if n > 5_000 else None
    if torch_dev is not None:
        import torch

        xt = torch.as_tensor(x, device=torch_dev)
        sqt = torch.as_tensor(sq, device=torch_dev)
    for start in range(0, n, block):
        stop = min(n, start + block)
        if torch_dev is not None:
            sims = xt[start:stop] @ xt.T
            score = sims if metric == "cosine" else 2 * sims - sqt[None, :]
            score[torch.arange(stop - start), torch.arange(start, stop)] = torch.inf
            top, part = torch.topk(score, k, dim=1)
            part, top = part.cpu().numpy(), top.cpu().numpy().astype(np.float32)
        else:
            sims = x[start:stop] @ x.T
            score = sims if metric == "cosine" else 2 * sims - sq[None, :]
            score[np.arange(stop - start), np.arange(start, stop)] = np.inf
            part = np.argpartition(-score, k - 1, axis=1)[:, :k] if k < n else \
                np.tile(np.arange(n), (stop - start, 1))
            top = np.take_along_axis(score, part, axis=1)
            order = np.lexsort((part, -top), axis=1)  # best first, ties by index
            part = np.take_along_axis(part, order, axis=1)
            top = np.take_along_axis(top, order, axis=1)
        rows = np.arange(start, stop)
        part[:, 0] = rows  # self first, at distance 0 (what UMAP expects)
        if metric == "cosine":
            d = np.clip(1.0 - top, 0.0, 2.0)
        else:
            d = np.sqrt(np.clip(sq[rows, None] - top, 0.0, None))
        d[:, 0] = 0.0
        idx[start:stop], dist[start:stop] = part, d
        progress(stop / n, f"nearest neighbours {stop:,}/{n:,}")
    return idx, dist


def _torch_device(device: str | None) -> str | None:
    """torch's device for large neighbour searches, or ``None`` to stay in NumPy."""
    try:
        from ..device import resolve_device

        return resolve_device(device)
    except (ImportError, ValueError):
        return None


def umap_layout(x: np.ndarray, *, n_neighbors: int = 15, min_dist: float = 0.1,
                metric: str = "cosine", n_epochs: int = 200, seed: int = 0,
                device: str | None = None, progress: Progress | None = None) -> np.ndarray:
    """UMAP of the rows of ``x`` to 2-D, seeded (same input + seed ⇒ same map)."""
    progress = progress or _noop
    n = len(x)
    if n < 4:
        return _pad2(pca(x, 2, seed))
    k = max(2, min(n_neighbors, n - 1))
    prepare_numba()
    progress(0.0, "finding nearest neighbours")
    idx, dist = knn_graph(x, k, metric, device=device,
                          progress=lambda f, m: progress(0.4 * f, m))
    progress(0.4, "loading UMAP (compiled once, then cached)")
    import warnings

    import umap

    enable_umap_caching()
    progress(0.45, "laying out the UMAP map")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*precomputed_knn.*")
        warnings.filterwarnings("ignore", message=".*n_jobs value.*")
        warnings.filterwarnings("ignore", message=".*disconnected.*")
        warnings.filterwarnings("ignore", category=UserWarning, module="umap")
        reducer = umap.UMAP(n_neighbors=k, min_dist=min_dist, metric=metric, n_epochs=n_epochs,
                            random_state=seed, n_jobs=1, low_memory=True,
                            precomputed_knn=(idx, dist, None), init="spectral" if n > k + 2 else "random")
        out = reducer.fit_transform(np.asarray(x, dtype=np.float32))
    progress(1.0, "UMAP done")
    return np.asarray(out, dtype=np.float32)


def tsne_layout(x: np.ndarray, *, perplexity: float = 30.0, metric: str = "cosine",
                n_iter: int = 500, seed: int = 0, progress: Progress | None = None) -> np.ndarray:
    """openTSNE t-SNE of the rows of ``x`` to 2-D (PCA start, one thread: reproducible)."""
    progress = progress or _noop
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


def project(x: np.ndarray, method: Literal["umap", "tsne", "pca"] = "umap", *, seed: int = 0,
            n_neighbors: int = 15, min_dist: float = 0.1, perplexity: float = 30.0,
            metric: str = "cosine", n_epochs: int = 200, device: str | None = None,
            progress: Progress | None = None) -> np.ndarray:
    """2-D coordinates (``n × 2``, ``float32``) of the rows of ``x`` by ``method``."""
    if method not in PROJECTION_METHODS:
        raise ValueError(f"Unknown projection '{method}'; use one of "
                         f"{', '.join(PROJECTION_METHODS)}.")
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError("nothing to project: the input has no rows")
    if method == "pca":
        out = _pad2(pca(_unit(x) if metric == "cosine" else x, 2, seed))
        (progress or _noop)(1.0, "PCA done")
        return out
    if method == "umap":
        return umap_layout(x, n_neighbors=n_neighbors, min_dist=min_dist, metric=metric,
                           n_epochs=n_epochs, seed=seed, device=device, progress=progress)
    return tsne_layout(x, perplexity=perplexity, metric=metric, seed=seed, progress=progress)
