"""Catalog page: load data (demo or upload → map → validate → use) and the long-tail profile."""

from __future__ import annotations

import logging

import pandas as pd
import streamlit as st

import ui
from catalog_profile import render_profile
from catalog_saved import render_datasets
from recsys import DatasetConfig, build_dataset
from recsys.data.formats import (
    INPUT_FORMATS,
    ReadOptions,
    demo_dataset,
    detect_format,
    load_files,
)
from recsys.data.public_formats import recognised_mapping
from recsys.data.reading import IngestError, read_table
from recsys.data.schema import CATALOG_ROLES, INTERACTION_ROLES, guess_mapping

UPLOAD_TYPES = ["csv", "tsv", "txt", "gz", "parquet", "pq", "xlsx", "data", "dat", "item"]
NONE = "(none)"
DELIMS = {"auto": None, "comma ,": ",", "semicolon ;": ";", "tab": "\t", "pipe |": "|"}
ENCODINGS = {"auto": None, "UTF-8": "utf-8", "Windows-1252": "cp1252", "latin-1": "latin-1"}
HEADERS = {"auto": None, "first row is a header": True, "no header row": False}

ui.ensure_router()
ds = ui.active_dataset()
st.title("Catalog")
ui.show_flash()
profile_tab, load_tab, datasets_tab = st.tabs(["Profile", "Load data", "Saved datasets"])


# ----------------------------------------------------------------------------- load data
log = logging.getLogger("tailstudio.catalog")


def unreadable(name: str, exc: Exception) -> str:
    """A readable message for a failure the reader did not foresee (logged with its trace)."""
    log.exception("reading %s failed", name)
    reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    return (f"'{ui.md_escape(name)}' could not be read ({ui.md_escape(reason)}). Check its "
            "delimiter, encoding and quoting in the reading options.")


def read_preview(upload, opts: ReadOptions, slot: str):
    """Read an uploaded file once per (file, options) for the preview and mapping form.

    One entry per ``slot`` (interactions, catalog), so previewing one file does not evict the other.
    """
    key = (upload.file_id, opts)
    cache = st.session_state.setdefault("_previews", {})
    hit = cache.get(slot)
    if hit is None or hit[0] != key:
        hit = cache[slot] = (key, read_table(upload, name=upload.name, delimiter=opts.delimiter,
                                             encoding=opts.encoding, header=opts.header,
                                             sheet=opts.sheet))
    return hit[1]


def reading_options(prefix: str) -> ReadOptions:
    with st.expander("Reading options (delimiter, encoding, header, sheet)"):
        c = st.columns(4)
        delim = c[0].selectbox("Delimiter", list(DELIMS), key=f"{prefix}_delim")
        enc = c[1].selectbox("Encoding", list(ENCODINGS), key=f"{prefix}_enc")
        header = c[2].selectbox("Header", list(HEADERS), key=f"{prefix}_header")
        sheet = c[3].text_input("Sheet (XLSX)", key=f"{prefix}_sheet").strip() or None
    return ReadOptions(DELIMS[delim], ENCODINGS[enc], HEADERS[header], sheet)


def mapping_inputs(columns: list[str], roles: tuple[str, ...], prefix: str,
                   required: tuple[str, ...]) -> dict[str, str | None]:
    guess = guess_mapping(columns, roles)
    options = [NONE, *columns]
    cols = st.columns(len(roles))
    out: dict[str, str | None] = {}
    for col, role in zip(cols, roles, strict=True):
        default = guess.get(role)
        label = role + (" *" if role in required else "")
        picked = col.selectbox(label, options, index=options.index(default) if default else 0,
                               key=f"{prefix}_{role}")
        out[role] = None if picked == NONE else picked
    return out


def render_report(result) -> None:
    report = result.report
    if report.ok:
        st.success(f"Validation passed: {report.rows_kept:,} of {report.rows_read:,} "
                   "interaction rows kept.")
    else:
        st.error("These files cannot be used yet: "
                 + " ".join(ui.md_escape(e.message) for e in report.errors))
    c = st.columns(5)
    c[0].metric("Rows read", f"{report.rows_read:,}")
    c[1].metric("Rows kept", f"{report.rows_kept:,}")
    c[2].metric("Rows dropped", f"{report.rows_dropped:,}")
    c[3].metric("Users", f"{report.n_users:,}")
    c[4].metric("Items", f"{report.n_items:,}", help=f"{report.n_cold_items:,} cold items")
    for line in report.reading:
        st.caption(ui.md_escape(line))
    if report.date_range:
        st.caption(f"Dates: {ui.md_escape(report.date_range)}")
    if report.issues:
        table = pd.DataFrame([{"level": i.level, "file": i.table, "issue": i.message,
                               "rows": f"{i.count:,}" if i.count else "—"} for i in report.issues])
        st.dataframe(table, hide_index=True, key="report_table")
        if report.drop_note:
            st.caption(ui.md_escape(report.drop_note))
        for issue in report.issues:
            if issue.sample:
                label = issue.message if len(issue.message) <= 70 else issue.message[:69] + "…"
                with st.expander(f"Example rows — {ui.md_escape(label)}"):
                    st.dataframe(pd.DataFrame(list(issue.sample)), hide_index=True)


def dataset_options(default_name: str) -> tuple[str, DatasetConfig | None]:
    c = st.columns(4)
    name = c[0].text_input("Dataset name", value=default_name, key="ds_name")
    threshold = c[1].number_input("Keep values ≥ (optional)", value=None, step=1.0,
                                  key="ds_threshold",
                                  help="e.g. 4 keeps only ratings of 4 and 5 as positive.")
    kcore = c[2].number_input("k-core", min_value=0, max_value=100, value=0, key="ds_kcore",
                              help="Keep users and items with at least k interactions.")
    head = c[3].slider("Head share", 0.5, 0.95, 0.8, 0.05, key="ds_head",
                       help="Short head = most popular items covering this share.")
    seen = c[1].checkbox("Below it: seen, never recommended", value=True, key="ds_below_seen",
                         disabled=threshold is None,
                         help="Interactions under the threshold (a 2-star rating, a return) are "
                         "not positives, but the user has seen the item: keep them so no list "
                         "recommends it back. Unticked, they are discarded.")
    try:
        config = DatasetConfig(head_share=head, mid_share=max(0.95, head),
                               rating_threshold=threshold, kcore=int(kcore),
                               below_threshold="seen" if seen else "drop")
    except ValueError as exc:
        st.error(f"Invalid options: {exc}")
        config = None
    return name.strip() or "dataset", config  # the workspace makes the folder name unique


def render_load() -> None:
    st.markdown("#### Demo shop")
    st.caption("A generated shop of 5,000 products over one year, with a genuine long tail.")
    if st.button("Load the demo shop", key="load_demo"):
        with st.spinner("Generating the demo shop…"):
            ui.save_and_activate(demo_dataset(), source="generated demo shop")
        ui.flash("The demo shop is now the active dataset.")
        st.rerun()

    st.markdown("#### Your files")
    fmt = st.selectbox("Format", INPUT_FORMATS, key="upload_format",
                       help="auto recognises MovieLens and UCI Online Retail files.")
    left, right = st.columns(2)
    limit, note = ui.upload_limit_mb()
    if note:
        st.caption(note)
    inter_file = left.file_uploader(f"Interaction log (CSV, TSV, gz, Parquet, XLSX; ≤ {limit} MB)",
                                    type=UPLOAD_TYPES, key="upload_interactions",
                                    max_upload_size=limit)
    cat_file = right.file_uploader("Catalog (optional)", type=UPLOAD_TYPES,
                                   key="upload_catalog", max_upload_size=limit)
    opts = reading_options("inter")
    if inter_file is None:
        st.info("Upload an interaction log: one row per user–item event, e.g. CustomerID, "
                "StockCode, InvoiceDate, Quantity. Nothing loaded is replaced until you press "
                "**Use this dataset**.")
        return
    try:
        raw = read_preview(inter_file, opts, "interactions")
        cat_raw = read_preview(cat_file, ReadOptions(), "catalog") if cat_file is not None else None
    except Exception as exc:  # IngestError says what is wrong; anything else still must not crash
        st.error(ui.md_escape(exc) if isinstance(exc, IngestError)
                 else unreadable(inter_file.name, exc))
        st.caption("The active dataset was kept.")
        return
    detected = detect_format(inter_file.name, raw) if fmt == "auto" else fmt
    st.caption(f"{ui.md_escape(raw.name)}: {ui.md_escape(raw.describe())} — format: "
               f"**{detected}**")
    for note in raw.notes:
        st.warning(ui.md_escape(note))
    st.dataframe(raw.frame.head(5), hide_index=True, key="raw_preview")

    own = False
    if detected != "generic":
        st.markdown(f"**Recognised as {detected}**: its columns are mapped like this")
        st.dataframe(pd.DataFrame(recognised_mapping(detected, list(raw.frame.columns))),
                     hide_index=True, key="format_mapping")
        own = st.checkbox("Map the columns myself", key="map_own",
                          help=f"Read the file as a generic table with your own column mapping "
                          f"instead of the {detected} rules (which, for example, drop "
                          "cancelled invoices and sum quantities).")
    file_format = "generic" if own else fmt
    with st.form("mapping_form"):
        mapping, cat_mapping = None, None
        if detected == "generic" or own:
            st.markdown("**Interaction columns** (* required)")
            mapping = mapping_inputs([str(c) for c in raw.frame.columns], INTERACTION_ROLES,
                                     "map", ("user_id", "item_id"))
            kinds = ["rating", "quantity", "weight"]
            guessed_kind = guess_mapping(raw.frame.columns).value_kind
            kind = st.radio("The value column holds", kinds,
                            index=kinds.index(guessed_kind if guessed_kind in kinds else "weight"),
                            horizontal=True, key="map_kind")
            if cat_raw is not None:
                st.markdown("**Catalog columns**")
                cat_mapping = mapping_inputs([str(c) for c in cat_raw.frame.columns],
                                             CATALOG_ROLES, "cmap", ("item_id",))
        else:
            kind = None
        stem = inter_file.name.split(".")[0]
        name, config = dataset_options(stem)
        submitted = st.form_submit_button("Validate", type="primary")
    if submitted and config is not None:
        try:
            with st.spinner("Validating…"):
                result = load_files(inter_file, cat_file, file_format=file_format, mapping=mapping,
                                    catalog_mapping=cat_mapping, value_kind=kind,
                                    read_options=opts, interactions_name=inter_file.name,
                                    catalog_name=cat_file.name if cat_file else None)
        except Exception as exc:
            st.error(ui.md_escape(exc) if isinstance(exc, IngestError)
                     else unreadable(inter_file.name, exc))
            st.caption("The active dataset was kept.")
            return
        st.session_state[ui.PENDING] = {"result": result, "config": config, "name": name,
                                        "file": inter_file.file_id}
    pending = st.session_state.get(ui.PENDING)
    if not pending or pending["file"] != inter_file.file_id:
        return
    st.markdown("#### Validation report")
    render_report(pending["result"])
    result = pending["result"]
    if st.button("Use this dataset", type="primary", disabled=not result.ok, key="use_dataset"):
        try:
            new = build_dataset(result.interactions, result.catalog, users=result.users,
                                config=pending["config"], name=pending["name"],
                                meta={"source": result.report.source})
        except ValueError as exc:
            st.error(f"The dataset could not be built: {ui.md_escape(exc)}")
            return
        if new.n_pairs == 0:
            st.error("No interaction is left after the rating threshold and k-core filter; "
                     "relax them and validate again.")
            return
        ui.save_and_activate(new, report=result.report.to_dict(), source=result.report.source)
        st.session_state.pop(ui.PENDING, None)
        ui.flash(f"'{ui.md_escape(new.name)}' is now the active dataset ({new.n_users:,} users, "
                 f"{new.n_items:,} items).")
        st.rerun()


with profile_tab:
    render_profile(ds)
with load_tab:
    render_load()
with datasets_tab:
    render_datasets()
