"""The analytical cost model: `evaluate(hw, layer, mapping) -> CostBreakdown`.

This is the single source of truth for every number the tool reports. Search engines only
generate mappings; the simulator (`simulator.py`) replays a mapping iteration by iteration as an
independent check of the latency written here in closed form.

Modelling assumptions (both this model and the simulator implement them):

Data movement
- Every operand lives in DRAM and always reaches its compute interface (input register, macro
  cell, output register); intermediate levels without a loop of the operand are bypassed.
- Between two consecutive used levels of an operand, the child's tile is re-sent on every
  iteration of the boundary's trigger slot (the innermost loop above the child that is relevant
  to the operand; see `mapping.py`). Irrelevant loops below the trigger reuse the tile.
- One transfer takes max(ceil(parent-side bits / parent bandwidth), ceil(child-side bits / child
  bandwidth), 1) cycles. The parent side carries the tiles of all children it serves; a tile that
  several children share (an input broadcast to cores that split K) crosses the parent's port once
  but is written into every child. Each operand has its own port at every level: there is no
  contention between I, W and O on a shared level (as in the paper).
- Outputs are written back up. When a reduction loop (R, S, C) sits above the trigger, the tile is
  revisited: each later firing writes the old tile back and reads the next tile's partial sums down
  (2 transfers), partial sums are `psum_bits` wide, and so is every level that accumulates them.

Latency (cycles; slots i = 0 outermost .. N-1 innermost, factor F_i)
- One bit-serial pass of the array takes t_MAC = ceil(input_bits / input_bits_per_cycle) cycles.
- X(i, o) is the channel time of operand o's firing at slot i (0 if slot i triggers nothing for o;
  a psum boundary counts a read and a write); DL(i, o) says the receiving level is
  double-buffered.
- An iteration of slot i fires slot i's transfers and restarts every inner loop. For each operand
  the transfers on its critical path are serial (`_chain`): a single-buffered transfer waits until
  the tile it replaces is no longer used and the next pass waits for it; double-buffered I/W
  transfers whose parent tile is already in place were prefetched during the previous iteration;
  double-buffered output write-backs drain in the background. Different operands move in
  parallel on their own channels, so serial(i) = max over o of chain(o, i).
- Every double-buffered channel must also do its work: a transfer at slot j >= i fires
  prod_{i<l<=j} F_l times per iteration of slot i, back to back at best (`_busiest_channel`).
- Two durations of one entry into slot i are carried from the inside out, starting from t_MAC:
  the path duration Ep (passes and serial transfers only) and the full duration E:
      Crit(i) = max(Ep(i+1) + serial(i), channel(i), E(i+1))
      Ep(i)   = Ep(i+1) + (F_i - 1) * (Ep(i+1) + serial(i))
      E(i)    = E(i+1) + (F_i - 1) * Crit(i)
  The first iteration of an entry costs E(i+1): its transfers belong to the enclosing loop's
  iteration (or to start-up). Using Ep inside Crit lets a busy double-buffered channel hide the
  serial transfers of other operands, as it does when the channel runs ahead of compute.
  A single buffer therefore serializes transfer and use, a double buffer overlaps them. This is
  where weight loading and compute exclude each other on a macro without ping-pong: weights
  written into the macro are a single-buffered transfer.
- latency = start-up + E(0) + final write-back, where start-up is the slowest cascade of first I
  and W tiles from DRAM to the array (operands load in parallel) and the final write-back is the
  cascade of the last output tiles up to DRAM.
- The breakdown telescopes exactly: E(0) = t_MAC * prod F + sum_i m_i (F_i - 1) (Crit(i) - E(i+1))
  with m_i = prod_{j<i} F_j. Compute is the first term; each stall term is charged to the operand
  whose serial chain or channel set Crit(i): W -> weight-load (mode-switch) stall, I -> input
  stall, O -> output / psum stall.

Energy (pJ)
- Every transfer reads its bits from the source level and writes them into the destination level
  (all instances), at the level's per-bit energies. Output write-backs read the child and write
  the parent; revisited psums are also read down once per revisit. The macro's read is the compute.
- Compute: the macro activation energy of one bit-serial pass of a whole core's array times the
  passes times the active cores (an under-used array still pays a full activation, as in the paper).
- Leakage: the chip's static power times the latency.

Area is the hardware's (a property of the design, not of the mapping).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from miredo_core.hardware import Hardware, Level
from miredo_core.mapping import Analysis, Boundary, Mapping, analyze
from miredo_core.workload import OPERANDS, Layer, Operand

READ = "read"
WRITE = "write"

_STALL_FIELD = {
    Operand.W: "weight_load_stall_cycles",
    Operand.I: "input_stall_cycles",
    Operand.O: "output_stall_cycles",
}


@dataclass(frozen=True)
class CostBreakdown:
    """Cost of one layer under one mapping.

    latency_cycles = compute + weight-load stall + input stall + output stall + start-up +
    write-back (exactly). energy_pj = sum(memory_energy_pj) + mac_energy_pj + leakage_energy_pj.
    """

    latency_cycles: float
    compute_cycles: float
    weight_load_stall_cycles: float
    input_stall_cycles: float
    output_stall_cycles: float
    startup_cycles: float
    writeback_cycles: float
    energy_pj: float
    mac_energy_pj: float
    leakage_energy_pj: float
    memory_energy_pj: dict[tuple[Level, Operand, str], float]
    memory_bits: dict[tuple[Level, Operand, str], float]
    area_mm2: float
    macs: int
    spatial_utilization: float
    """Fraction of the cores x rows x columns compute cells the mapping unrolls onto."""
    utilization: float
    """Achieved MACs per cycle over the peak of the hardware."""

    @property
    def edp_pj_cycles(self) -> float:
        return self.energy_pj * self.latency_cycles

    @property
    def stall_cycles(self) -> float:
        return self.weight_load_stall_cycles + self.input_stall_cycles + self.output_stall_cycles

    def energy_by_level(self) -> dict[Level, float]:
        totals: dict[Level, float] = {}
        for (level, _, _), pj in self.memory_energy_pj.items():
            totals[level] = totals.get(level, 0.0) + pj
        return totals


def firing_cycles(boundary: Boundary) -> int:
    """Channel time of one steady-state firing: a psum boundary reads and writes back."""
    return boundary.cycles * boundary.passes


@dataclass(frozen=True)
class OperandProfile:
    """What one operand's placement (its boundaries) contributes to the latency recursion.

    Everything here depends on that operand's boundaries and the loop factors only, so a search
    can tabulate it per candidate placement and combine operands later (`latency_from_profiles`).
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
    result = []
    for i in range(n):
        best, firings = 0, 1
        for j in range(i, n):
            if j > i:
                firings *= factors[j]
            if costs[j] and dbs[j]:
                best = max(best, costs[j] * (firings - 1))
        result.append(best)
    return result


def _drained(costs: list[int], dbs: list[bool], factors: list[int]) -> list[int]:
    channel = _channels(costs, dbs, factors)
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
    return OperandProfile(
        serial=tuple(_serial_chain(costs, dbs, operand)),
        channel=tuple(_channels(costs, dbs, factors)),
        cascade=sum(b.cycles for b in boundaries),
        backlog=tuple(_backlogs(costs, dbs, factors)),
        drained=tuple(_drained(costs, dbs, factors)),
        floor=tuple(_floors(boundaries, operand, n)),
    )


def latency_from_profiles(
    factors: list[int], pass_cycles: int, profiles: dict[Operand, OperandProfile]
) -> dict[str, float]:
    """Closed-form latency and its exact breakdown (see the module docstring)."""
    n = len(factors)
    stalls = dict.fromkeys(OPERANDS, 0.0)
    entry = path = float(pass_cycles)  # E(i+1) and Ep(i+1)
    entries = [entry] * (n + 1)  # entries[i] = E(i)
    weight_above = math.prod(factors)
    for i in range(n - 1, -1, -1):
        weight_above //= factors[i]
        # Each operand's own transfers are serial; operands move in parallel on own channels.
        serial_op = max(OPERANDS, key=lambda op: profiles[op].serial[i])
        serial = profiles[serial_op].serial[i]
        channel_op = max(OPERANDS, key=lambda op: profiles[op].channel[i])
        channel = profiles[channel_op].channel[i]
        # A serial stall of one operand stops compute; the other's double-buffered channel
        # then runs only one tile ahead and does the rest of its work afterwards.
        stalled_op, stalled = None, 0.0
        for c in OPERANDS:
            for o in OPERANDS:
                if (
                    o is not c
                    and profiles[c].backlog[i]
                    and (profiles[c].backlog[i] + profiles[o].serial[i] > stalled)
                ):
                    stalled_op, stalled = c, profiles[c].backlog[i] + profiles[o].serial[i]
        drained_op = max(OPERANDS, key=lambda op: profiles[op].drained[i])
        if profiles[drained_op].drained[i] > stalled:
            stalled_op, stalled = drained_op, profiles[drained_op].drained[i]
        crit = max(path + serial, channel, entry, stalled)
        if crit > entry:
            if crit == path + serial:
                culprit = serial_op
            else:
                culprit = channel_op if channel >= stalled else stalled_op
            stalls[culprit] += weight_above * (factors[i] - 1) * (crit - entry)
        path += (factors[i] - 1) * (path + serial)
        entry += (factors[i] - 1) * crit
        entries[i] = entry
    startup = max(profiles[Operand.I].cascade, profiles[Operand.W].cascade)
    writeback = profiles[Operand.O].cascade
    latency = startup + entry + writeback
    # Whole-layer floors of the double-buffered channels (fill, all firings back to back, drain).
    for t in range(n):
        for op in OPERANDS:
            floor = profiles[op].floor[t]
            if not floor:
                continue
            if op is Operand.O:
                bound = startup + entries[t + 1] + floor
            else:
                bound = floor + entries[t + 1] + writeback
            if bound > latency:
                stalls[op] += bound - latency
                latency = bound
    result = {
        "compute_cycles": float(pass_cycles * math.prod(factors)),
        "startup_cycles": float(startup),
        "writeback_cycles": float(writeback),
        "latency_cycles": float(latency),
    }
    for op, name in _STALL_FIELD.items():
        result[name] = float(stalls[op])
    return result


def _latency(analysis: Analysis) -> dict[str, float]:
    factors = [loop.factor for loop in analysis.mapping.loops]
    profiles = {op: operand_profile(analysis.boundaries[op], op, factors) for op in OPERANDS}
    return latency_from_profiles(factors, analysis.pass_cycles, profiles)


def boundary_traffic(
    b: Boundary, firings: float, revisits: float
) -> dict[tuple[Level, Operand, str], float]:
    """Bits read and written, over all instances, when `b` fires `firings` times and `revisits`
    of those re-read partial sums: I/W move down (parent read, child write); O is written back
    (child read, parent write) and a revisit also reads the psums down."""
    parent_bits = b.parent_tile_elements * b.bits * b.parent_instances
    child_bits = b.child_tile_elements * b.bits * b.child_instances
    if b.operand is not Operand.O:
        return {
            (b.parent, b.operand, READ): firings * parent_bits,
            (b.child, b.operand, WRITE): firings * child_bits,
        }
    bits = {
        (b.child, b.operand, READ): firings * child_bits,
        (b.parent, b.operand, WRITE): firings * parent_bits,
    }
    if revisits:
        bits[(b.parent, b.operand, READ)] = revisits * parent_bits
        bits[(b.child, b.operand, WRITE)] = bits.get((b.child, b.operand, WRITE), 0.0) + (
            revisits * child_bits
        )
    return bits


def add_traffic(total: dict, more: dict) -> dict:
    """Accumulate traffic entries into `total` (returned)."""
    for key, amount in more.items():
        total[key] = total.get(key, 0.0) + amount
    return total


def operand_traffic(
    boundaries: tuple[Boundary, ...],
) -> dict[tuple[Level, Operand, str], float]:
    """Bits read from and written into every level by one operand, summed over instances."""
    bits: dict[tuple[Level, Operand, str], float] = {}
    for b in boundaries:
        revisits = b.firings - b.distinct_tiles if b.psum else 0
        add_traffic(bits, boundary_traffic(b, b.firings, revisits))
    return bits


def mac_energy_pj(hw: Hardware, layer: Layer, passes: int, active_cores: int) -> float:
    """A full activation of every active core's array per bit-serial pass."""
    return hw.macro.activation_energy_pj(layer.input_bits) * passes * active_cores


def total_energy_pj(memory_pj, mac_pj: float, hw: Hardware, latency_cycles):
    """Memory + MAC + leakage over the latency (works on numbers and numpy arrays alike)."""
    return memory_pj + mac_pj + hw.leakage_pj_per_cycle * latency_cycles


def traffic_energy_pj(hw: Hardware, traffic: dict[tuple[Level, Operand, str], float]):
    """Energy of each traffic entry at its level's per-bit read or write energy."""
    energy = {}
    for (level, op, access), amount in traffic.items():
        memory = hw.memory(level)
        per_bit = (
            memory.read_energy_pj_per_bit if access == READ else memory.write_energy_pj_per_bit
        )
        energy[(level, op, access)] = amount * per_bit
    return energy


def evaluate(hw: Hardware, layer: Layer, mapping: Mapping) -> CostBreakdown:
    """Latency, energy and their breakdowns of `mapping` for `layer` on `hw`.

    Raises InfeasibleMappingError if the mapping is not valid (see `mapping.analyze`).
    """
    analysis = analyze(hw, layer, mapping)
    return evaluate_analysis(hw, analysis)


def evaluate_analysis(hw: Hardware, analysis: Analysis) -> CostBreakdown:
    latency = _latency(analysis)
    traffic = {}
    for op in OPERANDS:
        traffic.update(operand_traffic(analysis.boundaries[op]))
    memory_energy = traffic_energy_pj(hw, traffic)
    layer = analysis.layer
    mac_energy = mac_energy_pj(hw, layer, analysis.passes, analysis.active_cores)
    leakage = hw.leakage_pj_per_cycle * latency["latency_cycles"]
    energy = total_energy_pj(sum(memory_energy.values()), mac_energy, hw, latency["latency_cycles"])
    peak = hw.peak_macs_per_cycle(layer.input_bits)
    return CostBreakdown(
        energy_pj=energy,
        mac_energy_pj=mac_energy,
        leakage_energy_pj=leakage,
        memory_energy_pj=memory_energy,
        memory_bits=traffic,
        area_mm2=hw.area_mm2,
        macs=layer.macs,
        spatial_utilization=analysis.spatial_utilization,
        utilization=layer.macs / (peak * latency["latency_cycles"]),
        **latency,
    )
