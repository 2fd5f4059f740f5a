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
- X(i, o) is the channel time of operand o's firing at slot i (0 if slot i triggers nothing for o);
  DL(i, o) says the receiving level is double-buffered.
- Q(N) = t_MAC. Going outward, one steady-state iteration of slot i costs
      Crit(i) = max( Body(i) + max over single-buffered o of X(i, o),
                     max over double-buffered o of X(i, o) )
  with Body(i) = Q(i+1) + fill(i): the inner loops restart, so their first transfers are on the
  path again, fill(i) = max over o of sum_{j > i} X(j, o), less X(i+1, o) when that child is
  double-buffered and o is I or W (it was prefetched during the previous iteration). A single
  buffer serializes transfer and use; a double buffer overlaps them. This is where weight loading
  and compute exclude each other on a macro without ping-pong: weights written into the macro are
  a single-buffered transfer.
- Q(i) = Q(i+1) + (F_i - 1) * Crit(i): the first iteration's transfers belong to the enclosing
  loop's fill (or to start-up).
- latency = start-up + Q(0) + final write-back, where start-up is the slowest cascade of first I
  and W tiles from DRAM to the array (operands load in parallel), and the final write-back is the
  cascade of the last output tiles up to DRAM.
- The breakdown telescopes exactly: Q(0) = t_MAC * prod F + sum_i m_i (F_i - 1) (Crit(i) - Q(i+1))
  with m_i = prod_{j<i} F_j. Compute is the first term; each stall term is charged to the operand
  whose transfer (or fill) set it: W -> weight-load (mode-switch) stall, I -> input stall,
  O -> output / psum stall.

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
from dataclasses import dataclass, field

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
    extras: dict = field(default_factory=dict)

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


def _slot_tables(analysis: Analysis, slots: int):
    """X[o][i] (channel cycles of o's firing at slot i) and DL[o][i]."""
    x = {op: [0] * slots for op in OPERANDS}
    dl = {op: [False] * slots for op in OPERANDS}
    for op in OPERANDS:
        for boundary in analysis.boundaries[op]:
            if boundary.trigger >= 0:
                x[op][boundary.trigger] = firing_cycles(boundary)
                dl[op][boundary.trigger] = boundary.double_buffered
    return x, dl


def _fill(x, dl, operand: Operand, start: int) -> int:
    """Transfers of `operand` on the critical path when the loops from slot `start` inward
    restart. I/W: a double-buffered transfer whose parent tile is already in place (the leading
    double-buffered ones of the chain) is prefetched during the previous iteration; the first
    single-buffered one and everything after it wait. O: double-buffered write-backs drain in
    the background; single-buffered ones are waited for."""
    total = 0
    prefetching = operand is not Operand.O
    for j in range(start, len(x[operand])):
        if not x[operand][j]:
            continue
        if dl[operand][j] and (prefetching or operand is Operand.O):
            continue
        prefetching = False
        total += x[operand][j]
    return total


def _latency(analysis: Analysis) -> dict[str, float]:
    """Closed-form latency and its exact breakdown (see the module docstring)."""
    loops = analysis.mapping.loops
    n = len(loops)
    x, dl = _slot_tables(analysis, n)
    stalls = dict.fromkeys(OPERANDS, 0.0)
    q = float(analysis.pass_cycles)
    for i in range(n - 1, -1, -1):
        fills = {op: _fill(x, dl, op, i + 1) for op in OPERANDS}
        fill_op = max(OPERANDS, key=lambda op: fills[op])
        single = [op for op in OPERANDS if x[op][i] and not dl[op][i]]
        double = [op for op in OPERANDS if x[op][i] and dl[op][i]]
        xn_op = max(single, key=lambda op: x[op][i]) if single else None
        xd_op = max(double, key=lambda op: x[op][i]) if double else None
        serial = fills[fill_op] + (x[xn_op][i] if xn_op else 0)
        overlapped = (x[xd_op][i] - q) if xd_op else 0.0
        entries = math.prod(loop.factor for loop in loops[:i])
        weight = entries * (loops[i].factor - 1)
        if serial >= overlapped:
            stalls[fill_op] += weight * fills[fill_op]
            if xn_op:
                stalls[xn_op] += weight * x[xn_op][i]
            crit = q + serial
        else:
            stalls[xd_op] += weight * overlapped
            crit = q + overlapped
        steady = q + (loops[i].factor - 1) * crit
        # A double-buffered channel fires F_i times per entry of the loop, whatever overlaps.
        channel = loops[i].factor * x[xd_op][i] if xd_op else 0.0
        if channel > steady:
            stalls[xd_op] += entries * (channel - steady)
            steady = channel
        q = steady
    startup = max(sum(b.cycles for b in analysis.boundaries[op]) for op in (Operand.I, Operand.W))
    writeback = sum(b.cycles for b in analysis.boundaries[Operand.O])
    compute = analysis.pass_cycles * analysis.passes
    result = {
        "compute_cycles": float(compute),
        "startup_cycles": float(startup),
        "writeback_cycles": float(writeback),
        "latency_cycles": float(startup + q + writeback),
    }
    for op, name in _STALL_FIELD.items():
        result[name] = float(stalls[op])
    return result


def _memory_traffic(hw: Hardware, analysis: Analysis) -> dict[tuple[Level, Operand, str], float]:
    """Bits read from and written into every (level, operand), summed over instances."""
    bits: dict[tuple[Level, Operand, str], float] = {}

    def add(level: Level, op: Operand, access: str, amount: float) -> None:
        key = (level, op, access)
        bits[key] = bits.get(key, 0.0) + amount

    for op in OPERANDS:
        for b in analysis.boundaries[op]:
            parent_bits = b.parent_tile_elements * b.bits * b.parent_instances
            child_bits = b.child_tile_elements * b.bits * b.child_instances
            if op is Operand.O:
                add(b.child, op, READ, b.firings * child_bits)
                add(b.parent, op, WRITE, b.firings * parent_bits)
                revisits = b.firings - b.distinct_tiles
                if b.psum and revisits:
                    add(b.parent, op, READ, revisits * parent_bits)
                    add(b.child, op, WRITE, revisits * child_bits)
            else:
                add(b.parent, op, READ, b.firings * parent_bits)
                add(b.child, op, WRITE, b.firings * child_bits)
    return bits


def evaluate(hw: Hardware, layer: Layer, mapping: Mapping) -> CostBreakdown:
    """Latency, energy and their breakdowns of `mapping` for `layer` on `hw`.

    Raises InfeasibleMappingError if the mapping is not valid (see `mapping.analyze`).
    """
    analysis = analyze(hw, layer, mapping)
    return evaluate_analysis(hw, analysis)


def evaluate_analysis(hw: Hardware, analysis: Analysis) -> CostBreakdown:
    latency = _latency(analysis)
    traffic = _memory_traffic(hw, analysis)
    memory_energy = {}
    for (level, op, access), amount in traffic.items():
        memory = hw.memory(level)
        per_bit = (
            memory.read_energy_pj_per_bit if access == READ else memory.write_energy_pj_per_bit
        )
        memory_energy[(level, op, access)] = amount * per_bit
    layer = analysis.layer
    mac_energy = (
        hw.macro.activation_energy_pj(layer.input_bits) * analysis.passes * analysis.active_cores
    )
    leakage = hw.leakage_pj_per_cycle * latency["latency_cycles"]
    energy = sum(memory_energy.values()) + mac_energy + leakage
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
