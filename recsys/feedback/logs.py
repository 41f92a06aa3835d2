"""Read and check a feedback log and a target policy's lists for off-policy evaluation.

A **log** has one row per shown slot: ``user_id, item_id, position, propensity, reward``
(position from 1; propensity the probability the logging policy showed this item at this
position to this user, in (0, 1]; reward 0/1 or any number). A **lists** file is the target
policy: ``user_id, item_id, rank`` and optionally ``probability`` (of that item at that rank
for that user; 1 when absent: a deterministic list). Both are read with the project's bounded
reader (:func:`recsys.data.reading.read_table`: CSV/TSV in any common encoding, gzip,
Parquet, XLSX, size and row limits). Column names match case-insensitively.

Anything that makes a file unusable raises :class:`~recsys.data.reading.IngestError` with one
line naming the file, the column and the first offending data rows; rows whose propensity is
blank are left out with a warning instead (the estimate says how many).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from recsys.data.reading import IngestError, IngestLimits, read_table

__all__ = ["LOG_COLUMNS", "LIST_COLUMNS", "FeedbackLog", "TargetLists", "check_log",
           "check_lists", "read_log", "read_lists"]

LOG_COLUMNS: tuple[str, ...] = ("user_id", "item_id", "position", "propensity", "reward")
LIST_COLUMNS: tuple[str, ...] = ("user_id", "item_id", "rank")
#: Slack on "probabilities of one slot sum to at most 1" (rounding in written files).
SUM_TOLERANCE = 1e-6


@dataclass(frozen=True, eq=False)
class FeedbackLog:
    """Checked log rows as arrays (ids as text) and what was left out, as warning lines."""

    user: np.ndarray
    item: np.ndarray
    position: np.ndarray
    propensity: np.ndarray
    reward: np.ndarray
    warnings: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return len(self.user)


@dataclass(frozen=True, eq=False)
class TargetLists:
    """Checked target-policy rows: who gets which item at which rank, with what probability."""

    user: np.ndarray
    item: np.ndarray
    rank: np.ndarray
    probability: np.ndarray


def _where(mask: np.ndarray, limit: int = 5) -> str:
    """``data rows 2, 5 and 9`` / ``data rows 2, 5, … (12 rows)``: the first offending rows
    (1 = the first row under the header)."""
    rows = np.flatnonzero(mask) + 1
    shown = ", ".join(str(r) for r in rows[:limit])
    more = f", … ({len(rows):,} rows)" if len(rows) > limit else ""
    return f"data row{'s' if len(rows) > 1 else ''} {shown}{more}"


def _columns(frame: pd.DataFrame, needed: tuple[str, ...], name: str, what: str,
             optional: tuple[str, ...] = ()) -> dict[str, str]:
    """Map each needed (and present optional) column name to the frame's own spelling."""
    lower = {str(c).strip().lower(): c for c in frame.columns}
    missing = [c for c in needed if c not in lower]
    if missing:
        found = ", ".join(str(c) for c in frame.columns[:12])
        raise IngestError(f"'{name}' has no column {', '.join(repr(m) for m in missing)}; {what} "
                          f"needs the columns {', '.join(needed)} (found: {found})")
    return {c: lower[c] for c in (*needed, *optional) if c in lower}


def _ids(frame: pd.DataFrame, column: str, role: str, name: str) -> np.ndarray:
    text = frame[column].astype("string").str.strip()
    blank = (text.isna() | (text == "")).to_numpy()
    if blank.any():
        raise IngestError(f"'{name}': {role} is blank in {_where(blank)}; every row needs one")
    return text.to_numpy(dtype=object).astype(str)


def _numbers(frame: pd.DataFrame, column: str, name: str, *, allow_blank: bool = False
             ) -> tuple[np.ndarray, np.ndarray]:
    """``(values, blank)``: the column as floats; text that is not a number is an error."""
    raw = frame[column]
    text = raw.astype("string").str.strip()
    blank = (text.isna() | (text == "")).to_numpy()
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~blank & ~np.isfinite(values)
    if bad.any() or (blank.any() and not allow_blank):
        rows = bad | (blank & (not allow_blank))
        raise IngestError(f"'{name}': {column} must be a number; found "
                          f"{_sample(text[rows])} in {_where(rows)}")
    return values, blank


def _sample(values: pd.Series) -> str:
    first = values.fillna("").iloc[0] if len(values) else ""
    return f"'{first}'" if first else "a blank cell"


def _positions(values: np.ndarray, column: str, name: str) -> np.ndarray:
    bad = (values < 1) | (values != np.floor(values))
    if bad.any():
        raise IngestError(f"'{name}': {column} must be a whole number from 1 (the top slot); "
                          f"found {values[bad][0]:g} in {_where(bad)}")
    return values.astype(np.int64)


def check_log(frame: pd.DataFrame, name: str = "log") -> FeedbackLog:
    """Check a log frame (columns :data:`LOG_COLUMNS`); raises ``IngestError`` on bad rows."""
    cols = _columns(frame, LOG_COLUMNS, name, "a feedback log")
    user = _ids(frame, cols["user_id"], "user_id", name)
    item = _ids(frame, cols["item_id"], "item_id", name)
    position = _positions(_numbers(frame, cols["position"], name)[0], "position", name)
    propensity, blank = _numbers(frame, cols["propensity"], name, allow_blank=True)
    out_of_range = ~blank & ((propensity <= 0) | (propensity > 1))
    if out_of_range.any():
        raise IngestError(f"'{name}': propensity must be above 0 and at most 1 (the probability "
                          f"the logging policy showed the item there); found "
                          f"{propensity[out_of_range][0]:g} in {_where(out_of_range)}")
    reward, _ = _numbers(frame, cols["reward"], name)
    warnings: list[str] = []
    if blank.all():
        raise IngestError(f"'{name}': every propensity is blank; off-policy estimates need the "
                          "probability with which each row was shown")
    if blank.any():
        warnings.append(f"{int(blank.sum()):,} of {len(blank):,} log rows have no propensity "
                        f"({_where(blank)}) and were left out: the estimates cover the rest only")
    keep = ~blank
    return FeedbackLog(user[keep], item[keep], position[keep], propensity[keep], reward[keep],
                       warnings)


def check_lists(frame: pd.DataFrame, name: str = "lists") -> TargetLists:
    """Check a target-lists frame (:data:`LIST_COLUMNS` + optional ``probability``)."""
    cols = _columns(frame, LIST_COLUMNS, name, "a target policy's lists", ("probability",))
    user = _ids(frame, cols["user_id"], "user_id", name)
    item = _ids(frame, cols["item_id"], "item_id", name)
    rank = _positions(_numbers(frame, cols["rank"], name)[0], "rank", name)
    if "probability" in cols:
        prob = _numbers(frame, cols["probability"], name)[0]
        bad = (prob < 0) | (prob > 1)
        if bad.any():
            raise IngestError(f"'{name}': probability must be from 0 to 1; found "
                              f"{prob[bad][0]:g} in {_where(bad)}")
    else:
        prob = np.ones(len(user))
    keys = pd.DataFrame({"u": user, "i": item, "r": rank, "p": prob})
    dup = keys.duplicated(["u", "i", "r"]).to_numpy()
    if dup.any():
        raise IngestError(f"'{name}': the same user, item and rank appear twice ({_where(dup)}); "
                          "give each item of a list its own rank")
    sums = keys.groupby(["u", "r"])["p"].transform("sum").to_numpy()
    over = sums > 1 + SUM_TOLERANCE
    if over.any():
        raise IngestError(f"'{name}': the probabilities of one user's rank add up to more than 1 "
                          f"({sums[over][0]:.4g} at {_where(over)}); a deterministic list needs "
                          "one item per rank")
    return TargetLists(user, item, rank, prob)


def _read(source: Any, name: str | None, limits: IngestLimits | None) -> tuple[pd.DataFrame, str]:
    table = read_table(source, name=name, limits=limits)
    return table.frame, table.name


def read_log(source: Any, *, name: str | None = None, limits: IngestLimits | None = None
             ) -> FeedbackLog:
    """Read (bounded) and check a feedback log file; see :func:`check_log`."""
    frame, shown = _read(source, name, limits)
    return check_log(frame, shown)


def read_lists(source: Any, *, name: str | None = None, limits: IngestLimits | None = None
               ) -> TargetLists:
    """Read (bounded) and check a target policy's lists file; see :func:`check_lists`."""
    frame, shown = _read(source, name, limits)
    return check_lists(frame, shown)
