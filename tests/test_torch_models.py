"""The PyTorch recommenders (BPR, NeuMF, Mult-VAE, content MF) and their shared training loop."""

import math

import numpy as np
import pytest
import torch

from recsys.data.dataset import build_dataset
from recsys.data.demo import generate_demo_shop
from recsys.data.formats import demo_dataset
from recsys.data.splits import SplitConfig, split_dataset
from recsys.evaluation import evaluate_split, validation_metrics
from recsys.models import FitStopped, create_model
from recsys.models.training import PairSampler, make_generator

TORCH_MODELS = ("bpr", "neumf", "multvae", "contentmf")
EPOCH_KEYS = {"epoch", "loss", "examples_per_s", "seconds", "val_ndcg", "val_recall", "val_aplt"}

# Modest settings that still learn the demo shop well (a few seconds each on a laptop CPU).
DEMO = {
    "bpr": {"epochs": 15},
    "neumf": {"epochs": 10, "negatives": 4, "lr": 0.02},
    "multvae": {"epochs": 12, "encoder": (200, 64), "batch_size": 128},
    "contentmf": {"epochs": 15, "text_method": "tfidf", "shift_search": False},
}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Small models on a small, shared CPU: one intra-op thread avoids OpenMP spin-waits when another
    process holds the second core (10x slowdowns seen); restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def demo_split():
    return split_dataset(demo_dataset(), SplitConfig(method="random", seed=0))


@pytest.fixture(scope="module")
def small():
    """A small shop, its train part split again into fit + validation."""
    shop = generate_demo_shop(seed=5, n_items=400, n_users=300)
    ds = build_dataset(shop.interactions, shop.catalog, users=shop.users, name="small")
    outer = split_dataset(ds, SplitConfig(method="random", seed=0))
    return split_dataset(outer.train, SplitConfig(method="random", seed=1))


@pytest.mark.parametrize("name", TORCH_MODELS)
def test_beats_popularity_on_the_demo_shop(name, demo_split):
    pop = evaluate_split(create_model("pop").fit(demo_split.train, device="cpu"), demo_split).summary
    model = create_model(name, DEMO[name]).fit(demo_split.train, device="cpu")
    ours = evaluate_split(model, demo_split).summary
    assert ours["ndcg"] > 1.5 * pop["ndcg"], (ours["ndcg"], pop["ndcg"])
    assert ours["coverage"] > pop["coverage"]
    assert len(model.history_) == DEMO[name]["epochs"]
    assert model.history_[-1]["loss"] < model.history_[0]["loss"]


@pytest.mark.parametrize("name", TORCH_MODELS)
def test_callback_gets_metrics_and_can_cancel(name, small):
    calls = []

    def callback(epoch, metrics):
        calls.append((epoch, metrics))
        return epoch < 2  # False after the second epoch: cancel

    model = create_model(name, {"epochs": 50, "patience": 50, "eval_every": 1}).fit(
        small.train, device="cpu", callback=callback, validation=small.test)
    assert [e for e, _ in calls] == [1, 2]
    for _, metrics in calls:
        assert set(metrics) >= EPOCH_KEYS
        assert all(math.isfinite(v) for v in metrics.values())
        assert metrics["examples_per_s"] > 0 and metrics["seconds"] > 0
    assert len(model.history_) == 2
    items, vals = model.recommend(np.arange(10), n=5)  # still usable
    assert items.shape == (10, 5) and (items >= 0).all() and np.isfinite(vals).all()


def test_fit_stopped_from_the_callback_stops_cleanly(small):
    def callback(epoch, metrics):
        raise FitStopped

    model = create_model("bpr", {"epochs": 10}).fit(small.train, device="cpu", callback=callback)
    assert len(model.history_) == 1
    assert np.isfinite(model.recommend(np.arange(5), n=3)[1]).all()


def test_early_stopping_restores_the_best_epoch(small):
    # A large learning rate and no regularisation overfit quickly; patience 1 stops at the first drop.
    model = create_model("bpr", {"epochs": 60, "patience": 1, "lr": 0.1, "l2": 0.0}).fit(
        small.train, device="cpu", validation=small.test)
    val = [h["val_ndcg"] for h in model.history_]
    assert len(val) < 60, "early stopping did not trigger"
    assert val[-1] <= max(val[:-1]) and model.best_epoch_ == int(np.argmax(val)) + 1 < len(val)
    again = validation_metrics(model, small.train, small.test)["val_ndcg"]
    assert again == pytest.approx(max(val)), "the best weights were not restored"


def test_eval_every_validates_only_some_epochs(small):
    model = create_model("bpr", {"epochs": 5, "eval_every": 2}).fit(small.train, device="cpu",
                                                                    validation=small.test)
    assert ["val_ndcg" in h for h in model.history_] == [False, True, False, True, True]


@pytest.mark.parametrize("name", TORCH_MODELS)
def test_users_without_history_get_finite_scores(name, small):
    train = small.train
    ghost = build_dataset(train.interactions, train.catalog, user_ids=np.append(train.user_ids, "ghost-user"),
                          item_ids=train.item_ids)
    model = create_model(name, {"epochs": 2}).fit(ghost, device="cpu")
    scores = model.score(np.array([ghost.n_users - 1, 0]))
    scores = scores if isinstance(scores, np.ndarray) else scores.cpu().numpy()
    assert scores.dtype == np.float32 and scores.shape == (2, ghost.n_items)
    assert np.isfinite(scores).all()


def test_neumf_all_item_scores_match_pair_scores(small, monkeypatch):
    from recsys.models import neumf

    model = create_model("neumf", {"epochs": 1}).fit(small.train, device="cpu")
    users = torch.arange(7)
    items = torch.arange(small.train.n_items)[None, :].expand(7, -1)
    monkeypatch.setattr(neumf, "SCORE_CHUNK_ELEMENTS", 1)  # one user per chunk
    with torch.no_grad():
        full, pairs = model.score(users.numpy()), model.net_.pair_scores(users, items)
    torch.testing.assert_close(full, pairs, rtol=1e-5, atol=1e-5)


def test_negatives_avoid_positives():
    dense = np.random.default_rng(0).random((50, 20)) < 0.5
    import scipy.sparse as sp

    sampler = PairSampler(sp.csr_matrix(dense.astype(np.float32)), torch.device("cpu"))
    gen = make_generator(0)
    users, _, neg = next(sampler.epoch(10_000, 8, gen))
    hit = dense[users.numpy()[:, None], neg.numpy()]
    assert hit.mean() < 0.5**3 + 0.03  # uniform draws would hit half the time
    again = next(sampler.epoch(10_000, 8, make_generator(0)))[2]
    assert torch.equal(neg, again)  # seeded


@pytest.mark.parametrize(("name", "config"), [
    ("bpr", {"factors": 0}), ("bpr", {"lr": 0.0}), ("bpr", {"epochs": 10**6}), ("bpr", {"factor": 8}),
    ("bpr", {"patience": 0}), ("neumf", {"mlp_layers": (63, 16)}), ("neumf", {"mlp_layers": (64,)}),
    ("neumf", {"loss": "mse"}), ("neumf", {"negatives": 0}), ("multvae", {"dropout": 1.0}),
    ("multvae", {"encoder": ()}), ("multvae", {"beta": -1}), ("multvae", {"anneal": 10}),
])
def test_config_refuses_bad_values_and_typos(name, config):
    with pytest.raises(ValueError):
        create_model(name, config)


def test_configs_are_frozen_and_round_trip():
    model = create_model("neumf", {"mlp_layers": [32, 16, 8]})
    assert model.config.mlp_layers == (32, 16, 8)
    with pytest.raises(ValueError):
        model.config.lr = 0.5
    dumped = model.config.model_dump(mode="json")
    assert type(model.config)(**dumped) == model.config
