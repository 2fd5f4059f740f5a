"""Presentation tables: DataFrames the pages show, the charts draw and the reports export.

Every figure starts from `NetworkResult.to_frame()` or from the result objects' own fields; this
module only selects, joins and relabels. The one derived number is a ratio of two evaluated
figures (a layer's cost over the weight-stationary baseline's, B over A in Compare); a sweep's
Pareto mask comes from `miredo_core.pareto`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from miredo_core import DIMS, OPERANDS, Dim, Level, Mapping, Network, NetworkResult, pareto_mask
from ui import explain
from ui.text import prefix, si_prefix_exponent

#: The frame column each objective minimizes.
OBJECTIVE_COLUMNS = {"latency": "latency_cycles", "energy": "energy_pj", "edp": "edp_pj_cycles"}
#: Short level names for loop-nest views, outermost first.
LEVEL_LABELS = {
    Level.DRAM: "DRAM",
    Level.GLOBAL_BUFFER: "GB",
    Level.INPUT_BUFFER: "IBUF",
    Level.OUTPUT_BUFFER: "OBUF",
    Level.INPUT_REGISTER: "IReg",
    Level.OUTPUT_REGISTER: "OReg",
    Level.MACRO: "Macro",
}
LEVEL_ORDER = {level: index for index, level in enumerate(LEVEL_LABELS)}
DOUBLE_BUFFER_MARK = " ⇄"
OPTIMIZE_COLUMNS = (
    "layer",
    "status",
    "gap",
    "lower_bound",
    "latency_cycles",
    "energy_pj",
    "edp_pj_cycles",
    "utilization",
    "ratio_to_ws",
    "predicted_latency_cycles",
    "sim_latency_cycles",
    "sim_difference",
    "solve_time_s",
    "reused_from",
    "reason",
)


def mark_pareto(points: pd.DataFrame, front: Sequence[str]) -> pd.DataFrame:
    """A sweep's points frame with its `pareto` column over the figures `front` (names as in
    `pareto.PARETO_COLUMNS`, all minimized); no point is marked when `front` is empty."""
    mask = pareto_mask(points, front) if front else np.zeros(len(points), dtype=bool)
    return points.assign(pareto=mask)


def layer_frame(network: Network) -> pd.DataFrame:
    """One row per layer: its dims, stride and MACs. When a layer is grouped (G > 1) the C and
    K columns say that they count channels per group."""
    grouped = any(layer.size(Dim.G) > 1 for layer in network.layers)
    names = {dim: dim.value for dim in DIMS}
    if grouped:
        names[Dim.C], names[Dim.K] = "C per group", "K per group"
    rows = []
    for layer in network.layers:
        row = {"Layer": layer.name, "Kind": layer.kind}
        row.update({names[dim]: layer.size(dim) for dim in DIMS})
        row["Stride"] = f"{layer.stride_h}x{layer.stride_w}"
        row["MACs"] = layer.macs
        rows.append(row)
    return pd.DataFrame(rows)


def skipped_frame(network: Network) -> pd.DataFrame:
    return pd.DataFrame(
        [(node.name, node.op_type, node.reason) for node in network.skipped],
        columns=["Node", "Operator", "Reason"],
    )


def optimize_table(
    result: NetworkResult, baseline: NetworkResult | None, objective: str
) -> pd.DataFrame:
    """The per-layer table of the Optimize page. `gap` is the solver's relative optimality gap
    when the result frame carries one (NaN for baselines); `ratio_to_ws` is the layer's
    objective figure over the weight-stationary mapping's; `sim_difference` is the simulator's
    latency minus the cost model's, relative to the cost model's."""
    frame = result.to_frame()
    for column in ("gap", "lower_bound", "predicted_latency_cycles"):
        if column not in frame:
            frame[column] = math.nan
    frame["sim_difference"] = (frame["sim_latency_cycles"] - frame["latency_cycles"]) / frame[
        "latency_cycles"
    ]
    column = OBJECTIVE_COLUMNS[objective]
    if baseline is None:
        frame["ratio_to_ws"] = math.nan
    else:
        reference = baseline.to_frame().set_index("layer")[column]
        frame["ratio_to_ws"] = frame[column] / frame["layer"].map(reference)
    return frame[list(OPTIMIZE_COLUMNS)]


def totals(result: NetworkResult) -> dict[str, float]:
    summary = result.summary()
    return {
        "latency_cycles": summary["latency_cycles"],
        "energy_pj": summary["energy_pj"],
        "edp_pj_cycles": summary["edp_pj_cycles"],
        "area_mm2": summary["area_mm2"],
    }


def energy_frame(result: NetworkResult, layer: str | None = None) -> pd.DataFrame:
    """Energy per (level, operand) summed over the network's layers (or one layer), reads and
    writes together, plus the MAC and leakage energy as their own rows."""
    rows = []
    for layer_result in result.layer_results:
        cost = layer_result.cost
        if cost is None or (layer is not None and layer_result.layer.name != layer):
            continue
        for (level, operand, access), energy in cost.memory_energy_pj.items():
            rows.append((LEVEL_LABELS[level], operand.value, access, energy, LEVEL_ORDER[level]))
        rows.append(("MAC", "compute", "", cost.mac_energy_pj, len(LEVEL_ORDER)))
        rows.append(("leakage", "static", "", cost.leakage_energy_pj, len(LEVEL_ORDER) + 1))
    frame = pd.DataFrame(rows, columns=["level", "operand", "access", "energy_pj", "order"])
    grouped = frame.groupby(["level", "operand", "order"], as_index=False)["energy_pj"].sum()
    return grouped.sort_values(["order", "operand"]).drop(columns="order").reset_index(drop=True)


def loop_nest_frame(mapping: Mapping) -> pd.DataFrame:
    """One row per temporal loop (outermost first) with the level each operand keeps it in;
    a double-buffered level is marked. Spatial unrolling follows as rows of its own."""
    rows = []
    for slot, loop in enumerate(mapping.loops):
        row = {"slot": slot, "loop": f"{loop.dim.value}{loop.factor}"}
        for operand in OPERANDS:
            level = mapping.levels_of(operand)[slot]
            mark = DOUBLE_BUFFER_MARK if (level, operand) in mapping.double_buffered else ""
            row[operand.value] = LEVEL_LABELS[level] + mark
        rows.append(row)
    for axis, dim, factor in mapping.spatial:
        row = {"slot": "spatial", "loop": f"{axis.value}: {dim.value}{factor}"}
        row.update({operand.value: "spatial" for operand in OPERANDS})
        rows.append(row)
    return pd.DataFrame(rows, columns=["slot", "loop", *(op.value for op in OPERANDS)])


def double_buffered_labels(mapping: Mapping) -> list[str]:
    return sorted(
        f"{LEVEL_LABELS[level]} ({operand.value})" for level, operand in mapping.double_buffered
    )


def nest_factors(mapping: Mapping) -> dict[tuple[str, str, str], int]:
    """The mapping's loops aligned by place: per (operand or spatial axis, level, dim) the
    product of the loop factors the operand keeps at that level (spatial: per axis)."""
    factors: dict[tuple[str, str, str], int] = {}
    for slot, loop in enumerate(mapping.loops):
        for operand in OPERANDS:
            level = LEVEL_LABELS[mapping.levels_of(operand)[slot]]
            key = (operand.value, level, loop.dim.value)
            factors[key] = factors.get(key, 1) * loop.factor
    for axis, dim, factor in mapping.spatial:
        key = ("spatial", axis.value, dim.value)
        factors[key] = factors.get(key, 1) * factor
    return factors


def _place_order(key: tuple[str, str, str]) -> tuple:
    operand, level, dim = key
    operands = [op.value for op in OPERANDS] + ["spatial"]
    levels = list(LEVEL_LABELS.values())
    dims = [d.value for d in DIMS]
    return (
        operands.index(operand),
        levels.index(level) if level in levels else len(levels),
        dims.index(dim) if dim in dims else len(dims),
        level,
    )


def loop_nest_diff(mappings: Sequence[tuple[str, Mapping | None]]) -> pd.DataFrame:
    """The loop nests of one layer under several runs, aligned by operand, level and dim (not
    by row position): one row per place any run uses, each run's factor there (1 where it has
    no loop of that dim at that level; empty for a run without a mapping), and whether the runs
    differ there."""
    per_run = {label: nest_factors(m) if m is not None else None for label, m in mappings}
    keys = sorted({key for f in per_run.values() if f for key in f}, key=_place_order)
    rows = []
    for key in keys:
        row = {"operand / axis": key[0], "level": key[1], "dim": key[2]}
        values = []
        for label, factors in per_run.items():
            value = "" if factors is None else factors.get(key, 1)
            row[label] = value
            values.append(value)
        row["differs"] = len(set(values)) > 1
        rows.append(row)
    columns = ["operand / axis", "level", "dim", *per_run, "differs"]
    return pd.DataFrame(rows, columns=columns)


#: Network-total figures of Compare beside the three objectives (lower is better, except for
#: TOPS/W and ops/cycle/mm²).
TOTAL_METRICS = {**OBJECTIVE_COLUMNS, "area": "area_mm2", "pJ/MAC": "pj_per_mac",
                 "TOPS/W": "tops_per_w", "ops/cycle/mm²": "ops_per_cycle_mm2"}  # fmt: skip


#: A 1 THz clock, at which TOPS/mm² is ops per cycle per mm² (Compare's clock-free figure).
THZ_IN_MHZ = 1e6


def _network_figures(result: NetworkResult) -> dict[str, float]:
    """Totals with the clock-free efficiencies of `explain.efficiency`: energy per MAC,
    TOPS/W and ops per cycle per mm² (its TOPS/mm² at 1 THz; times the clock in THz at any
    other)."""
    figures = totals(result)
    efficiency = explain.efficiency(result, figures["area_mm2"], THZ_IN_MHZ)
    figures["pj_per_mac"] = efficiency.pj_per_mac
    figures["tops_per_w"] = efficiency.tops_per_w
    figures["ops_per_cycle_mm2"] = efficiency.tops_per_mm2
    return figures


def compare_frame(runs: Sequence[tuple[str, NetworkResult]]) -> pd.DataFrame:
    """Per layer and for the whole network (label "network total"): each run's latency, energy
    and EDP (network total also area, pJ/MAC, TOPS/W and ops/cycle/mm²), absolute and as a
    ratio to the first run (long form: layer, metric, run, value, ratio)."""
    reference_label, reference = runs[0]
    base = reference.to_frame().set_index("layer")
    rows = []
    for label, result in runs:
        frame = result.to_frame().set_index("layer")
        for layer in base.index:
            for metric, column in OBJECTIVE_COLUMNS.items():
                value = frame[column].get(layer, math.nan)
                rows.append((layer, metric, label, value, value / base.at[layer, column]))
        figures, base_figures = _network_figures(result), _network_figures(reference)
        for metric, column in TOTAL_METRICS.items():
            value = figures[column]
            rows.append(("network total", metric, label, value, value / base_figures[column]))
    return pd.DataFrame(rows, columns=["layer", "metric", "run", "value", "ratio"])


# ---------------------------------------------------------------- human tables and CSV export
#: column -> (header, unit, factor from the frame's unit to `unit`). The header gets an SI
#: prefix chosen per column from its largest value, so numbers stay numbers (sortable).
SCALED_COLUMNS = {
    "latency_cycles": ("Latency", "cycles", 1.0),
    "energy_pj": ("Energy", "J", 1e-12),
    "edp_pj_cycles": ("EDP", "J·cycles", 1e-12),
    "predicted_latency_cycles": ("MIP-predicted latency", "cycles", 1.0),
    "sim_latency_cycles": ("Simulated latency", "cycles", 1.0),
    "solve_time_s": ("Solve time", "s", 1.0),
    "macs": ("MACs", "MAC", 1.0),
    "energy_pj_total": ("Energy", "J", 1e-12),
}
#: The unit of an objective's value and bound, as SCALED_COLUMNS entries.
OBJECTIVE_UNITS = {"latency": ("cycles", 1.0), "energy": ("J", 1e-12), "edp": ("J·cycles", 1e-12)}
PERCENT_COLUMNS = {"gap": "Gap", "utilization": "Utilization", "sim_difference": "Model vs sim"}
TEXT_HEADERS = {
    "layer": "Layer", "status": "Status", "ratio_to_ws": "× WS", "reused_from": "Reused from",
    "reason": "Reason", "lower_bound": "Proven bound", "area_mm2": "Area (mm²)",
    "hardware": "Hardware", "network": "Network", "mapper": "Mapper", "objective": "Objective",
    "layers": "Layers", "infeasible_layers": "Layers not mapped", "pareto": "Pareto",
    "point": "Point", "hardware_hash": "Hardware hash",
}  # fmt: skip
ROW_HEIGHT_PX = 35


def human_table(frame: pd.DataFrame, objective: str = "latency") -> tuple[pd.DataFrame, dict]:
    """`frame` for display: SI-scaled numeric columns with the unit in the header ("Energy
    (µJ)"), readable headers, and the Streamlit column config that formats them."""
    units = {**SCALED_COLUMNS, "lower_bound": ("Proven bound", *OBJECTIVE_UNITS[objective])}
    shown = pd.DataFrame(index=frame.index)
    config: dict = {}
    for column in frame.columns:
        values = frame[column]
        if column in units:
            header, unit, factor = units[column]
            scaled = values.astype(float) * factor
            finite = scaled[np.isfinite(scaled)].abs()
            exponent = si_prefix_exponent(float(finite.max())) if len(finite) else 0
            header = f"{header} ({prefix(exponent)}{unit})"
            shown[header] = scaled / 1000.0**exponent
            config[header] = {"format": "%.4g"}
        elif column in PERCENT_COLUMNS:
            shown[PERCENT_COLUMNS[column]] = values.astype(float)
            config[PERCENT_COLUMNS[column]] = {"format": "percent"}
        else:
            shown[TEXT_HEADERS.get(column, column)] = values  # axis names stay as typed
    return shown, config


def table_height(rows: int) -> int:
    """Pixels that show every row of a table (header included) without an inner scroll."""
    return ROW_HEIGHT_PX * (rows + 1) + 3


#: Columns of the CSV export renamed so that every unit is in the name.
EXPORT_RENAMES = {
    "gap": "gap_fraction",
    "utilization": "utilization_fraction",
    "spatial_utilization": "spatial_utilization_fraction",
}
EXPORT_BOUND_UNITS = {"latency": "cycles", "energy": "pj", "edp": "pj_cycles"}


def export_frame(result: NetworkResult, identity: dict[str, str]) -> pd.DataFrame:
    """The per-layer CSV: `result.to_frame()` with units in every column name, the layer's
    dims (R S P Q C K G N, stride), and `identity` columns (hardware variant and hash,
    workload, preset, solver) on every row so a file says where it came from."""
    frame = result.to_frame()
    objective = str(frame["objective"].iloc[0]) if len(frame) else "latency"
    renames = {**EXPORT_RENAMES, "lower_bound": f"lower_bound_{EXPORT_BOUND_UNITS[objective]}"}
    frame = frame.rename(columns=renames)
    dims = pd.DataFrame(
        [
            {
                **{dim.value: r.layer.size(dim) for dim in DIMS},
                "stride_h": r.layer.stride_h,
                "stride_w": r.layer.stride_w,
            }
            for r in result.layer_results
        ],
        index=frame.index,
    )
    position = list(frame.columns).index("macs") + 1
    frame = pd.concat([frame.iloc[:, :position], dims, frame.iloc[:, position:]], axis=1)
    for name, value in identity.items():
        frame[name] = value
    return frame
