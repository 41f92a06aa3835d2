"""``python -m recsys recommend``: train on every interaction, write the top-K unseen items of
every user as ``user_id,item_id,rank,score,is_tail`` (rank from 1).

Lists are made and written one block of customers at a time (Parquet row groups or CSV
chunks), with a progress line per block, so no users × items matrix and no table of every list
is ever held: memory stays that of one block whatever the number of customers. Each block goes
through one :class:`BlockLists`, scored here or by a Ray worker (``--engine ray``,
:mod:`recsys.export.engines`); the driver writes the blocks in order either way."""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsys.cli.args import (
    add_dataset_args,
    add_engine_args,
    add_input_args,
    add_model_args,
    json_arg,
    load_dataset,
    open_engine_arg,
    rerank_arg,
)
from recsys.export.lists import BlockScorer
from recsys.export.writers import open_table_writer
from recsys.rerank.config import METHODS, RERANK_OPTIONS_HELP, RERANK_POOL

__all__ = ["add_arguments", "add_rerank_args", "add_candidates_arg", "run", "block_users",
           "list_frame", "BlockLists"]

log = logging.getLogger(__name__)


def add_rerank_args(p: argparse.ArgumentParser, *, parser_checks_method: bool = False) -> None:
    """``--rerank METHOD --strength X --rerank-options JSON`` (recommend and export).

    ``recommend`` leaves an unknown method to the library's one-line message; ``export`` lets
    argparse refuse it with its usage (``parser_checks_method``)."""
    p.add_argument("--rerank", metavar="METHOD", choices=METHODS if parser_checks_method else None,
                   help="re-rank for tail "
                   f"exposure: {', '.join(METHODS)} (needs --strength)")
    p.add_argument("--strength", type=float, help="re-rank strength in [0, 1]: 0 = the "
                   "model's lists, 1 = the method's strongest setting")
    p.add_argument("--rerank-options", metavar="JSON", help=RERANK_OPTIONS_HELP)


def add_candidates_arg(p: argparse.ArgumentParser, also: str = "") -> None:
    """``--candidates N``: each user's best N unseen items the re-ranker re-orders (default
    :data:`~recsys.rerank.config.RERANK_POOL`; at least 1, checked with the other ranges by
    :func:`recsys.cli.args.check_ranges`; fewer than ``--k`` reads as ``--k``). ``also`` adds
    what else the command uses the pool for."""
    p.add_argument("--candidates", type=int, default=RERANK_POOL, metavar="N",
                   help=f"--rerank: each user's best N unseen items are re-ranked, then cut to "
                   f"--k{also} (default {RERANK_POOL}, the pool that gave the most tail exposure "
                   "within 5%% NDCG loss on an inner validation split)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_input_args(p)
    add_dataset_args(p)
    add_model_args(p)
    add_rerank_args(p)
    add_candidates_arg(p)
    p.add_argument("--out", required=True, help="output CSV (or .parquet)")
    add_engine_args(p)


def block_users(n_items: int, budget: int = 2**26) -> int:
    """Customers per written block: a block's scores (block × items floats) stay near
    ``budget`` entries (256 MB of float32), between 256 and 20,000 customers."""
    return int(min(20_000, max(256, budget // max(1, n_items))))


def list_frame(ds: Any, users: np.ndarray, items: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
    """``user_id, item_id, rank, score, is_tail`` rows of one block of lists (padding dropped)."""
    rank = np.tile(np.arange(1, items.shape[1] + 1), len(users))
    flat = items.ravel()
    keep = flat >= 0
    return pd.DataFrame({
        "user_id": np.repeat(ds.user_ids[users], items.shape[1])[keep],
        "item_id": ds.item_ids[flat[keep]],
        "rank": rank[keep],
        "score": scores.ravel()[keep].astype(float),
        "is_tail": ds.is_tail[flat[keep]],
    })


@dataclass(frozen=True)
class BlockLists:
    """The rows of one block of customers (:func:`list_frame`), picklable so a Ray worker can
    make them: the lists come from an export's :class:`~recsys.export.lists.BlockScorer`,
    without a re-ranker the model's own top-``k`` of what it has not seen, with one the best
    ``candidates`` unseen (at least ``k``; every interacted item excluded) re-ranked with
    ``context``."""

    scorer: BlockScorer

    @classmethod
    def of(cls, model: Any, ds: Any, k: int, rerank: Any = None, context: Any = None,
           candidates: int = RERANK_POOL) -> BlockLists:
        if rerank is None:
            return cls(BlockScorer(model, ds, k, k, None, None, None))
        return cls(BlockScorer(model, ds, k, max(candidates, k), rerank, context, ds.known))

    def __call__(self, users: np.ndarray) -> pd.DataFrame:
        lists = self.scorer.lists(users)
        return list_frame(self.scorer.dataset, users, np.asarray(lists.items),
                          np.asarray(lists.score))


def run(args: argparse.Namespace) -> int:
    from recsys.models import create_model

    model = create_model(args.model, json_arg(args.config, "model settings"))
    rerank_config = rerank_arg(args.rerank, args.strength, args.rerank_options)
    with open_engine_arg(args) as engine:
        return _recommend(args, model, rerank_config, engine)


def _recommend(args: argparse.Namespace, model: Any, rerank_config: Any, engine: Any) -> int:
    """Load and train here, then score the blocks through ``engine`` and write them in order."""
    from recsys.rerank import RerankContext, hit_model_for

    ds = load_dataset(args)
    t0 = time.perf_counter()
    model.fit(ds, device=args.device)
    fit_s = time.perf_counter() - t0
    log.info("%s: trained in %.1fs", args.model, fit_s)
    context, pool = None, max(args.candidates, args.k)
    if rerank_config is not None:
        context = RerankContext(ds, hit_model=hit_model_for(rerank_config, model, ds, c=pool))
    block, total, rows = block_users(ds.n_items), ds.n_users, 0
    blocks = [np.arange(start, min(start + block, total)) for start in range(0, total, block)]
    scorer = BlockLists.of(engine.prepare(model), ds, args.k, rerank_config, context, pool)
    t1 = time.perf_counter()
    with open_table_writer(Path(args.out)) as writer:  # one block of lists in memory at a time
        for users, frame in zip(blocks, engine.map(scorer, blocks), strict=True):
            writer.write(frame)
            rows += len(frame)
            done = users[-1] + 1
            elapsed = time.perf_counter() - t1
            log.info("recommend: %d / %d customers (%.0f%%), %.1fs, about %.0fs left", done, total,
                     100 * done / total, elapsed, elapsed / done * (total - done))
    log.info("%s: %d users, %d rows in %.1fs (fit %.1fs, %s) -> %s", args.model, total, rows,
             time.perf_counter() - t0, fit_s, engine.name, writer.path)
    return 0
