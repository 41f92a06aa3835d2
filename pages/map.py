"""Map page: item embeddings in 2-D, tail clusters lit up, selections saved as item sets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from pydantic import ValidationError

import ui
from recsys.maps import (
    DISPLAY_LIMIT,
    MIN_ITEMS,
    MapConfig,
    MapDataError,
    build_map,
    cluster_table,
    display_sample,
    item_vectors,
    nearest_items,
    popularity_bucket,
    price_bucket,
    search_items,
)
from recsys.workspace import WorkspaceError

MAP_STATE = "item_map"  # session: (fingerprint, frame)
MAIN_SETTINGS = ("source", "method", "seed")  # the rest sit in the "Advanced" expander
NO_MODEL = "(interactions only, no model)"
COLOUR_BY = ["cluster", "popularity bucket", "category", "price"]
MUTED = "#cbd5e1"
NOISE = "#94a3b8"
PALETTE = ["#f59e0b", "#dc2626", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#ea580c",
           "#2563eb", "#0f766e", "#a16207", "#9333ea", "#be123c"]
BUCKET_COLOURS = {"head": "#0f766e", "mid": "#67e8f9", "tail": "#f59e0b", "cold": "#7c3aed"}
TABLE_COLUMNS = ["item_id", "title", "category", "price", "popularity", "segment",
                 "cluster_label", "is_tail", "is_tail_cluster"]

ui.ensure_router()
ds = ui.active_dataset()
st.title("Map")
ui.show_flash()
if ds is None:
    st.info("Load a dataset on the Catalog page first.")
    st.stop()
if ds.n_items < MIN_ITEMS:
    st.info(f"The catalog of **{ui.md_escape(ds.name)}** has {ds.n_items} item{'s' if ds.n_items != 1 else ''}; "
            f"a map needs at least {MIN_ITEMS}. Load a larger catalog on the Catalog page.")
    st.stop()
ws = ui.workspace()
cache_dir = ws.root / ".cache"
st.caption(f"Dataset **{ui.md_escape(ds.name)}** · {ds.n_items:,} items · each point is a product, close points "
           "are similar; clusters made mostly of tail items that get little exposure are the "
           "**tail clusters**.")


# ----------------------------------------------------------------------------- settings
def settings_form() -> tuple[dict, str | None, bool]:
    kept = ui.trained_models(ds)
    expander = st.expander("Map settings", expanded=current_map() is None)
    with expander, st.form("map_form"):
        values = ui.config_form(MapConfig, "map_cfg", fields=MAIN_SETTINGS)
        runs = [NO_MODEL, *[m.run for m in kept]]
        model = st.selectbox("Collaborative vectors from", runs, key="map_model",
                             help="A trained model's item vectors (cf / hybrid sources); without "
                             "one, an SVD of the interactions.")
        with st.expander("Advanced: embedding, neighbours, clusters, tail thresholds"):
            advanced = [f for f in MapConfig.model_fields if f not in MAIN_SETTINGS]
            values.update(ui.config_form(MapConfig, "map_cfg", fields=advanced))
        draw = st.form_submit_button("Draw map", type="primary")
    return values, None if model == NO_MODEL else model, draw


def compute(config: MapConfig, run: str | None) -> pd.DataFrame | None:
    """Build the map with a progress bar; errors become a readable message."""
    with st.status("Drawing the map…", expanded=True) as status:
        bar = st.progress(0.0, text="starting")
        try:
            model = ui.load_trained(ds, run) if run and config.source != "text" else None
            frame = build_map(ds, config, model=model, cache_dir=cache_dir,
                              progress=lambda f, m: bar.progress(min(1.0, max(0.0, f)), text=m))
        except (MapDataError, WorkspaceError, ValueError, RuntimeError, MemoryError) as exc:
            status.update(label="The map could not be drawn.", state="error")
            st.error(f"The map could not be drawn: {ui.md_escape(exc)}")
            return None
        t = frame.attrs.get("timings", {})
        done = "from the cache" if frame.attrs.get("cached") else f"in {t.get('total_s', 0):.1f} s"
        status.update(label=f"Map ready ({done}).", state="complete", expanded=False)
    settings = {k: frame.attrs.get(k) for k in ("settings", "embedding", "fingerprint", "notes",
                                                 "n_clusters", "n_tail_clusters")}
    settings["model"] = run
    frame.attrs["model"] = run
    try:
        ws.save_item_map(ds.name, frame, settings)
    except OSError as exc:
        st.warning("The map is shown but could not be kept in the workspace: "
                   f"{ui.md_escape(exc)}")
    return frame


def current_map() -> pd.DataFrame | None:
    """This session's map, else the one kept in the workspace for this data."""
    held = st.session_state.get(MAP_STATE)
    if held is not None and held[0] == ds.fingerprint:
        return held[1]
    saved = ws.load_item_map(ds.name)
    if saved is not None and saved[1].get("fingerprint") == ds.fingerprint:
        frame, settings = saved
        frame.attrs = dict(settings)
        st.session_state[MAP_STATE] = (ds.fingerprint, frame)
        return frame
    return None


values, run, draw = settings_form()
if draw:
    try:
        config = MapConfig(**values)
    except ValidationError as exc:
        st.error("Invalid settings: " + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                                  for e in exc.errors()))
    else:
        built = compute(config, run)
        if built is not None:
            st.session_state[MAP_STATE] = (ds.fingerprint, built)
            st.session_state.pop("map_chart", None)

frame = current_map()
if frame is None:
    st.info("No map yet for this dataset. Pick the settings above and press **Draw map** "
            "(PCA is an instant preview; UMAP takes longer the first time).")
    st.stop()

attrs = frame.attrs
for note in attrs.get("notes") or []:
    st.warning(ui.md_escape(note))
cfg = attrs.get("settings") or {}
st.caption(f"Embedding: {attrs.get('embedding', '?')} · projection **{cfg.get('method', '?')}** "
           f"(seed {cfg.get('seed', 0)}) · clusters on the {cfg.get('cluster_on', 'map')} · "
           f"**{attrs.get('n_clusters', 0)}** clusters, **{attrs.get('n_tail_clusters', 0)}** "
           "tail clusters")


# ----------------------------------------------------------------------------- chart
def colour_groups(view: pd.DataFrame, by: str, highlight: bool) -> list[tuple[str, np.ndarray, dict]]:
    """(name, row positions within ``view``, marker) per trace."""
    groups: list[tuple[str, np.ndarray, dict]] = []
    if by == "cluster":
        tail = view["is_tail_cluster"].to_numpy(dtype=bool)
        noise = view["cluster"].to_numpy() < 0
        if highlight:
            groups.append(("other clusters", np.flatnonzero(~tail & ~noise),
                           {"color": MUTED, "opacity": 0.45}))
        else:
            top = view.loc[~noise, "cluster"].value_counts().index[:len(PALETTE) * 3]
            for i, c in enumerate(sorted(top)):
                rows = np.flatnonzero(view["cluster"].to_numpy() == c)
                label = view["cluster_label"].iloc[rows[0]]
                groups.append((f"{c}: {label}", rows, {"color": PALETTE[i % len(PALETTE)],
                                                        "opacity": 0.7}))
            rest = ~noise & ~view["cluster"].isin(top).to_numpy()
            if rest.any():
                groups.append(("smaller clusters", np.flatnonzero(rest), {"color": MUTED}))
        groups.append(("unclustered", np.flatnonzero(noise), {"color": NOISE, "opacity": 0.35}))
        if highlight:
            ranks = view.loc[tail, ["cluster", "tail_rank", "cluster_label"]].drop_duplicates("cluster")
            for i, row in enumerate(ranks.sort_values("tail_rank").itertuples()):
                rows = np.flatnonzero(view["cluster"].to_numpy() == row.cluster)
                groups.append((f"#{row.tail_rank} {row.cluster_label}", rows,
                               {"color": PALETTE[i % len(PALETTE)], "opacity": 0.95}))
    elif by == "popularity bucket":
        bucket = popularity_bucket(view["popularity"].to_numpy(), view["segment"].to_numpy())
        for name in ("head", "mid", "tail", "cold"):
            groups.append((name, np.flatnonzero(bucket == name), {"color": BUCKET_COLOURS[name],
                                                                   "opacity": 0.75}))
    elif by == "category":
        cats = view["category"].fillna("").astype(str) if "category" in view else \
            pd.Series("", index=view.index)
        top = cats.value_counts().index[:12]
        for i, c in enumerate(top):
            groups.append((c or "(none)", np.flatnonzero((cats == c).to_numpy()),
                           {"color": PALETTE[i % len(PALETTE)], "opacity": 0.75}))
        rest = ~cats.isin(top).to_numpy()
        if rest.any():
            groups.append(("other categories", np.flatnonzero(rest), {"color": MUTED}))
    else:
        bands = price_bucket(view["price"] if "price" in view else pd.Series(np.nan, index=view.index))
        for i, b in enumerate(sorted(bands.unique(), key=lambda s: (s == "no price",
                                                                    float(s.split("–")[0])
                                                                    if s != "no price" else 0))):
            groups.append((b, np.flatnonzero((bands == b).to_numpy()),
                           {"color": MUTED if b == "no price" else PALETTE[i % len(PALETTE)],
                            "opacity": 0.75}))
    return [g for g in groups if len(g[1])]


def figure(view: pd.DataFrame, by: str, highlight: bool, focus: int | None,
           neighbours: np.ndarray) -> tuple[go.Figure, list[np.ndarray]]:
    fig = go.Figure()
    trace_rows: list[np.ndarray] = []
    # Titles, categories and cluster labels come from the upload: Plotly would render their HTML.
    hover = ("<b>%{text}</b><br>%{customdata[0]}<br>popularity %{customdata[1]} · "
             "%{customdata[2]}<br>cluster: %{customdata[3]}<extra></extra>")
    cat = view["category"].astype(str) if "category" in view else pd.Series("", index=view.index)
    custom = np.column_stack([ui.plot_escape_column(cat).to_numpy(dtype=object),
                              view["popularity"].to_numpy(),
                              view["segment"].to_numpy(dtype=object),
                              ui.plot_escape_column(view["cluster_label"]).to_numpy(dtype=object)])
    titles = ui.plot_escape_column(view["title"]).to_numpy(dtype=object)
    size = 4 if len(view) > 20_000 else 6
    for name, rows, marker in colour_groups(view, by, highlight):
        fig.add_trace(go.Scattergl(
            x=view["x"].to_numpy()[rows], y=view["y"].to_numpy()[rows], mode="markers",
            name=ui.plot_escape(name), text=titles[rows], customdata=custom[rows],
            hovertemplate=hover, marker={"size": size, **marker}))
        trace_rows.append(rows)
    tail = view.loc[view["is_tail_cluster"]]
    if len(tail):
        centres = tail.groupby("cluster").agg(x=("x", "median"), y=("y", "median"),
                                              label=("cluster_label", "first"),
                                              rank=("tail_rank", "first"))
        for row in centres.itertuples():
            fig.add_annotation(x=row.x, y=row.y, text=ui.plot_escape(f"#{row.rank} {row.label}"),
                               showarrow=False,
                               font={"size": 12, "color": "#111827"}, bgcolor="rgba(255,255,255,0.75)")
    if focus is not None:
        pts = view.iloc[np.concatenate([[focus], neighbours])]
        fig.add_trace(go.Scattergl(x=pts["x"], y=pts["y"], mode="markers", name="searched item "
                                   "and neighbours", text=ui.plot_escape_column(pts["title"]),
                                   hoverinfo="text",
                                   marker={"size": [16] + [10] * len(neighbours), "symbol": "star",
                                           "color": "#111827", "line": {"width": 1,
                                                                        "color": "white"}}))
        trace_rows.append(np.concatenate([[focus], neighbours]).astype(np.int64))
        fx, fy = float(view["x"].iloc[focus]), float(view["y"].iloc[focus])
        span_x = max(float(pts["x"].max() - pts["x"].min()), float(np.ptp(view["x"])) * 0.08)
        span_y = max(float(pts["y"].max() - pts["y"].min()), float(np.ptp(view["y"])) * 0.08)
        fig.update_xaxes(range=[fx - span_x, fx + span_x])
        fig.update_yaxes(range=[fy - span_y, fy + span_y])
    fig.update_layout(height=640, dragmode="select", margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      legend={"itemsizing": "constant"}, plot_bgcolor="white",
                      xaxis={"showticklabels": False, "zeroline": False, "showgrid": False},
                      yaxis={"showticklabels": False, "zeroline": False, "showgrid": False})
    return fig, trace_rows


c = st.columns([2, 1, 2])
colour_by = c[0].radio("Colour by", COLOUR_BY, horizontal=True, key="map_colour")
highlight = c[1].toggle("Highlight tail clusters", value=True, key="map_highlight",
                        help="Tail clusters in colour with their labels, the rest muted.")
query = c[2].text_input("Find an item (title or id)", key="map_search",
                        placeholder="e.g. lantern")

view = display_sample(frame, DISPLAY_LIMIT)
if len(view) < len(frame):
    st.caption(f"Showing {len(view):,} of {len(frame):,} items (every tail-cluster item and a "
               "random sample of the rest) to keep the chart responsive.")
focus, neighbours, neighbour_table = None, np.zeros(0, dtype=np.int64), None
if query:
    hits = search_items(view, query)
    if hits.empty:
        st.info(f"No item matches '{ui.md_escape(query)}'.")
    else:
        options = hits.index.tolist()
        pick = st.selectbox("Matching items", options, key="map_pick",
                            format_func=lambda i: f"{view.at[i, 'title']} ({view.at[i, 'item_id']})")
        focus = int(view.index.get_loc(pick))
        try:
            vectors = item_vectors(ds, MapConfig(**cfg), cache_dir=cache_dir).vectors \
                if cfg.get("source", "text") == "text" or not attrs.get("model") else None
        except (ValueError, RuntimeError, MapDataError):
            vectors = None
        full_pos = int(frame.index.get_loc(pick))
        if vectors is not None and len(vectors) == len(frame):
            near, sims = nearest_items(vectors, full_pos, 10)
            how = "similarity of the item vectors"
        else:  # collaborative maps: nearest on the map itself
            near, sims = nearest_items(frame[["x", "y"]].to_numpy(), full_pos, 10)
            how = "direction on the map"
        near_ids = frame["item_id"].to_numpy()[near]
        pos_in_view = pd.Index(view["item_id"]).get_indexer(near_ids)
        neighbours = pos_in_view[pos_in_view >= 0].astype(np.int64)
        neighbour_table = frame.iloc[near][[c for c in TABLE_COLUMNS if c in frame]].assign(
            similarity=sims)
        neighbour_table.attrs = {"how": how}

fig, trace_rows = figure(view, colour_by, highlight, focus, neighbours)
event = st.plotly_chart(fig, key="map_chart", on_select="rerun",
                        selection_mode=("box", "lasso", "points"), config={"displaylogo": False})
st.caption("Drag on the map to select a box (or pick lasso in the chart's toolbar) to list those "
           "items; double-click to clear.")

if neighbour_table is not None:
    st.markdown(f"**Nearest neighbours of {ui.md_escape(view['title'].iloc[focus])}** "
                f"({neighbour_table.attrs['how']})")
    st.dataframe(neighbour_table, hide_index=True, key="map_neighbours",
                 column_config={"similarity": st.column_config.NumberColumn(format="%.3f"),
                                "price": st.column_config.NumberColumn(format="%.2f")})


# ----------------------------------------------------------------------------- selection
def selected_rows() -> np.ndarray:
    points = (event or {}).get("selection", {}).get("points", []) if event else []
    rows = []
    for p in points:
        curve, idx = p.get("curve_number"), p.get("point_index", p.get("point_number"))
        if curve is not None and idx is not None and curve < len(trace_rows) \
                and idx < len(trace_rows[curve]):
            rows.append(int(trace_rows[curve][idx]))
    return np.unique(np.asarray(rows, dtype=np.int64))


rows = selected_rows()
if len(rows):
    chosen = view.iloc[rows]
    st.subheader(f"Selected items ({len(chosen):,})")
    m = st.columns(4)
    m[0].metric("Items", f"{len(chosen):,}")
    m[1].metric("Tail share", f"{chosen['is_tail'].mean():.0%}")
    m[2].metric("In tail clusters", f"{chosen['is_tail_cluster'].mean():.0%}")
    m[3].metric("Mean popularity", f"{chosen['popularity'].mean():.1f}")
    st.dataframe(chosen[[c for c in TABLE_COLUMNS if c in chosen]].sort_values("popularity"),
                 hide_index=True, key="map_selection_table",
                 column_config={"price": st.column_config.NumberColumn(format="%.2f")})
    with st.form("save_set_form"):
        name = st.text_input("Item set name", key="map_set_name", placeholder="e.g. boho-home-tail",
                             help="Saved in the workspace for boosting and export.")
        save = st.form_submit_button("Save as item set")
    if save:
        if not name.strip():
            st.warning("Give the item set a name.")
        else:
            try:
                saved = ws.save_item_set(ds.name, name, chosen["item_id"].tolist(),
                                         note=f"map selection of {len(chosen)} items")
            except (WorkspaceError, OSError) as exc:
                st.error(f"The item set could not be saved: {ui.md_escape(exc)}")
            else:
                st.success(f"Saved item set '{ui.md_escape(saved)}' ({len(chosen):,} items).")

# ----------------------------------------------------------------------------- clusters
st.subheader("Clusters")
table = cluster_table(frame, ds)
st.dataframe(table, hide_index=True, key="map_clusters", column_config={
    "tail_share": st.column_config.ProgressColumn("tail share", format="percent", min_value=0.0,
                                                  max_value=1.0),
    "exposure": st.column_config.NumberColumn(format="%.2f", help="Share of interactions ÷ share "
                                              "of items (1 = fair share)."),
    "opportunity": st.column_config.NumberColumn(format="%.1f", help="Tail items × share of users "
                                                 "who already bought in the cluster."),
    "affinity": st.column_config.NumberColumn(format="percent"),
    "interaction_share": st.column_config.NumberColumn(format="percent"),
    "item_share": st.column_config.NumberColumn(format="percent"),
    "mean_popularity": st.column_config.NumberColumn(format="%.1f"),
    "tail_rank": st.column_config.NumberColumn("tail rank", help="1 = best opportunity; 0 = not "
                                               "a tail cluster."),
})
sets = ws.list_item_sets(ds.name)
if sets:
    st.caption("Saved item sets: " + ", ".join(f"{ui.md_escape(s['name'])} ({s['size']})"
                                               for s in sets))
