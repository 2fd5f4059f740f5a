"""The latency recursion of the cost model, written once: per-operand profiles, one slot step,
one finish.

`cost_model.py` states the model (slots, X(i, o), Crit, Ep, E, the floors). This module owns
its arithmetic:

- `operand_profile` tabulates what one operand's boundaries contribute at every slot
  (`OperandProfile`); `profile_table` packs it into a float array (rows `PROFILE_ROWS`, one column
  per slot).
- `slot_step` is one step of the recursion, from the innermost slot out: given the operands'
  profile entries at slot i, F_i and (Ep(i+1), E(i+1)), it returns (Ep(i), E(i), Crit(i)) and the
  operand charged with the stall (the first candidate of `crit_terms` that sets Crit).
- `finish` assembles start-up + E(0) + write-back and raises it by the whole-layer floor terms of
  the double-buffered channels, charging each raise to its operand.
- `latency_from_profiles` (scalar, with the exact breakdown, `LatencyParts`) and `batch_latency`
  (every operand combination of a placement search) both run `_recursion`, which calls the two.

All of them are compiled once with numba (`cache=True`): `cost_model.evaluate` calls
`_recursion` for one mapping, `batch_latency` runs it in a compiled loop over the combination
grid, and the certifier kernel (`search/_tilechain.py`) calls `slot_step` in `_advance` and
`finish` in `_leaf` inside its own compiled code. Measured on the 2-core development machine
(CPU time): `placement.best_placement` over 36 orders of ResNet-18 layers (2.5 M combinations)
takes 10.6 ms per call with the compiled loop against 11.7 ms with a numpy broadcast over the
grid; the kernel certifies ResNet-18 Conv_17 (latency, 806,222 nodes) at about 325,000 nodes per
CPU second either way. The step takes its profile entries as scalars: gathering them into
per-operand arrays for every combination made the batch loop 2.5 times slower.

numba's cache does not notice a change in a function compiled into another file's cached code:
after editing the step or the finish here, clear the `__pycache__` of `search/` (or touch
`_tilechain.py`) so the kernel recompiles. `tests/test_certify.py` compares certificates with
`cost_model.evaluate` and so catches a stale kernel on its cases.

Encodings that remain, and why:
- The MIP (`search/mip.py`) cannot run compiled code on linear expressions. It builds its
  constraints from the same two pure functions through a small algebra: it calls the Python
  source of `crit_terms` and `advance` (`.py_func`) on python-mip expressions, turns each max
  into an auxiliary variable bounded below by every candidate (one-sided constraints, tight at an
  optimum because every objective pushes latency down), and keeps the sums linear. This costs
  the MIP no speed: building the model of 10 ResNet-18 orders took 52-53 ms per model against
  47-57 ms with the rows written out by hand (build and solve 142-147 ms against 129-155 ms).
- The certifier kernel keeps its label form for the profile entries: it derives them from label
  columns as it adds loops one at a time instead of from a finished `OperandProfile`, and folds
  the floor terms into one running maximum per operand (so `finish` gets one row of floor
  bounds). Its completion bound (`_bound`) is a relaxation of `finish`, not the finish itself.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields

import numpy as np
from numba import njit

from miredo_core.analysis import Boundary
from miredo_core.workload import Operand

#: Rows of a profile table (`profile_table`), in this order.
PROFILE_ROWS = ("serial", "channel", "backlog", "drained", "floor")
SERIAL, CHANNEL, BACKLOG, DRAINED, FLOOR = range(len(PROFILE_ROWS))
I, W, O = 0, 1, 2  # operand indices, in `workload.OPERANDS` order

#: The operand each candidate of `crit_terms` charges a stall to (-1: the operand with the
#: longest serial chain; the last candidate, E(i+1), is never a stall).
TERM_CULPRIT = (-1, I, W, O, I, I, W, W, O, O, I, W, O, -1)
N_TERMS = len(TERM_CULPRIT)


def firing_cycles(boundary: Boundary) -> int:
    """Channel time of one steady-state firing: a psum boundary reads and writes back."""
    return boundary.cycles * boundary.passes


@dataclass(frozen=True)
class OperandProfile:
    """What one operand's placement (its boundaries) contributes to the latency recursion.

    Everything here depends on that operand's boundaries and the loop factors only, so a search
    can tabulate it per candidate placement and combine operands later (`latency_from_profiles`).
    All entries are in cycles; tuples have one entry per slot, outermost first.
    """

    serial: tuple[int, ...]
    """chain(o, i): the operand's transfers on the critical path of one iteration of slot i."""
    channel: tuple[int, ...]
    """Work of the operand's busiest double-buffered channel per iteration of slot i."""
    cascade: int
    """One-way cycles of every boundary in turn: the first-tile start-up of I/W, the final
    write-back of O."""
    backlog: tuple[int, ...]
    """Work of the busiest double-buffered channel per iteration of slot i beyond its one tile
    of look-ahead: what it still has to do once another operand's serial transfer has stalled
    compute (and with it the consumption that frees the channel's buffer half)."""
    drained: tuple[int, ...]
    """A single-buffered transfer at slot i that must wait for the operand's own inner
    double-buffered channel to finish the iteration's work (its tile is complete, or no longer
    needed, only then): that work plus the transfer; 0 where it does not apply."""
    floor: tuple[int, ...]
    """floor[t]: the whole-layer work of the double-buffered channel that fires at slot t,
    with the transfers it depends on (I/W: the cascade above it) or that wait for it (O: the
    cascade above it after its last write-back); 0 if slot t fires none."""

    @functools.cached_property
    def entries(self) -> tuple[int, ...]:
        """The per-slot entries, row after row in `PROFILE_ROWS` order (`profile_table`
        flattened), computed once per profile: searches share profiles across many options."""
        return (*self.serial, *self.channel, *self.backlog, *self.drained, *self.floor)


def _serial_chain(costs: list[int], dbs: list[bool], operand: Operand) -> list[int]:
    """chain(o, i) for every slot i: the operand's transfers on the critical path of one
    iteration of slot i, in which the slot's own transfer fires and every inner loop restarts.

    I/W: a double-buffered transfer whose parent tile is already in place (the leading
    double-buffered transfers of the chain) was prefetched during the previous iteration; the
    first single-buffered one and every transfer after it (which needs its new data) wait:
    chain(i) = sum of the transfers from the first single-buffered one at or after slot i.
    O: double-buffered write-backs drain in the background, single-buffered ones are waited for;
    a single-buffered write-back at the slot itself also waits for every inner write-back, because
    its tile is complete only once they have landed.
    """
    n = len(costs)
    suffix = [0] * (n + 1)  # all transfers from slot i inward
    single = [0] * (n + 1)  # single-buffered transfers from slot i inward
    first_single = [n] * (n + 1)  # first slot >= i with a single-buffered transfer
    for i in range(n - 1, -1, -1):
        suffix[i] = suffix[i + 1] + costs[i]
        is_single = bool(costs[i]) and not dbs[i]
        single[i] = single[i + 1] + (costs[i] if is_single else 0)
        first_single[i] = i if is_single else first_single[i + 1]
    if operand is Operand.O:
        return [suffix[i] if costs[i] and not dbs[i] else single[i + 1] for i in range(n)]
    return [suffix[first_single[i]] for i in range(n)]


def _channels(costs: list[int], dbs: list[bool], factors: list[int]) -> list[int]:
    """Busiest double-buffered channel per iteration of each slot i: a transfer at slot j >= i
    fires prod(F_{i+1..j}) times per iteration, back to back at best."""
    n = len(costs)
    channel = [0] * (n + 1)
    for i in range(n - 1, -1, -1):
        inner = channel[i + 1] * factors[i + 1] if i + 1 < n else 0
        channel[i] = max(costs[i] if dbs[i] else 0, inner)
    return channel[:n]


def _backlogs(costs: list[int], dbs: list[bool], factors: list[int]) -> list[int]:
    """Per slot i: max over double-buffered transfers at j >= i of X_j (firings per iteration
    of slot i - 1)."""
    n = len(costs)
    doubled = [j for j in range(n) if costs[j] and dbs[j]]
    if not doubled:
        return [0] * n
    # firings of slot j per iteration of slot i: prod(F_{i+1..j}) = prefix[j + 1] // prefix[i + 1]
    prefix = [1]
    for factor in factors:
        prefix.append(prefix[-1] * factor)
    result = []
    for i in range(n):
        best = 0
        for j in doubled:
            if j >= i:
                best = max(best, costs[j] * (prefix[j + 1] // prefix[i + 1] - 1))
        result.append(best)
    return result


def _drained(
    costs: list[int], dbs: list[bool], factors: list[int], channel: list[int]
) -> list[int]:
    """Per slot: a single-buffered transfer's wait for the operand's inner double-buffered
    channel (`channel`: `_channels` of the same entries) plus the transfer; 0 elsewhere."""
    n = len(costs)
    return [
        costs[i] + factors[i + 1] * channel[i + 1]
        if i + 1 < n and costs[i] and not dbs[i] and channel[i + 1]
        else 0
        for i in range(n)
    ]


def _floors(boundaries: tuple[Boundary, ...], operand: Operand, n: int) -> list[int]:
    floors = [0] * n
    for k, b in enumerate(boundaries):
        if b.trigger < 0 or not b.double_buffered:
            continue
        above = sum(a.cycles for a in boundaries[:k])
        if operand is Operand.O:
            work = (b.firings - 1) * firing_cycles(b) + b.cycles
        else:
            work = b.firings * firing_cycles(b)
        floors[b.trigger] = above + work
    return floors


def operand_profile(
    boundaries: tuple[Boundary, ...], operand: Operand, factors: list[int]
) -> OperandProfile:
    n = len(factors)
    costs, dbs = [0] * n, [False] * n
    for boundary in boundaries:
        if boundary.trigger >= 0:
            costs[boundary.trigger] = firing_cycles(boundary)
            dbs[boundary.trigger] = boundary.double_buffered
    channel = _channels(costs, dbs, factors)
    return OperandProfile(
        serial=tuple(_serial_chain(costs, dbs, operand)),
        channel=tuple(channel),
        cascade=sum(b.cycles for b in boundaries),
        backlog=tuple(_backlogs(costs, dbs, factors)),
        drained=tuple(_drained(costs, dbs, factors, channel)),
        floor=tuple(_floors(boundaries, operand, n)),
    )


def profile_table(profile: OperandProfile) -> np.ndarray:
    """The profile's per-slot entries as a float array: rows `PROFILE_ROWS`, columns slots."""
    return np.array([getattr(profile, row) for row in PROFILE_ROWS], dtype=np.float64)


@dataclass(frozen=True)
class LatencyParts:
    """The latency of one layer under one mapping and its exact breakdown, all in cycles.

    latency_cycles = compute + weight-load stall + input stall + output stall + start-up +
    write-back; each stall is the sum of the steps Crit(i) - E(i+1) (times the iterations
    m_i (F_i - 1) that pay it) and the floor raises charged to that operand.
    """

    latency_cycles: float
    """Cycles from the first DRAM read to the last output written back to DRAM."""
    compute_cycles: float
    """t_MAC times the temporal iterations: the bit-serial passes back to back."""
    weight_load_stall_cycles: float
    """Cycles compute waits for weights (W set Crit, or a W channel floor raised the latency)."""
    input_stall_cycles: float
    """Cycles compute waits for inputs (I set Crit or raised the latency by its floor)."""
    output_stall_cycles: float
    """Cycles compute waits for output and partial-sum transfers (O)."""
    startup_cycles: float
    """The slower of the I and W first-tile cascades from DRAM to the array."""
    writeback_cycles: float
    """The cascade of the last output tiles up to DRAM."""


#: The parts that add up to `LatencyParts.latency_cycles`, in column order.
LATENCY_PART_NAMES: tuple[str, ...] = tuple(f.name for f in fields(LatencyParts))[1:]


@njit(cache=True)
def crit_terms(s_i, s_w, s_o, c_i, c_w, c_o, b_i, b_w, b_o, d_i, d_w, d_o, serial_max, path, entry):
    """The candidates whose maximum is Crit(i), from the operands' serial (s), channel (c),
    backlog (b) and drained (d) entries at slot i: the path with the serial chain, every
    double-buffered channel, every channel's backlog behind another operand's serial stall,
    every drained single-buffered transfer, and E(i+1). The first candidate equal to Crit names
    the culprit (`TERM_CULPRIT`)."""
    return (
        path + serial_max,
        c_i, c_w, c_o,
        b_i + s_w, b_i + s_o, b_w + s_i, b_w + s_o, b_o + s_i, b_o + s_w,
        d_i, d_w, d_o,
        entry,
    )  # fmt: skip


@njit(cache=True)
def advance(factor, path, entry, serial_max, crit):
    """(Ep(i), E(i)) from (Ep(i+1), E(i+1)): the first of F_i iterations is the inner entry."""
    return path + (factor - 1) * (path + serial_max), entry + (factor - 1) * crit


@njit(cache=True)
def slot_step(s_i, s_w, s_o, c_i, c_w, c_o, b_i, b_w, b_o, d_i, d_w, d_o, factor, path, entry):
    """One slot of the recursion: (Ep(i), E(i), Crit(i), culprit) from the operands' profile
    entries at slot i (as in `crit_terms`), F_i and (Ep(i+1), E(i+1)); culprit is the operand
    index charged with the stall Crit(i) - E(i+1), or -1 when Crit(i) = E(i+1)."""
    serial_max = max(s_i, s_w, s_o)
    terms = crit_terms(s_i, s_w, s_o, c_i, c_w, c_o, b_i, b_w, b_o, d_i, d_w, d_o,
                       serial_max, path, entry)  # fmt: skip
    crit = max(terms)
    culprit = -1
    if crit > entry:
        best = 0
        while terms[best] != crit:
            best += 1
        culprit = TERM_CULPRIT[best]
        if culprit < 0:  # the longest serial chain, the first of equals
            culprit = I if s_i >= max(s_w, s_o) else (W if s_w >= s_o else O)
    path, entry = advance(factor, path, entry, serial_max, crit)
    return path, entry, crit, culprit


@njit(cache=True)
def finish(cascade, entry, floor_bounds):
    """latency = start-up + E(0) + write-back, raised by every floor term in turn.

    cascade: I, W, O cascades; floor_bounds[3 r + o]: a double-buffered channel of operand o with
    the inner entry it runs beside (floor[t] + E(t+1); 0: none); I/W floors are followed by the
    write-back, O floors preceded by the start-up. Returns (latency, start-up, write-back, floor
    stall of I, W, O)."""
    startup = max(cascade[I], cascade[W])
    writeback = cascade[O]
    latency = startup + entry + writeback
    raised_i = raised_w = raised_o = 0.0
    for r in range(floor_bounds.shape[0] // 3):
        for o in range(3):
            bound = floor_bounds[3 * r + o] + (startup if o == O else writeback)
            if bound > latency:
                if o == I:
                    raised_i += bound - latency
                elif o == W:
                    raised_w += bound - latency
                else:
                    raised_o += bound - latency
                latency = bound
    return latency, startup, writeback, raised_i, raised_w, raised_o


@njit(cache=True)
def _recursion(factors, pass_cycles, prof_i, prof_w, prof_o, cascade, bounds):
    """Latency parts of one operand combination: profile tables of I, W, O, their `cascade`;
    bounds (3 n) is a work array. Returns (latency, compute, weight-load stall,
    input stall, output stall, start-up, write-back)."""
    n = factors.shape[0]
    path = entry = float(pass_cycles)
    stall_i = stall_w = stall_o = 0.0
    weight_above = 1
    for i in range(n):
        weight_above *= factors[i]
    compute = float(pass_cycles * weight_above)
    for i in range(n - 1, -1, -1):
        weight_above //= factors[i]
        # The floor of a channel at slot i runs beside the inner entry E(i+1).
        bounds[3 * i + I] = prof_i[FLOOR, i] + entry if prof_i[FLOOR, i] > 0 else 0.0
        bounds[3 * i + W] = prof_w[FLOOR, i] + entry if prof_w[FLOOR, i] > 0 else 0.0
        bounds[3 * i + O] = prof_o[FLOOR, i] + entry if prof_o[FLOOR, i] > 0 else 0.0
        inner = entry
        path, entry, crit, culprit = slot_step(
            prof_i[SERIAL, i], prof_w[SERIAL, i], prof_o[SERIAL, i],
            prof_i[CHANNEL, i], prof_w[CHANNEL, i], prof_o[CHANNEL, i],
            prof_i[BACKLOG, i], prof_w[BACKLOG, i], prof_o[BACKLOG, i],
            prof_i[DRAINED, i], prof_w[DRAINED, i], prof_o[DRAINED, i],
            factors[i], path, entry,
        )  # fmt: skip
        stall = weight_above * (factors[i] - 1) * (crit - inner)
        if culprit == I:
            stall_i += stall
        elif culprit == W:
            stall_w += stall
        elif culprit == O:
            stall_o += stall
    latency, startup, writeback, raised_i, raised_w, raised_o = finish(cascade, entry, bounds)
    return (latency, compute, stall_w + raised_w, stall_i + raised_i, stall_o + raised_o,
            startup, writeback)  # fmt: skip


@njit(cache=True)
def _batch(factors, pass_cycles, tables_i, tables_w, tables_o, cascade_i, cascade_w, cascade_o,
           out):  # fmt: skip
    """out[a, b, c]: the latency of I option a, W option b and O option c."""
    n = factors.shape[0]
    bounds = np.empty(3 * n)
    cascade = np.empty(3)
    for a in range(tables_i.shape[0]):
        cascade[I] = cascade_i[a]
        for b in range(tables_w.shape[0]):
            cascade[W] = cascade_w[b]
            for c in range(tables_o.shape[0]):
                cascade[O] = cascade_o[c]
                out[a, b, c] = _recursion(factors, pass_cycles, tables_i[a], tables_w[b],
                                          tables_o[c], cascade, bounds)[0]  # fmt: skip
    return out


def _tables(profiles, slots: int) -> tuple[np.ndarray, np.ndarray]:
    """Every profile's `profile_table` stacked (profiles x rows x slots), and their cascades."""
    tables = np.array([p.entries for p in profiles], dtype=np.float64)
    tables = tables.reshape(len(profiles), len(PROFILE_ROWS), slots)
    return tables, np.array([p.cascade for p in profiles], dtype=np.float64)


def latency_from_profiles(
    factors: list[int], pass_cycles: int, profiles: dict[Operand, OperandProfile]
) -> LatencyParts:
    """Closed-form latency and its exact breakdown (the model of `cost_model.py`)."""
    n = len(factors)
    parts = _recursion(
        np.array(factors, dtype=np.int64),
        pass_cycles,
        profile_table(profiles[Operand.I]),
        profile_table(profiles[Operand.W]),
        profile_table(profiles[Operand.O]),
        np.array([float(profiles[op].cascade) for op in (Operand.I, Operand.W, Operand.O)]),
        np.empty(3 * n),
    )
    return LatencyParts(*(float(value) for value in parts))


def batch_latency(
    factors: list[int], pass_cycles: int, options: dict[Operand, list[OperandProfile]]
) -> np.ndarray:
    """Latency of every operand combination: out[a, b, c] combines I profile a, W profile b and
    O profile c (`latency_from_profiles` of each, in one compiled loop)."""
    operands = (Operand.I, Operand.W, Operand.O)
    (ti, ci), (tw, cw), (to, co) = (_tables(options[op], len(factors)) for op in operands)
    out = np.empty((len(ti), len(tw), len(to)))
    if out.size == 0:
        return out
    return _batch(np.array(factors, dtype=np.int64), pass_cycles, ti, tw, to, ci, cw, co, out)
