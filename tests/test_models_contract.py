"""One contract test run over every model in the registry (the 'base test mixin')."""

import numpy as np
import pytest

from recsys.data.dataset import build_dataset
from recsys.data.demo import generate_demo_shop
from recsys.data.splits import SplitConfig, split_dataset
from recsys.models import available_models, create_model, load_model

# Small but real settings so the whole contract runs in seconds per model.
FAST = {
    "bpr": {"epochs": 3}, "neumf": {"epochs": 2}, "deepfm": {"epochs": 2},
    "multvae": {"epochs": 3}, "sasrec": {"epochs": 3},
    "hybrid": {}, "coldstart": {"epochs": 3},
    "contentmf": {"epochs": 5, "text_method": "tfidf"}, "auto": {"time_budget_s": 600},  # budget never binds
}


@pytest.fixture(scope="module")
def tiny():
    shop = generate_demo_shop(seed=3, n_items=300, n_users=200)
    ds = build_dataset(shop.interactions, shop.catalog, users=shop.users, name="tiny")
    return split_dataset(ds, SplitConfig(method="random", seed=0))


def _fit(name, split, seed=0):
    return create_model(name, {**FAST.get(name, {}), "seed": seed}).fit(split.train, device="cpu")


@pytest.mark.parametrize("name", available_models())
def test_contract(name, tiny, tmp_path):
    split = tiny
    model = _fit(name, split)
    assert model.n_items_ == split.train.n_items
    users = np.arange(0, split.train.n_users, 7)
    scores = model.score(users)
    scores = scores if isinstance(scores, np.ndarray) else scores.float().cpu().numpy()
    assert scores.shape == (len(users), split.train.n_items)
    assert np.isfinite(scores).all()

    items, vals = model.recommend(users, n=10)
    assert items.shape == (len(users), 10)
    seen = split.train.matrix[users]
    for row, user_items in enumerate(items):
        assert not set(user_items[user_items >= 0]) & set(seen[row].indices), "seen item listed"
    assert (np.diff(vals, axis=1) <= 1e-6).all(), "lists must be sorted by score"

    again = _fit(name, split)  # deterministic with a seed
    np.testing.assert_array_equal(again.recommend(users, n=10)[0], items)

    folder = model.save(tmp_path / name)
    loaded = load_model(folder, device="cpu")
    assert type(loaded) is type(model) and loaded.config == model.config
    reloaded = loaded.score(users)
    reloaded = reloaded if isinstance(reloaded, np.ndarray) else reloaded.float().cpu().numpy()
    np.testing.assert_allclose(reloaded, scores, rtol=1e-5, atol=1e-6)


def test_unknown_model_and_config_typos():
    with pytest.raises(ValueError, match="Unknown model"):
        create_model("nope")
    with pytest.raises(ValueError):
        create_model("ease", {"l3": 1.0})


def test_iterative_models_are_the_ones_trained_in_epochs():
    from recsys.models import get_model_class

    for name in available_models():
        cls = get_model_class(name)
        assert cls.iterative == ("epochs" in cls.config_cls.model_fields), name
    assert {"bpr", "neumf", "deepfm", "multvae"} <= {n for n in available_models()
                                                   if get_model_class(n).iterative}
