"""Iteration-level event simulator: an independent check of the analytical latency model.

The simulator executes the loop nest iteration by iteration in program order and schedules every
transfer and every bit-serial pass of the array with timers, instead of the closed-form recursion
of `cost_model`. It shares with the cost model only the static facts of `mapping.analyze` (tile
sizes, transfer times, trigger slots, double-buffer flags); how these combine into time is
derived here from per-boundary dependencies:

- a transfer uses its boundary's channel (one per operand and level pair);
- I/W: a transfer needs the parent's current tile to have arrived; a single-buffered child can be
  overwritten only after every pass that used its current tile has finished, a double-buffered
  child only after the passes that used the tile before it (one tile of look-ahead);
- O: when an iteration of the trigger slot ends, the finished tile is written back once every
  contribution to it (passes, or write-backs from below) has landed; if another visit follows, the
  channel also carries the partial-sum read of the next tile. Compute into the next tile waits for
  that firing when the level is single-buffered, or for the firing before it when it is
  double-buffered;
- a pass of the array starts when the previous pass has finished, its input and weight tiles have
  arrived and every output level is ready to accept it.

Steady-state fast-forward: when two consecutive iterations of a loop shift every active timer by
the same amount and leave all other timers behind them, the update rules (max and plus) commute
with that shift, so the remaining iterations (all but the last, which may end the layer) are
extrapolated exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

from miredo_core.analysis import Analysis, Boundary, analyze
from miredo_core.cost_model import (
    add_traffic,
    boundary_traffic,
    mac_energy_pj,
    total_energy_pj,
    traffic_energy_pj,
)
from miredo_core.hardware import Hardware, Level
from miredo_core.mapping import Mapping
from miredo_core.workload import OPERANDS, REDUCTION_DIMS, Layer, Operand

_PORT, _ARRIVE, _RELEASE, _RELEASE_PREV, _PRODUCED, _READY, _LAST_END = range(7)
_FIELDS = 7


@dataclass(frozen=True)
class SimulationResult:
    latency_cycles: float
    energy_pj: float
    mac_energy_pj: float
    leakage_energy_pj: float
    memory_bits: dict[tuple[Level, Operand, str], float]
    passes: int
    simulated_passes: int
    """Passes executed one by one (the rest were fast-forwarded)."""


class _Simulator:
    def __init__(self, hw: Hardware, analysis: Analysis) -> None:
        self.hw = hw
        self.analysis = analysis
        self.loops = analysis.mapping.loops
        self.t_mac = float(analysis.pass_cycles)
        self.boundaries: list[Boundary] = [b for op in OPERANDS for b in analysis.boundaries[op]]
        index = {id(b): k for k, b in enumerate(self.boundaries)}
        self.parent: list[int | None] = []
        for op in OPERANDS:
            chain = analysis.boundaries[op]
            self.parent += [None] + [index[id(b)] for b in chain[:-1]]
        n = len(self.loops)
        self.down_at = {i: [] for i in range(-1, n)}
        self.up_at = {i: [] for i in range(-1, n)}
        for k, b in enumerate(self.boundaries):
            if b.operand is Operand.O:
                self.up_at[b.trigger].insert(0, k)  # inner boundaries write back first
            else:
                self.down_at[b.trigger].append(k)
        self.innermost = {op: index[id(analysis.boundaries[op][-1])] for op in OPERANDS}
        self.o_boundaries = [k for k, b in enumerate(self.boundaries) if b.operand is Operand.O]
        self.iw_boundaries = [
            k for k, b in enumerate(self.boundaries) if b.operand is not Operand.O
        ]
        # Reduction slots above each O boundary's trigger: a visit is a revisit iff one is > 0.
        self.reduction_above = {
            k: [s for s in range(max(b.trigger, 0)) if self.loops[s].dim in REDUCTION_DIMS]
            for k, b in enumerate(self.boundaries)
        }
        self.timers = [0.0] * (_FIELDS * len(self.boundaries) + 1)
        # counters: per boundary [firings, psum reads], then passes
        self.counts = [0.0] * (2 * len(self.boundaries) + 1)
        self.fired = [False] * len(self.boundaries)
        self.index = [0] * n
        self.simulated_passes = 0

    # --------------------------------------------------------------- events
    def _t(self, k: int, field: int) -> float:
        return self.timers[_FIELDS * k + field]

    def _set(self, k: int, field: int, value: float) -> None:
        self.timers[_FIELDS * k + field] = value

    def fire_down(self, k: int) -> None:
        b = self.boundaries[k]
        parent = self.parent[k]
        start = max(self._t(k, _PORT), self._t(parent, _ARRIVE) if parent is not None else 0.0)
        if self.fired[k]:
            start = max(start, self._t(k, _RELEASE_PREV if b.double_buffered else _RELEASE))
        self.fired[k] = True
        end = start + b.cycles
        self._set(k, _PORT, end)
        self._set(k, _RELEASE_PREV, self._t(k, _RELEASE))
        self._set(k, _RELEASE, end)
        self._set(k, _ARRIVE, end)
        self.counts[2 * k] += 1

    def fire_up(self, k: int, last: bool) -> None:
        b = self.boundaries[k]
        start = max(self._t(k, _PORT), self._t(k, _PRODUCED))
        end = start + (b.cycles if last else b.cycles * b.passes)
        self._set(k, _PORT, end)
        parent = self.parent[k]
        if parent is not None:
            self._set(parent, _PRODUCED, max(self._t(parent, _PRODUCED), end))
        self._set(k, _READY, self._t(k, _LAST_END) if b.double_buffered else end)
        self._set(k, _LAST_END, end)
        self.counts[2 * k] += 1

    def count_revisits(self, slot: int) -> None:
        for k in self.up_at[slot]:
            if self.boundaries[k].psum and any(self.index[s] for s in self.reduction_above[k]):
                self.counts[2 * k + 1] += 1

    def mac_pass(self) -> None:
        start = self.timers[-1]
        for op in (Operand.I, Operand.W):
            start = max(start, self._t(self.innermost[op], _ARRIVE))
        for k in self.o_boundaries:
            start = max(start, self._t(k, _READY))
        end = start + self.t_mac
        self.timers[-1] = end
        for k in self.iw_boundaries:
            self._set(k, _RELEASE, end)
        self._set(self.innermost[Operand.O], _PRODUCED, end)
        self.counts[-1] += 1
        self.simulated_passes += 1

    # ------------------------------------------------------------ the nest
    def is_last(self, slot: int) -> bool:
        return all(self.index[s] == self.loops[s].factor - 1 for s in range(slot + 1))

    def run_slot(self, slot: int) -> None:
        factor = self.loops[slot].factor
        previous: list[float] | None = None
        previous_delta: list[float] | None = None
        j = 0
        while j < factor:
            self.index[slot] = j
            for k in self.down_at[slot]:
                self.fire_down(k)
            self.count_revisits(slot)
            if slot + 1 < len(self.loops):
                self.run_slot(slot + 1)
            else:
                self.mac_pass()
            last = self.is_last(slot)
            for k in self.up_at[slot]:
                self.fire_up(k, last)
            state = self.timers + self.counts
            if previous is not None:
                delta = [a - b for a, b in zip(state, previous, strict=True)]
                remaining = factor - 2 - j  # keep the last iteration explicit
                if remaining > 0 and delta == previous_delta and self._steady(delta):
                    self._advance(delta, remaining)
                    j += remaining
                    previous = None
                    previous_delta = None
                    j += 1
                    continue
                previous_delta = delta
            previous = state
            j += 1

    def _steady(self, delta: list[float]) -> bool:
        timers = len(self.timers)
        shifts = {d for d in delta[:timers] if d != 0.0}
        if len(shifts) != 1:
            return False
        shift = shifts.pop()
        if shift <= 0:
            return False
        active = [t for t, d in zip(self.timers, delta[:timers], strict=True) if d]
        floor = min(active)
        return all(t <= floor for t, d in zip(self.timers, delta[:timers], strict=True) if not d)

    def _advance(self, delta: list[float], iterations: int) -> None:
        timers = len(self.timers)
        self.timers = [t + iterations * d for t, d in zip(self.timers, delta[:timers], strict=True)]
        self.counts = [c + iterations * d for c, d in zip(self.counts, delta[timers:], strict=True)]

    def run(self) -> float:
        for k in self.down_at[-1]:
            self.fire_down(k)
        if self.loops:
            self.run_slot(0)
        else:
            self.mac_pass()
        for k in self.up_at[-1]:
            self.fire_up(k, last=True)
        return max(self.timers)


def _traffic(sim: _Simulator) -> dict[tuple[Level, Operand, str], float]:
    """Traffic from the firings and psum revisits the simulation counted."""
    bits: dict[tuple[Level, Operand, str], float] = {}
    for k, b in enumerate(sim.boundaries):
        add_traffic(bits, boundary_traffic(b, sim.counts[2 * k], sim.counts[2 * k + 1]))
    return bits


def simulate(hw: Hardware, layer: Layer, mapping: Mapping) -> SimulationResult:
    """Replay `mapping` iteration by iteration; raises InfeasibleMappingError if invalid."""
    analysis = analyze(hw, layer, mapping)
    sim = _Simulator(hw, analysis)
    latency = sim.run()
    traffic = _traffic(sim)
    memory = sum(traffic_energy_pj(hw, traffic).values())
    passes = int(sim.counts[-1])
    mac = mac_energy_pj(hw, layer, passes, analysis.active_cores)
    leakage = hw.leakage_pj_per_cycle * latency
    return SimulationResult(
        latency_cycles=latency,
        energy_pj=total_energy_pj(memory, mac, hw, latency),
        mac_energy_pj=mac,
        leakage_energy_pj=leakage,
        memory_bits=traffic,
        passes=passes,
        simulated_passes=sim.simulated_passes,
    )
