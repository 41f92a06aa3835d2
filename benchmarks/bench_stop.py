"""Benchmark: how long Stop takes to act in a training job, against the length of an epoch.

For each gradient-trained model and dataset a :class:`recsys.jobs.TrainingJob` runs in its
thread as on the Train page (inner validation split, early stopping off); once the first epoch
is reported the script waits half an epoch, presses Stop (``cancel()``, the model is
discarded) and measures the seconds until the job has ended and the batches trained after the
press. The same press is then repeated with the per-batch check switched off (the cancel is seen
only by the end-of-epoch callback, as before the check ran per batch): it waits for the rest of
the epoch and its validation.

    python benchmarks/bench_stop.py [--datasets ml-100k,online-retail] [--models neumf,bpr]
                                    [--threads 2] [--no-per-epoch]
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"
log = logging.getLogger("bench_stop")


def load(name: str):
    """The dataset and the split method the Train page offers first for it."""
    from recsys.data.dataset import DatasetConfig, build_dataset
    from recsys.data.formats import load_files

    if name == "ml-100k":
        r = load_files(SHARED / "ml-100k" / "u.data.gz")
        return build_dataset(r.interactions, r.catalog, users=r.users, name=name,
                             config=DatasetConfig(rating_threshold=4, kcore=5)), "random"
    r = load_files(SHARED / "online-retail" / "online_retail.csv.gz")
    return build_dataset(r.interactions, r.catalog, users=r.users, name=name,
                         config=DatasetConfig(kcore=5)), "temporal"


def press_stop(ds, model: str, method: str, per_batch: bool = True) -> dict:
    """Train ``model`` in a job, press Stop half-way through its second epoch, time it.
    ``per_batch=False`` hides the cancel from the per-batch check (end-of-epoch check only)."""
    from unittest import mock

    from recsys.data.splits import SplitConfig
    from recsys.jobs import TrainingJob

    check = mock.patch("recsys.models.training.stop_requested", lambda callback: False)
    with contextlib.nullcontext() if per_batch else check:
        job = TrainingJob(ds, {model: {"epochs": 200, "patience": 100}},
                          SplitConfig(method=method, seed=0), device="cpu").start()
        run = job.runs[0]
        while not run.epochs and job.running:
            time.sleep(0.02)
        if not run.epochs:
            raise RuntimeError(f"{model} ended before its first epoch: {run.error or job.message}")
        epoch = run.epochs[0]["seconds"]
        time.sleep(epoch / 2)
        pressed = time.monotonic()
        job.cancel()
        job.join()
    return {"model": model, "check": "per batch" if per_batch else "per epoch",
            "epoch s": epoch, "Stop took s": time.monotonic() - pressed,
            "epochs reported": len(run.epochs), "status": job.status}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="ml-100k,online-retail")
    parser.add_argument("--models", default="neumf,bpr")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-per-epoch", action="store_true",
                        help="skip the comparison run with the end-of-epoch check only")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    import pandas as pd
    import torch

    torch.set_num_threads(args.threads)
    for name in args.datasets.split(","):
        ds, method = load(name)
        rows = []
        for model in args.models.split(","):
            rows.append(press_stop(ds, model, method))
            if not args.no_per_epoch:
                rows.append(press_stop(ds, model, method, per_batch=False))
        print(f"\n{name} ({ds.n_users:,} users × {ds.n_items:,} items, {method} split, CPU "
              f"{args.threads} threads): Stop pressed half-way through epoch 2")
        print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
