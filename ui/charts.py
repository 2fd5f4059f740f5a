"""Plotly figure builders. Each takes a DataFrame from `ui.frames` (or a result frame) and
returns a `go.Figure`, so the pages, the HTML report and the tests draw the same figures.

Every figure carries an explicit template and explicit trace colours: importing streamlit sets
plotly's default template to one whose colours are placeholders that only the Streamlit page
fills in, so a figure relying on the default renders black in an exported report. User text
placed in a title goes through `html.escape` (plotly renders a subset of HTML in titles).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from miredo_core import LATENCY_PARTS, PARETO_COLUMNS, Mapping
from ui import frames
from ui.text import format_edp

#: How a provisional layer (not the mapper's final answer yet) is drawn.
PROVISIONAL_MARK = "(prov.)"
PROVISIONAL_OPACITY = 0.4
#: Readable names of the latency breakdown columns (they add up to latency_cycles).
LATENCY_PART_LABELS = {
    "compute_cycles": "compute",
    "weight_load_stall_cycles": "weight-load stall",
    "input_stall_cycles": "input stall",
    "output_stall_cycles": "output / psum stall",
    "startup_cycles": "start-up",
    "writeback_cycles": "write-back",
}
LATENCY_PART_COLORS = {
    "compute_cycles": "#4c78a8",
    "weight_load_stall_cycles": "#f58518",
    "input_stall_cycles": "#e45756",
    "output_stall_cycles": "#72b7b2",
    "startup_cycles": "#54a24b",
    "writeback_cycles": "#b279a2",
}
OPERAND_COLORS = {
    "I": "#4c78a8", "W": "#f58518", "O": "#54a24b", "compute": "#b279a2", "static": "#9d755d",
}  # fmt: skip
#: Run colours of Compare (A, B, C) and the other series.
RUN_COLORS = ("#4c78a8", "#f58518", "#54a24b")
SERIES_COLORS = ("#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b", "#b279a2")
METRIC_LABELS = {"latency": "latency", "energy": "energy", "edp": "EDP", "area": "area",
                 "pJ/MAC": "pJ/MAC"}  # fmt: skip
#: Units of Compare's figures in hover text, and the factor from the frame's unit to them.
METRIC_UNITS = {"latency": ("cycles", 1.0), "energy": ("J", 1e-12), "edp": ("J·cycles", 1e-12)}
#: An explicit template (see the module docstring); the page may still theme its own copy.
#: Axis ticks use SI prefixes (1.6M, 2.4µ), never plotly's default "B" for billions.
TEMPLATE = go.layout.Template(pio.templates["plotly_white"])
TEMPLATE.layout.xaxis.exponentformat = "SI"
TEMPLATE.layout.yaxis.exponentformat = "SI"
#: Energies are plotted in joules, so that SI ticks read as µJ, mJ, ...
J_PER_PJ = 1e-12
#: d3 format of an axis that must read with SI prefixes at every scale (200µ, not 0.0002).
SI_TICKS = "~s"
_LAYOUT = {
    "margin": {"l": 60, "r": 20, "t": 60, "b": 60},
    "legend_title_text": "",
    "template": TEMPLATE,
}


def plot_text(text: object) -> str:
    """User text for a plotly title or label: shown as its characters."""
    return html.escape(str(text))


def _lay_out(
    figure: go.Figure, title: str, x: str = "", y: str = "", log: str = "", **extra
) -> go.Figure:
    """Give `figure` the house layout: its title, axis titles and the axes ("x", "y", "xy") on
    a log scale."""
    layout = {"title": title, **_LAYOUT, **extra}
    for axis, text in (("x", x), ("y", y)):
        if text:
            layout[f"{axis}axis_title"] = text
        if axis in log:
            layout[f"{axis}axis_type"] = "log"
    figure.update_layout(**layout)
    return figure


def titled(title: str, subtitle: str = "") -> str:
    """A figure title with the design and workload it shows (user text escaped) below it."""
    return plot_text(title) + (f"<br><sup>{plot_text(subtitle)}</sup>" if subtitle else "")


def latency_breakdown(
    frame: pd.DataFrame, subtitle: str = "", provisional: Sequence[bool] | None = None
) -> go.Figure:
    """Stacked bars per layer of the latency components (cycles); layers flagged in
    `provisional` are drawn faded and their names marked with PROVISIONAL_MARK."""
    figure = go.Figure()
    flags = list(provisional) if provisional is not None else [False] * len(frame)
    names = [f"{plot_text(name)} {PROVISIONAL_MARK}" if flag else plot_text(name)
             for name, flag in zip(frame["layer"], flags, strict=True)]  # fmt: skip
    opacity = [PROVISIONAL_OPACITY if flag else 1.0 for flag in flags]
    for column in LATENCY_PARTS:
        figure.add_bar(
            x=names, y=frame[column], name=LATENCY_PART_LABELS[column],
            marker={"color": LATENCY_PART_COLORS[column], "opacity": opacity},
        )  # fmt: skip
    if any(flags):
        subtitle = f"{subtitle}; faded, {PROVISIONAL_MARK}: provisional" if subtitle else (
            f"faded, {PROVISIONAL_MARK}: provisional")  # fmt: skip
    return _lay_out(
        figure, titled("Latency breakdown per layer", subtitle), "layer", "cycles", barmode="stack"
    )


def energy_breakdown(
    frame: pd.DataFrame, title: str = "Energy per memory level and operand", subtitle: str = ""
) -> go.Figure:
    """Stacked bars per level, one colour per operand (MAC and leakage as their own bars)."""
    figure = go.Figure()
    levels = list(dict.fromkeys(frame["level"]))
    for operand, rows in frame.groupby("operand", sort=False):
        figure.add_bar(
            x=rows["level"],
            y=rows["energy_pj"] * J_PER_PJ,
            name=operand,
            marker_color=OPERAND_COLORS.get(str(operand)),
        )
    _lay_out(figure, titled(title, subtitle), "level", "energy (J)", barmode="stack")
    figure.update_xaxes(categoryorder="array", categoryarray=levels)
    figure.update_yaxes(tickformat=SI_TICKS)
    return figure


def loop_nest(mapping: Mapping, title: str = "Loop nest", subtitle: str = "") -> go.Figure:
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
    figure.update_yaxes(
        autorange="reversed", title="temporal loop (outermost first)", automargin=True
    )
    figure.update_xaxes(side="top")
    figure.update_layout(
        title=f"{titled(title, subtitle)}<br><sup>spatial {spatial}</sup><br>"
        "<sup>⇄ double-buffered level</sup>",
        height=max(260, 40 * len(labels) + 160),
        margin={"l": 130, "r": 20, "t": 130, "b": 20},
        template=TEMPLATE,
    )
    return figure


#: Colours of the dims in the spatial-unrolling figure.
DIM_COLORS = {"R": "#9d755d", "S": "#bab0ac", "P": "#4c78a8", "Q": "#72b7b2", "C": "#f58518",
              "K": "#54a24b", "G": "#b279a2", "N": "#e45756"}  # fmt: skip
UNUSED_COLOR = "#e8e8e8"


def spatial_unrolling(mapping: Mapping, hardware, subtitle: str = "") -> go.Figure:
    """The spatial unrolling drawn: one bar per array axis (cores, macro rows, macro columns)
    as long as the axis, on a log scale so that the dims' factors, which multiply, sit side by
    side (P x2 then Q x2 fill 4 cores); the part of the axis left unused is grey."""
    sizes = {"cores": hardware.cores, "rows": hardware.macro.rows,
             "columns": hardware.macro.columns}  # fmt: skip
    names = {"cores": "cores", "rows": "macro rows", "columns": "macro columns"}
    figure = go.Figure()
    shown: set[str] = set()
    for axis, size in sizes.items():
        label = f"{names[axis]} ({size})"
        used = 1
        for entry_axis, dim, factor in mapping.spatial:
            if entry_axis.value != axis or factor < 2:
                continue
            figure.add_bar(
                y=[label], x=[used * factor - used], base=[used], orientation="h",
                name=dim.value, legendgroup=dim.value, showlegend=dim.value not in shown,
                marker_color=DIM_COLORS.get(dim.value), text=[f"{dim.value}×{factor}"],
                textposition="inside", insidetextanchor="middle",
                hovertemplate=f"{names[axis]}: {dim.value} ×{factor}<extra></extra>",
            )  # fmt: skip
            shown.add(dim.value)
            used *= factor
        if used < size:
            figure.add_bar(
                y=[label], x=[size - used], base=[used], orientation="h", name="unused",
                legendgroup="unused", showlegend="unused" not in shown, marker_color=UNUSED_COLOR,
                hovertemplate=f"{names[axis]}: {size - used} of {size} unused<extra></extra>",
            )  # fmt: skip
            shown.add("unused")
    top = max(sizes.values())
    figure.update_xaxes(type="log", range=[0, math.log10(top)], tickvals=_powers_of_two(top))
    figure.update_yaxes(autorange="reversed")
    return _lay_out(
        figure, titled("Spatial unrolling over the array", subtitle),
        "cells of the axis (log scale: factors multiply)", barmode="overlay", height=260,
    )  # fmt: skip


def _powers_of_two(top: int) -> list[int]:
    return [2**k for k in range(int(math.log2(top)) + 1)] + ([top] if top & (top - 1) else [])


def predicted_vs_simulated(frame: pd.DataFrame, subtitle: str = "") -> go.Figure:
    """Per layer: the MIP's predicted latency (where the mapper has one), the cost model's
    (the reported figure) and the event simulator's."""
    series = (
        ("predicted_latency_cycles", "MIP prediction", "diamond"),
        ("latency_cycles", "cost model (reported)", "circle"),
        ("sim_latency_cycles", "event simulator", "x"),
    )
    figure = go.Figure()
    for (column, name, symbol), color in zip(series, SERIES_COLORS, strict=False):
        if column in frame and frame[column].notna().any():
            figure.add_scatter(
                x=[plot_text(layer) for layer in frame["layer"]], y=frame[column],
                mode="markers", name=name,
                marker={"symbol": symbol, "size": 10, "color": color},
            )  # fmt: skip
    return _lay_out(figure, titled("Predicted vs simulated latency per layer", subtitle), "layer",
                    "cycles", "y")  # fmt: skip


def compare_bars(frame: pd.DataFrame, metric: str) -> go.Figure:
    """Each later run's `metric` over the first run's, per layer and for the network, on a log
    axis (a ratio of 100 and one of 1.01 both stay readable); hover gives absolute values."""
    rows = frame[frame["metric"] == metric]
    runs = list(dict.fromkeys(rows["run"]))
    unit, factor = METRIC_UNITS.get(metric, ("", 1.0))
    reference = rows[rows["run"] == runs[0]].set_index("layer")["value"] * factor
    figure = go.Figure()
    for run, color in zip(runs[1:], RUN_COLORS[1:], strict=False):
        mine = rows[rows["run"] == run]
        figure.add_bar(
            x=[plot_text(layer) for layer in mine["layer"]], y=mine["ratio"], name=plot_text(run),
            marker_color=color,
            customdata=np.stack([mine["value"] * factor, mine["layer"].map(reference)], axis=-1),
            hovertemplate=f"%{{x}}<br>ratio %{{y:.3g}}<br>this run %{{customdata[0]:.3s}}{unit}"
            f"<br>first run %{{customdata[1]:.3s}}{unit}<extra></extra>",
        )  # fmt: skip
    figure.add_hline(y=1.0, line_dash="dot")
    return _lay_out(
        figure, f"{METRIC_LABELS[metric]} normalized to {plot_text(runs[0])} (below 1: better)",
        y=f"{METRIC_LABELS[metric]} / first run (log)", log="y", barmode="group",
    )  # fmt: skip


def roofline(frame: pd.DataFrame, dram_bw_bits_per_cycle: float, subtitle: str = "") -> go.Figure:
    """Classic roofline per layer: achieved MACs/cycle against MACs per DRAM bit of the mapping,
    under the array's peak and the DRAM-bandwidth slope (log-log)."""
    figure = go.Figure()
    finite = frame[np.isfinite(frame["macs_per_dram_bit"])]
    if len(finite):
        low = float(finite["macs_per_dram_bit"].min()) / 2
        high = float(finite["macs_per_dram_bit"].max()) * 2
        peak = float(frame["peak_macs_per_cycle"].max())
        x = np.geomspace(low, high, 60)
        figure.add_scatter(
            x=x, y=np.minimum(peak, x * dram_bw_bits_per_cycle), mode="lines",
            name="roof: min(peak, DRAM bandwidth × intensity)", line={"color": "#888888"},
        )  # fmt: skip
    figure.add_scatter(
        x=finite["macs_per_dram_bit"], y=finite["achieved_macs_per_cycle"], mode="markers",
        text=[plot_text(name) for name in finite["layer"]], name="layers (achieved)",
        hovertemplate="%{text}<br>%{x:.3g} MACs per DRAM bit<br>%{y:.3g} MACs/cycle"
        "<extra></extra>", marker={"size": 10, "color": SERIES_COLORS[1]},
    )  # fmt: skip
    _lay_out(
        figure,
        titled("Roofline: achieved MACs/cycle vs the array's peak and DRAM bandwidth", subtitle),
        "MACs per DRAM bit moved (mapping's arithmetic intensity)",
        "MACs / cycle",
        "xy",
    )
    return figure


def layer_ceilings(frame: pd.DataFrame, layer: str, subtitle: str = "") -> go.Figure:
    """One layer's achieved MACs/cycle beside its ceilings: peak, DRAM and buffer traffic."""
    row = frame[frame["layer"] == layer].iloc[0]
    names = ("achieved", "array peak", "DRAM traffic ceiling", "GB traffic ceiling")
    columns = ("achieved_macs_per_cycle", "peak_macs_per_cycle", "dram_ceiling_macs_per_cycle",
               "gb_ceiling_macs_per_cycle")  # fmt: skip
    values = [float(row[c]) if math.isfinite(row[c]) else None for c in columns]
    figure = go.Figure(
        go.Bar(x=list(names), y=values, marker_color=list(SERIES_COLORS[: len(names)]))
    )
    return _lay_out(
        figure, titled(f"MACs per cycle of {layer}", subtitle), y="MACs / cycle (log)", log="y"
    )


def parallel_axes(
    frame: pd.DataFrame, axes: list[str], color: str, subtitle: str = ""
) -> go.Figure:
    """One line per design point across the swept axes and the network figures."""
    columns = [*axes, "latency_cycles", "energy_pj", "area_mm2"]
    dimensions = [
        {"label": column, "values": frame[column].astype(float).to_numpy()} for column in columns
    ]
    figure = go.Figure(
        go.Parcoords(
            dimensions=dimensions,
            line={"color": frame[color].astype(float), "colorscale": "Viridis", "showscale": True},
        )
    )
    figure.update_layout(
        title=titled("Design points across the axes and figures", subtitle), template=TEMPLATE,
        margin={"l": 80, "r": 80, "t": 90, "b": 40},
    )  # fmt: skip
    return figure


#: The figures the sweep scatter plots; a Pareto front over exactly these is joined by a line.
SWEEP_PLOT_COLUMNS = ("latency_cycles", "energy_pj")


def sweep_scatter(
    frame: pd.DataFrame,
    color: str,
    axes: list[str],
    front: Sequence[str] = ("latency", "energy"),
    subtitle: str = "",
) -> go.Figure:
    """Latency against energy per design point, coloured by `color`. The rows of the frame's
    `pareto` column, a front over the figures `front` (names as in `pareto.PARETO_COLUMNS`),
    are ringed; when the front is over the two plotted figures it is drawn as a line too.
    customdata carries the frame's row index."""
    hover = [
        "<br>".join(f"{axis} = {row[axis]}" for axis in axes)
        + f"<br>{plot_text(row['hardware'])} ({row['status']})<br>area {row['area_mm2']:.3g} mm²"
        for _, row in frame.iterrows()
    ]
    figure = go.Figure()
    figure.add_scatter(
        x=frame["latency_cycles"],
        y=frame["energy_pj"] * J_PER_PJ,
        mode="markers",
        name="design points",
        customdata=frame.index.to_numpy(),
        text=hover,
        hovertemplate="%{text}<br>latency %{x:.3s}cycles<br>energy %{y:.3s}J<extra></extra>",
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
        y=optimal["energy_pj"] * J_PER_PJ,
        mode="lines+markers" if joined else "markers",
        name=f"Pareto front ({', '.join(front)})" if front else "Pareto front (none chosen)",
        line={"color": "crimson"},
        marker={"size": 16, "symbol": "circle-open", "color": "crimson"},
        hoverinfo="skip",
    )
    _add_edp_curves(figure, frame)
    _lay_out(figure, titled("Design space: latency vs energy (dotted: equal EDP)", subtitle),
             "network latency (cycles)", "network energy (J)",
             legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1,
                     "xanchor": "right"})  # fmt: skip
    figure.update_yaxes(tickformat=SI_TICKS)
    return figure


#: Iso-EDP curves drawn on the sweep scatter.
EDP_CURVES = 4


def _add_edp_curves(figure: go.Figure, frame: pd.DataFrame) -> None:
    """Dotted curves latency x energy = const through the points' EDP range: a point on a lower
    curve has the better EDP. Each is clipped to the points' box so the axes keep their range."""
    finite = frame[np.isfinite(frame["latency_cycles"]) & np.isfinite(frame["energy_pj"])]
    if len(finite) < 2:
        return
    x_low, x_high = float(finite["latency_cycles"].min()), float(finite["latency_cycles"].max())
    energy_j = finite["energy_pj"] * J_PER_PJ
    y_low, y_high = float(energy_j.min()), float(energy_j.max())
    edp = finite["latency_cycles"] * energy_j
    if not (x_high > x_low > 0 and y_high > y_low > 0):
        return
    x = np.geomspace(x_low, x_high, 80)
    for index, level in enumerate(np.geomspace(float(edp.min()), float(edp.max()), EDP_CURVES)):
        y = level / x
        inside = (y >= y_low) & (y <= y_high)
        figure.add_scatter(
            x=x[inside], y=y[inside], mode="lines", line={"dash": "dot", "color": "#999999"},
            name="equal EDP", legendgroup="edp", showlegend=index == 0,
            hovertemplate=f"EDP {format_edp(level / J_PER_PJ)}<extra></extra>",
        )  # fmt: skip
