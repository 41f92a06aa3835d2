"""``python -m recsys export``: train on every interaction, write tail-boost lists + manifest.

Every user's lists exclude every item they have interacted with; ``--rerank`` re-ranks each
user's top ``--candidates`` first. ``--policy`` instead lets an exploration policy choose
from them (:mod:`recsys.export.explore`): rows gain ``propensity`` and ``list_id`` and the
manifest a ``policy`` entry. Columns and manifest: :mod:`recsys.export`.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

from recsys.cli.args import (
    CliError,
    add_dataset_args,
    add_engine_args,
    add_input_args,
    add_model_args,
    json_arg,
    load_dataset,
    open_engine_arg,
)
from recsys.cli.recommend import add_candidates_arg, add_rerank_args
from recsys.data.segments import USER_SEGMENTS
from recsys.export.scopes import ExportScope
from recsys.export.writers import EXPORT_FORMATS

__all__ = ["add_arguments", "run"]

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_input_args(p, format_flag="--input-format")
    add_dataset_args(p)
    add_model_args(p)
    add_rerank_args(p, parser_checks_method=True)
    add_candidates_arg(p, also="; with --policy the policy chooses from them")
    p.add_argument("--segment", choices=USER_SEGMENTS, help="export only this user segment "
                   "(default: every user)")
    p.add_argument("--format", dest="out_format", default="csv", choices=list(EXPORT_FORMATS),
                   help="csv, parquet or json (JSON Lines); default csv")
    p.add_argument("--out", required=True, help="output folder (created; lists file + "
                   "manifest.json)")
    p.add_argument("--chunk-users", type=int, default=2048, help="users scored and written per "
                   "block (one Ray actor call each with --engine ray; default 2048)")
    add_engine_args(p)
    add_policy_args(p)


def add_policy_args(p: argparse.ArgumentParser) -> None:
    """``--policy`` and its settings: exploring lists whose rows carry propensities."""
    from recsys.feedback.policies import POLICIES

    p.add_argument("--policy", choices=list(POLICIES), help="exploration policy over the "
                   "model's candidates; rows then carry propensity and list_id (not with "
                   "--rerank)")
    p.add_argument("--exploration", type=float, default=0.1, help="--policy: exploration weight "
                   "from 0 (the model's own lists) to 1 (default 0.1)")
    p.add_argument("--new-item-days", type=float, help="--policy: items launched or first seen "
                   "within this many days of the data's end count as new and are explored "
                   "like tail items")
    p.add_argument("--draws", type=int, default=100, help="--policy thompson: Monte-Carlo draws "
                   "behind the propensities (default 100)")
    p.add_argument("--prior", choices=["calibrated", "rank"], default="calibrated",
                   help="--policy thompson: prior means from the hit model fitted on an inner "
                   "split (default) or from the candidate's rank alone")
    p.add_argument("--seed", type=int, default=0, help="--policy: seed (default 0)")


def policy_arg(args: argparse.Namespace) -> Any:
    """The ``--policy`` settings as a config (``None`` without ``--policy``); bad values are a
    one-line CliError (exit 2)."""
    from pydantic import ValidationError

    from recsys.feedback.policies import PolicyConfig

    if getattr(args, "policy", None) is None:
        return None
    if getattr(args, "rerank", None) not in (None, "none"):
        raise CliError("--policy and --rerank cannot be combined: an exploration policy works "
                       "on the model's own candidates")
    try:
        return PolicyConfig(policy=args.policy, exploration=args.exploration,
                            new_item_days=args.new_item_days, draws=args.draws, seed=args.seed,
                            prior=args.prior)
    except ValidationError as exc:
        err = exc.errors()[0]
        flag = {"exploration": "--exploration", "new_item_days": "--new-item-days",
                "draws": "--draws", "seed": "--seed"}.get(str(err["loc"][0]), "--policy")
        raise CliError(f"{flag}: {err['msg']} (got {err.get('input')})") from exc


def run(args: argparse.Namespace) -> int:
    """Validate the options, load and train, export; returns the exit code (0).

    Raises ``ValueError`` (bad options, exit code 2 in the CLI) before any training starts.
    """
    from recsys.export.lists import ExportConfig
    from recsys.models import create_model
    from recsys.rerank.config import rerank_config_from_args

    model_config = json_arg(args.config, "model settings")
    policy = policy_arg(args)
    step = rerank_config_from_args(args.rerank, args.strength, args.rerank_options)
    steps = [step] if step is not None else []
    scope = ExportScope(kind="segment", value=args.segment) if args.segment else ExportScope()
    if policy is not None and args.engine != "local":
        raise CliError("--policy runs on the local engine only: drop --engine ray (or export "
                       "the model's or re-ranked lists with Ray)")
    config = ExportConfig(k=args.k, format=args.out_format, chunk_users=args.chunk_users,
                          candidates=max(args.candidates, args.k), scope=scope)
    model = create_model(args.model, model_config)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out must be a folder, '{out}' is a file")
    with open_engine_arg(args) as engine:
        return _export(args, model, policy, steps, config, out, engine)


def _export(args: argparse.Namespace, model: Any, policy: Any, steps: list[Any],
            config: Any, out: Path, engine: Any) -> int:
    """Load and train here, then export through ``engine``."""
    from recsys.export.lists import export_lists
    from recsys.rerank import RerankContext, hit_model_for

    ds = load_dataset(args)
    t0 = time.perf_counter()
    model.fit(ds, device=args.device)
    train_s = time.perf_counter() - t0
    info = {"run": None, "trained_on": "all interactions", "train_s": round(train_s, 3)}
    if policy is not None:
        from recsys.export.explore import export_explored_lists

        result = export_explored_lists(model, ds, out, config, policy, model_info=info)
        print(f"{result.rows:,} rows for {result.users:,} users ({policy.policy}, exploration "
              f"{policy.exploration:g}) -> {result.files[0]} (+ {result.files[1].name}) in "
              f"{time.perf_counter() - t0:.1f}s")
        return 0
    context = RerankContext(ds, hit_model=hit_model_for(steps, model, ds, c=config.candidates))
    result = export_lists(model, ds, out, config, rerank=steps, context=context,
                          model_info=info, metrics=None, engine=engine)
    print(f"{result.rows:,} rows for {result.users:,} users -> {result.files[0]} "
          f"(+ {result.files[1].name}) in {time.perf_counter() - t0:.1f}s ({engine.name})")
    return 0
