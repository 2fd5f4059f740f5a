"""Result views: metric cards, human tables, bound cards, efficiency and fidelity notes.

Everything a user typed or uploaded (names, descriptions, labels) is shown through `st.text` or
escaped with `ui.text.escape_markdown`; numbers go through the formatters of `ui.text`.
"""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from miredo_core import Hardware, NetworkResult
from ui import charts, explain, frames, state
from ui.explain import BoundCard, Efficiency
from ui.text import (
    escape_markdown,
    format_area,
    format_cycles,
    format_edp,
    format_energy,
    format_percent,
    format_seconds,
    format_si,
)

#: Default clock for figures per second (the model counts cycles; the user sets the clock).
DEFAULT_CLOCK_MHZ = 500.0
OBJECTIVE_FORMATS = {"latency": format_cycles, "energy": format_energy, "edp": format_edp}


def page(title: str, caption: str, notice=None) -> None:
    """The head of every page: the session's state, the page's title and what it is for, then
    the one-shot notice another page left for this one, shown with `notice` (`st.warning`,
    `st.error`) when the page shows notices."""
    state.init()
    st.title(title)
    st.caption(caption)
    if notice is not None and (message := state.notice()):
        notice(escape_markdown(message))


def identity(label: str, value: str) -> None:
    """A line naming what a result belongs to, user text shown as its characters (escaped
    Markdown, so that a long name wraps instead of being cut off)."""
    st.caption(f"{label}: {escape_markdown(value)}")


def hardware_figures(hardware: Hardware, label: str) -> None:
    """The derived figures of a design, in the units an architect reads them in, under its
    label (state.Design.label) and description."""
    st.caption(f"Design: {escape_markdown(label)}")
    if hardware.description:
        st.caption(escape_markdown(hardware.description))
    # Two cards a row: the form takes three fifths of the page, four would be cut off.
    columns = [*st.columns(2), *st.columns(2)]
    columns[0].metric(
        "Peak MACs/cycle", f"{hardware.peak_macs_per_cycle():,.0f}", help="with 8-bit inputs"
    )
    columns[1].metric("On-chip SRAM", f"{hardware.on_chip_sram_bits / 8 / 1024:,.0f} KiB")
    columns[2].metric("Area", format_area(hardware.area_mm2))
    columns[3].metric(
        "Leakage", format_si(hardware.leakage_pj_per_cycle * 1e-12, "J/cycle"), help="static"
    )


def _delta(new: float, old: float | None, formatter) -> str | None:
    """ "+12.0 % (+0.80 Mcycles)" of `new` against `old`; None without a comparable old."""
    if old is None or not (math.isfinite(new) and math.isfinite(old)) or old == 0:
        return None
    difference = new - old
    # An ASCII "-": st.metric reads the direction of the change from the first character.
    sign = "+" if difference >= 0 else "-"
    return f"{sign}{abs(difference) / abs(old):.1%} ({sign}{formatter(abs(difference))})"


def result_metrics(
    result: NetworkResult, area_mm2: float, previous: tuple[NetworkResult, float] | None = None
) -> None:
    """Network totals of a run (sums over layers; EDP is total latency x total energy); with
    `previous` (a result and its area), each card also shows the change from it (green: lower)."""
    old, old_area = previous if previous is not None else (None, None)
    figures = (
        ("Network latency", result.latency_cycles, old and old.latency_cycles, format_cycles),
        ("Network energy", result.energy_pj, old and old.energy_pj, format_energy),
        ("EDP", result.edp_pj_cycles, old and old.edp_pj_cycles, format_edp),
        ("Area", area_mm2, old_area, format_area),
    )
    # Three cards a row: "245 kJ·cycles" needs a third of the page to be read in full.
    first, second = st.columns(3), st.columns(4)
    for column, (label, value, before, formatter) in zip([*first, second[0]], figures, strict=True):
        column.metric(
            label, formatter(value), delta=_delta(value, before, formatter), delta_color="inverse"
        )
    second[1].metric("Layers not mapped", len(result.infeasible_layers))
    second[2].metric("MACs", format_si(float(result.macs), "MAC"))
    second[3].metric("Solve time", format_seconds(result.solve_time_s), help="summed over layers")


def previous_note(label: str) -> None:
    st.caption(f"Changes are against the previous design: {escape_markdown(label)}")


def efficiency_metrics(figures: Efficiency, clock_mhz: float) -> None:
    columns = st.columns(4)
    columns[0].metric("Energy per MAC", format_si(figures.pj_per_mac * 1e-12, "J"))
    columns[1].metric("TOPS/W", f"{figures.tops_per_w:.3g}", help="2 ops per MAC; no clock needed")
    columns[2].metric("TOPS/mm²", f"{figures.tops_per_mm2:.3g}", help=f"at {clock_mhz:g} MHz")
    columns[3].metric(
        "Inferences/s", f"{figures.inferences_per_s:,.4g}", help=f"at {clock_mhz:g} MHz"
    )


def human_dataframe(frame: pd.DataFrame, key: str, objective: str = "latency") -> None:
    """A table with SI-scaled columns and readable headers, every row visible."""
    shown, config = frames.human_table(frame, objective)
    column_config = {name: st.column_config.NumberColumn(**spec) for name, spec in config.items()}
    st.dataframe(
        shown, hide_index=True, width="stretch", column_config=column_config, key=key,
        height=frames.table_height(len(shown)),
    )  # fmt: skip


def fidelity_warning(result: NetworkResult) -> None:
    """Name every layer whose simulator figures differ from the cost model by more than 2 %."""
    flags = explain.fidelity_flags(result)
    if flags.empty:
        return
    lines = [
        f"- {escape_markdown(row.layer)}: latency {format_percent(row.latency_difference)}, "
        f"energy {format_percent(row.energy_difference)}"
        for row in flags.itertuples()
    ]
    limit = format_percent(explain.FIDELITY_TOLERANCE, 0)
    st.warning(
        f"Cost model and simulator differ by more than {limit} on {len(flags)} layer(s) "
        "(simulator minus model, relative to the model):\n\n" + "\n".join(lines)
    )


def bound_card(card: BoundCard) -> None:
    """Value, proven bound, gap and what the bound is, for one layer."""
    formatter = OBJECTIVE_FORMATS[card.objective]
    with st.container(border=True):
        st.markdown(f"**Bound card: {escape_markdown(card.layer)}** ({card.objective})")
        columns = st.columns(4)
        columns[0].metric("Value", formatter(card.value))
        columns[1].metric("Proven bound", formatter(card.bound))
        columns[2].metric("Gap", format_percent(card.gap))
        columns[3].metric("Candidate floor", formatter(card.candidate_floor))
        st.write(card.explanation)
        part = card.largest_latency_part.replace("_cycles", "").replace("_", " ")
        binding = (
            f"; the best unrolling's latency floor is set by {card.floor_binding}"
            if card.floor_binding
            else ""
        )
        st.caption(
            f"Compute floor {format_cycles(card.compute_floor_cycles)}, DRAM floor "
            f"{format_cycles(card.dram_floor_cycles)}{binding}. Largest part of this mapping's "
            f"latency: {part} ({format_percent(card.largest_latency_share)})."
            if part
            else "No mapping."
        )


def gap_note(table: pd.DataFrame) -> None:
    """Say plainly how many gaps are measured against the candidate floor."""
    if "gap" in table and table["gap"].notna().any() and (table["gap"] > 0.01).any():
        count = int((table["gap"] > 0.01).sum())
        st.caption(
            f"{count} layer(s) have a gap above 1 %. A gap is measured against the proven lower "
            "bound; open a layer's bound card below to see whether that bound is only the "
            "candidate floor (compute, register reloads, interface and DRAM traffic of the best "
            "unrolling), in which case the true gap may be smaller."
        )


def layer_details(
    hardware: Hardware, result: NetworkResult, name: str, key: str, subtitle: str = ""
) -> None:
    """One layer: bound card, MACs/cycle against its ceilings, loop nest, energy (each figure
    under `subtitle`, the design and workload)."""
    chosen = next(r for r in result.layer_results if r.layer.name == name)
    if chosen.cost is None:
        st.warning(f"{escape_markdown(name)} has no mapping: {escape_markdown(chosen.reason)}")
        return
    bound_card(explain.bound_card(hardware, chosen))
    left, right = st.columns(2)
    left.plotly_chart(
        charts.loop_nest(chosen.mapping, f"Loop nest of {name}", subtitle), key=f"{key}_nest"
    )
    left.caption(
        "Double-buffered: " + (", ".join(frames.double_buffered_labels(chosen.mapping)) or "none")
    )
    left.plotly_chart(
        charts.spatial_unrolling(chosen.mapping, hardware, subtitle), key=f"{key}_spatial"
    )
    memory_levels(hardware, chosen, f"{key}_levels")
    ceilings = explain.roofline_frame(hardware, result)
    right.plotly_chart(charts.layer_ceilings(ceilings, name, subtitle), key=f"{key}_ceilings")
    right.plotly_chart(
        charts.energy_breakdown(frames.energy_frame(result, name), f"Energy of {name}", subtitle),
        key=f"{key}_energy",
    )


def _bytes(count: float) -> str:
    """Bytes as buffers are sized: B below 1 KiB, then KiB / MiB (binary prefixes)."""
    for unit, size in (("MiB", 2**20), ("KiB", 2**10)):
        if count >= size:
            return f"{count / size:.3g} {unit}"
    return f"{count:g} B"


def memory_levels(hardware: Hardware, result, key: str) -> None:
    """The tile each level holds per operand, in elements and bytes, with its share of the
    level's capacity and of its ports' bandwidth (`explain.level_usage`)."""
    usage = explain.level_usage(hardware, result)
    shown = pd.DataFrame({
        "Level": usage["level"], "Operand": usage["operand"],
        "Tile (elements)": [f"{int(v):,}" for v in usage["tile_elements"]],
        "Tile (bytes)": [_bytes(float(v)) for v in usage["tile_bytes"]],
        "Double-buffered": ["⇄ yes (2 halves)" if v else "no" for v in usage["double_buffered"]],
        "Capacity used": [format_percent(v) for v in usage["occupancy"]],
        "Level capacity used (all operands)": [format_percent(v) for v in usage["level_occupancy"]],
        "Read bandwidth used": [format_percent(v) for v in usage["read_bw_use"]],
        "Write bandwidth used": [format_percent(v) for v in usage["write_bw_use"]],
    })  # fmt: skip
    st.markdown("**Memory levels of this mapping** (per instance of each level)")
    st.dataframe(shown, hide_index=True, width="stretch", key=key,
                 height=frames.table_height(len(shown)))  # fmt: skip
    st.caption(
        "Capacity used: the tile held (both halves when double-buffered) over the level's size. "
        "Bandwidth used: this operand's bits through the level's port over what the port moves "
        "in the layer's latency (all instances)."
    )


TOTAL_FORMATS = {
    "latency": format_cycles, "energy": format_energy, "edp": format_edp, "area": format_area,
    "pJ/MAC": lambda value: format_si(value * 1e-12, "J"),
    "TOPS/W": lambda value: f"{value:.3g}", "ops/cycle/mm²": lambda value: f"{value:.3g}",
}  # fmt: skip


def compare_totals(comparison: pd.DataFrame) -> None:
    """Network totals of every run: absolute value and ratio to the first run, per figure."""
    totals = comparison[comparison["layer"] == "network total"]
    rows = []
    for metric, group in totals.groupby("metric", sort=False):
        row = {"figure": metric}
        for item in group.itertuples():
            row[item.run] = TOTAL_FORMATS[metric](item.value)
            if item.run != group["run"].iloc[0]:
                row[f"{item.run.split(' ', 1)[0]} / A"] = f"{item.ratio:.3g}×"
        rows.append(row)
    table = pd.DataFrame(rows)
    st.dataframe(table, hide_index=True, width="stretch", height=frames.table_height(len(table)))
    st.caption(
        "A ratio below 1 is better for latency, energy, EDP, area and pJ/MAC; above 1 for TOPS/W "
        "and ops/cycle/mm² (TOPS/mm² at a 1 THz clock: times the clock in THz at any other)."
    )
