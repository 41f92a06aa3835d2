"""Map page: item embeddings in 2-D, tail clusters lit up, selections saved as item sets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
from pydantic import ValidationError

import ui
from map_chart import map_figure
from recsys.maps import (
    DISPLAY_LIMIT,
    MIN_ITEMS,
    MapConfig,
    MapDataError,
    MapJob,
    cluster_table,
    display_sample,
    item_vectors,
    nearest_items,
    search_items,
)
from recsys.workspace import WorkspaceError

MAP_STATE = "item_map"  # session: (fingerprint, frame)
MAP_JOB = "map_job"  # session: (MapJob, model run) drawing a map in the background
MAP_NOTE = "map_note"  # session: [(kind, text)] about the last build, shown once
MAIN_SETTINGS = ("source", "method", "seed")  # the rest sit in the "Advanced" expander
NO_MODEL = "(interactions only, no model)"
COLOUR_BY = ["cluster", "popularity bucket", "category", "price"]
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
def settings_form(drawn: bool, busy: bool) -> tuple[dict, str | None, bool]:
    """The settings, open until a map is drawn (then folded under a different title)."""
    kept = ui.trained_models(ds)
    title = "Map settings: change them and draw again" if drawn else "Map settings"
    with st.expander(title, expanded=not drawn), st.form("map_form"):
        values = ui.config_form(MapConfig, "map_cfg", fields=MAIN_SETTINGS)
        runs = [NO_MODEL, *[m.run for m in kept]]
        model = st.selectbox("Collaborative vectors from", runs, key="map_model",
                             help="A trained model's item vectors (cf / hybrid sources); without "
                             "one, an SVD of the interactions.")
        with st.expander("Advanced: embedding, neighbours, clusters, tail thresholds"):
            advanced = [f for f in MapConfig.model_fields if f not in MAIN_SETTINGS]
            values.update(ui.config_form(MapConfig, "map_cfg", fields=advanced))
        draw = st.form_submit_button("Draw map", type="primary", disabled=busy)
    return values, None if model == NO_MODEL else model, draw


def start_build(config: MapConfig, run: str | None) -> None:
    """Start drawing in a background job (the page follows it); a model that cannot be read
    becomes a message."""
    try:
        model = ui.load_trained(ds, run) if run and config.source != "text" else None
    except (WorkspaceError, ValueError, RuntimeError, OSError) as exc:
        st.error(f"The map could not be drawn: {ui.md_escape(exc)}")
        return
    st.session_state[MAP_JOB] = (MapJob(ds, config, model=model, cache_dir=cache_dir).start(), run)
    st.rerun()  # drawn again as busy: progress, ETA and Cancel shown, Draw disabled


def finish_build(job: MapJob, run: str | None) -> None:
    """A finished job's outcome: the map kept (and shown), or why there is none."""
    st.session_state.pop(MAP_JOB, None)
    notes = st.session_state.setdefault(MAP_NOTE, [])
    if job.status == "stopped":
        notes.append(("info", f"Map drawing cancelled after {job.elapsed_s:.0f} s; nothing was "
                      "kept."))
        return
    if job.status != "done" or job.frame is None:
        notes.append(("error", f"The map could not be drawn: {job.error}"))
        return
    frame = job.frame
    t = frame.attrs.get("timings", {})
    done = "from the cache" if frame.attrs.get("cached") else f"in {t.get('total_s', 0):.1f} s"
    settings = {k: frame.attrs.get(k) for k in ("settings", "embedding", "fingerprint", "notes",
                                                 "n_clusters", "n_tail_clusters", "sample")}
    settings["model"] = run
    frame.attrs["model"] = run
    try:
        ws.save_item_map(ds.name, frame, settings)
    except OSError as exc:
        notes.append(("warning", f"The map is shown but could not be kept in the workspace: {exc}"))
    st.session_state[MAP_STATE] = (ds.fingerprint, frame)
    st.session_state.pop("map_chart", None)
    notes.insert(0, ("success", f"Map ready ({done})."))


def build_job() -> tuple[MapJob | None, str | None]:
    """This session's map job on this dataset, if any (with the model run it uses); one left
    running on another dataset (the sidebar switched) is cancelled, not waited for."""
    held = st.session_state.get(MAP_JOB)
    if held is None:
        return None, None
    if held[0].dataset.fingerprint != ds.fingerprint:
        held[0].cancel()
        st.session_state.pop(MAP_JOB, None)
        return None, None
    return held


def build_progress() -> None:
    """Progress, elapsed time, ETA and Cancel of the running build, refreshed every second;
    when the build ends the whole page is drawn again with its outcome."""
    ui.task_progress(build_job()[0], "map_cancel",
                     "Stops at the next step or after the current batch of texts.")


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


job, job_run = build_job()
if job is not None and not job.running:
    finish_build(job, job_run)
    job = None
for kind, text in st.session_state.pop(MAP_NOTE, []):
    getattr(st, kind)(ui.md_escape(text))
values, run, draw = settings_form(current_map() is not None, busy=job is not None)
if draw and job is None:
    try:
        config = MapConfig(**values)
    except ValidationError as exc:
        st.error("Invalid settings: " + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                                  for e in exc.errors()))
    else:
        start_build(config, run)
if job is not None:
    st.subheader("Drawing the map…")
    st.fragment(build_progress, run_every=1.0)()

frame = current_map()
if frame is None:
    if job is None:
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
if sample := attrs.get("sample"):
    note = str(sample.get("note", ""))
    st.info(ui.md_escape(note[:1].upper() + note[1:]) + f". Catalogs over "
            f"{cfg.get('max_items', sample.get('shown', 0)):,} items (the setting "
            f"'{MapConfig.model_fields['max_items'].title}') are drawn from a sample, so the "
            "layout stays fast; cluster figures are those of the items shown.")


# ----------------------------------------------------------------------------- chart
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

fig, trace_rows = map_figure(view, colour_by, highlight, focus, neighbours)
unlabelled = fig.layout.meta.get("unlabelled_tail_ranks", []) if fig.layout.meta else []
event = st.plotly_chart(fig, key="map_chart", on_select="rerun",
                        selection_mode=("box", "lasso", "points"), config={"displaylogo": False})
st.caption("Drag on the map to select a box (or pick lasso in the chart's toolbar) to list those "
           "items; double-click to clear."
           + (f" Tail clusters {', '.join(f'#{r}' for r in unlabelled)} have no room for a label "
              "here: they are named in the legend." if unlabelled else ""))

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

def save_cluster(table: pd.DataFrame) -> None:
    """Pick a cluster (tail clusters first) and keep its items as an item set in one click."""
    clusters = table.loc[table["cluster"] >= 0]
    if clusters.empty:
        return
    labels = {int(r.cluster): (f"#{r.tail_rank} " if r.tail_rank > 0 else "") +
              f"{r.label} ({r.size:,} items)" for r in clusters.itertuples()}
    c = st.columns([3, 1])
    pick = c[0].selectbox("Cluster to keep as an item set", list(labels), key="map_cluster_pick",
                          format_func=labels.get)
    c[1].write("")
    if c[1].button("Save cluster as item set", key="map_save_cluster"):
        rank = int(clusters.loc[clusters["cluster"] == pick, "tail_rank"].iloc[0])
        label = str(clusters.loc[clusters["cluster"] == pick, "label"].iloc[0])
        name = (f"tail-{rank} " if rank > 0 else f"cluster-{pick} ") + label
        items = frame.loc[frame["cluster"] == pick, "item_id"].tolist()
        try:
            saved = ws.save_item_set(ds.name, name, items, note=f"map cluster {label}")
        except (WorkspaceError, OSError) as exc:
            st.error(f"The item set could not be saved: {ui.md_escape(exc)}")
        else:
            st.success(f"Saved item set '{ui.md_escape(saved)}' ({len(items):,} items).")


save_cluster(table)
sets = ws.list_item_sets(ds.name)
if sets:
    st.caption("Saved item sets: " + ", ".join(f"{ui.md_escape(s['name'])} ({s['size']})"
                                               for s in sets))
