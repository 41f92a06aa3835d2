"""``auto``: the search it runs on its inner validation split and what it keeps."""

import numpy as np
import pytest

from recsys.data.dataset import build_dataset
from recsys.data.demo import generate_demo_shop
from recsys.data.splits import SplitConfig, split_dataset
from recsys.evaluation import evaluate_split
from recsys.models import create_model, load_model


@pytest.fixture(scope="module")
def small():
    shop = generate_demo_shop(seed=5, n_items=400, n_users=400)
    ds = build_dataset(shop.interactions, shop.catalog, users=shop.users, name="small")
    return split_dataset(ds, SplitConfig(method="random", seed=0))


def _tried(model, name):
    return [r for r in model.search_ if r["name"] == name]


def test_search_blends_ease_with_other_families_and_keeps_the_best(small, tmp_path):
    model = create_model("auto", {"time_budget_s": 600, "validation": "random"}).fit(
        small.train, device="cpu")
    assert _tried(model, "ease") and _tried(model, "itemknn") and _tried(model, "multvae")
    blends = _tried(model, "blend")
    seconds = {b["config"]["second"]["name"] for b in blends}
    assert seconds == {"itemknn", "multvae"}
    assert all(b["config"]["first"]["name"] == "ease" for b in blends)
    best = max(model.search_, key=lambda r: r["val_ndcg"])
    assert model.chosen_ == {"name": best["name"], "config": best["config"]}
    # it is a real choice: the kept model is at least as good as plain EASE on the test split
    ease = create_model("ease").fit(small.train, device="cpu")
    assert evaluate_split(model, small).summary["ndcg"] >= 0.95 * evaluate_split(ease, small).summary["ndcg"]
    users = np.arange(small.train.n_users)
    loaded = load_model(model.save(tmp_path / "auto"), device="cpu")
    np.testing.assert_allclose(loaded.score(users), model.score(users), rtol=1e-5, atol=1e-6)


def test_without_neural_candidates_no_multvae_is_trained(small):
    model = create_model("auto", {"time_budget_s": 600, "neural": False}).fit(small.train,
                                                                            device="cpu")
    assert not _tried(model, "multvae")
    assert {b["config"]["second"]["name"] for b in _tried(model, "blend")} <= {"itemknn"}
