"""Re-ranking on real data (ml-100k, the protocol's split): tail exposure grows with strength
for every tail-oriented method, and strength 0 reproduces the model's lists."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from recsys.rerank import RerankConfig, measure, rerank


@pytest.fixture(scope="module")
def setup(ml100k_ease):
    return ml100k_ease


@pytest.mark.parametrize("method, options", [
    ("tail_bonus", {}), ("pop_penalty", {}), ("xquad", {}), ("promotion", {}),
    ("promotion", {"allocation": "global"}), ("calibrated", {"calibrate_on": "popularity"}),
    ("promotion", {"allocation": "global", "swap_cost": "ratio"}),
])
def test_tail_share_grows_with_strength(setup, method, options):
    split, _, cands = setup
    shares = []
    for s in (0.0, 0.25, 0.5, 0.75, 1.0):
        result = rerank(cands, split.train, RerankConfig(method=method, strength=s, **options))
        shares.append(measure(result, split.train, split.test, cands.users)["aplt"])
    assert all(b >= a - 1e-9 for a, b in itertools.pairwise(shares)), shares
    assert shares[-1] > shares[0] + 0.02, shares


def test_strength_zero_is_the_model_and_a_boost_stays_accurate(setup):
    split, model, cands = setup
    items, _ = model.recommend(split.test_users, 10)
    np.testing.assert_array_equal(rerank(cands, split.train, RerankConfig(
        method="tail_bonus", strength=0.0)).items, items)
    base = measure(items, split.train, split.test, split.test_users)
    boosted = measure(rerank(cands, split.train, RerankConfig(
        method="promotion", strength=0.3, allocation="global")), split.train, split.test,
        split.test_users)
    assert boosted["aplt"] > base["aplt"] + 0.1
    assert boosted["ndcg"] > 0.9 * base["ndcg"]
