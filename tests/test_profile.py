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


def _many_categories(n_categories: int = 40, seed: int = 0):
    """A shop of 400 items in ``n_categories`` categories of unequal size, with repeat events."""
    rng = np.random.default_rng(seed)
    items = [f"i{i:03d}" for i in range(400)]
    sizes = rng.zipf(1.6, size=400) % n_categories
    catalog = pd.DataFrame({"item_id": items, "title": items,
                            "category": [f"Category {c:02d}" for c in sizes]})
    weights = 1.0 / np.arange(1, 401) ** 1.1
    picks = rng.choice(400, size=3000, p=weights / weights.sum())
    inter = pd.DataFrame({"user_id": [f"u{u}" for u in rng.integers(0, 300, size=3000)],
                          "item_id": [items[i] for i in picks]})
    inter["timestamp"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(
        rng.integers(0, 300, size=3000), unit="D")
    return build_dataset(inter, catalog, name="many-categories")


def test_tail_share_by_pools_the_rest_in_one_last_row():
    ds = _many_categories()
    groups = ds.catalog["category"].nunique()
    assert groups > 20
    share = tail_share_by(ds, "category", top=15)
    assert len(share) == 16 and share["group"].is_unique
    assert share["pooled"].tolist() == [False] * 15 + [True]
    assert share["group"].iloc[-1] == f"({groups - 15} others)"
    assert share["items"].sum() == ds.n_items and share["tail_items"].sum() == ds.is_tail.sum()
    assert share["items"].iloc[:15].is_monotonic_decreasing
    assert share["items"].iloc[14] >= ds.catalog["category"].value_counts().iloc[15]
    assert not tail_share_by(ds, "category", top=groups)["pooled"].any()


@pytest.mark.usefixtures("navigation_apptest")
def test_every_bar_of_the_tail_share_chart_is_labelled(workspace_dir):
    """Catalog page: at most 16 bars, one tick label per bar, highest tail share first and the
    pooled rest last, tall enough for every label; the counts say events vs pairs."""
    import json

    from recsys import Workspace
    from tests.app_support import open_page

    ds = _many_categories()
    Workspace(workspace_dir).save_dataset(ds, source="test", activate=True)
    at = open_page("catalog", timeout=120)
    at.selectbox(key="tail_by").set_value("category").run()
    assert not at.exception, [e.value for e in at.exception]
    chart = next(json.loads(p.proto.spec) for p in at.get("plotly_chart")
                 if "Long-tail share per" in json.dumps(json.loads(p.proto.spec)["layout"]["title"]))
    bars = [y for trace in chart["data"] for y in trace["y"]]
    shares = [x for trace in chart["data"] for x in trace["x"]]
    yaxis = chart["layout"]["yaxis"]
    assert len(bars) == 16 and len(set(bars)) == 16
    assert yaxis["tickvals"] == bars and yaxis["ticktext"] == bars
    assert chart["layout"]["height"] >= 20 * len(bars)
    assert bars[-1].endswith("others)")
    assert shares[:-1] == sorted(shares[:-1], reverse=True)
    assert any("pooled in one bar" in c.value for c in at.caption)
    # Events vs distinct pairs: both figures named, and the table counts pairs
    assert ds.n_interactions > ds.n_pairs
    assert any(f"Interactions = {ds.n_interactions:,} events (rows kept); they form "
               f"{ds.n_pairs:,} distinct user–item pairs" in c.value for c in at.caption)
    segments = next(d.value for d in at.dataframe if "interactions_share" in d.value.columns)
    assert segments["interactions"].sum() == ds.n_pairs
    assert any(f"distinct user–item pairs ({ds.n_pairs:,} in all" in c.value for c in at.caption)


def test_online_retail_tail_share_groups_stay_readable():
    """Online Retail's product types: 15 named groups and one pooled row, not 26 bars."""
    from recsys.data.formats import load_files
    from tests.test_loaders import RETAIL

    if not RETAIL.exists():
        pytest.skip(f"Online Retail not found at {RETAIL} (shared data folder absent)")
    result = load_files(RETAIL)
    ds = build_dataset(result.interactions, result.catalog, name="online-retail")
    share = tail_share_by(ds, "category", top=15)
    assert ds.catalog["category"].nunique() > 16
    assert len(share) == 16 and share["group"].is_unique and share["pooled"].iloc[-1]
    assert share["items"].sum() == ds.n_items
    # a row can fail several checks: the note says so, with the rows dropped in all
    report = result.report
    assert report.drop_reason_rows > report.rows_dropped > 0
    extra = report.drop_reason_rows - report.rows_dropped  # counted more than once
    assert 0 < report.rows_several_reasons <= extra < 2 * report.rows_several_reasons
    assert f"{report.rows_dropped:,} rows were dropped in all" in report.drop_note
