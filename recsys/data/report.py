"""What validation found: :class:`Issue`, :class:`ValidationReport` and :class:`ValidationResult`.

A report lists every issue (error, warning or info) with the number of rows affected and a
few offending rows as plain values, and renders itself as JSON (``--json``, the workspace,
manifests) or as text for the terminal. The checks that fill it are in
:mod:`recsys.data.validation`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Literal

import numpy as np
import pandas as pd

__all__ = ["DROP_CODES", "Issue", "IssueCode", "Level", "ValidationReport", "ValidationResult"]

Level = Literal["error", "warning", "info"]
_SAMPLE_ROWS = 5


class IssueCode(StrEnum):
    """What a validation finding is about: one stable code per kind of finding (tests, the
    ``--json`` report and the dashboard's drop table key on it; it equals its text)."""

    MISSING_USER_ID = "missing_user_id"
    MISSING_ITEM_ID = "missing_item_id"
    FLOAT_USER_ID = "float_user_id"
    FLOAT_ITEM_ID = "float_item_id"
    NO_USER_ID = "no_user_id"
    BAD_USER_ID = "bad_user_id"
    BAD_ITEM_ID = "bad_item_id"
    CATALOG_BAD_ITEM_ID = "catalog_bad_item_id"
    NO_ITEM_ID = "no_item_id"
    NO_ROWS = "no_rows"
    CANCELLED = "cancelled"
    BAD_VALUE = "bad_value"
    NON_POSITIVE = "non_positive"
    BAD_TIMESTAMP = "bad_timestamp"
    OUT_OF_RANGE_TIMESTAMP = "out_of_range_timestamp"
    MIXED_TIMESTAMP_UNITS = "mixed_timestamp_units"
    DUPLICATE = "duplicate"
    CATALOG_MISSING_ITEM_ID = "catalog_missing_item_id"
    CATALOG_DUPLICATE_ITEM_ID = "catalog_duplicate_item_id"
    CATALOG_EMPTY = "catalog_empty"
    CATALOG_NO_TITLE = "catalog_no_title"
    CATALOG_MISSING_TITLE = "catalog_missing_title"
    CATALOG_BAD_PRICE = "catalog_bad_price"
    CATALOG_DERIVED = "catalog_derived"
    COLD_ITEMS = "cold_items"
    CATALOG_NO_MATCH = "catalog_no_match"
    UNKNOWN_ITEM = "unknown_item"
    RETAIL_COLUMNS = "retail_columns"
    AGGREGATED = "aggregated"

    @classmethod
    def for_role(cls, prefix: str, role: str) -> IssueCode:
        """The code of a finding about one id column, e.g. ``for_role("missing", "user_id")``."""
        return cls(f"{prefix}_{role}")



#: Findings whose rows are dropped from the interactions; one row can fail several of them.
DROP_CODES: frozenset[IssueCode] = frozenset({
    IssueCode.MISSING_USER_ID, IssueCode.MISSING_ITEM_ID, IssueCode.CANCELLED, IssueCode.BAD_VALUE,
    IssueCode.NON_POSITIVE, IssueCode.BAD_TIMESTAMP, IssueCode.OUT_OF_RANGE_TIMESTAMP,
    IssueCode.DUPLICATE, IssueCode.UNKNOWN_ITEM})


@dataclass(frozen=True)
class Issue:
    """One finding of the validation: what, how many rows, and a few examples."""

    level: Level
    code: IssueCode
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
    #: First and last timestamp kept, as ISO text (a date alone when every time is midnight);
    #: empty without a timestamp column. Shown so a misread column (1970, 2262…) is seen at once.
    first_timestamp: str = ""
    last_timestamp: str = ""
    #: How numeric timestamps were read ("YYYYMMDD", "unix seconds"…); empty for text dates.
    timestamps_read_as: str = ""
    #: Dropped rows that failed more than one check (each such row is counted under each reason).
    rows_several_reasons: int = 0

    @property
    def rows_dropped(self) -> int:
        """Interaction rows removed by validation."""
        return self.rows_read - self.rows_kept

    @property
    def drop_reason_rows(self) -> int:
        """Rows counted by the drop reasons, added up (a row failing two checks counts twice)."""
        return sum(i.count for i in self.issues if i.code in DROP_CODES and i.table == "interactions")

    @property
    def drop_note(self) -> str:
        """Why the drop reasons add up to more than the rows dropped, or ``""`` when they match."""
        total = self.drop_reason_rows
        if total <= self.rows_dropped:
            return ""
        several = (f" ({self.rows_several_reasons:,} rows failed more than one)"
                   if self.rows_several_reasons else "")
        return (f"A row can have several reasons{several}, so the reasons add up to {total:,} rows; "
                f"{self.rows_dropped:,} rows were dropped in all.")

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

    def count(self, code: IssueCode | str) -> int:
        """Rows affected by the issue ``code`` (0 when absent)."""
        return sum(i.count for i in self.issues if i.code == code)

    def add(self, level: Level, code: IssueCode | str, message: str, count: int = 0, *,
            table: Literal["interactions", "catalog"] = "interactions",
            sample: pd.DataFrame | None = None) -> None:
        """Record an issue, with up to five offending rows as plain strings; an unknown
        ``code`` is refused (``ValueError``), so a typo cannot make a finding invisible."""
        code = IssueCode(code)
        rows: tuple[dict[str, Any], ...] = ()
        if sample is not None and len(sample):
            head = sample.head(_SAMPLE_ROWS)
            rows = tuple(
                {"row": int(idx) + self.first_line, **{str(k): _plain(v) for k, v in rec.items()}}
                for idx, rec in zip(head.index, head.to_dict("records"), strict=True)
            )
        self.issues.append(Issue(level, code, message, int(count), table, rows))

    @property
    def date_range(self) -> str:
        """First to last timestamp kept and how numbers were read, e.g. ``2020-01-01 to
        2021-12-31 (read as YYYYMMDD)``; empty without timestamps."""
        if not self.first_timestamp:
            return ""
        read_as = f" (read as {self.timestamps_read_as})" if self.timestamps_read_as else ""
        return f"{self.first_timestamp} to {self.last_timestamp}{read_as}"

    def set_time_range(self, timestamps: pd.Series) -> None:
        """Record the first and last of the kept ``timestamps`` (nothing when all are NaT)."""
        kept = timestamps.dropna()
        if kept.empty:
            self.first_timestamp = self.last_timestamp = ""
            return
        first, last = kept.min(), kept.max()
        midnight = bool((kept == kept.dt.normalize()).all())
        self.first_timestamp, self.last_timestamp = (
            t.strftime("%Y-%m-%d") if midnight else t.isoformat(sep=" ") for t in (first, last))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (used by ``--json``, the workspace and manifests)."""
        out = asdict(self)
        out.update(ok=self.ok, rows_dropped=self.rows_dropped, drop_note=self.drop_note)
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
        if self.date_range:
            lines.append(f"  dates: {self.date_range}")
        for issue in self.issues:
            count = f" ({issue.count:,} rows)" if issue.count else ""
            lines.append(f"  [{issue.level.upper()}] {issue.table}: {issue.message}{count}")
        if self.drop_note:
            lines.append(f"  note: {self.drop_note}")
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
