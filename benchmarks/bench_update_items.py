"""New products in online updates on Online Retail, time-ordered: the content path against none.

The models are fitted on everything before ``--train-until`` with a catalog of the products sold
by then only, so every product launched later is unknown to them. The later period is fed week
by week; each chunk's interactions are folded in (:func:`recsys.feedback.update.update_model`,
no retrain) together with the catalog rows (descriptions) of the products it names. Compared:

* ``hybrid`` given the catalog rows: new products enter through its content path (its saved
  encoder embeds their descriptions; scored by content and the generated embedding);
* ``hybrid`` without them: new products are left out of its update;
* ``ease``: new products are appended with no collaborative signal.

After each chunk, all are scored on the next ``--eval-days`` days: NDCG@10 / Recall@10 of what
each known customer buys for the first time, and Recall@10 among the products launched after
``--train-until`` only (over customers buying one), plus the share of such products in the lists.

    python benchmarks/bench_update_items.py [--train-until 2011-09-01] [--max-chunks 8]

Needs ``../shared/data`` (or ``TAILSTUDIO_SHARED_DATA``).
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_update import RETAIL, lists_by_id, load_retail, window_truth  # noqa: E402

from recsys import build_dataset  # noqa: E402
from recsys.evaluation import accuracy_per_user  # noqa: E402
from recsys.feedback.update import update_model  # noqa: E402
from recsys.models import create_model  # noqa: E402

ARMS = ("hybrid + catalog rows", "hybrid, no rows", "ease")


def new_item_figures(lists: np.ndarray, truth, fresh: np.ndarray) -> tuple[float, float]:
    """Recall@10 among the ``fresh`` catalog positions (customers buying one) and their share
    of the listed slots."""
    truth = truth.tocsr()
    mask = np.zeros(truth.shape[1], dtype=bool)
    mask[fresh] = True
    recalls = []
    for row in range(truth.shape[0]):
        wanted = {int(i) for i in truth.indices[truth.indptr[row]:truth.indptr[row + 1]]
                  if mask[i]}
        if wanted:
            recalls.append(len(wanted & set(lists[row].tolist())) / min(len(wanted), 10))
    valid = lists >= 0
    share = float(mask[lists[valid]].mean()) if valid.any() else 0.0
    return (float(np.mean(recalls)) if recalls else 0.0), share


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train-until", default="2011-09-01")
    p.add_argument("--chunk-days", type=int, default=7)
    p.add_argument("--eval-days", type=int, default=7)
    p.add_argument("--max-chunks", type=int, default=8)
    args = p.parse_args()
    if not RETAIL.exists():
        print(f"bench_update_items skipped: {RETAIL} not found (set TAILSTUDIO_SHARED_DATA)")
        return
    inter, full = load_retail()
    cutoff = pd.Timestamp(args.train_until)
    stamps = inter["timestamp"]
    before = inter.loc[stamps < cutoff]
    sold = set(before["item_id"])
    train = build_dataset(before, full.loc[full["item_id"].isin(sold)], name="online-retail")
    catalog = pd.Index(np.sort(pd.unique(pd.concat([inter["item_id"], full["item_id"]]))))
    fresh = catalog.get_indexer(sorted(set(inter["item_id"]) - sold))
    t0 = time.perf_counter()
    hybrid = create_model("hybrid").fit(train, device="cpu")
    fit_s = time.perf_counter() - t0
    ease = create_model("ease").fit(train, device="cpu")
    models = {ARMS[0]: hybrid, ARMS[1]: copy.deepcopy(hybrid), ARMS[2]: ease}
    print(f"Online Retail: fitted on {len(before):,} interactions before {cutoff:%Y-%m-%d} "
          f"({train.n_items:,} products; hybrid {fit_s:.1f}s, {hybrid.text_note_}; "
          f"cold scale ×{hybrid.cold_scale_:g}); "
          f"{len(fresh):,} products launched later")
    print(f"{'chunk':>10} {'model':>22} {'new items':>9} {'update s':>9} {'ndcg':>7} "
          f"{'recall':>7} {'new rec':>7} {'new share':>9}")
    sums: dict[str, list[tuple[float, ...]]] = {a: [] for a in ARMS}
    for c in range(args.max_chunks):
        start = cutoff + pd.Timedelta(days=c * args.chunk_days)
        end = start + pd.Timedelta(days=args.chunk_days)
        feed = inter.loc[(stamps >= start) & (stamps < end)]
        window = inter.loc[(stamps >= end) & (stamps < end + pd.Timedelta(days=args.eval_days))]
        if not len(window) or not len(feed):
            break
        users, truth = window_truth(inter.loc[stamps < end], window, catalog)
        rows = full.loc[full["item_id"].isin(set(feed["item_id"]))]
        for arm, model in models.items():
            t1 = time.perf_counter()
            result = update_model(model, feed, user_ids=train.user_ids, item_ids=train.item_ids,
                                  catalog=rows if arm == ARMS[0] else None)
            seconds = time.perf_counter() - t1
            lists = lists_by_id(model, (model.user_ids_, model.item_ids_), users, catalog)
            acc = accuracy_per_user(lists, truth)
            new_rec, share = new_item_figures(lists, truth, fresh)
            figures = (float(acc["ndcg"].mean()), float(acc["recall"].mean()), new_rec, share)
            sums[arm].append(figures)
            print(f"{start:%Y-%m-%d} {arm:>22} {result.items_added:9,} {seconds:9.3f} "
                  f"{figures[0]:7.4f} {figures[1]:7.4f} {figures[2]:7.4f} {figures[3]:9.3f}")
    print("\nmean over chunks: NDCG@10, Recall@10, new-product Recall@10, new products in lists")
    base = np.mean(sums[ARMS[1]], axis=0) if sums[ARMS[1]] else None
    for arm in ARMS:
        if not sums[arm]:
            continue
        m = np.mean(sums[arm], axis=0)
        ratio = f" (NDCG {m[0] / base[0]:.3f}x, recall {m[1] / base[1]:.3f}x the hybrid without " \
            "rows)" if base is not None and arm != ARMS[1] else ""
        print(f"  {arm:>22}: {m[0]:.4f} {m[1]:.4f} {m[2]:.4f} {m[3]:.3f}{ratio}")


if __name__ == "__main__":
    main()
