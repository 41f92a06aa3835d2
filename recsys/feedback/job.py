"""A replay simulation in its own thread: progress, elapsed time, an ETA and a cancel.

The Explore page starts a :class:`SimulationJob` and polls it (``fraction``, ``message``,
``eta_s``); :meth:`SimulationJob.cancel` sets an event the simulation's progress callback
checks before every stage and every replayed day, so a cancel acts within one day of one
policy (a model fit in progress finishes first). The outcome lands in ``status``
(``done``, ``stopped`` or ``failed`` with ``error``) and ``result``.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Literal

from recsys.cache import Cancelled
from recsys.data.dataset import Dataset
from recsys.feedback.prepare import PreparedReplay
from recsys.feedback.simulation import SimulationConfig, SimulationResult, simulate

__all__ = ["SimulationJob", "JobStatus"]

log = logging.getLogger(__name__)

JobStatus = Literal["waiting", "running", "done", "stopped", "failed"]
#: Share of the work that must be done before an ETA is given.
_ETA_AFTER = 0.05


class SimulationJob:
    """Run :func:`~recsys.feedback.simulation.simulate` for ``model`` (unfitted, or fitted on
    the replay's train part when ``prepared`` is given) on ``dataset`` in a thread."""

    def __init__(self, dataset: Dataset, model: Any, config: SimulationConfig, *,
                 prepared: PreparedReplay | None = None, device: str | None = None,
                 label: str = "") -> None:
        self.dataset, self.model, self.config = dataset, model, config
        self.prepared, self.device, self.label = prepared, device, label
        self.status: JobStatus = "waiting"
        self.fraction = 0.0
        self.message = "waiting to start"
        self.error = ""
        self.result: SimulationResult | None = None
        self.started_at = 0.0
        self.finished_at = 0.0
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> SimulationJob:
        self.status, self.started_at = "running", time.monotonic()
        self._thread = threading.Thread(target=self.run, name="tailstudio-simulate", daemon=True)
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask the simulation to stop before its next stage or replayed day."""
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

    @property
    def elapsed_s(self) -> float:
        if not self.started_at:
            return 0.0
        return (self.finished_at or time.monotonic()) - self.started_at

    @property
    def eta_s(self) -> float | None:
        """Seconds left, extrapolated from the progress so far (``None`` early on)."""
        if self.status != "running" or self.fraction < _ETA_AFTER:
            return None
        return self.elapsed_s * (1.0 - self.fraction) / self.fraction

    def _progress(self, fraction: float, message: str) -> None:
        if self._cancel.is_set():
            raise Cancelled("simulation cancelled")
        self.fraction = min(1.0, max(self.fraction, float(fraction)))
        self.message = message

    def run(self) -> None:
        """The simulation (in the thread by :meth:`start`, or called directly)."""
        self.status = "running"
        if not self.started_at:
            self.started_at = time.monotonic()
        try:
            self._progress(0.0, "starting")
            self.result = simulate(self.model, self.dataset, self.config, device=self.device,
                                   prepared=self.prepared, progress=self._progress)
            self.status = "done"
        except Cancelled:
            self.status, self.message = "stopped", "cancelled"
            log.info("simulation on %s cancelled after %.1f s", self.dataset.name, self.elapsed_s)
        except Exception as exc:  # reported on the page; the app keeps running
            log.warning("simulation on %s failed: %s", self.dataset.name, exc)
            self.status, self.error = "failed", str(exc) or type(exc).__name__
        finally:
            self.finished_at = time.monotonic()
