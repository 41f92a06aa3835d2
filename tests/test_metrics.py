"""Metric functions against hand-computed cases."""

import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsys import build_dataset
from recsys.data.splits import SplitConfig, split_dataset
from recsys.evaluation import (
    accuracy_per_user,
    beyond_accuracy_per_user,
    catalog_metrics,
    evaluate_split,
    hits_matrix,
    summarise,
)
from recsys.models import create_model


def _rel(rows, n_items=6):
    data = [(u, i) for u, items in enumerate(rows) for i in items]
    r, c = zip(*data, strict=True) if data else ((), ())
    return sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(len(rows), n_items))


def test_hits_matrix_handles_padding():
    topk = np.array([[1, 2, -1], [0, 5, 3]])
    hits = hits_matrix(topk, _rel([[2, 4], [3]]))
    assert hits.tolist() == [[False, True, False], [False, False, True]]


def test_accuracy_hand_computed():
    topk = np.array([[0, 1, 2], [3, 4, 5], [0, 1, 2]])
    rel = _rel([[0, 2], [5], []])
    m = accuracy_per_user(topk, rel)
    idcg2 = 1 + 1 / math.log2(3)
    assert m["ndcg"][0] == pytest.approx((1 + 1 / math.log2(4)) / idcg2)
    assert m["ndcg"][1] == pytest.approx((1 / math.log2(4)) / 1.0)
    assert m["recall"].tolist() == pytest.approx([1.0, 1.0, 0.0])
    assert m["hitrate"].tolist() == [1.0, 1.0, 0.0]
    assert m["map"][0] == pytest.approx((1 / 1 + 2 / 3) / 2)
    assert m["map"][1] == pytest.approx((1 / 3) / 1)


def test_recall_denominator_is_min_of_test_and_k():
    topk = np.array([[0, 1]])
    rel = _rel([[0, 1, 2, 3]])
    assert accuracy_per_user(topk, rel)["recall"][0] == 1.0  # 2 hits / min(4, 2)


def test_beyond_accuracy_hand_computed():
    topk = np.array([[0, 1], [2, -1]])
    pop = np.array([8, 2, 0, 4])
    is_tail = np.array([False, True, True, False])
    m = beyond_accuracy_per_user(topk, pop, is_tail, n_train_users=8)
    assert m["aplt"].tolist() == [0.5, 1.0]
    assert m["arp"].tolist() == [5.0, 0.0]
    assert m["novelty"][0] == pytest.approx((0 + 2) / 2)  # -log2(8/8), -log2(2/8)
    assert m["novelty"][1] == pytest.approx(3.0)  # cold item counts as one user: -log2(1/8)


def test_catalog_metrics():
    topk = np.array([[0, 1], [0, 1]])
    c = catalog_metrics(topk, n_items=4)
    assert c["coverage"] == 0.5
    assert c["gini"] == pytest.approx(0.5)  # counts [2,2,0,0]
    assert catalog_metrics(np.array([[0], [1], [2], [3]]), 4)["gini"] == pytest.approx(0.0)


def test_summarise_has_every_metric():
    topk = np.array([[0, 1], [2, 3]])
    summary, per_user = summarise(topk, _rel([[0], [3]]), np.array([3, 2, 1, 0, 0, 0]),
                                  np.array([False, False, True, True, True, True]), 3)
    assert set(summary) >= {"ndcg", "recall", "hitrate", "map", "aplt", "arp", "coverage", "gini",
                            "novelty"}
    assert summary["users"] == 2 and len(per_user) == 2
    assert summary["aplt"] == 0.5


def test_evaluate_keeps_disallowed_items_out_of_the_lists():
    """``allowed_items``: the lists hold only allowed products, and a held-out product kept
    out cannot be a hit (popularity would have listed it first)."""
    rng = np.random.default_rng(3)
    users, items = rng.integers(0, 60, 900), np.minimum(rng.geometric(0.15, 900) - 1, 29)
    ds = build_dataset(pd.DataFrame({"user_id": users.astype(str), "item_id": items.astype(str)}))
    split = split_dataset(ds, SplitConfig(method="random", seed=0))
    model = create_model("pop").fit(split.train)
    top = int(np.argmax(split.train.popularity))
    allowed = np.ones(ds.n_items, dtype=bool)
    allowed[top] = False
    full = evaluate_split(model, split, k=5)
    kept_out = evaluate_split(model, split, k=5, allowed_items=allowed)
    assert (full.topk == top).any() and not (kept_out.topk == top).any()
    assert kept_out.summary["recall"] < full.summary["recall"]
