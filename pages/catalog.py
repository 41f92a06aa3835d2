"""Catalog page: load data (demo or upload → map → validate → use) and the long-tail profile."""

from __future__ import annotations

import logging

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

import ui
from recsys import Dataset, DatasetConfig, build_dataset
from recsys.data.dataset import SEGMENT_NAMES, SEGMENTS
from recsys.data.formats import (
    INPUT_FORMATS,
    ReadOptions,
    demo_dataset,
    detect_format,
    load_files,
)
from recsys.data.profile import (
    item_table,
    lorenz_curve,
    profile_summary,
    segment_stats,
    segment_table,
    tail_share_by,
)
from recsys.data.public_formats import recognised_mapping
from recsys.data.reading import IngestError, read_table
from recsys.data.schema import CATALOG_ROLES, INTERACTION_ROLES, guess_mapping
from recsys.evaluation import gini
from recsys.rerank.business import revenue_by_segment
from recsys.workspace import WorkspaceError

UPLOAD_TYPES = ["csv", "tsv", "txt", "gz", "parquet", "pq", "xlsx", "data", "dat", "item"]
NONE = "(none)"
SEGMENT_COLORS = {"head": "#0f766e", "mid": "#67e8f9", "far tail": "#f59e0b"}
SEGMENT_ORDER = [SEGMENT_NAMES[s] for s in SEGMENTS]
DELIMS = {"auto": None, "comma ,": ",", "semicolon ;": ";", "tab": "\t", "pipe |": "|"}
ENCODINGS = {"auto": None, "UTF-8": "utf-8", "Windows-1252": "cp1252", "latin-1": "latin-1"}
HEADERS = {"auto": None, "first row is a header": True, "no header row": False}
#: Groups drawn in "Tail share per category" (largest first); the rest share one bar.
TAIL_GROUPS = 15

ui.ensure_router()
ds = ui.active_dataset()
st.title("Catalog")
ui.show_flash()
profile_tab, load_tab, datasets_tab = st.tabs(["Profile", "Load data", "Saved datasets"])


# ----------------------------------------------------------------------------- profile
def render_profile() -> None:
    """The active dataset's profile: headline figures, popularity, segments and the items."""
    if ds is None:
        st.info("No dataset yet: load the demo shop or upload files in **Load data**.")
        return
    summary = profile_summary(ds)
    profile_headline(ds, summary)
    left, right = st.columns(2)
    with left:
        popularity_curve(ds, summary)
    with right:
        segment_tables(ds)
    groups = [c for c in ("category", "brand", "subcategory") if c in ds.catalog.columns]
    items = named_segments(item_table(ds)).rename(columns={"is_tail": "long tail"})
    left, right = st.columns(2)
    with left:
        tail_share_chart(ds, groups)
    with right:
        price_or_recency_chart(items)
    item_browser(items)


def profile_headline(ds: Dataset, summary: dict) -> None:
    """Name, source and the six headline metrics."""
    s = ds.summary()
    st.caption(f"**{ui.md_escape(ds.name)}** · {ui.md_escape(ds.meta.get('source', ''))} · "
               f"head = items covering "
               f"{ds.config.head_share:.0%} of interactions")
    if ds.n_context_pairs:
        st.caption(f"{ds.n_context_pairs:,} user–item pairs below the rating threshold "
                   f"(≥ {ds.config.rating_threshold:g}) are kept as seen: they are not positives, "
                   "and no list recommends them back to the user.")
    if s["pairs"] != s["interactions"]:
        st.caption(f"Interactions = {s['interactions']:,} events (rows kept); they form "
                   f"{s['pairs']:,} distinct user–item pairs, which the head / mid / far tail table "
                   "counts.")
    c = st.columns(6)
    c[0].metric("Users", f"{s['users']:,}")
    c[1].metric("Items", f"{s['items']:,}")
    c[2].metric("Interactions", f"{s['interactions']:,}",
                help=f"Interaction events (rows kept). They form {s['pairs']:,} distinct "
                "user–item pairs, which the head / mid / far tail table and the popularity curve "
                "count.")
    c[3].metric("Gini of interactions", f"{summary['gini']:.3f}",
                help="0 = every item equally popular, 1 = one item gets everything.")
    c[4].metric("Head items", f"{summary['head_items_share']:.1%}",
                help=f"Share of items that take {ds.config.head_share:.0%} of interactions.")
    c[5].metric("Cold items", f"{summary['cold_items']:,}", help="Items with no interaction.")


def popularity_curve(ds: Dataset, summary: dict) -> None:
    """The Lorenz curve of item popularity, with where the head starts."""
    lc = lorenz_curve(ds.popularity)
    fig = go.Figure()
    fig.add_scatter(x=lc["items_share"], y=lc["interactions_share"], mode="lines",
                    name="Lorenz curve", line=dict(color="#0f766e", width=3))
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", name="equal popularity",
                    line=dict(color="#9ca3af", dash="dash"))
    head_x = 1 - summary["head_items_share"]
    fig.add_vline(x=head_x, line_dash="dot", line_color="#f59e0b",
                  annotation_text="head starts", annotation_position="top left")
    fig.update_layout(title=f"Popularity curve (Gini {gini(ds.popularity):.3f})",
                      xaxis_title="share of items (least popular first)",
                      yaxis_title="share of interactions", height=380,
                      xaxis_tickformat=".0%", yaxis_tickformat=".0%",
                      legend=dict(orientation="h", y=-0.25))
    st.plotly_chart(fig, key="lorenz")


def named_segments(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its segment codes shown by name (head / mid / far tail)."""
    return frame.assign(segment=frame["segment"].map(SEGMENT_NAMES).fillna(frame["segment"]))


def segment_tables(ds: Dataset) -> None:
    """Head / mid / far tail shares, then price, recency and revenue per segment."""
    seg = named_segments(segment_table(ds))
    st.markdown("**Head / mid / far tail**")
    # Shares first: in a half-width column the last columns scroll out of view.
    st.dataframe(seg, hide_index=True, column_order=[
        "segment", "items_share", "interactions_share", "items", "interactions",
        "mean_popularity", "cold_items"], column_config={
        "items_share": st.column_config.ProgressColumn("items share", format="percent",
                                                       min_value=0.0, max_value=1.0),
        "interactions": st.column_config.NumberColumn("user–item pairs"),
        "interactions_share": st.column_config.ProgressColumn(
            "pairs share", format="percent", min_value=0.0, max_value=1.0),
        "mean_popularity": st.column_config.NumberColumn("mean popularity", format="%.1f"),
        "cold_items": st.column_config.NumberColumn("cold items"),
    })
    st.caption(f"Interactions here are distinct user–item pairs ({ds.n_pairs:,} in all, from "
               f"{ds.n_interactions:,} interaction events): popularity = distinct users per item. "
               "Mid and far tail together form the **long tail** that every tail metric "
               "counts.")
    stats = named_segments(segment_stats(ds))
    st.markdown("**Price and recency by segment**")
    st.dataframe(stats, hide_index=True, column_config={
        "median_price": st.column_config.NumberColumn("median price", format="%.2f"),
        "median_days_since_last": st.column_config.NumberColumn(
            "median days since last", format="%.0f",
            help="Days between an item's last interaction and the end of the data."),
        "new_last_90d_share": st.column_config.NumberColumn(
            "new in last 90 days", format="percent",
            help="Share of items first seen in the last 90 days of the data."),
    })
    revenue = revenue_by_segment(ds)
    if revenue is not None:
        revenue = named_segments(revenue)
        st.markdown("**Revenue by segment**")
        st.dataframe(revenue, hide_index=True, column_order=[
            "segment", "revenue share", "items share", "revenue", "priced events"], column_config={
            "revenue share": st.column_config.ProgressColumn(
                "revenue share", format="percent", min_value=0.0, max_value=1.0),
            "items share": st.column_config.NumberColumn("items share", format="percent"),
            "revenue": st.column_config.NumberColumn("revenue", format="localized"),
            "priced events": st.column_config.NumberColumn(
                "events with a price", format="percent"),
        })
        long_tail = float(revenue.loc[revenue["segment"] != "head", "revenue share"].sum())
        st.caption(f"Revenue = catalog price × quantity (× 1 per event without a quantity) over "
                   f"the kept interactions. The long tail (mid + far tail) brings {long_tail:.1%} of "
                   "it.")


def tail_share_chart(ds: Dataset, groups: list[str]) -> None:
    """Share of long-tail items per category (or brand, subcategory)."""
    if groups:
        by = st.selectbox("Long-tail share by", groups, key="tail_by")
        share = tail_share_by(ds, by, top=TAIL_GROUPS)
        # Highest tail share on top, the pooled rest last: one labelled bar per row.
        share = share.sort_values(["pooled", "tail_share"], ascending=[True, False], kind="stable")
        share["group"] = ui.plot_escape_column(share["group"])  # category names are uploaded
        fig = px.bar(share, x="tail_share", y="group", orientation="h",
                     hover_data=["items", "tail_items", "interactions_share"],
                     labels={"tail_share": "share of items in the long tail", "group": by,
                             "interactions_share": "share of interactions"},
                     color="interactions_share", color_continuous_scale="Teal")
        groups_shown = share["group"].tolist()
        fig.update_layout(height=max(320, 24 * len(share) + 140), xaxis_tickformat=".0%",
                          title=f"Long-tail share per {by}",
                          yaxis=dict(autorange="reversed", type="category", tickmode="array",
                                     tickvals=groups_shown, ticktext=groups_shown,
                                     automargin=True))
        st.plotly_chart(fig, key="tail_share")
        if share["pooled"].any():
            st.caption(f"The {TAIL_GROUPS} {by} values with the most items, then the other "
                       f"{by} values pooled in one bar.")
    else:
        st.info("The catalog has no category or brand column, so tail share per category "
                "cannot be shown.")


def price_or_recency_chart(items: pd.DataFrame) -> None:
    """Price by segment when the catalog has prices, else when items were last seen."""
    if "price" in items.columns and items["price"].notna().any():
        fig = px.box(items.dropna(subset=["price"]), x="segment", y="price",
                     color="segment", color_discrete_map=SEGMENT_COLORS, log_y=True,
                     category_orders={"segment": SEGMENT_ORDER},
                     title="Price by segment")
        fig.update_layout(height=460, showlegend=False)
        # Plotly's default log ticks repeat bare digits (2, 5, 2, 10…); label 1-2-5 steps instead.
        fig.update_yaxes(title="price (log scale)",
                         tickvals=[m * 10**e for e in range(-2, 6) for m in (1, 2, 5)])
        st.plotly_chart(fig, key="price_box")
    elif items["last_seen"].notna().any():
        fig = px.histogram(items, x="last_seen", color="segment",
                           color_discrete_map=SEGMENT_COLORS, title="Last interaction")
        st.plotly_chart(fig, key="recency_hist")


def item_browser(items: pd.DataFrame) -> None:
    """The item table, filtered by a search, segments and categories."""
    st.markdown("**Items**")
    f1, f2, f3 = st.columns([2, 1, 1])
    query = f1.text_input("Search title or id", key="item_search", placeholder="e.g. lantern")
    segs = f2.multiselect("Segment", SEGMENT_ORDER, key="item_segments")
    cats = []
    if "category" in items.columns:
        cats = f3.multiselect("Category", sorted(items["category"].dropna().unique()),
                              key="item_categories")
    view = items
    if query:
        q = query.strip()
        view = view.loc[view["title"].str.contains(q, case=False, regex=False)
                        | view["item_id"].str.contains(q, case=False, regex=False)]
    if segs:
        view = view.loc[view["segment"].isin(segs)]
    if cats:
        view = view.loc[view["category"].isin(cats)]
    st.caption(f"{len(view):,} of {len(items):,} items")
    st.dataframe(view.sort_values("popularity", ascending=False), hide_index=True, height=420,
                 column_config={"price": st.column_config.NumberColumn(format="%.2f")})


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


# ----------------------------------------------------------------------------- datasets
def render_datasets() -> None:
    ws = ui.workspace()
    saved = ws.list_datasets()
    if not saved:
        st.info("No saved dataset.")
        return
    rows = [{"name": m["name"], "users": m["summary"]["users"], "items": m["summary"]["items"],
             "interactions": m["summary"]["interactions"], "source": m.get("source", ""),
             "saved": m.get("saved_at", ""), "active": m["name"] == ui.active_name()}
            for m in saved]
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="datasets_table")
    names = [r["name"] for r in rows]
    c1, c2, c3 = st.columns([2, 1, 1])
    chosen = c1.selectbox("Dataset", names, key="manage_dataset")
    if c2.button("Make active", key="make_active"):
        ui.set_active(chosen)
        ui.flash(f"'{ui.md_escape(chosen)}' is now the active dataset.")
        st.rerun()
    confirm = c3.checkbox("Confirm delete", key="confirm_delete")
    if c3.button("Delete", disabled=not confirm, key="delete_dataset"):
        ws.delete_dataset(chosen)
        ui.flash(f"'{ui.md_escape(chosen)}' was deleted.")
        st.rerun()
    render_kept(chosen)


def confirmed_delete(label: str, key: str, delete, done: str, left=st, right=st) -> None:
    """A "Confirm delete" checkbox (in ``left``) arming a ``label`` button (in ``right``) that
    runs ``delete``, then says ``done`` on the next run."""
    sure = left.checkbox("Confirm delete", key=f"{key}_confirm")
    if right.button(label, disabled=not sure, key=f"{key}_delete"):
        delete()
        st.session_state.pop(f"{key}_confirm", None)
        ui.flash(done)
        st.rerun()


def render_kept(name: str) -> None:
    """What is kept for dataset ``name``: its trained models and item sets, to delete or (item
    sets) rename."""
    ws = ui.workspace()
    st.markdown(f"**Kept for '{ui.md_escape(name)}'**")
    left, right = st.columns(2)
    with left:
        runs = sorted(ws.kept_runs(name), key=lambda m: m.saved_at or "", reverse=True)
        if not runs:
            st.caption("No trained model kept.")
        else:
            st.dataframe(pd.DataFrame([{
                "run": m.run, "model": m.model, "NDCG@K": m.results.metric("ndcg"),
                "saved": ui.local_time(m.saved_at)} for m in runs]), hide_index=True,
                key="kept_models_table",
                column_config={"NDCG@K": st.column_config.NumberColumn(format="%.4f")})
            run = st.selectbox("Model", [m.run for m in runs], key="kept_model_pick")
            confirmed_delete("Delete model", "kept_model", lambda: ws.delete_model(name, run),
                             f"The model '{ui.md_escape(run)}' was deleted.")
    with right:
        sets = ws.list_item_sets(name)
        if not sets:
            st.caption("No item set kept (save one from the Map page).")
            return
        st.dataframe(pd.DataFrame([{"item set": s["name"], "items": s["size"], "note": s["note"],
                                    "saved": ui.local_time(s["saved_at"])} for s in sets]),
                     hide_index=True, key="kept_sets_table")
        chosen = st.selectbox("Item set", [s["name"] for s in sets], key="kept_set_pick")
        with st.expander("Items of this set"):
            ids = ws.load_item_set(name, chosen)
            st.caption(f"{len(ids):,} items: " + ", ".join(ui.md_escape(i) for i in ids[:50])
                       + (" …" if len(ids) > 50 else ""))
        new = st.text_input("New name", key="kept_set_name", max_chars=80)
        c1, c2, c3 = st.columns(3)
        if c1.button("Rename", key="kept_set_rename", disabled=not new.strip()):
            try:
                clean = ws.rename_item_set(name, chosen, new)
            except WorkspaceError as exc:
                st.error(ui.md_escape(exc))
            else:
                ui.flash(f"The item set '{ui.md_escape(chosen)}' is now '{ui.md_escape(clean)}'.")
                st.rerun()
        confirmed_delete("Delete set", "kept_set", lambda: ws.delete_item_set(name, chosen),
                         f"The item set '{ui.md_escape(chosen)}' was deleted.", c2, c3)


with profile_tab:
    render_profile()
with load_tab:
    render_load()
with datasets_tab:
    render_datasets()
