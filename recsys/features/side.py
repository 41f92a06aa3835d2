"""Side features of items and users as plain arrays, for feature-aware models.

Categorical columns become integer codes per field, with code ``0`` reserved for *unknown*
(missing values, rare levels, users without a profile row); prices become quantile buckets
(plus the unknown bucket); numeric user attributes (e.g. age) become quantile buckets too.
Text comes from :mod:`recsys.features.text`. Everything here is a pure function of the dataset:
arrays in, new arrays out, rows aligned with item / user positions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from recsys.data.dataset import Dataset
    from recsys.features.text import TextEmbedding

__all__ = ["CategoricalFeatures", "ItemFeatures", "categorical_codes", "clean_labels", "quantile_buckets",
           "quantile_edges", "bucket_codes", "item_categorical_features", "user_categorical_features",
           "item_features",
           "ITEM_CATEGORICAL_COLUMNS", "UNKNOWN", "BLANK_LABELS"]

UNKNOWN = "unknown"
#: Catalog columns used as item fields when present (plus the price bucket).
ITEM_CATEGORICAL_COLUMNS: tuple[str, ...] = ("category", "subcategory", "brand")


@dataclass(frozen=True, eq=False)
class CategoricalFeatures:
    """Integer codes ``(n_rows, n_fields)``; field ``f`` takes values ``0..cardinalities[f]-1``.

    ``vocabularies[f][c]`` is the label of code ``c`` (``vocabularies[f][0] == "unknown"``).
    """

    names: tuple[str, ...]
    codes: np.ndarray
    cardinalities: tuple[int, ...]
    vocabularies: tuple[tuple[str, ...], ...]

    @property
    def n_fields(self) -> int:
        return len(self.names)

    def offsets(self) -> np.ndarray:
        """Start of each field in one concatenated embedding table."""
        return np.concatenate([[0], np.cumsum(self.cardinalities)[:-1]]).astype(np.int64) \
            if self.names else np.zeros(0, dtype=np.int64)

    def frame(self) -> pd.DataFrame:
        """Codes decoded to labels, one column per field (for display and checks)."""
        return pd.DataFrame({name: np.asarray(vocab, dtype=object)[self.codes[:, f]]
                             for f, (name, vocab) in enumerate(zip(self.names, self.vocabularies,
                                                                  strict=True))})


@dataclass(frozen=True, eq=False)
class ItemFeatures:
    """Item fields (categorical codes) and the optional text embedding, rows = item positions."""

    categorical: CategoricalFeatures
    text: TextEmbedding | None = None


def _empty(n: int) -> CategoricalFeatures:
    return CategoricalFeatures((), np.zeros((n, 0), dtype=np.int64), (), ())


def _stack(n: int, fields: list[tuple[str, np.ndarray, tuple[str, ...]]]) -> CategoricalFeatures:
    if not fields:
        return _empty(n)
    codes = np.stack([c for _, c, _ in fields], axis=1).astype(np.int64)
    return CategoricalFeatures(tuple(f[0] for f in fields), codes,
                               tuple(len(f[2]) for f in fields), tuple(f[2] for f in fields))


#: Labels (after stripping, in any case) that mean a missing value.
BLANK_LABELS: tuple[str, ...] = ("", "nan", "none", "<na>", "null")


def clean_labels(values: Sequence[object] | pd.Series) -> pd.Series:
    """Labels of categorical values as strings, stripped; missing values and the words for
    them (:data:`BLANK_LABELS`, e.g. ``"NaN"`` or ``"null"`` from an export) become ``""``, so
    a field's codes and an encoder's lookups read the same labels."""
    s = pd.Series(values, dtype=object)
    labels = s.map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v))
                   else str(v).strip())
    return labels.where(~labels.str.lower().isin(BLANK_LABELS), "")


def categorical_codes(values: Sequence[object] | pd.Series, *, max_levels: int = 1000,
                      min_count: int = 1) -> tuple[np.ndarray, tuple[str, ...]]:
    """Codes ``1..L`` for the ``max_levels`` most frequent labels (ties by name), ``0`` else.

    Missing / blank values and levels seen fewer than ``min_count`` times get ``0``.
    """
    labels = clean_labels(values)
    counts = labels[labels != ""].value_counts()
    counts = counts[counts >= min_count]
    order = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:max_levels]
    vocab = (UNKNOWN, *(label for label, _ in order))
    lookup = {label: code for code, label in enumerate(vocab[1:], start=1)}
    codes = np.array([lookup.get(v, 0) for v in labels.tolist()], dtype=np.int64)
    return codes, vocab


def quantile_buckets(values: Sequence[float] | np.ndarray, n_buckets: int = 5
                     ) -> tuple[np.ndarray, tuple[str, ...]]:
    """Quantile bucket ``1..B`` of each value (``0`` for missing / non-finite).

    Edges are quantiles of the finite values, so buckets hold about equal counts; repeated
    edges merge buckets. Labels read like ``"12.5–20"``.
    """
    edges = quantile_edges(values, n_buckets)
    if not len(edges):
        return np.zeros(len(values), dtype=np.int64), (UNKNOWN,)
    inner = edges[1:-1]
    codes = bucket_codes(values, inner)
    bounds = np.concatenate([[edges[0]], inner, [edges[-1]]])
    labels = tuple(f"{_num(lo)}–{_num(hi)}" for lo, hi in pairwise(bounds))
    return codes, (UNKNOWN, *labels)


def quantile_edges(values: Sequence[float] | np.ndarray, n_buckets: int = 5) -> np.ndarray:
    """Distinct quantile edges (lowest, inner…, highest) of the finite ``values``; empty
    when none is finite."""
    x = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=np.float64)
    finite = x[np.isfinite(x)]
    if not len(finite):
        return np.zeros(0, dtype=np.float64)
    return np.unique(np.quantile(finite, np.linspace(0, 1, max(1, n_buckets) + 1)))


def bucket_codes(values: Sequence[float] | np.ndarray, inner_edges: np.ndarray) -> np.ndarray:
    """Bucket ``1..B`` of each value between the ``inner_edges`` of :func:`quantile_buckets`
    (``0`` for missing / non-finite): how new rows are bucketed with edges fitted before."""
    x = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=np.float64)
    finite = np.isfinite(x)
    codes = np.zeros(len(x), dtype=np.int64)
    codes[finite] = np.searchsorted(np.asarray(inner_edges, np.float64), x[finite],
                                    side="right") + 1
    return codes


def _num(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 100 or float(v).is_integer() else f"{v:.3g}"


def item_categorical_features(dataset: Dataset, *,
                              columns: Sequence[str] = ITEM_CATEGORICAL_COLUMNS,
                              price_buckets: int = 5, max_levels: int = 1000
                              ) -> CategoricalFeatures:
    """Item fields from the catalog: each of ``columns`` present, plus ``price_bucket``.

    Columns absent from the catalog (or entirely missing) are skipped, so ml-100k yields only
    ``category`` while the demo shop yields category, subcategory, brand and price bucket.
    """
    catalog = dataset.catalog
    fields: list[tuple[str, np.ndarray, tuple[str, ...]]] = []
    for col in columns:
        if col in catalog.columns:
            codes, vocab = categorical_codes(catalog[col], max_levels=max_levels)
            if len(vocab) > 1:
                fields.append((col, codes, vocab))
    if "price" in catalog.columns and price_buckets > 0:
        codes, vocab = quantile_buckets(catalog["price"], price_buckets)
        if len(vocab) > 1:
            fields.append(("price_bucket", codes, vocab))
    return _stack(dataset.n_items, fields)


def user_categorical_features(dataset: Dataset, *, max_levels: int = 100,
                              numeric_buckets: int = 5, max_unique_share: float = 0.5
                              ) -> CategoricalFeatures:
    """User fields from ``dataset.users`` (e.g. country, gender, occupation, age bucket).

    Every column but ``user_id`` is considered: mostly-numeric columns with many values become
    quantile buckets (``age`` → ``age_bucket``); other columns become categorical codes unless
    they look like identifiers (more distinct values than ``max_unique_share`` of the rows).
    Date-time columns are skipped. Users without a row get code 0 everywhere.
    """
    users = dataset.users
    n = dataset.n_users
    if users is None or not len(users) or "user_id" not in users.columns:
        return _empty(n)
    rows = dataset.user_positions(users["user_id"], missing="negative")
    inside = rows >= 0
    users, rows = users.loc[inside], rows[inside]
    fields: list[tuple[str, np.ndarray, tuple[str, ...]]] = []
    for col in users.columns:
        if col == "user_id" or pd.api.types.is_datetime64_any_dtype(users[col]):
            continue
        values = users[col]
        distinct = values.nunique(dropna=True)
        if distinct < 2:
            continue
        numeric = pd.to_numeric(values, errors="coerce")
        if numeric.notna().mean() >= 0.95 and distinct > 2 * numeric_buckets \
                and not pd.api.types.is_bool_dtype(values):
            codes, vocab = quantile_buckets(numeric, numeric_buckets)
            name = f"{col}_bucket"
        else:
            if len(values) > 20 and distinct > max_unique_share * len(values):
                continue  # identifier-like (names, e-mails, zip codes…)
            codes, vocab = categorical_codes(values, max_levels=max_levels)
            name = str(col)
        if len(vocab) > 1:
            full = np.zeros(n, dtype=np.int64)
            full[rows] = codes
            fields.append((name, full, vocab))
    return _stack(n, fields)


def item_features(dataset: Dataset, *, text: bool = True, text_method: str = "auto",
                  device: str | None = None, cache_dir: str | None = None,
                  price_buckets: int = 5) -> ItemFeatures:
    """Categorical item fields plus (when ``text``) the text embedding of every item."""
    categorical = item_categorical_features(dataset, price_buckets=price_buckets)
    emb = None
    if text:
        from recsys.features.text import item_texts, text_embeddings

        emb = text_embeddings(item_texts(dataset), device=device, method=text_method,
                              cache_dir=cache_dir)
    return ItemFeatures(categorical, emb)
