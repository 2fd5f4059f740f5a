"""Results of mapping layers and networks, and their tabular / file exports.

Every table the product shows (CLI, dashboard, CSV download) is built from `to_frame()`, so the
column names and units below are the contract:

    layer, mapper, objective, status          identification; status is one of STATUSES
    macs                                      multiply-accumulates of the layer (incl. batch)
    latency_cycles, energy_pj, edp_pj_cycles  cost_model.evaluate's figures (pJ x cycles for EDP)
    compute_cycles, weight_load_stall_cycles, input_stall_cycles, output_stall_cycles,
    startup_cycles, writeback_cycles          the latency breakdown (they add up to latency)
    utilization, spatial_utilization         fractions in [0, 1]
    sim_latency_cycles, sim_energy_pj         the event simulator's figures, if it was run
    solve_time_s                              wall time of the mapper for this layer
    reason                                    why a layer is infeasible ("" otherwise)
    predicted_latency_cycles, predicted_energy_pj   the MIP's own figures for its mapping
    lower_bound, gap                          best proven lower bound of the objective and the
                                              relative gap (value - bound) / value
    candidates_total, candidates_pruned       spatial candidates enumerated / proven useless

followed by mac_energy_pj, memory_energy_pj, leakage_energy_pj, area_mm2, reused_from, hardware
and network. A figure that does not exist (an infeasible layer's cost, a simulation that was not
run) is NaN, never 0.

How per-layer figures aggregate into network totals: layers run one after another, and each
layer is an independent cold start (its start-up loads and final write-back are inside its own
latency; nothing stays on chip between layers). Hence the network latency and energy are the sums
over layers, and the network EDP is total latency x total energy — not the sum of per-layer EDPs,
which would understate the product. A total over a network with an infeasible layer is NaN:
a partial sum would silently describe a different network.

Nodes of an imported model that are not mapped (`NetworkResult.skipped`: ConvTranspose,
unsupported or non-MAC operators) are part of no total; the totals say how many they exclude
(`skipped_nodes`), the CSV lists each after the layers with status `skipped` and its operator
and reason in `reason`, and the JSON lists them under `skipped`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from miredo_core.cost_model import CostBreakdown
from miredo_core.kinds import STATUSES, EnergyDelay, Status
from miredo_core.mapping import Mapping
from miredo_core.workload import Layer, SkippedNode

#: The status written in the CSV row of a model node that was not mapped.
SKIPPED_STATUS = "skipped"

#: The cost fields copied into the frame, in column order.
COST_COLUMNS: tuple[str, ...] = (
    "latency_cycles",
    "energy_pj",
    "edp_pj_cycles",
    "compute_cycles",
    "weight_load_stall_cycles",
    "input_stall_cycles",
    "output_stall_cycles",
    "startup_cycles",
    "writeback_cycles",
    "utilization",
    "spatial_utilization",
)

#: Latency components that add up to `latency_cycles`; summed in network totals.
LATENCY_PARTS: tuple[str, ...] = CostBreakdown.LATENCY_PARTS

#: Cost fields appended after the required columns.
EXTRA_COST_COLUMNS: tuple[str, ...] = (
    "mac_energy_pj",
    "memory_energy_pj",
    "leakage_energy_pj",
    "area_mm2",
)

#: Extra cost columns whose network total is a sum (area is not: it belongs to the hardware).
SUMMED_EXTRA_COLUMNS: tuple[str, ...] = EXTRA_COST_COLUMNS[:3]

#: Columns whose network total is the plain sum over layers.
SUMMED_COLUMNS: tuple[str, ...] = (
    LATENCY_PARTS + SUMMED_EXTRA_COLUMNS + ("sim_latency_cycles", "sim_energy_pj")
)

#: Figures of an optimizing mapper (NaN for baselines): the fields of SearchStats.
SEARCH_COLUMNS: tuple[str, ...] = (
    "predicted_latency_cycles",
    "predicted_energy_pj",
    "lower_bound",
    "gap",
    "candidates_total",
    "candidates_pruned",
)

FRAME_COLUMNS: tuple[str, ...] = (
    ("layer", "mapper", "objective", "status", "macs")
    + COST_COLUMNS
    + ("sim_latency_cycles", "sim_energy_pj", "solve_time_s", "reason")
    + SEARCH_COLUMNS
    + EXTRA_COST_COLUMNS
    + ("reused_from", "hardware", "network")
)


@dataclass(frozen=True)
class SearchStats:
    """What an optimizing mapper reports besides its mapping (NaN where it has no figure, as
    for the baselines); the SEARCH_COLUMNS of the frame, in that order."""

    predicted_latency_cycles: float = math.nan
    """The mapper's own latency figure for its mapping (the MIP's model), cycles."""
    predicted_energy_pj: float = math.nan
    """The mapper's own energy figure for its mapping, pJ."""
    lower_bound: float = math.nan
    """The best proven lower bound of the objective (cycles, pJ or pJ x cycles)."""
    gap: float = math.nan
    """(value - lower_bound) / value, a fraction."""
    candidates_total: float = math.nan
    """Spatial candidates enumerated."""
    candidates_pruned: float = math.nan
    """Spatial candidates proven useless."""

    @classmethod
    def from_mapping(cls, figures: Any) -> SearchStats:
        """From a {column: value} mapping (a stored answer); unknown names are an error."""
        if isinstance(figures, SearchStats):
            return figures
        return cls(**{name: float(value) for name, value in dict(figures).items()})

    @classmethod
    def from_attributes(cls, source: Any) -> SearchStats:
        """The figures `source` (a `search.engine.MappingResult`) carries under these names;
        those it lacks stay NaN."""
        names = (f.name for f in dataclasses.fields(cls))
        return cls(**{name: getattr(source, name) for name in names if hasattr(source, name)})

    def items(self) -> tuple[tuple[str, float], ...]:
        """The known figures as (column, value) pairs, NaN ones left out."""
        pairs = ((f.name, float(getattr(self, f.name))) for f in dataclasses.fields(self))
        return tuple((name, value) for name, value in pairs if not math.isnan(value))


def _nan_if_none(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _cost_value(cost: CostBreakdown, column: str) -> float:
    """One cost figure by column name; memory energy is the sum of the per-access table."""
    if column == "memory_energy_pj":
        return float(sum(cost.memory_energy_pj.values()))
    return float(getattr(cost, column))


def _json_number(value: float) -> float | None:
    """JSON has no NaN/inf: absent figures become null instead of invalid JSON."""
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class LayerResult:
    """The outcome of mapping one layer: its mapping, evaluated cost and provenance."""

    layer: Layer
    mapper: str
    objective: str
    status: str
    mapping: Mapping | None
    cost: CostBreakdown | None
    reason: str = ""
    solve_time_s: float = 0.0
    sim_latency_cycles: float | None = None
    sim_energy_pj: float | None = None
    reused_from: str = ""
    """Name of an identical earlier layer whose solve this result reuses ("" if solved here);
    such a result carries solve_time_s = 0 so that summing solve times gives the real effort."""
    search: SearchStats = dataclasses.field(default_factory=SearchStats)
    """The SEARCH_COLUMNS figures of an optimizing mapper (a {column: value} dict is taken)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "search", SearchStats.from_mapping(self.search))
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")
        if Status(self.status).has_mapping != (self.cost is not None):
            raise ValueError(
                "an infeasible, cancelled or failed layer has no cost, every other has one"
            )

    @property
    def feasible(self) -> bool:
        return self.cost is not None

    def row(self) -> dict[str, Any]:
        """This result as one frame row (without the hardware / network columns)."""
        row: dict[str, Any] = {
            "layer": self.layer.name,
            "mapper": self.mapper,
            "objective": self.objective,
            "status": self.status,
            "macs": self.layer.macs,
        }
        for column in COST_COLUMNS + EXTRA_COST_COLUMNS:
            row[column] = math.nan if self.cost is None else _cost_value(self.cost, column)
        row["sim_latency_cycles"] = _nan_if_none(self.sim_latency_cycles)
        row["sim_energy_pj"] = _nan_if_none(self.sim_energy_pj)
        row["solve_time_s"] = float(self.solve_time_s)
        row["reason"] = self.reason
        for column in SEARCH_COLUMNS:
            row[column] = float(getattr(self.search, column))
        row["reused_from"] = self.reused_from
        return row

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description: the layer, the mapping (Mapping.to_dict) and every figure."""
        row = self.row()
        data: dict[str, Any] = {
            key: _json_number(value) if isinstance(value, float) else value
            for key, value in row.items()
        }
        data["layer"] = dataclasses.asdict(self.layer)
        data["mapping"] = None if self.mapping is None else self.mapping.to_dict()
        data["memory_energy_pj_by_access"] = (
            []
            if self.cost is None
            else [
                {"level": str(level), "operand": str(operand), "access": access, "energy_pj": value}
                for (level, operand, access), value in sorted(
                    self.cost.memory_energy_pj.items(), key=lambda item: tuple(map(str, item[0]))
                )
            ]
        )
        return data


@dataclass(frozen=True)
class NetworkResult(EnergyDelay):
    """Per-layer results of one network on one hardware, in network order.

    Totals follow the module docstring: sums over layers for latency and energy, product of the
    totals for EDP (`edp_pj_cycles`: the network runs as one job, layer after layer), NaN as
    soon as one layer is infeasible.
    """

    hardware_name: str
    network_name: str
    layer_results: tuple[LayerResult, ...]
    skipped: tuple[SkippedNode, ...] = ()
    """Nodes of the imported model that were not mapped; excluded from every total."""

    @property
    def infeasible_layers(self) -> tuple[str, ...]:
        return tuple(r.layer.name for r in self.layer_results if not r.feasible)

    @property
    def complete(self) -> bool:
        """Whether every layer has a mapping (so the totals are defined)."""
        return not self.infeasible_layers

    def _total(self, field: str) -> float:
        if not self.complete:
            return math.nan
        return float(sum(getattr(r.cost, field) for r in self.layer_results))

    @property
    def macs(self) -> int:
        return sum(r.layer.macs for r in self.layer_results)

    @property
    def latency_cycles(self) -> float:
        return self._total("latency_cycles")

    @property
    def energy_pj(self) -> float:
        return self._total("energy_pj")

    @property
    def solve_time_s(self) -> float:
        return float(sum(r.solve_time_s for r in self.layer_results))

    def to_frame(self) -> pd.DataFrame:
        """One row per layer, columns FRAME_COLUMNS (see the module docstring for units)."""
        rows = [
            {**r.row(), "hardware": self.hardware_name, "network": self.network_name}
            for r in self.layer_results
        ]
        return pd.DataFrame(rows, columns=list(FRAME_COLUMNS))

    def summary(self) -> dict[str, Any]:
        """The network totals as plain Python values (the row of `summary_frame`)."""
        rows = [r.row() for r in self.layer_results]
        summary: dict[str, Any] = {
            "hardware": self.hardware_name,
            "network": self.network_name,
            "mapper": _joined(row["mapper"] for row in rows),
            "objective": _joined(row["objective"] for row in rows),
            "layers": len(rows),
            "infeasible_layers": len(self.infeasible_layers),
            "skipped_nodes": len(self.skipped),
            "macs": self.macs,
            "latency_cycles": self.latency_cycles,
            "energy_pj": self.energy_pj,
            "edp_pj_cycles": self.edp_pj_cycles,
        }
        # NaN propagates through sum(): a total is defined only if every layer has the figure
        # (simulated totals, for instance, only if every layer was simulated).
        for column in SUMMED_COLUMNS:
            summary[column] = float(sum(row[column] for row in rows))
        summary["solve_time_s"] = self.solve_time_s
        # Area belongs to the hardware, not to a layer: every feasible layer reports the same.
        areas = [row["area_mm2"] for row in rows if not math.isnan(row["area_mm2"])]
        summary["area_mm2"] = max(areas) if areas else math.nan
        return summary

    def summary_frame(self) -> pd.DataFrame:
        """One row with the network totals; same column names as `to_frame` where they apply."""
        return pd.DataFrame([self.summary()])

    def skipped_frame(self) -> pd.DataFrame:
        """One FRAME_COLUMNS row per skipped node: its name as `layer`, status `skipped`, the
        operator and why in `reason`, every figure NaN."""
        rows = [
            {
                "layer": node.name,
                "status": SKIPPED_STATUS,
                "reason": f"{node.op_type}: {node.reason}",
                "hardware": self.hardware_name,
                "network": self.network_name,
            }
            for node in self.skipped
        ]
        return pd.DataFrame(rows, columns=list(FRAME_COLUMNS))

    def to_csv(self, path: str | Path) -> None:
        """Write the per-layer frame as CSV (NaN as empty fields), then one row per skipped
        node."""
        # Appended rather than concatenated, so the layer rows keep their column types.
        with open(path, "w", encoding="utf-8", newline="") as stream:
            self.to_frame().to_csv(stream, index=False)
            if self.skipped:
                self.skipped_frame().to_csv(stream, index=False, header=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "hardware": self.hardware_name,
            "network": self.network_name,
            "totals": {
                key: _json_number(value) if isinstance(value, float) else value
                for key, value in self.summary().items()
                if key not in ("hardware", "network")
            },
            "layers": [r.to_dict() for r in self.layer_results],
            "skipped": [dataclasses.asdict(node) for node in self.skipped],
        }

    def to_json(self, indent: int | None = 2, identity: dict[str, str] | None = None) -> str:
        """The whole result, mappings included, as strict JSON (absent figures are null);
        `identity` (e.g. the design's variant and hash, the workload, the settings) comes
        first, as top-level fields."""
        return json.dumps({**(identity or {}), **self.to_dict()}, indent=indent, allow_nan=False)


def _joined(values: Iterable[str]) -> str:
    """The distinct values of a column in first-seen order, joined with '+'."""
    return "+".join(dict.fromkeys(values))
