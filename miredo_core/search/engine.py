"""`solve_layer`: the mapping engine for one layer.

1. Enumerate every legal spatial unrolling with its provable lower bounds (`spatial`).
2. Seed the incumbent with the weight-stationary baseline, so the result is never worse than WS,
   and with the answer of the cheaper preset the preset extends (below).
3. Visit candidates best bound first; skip every candidate whose bound is not below the
   incumbent (it cannot contain a better mapping); search tilings and loop orders of the others
   with the order search of `heuristic`, each order scored by the exact placement search.
   Then dive: the best-bound candidates still open are searched by the certifier's branch and
   bound (`tilechain_search`) within a node budget each. It places loops split into any
   factors in any order, which the order search reaches only slowly (the best mappings of
   mid-sized 3x3 convolutions interleave split K, C and P loops), and each dive's proven bound
   tightens its candidate's. With a probing preset (`balanced`), probe next: each candidate
   whose bound is still below (1 - g) x the incumbent, for each probe gap g in turn, is
   searched by the same branch and bound with tolerance g, within what is left of one node
   budget for all probes. A probe that runs to the end proves its candidate costs at least
   (1 - g) x the incumbent (or it found a better mapping, which becomes the incumbent): the
   certifier's own pruning rule at a looser threshold, so it needs far fewer nodes than a
   certificate. A probe stopped by the budget still proves its anytime bound. On shapes whose
   candidate floors leave gaps of 20-30 % (many cores, shallow compartments) a few such
   candidates are all that hold the layer's bound down.
4. Re-solve the winning order with the MIP (`mip.solve_placement_mip`), which proves its
   placement and double buffering optimal for that order, and re-evaluate the mapping with
   `cost_model.evaluate`: the reported cost is the evaluated one, the MIP's is "predicted".
5. With a certifying preset (`thorough`), hand the incumbent to the certifier
   (`certify.certify_layer`): an exact branch and bound over the tile chain of every spatial
   candidate that proves the incumbent within the gap tolerance of the optimum or replaces it
   with a better mapping; its proven (anytime) bound becomes the lower bound.
6. Status: `optimal` when the incumbent is within the gap tolerance of the proven lower bound,
   `best_found` with that gap when the work budget ran out first, `stopped` (best mapping and
   bound so far) when a cancel request or the optional time cap cut the work short;
   `infeasible` with the reason when no legal mapping exists.

Budgets of work. A preset fixes how much work is done (order evaluations, candidates, certifier
nodes), never for how long, so the same inputs give the same mapping, bound and status on any
machine and under any load. `SolveOptions.time_limit_s` and `cancel` can only stop that work
early, and the result then says so.

Monotone presets. `balanced` starts from `interactive`'s answer and `thorough` from the answer of
`balanced`'s order search and dives: each preset runs the cheaper one first and only keeps a
mapping that beats its answer, and each keeps the larger of the two proven bounds, so balanced is
never worse than interactive and thorough never worse than interactive, nor than balanced with
one exception: thorough does not run balanced's probes (their bounds are what its certificate
replaces), and should a probe find a better mapping, a thorough answer certified within the gap
tolerance is within that tolerance of it (its certificate proves no mapping cheaper by more).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

from miredo_core.cost_model import CostBreakdown, evaluate
from miredo_core.hardware import Hardware
from miredo_core.kinds import OBJECTIVES, Status, objective_value
from miredo_core.mapping import InfeasibleMappingError, Mapping
from miredo_core.search.baselines import weight_stationary
from miredo_core.search.certify import certify_candidate, certify_layer
from miredo_core.search.heuristic import count_orders, enumerate_candidate, search_candidate
from miredo_core.search.mip import SOLVERS, MipError, solve_placement_mip
from miredo_core.search.placement import FixedOrder
from miredo_core.search.presets import PRESETS, Preset, SolveOptions  # noqa: F401 (re-exported)
from miredo_core.search.spatial import SpatialCandidate, candidate, spatial_candidates
from miredo_core.search.stopping import StopSignal
from miredo_core.workload import Layer

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MappingResult:
    layer: Layer
    objective: str
    status: str
    """optimal | best_found | stopped | infeasible"""
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
    """Why there is no mapping (infeasible), or what stopped the solve (stopped)."""

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
        status=Status.INFEASIBLE.value,
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


@dataclass
class _Outcome:
    """The answer of one preset stage, handed to the stage that extends it."""

    mapping: Mapping | None
    value: float
    lower_bound: float = -math.inf
    mip_status: str = ""
    predicted: tuple[float, float] = (math.nan, math.nan)
    tally: dict = field(default_factory=lambda: dict.fromkeys(
        ("pruned", "searched", "orders", "certified", "nodes"), 0))  # fmt: skip


def solve_layer(
    hw: Hardware,
    layer: Layer,
    objective: str = "latency",
    options: SolveOptions | None = None,
    *,
    cancel=None,
) -> MappingResult:
    """Find the best mapping of `layer` on `hw` for `objective` within the options' budget of
    work. `cancel` (anything with `is_set()`) stops the solve within about a second; the result
    is then `stopped` with the best mapping and the proven bound found so far."""
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")
    options = options or SolveOptions()
    start = time.monotonic()
    stop = StopSignal.after(options.time_limit_s, cancel)
    ws_mapping, ws_value, ws_candidate, ws_reason = _seed(hw, layer, objective)
    # No answer is worse than the WS seed, so candidates whose quick floor exceeds it are
    # pruned at every stage: they need no more than that floor.
    candidates = spatial_candidates(hw, layer, objective, cutoff=ws_value)
    if not candidates:
        return _infeasible(layer, objective, "no legal spatial unrolling", start)
    if layer.weight_bits > hw.macro.weight_bits:
        return _infeasible(layer, objective, ws_reason, start)
    ordered = sorted(candidates, key=lambda c: (c.bound(objective), -c.utilization))
    problem = (hw, layer, objective, options, ordered, ws_candidate, stop)
    outcome = _run(problem, options.budget, _Outcome(ws_mapping, ws_value))
    if outcome.mapping is None:
        reason = "no spatial candidate has a legal tiling"
        return _infeasible(
            layer, objective, f"{reason}; {ws_reason}" if ws_reason else reason, start
        )
    return _result(problem, outcome, len(candidates), start)


def _run(problem, preset: Preset, seed: _Outcome) -> _Outcome:
    """One preset stage: the cheaper stage first, then this one's search, certification and MIP
    re-solve, each starting from the best answer so far."""
    hw, layer, objective, options, ordered, ws_candidate, stop = problem
    outcome = _run(problem, preset.base, seed) if preset.base is not None else seed
    before = outcome.mapping
    mapping, value, open_bounds, tally = _order_search(problem, preset, outcome.mapping,
                                                       outcome.value)  # fmt: skip
    # Orders are work done in every stage; candidate counts are per stage (the largest).
    outcome.tally["orders"] += tally["orders"]
    for key in ("pruned", "searched"):
        outcome.tally[key] = max(outcome.tally[key], tally[key])
    if preset.dive_candidates > 0 and mapping is not None:
        mapping, value = _dive(problem, preset, mapping, value, open_bounds, outcome.tally)
    if preset.probe_nodes > 0 and mapping is not None:
        mapping, value = _probe(problem, preset, mapping, value, open_bounds, outcome.tally)
    bound = min([value, *(b for b in open_bounds.values() if b < value)])
    if preset.certify_nodes > 0 and mapping is not None:
        certificate = certify_layer(hw, layer, objective, mapping, value, options.gap_tolerance,
                                    workers=options.workers, node_budget=preset.certify_nodes,
                                    stop=stop)  # fmt: skip
        mapping, value, bound = certificate.mapping, certificate.value, certificate.lower_bound
        stop()  # records a cancel or time cap the certifier saw (its signal is this one)
        outcome.tally["certified"] += certificate.candidates_certified
        outcome.tally["nodes"] += certificate.nodes
    if mapping is not None and (mapping != before or not outcome.mip_status):
        mapping, value, outcome.mip_status, outcome.predicted = _polish(problem, preset,
                                                                        mapping, value)  # fmt: skip
    # Both bounds are proven for the whole space; neither exceeds the best value.
    outcome.lower_bound = min(value, max(outcome.lower_bound, bound))
    outcome.mapping, outcome.value = mapping, value
    return outcome


def _order_search(problem, preset: Preset, best_mapping, best_value):
    """The preset's order search from the incumbent: (mapping, value, the candidates not
    settled with their bounds (best bound first), counts). A candidate is settled when its
    bound is not below the incumbent or it was enumerated completely."""
    hw, layer, objective, options, ordered, ws_candidate, stop = problem
    queue: list[SpatialCandidate] = ordered[: preset.candidates]
    if preset.candidates and ws_candidate is not None and ws_candidate not in queue:
        queue.append(ws_candidate)
    searched = len(queue)
    queue += [c for c in ordered if c not in queue[:searched]]
    left = {"search": preset.evaluations, "enumerate": preset.enumeration_evaluations}
    tally = {"pruned": 0, "searched": 0, "orders": 0}
    open_bounds: dict[SpatialCandidate, float] = {}
    for index, cand in enumerate(queue):
        if cand.bound(objective) >= best_value:
            tally["pruned"] += 1
            continue
        state, complete = _search(problem, preset, cand, index, searched, left)
        if state is not None:
            tally["searched"] += 1
            tally["orders"] += state.evaluations
            if state.best is not None and state.best_value < best_value:
                best_mapping, best_value = state.best.mapping, state.best_value
        if not complete:
            open_bounds[cand] = cand.bound(objective)
    ordered_open = sorted(open_bounds.items(), key=lambda item: item[1])
    return best_mapping, best_value, {c: b for c, b in ordered_open if b < best_value}, tally


def _dive(problem, preset: Preset, mapping, value, open_bounds, tally):
    """Search the best-bound open candidates with the certifier's branch and bound, each within
    `preset.dive_nodes` nodes, for a mapping below the incumbent: (mapping, value). Each dive's
    proven (anytime) bound replaces its candidate's floor in `open_bounds`; a dive that runs to
    the end settles its candidate (its optimum is the incumbent or the mapping it found)."""
    stop = problem[-1]
    for cand in list(open_bounds)[: preset.dive_candidates]:
        if stop() or open_bounds[cand] >= value:
            continue
        result, mapping, value = _branch_and_bound(problem, cand, mapping, value, tally,
                                                   node_limit=preset.dive_nodes)  # fmt: skip
        if result.complete:
            tally["certified"] += 1
            del open_bounds[cand]
        else:
            open_bounds[cand] = max(open_bounds[cand], result.lower_bound)
    return mapping, value


def _probe(problem, preset: Preset, mapping, value, open_bounds, tally):
    """Raise the bounds of the open candidates below (1 - g) x the incumbent, for each probe gap
    g of the preset in turn, lowest bound first, with the certifier's branch and bound at
    tolerance g, all within `preset.probe_nodes` nodes: (mapping, value). Each probe's proven
    bound (module docstring, step 3) replaces its candidate's in `open_bounds` when higher; a
    mapping it finds below the incumbent becomes the incumbent."""
    stop = problem[-1]
    left = preset.probe_nodes
    for gap in preset.probe_gaps:
        for cand in sorted(open_bounds, key=open_bounds.__getitem__):  # stable: ties keep order
            if left <= 0 or stop():
                return mapping, value
            if open_bounds[cand] >= (1.0 - gap) * value:
                continue
            result, mapping, value = _branch_and_bound(problem, cand, mapping, value, tally,
                                                       tolerance=gap, node_limit=left)  # fmt: skip
            left -= result.nodes
            open_bounds[cand] = max(open_bounds[cand], result.lower_bound)
    return mapping, value


def _branch_and_bound(problem, cand: SpatialCandidate, mapping, value, tally, **limits):
    """Search `cand` with the certifier's branch and bound below the incumbent `value` (`limits`:
    its tolerance and node limit), counting its nodes in `tally`: (its result, and the mapping
    and value of the incumbent, replaced when the search found a better mapping)."""
    hw, layer, objective, options, ordered, ws_candidate, stop = problem
    result = certify_candidate(hw, layer, cand, objective, upper=value, stop=stop, **limits)
    tally["nodes"] += result.nodes
    if result.mapping is not None and result.best_value < value:
        mapping, value = result.mapping, result.best_value
    return result, mapping, value


def _search(problem, preset: Preset, cand: SpatialCandidate, index: int, searched: int, left):
    """Enumerate a small candidate completely, search a large one within its share of the
    evaluations: (state or None if not searched, whether the candidate is settled)."""
    hw, layer, objective, options, ordered, ws_candidate, stop = problem
    if stop():
        return None, False
    size = count_orders(cand.temporal)
    if index < searched:
        if size <= preset.exhaustive_orders:
            state, complete = enumerate_candidate(hw, layer, cand, objective, stop=stop)
            left["search"] = max(left["search"] - state.evaluations, 0)
            return state, complete
        # The best-bound, best-utilization candidate most often holds the optimum: it gets half
        # of the evaluations, the others share the rest evenly.
        due = searched - index
        share = int(left["search"] * (0.5 if index == 0 and due > 1 else 1 / due))
        if share < 1:
            return None, False
        state = search_candidate(hw, layer, cand, objective, seed=options.seed + index,
                                 max_evaluations=share, stop=stop)  # fmt: skip
        left["search"] -= state.evaluations
        return state, False
    if size <= preset.exhaustive_orders and size <= left["enumerate"]:
        left["enumerate"] -= size
        return enumerate_candidate(hw, layer, cand, objective, stop=stop)
    return None, False


def _polish(problem, preset: Preset, mapping: Mapping, value: float):
    """MIP re-solve of the mapping's order: (mapping, value, MIP status, predicted latency and
    energy). The MIP's placement is kept when it is proven optimal and no worse."""
    hw, layer, objective, options, ordered, ws_candidate, stop = problem
    if stop():
        return mapping, value, "", (math.nan, math.nan)
    cap = min(preset.mip_cap_s, max(stop.deadline - time.monotonic(), 0.1))
    order = FixedOrder(mapping.spatial, mapping.loops)
    solution = None
    # The chosen solver first, then the other one: HiGHS gives up inside some solves of large
    # GEMM shapes ("Unknown error in call to HiGHS", e.g. TinyLlama's down projection) that
    # CBC solves.
    for solver in (options.solver, *(name for name in SOLVERS if name != options.solver)):
        try:
            solution = solve_placement_mip(hw, layer, order, objective, solver, cap,
                                           options.threads)  # fmt: skip
            break
        except MipError as error:
            logger.warning("MIP re-solve of %s failed with %s: %s", layer.name, solver, error)
    if solution is None:
        return mapping, value, "", (math.nan, math.nan)
    predicted = (math.nan, math.nan)
    if solution.status == "optimal" and solution.mapping is not None:
        mip_value = objective_value(evaluate(hw, layer, solution.mapping), objective)
        if mip_value <= value:
            mapping, value = solution.mapping, mip_value
            predicted = (solution.predicted_latency_cycles, solution.predicted_energy_pj)
    return mapping, value, solution.status, predicted


def _result(problem, outcome: _Outcome, total: int, start: float) -> MappingResult:
    """Exact re-evaluation, gap and status of the final answer."""
    hw, layer, objective, options, ordered, ws_candidate, stop = problem
    cost = evaluate(hw, layer, outcome.mapping)
    value = objective_value(cost, objective)
    lower_bound = min(value, outcome.lower_bound)
    gap = (value - lower_bound) / value if value > 0 else 0.0
    if stop.stopped:
        status = Status.STOPPED
    elif within_tolerance(gap, options.gap_tolerance):
        status = Status.OPTIMAL
    else:
        status = Status.BEST_FOUND
    tally = outcome.tally
    return MappingResult(
        layer=layer,
        objective=objective,
        status=status.value,
        mapping=outcome.mapping,
        cost=cost,
        lower_bound=lower_bound,
        gap=gap,
        predicted_latency_cycles=outcome.predicted[0],
        predicted_energy_pj=outcome.predicted[1],
        mip_status=outcome.mip_status,
        candidates_total=total,
        candidates_pruned=tally["pruned"],
        candidates_searched=tally["searched"],
        orders_evaluated=tally["orders"],
        certified_candidates=tally["certified"],
        certify_nodes=tally["nodes"],
        solve_time_s=time.monotonic() - start,
        reason=f"stopped by {stop.reason}" if stop.stopped else "",
    )
