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


def test_settings_panels_follow_the_model_picker_at_once(workspace_dir):
    """Adding models shows their settings at once, before Train is pressed."""
    at = _train_page(workspace_dir)
    at.multiselect(key="train_models").set_value(["pop", "ease", "bpr", "itemknn"]).run()
    assert not at.exception
    panels = [e.label for e in at.expander]
    assert any(p.startswith("BPR") for p in panels), panels
    assert any("(itemknn)" in p for p in panels), panels
    assert at.number_input(key="cfg.bpr.epochs").value > 0  # the panel's own fields
    at.multiselect(key="train_models").set_value(["pop"]).run()
    assert [e.label for e in at.expander if "settings" in e.label] == [
        next(p for p in panels if "(pop)" in p)]


def _two_shops(workspace_dir) -> Workspace:
    from tests.test_rerank import synthetic_dataset

    ws = Workspace(workspace_dir)
    ws.save_dataset(synthetic_dataset(n_users=80, n_items=50, seed=1, name="shop-b"),
                    source="test")
    ws.save_dataset(synthetic_dataset(n_users=90, n_items=50, seed=2, name="shop-a"),
                    source="test", activate=True)
    return ws


def _page_text(at: AppTest) -> str:
    return " ".join(e.value for e in (*at.caption, *at.markdown, *at.info))


def _progress_texts(at: AppTest) -> list[str]:
    return [p.proto.text for p in at.get("progress")]


def test_a_dataset_switch_shows_only_the_new_datasets_run(workspace_dir):
    """After a run on shop-a, switching to shop-b shows none of it; a run started there shows
    at once, and switching back shows shop-a's models, not shop-b's run."""
    _two_shops(workspace_dir)
    at = _train_page(workspace_dir)
    at.multiselect(key="train_models").set_value(["pop"])
    at.selectbox(key="train_split").set_value("random")
    at.button(key="train_start").click().run()
    at.session_state["training_job"].join(60)
    at.run()
    assert "Last run: done." in _page_text(at) and _progress_texts(at) == ["Training done."]

    at.selectbox(key="sidebar_dataset").set_value("shop-b").run()
    assert not at.exception
    assert "Dataset **shop-b**" in _page_text(at)
    assert "Last run" not in _page_text(at) and _progress_texts(at) == []
    assert not at.get("plotly_chart") or all("Training loss" not in c.proto.spec
                                              for c in at.get("plotly_chart"))
    assert any("No trained model yet" in i.value for i in at.info)

    at.multiselect(key="train_models").set_value(["pop"])
    at.button(key="train_start").click().run()
    job = at.session_state["training_job"]
    assert job.dataset.name == "shop-b"
    texts = _progress_texts(at)
    assert len(texts) == 1 and texts[0] in ("Training pop…", "Training running.",
                                            "Training done."), texts
    job.join(60)
    at.run()
    assert "Last run: done." in _page_text(at)
    assert set(results_table(at)["model"]) == {"pop"}


def test_a_run_on_another_dataset_is_only_mentioned(workspace_dir, monkeypatch):
    """A run still going on shop-a while shop-b is shown: a note, Train disabled, no crash;
    back on shop-a its progress and Stop buttons show."""
    from recsys.jobs import TrainingJob
    from recsys.models import registry
    from tests.test_jobs import SlowModel

    monkeypatch.setitem(registry.REGISTRY, "slowtest", SlowModel)
    ws = _two_shops(workspace_dir)
    at = _train_page(workspace_dir)
    job = TrainingJob(ws.load_dataset("shop-a"), {"slowtest": {"epochs": 2000, "patience": 100}},
                      workspace=ws, device="cpu").start()
    try:
        at.session_state["training_job"] = job
        at.selectbox(key="sidebar_dataset").set_value("shop-b").run()
        assert not at.exception and job.running
        assert any("A training run on **shop-a** is in progress" in i.value for i in at.info)
        assert at.button(key="train_start").disabled
        assert _progress_texts(at) == []
        at.run()  # idle page, run elsewhere: nothing breaks
        assert not at.exception
        at.selectbox(key="sidebar_dataset").set_value("shop-a").run()
        assert _progress_texts(at) == ["Training slowtest…"]
        at.button(key="stop_keep").click().run()
        assert not at.exception and job.cancelled and job.keep_stopped
    finally:
        job.cancel()
        job.join(60)


def test_a_stopped_run_is_marked_in_every_picker(workspace_dir):
    """A kept run marked stopped shows "stopped at epoch N" on Train, What-if, Compare and
    Export; finished runs carry no marker, and the best-first preselection skips the stopped
    run even when its NDCG is the highest."""
    from recsys.data.splits import SplitConfig
    from recsys.jobs import train_models
    from recsys.runs import RunResults
    from tests.test_rerank import synthetic_dataset

    ws = Workspace(workspace_dir)
    ds = synthetic_dataset(n_users=120, n_items=60, seed=3, name="small-shop")
    ws.save_dataset(ds, source="test", activate=True)
    job = train_models(ds, {"pop": {}, "ease": {}}, split=SplitConfig(method="random", seed=0),
                       workspace=ws)
    assert job.status == "done", job.message
    ease = next(m for m in ws.kept_runs(ds.name) if m.run == "ease")
    ws.save_model(ds.name, ws.load_model(ds.name, "ease"), results=RunResults(
        **{**ease.results.to_json(), "ndcg": 0.99, "stopped": True, "epochs": 3}))

    at = _train_page(workspace_dir)
    table = results_table(at).set_index("model")
    assert table.loc["ease", "run"] == "stopped at epoch 3"
    assert table.loc["pop", "run"] == "finished"
    for page, key in (("whatif", "whatif_model"), ("compare", "compare_models"),
                      ("export", "export_model")):
        at = open_page(page)
        picker = (at.selectbox if page != "compare" else at.multiselect)(key=key)
        marked = [o for o in picker.options if o.endswith("· stopped at epoch 3")]
        assert [o.split(" · ")[0] for o in marked] == ["ease"], (page, picker.options)
        assert any(o.startswith("pop · NDCG") and "stopped" not in o for o in picker.options)
        if page == "whatif":  # best by NDCG first, but a finished run before a stopped one
            assert picker.value == "pop"
