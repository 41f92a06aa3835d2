"""``python -m recsys recommend``: train on every interaction, write the top-K unseen items of
every user as ``user_id,item_id,rank,score,is_tail`` (rank from 1)."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.cli.args import add_dataset_args, add_input_args, add_model_args, json_arg, load_dataset, rerank_arg
from recsys.export.writers import write_table
from recsys.rerank.config import METHODS, RERANK_OPTIONS_HELP

__all__ = ["add_arguments", "add_rerank_args", "run"]

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


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_input_args(p)
    add_dataset_args(p)
    add_model_args(p)
    add_rerank_args(p)
    p.add_argument("--out", required=True, help="output CSV (or .parquet)")


def run(args: argparse.Namespace) -> int:
    from recsys.models import create_model
    from recsys.rerank import RerankContext, hit_model_for, make_lists

    model = create_model(args.model, json_arg(args.config, "model settings"))
    rerank_config = rerank_arg(args.rerank, args.strength, args.rerank_options)
    ds = load_dataset(args)
    t0 = time.perf_counter()
    model.fit(ds, device=args.device)
    users = np.arange(ds.n_users)
    if rerank_config is None:  # the model's own top-K of what it has not seen
        lists = make_lists(model, ds, users, args.k, candidates=args.k)
    else:
        context = RerankContext(ds, hit_model=hit_model_for(rerank_config, model, ds))
        lists = make_lists(model, ds, users, args.k, steps=rerank_config, context=context,
                           candidates=max(100, args.k), exclude=ds.known)
    items, scores = lists.items, lists.score
    rank = np.tile(np.arange(1, items.shape[1] + 1), len(users))
    flat = items.ravel()
    keep = flat >= 0
    out = pd.DataFrame({
        "user_id": np.repeat(ds.user_ids, items.shape[1])[keep],
        "item_id": ds.item_ids[flat[keep]],
        "rank": rank[keep],
        "score": scores.ravel()[keep].astype(float),
        "is_tail": ds.is_tail[flat[keep]],
    })
    path = write_table(out, Path(args.out))  # spreadsheet-safe CSV, like every export
    log.info("%s: %d users, %d rows in %.1fs -> %s", args.model, len(users), len(out),
             time.perf_counter() - t0, path)
    return 0
