"""A map build in its own thread: progress with an ETA, and a cancel that acts between steps.

The dashboard starts a :class:`MapJob` and polls it (``fraction``, ``message``, ``eta_s``) so
its page stays responsive during the minute or more a first map of a large catalog takes.
:meth:`MapJob.cancel` sets an event that the build's progress callback checks at every report:
between the steps (vectors, layout, clusters, figures) and after every chunk of 512 texts the
sentence model encodes. The build then raises :class:`~recsys.cache.Cancelled` and nothing of
it is cached.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Any, Literal

from recsys.cache import Cancelled
from recsys.maps.pipeline import MapConfig, build_map

if TYPE_CHECKING:
    import pandas as pd

    from recsys.data.dataset import Dataset

__all__ = ["MapJob", "MapStatus"]

log = logging.getLogger(__name__)

MapStatus = Literal["waiting", "running", "done", "stopped", "failed"]
#: Share of the build that must be done before an ETA is given (early steps say little).
_ETA_AFTER = 0.03


class MapJob:
    """Build the map of ``dataset`` with ``config`` in a thread (or call :meth:`run` directly)."""

    def __init__(self, dataset: Dataset, config: MapConfig, *, model: Any = None,
                 cache_dir: str | os.PathLike[str] | None = None,
                 device: str | None = None) -> None:
        self.dataset, self.config, self.model = dataset, config, model
        self.cache_dir, self.device = cache_dir, device
        self.status: MapStatus = "waiting"
        self.fraction = 0.0
        self.message = "waiting to start"
        self.error = ""
        self.frame: pd.DataFrame | None = None
        self.started_at = 0.0
        self.finished_at = 0.0
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None

    # -- control ---------------------------------------------------------------------------
    def start(self) -> MapJob:
        self.status, self.started_at = "running", time.monotonic()
        self._thread = threading.Thread(target=self.run, name="tailstudio-map", daemon=True)
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask the build to stop at its next progress report."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def running(self) -> bool:
        return self.status in ("waiting", "running") and self._thread is not None

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    # -- reading ---------------------------------------------------------------------------
    @property
    def elapsed_s(self) -> float:
        if not self.started_at:
            return 0.0
        return (self.finished_at or time.monotonic()) - self.started_at

    @property
    def eta_s(self) -> float | None:
        """Seconds left, extrapolated from the progress so far (``None`` until it says much)."""
        if self.status != "running" or self.fraction < _ETA_AFTER:
            return None
        return self.elapsed_s * (1.0 - self.fraction) / self.fraction

    # -- work ------------------------------------------------------------------------------
    def _progress(self, fraction: float, message: str) -> None:
        if self._cancel.is_set():
            raise Cancelled("map build cancelled")
        self.fraction = min(1.0, max(self.fraction, float(fraction)))
        self.message = message

    def run(self) -> None:
        """The build (in the thread by :meth:`start`); the outcome lands in ``status``."""
        self.status = "running"
        if not self.started_at:
            self.started_at = time.monotonic()
        try:
            self._progress(0.0, "starting")
            self.frame = build_map(self.dataset, self.config, model=self.model,
                                   progress=self._progress, cache_dir=self.cache_dir,
                                   device=self.device)
            self.status = "done"
        except Cancelled:
            self.status, self.message = "stopped", "cancelled"
            log.info("map build of %s cancelled after %.1f s", self.dataset.name, self.elapsed_s)
        except Exception as exc:  # reported on the page; the app keeps running
            log.warning("map build of %s failed: %s", self.dataset.name, exc)
            self.status, self.error = "failed", str(exc) or type(exc).__name__
        finally:
            self.finished_at = time.monotonic()
