"""Long-tail profile functions, checked on hand-computed cases and on the demo shop."""

import numpy as np
import pandas as pd
import pytest

from recsys.data.dataset import build_dataset
from recsys.data.profile import (
    item_table,
    lorenz_curve,
    profile_summary,
    segment_stats,
    segment_table,
    tail_share_by,
)
from recsys.evaluation import gini


def test_gini_hand_computed():
    assert gini(np.array([1, 1, 1, 1])) == pytest.approx(0.0)
    assert gini(np.array([0, 0, 0, 10])) == pytest.approx(0.75)  # (n-1)/n for one winner
    assert gini(np.array([1, 3])) == pytest.approx(0.25)
    assert gini(np.array([])) == 0.0


def test_lorenz_curve_endpoints_and_thinning():
    lc = lorenz_curve(np.array([0, 0, 0, 10]))
    assert list(lc["interactions_share"]) == [0, 0, 0, 0, 1]
    big = lorenz_curve(np.arange(10_000), max_points=100)
    assert len(big) <= 100
    assert big.iloc[0].tolist() == [0.0, 0.0] and big.iloc[-1].tolist() == [1.0, 1.0]
    assert big["interactions_share"].is_monotonic_increasing


@pytest.fixture(scope="module")
def ds():
    rows = [(f"u{u}", "hit") for u in range(8)] + [(f"u{u}", "ok") for u in range(2)] + [
        ("u0", "rare")]
    inter = pd.DataFrame(rows, columns=["user_id", "item_id"])
    inter["timestamp"] = pd.date_range("2024-01-01", periods=len(inter), freq="7D")
    catalog = pd.DataFrame({"item_id": ["hit", "ok", "rare", "cold"],
                            "title": ["Hit", "Okay", "Rare", "Cold"],
                            "category": ["toys", "toys", "books", "books"],
                            "price": [10.0, 20.0, 30.0, 40.0]})
    return build_dataset(inter, catalog)


def test_segment_table(ds):
    seg = segment_table(ds).set_index("segment")
    # 'hit' starts at 0 % and 'ok' at 8/11 = 73 % < 80 %: head; 'rare' starts at 91 % < 95 %: mid
    assert seg.loc["head", "items"] == 2 and seg.loc["mid", "items"] == 1
    assert seg["items"].sum() == 4 and seg["interactions"].sum() == 11
    assert seg.loc["tail", "cold_items"] == 1
    assert seg["interactions_share"].sum() == pytest.approx(1.0)


def test_tail_share_by_category(ds):
    share = tail_share_by(ds, "category").set_index("group")
    assert share.loc["books", "tail_share"] == 1.0
    assert share.loc["toys", "items"] == 2
    assert tail_share_by(ds, "missing").empty


def test_item_table_and_stats(ds):
    table = item_table(ds).set_index("item_id")
    assert table.loc["hit", "popularity"] == 8
    assert pd.isna(table.loc["cold", "last_seen"])
    stats = segment_stats(ds).set_index("segment")
    assert stats.loc["head", "median_price"] == 15.0
    summary = profile_summary(ds)
    assert 0 < summary["gini"] < 1 and summary["cold_items"] == 1
