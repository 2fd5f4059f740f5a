"""A self-contained HTML report: the design, summary tables, figures, loop nests, bound cards.

plotly.js is embedded once (the first figure) so the file opens without a network; the later
figures reuse it. Every figure comes from `ui.charts` with that module's explicit template
(the report never depends on the Streamlit theme), every table from `ui.frames` or
`ui.explain`, so the report shows what the pages show. All text is HTML-escaped; wide tables
scroll inside their own box instead of widening the page.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from miredo_core import Hardware, NetworkResult
from ui import charts, explain, frames
from ui.text import format_cycles, format_edp, format_energy, format_percent

_STYLE = (
    "body{font-family:sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222;"
    "background:#fff}"
    ".scroll{overflow-x:auto;max-width:100%}"
    "table{border-collapse:collapse;font-size:12px}"
    "td,th{border:1px solid #ccc;padding:2px 6px;max-width:28em;overflow-wrap:break-word}"
    "pre{background:#f6f6f6;padding:1em;overflow-x:auto;white-space:pre-wrap;font-size:12px}"
)


@dataclass(frozen=True)
class Preformatted:
    """A block of text shown as is (the hardware YAML)."""

    text: str


@dataclass(frozen=True)
class RunContext:
    """What names a run: its design (label, hash, YAML) and workload."""

    design_label: str
    hardware: Hardware
    hardware_yaml: str
    workload: str


def _bound_table(hardware: Hardware, result: NetworkResult) -> pd.DataFrame:
    cards = explain.bound_frame(hardware, result)
    if cards.empty:
        return cards
    formatter = {"latency": format_cycles, "energy": format_energy, "edp": format_edp}
    rows = []
    for card in cards.itertuples():
        fmt = formatter[card.objective]
        rows.append({
            "Layer": card.layer, "Value": fmt(card.value), "Proven bound": fmt(card.bound),
            "Gap": format_percent(card.gap), "Candidate floor": fmt(card.candidate_floor),
            "Latency floor set by": card.floor_binding, "Bound": card.bound_kind,
            "What it means": card.explanation,
        })  # fmt: skip
    return pd.DataFrame(rows)


def _human(frame: pd.DataFrame, objective: str = "latency") -> pd.DataFrame:
    """The page's table with its numbers written out; columns without any figure (a baseline's
    bound, a prediction no mapper made) are left out."""
    frame = frame.loc[:, [c for c in frame if not frame[c].isna().all()]]
    shown, config = frames.human_table(frame, objective)
    for column, spec in config.items():
        if spec.get("format") == "percent":
            shown[column] = shown[column].map(format_percent)
        else:
            shown[column] = shown[column].map(
                lambda value: f"{value:.4g}" if value == value else ""
            )
    return shown


def run_sections(
    result: NetworkResult,
    baseline: NetworkResult | None,
    objective: str,
    context: RunContext | None = None,
) -> list:
    """(heading, figure, table or text) sections of one Optimize run."""
    frame = result.to_frame()
    subtitle = f"{context.design_label}, {context.workload}" if context else ""
    sections: list[tuple[str, go.Figure | pd.DataFrame | Preformatted]] = []
    if context is not None:
        sections.append(("Design", Preformatted(f"{context.design_label}\n{context.workload}")))
    summary = result.summary_frame()
    summary = summary[["hardware", "network", "mapper", "objective", "layers",
                       "infeasible_layers", "latency_cycles", "energy_pj", "edp_pj_cycles",
                       "area_mm2", "solve_time_s"]]  # fmt: skip
    layers = frames.optimize_table(result, baseline, objective)
    energy = frames.energy_frame(result)
    sections += [
        ("Network summary", _human(summary, objective)),
        ("Per-layer results", _human(layers, objective)),
        ("Latency breakdown", charts.latency_breakdown(frame, subtitle)),
        ("Energy breakdown", charts.energy_breakdown(energy, subtitle=subtitle)),
    ]
    if frame["sim_latency_cycles"].notna().any():
        sections.append(("Model fidelity", charts.predicted_vs_simulated(frame, subtitle)))
    if context is not None:
        sections.append(("Bound cards", _bound_table(context.hardware, result)))
        roofline = explain.roofline_frame(context.hardware, result)
        bandwidth = context.hardware.dram.read_bw_bits_per_cycle
        sections.append(("Roofline", charts.roofline(roofline, bandwidth, subtitle)))
    for layer_result in result.layer_results:
        if layer_result.mapping is not None and not layer_result.reused_from:
            nest = frames.loop_nest_frame(layer_result.mapping)
            sections.append((f"Loop nest of {layer_result.layer.name}", nest))
    if context is not None:
        sections.append(("Hardware YAML", Preformatted(context.hardware_yaml)))
    return sections


def sweep_sections(
    points: pd.DataFrame, axes: list[str], front: list[str], subtitle: str = ""
) -> list:
    """(heading, figure or table) sections of one sweep: `points` is the Design space page's
    frame (`SweepResult.points_frame()` with `pareto` over the figures `front`); `subtitle`
    names the design it started from and the workload."""
    scatter = charts.sweep_scatter(points, "area_mm2", axes, front, subtitle)
    return [("Design space", scatter), ("Sweep points", points)]


def _figure_html(figure: go.Figure, embed: bool) -> str:
    exported = go.Figure(figure)
    exported.update_layout(template=charts.TEMPLATE)  # explicit colours, whatever the default
    return pio.to_html(exported, include_plotlyjs=embed, full_html=False)


def html_report(title: str, sections: list) -> str:
    """One HTML page; figures interactive, plotly.js inlined once."""
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
    ]
    embedded = False
    for heading, content in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        if isinstance(content, go.Figure):
            parts.append(_figure_html(content, not embedded))
            embedded = True
        elif isinstance(content, Preformatted):
            parts.append(f"<pre>{html.escape(content.text)}</pre>")
        else:
            table = content.to_html(index=False, na_rep="", escape=True)
            parts.append(f"<div class='scroll'>{table}</div>")
    parts.append("</body></html>")
    return "\n".join(parts)
