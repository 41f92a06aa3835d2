"""Background training runs: split, fit several models, evaluate, keep artifacts.

A :class:`TrainingJob` runs in its own thread so a dashboard stays responsive: it records
progress (per model, per epoch) in plain attributes that any front end can poll, and stops
cleanly when :meth:`TrainingJob.cancel` is called (the current model keeps its best weights and
is still evaluated and kept).
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Literal

from recsys.data.dataset import Dataset
from recsys.data.splits import Split, SplitConfig, split_dataset
from recsys.evaluation import evaluate_split
from recsys.models import create_model
from recsys.runs import ModelSpec, RunResults
from recsys.workspace import Workspace

__all__ = ["TrainingJob", "ModelRun", "train_models"]

log = logging.getLogger(__name__)

Status = Literal["waiting", "running", "done", "stopped", "failed"]


@dataclass
class ModelRun:
    """Progress and outcome of one model inside a job."""

    name: str
    config: dict[str, Any]
    status: Status = "waiting"
    epochs: list[dict[str, float]] = field(default_factory=list)
    results: RunResults | None = None
    error: str = ""
    train_s: float = 0.0


class TrainingJob:
    """Train ``models`` (name → config, or :class:`~recsys.runs.ModelSpec` s) on ``dataset``
    with one split, in a thread."""

    def __init__(self, dataset: Dataset, models: dict[str, dict[str, Any]] | list[ModelSpec],
                 split: SplitConfig | None = None, *, k: int = 10, device: str | None = None,
                 workspace: Workspace | None = None, validation_frac: float = 0.1) -> None:
        self.dataset = dataset
        self.split_config = split or SplitConfig()
        self.k = k
        self.device = device
        self.workspace = workspace
        self.validation_frac = validation_frac
        self.runs = [ModelRun(spec.name, dict(spec.config)) for spec in ModelSpec.many(models)]
        self.status: Status = "waiting"
        self.message = ""
        self.started_at = 0.0
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None

    # -- control ---------------------------------------------------------------------------
    def start(self) -> TrainingJob:
        self.status, self.started_at = "running", time.time()
        self._thread = threading.Thread(target=self.run, name="tailstudio-training", daemon=True)
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask the job to stop after the current epoch; later models are skipped."""
        self._cancel.set()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def progress(self) -> float:
        """Share of the job done (models done + epochs of the current one)."""
        if not self.runs:
            return 1.0
        done = sum(r.status in ("done", "stopped", "failed") for r in self.runs)
        current = next((r for r in self.runs if r.status == "running"), None)
        part = 0.0
        if current is not None and current.epochs:
            total = current.config.get("epochs") or 0
            part = min(1.0, len(current.epochs) / total) if total else 0.5
        return min(1.0, (done + part) / len(self.runs))

    # -- work ------------------------------------------------------------------------------
    def run(self) -> None:
        """The job body (called in the thread by :meth:`start`, or directly)."""
        self.status = "running"
        try:
            split = split_dataset(self.dataset, self.split_config)
            inner = split_dataset(split.train, SplitConfig(
                method="random", test_frac=self.validation_frac, seed=self.split_config.seed))
            for run in self.runs:
                if self._cancel.is_set():
                    run.status = "stopped"
                    continue
                self._train_one(run, split, inner)
            self.status = "stopped" if self._cancel.is_set() else "done"
        except Exception as exc:  # reported to the user, the app keeps running
            log.exception("training job failed")
            self.status, self.message = "failed", f"{type(exc).__name__}: {exc}"

    def _train_one(self, run: ModelRun, split: Split, inner: Split) -> None:
        run.status = "running"
        t0 = time.perf_counter()

        def callback(epoch: int, metrics: dict[str, float]) -> bool:
            run.epochs.append({"epoch": epoch, **{k: float(v) for k, v in metrics.items()}})
            return not self._cancel.is_set()

        try:
            model = create_model(run.name, run.config)
            run.config = model.config.model_dump(mode="json")
            if model.iterative:
                # Iterative models stop early on pairs carved out of the training data (the test
                # pairs stay unseen), then exclude every training item of the split as usual.
                model.fit(inner.train, device=self.device, callback=callback,
                          validation=inner.test)
                model.use_history(split.train)
            else:
                model.fit(split.train, device=self.device, callback=callback)
            run.train_s = time.perf_counter() - t0
            ev = evaluate_split(model, split, k=self.k)
            run.results = RunResults(metrics=ev.summary, train_s=run.train_s, eval_s=ev.seconds,
                                     protocol=ev.protocol, device=model.device_,
                                     dataset_fingerprint=self.dataset.fingerprint,
                                     **model_choice(model))
            if self.workspace is not None:
                self.workspace.save_model(self.dataset.name, model, results=run.results)
            run.status = "stopped" if self._cancel.is_set() else "done"
        except Exception as exc:
            log.warning("model %s failed: %s", run.name, exc)
            run.status, run.error = "failed", f"{type(exc).__name__}: {exc}"
            log.debug("%s", traceback.format_exc())


def model_choice(model: Any) -> dict[str, Any]:
    """``{"choice": ...}`` for a model that chose its own setting (``auto``), else ``{}``."""
    report = getattr(model, "report_", None)
    if not report:
        return {}
    return {"choice": {**report, "chosen": getattr(model, "chosen_", None),
                       "search": getattr(model, "search_", [])}}


def train_models(dataset: Dataset, models: dict[str, dict[str, Any]] | list[ModelSpec],
                 **kwargs: Any) -> TrainingJob:
    """Run a :class:`TrainingJob` in the calling thread and return it (CLI, tests)."""
    job = TrainingJob(dataset, models, **kwargs)
    job.run()
    return job
