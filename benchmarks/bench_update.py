"""Online updates against full retrains on Online Retail, time-ordered.

The model is fitted on everything before ``--train-until``; the later period is then fed in
chunks of ``--chunk-days`` days. After each chunk the same model is (a) **updated** with that
chunk only (:func:`recsys.feedback.update.update_model`: fold-in, no retrain), (b) **retrained**
from zero on all interactions up to the chunk's end, and (c) left **stale** (never updated).
All three are scored on the next ``--eval-days`` days: NDCG@10 and Recall@10 of the items each
customer buys then that they had not bought before, over the customers of that window who
appear in the data up to the chunk's end (a customer the stale model never saw gets no list and
counts as a miss). Torch models (BPR, NeuMF, DeepFM, Mult-VAE, SASRec) are updated in several
variants (``--epochs``, default ``0`` and the library default): the fold-in alone and the fold-in followed by N
incremental epochs of their training loop. Printed per chunk and in total: update seconds /
retrain seconds and updated / retrained accuracy, and each variant against the fold-in only.

    python benchmarks/bench_update.py [--models ease,als,bpr] [--chunk-days 7]
                                      [--train-until 2011-09-01] [--max-chunks 13]
                                      [--epochs 0,1,3]
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
from recsys.feedback.update import DEFAULT_EPOCHS, update_model  # noqa: E402
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
          chunk_days: int, eval_days: int, max_chunks: int, config: dict,
          epochs: list[int]) -> dict[int, dict[str, float]]:
    """One model through the chunks; ``epochs``: the update variants (0 = fold-in only, N =
    N incremental epochs after it; torch models only, others get 0)."""
    catalog = pd.Index(np.sort(pd.unique(pd.concat([inter["item_id"],
                                                     catalog_frame["item_id"]]))))
    stamps = inter["timestamp"]
    base, base_ds, base_s = fit(name, inter.loc[stamps < cutoff], catalog_frame, config)
    variants = epochs if getattr(base, "incremental", False) else [0]
    updated = {e: copy.deepcopy(base) for e in variants}
    stale = base
    base_vocab = (base_ds.user_ids, base_ds.item_ids)
    print(f"\n{name}: fitted on {int((stamps < cutoff).sum()):,} interactions before "
          f"{cutoff:%Y-%m-%d} in {base_s:.2f}s; chunks of {chunk_days} days, scored on the next "
          f"{eval_days} days; update variants: epochs {', '.join(map(str, variants))}")
    heads = " ".join(f"{'e' + str(e) + ' s':>8} {'ndcg':>7} {'ratio':>6}" for e in variants)
    print(f"{'chunk':>10} {'fed':>6} {'upd u':>6} {'new u':>6} {'new i':>6} {'retrain s':>9} "
          f"{'retrain':>8} {'stale':>8} {heads}")
    totals = {"retrain_s": 0.0, "ndcg_re": [], "ndcg_stale": [], "rec_re": [],
              **{f"update_s.{e}": 0.0 for e in variants},
              **{f"ndcg_upd.{e}": [] for e in variants}, **{f"rec_upd.{e}": [] for e in variants}}
    for c in range(max_chunks):
        start = cutoff + pd.Timedelta(days=c * chunk_days)
        end = start + pd.Timedelta(days=chunk_days)
        feed = inter.loc[(stamps >= start) & (stamps < end)]
        window = inter.loc[(stamps >= end) & (stamps < end + pd.Timedelta(days=eval_days))]
        if not len(window) or not len(feed):
            break
        history = inter.loc[stamps < end]
        users, truth = window_truth(history, window, catalog)
        cells, result = [], None
        for e in variants:
            t0 = time.perf_counter()
            result = update_model(updated[e], feed, user_ids=base_ds.user_ids,
                                  item_ids=base_ds.item_ids, epochs=e)  # own ids once updated
            update_s = time.perf_counter() - t0
            n_upd, r_upd = measure(updated[e], (updated[e].user_ids_, updated[e].item_ids_),
                                   users, truth, catalog)
            totals[f"update_s.{e}"] += update_s
            totals[f"ndcg_upd.{e}"].append(n_upd)
            totals[f"rec_upd.{e}"].append(r_upd)
            cells.append((update_s, n_upd))
        retrained, re_ds, retrain_s = fit(name, history, catalog_frame, config)
        n_re, r_re = measure(retrained, (re_ds.user_ids, re_ds.item_ids), users, truth, catalog)
        n_st, _ = measure(stale, base_vocab, users, truth, catalog)
        totals["retrain_s"] += retrain_s
        for key, v in (("ndcg_re", n_re), ("ndcg_stale", n_st), ("rec_re", r_re)):
            totals[key].append(v)
        row = " ".join(f"{u:8.3f} {n:7.4f} {n / n_re:6.3f}" for u, n in cells)
        print(f"{start:%Y-%m-%d} {len(feed):6,} {result.users_updated:6,} {result.users_added:6,} "
              f"{result.items_added:6,} {retrain_s:9.2f} {n_re:8.4f} {n_st:8.4f} {row}")
    n = len(totals["ndcg_re"])
    if not n:
        print("no chunk to feed (move --train-until earlier)")
        return {}
    mean = {key: float(np.mean(v)) for key, v in totals.items() if isinstance(v, list)}
    out: dict[int, dict[str, float]] = {}
    for e in variants:
        upd_s, n_upd = totals[f"update_s.{e}"], mean[f"ndcg_upd.{e}"]
        out[e] = {"update_s": upd_s, "retrain_s": totals["retrain_s"], "ndcg_upd": n_upd,
                  "ndcg_re": mean["ndcg_re"], "ndcg_stale": mean["ndcg_stale"],
                  "rec_upd": mean[f"rec_upd.{e}"], "rec_re": mean["rec_re"]}
        versus = "" if e == 0 or 0 not in variants else (
            f"; vs fold-in only: NDCG@10 {n_upd / mean['ndcg_upd.0']:.3f}, time "
            f"{upd_s / max(totals['update_s.0'], 1e-9):.1f}x")
        print(f"{name} epochs={e} over {n} chunks: update {upd_s:.2f}s vs retrain "
              f"{totals['retrain_s']:.2f}s (update / retrain time "
              f"{upd_s / totals['retrain_s']:.4f}); NDCG@10 updated {n_upd:.4f} / retrained "
              f"{mean['ndcg_re']:.4f} = {n_upd / mean['ndcg_re']:.3f} (stale "
              f"{mean['ndcg_stale']:.4f}); Recall@10 ratio "
              f"{mean[f'rec_upd.{e}'] / mean['rec_re']:.3f}{versus}")
    return out


def load_retail() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Online Retail's interactions in time order and its catalog, ids as strings."""
    loaded = load_files(RETAIL)
    inter = loaded.interactions.sort_values("timestamp", kind="stable").reset_index(drop=True)
    inter["user_id"] = inter["user_id"].astype(str)
    inter["item_id"] = inter["item_id"].astype(str)
    return inter, loaded.catalog.assign(item_id=loaded.catalog["item_id"].astype(str))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="ease,als,bpr")
    p.add_argument("--train-until", default="2011-09-01")
    p.add_argument("--chunk-days", type=int, default=7)
    p.add_argument("--eval-days", type=int, default=7)
    p.add_argument("--max-chunks", type=int, default=13)
    p.add_argument("--epochs", default=f"0,{DEFAULT_EPOCHS}", help="update variants of the "
                   "torch models: incremental epochs after the fold-in (0 = fold-in only)")
    p.add_argument("--quick", action="store_true", help="EASE and ALS, two 14-day chunks from "
                   "2011-10-01 (< 1 min on 2 cores)")
    args = p.parse_args()
    if args.quick:
        args.models, args.train_until, args.chunk_days, args.eval_days, args.max_chunks = (
            "ease,als", "2011-10-01", 14, 14, 2)
    if not RETAIL.exists():
        print(f"bench_update skipped: {RETAIL} not found (set TAILSTUDIO_SHARED_DATA)")
        return
    inter, catalog = load_retail()
    print(f"Online Retail: {len(inter):,} interactions, {inter['user_id'].nunique():,} customers, "
          f"{inter['item_id'].nunique():,} products, {inter['timestamp'].min():%Y-%m-%d} to "
          f"{inter['timestamp'].max():%Y-%m-%d}")
    epochs = sorted({int(e) for e in args.epochs.split(",") if e.strip()})
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        bench(name, inter, catalog, pd.Timestamp(args.train_until), args.chunk_days,
              args.eval_days, args.max_chunks, {}, epochs)


if __name__ == "__main__":
    main()
