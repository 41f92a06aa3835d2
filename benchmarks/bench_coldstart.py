"""Benchmark: new products (item cold start), every cold-start path against content peers.

Protocol (issue 15): item cold start split — 20 % of the items with interactions held out
whole, plus 20 % of each user's other interactions — seed 0 (``--seeds``), full ranking,
training items excluded, K = 10, on the demo shop (``generate_demo_shop(seed=0)``, 5,000 items,
3,000 users) and Online Retail (5-core, from ../shared/data). Side by side in one run: EASE
λ=200, TF-IDF content kNN (user profile = sum of the TF-IDF vectors of their items, cosine),
sentence-model content kNN (the same, with the offline all-MiniLM-L6-v2 vectors), the hybrid
with its content path, ``coldstart`` with the mapping and the adversarial generator, the
hybrid with the generated cold path, and content MF (both towers' mean for new products).
Printed: full-list Recall@10 / NDCG@10, Recall@10 among new items, the share of new items in
the lists, and ratios against the TF-IDF peer and against the better of EASE and TF-IDF.

``--inner`` runs the same protocol on an item cold start split *of the training part* (the
test part is never read): the figures the defaults were chosen on. The outer split's new items
have no pairs on either side of that inner split, so they are kept out of its lists.

    python benchmarks/bench_coldstart.py [--datasets demo,online-retail] [--seeds 0]
                                         [--inner] [--quick] [--models all|default|auto]
                                         [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"
TEXT_CACHE = Path.home() / ".cache" / "tail-studio" / "text"
log = logging.getLogger("bench_coldstart")

#: Our models in the table: (row label, model name, config).
MODELS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("hybrid (content path)", "hybrid", {"cold_path": "content"}),
    ("coldstart mapping", "coldstart", {"generator": "mapping"}),
    ("coldstart adversarial", "coldstart", {"generator": "adversarial"}),
    ("hybrid (generated path)", "hybrid", {"cold_path": "generated"}),
    ("content MF", "contentmf", {}),
)

#: ``--models default``: the product's default hybrid alone.
DEFAULT: tuple[tuple[str, str, dict[str, Any]], ...] = (("hybrid default", "hybrid", {}),)
#: ``--models auto``: the default hybrid and what ``auto`` keeps (its own search, minutes).
AUTO: tuple[tuple[str, str, dict[str, Any]], ...] = (*DEFAULT, ("auto", "auto", {}))
CHOICES = {"all": MODELS, "default": DEFAULT, "auto": AUTO}


def load(name: str, quick: bool = False):
    """The data set ``name``: the demo shop (smaller with ``quick``) or Online Retail."""
    from recsys.data.dataset import DatasetConfig, build_dataset

    if name == "demo":
        from recsys.data.demo import generate_demo_shop

        shop = generate_demo_shop(seed=0, **({"n_items": 1500, "n_users": 900} if quick else {}))
        return build_dataset(shop.interactions, shop.catalog, users=shop.users, name="demo")
    from recsys.data.formats import load_files

    r = load_files(SHARED / "online-retail" / "online_retail.csv.gz")
    return build_dataset(r.interactions, r.catalog, users=r.users, name=name,
                         config=DatasetConfig(kcore=5))


def protocol_split(dataset, seed: int, inner: bool):
    """The item cold start split (of the training part too, with ``inner``) and the items the
    lists may hold: all, except on the inner split the outer split's new items, which have no
    pairs on either side of it (as new products they would crowd the inner lists with items
    that can never be hits, a cost the test protocol does not have)."""
    from recsys.data.splits import SplitConfig, split_dataset

    cfg = SplitConfig(method="item-cold", test_frac=0.2, cold_item_frac=0.2, seed=seed)
    split = split_dataset(dataset, cfg)
    if not inner:
        return split, np.ones(dataset.n_items, dtype=bool)
    return split_dataset(split.train, cfg), ~split.cold_items


def measure(topk: np.ndarray, split, users: np.ndarray) -> dict[str, float]:
    from recsys.evaluation import new_item_metrics, summarise

    train = split.train
    test = sp.csr_matrix(split.test)[users]
    n_train_users = int((np.diff(train.matrix.indptr) > 0).sum())
    summary, _ = summarise(topk, test, train.popularity, train.is_tail, n_train_users)
    summary.update(new_item_metrics(topk, test, split.cold_items))
    return summary


def content_knn(split, users: np.ndarray, vectors: Any, allowed: np.ndarray,
                k: int = 10) -> np.ndarray:
    """Top-``k`` of the content kNN peer: profile = sum of the user's item vectors, cosine
    (only ``allowed`` items in the lists)."""
    from recsys.models.base import topk_from_scores

    x = (split.train.matrix > 0).astype(np.float32).tocsr()
    known = sp.csr_matrix(split.train.known)
    out = []
    for start in range(0, len(users), 1024):
        part = users[start:start + 1024]
        scores = x[part] @ vectors @ vectors.T
        scores = scores.toarray() if sp.issparse(scores) else np.asarray(scores)
        scores[:, ~allowed] = -np.inf
        out.append(topk_from_scores(scores.astype(np.float32), k, known[part])[0])
    return np.vstack(out)


def tfidf_vectors(texts: list[str]) -> sp.csr_matrix:
    """Unit TF-IDF rows (1–2 grams, sublinear tf) of the item texts."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2)).fit_transform(texts).tocsr() \
        .astype(np.float32)


def run(name: str, seed: int, inner: bool, quick: bool,
        models: tuple[tuple[str, str, dict[str, Any]], ...] = MODELS) -> list[dict[str, Any]]:
    """Every peer and model on one split; one row each."""
    from recsys.features.text import item_texts, sentence_model_available, text_embeddings
    from recsys.models import create_model

    split, allowed = protocol_split(load(name, quick), seed, inner)
    users = split.test_users
    texts = item_texts(split.train)
    rows: list[dict[str, Any]] = []

    def add(label: str, topk: np.ndarray, seconds: float) -> None:
        rows.append({"data": name, "seed": seed, "model": label, "seconds": seconds,
                     **measure(topk, split, users)})
        log.info("%s %s: %s", name, label, rows[-1])

    t0 = time.perf_counter()
    ease = create_model("ease", {"l2": 200.0, "seed": seed}).fit(split.train)
    add("EASE λ=200", ease.recommend(users, 10, allowed_items=allowed)[0],
        time.perf_counter() - t0)
    t0 = time.perf_counter()
    add("TF-IDF kNN", content_knn(split, users, tfidf_vectors(texts), allowed),
        time.perf_counter() - t0)
    # Sentence vectors once, kept on disk between runs; every model below reuses them.
    # (--quick: TF-IDF + SVD text for every model, no sentence model.)
    if sentence_model_available() and not quick:
        t0 = time.perf_counter()
        emb = text_embeddings(texts, method="sentence-model", cache_dir=TEXT_CACHE)
        add("sentence kNN", content_knn(split, users, emb.vectors, allowed),
            time.perf_counter() - t0)
    for label, model_name, config in models:
        extra: dict[str, Any] = {"text_method": "tfidf"} if quick else {}
        if quick and model_name in ("coldstart", "contentmf"):
            extra["epochs"] = 10 if model_name == "coldstart" else 100
        t0 = time.perf_counter()
        model = create_model(model_name, {**config, **extra, "seed": seed}).fit(split.train)
        fit_s = time.perf_counter() - t0
        add(label, model.recommend(users, 10, allowed_items=allowed)[0], fit_s)
    return rows


def with_ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ratios vs the TF-IDF peer and vs the better of EASE and TF-IDF (same data and seed)."""
    for r in rows:
        same = {p["model"]: p for p in rows if p["data"] == r["data"] and p["seed"] == r["seed"]}
        tfidf, ease = same["TF-IDF kNN"], same["EASE λ=200"]
        best = max(tfidf["recall"], ease["recall"])
        r["recall_vs_tfidf"] = r["recall"] / tfidf["recall"] if tfidf["recall"] else 0.0
        r["new_recall_vs_tfidf"] = (r["new_recall"] / tfidf["new_recall"]
                                    if tfidf["new_recall"] else 0.0)
        r["recall_vs_best_peer"] = r["recall"] / best if best else 0.0
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    print(f"{'data':<14} {'seed':>4} {'model':<24} {'R@10':>7} {'N@10':>7} {'newR@10':>8} "
          f"{'new%':>6} {'R/tfidf':>8} {'newR/tfidf':>10} {'R/best':>7} {'fit s':>6}")
    for r in rows:
        print(f"{r['data']:<14} {r['seed']:>4} {r['model']:<24} {r['recall']:>7.4f} "
              f"{r['ndcg']:>7.4f} {r['new_recall']:>8.4f} {r['new_share']:>6.1%} "
              f"{r['recall_vs_tfidf']:>7.2f}x {r['new_recall_vs_tfidf']:>9.2f}x "
              f"{r['recall_vs_best_peer']:>6.3f}x {r['seconds']:>6.1f}", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", default="demo,online-retail")
    p.add_argument("--seeds", default="0")
    p.add_argument("--inner", action="store_true", help="split the training part again and "
                   "report on that inner split (the figures defaults are chosen on)")
    p.add_argument("--quick", action="store_true", help="a smaller demo shop only, TF-IDF "
                   "text, 10 generator epochs (under two minutes)")
    p.add_argument("--models", default="all", choices=sorted(CHOICES),
                   help="all; 'default': the peers and the product's default hybrid only "
                   "(faster); 'auto': those and auto")
    p.add_argument("--json", dest="json_path")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        import torch

        torch.set_num_threads(min(2, torch.get_num_threads()))
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    names = ["demo"] if args.quick else args.datasets.split(",")
    rows: list[dict[str, Any]] = []
    for name in names:
        if name != "demo" and not SHARED.is_dir():
            print(f"skipped {name}: {SHARED} not found (the shared data sets are not beside "
                  "the project)")
            continue
        for seed in (int(s) for s in args.seeds.split(",")):
            rows += run(name, seed, args.inner, args.quick, CHOICES[args.models])
    rows = with_ratios(rows)
    print(f"item cold start, {'inner split of the training part' if args.inner else 'test'}"
          ", K = 10")
    print_table(rows)
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(rows, indent=2, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
