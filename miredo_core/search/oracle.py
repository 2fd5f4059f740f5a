"""The exhaustive oracle: the exact optimum of the whole mapping space of a (small) layer.

Every spatial candidate, every tiling of its temporal remainder into loops, every loop order,
and for each order the optimal placement and double buffering (`placement.best_placement`, itself
exhaustive over the Pareto-optimal placements of each operand). Candidates whose provable lower
bound is not below the incumbent are skipped (branch and bound: they cannot hold a better
mapping). Meant for tiny layers, where it is the reference the mapper is tested against.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from miredo_core.cost_model import evaluate
from miredo_core.hardware import Hardware
from miredo_core.kinds import objective_value
from miredo_core.mapping import InfeasibleMappingError, Mapping
from miredo_core.search.baselines import weight_stationary
from miredo_core.search.heuristic import count_orders, enumerate_candidate
from miredo_core.search.spatial import spatial_candidates
from miredo_core.workload import Layer

#: Most tilings x orders (summed over spatial candidates) the oracle agrees to enumerate.
MAX_ORDERS = 200_000


class LayerTooLargeError(ValueError):
    """The layer's mapping space is too large to enumerate."""


@dataclass(frozen=True)
class OracleResult:
    mapping: Mapping | None
    value: float
    orders_evaluated: int
    candidates_total: int
    candidates_pruned: int
    seconds: float


def exhaustive_search(hw: Hardware, layer: Layer, objective: str = "latency") -> OracleResult:
    """The optimal mapping of `layer` on `hw` for `objective` by complete enumeration."""
    start = time.monotonic()
    # Transposed twins included: the oracle is what the engine's one-of-twins listing is
    # checked against.
    candidates = spatial_candidates(hw, layer, twins=True)
    candidates.sort(key=lambda c: c.bound(objective))
    best, best_value = None, math.inf
    try:  # the WS mapping lies in the space: it is a valid first incumbent for pruning
        best = weight_stationary(hw, layer)
        best_value = objective_value(evaluate(hw, layer, best), objective)
    except InfeasibleMappingError:
        pass
    size = sum(count_orders(c.temporal) for c in candidates if c.bound(objective) < best_value)
    if size > MAX_ORDERS:
        raise LayerTooLargeError(
            f"layer {layer.name!r} has {size:,} tilings x orders left to enumerate after bound "
            f"pruning (limit {MAX_ORDERS:,}); use the mip mapper for layers this size"
        )
    orders, pruned = 0, 0
    for cand in candidates:
        if cand.bound(objective) >= best_value:
            pruned += 1
            continue
        state, _ = enumerate_candidate(hw, layer, cand, objective)
        orders += state.evaluations
        if state.best is not None and state.best_value < best_value:
            best, best_value = state.best.mapping, state.best_value
    return OracleResult(best, best_value, orders, len(candidates), pruned,
                        time.monotonic() - start)  # fmt: skip
