"""A wide text file is parsed only for the columns that can be used.

:func:`recsys.data.formats.load_files` reads the header first and parses only the columns the
mapping, the derived catalog and the format detection need; reports, notes and row numbers stay
as they were for a file read whole.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import recsys.data.formats as formats
from recsys.data.formats import ReadOptions, load_files
from recsys.data.reading import IngestError

JUNK = 1500


def _wide_csv(path: Path, head: list[str], rows: list[list[str]], junk: int = JUNK) -> Path:
    """``head`` columns with ``junk`` extra columns interleaved after the first one."""
    extra = [f"junk_{i}" for i in range(junk)]
    lines = [",".join([head[0], *extra, *head[1:]])]
    for row in rows:
        lines.append(",".join([row[0], *("x" for _ in extra), *row[1:]]))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The columns of every interaction frame that reaches validation."""
    columns: list[list[str]] = []
    real = formats.validate

    def spy(interactions: pd.DataFrame, *args: object, **kwargs: object):
        columns.append([str(c) for c in interactions.columns])
        return real(interactions, *args, **kwargs)

    monkeypatch.setattr(formats, "validate", spy)
    return columns


ROWS = [["u1", "i1", "2021-01-01", "Red mug", "3.5"],
        ["u1", "i2", "2021-01-02", "Blue cup", "2.0"],
        ["u2", "i1", "2021-01-03", "Red mug", "3.5"],
        ["u2", "i1", "2021-01-03", "Red mug", "3.5"]]  # a duplicate: its example row is kept


def test_wide_csv_parses_only_used_columns(tmp_path: Path, seen: list[list[str]]) -> None:
    path = _wide_csv(tmp_path / "wide.csv",
                     ["user_id", "item_id", "timestamp", "description", "price"], ROWS)
    result = load_files(path)
    assert result.ok
    assert seen == [["user_id", "item_id", "timestamp", "description", "price"]]  # file order
    assert result.catalog is not None
    assert {"title", "price"} <= set(result.catalog.columns)
    assert result.report.reading[0].endswith(f"4 rows × {JUNK + 5} columns")
    dup = [i for i in result.report.issues if i.code == "duplicate"]
    assert dup and dup[0].sample[0]["row"] == 5


def test_override_outside_the_guess_is_read(tmp_path: Path, seen: list[list[str]]) -> None:
    path = _wide_csv(tmp_path / "wide.csv",
                     ["Kunde", "item_id", "timestamp", "description", "price"], ROWS)
    result = load_files(path, mapping={"user_id": "Kunde"})
    assert result.ok, result.report.issues
    assert seen == [["Kunde", "item_id", "timestamp", "description", "price"]]
    assert set(result.interactions["user_id"]) == {"u1", "u2"}


def test_override_to_a_missing_column_lists_the_file_columns(tmp_path: Path,
                                                             seen: list[list[str]]) -> None:
    path = _wide_csv(tmp_path / "wide.csv", ["user_id", "item_id"], [r[:2] for r in ROWS],
                     junk=20)
    result = load_files(path, mapping={"user_id": "Kunde"})
    assert not result.ok
    message = result.report.errors[0].message
    assert "'Kunde' is not in the file" in message and "junk_0" in message


def test_wide_online_retail_is_still_recognised(tmp_path: Path, seen: list[list[str]]) -> None:
    head = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
            "CustomerID", "Country"]
    rows = [["536365", "85123A", "WHITE HANGING HEART T-LIGHT HOLDER", "6", "2010-12-01 08:26",
             "2.55", "17850", "United Kingdom"],
            ["536366", "71053", "WHITE METAL LANTERN", "6", "2010-12-01 08:28", "3.39", "17850",
             "United Kingdom"],
            ["536367", "85123A", "WHITE HANGING HEART T-LIGHT HOLDER", "2", "2010-12-01 08:34",
             "2.55", "13047", "France"]]
    result = load_files(_wide_csv(tmp_path / "retail.csv", head, rows))
    assert result.ok, result.report.issues
    assert result.report.file_format == "online-retail"
    assert seen == [head]
    assert result.users is not None and set(result.users["country"]) == {"United Kingdom",
                                                                           "France"}
    assert result.catalog is not None and "price" in result.catalog.columns


def test_ragged_wide_csv_keeps_the_malformed_line_note(tmp_path: Path) -> None:
    path = _wide_csv(tmp_path / "wide.csv", ["user_id", "item_id"], [r[:2] for r in ROWS],
                     junk=30)
    text = path.read_text(encoding="utf-8").splitlines()
    text.insert(2, text[2] + ",extra")
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    result = load_files(path)
    assert any("Skipped 1 malformed line" in note for note in result.report.reading)
    assert result.ok


def test_bad_byte_in_an_unused_column_is_refused_as_before(tmp_path: Path) -> None:
    data = b"user_id,junk,item_id\nu1,\xff,i1\nu2,x,i2\n"
    with pytest.raises(IngestError, match="not valid utf-8 text"):
        load_files(data, interactions_name="a.csv", read_options=ReadOptions(encoding="utf-8"))
