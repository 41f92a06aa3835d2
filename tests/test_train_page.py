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
    at.button(key="FormSubmitter:train_form-Train").click().run()
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
    at.button(key="FormSubmitter:train_form-Train").click().run()
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
