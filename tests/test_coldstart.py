"""Generative cold start: the generators learn, save/load, cancel, and the hybrid's generated path.

A planted shop where content determines taste: items come in groups, each group's titles share
group-specific words, and every user buys from one or two favourite groups. A fifth of the
items are held out whole (item cold start split), so a model can only rank them from their
titles. Each model trains on a few hundred items in about a second.
"""

import numpy as np
import pandas as pd
import pytest

from recsys.data.dataset import build_dataset
from recsys.data.splits import SplitConfig, split_dataset
from recsys.models import create_model, load_model

N_GROUPS, PER_GROUP, N_USERS = 8, 40, 300
WORDS = ("amber", "birch", "cobalt", "dune", "ember", "fjord", "garnet", "heath")
FILLER = ("set", "classic", "large", "small", "new", "premium", "mini", "pack")
FAST = {"text_method": "tfidf", "side_weight": 0.0, "epochs": 15}


@pytest.fixture(scope="module")
def planted():
    rng = np.random.default_rng(0)
    n_items = N_GROUPS * PER_GROUP
    group = np.repeat(np.arange(N_GROUPS), PER_GROUP)
    titles = [f"{WORDS[g]} {WORDS[g]}wood {rng.choice(FILLER)} {rng.choice(FILLER)} no {i}"
              for i, g in enumerate(group)]
    catalog = pd.DataFrame({"item_id": [f"i{i}" for i in range(n_items)], "title": titles})
    rows = []
    for u in range(N_USERS):
        liked = rng.choice(N_GROUPS, size=rng.integers(1, 3), replace=False)
        pool = np.flatnonzero(np.isin(group, liked))
        for i in rng.choice(pool, size=12, replace=False):
            rows.append((f"u{u}", f"i{i}"))
    inter = pd.DataFrame(rows, columns=["user_id", "item_id"])
    ds = build_dataset(inter, catalog, name="planted")
    split = split_dataset(ds, SplitConfig(method="item-cold", seed=0, cold_item_frac=0.2))
    return split


def _cold_recall(model, split, k: int = 10) -> tuple[float, float]:
    """Recall@k of lists drawn from the new items only, and what a random list would get."""
    cold = split.cold_items
    test = split.test[:, cold]
    users = np.flatnonzero(np.diff(test.tocsr().indptr) > 0)
    items, _ = model.recommend(users, k, allowed_items=cold)
    hits = [len(set(items[r]) & set(np.flatnonzero(cold)[test[u].indices]))
            for r, u in enumerate(users)]
    n_rel = np.diff(test.tocsr().indptr)[users]
    recall = float(np.mean(np.array(hits) / np.minimum(n_rel, k)))
    return recall, k / cold.sum()


@pytest.mark.parametrize("generator", ["mapping", "adversarial"])
def test_generator_ranks_new_items_far_above_random(planted, generator):
    model = create_model("coldstart", {**FAST, "generator": generator}).fit(planted.train,
                                                                            device="cpu")
    assert (planted.train.popularity[planted.cold_items] == 0).all()
    recall, random = _cold_recall(model, planted)
    assert recall > 3 * random, (recall, random)
    history = model.history_
    assert len(history) == FAST["epochs"]
    if generator == "mapping":  # a GAN's joint loss need not fall
        assert history[-1]["loss"] < history[0]["loss"]
    # New items reach the full lists too: the generated scores are on the warm scores' scale.
    items, _ = model.recommend(planted.test_users, 10)
    assert np.isin(items, np.flatnonzero(planted.cold_items)).mean() > 0.02


def test_save_load_round_trip_gives_the_same_scores(planted, tmp_path):
    model = create_model("coldstart", {**FAST, "epochs": 3}).fit(planted.train, device="cpu")
    users = np.arange(0, planted.train.n_users, 5)
    loaded = load_model(model.save(tmp_path / "cs"), device="cpu")
    assert loaded.config == model.config
    np.testing.assert_allclose(loaded.score(users), model.score(users), rtol=1e-5, atol=1e-6)
    assert model.generator_ and loaded.generator_.keys() == model.generator_.keys()
    for name, weights in model.generator_.items():  # what embeds products added later
        np.testing.assert_array_equal(loaded.generator_[name], weights)


def test_cancel_through_the_callback_stops_fitting(planted):
    epochs = []

    def stop_after_two(epoch, metrics):
        epochs.append(epoch)
        return epoch < 2

    model = create_model("coldstart", {**FAST, "epochs": 50}).fit(
        planted.train, device="cpu", callback=stop_after_two)
    assert epochs == [1, 2] and len(model.history_) == 2
    assert np.isfinite(model.score(np.arange(3))).all()  # what it has is still usable


def test_bad_settings_are_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="generator"):
        create_model("coldstart", {"generator": "gan"})


def test_hybrid_generated_path_ranks_new_items(planted):
    content = create_model("hybrid", {"text_method": "tfidf", "side_weight": 0.0,
                                      "cold_path": "content"}).fit(planted.train, device="cpu")
    generated = create_model("hybrid", {"text_method": "tfidf", "side_weight": 0.0,
                                        "cold_path": "generated"}).fit(planted.train,
                                                                       device="cpu")
    recall, random = _cold_recall(generated, planted)
    assert recall > 3 * random, (recall, random)
    assert generated.gen_out_.shape[1] > 0 and content.gen_out_.shape[1] == 0
    users = np.arange(0, planted.train.n_users, 7)
    assert not np.allclose(generated.score(users), content.score(users))
