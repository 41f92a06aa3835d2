"""A persistent numba cache for umap-learn, pynndescent and hdbscan, and a cheap ``import umap``.

UMAP's nearest-neighbour search (pynndescent) and layout are numba code: compiling them costs
tens of seconds in every new process. Numba can keep compiled machine code on disk
(``NUMBA_CACHE_DIR``), but umap-learn marks almost none of its functions ``cache=True``, so the
cache alone does not help it. This module therefore

* points ``NUMBA_CACHE_DIR`` at a per-user cache folder, ``$XDG_CACHE_HOME/tail-studio/numba``
  or ``~/.cache/tail-studio/numba`` (unless it is already set), before numba is first imported
  (:func:`prepare_numba`). Never the workspace: numba reads its cache index with ``pickle``, so
  whoever can write the cache folder can run code in the next process that draws a map, and
  the workspace is where uploads and other analysts' files land;
* imports pynndescent with its *eager* compilation deferred (:func:`import_umap`): pynndescent
  declares explicit signatures for about a hundred kernels, so numba compiles all of them on
  import — hub trees, bit-packed and int8-quantised distances, sparse metrics — about 25 s on a
  2-core machine before the first map, although a map uses none of them when the neighbour graph
  is computed here, and a handful when pynndescent builds it. With the signatures dropped while
  the package loads, each kernel compiles on its first call, for the argument types it gets,
  and is still cached on disk (``cache=True`` is kept). Only pynndescent's query path
  (``NNDescent.query``, used by ``UMAP.transform``) looks compiled overloads up by signature;
  the maps never call it;
* after ``import umap``, turns on on-disk caching for umap's module-level compiled functions,
  which is what ``cache=True`` would have done. Cached code is keyed by the source file, so an
  upgraded umap-learn simply compiles again.

:func:`warm_up` compiles what a map needs into the cache ahead of time (``python -m recsys
warmup``, run by ``scripts/setup.sh``), so a user's first map does not wait for numba.
Call :func:`prepare_numba` before importing umap, hdbscan or openTSNE (the projection and
clustering modules do) and import umap through :func:`import_umap`.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = ["prepare_numba", "numba_cache_dir", "user_cache_root", "enable_umap_caching",
           "import_umap", "deferred_signatures"]

log = logging.getLogger(__name__)

_LOCK = threading.RLock()
_UMAP_DONE = False
# The serial and parallel layout dispatchers share one Python function, and numba's cache
# index does not tell them apart: only the serial one (used with a fixed seed) is cached.
_SKIP = {"_nb_optimize_layout_euclidean_single_epoch_parallel"}


def user_cache_root() -> Path:
    """The per-user cache folder: ``$XDG_CACHE_HOME`` when set (and absolute), else
    ``~/.cache``."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    return Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"


def numba_cache_dir(root: str | os.PathLike[str] | None = None) -> Path:
    """``NUMBA_CACHE_DIR`` when set, else ``<root or per-user cache>/tail-studio/numba``.

    The default is outside the workspace on purpose (numba unpickles its index: see the module
    docstring). ``root`` replaces the per-user cache folder (``--cache-dir``, tests).
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return Path(os.environ["NUMBA_CACHE_DIR"])
    return Path(root if root is not None else user_cache_root()) / "tail-studio" / "numba"


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


def _lazy(decorator: Callable[..., Any]) -> Callable[..., Any]:
    """``decorator`` (``numba.njit`` / ``numba.jit``) without its explicit signatures."""

    @functools.wraps(decorator)
    def wrapper(*args: Any, **kws: Any) -> Any:
        given = kws.get("signature_or_function")
        if given is not None and not inspect.isfunction(given):
            del kws["signature_or_function"]
        if args and not inspect.isfunction(args[0]):
            args = args[1:]  # a signature (string, list, numba Signature): compile lazily
        return decorator(*args, **kws)

    return wrapper


@contextlib.contextmanager
def deferred_signatures() -> Iterator[None]:
    """While active, ``numba.njit(signature, ...)`` compiles on first call instead of at once."""
    import numba

    saved = numba.njit, numba.jit
    numba.njit, numba.jit = _lazy(numba.njit), _lazy(numba.jit)
    try:
        yield
    finally:
        numba.njit, numba.jit = saved


def import_umap() -> ModuleType:
    """``umap``, imported with pynndescent's kernels compiled lazily and umap's cached on disk."""
    prepare_numba()
    with _LOCK:
        if "pynndescent" not in sys.modules:
            try:
                with deferred_signatures():
                    import pynndescent  # noqa: F401
            except Exception as exc:  # pragma: no cover - fall back to the eager import
                log.warning("lazy pynndescent import failed (%s); importing it eagerly", exc)
                for name in [m for m in sys.modules if m.startswith("pynndescent")]:
                    del sys.modules[name]
        import umap

        enable_umap_caching()
    return umap


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
