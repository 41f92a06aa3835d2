"""Column values from text: ids, timestamps and numbers, parsed once per distinct value.

Interaction logs repeat the same ids, dates and quantities many times, so each parser works on
the distinct values and spreads the result back to the rows (many times faster on large
files). Nothing here raises on bad values: they become NA / NaT / NaN and the caller counts them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["SUPPORTED_RANGE", "TimestampParse", "id_column_problem", "normalise_ids",
           "parse_timestamps", "parse_values", "read_timestamps", "unit_name"]


_FLOAT_INT = re.compile(r"^-?\d+\.0+$")


def _distinct(series: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Codes and distinct non-null values: logs repeat ids, dates and quantities, so work on the
    distinct values is spread back with :func:`_spread` (many times faster on large files)."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    return codes, pd.Series(uniques)


def _spread(codes: np.ndarray, values: pd.Series, index: pd.Index) -> pd.Series:
    """Per-row values from per-distinct ``values``; missing (code -1) rows get NA."""
    if values.empty:
        return pd.Series(pd.NA, index=index, dtype=values.dtype)
    taken = values.take(np.maximum(codes, 0)).set_axis(index)
    return taken.where(codes >= 0) if (codes < 0).any() else taken


#: Id cells that mean "no id", whatever the file format: the tokens pandas reads as missing
#: from a CSV, applied to Parquet and XLSX text too, so one rule holds for every upload.
MISSING_ID_TOKENS: frozenset[str] = frozenset({
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
})


def normalise_ids(series: pd.Series) -> tuple[pd.Series, int]:
    """Ids as trimmed strings in Unicode NFC; ``17850.0`` becomes ``17850``. Missing ids
    (empty cells and :data:`MISSING_ID_TOKENS`) become NA.

    NFC makes an id typed on one system (``é`` as one code point) and exported by another
    (``e`` + a combining accent) the same id. Returns the ids and how many were written as
    whole floats.
    """
    if pd.api.types.is_float_dtype(series):
        # Infinite ids are no ids; whole numbers beyond 2**53 are not exact and stay as text.
        finite = pd.Series(np.isfinite(series.to_numpy(dtype="float64", na_value=np.nan)),
                           index=series.index)
        series = series.where(finite)
        whole = series.notna() & (series == np.floor(series)) & (series.abs() < 2.0**53)
        ints = series.where(whole).astype("Int64").astype("string")
        out = ints.where(whole, series.astype("string"))
        return out.where(series.notna()), int(whole.sum())
    if pd.api.types.is_object_dtype(series):
        series = series.map(_as_text, na_action="ignore")
    codes, uniques = _distinct(series.astype("string"))
    ids = uniques.astype("string").str.strip().str.normalize("NFC")
    ids = ids.mask(ids.isin(MISSING_ID_TOKENS))
    floaty = ids.str.fullmatch(_FLOAT_INT.pattern).fillna(False).astype(bool)
    if floaty.any():
        ids = ids.mask(floaty, ids.str.replace(r"\.0+$", "", regex=True))
    n_float = int(floaty.to_numpy()[codes[codes >= 0]].sum())
    return _spread(codes, ids, series.index).astype("string"), n_float


def _as_text(value: Any) -> Any:
    """Bytes ids (Parquet binary columns) as UTF-8 text; anything else unchanged."""
    return value.decode("utf-8") if isinstance(value, bytes | bytearray) else value


def id_column_problem(series: pd.Series) -> str | None:
    """Why a column cannot hold ids (nested values, binary that is not UTF-8 text), or
    ``None``. Ids read from CSV are always text; Parquet can hold anything."""
    if not pd.api.types.is_object_dtype(series):
        return None
    kinds = set(series.dropna().map(type).unique())
    nested = [k for k in kinds if issubclass(k, dict | list | tuple | set | np.ndarray)]
    if nested:
        return "holds nested values (lists or records), not ids"
    if any(issubclass(k, bytes | bytearray) for k in kinds):
        raw = series.dropna()
        raw = raw[raw.map(lambda v: isinstance(v, bytes | bytearray))]
        try:
            raw.map(lambda v: bytes(v).decode("utf-8"))
        except UnicodeDecodeError:
            return "holds binary values that are not UTF-8 text"
    return None


#: The dates a ``datetime64[ns]`` column can hold; the report names them when rows fall outside.
SUPPORTED_RANGE = (pd.Timestamp.min.ceil("D"), pd.Timestamp.max.floor("D"))

#: Unix time units by magnitude: a value below the bound (in absolute terms) is in that unit.
#: Seconds reach the year 5138 before they overlap milliseconds of 1973, and so on.
_EPOCH_UNITS = ((1e11, "s"), (1e14, "ms"), (1e17, "us"), (float("inf"), "ns"))
_UNIT_NAMES = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}
_NS_PER_UNIT = {"s": 1e9, "ms": 1e6, "us": 1e3, "ns": 1.0}
YYYYMMDD = "yyyymmdd"


@dataclass(frozen=True)
class TimestampParse:
    """Parsed timestamps and what the caller must report about them.

    ``values`` is naive UTC ``datetime64[ns]``, NaT where a value is unreadable or out of range;
    ``out_of_range`` marks dates that were read but lie outside :data:`SUPPORTED_RANGE` (so they
    can be reported apart from unreadable ones); ``unit`` gives, per row, how a number was read
    (``"s"``, ``"ms"``, ``"us"``, ``"ns"`` or ``"yyyymmdd"``; NA for text dates and blanks).
    """

    values: pd.Series
    out_of_range: pd.Series
    unit: pd.Series

    @property
    def epoch_units(self) -> list[str]:
        """The Unix time units found in the column, smallest first."""
        found = set(self.unit.dropna().unique()) - {YYYYMMDD}
        return [u for _, u in _EPOCH_UNITS if u in found]

    @property
    def mixed_units(self) -> bool:
        """True when numbers of the column are in different Unix units (a misread is certain)."""
        return len(self.epoch_units) > 1

    @property
    def read_as(self) -> str:
        """How the numbers of the column were read, in words (``""`` when it had none)."""
        if (self.unit == YYYYMMDD).any():
            return "YYYYMMDD"
        return ", ".join(f"unix {_UNIT_NAMES[u]}" for u in self.epoch_units)


def unit_name(unit: str) -> str:
    """A Unix time unit in words (``"ms"`` → ``"milliseconds"``)."""
    return _UNIT_NAMES.get(unit, unit)


def parse_timestamps(series: pd.Series) -> pd.Series:
    """Parse mixed timestamp formats into naive UTC ``datetime64[ns]``; NaT where unparseable
    or out of range. See :func:`read_timestamps` for the formats and what else it reports."""
    return read_timestamps(series).values


def read_timestamps(series: pd.Series) -> TimestampParse:
    """Parse a timestamp column, keeping track of out-of-range dates and of how numbers were read.

    Accepts ISO 8601, common day/month orders (day-first when any value proves it), YYYYMMDD
    numbers (when every number of the column is one, between 1900 and 2100) and Unix epochs,
    whose unit (seconds to nanoseconds) follows each number's magnitude. Never raises: a date
    outside :data:`SUPPORTED_RANGE` (e.g. ``9999-12-31``) becomes NaT and is marked.
    """
    if pd.api.types.is_datetime64_any_dtype(series):
        out = series
        if getattr(series.dt, "tz", None) is not None:
            out = series.dt.tz_convert("UTC").dt.tz_localize(None)
        values, far = _in_range(out)
        return TimestampParse(values, far, pd.Series(pd.NA, index=series.index, dtype="string"))
    if pd.api.types.is_object_dtype(series):
        series = series.map(_as_text, na_action="ignore")
    codes, uniques = _distinct(series.astype("string"))
    values, far, unit = _parse_text_or_epoch(uniques)
    return TimestampParse(
        _spread(codes, values, series.index).astype("datetime64[ns]"),
        _spread(codes, far, series.index).fillna(False).astype(bool),
        _spread(codes, unit, series.index).astype("string"),
    )


def _in_range(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """``datetime64[ns]`` values and a mask of those outside :data:`SUPPORTED_RANGE` (now NaT)."""
    low, high = pd.Timestamp.min, pd.Timestamp.max
    far = (values.notna() & ((values < low) | (values > high))).astype(bool)
    return values.mask(far).astype("datetime64[ns]"), far


def _parse_text_or_epoch(series: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    text = series.astype("string").str.strip()
    out = pd.Series(pd.NaT, index=series.index, dtype="datetime64[ns]")
    far = pd.Series(False, index=series.index)
    unit = pd.Series(pd.NA, index=series.index, dtype="string")
    is_num = text.str.fullmatch(r"[-+]?\d+(\.\d+)?").fillna(False).astype(bool)
    if is_num.any():
        num = pd.to_numeric(text[is_num], errors="coerce")
        dates = _yyyymmdd(num)
        if dates is not None:
            out[is_num], unit[is_num] = dates, YYYYMMDD
        else:
            out[is_num], far[is_num], unit[is_num] = _epochs(num)
    rest = text.notna() & ~is_num
    if rest.any():
        out[rest], far[rest] = _in_range(_parse_text_dates(text[rest]))
    return out, far, unit


def _yyyymmdd(num: pd.Series) -> pd.Series | None:
    """Dates when every number is 8 digits forming a valid date from 1900 to 2100, else ``None``
    (``20200101`` read as Unix seconds would silently land in 1970)."""
    if num.isna().any() or not ((num >= 19000101) & (num <= 21001231)).all():
        return None
    if not (num == np.floor(num)).all():
        return None
    dates = pd.to_datetime(num.astype("int64").astype(str), format="%Y%m%d", errors="coerce")
    return None if dates.isna().any() else dates.astype("datetime64[ns]")


def _epochs(num: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Unix epochs, each number in the unit its magnitude implies, plus out-of-range mask and
    units (a mix of units is reported by the caller, never guessed away)."""
    size = num.abs()
    unit = pd.Series(pd.NA, index=num.index, dtype="string")
    for bound, name in reversed(_EPOCH_UNITS):
        unit = unit.mask(size < bound, name)
    unit = unit.where(num.notna())
    ns = num.astype("float64") * unit.map(_NS_PER_UNIT).astype("float64")
    far = (ns.notna() & ((ns < pd.Timestamp.min.value) | (ns > pd.Timestamp.max.value))).astype(bool)
    out = pd.Series(pd.NaT, index=num.index, dtype="datetime64[ns]")
    for name in unit.dropna().unique():
        rows = (unit == name).fillna(False).astype(bool) & ~far
        if rows.any():
            out[rows] = pd.to_datetime(num[rows], unit=name, errors="coerce").astype("datetime64[ns]")
    return out, far, unit


def _parse_text_dates(text: pd.Series) -> pd.Series:
    """Text dates at microsecond resolution (years 1 to 9999), so far dates can be told apart
    from unreadable ones before they meet the nanosecond range."""
    parsed = _to_naive(pd.to_datetime(text, errors="coerce", format="ISO8601", utc=True))
    todo = parsed.isna()
    if todo.any():
        sub = text[todo]
        first = pd.to_numeric(sub.str.extract(r"^(\d{1,2})[/.-]\d{1,2}[/.-]\d{2,4}")[0],
                              errors="coerce")
        dayfirst = bool((first > 12).any())
        parsed[todo] = _to_naive(
            pd.to_datetime(sub, errors="coerce", format="mixed", dayfirst=dayfirst, utc=True)
        )
    return parsed


def _to_naive(values: pd.Series) -> pd.Series:
    return values.dt.tz_localize(None).astype("datetime64[us]")


def parse_values(col: pd.Series, kind: str) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Numeric values plus masks of unparseable and non-positive ones."""
    if not pd.api.types.is_numeric_dtype(col):
        codes, uniques = _distinct(col)
        parsed = _spread(codes, _to_float(uniques), col.index).astype("float64")
        return _value_masks(parsed, kind)
    return _value_masks(col.astype("float64"), kind)


def _to_float(col: pd.Series) -> pd.Series:
    """Numbers from text, accepting decimal commas (``4,5``); NaN where not a number."""
    values = pd.to_numeric(col, errors="coerce")
    text = col.astype("string").str.strip()
    if values.isna().sum() > text.isna().sum():  # decimal commas, e.g. "4,5"
        values = values.astype("float64").fillna(
            pd.to_numeric(text.str.replace(",", ".", regex=False), errors="coerce").astype("float64"))
    return values.astype("float64")


def _value_masks(values: pd.Series, kind: str) -> tuple[pd.Series, pd.Series, pd.Series]:
    bad_value = values.isna() | ~np.isfinite(values.fillna(0.0))
    non_pos = pd.Series(False, index=values.index)
    if kind != "rating":
        non_pos = (values <= 0).fillna(False).astype(bool)
    return values, bad_value, non_pos
