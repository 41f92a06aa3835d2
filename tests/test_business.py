"""Business measures where the catalog has prices: price bands, the examination-weighted price on
show and the long tail's share of expected revenue, chunked tallies, revenue by segment, the
export manifest, and the What-if and Catalog pages."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recsys import Workspace
from recsys.data.dataset import DatasetConfig, build_dataset
from recsys.data.splits import SplitConfig
from recsys.jobs import train_models
from recsys.rerank.business import (
    NO_PRICE,
    BusinessTally,
    item_prices,
    list_business,
    price_band_exposure,
    price_bands,
    revenue_by_segment,
)
from tests.app_support import open_page
from tests.test_rerank import synthetic_dataset


def _priced(ds, seed: int = 0, missing: int = 0):
    """``ds`` rebuilt with a price per item (the first ``missing`` items without one)."""
    rng = np.random.default_rng(seed)
    catalog = ds.catalog.copy()
    prices = np.round(rng.uniform(1, 100, size=len(catalog)), 2)
    prices[:missing] = np.nan
    catalog["price"] = prices
    return build_dataset(ds.interactions, catalog, name=ds.name, config=ds.config)


def test_price_bands_are_quantiles_and_unknown_prices_get_none() -> None:
    prices = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, np.nan])
    codes, labels = price_bands(prices, 4)
    assert len(labels) == 4 and labels[0].startswith("1.00") and labels[-1].endswith("8.00")
    assert codes[-1] == -1
    assert list(codes[:8]) == sorted(codes[:8])  # cheaper items never in a dearer band
    assert np.bincount(codes[:8]).tolist() == [2, 2, 2, 2]
    same, one = price_bands(np.array([5.0, 5.0, 5.0]))
    assert one == ["5.00"] and (same == 0).all()


def test_list_measures_weight_slots_by_examination() -> None:
    inter = pd.DataFrame({"user_id": ["a", "a", "b", "b", "c"], "item_id": ["x", "y", "x", "y", "z"]})
    catalog = pd.DataFrame({"item_id": ["x", "y", "z"], "price": [10.0, 30.0, 20.0]})
    ds = build_dataset(inter, catalog, config=DatasetConfig(head_share=0.5, mid_share=0.9))
    x, y, z = ds.item_positions(["x", "y", "z"])
    tail = ds.is_tail
    lists = np.array([[x, z], [y, -1]])
    got = list_business(lists, ds)
    w2 = 1 / np.log2(3)
    money = {x: 10.0, y: 30.0, z: 20.0 * w2}
    assert got["price_on_show"] == pytest.approx((10 + 20 * w2 + 30) / (1 + w2 + 1))
    expected_tail = sum(v for item, v in money.items() if tail[item]) / sum(money.values())
    assert got["tail_revenue_share"] == pytest.approx(expected_tail)
    assert got["priced_slots"] == 1.0


def test_chunked_tally_equals_one_pass_and_missing_prices_are_left_out() -> None:
    ds = _priced(synthetic_dataset(n_users=60, n_items=40, seed=3), missing=5)
    assert np.isnan(item_prices(ds)[:5]).all()
    rng = np.random.default_rng(0)
    lists = np.stack([rng.permutation(ds.n_items)[:10] for _ in range(30)])
    whole = list_business(lists, ds)
    tally = BusinessTally.for_dataset(ds)
    for start in range(0, 30, 7):
        tally.add(lists[start:start + 7])
    assert tally.result() == pytest.approx(whole)
    assert 0 < whole["priced_slots"] < 1
    shares = tally.band_shares()
    assert NO_PRICE in shares and sum(shares.values()) == pytest.approx(1.0)


def test_no_prices_means_no_measures() -> None:
    ds = synthetic_dataset(n_users=30, n_items=20)
    assert item_prices(ds) is None
    assert list_business(np.zeros((2, 3), dtype=np.int64), ds) is None
    assert BusinessTally.for_dataset(ds) is None
    assert revenue_by_segment(ds) is None


def test_price_band_exposure_follows_a_shift_to_cheap_items() -> None:
    ds = _priced(synthetic_dataset(n_users=60, n_items=40, seed=4))
    order = np.argsort(item_prices(ds))
    dear, cheap = np.tile(order[-10:], (20, 1)), np.tile(order[:10], (20, 1))
    frame = price_band_exposure(dear, cheap, ds)
    first, last = frame.iloc[0], frame.iloc[-1]
    assert first["current"] > first["baseline"] and last["current"] < last["baseline"]
    assert frame["catalog share"].sum() == pytest.approx(1.0)


def test_revenue_by_segment_sums_price_times_quantity() -> None:
    inter = pd.DataFrame({"user_id": ["a", "a", "b", "c"], "item_id": ["x", "y", "x", "z"],
                          "value": [2.0, 1.0, 3.0, 4.0]})
    catalog = pd.DataFrame({"item_id": ["x", "y", "z"], "price": [10.0, 5.0, 1.0]})
    ds = build_dataset(inter, catalog)
    table = revenue_by_segment(ds)
    assert table["revenue"].sum() == pytest.approx(2 * 10 + 5 + 3 * 10 + 4 * 1)
    assert table["revenue share"].sum() == pytest.approx(1.0)
    rated = build_dataset(inter.assign(value=[4.5, 3.5, 5.0, 4.0]), catalog)  # stars, not units
    assert revenue_by_segment(rated)["revenue"].sum() == pytest.approx(10 + 5 + 10 + 1)


def test_export_manifest_carries_the_business_measures(tmp_path) -> None:
    from recsys.export import ExportConfig, export_lists
    from recsys.models import create_model

    ds = _priced(synthetic_dataset(n_users=80, n_items=40, seed=5))
    model = create_model("pop").fit(ds)
    result = export_lists(model, ds, tmp_path / "out", ExportConfig(k=5, chunk_users=16))
    business = json.loads((tmp_path / "out" / "manifest.json").read_text())["business"]
    lists = pd.read_csv(result.files[0])
    assert business["priced_slots"] == 1.0
    shown = item_prices(ds)[ds.item_positions(lists["item_id"])]
    weights = 1 / np.log2(lists["rank"].to_numpy() + 1)
    assert business["price_on_show"] == pytest.approx((shown * weights).sum() / weights.sum(),
                                                      abs=1e-4)
    assert sum(business["price_band_shares"].values()) == pytest.approx(1.0, abs=1e-3)
    plain = export_lists(model, synthetic_dataset(n_users=80, n_items=40, seed=5),
                         tmp_path / "plain", ExportConfig(k=5))
    assert plain.manifest["business"] is None


@pytest.mark.usefixtures("navigation_apptest")
def test_whatif_and_catalog_pages_show_business_measures(workspace_dir) -> None:
    ws = Workspace(workspace_dir)
    ds = _priced(synthetic_dataset(n_users=150, n_items=80, seed=2, name="priced-shop"))
    ws.save_dataset(ds, source="test", activate=True)
    job = train_models(ds, {"ease": {}}, split=SplitConfig(method="random", seed=0), workspace=ws)
    assert job.status == "done", job.message
    at = open_page("whatif", timeout=120)
    at.selectbox(key="whatif_method").set_value("tail_bonus")
    at.slider(key="whatif_strength").set_value(1.0).run()
    assert not at.exception and not at.error
    metrics = {m.label: m for m in at.metric}
    assert "Price on show (position-weighted)" in metrics
    share = metrics["Long tail's share of expected revenue"]
    assert share.value.endswith("%") and "of baseline" in share.delta
    assert any(s.value == "Business" for s in at.subheader)
    catalog = open_page("catalog", timeout=120)
    assert not catalog.exception
    assert any("Revenue by segment" in m.value for m in catalog.markdown)
    assert any("The long tail (mid + far tail) brings" in c.value for c in catalog.caption)
    # One meaning of "tail": the segment codes are shown as head / mid / far tail everywhere
    for frame in (d.value for d in catalog.dataframe if "segment" in d.value.columns):
        assert set(frame["segment"]) <= {"head", "mid", "far tail"}, frame["segment"].unique()
