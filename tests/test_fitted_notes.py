"""What a model chooses on its own training data (text embedding, how loud new products are)
reaches the run record, the kept run, the CLI and the Train page, so a merchandiser can see
why a model lists as many new products as it does."""

from __future__ import annotations

import json

import pytest

from recsys import Workspace
from recsys.data.splits import SplitConfig
from recsys.jobs import train_models
from recsys.models import create_model
from recsys.models.blend import Blend
from tests.test_content_mf import FAST, shop  # noqa: F401  (the planted-styles fixture)

QUICK = {**FAST, "epochs": 5}


def test_a_training_job_records_and_keeps_the_models_own_choices(shop, tmp_path):  # noqa: F811
    ws = Workspace(tmp_path / "ws")
    job = train_models(shop, {"contentmf": QUICK, "ease": {}},
                       split=SplitConfig(method="item-cold", seed=0), workspace=ws)
    assert job.status == "done", job.message
    runs = {r.name: r for r in job.runs}
    notes = runs["contentmf"].results.notes
    assert set(notes) == {"text", "new products"}, notes
    assert "TF-IDF" in notes["text"]
    assert notes["new products"].startswith("cold shift ") and "inner item cold start" in \
        notes["new products"]
    assert runs["ease"].results.notes is None  # EASE chooses nothing on its own
    assert "notes" not in runs["ease"].results.to_json()
    kept = {m.model: m for m in ws.kept_runs(shop.name)}
    assert kept["contentmf"].results.notes == notes  # through results.json and back
    assert kept["ease"].results.notes is None


def test_a_blend_reports_each_parts_choices_under_its_name(shop):  # noqa: F811
    first = create_model("contentmf", QUICK).fit(shop, device="cpu")
    second = create_model("ease").fit(shop)
    blend = Blend.from_parts(first, second, {"name": "contentmf", "config": QUICK},
                             {"name": "ease", "config": {}}, weight=0.3)
    assert blend.fitted_notes() == {f"contentmf · {k}": v for k, v in first.fitted_notes().items()}
    assert set(blend.fitted_notes()) == {"contentmf · text", "contentmf · new products"}


def test_evaluate_prints_and_writes_what_each_model_chose(shop, tmp_path, capsys):  # noqa: F811
    from recsys.cli import main

    shop.interactions[["user_id", "item_id"]].to_csv(tmp_path / "log.csv", index=False)
    shop.catalog.to_csv(tmp_path / "catalog.csv", index=False)
    report = tmp_path / "eval.json"
    code = main(["evaluate", "--interactions", str(tmp_path / "log.csv"), "--catalog",
                 str(tmp_path / "catalog.csv"), "--models", "ease,contentmf", "--split",
                 "item-cold", "--config", json.dumps({"contentmf": QUICK}), "--json", str(report)])
    out = capsys.readouterr().out
    assert code == 0
    results = {r["model"]: r for r in json.loads(report.read_text())["results"]}
    assert "notes" not in results["ease"]
    shift = results["contentmf"]["notes"]["new products"]
    assert f"contentmf · new products: {shift}" in out.splitlines()


@pytest.mark.usefixtures("navigation_apptest")
def test_the_train_page_shows_what_each_kept_model_chose(shop, workspace_dir):  # noqa: F811
    from tests.app_support import open_page

    ws = Workspace(workspace_dir)
    ws.save_dataset(shop, source="test", activate=True)
    job = train_models(shop, {"contentmf": QUICK, "pop": {}},
                       split=SplitConfig(method="item-cold", seed=0), workspace=ws)
    assert job.status == "done", job.message
    at = open_page("train", timeout=120)
    assert not at.exception
    table = next(d.value for d in at.dataframe if "setting" in d.value.columns)
    assert list(table["model"]) == ["contentmf", "contentmf"]
    notes = {r.name: r for r in job.runs}["contentmf"].results.notes
    assert dict(zip(table["setting"], table["chosen"], strict=True)) == notes
    assert any(e.label == "What the models chose on their own training data" for e in at.expander)
