"""One call from a dataset to its item map: vectors → 2-D layout → clusters → tail clusters.

:func:`build_map` returns a frame with one row per item and named columns — ``item_id, x, y,
cluster, is_tail, is_tail_cluster, cluster_label`` (the contract the CLI writes and the
workspace keeps) followed by ``title``, ``category``, ``price``, ``popularity``, ``segment``
and the cluster's figures (``cluster_size``, ``cluster_tail_share``, ``cluster_exposure``,
``cluster_opportunity``, ``tail_rank``). ``frame.attrs`` holds the settings, the embedding
used, notes for the user and timings. :func:`cluster_table` gives one row per cluster.

Results go through a :class:`recsys.cache.ReadThroughCache`: memoised in-process and, with
``cache_dir``, on disk, keyed by the dataset
fingerprint, the validated config and the model's item vectors; vectors are cached the same way,
so changing only the projection or the clustering does not embed again.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from recsys.cache import Progress, ReadThroughCache, noop_progress
from recsys.labels import field_title
from recsys.maps.cluster import cluster_points
from recsys.maps.project import ProjectionOptions, pca, project
from recsys.maps.sample import ItemSample, sample_items
from recsys.maps.sources import ItemVectors, MapDataError, cf_vectors, hybrid_vectors, model_key, text_vectors
from recsys.maps.stats import cluster_stats, flag_tail_clusters

if TYPE_CHECKING:
    from recsys.data.dataset import Dataset

__all__ = ["MapConfig", "build_map", "item_vectors", "cluster_table", "map_cache_key",
           "MAP_COLUMNS", "MIN_ITEMS", "CACHE_VERSION", "clear_memo", "projection_options"]

log = logging.getLogger(__name__)

MAP_COLUMNS: tuple[str, ...] = ("item_id", "x", "y", "cluster", "is_tail", "is_tail_cluster",
                                "cluster_label")
MIN_ITEMS = 5
CACHE_VERSION = 3
_MEMO_SIZE = 6


class MapConfig(BaseModel):
    """How to draw an item map: which vectors, which projection, which clusters.

    Large catalogs: above ``exact_neighbours_up_to`` items UMAP's neighbour graph is found by an
    approximate inverted-file search (≥ 95 % of the exact neighbours at 100,000 items, ~4 s
    instead of ~90 s on 2 cores). UMAP starts from PCA rather than its spectral embedding, which
    is not reproducible across processes on graphs in several pieces. The layout itself stays
    single-threaded: umap-learn's multi-threaded layout is faster on more cores but not
    reproducible, and the same data and seed must give the same map; ``n_epochs`` trades detail for
    time (~0.3 s per epoch at 100,000 items). With ``min_samples`` 0, HDBSCAN's density is the
    smallest cluster size capped at 50, which keeps 100,000-item maps fast and changes nothing
    below 10,000 items.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", field_title_generator=field_title)

    source: Literal["text", "cf", "hybrid"] = Field(
        "text", description="Item vectors: catalog text, collaborative (a trained model or the "
        "interactions) or both.")
    method: Literal["umap", "tsne", "pca"] = Field(
        "umap", description="2-D projection: UMAP, t-SNE or PCA (instant preview).")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Random seed: same data + seed = same "
                      "map.")
    text_method: Literal["auto", "sentence-model", "tfidf"] = Field(
        "auto", description="Text embedding: the sentence model when installed (auto), or TF-IDF "
        "+ SVD.")
    hybrid_weight: float = Field(0.5, ge=0.0, le=1.0, description="Hybrid only: weight of text "
                                 "similarity (the rest is collaborative).")
    cf_dims: int = Field(64, ge=2, le=512, description="Dimensions kept of collaborative vectors.")
    reduce_dims: int = Field(50, ge=0, le=512, description="PCA before the projection (0 = "
                             "off); speeds up large catalogs.")
    n_neighbors: int = Field(15, ge=2, le=200, description="UMAP: neighbours per item (larger = "
                             "more global structure).")
    min_dist: float = Field(0.1, ge=0.0, le=1.0, description="UMAP: how tightly points pack.")
    n_epochs: int = Field(200, ge=10, le=2000, description="UMAP: optimisation epochs (fewer = "
                          "faster, less detail).")
    exact_neighbours_up_to: int = Field(
        20_000, ge=0, le=10_000_000, description="UMAP: exact nearest neighbours up to this many "
        "items, approximate (faster) above.")
    perplexity: float = Field(30.0, ge=2.0, le=200.0, description="t-SNE: effective number of "
                              "neighbours.")
    metric: Literal["cosine", "euclidean"] = Field("cosine", description="Distance between item "
                                                    "vectors.")
    cluster_on: Literal["map", "embedding"] = Field(
        "map", description="HDBSCAN on the 2-D map (what you see) or on the embedding.")
    cluster_dims: int = Field(10, ge=2, le=100, description="Embedding clustering: PCA "
                              "dimensions first.")
    min_cluster_size: int = Field(0, ge=0, le=100_000, description="Smallest cluster (0 = about "
                                  "0.5 % of the items).")
    min_samples: int = Field(0, ge=0, le=1_000, description="HDBSCAN density (0 = same as the "
                             "smallest cluster, at most 50); larger = more noise.")
    tail_share_threshold: float = Field(0.8, ge=0.0, le=1.0, description="A tail cluster has at "
                                        "least this share of tail items…")
    max_exposure: float = Field(0.5, ge=0.0, le=10.0, description="…and at most this exposure "
                                "(interaction share ÷ item share; 1 = fair share).")
    label_terms: int = Field(3, ge=1, le=10, description="Words per cluster label.")
    max_items: int = Field(
        100_000, ge=100, le=10_000_000, title="Items on the map at most",
        description="Larger catalogs are drawn from a sample of this many items: every item of "
        "a tail cluster of a first coarse clustering, the rest stratified over head, mid and "
        "far tail.")

    def vector_settings(self) -> dict[str, Any]:
        """The settings that change the item vectors (the rest only re-projects or re-clusters)."""
        keys = {"text": ("source", "text_method", "seed"),
                "cf": ("source", "cf_dims", "seed"),
                "hybrid": ("source", "text_method", "hybrid_weight", "cf_dims", "seed")}
        return {k: getattr(self, k) for k in keys[self.source]}


def _dump_map(frame: pd.DataFrame, path: Path) -> None:
    """A map as one parquet file; ``frame.attrs`` travel in its metadata (as JSON)."""
    frame.to_parquet(path, index=False)


def _load_map(path: Path) -> pd.DataFrame:
    frame = pd.read_parquet(path)
    if not frame.attrs.get("settings"):
        raise ValueError("no map settings in the file")
    frame.attrs["cached"] = True
    return frame


#: Maps (memory and ``<cache_dir>/maps/map-<key>.parquet``) and item vectors (memory only).
_CACHE: ReadThroughCache[Any] = ReadThroughCache("item-map", CACHE_VERSION, _MEMO_SIZE,
                                                 file_prefix="map", suffix=".parquet",
                                                 dump=_dump_map, load=_load_map)


def map_cache_key(dataset: Dataset, config: MapConfig, model: Any = None) -> str:
    """Content key of a map: dataset fingerprint, settings and the model's item vectors."""
    mkey = model_key(model) if config.source != "text" else "none"
    return _CACHE.key("map", dataset.fingerprint, config.model_dump(mode="json"), mkey)


def clear_memo() -> None:
    """Forget in-process results (tests and benchmarks measure cold runs with it)."""
    _CACHE.clear()


def item_vectors(dataset: Dataset, config: MapConfig | None = None, *, model: Any = None,
                 cache_dir: str | os.PathLike[str] | None = None,
                 device: str | None = None, progress: Progress | None = None) -> ItemVectors:
    """The item vectors a map of ``config`` is drawn from (memoised); ``progress`` hears how
    far the sentence model is."""
    config = config or MapConfig()
    mkey = model_key(model) if config.source != "text" else "none"
    key = _CACHE.key("vectors", dataset.fingerprint, config.vector_settings(), mkey)
    hit = _CACHE.recall(key)
    if hit is not None:
        return hit
    text_cache = Path(cache_dir) / "embeddings" if cache_dir is not None else None
    if config.source == "text":
        vec = text_vectors(dataset, method=config.text_method, cache_dir=text_cache,
                           device=device, seed=config.seed, progress=progress)
    elif config.source == "cf":
        vec = cf_vectors(dataset, model, dims=config.cf_dims, seed=config.seed)
    else:
        vec = hybrid_vectors(text_vectors(dataset, method=config.text_method,
                                          cache_dir=text_cache, device=device, seed=config.seed,
                                          progress=progress),
                             cf_vectors(dataset, model, dims=config.cf_dims, seed=config.seed),
                             config.hybrid_weight)
    vec.vectors.setflags(write=False)
    return _CACHE.remember(key, vec)


def _check(dataset: Dataset) -> None:
    if dataset.n_items == 0:
        raise MapDataError("The catalog is empty: load a dataset with items first.")
    if dataset.n_items < MIN_ITEMS:
        raise MapDataError(f"The catalog has only {dataset.n_items} item"
                           f"{'s' if dataset.n_items != 1 else ''}; a map needs at least "
                           f"{MIN_ITEMS}.")


def build_map(dataset: Dataset, config: MapConfig | None = None, *, model: Any = None,
              progress: Progress | None = None, cache_dir: str | os.PathLike[str] | None = None,
              device: str | None = None) -> pd.DataFrame:
    """The item map of ``dataset`` (see the module docstring for the columns).

    ``model`` (a trained recommender) supplies collaborative vectors for the ``cf`` and
    ``hybrid`` sources; without one they come from the interactions. ``progress(fraction,
    message)`` reports each step. Raises :class:`MapDataError` for a catalog too small to map.
    """
    config = config or MapConfig()
    progress = progress or noop_progress
    _check(dataset)
    key = map_cache_key(dataset, config, model)
    folder = Path(cache_dir) / "maps" if cache_dir is not None else None
    hit = _CACHE.get(key, folder=folder)
    if hit is not None:
        progress(1.0, "map loaded from the cache")
        out = hit.copy()
        out.attrs = {**hit.attrs, "cached": True}
        return out
    frame = _draw_map(dataset, config, model=model, progress=progress, cache_dir=cache_dir,
                      device=device)
    frame.attrs["cache_key"] = key
    _CACHE.put(key, frame, folder=folder)
    out = frame.copy()
    out.attrs = dict(frame.attrs)
    return out


def _draw_map(dataset: Dataset, config: MapConfig, *, model: Any, progress: Progress,
              cache_dir: str | os.PathLike[str] | None, device: str | None) -> pd.DataFrame:
    """Vectors → layout → clusters → figures, timing each step (no cache involved)."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    vec = _embed_step(dataset, config, model=model, progress=progress, cache_dir=cache_dir,
                      device=device)
    timings["vectors_s"] = time.perf_counter() - t0

    ts = time.perf_counter()
    sample = _sample_step(dataset, vec.vectors, config, progress=progress)
    vectors = vec.vectors[sample.index] if sample.sampled else vec.vectors
    timings["sample_s"] = time.perf_counter() - ts

    t1 = time.perf_counter()
    coords = _layout_step(vectors, config, device=device, progress=progress)
    timings["projection_s"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    labels = _cluster_step(vectors, coords, config, progress=progress)
    timings["clustering_s"] = time.perf_counter() - t2

    t3 = time.perf_counter()
    progress(0.92, "cluster statistics and labels")
    index = sample.index if sample.sampled else None
    stats = _stats_step(dataset, labels, config, index)
    frame = _frame(dataset, coords, labels, stats, index)
    timings["stats_s"] = time.perf_counter() - t3
    timings["total_s"] = time.perf_counter() - t0
    frame.attrs = _map_attrs(dataset, config, vec, labels, stats, timings)
    frame.attrs["sample"] = sample.as_dict() if sample.sampled else None
    progress(1.0, f"map ready: {frame.attrs['n_clusters']} clusters, "
             f"{frame.attrs['n_tail_clusters']} tail clusters")
    log.info("map of %s (%s/%s): %d items, %d clusters in %.1f s", dataset.name, config.source,
             config.method, len(frame), frame.attrs["n_clusters"], timings["total_s"])
    return frame


def _embed_step(dataset: Dataset, config: MapConfig, *, model: Any, progress: Progress,
                cache_dir: str | os.PathLike[str] | None, device: str | None) -> ItemVectors:
    """The item vectors (0–28 % of the progress), numba compiling meanwhile for UMAP."""
    progress(0.0, f"embedding {dataset.n_items:,} items ({config.source})")
    warming = None
    if config.method == "umap":
        from recsys.maps.warmup import compile_in_background

        warming = compile_in_background()  # numba loads while the items are embedded
    vec = item_vectors(dataset, config, model=model, cache_dir=cache_dir, device=device,
                       progress=lambda f, m: progress(0.28 * f, m))
    if warming is not None:
        warming.join()  # kernels ready; the layout then has the cores to itself
    return vec


def _sample_step(dataset: Dataset, vectors: np.ndarray, config: MapConfig, *,
                 progress: Progress) -> ItemSample:
    """Above ``max_items``: the items to draw (:mod:`recsys.maps.sample`), before the layout."""
    if dataset.n_items <= config.max_items:
        return ItemSample(np.arange(dataset.n_items), dataset.n_items, 0, 0)
    progress(0.28, f"choosing {config.max_items:,} of {dataset.n_items:,} items (every "
             "tail-cluster item kept)")
    return sample_items(vectors, dataset.popularity, dataset.is_tail, dataset.segment,
                        config.max_items, seed=config.seed, dims=config.cluster_dims,
                        metric=config.metric, tail_share_threshold=config.tail_share_threshold,
                        max_exposure=config.max_exposure)


def _layout_step(vectors: np.ndarray, config: MapConfig, *, device: str | None,
                 progress: Progress) -> np.ndarray:
    """2-D coordinates (30–80 % of the progress), after an optional PCA reduction."""
    x = vectors
    if config.reduce_dims and x.shape[1] > config.reduce_dims and config.method != "pca":
        progress(0.3, f"reducing {x.shape[1]} → {config.reduce_dims} dimensions (PCA)")
        x = pca(x, config.reduce_dims, config.seed)
    return project(x, config.method, projection_options(config), device=device,
                   progress=lambda f, m: progress(0.3 + 0.5 * f, m))


def projection_options(config: MapConfig) -> ProjectionOptions:
    """The layout settings of a map config."""
    return ProjectionOptions(seed=config.seed, n_neighbors=config.n_neighbors,
                             min_dist=config.min_dist, perplexity=config.perplexity,
                             metric=config.metric, n_epochs=config.n_epochs,
                             exact_up_to=config.exact_neighbours_up_to)


def _cluster_step(vectors: np.ndarray, coords: np.ndarray, config: MapConfig, *,
                  progress: Progress) -> np.ndarray:
    """HDBSCAN labels, on the map or on the embedding as the config says."""
    progress(0.82, "clustering (HDBSCAN)")
    if config.cluster_on == "map":
        return cluster_points(coords, min_cluster_size=config.min_cluster_size,
                              min_samples=config.min_samples or None, seed=config.seed)
    return cluster_points(vectors, min_cluster_size=config.min_cluster_size,
                          min_samples=config.min_samples or None,
                          reduce_dims=config.cluster_dims, metric=config.metric,
                          seed=config.seed)


def _stats_step(dataset: Dataset, labels: np.ndarray, config: MapConfig,
                index: np.ndarray | None = None) -> pd.DataFrame:
    """Per-cluster figures and labels, tail clusters flagged; with ``index`` (a sampled map)
    over those items only."""
    sel = slice(None) if index is None else index
    catalog = dataset.catalog.iloc[sel]
    price = catalog["price"].to_numpy() if "price" in catalog.columns else None
    categories = catalog["category"].tolist() if "category" in catalog.columns else None
    matrix = dataset.matrix if index is None else dataset.matrix.tocsc()[:, index].tocsr()
    return flag_tail_clusters(
        cluster_stats(labels, popularity=np.asarray(dataset.popularity)[sel],
                      is_tail=np.asarray(dataset.is_tail)[sel],
                      matrix=matrix, price=price, titles=catalog["title"].tolist(),
                      n_terms=config.label_terms, categories=categories),
        tail_share_threshold=config.tail_share_threshold, max_exposure=config.max_exposure)


def _map_attrs(dataset: Dataset, config: MapConfig, vec: ItemVectors, labels: np.ndarray,
               stats: pd.DataFrame, timings: dict[str, float]) -> dict[str, Any]:
    """``frame.attrs`` of a fresh map: settings, embedding, notes, timings and counts."""
    notes = list(vec.notes)
    if (labels < 0).all():
        notes.append("No cluster found: every item is unclustered. Lower the smallest cluster "
                     "size or try another projection.")
    return {"settings": config.model_dump(mode="json"), "embedding": vec.description,
            "text_fallback": vec.fallback, "notes": notes, "timings": timings,
            "fingerprint": dataset.fingerprint, "cache_key": "", "cached": False,
            "neighbours": "approximate" if config.method == "umap" and len(labels)
            > config.exact_neighbours_up_to else "exact",
            "n_clusters": int(labels.max() + 1) if len(labels) else 0,
            "n_tail_clusters": int(stats["is_tail_cluster"].sum())}


def _frame(dataset: Dataset, coords: np.ndarray, labels: np.ndarray,
           stats: pd.DataFrame, index: np.ndarray | None = None) -> pd.DataFrame:
    """Per-item rows: the contract columns, item facts, then the item's cluster figures (the
    items of ``index`` only, for a sampled map)."""
    sel = slice(None) if index is None else index
    catalog = dataset.catalog.iloc[sel]
    by_cluster = stats.set_index("cluster")
    per_item = by_cluster.loc[labels]
    frame = pd.DataFrame({
        "item_id": dataset.item_ids[sel].astype(str),
        "x": coords[:, 0].astype(np.float32),
        "y": coords[:, 1].astype(np.float32),
        "cluster": labels.astype(np.int64),
        "is_tail": np.asarray(dataset.is_tail, dtype=bool)[sel],
        "is_tail_cluster": per_item["is_tail_cluster"].to_numpy(dtype=bool),
        "cluster_label": per_item["label"].to_numpy(dtype=object),
        "title": catalog["title"].astype(str).to_numpy(),
    })
    for col in ("category", "brand"):
        if col in catalog.columns:
            frame[col] = catalog[col].astype("string").fillna("").to_numpy(dtype=object)
    if "price" in catalog.columns:
        frame["price"] = pd.to_numeric(catalog["price"], errors="coerce").to_numpy(dtype=float)
    frame["popularity"] = np.asarray(dataset.popularity, dtype=np.int64)[sel]
    frame["segment"] = np.asarray(dataset.segment, dtype=object)[sel]
    frame["cluster_size"] = per_item["size"].to_numpy(dtype=np.int64)
    frame["cluster_tail_share"] = per_item["tail_share"].to_numpy(dtype=float)
    frame["cluster_exposure"] = per_item["exposure"].to_numpy(dtype=float)
    frame["cluster_opportunity"] = per_item["opportunity"].to_numpy(dtype=float)
    frame["tail_rank"] = per_item["tail_rank"].to_numpy(dtype=np.int64)
    return frame


def cluster_table(frame: pd.DataFrame, dataset: Dataset | None = None) -> pd.DataFrame:
    """One row per cluster of a map frame: label, size, tail share, exposure, opportunity, rank.

    With ``dataset`` (the one the map was drawn for) the full statistics are recomputed,
    reach, affinity and price range included.
    """
    if dataset is not None and len(frame) == dataset.n_items:
        labels = frame["cluster"].to_numpy(dtype=np.int64)
        settings = frame.attrs.get("settings", {})
        price = frame["price"].to_numpy() if "price" in frame.columns else None
        cats = frame["category"].tolist() if "category" in frame.columns else None
        stats = cluster_stats(labels, popularity=dataset.popularity, is_tail=dataset.is_tail,
                              matrix=dataset.matrix, price=price, titles=frame["title"].tolist(),
                              n_terms=settings.get("label_terms", 3), categories=cats)
        stats["label"] = stats["cluster"].map(
            frame.groupby("cluster")["cluster_label"].first()).fillna(stats["label"])
        flags = frame.groupby("cluster")[["is_tail_cluster", "tail_rank"]].first()
        stats["is_tail_cluster"] = stats["cluster"].map(flags["is_tail_cluster"]).astype(bool)
        stats["tail_rank"] = stats["cluster"].map(flags["tail_rank"]).astype(np.int64)
    else:
        grouped = frame.groupby("cluster", sort=False)
        stats = grouped.agg(label=("cluster_label", "first"), size=("item_id", "size"),
                            tail_items=("is_tail", "sum"), tail_share=("cluster_tail_share", "first"),
                            exposure=("cluster_exposure", "first"),
                            opportunity=("cluster_opportunity", "first"),
                            is_tail_cluster=("is_tail_cluster", "first"),
                            tail_rank=("tail_rank", "first")).reset_index()
    flagged = stats["tail_rank"] > 0
    order = np.lexsort((stats["cluster"].to_numpy(), -stats["size"].to_numpy(),
                        np.where(flagged, stats["tail_rank"], np.iinfo(np.int64).max)))
    return stats.iloc[order].reset_index(drop=True)
