"""Incremental epochs of an online update (``update_model(..., epochs=N)``): the torch models
continue their own training loop on the affected users' histories mixed with replayed ones.
The new pairs climb in the affected users' rankings beyond what the fold-in alone gives, the
held-out purchases of those users are still found, the update is seeded, a cancel stops it,
and the method says that everyone's lists may move (with ``epochs=0`` they do not:
:mod:`tests.test_update`)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from recsys import build_dataset
from recsys.feedback.update import update_model
from recsys.models import create_model

CONFIGS = {"bpr": {"epochs": 8, "factors": 16},
           "neumf": {"epochs": 4, "factors": 8, "mlp_layers": (16, 8)},
           "deepfm": {"epochs": 3, "factors": 8, "use_text": False},
           "multvae": {"epochs": 5, "encoder": (64, 16)},
           "sasrec": {"epochs": 3, "dim": 16, "max_len": 10}}
AFFECTED = [f"u{u}" for u in range(0, 200, 5)]  # 40 of the 200 customers


@pytest.fixture(scope="module")
def shop():
    """200 customers × 60 products (users buy near their own index), and for 40 of them a
    held-out half of a second taste: the items of the customer 100 places away, which the
    update feeds (``feed``) and then asks for (``held``)."""
    rng = np.random.default_rng(5)
    users = rng.integers(0, 200, 2500)
    items = (users // 4 + rng.integers(0, 10, 2500)) % 60
    frame = pd.DataFrame({"user_id": [f"u{u}" for u in users],
                          "item_id": [f"i{i}" for i in items],
                          "timestamp": pd.Timestamp("2024-01-01")
                          + pd.to_timedelta(rng.integers(0, 90, 2500), unit="D")})
    ds = build_dataset(frame, name="shop")
    feed, held = [], []
    known = set(ds.item_ids)
    for user in AFFECTED:
        have = set(frame.loc[frame["user_id"] == user, "item_id"])
        far = [f"i{(int(user[1:]) // 4 + 25 + k) % 60}" for k in range(10)]
        far = [i for i in far if i not in have and i in known]
        feed += [(user, i) for i in far[::2]]
        held += [(user, i) for i in far[1::2]]
    columns = ["user_id", "item_id"]
    return ds, pd.DataFrame(feed, columns=columns), pd.DataFrame(held, columns=columns)


@pytest.fixture(scope="module")
def fitted(shop):
    ds = shop[0]
    return {name: create_model(name, cfg).fit(ds, device="cpu") for name, cfg in CONFIGS.items()}


def _positions(model, ds, pairs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """User and item positions of ``pairs`` in the model's (updated) vocabulary."""
    users = model.user_ids_ if model.user_ids_ is not None else ds.user_ids
    items = model.item_ids_ if model.item_ids_ is not None else ds.item_ids
    return (pd.Index(users).get_indexer(pairs["user_id"]),
            pd.Index(items).get_indexer(pairs["item_id"]))


def _rank_of(model, ds, pairs: pd.DataFrame) -> float:
    """Mean rank (0 = top) of ``pairs``' items among all items for their users."""
    users, items = _positions(model, ds, pairs)
    assert (users >= 0).all() and (items >= 0).all()
    scores = model.score(users)
    scores = np.asarray(scores.cpu() if hasattr(scores, "cpu") else scores, dtype=np.float64)
    mine = scores[np.arange(len(users)), items]
    return float((scores > mine[:, None]).sum(1).mean())


def _hits(model, ds, held: pd.DataFrame) -> float:
    """Share of the held-out pairs found in their user's top 10."""
    users, items = _positions(model, ds, held)
    lists, _ = model.recommend(users, 10)
    return float(np.mean([i in row for i, row in zip(items, lists, strict=True)]))


@pytest.mark.parametrize("name", list(CONFIGS))
def test_epochs_learn_the_new_pairs_without_forgetting(shop, fitted, name):
    ds, feed, held = shop
    folded, trained = copy.deepcopy(fitted[name]), copy.deepcopy(fitted[name])
    update_model(folded, feed, user_ids=ds.user_ids, item_ids=ds.item_ids, epochs=0)
    result = update_model(trained, feed, user_ids=ds.user_ids, item_ids=ds.item_ids, epochs=3)
    assert "3 warm epochs" in result.method and "other users' lists may change" in result.method
    assert trained.history_ == fitted[name].history_  # the fit's own history is kept
    # the fed items climb in the affected users' rankings beyond the fold-in alone
    assert _rank_of(trained, ds, feed) < _rank_of(folded, ds, feed), name
    # the held-out half of the new taste is found about as often (no collapse), and most of
    # everyone's lists stay as the fit made them (the old tastes are not forgotten)
    assert _hits(trained, ds, held) >= 0.75 * _hits(folded, ds, held), name
    everyone = np.arange(ds.n_users)
    old_lists = fitted[name].recommend(everyone, 10)[0]
    same = np.mean([len(set(a) & set(b)) / 10 for a, b in
                    zip(trained.recommend(everyone, 10)[0], old_lists, strict=True)])
    assert same > 0.5, name


def test_epochs_are_seeded_and_a_cancel_stops_them(shop, fitted):
    ds, feed, _ = shop
    one, two, stopped = (copy.deepcopy(fitted["bpr"]) for _ in range(3))
    for model in (one, two):
        update_model(model, feed, user_ids=ds.user_ids, item_ids=ds.item_ids, epochs=2)
    users = np.arange(ds.n_users)
    np.testing.assert_array_equal(one.recommend(users, 10)[0], two.recommend(users, 10)[0])
    seen: list[int] = []
    result = update_model(stopped, feed, user_ids=ds.user_ids, item_ids=ds.item_ids, epochs=5,
                          callback=lambda epoch, metrics: seen.append(epoch) or False)
    assert seen == [1] and "1 warm epoch " in result.method


def test_new_users_and_items_of_neumf_get_trained_vectors(shop, fitted):
    ds, _, _ = shop
    model = copy.deepcopy(fitted["neumf"])
    feedback = pd.DataFrame({"user_id": ["newcomer"] * 3 + ["u7"],
                             "item_id": ["i1", "i2", "brand-new", "brand-new"]})
    result = update_model(model, feedback, user_ids=ds.user_ids, item_ids=ds.item_ids, epochs=2)
    assert result.users_added == 1 and result.items_added == 1
    assert any("vectors learned" in n for n in result.notes)
    net = model.net_
    assert float(net.gmf_user[-1].detach().abs().sum()) > 0
    assert float(net.gmf_item[-1].detach().abs().sum()) > 0
    lists, scores = model.recommend(np.array([ds.n_users]), 10)
    assert (lists >= 0).all() and np.isfinite(scores).all()
    assert not set(lists[0]) & {*ds.item_positions(["i1", "i2"]), ds.n_items}


def test_other_models_ignore_epochs_and_say_so(shop):
    ds, feed, _ = shop
    ease = create_model("ease").fit(ds, device="cpu")
    result = update_model(ease, feed, user_ids=ds.user_ids, item_ids=ds.item_ids, epochs=2)
    assert any("epochs ignored" in n for n in result.notes)
    quiet = update_model(create_model("ease").fit(ds, device="cpu"), feed, user_ids=ds.user_ids,
                         item_ids=ds.item_ids)
    assert not any("epochs" in n for n in quiet.notes)  # not asked for: nothing to say
    with pytest.raises(ValueError, match="epochs"):
        ease.update(ease.seen_, epochs=-1)
