"""Benchmark: every model against independent peers on the DESIGN.md protocol.

Protocol: ml-100k, ratings ≥ 4, 5-core, per-user random 80/20, seed 0; Online Retail, 5-core,
per-user temporal 80/20. Full ranking, training items excluded, K = 10. Peers: EASE λ=200
written here in plain NumPy, ``implicit``'s ALS and BPR, cosine item-kNN and popularity.
Prints one table per data set with each model's NDCG@10 as a ratio of the best peer's, the
long-tail metrics of the same lists and training seconds.

Ratings below the threshold (ml-100k) are kept as context by default, as in the product: every
list, peers' included, leaves out the films a user already rated below 4. ``--below-threshold
drop`` discards those ratings instead, the setting of DESIGN.md's reference table.

    python benchmarks/bench_models.py [--datasets ml-100k,online-retail] [--models auto,ease,bpr]
                                      [--quick] [--device auto] [--below-threshold seen|drop]
                                      [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"
log = logging.getLogger("bench_models")

OURS = ("pop", "itemknn", "ease", "bpr", "neumf", "deepfm", "multvae", "sasrec", "hybrid", "contentmf",
        "auto")
QUICK = {"bpr": {"epochs": 5}, "neumf": {"epochs": 3}, "deepfm": {"epochs": 2},
         "multvae": {"epochs": 20}, "sasrec": {"epochs": 10}, "contentmf": {"epochs": 60},
         "auto": {"time_budget_s": 60}}


def load(name: str, below_threshold: str = "seen", seed: int = 0):
    """The protocol's dataset and split for ``name`` (``below_threshold``: what becomes of
    ml-100k's ratings under 4, see :class:`recsys.data.dataset.DatasetConfig`; ``seed``: the
    split's)."""
    from recsys.data.dataset import DatasetConfig, build_dataset
    from recsys.data.formats import load_files
    from recsys.data.splits import SplitConfig, split_dataset

    if name == "ml-100k":
        r = load_files(SHARED / "ml-100k" / "u.data.gz")
        ds = build_dataset(r.interactions, r.catalog, users=r.users, name=name,
                           config=DatasetConfig(rating_threshold=4, kcore=5,
                                                below_threshold=below_threshold))
        return split_dataset(ds, SplitConfig(method="random", test_frac=0.2, seed=seed)), "random"
    r = load_files(SHARED / "online-retail" / "online_retail.csv.gz")
    ds = build_dataset(r.interactions, r.catalog, users=r.users, name=name,
                       config=DatasetConfig(kcore=5))
    return split_dataset(ds, SplitConfig(method="temporal", test_frac=0.2, seed=seed)), "temporal"


def measure(topk: np.ndarray, split, users: np.ndarray) -> dict[str, float]:
    from recsys.evaluation import summarise

    n_train_users = int((np.diff(split.train.matrix.indptr) > 0).sum())
    summary, _ = summarise(topk, split.test[users], split.train.popularity, split.train.is_tail,
                           n_train_users)
    return summary


def peers(split, users: np.ndarray) -> list[dict]:
    """Independent reference implementations, timed and measured on the same split."""
    from recsys.models.base import topk_from_scores

    x = (split.train.matrix > 0).astype(np.float32).tocsr()
    known = sp.csr_matrix(split.train.known)[users]
    rows = []

    t0 = time.perf_counter()
    gram = (x.T @ x).toarray().astype(np.float64)
    gram[np.diag_indices_from(gram)] += 200.0
    p = np.linalg.inv(gram)
    b = p / -np.diag(p)
    np.fill_diagonal(b, 0.0)
    scores = np.asarray(x[users] @ b.astype(np.float32))
    train_s = time.perf_counter() - t0
    rows.append({"model": "peer: EASE λ=200 (numpy)", "train_s": train_s,
                 **measure(topk_from_scores(scores, 10, known)[0], split, users)})

    pop = np.asarray(x.sum(axis=0)).ravel()
    rows.append({"model": "peer: popularity", "train_s": 0.0, **measure(
        topk_from_scores(np.broadcast_to(pop, (len(users), len(pop))), 10, known)[0],
        split, users)})
    try:
        from implicit.als import AlternatingLeastSquares
        from implicit.bpr import BayesianPersonalizedRanking
        from implicit.nearest_neighbours import CosineRecommender
    except ImportError:
        log.warning("implicit is not installed (pip install -r requirements-bench.txt): "
                    "ALS/BPR/kNN peers skipped")
        return rows
    for label, model in (
        ("peer: implicit ALS", AlternatingLeastSquares(factors=64, regularization=0.05,
                                                       iterations=15, random_state=0)),
        ("peer: implicit BPR", BayesianPersonalizedRanking(factors=64, learning_rate=0.01,
                                                           regularization=0.01, iterations=100,
                                                           random_state=0)),
        ("peer: item-kNN cosine", CosineRecommender(K=100)),
    ):
        t0 = time.perf_counter()
        model.fit(x, show_progress=False)
        train_s = time.perf_counter() - t0
        # Ask for enough items that 10 remain once everything the user already has is dropped.
        extra = int(np.diff(known.indptr).max(initial=0))
        ids, _ = model.recommend(users, x[users], N=min(10 + extra, x.shape[1]),
                                 filter_already_liked_items=True)
        rows.append({"model": label, "train_s": train_s,
                     **measure(_drop_known(np.asarray(ids), known, 10), split, users)})
    return rows


def _drop_known(ids: np.ndarray, known: sp.csr_matrix, k: int) -> np.ndarray:
    """The first ``k`` ids of each row that are not in that row of ``known`` (-1 pads)."""
    out = np.full((len(ids), k), -1, dtype=np.int64)
    for row, (start, end) in enumerate(zip(known.indptr[:-1], known.indptr[1:], strict=True)):
        keep = ids[row][~np.isin(ids[row], known.indices[start:end])][:k]
        out[row, :len(keep)] = keep
    return out


def ours(split, users: np.ndarray, names: list[str], quick: bool, device: str,
         validation: str) -> list[dict]:
    from recsys.models import create_model

    rows = []
    for name in names:
        config = dict(QUICK.get(name, {})) if quick else {}
        if name == "auto":
            config["validation"] = validation
        t0 = time.perf_counter()
        model = create_model(name, config).fit(split.train, device=device)
        train_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        topk, _ = model.recommend(users, 10)
        eval_s = time.perf_counter() - t1
        row = {"model": name, "train_s": train_s, "rank_s": eval_s, **measure(topk, split, users)}
        if name == "auto":
            row["chosen"] = model.chosen_
        epochs = [h for h in model.history_ if "seconds" in h]
        if epochs:
            row["epoch_s"] = float(np.mean([h["seconds"] for h in epochs]))
        rows.append(row)
        log.info("  %s done in %.1fs", name, train_s)
    return rows


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def start_logging() -> bool:
    """Benchmark output on stdout (the library's own logs only from warnings); False, with the
    reason printed, when the shared data folder is absent."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    logging.getLogger("recsys").setLevel(logging.WARNING)
    if not SHARED.exists():
        log.info("SKIP: %s not found (the shared data folder is absent)", SHARED)
        return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="ml-100k,online-retail")
    parser.add_argument("--models", default=",".join(OURS))
    parser.add_argument("--quick", action="store_true", help="fewer epochs (CI)")
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--below-threshold", choices=("seen", "drop"), default="seen",
                        help="ml-100k ratings under 4: kept as seen context, or dropped")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if not start_logging():
        return 0
    from recsys.device import describe_device
    from recsys.models import available_models

    names = [n for n in args.models.split(",") if n in available_models()]
    log.info("device: %s", describe_device(args.device))
    report = {}
    for dataset in args.datasets.split(","):
        split, validation = load(dataset, args.below_threshold)
        users = np.flatnonzero(np.diff(split.test.indptr) > 0)
        log.info("\n%s: %d users x %d items, %d train / %d test pairs, split %s", dataset,
                 split.train.n_users, split.train.n_items, split.train.n_pairs, split.test.nnz,
                 validation)
        peer_rows = [] if args.no_peers else peers(split, users)
        rows = peer_rows + ours(split, users, names, args.quick, args.device, validation)
        best = max((r["ndcg"] for r in peer_rows), default=float("nan"))
        log.info("%-28s %7s %7s %7s %7s %7s %8s %9s %8s %8s", "model", "NDCG", "vs peer",
                 "Recall", "APLT", "Cover", "Gini", "train s", "epoch s", "rank s")
        for r in rows:
            log.info("%-28s %7.4f %7.3f %7.4f %7.4f %7.4f %8.4f %9.2f %8s %8s", r["model"],
                     r["ndcg"], r["ndcg"] / best, r["recall"], r["aplt"], r["coverage"], r["gini"],
                     r["train_s"], _fmt(r.get("epoch_s")), _fmt(r.get("rank_s")))
        chosen = next((r.get("chosen") for r in rows if r["model"] == "auto"), None)
        if chosen:
            log.info("auto chose: %s", chosen)
        report[dataset] = {"best_peer_ndcg": best, "rows": rows}
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
