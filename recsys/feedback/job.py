"""A replay simulation in its own thread: progress, elapsed time, an ETA and a cancel.

The Explore page starts a :class:`SimulationJob` and polls it (``fraction``, ``message``,
``eta_s``); :meth:`SimulationJob.cancel` sets an event the simulation's progress callback
checks before every stage and every replayed day, so a cancel acts within one day of one
policy (a model fit in progress finishes first). The outcome lands in ``status``
(``done``, ``stopped`` or ``failed`` with ``error``) and ``result``.
"""

from __future__ import annotations

from typing import Any

from recsys.background import BackgroundTask, TaskStatus
from recsys.data.dataset import Dataset
from recsys.feedback.prepare import PreparedReplay
from recsys.feedback.simulation import SimulationConfig, SimulationResult, simulate

__all__ = ["SimulationJob", "JobStatus"]

JobStatus = TaskStatus


class SimulationJob(BackgroundTask):
    """Run :func:`~recsys.feedback.simulation.simulate` for ``model`` (unfitted, or fitted on
    the replay's train part when ``prepared`` is given) on ``dataset`` in a thread."""

    what = "simulation"
    thread_name = "tailstudio-simulate"
    eta_after = 0.05

    def __init__(self, dataset: Dataset, model: Any, config: SimulationConfig, *,
                 prepared: PreparedReplay | None = None, device: str | None = None,
                 label: str = "") -> None:
        super().__init__(dataset.name)
        self.dataset, self.model, self.config = dataset, model, config
        self.prepared, self.device, self.label = prepared, device, label
        self.result: SimulationResult | None = None

    def _work(self) -> None:
        self.result = simulate(self.model, self.dataset, self.config, device=self.device,
                               prepared=self.prepared, progress=self._progress)
