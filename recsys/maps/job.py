"""A map build in its own thread: progress with an ETA, and a cancel that acts between steps.

The dashboard starts a :class:`MapJob` and polls it (``fraction``, ``message``, ``eta_s``) so
its page stays responsive during the minute or more a first map of a large catalog takes.
:meth:`MapJob.cancel` sets an event that the build's progress callback checks at every report:
between the steps (vectors, layout, clusters, figures) and after every chunk of 512 texts the
sentence model encodes. The build then raises :class:`~recsys.cache.Cancelled` and nothing of
it is cached.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from recsys.background import BackgroundTask, TaskStatus
from recsys.maps.pipeline import MapConfig, build_map

if TYPE_CHECKING:
    import pandas as pd

    from recsys.data.dataset import Dataset

__all__ = ["MapJob", "MapStatus"]

MapStatus = TaskStatus


class MapJob(BackgroundTask):
    """Build the map of ``dataset`` with ``config`` in a thread (or call :meth:`run` directly)."""

    what = "map build"
    thread_name = "tailstudio-map"
    eta_after = 0.03  # early steps say little about the rest

    def __init__(self, dataset: Dataset, config: MapConfig, *, model: Any = None,
                 cache_dir: str | os.PathLike[str] | None = None,
                 device: str | None = None) -> None:
        super().__init__(dataset.name)
        self.dataset, self.config, self.model = dataset, config, model
        self.cache_dir, self.device = cache_dir, device
        self.frame: pd.DataFrame | None = None

    def _work(self) -> None:
        self.frame = build_map(self.dataset, self.config, model=self.model,
                               progress=self._progress, cache_dir=self.cache_dir,
                               device=self.device)
