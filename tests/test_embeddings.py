"""Text embeddings: the packaged sentence model, the TF-IDF + SVD fallback and the cache."""

import numpy as np
import pandas as pd
import pytest

from recsys.data.dataset import build_dataset
from recsys.features import text as embeddings
from recsys.features.text import item_texts, sentence_model_available, text_embeddings

TEXTS = [
    "Oak serving board for slow breakfasts",
    "Walnut serving board, perfect for hosting friends",
    "Lithium battery charger with USB-C cable",
    "Braided USB-C charging cable, 2 m",
    "Organic cotton T-shirt in navy",
    "Merino wool jumper in charcoal",
]


@pytest.fixture(autouse=True)
def _fresh_memo():
    embeddings.clear_memo()
    yield
    embeddings.clear_memo()


def _cos(v, a, b):
    return float(v[a] @ v[b])


def _check_unit(vectors):
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


@pytest.mark.skipif(not sentence_model_available(), reason="sentence model not installed")
def test_sentence_model_vectors():
    emb = text_embeddings(TEXTS, device="cpu", batch_size=4)
    assert emb.method == "sentence-model" and emb.model == "all-MiniLM-L6-v2"
    assert emb.vectors.shape == (len(TEXTS), 384) and emb.dim == 384 and not emb.note
    _check_unit(emb.vectors)
    v = emb.vectors
    assert _cos(v, 0, 1) > _cos(v, 0, 2) + 0.2  # two serving boards vs a charger
    assert _cos(v, 2, 3) > _cos(v, 2, 4) + 0.2  # charger vs USB cable vs T-shirt
    assert _cos(v, 4, 5) > _cos(v, 4, 0)
    again = text_embeddings(TEXTS, device="cpu", batch_size=4)  # memoised in-process
    assert again.cached
    np.testing.assert_array_equal(again.vectors, emb.vectors)
    assert "HF_HUB_OFFLINE" in embeddings.os.environ


def test_tfidf_fallback_when_model_missing(monkeypatch):
    monkeypatch.setattr(embeddings, "sentence_model_available", lambda: False)
    emb = text_embeddings(TEXTS)
    assert emb.method == "tfidf-svd"
    assert "sentence model unavailable" in emb.note and "TF-IDF + SVD" in emb.note
    assert emb.vectors.shape[0] == len(TEXTS) and emb.dim <= 128
    _check_unit(emb.vectors)
    v = emb.vectors
    assert _cos(v, 0, 1) > _cos(v, 0, 2)
    assert _cos(v, 2, 3) > _cos(v, 2, 5)
    with pytest.raises(RuntimeError, match="not installed"):
        text_embeddings(TEXTS, method="sentence-model")


def test_fallback_when_model_fails_to_load(monkeypatch):
    monkeypatch.setattr(embeddings, "sentence_model_available", lambda: True)

    def broken(*args, **kwargs):
        raise OSError("model files missing")

    monkeypatch.setattr(embeddings, "_sentence_vectors", broken)
    emb = text_embeddings(TEXTS, method="auto")
    assert emb.method == "tfidf-svd"
    assert emb.note == "sentence model unavailable (model files missing); used TF-IDF + SVD"
    with pytest.raises(RuntimeError, match="could not be used"):
        text_embeddings(TEXTS, method="sentence-model")


def test_tfidf_is_seeded_and_bounded():
    texts = [f"item {i} in {c} by brand {i % 7}" for i, c in
             enumerate(["garden tools", "kitchen pans", "toy trains", "yoga mats"] * 60)]
    a = text_embeddings(texts, method="tfidf", dim=16)
    embeddings.clear_memo()
    b = text_embeddings(texts, method="tfidf", dim=16)
    assert a.dim == 16 and a.vectors.shape == (240, 16) and not a.note
    np.testing.assert_array_equal(a.vectors, b.vectors)
    _check_unit(a.vectors)


def test_cache_hit_returns_identical_arrays(tmp_path):
    first = text_embeddings(TEXTS, method="tfidf", cache_dir=tmp_path)
    assert not first.cached
    files = list(tmp_path.glob("text-*.npz"))
    assert len(files) == 1
    embeddings.clear_memo()  # force a read from disk
    second = text_embeddings(TEXTS, method="tfidf", cache_dir=tmp_path)
    assert second.cached and second.method == first.method and second.note == first.note
    np.testing.assert_array_equal(second.vectors, first.vectors)
    with np.load(files[0], allow_pickle=False) as data:  # plain arrays, no pickle
        assert set(data.files) == {"vectors", "info"}
    other = text_embeddings([*TEXTS[:-1], "something else"], method="tfidf", cache_dir=tmp_path)
    assert not other.cached and len(list(tmp_path.glob("text-*.npz"))) == 2


def test_edge_cases():
    assert text_embeddings([], method="tfidf").vectors.shape[0] == 0
    blank = text_embeddings(["", "  ", "nan"], method="tfidf")
    assert blank.vectors.shape[0] == 3 and np.isfinite(blank.vectors).all()
    one = text_embeddings(["just one text"], method="tfidf")
    assert one.vectors.shape[0] == 1
    with pytest.raises(ValueError, match="Unknown text embedding method"):
        text_embeddings(TEXTS, method="word2vec")


def test_item_texts_are_tidy():
    catalog = pd.DataFrame({
        "item_id": ["a", "b", "c"],
        "title": ["Oak  Board", None, "Acme Mug"],
        "description": ["Solid oak.\n Oiled.", "nan", ""],
        "category": ["Kitchen", "Garden", None],
        "brand": ["Woodco", "", "Acme"],
    })
    inter = pd.DataFrame({"user_id": ["u", "u"], "item_id": ["a", "b"]})
    ds = build_dataset(inter, catalog)
    texts = item_texts(ds)
    assert texts[0] == "Oak Board. Solid oak. Oiled. Kitchen. Woodco"
    assert texts[1] == "b. Garden"  # the title falls back to the id
    assert texts[2] == "Acme Mug"  # the brand is already in the title
    assert not any("nan" in t.lower() for t in texts)


def test_placeholder_categories_and_brands_are_left_out():
    catalog = pd.DataFrame({"item_id": ["a", "b"], "title": ["Oak Board", "Tin Cup"],
                            "category": ["Other", "Kitchen"], "brand": ["Unknown", "Other"]})
    ds = build_dataset(pd.DataFrame({"user_id": ["u", "u"], "item_id": ["a", "b"]}), catalog)
    assert item_texts(ds) == ["Oak Board", "Tin Cup. Kitchen"]


@pytest.mark.skipif(not sentence_model_available(), reason="sentence model not installed")
def test_sentence_model_reports_progress_and_keeps_text_order(monkeypatch):
    """Encoding in chunks (shortest texts first) reports progress up to 1 and gives every text
    its own vector back in the original order."""
    import recsys.features.text as emb

    texts = ["a red wool scarf for winter", "oak", "stainless steel garlic press", "blue mug",
             "oak", "a very long description of a cast iron skillet that keeps heat for hours"]
    whole = text_embeddings(texts, method="sentence-model", device="cpu").vectors
    monkeypatch.setattr(emb, "_PROGRESS_CHUNK", 2)
    emb.clear_memo()
    seen: list[tuple[float, str]] = []
    chunked = text_embeddings(texts, method="sentence-model", device="cpu",
                              progress=lambda f, m: seen.append((f, m))).vectors
    np.testing.assert_allclose(chunked, whole, atol=1e-5)
    np.testing.assert_array_equal(chunked[1], chunked[4])  # the same text, the same vector
    fractions = [f for f, _ in seen]
    assert len(fractions) == 3 and fractions == sorted(fractions) and fractions[-1] == 1.0
    assert seen[-1][1] == "sentence model: 5 of 5 texts"
