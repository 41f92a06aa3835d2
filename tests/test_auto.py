"""``auto``: the inner split it picks, the search it runs, when it leaves the baseline, the
cold-start path for new products, and what it records."""

import numpy as np
import pandas as pd
import pytest

from recsys.data.dataset import build_dataset
from recsys.data.demo import generate_demo_shop
from recsys.data.splits import SplitConfig, split_dataset
from recsys.evaluation import evaluate_split
from recsys.models import create_model, load_model
from recsys.models.auto import NEW_RECALL_FLOOR
from recsys.models.selection import choose, inner_protocol, paired_bootstrap, time_is_meaningful


@pytest.fixture(scope="module")
def shop():
    return generate_demo_shop(seed=5, n_items=400, n_users=400)


@pytest.fixture(scope="module")
def warm(shop):
    """The demo log without its catalog: every item has interactions (no new products)."""
    ds = build_dataset(shop.interactions, name="warm")
    return split_dataset(ds, SplitConfig(method="random", seed=0))


@pytest.fixture(scope="module")
def with_new(shop):
    """The demo shop with its catalog: some products were never bought."""
    ds = build_dataset(shop.interactions, shop.catalog, users=shop.users, name="with-new")
    return split_dataset(ds, SplitConfig(method="item-cold", seed=0))


def _tried(model, name):
    return [r for r in model.search_ if r["name"] == name]


def test_search_blends_ease_with_other_families_and_records_its_choice(warm, tmp_path):
    model = create_model("auto").fit(warm.train, device="cpu")
    assert _tried(model, "ease") and _tried(model, "itemknn") and _tried(model, "multvae")
    assert _tried(model, "contentmf") == [r for r in _tried(model, "contentmf")
                                          if r["config"] == {"shift_search": False}]
    assert not _tried(model, "hybrid")  # no new products: no cold path needed
    blends = _tried(model, "blend")
    assert {b["config"]["second"]["name"] for b in blends} == {"itemknn", "multvae", "contentmf"}
    assert all(b["config"]["first"]["name"] == "ease" for b in blends)
    report = model.report_
    assert report["inner_split"]["method"] == "random"  # mirrors the split warm.train came from
    assert "random" in report["inner_split"]["reason"]
    assert report["baseline"]["config"] == {"l2": 200}
    assert report["candidates"] == len(model.search_) and not report["time_capped"]
    kept = next(r for r in model.search_ if {"name": r["name"], "config": r["config"]}
                == model.chosen_)
    if model.chosen_ != {"name": "ease", "config": {"l2": 200}}:
        assert report["bootstrap"]["lower"] > 0 and kept["val_ndcg"] > report["baseline"]["val_ndcg"]
    # a real choice: the kept model is at least as good as plain EASE on the test split
    ease = create_model("ease").fit(warm.train, device="cpu")
    assert evaluate_split(model, warm).summary["ndcg"] >= 0.97 * evaluate_split(ease, warm).summary["ndcg"]
    users = np.arange(warm.train.n_users)
    loaded = load_model(model.save(tmp_path / "auto"), device="cpu")
    np.testing.assert_allclose(loaded.score(users), model.score(users), rtol=1e-5, atol=1e-6)
    assert loaded.report_ == model.report_


def test_without_neural_candidates_no_multvae_is_trained(warm):
    model = create_model("auto", {"neural": False}).fit(warm.train, device="cpu")
    assert not _tried(model, "multvae")
    assert {b["config"]["second"]["name"] for b in _tried(model, "blend")} <= {"itemknn"}


def test_new_products_get_a_cold_start_path(with_new):
    model = create_model("auto", {"neural": False}).fit(with_new.train, device="cpu")
    assert model.report_["cold_path"] and model.report_["inner_split"]["method"] == "item-cold"
    # products never sold in the training data cannot be hits on the inner split: left out
    never_sold = int((np.diff(with_new.train.matrix.tocsc().indptr) == 0).sum())
    assert never_sold > 0 and model.report_["inner_split"]["never_sold_left_out"] == never_sold
    chosen = model.chosen_
    assert chosen["name"] == "hybrid" or chosen["config"]["first"]["name"] == "hybrid"
    blends = _tried(model, "blend")
    assert {b["config"]["cold_items"] for b in blends} == {"blend", "first"}
    if chosen["name"] == "blend":  # a blend kept must keep the hybrid's new products
        kept = next(b for b in blends if b["config"] == chosen["config"])
        hybrid = max(r["val_new_recall"] for r in _tried(model, "hybrid"))
        assert kept["val_new_recall"] >= NEW_RECALL_FLOOR * hybrid
    summary = evaluate_split(model, with_new).summary
    assert summary["new_share"] > 0 and summary["new_recall"] > 0
    ease = evaluate_split(create_model("ease").fit(with_new.train), with_new).summary
    assert ease["new_recall"] == 0  # the collaborative baseline cannot list a new product


def test_keeps_ease_where_ease_is_best():
    """Planted data whose taste is item-item co-occurrence with no time, side or content signal,
    where plain EASE λ=200 is near-optimal: auto keeps it, or a candidate no worse on validation."""
    rng = np.random.default_rng(3)
    n_users, n_items, n_groups = 600, 150, 15
    group = rng.integers(0, n_groups, n_users)
    rows = []
    for u in range(n_users):
        pool = np.arange(n_items)[np.arange(n_items) % n_groups == group[u]]
        picked = rng.choice(pool, size=6, replace=False)
        noise = rng.choice(n_items, size=2, replace=False)
        rows += [(f"u{u}", f"i{i}") for i in np.concatenate([picked, noise])]
    ds = build_dataset(pd.DataFrame(rows, columns=["user_id", "item_id"]), name="planted")
    split = split_dataset(ds, SplitConfig(method="random", seed=1))
    model = create_model("auto", {"neural": False}).fit(split.train, device="cpu")
    kept = next(r for r in model.search_ if {"name": r["name"], "config": r["config"]}
                == model.chosen_)
    assert (model.chosen_ == {"name": "ease", "config": {"l2": 200}}
            or kept["val_ndcg"] >= model.report_["baseline"]["val_ndcg"])


def test_inner_protocol_mirrors_the_outer_split_and_reads_the_data(shop):
    ds = build_dataset(shop.interactions, name="log")
    for outer, inner in (("random", "random"), ("temporal", "temporal"),
                         ("leave-last", "temporal"), ("item-cold", "item-cold")):
        train = split_dataset(ds, SplitConfig(method=outer, seed=0)).train
        assert inner_protocol(train).method == inner
    assert inner_protocol(ds).method == "temporal" and time_is_meaningful(ds)
    no_time = build_dataset(shop.interactions.drop(columns="timestamp"), name="no-time")
    assert inner_protocol(no_time).method == "random"
    one_stamp = build_dataset(shop.interactions.assign(timestamp=pd.Timestamp("2024-01-01")),
                              name="one-stamp")
    assert not time_is_meaningful(one_stamp) and inner_protocol(one_stamp).method == "random"
    catalog = build_dataset(shop.interactions, shop.catalog, name="with-catalog")
    assert inner_protocol(catalog).method == "item-cold"
    assert inner_protocol(no_time, "temporal").method == "random"  # asked, but impossible


def test_paired_bootstrap_tells_gain_from_noise():
    rng = np.random.default_rng(0)
    base = rng.random(2000)
    noisy = base + rng.normal(0, 0.3, 2000)  # no real gain
    better = base + 0.05 + rng.normal(0, 0.3, 2000)
    assert paired_bootstrap(noisy - noisy.mean() + base.mean(), base)["lower"] < 0
    clear = paired_bootstrap(better, base)
    assert clear["lower"] > 0 and clear["p_better"] > 0.99
    results = [{"val_ndcg": base.mean(), "val_aplt": 0.1},
               {"val_ndcg": base.mean() + 1e-4, "val_aplt": 0.1},
               {"val_ndcg": better.mean(), "val_aplt": 0.05},
               {"val_ndcg": better.mean() * 0.97, "val_aplt": 0.3}]
    tiny = base + 1e-4 + rng.normal(0, 0.3, 2000)
    assert choose(results[:2], [base, tiny], 0).index == 0  # within noise: baseline kept
    assert choose(results[:3], [base, tiny, better], 0).index == 2
    pick = choose(results, [base, tiny, better, better * 0.97], 0, objective="tail")
    assert pick.index == 3 and "long-tail" in pick.reason


def test_the_run_record_keeps_the_choice(warm, tmp_path):
    from recsys.jobs import train_models
    from recsys.runs import RunResults
    from recsys.workspace import Workspace

    ws = Workspace(tmp_path / "ws")
    job = train_models(warm.train, {"auto": {"neural": False}, "ease": {}}, workspace=ws, k=10)
    auto, ease = job.runs
    choice = auto.results.choice
    assert choice["reason"] and choice["inner_split"]["method"] in ("random", "temporal")
    assert choice["chosen"]["name"] and len(choice["search"]) == choice["candidates"] >= 4
    assert all("val_ndcg" in c for c in choice["search"])
    assert ease.results.choice is None
    # it survives the trip through results.json
    again = RunResults.model_validate(auto.results.to_json())
    assert again.choice == choice and "choice" not in again.scalars()


def test_with_new_products_a_blend_that_quiets_them_is_not_kept():
    """The most accurate blend lists no new product: with new products it may not be kept."""
    from recsys.models.auto import AutoRecommender

    rng = np.random.default_rng(0)
    hybrid = {"name": "hybrid", "config": {"l2": 200}, "seconds": 1.0}
    spec = {"first": {"name": "hybrid", "config": {"l2": 200}},
            "second": {"name": "multvae", "config": {}}, "weight": 0.7}
    rows = [{**hybrid, "val_ndcg": 0.20, "val_new_recall": 0.05},
            {"name": "blend", "config": {**spec, "cold_items": "blend"}, "seconds": 1.0,
             "val_ndcg": 0.30, "val_new_recall": 0.0},
            {"name": "blend", "config": {**spec, "cold_items": "first"}, "seconds": 1.0,
             "val_ndcg": 0.25, "val_new_recall": 0.04}]
    per_user = [np.clip(rng.normal(r["val_ndcg"], 0.05, 400), 0, 1) for r in rows]
    model = create_model("auto")
    assert isinstance(model, AutoRecommender)
    model._choose(rows, per_user, cold_path=True)
    assert model.chosen_["config"].get("cold_items") == "first"
    model._choose(rows, per_user, cold_path=False)  # without new products the best wins
    assert model.chosen_["config"].get("cold_items") == "blend"
    # an inner split without new products (temporal) measures no new-product recall: only the
    # blends that leave new products to the hybrid may be kept
    unmeasured = [{k: v for k, v in r.items() if k != "val_new_recall"} for r in rows]
    model._choose(unmeasured, per_user, cold_path=True)
    assert model.chosen_["config"].get("cold_items") == "first"
