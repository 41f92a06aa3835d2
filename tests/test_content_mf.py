"""Content MF learns: on a planted shop where a product's style (named in its title and
category) decides who buys it, it ranks held-out products and wholly new products far above
chance, beats popularity, folds a new customer in from their history, and keeps all of that
through a save and reload."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys import build_dataset
from recsys.data.splits import SplitConfig, split_dataset
from recsys.evaluation import evaluate_split
from recsys.models import create_model, load_model

STYLES = ("alpine", "baroque", "coastal", "desert", "nordic", "tropical")
WORDS = {"alpine": "wool mountain parka", "baroque": "gilded velvet mirror",
         "coastal": "linen sailor stripe", "desert": "terracotta cactus clay",
         "nordic": "birch pine candle", "tropical": "palm mango rattan"}
FAST = {"text_method": "tfidf", "epochs": 60, "factors": 16}


@pytest.fixture(scope="module")
def shop():
    """300 customers × 240 products in six styles; a customer buys mostly within one style,
    with Zipf-like popularity inside it."""
    rng = np.random.default_rng(11)
    n_items = 240
    style = np.arange(n_items) % len(STYLES)
    pop = 1.0 / (1 + rng.permutation(n_items)) ** 0.7
    rows = []
    for u in range(300):
        own = u % len(STYLES)
        p = pop * np.where(style == own, 1.0, 0.03)
        for i in rng.choice(n_items, size=12, replace=False, p=p / p.sum()):
            rows.append((f"u{u}", f"i{i}"))
    frame = pd.DataFrame(rows, columns=["user_id", "item_id"])
    catalog = pd.DataFrame({"item_id": [f"i{i}" for i in range(n_items)],
                            "title": [f"{WORDS[STYLES[s]]} no {i}" for i, s in enumerate(style)],
                            "category": [STYLES[s] for s in style]})
    return build_dataset(frame, catalog, name="planted-styles")


def test_it_ranks_new_products_by_their_content(shop):
    """(With the shift search: the default.)"""
    split = split_dataset(shop, SplitConfig(method="item-cold", cold_item_frac=0.2, seed=0))
    model = create_model("contentmf", FAST).fit(split.train, device="cpu")
    ev = evaluate_split(model, split, k=10)
    # a random list of the products holds 10 / n_items of a user's held-out new products
    chance = 10 / shop.n_items
    assert ev.summary["new_recall"] > 5 * chance, ev.summary
    pop = evaluate_split(create_model("pop").fit(split.train), split, k=10)
    assert ev.summary["recall"] > 2 * pop.summary["recall"], (ev.summary, pop.summary)


def test_it_beats_popularity_on_a_random_split_and_learns_each_epoch(shop):
    split = split_dataset(shop, SplitConfig(method="random", seed=1))
    model = create_model("contentmf", FAST).fit(split.train, device="cpu")
    ours = evaluate_split(model, split, k=10).summary["ndcg"]
    pop = evaluate_split(create_model("pop").fit(split.train), split, k=10).summary["ndcg"]
    assert ours > 1.5 * pop, (ours, pop)
    losses = [h["loss"] for h in model.history_]
    assert losses[-1] < 0.8 * losses[0]


def test_a_new_customer_is_folded_in_and_survives_a_reload(shop, tmp_path):
    from recsys.feedback.update import update_model

    model = create_model("contentmf", FAST).fit(shop, device="cpu")
    alpine = [f"i{i}" for i in range(0, 60, len(STYLES))][:4]
    feedback = pd.DataFrame({"user_id": ["newcomer"] * len(alpine), "item_id": alpine})
    before = model.recommend(np.arange(40), 10)[0]
    result = update_model(model, feedback, user_ids=shop.user_ids, item_ids=shop.item_ids)
    assert result.users_added == 1 and "fold-in" in result.method
    np.testing.assert_array_equal(model.recommend(np.arange(40), 10)[0], before)  # others kept
    newcomer = model.n_users_ - 1
    listed = model.recommend(np.array([newcomer]), 10)[0][0]
    styles = {STYLES[int(model.item_ids_[i][1:]) % len(STYLES)] for i in listed}
    assert styles == {"alpine"}, styles
    model.save(tmp_path / "m")
    again = load_model(tmp_path / "m", device="cpu")
    np.testing.assert_array_equal(again.recommend(np.array([newcomer]), 10)[0][0], listed)


def test_cold_shift_sets_how_many_new_products_are_listed(shop):
    split = split_dataset(shop, SplitConfig(method="item-cold", cold_item_frac=0.2, seed=0))
    shares = []
    for shift in (-4.0, 0.0, 4.0):
        config = {**FAST, "cold_shift": shift, "shift_search": False}
        model = create_model("contentmf", config).fit(split.train, device="cpu")
        shares.append(evaluate_split(model, split, k=10).summary["new_share"])
    assert shares[0] < shares[1] < shares[2], shares


def test_the_shift_search_gives_new_products_their_slots_where_content_decides(shop):
    """Here content decides taste, so the inner split asks for loud new products; the
    searched shift lists more of them, and more hits, than a quiet fixed one."""
    split = split_dataset(shop, SplitConfig(method="item-cold", cold_item_frac=0.2, seed=0))
    searched = create_model("contentmf", FAST).fit(split.train, device="cpu")
    assert searched.cold_shift_ >= 0.0 and "chosen on an inner item cold start" in searched.shift_note_
    quiet = create_model("contentmf", {**FAST, "cold_shift": -2.0, "shift_search": False}
                         ).fit(split.train, device="cpu")
    a, b = (evaluate_split(m, split, k=10).summary for m in (searched, quiet))
    assert a["new_share"] > b["new_share"] and a["recall"] > b["recall"], (a, b)


@pytest.mark.parametrize("mix", [0.0, 1.0])
def test_each_tower_alone_ranks_new_products_by_their_content(shop, mix):
    """``cold_mix`` 1: the main tower's content part alone; 0: the content-only tower alone.
    Both learn what a product's text says (the default scores new products by their mean)."""
    split = split_dataset(shop, SplitConfig(method="item-cold", cold_item_frac=0.2, seed=0))
    config = {**FAST, "cold_mix": mix, "cold_shift": 2.0, "shift_search": False}
    model = create_model("contentmf", config).fit(split.train, device="cpu")
    summary = evaluate_split(model, split, k=10).summary
    assert summary["new_recall"] > 5 * 10 / shop.n_items, summary
