"""``python -m recsys evaluate``: split, train every model on the training part and print
every protocol metric of each (JSON with ``--json``).

With ``--split item-cold`` a seeded share of items (``--cold-item-frac``) is held out whole as
new products; the table and JSON then also carry ``new_recall`` (Recall@K among new items
only) and ``new_share`` (share of new items in the lists), and the header says how many items
were held out. That protocol needs no timestamps."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from recsys.cli.args import (
    CliError,
    add_cold_item_frac_arg,
    add_dataset_args,
    add_input_args,
    json_arg,
    load_dataset,
)
from recsys.data.splits import SPLIT_METHODS, Split, SplitConfig, split_dataset

__all__ = ["add_arguments", "run", "HEADER", "NEW_ITEM_HEADER"]

HEADER = ("model", "ndcg", "recall", "hitrate", "map", "aplt", "arp", "coverage", "gini",
          "novelty", "train_s")
#: Columns an item cold start split adds after ``recall`` / ``aplt`` … (before ``train_s``).
NEW_ITEM_HEADER = ("new_recall", "new_share")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_input_args(p)
    add_dataset_args(p)
    p.add_argument("--models", required=True, help="comma-separated model names")
    p.add_argument("--config", help="JSON object of configs per model, e.g. "
                   "'{\"ease\": {\"l2\": 300}}'")
    p.add_argument("--split", default="random", choices=list(SPLIT_METHODS))
    p.add_argument("--test-frac", type=float, default=0.2)
    add_cold_item_frac_arg(p)
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
                                          cold_item_frac=args.cold_item_frac, seed=args.seed))
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
        notes = model.fitted_notes()
        rows.append({"model": name, "config": model.config.model_dump(mode="json"),
                     "train_s": train_s, "eval_s": ev.seconds, **ev.summary,
                     **({"notes": notes} if notes else {})})
    _print_table(ds.name, ds.n_users, ds.n_items, args, split, rows)
    if args.json_path:
        Path(args.json_path).write_text(json.dumps({
            "dataset": ds.summary(), "split": split.config.model_dump(mode="json"), "k": args.k,
            **({"new_items": _n_new(split)} if split.cold_items is not None else {}),
            "results": rows}, indent=2, default=str))
    return 0


def _n_new(split: Split) -> int:
    """How many items an item cold start split held out whole (0 on other splits)."""
    return int(split.cold_items.sum()) if split.cold_items is not None else 0


def _print_table(name: str, n_users: int, n_items: int, args: argparse.Namespace, split: Split,
                 rows: list[dict]) -> None:
    """The header lines and one row per model; an item cold start split adds its columns and
    a line saying how many items were held out as new and what the new columns mean."""
    header = HEADER
    print(f"{name}: {n_users:,} users x {n_items:,} items, split={args.split} "
          f"test_frac={args.test_frac} seed={args.seed}, K={args.k}")
    if split.cold_items is not None:
        header = HEADER[:-1] + NEW_ITEM_HEADER + HEADER[-1:]
        print(f"new products: {_n_new(split):,} of {n_items:,} items held out whole "
              f"(cold_item_frac={args.cold_item_frac}); new_recall = Recall@{args.k} among new "
              f"items only, new_share = share of new items in the lists")
    widths = [max(9, len(h)) for h in header]
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, widths, strict=True)))
    for r in rows:
        print(" ".join(f"{r[h]:>{w}}" if isinstance(r[h], str) else f"{r[h]:>{w}.4f}"
                       for h, w in zip(header, widths, strict=True)))
    for r in rows:  # what each model chose on its own training data
        for label, note in r.get("notes", {}).items():
            print(f"{r['model']} · {label}: {note}")
