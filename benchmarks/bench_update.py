"""Online updates against full retrains on Online Retail, time-ordered.

The model is fitted on everything before ``--train-until``; the later period is then fed in
chunks of ``--chunk-days`` days. After each chunk the same model is (a) **updated** with that
chunk only (:func:`recsys.feedback.update.update_model`: fold-in, no retrain), (b) **retrained**
from zero on all interactions up to the chunk's end, and (c) left **stale** (never updated).
All three are scored on the next ``--eval-days`` days: NDCG@10 and Recall@10 of the items each
customer buys then that they had not bought before, over the customers of that window who
appear in the data up to the chunk's end (a customer the stale model never saw gets no list and
counts as a miss). Printed per chunk and in total: update seconds / retrain seconds and
updated / retrained accuracy.

    python benchmarks/bench_update.py [--models ease,als,bpr] [--chunk-days 7]
                                      [--train-until 2011-09-01] [--max-chunks 13]
    python benchmarks/bench_update.py --quick    # EASE + ALS, two 14-day chunks (< 1 min)

Needs ``../shared/data`` (or ``TAILSTUDIO_SHARED_DATA``).
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from recsys import build_dataset, load_files  # noqa: E402
from recsys.evaluation import accuracy_per_user  # noqa: E402
from recsys.feedback.update import update_model  # noqa: E402
from recsys.models import create_model  # noqa: E402

SHARED = Path(os.environ.get("TAILSTUDIO_SHARED_DATA", ROOT.parent / "shared" / "data"))
RETAIL = SHARED / "online-retail" / "online_retail.csv.gz"
K = 10


def lists_by_id(model, vocab: tuple[np.ndarray, np.ndarray], users: list[str],
                catalog: pd.Index) -> np.ndarray:
    """Top-K of ``users`` (ids) as positions in ``catalog``; -1 rows for users the model lacks.
    ``vocab``: the model's user and item ids."""
    pos = pd.Index(vocab[0]).get_indexer(users)
    out = np.full((len(users), K), -1, dtype=np.int64)
    known = pos >= 0
    if known.any():
        items, _ = model.recommend(pos[known], K)
        ids = np.asarray(vocab[1], dtype=object)[np.maximum(items, 0)].ravel()
        out[known] = np.where(items >= 0, catalog.get_indexer(ids).reshape(items.shape), -1)
    return out


def window_truth(history: pd.DataFrame, window: pd.DataFrame, catalog: pd.Index
                 ) -> tuple[list[str], sp.csr_matrix]:
    """Customers of ``window`` known in ``history`` and their newly bought items (catalog
    positions) as a users × catalog matrix."""
    seen = set(zip(history["user_id"], history["item_id"], strict=True))
    known = set(history["user_id"])
    fresh = window.loc[[(u, i) not in seen and u in known for u, i in
                        zip(window["user_id"], window["item_id"], strict=True)]]
    users = sorted(fresh["user_id"].unique())
    rows = pd.Index(users).get_indexer(fresh["user_id"])
    cols = catalog.get_indexer(fresh["item_id"])
    truth = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(users), len(catalog)))
    truth.data[:] = 1.0
    return users, truth


def measure(model, vocab, users, truth, catalog) -> tuple[float, float]:
    acc = accuracy_per_user(lists_by_id(model, vocab, users, catalog), truth)
    return float(acc["ndcg"].mean()), float(acc["recall"].mean())


def fit(name: str, inter: pd.DataFrame, catalog_frame: pd.DataFrame, config: dict):
    ds = build_dataset(inter, catalog_frame, name="online-retail")
    t0 = time.perf_counter()
    model = create_model(name, config).fit(ds, device="cpu")
    return model, ds, time.perf_counter() - t0


def bench(name: str, inter: pd.DataFrame, catalog_frame: pd.DataFrame, cutoff: pd.Timestamp,
          chunk_days: int, eval_days: int, max_chunks: int, config: dict) -> dict[str, float]:
    catalog = pd.Index(np.sort(pd.unique(pd.concat([inter["item_id"],
                                                     catalog_frame["item_id"]]))))
    stamps = inter["timestamp"]
    base, base_ds, base_s = fit(name, inter.loc[stamps < cutoff], catalog_frame, config)
    updated, stale = base, copy.deepcopy(base)
    base_vocab = (base_ds.user_ids, base_ds.item_ids)
    print(f"\n{name}: fitted on {int((stamps < cutoff).sum()):,} interactions before "
          f"{cutoff:%Y-%m-%d} in {base_s:.2f}s; chunks of {chunk_days} days, scored on the next "
          f"{eval_days} days")
    print(f"{'chunk':>10} {'fed':>6} {'upd u':>6} {'new u':>6} {'new i':>6} {'update s':>9} "
          f"{'retrain s':>9} {'time x':>7} {'ndcg upd':>8} {'retrain':>8} {'stale':>8} "
          f"{'ratio':>6} {'rec upd':>8} {'retrain':>8} {'ratio':>6}")
    totals = {"update_s": 0.0, "retrain_s": 0.0, "ndcg_upd": [], "ndcg_re": [], "ndcg_stale": [],
              "rec_upd": [], "rec_re": []}
    for c in range(max_chunks):
        start = cutoff + pd.Timedelta(days=c * chunk_days)
        end = start + pd.Timedelta(days=chunk_days)
        feed = inter.loc[(stamps >= start) & (stamps < end)]
        window = inter.loc[(stamps >= end) & (stamps < end + pd.Timedelta(days=eval_days))]
        if not len(window) or not len(feed):
            break
        t0 = time.perf_counter()
        result = update_model(updated, feed, user_ids=base_ds.user_ids,
                              item_ids=base_ds.item_ids)  # the model's own ids once updated
        update_s = time.perf_counter() - t0
        history = inter.loc[stamps < end]
        retrained, re_ds, retrain_s = fit(name, history, catalog_frame, config)
        users, truth = window_truth(history, window, catalog)
        n_upd, r_upd = measure(updated, (updated.user_ids_, updated.item_ids_), users, truth,
                               catalog)
        n_re, r_re = measure(retrained, (re_ds.user_ids, re_ds.item_ids), users, truth, catalog)
        n_st, _ = measure(stale, base_vocab, users, truth, catalog)
        totals["update_s"] += update_s
        totals["retrain_s"] += retrain_s
        for key, v in (("ndcg_upd", n_upd), ("ndcg_re", n_re), ("ndcg_stale", n_st),
                       ("rec_upd", r_upd), ("rec_re", r_re)):
            totals[key].append(v)
        print(f"{start:%Y-%m-%d} {len(feed):6,} {result.users_updated:6,} {result.users_added:6,} "
              f"{result.items_added:6,} {update_s:9.3f} {retrain_s:9.2f} "
              f"{update_s / retrain_s:7.3f} {n_upd:8.4f} {n_re:8.4f} {n_st:8.4f} "
              f"{n_upd / n_re:6.3f} {r_upd:8.4f} {r_re:8.4f} {r_upd / r_re:6.3f}")
    n = len(totals["ndcg_upd"])
    if not n:
        print("no chunk to feed (move --train-until earlier)")
        return {}
    summary = {key: float(np.mean(v)) for key, v in totals.items() if isinstance(v, list)}
    summary.update(update_s=totals["update_s"], retrain_s=totals["retrain_s"])
    print(f"{name} over {n} chunks: update {totals['update_s']:.2f}s vs retrain "
          f"{totals['retrain_s']:.2f}s (update / retrain time {totals['update_s'] / totals['retrain_s']:.4f}); "
          f"NDCG@10 updated {summary['ndcg_upd']:.4f} / retrained {summary['ndcg_re']:.4f} = "
          f"{summary['ndcg_upd'] / summary['ndcg_re']:.3f} (stale {summary['ndcg_stale']:.4f}); "
          f"Recall@10 ratio {summary['rec_upd'] / summary['rec_re']:.3f}")
    return summary


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="ease,als,bpr")
    p.add_argument("--train-until", default="2011-09-01")
    p.add_argument("--chunk-days", type=int, default=7)
    p.add_argument("--eval-days", type=int, default=7)
    p.add_argument("--max-chunks", type=int, default=13)
    p.add_argument("--quick", action="store_true", help="EASE and ALS, two 14-day chunks from "
                   "2011-10-01 (< 1 min on 2 cores)")
    args = p.parse_args()
    if args.quick:
        args.models, args.train_until, args.chunk_days, args.eval_days, args.max_chunks = (
            "ease,als", "2011-10-01", 14, 14, 2)
    if not RETAIL.exists():
        print(f"bench_update skipped: {RETAIL} not found (set TAILSTUDIO_SHARED_DATA)")
        return
    loaded = load_files(RETAIL)
    inter = loaded.interactions.sort_values("timestamp", kind="stable").reset_index(drop=True)
    inter["user_id"] = inter["user_id"].astype(str)
    inter["item_id"] = inter["item_id"].astype(str)
    print(f"Online Retail: {len(inter):,} interactions, {inter['user_id'].nunique():,} customers, "
          f"{inter['item_id'].nunique():,} products, {inter['timestamp'].min():%Y-%m-%d} to "
          f"{inter['timestamp'].max():%Y-%m-%d}")
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        bench(name, inter, loaded.catalog, pd.Timestamp(args.train_until), args.chunk_days,
              args.eval_days, args.max_chunks, {})


if __name__ == "__main__":
    main()
