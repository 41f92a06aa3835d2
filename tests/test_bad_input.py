"""Bad input, file by file: every case must end in a specific message for the person who uploaded
it (an IngestError or an issue in the report), never in a traceback. Also through the CLI."""

from __future__ import annotations

import gzip
import io
import json
import random
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from recsys.data.formats import ReadOptions, load_files
from recsys.data.reading import IngestError, IngestLimits, default_max_upload_mb, read_table

ROOT = Path(__file__).resolve().parents[1]


def _write(tmp_path: Path, name: str, data: bytes | str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode(encoding) if isinstance(data, str) else data)
    return path


def _issue(result, code: str):
    matches = [i for i in result.report.issues if i.code == code]
    assert matches, f"no issue {code!r}; issues: {[i.code for i in result.report.issues]}"
    return matches[0]


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def _xlsx(path: Path, sheets: dict[str, pd.DataFrame]) -> Path:
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for name, frame in sheets.items():
            frame.to_excel(writer, sheet_name=name, index=False)
    return path


GOOD_GZ = _gz(b"user_id,item_id\n" + b"u1,A\n" * 2000)
_corrupt = bytearray(GOOD_GZ)
_corrupt[12:40] = b"\xff" * 28
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00" + bytes(64)
JUNK = random.Random(0).randbytes(3000) + b"\x00" * 8


def _plain_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("orders.csv", "user_id,item_id\nu1,A\n")
    return buf.getvalue()


# --------------------------------------------------------------------------- unreadable files


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("empty.csv", b"", r"'empty\.csv' is empty \(0 bytes\)\. Choose a file that contains data\."),
        ("header.csv", b"user_id,item_id,rating\n", r"'header\.csv' has a header but no data rows\."),
        ("blank.csv", b"\n\n   \n", r"'blank\.csv' contains only blank lines\."),
        ("junk.csv", JUNK, r"'junk\.csv' looks like a binary file, not a text table\. Upload a CSV"),
        ("image.png", PNG, r"'image\.png' looks like a binary file, not a text table"),
        ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504),
         r"'old\.xls' is a legacy Excel \(\.xls\) or other Office binary file\. Save it as \.xlsx or CSV"),
        ("data.zip", _plain_zip(),
         r"'data\.zip' is a ZIP archive, not an Excel workbook\. Unzip it and upload the CSV inside\."),
        ("broken.xlsx", b"PK\x03\x04" + bytes(100), r"'broken\.xlsx' is a damaged ZIP/XLSX file"),
        ("cut.csv.gz", GOOD_GZ[: len(GOOD_GZ) // 2],
         r"'cut\.csv\.gz' looks like gzip but cannot be unpacked \(Compressed file ended"),
        ("corrupt.csv.gz", bytes(_corrupt), r"'corrupt\.csv\.gz' looks like gzip but cannot be unpacked"),
        ("empty.csv.gz", _gz(b""), r"'empty\.csv\.gz' is an empty gzip archive\."),
        ("bad.parquet", b"PAR1" + b"not really parquet" * 4, r"'bad\.parquet' is not a readable Parquet file"),
    ],
    ids=["empty", "header-only", "blank-lines", "binary-junk", "png", "legacy-xls", "plain-zip",
         "damaged-zip", "truncated-gzip", "corrupt-gzip", "empty-gzip", "corrupt-parquet"],
)
def test_unreadable_file_message(tmp_path: Path, name: str, data: bytes, message: str) -> None:
    path = _write(tmp_path, name, data)
    with pytest.raises(IngestError, match=message):
        read_table(path)
    with pytest.raises(IngestError, match=message):  # the same through the single entry point
        load_files(path)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match=r"File not found: .*nope\.csv"):
        load_files(tmp_path / "nope.csv")
    with pytest.raises(IngestError, match="is a folder; choose a file inside it"):
        read_table(tmp_path)


def test_unknown_and_wrong_encoding_override(tmp_path: Path) -> None:
    path = _write(tmp_path, "fr.csv", "item_id,title\n1,Café crème\n", encoding="cp1252")
    with pytest.raises(IngestError, match="Unknown text encoding 'klingon'"):
        read_table(path, encoding="klingon")
    with pytest.raises(IngestError, match=r"'fr\.csv' is not valid utf-8 text .*Choose its encoding"):
        read_table(path, encoding="utf-8")


# --------------------------------------------------------------------------- size limit


def test_two_gigabyte_file_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TAILSTUDIO_MAX_UPLOAD_MB", raising=False)
    path = tmp_path / "huge.csv"
    with path.open("wb") as fh:
        fh.truncate(2 * 2**30)  # sparse: no disk used, and never read
    assert path.stat().st_size == 2 * 2**30
    msg = r"'huge\.csv' is 2\.0 GB, over the upload limit of 500\.0 MB\. .*TAILSTUDIO_MAX_UPLOAD_MB"
    with pytest.raises(IngestError, match=msg):
        read_table(path)
    with pytest.raises(IngestError, match=msg):
        load_files(path)


def test_limit_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, "mid.csv", b"user_id,item_id\n" + b"u1,A\n" * 250_000)  # 1.2 MB
    monkeypatch.setenv("TAILSTUDIO_MAX_UPLOAD_MB", "1")
    assert default_max_upload_mb() == 1
    assert IngestLimits().max_bytes == 2**20
    with pytest.raises(IngestError, match=r"'mid\.csv' is 1\.2 MB, over the upload limit of 1\.0 MB"):
        load_files(path)
    monkeypatch.setenv("TAILSTUDIO_MAX_UPLOAD_MB", "2")
    assert len(read_table(path).frame) == 250_000
    monkeypatch.setenv("TAILSTUDIO_MAX_UPLOAD_MB", "lots")
    assert default_max_upload_mb() == 500  # a bad setting falls back to the default


def test_limit_from_ingest_limits(tmp_path: Path) -> None:
    data = b"user_id,item_id\n" + b"u1,A\n" * 30_000  # 150,016 bytes
    path = _write(tmp_path, "small.csv", data)
    limits = IngestLimits(max_bytes=100 * 1024)
    expected = r"is 146\.5 KB, over the upload limit of 100\.0 KB"
    with pytest.raises(IngestError, match=r"'small\.csv' " + expected):
        load_files(path, limits=limits)
    with pytest.raises(IngestError, match=r"'uploaded file' " + expected):
        read_table(data, limits=limits)  # bytes, as from an upload widget


def test_gzip_bomb_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "bomb.csv.gz", _gz(b"a,b\n" + b"0" * 3_000_000))
    with pytest.raises(IngestError, match=r"'bomb\.csv\.gz' unpacks to more than 2\.0 MB; it is too large"):
        read_table(path, limits=IngestLimits(max_bytes=2**20, max_expand=2))


# --------------------------------------------------------------------------- XLSX sheets


@pytest.fixture
def workbook(tmp_path: Path) -> Path:
    return _xlsx(tmp_path / "book.xlsx", {
        "Notes": pd.DataFrame(),
        "Orders": pd.DataFrame({"user_id": ["u1", "u2"], "item_id": ["A", "B"]}),
        "Returns": pd.DataFrame({"user_id": ["u9"], "item_id": ["Z"]}),
    })


def test_xlsx_several_sheets_first_data_sheet_read(workbook: Path) -> None:
    raw = read_table(workbook)
    assert raw.sheet == "Orders"  # 'Notes' is empty
    assert raw.sheets == ("Notes", "Orders", "Returns")
    assert raw.notes == (
        "The workbook has 3 sheets (Notes, Orders, Returns); read 'Orders'. "
        "Choose another sheet in the reading options if needed.",
    )
    result = load_files(workbook)
    assert result.interactions["item_id"].tolist() == ["A", "B"]
    assert any("The workbook has 3 sheets" in line for line in result.report.reading)


def test_xlsx_choose_another_sheet(workbook: Path) -> None:
    assert read_table(workbook, sheet="Returns").frame["item_id"].tolist() == ["Z"]
    result = load_files(workbook, read_options=ReadOptions(sheet="Returns"))
    assert result.interactions["user_id"].tolist() == ["u9"]


def test_xlsx_unknown_sheet(workbook: Path) -> None:
    message = r"'book\.xlsx' has no sheet 'Sales'; its sheets are Notes, Orders, Returns\."
    with pytest.raises(IngestError, match=message):
        load_files(workbook, read_options=ReadOptions(sheet="Sales"))


def test_xlsx_chosen_sheet_empty(workbook: Path) -> None:
    with pytest.raises(IngestError, match=r"Sheet 'Notes' of 'book\.xlsx' has no data rows; its sheets are"):
        read_table(workbook, sheet="Notes")


def test_xlsx_first_sheet_empty(tmp_path: Path) -> None:
    path = _xlsx(tmp_path / "first-empty.xlsx", {
        "Cover": pd.DataFrame({"user_id": pd.Series([], dtype=str)}),  # a header, no rows
        "Data": pd.DataFrame({"user_id": ["u1"], "item_id": ["A"]}),
    })
    raw = read_table(path)
    assert raw.sheet == "Data"
    assert raw.frame.to_dict("list") == {"user_id": ["u1"], "item_id": ["A"]}


def test_xlsx_all_sheets_empty(tmp_path: Path) -> None:
    path = _xlsx(tmp_path / "nothing.xlsx", {"A": pd.DataFrame(), "B": pd.DataFrame()})
    with pytest.raises(IngestError, match=r"'nothing\.xlsx' has no sheet with data rows\."):
        load_files(path)


# --------------------------------------------------------------------------- text quirks


def test_wrong_delimiter_override_gives_one_column(tmp_path: Path) -> None:
    path = _write(tmp_path, "orders.csv", "user_id,item_id,quantity\nu1,A,1\nu2,B,2\n")
    result = load_files(path, read_options=ReadOptions(delimiter=";"))
    assert not result.report.ok and result.interactions is None
    message = _issue(result, "missing_user_id").message
    assert message.startswith("No user id column. Columns found: user_id,item_id,quantity.")
    assert "another delimiter" in message
    assert any("Only one column was found ('user_id,item_id,quantity')" in r for r in result.report.reading)
    assert any("delimiter semicolon, 2 rows × 1 columns" in r for r in result.report.reading)


def test_latin1_without_declaration_reads_with_a_note(tmp_path: Path) -> None:
    text = "user_id;item_id;title\nu1;A;Café crème\nu2;B;Pâté\n"
    result = load_files(_write(tmp_path, "fr.csv", text, encoding="latin-1"))
    assert result.ok
    assert "The file is not UTF-8; it was read as cp1252." in result.report.reading
    assert result.catalog["title"].tolist() == ["Café crème", "Pâté"]


def test_malformed_line_skipped_with_a_note(tmp_path: Path) -> None:
    text = "user_id,item_id,qty\nu1,A,1\nu2,B,2,EXTRA,FIELDS\nu3,C,3\nu4,D,4\n"
    raw = read_table(_write(tmp_path, "ragged.csv", text))
    assert raw.frame["user_id"].tolist() == ["u1", "u3", "u4"]
    assert len(raw.notes) == 1
    assert raw.notes[0].startswith("Skipped 1 malformed line(s); first:")
    assert "Expected 3 fields in line 3, saw 5" in raw.notes[0]


# --------------------------------------------------------------------------- row problems


def test_missing_id_column(tmp_path: Path) -> None:
    result = load_files(_write(tmp_path, "m.csv", "user_id,quantity\nu1,1\n"))
    assert not result.report.ok
    assert _issue(result, "missing_item_id").message == (
        "No item id column. Columns found: user_id, quantity. Choose the item id column in the column mapping.")
    assert [i.code for i in result.report.errors] == ["missing_item_id"]


def test_all_user_ids_empty(tmp_path: Path) -> None:
    result = load_files(_write(tmp_path, "e.csv", "customer_id,sku\n,A\n  ,B\nNA,C\n"))
    assert not result.ok
    issue = _issue(result, "no_user_id")
    assert issue.level == "error" and issue.count == 3
    assert issue.message == "Every user id in column 'customer_id' is empty. Check the column mapping."


def test_duplicate_rows_counted_first_kept(tmp_path: Path) -> None:
    text = "user_id,item_id,rating\nu1,A,4\nu1,A,4\nu1,A,5\nu2,B,3\nu1,A,4\n"
    result = load_files(_write(tmp_path, "d.csv", text))
    issue = _issue(result, "duplicate")
    assert issue.count == 2
    assert issue.message == "Exact duplicate rows were dropped (first copy kept)."
    assert [s["row"] for s in issue.sample] == [3, 6]
    assert result.interactions["value"].tolist() == [4.0, 5.0, 3.0]


def test_mixed_type_ids(tmp_path: Path) -> None:
    text = "CustomerID,StockCode,Quantity\n17850,85123A,1\n17850.0,85123A,1\n17850.00,71053,2\n"
    result = load_files(_write(tmp_path, "ids.csv", text))
    assert result.report.n_users == 1
    assert set(result.interactions["user_id"]) == {"17850"}
    assert _issue(result, "float_user_id").message == (
        "2 user ids were written as decimals (e.g. 17850.0) and were read as whole numbers.")
    assert result.report.count("duplicate") == 1  # line 3 repeats line 2 once ids are normalised


def test_timestamps_in_three_formats_and_one_unreadable(tmp_path: Path) -> None:
    text = ("user_id,item_id,timestamp\n"
            "u1,A,2011-12-31T10:00:00\n"
            "u2,B,12/31/2011 10:00\n"
            "u3,C,1325325600\n"
            "u4,D,the day after\n")
    result = load_files(_write(tmp_path, "t.csv", text))
    assert result.interactions["timestamp"].tolist() == [pd.Timestamp("2011-12-31 10:00")] * 3
    issue = _issue(result, "bad_timestamp")
    assert issue.count == 1
    assert issue.message == "Rows whose timestamp ('timestamp') is empty or unreadable were dropped."
    assert issue.sample[0]["row"] == 5 and issue.sample[0]["timestamp"] == "the day after"
    assert (result.report.rows_kept, result.report.rows_dropped) == (3, 1)


def test_negative_and_zero_quantities(tmp_path: Path) -> None:
    text = "user_id,item_id,Quantity\nu1,A,2\nu2,B,-3\nu3,C,0\n"
    result = load_files(_write(tmp_path, "q.csv", text))
    issue = _issue(result, "non_positive")
    assert issue.count == 2
    assert issue.message == "Rows with a zero or negative quantity ('Quantity') were dropped (returns, corrections)."
    assert result.interactions["item_id"].tolist() == ["A"]


def test_cancelled_orders(tmp_path: Path) -> None:
    text = ("InvoiceNo,StockCode,Quantity,CustomerID\n"
            "536365,A,6,17850\nC536379,A,6,17850\nc536380,B,1,17850\n537000,B,1,13047\n")
    result = load_files(_write(tmp_path, "c.csv", text))
    issue = _issue(result, "cancelled")
    assert issue.count == 2
    assert issue.message == "Cancelled orders ('InvoiceNo' starting with C) were dropped."
    assert [s["InvoiceNo"] for s in issue.sample] == ["C536379", "c536380"]
    assert result.report.rows_kept == 2


@pytest.mark.parametrize("cell", ["", "NaN", "nan", "NA", "abc", "inf"])
def test_nan_values_in_value_column(tmp_path: Path, cell: str) -> None:
    text = f"user_id,item_id,rating\nu1,A,4\nu2,B,{cell}\nu3,C,2\n"
    result = load_files(_write(tmp_path, "v.csv", text))
    issue = _issue(result, "bad_value")
    assert issue.count == 1
    assert issue.message == "Rows whose value ('rating') is empty or not a number were dropped."
    assert issue.sample[0]["row"] == 3
    assert result.interactions["value"].tolist() == [4.0, 2.0]


def test_nan_values_in_parquet_value_column(tmp_path: Path) -> None:
    path = tmp_path / "w.parquet"
    pd.DataFrame({"user_id": ["u1", "u2"], "item_id": ["A", "B"], "weight": [1.0, float("nan")]}).to_parquet(path)
    result = load_files(path)
    assert result.report.count("bad_value") == 1
    assert result.interactions["item_id"].tolist() == ["A"]


def test_nothing_survives(tmp_path: Path) -> None:
    result = load_files(_write(tmp_path, "n.csv", "user_id,item_id,qty\nu1,A,0\nu2,B,-1\n"))
    assert not result.ok
    assert _issue(result, "no_rows").message.startswith("No interaction row survived validation")


# --------------------------------------------------------------------------- catalog problems


@pytest.fixture
def interactions(tmp_path: Path) -> Path:
    return _write(tmp_path, "i.csv", "user_id,item_id\nu1,A\nu2,B\nu2,C\nu3,Z\n")


def test_catalog_duplicate_item_ids(tmp_path: Path, interactions: Path) -> None:
    cat = _write(tmp_path, "c.csv", "item_id,title\nA,First A\nB,Bee\nA,Second A\nC,Sea\nZ,Zed\n")
    result = load_files(interactions, cat)
    assert result.ok
    issue = _issue(result, "catalog_duplicate_item_id")
    assert (issue.level, issue.table, issue.count) == ("warning", "catalog", 1)
    assert issue.message == "Catalog rows repeating an item id were dropped (first kept)."
    assert [s["row"] for s in issue.sample] == [2, 4]
    assert result.catalog.set_index("item_id").loc["A", "title"] == "First A"
    assert result.report.catalog_rows_kept == 4


def test_catalog_matching_no_interaction(tmp_path: Path, interactions: Path) -> None:
    cat = _write(tmp_path, "c.csv", "sku,title\nX-1,Ex\nX-2,Ex two\n")
    result = load_files(interactions, cat)
    assert not result.report.ok and not result.ok
    issue = _issue(result, "catalog_no_match")
    assert issue.level == "error"
    assert "catalog e.g. X-1, X-2" in issue.message
    assert "interactions e.g. A, B, C" in issue.message
    assert "Check that both files use the same item id column" in issue.message


def test_interactions_on_items_missing_from_catalog(tmp_path: Path, interactions: Path) -> None:
    cat = _write(tmp_path, "c.csv", "item_id,title\nA,Ay\nB,Bee\n")
    result = load_files(interactions, cat)
    assert result.ok
    issue = _issue(result, "unknown_item")
    assert issue.count == 2
    assert issue.message == "Interactions on items missing from the catalog were dropped."
    assert [(s["row"], s["item_id"]) for s in issue.sample] == [(4, "C"), (5, "Z")]
    assert (result.report.rows_kept, result.report.rows_dropped) == (2, 2)


def test_catalog_without_item_id_column(tmp_path: Path, interactions: Path) -> None:
    cat = _write(tmp_path, "c.csv", "name,colour\nAy,red\n")
    result = load_files(interactions, cat)
    assert not result.ok
    assert _issue(result, "catalog_missing_item_id").message.startswith(
        "The catalog has no item id column (columns: name, colour)")


# --------------------------------------------------------------------------- CLI


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "recsys", "validate", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("empty.csv", b"", "error: 'empty.csv' is empty (0 bytes). Choose a file that contains data."),
        ("corrupt.csv.gz", bytes(_corrupt), "error: 'corrupt.csv.gz' looks like gzip but cannot be unpacked"),
    ],
    ids=["empty", "corrupt-gzip"],
)
def test_cli_unreadable_file_exits_2(tmp_path: Path, name: str, data: bytes, message: str) -> None:
    proc = _cli("--interactions", str(_write(tmp_path, name, data)))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(message)


def test_cli_report_with_errors_exits_1(tmp_path: Path) -> None:
    proc = _cli("--interactions", str(_write(tmp_path, "e.csv", "user_id,item_id\n,A\n,B\n")))
    assert proc.returncode == 1
    assert "NOT USABLE" in proc.stdout
    assert proc.stderr.strip() == "error: Every user id in column 'user_id' is empty. Check the column mapping."


def test_cli_json(tmp_path: Path) -> None:
    path = _write(tmp_path, "q.csv", "user_id,item_id,quantity\nu1,A,1\nu2,B,0\nu3,C,2\n")
    proc = _cli("--interactions", str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert (data["rows_read"], data["rows_kept"], data["rows_dropped"], data["ok"]) == (3, 2, 1, True)
    assert [i["code"] for i in data["issues"]] == ["non_positive"]


def test_row_numbers_stay_true_after_skipped_lines(tmp_path: Path) -> None:
    """Rows reported by validation point at their real file lines even after malformed
    (and blank) lines were skipped while reading."""
    text = ("user_id,item_id,Quantity\n"
            "u1,A,1\n"          # line 2
            "u2,B,2,extra\n"    # line 3: malformed, skipped
            "\n"                # line 4: blank
            "u3,C,-5\n"         # line 5: negative quantity
            "u4,D,1,x,y\n"      # line 6: malformed, skipped
            "u5,,1\n")          # line 7: missing item id
    result = load_files(_write(tmp_path, "ragged.csv", text))
    assert any("Skipped 2 malformed line(s)" in note for note in result.report.reading)
    assert [s["row"] for s in _issue(result, "missing_item_id").sample] == [7]
    negative = [i for i in result.report.issues if i.sample and i.sample[0].get("item_id") == "C"]
    assert negative and negative[0].sample[0]["row"] == 5


def test_unclosed_quote_is_reported(tmp_path: Path) -> None:
    """An opening quote that is never closed swallows the following lines into one cell; the
    reading notes say so instead of silently losing those rows."""
    text = 'user_id,item_id,title\nu1,A,"ok"\nu2,B,"broken title\nu3,C,fine\nu4,D,fine\n'
    result = load_files(_write(tmp_path, "quotes.csv", text))
    notes = " ".join(result.report.reading)
    assert "inside quotes in column 'title'" in notes and "data row 2" in notes
    clean = load_files(_write(tmp_path, "fine.csv", 'user_id,item_id,title\nu1,A,"two\nlines"\nu2,B,x\n'))
    assert "inside quotes" in " ".join(clean.report.reading)  # worded as a check, not an error


def test_ragged_lines_and_an_unclosed_quote_together(tmp_path: Path) -> None:
    """A Latin-1 file with a line of too many fields *and* a quote never closed: the C parser's
    second pass used to fail at the end of the file; now the rows are read, quotes as text."""
    text = ("CustomerID;StockCode;Description;Quantity;InvoiceDate\n"
            "1;A1;Caf\xe9 mug;2;2024-01-02 10:00\n"
            "2;A2;Tea pot;-3;2024-01-02 11:00\n"
            "3;A3;Oak board;1;2024-01-03 10:00;extra\n"
            '4;A4;"Broken quote;1;2024-01-04 10:00\n'
            "5;A5;Lamp;1;2024-01-05 10:00\n")
    path = tmp_path / "ragged.csv"
    path.write_bytes(text.encode("latin-1"))
    result = load_files(path)
    notes = " ".join(result.report.reading)
    assert "Skipped 1 malformed line(s)" in notes
    assert "opening quote is never closed" in notes
    assert set(result.interactions["item_id"]) == {"A1", "A4", "A5"}  # A2 negative, A3 ragged


@pytest.mark.parametrize("reader", ["auto", "batched"])
def test_cli_empty_file_message_whatever_the_reader(tmp_path: Path, reader: str) -> None:
    proc = _cli("--interactions", str(_write(tmp_path, "empty.csv", b"")), "--reader", reader)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "error: 'empty.csv' is empty (0 bytes). Choose a file that contains data."]
