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

from miredo_core import DIMS, OPERANDS, Level, Mapping, Network, NetworkResult, pareto_mask

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
    "latency_cycles",
    "energy_pj",
    "edp_pj_cycles",
    "utilization",
    "ratio_to_ws",
    "predicted_latency_cycles",
    "sim_latency_cycles",
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
    """One row per layer: its dims, stride and MACs."""
    rows = []
    for layer in network.layers:
        row = {"layer": layer.name, "kind": layer.kind}
        row.update({dim.value: layer.size(dim) for dim in DIMS})
        row["stride"] = f"{layer.stride_h}x{layer.stride_w}"
        row["macs"] = layer.macs
        rows.append(row)
    return pd.DataFrame(rows)


def skipped_frame(network: Network) -> pd.DataFrame:
    return pd.DataFrame(
        [(node.name, node.op_type, node.reason) for node in network.skipped],
        columns=["node", "op_type", "reason"],
    )


def optimize_table(
    result: NetworkResult, baseline: NetworkResult | None, objective: str
) -> pd.DataFrame:
    """The per-layer table of the Optimize page. `gap` is the solver's relative optimality gap
    when the result frame carries one (NaN for baselines); `ratio_to_ws` is the layer's
    objective figure over the weight-stationary mapping's."""
    frame = result.to_frame()
    for column in ("gap", "predicted_latency_cycles"):
        if column not in frame:
            frame[column] = math.nan
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


def loop_nest_diff(a: Mapping | None, b: Mapping | None) -> pd.DataFrame:
    """The loop nests of one layer under runs A and B side by side, row by row, with a flag
    where they differ (an infeasible side shows as empty)."""
    left = loop_nest_frame(a) if a is not None else pd.DataFrame(columns=["loop", "I", "W", "O"])
    right = loop_nest_frame(b) if b is not None else pd.DataFrame(columns=["loop", "I", "W", "O"])
    columns = ["loop", "I", "W", "O"]
    left = left[columns].reset_index(drop=True).add_prefix("A ")
    right = right[columns].reset_index(drop=True).add_prefix("B ")
    joined = pd.concat([left, right], axis=1).fillna("")
    joined["differs"] = [
        tuple(row[f"A {c}"] for c in columns) != tuple(row[f"B {c}"] for c in columns)
        for _, row in joined.iterrows()
    ]
    return joined


def compare_frame(a: NetworkResult, b: NetworkResult) -> pd.DataFrame:
    """Per layer and for the whole network: B's latency, energy and EDP over A's (long form)."""
    left = a.to_frame().set_index("layer")
    right = b.to_frame().set_index("layer")
    rows = []
    for layer in left.index:
        for name, column in OBJECTIVE_COLUMNS.items():
            value = right[column].get(layer, math.nan) / left.at[layer, column]
            rows.append((layer, name, value))
    totals_a, totals_b = totals(a), totals(b)
    for name, column in OBJECTIVE_COLUMNS.items():
        rows.append(("network total", name, totals_b[column] / totals_a[column]))
    return pd.DataFrame(rows, columns=["layer", "metric", "ratio_b_over_a"])
