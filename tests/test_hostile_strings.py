"""User-supplied strings are shown as text: markdown and Plotly's HTML subset are escaped.

A file name, dataset source, item title, category or cluster label comes from an upload, so
it must never be rendered as an image, a link or styled HTML, in this session or another.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import ui
from recsys import Workspace, build_dataset
from tests.app_support import open_page
from tests.test_map_page import _draw

from .test_maps_data import planted_shop

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))

IMAGE = "![x](http://host/p.png).csv"
LINK = '<a href="http://host/">cat</a>'
STYLED = '<span style="font-size:99px">big</span>'
TITLE = "zebrawood ![x](http://host/t.png) <b>bold</b> *em* [l](http://host/)"


def _unescape_md(text: str) -> str:
    """What a markdown renderer shows for a backslash-escaped text."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            i += 1
        out.append(text[i])
        i += 1
    return "".join(out)


@pytest.mark.parametrize("raw", [IMAGE, LINK, STYLED, TITLE, "a_b__c__", "# head", "1. x",
                                 "`code`", "$x$", ":red[x]", "a\\b", "x | y", "~~s~~",
                                 "www.host.com", "{x}", "&lt;b&gt;", "- y"])
def test_markdown_escape_round_trips_and_disarms(raw):
    escaped = ui.md_escape(raw)
    assert _unescape_md(escaped) == raw
    bare = re.sub(r"\\.", "", escaped)  # what is left outside backslash escapes
    assert not set(bare) & set("\\`*[]<~$&"), (raw, escaped)
    assert "://" not in bare and not re.search(r"(^|\W)_|_(\W|$)", bare), (raw, escaped)


@pytest.mark.parametrize(("raw", "escaped"), [("1. x", "1\\. x"), ("- x", "\\- x"),
                                              ("+ x", "\\+ x"), ("---", "\\---"),
                                              ("www.host.com", "www\\.host.com"),
                                              ("# head", "\\# head"), ("> q", "\\> q"),
                                              ("a > b # c", "a > b # c"),
                                              ("http://h/", "http\\://h/"),
                                              ("shop_log", "shop_log"), ("_x_", "\\_x\\_"),
                                              ("'old.xlsx' (.xls)", "'old.xlsx' (.xls)"),
                                              ("no-such-user", "no-such-user")])
def test_markdown_escape_line_start_markers(raw, escaped):
    assert ui.md_escape(raw) == escaped


def test_markdown_escape_keeps_one_line():
    assert "\n" not in ui.md_escape("one\n# two\r\nthree")


def test_plot_escape():
    assert ui.plot_escape(LINK) == '&lt;a href="http://host/"&gt;cat&lt;/a&gt;'
    assert ui.plot_escape("R&D <br>") == "R&amp;D &lt;br&gt;"
    assert ui.plot_escape(None) == ""
    assert ui.plot_escape(7) == "7"


def _hostile_shop():
    """The planted shop with an item titled with markup, categories that are HTML and a source
    (the uploaded file's name) that is a markdown image."""
    ds, _ = planted_shop(per_cluster=40, n_users=200)
    catalog = ds.catalog.copy()
    catalog.loc[catalog["item_id"] == "I0000", "title"] = TITLE
    catalog["category"] = catalog["category"].replace({"cat-0": LINK, "cat-1": STYLED})
    return build_dataset(ds.interactions[["user_id", "item_id"]], catalog, name="planted",
                         meta={"source": IMAGE})


def _plot_specs(at: AppTest) -> list[dict]:
    return [json.loads(p.proto.spec) for p in at.get("plotly_chart")]


def _strings(spec: dict) -> str:
    """Every name, tick, text and annotation a figure shows, as one string."""
    parts = []
    for trace in spec.get("data", []):
        for field in ("name", "text", "y", "x", "customdata"):
            parts.append(json.dumps(trace.get(field, "")))
    for note in spec.get("layout", {}).get("annotations", []):
        parts.append(json.dumps(note.get("text", "")))
    return " ".join(parts)


@pytest.mark.usefixtures("navigation_apptest")
def test_catalog_escapes_source_name_and_categories(workspace_dir):
    Workspace(workspace_dir).save_dataset(_hostile_shop(), source=IMAGE, activate=True)
    at = open_page("catalog", timeout=120)
    assert not at.exception, [e.value for e in at.exception]
    captions = [c.value for c in at.caption]
    assert not any("![" in re.sub(r"\\.", "", c) for c in captions), captions
    assert any(ui.md_escape(IMAGE) in c for c in captions), captions
    at.selectbox(key="tail_by").set_value("category").run()
    assert not at.exception
    shown = " ".join(_strings(s) for s in _plot_specs(at))
    assert "<a href" not in shown and "<span" not in shown
    assert "&lt;a href" in shown


@pytest.mark.usefixtures("navigation_apptest")
def test_map_escapes_titles_categories_and_labels(workspace_dir):
    Workspace(workspace_dir).save_dataset(_hostile_shop(), source="test shop")
    at = open_page("map", timeout=120)
    at.selectbox(key="map_cfg.method").set_value("pca")
    at.selectbox(key="map_cfg.text_method").set_value("tfidf")
    at.selectbox(key="map_cfg.cluster_on").set_value("embedding")
    _draw(at)  # the build runs in the background; wait for it
    at.text_input(key="map_search").set_value("zebrawood").run()
    assert not at.exception, [e.value for e in at.exception]
    heading = next(m.value for m in at.markdown if "Nearest neighbours of" in m.value)
    bare = re.sub(r"\\.", "", heading)  # the markup a renderer would act on
    assert "![" not in bare and "<b>" not in bare and "*em*" not in bare and "](" not in bare
    assert ui.md_escape(TITLE) in heading
    hover = " ".join(_strings(s) for s in _plot_specs(at))
    assert "<b>bold" not in hover and "&lt;b&gt;bold" in hover
    at.radio(key="map_colour").set_value("category").run()
    assert not at.exception
    shown = " ".join(_strings(s) for s in _plot_specs(at))
    assert "<a href" not in shown and "<span" not in shown
    assert "&lt;a href" in shown and "&lt;span style" in shown


@pytest.mark.usefixtures("navigation_apptest")
def test_uploaded_file_name_is_shown_as_text(workspace_dir):
    from tests.test_app import interactions_csv, upload, validate

    Workspace(workspace_dir).save_dataset(_hostile_shop(), source="test shop", activate=True)
    at = open_page("catalog", timeout=120)
    at = upload(at, IMAGE, interactions_csv())
    at = validate(at)
    at.button(key="use_dataset").click().run()
    assert not at.exception, [e.value for e in at.exception]
    shown = [c.value for c in at.caption] + [s.value for s in at.success]
    assert not any("![" in re.sub(r"\\.", "", c) for c in shown), shown
    assert any(ui.md_escape(IMAGE) in c for c in shown), shown


@pytest.mark.usefixtures("navigation_apptest")
def test_whatif_exposure_chart_escapes_categories(workspace_dir):
    from recsys.data.splits import SplitConfig
    from recsys.jobs import train_models
    from tests.test_rerank import synthetic_dataset

    base = synthetic_dataset(n_users=150, n_items=80, seed=2, name="small-shop")
    catalog = base.catalog.copy()
    catalog["category"] = catalog["category"].replace({"Kitchen": LINK, "Garden": STYLED})
    ds = build_dataset(base.interactions, catalog, name="small-shop")
    ws = Workspace(workspace_dir)
    ws.save_dataset(ds, source="test", activate=True)
    job = train_models(ds, {"pop": {}}, split=SplitConfig(method="random", seed=0), workspace=ws)
    assert job.status == "done", job.message
    at = open_page("whatif", timeout=120)
    assert not at.exception, [e.value for e in at.exception]
    shown = " ".join(_strings(s) for s in _plot_specs(at))
    assert "<a href" not in shown and "<span" not in shown
    assert "&lt;a href" in shown and "&lt;span style" in shown
