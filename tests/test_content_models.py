"""DeepFM and the hybrid on the demo shop: accuracy, cold items, features, training controls.

One random 80/20 split of the demo shop (5,000 items, 200 of them never bought); on top of it,
100 items with purchases are made cold: all their training pairs are removed, so no model sees
them bought. Every model is trained once on that training set (module fixture).
"""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsys.data.dataset import build_dataset
from recsys.data.demo import generate_demo_shop
from recsys.data.formats import demo_dataset
from recsys.data.splits import SplitConfig, split_dataset
from recsys.evaluation import evaluate
from recsys.features.side import (
    categorical_codes,
    clean_labels,
    item_categorical_features,
    item_features,
    quantile_buckets,
    user_categorical_features,
)
from recsys.models import FitStopped, create_model

N_COLD = 100


@pytest.fixture(scope="module")
def shop():
    ds = demo_dataset()
    split = split_dataset(ds, SplitConfig(method="random", seed=0))
    rng = np.random.default_rng(0)
    held = np.sort(rng.choice(np.flatnonzero(split.train.popularity >= 3), N_COLD, replace=False))
    inter = split.train.interactions
    train = build_dataset(inter.loc[~inter["item_id"].isin(set(ds.item_ids[held]))], ds.catalog,
                          users=ds.users, item_ids=ds.item_ids, user_ids=ds.user_ids,
                          name="demo-cold")
    keep = sp.diags(np.isin(np.arange(ds.n_items), held).astype(np.float32))
    cold_test = sp.csr_matrix((split.train.matrix + split.test) @ keep)
    cold_test.eliminate_zeros()
    assert (train.popularity[held] == 0).all() and cold_test.nnz > 1000
    models = {
        "pop": create_model("pop"),
        "ease": create_model("ease"),
        "deepfm": create_model("deepfm", {"epochs": 4, "loss": "bpr", "text_method": "tfidf"}),
        "hybrid": create_model("hybrid", {"text_method": "tfidf"}),
    }
    for model in models.values():
        model.fit(train, device="cpu")
    return {"ds": ds, "split": split, "train": train, "held": held, "cold_test": cold_test,
            "models": models}


def _ndcg(shop, name):
    return evaluate(shop["models"][name], shop["train"], shop["split"].test).summary["ndcg"]


def test_deepfm_beats_popularity(shop):
    pop, deepfm = _ndcg(shop, "pop"), _ndcg(shop, "deepfm")
    assert deepfm > 1.3 * pop, (deepfm, pop)
    history = shop["models"]["deepfm"].history_
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    assert history[-1]["loss"] < history[0]["loss"] and history[0]["examples_per_s"] > 0


def test_hybrid_beats_popularity(shop):
    pop, hybrid = _ndcg(shop, "pop"), _ndcg(shop, "hybrid")
    assert hybrid > 2.0 * pop, (hybrid, pop)


def _cold_ranks(model, train, cold_test):
    """Per held-out (user, item): share of the user's unseen items scored below it (0.5 = random),
    and the item's rank among them."""
    users = np.flatnonzero(np.diff(cold_test.indptr) > 0)
    scores = model.score(users)
    scores = scores if isinstance(scores, np.ndarray) else scores.float().cpu().numpy()
    seen = train.matrix[users].toarray() > 0
    scores = np.where(seen, -np.inf, scores)
    pairs = cold_test[users].tocoo()
    rows, target = pairs.row, scores[pairs.row, pairs.col]
    below = (scores[rows] < target[:, None]).sum(1) - seen[rows].sum(1)
    ties = (scores[rows] == target[:, None]).sum(1) - 1
    eligible = (~seen[rows]).sum(1) - 1
    rank = (scores[rows] > target[:, None]).sum(1)
    return (below + 0.5 * ties) / eligible, rank


def test_hybrid_ranks_cold_items_ease_cannot(shop):
    train, cold_test = shop["train"], shop["cold_test"]
    hybrid_auc, hybrid_rank = _cold_ranks(shop["models"]["hybrid"], train, cold_test)
    ease_auc, ease_rank = _cold_ranks(shop["models"]["ease"], train, cold_test)
    random_top100 = 100 / train.n_items
    assert hybrid_auc.mean() > 0.8, hybrid_auc.mean()
    assert np.mean(hybrid_rank < 100) > 5 * random_top100
    assert ease_auc.mean() < 0.6, ease_auc.mean()  # EASE scores every cold item 0
    assert np.mean(ease_rank < 100) < 2 * random_top100
    # …and cold items do reach the hybrid's top-10 lists
    items, _ = shop["models"]["hybrid"].recommend(shop["split"].test_users, 10)
    assert np.isin(items, shop["held"]).any()


def test_hybrid_content_share_and_parts(shop):
    hybrid, train = shop["models"]["hybrid"], shop["train"]
    alpha = hybrid.alpha_
    assert np.allclose(alpha[train.popularity == 0], 1.0)
    busy = train.popularity >= 50
    assert (alpha[busy] < 0.2).all() and (alpha[busy] >= hybrid.config.content_weight).all()
    users = np.arange(5)
    collab, content = hybrid.score_parts(users)
    np.testing.assert_allclose(collab + content, hybrid.score(users), rtol=1e-6)
    assert (collab[:, shop["held"]] == 0).all()  # cold items: content only


def test_item_and_user_features(shop):
    ds = shop["ds"]
    items = item_categorical_features(ds)
    assert items.names == ("category", "subcategory", "brand", "price_bucket")
    assert items.codes.shape == (ds.n_items, 4) and items.codes.dtype == np.int64
    assert (items.codes < np.array(items.cardinalities)).all() and (items.codes >= 0).all()
    assert items.vocabularies[0][0] == "unknown" and items.cardinalities[3] == 6
    assert items.frame()["category"].iloc[0] == ds.catalog["category"].iloc[0]
    users = user_categorical_features(ds)
    assert users.codes.shape == (ds.n_users, users.n_fields) and "country" in users.names
    full = item_features(ds, text_method="tfidf")
    assert full.text.vectors.shape[0] == ds.n_items and full.text.method == "tfidf-svd"


def test_feature_helpers():
    codes, vocab = quantile_buckets([1.0, 2.0, np.nan, 3.0, 4.0, "x"], 2)
    assert codes.tolist() == [1, 1, 0, 2, 2, 0] and vocab[0] == "unknown" and len(vocab) == 3
    codes, vocab = categorical_codes(["b", "a", "b", None, "", "c"], max_levels=2)
    assert vocab == ("unknown", "b", "a") and codes.tolist() == [1, 2, 1, 0, 0, 0]
    raw = [" a ", "NaN", "null", "<NA>", "None", None, np.nan, 3, "nano"]
    assert clean_labels(raw).tolist() == ["a", "", "", "", "", "", "", "3", "nano"]
    codes, vocab = categorical_codes(raw)
    assert set(vocab) == {"unknown", "a", "3", "nano"} and (codes[1:7] == 0).all()
    ids = [f"u{i:02d}" for i in range(30)]
    inter = pd.DataFrame({"user_id": ids, "item_id": ["i"] * 30})
    users = pd.DataFrame({"user_id": [*ids[::-1], "ghost"],
                          "age": [str(18 + i) for i in range(30)] + ["40"],
                          "gender": ["F", "M"] * 15 + ["F"],
                          "email": [f"{i}@example.com" for i in range(31)]})
    feats = user_categorical_features(build_dataset(inter, users=users), numeric_buckets=3)
    assert feats.names == ("age_bucket", "gender")  # e-mail is identifier-like: skipped
    assert feats.codes.shape == (30, 2)
    assert feats.frame()["gender"].tolist()[:4] == ["M", "F", "M", "F"]  # rows follow user_ids
    assert feats.codes[0, 0] == 3 and feats.codes[-1, 0] == 1  # u00 is the oldest


@pytest.fixture(scope="module")
def small():
    shop = generate_demo_shop(seed=5, n_items=300, n_users=300)
    ds = build_dataset(shop.interactions, shop.catalog, users=shop.users)
    split = split_dataset(ds, SplitConfig(method="random", seed=1))
    inner = split_dataset(split.train, SplitConfig(method="random", seed=2))
    return inner


def test_deepfm_validation_early_stop_and_cancel(small):
    fast = {"text_method": "tfidf", "batch_size": 256}
    seen = []
    model = create_model("deepfm", {**fast, "epochs": 50, "patience": 2, "lr": 0.05})
    model.fit(small.train, device="cpu", validation=small.test,
              callback=lambda epoch, m: seen.append((epoch, m)))
    assert 3 <= len(seen) < 50, "stops early on val_ndcg"
    assert {"loss", "examples_per_s", "val_ndcg", "val_recall", "val_aplt"} <= set(seen[0][1])
    best = max(m["val_ndcg"] for _, m in seen)
    from recsys.evaluation import validation_metrics

    restored = validation_metrics(model, small.train, small.test)["val_ndcg"]
    assert restored == pytest.approx(best, abs=1e-9), "best weights restored"

    cancelled = create_model("deepfm", {**fast, "epochs": 20})
    cancelled.fit(small.train, device="cpu", callback=lambda epoch, m: epoch < 2)
    assert len(cancelled.history_) == 2
    assert np.isfinite(cancelled.score(np.arange(10)).numpy()).all()

    def stop_now(epoch, metrics):
        raise FitStopped

    raised = create_model("deepfm", {**fast, "epochs": 20}).fit(small.train, device="cpu",
                                                                callback=stop_now)
    assert len(raised.history_) == 1


def test_hybrid_reports_through_callback(small):
    got = []
    model = create_model("hybrid", {"text_method": "tfidf"})
    model.fit(small.train, device="cpu", validation=small.test,
              callback=lambda epoch, m: got.append(m))
    assert len(got) == 1 and got[0]["val_ndcg"] > 0 and "seconds" in got[0]
