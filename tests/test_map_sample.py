"""Maps of large catalogs are drawn from a sample that keeps every tail-cluster item: the
coarse clustering finds the planted tail groups, the sample keeps all their items and asked-for
items, fills the rest by segment, and the map built on it still finds the tail clusters."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.maps import MapConfig, build_map, item_vectors
from recsys.maps.sample import coarse_tail_clusters, coarse_tail_items, sample_items

from .test_maps_data import TAIL_CLUSTERS, planted_shop

TEXT = {"text_method": "tfidf"}


@pytest.fixture(scope="module")
def shop():
    ds, planted = planted_shop(per_cluster=60)
    vectors = item_vectors(ds, MapConfig(**TEXT)).vectors
    return ds, planted, vectors


def test_coarse_clustering_flags_the_planted_tail_groups(shop):
    ds, planted, vectors = shop
    flagged, n_clusters = coarse_tail_items(vectors, ds.popularity, ds.is_tail)
    in_tail_group = np.isin(planted, TAIL_CLUSTERS)
    assert n_clusters >= 2
    assert flagged[in_tail_group].mean() >= 0.95  # the tail groups are found…
    assert flagged[~in_tail_group].mean() <= 0.5  # …and most busy items are not in them


@pytest.mark.parametrize("threshold, max_exposure", [(0.8, 0.5), (0.6, 0.9)])
def test_coarse_tail_clusters_are_the_ones_the_map_would_flag(shop, threshold, max_exposure):
    """The coarse clusters the sample keeps are judged by the map's own tail-cluster rule:
    the cluster table of the same coarse labels flags exactly those clusters."""
    from recsys.maps.stats import cluster_stats, flag_tail_clusters

    ds, _, vectors = shop
    labels, order = coarse_tail_clusters(vectors, ds.popularity, ds.is_tail,
                                         tail_share_threshold=threshold, max_exposure=max_exposure)
    stats = flag_tail_clusters(cluster_stats(labels, popularity=ds.popularity, is_tail=ds.is_tail),
                               tail_share_threshold=threshold, max_exposure=max_exposure)
    assert len(order) > 0
    assert set(stats.loc[stats["is_tail_cluster"], "cluster"]) == set(order.tolist())


def test_sample_keeps_every_tail_cluster_item_and_asked_items(shop):
    ds, planted, vectors = shop
    flagged, _ = coarse_tail_items(vectors, ds.popularity, ds.is_tail)
    asked = np.flatnonzero(~flagged)[:5]
    sample = sample_items(vectors, ds.popularity, ds.is_tail, ds.segment, 200, keep=asked)
    assert sample.size == 200 and sample.total == ds.n_items and sample.sampled
    kept = np.zeros(ds.n_items, dtype=bool)
    kept[sample.index] = True
    assert kept[flagged].all() and kept[asked].all()
    assert kept[np.isin(planted, TAIL_CLUSTERS)].all()
    assert not sample.tail_cut and sample.kept_asked == 5
    assert "showing 200 of" in sample.describe()
    assert "tail clusters of a first coarse clustering kept" in sample.describe()
    again = sample_items(vectors, ds.popularity, ds.is_tail, ds.segment, 200, keep=asked)
    assert np.array_equal(sample.index, again.index)  # seeded
    # the filled part follows the segment mix of what was left to fill
    rest = ~flagged & ~np.isin(np.arange(ds.n_items), asked)
    seg = np.asarray(ds.segment)
    filled = kept & rest
    for name in np.unique(seg[rest]):
        expected = (seg[rest] == name).mean() * filled.sum()
        assert abs((seg[filled] == name).sum() - expected) <= 1


def test_a_cap_below_the_tail_items_keeps_the_least_exposed_clusters_whole(shop):
    ds, _, vectors = shop
    labels, order = coarse_tail_clusters(vectors, ds.popularity, ds.is_tail)
    sample = sample_items(vectors, ds.popularity, ds.is_tail, ds.segment, 100)
    assert sample.size == 100 and sample.tail_cut and "would not fit" in sample.describe()
    assert 0 < sample.tail_clusters < len(order) == sample.tail_clusters_found
    kept = np.isin(np.arange(ds.n_items), sample.index)
    for c in order[:sample.tail_clusters]:  # the least exposed, each one whole
        assert kept[labels == c].all()
    assert sample.tail_cluster_items <= 80  # at most 80 % of the cap, the rest for context


def test_map_above_the_cap_is_drawn_from_the_sample(shop):
    ds, planted, _ = shop
    config = MapConfig(method="pca", cluster_on="embedding", min_cluster_size=20,
                       max_items=250, **TEXT)
    frame = build_map(ds, config)
    assert len(frame) == 250 and frame["item_id"].is_unique
    info = frame.attrs["sample"]
    assert info["shown"] == 250 and info["total"] == ds.n_items
    assert info["note"].startswith(f"showing 250 of {ds.n_items:,} items")
    pos = ds.item_positions(frame["item_id"].tolist())
    assert np.isin(np.flatnonzero(np.isin(planted, TAIL_CLUSTERS)), pos).all()
    # the item facts are those of the sampled items, and the tail clusters are still found
    assert (frame["popularity"].to_numpy() == np.asarray(ds.popularity)[pos]).all()
    tail_groups = {int(np.bincount(planted[pos][frame["cluster"].to_numpy() == c]).argmax())
                   for c in set(frame.loc[frame["is_tail_cluster"], "cluster"])}
    assert tail_groups == set(TAIL_CLUSTERS)
    assert build_map(ds, config.model_copy(update={"max_items": 10_000})).attrs["sample"] is None
