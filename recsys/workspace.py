"""A local folder that keeps datasets (and later models and results) between runs.

Layout::

    <root>/active.json                     {"dataset": "<name>"}
    <root>/datasets/<name>/interactions.parquet
    <root>/datasets/<name>/catalog.parquet
    <root>/datasets/<name>/users.parquet   (when user attributes exist)
    <root>/datasets/<name>/context.parquet (interactions seen below the rating threshold)
    <root>/datasets/<name>/meta.json       config, fingerprint, summary, validation report
    <root>/models/<dataset>/<run>/         model.json + weights.npz + results.json
    <root>/item_sets/<dataset>/<name>.json named item sets (map selections, promotions)
    <root>/maps/<dataset>/latest.parquet   the latest item map + latest.json (its settings)

The root is ``TAILSTUDIO_WORKSPACE`` or ``./workspace``. Writes go to a temporary folder that
is renamed into place, so a crash never leaves a half-written dataset behind.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from recsys.data.dataset import Dataset, DatasetConfig, build_dataset
from recsys.runs import KeptRun, RunResults

__all__ = ["Workspace", "default_workspace_path", "safe_name", "WorkspaceError"]

log = logging.getLogger(__name__)

_NAME_OK = re.compile(r"[^A-Za-z0-9._-]+")


class WorkspaceError(RuntimeError):
    """A workspace operation that cannot be done (unknown name, unreadable folder)."""


def default_workspace_path() -> Path:
    """``TAILSTUDIO_WORKSPACE`` when set, else ``workspace`` in the working directory."""
    return Path(os.environ.get("TAILSTUDIO_WORKSPACE", "workspace")).expanduser().resolve()


def safe_name(name: str) -> str:
    """A file-system-safe dataset name: letters, digits, ``.``, ``_`` and ``-`` only."""
    cleaned = _NAME_OK.sub("-", name.strip()).strip(".-_")[:64]
    return cleaned or "dataset"


@contextmanager
def _replacing(target: Path) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success it replaces ``target`` in one rename, on
    failure it is removed, so readers never see a half-written dataset or model."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        yield tmp
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


class Workspace:
    """Named datasets on disk plus a pointer to the active one."""

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root).expanduser().resolve() if root else default_workspace_path()
        (self.root / "datasets").mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    def _dir(self, name: str) -> Path:
        return self.root / "datasets" / safe_name(name)

    def list_datasets(self) -> list[dict[str, Any]]:
        """Saved datasets, newest first, each with its summary from ``meta.json``."""
        out = []
        for meta_path in (self.root / "datasets").glob("*/meta.json"):
            try:
                meta = json.loads(meta_path.read_text())
            except (OSError, json.JSONDecodeError):
                log.warning("skipping unreadable %s", meta_path)
                continue
            out.append(meta)
        return sorted(out, key=lambda m: m.get("saved_at", ""), reverse=True)

    def names(self) -> list[str]:
        return [m["name"] for m in self.list_datasets()]

    def exists(self, name: str) -> bool:
        return (self._dir(name) / "meta.json").exists()

    def save_dataset(self, dataset: Dataset, *, report: dict[str, Any] | None = None,
                     source: str = "", activate: bool = True) -> str:
        """Write ``dataset`` under its (safe) name, replacing an older one of that name."""
        name = safe_name(dataset.name)
        target = self._dir(name)
        with _replacing(target) as tmp:
            dataset.interactions.to_parquet(tmp / "interactions.parquet", index=False)
            dataset.catalog.to_parquet(tmp / "catalog.parquet", index=False)
            if dataset.users is not None:
                dataset.users.to_parquet(tmp / "users.parquet", index=False)
            if dataset.context is not None:
                dataset.context.to_parquet(tmp / "context.parquet", index=False)
            meta = {
                "name": name,
                "source": source,
                "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "fingerprint": dataset.fingerprint,
                "config": dataset.config.model_dump(),
                "summary": dataset.summary(),
                "meta": dataset.meta,
                "report": report,
            }
            (tmp / "meta.json").write_text(json.dumps(meta, indent=2, default=str))
        if activate:
            self.set_active(name)
        log.info("saved dataset %s to %s", name, target)
        return name

    def load_dataset(self, name: str) -> Dataset:
        """Rebuild a saved dataset exactly (same fingerprint)."""
        folder = self._dir(name)
        if not (folder / "meta.json").exists():
            raise WorkspaceError(f"No dataset named '{name}' in {self.root}.")
        meta = json.loads((folder / "meta.json").read_text())
        users_path = folder / "users.parquet"
        context_path = folder / "context.parquet"
        dataset = build_dataset(
            pd.read_parquet(folder / "interactions.parquet"),
            pd.read_parquet(folder / "catalog.parquet"),
            config=DatasetConfig(**meta["config"]),
            name=meta["name"],
            users=pd.read_parquet(users_path) if users_path.exists() else None,
            meta=meta.get("meta") or {},
            context=pd.read_parquet(context_path) if context_path.exists() else None,
        )
        if dataset.fingerprint != meta["fingerprint"]:
            log.warning("dataset %s: fingerprint changed on reload (%s → %s)", name,
                        meta["fingerprint"], dataset.fingerprint)
        return dataset

    def read_meta(self, name: str) -> dict[str, Any]:
        """The stored ``meta.json`` of a dataset (report, summary, source)."""
        path = self._dir(name) / "meta.json"
        if not path.exists():
            raise WorkspaceError(f"No dataset named '{name}' in {self.root}.")
        return json.loads(path.read_text())

    def delete_dataset(self, name: str) -> None:
        """Remove a dataset and the models trained on it."""
        folder = self._dir(name)
        if folder.exists():
            shutil.rmtree(folder)
        for extra in (self._models_dir(name), self._sets_dir(name), self._maps_dir(name)):
            shutil.rmtree(extra, ignore_errors=True)
        if self.active_name() == safe_name(name):
            (self.root / "active.json").unlink(missing_ok=True)

    # -- trained models -------------------------------------------------------------------
    def _models_dir(self, dataset: str) -> Path:
        return self.root / "models" / safe_name(dataset)

    def save_model(self, dataset: str, model: Any, *, run: str | None = None,
                   results: RunResults | dict[str, Any] | None = None) -> str:
        """Keep a trained model (weights, config, fingerprint) plus its evaluation results.

        ``run`` defaults to the model name, so retraining a model replaces its artifact.
        ``results`` is written as the flat ``results.json`` object either way.
        """
        run = safe_name(run or model.name)
        if isinstance(results, RunResults):
            results = results.to_json()
        folder = self._models_dir(dataset) / run
        with _replacing(folder) as tmp:
            model.save(tmp)
            (tmp / "results.json").write_text(json.dumps({
                "run": run, "model": model.name, "saved_at": datetime.now(UTC).isoformat(
                    timespec="seconds"), "results": results or {}}, indent=2, default=str))
        return run

    def list_models(self, dataset: str) -> list[dict[str, Any]]:
        """Trained models kept for ``dataset``: run name, model name, results, fingerprint."""
        out = []
        for res in sorted(self._models_dir(dataset).glob("*/results.json")):
            try:
                info = json.loads(res.read_text())
                info["fingerprint"] = json.loads((res.parent / "model.json").read_text())[
                    "fingerprint"]
            except (OSError, json.JSONDecodeError, KeyError):
                log.warning("skipping unreadable model %s", res.parent)
                continue
            out.append(info)
        return out

    def kept_runs(self, dataset: str) -> list[KeptRun]:
        """Trained models kept for ``dataset`` as typed records (see :func:`list_models` for
        the raw ones), with their config and folder; unreadable records are skipped."""
        out = []
        for info in self.list_models(dataset):
            folder = self._models_dir(dataset) / safe_name(str(info.get("run", "")))
            try:
                config = json.loads((folder / "model.json").read_text()).get("config") or {}
                out.append(KeptRun(**{**info, "config": config, "path": folder}))
            except (OSError, json.JSONDecodeError, ValidationError) as exc:
                log.warning("skipping unreadable model %s: %s", folder, exc)
        return out

    def load_model(self, dataset: str, run: str, device: str | None = None) -> Any:
        """Rebuild a kept model exactly (weights loaded without pickle)."""
        from recsys.models import load_model

        folder = self._models_dir(dataset) / safe_name(run)
        if not (folder / "model.json").exists():
            raise WorkspaceError(f"No trained model '{run}' for dataset '{dataset}'.")
        return load_model(folder, device=device)

    def delete_model(self, dataset: str, run: str) -> None:
        shutil.rmtree(self._models_dir(dataset) / safe_name(run), ignore_errors=True)

    # -- named item sets ------------------------------------------------------------------
    def _sets_dir(self, dataset: str) -> Path:
        return self.root / "item_sets" / safe_name(dataset)

    def save_item_set(self, dataset: str, name: str, item_ids: Any, *, note: str = "") -> str:
        """Keep a named set of item ids (a map selection, a promotion list); returns its name.

        Saving under an existing name replaces that set. Ids are stored as strings, the way
        :class:`Dataset` keeps them.
        """
        clean = safe_name(name)
        ids = sorted({str(i) for i in item_ids})
        if not ids:
            raise WorkspaceError("An item set needs at least one item.")
        folder = self._sets_dir(dataset)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{clean}.json.tmp"
        tmp.write_text(json.dumps({"name": clean, "note": note, "items": ids,
                                   "saved_at": datetime.now(UTC).isoformat(timespec="seconds")}))
        tmp.replace(folder / f"{clean}.json")
        return clean

    def list_item_sets(self, dataset: str) -> list[dict[str, Any]]:
        """Item sets of ``dataset``: name, note, size, saved_at (items not included)."""
        out = []
        for path in sorted(self._sets_dir(dataset).glob("*.json")):
            try:
                info = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                log.warning("skipping unreadable item set %s", path)
                continue
            out.append({"name": info["name"], "note": info.get("note", ""),
                        "size": len(info.get("items", [])), "saved_at": info.get("saved_at")})
        return out

    def load_item_set(self, dataset: str, name: str) -> list[str]:
        """The item ids of a saved set."""
        path = self._sets_dir(dataset) / f"{safe_name(name)}.json"
        try:
            return list(json.loads(path.read_text())["items"])
        except (OSError, json.JSONDecodeError, KeyError):
            raise WorkspaceError(f"No item set '{name}' for dataset '{dataset}'.") from None

    def delete_item_set(self, dataset: str, name: str) -> None:
        (self._sets_dir(dataset) / f"{safe_name(name)}.json").unlink(missing_ok=True)

    # -- item maps ------------------------------------------------------------------------
    def _maps_dir(self, dataset: str) -> Path:
        return self.root / "maps" / safe_name(dataset)

    def save_item_map(self, dataset: str, frame: pd.DataFrame, settings: dict[str, Any]) -> None:
        """Keep the latest item map of ``dataset`` (one row per item: ``item_id, x, y, cluster,
        is_tail, is_tail_cluster, cluster_label`` …) with the settings that produced it, so the
        What-if, Compare and Export pages can group by cluster."""
        with _replacing(self._maps_dir(dataset)) as tmp:
            frame.to_parquet(tmp / "latest.parquet", index=False)
            (tmp / "latest.json").write_text(json.dumps({
                "settings": settings, "saved_at": datetime.now(UTC).isoformat(timespec="seconds")},
                indent=2, default=str))

    def load_item_map(self, dataset: str) -> tuple[pd.DataFrame, dict[str, Any]] | None:
        """The latest item map and its settings, or ``None`` when none was saved."""
        folder = self._maps_dir(dataset)
        try:
            frame = pd.read_parquet(folder / "latest.parquet")
            meta = json.loads((folder / "latest.json").read_text())
        except (OSError, json.JSONDecodeError, ValueError):
            return None
        return frame, meta.get("settings", {})

    def set_active(self, name: str) -> None:
        if not self.exists(name):
            raise WorkspaceError(f"No dataset named '{name}' in {self.root}.")
        tmp = self.root / ".active.json.tmp"
        tmp.write_text(json.dumps({"dataset": safe_name(name)}))
        tmp.replace(self.root / "active.json")

    def active_name(self) -> str | None:
        """Name of the active dataset, or ``None`` when none is set or it was removed."""
        try:
            name = json.loads((self.root / "active.json").read_text()).get("dataset")
        except (OSError, json.JSONDecodeError):
            return None
        return name if name and self.exists(name) else None
