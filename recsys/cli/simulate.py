"""``python -m recsys simulate``: replay a policy day by day on a time-ordered data set.

Fits the model once on everything before the last ``--days`` days, then shows each day's
active users the lists of the policy and of every ``--compare`` policy (the model's plain
greedy lists always among them), under ``--seeds`` seeds
(:mod:`recsys.feedback.simulation`). Writes into ``--out``: ``days.csv`` (the policy's first
seed, one row per day, :data:`~recsys.feedback.replay.DAY_COLUMNS`: hits, tail hits, tail
exposure, discovered tail items, regret against the best fixed list), ``log.csv`` (every slot
it showed with its propensity and reward: a feedback log ``ope`` reads), ``bands.csv`` (per
policy and day, the mean over seeds with 95 % bootstrap bands) and ``summary.json`` (the
policy's totals at the top level, every policy's totals with bands and its off-policy
estimate on the greedy replay's log under ``policies``, and the note that replay on logged
data is biased toward the logging policy).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

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
    p.add_argument("--seeds", type=int, default=1, help="seeds each stochastic policy is "
                   "replayed under; bands over seeds (default 1)")
    p.add_argument("--compare", default="greedy", help="comma-separated policies replayed "
                   "beside it on the same fitted model: greedy, boosted (tail-bonus re-rank at "
                   "the exploration weight), epsilon, thompson, linucb (default greedy)")
    p.add_argument("--no-update", dest="update_model", action="store_false", help="keep the "
                   "model as fitted before the replayed days (default: fold each day's "
                   "interactions into it before the next day, an online update)")
    p.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples of the "
                   "off-policy intervals (default 200)")
    p.add_argument("--out", required=True, help="output folder (days.csv, log.csv, bands.csv, "
                   "summary.json)")


def _config(args: argparse.Namespace, policy: Any) -> Any:
    """The simulation settings from the arguments; bad values are one-line CliErrors."""
    from pydantic import ValidationError

    from recsys.feedback.arms import ARMS
    from recsys.feedback.replay import ReplayConfig
    from recsys.feedback.simulation import SimulationConfig

    try:
        replay = ReplayConfig(days=args.days, k=args.k, candidates=args.candidates,
                              update_model=args.update_model)
    except ValidationError as exc:
        raise CliError(f"--days must be from 1 to 366 (got {args.days})") from exc
    compare = [c.strip().lower() for c in str(args.compare).split(",") if c.strip()]
    unknown = [c for c in compare if c not in ARMS]
    if unknown:
        raise CliError(f"--compare: unknown policy {', '.join(unknown)}; choose from "
                       f"{', '.join(ARMS)}")
    if not 1 <= args.seeds <= 50:
        raise CliError(f"--seeds must be from 1 to 50 (got {args.seeds})")
    try:
        return SimulationConfig(
            policies=(*compare, policy.policy), exploration=policy.exploration,
            new_item_days=policy.new_item_days, prior=policy.prior, draws=policy.draws,
            seeds=args.seeds, seed=policy.seed, bootstrap=args.bootstrap, replay=replay)
    except ValidationError as exc:
        raise CliError("bad simulation settings: " + "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from exc


def run(args: argparse.Namespace) -> int:
    from recsys.export.writers import write_table
    from recsys.feedback.replay import replay_summary
    from recsys.feedback.simulation import simulate
    from recsys.models import create_model

    if args.policy is None:
        args.policy = "greedy"
    policy = policy_arg(args)
    config = _config(args, policy)
    model = create_model(args.model, json_arg(args.config, "model settings"))
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CliError(f"--out must be a folder, '{out}' is a file")
    ds = load_dataset(args)
    try:
        result = simulate(model, ds, config, device=args.device)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    main = policy.policy
    first = result.runs[main][0]
    summary = {**replay_summary(first.days, result.prepared, first.arm.describe(first.seed),
                                result.summary["seconds"]),
               **{k: v for k, v in result.summary.items() if k not in ("model", "note")},
               "note": result.summary["note"]}
    out.mkdir(parents=True, exist_ok=True)
    write_table(first.days, out / "days.csv")
    write_table(result.log(main), out / "log.csv")
    write_table(result.bands, out / "bands.csv")
    (out / "summary.json").write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n",
                                      encoding="utf-8")
    s = summary
    print(f"{main} (exploration {policy.exploration:g}), {args.days} days from "
          f"{s['train_until']}: {s['hits']:,} hits in {s['slots']:,} slots, {s['tail_hits']:,} "
          f"tail hits, {s['tail_items_discovered']:,} tail items discovered, tail exposure "
          f"{s['tail_exposure']:.3f}, regret {s['regret']:,} against the best fixed list -> {out}")
    for name, entry in s["policies"].items():
        t = entry["totals"]
        band = ("" if entry["seeds"] == 1 else
                f" [{t['hits']['lo']:,.0f}, {t['hits']['hi']:,.0f}] over {entry['seeds']} seeds")
        line = (f"  {name:<8} hits {t['hits']['mean']:,.1f}{band}, tail items discovered "
                f"{t['tail_items_discovered']['mean']:,.1f}, regret {t['regret']['mean']:,.1f}")
        dr = entry.get("ope", {}).get("estimators", {}).get("dr")
        if dr and dr["value"] is not None:
            line += (f"; DR estimate on greedy's log {dr['value']:.4f} per slot "
                     f"(replay {entry['ope']['replay_hit_rate']:.4f})")
        print(line)
    print(f"note: {s['note']}")
    return 0
