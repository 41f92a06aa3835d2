"""Streaming writers for exported lists (CSV, Parquet, JSON Lines) and a reader that undoes them.

Every CSV the project produces goes through :func:`write_csv_chunk` (exports chunk by chunk,
``recommend`` lists and item maps through :func:`write_table`). Every list writer takes the
export frame chunk by chunk (one chunk per block of users), so an export
of any size needs the memory of one chunk only.

* **CSV** (RFC 4180: UTF-8, header, ``,``, CRLF line ends, fields with line breaks quoted):
  text cells that a spreadsheet could read as a formula — the ones starting with
  ``= + - @``, a tab or a carriage return — get a leading apostrophe (OWASP's advice against
  CSV injection). Cells that already start with an apostrophe get one too, so the escape is
  reversible: :func:`read_export` drops exactly one leading apostrophe from every text cell.
  Numbers are written as numbers (a negative score is not a formula).
* **Parquet**: one file, one row group per chunk, a fixed Arrow schema.
* **JSON**: JSON Lines (``.jsonl``, one object per row, UTF-8), which streams and loads with
  ``pandas.read_json(path, lines=True)``; missing numbers are ``null``. Floats are written
  with the shortest text that reads back to the same value.
"""

from __future__ import annotations

import json
import logging
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, Literal, get_args

import numpy as np
import pandas as pd

__all__ = ["EXPORT_COLUMNS", "EXPLORE_COLUMNS", "TEXT_COLUMNS", "EXPORT_FORMATS", "EXTENSIONS", "ExportFormat",
           "neutralise_cells", "unneutralise_cells", "open_writer", "ListWriter", "read_export",
           "write_csv_chunk", "write_table", "TableWriter", "open_table_writer"]

log = logging.getLogger(__name__)

#: Output formats of an export (``json`` is JSON Lines); the tuple follows the Literal.
ExportFormat = Literal["csv", "parquet", "json"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = get_args(ExportFormat)
EXTENSIONS: dict[ExportFormat, str] = {"csv": "csv", "parquet": "parquet", "json": "jsonl"}

#: Columns of every export, in this order, with their dtypes.
EXPORT_COLUMNS: dict[str, str] = {
    "user_id": "string", "rank": "int64", "item_id": "string", "title": "string",
    "score": "float64", "base_score": "float64", "is_tail": "bool", "boosted": "bool",
    "cluster": "int64",
}
#: Columns an exploring export adds after :data:`EXPORT_COLUMNS`: the probability that the
#: policy shows this item at this rank to this user, and the id of the list.
EXPLORE_COLUMNS: dict[str, str] = {"propensity": "float64", "list_id": "string"}
TEXT_COLUMNS: tuple[str, ...] = tuple(c for c, t in EXPORT_COLUMNS.items() if t == "string")

_DANGEROUS = ("=", "+", "-", "@", "\t", "\r", "'")


def neutralise_cells(values: pd.Series | np.ndarray) -> np.ndarray:
    """Prefix ``'`` to text cells starting with ``= + - @``, tab, CR or ``'`` (vectorised)."""
    text = pd.Series(np.asarray(values, dtype=object)).astype(str)
    risky = text.str.startswith(_DANGEROUS)
    return np.where(risky, "'" + text, text).astype(object)


def unneutralise_cells(values: pd.Series | np.ndarray) -> np.ndarray:
    """Inverse of :func:`neutralise_cells`: drop one leading apostrophe."""
    text = pd.Series(np.asarray(values, dtype=object)).astype(str)
    return np.where(text.str.startswith("'"), text.str.slice(1), text).astype(object)


class ListWriter(ABC):
    """Appends export chunks to one file; use as a context manager."""

    format: str = ""

    def __init__(self, path: str | Path, columns: dict[str, str] | None = None) -> None:
        self.path = Path(path)
        self.rows = 0
        self.columns = dict(columns or EXPORT_COLUMNS)

    @property
    def text_columns(self) -> tuple[str, ...]:
        return tuple(c for c, t in self.columns.items() if t == "string")

    def write(self, frame: pd.DataFrame) -> None:
        """Append ``frame`` (the writer's columns, :data:`EXPORT_COLUMNS` by default, in order)."""
        if list(frame.columns) != list(self.columns):
            raise ValueError(f"export chunk columns {list(frame.columns)} differ from "
                             f"{list(self.columns)}")
        self._write(frame)
        self.rows += len(frame)

    @abstractmethod
    def _write(self, frame: pd.DataFrame) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> ListWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _CsvWriter(ListWriter):
    format = "csv"

    def __init__(self, path: str | Path, columns: dict[str, str] | None = None) -> None:
        super().__init__(path, columns)
        self._fh: IO[str] = self.path.open("w", encoding="utf-8", newline="")
        self._header = True

    def _write(self, frame: pd.DataFrame) -> None:
        write_csv_chunk(self._fh, frame, header=self._header, text_columns=self.text_columns)
        self._header = False

    def close(self) -> None:
        if self._header:  # nothing written: still a valid file with a header
            self._fh.write(",".join(self.columns) + "\r\n")
            self._header = False
        self._fh.close()


def _arrow_schema(columns: dict[str, str]) -> Any:
    import pyarrow as pa

    types = {"string": pa.string(), "int64": pa.int64(), "float64": pa.float64(),
             "bool": pa.bool_()}
    return pa.schema([(c, types[t]) for c, t in columns.items()])


class _ParquetWriter(ListWriter):
    format = "parquet"

    def __init__(self, path: str | Path, columns: dict[str, str] | None = None) -> None:
        import pyarrow.parquet as pq

        super().__init__(path, columns)
        self._schema = _arrow_schema(self.columns)
        self._writer = pq.ParquetWriter(self.path, self._schema, compression="zstd")

    def _write(self, frame: pd.DataFrame) -> None:
        import pyarrow as pa

        self._writer.write_table(pa.Table.from_pandas(frame, schema=self._schema,
                                                      preserve_index=False))

    def close(self) -> None:
        self._writer.close()


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class _JsonLinesWriter(ListWriter):
    format = "json"

    def __init__(self, path: str | Path, columns: dict[str, str] | None = None) -> None:
        super().__init__(path, columns)
        self._fh: IO[str] = self.path.open("w", encoding="utf-8", newline="\n")

    def _write(self, frame: pd.DataFrame) -> None:
        cols = list(frame.columns)
        # tolist() turns NumPy scalars into Python ones, which json writes exactly (repr).
        columns = [frame[c].astype(object).tolist() for c in cols]
        lines = [json.dumps(dict(zip(cols, map(_json_value, row), strict=True)), ensure_ascii=False)
                 for row in zip(*columns, strict=True)]
        if lines:
            self._fh.write("\n".join(lines) + "\n")

    def close(self) -> None:
        self._fh.close()


_WRITERS: dict[str, type[ListWriter]] = {"csv": _CsvWriter, "parquet": _ParquetWriter,
                                         "json": _JsonLinesWriter}


def open_writer(path: str | Path, fmt: str, columns: dict[str, str] | None = None) -> ListWriter:
    """A streaming writer of export chunks in ``fmt`` (``csv``, ``parquet`` or ``json``) with
    ``columns`` (name → dtype; default :data:`EXPORT_COLUMNS`)."""
    try:
        return _WRITERS[fmt](path, columns)
    except KeyError:
        raise ValueError(f"Unknown export format '{fmt}'; choose one of {', '.join(EXPORT_FORMATS)}.") \
            from None


def _text_columns(frame: pd.DataFrame) -> list[str]:
    """Columns holding text (object or string dtype): the ones a spreadsheet could run."""
    return [c for c in frame.columns
            if pd.api.types.is_object_dtype(frame[c]) or pd.api.types.is_string_dtype(frame[c])]


def write_csv_chunk(fh: IO[str], frame: pd.DataFrame, *, header: bool,
                    text_columns: Sequence[str] | None = None) -> None:
    """Append ``frame`` to an open CSV file the one way the project writes CSV: RFC 4180
    (UTF-8, CRLF), text cells neutralised for spreadsheets (:func:`neutralise_cells`; missing
    text stays empty), numbers as numbers."""
    safe = frame.copy()
    for col in (_text_columns(frame) if text_columns is None else text_columns):
        missing = safe[col].isna().to_numpy()
        safe[col] = np.where(missing, None, neutralise_cells(safe[col].fillna("")))
    safe.to_csv(fh, header=header, index=False, lineterminator="\r\n")


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write any result table (``recommend`` lists, item maps) as Parquet (``.parquet`` /
    ``.pq``) or as spreadsheet-safe CSV (anything else); the folder is created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".parquet", ".pq"):
        frame.to_parquet(path, index=False)
    else:
        with path.open("w", encoding="utf-8", newline="") as fh:
            write_csv_chunk(fh, frame, header=True)
    return path


def _file_columns(names: Sequence[str]) -> dict[str, str]:
    """The export columns, plus the exploring ones when the file has them."""
    extra = {c: t for c, t in EXPLORE_COLUMNS.items() if c in names}
    return {**EXPORT_COLUMNS, **extra}


class TableWriter:
    """Appends chunks of one result table (columns fixed by the first chunk) to a file:
    Parquet (``.parquet`` / ``.pq``, one row group per chunk) or spreadsheet-safe CSV (anything
    else), written like :func:`write_table` writes the whole table. A context manager."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.parquet = self.path.suffix.lower() in (".parquet", ".pq")
        self.rows = 0
        self._writer: Any = None
        self._fh: IO[str] | None = None
        self._columns: list[str] | None = None

    def write(self, frame: pd.DataFrame) -> None:
        """Append ``frame`` (the same columns as the first chunk)."""
        if self._columns is None:
            self._columns = list(frame.columns)
        elif list(frame.columns) != self._columns:
            raise ValueError(f"table chunk columns {list(frame.columns)} differ from "
                             f"{self._columns}")
        if self.parquet:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self._writer is None:
                self._writer = pq.ParquetWriter(self.path, table.schema)
            self._writer.write_table(table.cast(self._writer.schema))
        else:
            if self._fh is None:
                self._fh = self.path.open("w", encoding="utf-8", newline="")
            write_csv_chunk(self._fh, frame, header=self.rows == 0 and self._fh.tell() == 0)
        self.rows += len(frame)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._fh is not None:
            self._fh.close()
        if self._writer is None and self._fh is None:  # nothing written: an empty file
            self.path.write_text("")

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_table_writer(path: str | Path) -> TableWriter:
    """A :class:`TableWriter` for ``path`` (format from the suffix, like :func:`write_table`)."""
    return TableWriter(path)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Export dtypes (text as Python ``str`` objects, the way the export frame holds them)."""
    out = pd.DataFrame(index=frame.index)
    for col, kind in _file_columns(list(frame.columns)).items():
        values = frame[col]
        if kind == "string":
            out[col] = values.astype(str).astype(object)
        elif kind == "float64":
            out[col] = pd.to_numeric(values, errors="raise").astype("float64")
        else:
            out[col] = values.astype(kind)
    return out.reset_index(drop=True)


def read_export(path: str | Path, fmt: str | None = None) -> pd.DataFrame:
    """Read an exported list file back into the export frame (escapes undone, dtypes restored)."""
    path = Path(path)
    fmt = fmt or {"csv": "csv", "parquet": "parquet", "jsonl": "json", "json": "json"}.get(
        path.suffix.lstrip(".").lower(), "")
    if fmt == "csv":
        text = (*TEXT_COLUMNS, "list_id")
        frame = pd.read_csv(path, dtype={c: str for c in text}, keep_default_na=False,
                            na_values={c: ["", "NaN", "nan"] for c in ("score", "base_score")},
                            encoding="utf-8")
        for col in text:
            if col in frame.columns:
                frame[col] = unneutralise_cells(frame[col])
    elif fmt == "parquet":
        frame = pd.read_parquet(path)
    elif fmt == "json":
        # Split on "\n" only: str.splitlines would also break at U+2028 / U+2029, which JSON
        # leaves unescaped inside strings (a title may hold one).
        text = path.read_text(encoding="utf-8")
        rows = [json.loads(line) for line in text.split("\n") if line.strip()]
        frame = pd.DataFrame(rows, columns=list(_file_columns(list(rows[0]) if rows else [])))
        for col in ("score", "base_score"):
            frame[col] = frame[col].astype("float64")  # null → NaN
    else:
        raise ValueError(f"Cannot tell the export format of '{path.name}'.")
    return _typed(frame)
