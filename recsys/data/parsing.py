"""Column values from text: ids, timestamps and numbers, parsed once per distinct value.

Interaction logs repeat the same ids, dates and quantities many times, so each parser works on
the distinct values and spreads the result back to the rows (many times faster on large
files). Nothing here raises on bad values: they become NA / NaT / NaN and the caller counts them.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

__all__ = ["normalise_ids", "parse_timestamps", "parse_values"]


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


def normalise_ids(series: pd.Series) -> tuple[pd.Series, int]:
    """Ids as trimmed strings; ``17850.0`` becomes ``17850``. Missing ids become NA.

    Returns the ids and how many were written as whole floats.
    """
    if pd.api.types.is_float_dtype(series):
        whole = series.notna() & (series == np.floor(series))
        ints = series.where(whole).astype("Int64").astype("string")
        out = ints.where(whole, series.astype("string"))
        return out.where(series.notna()), int(whole.sum())
    codes, uniques = _distinct(series.astype("string"))
    ids = uniques.astype("string").str.strip()
    ids = ids.mask(ids == "")
    floaty = ids.str.fullmatch(_FLOAT_INT.pattern).fillna(False).astype(bool)
    if floaty.any():
        ids = ids.mask(floaty, ids.str.replace(r"\.0+$", "", regex=True))
    n_float = int(floaty.to_numpy()[codes[codes >= 0]].sum())
    return _spread(codes, ids, series.index).astype("string"), n_float


def parse_timestamps(series: pd.Series) -> pd.Series:
    """Parse mixed timestamp formats into naive UTC ``datetime64``; NaT where unparseable.

    Accepts ISO 8601, common day/month orders (day-first when any value proves it), and Unix
    epochs in seconds or milliseconds.
    """
    if pd.api.types.is_datetime64_any_dtype(series):
        out = series
        if getattr(series.dt, "tz", None) is not None:
            out = series.dt.tz_convert("UTC").dt.tz_localize(None)
        return out.astype("datetime64[ns]")
    codes, uniques = _distinct(series.astype("string"))
    return _spread(codes, _parse_text_or_epoch(uniques), series.index).astype("datetime64[ns]")


def _parse_text_or_epoch(series: pd.Series) -> pd.Series:
    text = series.astype("string").str.strip()
    out = pd.Series(pd.NaT, index=series.index, dtype="datetime64[ns]")
    is_num = text.str.fullmatch(r"[-+]?\d+(\.\d+)?").fillna(False).astype(bool)
    if is_num.any():
        num = pd.to_numeric(text[is_num], errors="coerce")
        unit = "ms" if num.abs().median() > 1e11 else "s"
        out[is_num] = pd.to_datetime(num, unit=unit, errors="coerce").astype("datetime64[ns]")
    rest = text.notna() & ~is_num
    if rest.any():
        out[rest] = _parse_text_dates(text[rest])
    return out


def _parse_text_dates(text: pd.Series) -> pd.Series:
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
    return values.dt.tz_localize(None).astype("datetime64[ns]")


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
