"""Dataset: vocabularies, matrix, popularity, head/mid/tail, filters, fingerprint, immutability."""

import numpy as np
import pandas as pd
import pytest

from recsys.data.dataset import DatasetConfig, build_dataset, kcore_filter, segment_items


def _frame(rows):
    return pd.DataFrame(rows, columns=["user_id", "item_id", "value"])


@pytest.fixture()
def small():
    rows = [("u1", "a", 5), ("u1", "b", 3), ("u2", "a", 4), ("u2", "c", 2), ("u3", "a", 5),
            ("u3", "b", 4), ("u3", "a", 1)]
    catalog = pd.DataFrame({"item_id": ["a", "b", "c", "z"], "title": ["A", "B", "C", "Zed"],
                            "colour": ["red", "blue", "red", "green"]})
    return _frame(rows), catalog


def test_vocab_matrix_and_popularity(small):
    inter, catalog = small
    ds = build_dataset(inter, catalog, name="t")
    assert list(ds.user_ids) == ["u1", "u2", "u3"]
    assert list(ds.item_ids) == ["a", "b", "c", "z"]  # cold catalog item kept
    assert ds.matrix.shape == (3, 4)
    assert ds.n_interactions == 7 and ds.n_pairs == 6  # u3 bought 'a' twice
    assert ds.matrix[2, 0] == 2.0  # event count in the matrix
    assert list(ds.popularity) == [3, 2, 1, 0]  # distinct users per item
    assert list(ds.catalog["title"]) == ["A", "B", "C", "Zed"]
    assert "colour" in ds.catalog.columns  # extra catalog columns kept
    assert ds.summary()["cold_items"] == 1


def test_arrays_are_read_only(small):
    ds = build_dataset(*small)
    with pytest.raises(ValueError):
        ds.popularity[0] = 99
    with pytest.raises(ValueError):
        ds.item_ids[0] = "x"
    with pytest.raises(AttributeError):
        ds.name = "other"  # frozen dataclass


def test_segments_follow_cumulative_share():
    pop = np.array([50, 30, 10, 5, 3, 2, 0])
    labels = segment_items(pop, head_share=0.8, mid_share=0.95)
    # 50 covers 0-50 %, 30 covers 50-80 % (starts before 80 %) -> head; 10 starts at 80 % -> mid
    assert list(labels) == ["head", "head", "mid", "mid", "tail", "tail", "tail"]
    assert list(segment_items(pop, head_share=0.5, mid_share=0.5)[:2]) == ["head", "tail"]


def test_head_share_is_configurable(small):
    inter, catalog = small
    narrow = build_dataset(inter, catalog, config=DatasetConfig(head_share=0.3, mid_share=0.6))
    wide = build_dataset(inter, catalog, config=DatasetConfig(head_share=0.9, mid_share=0.95))
    assert narrow.is_tail.sum() > wide.is_tail.sum()
    assert narrow.fingerprint != wide.fingerprint


def test_config_bounds():
    with pytest.raises(ValueError):
        DatasetConfig(head_share=1.5)
    with pytest.raises(ValueError):
        DatasetConfig(head_share=0.9, mid_share=0.5)
    with pytest.raises(ValueError):
        DatasetConfig(kcore=-1)
    with pytest.raises(ValueError):
        DatasetConfig(head_sahre=0.8)  # typos are refused, not swallowed


def test_rating_threshold(small):
    inter, catalog = small
    ds = build_dataset(inter, catalog, config=DatasetConfig(rating_threshold=4))
    assert (ds.interactions["value"] >= 4).all()
    assert ds.n_interactions == 4


def test_kcore_is_iterative():
    users = np.array([0, 0, 1, 1, 2, 2, 3])
    items = np.array([0, 1, 0, 1, 0, 2, 2])
    keep = kcore_filter(users, items, 2)
    # item 2 has users 2 and 3; user 3 has only one pair -> dropped -> item 2 drops -> user 2
    # keeps only item 0 -> dropped.
    assert list(keep) == [True, True, True, True, False, False, False]


def test_kcore_in_build(small):
    inter, catalog = small
    ds = build_dataset(inter, catalog, config=DatasetConfig(kcore=2))
    counts_u = np.diff(ds.matrix.indptr)
    counts_i = np.diff(ds.matrix.tocsc().indptr)
    assert (counts_u >= 2).all() and (counts_i >= 2).all()
    assert "z" not in set(ds.item_ids)  # cold items cannot satisfy a k-core


def test_fingerprint_is_content_based(small):
    inter, catalog = small
    a = build_dataset(inter, catalog, name="a")
    b = build_dataset(inter.copy(), catalog.copy(), name="b")
    assert a.fingerprint == b.fingerprint
    changed = inter.copy()
    changed.loc[0, "value"] = 1
    assert build_dataset(changed, catalog).fingerprint != a.fingerprint


def test_without_catalog_titles_default_to_ids(small):
    inter, _ = small
    ds = build_dataset(inter)
    assert list(ds.catalog["title"]) == list(ds.item_ids)


def test_fixed_vocabulary_drops_unknown_ids(small):
    inter, catalog = small
    ds = build_dataset(inter, catalog, user_ids=np.array(["u1", "u2"], dtype=object),
                       item_ids=np.array(["a", "b", "c"], dtype=object))
    assert ds.matrix.shape == (2, 3)
    assert set(ds.interactions["user_id"]) == {"u1", "u2"}


def test_pairs_aggregate_events():
    inter = pd.DataFrame({"user_id": ["u", "u", "v"], "item_id": ["a", "a", "a"],
                          "timestamp": pd.to_datetime(["2024-02-01", "2024-01-01", "2024-03-01"]),
                          "value": [1.0, 2.0, 1.0]})
    pairs = build_dataset(inter).pairs
    first = pairs.iloc[0]
    assert first["count"] == 2 and first["value"] == 3.0
    assert first["timestamp"] == pd.Timestamp("2024-01-01")


def test_item_and_user_positions(small):
    inter, catalog = small
    ds = build_dataset(inter, catalog)
    ids = ["c", "no-such-item", "a"]
    drop = ds.item_positions(ids)  # unknown ids left out
    assert drop.dtype == np.int64 and drop.tolist() == [2, 0]
    neg = ds.item_positions(ids, missing="negative")  # one entry per id, -1 when unknown
    assert neg.dtype == np.int64 and neg.tolist() == [2, -1, 0]
    assert ds.item_positions(pd.Series(ds.item_ids)).tolist() == list(range(ds.n_items))
    assert ds.item_positions(np.array(["z", "b"], dtype=object)).tolist() == [3, 1]
    empty = ds.item_positions([])
    assert empty.tolist() == [] and empty.dtype == np.int64
    assert ds.user_positions(iter(["u3", "nobody"]), missing="negative").tolist() == [2, -1]
    assert ds.user_positions(inter["user_id"]).tolist() == [0, 0, 1, 1, 2, 2, 2]
    with pytest.raises(ValueError, match="missing"):
        ds.item_positions(ids, missing="keep")
