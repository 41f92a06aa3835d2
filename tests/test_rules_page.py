"""Rule sets (one rule per product, pins on distinct positions, the step they make), their
storage, and the Rules page: add rules, see their effect, keep a named set, apply it on What-if
and Export (AppTest)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recsys import Workspace
from recsys.rerank import RerankConfig
from recsys.rerank.rulesets import RuleSet, with_rules
from tests.app_support import kept_ease_shop, open_page
from tests.test_rerank import synthetic_dataset


def test_one_rule_per_product_and_pins_never_share_a_slot() -> None:
    rules = RuleSet().with_rule(["a", "b"], "pin", 2).with_rule(["c"], "boost")
    assert rules.pins == {"a": 2, "b": 3} and rules.boost == ("c",)
    rules = rules.with_rule(["c"], "block")  # replaces the boost
    assert rules.boost == () and rules.block == ("c",)
    rules = rules.with_rule(["d"], "pin", 3)  # takes b's slot: b's pin goes
    assert rules.pins == {"a": 2, "d": 3}
    assert rules.without(["a", "c"]).n_rules == 1
    step = rules.step()
    assert step.method == "none" and step.pins == {"a": 2, "d": 3} and step.block == ("c",)
    with pytest.raises(ValueError, match="positions between"):
        RuleSet().with_rule(["x"], "pin", 0)
    assert with_rules(RerankConfig(method="tail_bonus", strength=0.3), rules)[-1] == step
    assert with_rules(None, RuleSet()) == []


def test_rows_and_unknown_items_follow_the_catalog() -> None:
    ds = synthetic_dataset(n_users=30, n_items=20)
    rules = RuleSet().with_rule(["i001", "nope"], "bury")
    rows = rules.rows(ds)
    assert list(rows["in catalog"]) == [True, False]
    assert rows.loc[0, "title"] == "Item 1"
    assert rules.unknown_items(ds) == ["nope"]


def test_workspace_keeps_rule_sets_per_dataset(tmp_path) -> None:
    ws = Workspace(tmp_path / "ws")
    ds = synthetic_dataset(n_users=30, n_items=20, name="shop")
    ws.save_dataset(ds, source="test")
    name = ws.save_rule_set("shop", "winter push", RuleSet().with_rule(["i002"], "pin", 1)
                            .model_dump(mode="json"))
    assert [r["name"] for r in ws.list_rule_sets("shop")] == [name]
    assert RuleSet(**ws.load_rule_set("shop", name)).pins == {"i002": 1}
    assert ws.list_rule_sets("other") == []
    ws.delete_dataset("shop")
    assert ws.list_rule_sets("shop") == []


@pytest.fixture
def shop(workspace_dir):
    return kept_ease_shop(workspace_dir)


@pytest.mark.usefixtures("navigation_apptest")
def test_rules_page_pins_a_product_keeps_the_set_and_what_if_export_apply_it(shop) -> None:
    ws, ds = shop
    # The least popular product: no model list has it, so pinning it changes every list
    target = str(ds.item_ids[int(np.argmin(ds.popularity))])
    at = open_page("rules")
    assert not at.error
    at.text_input(key="rules_search").set_value(target).run()
    pos = int(ds.item_positions([target])[0])
    at.multiselect(key="rules_items").select(pos).run()
    at.radio(key="rules_action").set_value("pin").run()
    at.number_input(key="rules_position").set_value(1)
    at.button(key="rules_add").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "Rules (1)" in [s.value for s in at.subheader]
    metrics = {m.label: m for m in at.metric}
    assert int(metrics["Lists changed"].value.rstrip("%")) >= 50  # pinned unless already bought
    assert metrics["Tail share (APLT)"].delta.startswith("+")
    preview = next(d.value for d in at.dataframe if "re-ranked item" in d.value.columns)
    assert preview.loc[0, "reason"] == "pinned"
    assert preview.loc[0, "re-ranked item"] == ds.catalog["title"].iloc[pos]

    at.text_input(key="rules_name").set_value("launch").run()
    at.button(key="rules_save").click().run()
    assert any("Rule set 'launch' kept (1 rules)." in s.value for s in at.success)
    assert RuleSet(**ws.load_rule_set(ds.name, "launch")).pins == {target: 1}

    whatif = open_page("whatif", timeout=120)
    whatif.selectbox(key="whatif_method").set_value("tail_bonus")
    whatif.slider(key="whatif_strength").set_value(0.0).run()
    plain = next(m.value for m in whatif.metric if m.label == "Tail share (APLT)")
    whatif.selectbox(key="whatif_rules").set_value("launch").run()
    assert not whatif.exception and not whatif.error
    assert next(m.value for m in whatif.metric if m.label == "Tail share (APLT)") != plain
    assert any("rule set 'launch'" in c.value for c in whatif.caption)
    whatif.button(key="whatif_to_export").click().run()  # the hand-off carries the rule set
    assert whatif.selectbox(key="export_rule_set").value == "launch"
    export = whatif.switch_page("pages/export.py").run()  # AppTest stays on the first page
    assert export.selectbox(key="export_rule_set").value == "launch"
    export.checkbox(key="export_retrain").uncheck()
    export.button(key="export_run").click().run()
    assert not export.exception and not export.error, [e.value for e in export.error]
    folder = next((ws.root / "exports").rglob("manifest.json"))
    manifest = json.loads(folder.read_text())
    assert manifest["rerank"][-1]["pins"] == {target: 1}
    assert manifest["metrics"]["rule_set"] == "launch"
