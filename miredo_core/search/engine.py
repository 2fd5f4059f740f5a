"""`solve_layer`: the mapping engine for one layer.

1. Enumerate every legal spatial unrolling with its provable lower bounds (`spatial`).
2. Seed the incumbent with the weight-stationary baseline, so the result is never worse than WS.
3. Visit candidates best bound first; skip every candidate whose bound is not below the
   incumbent (it cannot contain a better mapping); search tilings and loop orders of the others
   with the order search of `heuristic`, each order scored by the exact placement search.
4. Re-solve the winning order with the MIP (`mip.solve_placement_mip`), which proves its
   placement and double buffering optimal for that order, and re-evaluate the mapping with
   `cost_model.evaluate`: the reported cost is the evaluated one, the MIP's is "predicted".
5. With a certifying preset (`thorough`), hand the incumbent to the certifier
   (`certify.certify_layer`): an exact branch and bound over the tile chain of every spatial
   candidate that proves the incumbent within the gap tolerance of the optimum or replaces it
   with a better mapping; its proven bound becomes the lower bound.
6. Status: `optimal` when the incumbent is within the gap tolerance of the best lower bound of
   every candidate (visited or not), otherwise `best_found` with that gap; `infeasible` with the
   reason when no legal mapping exists.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import dataclass

from miredo_core.cost_model import CostBreakdown, evaluate
from miredo_core.hardware import Hardware
from miredo_core.kinds import OBJECTIVES, objective_value
from miredo_core.mapping import InfeasibleMappingError, Mapping
from miredo_core.search.baselines import weight_stationary
from miredo_core.search.certify import certify_layer
from miredo_core.search.heuristic import count_orders, enumerate_candidate, search_candidate
from miredo_core.search.mip import SOLVERS, MipError, solve_placement_mip
from miredo_core.search.placement import FixedOrder
from miredo_core.search.spatial import SpatialCandidate, candidate, spatial_candidates
from miredo_core.workload import Layer

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Preset:
    time_limit_s: float
    """Wall-clock budget of the order search over all candidates."""
    candidates: int
    """Most spatial candidates searched (best bound first)."""
    mip_seconds: float
    """Budget of the final MIP solve."""
    exhaustive_orders: int
    """A candidate with at most this many tilings x orders is enumerated completely (which
    certifies it) instead of searched."""
    certify_seconds: float = 0.0
    """Budget of the certifier after the search (0: no certification)."""


PRESETS: dict[str, Preset] = {
    "interactive": Preset(time_limit_s=3.0, candidates=3, mip_seconds=5.0, exhaustive_orders=60),
    "balanced": Preset(time_limit_s=12.0, candidates=8, mip_seconds=10.0, exhaustive_orders=400),
    # The certifier searches every candidate exactly; the order search only seeds it.
    "thorough": Preset(
        time_limit_s=4.0,
        candidates=4,
        mip_seconds=5.0,
        exhaustive_orders=100,
        certify_seconds=120.0,
    ),  # fmt: skip
}


@dataclass(frozen=True)
class SolveOptions:
    preset: str = "balanced"
    time_limit_s: float | None = None
    """Overrides the preset's search budget (and caps its certification budget)."""
    solver: str = "highs"
    threads: int = 1
    workers: int = 1
    """Processes the certifier may use for one layer (spatial candidates in parallel)."""
    gap_tolerance: float = 0.01
    seed: int = 0

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}; choose one of {', '.join(PRESETS)}")
        if self.time_limit_s is not None and self.time_limit_s <= 0:
            raise ValueError("time limit must be positive")
        if not 0 <= self.gap_tolerance < 1:
            raise ValueError(f"gap tolerance must be in [0, 1), got {self.gap_tolerance}")
        if self.workers < 1:
            raise ValueError("workers must be at least 1")
        if self.solver not in SOLVERS:
            raise ValueError(f"unknown solver {self.solver!r}; choose one of {', '.join(SOLVERS)}")

    @property
    def budget(self) -> Preset:
        preset = PRESETS[self.preset]
        if self.time_limit_s is None:
            return preset
        return dataclasses.replace(
            preset,
            time_limit_s=self.time_limit_s,
            mip_seconds=min(preset.mip_seconds, self.time_limit_s),
            certify_seconds=min(preset.certify_seconds, self.time_limit_s),
        )


@dataclass(frozen=True)
class MappingResult:
    layer: Layer
    objective: str
    status: str
    """optimal | best_found | infeasible"""
    mapping: Mapping | None
    cost: CostBreakdown | None
    lower_bound: float
    """Best proven lower bound of the objective over the whole mapping space."""
    gap: float
    """(value - lower_bound) / value of the evaluated objective; within the gap tolerance when
    optimal, 0 when the optimum is certified by complete enumeration."""
    predicted_latency_cycles: float = math.nan
    predicted_energy_pj: float = math.nan
    mip_status: str = ""
    candidates_total: int = 0
    candidates_pruned: int = 0
    candidates_searched: int = 0
    orders_evaluated: int = 0
    certified_candidates: int = 0
    """Spatial candidates the certifier searched to the end."""
    certify_nodes: int = 0
    """Partial mappings the certifier visited."""
    solve_time_s: float = 0.0
    reason: str = ""

    @property
    def value(self) -> float:
        return math.nan if self.cost is None else objective_value(self.cost, self.objective)


def within_tolerance(gap: float, tolerance: float) -> bool:
    """Whether a gap counts as optimal: a bound proven at exactly (1 - tolerance) x value is
    within the tolerance, and so is a gap of floating-point noise (energies are sums of floats
    added in different orders by the search and by `evaluate`)."""
    return gap <= tolerance * (1 + 1e-9) + 1e-9


def _infeasible(layer: Layer, objective: str, reason: str, start: float) -> MappingResult:
    return MappingResult(
        layer=layer,
        objective=objective,
        status="infeasible",
        mapping=None,
        cost=None,
        lower_bound=math.nan,
        gap=math.nan,
        reason=reason,
        solve_time_s=time.monotonic() - start,
    )


def _seed(hw: Hardware, layer: Layer, objective: str):
    """The WS mapping as the first incumbent: (mapping, value, its candidate, "") or, if even
    WS is illegal, (None, inf, None, reason) with the error that names the level and numbers."""
    try:
        mapping = weight_stationary(hw, layer)
        cost = evaluate(hw, layer, mapping)
    except InfeasibleMappingError as error:
        return None, math.inf, None, str(error)
    return mapping, objective_value(cost, objective), candidate(hw, layer, mapping.spatial), ""


def solve_layer(
    hw: Hardware, layer: Layer, objective: str = "latency", options: SolveOptions | None = None
) -> MappingResult:
    """Find the best mapping of `layer` on `hw` for `objective` within the options' budget."""
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")
    options = options or SolveOptions()
    budget = options.budget
    start = time.monotonic()
    candidates = spatial_candidates(hw, layer)
    if not candidates:
        return _infeasible(layer, objective, "no legal spatial unrolling", start)
    best_mapping, best_value, ws_candidate, ws_reason = _seed(hw, layer, objective)
    if layer.weight_bits > hw.macro.weight_bits:
        return _infeasible(layer, objective, ws_reason, start)
    ordered = sorted(candidates, key=lambda c: (c.bound(objective), -c.utilization))
    queue: list[SpatialCandidate] = ordered[: budget.candidates]
    if ws_candidate is not None and ws_candidate.spatial not in {c.spatial for c in queue}:
        queue.append(ws_candidate)
    queued = {c.spatial for c in queue}
    # Small candidates beyond the preset's count are enumerated too while time lasts, so that
    # small layers end certified.
    queue += [c for c in ordered if c.spatial not in queued]
    deadline = start + budget.time_limit_s
    tally = {"pruned": 0, "searched": 0, "orders": 0}
    open_bounds: list[float] = []  # bounds of candidates not enumerated completely
    for index, cand in enumerate(queue):
        if cand.bound(objective) >= best_value:
            tally["pruned"] += 1
            continue
        small = count_orders(cand.temporal) <= budget.exhaustive_orders
        if index >= budget.candidates + 1 and not (small and time.monotonic() < deadline):
            open_bounds.append(cand.bound(objective))
            continue
        state, complete = _search(hw, layer, cand, objective, budget, deadline, queue, index,
                                  options.seed + index)  # fmt: skip
        tally["searched"] += 1
        tally["orders"] += state.evaluations
        if not complete:
            open_bounds.append(cand.bound(objective))
        if state.best is not None and state.best_value < best_value:
            best_mapping, best_value = state.best.mapping, state.best_value
    if best_mapping is None:
        reason = "no spatial candidate has a legal tiling"
        return _infeasible(
            layer, objective, f"{reason}; {ws_reason}" if ws_reason else reason, start
        )
    open_bounds = [b for b in open_bounds if b < best_value]
    certificate = None
    if budget.certify_seconds > 0:
        value = objective_value(evaluate(hw, layer, best_mapping), objective)
        certificate = certify_layer(hw, layer, objective, best_mapping, value,
                                    options.gap_tolerance,
                                    time.monotonic() + budget.certify_seconds,
                                    options.workers)  # fmt: skip
        best_mapping = certificate.mapping
    return _finish(hw, layer, objective, options, best_mapping, open_bounds, start,
                   (len(candidates), tally), certificate)  # fmt: skip


def _search(hw, layer, cand, objective, budget, deadline, queue, index, seed):
    """Enumerate a small candidate completely, search a large one within its time slice."""
    remaining = max(deadline - time.monotonic(), 0.0)
    due = max(min(len(queue), budget.candidates + 1) - index, 1)  # candidates still due
    # The best-bound, best-utilization candidate most often holds the optimum: it gets half of
    # the budget, the others share the rest evenly.
    fraction = 0.5 if index == 0 and due > 1 else 1 / due
    slice_end = time.monotonic() + remaining * fraction
    if count_orders(cand.temporal) <= budget.exhaustive_orders:
        return enumerate_candidate(hw, layer, cand, objective, max(slice_end, deadline))
    state = search_candidate(hw, layer, cand, objective, slice_end, seed=seed)
    return state, False


def _finish(hw, layer, objective, options, mapping, open_bounds, start, counts, certificate):
    """MIP re-solve of the winning order, exact re-evaluation, bound and status.

    The lower bound is the certifier's when it ran (it covers every candidate). Otherwise it is
    the incumbent itself when every candidate that could beat it was either pruned by its bound
    or enumerated completely (a certificate), and else the smallest bound of the candidates left
    open."""
    order = FixedOrder(mapping.spatial, mapping.loops)
    mip_status, predicted = "", (math.nan, math.nan)
    try:
        solution = solve_placement_mip(
            hw, layer, order, objective, options.solver, options.budget.mip_seconds, options.threads
        )
    except MipError as error:
        logger.warning("MIP re-solve failed for %s: %s", layer.name, error)
        solution = None
    if solution is not None:
        mip_status = solution.status
        if solution.mapping is not None:
            candidate_cost = evaluate(hw, layer, solution.mapping)
            if objective_value(candidate_cost, objective) <= objective_value(
                evaluate(hw, layer, mapping), objective
            ):
                mapping = solution.mapping
                predicted = (solution.predicted_latency_cycles, solution.predicted_energy_pj)
    cost = evaluate(hw, layer, mapping)
    value = objective_value(cost, objective)
    if certificate is not None:
        lower_bound = min(value, certificate.lower_bound)
    else:
        lower_bound = min([value, *open_bounds])
    gap = (value - lower_bound) / value if value > 0 else 0.0
    status = "optimal" if within_tolerance(gap, options.gap_tolerance) else "best_found"
    total, tally = counts
    return MappingResult(
        layer=layer,
        objective=objective,
        status=status,
        mapping=mapping,
        cost=cost,
        lower_bound=lower_bound,
        gap=gap,
        predicted_latency_cycles=predicted[0],
        predicted_energy_pj=predicted[1],
        mip_status=mip_status,
        candidates_total=total,
        candidates_pruned=tally["pruned"],
        candidates_searched=tally["searched"],
        orders_evaluated=tally["orders"],
        certified_candidates=certificate.candidates_certified if certificate else 0,
        certify_nodes=certificate.nodes if certificate else 0,
        solve_time_s=time.monotonic() - start,
    )
