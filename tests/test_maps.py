"""Item maps: vectors, projections, HDBSCAN clusters, tail-cluster flags, labels, cache.

Most tests use PCA and TF-IDF text vectors (no numba compilation); one shared test runs UMAP
(compiled once per process into the persistent numba cache) and reuses it on real data.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from recsys import build_dataset
from recsys.maps import (
    MAP_COLUMNS,
    MapConfig,
    MapDataError,
    approximate_knn_graph,
    build_map,
    class_tfidf_terms,
    clear_memo,
    cluster_points,
    cluster_stats,
    cluster_table,
    display_sample,
    flag_tail_clusters,
    hybrid_vectors,
    knn_graph,
    nearest_items,
    project,
    relabel_by_size,
    search_items,
)
from recsys.maps.sources import ItemVectors, interaction_vectors, model_item_vectors

from .test_loaders import RETAIL, needs_retail
from .test_maps_data import CLUSTER_WORDS, TAIL_CLUSTERS, planted_shop

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))
TEXT = {"text_method": "tfidf"}


@pytest.fixture(scope="module")
def shop():
    return planted_shop()


def blobs(n_clusters: int = 6, per: int = 80, dim: int = 32, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=6.0, size=(n_clusters, dim))
    labels = np.repeat(np.arange(n_clusters), per)
    return (centres[labels] + rng.normal(size=(len(labels), dim))).astype(np.float32), labels


# ----------------------------------------------------------------------------- pure parts
def test_hdbscan_recovers_planted_clusters():
    x, truth = blobs()
    labels = cluster_points(x, min_cluster_size=20, reduce_dims=10)
    assert adjusted_rand_score(truth, labels) >= 0.9
    assert (labels < 0).mean() < 0.1  # noise stays its own, small group
    assert labels.max() + 1 == 6


def test_relabel_by_size_orders_largest_first():
    labels = relabel_by_size(np.array([5, 5, 2, 2, 2, -1, 7]))
    assert labels.tolist() == [1, 1, 0, 0, 0, -1, 2]


def test_too_few_points_are_all_noise():
    assert (cluster_points(np.zeros((3, 2)), min_cluster_size=5) == -1).all()


def test_knn_graph_is_exact_with_self_first():
    from sklearn.neighbors import NearestNeighbors

    x = np.random.default_rng(1).normal(size=(300, 8)).astype(np.float32)
    for metric in ("euclidean", "cosine"):
        idx, dist = knn_graph(x, 6, metric)
        assert (idx[:, 0] == np.arange(300)).all() and (dist[:, 0] == 0).all()
        ref = NearestNeighbors(n_neighbors=6, metric=metric, algorithm="brute").fit(x)
        ref_d, ref_i = ref.kneighbors(x)
        np.testing.assert_allclose(dist, ref_d, atol=1e-4)
        assert (np.sort(idx[:, 1:], axis=1) == np.sort(ref_i[:, 1:], axis=1)).mean() > 0.99


def test_approximate_knn_graph_finds_most_exact_neighbours():
    x, _ = blobs(n_clusters=8, per=250, dim=16, seed=2)
    for metric in ("cosine", "euclidean"):
        idx, dist = approximate_knn_graph(x, 10, metric, seed=1)
        assert idx.shape == (2000, 10) and idx.dtype == np.int32 and dist.dtype == np.float32
        assert (idx[:, 0] == np.arange(2000)).all() and (dist[:, 0] == 0).all()
        assert (np.diff(dist, axis=1) >= -1e-6).all()  # nearest first
        exact, exact_dist = knn_graph(x, 10, metric)
        recall = np.mean([len(set(a[1:]) & set(b[1:])) / 9 for a, b in zip(idx, exact, strict=True)])
        assert recall >= 0.9, (metric, recall)
        found = (np.sort(idx, axis=1) == np.sort(exact, axis=1)).all(axis=1)
        assert found.mean() > 0.5  # where the lists agree, the distances do too
        np.testing.assert_allclose(dist[found], exact_dist[found], atol=1e-4)
        again, _ = approximate_knn_graph(x, 10, metric, seed=1)
        np.testing.assert_array_equal(idx, again)  # seeded: the same graph


def test_pca_projection_is_seeded_and_two_dimensional():
    x, _ = blobs(per=20)
    a, b = project(x, "pca", seed=3), project(x, "pca", seed=3)
    assert a.shape == (120, 2) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="Unknown projection"):
        project(x, "mds")


def test_tsne_projection_is_deterministic():
    x, truth = blobs(n_clusters=3, per=30, dim=8)
    steps: list[float] = []
    a = project(x, "tsne", seed=0, perplexity=10, progress=lambda f, m: steps.append(f))
    b = project(x, "tsne", seed=0, perplexity=10)
    np.testing.assert_array_equal(a, b)
    assert steps and steps[-1] == 1.0
    assert adjusted_rand_score(truth, cluster_points(a, min_cluster_size=10)) >= 0.9


def test_labels_contain_planted_terms(shop):
    ds, planted = shop
    terms = class_tfidf_terms(ds.catalog["title"].tolist(), planted, n_terms=3)
    for c, words in enumerate(CLUSTER_WORDS):
        assert set(terms[c]) == set(words), (c, terms[c])


def test_stats_flag_planted_tail_clusters(shop):
    ds, planted = shop
    stats = flag_tail_clusters(cluster_stats(planted, popularity=ds.popularity, is_tail=ds.is_tail,
                                             matrix=ds.matrix, price=ds.catalog["price"].to_numpy(),
                                             titles=ds.catalog["title"].tolist()))
    flagged = set(stats.loc[stats["is_tail_cluster"], "cluster"])
    assert flagged == set(TAIL_CLUSTERS)
    row = stats.set_index("cluster").loc[4]
    assert row["size"] == 60 and row["tail_share"] == 1.0 and row["exposure"] < 0.1
    assert sorted(stats.loc[stats["is_tail_cluster"], "tail_rank"]) == [1, 2]
    assert stats["interaction_share"].sum() == pytest.approx(1.0)
    assert (stats["users_reached"] <= ds.n_users).all()
    assert {"price_min", "price_median", "price_max"} <= set(stats.columns)


def test_hybrid_vectors_mix_cosines():
    rng = np.random.default_rng(0)
    t = ItemVectors(rng.normal(size=(20, 5)).astype(np.float32), "t")
    c = ItemVectors(rng.normal(size=(20, 3)).astype(np.float32), "c")
    h = hybrid_vectors(t, c, 0.3).vectors
    tn = t.vectors / np.linalg.norm(t.vectors, axis=1, keepdims=True)
    cn = c.vectors / np.linalg.norm(c.vectors, axis=1, keepdims=True)
    np.testing.assert_allclose(h @ h.T, 0.3 * tn @ tn.T + 0.7 * cn @ cn.T, atol=1e-5)
    with pytest.raises(ValueError):
        hybrid_vectors(t, c, 1.5)


def test_model_vectors_from_ease_and_mismatch(shop):
    from recsys.models import create_model

    ds, _ = shop
    ease = create_model("ease", {"l2": 50.0}).fit(ds, device="cpu")
    vec = model_item_vectors(ds, ease, dims=16)
    assert vec.vectors.shape == (ds.n_items, 16) and "ease" in vec.description
    pop = create_model("pop").fit(ds, device="cpu")
    with pytest.raises(MapDataError, match="no item vectors"):
        model_item_vectors(ds, pop)
    small = build_dataset(ds.interactions.head(50), name="small")
    with pytest.raises(MapDataError, match="retrain"):
        model_item_vectors(small, ease)
    assert interaction_vectors(ds, dims=8).vectors.shape == (ds.n_items, 8)


def test_nearest_items_search_and_sample():
    v = np.eye(4, dtype=np.float32)
    v[1] = [0.9, 0.1, 0, 0]
    near, sims = nearest_items(v, 0, 2)
    assert near[0] == 1 and sims[0] > 0.9 and 0 not in near
    frame = pd.DataFrame({"item_id": ["a", "b", "c"], "title": ["Red lamp", "Blue lamp", "Cup"],
                          "popularity": [1, 5, 2], "is_tail_cluster": [True, False, False]})
    assert search_items(frame, "lamp")["item_id"].tolist() == ["b", "a"]
    assert search_items(frame, "C")["item_id"].tolist()[0] == "c"  # exact id first
    assert display_sample(frame, 2)["item_id"].tolist()[0] == "a"  # tail-cluster items kept
    assert len(display_sample(frame, 2)) == 2


# ----------------------------------------------------------------------------- pipeline
def test_build_map_columns_clusters_and_tail_flags(shop):
    ds, planted = shop
    config = MapConfig(method="pca", cluster_on="embedding", min_cluster_size=20, **TEXT)
    steps: list[tuple[float, str]] = []
    frame = build_map(ds, config, progress=lambda f, m: steps.append((f, m)))
    assert tuple(frame.columns[:7]) == MAP_COLUMNS
    assert len(frame) == ds.n_items and frame["item_id"].tolist() == list(ds.item_ids)
    assert {"title", "category", "price", "popularity", "segment", "cluster_size",
            "cluster_tail_share", "cluster_exposure", "cluster_opportunity"} <= set(frame.columns)
    assert adjusted_rand_score(planted, frame["cluster"]) >= 0.9
    tail_groups = set(frame.loc[frame["is_tail_cluster"], "cluster"])
    assert {int(np.bincount(planted[frame["cluster"] == c]).argmax()) for c in tail_groups} \
        == set(TAIL_CLUSTERS)
    for c in tail_groups:  # each tail cluster's label names its planted words
        group = int(np.bincount(planted[frame["cluster"] == c]).argmax())
        label = frame.loc[frame["cluster"] == c, "cluster_label"].iloc[0]
        words = {w.strip().lower() for w in label.split("(")[0].split(" · ")}
        assert words & set(CLUSTER_WORDS[group])
    assert steps[-1][0] == 1.0 and all(0 <= f <= 1 for f, _ in steps)
    assert frame.attrs["text_fallback"] and "TF-IDF" in frame.attrs["notes"][0]
    table = cluster_table(frame, ds)
    assert table["tail_rank"].iloc[0] == 1 and table["is_tail_cluster"].iloc[0]
    assert table["size"].sum() == ds.n_items


def test_build_map_is_deterministic_and_cached(shop, tmp_path):
    ds, _ = shop
    config = MapConfig(method="pca", source="hybrid", seed=7, **TEXT)
    clear_memo()
    first = build_map(ds, config, cache_dir=tmp_path)
    assert not first.attrs["cached"]
    clear_memo()
    second = build_map(ds, config)  # recomputed from scratch
    pd.testing.assert_frame_equal(first, second)
    again = build_map(ds, config)
    assert again.attrs["cached"]
    clear_memo()
    from_disk = build_map(ds, config, cache_dir=tmp_path)
    assert from_disk.attrs["cached"]
    pd.testing.assert_frame_equal(first, from_disk)
    other = build_map(ds, config.model_copy(update={"seed": 8}))
    assert not other.attrs["cached"]


def test_cf_map_from_a_trained_model(shop):
    from recsys.models import create_model

    ds, _ = shop
    model = create_model("itemknn").fit(ds, device="cpu")
    frame = build_map(ds, MapConfig(source="cf", method="pca"), model=model)
    assert "itemknn" in frame.attrs["embedding"]
    assert np.isfinite(frame[["x", "y"]].to_numpy()).all()


@pytest.mark.parametrize("n_items", [0, 3])
def test_empty_or_tiny_catalog_is_a_clear_error(n_items):
    inter = pd.DataFrame({"user_id": ["u"] * n_items, "item_id": [f"i{k}" for k in range(n_items)]})
    ds = build_dataset(inter, name="tiny")
    with pytest.raises(MapDataError, match=r"at least 5|empty"):
        build_map(ds, MapConfig(method="pca"))


def test_config_bounds_and_typos():
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        MapConfig(n_neighbors=1)
    with pytest.raises(ValidationError):
        MapConfig(neighbours=15)  # typo refused
    with pytest.raises(ValidationError):
        MapConfig(method="mds")


# ----------------------------------------------------------------------------- UMAP (compiled once)
def test_umap_is_deterministic_and_keeps_planted_clusters(shop):
    x, truth = blobs(per=60)
    steps: list[float] = []
    a = project(x, "umap", seed=3, n_epochs=100, progress=lambda f, m: steps.append(f))
    b = project(x, "umap", seed=3, n_epochs=100)
    np.testing.assert_array_equal(a, b)
    assert steps[-1] == 1.0
    assert adjusted_rand_score(truth, cluster_points(a, min_cluster_size=20)) >= 0.9
    ds, _ = shop  # and through the pipeline, text vectors included
    config = MapConfig(method="umap", seed=3, n_epochs=100, **TEXT)
    clear_memo()
    first = build_map(ds, config)
    clear_memo()
    pd.testing.assert_frame_equal(first, build_map(ds, config))


def test_umap_with_approximate_neighbours_keeps_planted_clusters(shop):
    x, truth = blobs(per=60)
    a = project(x, "umap", seed=3, n_epochs=100, exact_up_to=100)  # 360 items: approximate
    np.testing.assert_array_equal(a, project(x, "umap", seed=3, n_epochs=100, exact_up_to=100))
    assert adjusted_rand_score(truth, cluster_points(a, min_cluster_size=20)) >= 0.9
    ds, planted = shop  # and through the pipeline, the threshold lowered by the config
    config = MapConfig(method="umap", seed=3, n_epochs=100, exact_neighbours_up_to=50,
                       cluster_on="embedding", min_cluster_size=20, **TEXT)
    frame = build_map(ds, config)
    assert frame.attrs["neighbours"] == "approximate"
    assert adjusted_rand_score(planted, frame["cluster"]) >= 0.9
    assert np.isfinite(frame[["x", "y"]].to_numpy()).all()


@pytest.mark.shared_data
@needs_retail
def test_online_retail_text_map():
    from recsys.data.formats import load_files

    result = load_files(RETAIL)
    ds = build_dataset(result.interactions, result.catalog, name="retail")
    frame = build_map(ds, MapConfig(method="umap", n_epochs=100, **TEXT))
    assert len(frame) == ds.n_items > 3_000
    assert np.isfinite(frame[["x", "y"]].to_numpy()).all()
    assert frame.attrs["n_clusters"] >= 10
    labels = frame.loc[frame["cluster"] >= 0, "cluster_label"].unique()
    assert all(label and not label.startswith("cluster ") for label in labels[:20])
    # Christmas decorations are a neighbourhood of their own on this shop's map
    christmas = frame.loc[frame["title"].str.contains("CHRISTMAS", case=False), "cluster"]
    assert christmas.value_counts(normalize=True).iloc[0] > 0.3
