"""The hybrid's cold-item scale is chosen per data set on an inner item cold start split.

Two planted shops with the same purchases (every user buys from one or two item groups): in
one the titles name the group (content determines taste), in the other they are random words
(content is noise). The scale search must give new products more weight in the first.
"""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsys.data.dataset import build_dataset
from recsys.models import create_model, load_model
from recsys.models.cold_scale import SCALES, choose_cold_scale, inner_item_cold_split

N_GROUPS, PER_GROUP, N_USERS = 8, 40, 300
WORDS = ("amber", "birch", "cobalt", "dune", "ember", "fjord", "garnet", "heath")
NOISE = tuple(f"w{i}" for i in range(40))
FAST = {"text_method": "tfidf", "side_weight": 0.0, "cold_path": "content"}


def _shop(content_is_taste: bool):
    rng = np.random.default_rng(0)
    n_items = N_GROUPS * PER_GROUP
    group = np.repeat(np.arange(N_GROUPS), PER_GROUP)
    rows = []
    for u in range(N_USERS):
        liked = rng.choice(N_GROUPS, size=rng.integers(1, 3), replace=False)
        for i in rng.choice(np.flatnonzero(np.isin(group, liked)), size=12, replace=False):
            rows.append((f"u{u}", f"i{i}"))
    words = rng.choice(NOISE, size=(n_items, 2))
    titles = [f"{WORDS[g]} {WORDS[g]}wood no {i}" if content_is_taste
              else f"{words[i, 0]} {words[i, 1]} no {i}" for i, g in enumerate(group)]
    catalog = pd.DataFrame({"item_id": [f"i{i}" for i in range(n_items)], "title": titles})
    return build_dataset(pd.DataFrame(rows, columns=["user_id", "item_id"]), catalog,
                         name="planted")


@pytest.fixture(scope="module")
def fitted():
    return {taste: create_model("hybrid", FAST).fit(_shop(taste), device="cpu")
            for taste in (True, False)}


def test_scale_search_gives_new_products_more_weight_where_content_is_taste(fitted):
    taste, noise = fitted[True], fitted[False]
    assert taste.cold_scale_ in SCALES and noise.cold_scale_ in SCALES
    assert taste.cold_scale_ > noise.cold_scale_, (taste.scale_note_, noise.scale_note_)
    assert "inner item cold start split" in taste.scale_note_


def test_the_chosen_scale_is_applied_and_saved(fitted, tmp_path):
    model = fitted[False]
    plain = create_model("hybrid", {**FAST, "scale_search": False}).fit(_shop(False),
                                                                        device="cpu")
    assert plain.cold_scale_ == 1.0 and plain.scale_note_ == ""
    np.testing.assert_allclose(model.content_out_, plain.content_out_ * model.cold_scale_,
                               rtol=1e-5, atol=1e-7)
    model.save(tmp_path / "m")
    again = load_model(tmp_path / "m")
    assert again.cold_scale_ == model.cold_scale_ and again.scale_note_ == model.scale_note_
    users = np.arange(0, N_USERS, 11)
    np.testing.assert_allclose(again.score(users), model.score(users), rtol=1e-5, atol=1e-6)


def test_inner_split_hides_whole_items_and_keeps_the_rest_apart():
    rng = np.random.default_rng(3)
    x = sp.random(200, 100, density=0.1, random_state=3, format="csr")
    train, test = inner_item_cold_split(x, seed=rng.integers(100))
    assert (train.multiply(test)).nnz == 0 and train.nnz + test.nnz == (x > 0).sum()
    hidden = (np.diff(train.tocsc().indptr) == 0) & (np.diff(test.tocsc().indptr) > 0)
    assert 0.15 * 100 <= hidden.sum() <= 0.25 * 100


def test_too_small_a_matrix_keeps_scale_one():
    x = sp.csr_matrix(np.eye(3, dtype=np.float32))
    choice = choose_cold_scale(x, lambda train: None)  # type: ignore[arg-type, return-value]
    assert choice.scale == 1.0 and choice.recall == {}


def test_a_catalog_smaller_than_the_list_is_searched_without_error():
    """Nine products, lists of ten: the search ranks what there is."""
    rng = np.random.default_rng(0)
    x = sp.csr_matrix((rng.random((40, 9)) < 0.5).astype(np.float32))

    def parts(train):
        return lambda users: (np.asarray(train[users].sum(axis=0).repeat(len(users), 0),
                                         dtype=np.float32), np.zeros((len(users), 9), np.float32))

    choice = choose_cold_scale(x, parts)  # type: ignore[arg-type]
    assert set(choice.recall) == set(SCALES) and "Recall@9" in choice.note


def _launch_shop(n_users: int = N_USERS, n_late: int = 100):
    """``n_users`` users buying over 100 days from 100 products sold from the start and
    ``n_late`` launched at an even pace from day 50 on; a user buys one of the ten latest
    launches a third of the time."""
    rng = np.random.default_rng(4)
    launch = np.concatenate([np.zeros(100), 50 + 50 * np.arange(n_late) / n_late])
    rows = []
    for u in range(n_users):
        for d in np.sort(rng.uniform(0, 100, size=10)):
            launched = np.flatnonzero((launch > 0) & (launch <= d))
            late = len(launched) and rng.random() < 0.35
            item = rng.choice(launched[-10:]) if late else rng.integers(0, 100)
            rows.append((f"u{u}", f"i{item}", pd.Timestamp("2025-01-01") + pd.Timedelta(days=d)))
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).drop_duplicates(
        ["user_id", "item_id"])
    catalog = pd.DataFrame({"item_id": [f"i{i}" for i in range(len(launch))],
                            "title": [f"product {i}" for i in range(len(launch))]})
    return build_dataset(frame, catalog, name="launches")


@pytest.mark.parametrize("carve", ["temporal", "leave-last", "random", "item-cold"])
def test_the_check_is_carved_in_time_only_where_the_training_data_was(carve):
    """A temporal carve: held out = each user's latest pairs, and the new products of the check
    are the ones first sold there (late launches); other carves hide warm products at random."""
    from recsys.data.splits import SplitConfig, split_dataset
    from recsys.models.cold_scale import cold_check_split

    train = split_dataset(_launch_shop(), SplitConfig(method=carve, seed=0)).train
    x = sp.csr_matrix(train.matrix > 0, dtype=np.float32)
    (inner_train, inner_test), how = cold_check_split(train, x, seed=0)
    assert how == ("temporal" if carve in ("temporal", "leave-last") else "item-cold")
    assert inner_train.shape == inner_test.shape == x.shape
    assert (inner_train + inner_test != x).nnz == 0  # a partition of the training pairs
    new = (np.diff(inner_train.tocsc().indptr) == 0) & (np.diff(inner_test.tocsc().indptr) > 0)
    launched_late = np.array([int(i[1:]) >= 100 for i in train.item_ids])
    if how == "temporal":  # mostly the latest launches
        assert new.sum() >= 20 and new[launched_late].sum() > 5 * new[~launched_late].sum()
    else:  # warm products hidden at random, the older ones too
        assert new[~launched_late].sum() > 0.25 * new.sum()
    # without the record (e.g. a model trained on all the data) the check is item cold start
    assert cold_check_split(None, x, seed=0)[1] == "item-cold"


@pytest.mark.parametrize("name", ["contentmf", "hybrid"])
def test_the_models_check_their_loudness_as_their_training_data_was_carved(name):
    from recsys.data.splits import SplitConfig, split_dataset

    config = ({"text_method": "tfidf", "epochs": 20, "factors": 8} if name == "contentmf"
              else FAST)
    shop = _launch_shop()
    notes = {}
    for carve in ("temporal", "random"):
        train = split_dataset(shop, SplitConfig(method=carve, seed=0)).train
        model = create_model(name, config).fit(train, device="cpu")
        notes[carve] = model.fitted_notes()["new products"]
    assert "chosen on an inner temporal split" in notes["temporal"], notes
    assert "chosen on an inner item cold start split" in notes["random"], notes


def test_early_stopping_pairs_and_the_check_follow_a_temporal_protocol():
    """The training job (Train page) stops epoch-trained models on pairs carved as its split
    was: each user's latest ones under a temporal split, so content MF's check is carved in
    time there too; a random split keeps random early-stopping pairs. (Launches twice as
    often: three carves in time must leave the check its 20 new products.)"""
    from recsys.data.splits import SplitConfig, split_dataset, validation_split
    from recsys.jobs import train_models

    shop = _launch_shop(n_late=200)
    for carve, expected in (("temporal", "temporal"), ("leave-last", "temporal"),
                            ("random", "random"), ("item-cold", "random")):
        train = split_dataset(shop, SplitConfig(method=carve, seed=0)).train
        assert validation_split(train, 0.1, seed=0).config.method == expected, carve
    job = train_models(shop, {"contentmf": {"text_method": "tfidf", "epochs": 20, "factors": 8}},
                       split=SplitConfig(method="temporal"))
    assert job.status == "done", job.message
    note = job.runs[0].results.notes["new products"]
    assert "chosen on an inner temporal split" in note, note
