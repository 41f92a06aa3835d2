"""Plotly figures of the Explore page: replay curves over days with their bands over seeds."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from recsys.labels import POLICY_LABELS, REPLAY_LABELS

#: One colour per policy, the model's own lists in grey.
COLOURS = {"greedy": "#64748b", "boosted": "#d97706", "epsilon": "#0f766e",
           "thompson": "#7c3aed", "linucb": "#2563eb"}


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def curve_figure(bands: pd.DataFrame, metric: str, policies: list[str], title: str) -> go.Figure:
    """``metric`` over days for each of ``policies``: the mean over seeds as a line and the
    95 % band as a shaded area (none where it has zero width)."""
    fig = go.Figure()
    for name in policies:
        part = bands[bands["policy"] == name]
        if part.empty:
            continue
        colour = COLOURS.get(name, "#0f172a")
        label = POLICY_LABELS.get(name, name)
        seeds = int(part["seeds"].iloc[0])
        if (part[f"{metric}_hi"] > part[f"{metric}_lo"]).any():
            fig.add_trace(go.Scatter(
                x=pd.concat([part["day"], part["day"][::-1]]),
                y=pd.concat([part[f"{metric}_hi"], part[f"{metric}_lo"][::-1]]),
                fill="toself", fillcolor=_rgba(colour, 0.18), line={"width": 0},
                hoverinfo="skip", showlegend=False, name=f"{label} 95 % band"))
        fig.add_trace(go.Scatter(
            x=part["day"], y=part[metric], mode="lines+markers", name=label,
            line={"color": colour, "width": 3 if name != "greedy" else 2,
                  "dash": "dash" if name == "greedy" else "solid"},
            customdata=part[["date", f"{metric}_lo", f"{metric}_hi"]].to_numpy(),
            hovertemplate=(f"{label}<br>day %{{x}} (%{{customdata[0]}})<br>"
                           f"{REPLAY_LABELS.get(metric, metric)}: %{{y:,.1f}}"
                           + (f"<br>95 % band over {seeds} seeds: %{{customdata[1]:,.1f}} – "
                              "%{customdata[2]:,.1f}" if seeds > 1 else "")
                           + "<extra></extra>")))
    fig.update_layout(title=title, height=380, xaxis={"title": "replayed day", "dtick": 1},
                      yaxis_title=REPLAY_LABELS.get(metric, metric),
                      legend={"orientation": "h", "y": -0.25}, margin={"t": 50})
    return fig
