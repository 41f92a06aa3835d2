"""New products in online updates enter the content models (``hybrid``, ``coldstart``,
``contentmf``) through their content path: the model's saved encoder embeds their catalog rows
exactly as it embedded the training catalog, buyers of similar-looking products get them, and the encoder survives a
save and reload. Without catalog rows they are left out, with a note."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys import build_dataset
from recsys.cli import main
from recsys.features.encoder import ItemEncoder
from recsys.feedback.update import read_feedback, read_new_products, update_model
from recsys.models import create_model, load_model

GROUPS = ("alpine", "baroque", "coastal", "desert")
WORDS = {"alpine": "wool mountain parka", "baroque": "gilded velvet mirror",
         "coastal": "linen sailor stripe", "desert": "terracotta cactus clay"}
CONFIGS = {"hybrid": {"text_method": "tfidf"},
           "hybrid-content": {"text_method": "tfidf", "cold_path": "content"},
           "coldstart": {"text_method": "tfidf", "epochs": 8, "factors": 8, "hidden": 32},
           "contentmf": {"text_method": "tfidf", "epochs": 40, "factors": 8},
           "contentmf-main": {"text_method": "tfidf", "epochs": 40, "factors": 8, "cold_mix": 1.0}}


def _model(key: str):
    return create_model(key.split("-")[0], CONFIGS[key])


@pytest.fixture(scope="module")
def shop():
    """160 customers × 80 products in four styles; each customer buys within one style, and a
    product's title, category and price say its style."""
    rng = np.random.default_rng(5)
    users = rng.integers(0, 160, 3000)
    items = (users % 4) + 4 * rng.integers(0, 20, 3000)
    frame = pd.DataFrame({"user_id": [f"u{u}" for u in users], "item_id": [f"i{i}" for i in items]})
    catalog = pd.DataFrame({"item_id": [f"i{i}" for i in range(80)],
                            "title": [f"{WORDS[GROUPS[i % 4]]} no {i}" for i in range(80)],
                            "category": [GROUPS[i % 4] for i in range(80)],
                            "price": [10.0 * (1 + i % 4) for i in range(80)]})
    return build_dataset(frame, catalog, name="styles")


def _new_products() -> pd.DataFrame:
    return pd.DataFrame({"item_id": ["new-alpine", "new-desert"],
                         "title": [f"{WORDS['alpine']} special", f"{WORDS['desert']} special"],
                         "category": ["alpine", "desert"], "price": [10.0, 40.0]})


@pytest.mark.parametrize("method", ["tfidf", "none"])
def test_the_encoder_gives_the_catalog_its_training_vectors(shop, method):
    model = create_model("hybrid", {"text_method": "tfidf"} if method == "tfidf" else
                         {"side_weight": 1.0}).fit(shop, device="cpu")
    assert isinstance(model.encoder_, ItemEncoder)
    again = model.encoder_.encode(shop.catalog)
    np.testing.assert_allclose(again, model.content_, atol=1e-5)
    restored = ItemEncoder.from_state(model.encoder_.state())
    np.testing.assert_allclose(restored.encode(shop.catalog), model.content_, atol=1e-5)


def test_the_encoder_reads_field_labels_as_training_did(shop):
    model = create_model("hybrid", {"side_weight": 1.0}).fit(shop, device="cpu")
    encoder = model.encoder_
    f = encoder.fields.index("category")
    vocab = encoder.vocabularies[f]
    rows = pd.DataFrame({"category": [" alpine ", "NaN", "null", None, "baroque", "velvet"]})
    codes = encoder.codes(rows)[:, f]
    assert codes.tolist() == [vocab.index("alpine"), 0, 0, 0, vocab.index("baroque"), 0]


@pytest.mark.parametrize("key", list(CONFIGS))
def test_new_products_enter_through_the_content_path(shop, key):
    model = _model(key).fit(shop, device="cpu")
    feedback = pd.DataFrame({"user_id": ["u0", "u3"], "item_id": ["new-alpine", "new-desert"]})
    result = update_model(model, feedback, user_ids=shop.user_ids, item_ids=shop.item_ids,
                          catalog=_new_products())
    assert result.items_added == 2 and model.n_items_ == shop.n_items + 2
    assert any("content path" in note for note in result.notes)
    assert list(model.item_ids_[-2:]) == ["new-alpine", "new-desert"]
    # Customers of the alpine style (user index % 4 == 0) score the new alpine product above
    # the new desert one, and desert customers the other way round.
    alpine = shop.user_positions([f"u{u}" for u in range(4, 160, 4)])
    desert = shop.user_positions([f"u{u}" for u in range(7, 160, 4)])
    new_a, new_d = shop.n_items, shop.n_items + 1
    sa, sd = np.asarray(model.score(alpine)), np.asarray(model.score(desert))
    assert (sa[:, new_a] > sa[:, new_d]).mean() > 0.9, key
    assert (sd[:, new_d] > sd[:, new_a]).mean() > 0.9, key


def test_an_updated_content_model_reloads_and_adds_products_again(shop, tmp_path):
    model = _model("hybrid").fit(shop, device="cpu")
    first = pd.DataFrame({"user_id": ["u0"], "item_id": ["new-alpine"]})
    update_model(model, first, user_ids=shop.user_ids, item_ids=shop.item_ids,
                 catalog=_new_products())
    model.save(tmp_path / "m")
    again = load_model(tmp_path / "m", device="cpu")
    users = np.arange(20)
    np.testing.assert_array_equal(again.recommend(users, 10)[0], model.recommend(users, 10)[0])
    second = pd.DataFrame({"user_id": ["u3"], "item_id": ["new-desert"]})
    result = update_model(again, second, catalog=_new_products())
    assert result.items_added == 1 and again.item_ids_[-1] == "new-desert"


def test_new_products_without_catalog_rows_are_left_out(shop):
    model = _model("hybrid").fit(shop, device="cpu")
    feedback = pd.DataFrame({"user_id": ["u0", "u0"], "item_id": ["mystery", "i4"]})
    result = update_model(model, feedback, user_ids=shop.user_ids, item_ids=shop.item_ids)
    assert result.items_added == 0 and result.interactions == 1
    assert any("catalog rows, and these have none" in note for note in result.notes)


def _update_cli(shop, tmp_path, feedback, catalog, capsys):
    """``update`` of a saved hybrid with ``feedback`` and ``--catalog``: exit code, its line,
    the model folder and the workspace."""
    from recsys.workspace import Workspace

    folder, ws = tmp_path / "hybrid", tmp_path / "ws"
    _model("hybrid").fit(shop, device="cpu").save(folder)
    Workspace(ws).save_dataset(shop)
    code = main(["update", "--model", str(folder), "--feedback", str(feedback), "--catalog",
                 str(catalog), "--dataset", "styles", "--workspace", str(ws), "--out",
                 str(tmp_path / "out")])
    return code, capsys.readouterr().out.strip(), folder, ws


def test_an_interaction_file_carries_its_catalog_and_the_cli_takes_one(shop, tmp_path, capsys):
    path = tmp_path / "feedback.csv"
    pd.DataFrame({"user_id": ["u0", "u3"], "item_id": ["new-alpine", "new-desert"],
                  "title": _new_products()["title"], "category": ["alpine", "desert"]}
                 ).to_csv(path, index=False)
    _, kind, carried = read_feedback(path)
    assert kind == "interactions" and set(carried["item_id"]) == {"new-alpine", "new-desert"}
    plain = tmp_path / "plain.csv"
    pd.DataFrame({"user_id": ["u0"], "item_id": ["new-alpine"]}).to_csv(plain, index=False)
    catalog = tmp_path / "new.csv"
    _new_products().rename(columns={"item_id": "sku", "title": "name"}).to_csv(catalog,
                                                                               index=False)
    assert set(read_new_products(catalog)["item_id"]) == {"new-alpine", "new-desert"}
    code, line, folder, ws = _update_cli(shop, tmp_path, plain, catalog, capsys)
    assert code == 0 and "1 items added" in line and "content path" in line
    assert load_model(tmp_path / "out").item_ids_[-1] == "new-alpine"
    empty = tmp_path / "empty.csv"
    Path(empty).write_text("colour,size\nred,3\n")
    assert main(["update", "--model", str(folder), "--feedback", str(plain), "--catalog",
                 str(empty), "--dataset", "styles", "--workspace", str(ws)]) == 2
    err = capsys.readouterr().err
    assert "item id" in err and "Name it item_id" in err and "column mapping" not in err


def test_the_cli_catalog_adds_to_the_rows_an_interaction_file_carries(shop, tmp_path, capsys):
    """A product described only in the feedback file still enters with --catalog given."""
    both = _new_products()
    feedback = tmp_path / "feedback.csv"
    pd.DataFrame({"user_id": ["u0", "u3"], "item_id": both["item_id"], "title": both["title"]}
                 ).to_csv(feedback, index=False)
    catalog = tmp_path / "alpine.csv"
    both[both["item_id"] == "new-alpine"].to_csv(catalog, index=False)
    code, line, _, _ = _update_cli(shop, tmp_path, feedback, catalog, capsys)
    assert code == 0 and "2 items added" in line, line
    assert set(load_model(tmp_path / "out").item_ids_[-2:]) == {"new-alpine", "new-desert"}
