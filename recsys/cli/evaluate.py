"""``python -m recsys evaluate``: split, train every model on the training part and print
every protocol metric of each (JSON with ``--json``)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from recsys.cli.args import CliError, add_dataset_args, add_input_args, json_arg, load_dataset
from recsys.data.splits import SPLIT_METHODS, SplitConfig, split_dataset

__all__ = ["add_arguments", "run"]

HEADER = ("model", "ndcg", "recall", "hitrate", "map", "aplt", "arp", "coverage", "gini",
          "novelty", "train_s")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_input_args(p)
    add_dataset_args(p)
    p.add_argument("--models", required=True, help="comma-separated model names")
    p.add_argument("--config", help="JSON object of configs per model, e.g. "
                   "'{\"ease\": {\"l2\": 300}}'")
    p.add_argument("--split", default="random", choices=list(SPLIT_METHODS))
    p.add_argument("--test-frac", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", dest="json_path", help="write results as JSON to this path")


def run(args: argparse.Namespace) -> int:
    from recsys.evaluation import evaluate_split
    from recsys.models import create_model, get_model_class

    names = [n.strip() for n in args.models.split(",") if n.strip()]
    configs = json_arg(args.config, "configs per model")
    for name in names:
        get_model_class(name)  # unknown names fail before any work
    ds = load_dataset(args)
    split = split_dataset(ds, SplitConfig(method=args.split, test_frac=args.test_frac,
                                          seed=args.seed))
    if not len(split.test_users):
        raise CliError(f"nothing to evaluate: no user has held-out interactions under --split "
                       f"{args.split} (a user needs at least 2 interactions to have one held out); "
                       "keep only users with enough of them (--kcore 2 or more) or pick another "
                       "--split", code=1)
    rows = []
    for name in names:
        model = create_model(name, configs.get(name, {}))
        t0 = time.perf_counter()
        model.fit(split.train, device=args.device)
        train_s = time.perf_counter() - t0
        ev = evaluate_split(model, split, k=args.k)
        rows.append({"model": name, "config": model.config.model_dump(mode="json"),
                     "train_s": train_s, "eval_s": ev.seconds, **ev.summary})
    print(f"{ds.name}: {ds.n_users:,} users x {ds.n_items:,} items, split={args.split} "
          f"test_frac={args.test_frac} seed={args.seed}, K={args.k}")
    print(" ".join(f"{h:>9}" for h in HEADER))
    for r in rows:
        print(" ".join(f"{r[h]:>9}" if isinstance(r[h], str) else f"{r[h]:>9.4f}" for h in HEADER))
    if args.json_path:
        Path(args.json_path).write_text(json.dumps({
            "dataset": ds.summary(), "split": split.config.model_dump(mode="json"), "k": args.k,
            "results": rows}, indent=2, default=str))
    return 0
