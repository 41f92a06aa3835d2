"""The Map page's Plotly figure: the tail clusters on top, big and bright, over muted others.

No Streamlit here (the page only shows what :func:`map_figure` returns), so the drawing rules are
tested directly:

* traces go in layers: muted clusters and unclustered items first, then one trace per tail
  cluster (larger markers, strong colours), drawn last so nothing hides them;
* each tail cluster gets a light filled outline (the hull of its core points) under its points;
* labels are placed by :func:`recsys.maps.place_labels`, so no two overlap; a label that finds no
  free place is left to the legend, where every tail cluster is listed by its number;
* in popularity colouring the head is drawn last (and larger), the tail first and lighter, so the
  few best sellers are never buried under thousands of tail points;
* hover shows id, title, price, popularity and cluster, numbers rounded for reading.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from recsys.maps import cluster_outline, place_labels, popularity_bucket, price_bucket

__all__ = ["map_figure", "colour_groups", "hover_columns", "TAIL_PALETTE", "MUTED", "Layer"]

MUTED = "#cbd5e1"
NOISE = "#94a3b8"
#: Strong colours for tail clusters (ranked 1, 2, …).
TAIL_PALETTE = ["#dc2626", "#f59e0b", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#ea580c",
                "#2563eb", "#0f766e", "#a16207", "#9333ea", "#be123c"]
BUCKET_COLOURS = {"head": "#0f766e", "mid": "#67e8f9", "tail": "#f59e0b", "cold": "#7c3aed"}
#: Popularity buckets bottom to top: the few head items last, on top.
BUCKET_ORDER = ("cold", "tail", "mid", "head")
#: One group of points: (legend name, row positions in the view, marker settings).
Layer = tuple[str, np.ndarray, dict[str, Any]]
PLOT_HEIGHT = 640
#: About the plot area's width on a 1400-px-wide page with the sidebar open (legend below it);
#: a smaller guess only makes label boxes roomier.
PLOT_WIDTH = 860


def _esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=False)


def _size(n: int) -> int:
    return 3 if n > 50_000 else 4 if n > 20_000 else 5


def tail_ranks(view: pd.DataFrame) -> pd.DataFrame:
    """One row per tail cluster of ``view`` (cluster, tail_rank, cluster_label), best first."""
    tail = view.loc[view["is_tail_cluster"].to_numpy(dtype=bool)]
    return (tail[["cluster", "tail_rank", "cluster_label"]].drop_duplicates("cluster")
            .sort_values(["tail_rank", "cluster"]).reset_index(drop=True))


def colour_groups(view: pd.DataFrame, by: str, highlight: bool) -> list[Layer]:
    """The point layers of the chart, bottom first."""
    size = _size(len(view))
    groups: list[Layer] = []
    if by == "cluster":
        cluster = view["cluster"].to_numpy()
        tail = view["is_tail_cluster"].to_numpy(dtype=bool)
        noise = cluster < 0
        groups.append(("unclustered", np.flatnonzero(noise),
                       {"color": NOISE, "opacity": 0.3, "size": size}))
        if highlight:
            groups.append(("other clusters", np.flatnonzero(~tail & ~noise),
                           {"color": MUTED, "opacity": 0.45, "size": size}))
        else:
            top = view.loc[~noise, "cluster"].value_counts().index[:len(TAIL_PALETTE) * 3]
            for i, c in enumerate(sorted(top)):
                rows = np.flatnonzero((cluster == c) & ~tail)
                label = view["cluster_label"].iloc[rows[0]] if len(rows) else ""
                groups.append((f"{c}: {label}", rows, {"color": TAIL_PALETTE[i % len(TAIL_PALETTE)],
                                                       "opacity": 0.6, "size": size}))
            rest = ~noise & ~tail & ~view["cluster"].isin(top).to_numpy()
            groups.append(("smaller clusters", np.flatnonzero(rest),
                           {"color": MUTED, "opacity": 0.45, "size": size}))
        for i, row in enumerate(tail_ranks(view).itertuples()):  # last: on top
            rows = np.flatnonzero(cluster == row.cluster)
            groups.append((f"#{row.tail_rank} {row.cluster_label}", rows,
                           {"color": TAIL_PALETTE[i % len(TAIL_PALETTE)], "opacity": 0.95,
                            "size": size + 4, "line": {"width": 0.5, "color": "white"}}))
    elif by == "popularity bucket":
        bucket = popularity_bucket(view["popularity"].to_numpy(), view["segment"].to_numpy())
        for name in BUCKET_ORDER:
            big = name == "head"
            groups.append((name, np.flatnonzero(bucket == name),
                           {"color": BUCKET_COLOURS[name], "opacity": 0.95 if big else 0.45,
                            "size": size + 3 if big else size}))
    elif by == "category":
        cats = view["category"].fillna("").astype(str) if "category" in view else \
            pd.Series("", index=view.index)
        top = cats.value_counts().index[:12]
        rest = ~cats.isin(top).to_numpy()
        groups.append(("other categories", np.flatnonzero(rest), {"color": MUTED, "size": size}))
        for i, c in enumerate(top):
            groups.append((c or "(none)", np.flatnonzero((cats == c).to_numpy()),
                           {"color": TAIL_PALETTE[i % len(TAIL_PALETTE)], "opacity": 0.75,
                            "size": size}))
    else:
        bands = price_bucket(view["price"] if "price" in view else pd.Series(np.nan, index=view.index))
        names = sorted(bands.unique(), key=lambda s: (s != "no price",
                                                      float(s.split("–")[0]) if s != "no price" else 0))
        for i, b in enumerate(names):
            groups.append((b, np.flatnonzero((bands == b).to_numpy()),
                           {"color": MUTED if b == "no price" else TAIL_PALETTE[i % len(TAIL_PALETTE)],
                            "opacity": 0.75, "size": size}))
    return [g for g in groups if len(g[1])]


def hover_columns(view: pd.DataFrame) -> tuple[np.ndarray, str]:
    """Per-point hover values (escaped, numbers rounded) and the template that shows them."""
    price = pd.to_numeric(view["price"], errors="coerce") if "price" in view else \
        pd.Series(np.nan, index=view.index)
    price_text = price.map(lambda p: "no price" if pd.isna(p) else f"price {p:,.2f}")
    pop = pd.to_numeric(view["popularity"], errors="coerce").fillna(0).round().astype(np.int64)
    custom = np.column_stack([
        view["item_id"].astype(str).map(_esc).to_numpy(dtype=object),
        price_text.to_numpy(dtype=object),
        pop.map(lambda v: f"{v:,}").to_numpy(dtype=object),
        view["segment"].astype(str).to_numpy(dtype=object),
        view["cluster_label"].map(_esc).to_numpy(dtype=object),
    ])
    template = ("<b>%{text}</b><br>id %{customdata[0]} · %{customdata[1]}<br>"
                "popularity %{customdata[2]} (%{customdata[3]})<br>cluster: %{customdata[4]}"
                "<extra></extra>")
    return custom, template


def _outlines(fig: go.Figure, view: pd.DataFrame) -> None:
    for i, row in enumerate(tail_ranks(view).itertuples()):
        pts = view.loc[view["cluster"] == row.cluster, ["x", "y"]].to_numpy()
        ring = cluster_outline(pts)
        if not len(ring):
            continue
        colour = TAIL_PALETTE[i % len(TAIL_PALETTE)]
        fig.add_trace(go.Scatter(x=ring[:, 0], y=ring[:, 1], mode="lines", fill="toself",
                                 line={"color": colour, "width": 1.5}, opacity=0.35,
                                 hoverinfo="skip", showlegend=False,
                                 name=_esc(f"outline #{row.tail_rank}")))


def _labels(fig: go.Figure, view: pd.DataFrame, x_range: tuple[float, float],
            y_range: tuple[float, float]) -> list[int]:
    """Non-overlapping annotations for the tail clusters; returns the ranks left unlabelled."""
    ranks = tail_ranks(view)
    if ranks.empty:
        return []
    centres = view.loc[view["is_tail_cluster"]].groupby("cluster")[["x", "y"]].median()
    anchors = centres.loc[ranks["cluster"]].to_numpy()
    texts = [f"#{r.tail_rank} {r.cluster_label}" for r in ranks.itertuples()]
    boxes = place_labels(anchors, texts, x_range=x_range, y_range=y_range,
                         width_px=PLOT_WIDTH, height_px=PLOT_HEIGHT)
    missing = []
    for i, (box, text) in enumerate(zip(boxes, texts, strict=True)):
        if box is None:
            missing.append(int(ranks["tail_rank"].iloc[i]))
            continue
        colour = TAIL_PALETTE[i % len(TAIL_PALETTE)]
        # With an arrow Plotly puts its head at (x, y), on the cluster, and the text at (ax, ay).
        at = (box.anchor_x, box.anchor_y) if box.moved else (box.x, box.y)
        fig.add_annotation(x=at[0], y=at[1], text=_esc(text), showarrow=box.moved,
                           ax=box.x, ay=box.y, axref="x", ayref="y",
                           arrowcolor=colour, arrowwidth=1, standoff=2,
                           font={"size": 12, "color": "#111827"}, bordercolor=colour,
                           borderwidth=1, borderpad=2, bgcolor="rgba(255,255,255,0.85)")
    return missing


def _ranges(view: pd.DataFrame) -> tuple[tuple[float, float], tuple[float, float]]:
    x, y = view["x"].to_numpy(dtype=float), view["y"].to_numpy(dtype=float)
    if not len(x):
        return (0.0, 1.0), (0.0, 1.0)
    px, py = max(float(np.ptp(x)), 1e-6) * 0.04, max(float(np.ptp(y)), 1e-6) * 0.04
    return (float(x.min()) - px, float(x.max()) + px), (float(y.min()) - py, float(y.max()) + py)


def map_figure(view: pd.DataFrame, by: str = "cluster", highlight: bool = True,
               focus: int | None = None, neighbours: np.ndarray | None = None,
               ) -> tuple[go.Figure, list[np.ndarray]]:
    """The map of ``view`` and, per point trace, the view rows it shows (for selections).

    Outline traces carry no selectable points; their entry is an empty array so trace numbers
    still line up with the list.
    """
    neighbours = np.zeros(0, dtype=np.int64) if neighbours is None else neighbours
    fig = go.Figure()
    trace_rows: list[np.ndarray] = []
    x_range, y_range = _ranges(view)
    tail_on_top = by == "cluster"
    if tail_on_top:
        _outlines(fig, view)
        trace_rows.extend(np.zeros(0, dtype=np.int64) for _ in fig.data)
    custom, template = hover_columns(view)
    titles = view["title"].map(_esc).to_numpy(dtype=object)
    xs, ys = view["x"].to_numpy(), view["y"].to_numpy()
    for name, rows, marker in colour_groups(view, by, highlight):
        fig.add_trace(go.Scattergl(x=xs[rows], y=ys[rows], mode="markers", name=_esc(name),
                                   text=titles[rows], customdata=custom[rows],
                                   hovertemplate=template, marker=marker))
        trace_rows.append(rows)
    missing = _labels(fig, view, x_range, y_range) if tail_on_top else []
    if focus is not None:
        picked = np.concatenate([[focus], neighbours]).astype(np.int64)
        pts = view.iloc[picked]
        fig.add_trace(go.Scattergl(x=pts["x"], y=pts["y"], mode="markers",
                                   name="searched item and neighbours", text=titles[picked],
                                   hoverinfo="text",
                                   marker={"size": [16] + [10] * len(neighbours), "symbol": "star",
                                           "color": "#111827", "line": {"width": 1,
                                                                        "color": "white"}}))
        trace_rows.append(picked)
        fx, fy = float(xs[focus]), float(ys[focus])
        span_x = max(float(pts["x"].max() - pts["x"].min()), float(np.ptp(xs)) * 0.08)
        span_y = max(float(pts["y"].max() - pts["y"].min()), float(np.ptp(ys)) * 0.08)
        x_range, y_range = (fx - span_x, fx + span_x), (fy - span_y, fy + span_y)
    fig.update_layout(height=PLOT_HEIGHT, dragmode="select",
                      margin={"l": 10, "r": 10, "t": 30, "b": 40},
                      legend={"itemsizing": "constant", "orientation": "h", "y": -0.02,
                              "yanchor": "top", "x": 0,
                              "title": {"text": "#1 = best tail opportunity · " if tail_on_top
                                        else ""}},
                      plot_bgcolor="white",
                      xaxis={"showticklabels": False, "zeroline": False, "showgrid": False,
                             "range": list(x_range)},
                      yaxis={"showticklabels": False, "zeroline": False, "showgrid": False,
                             "range": list(y_range)},
                      meta={"unlabelled_tail_ranks": missing})
    return fig, trace_rows
