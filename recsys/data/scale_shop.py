"""A seeded, long-tailed shop of any size, written to disk in chunks: for scale tests and benchmarks.

The embedded demo shop (:mod:`recsys.data.demo`) draws every basket from a softmax over the
whole catalog, which is exact but costs users × items work: fine for 3,000 users, hours for a
million. This generator keeps what matters for Tail Studio at a cost linear in the rows:

* the catalog (titles, descriptions, categories, brands, prices, launch dates, ~4 % cold items)
  comes from the demo shop's own catalog writer, so the text is as informative;
* **taste groups** are the catalog's subcategories: every customer has a favourite group and a
  second one, and most purchases come from those groups;
* item popularity is Zipf-like over a random order (``(rank + 3)^-1.3``), inside each group as
  well, so a few hundred best sellers take much of the volume while thousands of items are
  bought a handful of times; ~15 % of customers are niche explorers who pick uniformly inside
  their groups (the demand the long tail lives on);
* the number of purchases per customer is log-normal (at least one), summing exactly to the
  requested interaction count; timestamps follow the demo shop's seasonal and weekly rhythms.

Customers are generated in chunks (one Parquet row group or one CSV block each) from
``default_rng([seed, chunk])``, so memory is bounded by one chunk and a seed (with the same
chunk size) gives identical files.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from recsys.data import demo

__all__ = ["ScaleShop", "ShopFormat", "write_scale_shop", "write_demo_files", "CHUNK_USERS"]

log = logging.getLogger(__name__)

ShopFormat = Literal["parquet", "csv"]
#: Customers per written chunk (one row group / CSV block).
CHUNK_USERS = 100_000
_POP_EXPONENT = 1.3
_SOURCE_SHARES = (0.55, 0.2)  # favourite group, second group; the rest: whole-shop popularity
_NICHE_SHARE = 0.15


@dataclass(frozen=True)
class ScaleShop:
    """What :func:`write_scale_shop` wrote: the files and the sizes actually generated."""

    interactions: Path
    catalog: Path
    n_users: int
    n_items: int
    n_interactions: int
    n_groups: int
    seconds: float


@dataclass(frozen=True)
class _Groups:
    """Warm items sorted by group, with each group's offset, size and in-group popularity CDF
    laid out on ``[g, g + 1]`` (one ``searchsorted`` draws for every group at once)."""

    items: np.ndarray
    offset: np.ndarray
    size: np.ndarray
    cdf: np.ndarray
    global_cdf: np.ndarray
    warm: np.ndarray


def _groups(rng: np.random.Generator, group: np.ndarray, cold: np.ndarray) -> _Groups:
    """Zipf-like popularity on a random order, then the per-group CDFs (empty groups kept)."""
    n_groups = int(group.max()) + 1
    warm = np.flatnonzero(~cold)
    weight = (rng.permutation(warm.size) + 3.0) ** -_POP_EXPONENT
    order = np.lexsort((warm, group[warm]))
    items, w, g = warm[order], weight[order], group[warm][order]
    size = np.bincount(g, minlength=n_groups)
    offset = np.concatenate([[0], np.cumsum(size)[:-1]])
    total = np.bincount(g, weights=w, minlength=n_groups)
    within = np.cumsum(w) - np.repeat(np.cumsum(total) - total, size)
    cdf = g + within / np.where(total[g] > 0, total[g], 1.0)
    global_cdf = np.cumsum(weight) / weight.sum()
    return _Groups(items, offset, size, cdf, global_cdf, warm)


def _draw_items(rng: np.random.Generator, groups: _Groups, taste: np.ndarray,
                niche: np.ndarray) -> np.ndarray:
    """One item per row from the row's taste group (popularity-weighted, or uniform for niche
    explorers) or, for the rest, from the whole shop's popularity."""
    n = taste.size
    u = rng.random(n)
    inside = groups.size[taste] > 0
    by_pop = np.searchsorted(groups.cdf, taste + u, side="left")
    by_pop = np.clip(by_pop, groups.offset[taste], groups.offset[taste] + groups.size[taste] - 1)
    uniform = groups.offset[taste] + np.minimum((u * groups.size[taste]).astype(np.int64),
                                                np.maximum(groups.size[taste] - 1, 0))
    pos = np.where(niche, uniform, by_pop)
    picked = groups.items[np.clip(pos, 0, groups.items.size - 1)]
    shop_wide = ~inside | (rng.random(n) < 1.0 - sum(_SOURCE_SHARES))
    if shop_wide.any():
        idx = np.searchsorted(groups.global_cdf, rng.random(int(shop_wide.sum())), side="left")
        picked[shop_wide] = groups.warm[np.minimum(idx, groups.warm.size - 1)]
    return picked


def _chunk_table(rng: np.random.Generator, users: np.ndarray, counts: np.ndarray,
                 fav: np.ndarray, second: np.ndarray, niche: np.ndarray, groups: _Groups,
                 cat: np.ndarray, user_ids: object, item_ids: object) -> object:
    """The interaction rows of one chunk of customers as an Arrow table (user order, then time)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    uid = np.repeat(users, counts[users])
    pick = rng.random(uid.size) * sum(_SOURCE_SHARES)
    taste = np.where(pick < _SOURCE_SHARES[0], fav[uid], second[uid])
    iid = _draw_items(rng, groups, taste, niche[uid])
    ts = demo._timestamps(rng, cat[iid])
    value = rng.choice(5, size=iid.size, p=[0.82, 0.11, 0.04, 0.02, 0.01]).astype(np.float32) + 1
    order = np.lexsort((ts, uid))
    return pa.table({
        "user_id": pc.take(user_ids, pa.array(uid[order].astype(np.int32))),
        "item_id": pc.take(item_ids, pa.array(iid[order].astype(np.int32))),
        "timestamp": pa.array(ts[order]),
        "value": pa.array(value[order]),
    })


def _counts(rng: np.random.Generator, n_users: int, n_interactions: int) -> np.ndarray:
    """Purchases per customer: log-normal activity, at least one each, summing exactly."""
    activity = np.exp(rng.normal(0.0, 0.9, n_users))
    extra = rng.multinomial(n_interactions - n_users, activity / activity.sum())
    return (extra + 1).astype(np.int64)


def write_scale_shop(out: str | Path, *, n_users: int, n_items: int, n_interactions: int,
                     seed: int = 0, fmt: ShopFormat = "parquet",
                     chunk_users: int = CHUNK_USERS) -> ScaleShop:
    """Write ``interactions.<fmt>`` and ``catalog.<fmt>`` of a generated shop into ``out``.

    ``n_interactions`` rows exactly (each customer at least one), written one chunk of
    ``chunk_users`` customers at a time. Raises ``ValueError`` for sizes that cannot make a shop.
    """
    import pyarrow as pa

    t0 = time.perf_counter()
    if n_items < 50 or n_users < 10:
        raise ValueError("a generated shop needs at least 50 items and 10 customers")
    if n_interactions < n_users:
        raise ValueError(f"--interactions ({n_interactions:,}) must be at least --users "
                         f"({n_users:,}): every customer buys at least once")
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"unknown shop format '{fmt}'; choose parquet or csv")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    cold = np.zeros(n_items, dtype=bool)
    cold[rng.choice(n_items, size=max(1, round(0.04 * n_items)), replace=False)] = True
    catalog, meta = demo._catalog(rng, n_items, cold)
    width = max(5, len(str(n_items - 1)))
    catalog["item_id"] = [f"SKU-{i:0{width}d}" for i in range(n_items)]
    group = meta["sub"]
    groups = _groups(rng, group, cold)
    n_groups = int(group.max()) + 1
    counts = _counts(rng, n_users, n_interactions)
    group_share = np.bincount(group[~cold], minlength=n_groups) + 0.5
    fav = rng.choice(n_groups, size=n_users, p=group_share / group_share.sum())
    second = rng.choice(n_groups, size=n_users, p=group_share / group_share.sum())
    niche = rng.random(n_users) < _NICHE_SHARE
    width = max(5, len(str(n_users - 1)))
    user_ids = pa.array([f"U{i:0{width}d}" for i in range(n_users)])
    item_ids = pa.array(catalog["item_id"].tolist())
    inter_path, catalog_path = out / f"interactions.{fmt}", out / f"catalog.{fmt}"
    writer = _open(inter_path, fmt)
    try:
        for chunk, start in enumerate(range(0, n_users, chunk_users)):
            users = np.arange(start, min(start + chunk_users, n_users))
            table = _chunk_table(np.random.default_rng([seed, chunk]), users, counts, fav, second,
                                 niche, groups, meta["cat"], user_ids, item_ids)
            writer.write_table(table)
            log.info("generated %d / %d customers (%.1fs)", users[-1] + 1, n_users,
                     time.perf_counter() - t0)
    finally:
        writer.close()
    _write_frame(catalog, catalog_path, fmt)
    seconds = time.perf_counter() - t0
    log.info("scale shop (seed %d): %d interactions, %d items (%d cold), %d customers, %d taste "
             "groups in %.1fs -> %s", seed, n_interactions, n_items, int(cold.sum()), n_users,
             n_groups, seconds, out)
    return ScaleShop(inter_path, catalog_path, n_users, n_items, n_interactions, n_groups, seconds)


def _open(path: Path, fmt: ShopFormat) -> object:
    """A streaming Arrow writer for the interaction schema (Parquet row groups or CSV blocks)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    schema = pa.schema([("user_id", pa.string()), ("item_id", pa.string()),
                        ("timestamp", pa.timestamp("s")), ("value", pa.float32())])
    if fmt == "parquet":
        return pq.ParquetWriter(path, schema, compression="zstd")
    return pcsv.CSVWriter(path, schema)


def _write_frame(frame: object, path: Path, fmt: ShopFormat) -> None:
    """A whole (small) table: Parquet, or CSV through the project's spreadsheet-safe writer's
    conventions (UTF-8, header); catalog text holds no formula-like cells."""
    if fmt == "parquet":
        frame.to_parquet(path, index=False)  # type: ignore[attr-defined]
    else:
        frame.to_csv(path, index=False)  # type: ignore[attr-defined]


def write_demo_files(out: str | Path, *, seed: int = 0, fmt: ShopFormat = "parquet") -> ScaleShop:
    """The embedded demo shop (the dashboard's, 3,000 customers × 5,000 items) as files."""
    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    shop = demo.generate_demo_shop(seed=seed)
    inter_path, catalog_path = out / f"interactions.{fmt}", out / f"catalog.{fmt}"
    _write_frame(shop.interactions, inter_path, fmt)
    _write_frame(shop.catalog, catalog_path, fmt)
    return ScaleShop(inter_path, catalog_path, len(shop.users), len(shop.catalog),
                     len(shop.interactions), 0, time.perf_counter() - t0)
