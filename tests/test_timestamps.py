"""Tests for timestamps that are out of range or easy to misread: placeholder dates (9999-12-31,
0001-01-01, far epochs) drop only their rows, YYYYMMDD integers are dates, Unix units follow
the column's magnitude, mixed units refuse the column, and the report shows the date range."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from recsys.data.formats import load_files
from recsys.data.parsing import read_timestamps
from recsys.data.report import IssueCode
from recsys.data.validation import parse_timestamps, validate

from .test_validate import _csv, _issue

# --------------------------------------------------------------------------- out of range


@pytest.mark.parametrize("bad", ["9999-12-31", "0001-01-01", "-62135596800", "12/31/9999 10:00"])
def test_out_of_range_date_drops_only_its_row(tmp_path: Path, bad: str) -> None:
    text = f"user_id,item_id,timestamp\nu1,A,2011-12-31 10:00\nu2,B,{bad}\nu3,C,2012-01-02\n"
    result = load_files(_csv(tmp_path, "o.csv", text))
    assert result.ok
    assert result.interactions["item_id"].tolist() == ["A", "C"]
    issue = _issue(result, "out_of_range_timestamp")
    assert issue.level == "warning" and issue.count == 1
    assert "'timestamp'" in issue.message and "1677" in issue.message and "2262" in issue.message
    assert issue.sample[0]["row"] == 3 and issue.sample[0]["timestamp"] == bad
    assert result.report.count("bad_timestamp") == 0


def test_out_of_range_epochs_in_numeric_column() -> None:
    frame = pd.DataFrame({"user_id": ["u1", "u2", "u3"], "item_id": ["A", "B", "C"],
                          "timestamp": [1325325600, -62135596800, 1325325660]})
    result = validate(frame)
    assert result.ok and result.interactions["item_id"].tolist() == ["A", "C"]
    assert result.report.count("out_of_range_timestamp") == 1


def test_out_of_range_datetime_column() -> None:
    ts = pd.Series(pd.to_datetime(["2011-12-31", "9999-12-31"]).astype("datetime64[us]"))
    parsed = read_timestamps(ts)
    assert parsed.values.dtype == "datetime64[ns]"
    assert parsed.values.iloc[0] == pd.Timestamp("2011-12-31") and pd.isna(parsed.values.iloc[1])
    assert parsed.out_of_range.tolist() == [False, True]


def test_parse_timestamps_never_raises_on_far_dates() -> None:
    parsed = parse_timestamps(pd.Series(["2020-01-01", "9999-12-31", "0001-01-01", "soon"]))
    assert parsed.iloc[0] == pd.Timestamp("2020-01-01") and parsed.iloc[1:].isna().all()


# --------------------------------------------------------------------------- misread numbers


@pytest.mark.parametrize("values", [["20200101", "20211231"], [20200101, 20211231],
                                    [20200101.0, 20211231.0]], ids=["text", "int", "float"])
def test_yyyymmdd_is_read_as_dates(values: list) -> None:
    parsed = read_timestamps(pd.Series(values))
    assert parsed.values.tolist() == [pd.Timestamp("2020-01-01"), pd.Timestamp("2021-12-31")]
    assert parsed.read_as == "YYYYMMDD"


def test_eight_digits_that_are_not_all_dates_stay_epochs() -> None:
    parsed = read_timestamps(pd.Series(["20200101", "20201399"]))  # month 13: not YYYYMMDD
    assert parsed.read_as == "unix seconds"
    assert parsed.values.iloc[0] == pd.Timestamp(20200101, unit="s")


@pytest.mark.parametrize(("factor", "unit"), [(1, "seconds"), (1_000, "milliseconds"),
                                             (1_000_000, "microseconds"),
                                             (1_000_000_000, "nanoseconds")])
def test_epoch_unit_follows_magnitude(factor: int, unit: str) -> None:
    parsed = read_timestamps(pd.Series([1325325600 * factor, 1325325660 * factor]))
    assert parsed.values.tolist() == [pd.Timestamp("2011-12-31 10:00"),
                                      pd.Timestamp("2011-12-31 10:01")]
    assert parsed.read_as == f"unix {unit}"
    assert not parsed.mixed_units


def test_mixed_units_refuse_the_column(tmp_path: Path) -> None:
    text = ("user_id,item_id,ts\n"
            "u1,A,1325325600\nu2,B,1325325660\nu3,C,1325325720000\nu4,D,1325325600\n")
    result = load_files(_csv(tmp_path, "m.csv", text))
    assert not result.ok and result.interactions is None
    issue = _issue(result, "mixed_timestamp_units")
    assert issue.level == "error"
    assert "'ts'" in issue.message and "seconds" in issue.message
    assert "milliseconds" in issue.message and "one unit" in issue.message
    assert "row 4" in issue.message
    assert [s["row"] for s in issue.sample] == [4]


def test_text_dates_with_epoch_seconds_are_not_mixed_units() -> None:
    parsed = read_timestamps(pd.Series(["2011-12-31T10:00:00", "1325325600"]))
    assert not parsed.mixed_units
    assert parsed.values.tolist() == [pd.Timestamp("2011-12-31 10:00")] * 2


# --------------------------------------------------------------------------- date range in the report


def test_report_shows_the_parsed_date_range(tmp_path: Path) -> None:
    text = "user_id,item_id,date\nu1,A,20200105\nu2,B,20200101\nu3,C,20211231\n"
    result = load_files(_csv(tmp_path, "r.csv", text))
    report = result.report
    assert result.ok
    assert (report.first_timestamp, report.last_timestamp) == ("2020-01-01", "2021-12-31")
    assert report.timestamps_read_as == "YYYYMMDD"
    assert "2020-01-01 to 2021-12-31" in report.to_text()
    as_dict = json.loads(report.to_json())
    assert as_dict["first_timestamp"] == "2020-01-01" and as_dict["last_timestamp"] == "2021-12-31"


def test_report_range_keeps_times_and_is_empty_without_timestamps(tmp_path: Path) -> None:
    with_time = validate(pd.DataFrame({"user_id": ["u1", "u2"], "item_id": ["A", "B"],
                                       "timestamp": ["2011-12-31 10:00", "2012-01-01 08:30"]}))
    assert (with_time.report.first_timestamp, with_time.report.last_timestamp) == (
        "2011-12-31 10:00:00", "2012-01-01 08:30:00")
    none = validate(pd.DataFrame({"user_id": ["u1"], "item_id": ["A"]}))
    assert none.report.first_timestamp == "" and "dates:" not in none.report.to_text()


def test_new_codes_are_issue_codes() -> None:
    assert IssueCode("out_of_range_timestamp") is IssueCode.OUT_OF_RANGE_TIMESTAMP
    assert IssueCode("mixed_timestamp_units") is IssueCode.MIXED_TIMESTAMP_UNITS
