"""Compile the item map's numba code into the persistent cache ahead of the first map.

UMAP's graph and layout kernels are numba code compiled on first use (tens of seconds on a
2-core machine); :mod:`._numba` keeps what was compiled in ``NUMBA_CACHE_DIR`` (by default a
per-user cache folder outside the workspace, see :func:`~._numba.numba_cache_dir`). :func:`warm_up`
draws small maps with every option that reaches different compiled code (both metrics, the
PCA start of UMAP, a graph in several pieces, HDBSCAN, t-SNE), so that the kernels
are already on disk when a user draws a real map. ``scripts/setup.sh`` runs it through
``python -m recsys warmup``.

A stamp file in the cache folder records the library versions the cache was warmed for; a
second call with the same versions returns at once without importing anything heavy.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["warm_up", "warm_stamp", "compile_in_background", "STAMP_NAME"]

log = logging.getLogger(__name__)

STAMP_NAME = "tailstudio-warmup.json"
_PACKAGES = ("numba", "llvmlite", "umap-learn", "pynndescent", "hdbscan", "openTSNE",
             "scikit-learn", "numpy")
STAMP_VERSION = 1


def warm_stamp() -> dict[str, Any]:
    """What a warm cache depends on: Python, the compiled packages and this module's version."""
    versions: dict[str, Any] = {"stamp": STAMP_VERSION, "python": sys.version.split()[0]}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _blobs(n: int = 400, dim: int = 24, groups: int = 4, seed: int = 0) -> np.ndarray:
    """Separated blobs (their neighbour graph has several pieces, like real catalogs)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=8.0, size=(groups, dim))
    return (centres[rng.integers(0, groups, n)] + rng.normal(size=(n, dim))).astype(np.float32)


_BACKGROUND: threading.Thread | None = None
_BACKGROUND_LOCK = threading.Lock()


def _load_umap_kernels() -> None:
    try:
        from recsys.maps._numba import import_umap
        from recsys.maps.project import umap_layout

        import_umap()
        umap_layout(_blobs(200), n_epochs=10, seed=0)
    except Exception as exc:  # pragma: no cover - only a head start; the map compiles anyway
        log.debug("background UMAP compilation failed: %s", exc)


def compile_in_background() -> threading.Thread:
    """Start loading (compiling on a cold cache) UMAP's kernels in a thread, once per process.

    The map calls it before embedding the items: the sentence model spends most of its time in
    torch code that releases the interpreter lock, so numba's work mostly overlaps it. The map
    joins the thread before its own UMAP run, so two layouts never run at once.
    """
    global _BACKGROUND
    with _BACKGROUND_LOCK:
        if _BACKGROUND is None:
            _BACKGROUND = threading.Thread(target=_load_umap_kernels, name="umap-warm-up",
                                           daemon=True)
            _BACKGROUND.start()
        return _BACKGROUND


def warm_up(cache_dir: str | os.PathLike[str] | None = None, *, force: bool = False,
            tsne: bool = True) -> dict[str, Any]:
    """Compile the map's numba kernels into ``cache_dir`` (default: :func:`numba_cache_dir`).

    Returns ``{"cache_dir", "skipped", "seconds", "steps"}``; ``skipped`` is true when the stamp
    shows the cache is already warm for these library versions (``force`` warms it anyway).
    Must run before numba is imported for ``cache_dir`` to take effect in this process.
    """
    from recsys.maps._numba import numba_cache_dir, prepare_numba

    if cache_dir is not None:
        os.environ["NUMBA_CACHE_DIR"] = str(Path(cache_dir).expanduser().resolve())
    path = numba_cache_dir()
    stamp_file = path / STAMP_NAME
    stamp = warm_stamp()
    if not force and stamp_file.is_file():
        try:
            if json.loads(stamp_file.read_text()) == stamp:
                return {"cache_dir": str(path), "skipped": True, "seconds": 0.0, "steps": {}}
        except (OSError, ValueError):
            pass
    prepare_numba()
    from recsys.maps.cluster import cluster_points
    from recsys.maps.project import project, umap_layout

    steps: dict[str, float] = {}
    t0 = time.perf_counter()
    x = _blobs()
    t = time.perf_counter()
    from recsys.maps._numba import import_umap

    import_umap()
    steps["import_s"] = time.perf_counter() - t
    for metric in ("cosine", "euclidean"):
        t = time.perf_counter()
        coords = project(x, "umap", metric=metric, n_epochs=20, seed=0)
        steps[f"umap_{metric}_s"] = time.perf_counter() - t
    t = time.perf_counter()  # the PCA start and approximate neighbours of large catalogs
    umap_layout(x, n_epochs=10, seed=0, exact_up_to=0)
    steps["umap_large_s"] = time.perf_counter() - t
    t = time.perf_counter()
    cluster_points(coords, min_cluster_size=20)
    steps["hdbscan_s"] = time.perf_counter() - t
    if tsne:
        t = time.perf_counter()
        project(x[:200], "tsne", seed=0)
        steps["tsne_s"] = time.perf_counter() - t
    seconds = time.perf_counter() - t0
    try:
        path.mkdir(parents=True, exist_ok=True)
        stamp_file.write_text(json.dumps(stamp))
    except OSError as exc:  # a read-only cache only costs compile time later
        log.warning("could not write the warm-up stamp %s: %s", stamp_file, exc)
    log.info("numba cache %s warmed in %.1f s: %s", path, seconds, steps)
    return {"cache_dir": str(path), "skipped": False, "seconds": seconds, "steps": steps}
