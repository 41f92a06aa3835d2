"""Splits: seeded, per-user and temporal protocols, train/test disjoint and aligned."""

import numpy as np
import pandas as pd
import pytest

from recsys.data.dataset import build_dataset
from recsys.data.splits import SplitConfig, split_dataset


@pytest.fixture(scope="module")
def ds():
    rng = np.random.default_rng(1)
    n = 4000
    frame = pd.DataFrame({
        "user_id": [f"u{u}" for u in rng.integers(0, 200, n)],
        "item_id": [f"i{i}" for i in rng.zipf(1.5, n) % 300],
        "timestamp": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365 * 24, n),
                                                                   unit="h"),
    })
    return build_dataset(frame, name="synthetic")


def _pairs(matrix):
    m = matrix.tocoo()
    return set(zip(m.row.tolist(), m.col.tolist(), strict=True))


@pytest.mark.parametrize("method", ["random", "temporal", "time", "leave-last", "item-cold"])
def test_split_partitions_pairs(ds, method):
    split = split_dataset(ds, SplitConfig(method=method, test_frac=0.2, seed=3))
    train, test = _pairs(split.train.matrix), _pairs(split.test)
    assert train.isdisjoint(test)
    assert train | test == _pairs(ds.matrix)
    assert split.train.matrix.shape == split.test.shape == ds.matrix.shape
    assert list(split.train.item_ids) == list(ds.item_ids)


@pytest.mark.parametrize("method", ["random", "temporal", "leave-last"])
def test_per_user_splits_keep_train_history(ds, method):
    split = split_dataset(ds, SplitConfig(method=method, seed=0))
    train_counts = np.diff(split.train.matrix.indptr)
    test_counts = np.diff(split.test.indptr)
    assert (train_counts[test_counts > 0] >= 1).all()
    if method == "leave-last":
        assert test_counts.max() == 1


def test_random_split_fraction_and_seed(ds):
    a = split_dataset(ds, SplitConfig(method="random", test_frac=0.2, seed=0))
    b = split_dataset(ds, SplitConfig(method="random", test_frac=0.2, seed=0))
    c = split_dataset(ds, SplitConfig(method="random", test_frac=0.2, seed=1))
    assert _pairs(a.test) == _pairs(b.test)
    assert _pairs(a.test) != _pairs(c.test)
    assert 0.17 < a.test.nnz / ds.n_pairs < 0.23


def test_temporal_holds_out_each_users_latest(ds):
    split = split_dataset(ds, SplitConfig(method="temporal", test_frac=0.25))
    pairs = ds.pairs
    test = split.test_pairs
    last_train = (pairs.merge(test[["user", "item"]], how="left", indicator=True)
                  .query("_merge == 'left_only'").groupby("user")["timestamp"].max())
    first_test = test.groupby("user")["timestamp"].min()
    common = first_test.index.intersection(last_train.index)
    assert (first_test[common] >= last_train[common]).all()


def test_global_time_cutoff(ds):
    cutoff = pd.Timestamp("2024-10-01")
    split = split_dataset(ds, SplitConfig(method="time", cutoff=cutoff.to_pydatetime()))
    assert (split.test_pairs["timestamp"] >= cutoff).all()
    assert (split.train.pairs["timestamp"] < cutoff).all()


def test_validation_carved_from_train(ds):
    split = split_dataset(ds, SplitConfig(method="random", seed=0))
    inner = split_dataset(split.train, SplitConfig(method="random", seed=0))
    assert _pairs(inner.test).isdisjoint(_pairs(split.test))
    assert _pairs(inner.train.matrix) | _pairs(inner.test) == _pairs(split.train.matrix)


def test_temporal_needs_timestamps():
    ds = build_dataset(pd.DataFrame({"user_id": ["a", "a", "b"], "item_id": ["x", "y", "x"]}))
    with pytest.raises(ValueError, match="needs timestamps"):
        split_dataset(ds, SplitConfig(method="temporal"))


def test_option_sets_are_declared_once():
    from typing import get_args

    from recsys.data.formats import INPUT_FORMATS, InputFormat
    from recsys.data.segments import SEGMENT_LABELS, USER_SEGMENTS, UserSegment
    from recsys.data.splits import SPLIT_METHODS, SplitMethod
    from recsys.device import DEVICE_CHOICES, DeviceChoice
    from recsys.export.scopes import SCOPE_KINDS, ExportScope
    from recsys.export.writers import EXPORT_FORMATS, EXTENSIONS, ExportFormat

    assert SPLIT_METHODS == get_args(SplitMethod) == ("random", "temporal", "time", "leave-last",
                                                        "item-cold")
    assert SplitConfig.model_fields["method"].annotation == SplitMethod
    assert get_args(UserSegment) == USER_SEGMENTS and set(SEGMENT_LABELS) == set(USER_SEGMENTS)
    assert INPUT_FORMATS == get_args(InputFormat) == ("auto", "generic", "movielens", "online-retail")
    assert EXPORT_FORMATS == get_args(ExportFormat) == tuple(EXTENSIONS) == ("csv", "parquet", "json")
    assert DEVICE_CHOICES == get_args(DeviceChoice) == ("auto", "cpu", "cuda", "mps")
    assert get_args(ExportScope.model_fields["kind"].annotation) == SCOPE_KINDS


def _with_context(ds_frame: pd.DataFrame) -> object:
    """The synthetic log with ratings: values below 3 become context pairs."""
    from recsys.data.dataset import DatasetConfig

    frame = ds_frame.assign(value=np.random.default_rng(2).integers(1, 6, len(ds_frame)))
    return build_dataset(frame, name="rated", config=DatasetConfig(rating_threshold=3))


def test_item_cold_split_holds_out_whole_items(ds):
    split = split_dataset(ds, SplitConfig(method="item-cold", test_frac=0.2, seed=4,
                                          cold_item_frac=0.25))
    cold = split.cold_items
    items_with_pairs = np.flatnonzero(np.diff(ds.matrix.tocsc().indptr) > 0)
    assert cold.dtype == bool and cold.shape == (ds.n_items,)
    assert cold.sum() == round(0.25 * len(items_with_pairs))
    # every pair of a cold item is held out; none reaches training
    assert split.train.matrix[:, cold].nnz == 0
    assert split.test[:, cold].nnz == ds.matrix[:, cold].nnz
    assert split.train.popularity[cold].sum() == 0
    # a share of each user's warm pairs is held out too
    warm_test = split.test[:, ~cold].nnz
    assert 0.1 < warm_test / ds.matrix[:, ~cold].nnz < 0.3
    # seeded: same seed same items, another seed other items
    again = split_dataset(ds, SplitConfig(method="item-cold", seed=4, cold_item_frac=0.25))
    other = split_dataset(ds, SplitConfig(method="item-cold", seed=5, cold_item_frac=0.25))
    assert (again.cold_items == cold).all() and (other.cold_items != cold).any()
    # other protocols carry no cold items
    assert split_dataset(ds, SplitConfig(method="random")).cold_items is None


def test_item_cold_split_leaks_no_context_of_new_items(ds):
    rated = _with_context(ds.interactions)
    assert rated.n_context_pairs
    split = split_dataset(rated, SplitConfig(method="item-cold", seed=0))
    cold_ids = set(rated.item_ids[split.cold_items])
    assert split.train.known[:, split.cold_items].nnz == 0
    assert not set(split.train.interactions["item_id"]) & cold_ids
    assert split.train.context is None or not set(split.train.context["item_id"]) & cold_ids
    # warm context stays (nothing proves it is newer than anything)
    assert split.train.n_context_pairs > 0


def test_new_item_metrics_on_known_lists():
    import scipy.sparse as sp

    from recsys.evaluation import new_item_metrics

    cold = np.array([False, False, True, True, False])
    relevant = sp.csr_matrix(np.array([[0, 1, 1, 1, 0],    # 2 new held out, 1 hit
                                       [1, 0, 0, 0, 0]]))  # no new held out
    topk = np.array([[2, 0, 4], [3, 2, -1]])
    m = new_item_metrics(topk, relevant, cold)
    assert m["new_recall"] == pytest.approx(1 / 2)
    assert m["new_share"] == pytest.approx((1 / 3 + 2 / 3) / 2)
    assert m["new_users"] == 1
