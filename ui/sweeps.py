"""A plain hardware sweep loop and a Pareto mask, until the library's sweep engine lands.

`pareto_mask` is a pure function that moves to `miredo_core/pareto.py` together with the sweep
engine (`miredo_core/sweep.py`, with its persistent store); the loop here maps one network per
point with `map_network` and keeps only network totals. Neither computes a cost itself: every
figure comes from `map_network`, hence from `cost_model.evaluate`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from miredo_core.config import dump_hardware
from miredo_core.hardware import Hardware
from miredo_core.network import map_network
from miredo_core.search.engine import SolveOptions
from miredo_core.variants import VARIANT_AXES, apply_variant
from miredo_core.workload import Network

#: How the values of each variant axis are typed in a comma-separated list.
INTEGER_AXES = frozenset({"cores", "macro_rows", "macro_columns", "compartment_depth"})
BOOLEAN_AXES = frozenset({"ping_pong"})
_TRUE = {"on", "true", "yes", "1"}
_FALSE = {"off", "false", "no", "0"}

#: Columns of a sweep frame besides the axis columns.
SWEEP_COLUMNS = (
    "hardware",
    "latency_cycles",
    "energy_pj",
    "edp_pj_cycles",
    "area_mm2",
    "infeasible_layers",
    "error",
    "hardware_text",
)


def parse_axis_values(axis: str, text: str) -> tuple[Any, ...]:
    """The values of one axis from a comma-separated list; ValueError says what is wrong."""
    if axis not in VARIANT_AXES:
        raise ValueError(f"unknown axis {axis!r}; valid axes: {', '.join(VARIANT_AXES)}")
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise ValueError(f"{axis}: give at least one value")
    values: list[Any] = []
    for item in items:
        if axis in BOOLEAN_AXES:
            if item.lower() not in _TRUE | _FALSE:
                raise ValueError(f"{axis}: {item!r} is not on/off")
            values.append(item.lower() in _TRUE)
            continue
        try:
            number = int(item) if axis in INTEGER_AXES else float(item)
        except ValueError:
            kind = "an integer" if axis in INTEGER_AXES else "a number"
            raise ValueError(f"{axis}: {item!r} is not {kind}") from None
        if isinstance(number, float) and number.is_integer():
            number = int(number)
        values.append(number)
    return tuple(dict.fromkeys(values))


def sweep_points(axes: Sequence[tuple[str, Sequence[Any]]]) -> list[dict[str, Any]]:
    """Every combination of the axis values, as {axis: value} dicts, first axis outermost."""
    names = [name for name, _ in axes]
    return [
        dict(zip(names, combo, strict=True))
        for combo in itertools.product(*(values for _, values in axes))
    ]


def sweep_rows(
    hardware: Hardware,
    network: Network,
    points: Sequence[dict[str, Any]],
    mapper: str,
    objective: str,
    options: SolveOptions | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> pd.DataFrame:
    """Network totals of every point. A point whose variant is invalid keeps its row, with the
    reason in `error` and NaN figures, so one bad value does not hide the others. After
    `cancel()` turns true the remaining points are left out."""
    rows = []
    for done, point in enumerate(points, start=1):
        if cancel is not None and cancel():
            break
        row: dict[str, Any] = dict(point)
        try:
            variant = hardware
            for axis, value in point.items():
                variant = apply_variant(variant, axis, value)
        except ValueError as error:
            row.update(hardware="", error=str(error), hardware_text="")
            row.update(dict.fromkeys(SWEEP_COLUMNS[1:6], math.nan))
        else:
            result = map_network(
                variant, network, mapper, objective, options=options, cancel=cancel
            )
            row.update(
                hardware=variant.name,
                latency_cycles=result.latency_cycles,
                energy_pj=result.energy_pj,
                edp_pj_cycles=result.edp_pj_cycles,
                area_mm2=variant.area_mm2,
                infeasible_layers=len(result.infeasible_layers),
                error="",
                hardware_text=dump_hardware(variant),
            )
        rows.append(row)
        if progress is not None:
            progress(done, len(points), ", ".join(f"{k}={v}" for k, v in point.items()))
    return pd.DataFrame(rows, columns=[*points[0].keys(), *SWEEP_COLUMNS] if points else None)


def pareto_mask(costs: Any) -> np.ndarray:
    """Which rows of `costs` (n points x k objectives, all minimized) are Pareto-optimal.

    A point is on the front when no other point is <= in every objective and < in one. Rows with
    a NaN are never on the front (an infeasible design is not a trade-off); equal rows are all
    on it. O(n^2 k), fine for the few hundred points a dashboard sweep has.

    Moves to `miredo_core/pareto.py` with the sweep engine.
    """
    values = np.asarray(costs, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"costs must be a 2-D array (points x objectives), got {values.shape}")
    valid = ~np.isnan(values).any(axis=1)
    mask = valid.copy()
    for index in np.flatnonzero(valid):
        others = values[valid]
        dominated = np.all(others <= values[index], axis=1) & np.any(others < values[index], axis=1)
        mask[index] = not dominated.any()
    return mask
