"""Trained models kept in the workspace, with a run history instead of silent replacement.

Layout under the workspace root (``→`` is a link to the current version, see
:mod:`recsys.workspace.atomic`)::

    models/<dataset>/<run> →             the kept model every page uses
    pending/<dataset>/<run> →            a retrained model waiting to be accepted
    history/<dataset>/<run>/<version>/   earlier versions (newest first), at most HISTORY_KEEP

Retraining a model that is already kept can go two ways. Saved with ``pending=True`` (what the
dashboard does) the new run waits beside the kept one, which stays in use until the user
accepts the new run (:meth:`ModelShelf.accept_pending`) or keeps the previous one
(:meth:`ModelShelf.discard_pending`). Saved directly, it replaces the kept run at once. Either
way the version it displaces goes to the run's history, where it can be restored
(:meth:`ModelShelf.restore_run`): nothing trained is lost without the user deleting it.

History versions are hard-linked copies of the version folders (published versions are never
written again, so sharing their files is safe and costs no space); a file system without hard
links gets real copies.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from recsys.runs import KeptRun, RunResults
from recsys.workspace.atomic import Store, WorkspaceError, visible, write_json
from recsys.workspace.naming import now_iso, safe_name
from recsys.workspace.records import ModelMeta, ModelRecord, read_record

__all__ = ["ModelShelf", "HISTORY_KEEP"]

log = logging.getLogger(__name__)

#: Earlier versions kept per run (the oldest beyond this are removed).
HISTORY_KEEP = 5
_MODELS, _PENDING, _HISTORY = Path("models"), Path("pending"), Path("history")


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


class ModelShelf:
    """The trained-model part of :class:`~recsys.workspace.Workspace` (a mixin: it uses the
    workspace's root, store and dataset keys)."""

    root: Path
    _store: Store

    def _key(self, name: str) -> str:  # provided by the workspace
        raise NotImplementedError

    def _run_rel(self, dataset: str, run: str, base: Path = _MODELS) -> Path:
        return base / self._key(dataset) / safe_name(run)

    # -- saving ----------------------------------------------------------------------------
    def save_model(self, dataset: str, model: Any, *, run: str | None = None,
                   results: RunResults | dict[str, Any] | None = None,
                   pending: bool = False) -> str:
        """Keep a trained model (weights, config, fingerprint) plus its evaluation results.

        ``run`` defaults to the model name. When that run is already kept, ``pending=True``
        sets the new model aside until it is accepted (the kept one stays in use; a run
        already waiting is moved to the history); otherwise the new model replaces the kept
        one, which moves to the history. Returns the run name.
        """
        run = safe_name(run or model.name)
        if isinstance(results, RunResults):
            results = results.to_json()
        with self._store.staging("models") as tmp:
            model.save(tmp)
            write_json(tmp / "results.json", {"run": run, "model": model.name,
                                              "saved_at": now_iso(), "results": results or {}})
            with self._store.locked("models"):
                current = self._store.current(self._run_rel(dataset, run))
                if pending and current is not None:
                    self._retire(dataset, run, _PENDING)
                    self._store.publish(tmp, self._run_rel(dataset, run, _PENDING))
                else:  # replaces the kept run; a run still waiting is superseded too
                    self._retire(dataset, run, _PENDING)
                    self._store.delete(self._run_rel(dataset, run, _PENDING))
                    self._retire(dataset, run, _MODELS)
                    self._store.publish(tmp, self._run_rel(dataset, run))
        return run

    def _retire(self, dataset: str, run: str, base: Path) -> None:
        """Copy the current version of ``base/<dataset>/<run>`` (if any) into the run's
        history, then drop the oldest beyond :data:`HISTORY_KEEP` (models lock held)."""
        folder = self._store.current(self._run_rel(dataset, run, base))
        if folder is None:
            return
        target = self.root / self._run_rel(dataset, run, _HISTORY)
        target.mkdir(parents=True, exist_ok=True)
        tmp = target / f".tmp-{secrets.token_hex(4)}"
        shutil.copytree(folder, tmp, copy_function=_link_or_copy)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")  # sorts in save order
        tmp.rename(target / f"{stamp}-{secrets.token_hex(3)}")
        for old in visible(target)[:-HISTORY_KEEP]:
            shutil.rmtree(old, ignore_errors=True)

    # -- reading ---------------------------------------------------------------------------
    def _read(self, folder: Path, shown: Path, version: str | None = None) -> KeptRun | None:
        record = read_record(folder / "results.json", ModelRecord)
        meta = read_record(folder / "model.json", ModelMeta)
        if record is None or meta is None:
            log.warning("skipping unreadable model %s", folder)
            return None
        try:
            return KeptRun(**{**record.model_dump(), "fingerprint": meta.fingerprint,
                              "config": meta.config, "path": shown, "version": version})
        except ValidationError as exc:
            log.warning("skipping unreadable model %s: %s", folder, exc)
            return None

    def _kept(self, dataset: str, base: Path) -> list[KeptRun]:
        """Readable runs under ``base/<dataset>`` with their stable folder (the link, which
        always shows the current version)."""
        rel = base / self._key(dataset)
        out = []
        for run in sorted({p.name for p in (*visible(self.root / rel),
                                            *visible(self._store.store / rel))}):
            folder = self._store.current(rel / run)
            if folder is None:
                continue
            link = self.root / rel / run
            kept = self._read(folder, link if link.exists() else folder)
            if kept is not None:
                out.append(kept)
        return out

    def list_models(self, dataset: str) -> list[dict[str, Any]]:
        """Trained models kept for ``dataset``: run name, model name, results (as saved),
        fingerprint."""
        out = []
        for m in self.kept_runs(dataset):
            record = read_record(Path(m.path or "") / "results.json", ModelRecord)
            raw = record.results if record is not None else m.results.to_json()
            out.append({"run": m.run, "model": m.model, "saved_at": m.saved_at, "results": raw,
                        "fingerprint": m.fingerprint})
        return out

    def kept_runs(self, dataset: str) -> list[KeptRun]:
        """Trained models kept for ``dataset`` (the ones every page uses) as typed records with
        their config and folder; unreadable records are skipped."""
        return self._kept(dataset, _MODELS)

    def pending_runs(self, dataset: str) -> list[KeptRun]:
        """Retrained models waiting to be accepted (each beside the kept run of its name)."""
        return self._kept(dataset, _PENDING)

    def run_history(self, dataset: str, run: str) -> list[KeptRun]:
        """Earlier versions of ``run``, newest first; ``version`` names each for
        :meth:`restore_run`."""
        folder = self.root / self._run_rel(dataset, run, _HISTORY)
        out = [self._read(v, v, v.name) for v in reversed(visible(folder))]
        return [m for m in out if m is not None]

    def load_model(self, dataset: str, run: str, device: str | None = None, *,
                   pending: bool = False) -> Any:
        """Rebuild a kept (or, with ``pending``, a waiting) model exactly (no pickle)."""
        from recsys.models import load_model

        folder = self._store.current(self._run_rel(dataset, run, _PENDING if pending
                                                   else _MODELS))
        if folder is None or not (folder / "model.json").exists():
            raise WorkspaceError(f"No trained model '{run}' for dataset '{dataset}'.")
        return load_model(folder, device=device)

    # -- decisions -------------------------------------------------------------------------
    def _promote(self, dataset: str, run: str, source: Path) -> None:
        """Make a copy of the version folder ``source`` the kept run (models lock held); the
        kept one moves to the history."""
        with self._store.staging("models") as tmp:
            shutil.rmtree(tmp)
            shutil.copytree(source, tmp, copy_function=_link_or_copy)  # before the history is
            self._retire(dataset, run, _MODELS)  # trimmed: source may be its oldest version
            self._store.publish(tmp, self._run_rel(dataset, run))

    def accept_pending(self, dataset: str, run: str) -> None:
        """Use the waiting retrained ``run`` from now on; the previous one goes to history."""
        with self._store.locked("models"):
            folder = self._store.current(self._run_rel(dataset, run, _PENDING))
            if folder is None:
                raise WorkspaceError(f"No new run of '{run}' is waiting for dataset '{dataset}'.")
            self._promote(dataset, run, folder)
            self._store.delete(self._run_rel(dataset, run, _PENDING))

    def discard_pending(self, dataset: str, run: str) -> None:
        """Keep the previous ``run`` in use; the waiting one goes to the history (restorable)."""
        with self._store.locked("models"):
            self._retire(dataset, run, _PENDING)
            self._store.delete(self._run_rel(dataset, run, _PENDING))

    def restore_run(self, dataset: str, run: str, version: str) -> None:
        """Make the history ``version`` of ``run`` the kept one again (the kept one goes to
        history in its place)."""
        with self._store.locked("models"):
            folder = self.root / self._run_rel(dataset, run, _HISTORY) / safe_name(version)
            if not (folder / "model.json").is_file():
                raise WorkspaceError(f"No earlier version '{version}' of '{run}'.")
            self._promote(dataset, run, folder)
            shutil.rmtree(folder, ignore_errors=True)

    def delete_model(self, dataset: str, run: str) -> None:
        """Remove ``run``: the kept model, a waiting retrained one and its history."""
        with self._store.locked("models"):
            self._store.delete(self._run_rel(dataset, run))
            self._store.delete(self._run_rel(dataset, run, _PENDING))
            self._store.delete(self._run_rel(dataset, run, _HISTORY))
