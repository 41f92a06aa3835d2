"""Train page (AppTest): train small models in the background, see results that persist."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from recsys import Workspace
from tests.app_support import open_page

pytestmark = pytest.mark.usefixtures("navigation_apptest")


def _train_page(workspace_dir) -> AppTest:
    return open_page("train", timeout=120)


def results_table(at: AppTest):
    tables = [d.value for d in at.dataframe if "ndcg" in d.value.columns]
    assert tables, "no results table on the page"
    return tables[0]


def test_train_two_models_and_see_results(workspace_dir):
    at = _train_page(workspace_dir)
    assert "CPU" in " ".join(c.value for c in at.caption)  # the page says where it trains
    at.multiselect(key="train_models").set_value(["pop", "ease"])
    at.selectbox(key="train_split").set_value("random")
    at.number_input(key="cfg.ease.l2").set_value(150.0)
    at.button(key="train_start").click().run()
    job = at.session_state["training_job"]
    job.join(180)
    assert job.status == "done", job.message
    assert [r.status for r in job.runs] == ["done", "done"]
    assert job.runs[1].config["l2"] == 150.0
    at.run()
    assert not at.exception
    table = results_table(at).set_index("model")
    assert set(table.index) == {"pop", "ease"}
    assert table.loc["ease", "ndcg"] > table.loc["pop", "ndcg"]  # learned beats popularity
    assert table["current data"].all()
    kept = Workspace(workspace_dir).list_models("demo-shop")
    assert {m["model"] for m in kept} == {"pop", "ease"}

    fresh = _train_page(workspace_dir)  # a restart: results come back from the workspace
    assert set(results_table(fresh)["model"]) == {"pop", "ease"}


def test_invalid_setting_is_reported(workspace_dir):
    at = _train_page(workspace_dir)
    at.multiselect(key="train_models").set_value([])
    at.button(key="train_start").click().run()
    assert not at.exception
    assert any("Pick at least one model" in w.value for w in at.warning)


def _neumf_form() -> None:
    import streamlit as st
    from pydantic import ValidationError

    import ui
    from recsys.models.neumf import NeuMFConfig

    values = ui.config_form(NeuMFConfig, "cfg.neumf")
    try:
        st.write(f"layers={NeuMFConfig(**values).mlp_layers}")
    except ValidationError as exc:
        st.error(f"Invalid settings: {exc.errors()[0]['loc'][0]}")


def test_layer_widths_are_edited_as_text():
    import ui

    assert ui._parse_numbers("256, 64") == (256, 64)
    assert ui._parse_numbers("600;200") == (600, 200)
    assert ui._parse_numbers("wide") == "wide"
    at = AppTest.from_function(_neumf_form, default_timeout=60).run()
    field = at.text_input(key="cfg.neumf.mlp_layers")
    assert field.value == "64, 32, 16"
    assert "layers=(64, 32, 16)" in at.markdown[0].value
    field.set_value("128, 64").run()
    assert "layers=(128, 64)" in at.markdown[0].value
    at.text_input(key="cfg.neumf.mlp_layers").set_value("64, wide").run()
    assert not at.exception
    assert "Invalid settings: mlp_layers" in at.error[0].value


def test_new_products_protocol_on_data_without_timestamps(workspace_dir):
    """Item cold start on a shop without timestamps: the protocol is offered, its share of new
    items is a setting, and the kept runs show and record the new-product figures."""
    from recsys.data.dataset import DatasetConfig, build_dataset
    from tests.test_rerank import synthetic_dataset

    ws = Workspace(workspace_dir)
    timed = synthetic_dataset(n_users=150, n_items=80, seed=2, name="small-shop")
    ds = build_dataset(timed.interactions.drop(columns="timestamp"), timed.catalog,
                       name="small-shop", config=DatasetConfig())
    assert not ds.has_timestamps
    ws.save_dataset(ds, source="test", activate=True)
    at = _train_page(workspace_dir)
    picker = at.selectbox(key="train_split")
    assert picker.options == ["Random per user", "New products (item cold start)"]
    picker.set_value("item-cold")
    at.number_input(key="train_cold_frac").set_value(0.25)
    at.multiselect(key="train_models").set_value(["pop", "ease"])
    at.button(key="train_start").click().run()
    job = at.session_state["training_job"]
    job.join(120)
    assert job.status == "done", job.message
    at.run()
    assert not at.exception
    table = results_table(at).set_index("model")
    assert set(table.index) == {"pop", "ease"}
    assert (table["protocol"] == "New products (item cold start)").all()
    assert table[["new_recall", "new_share"]].notna().all().all()
    assert table.loc["pop", "new_share"] == 0.0  # no new item has a training interaction
    assert table[["new_recall", "new_share"]].le(1.0).all().all()
    caption = " ".join(c.value for c in at.caption)
    assert "New products (item cold start): 20 items held out whole" in caption
    kept = {m.model: m for m in ws.kept_runs("small-shop")}
    for run in kept.values():
        assert run.results.protocol.split.method == "item-cold"
        assert run.results.protocol.split.cold_item_frac == 0.25
        assert run.results.protocol.new_items == 20
        assert 0.0 <= run.results.metric("new_recall") <= 1.0


def test_auto_run_shows_how_it_chose(workspace_dir):
    """A kept auto run shows what it kept, why, on which inner split, and every candidate."""
    from recsys.data.dataset import build_dataset
    from recsys.data.demo import generate_demo_shop
    from recsys.data.splits import SplitConfig, split_dataset
    from recsys.jobs import model_choice
    from recsys.models import create_model
    from recsys.models.selection import candidate_label
    from recsys.runs import RunResults

    shop = generate_demo_shop(seed=2, n_items=200, n_users=200)
    train = split_dataset(build_dataset(shop.interactions, name="small"),
                          SplitConfig(method="random", seed=0)).train
    model = create_model("auto", {"neural": False}).fit(train, device="cpu")
    Workspace(workspace_dir).save_model("demo-shop", model, results=RunResults(
        metrics={"ndcg": 0.1, "aplt": 0.05}, **model_choice(model)))
    at = _train_page(workspace_dir)
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    assert candidate_label(**model.chosen_) in text and model.report_["reason"] in text
    assert "Random per user" in text
    table = next(d.value for d in at.dataframe if "candidate" in d.value.columns)
    assert len(table) == len(model.search_)
    assert list(table["validation NDCG"]) == sorted(table["validation NDCG"], reverse=True)
    assert (table["role"] == "kept").sum() == 1
    # one model in the results: its chart's axes start at zero, not at -0.5
    import json

    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert spec["layout"]["xaxis"]["rangemode"] == spec["layout"]["yaxis"]["rangemode"] == "tozero"
