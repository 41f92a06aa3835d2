"""Blends of two models: new products keep the first model's cold-start path when asked."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.data.dataset import build_dataset
from recsys.data.demo import generate_demo_shop
from recsys.data.splits import SplitConfig, split_dataset
from recsys.evaluation import evaluate_split
from recsys.models import create_model, load_model
from recsys.models.blend import Blend, standardise


@pytest.fixture(scope="module")
def parts():
    shop = generate_demo_shop(seed=3, n_items=300, n_users=300)
    ds = build_dataset(shop.interactions, shop.catalog, users=shop.users, name="blend")
    split = split_dataset(ds, SplitConfig(method="item-cold", seed=0))
    hybrid = create_model("hybrid", {"text_method": "tfidf", "cold_path": "content",
                                     "scale_search": False}).fit(split.train, device="cpu")
    knn = create_model("itemknn").fit(split.train, device="cpu")
    return split, hybrid, knn


def _blend(hybrid, knn, cold_items: str, weight: float = 0.7) -> Blend:
    specs = ({"name": "hybrid", "config": dict(hybrid.config.model_dump(exclude={"seed"}))},
             {"name": "itemknn", "config": {}})
    return Blend.from_parts(hybrid, knn, *specs, weight=weight, cold_items=cold_items)


def test_new_products_keep_the_first_models_standing(parts, tmp_path):
    split, hybrid, knn = parts
    users = split.test_users[:50]
    kept = _blend(hybrid, knn, "first")
    cold = kept.cold_mask()
    assert cold.any() and not cold.all()
    assert np.array_equal(cold, np.diff(split.train.matrix.tocsc().indptr) == 0)
    z_first = standardise(np.asarray(hybrid.score(users)))
    # a new product's blended score is the hybrid's own z-score, whatever the weight
    np.testing.assert_allclose(kept.score(users)[:, cold], z_first[:, cold], rtol=1e-5, atol=1e-5)
    plain = _blend(hybrid, knn, "blend").score(users)
    assert not np.allclose(plain[:, cold], z_first[:, cold])
    # warm products are blended alike either way
    np.testing.assert_allclose(kept.score(users)[:, ~cold], plain[:, ~cold], rtol=1e-5, atol=1e-5)
    loaded = load_model(kept.save(tmp_path / "blend"), device="cpu")
    assert loaded.config.cold_items == "first"
    np.testing.assert_allclose(loaded.score(users), kept.score(users), rtol=1e-5, atol=1e-5)


def test_a_plain_blend_drowns_new_products_and_the_cold_aware_one_lists_them(parts):
    split, hybrid, knn = parts
    alone = evaluate_split(hybrid, split).summary["new_share"]
    plain = evaluate_split(_blend(hybrid, knn, "blend"), split).summary["new_share"]
    kept = evaluate_split(_blend(hybrid, knn, "first"), split).summary["new_share"]
    assert alone > 0
    assert kept > plain
    assert kept >= 0.5 * alone
