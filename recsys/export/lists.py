"""Export tail-boost lists: candidates → re-rank → export frame → file, in chunks of users.

:func:`export_lists` is the one entry point used by the dashboard and ``python -m recsys
export``. For each block of users it takes the model's best ``C`` unseen items (every item the
user has interacted with is excluded: ``dataset.known``), applies the re-ranking steps, turns
the lists into rows ``user_id, rank, item_id, title, score, base_score, is_tail, boosted,
cluster`` and appends them to the file, reporting ``progress(users_done, users_total)``.
A ``manifest.json`` beside the file records what produced it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field, model_validator

from recsys.data.dataset import Dataset
from recsys.export.manifest import MANIFEST_VERSION, file_entry, software_versions, write_manifest
from recsys.export.scopes import ExportScope, ScopeSelection, resolve_scope
from recsys.export.writers import EXPORT_COLUMNS, EXTENSIONS, open_writer
from recsys.workspace import safe_name

__all__ = ["ExportConfig", "ExportResult", "export_frame", "export_lists", "scope_candidates",
           "plain_lists", "split_metrics", "Progress"]

log = logging.getLogger(__name__)

#: ``progress(users_done, users_total)`` after every chunk.
Progress = Callable[[int, int], None]


class ExportConfig(BaseModel):
    """List length, file format, scope and how the work is chunked."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    k: int = Field(10, ge=1, le=500, description="Items per user (list length K).")
    format: Literal["csv", "parquet", "json"] = Field("csv", description="csv, parquet or json "
                                                      "(JSON Lines).")
    candidates: int = Field(100, ge=1, le=5000, description="Candidate pool per user the "
                            "re-ranker chooses from (at least K).")
    chunk_users: int = Field(2048, ge=1, le=200_000, description="Users scored and written per "
                             "chunk (memory vs. progress granularity).")
    scope: ExportScope = Field(default_factory=ExportScope)

    @model_validator(mode="after")
    def _check(self) -> ExportConfig:
        if self.candidates < self.k:
            raise ValueError(f"the candidate pool ({self.candidates}) must hold at least K "
                             f"({self.k}) items")
        return self


@dataclass(frozen=True)
class ExportResult:
    """Where an export went and what it holds."""

    folder: Path
    files: list[Path]
    manifest: dict[str, Any]
    rows: int
    users: int
    seconds: float
    frame_sample: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)


def plain_lists(cands: Any, k: int) -> Any:
    """The model's own top-``k`` as a :class:`~recsys.rerank.Reranked` (nothing re-ranked)."""
    from recsys.rerank import Reranked

    items = cands.items[:, :k]
    valid = items >= 0
    score = np.where(valid, cands.scores[:, :k], np.nan).astype(np.float32)
    rank = np.broadcast_to(np.arange(1, items.shape[1] + 1), items.shape).copy()
    return Reranked(users=cands.users, items=items, score=score, base_score=score.copy(),
                    base_rank=np.where(valid, rank, 0), boosted=np.zeros(items.shape, dtype=bool),
                    reason=np.full(items.shape, "", dtype=object))


def scope_candidates(model: Any, dataset: Dataset, users: np.ndarray, c: int,
                     exclude: sp.csr_matrix, allowed_items: np.ndarray | None = None) -> Any:
    """Top-``c`` candidates per user, excluding ``exclude`` and, when given, every item outside
    ``allowed_items`` (a boolean mask over items)."""
    from recsys.models.base import topk_from_scores
    from recsys.rerank import Candidates, candidates_from_model

    if allowed_items is None:
        return candidates_from_model(model, dataset, users=users, c=c, exclude=exclude)
    scores = model.score(users)
    if not isinstance(scores, np.ndarray):  # a torch tensor on the model's device
        scores = scores.float().cpu().numpy()
    scores = np.array(scores, dtype=np.float32, copy=True)
    scores[:, ~np.asarray(allowed_items, dtype=bool)] = -np.inf
    items, vals = topk_from_scores(scores, min(c, dataset.n_items), exclude[users])
    return Candidates(users, items, np.where(items >= 0, vals, -np.inf).astype(np.float32))


def export_frame(lists: Any, dataset: Dataset, clusters: np.ndarray | None = None) -> pd.DataFrame:
    """Rows ``user_id, rank, item_id, title, score, base_score, is_tail, boosted, cluster`` of a
    :class:`~recsys.rerank.Reranked` (padding dropped; ``rank`` counts from 1 within a list;
    ``cluster`` is ``-1`` without an item map)."""
    items = np.asarray(lists.items, dtype=np.int64)
    valid = items >= 0
    flat = items[valid]
    k = items.shape[1]
    rank = np.cumsum(valid, axis=1)[valid]
    user_rows = np.repeat(np.asarray(lists.users, dtype=np.int64), k).reshape(items.shape)[valid]
    cluster = (np.asarray(clusters, dtype=np.int64)[flat] if clusters is not None
               else np.full(len(flat), -1, dtype=np.int64))
    frame = pd.DataFrame({
        "user_id": dataset.user_ids[user_rows].astype(str).astype(object),
        "rank": rank.astype(np.int64),
        "item_id": dataset.item_ids[flat].astype(str).astype(object),
        "title": dataset.catalog["title"].to_numpy()[flat].astype(str).astype(object),
        "score": np.asarray(lists.score, dtype=np.float64)[valid],
        "base_score": np.asarray(lists.base_score, dtype=np.float64)[valid],
        "is_tail": np.asarray(dataset.is_tail, dtype=bool)[flat],
        "boosted": np.asarray(lists.boosted, dtype=bool)[valid],
        "cluster": cluster,
    })
    return frame[list(EXPORT_COLUMNS)]


def _item_positions(dataset: Dataset, item_ids: Sequence[str] | None) -> set[int] | None:
    if item_ids is None:
        return None
    pos = dataset.item_index.get_indexer(pd.Index([str(i) for i in item_ids]))
    return {int(p) for p in pos if p >= 0}


def _reranker(dataset: Dataset, steps: Sequence[Any], k: int, clusters: np.ndarray | None,
              item_set: Sequence[str] | None, hit_model: Any = None) -> Callable[[Any], Any]:
    """``cands → Reranked`` for these steps, sharing one re-ranking context over all chunks."""
    if not steps:
        return lambda cands: plain_lists(cands, k)
    from recsys.rerank import RerankContext, rerank

    context = RerankContext(dataset, item_clusters=clusters,
                            item_set=_item_positions(dataset, item_set), hit_model=hit_model)
    return lambda cands: rerank(cands, dataset, list(steps), k=k, context=context)


def split_metrics(model: Any, split: Any, rerank: Sequence[Any] | Any | None = None, *, k: int = 10,
                  candidates: int = 100, clusters: np.ndarray | None = None,
                  item_set: Sequence[str] | None = None, hit_model: Any = None
                  ) -> dict[str, float]:
    """Every protocol metric of the (re-ranked) lists of a model trained on ``split.train``,
    measured on the held-out pairs: what the manifest reports for a kept model."""
    from recsys.evaluation import summarise

    steps = _steps(rerank)
    users = split.test_users
    cands = scope_candidates(model, split.train, users, max(candidates, k), split.train.known)
    lists = _reranker(split.train, steps, k, clusters, item_set, hit_model)(cands)
    n_train_users = int((np.diff(split.train.matrix.indptr) > 0).sum())
    summary, _ = summarise(np.asarray(lists.items), split.test[users], split.train.popularity,
                           split.train.is_tail, n_train_users)
    return summary


def _steps(rerank: Sequence[Any] | Any | None) -> list[Any]:
    steps = [rerank] if rerank is not None and not isinstance(rerank, Sequence) else list(rerank or [])
    return [s for s in steps if s.method != "none" or s.has_rules]


def export_lists(
    model: Any,
    dataset: Dataset,
    folder: str | Path,
    config: ExportConfig | None = None,
    *,
    rerank: Sequence[Any] | Any | None = None,
    clusters: np.ndarray | None = None,
    item_set: Sequence[str] | None = None,
    model_info: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    progress: Progress | None = None,
    hit_model: Any = None,
) -> ExportResult:
    """Write the lists of ``model`` for the users of ``config.scope`` into ``folder``.

    ``rerank`` is one :class:`~recsys.rerank.RerankConfig` or a sequence of them (applied in
    order; ``None`` / method ``none`` without rules = the model's own ranking). ``clusters``
    (per item position, ``-1`` = none) fills the ``cluster`` column and serves cluster scopes
    and promotions; ``item_set`` (item ids) serves item-set scopes and promotions.
    ``model_info`` (run, trained_on, …) and ``metrics`` go into the manifest as given;
    ``hit_model`` (:class:`~recsys.rerank.HitModel`) serves the ``expected`` swap cost and its
    coefficients go into the manifest.
    Returns the files (the list file, then ``manifest.json``) and counts.
    """
    config = config or ExportConfig()
    steps = _steps(rerank)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    selection: ScopeSelection = resolve_scope(config.scope, dataset, clusters=clusters,
                                              item_set=item_set)
    c = max(config.candidates, config.k)
    exclude = sp.csr_matrix(dataset.known)
    path = folder / f"{safe_name('lists-' + config.scope.label())}.{EXTENSIONS[config.format]}"
    users = selection.users
    total, rows, with_rows, t0 = len(users), 0, 0, time.perf_counter()
    sample = pd.DataFrame(columns=list(EXPORT_COLUMNS))
    reranker = _reranker(dataset, steps, config.k, clusters, item_set, hit_model)
    with open_writer(path, config.format) as writer:
        for start in range(0, total, config.chunk_users):
            part = users[start:start + config.chunk_users]
            cands = scope_candidates(model, dataset, part, c, exclude, selection.allowed_items)
            lists = reranker(cands)
            frame = export_frame(lists, dataset, clusters)
            writer.write(frame)
            with_rows += int((np.asarray(lists.items) >= 0).any(axis=1).sum())
            if start == 0:
                sample = frame.head(50)
            rows += len(frame)
            if progress is not None:
                progress(min(start + len(part), total), total)
        if progress is not None and total == 0:
            progress(0, 0)
    seconds = time.perf_counter() - t0
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "dataset": {"name": dataset.name, "fingerprint": dataset.fingerprint,
                    "users": dataset.n_users, "items": dataset.n_items,
                    "interactions": dataset.n_interactions,
                    "context_pairs": dataset.n_context_pairs,
                    "config": dataset.config.model_dump(mode="json")},
        "model": {"name": getattr(model, "name", type(model).__name__),
                  "config": model.config.model_dump(mode="json") if hasattr(model, "config") else {},
                  "fingerprint": getattr(model, "fingerprint_", None), **(model_info or {})},
        "rerank": [s.model_dump(mode="json") for s in steps],
        "hit_model": hit_model.to_dict() if hit_model is not None else None,
        "k": config.k,
        "candidates": c,
        "excluded": "every item the user has interacted with (all interactions, including "
                    "those below the rating threshold kept as seen)",
        "scope": {**config.scope.model_dump(mode="json"), "description": selection.description},
        "metrics": metrics,
        "rows": rows,
        "users": int(total),
        "users_with_rows": with_rows,
        "columns": dict(EXPORT_COLUMNS),
        "format": config.format,
        "format_notes": _FORMAT_NOTES[config.format],
        "files": [file_entry(path)],
        "seconds": round(seconds, 3),
        "versions": software_versions(),
    }
    manifest_path = write_manifest(folder, manifest)
    log.info("export %s: %d users, %d rows in %.2fs -> %s", config.scope.label(), total, rows,
             seconds, path)
    return ExportResult(folder, [path, manifest_path], manifest, rows, int(total), seconds, sample)


_FORMAT_NOTES = {
    "csv": "UTF-8 CSV with a header; text cells starting with = + - @ ' or a tab / carriage "
           "return are prefixed with an apostrophe (') so spreadsheets do not run them.",
    "parquet": "Apache Parquet (zstd), one row group per chunk of users.",
    "json": "JSON Lines: one JSON object per row, UTF-8; missing numbers are null.",
}
