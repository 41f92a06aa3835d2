"""Item embedding maps with tail clusters.

``build_map(dataset, MapConfig(...))`` embeds the items (catalog text, a trained model's item
vectors, or both), projects them to 2-D (UMAP, t-SNE or PCA), clusters them with HDBSCAN and
flags the **tail clusters**: neighbourhoods of products made mostly of tail items that get
little exposure, ranked by opportunity. Modules:

* :mod:`.sources` item vectors · :mod:`.project` 2-D layouts · :mod:`.cluster` HDBSCAN
* :mod:`.stats` per-cluster figures, labels, tail-cluster flags · :mod:`.pipeline` the one call
* :mod:`.view` neighbours, search and sampling for display
* :mod:`.neighbours` exact / approximate neighbour graphs · :mod:`.warmup` compile ahead of time

umap-learn, hdbscan and openTSNE are imported on first use with a persistent numba cache
(``NUMBA_CACHE_DIR``, by default ``~/.cache/tail-studio/numba``, never inside the workspace).
"""

from recsys.maps._numba import import_umap, numba_cache_dir, prepare_numba
from recsys.maps.cluster import AUTO_MIN_SAMPLES_CAP, NOISE, auto_min_cluster_size, cluster_points, relabel_by_size
from recsys.maps.job import MapJob
from recsys.maps.labels import LabelBox, cluster_name, cluster_outline, dominant_category, place_labels
from recsys.maps.neighbours import EXACT_NEIGHBOURS_UP_TO, approximate_knn_graph, neighbour_graph
from recsys.maps.pipeline import MAP_COLUMNS, MIN_ITEMS, MapConfig, build_map, clear_memo, cluster_table, item_vectors
from recsys.maps.project import METRICS, PROJECTION_METHODS, ProjectionOptions, knn_graph, pca, project
from recsys.maps.sources import ItemVectors, MapDataError, cf_vectors, hybrid_vectors, text_vectors
from recsys.maps.stats import NOISE_LABEL, class_tfidf_terms, cluster_stats, flag_tail_clusters
from recsys.maps.view import DISPLAY_LIMIT, display_sample, nearest_items, popularity_bucket, price_bucket, search_items
from recsys.maps.warmup import warm_up

__all__ = [
    "MapJob",
    "LabelBox",
    "cluster_name",
    "cluster_outline",
    "dominant_category",
    "place_labels",
    "AUTO_MIN_SAMPLES_CAP", "EXACT_NEIGHBOURS_UP_TO", "approximate_knn_graph",
    "import_umap", "neighbour_graph", "warm_up",
    "DISPLAY_LIMIT", "ItemVectors", "MAP_COLUMNS", "METRICS", "MIN_ITEMS", "MapConfig",
    "MapDataError", "NOISE", "NOISE_LABEL", "PROJECTION_METHODS", "ProjectionOptions",
    "auto_min_cluster_size",
    "build_map", "cf_vectors", "class_tfidf_terms", "clear_memo", "cluster_points",
    "cluster_stats", "cluster_table", "display_sample", "flag_tail_clusters", "hybrid_vectors",
    "item_vectors", "knn_graph", "nearest_items", "numba_cache_dir", "pca", "popularity_bucket",
    "prepare_numba", "price_bucket", "project", "relabel_by_size", "search_items", "text_vectors",
]
