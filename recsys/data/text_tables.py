"""CSV / TSV / TXT tables: parse decoded text, tolerating ragged lines and unclosed quotes.

:func:`read_text` is the text branch of :func:`recsys.data.reading.read_table`: the encoding,
delimiter and header are sniffed by :mod:`recsys.data.decoding` (unless given), the Arrow
reader parses (the C parser when Arrow refuses), malformed lines are skipped with a note, and
rows keep labels that point at their lines in the file. Every column is read as text.

A caller that knows which columns it can use passes a ``usecols`` chooser: the header is read
first and only the chosen columns are parsed (a file with thousands of unused columns then costs
little more than its used ones). Whenever that read could differ from a whole read (odd header
names, a line the fast reader refuses, blank lines or line breaks inside quotes) the file is
read whole, as without a chooser.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import re
import warnings
from collections.abc import Callable, Collection, Sequence

import numpy as np
import pandas as pd

from recsys.data.decoding import (
    IngestError,
    IngestLimits,
    RawTable,
    decode_sample,
    looks_like_header,
    mostly_utf8,
    sniff_delimiter,
)
from recsys.data.limits import check_columns, check_first_line, check_rows, count_lines

__all__ = ["ColumnChooser", "read_text", "tidy_columns"]

log = logging.getLogger(__name__)

#: Given the header's column names (whitespace stripped, in file order), the names to parse,
#: or ``None`` to parse every column.
ColumnChooser = Callable[[Sequence[str]], Collection[str] | None]

def read_text(
    data: bytes,
    name: str,
    compressed: bool,
    size: int,
    delimiter: str | None,
    encoding: str | None,
    header: bool | None,
    *,
    limits: IngestLimits | None = None,
    usecols: ColumnChooser | None = None,
) -> RawTable:
    """A text table: sniff how to read it, parse its columns as text, note what was odd.

    Before parsing, the file is refused when its first line is too long, it has too many lines
    or its first line too many fields (``limits``): the parser would need many times the file's
    size in memory to find that out. With ``usecols`` (and a header row) only the columns it
    chooses are parsed.
    """
    limits = limits or IngestLimits()
    data, encoding, sample, notes = _decode(data, name, encoding)
    check_first_line(data, name, limits)
    check_rows(count_lines(data) - 1, name, limits)  # the first line may be a header
    delimiter = delimiter or sniff_delimiter(sample)
    first = _first_fields(sample, delimiter)
    check_columns(_first_line_width(first, sample, data, encoding, delimiter), name, limits)
    has_header = looks_like_header(first) if header is None else header
    kwargs: dict = dict(
        sep=delimiter, dtype=str, encoding=encoding, header=0 if has_header else None,
        keep_default_na=False, na_values=_NA_VALUES,
    )
    selected = _parse_selected(data, kwargs, usecols) if usecols and has_header else None
    if selected is None:
        frame = _parse(data, name, kwargs, has_header, notes)
        width = frame.shape[1]
    else:
        frame, width = selected
    if not has_header:
        frame.columns = [f"column_{i + 1}" for i in range(frame.shape[1])]
        notes.append("The first line looks like data, so columns were named column_1, column_2, …")
    frame = tidy_columns(frame)
    if frame.empty:
        raise IngestError(f"'{name}' has a header but no data rows.")
    swallowed = _lines_inside_quotes(frame, data, has_header)
    if swallowed:
        notes.append(swallowed)
    if width == 1:
        notes.append(
            f"Only one column was found ('{frame.columns[0]}'); if the file uses another "
            "delimiter, choose it in the reading options."
        )
    log.info("read %s: %d rows, %d columns", name, len(frame), frame.shape[1])
    return RawTable(
        frame, name, "csv", encoding=encoding, delimiter=delimiter, compressed=compressed,
        has_header=has_header, notes=tuple(notes), size_bytes=size,
    )


def _parse_selected(data: bytes, kwargs: dict,
                    choose: ColumnChooser) -> tuple[pd.DataFrame, int] | None:
    """``(frame, columns in the file)``: only the columns ``choose`` picks from the header, in
    file order; ``None`` when the file is better read whole (nothing to leave out, or a read
    that might differ from a whole one).
    """
    try:
        header = [str(c) for c in pd.read_csv(io.BytesIO(data), nrows=0, engine="c",
                                              **kwargs).columns]
    except Exception as exc:  # any header the C parser refuses: the whole read explains it
        log.debug("header read failed (%s); reading every column", exc)
        return None
    names = [c.strip().lstrip("\ufeff") for c in header]
    odd = any(c.startswith("Unnamed:") for c in header) or len(set(names)) < len(names)
    chosen = None if odd else choose(names)
    if not chosen:
        return None
    keep = [raw for raw, tidy in zip(header, names, strict=True) if tidy in chosen]
    if not keep or len(keep) == len(header) or not _decodes(data, kwargs["encoding"]):
        return None
    try:
        frame = pd.read_csv(io.BytesIO(data), engine="pyarrow", usecols=keep, **kwargs)
    except Exception as exc:  # e.g. a ragged line: the whole read notes and skips it
        log.debug("reading only the used columns failed (%s); reading every column", exc)
        return None
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    if lines != len(frame) + 1:  # blank lines or line breaks inside quotes: read whole
        return None
    log.debug("parsed %d of %d columns", len(keep), len(header))
    return frame, len(header)


def _decodes(data: bytes, encoding: str) -> bool:
    """Whether all of ``data`` decodes as ``encoding`` (in chunks: no copy of the text kept).

    A column left out is not decoded by the parser, so a bad byte there would go unnoticed,
    where the whole read refuses the file with a message naming the encoding.
    """
    decoder = codecs.getincrementaldecoder(encoding)()
    view = memoryview(data)
    try:
        for start in range(0, len(data), 1 << 22):
            decoder.decode(view[start:start + (1 << 22)])
        decoder.decode(b"", final=True)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def _first_fields(sample: str, delimiter: str) -> list[str]:
    """The fields of the sample's first line (split plainly where the csv module refuses it)."""
    line = sample.splitlines()[0]
    try:
        return next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:  # e.g. a field over the csv module's field size limit
        return line.split(delimiter)


def _first_line_width(first: list[str], sample: str, data: bytes, encoding: str,
                      delimiter: str) -> int:
    """Fields in the file's first line; counted plainly on the bytes when the sample cuts it."""
    if len(data) <= len(sample) or "\n" in sample or "\r" in sample:
        return len(first)
    end = data.find(b"\n")
    line = data[: end if end >= 0 else len(data)].decode(encoding, errors="replace")
    return line.count(delimiter) + 1


def _decode(data: bytes, name: str, encoding: str | None) -> tuple[bytes, str, str, list[str]]:
    """``(data, encoding, sample, notes)``: stray non-UTF-8 bytes repaired, encoding chosen."""
    repaired = None
    if encoding is None and data[:3] != b"\xef\xbb\xbf" and data[:2] not in (b"\xff\xfe", b"\xfe\xff"):
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            repaired = mostly_utf8(data)
    if repaired is not None:
        data, encoding = repaired[0], "utf-8"
    encoding, sample = decode_sample(data, name, encoding)
    if not sample.strip():
        raise IngestError(f"'{name}' contains only blank lines.")
    notes: list[str] = []
    if encoding not in ("utf-8", "utf-8-sig"):
        notes.append(f"The file is not UTF-8; it was read as {encoding}.")
    if repaired is not None:
        notes.append(f"{repaired[1]:,} byte(s) were not valid UTF-8 and were replaced by �.")
    return data, encoding, sample, notes


def _parse(data: bytes, name: str, kwargs: dict, has_header: bool, notes: list[str]) -> pd.DataFrame:
    """The parsed frame; malformed lines are skipped (with a note appended to ``notes``)."""
    try:
        return _read_csv_bytes(data, kwargs)
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
        return _label_with_file_lines(frame, data, has_header, bad)
    except UnicodeDecodeError as exc:
        raise IngestError(
            f"'{name}' is not valid {kwargs['encoding']} text ({exc.reason} at byte {exc.start}). "
            "Choose its encoding in the reading options."
        ) from exc


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


def tidy_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Strip whitespace (and stray BOMs) from column names; drop fully empty unnamed columns."""
    frame = frame.rename(columns=lambda c: str(c).strip().lstrip("\ufeff"))
    empty_unnamed = [
        c for c in frame.columns if str(c).startswith("Unnamed:") and frame[c].isna().all()
    ]
    return frame.drop(columns=empty_unnamed)
