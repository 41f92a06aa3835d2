"""Export exploring lists: candidates → exploration policy → rows with propensities + manifest.

:func:`export_explored_lists` is :func:`recsys.export.lists.export_lists` with an exploration
policy (:mod:`recsys.feedback.policies`) in place of re-ranking: for each block of users the
model's best ``C`` unseen items (every item the user has interacted with excluded) go through
the policy, together with the model's best ``C`` tail / new items (what exploration slots
are for), and each shown slot becomes a row with the usual export columns plus
``propensity`` (the probability that the policy shows this item at this rank to this user)
and ``list_id``. ``boosted`` marks the slots the policy filled with an item outside the
model's own top-K. The manifest records the policy, its seed and settings and whether the
propensities are exact or Monte-Carlo shares (with the number of draws), so a feedback log
built from these rows can be evaluated off-policy (``python -m recsys ope``).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.data.dataset import Dataset
from recsys.export.lists import ExportConfig, ExportResult, Progress
from recsys.export.manifest import build_manifest, file_entry, write_manifest
from recsys.export.scopes import ScopeSelection, resolve_scope
from recsys.export.writers import EXPLORE_COLUMNS, EXPORT_COLUMNS, EXTENSIONS, open_writer
from recsys.feedback import (
    ExploredLists,
    ItemFeedback,
    PolicyConfig,
    calibration_model,
    explore,
    list_ids,
    policy_inputs,
    prior_means,
    with_target_candidates,
)
from recsys.rerank import candidates_from_model
from recsys.workspace import safe_name

__all__ = ["EXPLORED_COLUMNS", "explored_frame", "export_explored_lists"]

log = logging.getLogger(__name__)

#: Users × slots × candidates held at once (the policy's slot probabilities), ~160 MB.
MAX_SLOT_CELLS = 20_000_000
#: Columns of an exploring export, in order.
EXPLORED_COLUMNS: dict[str, str] = {**EXPORT_COLUMNS, **EXPLORE_COLUMNS}


def explored_frame(lists: ExploredLists, scores: np.ndarray, dataset: Dataset,
                   policy: PolicyConfig, k: int) -> pd.DataFrame:
    """Rows :data:`EXPLORED_COLUMNS` of the policy's lists (empty slots dropped; ``rank`` is
    the slot, from 1, so a feedback log's ``position`` is this rank)."""
    items = lists.items
    shown = items >= 0
    cols = np.maximum(lists.cols, 0)
    flat = items[shown]
    n_users, slots = items.shape
    base = np.take_along_axis(scores, cols, axis=1)[shown]
    explored = (lists.cols >= k)[shown]
    ids = list_ids(dataset.user_ids[lists.users].astype(str), policy, dataset.fingerprint)
    user_rows = np.repeat(np.arange(n_users), slots).reshape(items.shape)[shown]
    frame = pd.DataFrame({
        "user_id": dataset.user_ids[lists.users[user_rows]].astype(str).astype(object),
        "rank": (np.tile(np.arange(1, slots + 1), (n_users, 1))[shown]).astype(np.int64),
        "item_id": dataset.item_ids[flat].astype(str).astype(object),
        "title": dataset.catalog["title"].to_numpy()[flat].astype(str).astype(object),
        "score": base.astype(np.float64),
        "base_score": base.astype(np.float64),
        "is_tail": np.asarray(dataset.is_tail, dtype=bool)[flat],
        "boosted": explored,
        "cluster": np.full(len(flat), -1, dtype=np.int64),
        "propensity": lists.propensity[shown].astype(np.float64),
        "list_id": ids[user_rows].astype(object),
    })
    return frame[list(EXPLORED_COLUMNS)]


def _policy_entry(policy: PolicyConfig, lists: ExploredLists | None, targets: np.ndarray,
                  dataset: Dataset) -> dict[str, Any]:
    exact = lists.exact if lists is not None else policy.policy != "thompson"
    how = ("exact (closed form)" if exact else
           f"Monte-Carlo share of {policy.draws} seeded draws; the list shown is the first draw")
    return {**policy.model_dump(mode="json"), "propensities": how,
            "exploration_targets": f"{int(targets.sum()):,} of {dataset.n_items:,} items "
                                   "(tail or new)",
            "propensity_meaning": "probability that the policy shows this item at this rank to "
                                  "this user"}


def export_explored_lists(model: Any, dataset: Dataset, folder: str | Path,
                          config: ExportConfig | None = None,
                          policy: PolicyConfig | None = None, *,
                          feedback: ItemFeedback | None = None,
                          hit_model: Any = None,
                          model_info: dict[str, Any] | None = None,
                          progress: Progress | None = None) -> ExportResult:
    """Write ``policy``'s lists (with propensities) for the users of ``config.scope`` into
    ``folder``: the list file and ``manifest.json`` (which gains a ``policy`` entry).
    Thompson's calibrated prior uses ``hit_model`` when given, else fits one
    (:func:`~recsys.feedback.calibration_model`)."""
    config = config or ExportConfig()
    policy = policy or PolicyConfig()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    selection: ScopeSelection = resolve_scope(config.scope, dataset)
    inputs = policy_inputs(dataset, policy, feedback)
    c = max(config.candidates, config.k)
    if hit_model is None:
        hit_model = calibration_model(model, dataset, policy,
                                      device=getattr(model, "device_", None) or "cpu", c=c)
    exclude = sp.csr_matrix(dataset.known)
    name = safe_name(f"lists-{config.scope.label()}-{policy.policy}")
    path = folder / f"{name}.{EXTENSIONS[config.format]}"
    users = selection.users
    chunk = max(1, min(config.chunk_users, MAX_SLOT_CELLS // (config.k * 2 * c)))
    total, rows, with_rows, t0 = len(users), 0, 0, time.perf_counter()
    sample, last = pd.DataFrame(columns=list(EXPLORED_COLUMNS)), None
    with open_writer(path, config.format, EXPLORED_COLUMNS) as writer:
        for start in range(0, total, chunk):
            part = users[start:start + chunk]
            cands = candidates_from_model(model, dataset, part, c, exclude=exclude,
                                          allowed_items=selection.allowed_items)
            if policy.policy != "greedy":
                cands = with_target_candidates(model, dataset, cands, c, inputs["targets"],
                                               exclude, selection.allowed_items)
            chunk_policy = policy.model_copy(update={"seed": policy.seed + start})
            last = explore(cands.users, cands.items, cands.scores, config.k, chunk_policy,
                           prior_mean=prior_means(hit_model, cands, dataset), **inputs)
            frame = explored_frame(last, cands.scores, dataset, policy, config.k)
            writer.write(frame)
            with_rows += int((last.items >= 0).any(axis=1).sum())
            if start == 0:
                sample = frame.head(50)
            rows += len(frame)
            if progress is not None:
                progress(min(start + len(part), total), total)
    seconds = time.perf_counter() - t0
    manifest = build_manifest(
        model=model, dataset=dataset, steps=[], hit_model=None, k=config.k, candidates=c,
        scope=config.scope.model_dump(mode="json"), scope_description=selection.description,
        metrics=None, model_info=model_info,
        counts={"rows": rows, "users": int(total), "users_with_rows": with_rows},
        columns=dict(EXPLORED_COLUMNS), file_format=config.format, files=[file_entry(path)],
        seconds=seconds)
    manifest["policy"] = _policy_entry(policy, last, inputs["targets"], dataset)
    if policy.policy == "thompson":
        manifest["policy"]["prior_from"] = ("hit model fitted on an inner split"
                                            if hit_model is not None else "candidate rank")
        manifest["hit_model"] = hit_model.to_dict() if hit_model is not None else None
    manifest["policy"]["chunk_seeds"] = (f"seed + index of the chunk's first user (chunks of "
                                         f"{chunk} users)")
    manifest_path = write_manifest(folder, manifest)
    log.info("explored export (%s, exploration %.2f): %d users, %d rows in %.2fs -> %s",
             policy.policy, policy.exploration, total, rows, seconds, path)
    return ExportResult(folder, [path, manifest_path], manifest, rows, int(total), seconds, sample)
