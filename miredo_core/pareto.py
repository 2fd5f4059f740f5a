"""Pareto masks over minimized columns (latency, energy, EDP, area, or any other).

A point p *dominates* q when p is no worse in every column and strictly better in at least one.
A point is on the Pareto front when no other point dominates it. Consequences the tests pin down:

* ties: equal rows do not dominate each other, so duplicates of a front point are all on the
  front; a point equal to another in one column and better in another dominates it;
* a row with a NaN in any selected column (an infeasible or cancelled design) is never on the
  front and never dominates anything: it is not a trade-off, it is a missing answer;
* +inf is an ordinary (worst) value.

EDP is latency x energy, so adding it to latency and energy never changes the front (whatever
dominates in both factors dominates in the product); it matters on its own or beside area.

The scan visits points in lexicographic order: a dominating point is lexicographically smaller
than the point it dominates, so comparing each point with the front found so far suffices
(dominance is transitive). That is O(n x front x k) instead of O(n^2 k).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

#: Short names (as the CLI and the dashboard spell them) of the usual minimized columns.
PARETO_COLUMNS: dict[str, str] = {
    "latency": "latency_cycles",
    "energy": "energy_pj",
    "edp": "edp_pj_cycles",
    "area": "area_mm2",
}

#: The default front of a hardware sweep: speed, energy and silicon cost.
DEFAULT_PARETO_COLUMNS: tuple[str, ...] = ("latency_cycles", "energy_pj", "area_mm2")


def resolve_columns(names: Sequence[str]) -> tuple[str, ...]:
    """Column names from short names (`latency`, `energy`, `edp`, `area`) or full ones."""
    columns = tuple(PARETO_COLUMNS.get(name, name) for name in names)
    if not columns:
        raise ValueError("a Pareto front needs at least one column")
    if len(set(columns)) != len(columns):
        raise ValueError(f"Pareto columns repeat: {', '.join(columns)}")
    return columns


def pareto_mask(values: Any, columns: Sequence[str] | None = None) -> np.ndarray:
    """Boolean mask of the Pareto-optimal rows, every column minimized.

    `values` is a 2-D array-like (points x objectives), or a DataFrame together with the
    `columns` to use (short names accepted, see PARETO_COLUMNS). The mask follows the row order
    of the input.
    """
    if isinstance(values, pd.DataFrame):
        if columns is None:
            raise ValueError("give the columns to minimize when passing a DataFrame")
        selected = resolve_columns(columns)
        missing = [column for column in selected if column not in values.columns]
        if missing:
            raise ValueError(f"no column {', '.join(missing)} in the frame")
        values = values.loc[:, list(selected)]
    elif columns is not None:
        raise ValueError("columns apply to a DataFrame only")
    table = np.asarray(values, dtype=float)
    if table.ndim != 2:
        raise ValueError(f"expected a 2-D table (points x objectives), got shape {table.shape}")
    mask = np.zeros(len(table), dtype=bool)
    valid = np.flatnonzero(~np.isnan(table).any(axis=1))
    if valid.size == 0:
        return mask
    # np.lexsort sorts by its last key first, hence the reversed columns.
    order = valid[np.lexsort(table[valid].T[::-1])]
    front: list[int] = []
    for index in order:
        row = table[index]
        if front:
            kept = table[front]
            if np.any(np.all(kept <= row, axis=1) & np.any(kept < row, axis=1)):
                continue
        front.append(index)
    mask[front] = True
    return mask
