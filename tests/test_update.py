"""Online updates (:mod:`recsys.feedback.update`, ``Recommender.update``): with the fold-in
only (``epochs=0``) the affected users' lists change and no one else's; new users get lists,
new items are appended or left out as the model allows, an updated model kept in a workspace
reloads with identical lists, and a feedback log's rewarded rows become interactions.
Incremental epochs of the torch models: :mod:`tests.test_update_epochs`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys import build_dataset
from recsys.data.reading import IngestError
from recsys.feedback.update import (
    fresh_lists,
    next_run_name,
    read_feedback,
    update_kept_run,
    update_model,
)
from recsys.models import create_model
from recsys.workspace import Workspace

CONFIGS = {"ease": {}, "itemknn": {}, "als": {"iterations": 4, "factors": 16},
           "bpr": {"epochs": 5, "factors": 16}, "multvae": {"epochs": 3},
           "sasrec": {"epochs": 2, "dim": 16, "max_len": 10},
           "neumf": {"epochs": 3, "factors": 8, "mlp_layers": (16, 8)},
           "deepfm": {"epochs": 2, "factors": 8, "use_text": False}}


@pytest.fixture(scope="module")
def shop():
    """200 customers × 60 products with a taste structure (users buy near their own index)."""
    rng = np.random.default_rng(3)
    users = rng.integers(0, 200, 2500)
    items = (users // 4 + rng.integers(0, 12, 2500)) % 60
    frame = pd.DataFrame({"user_id": [f"u{u}" for u in users],
                          "item_id": [f"i{i}" for i in items],
                          "timestamp": pd.Timestamp("2024-01-01")
                          + pd.to_timedelta(rng.integers(0, 90, 2500), unit="D")})
    return build_dataset(frame, name="shop")


def _fit(name, ds):
    return create_model(name, CONFIGS[name]).fit(ds, device="cpu")


def _feedback(model, ds, users):
    """For each of ``users``: four items of a distant taste (the top items of the customer 100
    places away) that the user has not bought, so the update has something to learn."""
    far = [f"u{(int(u[1:]) + 100) % 200}" for u in users]
    ranked, _ = model.recommend(ds.user_positions(far), 20)
    rows = []
    for user, top in zip(users, ranked, strict=True):
        have = set(ds.matrix[ds.user_positions([user])[0]].indices)
        rows += [(user, ds.item_ids[i]) for i in [i for i in top if i not in have][:4]]
    return pd.DataFrame(rows, columns=["user_id", "item_id"])


@pytest.mark.parametrize("name", ["ease", "itemknn", "als", "bpr", "multvae", "sasrec"])
def test_update_changes_the_affected_users_lists_and_no_one_elses(shop, name):
    model = _fit(name, shop)
    everyone = np.arange(shop.n_users)
    before, before_scores = model.recommend(everyone, 10)
    affected_ids = ["u3", "u50", "u120"]
    feedback = _feedback(model, shop, affected_ids)
    result = update_model(model, feedback, user_ids=shop.user_ids, item_ids=shop.item_ids,
                          epochs=0)
    after, after_scores = model.recommend(everyone, 10)
    affected = shop.user_positions(affected_ids)
    others = np.setdiff1d(everyone, affected)
    np.testing.assert_array_equal(after[others], before[others])
    np.testing.assert_array_equal(after_scores[others], before_scores[others])
    for row in affected:
        assert not np.array_equal(after[row], before[row]), name
    assert result.users_updated == 3 and result.users_added == 0
    assert result.interactions == len(feedback) == result.new_pairs
    assert result.method and result.seconds >= 0


@pytest.mark.parametrize("name", ["ease", "als", "bpr", "neumf", "deepfm"])
def test_new_users_get_lists_without_their_own_items(shop, name):
    model = _fit(name, shop)
    feedback = pd.DataFrame({"user_id": ["newcomer"] * 3, "item_id": ["i1", "i2", "i3"]})
    result = update_model(model, feedback, user_ids=shop.user_ids, item_ids=shop.item_ids)
    assert result.users_added == 1 and model.n_users_ == shop.n_users + 1
    assert model.user_ids_[-1] == "newcomer"
    lists, scores = model.recommend(np.array([shop.n_users]), 10)
    assert (lists >= 0).all() and np.isfinite(scores).all()
    assert not set(lists[0]) & set(shop.item_positions(["i1", "i2", "i3"]))


def test_new_items_are_appended_or_left_out_as_the_model_allows(shop):
    feedback = pd.DataFrame({"user_id": ["u1", "u1", "u2"], "item_id": ["brand-new", "i5", "i6"]})
    ease = _fit("ease", shop)
    result = update_model(ease, feedback, user_ids=shop.user_ids, item_ids=shop.item_ids)
    assert result.items_added == 1 and ease.n_items_ == shop.n_items + 1
    assert ease.item_ids_[-1] == "brand-new"
    assert ease.score(np.arange(5)).shape == (5, shop.n_items + 1)
    assert any("no collaborative signal" in n for n in result.notes)
    vae = _fit("multvae", shop)
    result = update_model(vae, feedback, user_ids=shop.user_ids, item_ids=shop.item_ids)
    assert result.items_added == 0 and result.interactions == 2
    assert any("cannot add items" in n for n in result.notes)


def test_kept_run_update_is_a_new_run_that_reloads_with_identical_lists(shop, tmp_path):
    ws = Workspace(tmp_path / "ws")
    name = ws.save_dataset(shop)
    ws.save_model(name, _fit("als", shop), run="als", results={"ndcg": 0.1})
    old_weights = (ws.kept_runs(name)[0].path / "weights.npz").read_bytes()
    feedback = pd.DataFrame({"user_id": ["u4", "u4", "newcomer"], "item_id": ["i7", "i8", "i9"]})
    result = update_kept_run(ws, name, "als", feedback, source="day1.csv")
    assert result.run == "als-updated-1" and result.users_added == 1
    runs = {r.run: r for r in ws.kept_runs(name)}
    assert set(runs) == {"als", "als-updated-1"}
    assert (runs["als"].path / "weights.npz").read_bytes() == old_weights
    record = runs["als-updated-1"].results
    assert not record.metrics and record.dataset_fingerprint is None
    reloaded = ws.load_model(name, "als-updated-1")
    users = np.arange(reloaded.n_users_)
    np.testing.assert_array_equal(reloaded.recommend(users, 10)[0],
                                  result.model.recommend(users, 10)[0])
    again = update_kept_run(ws, name, "als-updated-1", feedback.iloc[:1], source="day2.csv")
    assert again.run == "als-updated-2" and again.users_added == 0


def test_next_run_name_counts_on():
    assert next_run_name(["ease"], "ease") == "ease-updated-1"
    assert next_run_name(["ease", "ease-updated-1", "ease-updated-3"], "ease-updated-3") \
        == "ease-updated-4"
    assert next_run_name(["ease-big-updated-2"], "ease") == "ease-updated-1"


def test_a_feedback_log_gives_its_rewarded_rows(tmp_path):
    path = tmp_path / "log.csv"
    pd.DataFrame({"user_id": ["a", "a", "b", "c"], "item_id": ["x", "y", "x", "z"],
                  "position": [1, 2, 1, 1], "propensity": [0.5, 0.2, 1.0, 0.9],
                  "reward": [1, 0, 2.5, 0]}).to_csv(path, index=False)
    frame, kind, _ = read_feedback(path)
    assert kind == "log"
    assert list(zip(frame["user_id"], frame["item_id"], strict=True)) == [("a", "x"), ("b", "x")]
    plain, kind, _ = read_feedback(path, kind="interactions")
    assert kind == "interactions" and len(plain) == 4


def test_bad_feedback_logs_are_one_line_errors(tmp_path):
    path = tmp_path / "log.csv"
    pd.DataFrame({"user_id": ["a"], "item_id": ["x"], "position": [1], "propensity": [1.5],
                  "reward": [1]}).to_csv(path, index=False)
    with pytest.raises(IngestError, match="propensity"):
        read_feedback(path)
    pd.DataFrame({"user_id": ["a"], "item_id": ["x"], "position": [1], "propensity": [0.5],
                  "reward": [0]}).to_csv(path, index=False)
    with pytest.raises(IngestError, match="no row of the feedback log has a reward"):
        read_feedback(path)


def test_als_fold_in_is_the_exact_least_squares_solve():
    import scipy.sparse as sp
    import torch

    from recsys.models.online import als_fold_in

    rows = sp.random(40, 30, density=0.2, random_state=1, format="csr")
    rows.data[:] = 1.0
    vectors = torch.randn(30, 8, generator=torch.Generator().manual_seed(0))
    solved = als_fold_in(rows, vectors, 2.0, 5.0, budget=40).numpy()  # several blocks
    y = vectors.double().numpy()
    for u in range(rows.shape[0]):
        mine = y[rows[u].indices]
        a = y.T @ y + 2.0 * np.eye(8) + 5.0 * mine.T @ mine
        np.testing.assert_allclose(solved[u], np.linalg.solve(a, 6.0 * mine.sum(0)), atol=1e-4)


def test_kept_run_takes_a_feedback_log_frame_as_uploaded(shop, tmp_path):
    ws = Workspace(tmp_path / "ws")
    name = ws.save_dataset(shop)
    ws.save_model(name, _fit("ease", shop), run="ease")
    log = pd.DataFrame({"user_id": ["u1", "u1", "u2"], "item_id": ["i40", "i41", "i42"],
                        "position": [1, 2, 1], "propensity": [0.5, 0.5, 1.0],
                        "reward": [1, 0, 1]})
    result = update_kept_run(ws, name, "ease", log, source="log.csv")
    assert result.interactions == 2 and result.users_updated == 2
    model = ws.load_model(name, result.run)
    assert model.seen_[shop.user_positions(["u1"])[0], shop.item_positions(["i41"])[0]] == 0
    assert model.seen_[shop.user_positions(["u2"])[0], shop.item_positions(["i42"])[0]] > 0


def test_saved_model_update_applies_the_rating_threshold(shop, tmp_path):
    """A model folder updated with a rating threshold leaves the rows below it out, as the kept
    run's update does (a rating of 2 under a threshold of 4 is not a positive)."""
    from recsys.feedback.update import update_saved_model

    model = _fit("ease", shop)
    model.save(tmp_path / "ease")
    feedback = pd.DataFrame({"user_id": ["u4", "u5"], "item_id": ["i30", "i31"],
                             "value": [5.0, 2.0]})
    kept = update_saved_model(tmp_path / "ease", feedback, out=tmp_path / "a",
                              user_ids=shop.user_ids, item_ids=shop.item_ids, rating_threshold=4.0)
    assert kept.interactions == 1 and kept.users_updated == 1
    unfiltered = update_saved_model(tmp_path / "ease", feedback, out=tmp_path / "b",
                                    user_ids=shop.user_ids, item_ids=shop.item_ids)
    assert unfiltered.interactions == 2


def test_fresh_lists_for_every_customer_of_an_updated_model(shop):
    """After an update that adds a customer, lists for everyone the model knows: K rows each,
    the newcomer included, and never an item the customer already has."""
    model = _fit("ease", shop)
    feedback = pd.DataFrame({"user_id": ["newcomer", "newcomer", "u1"],
                             "item_id": ["i1", "i2", "i7"]})
    update_model(model, feedback, user_ids=shop.user_ids, item_ids=shop.item_ids)
    lists = fresh_lists(model, model.user_ids_, k=10)
    assert lists.groupby("user_id").size().eq(10).all()
    assert lists["user_id"].nunique() == shop.n_users + 1
    mine = set(lists.loc[lists["user_id"] == "newcomer", "item_id"])
    assert not mine & {"i1", "i2"}
    had = lists.merge(feedback, on=["user_id", "item_id"])
    assert had.empty
