"""Tests for the synthetic demo shop: determinism, schema, long tail, cold items and signal."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsys.data import demo
from recsys.data.demo import DemoShop, generate_demo_shop

K = 10


@pytest.fixture(scope="module")
def shop() -> DemoShop:
    """The default demo shop (seed 0), generated once for the module."""
    return generate_demo_shop(seed=0)


# --------------------------------------------------------------------------- helpers


def _binary_matrix(interactions: pd.DataFrame) -> sp.csr_matrix:
    """User x item 0/1 matrix (repeat purchases collapsed), ids mapped to dense codes."""
    users = interactions["user_id"].astype("category").cat.codes.to_numpy()
    items = interactions["item_id"].astype("category").cat.codes.to_numpy()
    shape = (int(users.max()) + 1, int(items.max()) + 1)
    x = sp.csr_matrix((np.ones(users.size), (users, items)), shape=shape)
    x.data[:] = 1.0  # duplicates were summed
    return x


def _head_share(counts: np.ndarray, mass: float = 0.8) -> float:
    """Share of items (with at least one interaction) that together cover ``mass`` of the total."""
    counts = np.sort(counts[counts > 0])[::-1]
    covered = np.cumsum(counts) / counts.sum()
    return (int(np.searchsorted(covered, mass)) + 1) / counts.size


def _holdout(x: sp.csr_matrix, seed: int = 0) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Per-user random 80/20 split; users with fewer than 5 items keep everything in training."""
    rng = np.random.default_rng(seed)
    coo = x.tocoo()
    rows, cols = coo.row, coo.col
    order = np.lexsort((rng.random(rows.size), rows))
    rows, cols = rows[order], cols[order]
    n_per_user = np.bincount(rows, minlength=x.shape[0])
    first = np.concatenate([[0], np.cumsum(n_per_user)[:-1]])
    position = np.arange(rows.size) - first[rows]
    n_test = np.where(n_per_user >= 5, np.round(0.2 * n_per_user), 0).astype(int)
    is_test = position < n_test[rows]

    def build(mask: np.ndarray) -> sp.csr_matrix:
        return sp.csr_matrix((np.ones(mask.sum()), (rows[mask], cols[mask])), shape=x.shape)

    return build(~is_test), build(is_test)


def _item_knn_scores(train: sp.csr_matrix) -> np.ndarray:
    """Item-kNN with cosine similarity over all items: score = train @ S, S with zero diagonal."""
    norms = np.sqrt(np.asarray(train.sum(axis=0)).ravel())
    norms[norms == 0] = 1.0
    xn = train @ sp.diags(1.0 / norms)
    sim = (xn.T @ xn).toarray()
    np.fill_diagonal(sim, 0.0)
    return np.asarray(train @ sim)


def _recall_at_k(scores: np.ndarray, train: sp.csr_matrix, test: sp.csr_matrix, k: int = K) -> float:
    """Mean Recall@k over users with test items: hits / min(k, |test|), training items excluded."""
    users = np.flatnonzero(np.diff(test.indptr) > 0)
    s = np.array(scores[users], dtype=float, copy=True)
    tr = train[users].tocoo()
    s[tr.row, tr.col] = -np.inf
    top = np.argpartition(-s, k, axis=1)[:, :k]
    hits = np.asarray(test[users][np.arange(users.size)[:, None], top].sum(axis=1)).ravel()
    n_test = np.diff(test[users].indptr)
    return float(np.mean(hits / np.minimum(n_test, k)))


# --------------------------------------------------------------------------- tests


def test_public_api() -> None:
    assert sorted(demo.__all__) == ["DemoShop", "generate_demo_shop"]
    assert demo.__doc__ and generate_demo_shop.__doc__


def test_demo_shop_is_frozen(shop: DemoShop) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        shop.users = shop.users  # type: ignore[misc]


def test_deterministic_for_a_seed(shop: DemoShop) -> None:
    again = generate_demo_shop(seed=0)
    for name in ("interactions", "catalog", "users"):
        pd.testing.assert_frame_equal(getattr(shop, name), getattr(again, name))


def test_different_seed_differs(shop: DemoShop) -> None:
    other = generate_demo_shop(seed=1)
    assert not shop.interactions.equals(other.interactions)
    assert not shop.catalog["title"].equals(other.catalog["title"])


def test_schema_and_dtypes(shop: DemoShop) -> None:
    inter, cat, users = shop.interactions, shop.catalog, shop.users
    assert list(inter.columns) == ["user_id", "item_id", "timestamp", "value"]
    assert {"item_id", "title", "description", "category", "brand", "price"} <= set(cat.columns)
    assert list(users.columns) == ["user_id", "country", "segment_hint"]
    for frame, cols in ((inter, ["user_id", "item_id"]), (users, list(users.columns)),
                        (cat, ["item_id", "title", "description", "category", "brand"])):
        for col in cols:
            assert pd.api.types.is_string_dtype(frame[col]), col
            assert frame[col].notna().all(), col
    assert pd.api.types.is_datetime64_any_dtype(inter["timestamp"])
    assert pd.api.types.is_float_dtype(inter["value"])
    assert pd.api.types.is_float_dtype(cat["price"])
    assert inter["user_id"].str.fullmatch(r"U\d{5}").all()
    assert inter["item_id"].str.fullmatch(r"SKU-\d{5}").all()
    assert cat["item_id"].is_unique and users["user_id"].is_unique


def test_sizes_and_ranges(shop: DemoShop) -> None:
    inter, cat, users = shop.interactions, shop.catalog, shop.users
    assert 50_000 <= len(inter) <= 80_000
    assert len(cat) == 5000 and len(users) == 3000
    assert set(inter["item_id"]) <= set(cat["item_id"])
    assert set(inter["user_id"]) == set(users["user_id"])
    ts = inter["timestamp"]
    assert ts.min() >= pd.Timestamp("2025-01-01") and ts.max() < pd.Timestamp("2026-01-01")
    assert ts.dt.month.nunique() == 12
    assert inter["value"].between(1, 5).all() and (inter["value"] == 1).mean() > 0.7
    per_user = inter.groupby("user_id")["item_id"].nunique()
    assert per_user.min() >= 3 and 10 <= per_user.median() <= 20 and per_user.max() > 60
    repeats = inter.duplicated(["user_id", "item_id"]).mean()
    assert 0 < repeats < 0.03
    assert not inter.duplicated(["user_id", "item_id", "timestamp"]).any()
    assert (cat["price"] > 0).all()
    cents = np.round(cat["price"] * 100).astype(int) % 100
    assert cents.isin([99, 49]).all()


def test_seasonal_and_weekly_rhythm(shop: DemoShop) -> None:
    ts = shop.interactions["timestamp"]
    monthly = ts.dt.month.value_counts()
    assert monthly.idxmax() == 12 and monthly[12] > 1.3 * monthly.median()
    weekday = ts.dt.day_of_week.value_counts()
    assert weekday.idxmax() == 6  # Sunday


def test_catalog_structure(shop: DemoShop) -> None:
    cat = shop.catalog
    assert 10 <= cat["category"].nunique() <= 14
    assert cat["subcategory"].nunique() >= 3 * cat["category"].nunique()
    assert 40 <= cat["brand"].nunique() <= 60
    medians = cat.groupby("category")["price"].median()
    assert medians.max() > 3 * medians.min()  # prices differ by category


def test_long_tail(shop: DemoShop) -> None:
    users_per_item = shop.interactions.groupby("item_id")["user_id"].nunique().to_numpy()
    share = _head_share(users_per_item)
    assert 0.10 <= share <= 0.30, share
    assert (users_per_item == 1).mean() > 0.05  # many items bought by a single user


def test_cold_items(shop: DemoShop) -> None:
    sold = set(shop.interactions["item_id"])
    cold = shop.catalog[~shop.catalog["item_id"].isin(sold)]
    assert 0.03 <= len(cold) / len(shop.catalog) <= 0.05
    if "launched" in cold.columns:  # cold items are the recently launched ones
        assert cold["launched"].min() > shop.catalog.loc[shop.catalog["item_id"].isin(sold), "launched"].max()


def test_titles_and_descriptions_readable(shop: DemoShop) -> None:
    titles, descs = shop.catalog["title"], shop.catalog["description"]
    assert (titles.str.strip().str.len() > 0).all() and titles.nunique() / len(titles) >= 0.95
    assert titles.str.split().str.len().min() >= 3
    assert all(re.fullmatch(r"[\w&'’ .,+\-—]+", t) for t in titles.head(500))
    assert (descs.str.len() > 20).all() and descs.str.endswith(".").all()
    assert descs.nunique() / len(descs) > 0.5
    assert not titles.str.contains(r"\{|\}").any() and not descs.str.contains(r"\{|\}").any()


def test_small_shop() -> None:
    small = generate_demo_shop(seed=3, n_items=300, n_users=200)
    assert len(small.catalog) == 300 and len(small.users) == 200
    assert small.interactions.groupby("user_id")["item_id"].nunique().min() >= 3
    assert set(small.interactions["item_id"]) <= set(small.catalog["item_id"])


def test_personalised_model_beats_popularity(shop: DemoShop) -> None:
    x = _binary_matrix(shop.interactions)
    train, test = _holdout(x, seed=0)
    knn_scores = _item_knn_scores(train)
    knn = _recall_at_k(knn_scores, train, test)
    popularity = np.asarray(train.sum(axis=0)).ravel()
    pop = _recall_at_k(np.broadcast_to(popularity, x.shape), train, test)
    assert knn >= 1.5 * pop, (knn, pop)

    # Tail items are relevant to someone: ranking only the tail (what a tail-aware recommender
    # does), item-kNN recovers held-out tail items far better than a random tail pick.
    counts = np.asarray(x.sum(axis=0)).ravel()
    head = np.argsort(-counts)[: int(_head_share(counts) * np.count_nonzero(counts))]
    is_tail = np.ones(counts.size)
    is_tail[head] = 0.0
    tail_test = (test @ sp.diags(is_tail)).tocsr()
    tail_test.eliminate_zeros()
    knn_scores[:, head] = -np.inf
    random_scores = np.random.default_rng(0).random(x.shape)
    random_scores[:, head] = -np.inf
    tail_knn = _recall_at_k(knn_scores, train, tail_test)
    tail_random = _recall_at_k(random_scores, train, tail_test)
    assert tail_knn >= 0.04 and tail_knn >= 5 * tail_random, (tail_knn, tail_random)
