"""A local folder that keeps datasets, trained models, item sets and maps between runs.

Layout (each ``→`` is a link to the current version, see :mod:`recsys.workspace.atomic`)::

    <root>/active.json                      {"dataset": "<name>"}
    <root>/datasets/<name> →                interactions.parquet, catalog.parquet,
                                            users.parquet (when user attributes exist),
                                            context.parquet (interactions seen below the
                                            rating threshold), meta.json (display name,
                                            config, fingerprint, summary, validation report)
    <root>/models/<dataset>/<run> →         model.json + weights.npz + results.json
    <root>/pending/<dataset>/<run> →        a retrained model waiting to be accepted
    <root>/history/<dataset>/<run>/<v>/     earlier versions (see recsys.workspace.models)
    <root>/item_sets/<dataset>/<name>.json  named item sets (map selections, promotions)
    <root>/maps/<dataset> →                 latest.parquet (the latest item map) + latest.json
    <root>/.store/, <root>/.locks/          the versions behind the links, writer locks

The root is ``TAILSTUDIO_WORKSPACE`` or ``./workspace``. A save writes a new version and then
switches the link, so a killed process, a second writer or a reader during a write always
sees one complete version. Folder names are unique per display name: a name whose slug is
already taken by a *different* dataset gets a short hash of its display name appended.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from recsys.data.dataset import Dataset, DatasetConfig, build_dataset
from recsys.workspace.atomic import Store, WorkspaceError, visible, write_json
from recsys.workspace.models import ModelShelf
from recsys.workspace.naming import now_iso, safe_name
from recsys.workspace.records import (
    ActiveRecord,
    DatasetRecord,
    ItemSetRecord,
    MapRecord,
    RuleSetRecord,
    read_record,
)

__all__ = ["Workspace", "default_workspace_path", "safe_name", "WorkspaceError"]

log = logging.getLogger(__name__)

_DATASETS = Path("datasets")


def default_workspace_path() -> Path:
    """``TAILSTUDIO_WORKSPACE`` when set, else ``workspace`` in the working directory."""
    return Path(os.environ.get("TAILSTUDIO_WORKSPACE", "workspace")).expanduser().resolve()


def _hashed(display: str) -> str:
    """The slug of ``display`` plus a short hash of it: unique per display name, ≤ 64 chars."""
    digest = hashlib.sha256(display.encode("utf-8")).hexdigest()[:8]
    return f"{safe_name(display)[:55].rstrip('.-_')}-{digest}"


class Workspace(ModelShelf):
    """Named datasets on disk plus a pointer to the last active one."""

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root).expanduser().resolve() if root else default_workspace_path()
        (self.root / "datasets").mkdir(parents=True, exist_ok=True)
        self._store = Store(self.root)
        self._store.clean()

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    # -- datasets --------------------------------------------------------------------------
    def _keys(self) -> list[str]:
        """Folder names of saved datasets (visible ones, plus any whose link a kill lost)."""
        return sorted({p.name for p in (*visible(self.root / "datasets"),
                                        *visible(self._store.store / "datasets"))})

    def _record(self, key: str, *, warn: bool = True) -> tuple[DatasetRecord, Path] | None:
        folder = self._store.current(_DATASETS / key)
        if folder is None:
            return None
        record = read_record(folder / "meta.json", DatasetRecord, warn=warn)
        if record is None:
            return None
        return record.model_copy(update={"name": key}), folder

    def _key(self, name: str) -> str:
        """The folder of dataset ``name``: itself when saved so, else the dataset whose display
        name it is, else its slug."""
        keys = self._keys()
        if name in keys:
            return name
        for key in keys:
            found = self._record(key, warn=False)
            if found and found[0].display_name == name:
                return key
        return safe_name(name)

    def _allocate(self, display: str) -> str:
        """Folder for saving ``display``: the dataset of that display name (replaced), else its
        slug when free, else the slug plus a hash — never another dataset's folder."""
        records = {key: self._record(key, warn=False) for key in self._keys()}
        for key, found in records.items():
            if found and found[0].display_name == display:
                return key
        slug = safe_name(display)
        owner = records.get(slug, False)
        if owner is False or (owner and owner[0].display_name is None):  # free, or older layout
            return slug
        key = _hashed(display)
        n = 2
        while key in records and not (records[key] and records[key][0].display_name == display):
            key, n = f"{_hashed(display)[:60]}-{n}", n + 1
        return key

    def list_datasets(self) -> list[dict[str, Any]]:
        """Saved datasets, newest first, each with its summary from ``meta.json`` (``name`` is
        the folder name to pass back, ``display_name`` the name it was saved under);
        unreadable ones are skipped with a warning."""
        out = []
        for key in self._keys():
            found = self._record(key)
            if found is None:
                log.warning("skipping dataset %s: no readable meta.json", key)
                continue
            record, folder = found
            try:  # saves within one second (saved_at's resolution): the later file first
                written = (folder / "meta.json").stat().st_mtime_ns
            except OSError:
                written = 0
            out.append({**record.model_dump(), "display_name": record.label, "_written": written})
        out.sort(key=lambda m: (m.get("saved_at") or "", m["_written"]), reverse=True)
        return [{k: v for k, v in m.items() if k != "_written"} for m in out]

    def names(self) -> list[str]:
        return [m["name"] for m in self.list_datasets()]

    def exists(self, name: str) -> bool:
        return self._record(self._key(name), warn=False) is not None

    def save_dataset(self, dataset: Dataset, *, report: dict[str, Any] | None = None,
                     source: str = "", activate: bool = True) -> str:
        """Write ``dataset``, replacing the saved dataset of the same display name (never a
        different one); returns its folder name, the name to load it by."""
        display = dataset.name.strip() or "dataset"
        with self._store.staging("datasets") as tmp:
            dataset.interactions.to_parquet(tmp / "interactions.parquet", index=False)
            dataset.catalog.to_parquet(tmp / "catalog.parquet", index=False)
            if dataset.users is not None:
                dataset.users.to_parquet(tmp / "users.parquet", index=False)
            if dataset.context is not None:
                dataset.context.to_parquet(tmp / "context.parquet", index=False)
            with self._store.locked("datasets"):
                name = self._allocate(display)
                write_json(tmp / "meta.json", {
                    "name": name, "display_name": display, "source": source,
                    "saved_at": now_iso(), "fingerprint": dataset.fingerprint,
                    "config": dataset.config.model_dump(), "summary": dataset.summary(),
                    "meta": dataset.meta, "report": report})
                self._store.publish(tmp, _DATASETS / name)
        if activate:
            self.set_active(name)
        log.info("saved dataset %s as %s in %s", display, name, self.root)
        return name

    def _open(self, name: str) -> tuple[DatasetRecord, Path]:
        key = self._key(name)
        if self._store.current(_DATASETS / key) is None:
            raise WorkspaceError(f"No dataset named '{name}' in {self.root}.")
        found = self._record(key)
        if found is None:
            raise WorkspaceError(
                f"The saved dataset '{name}' has a missing or damaged meta.json "
                f"({self.root / 'datasets' / key}). Delete it and load the data again.")
        return found

    def load_dataset(self, name: str) -> Dataset:
        """Rebuild a saved dataset exactly (same fingerprint)."""
        for attempt in (1, 2):  # a version removed under a slow reader: read the new one
            record, folder = self._open(name)
            try:
                return self._build(record, folder)
            except FileNotFoundError:
                if attempt == 2:
                    raise WorkspaceError(f"The saved dataset '{name}' is missing files "
                                         f"({folder}). Load the data again.") from None
            except (OSError, ValueError, ValidationError, TypeError) as exc:
                raise WorkspaceError(f"The saved dataset '{name}' could not be read ({folder}: "
                                     f"{exc}). Delete it and load the data again.") from None
        raise AssertionError("unreachable")

    @staticmethod
    def _build(record: DatasetRecord, folder: Path) -> Dataset:
        users_path = folder / "users.parquet"
        context_path = folder / "context.parquet"
        dataset = build_dataset(
            pd.read_parquet(folder / "interactions.parquet"),
            pd.read_parquet(folder / "catalog.parquet"),
            config=DatasetConfig(**record.config),
            name=record.name,
            users=pd.read_parquet(users_path) if users_path.exists() else None,
            meta=record.meta,
            context=pd.read_parquet(context_path) if context_path.exists() else None,
        )
        if dataset.fingerprint != record.fingerprint:
            log.warning("dataset %s: fingerprint changed on reload (%s → %s)", record.name,
                        record.fingerprint, dataset.fingerprint)
        return dataset

    def read_meta(self, name: str) -> dict[str, Any]:
        """The stored ``meta.json`` of a dataset (report, summary, source, display name)."""
        record = self._open(name)[0]
        return {**record.model_dump(), "display_name": record.label}

    def delete_dataset(self, name: str) -> None:
        """Remove a dataset and the models, item sets, rule sets and map kept for it."""
        key = self._key(name)
        with self._store.locked("datasets"):
            self._store.delete(_DATASETS / key)
        for area in ("models", "maps"):
            with self._store.locked(area):
                self._store.delete(Path(area) / key)
        shutil.rmtree(self._sets_dir(key), ignore_errors=True)
        shutil.rmtree(self._rules_dir(key), ignore_errors=True)
        if self.active_name() is None:
            (self.root / "active.json").unlink(missing_ok=True)

    # -- named item sets -------------------------------------------------------------------
    def _sets_dir(self, dataset: str) -> Path:
        return self.root / "item_sets" / self._key(dataset)

    def save_item_set(self, dataset: str, name: str, item_ids: Any, *, note: str = "") -> str:
        """Keep a named set of item ids (a map selection, a promotion list); returns its name.

        Saving under an existing name replaces that set. Ids are stored as strings, the way
        :class:`Dataset` keeps them.
        """
        clean = safe_name(name)
        ids = sorted({str(i) for i in item_ids})
        if not ids:
            raise WorkspaceError("An item set needs at least one item.")
        write_json(self._sets_dir(dataset) / f"{clean}.json",
                   {"name": clean, "note": note, "items": ids, "saved_at": now_iso()})
        return clean

    def list_item_sets(self, dataset: str) -> list[dict[str, Any]]:
        """Item sets of ``dataset``: name, note, size, saved_at (items not included);
        unreadable ones are skipped with a warning."""
        out = []
        for path in visible(self._sets_dir(dataset)):
            if path.suffix != ".json":
                continue
            record = read_record(path, ItemSetRecord)
            if record is not None:
                out.append({"name": record.name, "note": record.note, "size": len(record.items),
                            "saved_at": record.saved_at})
        return out

    def load_item_set(self, dataset: str, name: str) -> list[str]:
        """The item ids of a saved set."""
        path = self._sets_dir(dataset) / f"{safe_name(name)}.json"
        record = read_record(path, ItemSetRecord)
        if record is None:
            raise WorkspaceError(f"No item set '{name}' for dataset '{dataset}'"
                                 + (f" (its file {path} is damaged)." if path.exists() else "."))
        return list(record.items)

    def delete_item_set(self, dataset: str, name: str) -> None:
        (self._sets_dir(dataset) / f"{safe_name(name)}.json").unlink(missing_ok=True)

    def rename_item_set(self, dataset: str, name: str, new_name: str) -> str:
        """Give a saved item set another name (its items, note and save time kept); returns
        the new name. Refuses a name another set already has, so nothing is overwritten."""
        old = self._sets_dir(dataset) / f"{safe_name(name)}.json"
        clean = safe_name(new_name)
        record = read_record(old, ItemSetRecord)
        if record is None:
            raise WorkspaceError(f"No item set '{name}' for dataset '{dataset}'.")
        if not new_name.strip():
            raise WorkspaceError("An item set needs a name.")
        target = self._sets_dir(dataset) / f"{clean}.json"
        if target == old:
            return clean
        if target.exists():
            raise WorkspaceError(f"An item set named '{clean}' already exists; pick another "
                                 "name or delete that set first.")
        write_json(target, {**record.model_dump(mode="json"), "name": clean})
        old.unlink(missing_ok=True)
        return clean

    # -- named rule sets -------------------------------------------------------------------
    def _rules_dir(self, dataset: str) -> Path:
        return self.root / "rule_sets" / self._key(dataset)

    def save_rule_set(self, dataset: str, name: str, rules: dict[str, Any]) -> str:
        """Keep a named rule set (pins, boosts, burials, blocks as plain JSON); returns its name.
        Saving under an existing name replaces that set."""
        if not name.strip():
            raise WorkspaceError("A rule set needs a name.")
        clean = safe_name(name)
        write_json(self._rules_dir(dataset) / f"{clean}.json",
                   {"name": clean, "rules": rules, "saved_at": now_iso()})
        return clean

    def list_rule_sets(self, dataset: str) -> list[dict[str, Any]]:
        """Rule sets of ``dataset``: name, rules, saved_at; unreadable ones are skipped."""
        out = []
        for path in visible(self._rules_dir(dataset)):
            if path.suffix == ".json" and (record := read_record(path, RuleSetRecord)) is not None:
                out.append(record.model_dump())
        return out

    def load_rule_set(self, dataset: str, name: str) -> dict[str, Any]:
        """The rules of a saved set, as saved."""
        path = self._rules_dir(dataset) / f"{safe_name(name)}.json"
        record = read_record(path, RuleSetRecord)
        if record is None:
            raise WorkspaceError(f"No rule set '{name}' for dataset '{dataset}'"
                                 + (f" (its file {path} is damaged)." if path.exists() else "."))
        return dict(record.rules)

    def delete_rule_set(self, dataset: str, name: str) -> None:
        (self._rules_dir(dataset) / f"{safe_name(name)}.json").unlink(missing_ok=True)

    # -- item maps -------------------------------------------------------------------------
    def _maps_dir(self, dataset: str) -> Path:
        return self.root / "maps" / self._key(dataset)

    def save_item_map(self, dataset: str, frame: pd.DataFrame, settings: dict[str, Any]) -> None:
        """Keep the latest item map of ``dataset`` (one row per item: ``item_id, x, y, cluster,
        is_tail, is_tail_cluster, cluster_label`` …) with the settings that produced it, so the
        What-if, Compare and Export pages can group by cluster."""
        with self._store.staging("maps") as tmp:
            frame.to_parquet(tmp / "latest.parquet", index=False)
            write_json(tmp / "latest.json", {"settings": settings, "saved_at": now_iso()})
            with self._store.locked("maps"):
                self._store.publish(tmp, Path("maps") / self._key(dataset))

    def load_item_map(self, dataset: str) -> tuple[pd.DataFrame, dict[str, Any]] | None:
        """The latest item map and its settings, or ``None`` when none was saved."""
        folder = self._store.current(Path("maps") / self._key(dataset))
        if folder is None:
            return None
        record = read_record(folder / "latest.json", MapRecord)
        try:
            frame = pd.read_parquet(folder / "latest.parquet")
        except (OSError, ValueError):
            return None
        return (frame, record.settings) if record is not None else None

    # -- the active pointer ----------------------------------------------------------------
    def set_active(self, name: str) -> None:
        if not self.exists(name):
            raise WorkspaceError(f"No dataset named '{name}' in {self.root}.")
        write_json(self.root / "active.json", {"dataset": self._key(name)})

    def active_name(self) -> str | None:
        """Name of the active dataset, or ``None`` when none is set, it was removed or the
        file is damaged."""
        record = read_record(self.root / "active.json", ActiveRecord)
        if record is None:
            return None
        return record.dataset if self.exists(record.dataset) else None
