"""Background training runs: split, fit several models, evaluate, keep artifacts.

A :class:`TrainingJob` runs in its own thread so a dashboard stays responsive: it records
progress (per model, per epoch) in plain attributes that any front end can poll, and stops
cleanly when :meth:`TrainingJob.cancel` is called: gradient-trained models are asked after every
batch, so the stop acts within a batch; the models after the current one are skipped, and the
current one is either discarded (``cancel()``) or evaluated and kept with its results marked
``stopped`` at the epoch it reached (``cancel(keep=True)``), so no page offers it as a finished
model.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Literal

from recsys.data.dataset import Dataset
from recsys.data.splits import Split, SplitConfig, split_dataset, validation_split
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
    #: Batches trained so far (gradient-trained models; each one is a chance to cancel).
    batches: int = 0
    #: Epoch a cancel stopped the fit in (``None``: the fit was not cut short).
    stopped_at: int | None = None
    #: Whether the model was kept in the workspace (a stopped run only when asked).
    kept: bool = False
    #: Kept as a new run waiting to be accepted: the run of that name already kept stays in
    #: use until then (:meth:`recsys.workspace.Workspace.accept_pending`).
    pending: bool = False

    @property
    def outcome(self) -> str:
        """One line about a finished run, e.g. ``"stopped at epoch 2, discarded"``."""
        if self.status == "stopped":
            where = f"stopped at epoch {self.stopped_at}" if self.stopped_at else "stopped"
            if self.results is None and not self.kept:
                return f"{where}, discarded" if self.epochs or self.batches else "skipped"
            return f"{where}, kept marked as stopped" if self.kept else where
        if self.pending:
            return f"{self.status}, waiting for you to accept it (the previous run stays in use)"
        return self.status


class _RunControl:
    """The callback a job hands to a model's fit: records each epoch and answers the cancel flag
    after every batch (:func:`recsys.models.base.stop_requested`)."""

    def __init__(self, run: ModelRun, cancel: threading.Event) -> None:
        self.run, self._cancel = run, cancel
        self.observed = False  # the model saw the cancel (its fit was cut short)

    def __call__(self, epoch: int, metrics: dict[str, float]) -> bool:
        self.run.epochs.append({"epoch": epoch, **{k: float(v) for k, v in metrics.items()}})
        if self._cancel.is_set():
            self.observed = True
            return False
        return True

    def stop_requested(self) -> bool:
        self.run.batches += 1
        if self._cancel.is_set():
            self.observed = True
            return True
        return False


class TrainingJob:
    """Train ``models`` (name → config, or :class:`~recsys.runs.ModelSpec` s) on ``dataset``
    with one split, in a thread."""

    def __init__(self, dataset: Dataset, models: dict[str, dict[str, Any]] | list[ModelSpec],
                 split: SplitConfig | None = None, *, k: int = 10, device: str | None = None,
                 workspace: Workspace | None = None, validation_frac: float = 0.1,
                 ask_before_replacing: bool = False) -> None:
        self.dataset = dataset
        self.split_config = split or SplitConfig()
        self.k = k
        self.device = device
        self.workspace = workspace
        self.validation_frac = validation_frac
        #: A retrained model whose run is already kept waits to be accepted instead of
        #: replacing it (the dashboard; the replaced version goes to the run history anyway).
        self.ask_before_replacing = ask_before_replacing
        self.runs = [ModelRun(spec.name, dict(spec.config)) for spec in ModelSpec.many(models)]
        self.status: Status = "waiting"
        self.message = ""
        self.started_at = 0.0
        #: After a cancel: keep the model in training, marked stopped (else it is discarded).
        self.keep_stopped = False
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None

    # -- control ---------------------------------------------------------------------------
    def start(self) -> TrainingJob:
        self.status, self.started_at = "running", time.time()
        self._thread = threading.Thread(target=self.run, name="tailstudio-training", daemon=True)
        self._thread.start()
        return self

    def cancel(self, keep: bool = False) -> None:
        """Stop the job: the model in training stops within a batch (models that train in one
        piece finish it) and later models are skipped. With ``keep`` the stopped model is still
        evaluated and kept, its results marked ``stopped`` at the epoch it reached; without, it
        is discarded (a model kept before under its name stays as it was)."""
        self.keep_stopped = bool(keep)
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        return self._cancel.is_set()

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
            inner = validation_split(split.train, self.validation_frac, self.split_config.seed)
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
        callback = _RunControl(run, self._cancel)

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
            stopped = callback.observed
            if stopped:
                run.stopped_at = getattr(model, "stopped_at_", None) or (len(run.epochs) or None)
            if self._cancel.is_set() and not self.keep_stopped:
                run.status = "stopped"  # discarded: not evaluated, nothing kept or replaced
                log.info("%s stopped (epoch %s) and discarded", run.name, run.stopped_at)
                return
            ev = evaluate_split(model, split, k=self.k)
            protocol = dict(ev.protocol)
            if split.cold_items is not None:  # item cold start: how many items were new
                protocol["new_items"] = int(split.cold_items.sum())
            marks: dict[str, Any] = {}
            if model.iterative:
                marks["epochs"] = run.stopped_at if stopped else len(model.history_)
            if stopped:
                marks["stopped"] = True
            if notes := model.fitted_notes():
                marks["notes"] = notes
            run.results = RunResults(metrics=ev.summary, train_s=run.train_s, eval_s=ev.seconds,
                                     protocol=protocol, device=model.device_,
                                     dataset_fingerprint=self.dataset.fingerprint,
                                     **marks, **model_choice(model))
            if self.workspace is not None:
                name = self.dataset.name
                run.pending = self.ask_before_replacing and any(
                    m.run == model.name for m in self.workspace.kept_runs(name))
                self.workspace.save_model(name, model, results=run.results, pending=run.pending)
                run.kept = True
            run.status = "stopped" if stopped else "done"
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
