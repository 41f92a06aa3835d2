"""Exploration policies: slot probabilities that sum to 1 and match what the policy draws,
reproducible lists, tail exploration that grows with the weight, and exports with propensities."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recsys.feedback import PolicyConfig, explore, new_item_mask
from recsys.feedback.epsilon import epsilon_marginals, epsilon_sample
from recsys.feedback.policies import linucb_bonus

U, C, K = 6, 15, 5


@pytest.fixture
def candidates() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Users × candidates (best first), one user with only 7 candidates; items ≥ 9 and item 2
    are tail."""
    rng = np.random.default_rng(0)
    items = np.array([rng.permutation(C) for _ in range(U)])
    items[-1, 7:] = -1
    scores = np.where(items >= 0, -np.arange(C, dtype=float)[None, :], -np.inf)
    targets = np.zeros(C, dtype=bool)
    targets[[2, *range(9, C)]] = True
    return items, scores, targets


def _frequencies(draw, n: int) -> np.ndarray:
    counts = np.zeros((U, K, C))
    for d in range(n):
        cols = draw(d)
        u, s = np.nonzero(cols >= 0)
        counts[u, s, cols[u, s]] += 1
    return counts / n


def test_epsilon_probabilities_are_exact(candidates):
    items, _, targets = candidates
    greedy = np.where(np.arange(K)[None, :] < (items >= 0).sum(1)[:, None], np.arange(K), -1)
    pool = (items >= 0) & targets[np.maximum(items, 0)]
    pool[:, :K] = False
    marg = epsilon_marginals(greedy, pool, K, 0.4)
    np.testing.assert_allclose(marg.sum(axis=2), 1.0)
    rng = np.random.default_rng(1)
    freq = _frequencies(lambda _d: epsilon_sample(greedy, pool, K, 0.4, rng), 4000)
    assert np.abs(freq - marg).max() < 0.035


@pytest.mark.parametrize("policy", ["greedy", "epsilon", "thompson", "linucb"])
def test_every_policy_lists_candidates_once_with_their_probability(candidates, policy):
    items, scores, targets = candidates
    vectors = np.random.default_rng(2).normal(size=(C, 4))
    cfg = PolicyConfig(policy=policy, exploration=0.6, seed=3, draws=300)
    out = explore(np.arange(U), items, scores, K, cfg, targets=targets, vectors=vectors,
                  exposure=np.arange(C, dtype=float))
    np.testing.assert_allclose(out.marginals.sum(axis=2), 1.0)  # each slot: one item surely
    for u in range(U):
        shown = out.items[u][out.items[u] >= 0]
        assert len(set(shown)) == len(shown) == K
        assert set(shown) <= set(items[u][items[u] >= 0])
    assert ((out.propensity > 0) & (out.propensity <= 1)).all()
    again = explore(np.arange(U), items, scores, K, cfg, targets=targets, vectors=vectors,
                    exposure=np.arange(C, dtype=float))
    np.testing.assert_array_equal(out.items, again.items)
    np.testing.assert_array_equal(out.propensity, again.propensity)


def test_weight_zero_is_the_models_own_list(candidates):
    items, scores, targets = candidates
    for policy in ("epsilon", "thompson"):
        out = explore(np.arange(U), items, scores, K, PolicyConfig(policy=policy, exploration=0),
                      targets=targets)
        np.testing.assert_array_equal(out.items, items[:, :K])
        assert (out.propensity == 1).all()


def test_epsilon_explores_only_targets_and_about_eps_of_the_slots(candidates):
    items, scores, targets = candidates
    many = np.tile(items[:-1], (200, 1))
    out = explore(np.arange(len(many)), many, np.tile(scores[:-1], (200, 1)), K,
                  PolicyConfig(policy="epsilon", exploration=0.3, seed=4), targets=targets)
    explored = out.cols >= K
    assert targets[out.items[explored]].all()
    assert 0.25 < explored.mean() < 0.35


def test_thompson_explores_more_with_a_larger_weight(candidates):
    items, scores, _ = candidates
    deep = []
    for w in (0.1, 0.9):
        out = explore(np.arange(U), items, scores, K,
                      PolicyConfig(policy="thompson", exploration=w, seed=5, draws=200))
        deep.append(float((out.marginals[:, :, K:].sum(axis=2)).mean()))
        assert not out.exact and out.draws == 200
    assert deep[1] > deep[0] + 0.1


def test_thompson_seeds_differ_and_feedback_moves_items_up(candidates):
    items, scores, _ = candidates
    from recsys.feedback import ItemFeedback

    a = explore(np.arange(U), items, scores, K, PolicyConfig(policy="thompson", exploration=0.9,
                                                             seed=1))
    b = explore(np.arange(U), items, scores, K, PolicyConfig(policy="thompson", exploration=0.9,
                                                             seed=2))
    assert not np.array_equal(a.items, b.items)
    hot = items[0, -1]  # user 0's last candidate gets many hits
    shows = np.zeros(C)
    hits = np.zeros(C)
    shows[hot], hits[hot] = 50, 45
    fb = explore(np.arange(U), items, scores, K, PolicyConfig(policy="thompson", exploration=0.9,
                                                              seed=1), feedback=ItemFeedback(shows, hits))
    col = C - 1
    assert fb.marginals[0, :, col].sum() > a.marginals[0, :, col].sum() + 0.5


def test_linucb_bonus_favours_rarely_shown_directions():
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]])
    bonus = linucb_bonus(vectors, np.array([100.0, 0.0, 0.0]))
    assert bonus[1] > bonus[2] > bonus[0]


def test_new_items_by_age_cut_off():
    from recsys.data.dataset import build_dataset

    inter = pd.DataFrame({"user_id": ["a", "a", "b", "b"], "item_id": ["old", "new", "old", "mid"],
                          "timestamp": pd.to_datetime(["2024-01-01", "2024-03-30", "2024-01-02",
                                                       "2024-03-01"])})
    catalog = pd.DataFrame({"item_id": ["old", "new", "mid", "unseen"], "title": list("abcd")})
    ds = build_dataset(inter, catalog, name="t")
    new = dict(zip(ds.item_ids, new_item_mask(ds, 7), strict=True))
    assert new == {"old": False, "new": True, "mid": False, "unseen": True}
    assert dict(zip(ds.item_ids, new_item_mask(ds, 40), strict=True))["mid"]


@pytest.fixture(scope="module")
def small_shop():
    """400 customers × 300 products with a popular head, dated over 60 days."""
    from recsys.data.dataset import build_dataset

    rng = np.random.default_rng(0)
    p = 1.0 / np.arange(1, 301) ** 0.9
    p /= p.sum()
    users = np.repeat(np.arange(400), 8)
    items = rng.choice(300, size=len(users), p=p)
    inter = pd.DataFrame({"user_id": "c" + pd.Series(users).astype(str),
                          "item_id": "p" + pd.Series(items).astype(str),
                          "timestamp": pd.Timestamp("2024-01-01")
                          + pd.to_timedelta(rng.integers(0, 60 * 24, len(users)), unit="h")})
    catalog = pd.DataFrame({"item_id": [f"p{i}" for i in range(300)],
                            "title": [f"product {i} {'red' if i % 3 else 'blue'}" for i in range(300)]})
    return build_dataset(inter, catalog, name="small")


def test_explored_export_rows_carry_propensities(tmp_path, small_shop):
    from recsys.export import ExportConfig, read_export
    from recsys.export.explore import export_explored_lists
    from recsys.models import create_model

    ds = small_shop
    model = create_model("pop", {}).fit(ds, device="cpu")
    cfg = ExportConfig(k=5, candidates=30, chunk_users=1000)
    pol = PolicyConfig(policy="epsilon", exploration=0.5, seed=9)
    result = export_explored_lists(model, ds, tmp_path / "eps", cfg, pol)
    frame = read_export(result.files[0])
    assert list(frame.columns)[-2:] == ["propensity", "list_id"]
    assert frame.groupby("user_id")["rank"].apply(list).map(lambda r: r == [1, 2, 3, 4, 5]).all()
    assert ((frame["propensity"] > 0) & (frame["propensity"] <= 1)).all()
    assert frame.groupby("user_id")["list_id"].nunique().eq(1).all()
    assert frame.loc[frame["boosted"], "is_tail"].all() and 0.3 < frame["boosted"].mean() < 0.7
    manifest = json.loads((tmp_path / "eps" / "manifest.json").read_text())
    assert manifest["policy"]["policy"] == "epsilon" and manifest["policy"]["seed"] == 9
    assert manifest["policy"]["propensities"].startswith("exact")
    greedy = export_explored_lists(model, ds, tmp_path / "g", cfg, PolicyConfig(policy="greedy"))
    assert (read_export(greedy.files[0])["propensity"] == 1.0).all()
    again = export_explored_lists(model, ds, tmp_path / "eps2", cfg, pol)
    pd.testing.assert_frame_equal(frame, read_export(again.files[0]))


def test_thompson_prior_comes_from_the_calibrated_hit_model(tmp_path, small_shop):
    from recsys.export import ExportConfig
    from recsys.export.explore import export_explored_lists
    from recsys.feedback import calibration_model, prior_means
    from recsys.models import create_model
    from recsys.rerank import candidates_from_model

    ds = small_shop
    model = create_model("pop", {}).fit(ds, device="cpu")
    pol = PolicyConfig(policy="thompson", exploration=0.3, draws=20)
    hits = calibration_model(model, ds, pol, c=30)
    assert hits is not None
    assert calibration_model(model, ds, pol.model_copy(update={"prior": "rank"}), c=30) is None
    cands = candidates_from_model(model, ds, np.arange(50), 30, exclude=ds.known)
    prior = prior_means(hits, cands, ds)
    assert prior.shape == cands.items.shape and ((prior > 0) & (prior < 1)).all()
    assert (np.diff(prior, axis=1) <= 0).all()  # calibrated scale, the model's own order
    cfg = ExportConfig(k=5, candidates=30, scope={"kind": "segment", "value": "heavy"})
    result = export_explored_lists(model, ds, tmp_path / "t", cfg, pol, hit_model=hits)
    assert result.manifest["policy"]["prior_from"].startswith("hit model")
    assert result.manifest["hit_model"]["features"]
    ranked = export_explored_lists(model, ds, tmp_path / "r", cfg,
                                   pol.model_copy(update={"prior": "rank"}))
    assert ranked.manifest["policy"]["prior_from"] == "candidate rank"


@pytest.mark.parametrize("fmt", ["parquet", "json"])
def test_explored_export_formats_round_trip(tmp_path, small_shop, fmt):
    from recsys.export import ExportConfig, read_export
    from recsys.export.explore import export_explored_lists
    from recsys.models import create_model

    model = create_model("pop", {}).fit(small_shop, device="cpu")
    cfg = ExportConfig(k=4, candidates=20, format=fmt)
    res = export_explored_lists(model, small_shop, tmp_path / fmt, cfg,
                                PolicyConfig(policy="epsilon", exploration=0.4, seed=1))
    frame = read_export(res.files[0])
    assert list(frame.columns)[-2:] == ["propensity", "list_id"] and len(frame) == res.rows
    head = frame.head(len(res.frame_sample)).reset_index(drop=True)
    pd.testing.assert_frame_equal(head, res.frame_sample.reset_index(drop=True),
                                  check_dtype=False)
    assert frame["list_id"].str.len().eq(16).all() and frame["propensity"].between(0, 1).all()
