"""The mixed-integer program of one loop order: placement and double buffering, solved exactly.

Model (python-mip; HiGHS by default, CBC as fallback). Data: a spatial unrolling, a loop order
with factors F_0..F_{N-1} (outermost first), t_MAC, and for every operand o the Pareto-optimal
placement options k of `placement.operand_options` with their constants
serial[o,k,i], channel[o,k,i], cascade[o,k], energy[o,k] and gb[o,k] (computed by the very
functions `cost_model.evaluate` uses, so the two cannot drift).

Variables
    y[o,k] in {0,1}       operand o uses placement option k
    s_i >= 0              critical serial transfers of slot i
    p_i, e_i >= 0         path and full duration of one entry into slot i (p_N = e_N = t_MAC)
    x_i >= 0              one steady-state iteration of slot i
    st, wb >= 0           start-up and final write-back
Constraints (one family per private function below)
    sum_k y[o,k] = 1                                        one placement per operand
    sum_{o,k} gb[o,k] y[o,k] <= global buffer bits            shared capacity
    s_i >= sum_k serial[o,k,i] y[o,k]      for every o         (max over operands)
    x_i >= p_{i+1} + s_i,  x_i >= e_{i+1},  x_i >= sum_k channel[o,k,i] y[o,k],
    x_i >= sum_k drained[o,k,i] y[o,k],  x_i >= backlog-of-c + serial-of-o (c != o)
                                                              (the max of cost_model's Crit)
    p_i = F_i p_{i+1} + (F_i - 1) s_i,  e_i = e_{i+1} + (F_i - 1) x_i
    st >= sum_k cascade[o,k] y[o,k] for o in {I, W};  wb = sum_k cascade[O,k] y[O,k]
    L >= st + e_0 + wb;  L >= floor[o,k,t] y + e_{t+1} + (st for O, wb for I/W)  for every t
    E = sum energy[o,k] y[o,k] + E_MAC + leakage * L
The latency rows are generated from the cost model's own step (`latency.crit_terms`,
`latency.advance`, run on linear expressions), so they list exactly the candidates of its Crit.
Every max is written as ">=" and every objective pushes it down, so at an optimum the variables
equal the maxima and L, E equal `cost_model.evaluate` of the decoded mapping (checked by tests).
F_i are data, not variables, so the model is linear: no big-M, no products of variables.

Objectives: latency (then energy as a tie-breaker in a second solve with L fixed at its optimum),
energy (then latency), and EDP, which is not linear: it is solved exactly by an epsilon-constraint
walk along the latency-energy Pareto front (min E subject to L <= cap, cap = previous L - 1; L is
an integer number of cycles), stopped as soon as L_min * E(cap) can no longer beat the incumbent.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import mip

from miredo_core.cost_model import latency_from_profiles, mac_energy_pj, total_energy_pj
from miredo_core.hardware import Axis, Hardware
from miredo_core.latency import advance, crit_terms
from miredo_core.mapping import Mapping
from miredo_core.search.placement import (
    FixedOrder,
    PlacementOption,
    mapping_from_options,
    placement_options,
)
from miredo_core.workload import OPERANDS, Layer, Operand

logger = logging.getLogger(__name__)

SOLVERS = {"highs": "HIGHS", "cbc": "CBC"}

#: Binaries are read as set when above this (solvers return values within 1e-6 of 0 or 1).
BINARY_THRESHOLD = 0.5

#: Most Pareto points the EDP walk visits before it stops and reports the best one found.
MAX_PARETO_POINTS = 64


class MipError(RuntimeError):
    """The solver failed in a way that is not infeasibility (crash, missing library)."""


@dataclass(frozen=True)
class MipSolution:
    mapping: Mapping | None
    status: str
    """"optimal", "feasible" (time limit with an incumbent), "infeasible" or "no_solution"."""
    predicted_latency_cycles: float
    predicted_energy_pj: float
    objective_bound: float
    solves: int


class _Model:
    """The python-mip model of one fixed order; built once, re-solved with extra caps."""

    def __init__(self, hw, layer, order: FixedOrder, options, solver: str, threads: int):
        if solver not in SOLVERS:
            raise ValueError(f"unknown solver {solver!r}; choose one of {', '.join(SOLVERS)}")
        self.order, self.options = order, options
        self.model = mip.Model(sense=mip.MINIMIZE, solver_name=SOLVERS[solver])
        self.model.verbose = 0
        self.model.threads = threads
        self.model.max_mip_gap = 1e-9
        self.model.max_mip_gap_abs = 1e-6
        self.y = {
            op: [self.model.add_var(var_type=mip.BINARY, name=f"y_{op.value}_{k}")
                 for k in range(len(options[op]))]
            for op in OPERANDS
        }  # fmt: skip
        self._one_placement_per_operand()
        self._global_buffer_capacity(hw)
        self.latency = self._latency(hw.macro.pass_cycles(layer.input_bits))
        self.energy = self._energy(hw, layer)

    def _pick(self, op: Operand, value) -> mip.LinExpr:
        return mip.xsum(
            value(option) * var for option, var in zip(self.options[op], self.y[op], strict=True)
        )

    def _one_placement_per_operand(self) -> None:
        # sum_k y[o,k] = 1
        for op in OPERANDS:
            self.model += mip.xsum(self.y[op]) == 1, f"one_placement_{op.value}"

    def _global_buffer_capacity(self, hw: Hardware) -> None:
        # sum_{o,k} gb[o,k] y[o,k] <= global buffer size
        usage = mip.xsum(self._pick(op, lambda o: o.gb_bits) for op in OPERANDS)
        self.model += usage <= hw.global_buffer.size_bits, "global_buffer_capacity"

    def _max(self, terms, name: str) -> mip.Var:
        # max as an auxiliary variable bounded below by every term: tight at an optimum, as
        # every objective pushes the latency (and with it each max) down.
        var = self.model.add_var(name=name)
        for term in terms:
            self.model += var >= term
        return var

    def _slot_entries(self, row: str, i: int) -> list[mip.LinExpr]:
        """The chosen option's profile entry `row` at slot i, per operand (I, W, O)."""
        return [self._pick(op, lambda o: getattr(o.profile, row)[i]) for op in OPERANDS]

    def _latency(self, pass_cycles: int) -> mip.Var:
        # Inner to outer recursion over the slots, through the cost model's own step
        # (`latency.crit_terms`, `latency.advance`) run on linear expressions.
        factors = self.order.factors
        path: mip.LinExpr | float = float(pass_cycles)
        entry: mip.LinExpr | float = float(pass_cycles)
        floors = []
        for i in range(len(factors) - 1, -1, -1):
            serial = self._slot_entries("serial", i)
            serial_max = self._max(serial, f"serial_{i}")
            entries = [*serial, *(e for row in ("channel", "backlog", "drained")
                                  for e in self._slot_entries(row, i))]  # fmt: skip
            terms = crit_terms.py_func(*entries, serial_max, path, entry)
            crit = self._max(terms, f"crit_{i}")
            # floor[t] + E(t+1); an unchosen option contributes 0, which leaves a constraint
            # the recursion already implies.
            floors[:0] = [floor + entry for floor in self._slot_entries("floor", i)]
            path, entry = advance.py_func(factors[i], path, entry, serial_max, crit)
        startup = self._max(
            [self._pick(op, lambda o: o.profile.cascade) for op in (Operand.I, Operand.W)],
            "startup",
        )
        writeback = self._pick(Operand.O, lambda o: o.profile.cascade)
        # latency.finish: start-up + E(0) + write-back, then the whole-layer channel floors.
        after = [writeback, writeback, startup]  # I/W floors end in the write-back
        return self._max(
            [startup + entry + writeback]
            + [floor + after[k % 3] for k, floor in enumerate(floors)],
            "latency",
        )

    def _energy(self, hw: Hardware, layer: Layer) -> mip.Var:
        # E = memory energy of the chosen placements + MAC energy + leakage x latency
        order = self.order
        cores = math.prod(f for a, _, f in order.spatial if a is Axis.CORES)
        mac = mac_energy_pj(hw, layer, math.prod(order.factors), cores)
        energy = self.model.add_var(name="energy")
        memory = mip.xsum(self._pick(op, lambda o: o.energy_pj) for op in OPERANDS)
        self.model += energy == memory + mac + hw.leakage_pj_per_cycle * self.latency
        return energy

    def solve(self, objective, seconds: float) -> mip.OptimizationStatus:
        self.model.objective = mip.minimize(objective)
        return self.model.optimize(max_seconds=max(seconds, 0.1))

    def chosen(self) -> dict[Operand, PlacementOption]:
        picked = {}
        for op in OPERANDS:
            ks = [k for k, var in enumerate(self.y[op]) if var.x >= BINARY_THRESHOLD]
            picked[op] = self.options[op][ks[0]]
        return picked


_STATUS = {
    mip.OptimizationStatus.OPTIMAL: "optimal",
    mip.OptimizationStatus.FEASIBLE: "feasible",
    mip.OptimizationStatus.INFEASIBLE: "infeasible",
    mip.OptimizationStatus.INT_INFEASIBLE: "infeasible",
    mip.OptimizationStatus.NO_SOLUTION_FOUND: "no_solution",
}


def _lexicographic(model: _Model, first, second, seconds: float):
    """Minimize `first`, then `second` with `first` held at its optimum."""
    status = model.solve(first, seconds / 2)
    if status not in (mip.OptimizationStatus.OPTIMAL, mip.OptimizationStatus.FEASIBLE):
        return status, 1, None
    bound = model.model.objective_bound
    best = first.x
    # Latency is a whole number of cycles, so half a cycle of slack holds it exactly; energy is
    # held to a relative 1e-9 (far below any difference between two placements).
    slack = 0.5 if first is model.latency else 1e-9 * max(1.0, abs(best))
    hold = model.model.add_constr(first <= best + slack, name="hold")
    status2 = model.solve(second, seconds / 2)
    model.model.remove(hold)
    if status2 not in (mip.OptimizationStatus.OPTIMAL, mip.OptimizationStatus.FEASIBLE):
        model.solve(first, seconds / 2)
        return status, 3, bound
    worst = status if status != mip.OptimizationStatus.OPTIMAL else status2
    return worst, 2, bound


def _edp_walk(model: _Model, seconds: float):
    """Exact min L*E over the Pareto front (see the module docstring)."""
    status = model.solve(model.latency, seconds / 4)
    if status not in (mip.OptimizationStatus.OPTIMAL, mip.OptimizationStatus.FEASIBLE):
        return status, 1, None, None
    latency_floor = model.latency.x
    proven = status == mip.OptimizationStatus.OPTIMAL
    best, best_value, solves, cap = None, math.inf, 1, None
    for _ in range(MAX_PARETO_POINTS):
        limit = None if cap is None else model.model.add_constr(model.latency <= cap, name="cap")
        status = model.solve(model.energy, seconds / 8)
        solves += 1
        if limit is not None:
            model.model.remove(limit)
        if status not in (mip.OptimizationStatus.OPTIMAL, mip.OptimizationStatus.FEASIBLE):
            break
        proven = proven and status == mip.OptimizationStatus.OPTIMAL
        latency, energy = model.latency.x, model.energy.x
        if latency * energy < best_value:
            best, best_value = model.chosen(), latency * energy
        if latency_floor * energy >= best_value or latency <= latency_floor + 0.5:
            break  # every further point has E >= this E and L >= the latency floor
        cap = math.floor(latency + 1e-6) - 1
    else:
        proven = False
    final = mip.OptimizationStatus.OPTIMAL if proven else mip.OptimizationStatus.FEASIBLE
    return final, solves, best, best_value


def solve_placement_mip(
    hw: Hardware,
    layer: Layer,
    order: FixedOrder,
    objective: str = "latency",
    solver: str = "highs",
    seconds: float = 10.0,
    threads: int = 1,
    options=None,
) -> MipSolution:
    """Optimal placement and double buffering of one loop order by the MIP above."""
    if objective not in ("latency", "energy", "edp"):
        raise ValueError(f"unknown objective {objective!r}; choose latency, energy or edp")
    options = options or placement_options(hw, layer, order)
    if any(not options[op] for op in OPERANDS):
        return MipSolution(None, "infeasible", math.nan, math.nan, math.nan, 0)
    try:
        model = _Model(hw, layer, order, options, solver, threads)
        if objective == "edp":
            status, solves, chosen, value = _edp_walk(model, seconds)
            bound = value
        else:
            first, second = (
                (model.latency, model.energy) if objective == "latency"
                else (model.energy, model.latency)
            )  # fmt: skip
            status, solves, bound = _lexicographic(model, first, second, seconds)
            chosen = None
    except (KeyError, OSError, mip.InterfacingError) as error:
        # KeyError: python-mip's status map has gaps (interrupts); InterfacingError: HiGHS gave
        # up inside a solve (seen on large GEMM shapes). Either way the caller keeps the
        # search's mapping, which the cost model has already evaluated.
        raise MipError(f"{solver} failed: {error}") from error
    name = _STATUS.get(status, "no_solution")
    if name not in ("optimal", "feasible"):
        return MipSolution(None, name, math.nan, math.nan, math.nan, solves)
    if objective != "edp":
        chosen = model.chosen()
        latency, energy = model.latency.x, model.energy.x
    else:
        latency = energy = math.nan
        if chosen is not None:
            # Re-read the chosen point's predicted values from its constants.
            latency, energy = _predict(hw, layer, order, chosen)
    mapping = mapping_from_options(order, chosen) if chosen else None
    return MipSolution(mapping, name, latency, energy, bound if bound is not None else math.nan,
                       solves)  # fmt: skip


def _predict(hw, layer, order, chosen) -> tuple[float, float]:
    """Latency and energy the model's constants give for a chosen set of options."""
    factors = order.factors
    latency = latency_from_profiles(
        factors, hw.macro.pass_cycles(layer.input_bits), {op: chosen[op].profile for op in OPERANDS}
    ).latency_cycles
    cores = math.prod(f for a, _, f in order.spatial if a is Axis.CORES)
    energy = total_energy_pj(
        sum(chosen[op].energy_pj for op in OPERANDS),
        mac_energy_pj(hw, layer, math.prod(factors), cores),
        hw,
        latency,
    )
    return latency, energy
