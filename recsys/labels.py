"""What people read: one label per setting, metric and re-rank method, used by every form,
table and caption of the dashboard (and the command line's tables).

Settings get their label as their pydantic ``title``: configs set
``field_title_generator=field_title`` (see :class:`recsys.models.base.ModelConfig`), so a field
declares its label where it is declared (``Field(..., title="…")``) or, without one, takes it
from :data:`FIELD_TITLES` by name, else from the name itself ("min_df" → "Min df").
"""

from __future__ import annotations

from typing import Any

__all__ = ["FIELD_TITLES", "METRIC_LABELS", "METHOD_LABELS", "POLICY_LABELS", "REPLAY_LABELS",
           "ESTIMATOR_LABELS", "ALLOCATION_LABELS", "SWAP_COST_LABELS", "OPINION_LABELS",
           "field_title", "metric_label", "method_label"]

#: Labels of settings shared by many configs (a field's own ``title`` wins).
FIELD_TITLES: dict[str, str] = {
    "seed": "Random seed",
    "sgd_threads": "SGD threads",
    "l2": "Regularisation (L2 λ)",
    "weight_decay": "Weight decay",
    "lr": "Learning rate",
    "epochs": "Epochs (at most)",
    "n_epochs": "Epochs (at most)",
    "batch_size": "Batch size",
    "eval_every": "Validate every (epochs)",
    "patience": "Early-stopping patience (validations)",
    "factors": "Latent factors",
    "dim": "Embedding size",
    "init_std": "Initial weight spread",
    "negatives": "Negative samples per positive",
    "loss": "Loss",
    "dropout": "Dropout",
    "mlp_layers": "Hidden layer widths",
    "mlp_width": "Hidden layer width",
    "encoder": "Encoder layer widths",
    "beta": "KL weight (β)",
    "anneal_steps": "KL annealing steps",
    "blocks": "Attention blocks",
    "heads": "Attention heads",
    "max_len": "History length (items)",
    "text_init": "Start item embeddings from their text",
    "text_method": "Text embedding",
    "use_text": "Use item text",
    "use_item_features": "Use item attributes",
    "use_user_features": "Use customer attributes",
    "side_weight": "Weight of category / brand / price fields",
    "context_weight": "Weight of seen-but-not-liked items",
    "history_half_life_days": "Recency half-life (days)",
    "neighbours": "Neighbours per item",
    "shrinkage": "Similarity shrinkage",
    "content_weight": "Content share for well-known items",
    "cold_shrink": "Interactions until content fades (half-way)",
    "content_scale": "Size of content scores",
    "scale_search": "Choose the size of new-product scores on an inner split",
    "debias": "Popularity debiasing",
    "debias_strength": "Debiasing strength",
    "propensity_clip": "Smallest propensity (clip)",
    "macr_weight": "Popularity branch weight (MACR)",
    "first": "First model",
    "second": "Second model",
    "weight": "Weight of the first model",
    "validation": "Inner validation split",
    "valid_frac": "Inner validation share",
    "time_budget_s": "Time cap (seconds)",
    "confidence": "Confidence to depart from EASE",
    "objective": "Choose by",
    "accuracy_budget": "Accuracy budget (NDCG loss)",
    "neural": "Try neural models",
    "k": "List length (K)",
    "exact_neighbours_up_to": "Exact neighbours up to (items)",
    "min_cluster_size": "Smallest cluster (items)",
    "min_samples": "Cluster density (min samples)",
    "n_neighbors": "UMAP neighbours",
    "min_dist": "UMAP minimum distance",
    "perplexity": "t-SNE perplexity",
    "source": "Embedding",
    "method": "Method",
    "hybrid_weight": "Text share of the hybrid embedding",
    "cf_dims": "Collaborative dimensions",
    "reduce_dims": "Dimensions before the projection",
    "metric": "Distance",
    "cluster_on": "Cluster on",
    "cluster_dims": "Dimensions clustered",
    "tail_share_threshold": "Tail share that makes a tail cluster",
    "max_exposure": "Most exposure of a tail cluster",
    "label_terms": "Terms in a cluster name",
    "strength": "Strength",
    "quota_share": "Quota at full strength (share of K)",
    "allocation": "Allocation",
    "swap_cost": "Cost of a slot",
    "rule_weight": "How far boosts and burials move a product",
}

#: Labels of the protocol's metrics and run figures (keys as in results and manifests).
METRIC_LABELS: dict[str, str] = {
    "ndcg": "NDCG@K", "recall": "Recall@K", "hitrate": "Hit rate@K", "map": "MAP@K",
    "precision": "Precision@K", "mrr": "MRR@K",
    "aplt": "Tail share (APLT)", "arp": "Popularity (ARP)", "coverage": "Coverage",
    "gini": "Gini (exposure)", "novelty": "Novelty", "train_s": "Training time (s)",
    "device": "Device", "val_ndcg": "Validation NDCG@K",
    "new_recall": "Recall@K among new items", "new_share": "New items in the lists",
    "new_users": "Users with a new item held out",
}

#: Labels of the re-rank methods.
METHOD_LABELS: dict[str, str] = {
    "none": "Model's own lists", "tail_bonus": "Tail bonus (additive)",
    "pop_penalty": "Popularity penalty", "xquad": "xQuAD (popularity)",
    "calibrated": "Calibrated (Steck)", "promotion": "Promotion quota",
}

#: Labels of the policies a replay compares (exploration policies and the boosted re-rank).
POLICY_LABELS: dict[str, str] = {
    "greedy": "Model's own lists (greedy)", "boosted": "Tail bonus re-rank (boosted)",
    "epsilon": "ε-greedy (tail slots)", "thompson": "Thompson sampling",
    "linucb": "LinUCB (content uncertainty)",
}

#: Labels of a replay's per-day figures (keys as in ``days.csv`` and the bands).
REPLAY_LABELS: dict[str, str] = {
    "hits": "Hits", "tail_hits": "Tail hits", "discovered_tail": "Tail items discovered",
    "tail_exposure": "Tail exposure (share of slots)", "regret": "Regret",
    "cumulative_hits": "Cumulative hits", "cumulative_tail_hits": "Cumulative tail hits",
    "cumulative_discovered_tail": "Tail items discovered (cumulative)",
    "cumulative_regret": "Cumulative regret vs the best fixed list",
    "best_fixed_hits": "Hits of the best fixed list", "hit_rate_per_slot": "Hits per slot",
}

#: Labels of the off-policy estimators.
ESTIMATOR_LABELS: dict[str, str] = {"ips": "IPS", "snips": "SNIPS (self-normalised)",
                                    "dr": "Doubly robust (DR)"}

#: A promotion's allocations and costs of a slot (What-if and Export pages).
ALLOCATION_LABELS: dict[str, str] = {"per_user": "same quota in every list",
                                     "global": "same total, where it costs least"}
SWAP_COST_LABELS: dict[str, str] = {"gap": "score gap", "ratio": "score ratio",
                                    "expected": "expected NDCG loss"}
#: The second opinions an expected-loss hit model can read (:mod:`recsys.rerank.opinion`).
OPINION_LABELS: dict[str, str] = {"none": "none", "multvae": "Mult-VAE",
                                  "bpr-macr": "BPR, popularity-debiased (MACR)",
                                  "itemknn": "item-kNN"}


def _humanise(name: str) -> str:
    text = name.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def field_title(name: str, _info: Any = None) -> str:
    """The label of a setting without its own ``title`` (pydantic ``field_title_generator``)."""
    return FIELD_TITLES.get(name, _humanise(name))


def metric_label(name: str) -> str:
    """The label of a metric or run figure (its key when unknown)."""
    return METRIC_LABELS.get(name, name)


def method_label(method: str, strength: float | None = None) -> str:
    """A re-rank method as people read it, e.g. "Tail bonus (additive) at 0.30"."""
    label = METHOD_LABELS.get(method, _humanise(method))
    return label if strength is None or method == "none" else f"{label} at {strength:.2f}"
