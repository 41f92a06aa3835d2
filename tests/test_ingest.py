"""Tests for reading files into raw tables: delimiters, encodings, compression, Parquet, XLSX,
header detection, id text preservation and the one-line description."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pandas as pd
import pytest

from recsys.data.formats import load_files
from recsys.data.reading import DELIMITERS, IngestError, RawTable, read_table, sniff_delimiter

# --------------------------------------------------------------------------- helpers


def _write(tmp_path: Path, name: str, data: bytes | str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode(encoding) if isinstance(data, str) else data)
    return path


CATALOG_TEXT = "item_id,title,price\n001,Café crème,2.50\n002,Crème brûlée,4.00\n003,Über Müsli,3.10\n"
TITLES = ["Café crème", "Crème brûlée", "Über Müsli"]


# --------------------------------------------------------------------------- delimiters


@pytest.mark.parametrize(
    ("delimiter", "label"), [(",", "comma"), (";", "semicolon"), ("\t", "tab"), ("|", "pipe")]
)
def test_delimiter_is_sniffed(tmp_path: Path, delimiter: str, label: str) -> None:
    rows = [["user_id", "item_id", "rating"], ["u1", "A", "4.5"], ["u2", "B", "3"], ["u3", "C", "1"]]
    path = _write(tmp_path, "ratings.txt", "\n".join(delimiter.join(r) for r in rows) + "\n")

    raw = read_table(path)

    assert raw.delimiter == delimiter
    assert raw.file_format == "csv"
    assert list(raw.frame.columns) == ["user_id", "item_id", "rating"]
    assert raw.frame["item_id"].tolist() == ["A", "B", "C"]
    assert raw.frame["rating"].tolist() == ["4.5", "3", "1"]
    assert f"delimiter {label}" in raw.describe()


def test_delimiter_inside_quotes_does_not_fool_the_sniffer(tmp_path: Path) -> None:
    text = 'item_id,title\n1,"Salt; pepper; oil"\n2,"Tea; coffee"\n3,"Bread"\n'
    raw = read_table(_write(tmp_path, "cat.csv", text))
    assert raw.delimiter == ","
    assert raw.frame["title"].tolist() == ["Salt; pepper; oil", "Tea; coffee", "Bread"]


@pytest.mark.parametrize("delimiter", DELIMITERS)
def test_sniff_delimiter_unit(delimiter: str) -> None:
    sample = "\n".join(delimiter.join(["a", "b", "c"]) for _ in range(5)) + "\n"
    assert sniff_delimiter(sample) == delimiter


def test_sniff_delimiter_ignores_a_cut_last_line() -> None:
    # The sample ends inside a line; that partial line must not spoil consistency.
    sample = "a;b;c\n1;2;3\n4;5;6\n7;8"
    assert sniff_delimiter(sample) == ";"


def test_delimiter_override_wins(tmp_path: Path) -> None:
    path = _write(tmp_path, "x.csv", "a,b;c\n1,2;3\n4,5;6\n")
    assert read_table(path).delimiter == ","
    raw = read_table(path, delimiter=";")
    assert raw.delimiter == ";"
    assert list(raw.frame.columns) == ["a,b", "c"]


# --------------------------------------------------------------------------- encodings


@pytest.mark.parametrize(
    ("codec", "expected_encoding", "not_utf8_note"),
    [
        ("utf-8", "utf-8", False),
        ("utf-8-sig", "utf-8-sig", False),
        ("utf-16", "utf-16", True),  # Python's utf-16 codec writes a BOM
        ("cp1252", "cp1252", True),
        ("latin-1", "cp1252", True),  # undeclared latin-1 decodes as its superset cp1252
    ],
)
def test_encodings_decode_accented_titles(
    tmp_path: Path, codec: str, expected_encoding: str, not_utf8_note: bool
) -> None:
    path = _write(tmp_path, f"catalog-{codec}.csv", CATALOG_TEXT, encoding=codec)

    raw = read_table(path)

    assert raw.encoding == expected_encoding
    assert list(raw.frame.columns) == ["item_id", "title", "price"]  # no BOM left in the name
    assert raw.frame["title"].tolist() == TITLES
    assert raw.frame["item_id"].tolist() == ["001", "002", "003"]
    has_note = any("not UTF-8" in n for n in raw.notes)
    assert has_note is not_utf8_note
    if not_utf8_note:
        assert f"it was read as {expected_encoding}" in " ".join(raw.notes)


def test_cp1252_specific_characters(tmp_path: Path) -> None:
    text = "item_id,title\n1,Prix 5 € – “spécial”\n2,Crème\n"
    raw = read_table(_write(tmp_path, "win.csv", text, encoding="cp1252"))
    assert raw.encoding == "cp1252"
    assert raw.frame["title"].tolist() == ["Prix 5 € – “spécial”", "Crème"]


def test_accented_header_in_latin1(tmp_path: Path) -> None:
    raw = read_table(_write(tmp_path, "fr.csv", "Référence;Désignation\nA1;Café\n", encoding="latin-1"))
    assert raw.delimiter == ";"
    assert list(raw.frame.columns) == ["Référence", "Désignation"]
    assert raw.frame.iloc[0].tolist() == ["A1", "Café"]


def test_encoding_override(tmp_path: Path) -> None:
    path = _write(tmp_path, "l1.csv", CATALOG_TEXT, encoding="latin-1")
    raw = read_table(path, encoding="latin-1")
    assert raw.encoding == "latin-1"
    assert raw.frame["title"].tolist() == TITLES


def test_utf16_tab_separated(tmp_path: Path) -> None:
    text = "user_id\titem_id\nü1\tA\nü2\tB\n"
    raw = read_table(_write(tmp_path, "u16.tsv", text, encoding="utf-16"))
    assert raw.delimiter == "\t"
    assert raw.frame["user_id"].tolist() == ["ü1", "ü2"]


# --------------------------------------------------------------------------- gzip, Parquet, XLSX


def test_gzip_csv(tmp_path: Path) -> None:
    path = _write(tmp_path, "catalog.csv.gz", gzip.compress(CATALOG_TEXT.encode("utf-8"), mtime=0))

    raw = read_table(path)

    assert raw.compressed is True
    assert raw.file_format == "csv"
    assert raw.frame["title"].tolist() == TITLES
    assert raw.describe().startswith("CSV (gzip), encoding utf-8, delimiter comma")
    assert raw.size_bytes == path.stat().st_size


def test_gzip_latin1_semicolon(tmp_path: Path) -> None:
    data = gzip.compress(CATALOG_TEXT.replace(",", ";").encode("latin-1"), mtime=0)
    raw = read_table(_write(tmp_path, "c.txt.gz", data))
    assert (raw.compressed, raw.delimiter, raw.encoding) == (True, ";", "cp1252")
    assert raw.frame["title"].tolist() == TITLES


def test_parquet(tmp_path: Path) -> None:
    path = tmp_path / "events.parquet"
    pd.DataFrame(
        {"user_id": ["007", "008"], "item_id": [10, 20], "rating": [4.5, 3.0]}
    ).to_parquet(path, engine="pyarrow")

    raw = read_table(path)

    assert raw.file_format == "parquet"
    assert raw.encoding is None and raw.delimiter is None
    assert raw.frame["user_id"].tolist() == ["007", "008"]
    assert raw.frame["item_id"].tolist() == [10, 20]
    assert raw.frame["rating"].tolist() == [4.5, 3.0]
    assert raw.describe() == "PARQUET, 2 rows × 3 columns"


def test_gzipped_parquet(tmp_path: Path) -> None:
    buf = io.BytesIO()
    pd.DataFrame({"user_id": ["a"], "item_id": ["b"]}).to_parquet(buf, engine="pyarrow")
    raw = read_table(_write(tmp_path, "p.parquet.gz", gzip.compress(buf.getvalue(), mtime=0)))
    assert (raw.file_format, raw.compressed) == ("parquet", True)
    assert raw.describe() == "PARQUET (gzip), 1 rows × 2 columns"


def test_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "orders.xlsx"
    pd.DataFrame(
        {"CustomerID": [17850, 13047], "StockCode": ["00123", "85123A"], "Title": ["Café crème", "Thé"]}
    ).to_excel(path, index=False, sheet_name="Orders", engine="openpyxl")

    raw = read_table(path)

    assert raw.file_format == "xlsx"
    assert raw.sheet == "Orders"
    assert raw.sheets == ("Orders",)
    assert raw.notes == ()  # a single sheet needs no note
    assert raw.frame["StockCode"].tolist() == ["00123", "85123A"]  # text cell keeps its zeros
    assert raw.frame["CustomerID"].tolist() == ["17850", "13047"]  # numbers come back as text
    assert raw.frame["Title"].tolist() == ["Café crème", "Thé"]
    assert raw.describe() == "XLSX, sheet 'Orders', 2 rows × 3 columns"


def test_xlsx_through_load_files(tmp_path: Path) -> None:
    path = tmp_path / "events.xlsx"
    pd.DataFrame({"user": ["u1", "u2", "u1"], "sku": ["007", "008", "008"], "qty": [1, 2, 3]}).to_excel(
        path, index=False, engine="openpyxl"
    )
    result = load_files(path)
    assert result.ok
    assert result.interactions["item_id"].tolist() == ["007", "008", "008"]
    assert result.interactions["value"].tolist() == [1.0, 2.0, 3.0]
    assert result.report.reading[0].startswith("events.xlsx: XLSX, sheet 'Sheet1'")


# --------------------------------------------------------------------------- header detection


def test_headerless_numeric_file_gets_generic_names(tmp_path: Path) -> None:
    raw = read_table(_write(tmp_path, "u.csv", "1,10,5,881250949\n2,20,3,881250950\n3,30,4,881250951\n"))

    assert raw.has_header is False
    assert list(raw.frame.columns) == ["column_1", "column_2", "column_3", "column_4"]
    assert len(raw.frame) == 3  # the first line is data, not lost as a header
    assert raw.frame.iloc[0].tolist() == ["1", "10", "5", "881250949"]
    assert any("column_1, column_2" in n for n in raw.notes)
    assert "no header row" in raw.describe()


def test_headerless_file_with_dates_is_still_headerless(tmp_path: Path) -> None:
    text = "1,10,4.5,2011-12-31 10:00:00\n2,11,3,2011-12-30T10:00:00Z\n"
    raw = read_table(_write(tmp_path, "dated.csv", text))
    assert raw.has_header is False
    assert raw.frame["column_4"].tolist() == ["2011-12-31 10:00:00", "2011-12-30T10:00:00Z"]


def test_header_row_detected(tmp_path: Path) -> None:
    raw = read_table(_write(tmp_path, "h.csv", "user,item,2011\n1,2,3\n"))
    assert raw.has_header is True
    assert list(raw.frame.columns) == ["user", "item", "2011"]
    assert "no header row" not in raw.describe()


@pytest.mark.parametrize(("header", "n_rows", "first_col"), [(True, 1, "1"), (False, 2, "column_1")])
def test_header_override(tmp_path: Path, header: bool, n_rows: int, first_col: str) -> None:
    raw = read_table(_write(tmp_path, "n.csv", "1,2\n3,4\n"), header=header)
    assert raw.has_header is header
    assert len(raw.frame) == n_rows
    assert raw.frame.columns[0] == first_col


def test_column_names_are_trimmed(tmp_path: Path) -> None:
    raw = read_table(_write(tmp_path, "s.csv", " user_id , item_id \nu1,A\n"))
    assert list(raw.frame.columns) == ["user_id", "item_id"]


def test_crlf_line_endings(tmp_path: Path) -> None:
    raw = read_table(_write(tmp_path, "w.csv", "user_id;item_id\r\nu1;A\r\nu2;B\r\n"))
    assert raw.delimiter == ";"
    assert raw.frame["item_id"].tolist() == ["A", "B"]


# --------------------------------------------------------------------------- ids stay text


def test_leading_zeros_preserved(tmp_path: Path) -> None:
    text = "user_id,item_id,qty\n00042,000123,1\n00042,0001,2\n7,000123,1\n"
    path = _write(tmp_path, "z.csv", text)

    raw = read_table(path)
    assert raw.frame["user_id"].tolist() == ["00042", "00042", "7"]
    assert raw.frame["item_id"].tolist() == ["000123", "0001", "000123"]

    result = load_files(path)
    assert result.ok
    assert result.interactions["user_id"].tolist() == ["00042", "00042", "7"]
    assert result.interactions["item_id"].tolist() == ["000123", "0001", "000123"]
    assert result.report.n_items == 2


def test_na_markers_become_missing_but_text_stays(tmp_path: Path) -> None:
    raw = read_table(_write(tmp_path, "na.csv", "user_id,item_id\nNA,A\nnull,B\nNaNa,C\n"))
    assert raw.frame["user_id"].isna().tolist() == [True, True, False]
    assert raw.frame["user_id"].iloc[2] == "NaNa"


# --------------------------------------------------------------------------- sources and describe()


def test_describe_line_exact(tmp_path: Path) -> None:
    rows = "".join(f"u{i},i{i % 7},1\n" for i in range(1234))
    raw = read_table(_write(tmp_path, "big.csv", "user_id,item_id,qty\n" + rows))
    assert raw.describe() == "CSV, encoding utf-8, delimiter comma, 1,234 rows × 3 columns"


def test_bytes_and_file_objects(tmp_path: Path) -> None:
    data = b"user_id,item_id\nu1,A\n"
    assert read_table(data).name == "uploaded file"
    assert read_table(data, name="mine.csv").name == "mine.csv"

    buf = io.BytesIO(data)
    buf.name = "upload.csv"  # what Streamlit's UploadedFile looks like
    raw = read_table(buf)
    assert isinstance(raw, RawTable)
    assert raw.name == "upload.csv"
    assert raw.size_bytes == len(data)
    assert raw.frame["item_id"].tolist() == ["A"]


def test_single_column_gets_a_note(tmp_path: Path) -> None:
    raw = read_table(_write(tmp_path, "one.csv", "user_id\nu1\nu2\n"))
    assert raw.frame.shape == (2, 1)
    assert any("Only one column was found ('user_id')" in n for n in raw.notes)


def test_ingest_error_is_a_value_error() -> None:
    assert issubclass(IngestError, ValueError)
    with pytest.raises(IngestError, match="is empty"):
        read_table(b"", name="e.csv")


def test_mostly_utf8_with_a_stray_byte_keeps_accents(tmp_path: Path) -> None:
    body = "user_id,item_id,title\n" + "".join(f"u{i},i{i},Crème brûlée {i}\n" for i in range(30))
    data = body.encode("utf-8") + b"u99,i99,caf\xe9\n"  # one latin-1 byte pasted in
    path = tmp_path / "mixed.csv"
    path.write_bytes(data)
    raw = read_table(path)
    assert raw.encoding == "utf-8"
    assert raw.frame.loc[0, "title"] == "Crème brûlée 0"
    assert raw.frame.iloc[-1]["title"] == "caf\ufffd"
    assert any("not valid UTF-8" in note for note in raw.notes)
