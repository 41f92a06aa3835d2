"""Read a user's file into a raw table, whatever shape it arrives in.

Handles CSV/TSV/TXT (delimiter and encoding sniffed: UTF-8, UTF-8 with BOM, UTF-16 with BOM,
Windows-1252 / latin-1), gzip-compressed text, Parquet and XLSX (sheet chosen by name or the
first one holding data). Everything that can go wrong with the *file itself* raises
:class:`IngestError` whose message is written for the person who uploaded it; problems with
individual rows are left to :mod:`recsys.data.validation`.

The bytes are checked and sniffed by :mod:`recsys.data.decoding`, text tables parsed by
:mod:`recsys.data.text_tables`; Parquet and XLSX are read here. Text columns are read as
strings so that ids such as ``00123`` keep their leading zeros.
"""

from __future__ import annotations

import io
import zipfile
import zlib

import pandas as pd
import pyarrow.parquet as pq

from recsys.data.decoding import (
    DELIMITERS,
    GZIP_MAGIC,
    OLE_MAGIC,
    PARQUET_MAGIC,
    ZIP_MAGIC,
    IngestError,
    IngestLimits,
    RawTable,
    Source,
    check_signature,
    default_max_upload_mb,
    gunzip,
    load_bytes,
    sniff_delimiter,
)
from recsys.data.limits import check_columns, check_rows, check_xlsx
from recsys.data.text_tables import ColumnChooser, read_text, tidy_columns

__all__ = [
    "IngestError",
    "IngestLimits",
    "ColumnChooser",
    "RawTable",
    "Source",
    "read_table",
    "default_max_upload_mb",
    "DELIMITERS",
    "sniff_delimiter",
]


def read_table(
    source: Source,
    *,
    name: str | None = None,
    sheet: str | None = None,
    delimiter: str | None = None,
    encoding: str | None = None,
    header: bool | None = None,
    limits: IngestLimits | None = None,
    usecols: ColumnChooser | None = None,
) -> RawTable:
    """Read ``source`` (path, bytes or an uploaded file object) into a :class:`RawTable`.

    ``delimiter``, ``encoding``, ``header`` and ``sheet`` override what is sniffed. ``usecols``
    chooses, from a text file's header, the columns worth parsing (Parquet and XLSX are read
    whole).
    Raises :class:`IngestError` with a user-facing message when the file cannot be read.
    """
    limits = limits or IngestLimits()
    data, default_name, size = load_bytes(source, limits)
    name = name or default_name
    if not data:
        raise IngestError(f"'{name}' is empty (0 bytes). Choose a file that contains data.")
    check_signature(data, name)
    compressed = data[:2] == GZIP_MAGIC
    if compressed:
        data = gunzip(data, name, limits)
        if not data:
            raise IngestError(f"'{name}' is an empty gzip archive.")
        check_signature(data, name, unpacked=True)
    if data[:4] == PARQUET_MAGIC:
        return _read_parquet(data, name, compressed, size, limits)
    if data[:4] == ZIP_MAGIC:
        return _read_xlsx(data, name, sheet, compressed, size, limits)
    if data[:4] == OLE_MAGIC:
        raise IngestError(
            f"'{name}' is a legacy Excel (.xls) or other Office binary file. "
            "Save it as .xlsx or CSV and upload it again."
        )
    return read_text(data, name, compressed, size, delimiter, encoding, header, limits=limits,
                     usecols=usecols)


def _read_parquet(data: bytes, name: str, compressed: bool, size: int,
                  limits: IngestLimits) -> RawTable:
    """A Parquet file; its own compression is left to Arrow, but rows and columns are checked
    from the footer before any column is read."""
    try:
        meta = pq.ParquetFile(io.BytesIO(data))
        rows, columns = meta.metadata.num_rows, len(meta.schema_arrow.names)
    except Exception as exc:  # pyarrow raises many types for corrupt files
        raise IngestError(f"'{name}' is not a readable Parquet file ({exc}).") from exc
    check_columns(columns, name, limits)
    check_rows(rows, name, limits)
    try:
        frame = pd.read_parquet(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises many types for corrupt files
        raise IngestError(f"'{name}' is not a readable Parquet file ({exc}).") from exc
    frame = tidy_columns(frame)
    if frame.empty:
        raise IngestError(f"'{name}' has no data rows.")
    return RawTable(frame, name, "parquet", compressed=compressed, size_bytes=size)


def _read_xlsx(data: bytes, name: str, sheet: str | None, compressed: bool, size: int,
               limits: IngestLimits) -> RawTable:
    """An XLSX workbook: its unpacked size and sheet rows are checked as a stream first (the
    spreadsheet reader loads a sheet whole), then the chosen sheet is read as text."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            if "xl/workbook.xml" not in zf.namelist():
                raise IngestError(f"'{name}' is a ZIP archive, not an Excel workbook. Unzip it "
                                  "and upload the CSV inside.")
            check_xlsx(zf, name, limits)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise IngestError(f"'{name}' is a damaged ZIP/XLSX file ({exc}).") from exc
    try:
        book = pd.ExcelFile(io.BytesIO(data), engine=_excel_engine())
        sheets = tuple(str(s) for s in book.sheet_names)
        notes: list[str] = []
        if sheet is not None and sheet not in sheets:
            raise IngestError(f"'{name}' has no sheet '{sheet}'; its sheets are {', '.join(sheets)}.")
        chosen, frame = sheet, None
        for candidate in [sheet] if sheet else sheets:
            frame = pd.read_excel(book, sheet_name=candidate, dtype=str)
            chosen = candidate
            if not frame.dropna(how="all").empty:
                break
    except IngestError:
        raise
    except Exception as exc:
        raise IngestError(f"'{name}' could not be read as an Excel workbook ({exc}).") from exc
    if frame is None or frame.dropna(how="all").empty:
        if sheet is not None:
            raise IngestError(f"Sheet '{sheet}' of '{name}' has no data rows; its sheets are {', '.join(sheets)}.")
        raise IngestError(f"'{name}' has no sheet with data rows.")
    if len(sheets) > 1:
        notes.append(
            f"The workbook has {len(sheets)} sheets ({', '.join(sheets)}); read '{chosen}'. "
            "Choose another sheet in the reading options if needed."
        )
    frame = tidy_columns(frame.dropna(how="all"))
    check_columns(frame.shape[1], name, limits)
    return RawTable(
        frame, name, "xlsx", compressed=compressed, sheet=chosen, sheets=sheets,
        notes=tuple(notes), size_bytes=size,
    )


def _excel_engine() -> str:
    try:
        import python_calamine  # noqa: F401

        return "calamine"
    except ImportError:  # pragma: no cover - calamine is pinned, openpyxl is the fallback
        return "openpyxl"
