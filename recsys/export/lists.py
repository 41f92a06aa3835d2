"""Export tail-boost lists: candidates → re-rank → export frame → file, in chunks of users.

:func:`export_lists` is the one entry point used by the dashboard and ``python -m recsys
export``. For each block of users it makes the lists with :func:`recsys.rerank.make_lists`
(the model's best ``C`` unseen items, every item the user has interacted with excluded:
``dataset.known``, then the re-ranking steps), turns them into rows ``user_id, rank, item_id,
title, score, base_score, is_tail, boosted, cluster`` and appends them to the file, reporting
``progress(users_done, users_total)``. A ``manifest.json`` beside the file records what
produced it (:func:`recsys.export.manifest.build_manifest`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field, model_validator

from recsys.cache import CountProgress
from recsys.data.dataset import Dataset
from recsys.evaluation import measure_lists
from recsys.export.engines import ExportEngine, LocalEngine
from recsys.export.manifest import build_manifest, file_entry, write_manifest
from recsys.export.scopes import ExportScope, ScopeSelection, resolve_scope
from recsys.export.updated import (
    covering_context,
    covering_dataset,
    covering_exclusion,
    covering_selection,
    has_own_ids,
    updated_entry,
)
from recsys.export.writers import EXPORT_COLUMNS, EXTENSIONS, ExportFormat, open_writer
from recsys.rerank import (
    RERANK_POOL,
    RerankContext,
    active_steps,
    item_set_positions,
    make_lists,
    plain_lists,
)
from recsys.rerank.business import BusinessTally
from recsys.rerank.pipeline import Steps
from recsys.workspace import safe_name

__all__ = ["BlockScorer", "ScoredBlock", "ExportConfig", "ExportResult", "export_frame", "export_lists",
           "plain_lists", "split_metrics", "Progress"]

log = logging.getLogger(__name__)

#: ``progress(users_done, users_total)`` after every chunk (the library's one count shape).
Progress = CountProgress


class ExportConfig(BaseModel):
    """List length, file format, scope and how the work is chunked."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    k: int = Field(10, ge=1, le=500, description="Items per user (list length K).")
    format: ExportFormat = Field("csv", description="csv, parquet or json "
                                                      "(JSON Lines).")
    candidates: int = Field(RERANK_POOL, ge=1, le=5000, description="Candidate pool per user "
                            "the re-ranker chooses from (at least K).")
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


@dataclass(frozen=True)
class ScoredBlock:
    """One block of users' export rows and their list items (users × K positions, ``-1`` =
    padding: what the business tally and the users-with-rows count read)."""

    frame: pd.DataFrame
    items: np.ndarray


@dataclass(frozen=True)
class BlockScorer:
    """Everything one block of users needs to become export rows, picklable so an engine can
    send it to other processes once (:mod:`recsys.export.engines`) and call it per block.

    :meth:`lists` makes the lists of some user positions with :func:`~recsys.rerank.
    make_lists` (``candidates`` best unseen items, ``exclude`` kept out, ``allowed_items``
    only, re-ranked by ``steps`` with ``context``); calling the scorer turns them into rows
    (:func:`export_frame`). ``recommend``'s blocks (:class:`recsys.cli.recommend.BlockLists`)
    make their lists with :meth:`lists` too and only write other rows.
    """

    model: Any
    dataset: Dataset
    k: int
    candidates: int
    steps: Steps
    context: RerankContext | None
    exclude: Any
    allowed_items: np.ndarray | None = None

    def lists(self, users: np.ndarray) -> Any:
        """The (re-ranked) top-``k`` lists of ``users``: a :class:`~recsys.rerank.Reranked`."""
        return make_lists(self.model, self.dataset, users, self.k, steps=self.steps,
                          context=self.context, candidates=self.candidates,
                          exclude=self.exclude, allowed_items=self.allowed_items)

    def __call__(self, users: np.ndarray) -> ScoredBlock:
        lists = self.lists(users)
        clusters = self.context.item_clusters if self.context is not None else None
        frame = export_frame(lists, self.dataset, clusters)
        return ScoredBlock(frame, np.asarray(lists.items))


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


def split_metrics(model: Any, split: Any, rerank: Steps = None, *, k: int = 10,
                  candidates: int = RERANK_POOL, context: RerankContext | None = None
                  ) -> dict[str, float]:
    """Every protocol metric of the (re-ranked) lists of a model trained on ``split.train``,
    measured on the held-out pairs: what the manifest reports for a kept model. ``context``
    (clusters, item set, hit model) serves the re-ranking steps."""
    users = split.test_users
    lists = make_lists(model, split.train, users, k, steps=rerank, context=context,
                       candidates=candidates, exclude=split.train.known)
    return measure_lists(lists.items, split.train, split.test, users)


def _export_context(dataset: Dataset, context: RerankContext | None,
                    item_set: Sequence[str] | None) -> RerankContext:
    """The one re-ranking context of every chunk: ``context`` on ``dataset``, its item set
    taken from ``item_set`` (ids) when it has none."""
    ctx = context.on(dataset) if context is not None else RerankContext(dataset)
    if ctx.item_set is None and item_set is not None:
        ctx = RerankContext(dataset, item_clusters=ctx.item_clusters,
                            item_set=item_set_positions(dataset, item_set), hit_model=ctx.hit_model)
    return ctx


def export_lists(
    model: Any,
    dataset: Dataset,
    folder: str | Path,
    config: ExportConfig | None = None,
    *,
    rerank: Steps = None,
    context: RerankContext | None = None,
    item_set: Sequence[str] | None = None,
    model_info: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    progress: Progress | None = None,
    engine: ExportEngine | None = None,
) -> ExportResult:
    """Write the lists of ``model`` for the users of ``config.scope`` into ``folder``.

    ``rerank`` is one :class:`~recsys.rerank.RerankConfig` or a sequence of them (applied in
    order; ``None`` / method ``none`` without rules = the model's own ranking). ``context``
    (:class:`~recsys.rerank.RerankContext`) carries the item map's clusters (per item
    position, ``-1`` = none: they fill the ``cluster`` column and serve cluster scopes and
    promotions) and the hit model (the ``expected`` swap cost; its coefficients go into the
    manifest); ``item_set`` (item ids) serves item-set scopes and promotions.
    ``model_info`` (run, trained_on, …) and ``metrics`` go into the manifest as given.
    A model with its own id vocabularies (an updated run, :mod:`recsys.export.updated`) is
    exported in its positions: new customers in "all users", new products as far tail; the
    manifest's ``updated`` entry says what it was updated from (``model_info``'s
    ``updated_from`` and ``update``) and that it was not evaluated (``metrics`` is dropped).
    Every chunk of users goes through one :class:`BlockScorer`, run by ``engine``
    (:mod:`recsys.export.engines`; default :class:`~recsys.export.engines.LocalEngine`, this
    process) and written here in chunk order, so every engine writes the same file.
    Returns the files (the list file, then ``manifest.json``) and counts.
    """
    config = config or ExportConfig()
    steps = active_steps(rerank)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ctx = _export_context(dataset, context, item_set)
    clusters = ctx.item_clusters
    selection: ScopeSelection = resolve_scope(config.scope, dataset, clusters=clusters,
                                              item_set=item_set)
    c = max(config.candidates, config.k)
    exclude = sp.csr_matrix(dataset.known)
    base, updated = dataset, None
    if has_own_ids(model, dataset):  # an updated run: the model's positions, see .updated
        dataset = covering_dataset(base, model)
        selection = covering_selection(selection, config.scope.kind, base, dataset)
        ctx, exclude = covering_context(ctx, dataset), covering_exclusion(dataset, model)
        updated, metrics = updated_entry(model_info, base, dataset), None
    path = folder / f"{safe_name('lists-' + config.scope.label())}.{EXTENSIONS[config.format]}"
    users = selection.users
    total, rows, with_rows, done, t0 = len(users), 0, 0, 0, time.perf_counter()
    sample = pd.DataFrame(columns=list(EXPORT_COLUMNS))
    tally = BusinessTally.for_dataset(dataset)  # None when the catalog has no prices
    engine = engine or LocalEngine()
    scorer = BlockScorer(engine.prepare(model), dataset, config.k, c, steps, ctx, exclude,
                         selection.allowed_items)
    blocks = [users[start:start + config.chunk_users]
              for start in range(0, total, config.chunk_users)]
    with open_writer(path, config.format) as writer:
        for n, block in enumerate(engine.map(scorer, blocks)):
            writer.write(block.frame)
            if tally is not None:
                tally.add(block.items)
            with_rows += int((block.items >= 0).any(axis=1).sum())
            if n == 0:
                sample = block.frame.head(50)
            rows += len(block.frame)
            done += len(blocks[n])
            if progress is not None:
                progress(done, total)
        if progress is not None and total == 0:
            progress(0, 0)
    seconds = time.perf_counter() - t0
    manifest = build_manifest(
        model=model, dataset=base, steps=steps, hit_model=ctx.hit_model, k=config.k,
        candidates=c, scope=config.scope.model_dump(mode="json"),
        scope_description=selection.description, metrics=metrics, model_info=model_info,
        counts={"rows": rows, "users": int(total), "users_with_rows": with_rows},
        columns=dict(EXPORT_COLUMNS), file_format=config.format, files=[file_entry(path)],
        seconds=seconds, business=tally.manifest_entry() if tally is not None else None,
        engine=engine.describe(), updated=updated)
    manifest_path = write_manifest(folder, manifest)
    log.info("export %s: %d users, %d rows in %.2fs -> %s", config.scope.label(), total, rows,
             seconds, path)
    return ExportResult(folder, [path, manifest_path], manifest, rows, int(total), seconds, sample)
