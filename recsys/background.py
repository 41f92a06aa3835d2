"""Long work in its own thread: status, progress with an ETA, and a cancel between steps.

The dashboard starts a task and polls it (``fraction``, ``message``, ``eta_s``) so its page stays
responsive. :meth:`BackgroundTask.cancel` sets an event that the work's progress callback
(:meth:`BackgroundTask._progress`) checks at every report; the work then raises
:class:`~recsys.cache.Cancelled` and the task ends ``stopped``. A failure ends it ``failed``
with ``error`` (logged, never raised into the page). Subclasses say what the work is
(:meth:`BackgroundTask._work`) and what to call it in messages (``what``).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import ClassVar, Literal

from recsys.cache import Cancelled

__all__ = ["BackgroundTask", "TaskStatus"]

log = logging.getLogger(__name__)

TaskStatus = Literal["waiting", "running", "done", "stopped", "failed"]


class BackgroundTask:
    """The thread, status and progress bookkeeping shared by the map build and the replay
    simulation; the work itself is :meth:`_work`."""

    #: What the work is called in logs and cancel messages ("map build", "simulation").
    what: ClassVar[str] = "task"
    #: Thread name (shown by debuggers and ``py-spy``).
    thread_name: ClassVar[str] = "tailstudio-task"
    #: Share of the work that must be done before an ETA is given (early steps say little).
    eta_after: ClassVar[float] = 0.05

    def __init__(self, subject: str = "") -> None:
        self.subject = subject  # e.g. the dataset's name, for the log
        self.status: TaskStatus = "waiting"
        self.fraction = 0.0
        self.message = "waiting to start"
        self.error = ""
        self.started_at = 0.0
        self.finished_at = 0.0
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None

    # -- control ---------------------------------------------------------------------------
    def start(self) -> BackgroundTask:
        self.status, self.started_at = "running", time.monotonic()
        self._thread = threading.Thread(target=self.run, name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask the work to stop at its next progress report."""
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
        if self.status != "running" or self.fraction < self.eta_after:
            return None
        return self.elapsed_s * (1.0 - self.fraction) / self.fraction

    # -- work ------------------------------------------------------------------------------
    def _progress(self, fraction: float, message: str) -> None:
        if self._cancel.is_set():
            raise Cancelled(f"{self.what} cancelled")
        self.fraction = min(1.0, max(self.fraction, float(fraction)))
        self.message = message

    def _work(self) -> None:
        """The work itself; reports through :meth:`_progress` and keeps its result."""
        raise NotImplementedError

    def run(self) -> None:
        """The work (in the thread by :meth:`start`, or called directly); the outcome lands in
        ``status``."""
        self.status = "running"
        if not self.started_at:
            self.started_at = time.monotonic()
        try:
            self._progress(0.0, "starting")
            self._work()
            self.status = "done"
        except Cancelled:
            self.status, self.message = "stopped", "cancelled"
            log.info("%s of %s cancelled after %.1f s", self.what, self.subject, self.elapsed_s)
        except Exception as exc:  # reported on the page; the app keeps running
            log.warning("%s of %s failed: %s", self.what, self.subject, exc)
            self.status, self.error = "failed", str(exc) or type(exc).__name__
        finally:
            self.finished_at = time.monotonic()
