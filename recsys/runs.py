"""Typed records of training runs: what to train, what a run measured, and a kept model.

* :class:`ModelSpec` — a model name and its config: one entry of a training job.
* :class:`RunResults` — what a training run measured: the protocol metrics (on an item cold
  start split also ``new_recall`` / ``new_share`` / ``new_users``), the evaluation protocol
  (split config, K, head share, items held out as new), the dataset fingerprint, timings and
  device.
* :class:`KeptRun` — a model kept in the workspace: run name, model name, config, save time,
  its :class:`RunResults` and its folder.

On disk ``results.json`` stays a flat JSON object (metrics beside ``train_s``, ``protocol``
…); these records parse it with defaults for every missing field and ignore unknown ones, so
workspaces written by older versions keep loading, and :meth:`RunResults.to_json` writes the
same object back. Front ends read attributes instead of walking nested dicts.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from recsys.data.splits import SplitConfig

__all__ = ["ModelSpec", "RunProtocol", "RunResults", "KeptRun", "runs_on"]

log = logging.getLogger(__name__)


class ModelSpec(BaseModel):
    """What to train: a registered model name and its config (validated when it is built)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    config: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def many(cls, models: dict[str, dict[str, Any]] | list[ModelSpec]) -> list[ModelSpec]:
        """Specs from a ``{name: config}`` mapping (the CLI and page shape) or a list of specs."""
        if isinstance(models, dict):
            return [cls(name=name, config=dict(cfg or {})) for name, cfg in models.items()]
        return list(models)


class RunProtocol(BaseModel):
    """How a run was evaluated: list length, head share, the split (``None`` when unrecorded)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    k: int = 10
    head_share: float = 0.8
    excluded_context_pairs: int = 0
    split: SplitConfig | None = None
    new_items: int | None = Field(None, description="Items held out whole as new products "
                                  "(item cold start split only).")

    @property
    def split_config(self) -> SplitConfig:
        """The recorded split, or the default split when none was recorded."""
        return self.split or SplitConfig()


#: Fields of ``results.json`` that are not metrics.
_NON_METRICS = ("train_s", "eval_s", "protocol", "device", "dataset_fingerprint", "epochs",
                "stopped", "choice", "notes", "updated_from", "update")


class RunResults(BaseModel):
    """What one training run measured (the flat ``results.json`` object, typed).

    ``metrics`` holds every number of the evaluation summary (``ndcg``, ``recall``, …, and the
    number of evaluated ``users``) in the order they were recorded.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    metrics: dict[str, float | int] = Field(default_factory=dict)
    train_s: float | None = None
    eval_s: float | None = None
    protocol: RunProtocol = Field(default_factory=RunProtocol)
    device: str | None = None
    dataset_fingerprint: str | None = None
    epochs: int | None = Field(None, description="Epochs run, for models trained in epochs.")
    stopped: bool | None = Field(None, description="Whether the run was cancelled early.")
    choice: dict[str, Any] | None = Field(None, description="How a self-tuning model (auto) "
                                          "chose: inner split, baseline, kept candidate, reason, "
                                          "and every candidate's validation figures.")
    notes: dict[str, str] | None = Field(None, description="Settings the model chose on its "
                                         "own training data while it fitted (text embedding, "
                                         "how loud new products are), one line each.")
    updated_from: str | None = Field(None, description="The run an online update started "
                                     "from (an updated run: not evaluated, no metrics).")
    update: dict[str, Any] | None = Field(None, description="What the online update did "
                                          "(recsys.feedback.update.UpdateResult.to_dict).")

    @model_validator(mode="before")
    @classmethod
    def _gather_metrics(cls, data: Any) -> Any:
        """Accept the flat on-disk object: numbers outside the known fields are metrics."""
        if not isinstance(data, dict) or "metrics" in data:
            return data
        metrics = {key: value for key, value in data.items() if key not in _NON_METRICS
                   and isinstance(value, int | float) and not isinstance(value, bool)}
        return {**{key: data[key] for key in _NON_METRICS if key in data}, "metrics": metrics}

    @property
    def stopped_label(self) -> str:
        """``"stopped at epoch N"`` for a run cancelled before it finished (``"stopped early"``
        when it has no epochs), ``""`` for a finished one: the marker every list of kept models
        shows, so a stopped run is never taken for a finished one."""
        if not self.stopped:
            return ""
        return f"stopped at epoch {self.epochs}" if self.epochs else "stopped early"

    def metric(self, name: str, default: float = float("nan")) -> float:
        """One metric, ``default`` (NaN) when it was not recorded."""
        return float(self.metrics.get(name, default))

    def to_json(self) -> dict[str, Any]:
        """The flat ``results.json`` object (metrics first; fields never set are left out)."""
        out: dict[str, Any] = dict(self.metrics)
        for key in _NON_METRICS:
            if key not in self.model_fields_set:
                continue
            value = getattr(self, key)
            out[key] = value.model_dump(mode="json", exclude_unset=True) \
                if isinstance(value, BaseModel) else value
        return out

    def scalars(self) -> dict[str, Any]:
        """Metrics, timings, device and fingerprint: every non-nested value of :meth:`to_json`
        (a results table row, a manifest's model metrics)."""
        return {key: value for key, value in self.to_json().items() if not isinstance(value, dict)}


class KeptRun(BaseModel):
    """A trained model kept in the workspace (``models/<dataset>/<run>/``)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    run: str
    model: str
    saved_at: str | None = None
    results: RunResults = Field(default_factory=RunResults)
    config: dict[str, Any] = Field(default_factory=dict)
    fingerprint: str | None = Field(None, description="Fingerprint of the data it was fitted on.")
    path: Path | None = None
    version: str | None = Field(None, description="An earlier version's name in the run "
                                "history (``None`` for the kept or a waiting run).")

    @property
    def spec(self) -> ModelSpec:
        """What to train to get this model again."""
        return ModelSpec(name=self.model, config=self.config)

    def trained_on(self, fingerprint: str) -> bool:
        """Whether the run was trained and evaluated on the dataset with this fingerprint."""
        return self.results.dataset_fingerprint == fingerprint

    @property
    def updated(self) -> bool:
        """Whether the run is an online update of another run (kept without metrics)."""
        return self.results.updated_from is not None


def runs_on(kept: list[KeptRun], fingerprint: str) -> list[KeptRun]:
    """The runs of ``kept`` that belong to the dataset with ``fingerprint``: those trained on
    it, then the updated runs whose ``updated_from`` chain ends in one of those (an update
    of an update counts on; a broken or circular chain is left out), each group in the
    order of ``kept``."""
    by_name = {r.run: r for r in kept}

    def base_trained(run: KeptRun) -> bool:
        seen: set[str] = set()
        while run.updated and run.run not in seen:
            seen.add(run.run)
            parent = by_name.get(str(run.results.updated_from))
            if parent is None:
                return False
            run = parent
        return not run.updated and run.trained_on(fingerprint)

    trained = [r for r in kept if not r.updated and r.trained_on(fingerprint)]
    return trained + [r for r in kept if r.updated and base_trained(r)]
