"""Plotly figure builders. Each takes a DataFrame from `ui.frames` (or a result frame) and
returns a `go.Figure`, so the pages, the HTML report and the tests draw the same figures."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from miredo_core import LATENCY_PARTS, PARETO_COLUMNS, Mapping
from ui import frames

#: Readable names of the latency breakdown columns (they add up to latency_cycles).
LATENCY_PART_LABELS = {
    "compute_cycles": "compute",
    "weight_load_stall_cycles": "weight-load stall",
    "input_stall_cycles": "input stall",
    "output_stall_cycles": "output / psum stall",
    "startup_cycles": "start-up",
    "writeback_cycles": "write-back",
}
OPERAND_COLORS = {"I": "#4c78a8", "W": "#f58518", "O": "#54a24b", "compute": "#b279a2"}
METRIC_LABELS = {"latency": "latency", "energy": "energy", "edp": "EDP"}
_LAYOUT = {"margin": {"l": 60, "r": 20, "t": 60, "b": 60}, "legend_title_text": ""}


def latency_breakdown(frame: pd.DataFrame) -> go.Figure:
    """Stacked bars per layer of the latency components (cycles)."""
    figure = go.Figure()
    for column in LATENCY_PARTS:
        figure.add_bar(x=frame["layer"], y=frame[column], name=LATENCY_PART_LABELS[column])
    figure.update_layout(
        barmode="stack",
        title="Latency breakdown per layer",
        yaxis_title="cycles",
        xaxis_title="layer",
        **_LAYOUT,
    )
    return figure


def energy_breakdown(frame: pd.DataFrame, title: str = "Energy per memory level and operand"):
    """Stacked bars per level, one colour per operand (MAC and leakage as their own bars)."""
    figure = go.Figure()
    levels = list(dict.fromkeys(frame["level"]))
    for operand, rows in frame.groupby("operand", sort=False):
        figure.add_bar(
            x=rows["level"],
            y=rows["energy_pj"],
            name=operand,
            marker_color=OPERAND_COLORS.get(str(operand)),
        )
    figure.update_layout(
        barmode="stack", title=title, yaxis_title="pJ", xaxis_title="level", **_LAYOUT
    )
    figure.update_xaxes(categoryorder="array", categoryarray=levels)
    return figure


def loop_nest(mapping: Mapping, title: str = "Loop nest") -> go.Figure:
    """The temporal loops (outermost at the top) against the operands; each cell is the level
    that keeps the loop for that operand, coloured from DRAM (dark) to the array (light).
    ⇄ marks a double-buffered level; the spatial unrolling is in the subtitle."""
    nest = frames.loop_nest_frame(mapping)
    temporal = nest[nest["slot"] != "spatial"]
    operands = ["I", "W", "O"]
    order = {label: index for index, label in enumerate(frames.LEVEL_LABELS.values())}
    text = temporal[operands].to_numpy()
    z = np.vectorize(lambda cell: order[cell.replace(frames.DOUBLE_BUFFER_MARK, "")])(text)
    labels = [
        f"{slot}: {loop}" for slot, loop in zip(temporal["slot"], temporal["loop"], strict=True)
    ]
    spatial = ", ".join(nest[nest["slot"] == "spatial"]["loop"]) or "none"
    figure = go.Figure(
        go.Heatmap(
            z=z if len(z) else [[0, 0, 0]],
            x=operands,
            y=labels if labels else ["(no temporal loop)"],
            text=text if len(text) else [["", "", ""]],
            texttemplate="%{text}",
            colorscale="Viridis",
            zmin=0,
            zmax=len(order) - 1,
            showscale=False,
            hovertemplate="loop %{y}<br>operand %{x}<br>level %{text}<extra></extra>",
        )
    )
    figure.update_yaxes(autorange="reversed", title="temporal loop (outermost first)")
    figure.update_xaxes(side="top")
    figure.update_layout(
        title=f"{title}<br><sup>spatial {spatial}</sup><br><sup>⇄ double-buffered level</sup>",
        height=max(260, 40 * len(labels) + 140),
        margin={"l": 110, "r": 20, "t": 110, "b": 20},
    )
    return figure


def predicted_vs_simulated(frame: pd.DataFrame) -> go.Figure:
    """Per layer: the MIP's predicted latency (where the mapper has one), the cost model's
    (the reported figure) and the event simulator's."""
    series = (
        ("predicted_latency_cycles", "MIP prediction", "diamond"),
        ("latency_cycles", "cost model (reported)", "circle"),
        ("sim_latency_cycles", "event simulator", "x"),
    )
    figure = go.Figure()
    for column, name, symbol in series:
        if column in frame and frame[column].notna().any():
            figure.add_scatter(
                x=frame["layer"], y=frame[column], mode="markers", name=name,
                marker={"symbol": symbol, "size": 10},
            )  # fmt: skip
    figure.update_layout(
        title="Predicted vs simulated latency per layer",
        xaxis_title="layer",
        yaxis_title="cycles",
        yaxis_type="log",
        **_LAYOUT,
    )
    return figure


def compare_bars(frame: pd.DataFrame, label_a: str, label_b: str) -> go.Figure:
    """B over A per layer and for the network: below 1 means B is better."""
    figure = go.Figure()
    for metric, rows in frame.groupby("metric", sort=False):
        figure.add_bar(x=rows["layer"], y=rows["ratio_b_over_a"], name=METRIC_LABELS[metric])
    figure.add_hline(y=1.0, line_dash="dot")
    figure.update_layout(
        barmode="group",
        title=f"{label_b} normalized to {label_a} (below 1: B is better)",
        yaxis_title="B / A",
        **_LAYOUT,
    )
    return figure


#: The figures the sweep scatter plots; a Pareto front over exactly these is joined by a line.
SWEEP_PLOT_COLUMNS = ("latency_cycles", "energy_pj")


def sweep_scatter(
    frame: pd.DataFrame, color: str, axes: list[str], front: Sequence[str] = ("latency", "energy")
) -> go.Figure:
    """Latency against energy per design point, coloured by `color`. The rows of the frame's
    `pareto` column, a front over the figures `front` (names as in `pareto.PARETO_COLUMNS`),
    are ringed; when the front is over the two plotted figures it is drawn as a line too.
    customdata carries the frame's row index."""
    hover = [
        "<br>".join(f"{axis} = {row[axis]}" for axis in axes)
        + f"<br>{row['hardware']} ({row['status']})<br>area {row['area_mm2']:.3g} mm²"
        for _, row in frame.iterrows()
    ]
    figure = go.Figure()
    figure.add_scatter(
        x=frame["latency_cycles"],
        y=frame["energy_pj"],
        mode="markers",
        name="design points",
        customdata=frame.index.to_numpy(),
        text=hover,
        hovertemplate="%{text}<br>latency %{x:,.0f} cycles<br>energy %{y:,.4g} pJ<extra></extra>",
        marker={
            "size": 11,
            "color": frame[color].astype(float),
            "colorscale": "Viridis",
            "showscale": True,
            "colorbar": {"title": color},
        },
    )
    optimal = frame[frame["pareto"].astype(bool)].sort_values("latency_cycles")
    joined = sorted(PARETO_COLUMNS.get(name, name) for name in front) == sorted(SWEEP_PLOT_COLUMNS)
    figure.add_scatter(
        x=optimal["latency_cycles"],
        y=optimal["energy_pj"],
        mode="lines+markers" if joined else "markers",
        name=f"Pareto front ({', '.join(front)})" if front else "Pareto front (none chosen)",
        line={"color": "crimson"},
        marker={"size": 16, "symbol": "circle-open", "color": "crimson"},
        hoverinfo="skip",
    )
    figure.update_layout(
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1, "xanchor": "right"},
        title="Design space: latency vs energy",
        xaxis_title="network latency (cycles)",
        yaxis_title="network energy (pJ)",
        **_LAYOUT,
    )
    return figure
