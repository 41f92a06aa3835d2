"""A recognised public format shows how it maps its columns, and the user can map them instead
(Catalog → Load data, AppTest)."""

from __future__ import annotations

from pathlib import Path

import pytest

from recsys.data.public_formats import recognised_mapping
from tests.test_app import demo_template, demo_ws, report_metrics, start, upload, validate  # noqa: F401

pytestmark = pytest.mark.usefixtures("navigation_apptest")


def _retail_csv() -> bytes:
    lines = ["InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"]
    for u in range(12):
        for j in range(4):
            item = (u + j) % 9
            lines.append(f"5{u:03d}{j},ST{item},THING {item % 3},{j + 1},2011-01-{j + 1:02d} 10:00,"
                         f"1.{item}5,{17000 + u},United Kingdom")
    lines.append("C59999,ST1,THING 1,-2,2011-02-01 10:00,1.15,17000,United Kingdom")
    return ("\n".join(lines) + "\n").encode()


def test_recognised_mapping_names_the_file_columns() -> None:
    rows = {r["role"]: r["column"] for r in recognised_mapping(
        "online-retail", ["InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "CustomerID"])}
    assert rows["user_id"] == "CustomerID" and rows["item_id"] == "StockCode"
    assert "not found" in rows["price"]
    lens = {r["role"]: r["column"] for r in recognised_mapping("movielens", [0, 1, 2, 3])}
    assert lens["user_id"] == "column 1" and lens["timestamp"] == "column 4"
    assert recognised_mapping("generic", ["a", "b"]) == []


def test_online_retail_mapping_is_shown_and_can_be_replaced(demo_ws: Path) -> None:  # noqa: F811
    at = upload(start(), "retail.csv", _retail_csv())
    shown = next(d.value for d in at.dataframe if "role" in d.value.columns)
    assert dict(zip(shown["role"], shown["column"], strict=True))["item_id"] == "StockCode"
    assert not [s for s in at.selectbox if s.key == "map_item_id"]  # the format maps them
    by_format = report_metrics(validate(at))
    assert by_format["Items"] == "9"

    at.checkbox(key="map_own").check().run()
    assert at.selectbox(key="map_user_id").value == "CustomerID"  # guessed as a start
    at.selectbox(key="map_item_id").set_value("Description")
    own = report_metrics(validate(at))
    assert not at.exception
    assert own["Items"] == "3"  # products by description now: the user's mapping was used
