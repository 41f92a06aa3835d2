"""Hit model and the ``expected`` swap cost: labels and features are right on hand-made lists,
the fitted model ranks real held-out pairs well and is calibrated, and a global promotion that
spends its slots by expected NDCG loss keeps more accuracy than one by score ratio at the same
tail share on real data."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.rerank import (
    HitModel,
    RerankConfig,
    RerankContext,
    fit_hit_model,
    fit_hit_model_on_split,
    frontier,
    measure,
    rerank,
)
from recsys.rerank.hits import FEATURES, candidate_features, expected_gain_values, hit_labels
from tests.test_rerank import make_cands, synthetic_dataset, tail_share


@pytest.fixture(scope="module")
def ds():
    return synthetic_dataset()


def test_hit_labels_mark_exactly_the_held_out_candidates():
    held = sp.csr_matrix(np.array([[0, 1, 0, 1, 0], [1, 0, 0, 0, 0], [0, 0, 0, 0, 0]]))
    items = np.array([[3, 0, 1, -1], [2, 0, 4, 1]], dtype=np.int64)
    labels = hit_labels(items, np.array([0, 1]), held)
    np.testing.assert_array_equal(labels, [[True, False, True, False],
                                           [False, True, False, False]])
    assert not hit_labels(items, np.array([2, 2]), held).any()


def test_features_follow_the_base_scores_and_ranks_in_any_order(ds):
    cands = make_cands(ds, n_users=5, c=12)
    ranks = np.broadcast_to(np.arange(1, 13), cands.items.shape)
    f = candidate_features(cands.scores, ranks, cands.items, cands.users, ds)
    assert f.shape == (5, 12, len(FEATURES)) and np.isfinite(f).all()
    ratio, log_rank, tail = (f[..., FEATURES.index(n)] for n in
                             ("log_score_ratio", "log_rank", "tail"))
    np.testing.assert_allclose(ratio[:, 0], 0.0, atol=1e-6)       # the best item: ratio 1
    assert (np.diff(ratio, axis=1) <= 1e-6).all()
    np.testing.assert_allclose(log_rank[0], np.log(np.arange(1, 13)), rtol=1e-6)
    np.testing.assert_array_equal(tail, np.asarray(ds.is_tail)[cands.items])
    # the same slots shuffled give the same features, shuffled
    perm = np.random.default_rng(0).permutation(12)
    g = candidate_features(cands.scores[:, perm], ranks[:, perm], cands.items[:, perm],
                           cands.users, ds)
    np.testing.assert_allclose(g, f[:, perm], rtol=1e-5, atol=1e-6)
    padded = cands.items.copy()
    padded[:, -3:] = -1
    assert not candidate_features(cands.scores, ranks, padded, cands.users, ds)[:, -3:].any()


def test_fitted_model_predicts_by_rank_and_round_trips(ds):
    """Hits planted at the top of the lists: the model learns that rank matters, its two
    prediction paths agree and it survives JSON."""
    cands = make_cands(ds, n_users=60, c=20, seed=4)
    rng = np.random.default_rng(0)
    chance = 0.5 / np.arange(1, 21)
    hits = rng.random(cands.items.shape) < chance[None, :]
    rows, cols = np.nonzero(hits)
    held = sp.csr_matrix((np.ones(len(rows)), (cands.users[rows], cands.items[rows, cols])),
                         shape=(ds.n_users, ds.n_items))
    model = fit_hit_model(cands, ds, held)
    ranks = np.broadcast_to(np.arange(1, 21), cands.items.shape)
    p = model.predict_lists(cands.scores, ranks, cands.items, cands.users, ds)
    assert p[:, :3].mean() > 3 * p[:, -5:].mean()
    np.testing.assert_allclose(
        p, model.predict(candidate_features(cands.scores, ranks, cands.items, cands.users, ds)),
        rtol=1e-4, atol=1e-6)
    again = HitModel.from_dict(json.loads(json.dumps(model.to_dict())))
    np.testing.assert_allclose(again.predict_lists(cands.scores, ranks, cands.items,
                                                   cands.users, ds), p, rtol=1e-6)
    with pytest.raises(ValueError, match="other features"):
        HitModel.from_dict({**model.to_dict(), "features": ["rank"]})
    with pytest.raises(ValueError, match="held-out items"):
        fit_hit_model(cands, ds, sp.csr_matrix((ds.n_users, ds.n_items)))


def test_expected_gain_values_weigh_by_the_users_ideal_dcg():
    p = np.array([[0.5, 0.5, 0.0], [0.05, 0.05, 0.0]])
    v = expected_gain_values(p, k=10)
    # one expected hit each → same ideal DCG (1), so the values are the probabilities
    np.testing.assert_allclose(v, p / 1.0)
    many = expected_gain_values(np.full((1, 20), 0.5), k=10)    # ten expected hits
    np.testing.assert_allclose(many, 0.5 / np.sum(1 / np.log2(np.arange(2, 12))))


def test_expected_swap_cost_needs_a_hit_model_and_spends_the_same_budget(ds):
    cands = make_cands(ds, n_users=40, c=30, seed=3)
    cfg = RerankConfig(method="promotion", strength=0.5, quota_share=0.4, allocation="global",
                       swap_cost="expected")
    with pytest.raises(ValueError, match="hit model"):
        rerank(cands, ds, cfg, k=10)
    rng = np.random.default_rng(1)
    rows, cols = np.nonzero(rng.random(cands.items.shape) < 0.1)
    held = sp.csr_matrix((np.ones(len(rows)), (cands.users[rows], cands.items[rows, cols])),
                         shape=(ds.n_users, ds.n_items))
    model = fit_hit_model(cands, ds, held)
    tail = np.asarray(ds.is_tail)
    out = rerank(cands, ds, cfg, k=10, context=RerankContext(ds, hit_model=model))
    gap = rerank(cands, ds, cfg.model_copy(update={"swap_cost": "gap"}), k=10)
    assert tail[out.items].sum() == tail[gap.items].sum()     # as many promoted slots
    assert (out.reason[out.boosted] == "promotion quota").all()
    shares = [tail_share(ds, rerank(cands, ds, cfg.model_copy(update={"strength": s}), k=10,
                                    context=RerankContext(ds, hit_model=model))) for s in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert all(b >= a - 1e-9 for a, b in itertools.pairwise(shares)), shares
    np.testing.assert_array_equal(
        rerank(cands, ds, cfg.model_copy(update={"strength": 0.0}), k=10).items,
        cands.items[:, :10])


@pytest.fixture(scope="module")
def ml100k(ml100k_ease):
    split, model, cands = ml100k_ease
    return split, cands, fit_hit_model_on_split(model, split.train, method="random")


def test_hit_model_from_an_inner_split_ranks_and_calibrates_real_held_out_pairs(ml100k):
    from sklearn.metrics import roc_auc_score

    split, cands, model = ml100k
    ranks = np.broadcast_to(np.arange(1, cands.c + 1), cands.items.shape)
    p = model.predict_lists(cands.scores, ranks, cands.items, cands.users, split.train)
    y = hit_labels(cands.items, cands.users, split.test)
    valid = cands.items >= 0
    assert roc_auc_score(y[valid], p[valid]) > 0.75
    assert 0.7 < p[valid].mean() / y[valid].mean() < 1.3
    tail = np.asarray(split.train.is_tail)[np.maximum(cands.items, 0)] & valid
    assert roc_auc_score(y[tail], p[tail]) > 0.7


def test_expected_swap_cost_buys_tail_share_more_cheaply_than_the_score_ratio(ml100k):
    """At the same tail share (same number of promoted slots), the expected-loss allocation
    keeps at least the NDCG of the score-ratio one, and its frontier grows with strength."""
    split, cands, model = ml100k
    options = {"allocation": "global", "quota_share": 0.5}
    ctx = RerankContext(split.train, hit_model=model)
    points = {}
    for cost in ("ratio", "expected"):
        cfg = RerankConfig(method="promotion", strength=0.6, swap_cost=cost, **options)
        points[cost] = measure(rerank(cands, split.train, cfg, context=ctx), split.train,
                               split.test, cands.users)
    assert abs(points["expected"]["aplt"] - points["ratio"]["aplt"]) < 0.005
    assert points["expected"]["ndcg"] >= points["ratio"]["ndcg"] - 1e-4
    curve = frontier(cands, split.train, split.test, methods=["promotion"],
                     strengths=[0.0, 0.25, 0.5, 0.75, 1.0], context=ctx,
                     options={"promotion": {**options, "swap_cost": "expected"}})
    assert curve["aplt"].is_monotonic_increasing and curve["aplt"].iloc[-1] > 0.3


def test_expected_promotion_brings_in_the_likeliest_hits_not_the_next_in_model_order():
    """With the expected cost of a slot, the promoted targets are the tail candidates the hit
    model rates highest (here: the most popular tail items), wherever the model ranked them."""
    from recsys.rerank import RerankConfig, RerankContext, rerank
    from recsys.rerank.hits import FEATURES, HitModel
    from tests.test_rerank import make_cands, synthetic_dataset

    ds = synthetic_dataset(n_users=60, n_items=60, seed=3)
    cands = make_cands(ds, n_users=30, c=40, seed=2)
    coef = np.zeros(len(FEATURES))
    coef[FEATURES.index("log_popularity")] = 2.0
    hits = HitModel(np.zeros(len(FEATURES)), np.ones(len(FEATURES)), coef, -3.0)
    cfg = RerankConfig(method="promotion", strength=0.8, quota_share=0.5, allocation="global",
                       swap_cost="expected")
    k = 10
    result = rerank(cands, ds, cfg, k, context=RerankContext(ds, hit_model=hits))
    ranks = np.broadcast_to(np.arange(1, cands.c + 1), cands.items.shape)
    p = hits.predict_lists(cands.scores, ranks, cands.items, cands.users, ds)
    tail = np.asarray(ds.is_tail)[cands.items]
    checked = 0
    for row in range(cands.n_users):
        brought = set(result.items[row][result.boosted[row]].tolist())
        if not brought:
            continue
        below = np.flatnonzero(tail[row] & (np.arange(cands.c) >= k))
        best = set(cands.items[row, below[np.argsort(-p[row, below], kind="stable")]
                               [:len(brought)]].tolist())
        assert brought == best, row
        checked += 1
    assert checked >= 5


def planted_groups(seed: int = 0):
    """Four groups of users: everyone likes the same 20 head items, each group its own ten
    tail items, so only a personalised model can tell which tail items a user wants."""
    import pandas as pd

    from recsys.data.dataset import DatasetConfig, build_dataset

    rng = np.random.default_rng(seed)
    rows = []
    for u in range(200):
        group = u % 4
        head = np.flatnonzero(rng.random(20) < 0.6)
        tail = 20 + 10 * group + np.flatnonzero(rng.random(10) < 0.3)
        rows += [(f"u{u:03d}", f"i{i:02d}") for i in (*head, *tail)]
    inter = pd.DataFrame(rows, columns=["user_id", "item_id"])
    catalog = pd.DataFrame({"item_id": [f"i{i:02d}" for i in range(60)]})
    return build_dataset(inter, catalog, name="groups", config=DatasetConfig())


def test_a_second_opinion_spends_the_same_tail_slots_on_better_tail_items():
    """Popularity as the main model cannot tell a user's tail items apart; with item-kNN's
    opinion the hit model can, so the same number of promoted tail slots keeps more hits."""
    from recsys.data.splits import SplitConfig, split_dataset
    from recsys.models import create_model
    from recsys.rerank import candidates_from_model

    ds = planted_groups()
    split = split_dataset(ds, SplitConfig(method="random", test_frac=0.2, seed=0))
    pop = create_model("pop", {}).fit(split.train, device="cpu")
    cands = candidates_from_model(pop, split.train, split.test_users, c=60)
    figures = {}
    for opinion in ("none", "itemknn"):
        hits = fit_hit_model_on_split(pop, split.train, method="random", c=60, opinion=opinion)
        assert hits.opinion_name == opinion and len(hits.coef) == len(hits.features)
        cfg = RerankConfig(method="promotion", strength=1.0, quota_share=0.5,
                           allocation="global", swap_cost="expected", opinion=opinion)
        result = rerank(cands, split.train, cfg, 10,
                        context=RerankContext(split.train, hit_model=hits))
        figures[opinion] = measure(result, split.train, split.test, cands.users)
        tail = np.asarray(split.train.is_tail)[np.maximum(result.items, 0)]
        figures[opinion]["tail_hits"] = int(
            (hit_labels(result.items, cands.users, split.test) & tail).sum())
    assert figures["itemknn"]["aplt"] == pytest.approx(figures["none"]["aplt"], abs=0.02)
    assert figures["itemknn"]["aplt"] > 0.3
    assert figures["itemknn"]["tail_hits"] > 2 * figures["none"]["tail_hits"]
    assert figures["itemknn"]["ndcg"] > 1.05 * figures["none"]["ndcg"]


def test_opinion_columns_and_a_mismatched_opinion_are_caught():
    from recsys.models import create_model
    from recsys.rerank.opinion import opinion_columns

    ds = planted_groups(seed=1)
    knn = create_model("itemknn", {}).fit(ds, device="cpu")
    users = np.arange(6)
    items, _scores = knn.recommend(users, 8)
    z, log_rank = opinion_columns(knn, users, items)
    np.testing.assert_allclose(log_rank, np.log(np.arange(1, 9))[None, :].repeat(6, 0), atol=1e-6)
    assert (np.diff(z, axis=1) <= 1e-6).all() and (z[:, 0] > 0).all()
    cands = make_cands(ds, n_users=6, c=12)
    n = len(FEATURES) + 4
    hits = HitModel(np.zeros(n), np.ones(n), np.ones(n), -3.0, opinion_name="itemknn")
    cfg = RerankConfig(method="promotion", strength=0.5, allocation="global",
                       swap_cost="expected")
    with pytest.raises(ValueError, match="second opinion"):   # asked for none, reads itemknn
        rerank(cands, ds, cfg, 5, context=RerankContext(ds, hit_model=hits))
    with_knn = cfg.model_copy(update={"opinion": "itemknn"})
    with pytest.raises(ValueError, match="not attached"):
        rerank(cands, ds, with_knn, 5, context=RerankContext(ds, hit_model=hits))
    restored = HitModel.from_dict(json.loads(json.dumps(hits.to_dict()))).with_opinion(knn)
    assert restored.features[-1] == "tail*opinion_log_rank"
    assert rerank(cands, ds, with_knn, 5, context=RerankContext(ds, hit_model=restored)
                  ).items.shape == (6, 5)
