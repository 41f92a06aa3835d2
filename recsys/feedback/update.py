"""Online update of a kept model from new interactions, without a full retrain.

The new interactions come from a feedback file (any interaction file the loaders read, with the
same column mapping) or from the rewarded rows of a feedback log (``user_id, item_id,
position, propensity, reward`` as ``simulate`` and ``ope`` use it: rows with reward > 0 become
interactions): :func:`read_feedback`. :func:`update_model` maps their ids onto the model's
positions, appends unseen users and items, and calls the model's own
:meth:`~recsys.models.base.Recommender.update` (EASE and item-kNN fold the new pairs into the
users' history rows with B / the similarities kept; ALS solves the affected users' vectors
exactly with the item vectors fixed; BPR takes a few steps on those users only; Mult-VAE,
SASRec and the content models read the updated histories; popularity recounts). With
``epochs`` > 0 the torch models (BPR, NeuMF, DeepFM, Mult-VAE, SASRec) then run that many
warm-started epochs of their own training loop on the affected users' histories mixed with a
replay sample of other users' (:data:`DEFAULT_EPOCHS` unless told; 0 = fold-in only): their shared weights move,
so other users' lists may change too.
:func:`update_kept_run` does it for a model kept in a workspace and keeps the result as a new
run beside the old one (``<run>-updated-<n>``), never replacing it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.data.decoding import RawTable
from recsys.data.formats import load_files
from recsys.data.reading import IngestError, IngestLimits, read_table
from recsys.feedback.logs import LOG_COLUMNS, check_log
from recsys.workspace import Workspace, WorkspaceError, safe_name

__all__ = ["UpdateResult", "Feedback", "FeedbackKind", "read_feedback", "feedback_interactions",
           "read_new_products",
           "update_model", "update_kept_run", "update_saved_model", "next_run_name",
           "find_kept_run", "log_rewards", "fresh_lists", "DEFAULT_EPOCHS"]

log = logging.getLogger(__name__)

#: Incremental epochs of a torch model's update when the caller does not say (0 = fold-in only):
#: chosen on an inner Online Retail period (benchmarks/bench_update.py).
DEFAULT_EPOCHS = 2

#: How a feedback file is read: ``log`` (rewarded rows of a feedback log), ``interactions``
#: (an interaction file) or ``auto`` (a log when it has every log column).
FeedbackKind = Literal["auto", "log", "interactions"]


@dataclass(eq=False)
class UpdateResult:
    """What an update did: counts, seconds, the model's method, notes on what was left out."""

    model: Any
    method: str
    users_updated: int
    users_added: int
    items_added: int
    interactions: int
    new_pairs: int
    seconds: float
    notes: list[str] = field(default_factory=list)
    run: str | None = None
    updated_from: str | None = None
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures (the run record's ``update`` entry)."""
        return {"model": self.model.name, "method": self.method,
                "users_updated": self.users_updated, "users_added": self.users_added,
                "items_added": self.items_added, "interactions": self.interactions,
                "new_pairs": self.new_pairs, "seconds": round(self.seconds, 4),
                "notes": list(self.notes), "run": self.run, "updated_from": self.updated_from,
                "source": self.source}

    def summary(self) -> str:
        """One line: what was folded in, how, and where it was kept."""
        where = f" -> {self.run}" if self.run else ""
        notes = f" ({'; '.join(self.notes)})" if self.notes else ""
        return (f"{self.model.name}: {self.interactions:,} interactions folded in "
                f"({self.new_pairs:,} new pairs), {self.users_updated:,} users updated, "
                f"{self.users_added:,} added, {self.items_added:,} items added in "
                f"{self.seconds:.2f}s by {self.method}{notes}{where}")


def _has_log_columns(frame: pd.DataFrame) -> bool:
    lower = {str(c).strip().lower() for c in frame.columns}
    return all(c in lower for c in LOG_COLUMNS)


class Feedback(NamedTuple):
    """Feedback read for an update: canonical interactions, how the file was read (``log`` or
    ``interactions``) and the catalog rows it carries (titles, categories… of its products,
    when the file has them: new products enter content models through these)."""

    interactions: pd.DataFrame
    kind: str
    catalog: pd.DataFrame | None = None


def feedback_interactions(raw: RawTable, *, kind: FeedbackKind = "auto",
                          file_format: str = "auto", mapping: dict[str, str] | None = None,
                          value_kind: str | None = None) -> Feedback:
    """Canonical interactions (``user_id, item_id`` and ``timestamp`` / ``value`` when known)
    from a read feedback table, the kind it was read as (``log`` or ``interactions``) and the
    catalog an interaction file carries (Online Retail descriptions, title / category columns).

    Raises :class:`IngestError` (one line) when the table is not usable: a log with bad rows
    (:func:`recsys.feedback.logs.check_log`), an interaction file whose validation reports an
    error, or no interaction left.
    """
    if kind == "log" or (kind == "auto" and not mapping and _has_log_columns(raw.frame)):
        return Feedback(log_rewards(raw.frame, raw.name), "log")
    result = load_files(raw, file_format=file_format, mapping=mapping, value_kind=value_kind)
    if not result.ok:
        errors = result.report.errors
        raise IngestError(errors[0].message if errors else f"'{raw.name}' could not be read "
                          "as interactions")
    frame = result.interactions
    if not len(frame):
        raise IngestError(f"'{raw.name}' has no usable interaction")
    return Feedback(frame, "interactions", result.catalog)


def read_new_products(source: Any, *, name: str | None = None,
                      limits: IngestLimits | None = None) -> pd.DataFrame:
    """A catalog file of new products (columns guessed as for catalogs: item id, title,
    description, category, brand, price) as a canonical frame; :class:`IngestError` (one line)
    when it has no usable item id column or no row."""
    from recsys.data.report import ValidationReport
    from recsys.data.schema import CATALOG_ROLES, guess_mapping
    from recsys.data.validation import clean_catalog

    raw = read_table(source, name=name, limits=limits)
    report = ValidationReport(source=raw.name)
    catalog = clean_catalog(raw.frame, guess_mapping(raw.frame.columns, CATALOG_ROLES), report)
    if catalog is None or not len(catalog):
        errors = report.errors
        # there is no column mapping for these rows: say how the id column is found instead
        message = (errors[0].message.replace(
            "Choose it in the column mapping.", "Name it item_id (or sku, product_id, "
            "StockCode…).") if errors else f"'{raw.name}' has no product row")
        raise IngestError(message)
    return catalog


def log_rewards(frame: pd.DataFrame, name: str = "log") -> pd.DataFrame:
    """The rows of a feedback log frame with reward > 0 as ``user_id, item_id`` interactions;
    :class:`IngestError` for a bad log (:func:`recsys.feedback.logs.check_log`) or no reward."""
    checked = check_log(frame, name)
    rewarded = checked.reward > 0
    if not rewarded.any():
        raise IngestError(f"'{name}': no row of the feedback log has a reward above 0, "
                          "so there is nothing to learn from")
    return pd.DataFrame({"user_id": checked.user[rewarded], "item_id": checked.item[rewarded]})


def read_feedback(source: Any, *, kind: FeedbackKind = "auto", name: str | None = None,
                  limits: IngestLimits | None = None, **settings: Any) -> Feedback:
    """Read (bounded) a feedback file and turn it into interactions; see
    :func:`feedback_interactions` (``settings``: ``file_format``, ``mapping``, ``value_kind``)."""
    return feedback_interactions(read_table(source, name=name, limits=limits), kind=kind,
                                 **settings)


def _target(model: Any) -> Any:
    """The model whose abilities count (a self-tuned model's kept candidate)."""
    return getattr(model, "inner_", None) or model


def _extend(vocab: np.ndarray, ids: np.ndarray, allowed: bool | np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
    """Positions of ``ids`` in ``vocab``, unseen ids appended (first appearance order) where
    ``allowed`` (one flag, or one per id; else ``-1``); returns the new vocabulary and the
    positions."""
    index = pd.Index(vocab)
    pos = index.get_indexer(ids).astype(np.int64)
    addable = (pos < 0) & np.asarray(allowed, dtype=bool)
    if addable.any():
        fresh = pd.unique(ids[addable])
        vocab = np.concatenate([np.asarray(vocab, dtype=object), fresh.astype(object)])
        pos = pd.Index(vocab).get_indexer(ids).astype(np.int64)
    return vocab, pos


def update_model(model: Any, interactions: pd.DataFrame, *, user_ids: np.ndarray | None = None,
                 item_ids: np.ndarray | None = None, rating_threshold: float | None = None,
                 catalog: pd.DataFrame | None = None, epochs: int | None = None,
                 callback: Any = None) -> UpdateResult:
    """Fold ``interactions`` into ``model`` in place and say what was done.

    Ids are matched against the model's own vocabulary (an updated model keeps one) or
    ``user_ids`` / ``item_ids`` (the dataset it was fitted on). Unseen users are added. Unseen
    items: the content models (``hybrid``, ``coldstart``, or ``auto`` keeping one) embed them
    from their rows of ``catalog`` (a canonical catalog frame: ``item_id`` plus title,
    category…) and score them through their content path; other models that can add items
    append them without collaborative signal; the rest leave those rows out (said in
    :attr:`UpdateResult.notes`, as are new products without a catalog row). With
    ``rating_threshold``, rows whose ``value`` is below it are not positives and are left out.
    ``epochs`` > 0: that many warm-started epochs of a torch model's training loop after the
    fold-in (shared weights move: other users' lists may change; ``callback`` as for a fit,
    may cancel); ``epochs=0``: fold-in only, users without new pairs keep exactly their lists;
    ``None``: :data:`DEFAULT_EPOCHS` for the torch models; other models ignore it (said in
    the notes when it was given).
    """
    users_vocab = model.user_ids_ if model.user_ids_ is not None else user_ids
    items_vocab = model.item_ids_ if model.item_ids_ is not None else item_ids
    if users_vocab is None or items_vocab is None:
        raise ValueError("the model's user and item ids are needed: pass the dataset's")
    if len(users_vocab) != model.n_users_ or len(items_vocab) != model.n_items_:
        raise ValueError(f"the ids given ({len(users_vocab):,} users × {len(items_vocab):,} "
                         f"items) do not match the model ({model.n_users_:,} × "
                         f"{model.n_items_:,}); was it fitted on another dataset?")
    notes: list[str] = []
    frame = interactions
    if rating_threshold is not None and "value" in frame.columns:
        keep = (pd.to_numeric(frame["value"], errors="coerce") >= rating_threshold).to_numpy()
        if (~keep).any():
            notes.append(f"{int((~keep).sum()):,} rows below the rating threshold "
                         f"{rating_threshold:g} left out")
        frame = frame.loc[keep]
    if "timestamp" in frame.columns:
        frame = frame.sort_values("timestamp", kind="stable")
    u_ids = frame["user_id"].astype(str).to_numpy(dtype=object)
    i_ids = frame["item_id"].astype(str).to_numpy(dtype=object)
    target = _target(model)
    old_users, old_items = model.n_users_, model.n_items_
    users_vocab, rows = _extend(np.asarray(users_vocab, dtype=object), u_ids, target.adds_users)
    content = bool(getattr(target, "needs_item_rows", False)) and target.adds_items
    rows_of = _catalog_rows(catalog)
    addable: bool | np.ndarray = target.adds_items
    if content:
        addable = np.isin(i_ids, rows_of.index.to_numpy(dtype=object)) if rows_of is not None \
            else np.zeros(len(i_ids), dtype=bool)
    items_vocab, cols = _extend(np.asarray(items_vocab, dtype=object), i_ids, addable)
    inside = (rows >= 0) & (cols >= 0)
    if (rows < 0).any():
        notes.append(f"{int((rows < 0).sum()):,} rows of {len(pd.unique(u_ids[rows < 0])):,} new "
                     f"users left out: {target.label} cannot add users without a retrain")
    if ((cols < 0) & (rows >= 0)).any():
        lost = (cols < 0) & (rows >= 0)
        why = (f"{target.label} embeds new products from their catalog rows, and these have "
               "none" if content else f"{target.label} cannot add items without a retrain")
        notes.append(f"{int(lost.sum()):,} rows of {len(pd.unique(i_ids[lost])):,} new items "
                     f"left out: {why}")
    rows, cols = rows[inside], cols[inside]
    if not len(rows):
        raise ValueError("no interaction of the feedback can be folded in ("
                         + ("; ".join(notes) or "it is empty") + ")")
    shape = (len(users_vocab), len(items_vocab))
    new = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=shape)
    new.sum_duplicates()
    old_seen = model.seen_
    key = rows * shape[1] + cols
    first = np.unique(key, return_index=True)[1]
    fresh = np.zeros(len(rows), dtype=bool)
    fresh[first] = True
    known_before = (rows < old_users) & (cols < old_items)
    if known_before.any():  # a pair the user already had is folded in, but is not new
        had = np.asarray(old_seen[rows[known_before], cols[known_before]]).ravel() > 0
        fresh[np.flatnonzero(known_before)[had]] = False
    t0 = time.perf_counter()
    if epochs and not target.incremental:
        notes.append(f"epochs ignored: {target.label} has no training epochs to continue")
    epochs = DEFAULT_EPOCHS if epochs is None else epochs
    items_added = shape[1] - old_items
    item_rows = None
    if content and items_added:
        item_rows = rows_of.loc[items_vocab[old_items:]].reset_index()  # type: ignore[union-attr]
    method = model.update(new, events=(rows[fresh], cols[fresh]), items=item_rows,
                          epochs=epochs, callback=callback)
    seconds = time.perf_counter() - t0
    if items_added:
        trained = target.name == "als" or (epochs and target.incremental)
        notes.append(f"{items_added:,} new items appended" + (
            " through their content path (catalog text and fields)" if content else
            " (vectors learned from their buyers)" if trained else
            " with no collaborative signal until a retrain"))
    model.user_ids_, model.item_ids_ = users_vocab, items_vocab
    digest = hashlib.sha256(f"{model.fingerprint_}:{len(rows)}".encode())
    digest.update(key.astype(np.int64).tobytes())
    model.fingerprint_ = digest.hexdigest()[:16]
    affected = np.unique(rows)
    log.info("updated %s with %d interactions in %.2fs (%s)", model.name, len(rows), seconds,
             method)
    return UpdateResult(model=model, method=method,
                        users_updated=int((affected < old_users).sum()),
                        users_added=shape[0] - old_users, items_added=items_added,
                        interactions=len(rows), new_pairs=int(fresh.sum()),
                        seconds=seconds, notes=notes)


def _catalog_rows(catalog: pd.DataFrame | None) -> pd.DataFrame | None:
    """``catalog`` indexed by its ``item_id`` as strings (first row of a repeated id)."""
    if catalog is None or "item_id" not in catalog.columns or not len(catalog):
        return None
    ids = catalog["item_id"].astype(str)
    keep = ~ids.duplicated().to_numpy()
    return catalog.loc[keep].assign(item_id=ids[keep]).set_index("item_id")


_UPDATED = re.compile(r"-updated-(\d+)$")


def next_run_name(existing: list[str], run: str) -> str:
    """``<base>-updated-<n>`` with the first ``n`` not taken (``base`` = ``run`` without an
    ``-updated-<n>`` suffix, so updates of updates count on)."""
    base = _UPDATED.sub("", run)
    taken = {int(m.group(1)) for name in existing
             if name.startswith(base) and (m := _UPDATED.search(name)) and
             _UPDATED.sub("", name) == base}
    n = max(taken, default=0) + 1
    return safe_name(f"{base}-updated-{n}")


def update_kept_run(workspace: Workspace | str | Path, dataset_name: str, run_name: str,
                    feedback_frame: pd.DataFrame, *, source: str = "feedback",
                    new_run: str | None = None, device: str | None = None,
                    catalog: pd.DataFrame | None = None, epochs: int | None = None,
                    callback: Any = None) -> UpdateResult:
    """Update the kept model ``run_name`` of ``dataset_name`` with ``feedback_frame``
    (canonical interactions, e.g. from :func:`read_feedback`, or a feedback log frame, whose
    rewarded rows are taken) and keep it as a new run.

    The new run (``new_run`` or :func:`next_run_name`) sits beside the old one, whose files are
    never touched; its record says what it was updated from and with what. It is not evaluated,
    so it carries no metrics (and no dataset fingerprint: the pages do not take it for a model
    evaluated on the current data). ``catalog``: rows of new products; ``epochs`` /
    ``callback``: see :func:`update_model`. Raises :class:`WorkspaceError` for an unknown run.
    """
    if _has_log_columns(feedback_frame):  # a feedback log uploaded as it is
        feedback_frame = log_rewards(feedback_frame, source)
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    runs = {r.run: r for r in ws.kept_runs(dataset_name)}
    if run_name not in runs:
        names = ", ".join(sorted(runs)) or "none"
        raise WorkspaceError(f"No kept model '{run_name}' for dataset '{dataset_name}' "
                             f"(kept: {names}).")
    name = safe_name(new_run) if new_run else next_run_name(list(runs), run_name)
    if name == run_name or name in runs:  # before the update, which can take minutes
        raise WorkspaceError(f"A kept model '{name}' already exists; choose another name.")
    model = ws.load_model(dataset_name, run_name, device=device)
    user_ids = item_ids = None
    threshold = None
    if model.user_ids_ is None or model.item_ids_ is None:
        dataset = ws.load_dataset(dataset_name)
        user_ids, item_ids = dataset.user_ids, dataset.item_ids
        threshold = dataset.config.rating_threshold
    else:
        threshold = ws.read_meta(dataset_name).get("config", {}).get("rating_threshold")
    result = update_model(model, feedback_frame, user_ids=user_ids, item_ids=item_ids,
                          rating_threshold=threshold, catalog=catalog, epochs=epochs,
                          callback=callback)
    result.updated_from, result.source = run_name, source
    result.run = name
    old = runs[run_name].results.to_json()
    record = {"protocol": old.get("protocol", {}), "updated_from": run_name,
              "note": f"updated from {run_name} with {result.interactions:,} interactions "
                      f"from {source}", "update": result.to_dict()}
    ws.save_model(dataset_name, model, run=name, results=record)
    return result


def find_kept_run(workspace: Workspace, run: str, dataset: str | None = None) -> str:
    """The dataset of the workspace that keeps a model named ``run`` (``dataset`` when given);
    :class:`WorkspaceError` when none or more than one does."""
    names = [dataset] if dataset else workspace.names()
    if dataset and not workspace.exists(dataset):
        raise WorkspaceError(f"No dataset named '{dataset}' in {workspace.root}.")
    owners = [n for n in names if any(r.run == run for r in workspace.kept_runs(n))]
    if not owners:
        where = f"dataset '{dataset}'" if dataset else f"any dataset of {workspace.root}"
        raise WorkspaceError(f"No kept model '{run}' in {where}.")
    if len(owners) > 1:
        raise WorkspaceError(f"Several datasets keep a model '{run}' ({', '.join(owners)}); "
                             "choose one with --dataset.")
    return owners[0]


def update_saved_model(folder: str | Path, feedback_frame: pd.DataFrame, *,
                       out: str | Path | None = None, user_ids: np.ndarray | None = None,
                       item_ids: np.ndarray | None = None, source: str = "feedback",
                       device: str | None = None, rating_threshold: float | None = None,
                       catalog: pd.DataFrame | None = None, epochs: int | None = None,
                       callback: Any = None) -> UpdateResult:
    """Update the model saved in ``folder`` and save it into ``out`` (default: the first free
    ``<folder>-updated-<n>`` beside it; never ``folder`` itself), with an ``update.json`` that
    says what was done. A model saved without its ids needs ``user_ids`` / ``item_ids``;
    ``epochs`` / ``callback``: see :func:`update_model`."""
    from recsys.models import load_model

    folder = Path(folder)
    if not (folder / "model.json").is_file():
        raise WorkspaceError(f"'{folder}' is not a saved model folder (no model.json).")
    if out is None:
        siblings = [p.name for p in folder.parent.iterdir()] if folder.parent.is_dir() else []
        out = folder.parent / next_run_name(siblings, folder.name)
    out = Path(out)
    if out.resolve() == folder.resolve():
        raise WorkspaceError("--out must not be the model's own folder: an update never "
                             "replaces the previous model")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise WorkspaceError(f"'{out}' exists and is not an empty folder.")
    model = load_model(folder, device=device)
    result = update_model(model, feedback_frame, user_ids=user_ids, item_ids=item_ids,
                          rating_threshold=rating_threshold, catalog=catalog, epochs=epochs,
                          callback=callback)
    result.updated_from, result.source, result.run = str(folder), source, str(out)
    model.save(out)
    (out / "update.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n",
                                     encoding="utf-8")
    return result


def fresh_lists(model: Any, users: Any, k: int = 10, *, user_ids: np.ndarray | None = None,
                item_ids: np.ndarray | None = None) -> pd.DataFrame:
    """The updated ``model``'s top-``k`` lists for the customers ``users`` (ids, e.g. those in
    the feedback), as ``user_id, rank, item_id, score`` rows: what to show them next, without
    waiting for a retrain. Ids go through the model's own vocabulary when it has one (it was
    updated with new users or items), else ``user_ids`` / ``item_ids`` (the dataset's); unknown
    ids are left out."""
    u_vocab = model.user_ids_ if model.user_ids_ is not None else user_ids
    i_vocab = model.item_ids_ if model.item_ids_ is not None else item_ids
    if u_vocab is None or i_vocab is None:
        raise ValueError("fresh_lists needs the ids of the data the model was fitted on")
    position = {str(u): i for i, u in enumerate(np.asarray(u_vocab).astype(str))}
    wanted = list(dict.fromkeys(str(u) for u in users))
    rows = np.array([position[u] for u in wanted if u in position], dtype=np.int64)
    if not len(rows):
        return pd.DataFrame(columns=["user_id", "rank", "item_id", "score"])
    items, scores = model.recommend(rows, n=k)
    items, scores = np.asarray(items), np.asarray(scores, dtype=np.float64)
    valid = items >= 0
    ranks = np.broadcast_to(np.arange(1, items.shape[1] + 1), items.shape)
    names = np.asarray(u_vocab).astype(str)
    return pd.DataFrame({"user_id": np.repeat(names[rows], items.shape[1])[valid.ravel()],
                         "rank": ranks[valid], "item_id": np.asarray(i_vocab).astype(str)[
                             items[valid]], "score": np.round(scores[valid], 6)})
