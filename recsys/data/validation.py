"""Turn raw tables into clean canonical frames, with a report of everything that was dropped.

Validation never raises on user data: each problem becomes an :class:`Issue` (error, warning or
info) with the number of rows affected and a few offending rows, so the person who uploaded the
file can fix it. Counts are per reason over all rows read (a row can have several problems);
``rows_dropped`` is the exact number of rows removed.

*Errors* block the dataset from being used (no id column, no valid row, a catalog that matches
none of the interactions); *warnings* drop rows; *info* explains harmless changes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from recsys.data.schema import CATALOG_ROLES, ColumnMapping, guess_mapping

__all__ = [
    "Issue",
    "ValidationReport",
    "ValidationResult",
    "validate",
    "clean_interactions",
    "clean_catalog",
    "normalise_ids",
    "parse_timestamps",
    "derive_catalog",
]

Level = Literal["error", "warning", "info"]
_SAMPLE_ROWS = 5


@dataclass(frozen=True)
class Issue:
    """One finding of the validation: what, how many rows, and a few examples."""

    level: Level
    code: str
    message: str
    count: int = 0
    table: Literal["interactions", "catalog"] = "interactions"
    sample: tuple[dict[str, Any], ...] = ()


@dataclass
class ValidationReport:
    """What happened to the files on their way to a dataset."""

    source: str = ""
    file_format: str = "auto"
    reading: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_kept: int = 0
    catalog_rows_read: int = 0
    catalog_rows_kept: int = 0
    n_users: int = 0
    n_items: int = 0
    n_cold_items: int = 0
    mapping: dict[str, Any] = field(default_factory=dict)
    catalog_mapping: dict[str, Any] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)
    #: File line number of the first data row (2 with a header row, 1 without).
    first_line: int = 2

    @property
    def rows_dropped(self) -> int:
        """Interaction rows removed by validation."""
        return self.rows_read - self.rows_kept

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.level == "error"]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.level == "warning"]

    @property
    def ok(self) -> bool:
        """True when the dataset may be used (no errors)."""
        return not self.errors

    def count(self, code: str) -> int:
        """Rows affected by the issue ``code`` (0 when absent)."""
        return sum(i.count for i in self.issues if i.code == code)

    def add(self, level: Level, code: str, message: str, count: int = 0, *,
            table: Literal["interactions", "catalog"] = "interactions",
            sample: pd.DataFrame | None = None) -> None:
        """Record an issue, with up to five offending rows as plain strings."""
        rows: tuple[dict[str, Any], ...] = ()
        if sample is not None and len(sample):
            head = sample.head(_SAMPLE_ROWS)
            rows = tuple(
                {"row": int(idx) + self.first_line, **{str(k): _plain(v) for k, v in rec.items()}}
                for idx, rec in zip(head.index, head.to_dict("records"), strict=True)
            )
        self.issues.append(Issue(level, code, message, int(count), table, rows))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (used by ``--json``, the workspace and manifests)."""
        out = asdict(self)
        out.update(ok=self.ok, rows_dropped=self.rows_dropped)
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str)

    def to_text(self) -> str:
        """Human-readable report for the terminal."""
        status = "OK" if self.ok else "NOT USABLE"
        lines = [
            f"Validation report for {self.source} [{self.file_format}] — {status}",
            *[f"  read: {r}" for r in self.reading],
            f"  interactions: {self.rows_read:,} read, {self.rows_kept:,} kept, "
            f"{self.rows_dropped:,} dropped",
        ]
        if self.catalog_rows_read:
            lines.append(
                f"  catalog: {self.catalog_rows_read:,} read, {self.catalog_rows_kept:,} kept"
            )
        lines.append(
            f"  users: {self.n_users:,}  items: {self.n_items:,}  cold items: {self.n_cold_items:,}"
        )
        for issue in self.issues:
            count = f" ({issue.count:,} rows)" if issue.count else ""
            lines.append(f"  [{issue.level.upper()}] {issue.table}: {issue.message}{count}")
        return "\n".join(lines)


@dataclass(frozen=True)
class ValidationResult:
    """The report plus the clean frames (``None`` when an error prevents building them)."""

    report: ValidationReport
    interactions: pd.DataFrame | None = None
    catalog: pd.DataFrame | None = None
    users: pd.DataFrame | None = None

    @property
    def ok(self) -> bool:
        return self.report.ok and self.interactions is not None


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value if isinstance(value, int | float | bool) else str(value)


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


def clean_interactions(
    raw: pd.DataFrame, mapping: ColumnMapping, report: ValidationReport
) -> pd.DataFrame | None:
    """Map, type and filter interaction rows; record every drop in ``report``.

    Returns ``user_id, item_id[, timestamp][, value]`` or ``None`` when nothing usable remains.
    """
    report.rows_read = len(raw)
    report.mapping = mapping.as_dict()
    for role, label in (("user_id", "user id"), ("item_id", "item id")):
        col = mapping.get(role)
        if col is None or col not in raw.columns:
            columns = ", ".join(map(str, raw.columns[:12]))
            what = f"The {label} column '{col}' is not in the file" if col else f"No {label} column"
            hint = (" Only one column was found: the file probably uses another delimiter; choose "
                    "it in the reading options." if raw.shape[1] == 1 else "")
            report.add("error", f"missing_{role}",
                       f"{what}. Columns found: {columns}. Choose the {label} column "
                       f"in the column mapping.{hint}")
    if report.errors:
        return None
    bad: dict[str, pd.Series] = {}
    out = pd.DataFrame(index=raw.index)
    for role, label in (("user_id", "user id"), ("item_id", "item id")):
        ids, n_float = normalise_ids(raw[mapping.get(role)])
        out[role] = ids
        bad[f"missing_{role}"] = ids.isna()
        if n_float:
            report.add("info", f"float_{role}",
                       f"{n_float:,} {label}s were written as decimals (e.g. 17850.0) and were "
                       "read as whole numbers.", n_float)
        if ids.isna().all():
            report.add("error", f"no_{role}",
                       f"Every {label} in column '{mapping.get(role)}' is empty. Check the "
                       "column mapping.", len(ids))
    if report.errors:
        return None
    if (col := mapping.get("order_id")) and col in raw.columns:
        bad["cancelled"] = raw[col].astype("string").str.strip().str.upper().str.startswith(
            "C").fillna(False).astype(bool)
    if (col := mapping.get("value")) and col in raw.columns:
        out["value"], bad_value, non_pos = _parse_values(raw[col], mapping.value_kind)
        bad["bad_value"], bad["non_positive"] = bad_value, non_pos
    if (col := mapping.get("timestamp")) and col in raw.columns:
        out["timestamp"] = parse_timestamps(raw[col])
        bad["bad_timestamp"] = out["timestamp"].isna()
    used = [c for c in (mapping.get(r) for r in ("user_id", "item_id", "timestamp", "value",
                                                  "order_id")) if c and c in raw.columns]
    # Compare normalised ids, so that 17850 and 17850.0 (or ' A' and 'A') are the same row.
    others = [c for c in used if c not in (mapping.get("user_id"), mapping.get("item_id"))]
    key = pd.concat([out[["user_id", "item_id"]], raw[others]], axis=1)
    bad["duplicate"] = key.set_axis(range(key.shape[1]), axis=1).duplicated(keep="first")
    _report_drops(report, raw, bad, mapping)
    drop = np.logical_or.reduce([m.to_numpy(dtype=bool) for m in bad.values()])
    kept = out.loc[~drop]  # original row labels kept until the end, for row numbers in samples
    if kept.empty:
        report.add("error", "no_rows", "No interaction row survived validation; see the reasons "
                   "above.")
        return None
    kept["user_id"] = kept["user_id"].astype(str)
    kept["item_id"] = kept["item_id"].astype(str)
    report.rows_kept = len(kept)
    return kept


def _parse_values(col: pd.Series, kind: str) -> tuple[pd.Series, pd.Series, pd.Series]:
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


_DROP_MESSAGES = {
    "missing_user_id": ("warning", "Rows without a user id ('{user_id}') were dropped."),
    "missing_item_id": ("warning", "Rows without an item id ('{item_id}') were dropped."),
    "cancelled": ("warning", "Cancelled orders ('{order_id}' starting with C) were dropped."),
    "bad_value": ("warning", "Rows whose value ('{value}') is empty or not a number were dropped."),
    "non_positive": ("warning", "Rows with a zero or negative quantity ('{value}') were dropped "
                     "(returns, corrections)."),
    "bad_timestamp": ("warning", "Rows whose timestamp ('{timestamp}') is empty or unreadable "
                      "were dropped."),
    "duplicate": ("warning", "Exact duplicate rows were dropped (first copy kept)."),
}


def _report_drops(report: ValidationReport, raw: pd.DataFrame, bad: Mapping[str, pd.Series],
                  mapping: ColumnMapping) -> None:
    names = {r: mapping.get(r) or r for r in ("user_id", "item_id", "order_id", "value",
                                               "timestamp")}
    for code, mask in bad.items():
        n = int(mask.sum())
        if n:
            level, template = _DROP_MESSAGES[code]
            report.add(level, code, template.format(**names), n, sample=raw.loc[mask])


def clean_catalog(
    raw: pd.DataFrame, mapping: ColumnMapping, report: ValidationReport
) -> pd.DataFrame | None:
    """Map and type catalog columns; keep extra columns; one row per item id."""
    report.catalog_rows_read = len(raw)
    report.catalog_mapping = mapping.as_dict()
    col = mapping.get("item_id")
    if col is None or col not in raw.columns:
        report.add("error", "catalog_missing_item_id",
                   f"The catalog has no item id column (columns: "
                   f"{', '.join(map(str, raw.columns[:12]))}). Choose it in the column mapping.",
                   table="catalog")
        return None
    renames = {mapping.get(r): r for r in CATALOG_ROLES if mapping.get(r) in raw.columns}
    cat = raw.rename(columns=renames)
    cat = cat.loc[:, ~cat.columns.duplicated()]
    cat["item_id"], _ = normalise_ids(cat["item_id"])
    missing = cat["item_id"].isna()
    if missing.any():
        report.add("warning", "catalog_missing_item_id", "Catalog rows without an item id were "
                   "dropped.", int(missing.sum()), table="catalog", sample=raw.loc[missing])
    dup = cat["item_id"].duplicated(keep="first") & ~missing
    if dup.any():
        report.add("warning", "catalog_duplicate_item_id", "Catalog rows repeating an item id "
                   "were dropped (first kept).", int(dup.sum()), table="catalog",
                   sample=raw.loc[cat["item_id"].isin(cat.loc[dup, "item_id"])])
    cat = cat.loc[~missing & ~dup].reset_index(drop=True)
    if cat.empty:
        report.add("error", "catalog_empty", "The catalog has no usable row.", table="catalog")
        return None
    cat["item_id"] = cat["item_id"].astype(str)
    if "title" not in cat.columns:
        cat["title"] = cat["item_id"]
        report.add("info", "catalog_no_title", "No title column; item ids are used as titles.",
                   table="catalog")
    else:
        no_title = cat["title"].isna() | (cat["title"].astype("string").str.strip() == "")
        if no_title.any():
            report.add("info", "catalog_missing_title", "Items without a title use their id.",
                       int(no_title.sum()), table="catalog")
        cat["title"] = cat["title"].astype("string").str.strip().mask(no_title, cat["item_id"])
        cat["title"] = cat["title"].astype(str)
    if "price" in cat.columns:
        price = pd.to_numeric(cat["price"], errors="coerce")
        invalid = (cat["price"].notna() & price.isna()) | (price < 0)
        if invalid.any():
            report.add("warning", "catalog_bad_price", "Prices that are not numbers or are "
                       "negative were cleared.", int(invalid.sum()), table="catalog")
        cat["price"] = price.mask(price < 0).astype("float64")
    for text_col in ("description", "category", "brand"):
        if text_col in cat.columns:
            cat[text_col] = cat[text_col].astype("string").str.strip()
    report.catalog_rows_kept = len(cat)
    return cat


def derive_catalog(raw: pd.DataFrame, interactions_mapping: ColumnMapping,
                   item_ids: pd.Series) -> pd.DataFrame | None:
    """Build a catalog from item attributes found in the interaction file itself.

    Order lines often carry a description and a unit price; the most frequent title and the
    median price per item make a usable catalog. ``None`` when no such column exists.
    """
    used = {c for c in interactions_mapping.roles.values() if c}
    free = [c for c in raw.columns if c not in used]
    guess = guess_mapping(free, roles=("title", "description", "category", "brand", "price"))
    found = {r: c for r, c in guess.roles.items() if c}
    if not found:
        return None
    frame = pd.DataFrame({"item_id": item_ids.to_numpy()})
    for role, col in found.items():
        frame[role] = raw[col].to_numpy()
    frame = frame.dropna(subset=["item_id"])
    cat = pd.DataFrame({"item_id": frame["item_id"].drop_duplicates().to_numpy()})
    for role in found:
        if role == "price":
            price = pd.to_numeric(frame["price"], errors="coerce")
            med = price.groupby(frame["item_id"], sort=False).median()
            cat["price"] = cat["item_id"].map(med)
        else:
            cat[role] = cat["item_id"].map(_most_frequent(frame["item_id"], frame[role]))
    return cat


def _most_frequent(keys: pd.Series, values: pd.Series) -> pd.Series:
    """Most frequent non-null value per key (ties: first seen), vectorised."""
    pairs = pd.DataFrame({"k": keys, "v": values}).dropna()
    counts = pairs.groupby(["k", "v"], sort=False).size().reset_index(name="n")
    top = counts.sort_values("n", ascending=False, kind="stable").drop_duplicates("k")
    return top.set_index("k")["v"]


def validate(
    interactions: pd.DataFrame,
    catalog: pd.DataFrame | None = None,
    *,
    mapping: ColumnMapping | None = None,
    catalog_mapping: ColumnMapping | None = None,
    source: str = "",
    file_format: str = "generic",
    reading: list[str] | None = None,
    has_header: bool = True,
) -> ValidationResult:
    """Validate raw interaction (and catalog) frames into clean canonical frames.

    Without an explicit mapping, columns are guessed from their names. Without a catalog,
    item attributes found in the interaction file (description, price…) make one; otherwise
    titles default to the item ids. Never raises on bad data: read ``result.report``.
    """
    report = ValidationReport(source=source, file_format=file_format, reading=list(reading or []),
                              first_line=2 if has_header else 1)
    mapping = mapping or guess_mapping(interactions.columns)
    inter = clean_interactions(interactions, mapping, report)
    if inter is None:
        return ValidationResult(report)
    cat: pd.DataFrame | None = None
    if catalog is not None:
        cat = clean_catalog(catalog, catalog_mapping or guess_mapping(catalog.columns,
                                                                     CATALOG_ROLES), report)
        if cat is None:
            return ValidationResult(report)
        inter = _check_catalog_match(inter, cat, report)
        if inter is None:
            return ValidationResult(report)
    else:
        derived = derive_catalog(interactions.loc[inter.index], mapping, inter["item_id"])
        if derived is not None:
            cols = ", ".join(c for c in derived.columns if c != "item_id")
            report.add("info", "catalog_derived", f"No catalog given: item {cols} were taken "
                       "from the interaction file (most frequent value per item).",
                       table="catalog")
            cat = clean_catalog(derived, guess_mapping(derived.columns, CATALOG_ROLES), report)
    inter = inter.reset_index(drop=True)
    report.n_users = int(inter["user_id"].nunique())
    known = set(inter["item_id"].unique())
    report.n_items = len(known)
    if cat is not None:
        report.n_cold_items = int((~cat["item_id"].isin(known)).sum())
        if report.n_cold_items:
            report.add("info", "cold_items", "Catalog items without interactions are kept as "
                       "cold items (they can still be recommended by content).",
                       report.n_cold_items, table="catalog")
        report.n_items = len(cat)
    return ValidationResult(report, inter, cat)


def _check_catalog_match(inter: pd.DataFrame, cat: pd.DataFrame,
                         report: ValidationReport) -> pd.DataFrame | None:
    in_catalog = inter["item_id"].isin(cat["item_id"])
    if not in_catalog.any():
        report.add("error", "catalog_no_match",
                   "None of the catalog's item ids match the interactions' item ids (catalog "
                   f"e.g. {', '.join(cat['item_id'].head(3))}; interactions e.g. "
                   f"{', '.join(inter['item_id'].drop_duplicates().head(3))}). Check that both "
                   "files use the same item id column.", len(inter), table="catalog")
        report.rows_kept = 0
        return None
    missing = ~in_catalog
    if missing.any():
        report.add("warning", "unknown_item", "Interactions on items missing from the catalog "
                   "were dropped.", int(missing.sum()), sample=inter.loc[missing])
        inter = inter.loc[in_catalog]
        report.rows_kept = len(inter)
    return inter
