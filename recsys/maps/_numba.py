"""A persistent numba cache for umap-learn, pynndescent and hdbscan.

UMAP's nearest-neighbour search (pynndescent) and layout are numba code: compiling them costs
tens of seconds in every new process. Numba can keep compiled machine code on disk
(``NUMBA_CACHE_DIR``), but umap-learn marks almost none of its functions ``cache=True``, so the
cache alone does not help it. :func:`prepare_numba` therefore

* points ``NUMBA_CACHE_DIR`` at ``<workspace>/.cache/numba`` (unless it is already set) before
  numba is first imported, and
* after ``import umap``, turns on on-disk caching for umap's module-level compiled functions,
  which is what ``cache=True`` would have done. Cached code is keyed by the source file, so an
  upgraded umap-learn simply compiles again.

Call it before importing umap, hdbscan or openTSNE (the projection and clustering modules do).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path

__all__ = ["prepare_numba", "numba_cache_dir", "enable_umap_caching"]

log = logging.getLogger(__name__)

_LOCK = threading.Lock()
_UMAP_DONE = False
# The serial and parallel layout dispatchers share one Python function, and numba's cache
# index does not tell them apart: only the serial one (used with a fixed seed) is cached.
_SKIP = {"_nb_optimize_layout_euclidean_single_epoch_parallel"}


def numba_cache_dir(root: str | os.PathLike[str] | None = None) -> Path:
    """``NUMBA_CACHE_DIR`` when set, else ``<root or workspace>/.cache/numba``."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return Path(os.environ["NUMBA_CACHE_DIR"])
    if root is None:
        from ..workspace import default_workspace_path

        root = default_workspace_path()
    return Path(root) / ".cache" / "numba"


def prepare_numba(root: str | os.PathLike[str] | None = None) -> Path:
    """Set up the persistent numba cache folder (idempotent); returns it."""
    path = numba_cache_dir(root)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a read-only location only costs compile time
        log.warning("numba cache folder %s is not writable: %s", path, exc)
    os.environ.setdefault("NUMBA_CACHE_DIR", str(path))
    if "numba" in sys.modules:  # imported earlier by someone else: set its config directly
        from numba.core import config

        if not getattr(config, "CACHE_DIR", ""):
            config.CACHE_DIR = os.environ["NUMBA_CACHE_DIR"]
    return path


def enable_umap_caching() -> int:
    """Turn on on-disk caching for umap-learn's compiled functions; returns how many."""
    global _UMAP_DONE
    with _LOCK:
        if _UMAP_DONE:
            return 0
        prepare_numba()
        import umap.distances
        import umap.layouts
        import umap.sparse
        import umap.spectral
        import umap.umap_
        import umap.utils
        from numba.core.caching import NullCache
        from numba.core.dispatcher import Dispatcher

        count = 0
        for module in (umap.umap_, umap.layouts, umap.utils, umap.spectral, umap.distances,
                       umap.sparse):
            for name, obj in vars(module).items():
                if (isinstance(obj, Dispatcher) and name not in _SKIP
                        and isinstance(obj._cache, NullCache) and not obj.overloads):
                    try:
                        obj.enable_caching()
                        count += 1
                    except Exception as exc:  # pragma: no cover - caching is an optimisation
                        log.debug("cannot cache umap function %s: %s", name, exc)
        _UMAP_DONE = True
        log.info("numba cache %s: on-disk caching enabled for %d umap functions",
                 os.environ.get("NUMBA_CACHE_DIR"), count)
        return count
