"""Dashboard tests with Streamlit's AppTest: start-up, upload → validate → use, bad uploads, switching.

Each test runs the real ``app.py`` (router, sidebar and Catalog page) against its own workspace
folder. AppTest drives ``st.file_uploader`` directly (``set_value((name, bytes, mime))``), so the
upload path is the one a browser takes, minus the HTTP upload.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from recsys import Workspace, build_dataset
from recsys.data.formats import DEMO_NAME, demo_dataset

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
TIMEOUT = 120
DEMO_METRICS = {"Users": "3,000", "Items": "5,000", "Interactions": "65,235", "Cold items": "200"}

pytestmark = pytest.mark.usefixtures("navigation_apptest")


# --------------------------------------------------------------------------- helpers


def interactions_csv(users: int = 20, per_user: int = 5, bad_rows: bool = True) -> bytes:
    """An order-line CSV: ``users × per_user`` good rows (30 distinct items), then 3 bad rows."""
    lines = ["CustomerID,StockCode,InvoiceDate,Quantity"]
    for u in range(users):
        for i in range(per_user):
            lines.append(f"{1000 + u},SKU{(3 * u + i) % 30:03d},2024-01-{i + 1:02d} 10:00,{i + 1}")
    if bad_rows:
        lines += [
            ",SKU001,2024-01-01 10:00,1",  # no customer
            "1001,SKU002,2024-01-01 10:00,-3",  # a return
            "1002,SKU003,not a date,2",  # unreadable timestamp
        ]
    return ("\n".join(lines) + "\n").encode()


def catalog_csv(items: int = 35) -> bytes:
    """A catalog for SKU000…: the first 30 are bought, the rest are cold items."""
    lines = ["StockCode,Description,Category,UnitPrice"]
    lines += [f"SKU{i:03d},Lantern {i},{'Garden' if i % 2 else 'Kitchen'},{1.5 + i}" for i in range(items)]
    return ("\n".join(lines) + "\n").encode()


def start(timeout: float = TIMEOUT) -> AppTest:
    """Run the app once (a browser opening the page) and check it did not raise."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def restart() -> AppTest:
    """A fresh session on a fresh server: new AppTest and no cached datasets or workspaces."""
    st.cache_resource.clear()
    st.cache_data.clear()
    return start()


def active_json(ws: Path) -> str:
    return json.loads((ws / "active.json").read_text())["dataset"]


def sidebar_dataset(at: AppTest) -> str:
    return at.sidebar.selectbox(key="sidebar_dataset").value


def metrics(at: AppTest) -> dict[str, str]:
    """Metric label → value; the first one wins (the profile's come before the report's)."""
    out: dict[str, str] = {}
    for m in at.metric:
        out.setdefault(m.label, m.value)
    return out


def report_metrics(at: AppTest) -> dict[str, str]:
    """The validation report's metrics (the last five metrics of the page)."""
    return {m.label: m.value for m in list(at.metric)[-5:]}


def upload(at: AppTest, name: str, data: bytes, key: str = "upload_interactions",
           mime: str = "text/csv") -> AppTest:
    at.file_uploader(key=key).set_value((name, data, mime))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def validate(at: AppTest) -> AppTest:
    (button,) = [b for b in at.button if b.label == "Validate"]
    button.click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def table_with(at: AppTest, column: str) -> pd.DataFrame:
    """The first st.dataframe holding ``column`` (display-only frames carry no key in AppTest)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace holding the (active) demo shop, generated once and copied into each test."""
    root = tmp_path_factory.mktemp("demo-template")
    Workspace(root).save_dataset(demo_dataset(), source="generated demo shop", activate=True)
    return root


@pytest.fixture
def demo_ws(workspace_dir: Path, demo_template: Path) -> Path:
    """This test's own workspace, starting with the demo shop active (as after a first start)."""
    shutil.copytree(demo_template, workspace_dir)
    return workspace_dir


# --------------------------------------------------------------------------- (a) start-up


def test_fresh_workspace_generates_demo_shop(workspace_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # paths in the app must not depend on the working directory
    assert not workspace_dir.exists()
    at = start()
    assert not at.error, texts(at.error)
    assert at.title[0].value == "Catalog"
    assert [t.label for t in at.tabs] == ["Profile", "Load data", "Saved datasets"]
    shown = metrics(at)
    for label, value in DEMO_METRICS.items():
        assert shown[label] == value, label
    assert 0.0 < float(shown["Gini of interactions"]) < 1.0

    assert sidebar_dataset(at) == DEMO_NAME
    sidebar_text = texts(at.sidebar.markdown) + texts(at.sidebar.caption)
    assert "Active dataset" in sidebar_text and "Compute device" in sidebar_text
    assert "**3,000** users" in sidebar_text
    assert "CPU" in texts(at.sidebar.caption)

    assert active_json(workspace_dir) == DEMO_NAME
    assert (workspace_dir / "datasets" / DEMO_NAME / "interactions.parquet").exists()

    at.run()  # a rerun (any widget interaction) keeps the router, sidebar and page
    assert not at.exception
    assert sidebar_dataset(at) == DEMO_NAME
    assert metrics(at)["Users"] == "3,000"


# --------------------------------------------------------------------------- (b) upload → use


def test_upload_validate_and_use_persists(demo_ws: Path) -> None:
    at = start()
    at = upload(at, "shop_log.csv", interactions_csv())
    assert "shop_log.csv: CSV, encoding utf-8, delimiter comma, 103 rows × 4 columns" in texts(at.caption)
    # Guessed mapping of the generic format
    assert at.selectbox(key="map_user_id").value == "CustomerID"
    assert at.selectbox(key="map_item_id").value == "StockCode"
    assert at.selectbox(key="map_timestamp").value == "InvoiceDate"
    assert at.selectbox(key="map_value").value == "Quantity"
    assert at.radio(key="map_kind").value == "quantity"
    assert at.text_input(key="ds_name").value == "shop_log"
    assert [b.key for b in at.button if b.key == "use_dataset"] == []  # nothing to use before Validate

    at = validate(at)
    assert "Validation passed: 100 of 103 interaction rows kept." in texts(at.success)
    assert report_metrics(at) == {"Rows read": "103", "Rows kept": "100", "Rows dropped": "3",
                                  "Users": "20", "Items": "30"}
    issues = table_with(at, "issue")
    assert set(issues["level"]) <= {"warning", "info"}
    messages = " ".join(issues["issue"])
    assert "without a user id" in messages and "negative quantity" in messages
    assert "timestamp" in messages
    # Validation alone changes nothing
    assert active_json(demo_ws) == DEMO_NAME and sidebar_dataset(at) == DEMO_NAME

    use = at.button(key="use_dataset")
    assert not use.disabled
    use.click().run()
    assert not at.exception
    assert "'shop_log' is now the active dataset (20 users, 30 items)." in texts(at.success)
    assert active_json(demo_ws) == "shop_log"
    assert sidebar_dataset(at) == "shop_log"
    assert at.sidebar.selectbox(key="sidebar_dataset").options == ["shop_log", DEMO_NAME]
    assert "**20** users · **30** items · **100** interactions" in texts(at.sidebar.caption)
    assert metrics(at)["Interactions"] == "100"
    meta = json.loads((demo_ws / "datasets" / "shop_log" / "meta.json").read_text())
    assert meta["report"]["rows_dropped"] == 3 and meta["source"] == "shop_log.csv"

    # A browser refresh / server restart: same workspace, new session, empty caches
    again = restart()
    assert sidebar_dataset(again) == "shop_log"
    assert metrics(again)["Users"] == "20"
    assert "**shop_log**" in texts(again.caption)
    assert not again.success  # the flash message was shown once only


def test_upload_with_catalog(demo_ws: Path) -> None:
    at = start()
    at = upload(at, "lines.csv", interactions_csv(bad_rows=False))
    at = upload(at, "products.csv", catalog_csv(), key="upload_catalog")
    assert at.selectbox(key="cmap_item_id").value == "StockCode"
    assert at.selectbox(key="cmap_title").value == "Description"
    assert at.selectbox(key="cmap_price").value == "UnitPrice"
    at.text_input(key="ds_name").set_value("garden shop")
    at = validate(at)
    assert report_metrics(at) == {"Rows read": "100", "Rows kept": "100", "Rows dropped": "0",
                                  "Users": "20", "Items": "35"}
    at.button(key="use_dataset").click().run()
    assert not at.exception
    assert active_json(demo_ws) == "garden-shop"  # a file-system-safe name
    shown = metrics(at)
    assert shown["Items"] == "35" and shown["Cold items"] == "5"
    assert at.selectbox(key="tail_by").value == "category"


def test_names_with_the_same_folder_never_replace_each_other(demo_ws: Path) -> None:
    at = start()
    for display in ("日本の店", "中国商店", "my shop", "my/shop"):
        at = upload(at, "log.csv", interactions_csv(bad_rows=False))
        at.text_input(key="ds_name").set_value(display)
        at = validate(at)
        at.button(key="use_dataset").click().run()
        assert not at.exception
    names = Workspace(demo_ws).names()
    assert len(names) == 5 and len(set(names)) == 5  # the demo shop and four uploads
    displays = {m["display_name"] for m in Workspace(demo_ws).list_datasets()}
    assert {"日本の店", "中国商店", "my shop", "my/shop"} <= displays


def test_ratings_below_the_threshold_are_kept_as_seen(demo_ws: Path) -> None:
    lines = ["user_id,item_id,value"]
    for u in range(12):
        lines += [f"u{u},m{(u + i) % 15},{5 if i % 3 else 2}" for i in range(6)]
    at = start()
    at = upload(at, "ratings.csv", ("\n".join(lines) + "\n").encode())
    at.number_input(key="ds_threshold").set_value(4.0)
    at = validate(at)
    at.button(key="use_dataset").click().run()
    assert not at.exception
    assert "are kept as seen" in texts(at.caption)
    assert "24 user–item pairs below the rating threshold (≥ 4)" in texts(at.caption)
    assert (demo_ws / "datasets" / "ratings" / "context.parquet").exists()


# --------------------------------------------------------------------------- (c) bad uploads


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("empty.csv", b"", "'empty.csv' is empty (0 bytes). Choose a file that contains data."),
        ("junk.csv", bytes(range(256)) * 64, "'junk.csv' looks like a binary file, not a text table."),
        ("blank.csv", b"\n\n  \n", "'blank.csv' contains only blank lines."),
        ("header.csv", b"CustomerID,StockCode\n", "'header.csv' has a header but no data rows."),
        ("broken.parquet", b"PAR1" + b"\x01" * 64, "'broken.parquet' is not a readable Parquet file"),
        ("old.xlsx", b"\xd0\xcf\x11\xe0" + b"\x00" * 64, "'old.xlsx' is a legacy Excel (.xls)"),
    ],
    ids=["empty", "binary", "blank-lines", "header-only", "parquet", "xls"],
)
def test_unreadable_upload_shows_error_and_keeps_dataset(demo_ws: Path, name: str, data: bytes,
                                                         message: str) -> None:
    at = start()
    at = upload(at, name, data)
    errors = texts(at.error)
    assert message in errors
    assert "The active dataset was kept." in texts(at.caption)
    assert not [b for b in at.button if b.label == "Validate" or b.key == "use_dataset"]
    assert active_json(demo_ws) == DEMO_NAME
    assert sidebar_dataset(at) == DEMO_NAME
    assert metrics(at)["Users"] == "3,000"


def test_upload_without_id_columns_cannot_be_used(demo_ws: Path) -> None:
    at = start()
    at = upload(at, "sales.csv", b"when,amount\n2024-01-01,3\n2024-01-02,4\n")
    assert at.selectbox(key="map_user_id").value == "(none)"
    assert at.selectbox(key="map_item_id").value == "(none)"
    at = validate(at)
    errors = texts(at.error)
    assert "These files cannot be used yet: No user id column. Columns found: when, amount." in errors
    assert "No item id column." in errors
    assert report_metrics(at)["Rows kept"] == "0"
    assert at.button(key="use_dataset").disabled
    assert active_json(demo_ws) == DEMO_NAME
    assert sidebar_dataset(at) == DEMO_NAME
    assert not (demo_ws / "datasets" / "sales").exists()


def test_upload_with_no_valid_row_cannot_be_used(demo_ws: Path) -> None:
    data = b"CustomerID,StockCode,Quantity\n,A,1\n17850,,2\n17851,B,-1\n"
    at = upload(start(), "returns.csv", data)
    at = validate(at)
    assert "No interaction row survived validation" in texts(at.error)
    assert report_metrics(at)["Rows dropped"] == "3"
    assert at.button(key="use_dataset").disabled
    assert active_json(demo_ws) == DEMO_NAME


# --------------------------------------------------------------------------- (d) saved datasets


@pytest.fixture
def two_datasets(demo_ws: Path) -> Path:
    """The demo shop (active) plus a small saved dataset ``tiny``."""
    inter = pd.DataFrame({"user_id": ["u1", "u1", "u2", "u3"], "item_id": ["a", "b", "a", "c"]})
    Workspace(demo_ws).save_dataset(build_dataset(inter, name="tiny"), source="test", activate=False)
    assert active_json(demo_ws) == DEMO_NAME
    return demo_ws


def test_saved_datasets_tab_switches_active(two_datasets: Path) -> None:
    at = start()
    table = table_with(at, "active")
    assert set(table["name"]) == {DEMO_NAME, "tiny"}
    assert table.set_index("name").loc[DEMO_NAME, "active"]
    assert at.button(key="delete_dataset").disabled  # needs the confirmation tick

    at.selectbox(key="manage_dataset").set_value("tiny")
    at.button(key="make_active").click().run()
    assert not at.exception
    assert "'tiny' is now the active dataset." in texts(at.success)
    assert active_json(two_datasets) == "tiny"
    assert sidebar_dataset(at) == "tiny"
    assert metrics(at)["Users"] == "3" and metrics(at)["Items"] == "3"
    assert table_with(at, "active").set_index("name").loc["tiny", "active"]

    # ... and back through the sidebar switcher
    at.sidebar.selectbox(key="sidebar_dataset").set_value(DEMO_NAME).run()
    assert not at.exception
    assert active_json(two_datasets) == DEMO_NAME
    assert metrics(at)["Users"] == "3,000"
    assert sidebar_dataset(restart()) == DEMO_NAME


def test_two_sessions_keep_their_own_active_dataset(two_datasets: Path) -> None:
    """Analyst B's page and exports stay on B's dataset while A switches the sidebar."""
    a, b = start(), start()
    assert sidebar_dataset(a) == sidebar_dataset(b) == DEMO_NAME
    a.sidebar.selectbox(key="sidebar_dataset").set_value("tiny").run()
    assert not a.exception and sidebar_dataset(a) == "tiny" and metrics(a)["Users"] == "3"
    b.run()  # B's next interaction: still the demo shop
    assert not b.exception
    assert sidebar_dataset(b) == DEMO_NAME and metrics(b)["Users"] == "3,000"
    b.switch_page("pages/export.py").run()
    assert not b.exception and sidebar_dataset(b) == DEMO_NAME
    # The workspace remembers A's choice only as the default of a new session.
    assert active_json(two_datasets) == "tiny"
    assert sidebar_dataset(start()) == "tiny"
    b.switch_page("pages/catalog.py").run()
    assert table_with(b, "active").set_index("name").loc[DEMO_NAME, "active"]


def test_deleting_the_active_dataset_falls_back(two_datasets: Path) -> None:
    at = start()
    at.selectbox(key="manage_dataset").set_value(DEMO_NAME)
    at.checkbox(key="confirm_delete").check().run()
    at.button(key="delete_dataset").click().run()
    assert not at.exception
    assert f"'{DEMO_NAME}' was deleted." in texts(at.success)
    assert not (two_datasets / "datasets" / DEMO_NAME).exists()
    assert sidebar_dataset(at) == "tiny"
    assert active_json(two_datasets) == "tiny"


# --------------------------------------------------------------------------- known issue


def test_first_request_for_page_url_runs_router(demo_ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.runtime.pages_manager import PagesManager

    monkeypatch.setattr(PagesManager, "__init__", PagesManager.__init__.__wrapped__)  # no shim
    at = start()  # "/" runs app.py (via the legacy path, which then calls st.navigation)
    at.run()  # AppTest now asks for the catalog page in a fresh process state, as a deep link does
    assert not at.exception
    assert sidebar_dataset(at) == DEMO_NAME


def test_server_config_does_not_watch_source_files() -> None:
    """With torch and sentence-transformers loaded, Streamlit's source watcher kept the server's
    event loop busy and made the demo map three times slower (210 s against 70 s); the shipped
    config turns it off and keeps the upload limit."""
    import tomllib

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["fileWatcherType"] == "none"
    assert config["server"]["maxUploadSize"] == 500


def test_upload_limit_is_the_smaller_of_library_and_server(demo_ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAILSTUDIO_MAX_UPLOAD_MB", "100000")  # above any server setting
    at = start()
    server = int(st.get_option("server.maxUploadSize"))
    label = at.file_uploader(key="upload_interactions").label
    assert f"≤ {server} MB" in label
    assert any("server.maxUploadSize" in c.value and "100,000 MB" in c.value for c in at.caption)
    monkeypatch.setenv("TAILSTUDIO_MAX_UPLOAD_MB", "1")
    at = start()
    assert "≤ 1 MB" in at.file_uploader(key="upload_interactions").label
    assert not any("server.maxUploadSize" in c.value for c in at.caption)
