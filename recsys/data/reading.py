"""Read a user's file into a raw table, whatever shape it arrives in.

Handles CSV/TSV/TXT (delimiter and encoding sniffed: UTF-8, UTF-8 with BOM, UTF-16 with BOM,
Windows-1252 / latin-1), gzip-compressed text, Parquet and XLSX (sheet chosen by name or the
first one holding data). Everything that can go wrong with the *file itself* raises
:class:`IngestError` whose message is written for the person who uploaded it; problems with
individual rows are left to :mod:`recsys.data.validation`.

Text columns are read as strings so that ids such as ``00123`` keep their leading zeros.
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
import os
import re
import warnings
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np
import pandas as pd

__all__ = [
    "IngestError",
    "IngestLimits",
    "RawTable",
    "read_table",
    "default_max_upload_mb",
    "DELIMITERS",
    "sniff_delimiter",
]

log = logging.getLogger(__name__)

#: Delimiters the sniffer considers, most common first.
DELIMITERS: tuple[str, ...] = (",", ";", "\t", "|")
_SNIFF_BYTES = 256 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGIC = b"PK\x03\x04"
_PARQUET_MAGIC = b"PAR1"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # legacy .xls and other OLE files

Source = str | os.PathLike | bytes | BinaryIO


class IngestError(ValueError):
    """A file that cannot be read at all; the message says why and what to do."""


def default_max_upload_mb() -> int:
    """Upload size limit in MB: ``TAILSTUDIO_MAX_UPLOAD_MB`` or 500."""
    try:
        return max(1, int(os.environ.get("TAILSTUDIO_MAX_UPLOAD_MB", "500")))
    except ValueError:
        return 500


@dataclass(frozen=True)
class IngestLimits:
    """Guards against files too large to handle.

    ``max_bytes`` caps the file as given; ``max_expand`` caps how much a compressed file may
    grow when unpacked (a defence against decompression bombs).
    """

    max_bytes: int = field(default_factory=lambda: default_max_upload_mb() * 2**20)
    max_expand: int = 20


@dataclass(frozen=True)
class RawTable:
    """A file read into a frame of (mostly) strings, plus how it was read."""

    frame: pd.DataFrame
    name: str
    file_format: Literal["csv", "parquet", "xlsx"]
    encoding: str | None = None
    delimiter: str | None = None
    compressed: bool = False
    has_header: bool = True
    sheet: str | None = None
    sheets: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    size_bytes: int = 0

    def describe(self) -> str:
        """One line on how the file was read, for the UI and the CLI."""
        parts = [f"{self.file_format.upper()}{' (gzip)' if self.compressed else ''}"]
        if self.encoding:
            parts.append(f"encoding {self.encoding}")
        if self.delimiter:
            parts.append(f"delimiter {_delimiter_name(self.delimiter)}")
        if self.sheet:
            parts.append(f"sheet '{self.sheet}'")
        if not self.has_header:
            parts.append("no header row")
        parts.append(f"{len(self.frame):,} rows × {self.frame.shape[1]} columns")
        return ", ".join(parts)


def _delimiter_name(delimiter: str) -> str:
    return {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}.get(delimiter, repr(delimiter))


def _fmt_size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover


def _load_bytes(source: Source, limits: IngestLimits) -> tuple[bytes, str, int]:
    """Return the raw bytes, a display name and the size, refusing files over the limit."""
    if isinstance(source, bytes | bytearray):
        data, name = bytes(source), "uploaded file"
    elif isinstance(source, str | os.PathLike):
        path = Path(source)
        name = path.name
        if not path.exists():
            raise IngestError(f"File not found: {path}")
        if path.is_dir():
            raise IngestError(f"{path} is a folder; choose a file inside it.")
        size = path.stat().st_size
        if size > limits.max_bytes:
            raise IngestError(
                f"'{name}' is {_fmt_size(size)}, over the upload limit of "
                f"{_fmt_size(limits.max_bytes)}. Filter or split the file, or raise the limit "
                "with TAILSTUDIO_MAX_UPLOAD_MB."
            )
        data = path.read_bytes()
    else:
        name = getattr(source, "name", "uploaded file")
        size = getattr(source, "size", None)
        if size is not None and size > limits.max_bytes:
            raise IngestError(
                f"'{name}' is {_fmt_size(size)}, over the upload limit of "
                f"{_fmt_size(limits.max_bytes)}."
            )
        data = source.getvalue() if hasattr(source, "getvalue") else source.read()
    if len(data) > limits.max_bytes:
        raise IngestError(
            f"'{name}' is {_fmt_size(len(data))}, over the upload limit of "
            f"{_fmt_size(limits.max_bytes)}. Raise it with TAILSTUDIO_MAX_UPLOAD_MB."
        )
    return data, name, len(data)


def read_table(
    source: Source,
    *,
    name: str | None = None,
    sheet: str | None = None,
    delimiter: str | None = None,
    encoding: str | None = None,
    header: bool | None = None,
    limits: IngestLimits | None = None,
) -> RawTable:
    """Read ``source`` (path, bytes or an uploaded file object) into a :class:`RawTable`.

    ``delimiter``, ``encoding``, ``header`` and ``sheet`` override what is sniffed.
    Raises :class:`IngestError` with a user-facing message when the file cannot be read.
    """
    limits = limits or IngestLimits()
    data, default_name, size = _load_bytes(source, limits)
    name = name or default_name
    if not data:
        raise IngestError(f"'{name}' is empty (0 bytes). Choose a file that contains data.")
    compressed = data[:2] == _GZIP_MAGIC
    if compressed:
        data = _gunzip(data, name, limits)
        if not data:
            raise IngestError(f"'{name}' is an empty gzip archive.")
    if data[:4] == _PARQUET_MAGIC:
        return _read_parquet(data, name, compressed, size)
    if data[:4] == _ZIP_MAGIC:
        return _read_xlsx(data, name, sheet, compressed, size)
    if data[:4] == _OLE_MAGIC:
        raise IngestError(
            f"'{name}' is a legacy Excel (.xls) or other Office binary file. "
            "Save it as .xlsx or CSV and upload it again."
        )
    return _read_text(data, name, compressed, size, delimiter, encoding, header)


def _gunzip(data: bytes, name: str, limits: IngestLimits) -> bytes:
    cap = limits.max_bytes * limits.max_expand
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as fh:
            out = fh.read(cap + 1)
    except (OSError, EOFError, zlib.error) as exc:  # zlib.error: corrupt deflate data
        raise IngestError(f"'{name}' looks like gzip but cannot be unpacked ({exc}).") from exc
    if len(out) > cap:
        raise IngestError(f"'{name}' unpacks to more than {_fmt_size(cap)}; it is too large.")
    return out


def _read_parquet(data: bytes, name: str, compressed: bool, size: int) -> RawTable:
    try:
        frame = pd.read_parquet(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises many types for corrupt files
        raise IngestError(f"'{name}' is not a readable Parquet file ({exc}).") from exc
    frame = _tidy_columns(frame)
    if frame.empty:
        raise IngestError(f"'{name}' has no data rows.")
    return RawTable(frame, name, "parquet", compressed=compressed, size_bytes=size)


def _read_xlsx(data: bytes, name: str, sheet: str | None, compressed: bool, size: int) -> RawTable:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            is_xlsx = "xl/workbook.xml" in zf.namelist()
    except zipfile.BadZipFile as exc:
        raise IngestError(f"'{name}' is a damaged ZIP/XLSX file ({exc}).") from exc
    if not is_xlsx:
        raise IngestError(
            f"'{name}' is a ZIP archive, not an Excel workbook. Unzip it and upload the CSV inside."
        )
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
    frame = _tidy_columns(frame.dropna(how="all"))
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


def _decode_sample(data: bytes, name: str, encoding: str | None) -> tuple[str, str]:
    """Pick the encoding and return it with a decoded sample of the start of the file."""
    if encoding is None:
        if data[:3] == b"\xef\xbb\xbf":
            encoding = "utf-8-sig"
        elif data[:2] in (b"\xff\xfe", b"\xfe\xff"):
            encoding = "utf-16"
        elif b"\x00" in data[:8192]:
            raise IngestError(
                f"'{name}' looks like a binary file, not a text table. Upload a CSV, TSV, "
                "Parquet or XLSX file."
            )
        else:
            encoding = _guess_text_encoding(data)
    try:
        sample = data[:_SNIFF_BYTES].decode(encoding, errors="strict")
    except UnicodeDecodeError:
        # The cut may fall inside a multi-byte character; retry a few bytes shorter.
        sample = data[: _SNIFF_BYTES - 4].decode(encoding, errors="ignore")
    except LookupError as exc:
        raise IngestError(f"Unknown text encoding '{encoding}'.") from exc
    control = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\r\n\t")
    if sample and control / len(sample) > 0.01:
        raise IngestError(
            f"'{name}' does not look like a text table (it contains binary data). Upload a CSV, "
            "TSV, Parquet or XLSX file."
        )
    return encoding, sample


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _mostly_utf8(data: bytes) -> tuple[bytes, int] | None:
    """Repair a UTF-8 file with a few stray bytes (e.g. one pasted latin-1 character).

    When valid multi-byte UTF-8 characters outnumber invalid bytes ten to one, reading the file
    as Windows-1252 would garble every accent, so the stray bytes become U+FFFD instead. Returns
    the repaired bytes and the number of replacements, or ``None`` when not mostly UTF-8.
    """
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    multibyte = len(_NON_ASCII.findall(text)) - bad
    if bad and multibyte >= 10 * bad:
        return text.encode("utf-8"), bad
    return None


def _guess_text_encoding(data: bytes) -> str:
    """UTF-8 when the whole file decodes as UTF-8, else Windows-1252, else latin-1."""
    for enc in ("utf-8", "cp1252"):
        try:
            data.decode(enc)
            return enc
        except UnicodeDecodeError:
            continue
    return "latin-1"


def sniff_delimiter(sample: str) -> str:
    """Choose the delimiter that splits the sample's lines into the most consistent columns."""
    lines = [ln for ln in sample.splitlines()[:200] if ln.strip()]
    if len(lines) > 1 and not sample.endswith(("\n", "\r")):
        lines = lines[:-1]  # the sample may cut the last line
    best, best_score = ",", (0.0, 0)
    for delim in DELIMITERS:
        try:
            counts = [len(row) for row in csv.reader(lines, delimiter=delim)]
        except csv.Error:
            continue
        if not counts:
            continue
        mode, freq = Counter(counts).most_common(1)[0]
        if mode < 2:
            continue
        score = (freq / len(counts), mode)
        if score > best_score:
            best, best_score = delim, score
    return best


def _looks_like_header(first_row: list[str]) -> bool:
    """A header has at least one field that is not a number or a date-like value."""
    return not all(_NUMERIC.match(f) or _DATE_LIKE.match(f) for f in first_row if f.strip()) and any(
        f.strip() for f in first_row
    )


_NUMERIC = re.compile(r"^\s*[-+]?(\d+([.,]\d*)?|\.\d+)([eE][-+]?\d+)?\s*$")
_DATE_LIKE = re.compile(
    r"^\s*\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*(Z|[+-]\d{2}:?\d{2})?\s*$"
)


def _read_text(
    data: bytes,
    name: str,
    compressed: bool,
    size: int,
    delimiter: str | None,
    encoding: str | None,
    header: bool | None,
) -> RawTable:
    repaired = None
    if encoding is None and data[:3] != b"\xef\xbb\xbf" and data[:2] not in (b"\xff\xfe", b"\xfe\xff"):
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            repaired = _mostly_utf8(data)
    if repaired is not None:
        data, encoding = repaired[0], "utf-8"
    encoding, sample = _decode_sample(data, name, encoding)
    if not sample.strip():
        raise IngestError(f"'{name}' contains only blank lines.")
    delimiter = delimiter or sniff_delimiter(sample)
    first = next(csv.reader([sample.splitlines()[0]], delimiter=delimiter), [])
    has_header = _looks_like_header(first) if header is None else header
    notes: list[str] = []
    if encoding not in ("utf-8", "utf-8-sig"):
        notes.append(f"The file is not UTF-8; it was read as {encoding}.")
    if repaired is not None:
        notes.append(f"{repaired[1]:,} byte(s) were not valid UTF-8 and were replaced by �.")
    kwargs: dict = dict(
        sep=delimiter, dtype=str, encoding=encoding, header=0 if has_header else None,
        keep_default_na=False, na_values=_NA_VALUES,
    )
    try:
        frame = _read_csv_bytes(data, kwargs)
    except pd.errors.EmptyDataError as exc:
        raise IngestError(f"'{name}' has no columns to read.") from exc
    except pd.errors.ParserError as exc:
        first_error = str(exc).strip().splitlines()[-1]
        try:
            frame, bad, quote_notes = _read_skipping_bad_lines(data, kwargs)
        except pd.errors.ParserError as again:
            raise IngestError(f"'{name}' could not be read as CSV: "
                              f"{str(again).strip().splitlines()[-1]}. Check the delimiter and "
                              "quoting in the reading options.") from again
        notes.extend(quote_notes)
        lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
        skipped = len(bad) or max(0, lines - len(frame) - int(has_header))
        notes.append(f"Skipped {skipped:,} malformed line(s); first: {first_error}.")
        frame = _label_with_file_lines(frame, data, has_header, bad)
    except UnicodeDecodeError as exc:
        raise IngestError(
            f"'{name}' is not valid {encoding} text ({exc.reason} at byte {exc.start}). "
            "Choose its encoding in the reading options."
        ) from exc
    if not has_header:
        frame.columns = [f"column_{i + 1}" for i in range(frame.shape[1])]
        notes.append("The first line looks like data, so columns were named column_1, column_2, …")
    frame = _tidy_columns(frame)
    if frame.empty:
        raise IngestError(f"'{name}' has a header but no data rows.")
    swallowed = _lines_inside_quotes(frame, data, has_header)
    if swallowed:
        notes.append(swallowed)
    if frame.shape[1] == 1:
        notes.append(
            f"Only one column was found ('{frame.columns[0]}'); if the file uses another "
            "delimiter, choose it in the reading options."
        )
    log.info("read %s: %d rows, %d columns", name, len(frame), frame.shape[1])
    return RawTable(
        frame, name, "csv", encoding=encoding, delimiter=delimiter, compressed=compressed,
        has_header=has_header, notes=tuple(notes), size_bytes=size,
    )


_NA_VALUES = ["", "NA", "N/A", "NaN", "nan", "NULL", "null", "None"]


def _lines_inside_quotes(frame: pd.DataFrame, data: bytes, has_header: bool) -> str | None:
    """A warning when whole lines were read into quoted text (an opening quote never closed).

    The parser then silently merges the following lines, up to the next quote or the end of
    the file, into one cell. Checked only when the file has more lines than rows (cheap).
    """
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    if lines <= len(frame) + int(has_header):
        return None
    for column in frame.columns:
        values = frame[column]
        if values.dtype != object and not pd.api.types.is_string_dtype(values):
            continue
        newlines = values.str.count("\n").fillna(0)
        if not newlines.any():
            continue
        where = int(np.argmax(newlines.to_numpy() > 0))
        total = int(newlines.sum())
        return (f"{total:,} line break(s) were read as text inside quotes in column '{column}' "
                f"(first in data row {where + 1:,}): an opening quote may never be closed, which "
                "merges the following lines into one cell. Check the file's quoting if that is "
                "not intended.")
    return None


_SKIPPED_LINE = re.compile(r"Skipping line (\d+)")


def _read_skipping_bad_lines(data: bytes, kwargs: dict) -> tuple[pd.DataFrame, set[int], list[str]]:
    """The C parser, skipping lines with the wrong number of fields; returns the frame, the
    skipped line numbers and notes.

    An opening quote that is never closed makes the parser fail at the end of the file ("EOF
    inside string"); the file is then read again with quotes as ordinary characters, and a note
    says so, rather than refusing the whole file.
    """
    notes: list[str] = []
    for quoting in (csv.QUOTE_MINIMAL, csv.QUOTE_NONE):
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", pd.errors.ParserWarning)
                frame = pd.read_csv(io.BytesIO(data), on_bad_lines="warn", engine="c",
                                    quoting=quoting, **kwargs)
        except pd.errors.ParserError as exc:
            if quoting == csv.QUOTE_NONE or "EOF inside string" not in str(exc):
                raise
            where = str(exc).strip().splitlines()[-1].split("starting at ")[-1]
            notes.append(f"An opening quote is never closed ({where}), so quotes were read as "
                         "ordinary characters.")
            continue
        bad = {int(n) for w in caught for n in _SKIPPED_LINE.findall(str(w.message))}
        return frame, bad, notes
    raise AssertionError("unreachable")  # pragma: no cover


def _label_with_file_lines(frame: pd.DataFrame, data: bytes, has_header: bool,
                           bad: set[int]) -> pd.DataFrame:
    """Label rows so that ``label + first data line`` is their line in the file.

    Validation reports offending rows by line number (label + 2 with a header, + 1 without);
    once malformed lines were skipped, the plain 0..n-1 labels would point at the wrong lines.
    Blank lines are skipped by the parser too. Left unchanged when the count does not match
    (e.g. quoted fields spanning lines), rather than guess.
    """
    first = 2 if has_header else 1
    numbers = [no for no, line in enumerate(data.split(b"\n"), start=1)
               if no >= first and no not in bad and line.strip()]
    if len(numbers) != len(frame):
        return frame
    return frame.set_axis(pd.Index(np.asarray(numbers, dtype=np.int64) - first), axis=0)


def _read_csv_bytes(data: bytes, kwargs: dict) -> pd.DataFrame:
    """Parse with the multi-threaded Arrow reader, falling back to pandas' C parser.

    Arrow is several times faster on large files but stricter (ragged rows, odd quoting,
    some encodings); the C parser reports those problems precisely.
    """
    try:
        return pd.read_csv(io.BytesIO(data), engine="pyarrow", **kwargs)
    except Exception as exc:  # any Arrow failure: let the C parser read or explain it
        log.debug("arrow CSV reader failed (%s); using the C parser", exc)
        return pd.read_csv(io.BytesIO(data), engine="c", skipinitialspace=True, **kwargs)


def _tidy_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Strip whitespace (and stray BOMs) from column names; drop fully empty unnamed columns."""
    frame = frame.rename(columns=lambda c: str(c).strip().lstrip("\ufeff"))
    empty_unnamed = [
        c for c in frame.columns if str(c).startswith("Unnamed:") and frame[c].isna().all()
    ]
    return frame.drop(columns=empty_unnamed)
