"""``python -m recsys train``: fit one model, save its folder, print (and write) its metrics.

By default the interactions are split (``--split``, ``--test-frac``, ``--cold-item-frac``,
``--seed``, as ``evaluate``) and the model is measured on the held-out part; ``--split none``
trains on every interaction and measures nothing. ``--validation-frac`` carves validation pairs out of the
training part for early stopping (epoch-trained models; the training page does the same).

The command works under ``torchrun`` unchanged: ``torchrun --nproc-per-node 2 -m recsys train
…`` trains BPR, Mult-VAE or SASRec with DDP (one process per CPU share or GPU, see
:mod:`recsys.models.distributed`); every rank reads the files and makes the same split, rank 0
alone measures, saves the model folder and writes ``metrics.json`` (with ``world_size`` and
each rank's training examples), the other ranks print nothing.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from recsys.cli.args import (
    CliError,
    add_cold_item_frac_arg,
    add_dataset_args,
    add_input_args,
    add_model_args,
    json_arg,
    load_dataset,
)
from recsys.data.splits import SPLIT_METHODS, SplitConfig, split_dataset, validation_split
from recsys.device import torchrun_env

__all__ = ["add_arguments", "run"]

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_input_args(p)
    add_dataset_args(p)
    add_model_args(p)
    p.add_argument("--out", required=True, help="model folder to write (model.json, weights.npz, "
                   "metrics.json)")
    p.add_argument("--split", default="random", choices=[*SPLIT_METHODS, "none"],
                   help="hold-out protocol the metrics are measured on (default random; none = "
                   "train on everything, no metrics)")
    p.add_argument("--test-frac", type=float, default=0.2, help="held-out share (default 0.2)")
    add_cold_item_frac_arg(p)
    p.add_argument("--validation-frac", type=float, default=0.0,
                   help="share of the training pairs kept for early stopping of epoch-trained "
                   "models: each user's latest under a split in time, else at random (default "
                   "0: train every configured epoch)")
    p.add_argument("--seed", type=int, default=0, help="split seed (default 0)")


def run(args: argparse.Namespace) -> int:
    from recsys.models import create_model
    from recsys.models.distributed import RankFailed

    if not 0.0 <= args.validation_frac < 1.0:
        raise CliError(f"--validation-frac must be a share from 0 (off) to 1 (excluded), e.g. 0.1 "
                       f"(got {args.validation_frac:g})")
    model = create_model(args.model, json_arg(args.config, "model settings"))
    ds = load_dataset(args)
    split = None
    train_ds = ds
    if args.split != "none":
        split = split_dataset(ds, SplitConfig(method=args.split, test_frac=args.test_frac,
                                              cold_item_frac=args.cold_item_frac, seed=args.seed))
        train_ds = split.train
        if not len(split.test_users):
            raise CliError(f"nothing to measure: no user has held-out interactions under --split "
                           f"{args.split}; keep users with 2 or more (--kcore 2), pick another split, "
                           "or train on everything with --split none", code=1)
    t0 = time.perf_counter()
    try:
        if args.validation_frac > 0 and model.iterative:
            inner = validation_split(train_ds, args.validation_frac, args.seed)
            model.fit(inner.train, device=args.device, validation=inner.test)
            model.use_history(train_ds)  # lists exclude every training item, validation pairs too
        else:
            model.fit(train_ds, device=args.device)
        train_s = time.perf_counter() - t0
        place = getattr(model, "distributed_", {"world_size": 1, "backend": "none"})
        if _rank() == 0 and torchrun_env() is not None and place["world_size"] == 1:
            print(f"warning: {model.name} does not train data-parallel: every torchrun process "
                  "trained it whole (bpr, multvae and sasrec use DDP)", file=sys.stderr)
        if _rank() == 0:
            _finish(args, model, split, train_s, place)
    except RankFailed as exc:  # rank 0 prints the reason; this rank only stops
        log.info("%s", exc)
        return 1
    finally:
        _leave_group()
    return 0


def _finish(args: argparse.Namespace, model: Any, split: Any, train_s: float,
            place: dict[str, Any]) -> None:
    """Rank 0: measure on the held-out part, save the folder, write and print the figures."""
    from recsys.evaluation import evaluate_split

    metrics = evaluate_split(model, split, k=args.k).summary if split is not None else {}
    out = model.save(Path(args.out))
    record = {"model": model.name, "config": model.config.model_dump(mode="json"),
              "device": model.device_, "train_s": train_s, "k": args.k,
              "split": None if split is None else split.config.model_dump(mode="json"),
              "epochs": len(getattr(model, "history_", [])), "best_epoch": getattr(model, "best_epoch_", None),
              **place, "metrics": metrics, "notes": model.fitted_notes()}
    (out / "metrics.json").write_text(json.dumps(record, indent=2, default=float))
    figures = " ".join(f"{m}={metrics[m]:.4f}" for m in ("ndcg", "recall", "aplt") if m in metrics)
    epochs = f", {record['epochs']} epochs" if record["epochs"] else ""
    print(f"{model.name}: trained in {train_s:.1f}s on {place['world_size']} process(es) "
          f"({model.device_}){epochs}{' ' + figures if figures else ''} -> {out}")


def _rank() -> int:
    """This process's rank under torchrun (0 without it): only rank 0 writes."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    env = torchrun_env()
    return int(env["RANK"]) if env is not None else 0


def _leave_group() -> None:
    """Close the process group a torchrun fit joined (nothing to do otherwise)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()  # rank 0 finishes writing before the others exit
        dist.destroy_process_group()
