"""``python -m recsys simulate``: replay a policy day by day on a time-ordered data set.

Fits the model on everything before the last ``--days`` days, then shows each day's active
users the policy's lists (:mod:`recsys.feedback.replay`). Writes ``days.csv`` (one row per day,
:data:`~recsys.feedback.replay.DAY_COLUMNS`), ``log.csv`` (every shown slot with its propensity
and reward: a feedback log ``ope`` reads) and ``summary.json`` (totals, settings and the
note that replay on logged data is biased toward the logging policy) into ``--out``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from recsys.cli.args import (
    CliError,
    add_dataset_args,
    add_input_args,
    add_model_args,
    json_arg,
    load_dataset,
)
from recsys.cli.export import add_policy_args, policy_arg

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_input_args(p)
    add_dataset_args(p)
    add_model_args(p)
    add_policy_args(p)
    p.add_argument("--days", type=int, default=14, help="days at the end of the data to replay "
                   "(default 14)")
    p.add_argument("--candidates", type=int, default=100, help="model candidates per user the "
                   "policy chooses from, plus as many tail / new items (default 100)")
    p.add_argument("--out", required=True, help="output folder (days.csv, log.csv, summary.json)")


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from recsys.export.writers import write_table
    from recsys.feedback.replay import ReplayConfig, replay
    from recsys.models import create_model

    if args.policy is None:
        args.policy = "greedy"
    policy = policy_arg(args)
    try:
        config = ReplayConfig(days=args.days, k=args.k, candidates=args.candidates)
    except ValidationError as exc:
        raise CliError(f"--days must be from 1 to 366 (got {args.days})") from exc
    model = create_model(args.model, json_arg(args.config, "model settings"))
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CliError(f"--out must be a folder, '{out}' is a file")
    ds = load_dataset(args)
    result = replay(model, ds, policy, config, device=args.device)
    out.mkdir(parents=True, exist_ok=True)
    write_table(result.days, out / "days.csv")
    write_table(result.log, out / "log.csv")
    (out / "summary.json").write_text(json.dumps(result.summary, indent=2, allow_nan=False) + "\n",
                                      encoding="utf-8")
    s = result.summary
    print(f"{s['policy']['policy']} (exploration {s['policy']['exploration']:g}), {args.days} days "
          f"from {s['train_until']}: {s['hits']:,} hits in {s['slots']:,} slots, {s['tail_hits']:,} "
          f"tail hits, {s['tail_items_discovered']:,} tail items discovered, tail exposure "
          f"{s['tail_exposure']:.3f} -> {out}")
    print(f"note: {s['note']}")
    return 0
