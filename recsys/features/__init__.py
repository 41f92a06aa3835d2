"""Item and user features the models and the map read: text embeddings of the catalog
(:mod:`~recsys.features.text`: the offline sentence model, TF-IDF + SVD otherwise) and side
features (:mod:`~recsys.features.side`: item-group one-hots, price bands, user profiles).

Heavy imports (sentence-transformers, torch) happen inside the functions that need them.
"""

from recsys.features.side import (
    CategoricalFeatures,
    ItemFeatures,
    categorical_codes,
    item_categorical_features,
    item_features,
    quantile_buckets,
    user_categorical_features,
)
from recsys.features.text import TextEmbedding, item_texts, sentence_model_available, text_embeddings

__all__ = ["CategoricalFeatures", "ItemFeatures", "TextEmbedding", "categorical_codes",
           "item_categorical_features", "item_features", "item_texts", "quantile_buckets",
           "sentence_model_available", "text_embeddings", "user_categorical_features"]
