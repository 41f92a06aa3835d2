"""Tests for column mapping and validation: synonyms, overrides, ids, timestamps, values, exact
drop counts, sample row numbers and catalogs (given, derived, cold items)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from recsys.data.formats import load_files
from recsys.data.schema import CATALOG_ROLES, ColumnMapping, guess_mapping, guess_value_kind, normalise_name
from recsys.data.validation import normalise_ids, parse_timestamps, validate
from tests.test_app import demo_template, demo_ws  # noqa: F401  (fixtures)

# --------------------------------------------------------------------------- helpers


def _csv(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _issue(result, code: str):
    matches = [i for i in result.report.issues if i.code == code]
    assert matches, f"no issue {code!r}; issues: {[i.code for i in result.report.issues]}"
    return matches[0]


def _codes(result) -> set[str]:
    return {i.code for i in result.report.issues}


TS = pd.Timestamp("2011-12-31 10:00:00")


# --------------------------------------------------------------------------- mapping by synonyms


def test_normalise_name() -> None:
    assert normalise_name(" Customer ID ") == "customerid"
    assert normalise_name("movie_Id") == "movieid"


def test_guess_movielens_columns() -> None:
    mapping = guess_mapping(["userId", "movieId", "rating", "timestamp"])
    assert dict(mapping.roles) == {
        "user_id": "userId", "item_id": "movieId", "timestamp": "timestamp", "value": "rating",
        "order_id": None,
    }
    assert mapping.value_kind == "rating"


def test_guess_online_retail_columns() -> None:
    columns = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
               "CustomerID", "Country"]
    mapping = guess_mapping(columns)
    assert dict(mapping.roles) == {
        "user_id": "CustomerID", "item_id": "StockCode", "timestamp": "InvoiceDate",
        "value": "Quantity", "order_id": "InvoiceNo",
    }
    assert mapping.value_kind == "quantity"


def test_guess_catalog_columns_and_a_column_used_once() -> None:
    mapping = guess_mapping(["item_id", "title", "description", "category", "brand", "price", "colour"],
                            CATALOG_ROLES)
    assert dict(mapping.roles) == {r: r for r in CATALOG_ROLES}
    # Description alone becomes the title, and is not also used as the description.
    only_desc = guess_mapping(["StockCode", "Description"], CATALOG_ROLES)
    assert only_desc.get("title") == "Description"
    assert only_desc.get("description") is None


@pytest.mark.parametrize(
    ("column", "kind"),
    [("rating", "rating"), ("Stars", "rating"), ("Quantity", "quantity"), ("qty", "quantity"),
     ("clicks", "weight"), (None, "auto")],
)
def test_guess_value_kind(column: str | None, kind: str) -> None:
    assert guess_value_kind(column) == kind


def test_mapping_overrides() -> None:
    base = ColumnMapping({"user_id": "a", "item_id": "b", "timestamp": "t"}, "rating")
    new = base.with_overrides({"user_id": "c", "timestamp": ""})
    assert new.get("user_id") == "c" and new.get("item_id") == "b"
    assert new.get("timestamp") is None
    assert new.value_kind == "rating"
    assert base.get("user_id") == "a"  # the original is unchanged


def test_retail_file_through_load_files(tmp_path: Path) -> None:
    text = ("InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
            "536365,85123A,WHITE HEART,6,12/1/2010 8:26,2.55,17850,United Kingdom\n"
            "536366,71053,METAL LANTERN,2,12/1/2010 8:28,3.39,17850,United Kingdom\n"
            "536367,71053,METAL LANTERN,3,12/2/2010 9:00,3.39,13047,France\n")
    result = load_files(_csv(tmp_path, "retail.csv", text), file_format="generic")
    assert result.ok
    assert result.report.mapping["roles"]["user_id"] == "CustomerID"
    assert result.report.mapping["value_kind"] == "quantity"
    assert result.interactions["item_id"].tolist() == ["85123A", "71053", "71053"]
    assert result.interactions["value"].tolist() == [6.0, 2.0, 3.0]
    assert result.interactions["timestamp"].iloc[2] == pd.Timestamp("2010-12-02 09:00")


def test_catalog_columns_mapped_and_extra_columns_kept(tmp_path: Path) -> None:
    inter = _csv(tmp_path, "i.csv", "user_id,item_id,qty\nu1,A,1\nu2,B,1\n")
    cat = _csv(tmp_path, "c.csv",
               "ItemID,Title,Description,Category,Brand,Price,Colour,Size\n"
               "A,Apple, A red fruit ,Fruit,Acme,1.50,red,S\n"
               "B,Banana,,Fruit,Acme,0.25,yellow,M\n")
    result = load_files(inter, cat)
    assert result.ok
    catalog = result.catalog.set_index("item_id")
    assert result.report.catalog_mapping["roles"]["item_id"] == "ItemID"
    assert {"title", "description", "category", "brand", "price", "Colour", "Size"} <= set(catalog.columns)
    assert catalog.loc["A", "title"] == "Apple"
    assert catalog.loc["A", "description"] == "A red fruit"  # trimmed
    assert catalog.loc["B", "price"] == pytest.approx(0.25)
    assert catalog.loc["B", "Colour"] == "yellow"
    assert result.catalog["price"].dtype == "float64"


def test_catalog_mapping_override(tmp_path: Path) -> None:
    inter = _csv(tmp_path, "i.csv", "user_id,item_id\nu1,X1\nu2,X2\n")
    cat = _csv(tmp_path, "c.csv", "ref,label_fr,code\nzz,Pomme,X1\nyy,Poire,X2\n")
    result = load_files(inter, cat, catalog_mapping={"item_id": "code", "title": "label_fr"})
    assert result.ok
    assert dict(zip(result.catalog["item_id"], result.catalog["title"], strict=True)) == {
        "X1": "Pomme", "X2": "Poire"}


# --------------------------------------------------------------------------- manual mapping


def test_manual_mapping_for_unknown_names(tmp_path: Path) -> None:
    path = _csv(tmp_path, "odd.csv", "a,b,c,d\nu1,A,2011-12-31 10:00,3\nu2,B,2011-12-31 11:00,1\n")
    guessed = load_files(path)
    assert not guessed.report.ok
    assert _codes(guessed) >= {"missing_user_id", "missing_item_id"}

    result = load_files(path, mapping={"user_id": "a", "item_id": "b", "timestamp": "c", "value": "d"})
    assert result.ok
    assert result.interactions["user_id"].tolist() == ["u1", "u2"]
    assert result.interactions["timestamp"].iloc[0] == TS
    assert result.interactions["value"].tolist() == [3.0, 1.0]
    assert result.report.mapping["roles"]["timestamp"] == "c"


def test_manual_mapping_replaces_a_guess_and_can_drop_a_role(tmp_path: Path) -> None:
    path = _csv(tmp_path, "m.csv", "user_id,item_id,visitor,timestamp\nx,A,v1,garbage\nx,B,v2,garbage\n")
    result = load_files(path, mapping={"user_id": "visitor", "timestamp": None})
    assert result.ok
    assert result.interactions["user_id"].tolist() == ["v1", "v2"]
    assert "timestamp" not in result.interactions.columns  # not parsed, so nothing dropped
    assert result.report.rows_dropped == 0


def test_manual_mapping_to_a_missing_column_says_so(tmp_path: Path) -> None:
    path = _csv(tmp_path, "m.csv", "a,b\nu1,A\n")
    result = load_files(path, mapping={"user_id": "CustomerNo", "item_id": "b"})
    assert not result.report.ok
    message = _issue(result, "missing_user_id").message
    assert "'CustomerNo' is not in the file" in message
    assert "Columns found: a, b" in message


def test_value_kind_override(tmp_path: Path) -> None:
    path = _csv(tmp_path, "v.csv", "user_id,item_id,qty\nu1,A,-1\nu2,B,0\nu3,C,2\n")
    assert load_files(path).report.rows_kept == 1
    as_rating = load_files(path, value_kind="rating")
    assert as_rating.report.rows_kept == 3
    assert as_rating.interactions["value"].tolist() == [-1.0, 0.0, 2.0]


# --------------------------------------------------------------------------- ids


def test_normalise_ids_unit() -> None:
    ids, n_float = normalise_ids(pd.Series(["17850", "17850.0", " 00123 ", "", None, "85123A", "1.5"]))
    assert ids.tolist()[:3] == ["17850", "17850", "00123"]
    assert ids.isna().tolist() == [False, False, False, True, True, False, False]
    assert ids.iloc[5] == "85123A" and ids.iloc[6] == "1.5"
    assert n_float == 1

    floats, n = normalise_ids(pd.Series([17850.0, 2.5, float("nan")]))
    assert floats.iloc[0] == "17850" and floats.iloc[1] == "2.5" and pd.isna(floats.iloc[2])
    assert n == 1


def test_float_and_int_ids_are_one_user(tmp_path: Path) -> None:
    text = "CustomerID,StockCode,Quantity\n17850,A,1\n17850.0,B,2\n 17850 ,C,1\n13047.0,A,1\n"
    path = _csv(tmp_path, "ids.csv", text)
    result = load_files(path)
    assert result.ok
    assert result.interactions["user_id"].tolist() == ["17850", "17850", "17850", "13047"]
    assert result.report.n_users == 2
    info = _issue(result, "float_user_id")
    assert info.level == "info" and info.count == 2
    assert "17850.0" in info.message


def test_parquet_float_ids(tmp_path: Path) -> None:
    path = tmp_path / "f.parquet"
    pd.DataFrame({"user_id": [17850.0, 17850.0, None], "item_id": [1, 2, 3]}).to_parquet(path)
    result = load_files(path)
    assert result.interactions["user_id"].tolist() == ["17850", "17850"]
    assert result.interactions["item_id"].tolist() == ["1", "2"]
    assert result.report.count("missing_user_id") == 1


# --------------------------------------------------------------------------- timestamps


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["2011-12-31T10:00:00", "2011-12-31 10:00", "2011-12-31"],
         [TS, TS, pd.Timestamp("2011-12-31")]),
        (["2011-12-31T11:00:00+01:00", "2011-12-31T10:00:00Z"], [TS, TS]),
        (["12/31/2011 10:00", "01/02/2011 10:00"], [TS, pd.Timestamp("2011-01-02 10:00")]),  # month first
        (["31/12/2011 10:00", "01/02/2011 10:00"], [TS, pd.Timestamp("2011-02-01 10:00")]),  # day first
        (["1325325600", "1325325660"], [TS, pd.Timestamp("2011-12-31 10:01")]),  # unix seconds
        (["1325325600000", "1325325660000"], [TS, pd.Timestamp("2011-12-31 10:01")]),  # unix ms
    ],
    ids=["iso", "iso-tz", "month-first", "day-first", "unix-s", "unix-ms"],
)
def test_parse_timestamps(values: list[str], expected: list[pd.Timestamp]) -> None:
    parsed = parse_timestamps(pd.Series(values))
    assert parsed.dtype == "datetime64[ns]"
    assert parsed.tolist() == expected


def test_parse_timestamps_bad_values_are_nat() -> None:
    parsed = parse_timestamps(pd.Series(["2011-12-31 10:00", "soon", None, ""]))
    assert parsed.iloc[0] == TS
    assert parsed.iloc[1:].isna().all()


def test_parse_timestamps_keeps_datetime_columns() -> None:
    aware = pd.Series(pd.to_datetime(["2011-12-31 11:00"]).tz_localize("Europe/Paris"))
    assert parse_timestamps(aware).tolist() == [TS]


def test_day_first_file_through_load_files(tmp_path: Path) -> None:
    path = _csv(tmp_path, "d.csv", "user_id,item_id,date\nu1,A,05/04/2011 10:00\nu2,B,25/04/2011 10:00\n")
    result = load_files(path)
    assert result.ok
    assert result.interactions["timestamp"].tolist() == [
        pd.Timestamp("2011-04-05 10:00"), pd.Timestamp("2011-04-25 10:00")]


# --------------------------------------------------------------------------- values


def test_ratings_keep_any_value(tmp_path: Path) -> None:
    path = _csv(tmp_path, "r.csv", "user_id,item_id,rating\nu1,A,-2\nu2,B,0\nu3,C,4.5\nu4,D,\"3,5\"\n")
    result = load_files(path)
    assert result.report.mapping["value_kind"] == "rating"
    assert result.report.rows_dropped == 0
    assert result.interactions["value"].tolist() == [-2.0, 0.0, 4.5, 3.5]  # decimal comma read


def test_quantities_drop_non_positive(tmp_path: Path) -> None:
    path = _csv(tmp_path, "q.csv", "user_id,item_id,quantity\nu1,A,-2\nu2,B,0\nu3,C,0.5\nu4,D,12\n")
    result = load_files(path)
    assert result.report.mapping["value_kind"] == "quantity"
    assert result.interactions["item_id"].tolist() == ["C", "D"]
    issue = _issue(result, "non_positive")
    assert issue.level == "warning" and issue.count == 2
    assert "'quantity'" in issue.message


# --------------------------------------------------------------------------- counts and samples

# Line numbers in the file (header = line 1):
#  2 good
#  3 cancelled AND negative quantity
#  4 no customer AND zero quantity
#  5 unreadable date
#  6 good
#  7 exact duplicate of line 2 (17850.0 is the same customer as 17850)
#  8 quantity not a number
#  9 no item id
RETAIL = (
    "InvoiceNo,StockCode,Quantity,InvoiceDate,CustomerID\n"
    "536365,85123A,6,2010-12-01 08:26,17850\n"
    "C536379,85123A,-1,2010-12-01 09:41,17850\n"
    "536370,22728,0,2010-12-01 08:45,\n"
    "536371,22727,2,yesterday,13047\n"
    "536372,22726,3,2010-12-02 10:00,13047\n"
    "536365,85123A,6,2010-12-01 08:26,17850.0\n"
    "536373,22725,lots,2010-12-02 11:00,13047\n"
    "536374,,1,2010-12-02 12:00,13047\n"
)


@pytest.fixture
def retail_result(tmp_path: Path):
    return load_files(_csv(tmp_path, "lines.csv", RETAIL), file_format="generic")


def test_counts_per_reason_and_rows_kept(retail_result) -> None:
    report = retail_result.report
    assert report.rows_read == 8
    assert report.rows_kept == 2
    assert report.rows_dropped == 6
    assert report.count("cancelled") == 1
    assert report.count("non_positive") == 2  # the cancellation and the zero line
    assert report.count("missing_user_id") == 1
    assert report.count("missing_item_id") == 1
    assert report.count("bad_timestamp") == 1
    assert report.count("bad_value") == 1
    assert report.count("duplicate") == 1
    # counted per reason: the sum is larger than the rows dropped
    drop_codes = ("cancelled", "non_positive", "missing_user_id", "missing_item_id", "bad_timestamp",
                  "bad_value", "duplicate")
    assert sum(report.count(c) for c in drop_codes) == 8 > report.rows_dropped
    assert report.ok
    assert retail_result.interactions["item_id"].tolist() == ["85123A", "22726"]
    assert retail_result.interactions.index.tolist() == [0, 1]


def test_samples_carry_file_line_numbers(retail_result) -> None:
    def rows(code: str) -> list[int]:
        return [s["row"] for s in _issue(retail_result, code).sample]

    assert rows("cancelled") == [3]
    assert rows("non_positive") == [3, 4]
    assert rows("missing_user_id") == [4]
    assert rows("bad_timestamp") == [5]
    assert rows("duplicate") == [7]
    assert rows("bad_value") == [8]
    assert rows("missing_item_id") == [9]
    sample = _issue(retail_result, "bad_timestamp").sample[0]
    assert sample["InvoiceDate"] == "yesterday" and sample["CustomerID"] == "13047"
    assert _issue(retail_result, "missing_user_id").sample[0]["CustomerID"] is None


def test_samples_are_capped_at_five(tmp_path: Path) -> None:
    text = "user_id,item_id,quantity\n" + "".join(f"u{i},A,0\n" for i in range(12)) + "u1,B,1\n"
    result = load_files(_csv(tmp_path, "many.csv", text))
    issue = _issue(result, "non_positive")
    assert issue.count == 12
    assert [s["row"] for s in issue.sample] == [2, 3, 4, 5, 6]


def test_report_serialises(retail_result) -> None:
    data = json.loads(retail_result.report.to_json())
    assert (data["rows_read"], data["rows_kept"], data["rows_dropped"], data["ok"]) == (8, 2, 6, True)
    text = retail_result.report.to_text()
    assert "8 read, 2 kept, 6 dropped" in text
    assert "[WARNING] interactions: Cancelled orders ('InvoiceNo' starting with C) were dropped. (1 rows)" in text


# --------------------------------------------------------------------------- catalogs


def test_catalog_derived_from_interaction_columns(tmp_path: Path) -> None:
    text = ("user_id,item_id,qty,product_name,unit_price\n"
            "u1,A,1,Red mug,2.0\n"
            "u2,A,1,Red mug,4.0\n"
            "u3,A,1,RED MUG (old),9.0\n"
            "u1,B,2,Blue bowl,1.5\n"
            "u2,B,0,Ignored bowl,100\n")
    result = load_files(_csv(tmp_path, "lines.csv", text))
    assert result.ok
    catalog = result.catalog.set_index("item_id")
    assert sorted(catalog.index) == ["A", "B"]
    assert catalog.loc["A", "title"] == "Red mug"  # most frequent title
    assert catalog.loc["A", "price"] == pytest.approx(4.0)  # median price
    assert catalog.loc["B", "title"] == "Blue bowl"  # the dropped row does not count
    assert catalog.loc["B", "price"] == pytest.approx(1.5)
    assert "title, price" in _issue(result, "catalog_derived").message
    assert result.report.n_cold_items == 0


def test_no_catalog_and_no_attributes() -> None:
    result = validate(pd.DataFrame({"user_id": ["u1"], "item_id": ["A"]}))
    assert result.ok
    assert result.catalog is None
    assert result.report.n_items == 1


def test_catalog_without_title_uses_ids(tmp_path: Path) -> None:
    inter = _csv(tmp_path, "i.csv", "user_id,item_id\nu1,A\n")
    cat = _csv(tmp_path, "c.csv", "item_id,price\nA,1\n")
    result = load_files(inter, cat)
    assert result.catalog["title"].tolist() == ["A"]
    assert "catalog_no_title" in _codes(result)


def test_cold_catalog_items_counted(tmp_path: Path) -> None:
    inter = _csv(tmp_path, "i.csv", "user_id,item_id\nu1,A\nu2,A\nu2,B\n")
    cat = _csv(tmp_path, "c.csv", "item_id,title\nA,Apple\nB,Banana\nC,Cherry\nD,Date\nE,\n")
    result = load_files(inter, cat)
    assert result.ok
    report = result.report
    assert report.n_cold_items == 3
    assert report.n_items == 5  # the catalog's items, cold ones included
    assert report.n_users == 2
    cold = _issue(result, "cold_items")
    assert cold.level == "info" and cold.count == 3
    assert result.catalog.set_index("item_id").loc["E", "title"] == "E"  # empty title → id
    assert report.catalog_rows_read == 5 and report.catalog_rows_kept == 5


def test_validate_with_explicit_mappings() -> None:
    inter = pd.DataFrame({"who": ["1", "2"], "what": ["x", "y"], "stars": ["5", "-1"]})
    cat = pd.DataFrame({"code": ["x", "y"], "nom": ["Ex", "Why"]})
    result = validate(
        inter, cat,
        mapping=ColumnMapping({"user_id": "who", "item_id": "what", "value": "stars"}, "rating"),
        catalog_mapping=ColumnMapping({"item_id": "code", "title": "nom"}),
        source="frames",
    )
    assert result.ok
    assert result.interactions["value"].tolist() == [5.0, -1.0]
    assert result.catalog["title"].tolist() == ["Ex", "Why"]
    assert result.report.source == "frames"


def test_issue_codes_are_one_enum_and_read_as_text():
    import json

    from recsys.data.report import IssueCode, ValidationReport

    report = ValidationReport()
    report.add("warning", "cancelled", "Cancelled orders were dropped.", 3)
    report.add("info", IssueCode.for_role("float", "user_id"), "decimals", 1)
    assert report.issues[0].code is IssueCode.CANCELLED
    assert report.count("cancelled") == report.count(IssueCode.CANCELLED) == 3
    assert json.loads(json.dumps(report.to_dict(), default=str))["issues"][1]["code"] == "float_user_id"
    with pytest.raises(ValueError):
        report.add("warning", "canceled", "a typo is refused")


# --------------------------------------------------------------------------- overlapping drop reasons

OVERLAP = ("user_id,item_id,title,timestamp,quantity\n"
           "u1,A,Lamp,2024-01-01,1\nu2,B,Mug,2024-01-02,2\nu3,C,Vase,2024-01-03,1\n"
           ",A,Lamp,2024-01-01,-1\n"        # no user and a return: two reasons, one row
           ",B,Mug,not a date,0\n"          # three reasons, one row
           "u4,C,Vase,not a date,1\n")      # one reason


def test_a_row_with_several_reasons_is_counted_once_in_the_drops(tmp_path: Path) -> None:
    report = load_files(_csv(tmp_path, "overlap.csv", OVERLAP)).report
    assert (report.rows_read, report.rows_kept, report.rows_dropped) == (6, 3, 3)
    assert report.count("missing_user_id") == 2 and report.count("non_positive") == 2
    assert report.count("bad_timestamp") == 2
    assert report.drop_reason_rows == 6 and report.rows_several_reasons == 2
    note = report.drop_note
    assert note == ("A row can have several reasons (2 rows failed more than one), so the "
                    "reasons add up to 6 rows; 3 rows were dropped in all.")
    assert f"note: {note}" in report.to_text()
    assert json.loads(report.to_json())["drop_note"] == note
    clean = load_files(_csv(tmp_path, "clean.csv", "user_id,item_id\nu1,A\nu2,B\n,C\n")).report
    assert clean.rows_dropped == 1 and clean.drop_note == ""


@pytest.mark.usefixtures("navigation_apptest", "demo_ws")
def test_the_report_table_notes_overlaps_and_shows_no_none() -> None:
    from tests.test_app import start, table_with, texts, upload, validate

    at = upload(start(), "overlap.csv", OVERLAP.encode())
    at = validate(at)
    issues = table_with(at, "issue")
    assert "None" not in issues["rows"].astype(str).tolist()
    assert not issues["rows"].isna().any()
    counts = dict(zip(issues["issue"], issues["rows"], strict=True))
    assert counts["Rows without a user id ('user_id') were dropped."] == "2"
    assert "—" in set(counts.values())  # a finding without a row count (no catalog given)
    assert ("A row can have several reasons (2 rows failed more than one), so the reasons add "
            "up to 6 rows; 3 rows were dropped in all.") in texts(at.caption)
