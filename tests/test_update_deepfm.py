"""DeepFM adds new customers in online updates: zero rows inserted at the end of the user id
field of its one table of field values (every later field moves up), the unknown code for their
attributes. With ``epochs=0`` everyone else keeps exactly their lists; with epochs the new
customer's id embedding is trained; the updated model reloads with identical lists; a save made
before the field sizes were kept still leaves new customers out, with the note."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from recsys import build_dataset
from recsys.feedback.update import update_model
from recsys.models import create_model
from recsys.models.deepfm import DeepFM

CONFIG = {"epochs": 2, "factors": 8, "use_text": False}
NEWCOMER = pd.DataFrame({"user_id": ["newcomer"] * 3 + ["u7"],
                         "item_id": ["i1", "i2", "i3", "i9"]})


@pytest.fixture(scope="module")
def fitted():
    """150 customers with a country × 50 products with a category and a brand (so the user
    attribute and item fields sit after the user ids and must move), and DeepFM fitted on it."""
    rng = np.random.default_rng(7)
    users = rng.integers(0, 150, 1800)
    items = (users // 3 + rng.integers(0, 10, 1800)) % 50
    frame = pd.DataFrame({"user_id": [f"u{u}" for u in users],
                          "item_id": [f"i{i}" for i in items]})
    catalog = pd.DataFrame({"item_id": [f"i{i}" for i in range(50)],
                            "title": [f"product {i}" for i in range(50)],
                            "category": [f"c{i % 5}" for i in range(50)],
                            "brand": [f"b{i % 7}" for i in range(50)]})
    people = pd.DataFrame({"user_id": [f"u{u}" for u in range(150)],
                           "country": [f"k{u % 4}" for u in range(150)]})
    ds = build_dataset(frame, catalog, users=people, name="shop")
    model = create_model("deepfm", CONFIG).fit(ds, device="cpu")
    assert model.user_index_.shape[1] == 2 and model.item_index_.shape[1] == 3
    return ds, model


def _rows(model: DeepFM, index: np.ndarray) -> np.ndarray:
    """The embedding rows an index array gathers (values, not positions)."""
    return model.net_.embed.weight.detach().numpy()[index]


def test_a_new_user_gets_a_list_and_everyone_else_keeps_theirs(fitted):
    ds, fit = fitted
    model = copy.deepcopy(fit)
    everyone = np.arange(ds.n_users)
    before, before_scores = model.recommend(everyone, 10)
    user_rows, item_rows = _rows(model, model.user_index_), _rows(model, model.item_index_)
    result = update_model(model, NEWCOMER, user_ids=ds.user_ids, item_ids=ds.item_ids, epochs=0)
    assert result.users_added == 1 and result.interactions == 4 and not result.notes
    assert model.user_ids_[-1] == "newcomer" and model.n_users_ == ds.n_users + 1
    # every old user and item gathers the same values from the grown table
    np.testing.assert_array_equal(_rows(model, model.user_index_[:-1]), user_rows)
    np.testing.assert_array_equal(_rows(model, model.item_index_), item_rows)
    new_row = _rows(model, model.user_index_[-1])
    assert not new_row[0].any()  # a zero id row, and the country's unknown code
    assert model.user_index_[-1, 1] == model.field_cards_[0]  # code 0 of the country field
    after, after_scores = model.recommend(everyone, 10)
    others = np.setdiff1d(everyone, ds.user_positions(["u7"]))
    np.testing.assert_array_equal(after[others], before[others])
    np.testing.assert_array_equal(after_scores[others], before_scores[others])
    lists, scores = model.recommend(np.array([ds.n_users]), 10)
    assert (lists >= 0).all() and np.isfinite(scores).all()
    assert not set(lists[0]) & set(ds.item_positions(["i1", "i2", "i3"]))


def test_epochs_train_the_new_user_and_the_update_reloads(fitted, tmp_path):
    ds, fit = fitted
    model = copy.deepcopy(fit)
    result = update_model(model, NEWCOMER, user_ids=ds.user_ids, item_ids=ds.item_ids, epochs=2)
    assert result.users_added == 1 and "2 warm epochs" in result.method
    assert np.abs(_rows(model, model.user_index_[-1, 0])).sum() > 0
    lists = model.recommend(np.array([ds.n_users]), 10)[0]
    assert not set(lists[0]) & set(ds.item_positions(["i1", "i2", "i3"]))
    model.save(tmp_path / "updated")
    reloaded = DeepFM.load(tmp_path / "updated", device="cpu")
    users = np.arange(reloaded.n_users_)
    np.testing.assert_array_equal(reloaded.recommend(users, 10)[0], model.recommend(users, 10)[0])
    again = update_model(reloaded, pd.DataFrame({"user_id": ["second"], "item_id": ["i4"]}),
                         user_ids=ds.user_ids, item_ids=ds.item_ids)
    assert again.users_added == 1 and reloaded.n_users_ == ds.n_users + 2


def test_a_save_without_field_sizes_leaves_new_users_out(fitted, tmp_path):
    ds, fit = fitted
    fit.save(tmp_path / "old")
    with np.load(tmp_path / "old" / "weights.npz", allow_pickle=False) as data:
        state = {k: data[k] for k in data.files if k != "field_cards"}
    np.savez(tmp_path / "old" / "weights.npz", **state)
    old = DeepFM.load(tmp_path / "old", device="cpu")
    assert not old.adds_users
    result = update_model(old, NEWCOMER, user_ids=ds.user_ids, item_ids=ds.item_ids)
    assert result.users_added == 0 and result.interactions == 1
    assert any("cannot add users" in n for n in result.notes)
