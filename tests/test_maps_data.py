"""Synthetic shops with planted clusters, shared by the map tests (no tests of its own)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys import Dataset, build_dataset

#: Distinctive title words per planted cluster; clusters 4 and 5 are the tail-heavy ones.
CLUSTER_WORDS: tuple[tuple[str, ...], ...] = (
    ("lantern", "candle", "wick"), ("teapot", "kettle", "infuser"),
    ("backpack", "rucksack", "strap"), ("puzzle", "jigsaw", "pieces"),
    ("terrarium", "succulent", "moss"), ("harmonica", "ukulele", "kazoo"),
)
TAIL_CLUSTERS = (4, 5)
GENERIC = ("classic", "deluxe", "small", "large", "blue", "green", "vintage", "modern")


def planted_shop(per_cluster: int = 60, n_users: int = 400, seed: int = 0) -> tuple[Dataset, np.ndarray]:
    """A shop whose items fall into :data:`CLUSTER_WORDS` groups (returned as planted labels).

    Items of the first four groups are bought often; items of :data:`TAIL_CLUSTERS` rarely (at
    most one buyer each), so those groups are made of tail items with little exposure.
    """
    rng = np.random.default_rng(seed)
    rows, planted = [], []
    for c, words in enumerate(CLUSTER_WORDS):
        for j in range(per_cluster):
            picked = rng.choice(words, size=2, replace=False)
            generic = rng.choice(GENERIC)
            rows.append({"item_id": f"I{c}{j:03d}", "title": f"{generic} {picked[0]} {picked[1]}",
                         "category": f"cat-{c % 3}", "price": float(5 + c + j % 7)})
            planted.append(c)
    catalog = pd.DataFrame(rows)
    planted = np.asarray(planted)
    inter = []
    head_items = np.flatnonzero(~np.isin(planted, TAIL_CLUSTERS))
    tail_items = np.flatnonzero(np.isin(planted, TAIL_CLUSTERS))
    weights = rng.pareto(1.2, size=len(head_items)) + 1.0
    weights /= weights.sum()
    for u in range(n_users):
        for i in rng.choice(head_items, size=12, replace=False, p=weights):
            inter.append((f"U{u}", catalog.item_id[i]))
    for i in tail_items[rng.random(len(tail_items)) < 0.6]:  # some tail items never sold
        inter.append((f"U{rng.integers(n_users)}", catalog.item_id[i]))
    interactions = pd.DataFrame(inter, columns=["user_id", "item_id"])
    ds = build_dataset(interactions, catalog, name="planted")
    order = pd.Index(catalog["item_id"]).get_indexer(ds.item_ids)
    return ds, planted[order]


def write_shop_files(folder, per_cluster: int = 30) -> tuple[str, str]:
    """The planted shop as ``interactions.csv`` and ``catalog.csv`` (paths returned)."""
    ds, _ = planted_shop(per_cluster=per_cluster, n_users=150)
    inter = folder / "interactions.csv"
    cat = folder / "catalog.csv"
    ds.interactions[["user_id", "item_id"]].to_csv(inter, index=False)
    ds.catalog[["item_id", "title", "category", "price"]].to_csv(cat, index=False)
    return str(inter), str(cat)
