"""A self-contained HTML report: summary tables and the dashboard's figures, offline.

plotly.js is embedded once (the first figure) so the file opens without a network; the later
figures reuse it. Every figure comes from `ui.charts`, every table from `ui.frames` or a result
frame, so the report shows exactly what the pages show.
"""

from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from miredo_core import NetworkResult
from ui import charts, frames

_STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:1200px}"
    "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px}"
)


def run_sections(result: NetworkResult, baseline: NetworkResult | None, objective: str) -> list:
    """(heading, figure or table) sections of one Optimize run."""
    frame = result.to_frame()
    sections: list[tuple[str, go.Figure | pd.DataFrame]] = [
        ("Network summary", result.summary_frame()),
        ("Per-layer results", frames.optimize_table(result, baseline, objective)),
        ("Latency breakdown", charts.latency_breakdown(frame)),
        ("Energy breakdown", charts.energy_breakdown(frames.energy_frame(result))),
    ]
    if frame["sim_latency_cycles"].notna().any():
        sections.append(("Model fidelity", charts.predicted_vs_simulated(frame)))
    return sections


def sweep_sections(points: pd.DataFrame, axes: list[str], front: list[str]) -> list:
    """(heading, figure or table) sections of one sweep: `points` is the Design space page's
    frame (`SweepResult.points_frame()` with `pareto` over the figures `front`)."""
    scatter = charts.sweep_scatter(points, "area_mm2", axes, front)
    return [("Design space", scatter), ("Sweep points", points)]


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
            parts.append(pio.to_html(content, include_plotlyjs=not embedded, full_html=False))
            embedded = True
        else:
            parts.append(content.to_html(index=False, na_rep=""))
    parts.append("</body></html>")
    return "\n".join(parts)
