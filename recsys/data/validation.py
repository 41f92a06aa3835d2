"""Turn raw tables into clean canonical frames, with a report of everything that was dropped.

Validation never raises on user data: each problem becomes an :class:`Issue` (error, warning or
info) with the number of rows affected and a few offending rows, so the person who uploaded the
file can fix it. Counts are per reason over all rows read (a row can have several problems);
``rows_dropped`` is the exact number of rows removed.

*Errors* block the dataset from being used (no id column, no valid row, a catalog that matches
none of the interactions); *warnings* drop rows; *info* explains harmless changes.

The report types live in :mod:`recsys.data.report` and the value parsers (ids, timestamps,
numbers) in :mod:`recsys.data.parsing`; both are importable from here too.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from recsys.data.parsing import (
    SUPPORTED_RANGE,
    TimestampParse,
    id_column_problem,
    normalise_ids,
    parse_timestamps,
    parse_values,
    read_timestamps,
    unit_name,
)
from recsys.data.report import Issue, IssueCode, Level, ValidationReport, ValidationResult
from recsys.data.schema import CATALOG_ROLES, ColumnMapping, guess_mapping

__all__ = [
    "Issue",
    "Level",
    "ValidationReport",
    "ValidationResult",
    "validate",
    "clean_interactions",
    "clean_catalog",
    "normalise_ids",
    "parse_timestamps",
    "derive_catalog",
]


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
            report.add("error", IssueCode.for_role("missing", role),
                       f"{what}. Columns found: {columns}. Choose the {label} column "
                       f"in the column mapping.{hint}")
    if report.errors:
        return None
    bad: dict[str, pd.Series] = {}
    out = pd.DataFrame(index=raw.index)
    for role, label in (("user_id", "user id"), ("item_id", "item id")):
        if problem := id_column_problem(raw[mapping.get(role)]):
            report.add("error", IssueCode.for_role("bad", role),
                       f"The {label} column '{mapping.get(role)}' {problem}. Map a column of "
                       "plain ids (text or whole numbers).")
    if report.errors:
        return None
    for role, label in (("user_id", "user id"), ("item_id", "item id")):
        ids, n_float = normalise_ids(raw[mapping.get(role)])
        out[role] = ids
        bad[IssueCode.for_role("missing", role)] = ids.isna()
        if n_float:
            report.add("info", IssueCode.for_role("float", role),
                       f"{n_float:,} {label}s were written as decimals (e.g. 17850.0) and were "
                       "read as whole numbers.", n_float)
        if ids.isna().all():
            report.add("error", IssueCode.for_role("no", role),
                       f"Every {label} in column '{mapping.get(role)}' is empty. Check the "
                       "column mapping.", len(ids))
    if report.errors:
        return None
    if (col := mapping.get("order_id")) and col in raw.columns:
        bad[IssueCode.CANCELLED] = raw[col].astype("string").str.strip().str.upper().str.startswith(
            "C").fillna(False).astype(bool)
    if (col := mapping.get("value")) and col in raw.columns:
        out["value"], bad_value, non_pos = parse_values(raw[col], mapping.value_kind)
        bad[IssueCode.BAD_VALUE], bad[IssueCode.NON_POSITIVE] = bad_value, non_pos
    if (col := mapping.get("timestamp")) and col in raw.columns:
        stamps = read_timestamps(raw[col])
        if stamps.mixed_units:
            _refuse_mixed_units(report, raw, col, stamps)
            return None
        out["timestamp"] = stamps.values
        bad[IssueCode.BAD_TIMESTAMP] = stamps.values.isna() & ~stamps.out_of_range
        bad[IssueCode.OUT_OF_RANGE_TIMESTAMP] = stamps.out_of_range
        report.timestamps_read_as = stamps.read_as
    used = [c for c in (mapping.get(r) for r in ("user_id", "item_id", "timestamp", "value",
                                                  "order_id")) if c and c in raw.columns]
    # Compare normalised ids, so that 17850 and 17850.0 (or ' A' and 'A') are the same row.
    others = [c for c in used if c not in (mapping.get("user_id"), mapping.get("item_id"))]
    key = pd.concat([out[["user_id", "item_id"]], raw[others]], axis=1)
    bad[IssueCode.DUPLICATE] = key.set_axis(range(key.shape[1]), axis=1).duplicated(keep="first")
    _report_drops(report, raw, bad, mapping)
    flags = np.stack([m.to_numpy(dtype=bool) for m in bad.values()])
    drop = flags.any(axis=0)
    report.rows_several_reasons = int((flags.sum(axis=0) > 1).sum())
    kept = out.loc[~drop]  # original row labels kept until the end, for row numbers in samples
    if kept.empty:
        report.add("error", IssueCode.NO_ROWS, "No interaction row survived validation; see the reasons "
                   "above.")
        return None
    kept["user_id"] = kept["user_id"].astype(str)
    kept["item_id"] = kept["item_id"].astype(str)
    report.rows_kept = len(kept)
    if "timestamp" in kept.columns:
        report.set_time_range(kept["timestamp"])
    return kept


def _refuse_mixed_units(report: ValidationReport, raw: pd.DataFrame, col: str,
                        stamps: TimestampParse) -> None:
    """An error naming the column, the units found and rows of the rarer units: numbers in
    seconds and milliseconds in one column cannot both be right, and guessing puts some in 1970."""
    counts = stamps.unit.value_counts()
    units = stamps.epoch_units
    main = max(units, key=lambda u: int(counts.get(u, 0)))
    found = ", ".join(f"{int(counts.get(u, 0)):,} in {unit_name(u)}" for u in units)
    rare = (stamps.unit.isin([u for u in units if u != main])).fillna(False).astype(bool)
    rows = ", ".join(str(int(i) + report.first_line) for i in raw.index[rare][:5])
    report.add("error", IssueCode.MIXED_TIMESTAMP_UNITS,
               f"The timestamp column '{col}' mixes Unix time units ({found}; e.g. "
               f"row{'s' if int(rare.sum()) > 1 else ''} {rows} not in {unit_name(main)}). "
               "Write every timestamp of the column in one unit (or as dates) and load the file "
               "again.", int(rare.sum()), sample=raw.loc[rare])


_DROP_MESSAGES = {
    IssueCode.MISSING_USER_ID: ("warning", "Rows without a user id ('{user_id}') were dropped."),
    IssueCode.MISSING_ITEM_ID: ("warning", "Rows without an item id ('{item_id}') were dropped."),
    IssueCode.CANCELLED: ("warning", "Cancelled orders ('{order_id}' starting with C) were dropped."),
    IssueCode.BAD_VALUE: ("warning", "Rows whose value ('{value}') is empty or not a number were dropped."),
    IssueCode.NON_POSITIVE: ("warning", "Rows with a zero or negative quantity ('{value}') were dropped "
                     "(returns, corrections)."),
    IssueCode.BAD_TIMESTAMP: ("warning", "Rows whose timestamp ('{timestamp}') is empty or unreadable "
                      "were dropped."),
    IssueCode.OUT_OF_RANGE_TIMESTAMP: ("warning", "Rows whose timestamp ('{timestamp}') lies outside the "
                                       "supported range ({first_date} to {last_date}) were dropped; "
                                       "placeholder dates such as 9999-12-31 often mean 'unknown'."),
    IssueCode.DUPLICATE: ("warning", "Exact duplicate rows were dropped (first copy kept)."),
}


def _report_drops(report: ValidationReport, raw: pd.DataFrame, bad: Mapping[str, pd.Series],
                  mapping: ColumnMapping) -> None:
    names = {r: mapping.get(r) or r for r in ("user_id", "item_id", "order_id", "value",
                                               "timestamp")}
    names.update(first_date=f"{SUPPORTED_RANGE[0]:%Y-%m-%d}", last_date=f"{SUPPORTED_RANGE[1]:%Y-%m-%d}")
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
        report.add("error", IssueCode.CATALOG_MISSING_ITEM_ID,
                   f"The catalog has no item id column (columns: "
                   f"{', '.join(map(str, raw.columns[:12]))}). Choose it in the column mapping.",
                   table="catalog")
        return None
    renames = {mapping.get(r): r for r in CATALOG_ROLES if mapping.get(r) in raw.columns}
    cat = raw.rename(columns=renames)
    cat = cat.loc[:, ~cat.columns.duplicated()]
    if problem := id_column_problem(cat["item_id"]):
        report.add("error", IssueCode.CATALOG_BAD_ITEM_ID, f"The catalog's item id column "
                   f"'{col}' {problem}. Map a column of plain ids (text or whole numbers).",
                   table="catalog")
        return None
    cat["item_id"], _ = normalise_ids(cat["item_id"])
    missing = cat["item_id"].isna()
    if missing.any():
        report.add("warning", IssueCode.CATALOG_MISSING_ITEM_ID, "Catalog rows without an item id were "
                   "dropped.", int(missing.sum()), table="catalog", sample=raw.loc[missing])
    dup = cat["item_id"].duplicated(keep="first") & ~missing
    if dup.any():
        report.add("warning", IssueCode.CATALOG_DUPLICATE_ITEM_ID, "Catalog rows repeating an item id "
                   "were dropped (first kept).", int(dup.sum()), table="catalog",
                   sample=raw.loc[cat["item_id"].isin(cat.loc[dup, "item_id"])])
    cat = cat.loc[~missing & ~dup].reset_index(drop=True)
    if cat.empty:
        report.add("error", IssueCode.CATALOG_EMPTY, "The catalog has no usable row.", table="catalog")
        return None
    cat["item_id"] = cat["item_id"].astype(str)
    if "title" not in cat.columns:
        cat["title"] = cat["item_id"]
        report.add("info", IssueCode.CATALOG_NO_TITLE, "No title column; item ids are used as titles.",
                   table="catalog")
    else:
        no_title = cat["title"].isna() | (cat["title"].astype("string").str.strip() == "")
        if no_title.any():
            report.add("info", IssueCode.CATALOG_MISSING_TITLE, "Items without a title use their id.",
                       int(no_title.sum()), table="catalog")
        cat["title"] = cat["title"].astype("string").str.strip().mask(no_title, cat["item_id"])
        cat["title"] = cat["title"].astype(str)
    if "price" in cat.columns:
        price = pd.to_numeric(cat["price"], errors="coerce")
        invalid = (cat["price"].notna() & price.isna()) | (price < 0)
        if invalid.any():
            report.add("warning", IssueCode.CATALOG_BAD_PRICE, "Prices that are not numbers or are "
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
            report.add("info", IssueCode.CATALOG_DERIVED, f"No catalog given: item {cols} were taken "
                       "from the interaction file (most frequent value per item).",
                       table="catalog")
            cat = clean_catalog(derived, guess_mapping(derived.columns, CATALOG_ROLES), report)
    inter = inter.reset_index(drop=True)
    if "timestamp" in inter.columns:  # again: the catalog may have removed rows
        report.set_time_range(inter["timestamp"])
    report.n_users = int(inter["user_id"].nunique())
    known = set(inter["item_id"].unique())
    report.n_items = len(known)
    if cat is not None:
        report.n_cold_items = int((~cat["item_id"].isin(known)).sum())
        if report.n_cold_items:
            report.add("info", IssueCode.COLD_ITEMS, "Catalog items without interactions are kept as "
                       "cold items (they can still be recommended by content).",
                       report.n_cold_items, table="catalog")
        report.n_items = len(cat)
    return ValidationResult(report, inter, cat)


def _check_catalog_match(inter: pd.DataFrame, cat: pd.DataFrame,
                         report: ValidationReport) -> pd.DataFrame | None:
    in_catalog = inter["item_id"].isin(cat["item_id"])
    if not in_catalog.any():
        report.add("error", IssueCode.CATALOG_NO_MATCH,
                   "None of the catalog's item ids match the interactions' item ids (catalog "
                   f"e.g. {', '.join(cat['item_id'].head(3))}; interactions e.g. "
                   f"{', '.join(inter['item_id'].drop_duplicates().head(3))}). Check that both "
                   "files use the same item id column.", len(inter), table="catalog")
        report.rows_kept = 0
        return None
    missing = ~in_catalog
    if missing.any():
        report.add("warning", IssueCode.UNKNOWN_ITEM, "Interactions on items missing from the catalog "
                   "were dropped.", int(missing.sum()), sample=inter.loc[missing])
        inter = inter.loc[in_catalog]
        report.rows_kept = len(inter)
    return inter
