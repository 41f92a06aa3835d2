"""Debiased training (inverse-propensity weighting, MACR) of BPR and Mult-VAE: the propensity
maths, the settings' bounds, learning on real data, a higher tail share than the plain model at
comparable accuracy, and an exact save / load round trip."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from recsys.models.bpr import BPRConfig
from recsys.models.multvae import MultVAEConfig
from recsys.models.propensity import ipw_weights, item_propensity
from tests.test_loaders import ML100K


def test_propensity_follows_popularity_and_is_clipped() -> None:
    pop = np.array([100.0, 25.0, 1.0, 0.0])
    theta = item_propensity(pop, eta=0.5, clip=0.05)
    assert theta[0] == pytest.approx(1.0)
    assert theta[1] == pytest.approx(0.5)
    assert theta[2] == pytest.approx(0.1)
    assert theta[3] == pytest.approx(0.05)            # no interactions: the clip
    assert np.all(item_propensity(pop, eta=0.0, clip=0.05)[:3] == 1.0)
    w = ipw_weights(pop, eta=0.5, clip=0.05)
    assert np.average(w, weights=pop) == pytest.approx(1.0, rel=1e-5)  # loss keeps its size
    assert w[2] > w[1] > w[0]                          # rarer items weigh more
    assert np.allclose(ipw_weights(pop, eta=0.0, clip=0.05), 1.0)


@pytest.mark.parametrize("cls", [BPRConfig, MultVAEConfig])
def test_settings_validate_bounds(cls) -> None:
    assert cls().debias == "none"
    cls(debias="ipw", debias_strength=1.0, propensity_clip=1.0)
    for bad in ({"debias": "dice"}, {"debias_strength": -0.1}, {"debias_strength": 1.5},
                {"propensity_clip": 0.0}, {"propensity_clip": 2.0}):
        with pytest.raises(ValidationError):
            cls(**bad)
    with pytest.raises(ValidationError):
        MultVAEConfig(debias="macr")                   # MACR is BPR's only
    with pytest.raises(ValidationError):
        BPRConfig(macr_weight=-1.0)


@pytest.fixture(scope="module")
def split():
    """ml-100k on the drop protocol (ratings ≥ 4, lower ones dropped, 5-core, random 80/20)."""
    if not ML100K.exists():
        pytest.skip(f"ml-100k not found at {ML100K} (shared data folder absent)")
    from recsys.data.dataset import DatasetConfig, build_dataset
    from recsys.data.formats import load_files
    from recsys.data.splits import SplitConfig, split_dataset

    r = load_files(ML100K)
    ds = build_dataset(r.interactions, r.catalog, name="ml-100k",
                       config=DatasetConfig(rating_threshold=4, kcore=5, below_threshold="drop"))
    return split_dataset(ds, SplitConfig(method="random", test_frac=0.2, seed=0))


def _measure(model, split) -> dict[str, float]:
    from recsys.evaluation import summarise

    users = split.test_users
    topk, _ = model.recommend(users, 10)
    n_train = int((np.diff(split.train.matrix.indptr) > 0).sum())
    summary, _ = summarise(topk, split.test[users], split.train.popularity, split.train.is_tail,
                           n_train)
    return summary


@pytest.fixture(scope="module")
def measured(split):
    from recsys.models import create_model

    settings = {
        "pop": ("pop", {}),
        "bpr": ("bpr", {}),
        "bpr ipw": ("bpr", {"debias": "ipw", "debias_strength": 0.25}),
        "bpr macr": ("bpr", {"debias": "macr", "debias_strength": 1.0}),
        "multvae": ("multvae", {"epochs": 20}),
        "multvae ipw": ("multvae", {"epochs": 20, "debias": "ipw", "debias_strength": 0.25}),
    }
    models = {label: create_model(name, cfg).fit(split.train, device="cpu")
              for label, (name, cfg) in settings.items()}
    return models, {label: _measure(m, split) for label, m in models.items()}


@pytest.mark.parametrize("label", ["bpr ipw", "bpr macr", "multvae ipw"])
def test_debiased_training_learns(measured, label) -> None:
    _, metrics = measured
    assert metrics[label]["ndcg"] > 1.05 * metrics["pop"]["ndcg"]


@pytest.mark.parametrize(("label", "plain"), [("bpr ipw", "bpr"), ("bpr macr", "bpr"),
                                              ("multvae ipw", "multvae")])
def test_debiased_lists_carry_more_tail_at_comparable_accuracy(measured, label, plain) -> None:
    _, metrics = measured
    assert metrics[label]["aplt"] > 1.3 * metrics[plain]["aplt"]
    assert metrics[label]["arp"] < metrics[plain]["arp"]
    assert metrics[label]["ndcg"] > 0.8 * metrics[plain]["ndcg"]


@pytest.mark.parametrize("label", ["bpr ipw", "bpr macr", "multvae ipw"])
def test_save_load_round_trip(measured, split, label, tmp_path) -> None:
    from recsys.models import load_model

    model = measured[0][label]
    users = split.test_users[:50]
    loaded = load_model(model.save(tmp_path / "m"), device="cpu")
    assert loaded.config == model.config
    np.testing.assert_allclose(np.asarray(loaded.score(users)), np.asarray(model.score(users)),
                               rtol=1e-5, atol=1e-6)
    assert np.array_equal(loaded.recommend(users, 10)[0], model.recommend(users, 10)[0])
